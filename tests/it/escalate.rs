//! Escalations that reach people: delivery through retries, across a crash, folded into one
//! PagerDuty incident per dedup key; secrets refused in files; escalations.jsonl in reports.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Daemon, Inbox, eventually, jsonl, repo, understudy};
use understudy::audit::AuditRecord;
use understudy::escalate::channels::Channels;
use understudy::escalate::{Book, Context};
use understudy::live::outbox::Outbox;

const TOKEN: &str = "test-token-0123456789abcdef";
const ROUTING_KEY: &str = "R0UTINGKEY0123456789abcdefABCDEF";

/// A channels file with one PagerDuty channel pointed at `inbox`, retrying after `backoff`.
fn channels_file(dir: &Path, inbox: &Inbox, backoff: &str) -> std::path::PathBuf {
    let p = dir.join("channels.yaml");
    std::fs::write(
        &p,
        format!(
            "channels:\n  pagerduty-p1:\n    kind: pagerduty\n    routing_key_env: TEST_PD_KEY\n    url: {}/v2/enqueue\n    retry: {{ attempts: 5, first_backoff: {backoff}, max_backoff: {backoff} }}\n",
            inbox.url
        ),
    )
    .unwrap();
    p
}

fn shadow(dir: &Path, channels: &Path) -> Daemon {
    let path = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let (audit, episodes, outbox, dead) =
        (path("audit.jsonl"), path("episodes.csv"), path("outbox.jsonl"), path("dead.jsonl"));
    Daemon::start(
        &[
            "shadow",
            "--listen",
            "127.0.0.1:0",
            "--audit-log",
            &audit,
            "--episodes",
            &episodes,
            "--channels",
            channels.to_str().unwrap(),
            "--outbox",
            &outbox,
            "--dead-letter",
            &dead,
            "--evidence-url",
            "https://grafana.example.com/d/svc?var-service={service}&from={from_ms}",
        ],
        &[("UNDERSTUDY_WEBHOOK_TOKEN", TOKEN), ("TEST_PD_KEY", ROUTING_KEY)],
    )
}

/// An Alertmanager webhook for a crash-looping pod.
fn alert(pod: &str, status: &str, starts: &str) -> String {
    let ends = if status == "resolved" { "2026-11-25T10:30:00Z" } else { "0001-01-01T00:00:00Z" };
    json!({
        "version": "4",
        "status": status,
        "receiver": "understudy",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager",
        "alerts": [{
            "status": status,
            "labels": { "alertname": "KubePodCrashLooping", "namespace": "prod", "pod": pod, "severity": "critical" },
            "annotations": { "message": format!("Pod prod/{pod} is restarting") },
            "startsAt": starts,
            "endsAt": ends,
            "fingerprint": pod,
        }],
    })
    .to_string()
}

fn post(d: &Daemon, body: &str) {
    let url = format!("http://{}/webhook/alertmanager", d.addr);
    let r = ureq::post(&url).set("Authorization", &format!("Bearer {TOKEN}")).send_string(body);
    assert_eq!(r.map(|r| r.status()).unwrap_or_else(|e| panic!("{e}")), 200);
}

#[test]
fn two_500s_then_202_deliver_each_page_once_in_order_with_one_dedup_key() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::start(&[500, 500]);
    let mut d = shadow(dir.path(), &channels_file(dir.path(), &inbox, "200ms"));
    post(&d, &alert("checkout-0", "firing", "2026-11-25T10:00:00Z"));
    post(&d, &alert("search-0", "firing", "2026-11-25T10:01:00Z"));
    eventually(30, "both pages delivered", || {
        (inbox.received().iter().filter(|r| r.status == 202).count() == 2).then_some(())
    });
    post(&d, &alert("checkout-0", "resolved", "2026-11-25T10:00:00Z"));
    eventually(30, "the resolve delivered", || (inbox.received().len() == 5).then_some(()));
    assert!(d.stop().success());

    let got = inbox.received();
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 202, 202, 202], "{got:#?}");
    let key = |r: &crate::Received| r.body["dedup_key"].as_str().unwrap().to_string();
    let (first, second) = (key(&got[0]), key(&got[3]));
    assert!(got[..3].iter().all(|r| key(r) == first), "retries carry the same dedup key");
    assert!(got[..3].iter().all(|r| r.header("Idempotency-Key") == got[0].header("Idempotency-Key")));
    assert_ne!(first, second, "another incident, another page");
    assert_eq!(key(&got[4]), first, "the resolve closes the first page");
    assert_eq!(got[4].body["event_action"], "resolve");

    // What a responder gets: PagerDuty's event with the whole escalation as custom details.
    let t = &got[2].body;
    assert_eq!(got[2].path, "/v2/enqueue");
    assert_eq!(t["routing_key"], ROUTING_KEY, "the routing key comes from the environment");
    assert_eq!(t["event_action"], "trigger");
    assert_eq!(t["payload"]["severity"], "critical");
    let c = &t["payload"]["custom_details"];
    assert_eq!((c["service"].as_str(), c["namespace"].as_str()), (Some("checkout"), Some("prod")));
    assert_eq!(c["mode"], "shadow");
    assert_eq!(c["decision"], "no-policy");
    assert!(c["reason"].as_str().unwrap().contains("no policy"), "{c}");
    assert_eq!(c["history"].as_array().unwrap().len(), 1);
    assert_eq!(c["history"][0]["record"], "decision");
    assert!(c["evidence"]["records"].as_str().unwrap().ends_with("audit.jsonl"));
    assert!(
        c["evidence"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://grafana.example.com/d/svc?var-service=checkout&from=")
    );
    assert_eq!(t["links"][0]["href"], c["evidence"]["url"]);

    // The outbox holds every escalation until done; nothing was dead-lettered.
    let outbox = jsonl(&dir.path().join("outbox.jsonl"));
    assert_eq!(outbox.iter().filter(|l| l["op"] == "put").count(), 3);
    assert_eq!(outbox.iter().filter(|l| l["op"] == "done" && l["result"] == "delivered").count(), 3);
    assert_eq!(outbox.iter().find(|l| l["op"] == "done").unwrap()["attempts"], 3);
    assert!(!dir.path().join("dead.jsonl").exists());
}

#[test]
fn killed_mid_retry_and_restarted_the_page_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::start(&[500, 500]);
    // A long backoff: the process is killed while it waits to retry.
    let channels = channels_file(dir.path(), &inbox, "3s");
    let firing = alert("checkout-0", "firing", "2026-11-25T10:00:00Z");
    let mut d = shadow(dir.path(), &channels);
    post(&d, &firing);
    eventually(20, "the first attempt", || (!inbox.received().is_empty()).then_some(()));
    d.child.kill().unwrap(); // SIGKILL: no clean shutdown
    d.child.wait().unwrap();
    let outbox = jsonl(&dir.path().join("outbox.jsonl"));
    assert_eq!(outbox.iter().filter(|l| l["op"] == "put").count(), 1);
    assert_eq!(outbox.iter().filter(|l| l["op"] == "done").count(), 0, "killed before delivery");

    let mut d = shadow(dir.path(), &channels);
    eventually(30, "delivery after the restart", || inbox.received().iter().any(|r| r.status == 202).then_some(()));
    // Alertmanager sends the firing alert again after the restart: the same incident, the
    // same escalation, not sent twice.
    post(&d, &firing);
    std::thread::sleep(Duration::from_secs(2));
    assert!(d.stop().success());
    let got = inbox.received();
    assert_eq!(got.iter().map(|r| r.status).collect::<Vec<_>>(), [500, 500, 202], "{got:#?}");
    let ids: Vec<Option<&str>> = got.iter().map(|r| r.header("Idempotency-Key")).collect();
    assert!(ids.iter().all(|i| i.is_some() && *i == ids[0]), "{ids:?}");
    let outbox = jsonl(&dir.path().join("outbox.jsonl"));
    assert_eq!(outbox.iter().filter(|l| l["op"] == "put").count(), 1, "the re-sent alert put nothing new");
    assert!(outbox.iter().any(|l| l["op"] == "done" && l["result"] == "delivered"));
}

#[test]
fn a_page_opened_before_a_restart_is_resolved_when_its_alert_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::start(&[]);
    let channels = channels_file(dir.path(), &inbox, "200ms");
    let mut d = shadow(dir.path(), &channels);
    post(&d, &alert("checkout-0", "firing", "2026-11-25T10:00:00Z"));
    eventually(20, "the page", || (inbox.received().len() == 1).then_some(()));
    assert!(d.stop().success());

    // A new process knows no episode for checkout; the outbox remembers the open page.
    let mut d = shadow(dir.path(), &channels);
    post(&d, &alert("checkout-0", "resolved", "2026-11-25T10:00:00Z"));
    eventually(20, "the resolve", || (inbox.received().len() == 2).then_some(()));
    post(&d, &alert("checkout-0", "resolved", "2026-11-25T10:00:00Z"));
    std::thread::sleep(Duration::from_secs(1));
    assert!(d.stop().success());
    let got = inbox.received();
    assert_eq!(got.len(), 2, "resolved once: {got:#?}");
    assert_eq!(got[1].body["event_action"], "resolve");
    assert_eq!(got[1].body["dedup_key"], got[0].body["dedup_key"]);
    let (outbox, _) = Outbox::open(&dir.path().join("outbox.jsonl"), &dir.path().join("dead.jsonl")).unwrap();
    assert!(outbox.open_pages().is_empty(), "no page left open for the next start");
}

/// A fake PagerDuty keeps one incident per dedup key, as the Events API does.
fn pagerduty_incidents(got: &[crate::Received]) -> std::collections::BTreeSet<String> {
    got.iter()
        .filter(|r| r.body["event_action"] == "trigger")
        .map(|r| r.body["dedup_key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ten_escalations_for_one_incident_make_one_pagerduty_incident() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::start(&[]);
    let channels = Channels::load(&channels_file(dir.path(), &inbox, "100ms")).unwrap();
    let policy = crate::default_policy();
    let mut book = Book::new(Context {
        mode: "live".into(),
        scope: "live".into(),
        key_by_id: false,
        default_channel: channels.default.clone(),
        records: "audit.jsonl".into(),
        evidence_url: None,
        // Every repeat sent, so PagerDuty's folding is what is tested.
        repeat: [(channels.default.clone(), understudy::escalate::channels::Repeat::Every(Duration::from_secs(1)))]
            .into(),
    });
    let (outbox, _) = Outbox::open(&dir.path().join("outbox.jsonl"), &dir.path().join("dead.jsonl")).unwrap();
    let outbox = Arc::new(outbox);
    let resolved = channels
        .channels
        .iter()
        .map(|(n, c)| (n.clone(), c.resolve(&|_| Some(ROUTING_KEY.to_string())).unwrap()))
        .collect();
    let workers = understudy::live::deliver::start(Arc::clone(&outbox), resolved);
    // The same incident decided ten times (low confidence each time: a person is needed).
    let mut pipeline = understudy::decide::Pipeline::new(policy.clone());
    for k in 0..10 {
        let at = understudy::clock::Time(1_764_000_000_000_000_000 + k * 60_000_000_000);
        let input = understudy::decide::Incident {
            at,
            service: "payment-api".into(),
            namespace: "prod".into(),
            incident_type: "memory-leak".into(),
            confidence: 0.5,
            signal: Some("OOMKilled".into()),
            replicas: None,
            id: Some("e1".into()),
            target: None,
        };
        let decision = pipeline.decide(at, &input);
        let rec = AuditRecord::Decision {
            policy_fingerprint: policy.fingerprint(),
            input: Box::new(input),
            decision: Box::new(decision),
        };
        let e = book.observe(&rec).expect("low confidence escalates");
        assert!(outbox.put(&e.channel, &e).unwrap());
    }
    assert_eq!(outbox.drain(Duration::from_secs(30)), 0);
    outbox.close();
    for w in workers {
        w.join().unwrap();
    }
    let got = inbox.received();
    assert_eq!(got.len(), 10, "each escalation is sent (PagerDuty adds it to the open alert)");
    assert_eq!(pagerduty_incidents(&got).len(), 1, "one dedup key: one PagerDuty incident");
    let seq: Vec<u64> = got.iter().map(|r| r.body["payload"]["custom_details"]["sequence"].as_u64().unwrap()).collect();
    assert_eq!(seq, (1..=10).collect::<Vec<_>>(), "in order");
    assert_eq!(got[9].body["payload"]["custom_details"]["history"].as_array().unwrap().len(), 10);
}

#[test]
fn a_4xx_is_not_retried_and_is_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::start(&[400]);
    let mut d = shadow(dir.path(), &channels_file(dir.path(), &inbox, "100ms"));
    post(&d, &alert("checkout-0", "firing", "2026-11-25T10:00:00Z"));
    let dead = dir.path().join("dead.jsonl");
    eventually(20, "the dead letter", || dead.exists().then_some(()));
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.stop().success());
    assert_eq!(inbox.received().len(), 1, "a refusal is not retried");
    let dl = jsonl(&dead);
    assert_eq!(dl.len(), 1);
    assert!(dl[0]["reason"].as_str().unwrap().starts_with("HTTP 400"), "{}", dl[0]);
    assert_eq!(dl[0]["escalation"]["service"], "checkout");
}

#[test]
fn shadow_and_live_refuse_to_start_without_channels_or_their_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::start(&[]);
    let channels = channels_file(dir.path(), &inbox, "1s");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_understudy"));
        c.args(args).current_dir(repo("")).env("UNDERSTUDY_WEBHOOK_TOKEN", TOKEN).env_remove("TEST_PD_KEY");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, err) = run(&["shadow", "--policy", "fixtures/naive-policy.yaml", "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no `channels:` section") && err.contains("every escalation must reach a person"), "{err}");
    let (code, err) = run(&["shadow", "--listen", "127.0.0.1:0", "--channels", channels.to_str().unwrap()], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("TEST_PD_KEY is not set"), "{err}");
    let other = dir.path().join("other.yaml");
    std::fs::write(&other, "channels:\n  slack-sre: { kind: slack, webhook_url_env: SLACK_URL }\n").unwrap();
    let (code, err) = run(
        &["shadow", "--listen", "127.0.0.1:0", "--channels", other.to_str().unwrap()],
        &[("SLACK_URL", "http://127.0.0.1:1/x")],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("memory-leak → pagerduty-p1"), "{err}");
}

#[test]
fn check_refuses_a_file_holding_a_secret_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = std::fs::read_to_string(repo("scenarios/policy.yaml")).unwrap();
    let secret = "0123456789abcdef0123456789abcdef";
    let bad = policy.replace("routing_key_env: PAGERDUTY_ROUTING_KEY", &format!("routing_key: {secret}"));
    assert_ne!(bad, policy, "the shipped policy names its routing key by variable");
    let p = dir.path().join("policy.yaml");
    std::fs::write(&p, &bad).unwrap();
    let o = understudy(&["check", p.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("error[E012]: `routing_key` holds a secret in the file"), "{err}");
    assert!(err.contains("routing_key_env"), "{err}");
    assert!(!err.contains(secret) && !String::from_utf8_lossy(&o.stdout).contains(secret), "{err}");
    // The same for a Slack webhook URL written where a channel's URL goes.
    let hook = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX";
    std::fs::write(&p, format!("channels:\n  ops: {{ kind: webhook, url: \"{hook}\" }}\n")).unwrap();
    let o = understudy(&["check", p.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(":2:") && err.contains("error[E012]: a chat webhook URL is a secret"), "{err}");
    assert!(!err.contains("XXXXXXXX"), "{err}");
}

#[test]
fn simulate_writes_every_escalation_and_counts_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = understudy(&[
        "simulate",
        "scenarios/restart-loop.yaml",
        "--replications",
        "3",
        "--sweep-replications",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let m = &report["metrics"];
    let esc = jsonl(&out.join("escalations.jsonl"));
    let triggers: Vec<&Value> = esc.iter().filter(|e| e["event"] == "trigger").collect();
    assert!(!triggers.is_empty());
    assert_eq!(triggers.len() as u64, m["escalations_sent"].as_u64().unwrap(), "every escalation sent is in the file");
    // A restart loop escalates the same incident over and over; on-change (the default)
    // sends a repeat only when it says something new, and counts every one.
    let (all, repeats) = (m["escalations"].as_u64().unwrap(), m["repeat_escalations"].as_u64().unwrap());
    assert!((triggers.len() as u64) < all, "{} sent of {all}: repeats held back", triggers.len());
    let sent_repeats = triggers.iter().filter(|e| e["sequence"].as_u64().unwrap() > 1).count() as u64;
    assert!(sent_repeats < repeats, "{sent_repeats} repeats sent of {repeats}");
    for pair in triggers.windows(2) {
        if pair[0]["dedup_key"] == pair[1]["dedup_key"] {
            assert_ne!(pair[0]["decision"], pair[1]["decision"], "a repeat sent says something new");
        }
    }
    for e in &triggers {
        assert_eq!(e["mode"], "simulate");
        assert_eq!(e["channel"], "pagerduty-p1");
        assert!(!e["history"].as_array().unwrap().is_empty(), "{e}");
        assert!(e["dedup_key"].as_str().unwrap().starts_with("understudy-"));
    }
    // One dedup key per incident.
    let mut keys: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> = Default::default();
    for e in &esc {
        keys.entry(e["incident_id"].as_str().unwrap()).or_default().insert(e["dedup_key"].as_str().unwrap());
    }
    assert!(keys.values().all(|k| k.len() == 1), "{keys:?}");
}

#[test]
fn a_slack_channel_gets_a_block_kit_message() {
    let inbox = Inbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yaml");
    std::fs::write(&p, "channels:\n  slack-sre: { kind: slack, webhook_url_env: SLACK_URL }\n").unwrap();
    let channels = Channels::load(&p).unwrap();
    let hook = format!("{}/services/T000/B000/secret", inbox.url);
    let ch = channels.channels["slack-sre"].resolve(&|_| Some(hook.clone())).unwrap();
    let mut book = Book::new(Context {
        mode: "shadow".into(),
        scope: "shadow".into(),
        key_by_id: false,
        default_channel: "slack-sre".into(),
        records: "audit.jsonl".into(),
        evidence_url: None,
        repeat: Default::default(),
    });
    let policy = crate::default_policy();
    let input = understudy::decide::Incident {
        at: understudy::clock::Time(1_764_000_000_000_000_000),
        service: "checkout-api".into(),
        namespace: "prod".into(),
        incident_type: "bad-deployment".into(),
        confidence: 0.88,
        signal: Some("http_5xx_rate".into()),
        replicas: None,
        id: Some("e1".into()),
        target: None,
    };
    let d = understudy::decide::Pipeline::new(policy.clone()).decide(input.at, &input);
    let rec = AuditRecord::Decision {
        policy_fingerprint: policy.fingerprint(),
        input: Box::new(input),
        decision: Box::new(d),
    };
    let e = book.observe(&rec).expect("below the threshold: a person decides");
    let (outbox, _) = Outbox::open(&dir.path().join("o.jsonl"), &dir.path().join("d.jsonl")).unwrap();
    outbox.put("slack-sre", &e).unwrap();
    let entry = outbox.next("slack-sre", Duration::ZERO).unwrap();
    let agent = ureq::AgentBuilder::new().build();
    assert_eq!(understudy::live::deliver::send(&agent, &ch, &entry), Ok(202));
    let got = inbox.received();
    assert_eq!(got[0].path, "/services/T000/B000/secret", "posted to the URL from the environment");
    let blocks = got[0].body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks[0]["text"]["text"].as_str().unwrap().contains("bad-deployment on prod/checkout-api"));
    let all = got[0].body.to_string();
    assert!(all.contains("shadow mode: nothing was executed"), "{all}");
    assert!(all.contains("helm rollback checkout-api"), "the suggested command: {all}");
    assert!(got[0].body["text"].as_str().unwrap().contains("low-confidence"));
}
