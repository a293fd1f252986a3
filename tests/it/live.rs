//! Live mode: end to end through Debian's Prometheus and Alertmanager to a twin, and every
//! way live mode must refuse to act (no promotion; a record unsigned, edited by one byte,
//! signed by another key, for another policy or gate, expired or decided in the future; an
//! incident type not promoted, outside the namespaces, during an emergency stop, without the
//! token).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use understudy::clock::{Clock, Time, WallClock};
use understudy::gate::Promotion;
use understudy::gate::promotion::{self, SigningKey};

use crate::{Daemon, Inbox, eventually, jsonl, keygen, repo, understudy};

const TOKEN: &str = "e2e-token-0123456789abcdef";
const GATE: &str = "tests/e2e/gate.yaml";

/// A promotion record and the key pair that signed it.
struct Promoted {
    record: PathBuf,
    secret: PathBuf,
    public: PathBuf,
}

impl Promoted {
    /// The record as the library reads it.
    fn load(&self) -> Promotion {
        Promotion::load(&self.record).unwrap()
    }

    fn key(&self) -> SigningKey {
        promotion::load_signing_key(&self.secret).unwrap()
    }

    /// `--promotion … --public-key … --gate …` for this record.
    fn args(&self) -> Vec<String> {
        let (r, p) = (self.record.to_str().unwrap().to_string(), self.public.to_str().unwrap().to_string());
        ["--promotion".into(), r, "--public-key".into(), p, "--gate".into(), GATE.into()].into()
    }
}

/// Simulate the e2e policy and gate it, signing with a new key: the promotion record live
/// mode needs, earned honestly.
fn promotion(dir: &Path) -> Promoted {
    let report = dir.join("report");
    let out = understudy(&[
        "simulate",
        "scenarios/oomkilled-burst.yaml",
        "--policy",
        "tests/e2e/policy.yaml",
        "--replications",
        "25",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let keys = dir.join("keys");
    let (secret, public) = keygen(&keys);
    let p = dir.join("promotion.json");
    let out = understudy(&[
        "gate",
        report.to_str().unwrap(),
        "--gate",
        GATE,
        "--signing-key",
        secret.to_str().unwrap(),
        "-o",
        p.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "the e2e policy passes its gate:\n{}", String::from_utf8_lossy(&out.stdout));
    Promoted { record: p, secret, public }
}

fn kubectl(kc: &Path, args: &[&str]) -> String {
    let o = Command::new("kubectl")
        .env("KUBECONFIG", kc)
        .arg("--cache-dir")
        .arg(kc.with_extension("cache"))
        .args(args)
        .output()
        .expect("kubectl is installed on every machine");
    assert!(o.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Live mode on the e2e policy; escalations go to `inbox` as a generic webhook.
fn live(dir: &Path, kc: &Path, promotion: &Promoted, inbox: &Inbox, extra: &[&str]) -> Daemon {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let channels = format!(
        "channels:\n  pagerduty-p1:\n    kind: webhook\n    url: {}/escalations\n    token_env: TEST_ESCALATION_TOKEN\n",
        inbox.url
    );
    std::fs::write(dir.join("channels.yaml"), channels).unwrap();
    let mut args: Vec<String> = ["live", "--policy", "tests/e2e/policy.yaml", "--listen", "127.0.0.1:0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(promotion.args());
    args.extend(["--kubeconfig".into(), kc.to_str().unwrap().into()]);
    args.extend(["--audit-log".into(), path("audit.jsonl"), "--episodes".into(), path("episodes.csv")]);
    args.extend(["--stop-file".into(), path("STOP")]);
    args.extend(["--channels".into(), path("channels.yaml"), "--outbox".into(), path("outbox.jsonl")]);
    args.extend(["--dead-letter".into(), path("dead.jsonl")]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Daemon::start(&args, &[("UNDERSTUDY_WEBHOOK_TOKEN", TOKEN), ("TEST_ESCALATION_TOKEN", "escalation-token-0123")])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get_json(url: &str) -> Option<Value> {
    ureq::get(url).call().ok()?.into_string().ok().and_then(|s| serde_json::from_str(&s).ok())
}

#[test]
fn an_oom_kill_goes_from_prometheus_through_alertmanager_to_a_verified_restart_on_the_twin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let promotion = promotion(d);
    let kc = d.join("kubeconfig");
    let twin = Daemon::start(
        &[
            "twin",
            "tests/e2e/memory-leak.yaml",
            "--speed",
            "10",
            "--listen",
            "127.0.0.1:0",
            "--kubeconfig-out",
            kc.to_str().unwrap(),
        ],
        &[],
    );
    let (prom_port, am_port) = (free_port(), free_port());
    let prom = format!("127.0.0.1:{prom_port}");
    let am = format!("127.0.0.1:{am_port}");
    let verify = r#"increase(understudy_twin_oom_kills_total{service="{service}",namespace="{namespace}"}[20s])"#;
    let prom_url = format!("http://{prom}");
    let inbox = Inbox::start(&[]);
    let live = live(d, &kc, &promotion, &inbox, &["--prometheus", &prom_url, "--verify-query", verify]);

    // Configs from tests/e2e with this run's addresses.
    let fill = |name: &str| {
        let text = std::fs::read_to_string(repo(&format!("tests/e2e/{name}"))).unwrap();
        let text = text
            .replace("@TWIN@", &twin.addr)
            .replace("@ALERTMANAGER@", &am)
            .replace("@LIVE@", &live.addr)
            .replace("@TOKEN@", TOKEN);
        std::fs::write(d.join(name), text).unwrap();
    };
    for f in ["prometheus.yml", "rules.yml", "alertmanager.yml"] {
        fill(f);
    }
    let log = |name: &str| Stdio::from(std::fs::File::create(d.join(name)).unwrap());
    let _am = Reaped(
        Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", d.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", d.join("am-data").display()))
            .arg(format!("--web.listen-address={am}"))
            .arg("--cluster.listen-address=")
            .stdout(log("alertmanager.out"))
            .stderr(log("alertmanager.err"))
            .spawn()
            .expect("scripts/test installs prometheus-alertmanager (Debian)"),
    );
    let _prom = Reaped(
        Command::new("prometheus")
            .arg(format!("--config.file={}", d.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", d.join("prom-data").display()))
            .arg(format!("--web.listen-address={prom}"))
            .stdout(log("prometheus.out"))
            .stderr(log("prometheus.err"))
            .spawn()
            .expect("scripts/test installs prometheus (Debian)"),
    );
    let logs = || {
        ["prometheus.err", "alertmanager.err"]
            .iter()
            .map(|f| format!("--- {f}\n{}", std::fs::read_to_string(d.join(f)).unwrap_or_default()))
            .collect::<String>()
    };

    // Hop 1: Prometheus scrapes the twin.
    eventually(60, "Prometheus to scrape the twin", || {
        let v = get_json(&format!("http://{prom}/api/v1/query?query=up%7Bjob%3D%22twin%22%7D"))?;
        (v.pointer("/data/result/0/value/1")? == "1").then_some(())
    });
    // Hop 2: the twin's OOM kills make the rule fire in Prometheus.
    eventually(90, "ContainerOOMKilled firing in Prometheus", || {
        let v = get_json(&format!("http://{prom}/api/v1/alerts"))?;
        v.pointer("/data/alerts")?
            .as_array()?
            .iter()
            .any(|a| {
                a["labels"]["alertname"] == "ContainerOOMKilled"
                    && a["labels"]["service"] == "payment-api"
                    && a["state"] == "firing"
            })
            .then_some(())
    });
    // Hop 3: Alertmanager has it.
    eventually(30, "the alert in Alertmanager", || {
        let v = get_json(&format!("http://{am}/api/v2/alerts"))?;
        v.as_array()?.iter().any(|a| a["labels"]["alertname"] == "ContainerOOMKilled").then_some(())
    });
    // Hop 4: live received it, decided to restart, and acted (after a server-side dry-run).
    let audit_path = d.join("audit.jsonl");
    let decision = eventually(30, "live's decision", || {
        jsonl(&audit_path).into_iter().find(|r| r["record"] == "decision" && r["input"]["service"] == "payment-api")
    });
    assert_eq!(
        decision["input"]["signal"],
        "ContainerOOMKilled",
        "decided on Alertmanager's alert:\n{decision}\n{}",
        logs()
    );
    assert_eq!(decision["input"]["incident_type"], "memory-leak");
    assert_eq!(decision["decision"]["status"], "execute");
    assert_eq!(decision["decision"]["command"], "kubectl rollout restart deployment/payment-api -n prod");
    let outcome = eventually(30, "the action's outcome", || {
        jsonl(&audit_path).into_iter().find(|r| r["record"] == "outcome" && r["service"] == "payment-api")
    });
    assert_eq!(outcome["status"], "applied", "{outcome}");
    let fp = decision["policy_fingerprint"].as_str().unwrap();
    assert!(fp.starts_with("sha256:") && outcome["policy_fingerprint"] == fp);
    // Hop 5: the restart reached the twin through the API.
    let annotations = kubectl(
        &kc,
        &["get", "deployment/payment-api", "-n", "prod", "-o", "jsonpath={.spec.template.metadata.annotations}"],
    );
    assert!(annotations.contains("kubectl.kubernetes.io/restartedAt"), "{annotations}");
    assert!(annotations.contains(outcome["action_id"].as_str().unwrap()), "the idempotency marker: {annotations}");
    // Hop 6: after the window (65 s), verification reads the twin and Prometheus, and passes.
    let verification = eventually(150, "the verification record", || {
        jsonl(&audit_path).into_iter().find(|r| r["record"] == "verification" && r["service"] == "payment-api")
    });
    assert_eq!(verification["passed"], true, "{verification}");
    let names: Vec<&str> =
        verification["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["pods_ready", "no_new_restarts", "prometheus"]);
    // One alert, one action: repeats of the same alert did not restart again.
    let outcomes = jsonl(&audit_path).into_iter().filter(|r| r["record"] == "outcome").count();
    assert_eq!(outcomes, 1);
    // Automation fixed it and verification passed: nobody was paged.
    assert!(jsonl(&audit_path).iter().all(|r| r["decision"]["escalate"] != true && r["escalate"] != true));
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(inbox.received().is_empty(), "{:?}", inbox.received());
    drop(live);
    drop(twin);
}

fn alert(name: &str, namespace: &str, service: &str, at: &str) -> String {
    webhook("firing", name, namespace, service, at, "0001-01-01T00:00:00Z")
}

fn resolved(name: &str, namespace: &str, service: &str, at: &str, ends: &str) -> String {
    webhook("resolved", name, namespace, service, at, ends)
}

/// An Alertmanager webhook body with one alert.
fn webhook(status: &str, name: &str, namespace: &str, service: &str, at: &str, ends: &str) -> String {
    serde_json::json!({
        "receiver": "understudy", "status": status, "version": "4", "groupKey": "{}:{}",
        "alerts": [{
            "status": status,
            "labels": {"alertname": name, "namespace": namespace, "service": service, "severity": "critical"},
            "annotations": {}, "startsAt": at, "endsAt": ends, "fingerprint": format!("{name}{service}"),
        }],
    })
    .to_string()
}

/// A twin cluster (its kubeconfig in `d`) and an inbox for escalations.
fn twin_and_inbox(d: &Path) -> (PathBuf, Daemon, Inbox) {
    let kc = d.join("kubeconfig");
    let twin = Daemon::start(&["twin", "--listen", "127.0.0.1:0", "--kubeconfig-out", kc.to_str().unwrap()], &[]);
    (kc, twin, Inbox::start(&[]))
}

/// The `n`-th outcome record (from 0) once the action thread has written it: the webhook is
/// answered once the decision is in the log, the action follows on its own thread.
fn outcome(audit: &Path, n: usize) -> Value {
    eventually(30, &format!("outcome #{n}"), || jsonl(audit).into_iter().filter(|r| r["record"] == "outcome").nth(n))
}

fn post(addr: &str, body: &str, token: Option<&str>) -> u16 {
    let mut r = ureq::post(&format!("http://{addr}/webhook/alertmanager"));
    if let Some(t) = token {
        r = r.set("Authorization", &format!("Bearer {t}"));
    }
    match r.send_string(body) {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn live_mode_acts_only_with_its_promotion_in_scope_and_without_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let promotion = promotion(d);
    let (kc, _twin, inbox) = twin_and_inbox(d);
    let live = live(d, &kc, &promotion, &inbox, &[]);
    let generations =
        || kubectl(&kc, &["get", "deployments", "-n", "prod", "-o", "jsonpath={.items[*].metadata.generation}"]);
    let before = generations();
    let audit_path = d.join("audit.jsonl");

    // Without the bearer token: 401, nothing decided.
    let oom = alert("ContainerOOMKilled", "prod", "payment-api", "2026-11-25T10:00:00Z");
    assert_eq!(post(&live.addr, &oom, None), 401);
    assert_eq!(post(&live.addr, &oom, Some("not-the-token-0123456789")), 401);
    let started = jsonl(&audit_path);
    assert_eq!(started.len(), 1, "only the start is recorded: {started:?}");
    assert_eq!((started[0]["record"].as_str(), started[0]["mode"].as_str()), (Some("started"), Some("live")));

    // Outside the policy's namespaces: the pipeline blocks it, nothing acts.
    assert_eq!(
        post(&live.addr, &alert("ContainerOOMKilled", "staging", "payment-api", "2026-11-25T10:00:00Z"), Some(TOKEN)),
        200
    );
    let r: Vec<Value> = jsonl(&audit_path).into_iter().filter(|r| r["record"] != "started").collect();
    assert_eq!(r.len(), 1);
    assert_ne!(r[0]["decision"]["status"], "execute", "{}", r[0]);

    // Emergency stop by ConfigMap in the controller's namespace.
    // (The twin speaks JSON only, so the ConfigMap comes from a file rather than
    // `kubectl create configmap`, whose typed client sends protobuf; it serves no OpenAPI.)
    let cm = d.join("stop.json");
    std::fs::write(&cm, r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"understudy-emergency-stop"},"data":{"reason":"game day"}}"#).unwrap();
    kubectl(&kc, &["create", "--validate=false", "-n", "understudy", "-f", cm.to_str().unwrap()]);
    assert_eq!(post(&live.addr, &oom, Some(TOKEN)), 200);
    let stopped = outcome(&audit_path, 0);
    assert_eq!(stopped["status"], "emergency-stop", "{stopped}");
    assert!(stopped["detail"].as_str().unwrap().contains("game day"));
    kubectl(&kc, &["delete", "configmap", "understudy-emergency-stop", "-n", "understudy"]);

    // Emergency stop by local file.
    std::fs::write(d.join("STOP"), "hands off\n").unwrap();
    assert_eq!(
        post(&live.addr, &alert("ContainerOOMKilled", "prod", "checkout-api", "2026-11-25T10:01:00Z"), Some(TOKEN)),
        200
    );
    let stopped = outcome(&audit_path, 1);
    assert_eq!(stopped["status"], "emergency-stop", "{stopped}");
    assert!(stopped["detail"].as_str().unwrap().contains("hands off"));
    std::fs::remove_file(d.join("STOP")).unwrap();

    // An incident type the promotion keeps at shadow: the policy would act, live does not.
    let mismatch = alert("KubeDeploymentReplicasMismatch", "prod", "worker-consumer", "2026-11-25T10:02:00Z");
    assert_eq!(post(&live.addr, &mismatch, Some(TOKEN)), 200);
    let refused = outcome(&audit_path, 2);
    let records = jsonl(&audit_path);
    let decision = records.iter().rfind(|r| r["record"] == "decision").unwrap();
    assert_eq!(decision["decision"]["status"], "execute", "{decision}");
    assert_eq!(refused["status"], "not-promoted", "{refused}");
    assert_eq!(refused["service"], "worker-consumer");
    assert_eq!(refused["escalate"], true);

    assert_eq!(generations(), before, "no Deployment changed");

    // Every refusal reached a person, with what was not done and why.
    let got = eventually(30, "four escalations", || {
        let g = inbox.received();
        (g.len() == 4).then_some(g)
    });
    let what: Vec<(&str, &str)> =
        got.iter().map(|r| (r.body["service"].as_str().unwrap(), r.body["decision"].as_str().unwrap())).collect();
    assert_eq!(
        what,
        [
            ("payment-api", "blocked"),
            ("payment-api", "emergency-stop"),
            ("checkout-api", "emergency-stop"),
            ("worker-consumer", "not-promoted")
        ]
    );
    assert!(
        got.iter()
            .all(|r| r.path == "/escalations" && r.header("Authorization") == Some("Bearer escalation-token-0123"))
    );
    assert_eq!(got[1].body["suggested_command"], "kubectl rollout restart deployment/payment-api -n prod");
    let history: Vec<&str> =
        got[1].body["history"].as_array().unwrap().iter().map(|s| s["record"].as_str().unwrap()).collect();
    assert_eq!(history, ["decision", "outcome"], "the decision to act, then the stop that prevented it");
    drop(live);
}

/// How `refused` runs live: the record, the public key (none: no --public-key) and gate.
struct Given<'a> {
    record: &'a Path,
    public: Option<&'a Path>,
    gate: &'a str,
}

fn given<'a>(public: Option<&'a Path>, record: &'a Path) -> Given<'a> {
    Given { record, public, gate: GATE }
}

/// `live` given `g`: it must refuse before starting anything (exit 2) and say `check`.
fn refused(d: &Path, g: Given<'_>, extra: &[&str], check: &str) {
    let mut args: Vec<String> = ["live", "--policy", "tests/e2e/policy.yaml", "--listen", "127.0.0.1:0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--kubeconfig".into(), d.join("no-cluster.kubeconfig").to_str().unwrap().into()]);
    args.extend(["--promotion".into(), g.record.to_str().unwrap().into(), "--gate".into(), g.gate.into()]);
    if let Some(k) = g.public {
        args.extend(["--public-key".into(), k.to_str().unwrap().into()]);
    }
    args.extend(["--audit-log".into(), d.join("audit.jsonl").to_str().unwrap().into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(&args)
        .current_dir(repo(""))
        .env_remove("UNDERSTUDY_PUBLIC_KEY_FILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{check}: {stderr}");
    assert!(stderr.contains(check), "expected `{check}` in:\n{stderr}");
    assert!(!d.join("audit.jsonl").exists(), "{check}: nothing was started");
}

/// The honest record re-signed with its own key after `edit`: what the gate would have
/// written had it decided so.
fn resigned(p: &Promoted, name: &str, edit: impl FnOnce(&mut Promotion)) -> PathBuf {
    let mut r = p.load();
    edit(&mut r);
    let path = p.record.with_file_name(name);
    r.signed(&p.key()).write(&path).unwrap();
    path
}

#[test]
fn live_refuses_a_promotion_record_that_is_unsigned_edited_expired_or_signed_by_another_key() {
    // No cluster needed: every refusal comes before live connects to anything.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = promotion(d);
    let write = |name: &str, text: &str| {
        let path = d.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let public = Some(p.public.as_path());

    // No record, or not JSON: a located diagnostic.
    refused(d, given(public, &d.join("missing.json")), &[], "needs a promotion record");
    let bad = write("bad.json", "{\"policy_fingerprint\": \"sha256:00\",\n  \"promoted\": [}\n");
    refused(d, given(public, &bad), &[], &format!("{}:2:", bad.display()));

    // Unsigned.
    let mut r = p.load();
    r.signature = None;
    let unsigned = d.join("unsigned.json");
    r.write(&unsigned).unwrap();
    refused(d, given(public, &unsigned), &[], "(unsigned check)");

    // A record the gate signed with capacity-loss at recommend-only, promoted by hand.
    let recommend = resigned(&p, "recommend.json", |r| {
        r.promoted.insert("capacity-loss".into(), "recommend-only".into());
    });
    let text = std::fs::read_to_string(&recommend).unwrap();
    assert!(text.contains(r#""capacity-loss":"recommend-only""#), "{text}");
    let by_hand = write(
        "by-hand.json",
        &text.replace(r#""capacity-loss":"recommend-only""#, r#""capacity-loss":"auto-execute""#),
    );
    refused(d, given(public, &by_hand), &[], "(signature check)");
    // One character of decided_at changed (a second's units digit).
    let honest = std::fs::read_to_string(&p.record).unwrap();
    let at = honest.find(r#""decided_at":""#).unwrap() + r#""decided_at":""#.len() + 18;
    let mut bytes = honest.clone().into_bytes();
    bytes[at] = if bytes[at] == b'9' { b'0' } else { bytes[at] + 1 };
    let redated = write("redated.json", std::str::from_utf8(&bytes).unwrap());
    assert!(Promotion::load(&redated).is_ok(), "still a well-formed record");
    refused(d, given(public, &redated), &[], "(signature check)");
    // One byte of a digest, and one of the signature itself.
    let digest =
        write("digest.json", &honest.replacen("\"report_digest\":\"sha256:", "\"report_digest\":\"sha256:0", 1));
    refused(d, given(public, &digest), &[], "(signature check)");
    let sig_at = honest.find(r#""value":""#).unwrap() + r#""value":""#.len();
    let mut bytes = honest.clone().into_bytes();
    bytes[sig_at] = if bytes[sig_at] == b'A' { b'B' } else { b'A' };
    let resig = write("sig.json", std::str::from_utf8(&bytes).unwrap());
    refused(d, given(public, &resig), &[], "(signature check)");
    // Reformatted: refused at load, with the place it first differs.
    let pretty = write("pretty.json", &serde_json::to_string_pretty(&p.load()).unwrap());
    refused(d, given(public, &pretty), &[], &format!("{}:1:2:", pretty.display()));

    // Signed by another key; no public key; a secret key passed as the public one.
    let (other_secret, other_public) = keygen(&d.join("other-keys"));
    refused(d, Given { public: Some(&other_public), ..given(public, &p.record) }, &[], "(key check)");
    refused(
        d,
        Given { public: None, ..given(public, &p.record) },
        &[],
        "--public-key FILE or $UNDERSTUDY_PUBLIC_KEY_FILE",
    );
    refused(d, Given { public: Some(&other_secret), ..given(public, &p.record) }, &[], "other half of the key pair");

    // Validly signed, but for another policy, or under another gate.
    let other_policy = resigned(&p, "other-policy.json", |r| r.policy_fingerprint = "sha256:0".into());
    refused(d, given(public, &other_policy), &[], "(policy check)");
    refused(d, given(public, &other_policy), &[], "re-run simulate and gate");
    refused(d, Given { gate: "scenarios/gate.yaml", ..given(public, &p.record) }, &[], "(gate check)");

    // Expired, and decided in the future.
    let now = WallClock.now();
    let day = Duration::from_secs(86_400);
    let expired = resigned(&p, "expired.json", |r| {
        r.decided_at = now.saturating_sub(day * 31);
        r.valid_until = now.saturating_sub(day);
    });
    refused(d, given(public, &expired), &[], "(expired check)");
    let future = resigned(&p, "future.json", |r| {
        r.decided_at = now.saturating_add(Duration::from_secs(3600));
        r.valid_until = r.decided_at.saturating_add(day);
    });
    refused(d, given(public, &future), &[], "(decided-in-future check)");

    // --allow-unsigned skips the signature and key checks only.
    let mut r = p.load();
    r.signature = None;
    r.valid_until = Time(now.nanos() - 1);
    let unsigned_expired = write("unsigned-expired.json", &r.to_file_text());
    refused(d, given(None, &unsigned_expired), &["--allow-unsigned"], "(expired check)");
    refused(d, Given { gate: "scenarios/gate.yaml", ..given(None, &unsigned) }, &["--allow-unsigned"], "(gate check)");
    refused(d, given(None, &other_policy), &["--allow-unsigned"], "(policy check)");
    // …and past them live goes on to the cluster (here: none, so it stops there).
    refused(d, given(None, &by_hand), &["--allow-unsigned"], "cannot configure the Kubernetes client");
}

#[test]
fn allow_unsigned_warns_at_start_and_on_every_decision_the_controller_considers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = promotion(d);
    let mut r = p.load();
    r.signature = None;
    let unsigned = Promoted { record: d.join("unsigned.json"), secret: p.secret.clone(), public: p.public.clone() };
    r.write(&unsigned.record).unwrap();
    let (_kc, _twin, inbox) = twin_and_inbox(d);
    let channels = format!(
        "channels:\n  pagerduty-p1:\n    kind: webhook\n    url: {}/escalations\n    token_env: TEST_ESCALATION_TOKEN\n",
        inbox.url
    );
    std::fs::write(d.join("channels.yaml"), channels).unwrap();
    // The emergency stop is set: the controller considers the decision and acts on nothing.
    std::fs::write(d.join("STOP"), "demo\n").unwrap();
    let path = |name: &str| d.join(name).to_str().unwrap().to_string();
    let mut args: Vec<String> = ["live", "--policy", "tests/e2e/policy.yaml", "--listen", "127.0.0.1:0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(unsigned.args());
    args.extend(["--allow-unsigned".into(), "--kubeconfig".into(), path("kubeconfig")]);
    args.extend(["--audit-log".into(), path("audit.jsonl"), "--episodes".into(), path("episodes.csv")]);
    args.extend(["--stop-file".into(), path("STOP"), "--channels".into(), path("channels.yaml")]);
    args.extend(["--outbox".into(), path("outbox.jsonl"), "--dead-letter".into(), path("dead.jsonl")]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stderr = d.join("live.err");
    let live = Daemon::start_logged(
        &args,
        &[("UNDERSTUDY_WEBHOOK_TOKEN", TOKEN), ("TEST_ESCALATION_TOKEN", "escalation-token-0123")],
        Some(&stderr),
    );
    let log = || std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(log().contains("--allow-unsigned: the promotion record's signature is NOT checked"), "{}", log());
    assert_eq!(log().matches("UNSIGNED promotion record").count(), 0);
    for (i, svc) in ["payment-api", "checkout-api"].iter().enumerate() {
        let at = format!("2026-11-25T10:0{i}:00Z");
        assert_eq!(post(&live.addr, &alert("ContainerOOMKilled", "prod", svc, &at), Some(TOKEN)), 200);
        let stopped = outcome(&d.join("audit.jsonl"), i);
        assert_eq!(stopped["status"], "emergency-stop", "{stopped}");
        eventually(10, "the per-decision warning", || {
            (log().matches("UNSIGNED promotion record").count() == i + 1).then_some(())
        });
    }
    drop(live);
}

#[test]
fn guardrails_attempt_ids_and_decided_alerts_survive_kill_9() {
    // The issue's case: OOMs on checkout-api at 12:00, 12:11 and 12:22 with max_attempts 2;
    // live is killed (-9) after the second. The third must hit the attempt cap, exactly as
    // without the kill, and the Deployment must not be restarted a third time.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let promotion = promotion(d);
    let (kc, _twin, inbox) = twin_and_inbox(d);
    let generation =
        || kubectl(&kc, &["get", "deployment", "checkout-api", "-n", "prod", "-o", "jsonpath={.metadata.generation}"]);
    let audit = d.join("audit.jsonl");
    let decisions = || -> Vec<Value> { jsonl(&audit).into_iter().filter(|r| r["record"] == "decision").collect() };
    let oom = |at: &str| alert("ContainerOOMKilled", "prod", "checkout-api", at);
    let end = |at: &str, ends: &str| resolved("ContainerOOMKilled", "prod", "checkout-api", at, ends);

    // A controller namespace that does not exist: the stop ConfigMap could never be seen.
    let mut args: Vec<String> = vec!["live".into(), "--policy".into(), "tests/e2e/policy.yaml".into()];
    args.extend(promotion.args());
    args.extend(["--kubeconfig".into(), kc.to_str().unwrap().into(), "--namespace".into(), "nope".into()]);
    args.extend(["--audit-log".into(), d.join("other-audit.jsonl").to_str().unwrap().into()]);
    let o = understudy(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("namespace nope does not exist"), "{stderr}");

    let before = generation();
    let first = live(d, &kc, &promotion, &inbox, &[]);
    assert_eq!(post(&first.addr, &oom("2026-11-25T12:00:00Z"), Some(TOKEN)), 200);
    assert_eq!(post(&first.addr, &end("2026-11-25T12:00:00Z", "2026-11-25T12:05:00Z"), Some(TOKEN)), 200);
    assert_eq!(post(&first.addr, &oom("2026-11-25T12:11:00Z"), Some(TOKEN)), 200);
    let statuses: Vec<Value> = decisions().iter().map(|r| r["decision"]["status"].clone()).collect();
    assert_eq!(statuses, ["execute", "execute"], "{:?}", jsonl(&audit));
    assert_eq!(
        (outcome(&audit, 0)["status"].clone(), outcome(&audit, 1)["status"].clone()),
        ("applied".into(), "applied".into())
    );
    let after_two = generation();
    assert_ne!(after_two, before, "two restarts went to the cluster");
    drop(first); // SIGKILL: no shutdown path runs

    let second = live(d, &kc, &promotion, &inbox, &[]);
    // Alertmanager re-sends the firing alert after the restart: already decided, no record.
    assert_eq!(post(&second.addr, &oom("2026-11-25T12:11:00Z"), Some(TOKEN)), 200);
    assert_eq!(decisions().len(), 2, "a re-sent alert is not decided again: {:?}", decisions());
    assert_eq!(post(&second.addr, &end("2026-11-25T12:11:00Z", "2026-11-25T12:16:00Z"), Some(TOKEN)), 200);
    assert_eq!(post(&second.addr, &oom("2026-11-25T12:22:00Z"), Some(TOKEN)), 200);
    let all = decisions();
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[2]["decision"]["status"], "max-attempts", "{}", all[2]);
    assert_eq!(generation(), after_two, "no third restart");
    let ids: Vec<&str> = all.iter().map(|r| r["decision"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["e1", "e2", "e3"], "episode ids continue after a restart");
    // Both restarts were applied and the kill came inside their verification windows: the
    // new process verifies them (once each) instead of leaving them unchecked.
    let verified = eventually(120, "the two verifications lost in the kill", || {
        let v: Vec<String> = jsonl(&audit)
            .iter()
            .filter(|r| r["record"] == "verification")
            .map(|r| r["id"].as_str().unwrap_or("?").to_string())
            .collect();
        (v.len() >= 2).then_some(v)
    });
    let mut verified = verified;
    verified.sort(); // two threads due within milliseconds of each other: either may write first
    assert_eq!(verified, ["e1", "e2"]);
    drop(second);
}

#[test]
fn a_decision_a_crash_left_without_its_outcome_becomes_exactly_one_action_after_the_restart() {
    // kill -9 between deciding and recording the outcome, at both points of an action's life:
    // before the write reached the cluster (payment-api: the stop held it) and after it
    // (checkout-api: restarted). The audit log is cut back to what such a crash leaves — the
    // decisions, no outcomes — and live starts again on it.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let promotion = promotion(d);
    let (kc, _twin, inbox) = twin_and_inbox(d);
    let generation =
        |svc: &str| kubectl(&kc, &["get", "deployment", svc, "-n", "prod", "-o", "jsonpath={.metadata.generation}"]);
    let audit = d.join("audit.jsonl");
    let outcomes = || -> Vec<Value> { jsonl(&audit).into_iter().filter(|r| r["record"] == "outcome").collect() };
    std::fs::write(d.join("STOP"), "maintenance\n").unwrap();
    let first = live(d, &kc, &promotion, &inbox, &[]);
    let (payment, checkout) = (generation("payment-api"), generation("checkout-api"));
    assert_eq!(
        post(&first.addr, &alert("ContainerOOMKilled", "prod", "payment-api", "2026-11-25T12:00:00Z"), Some(TOKEN)),
        200
    );
    assert_eq!(outcome(&audit, 0)["status"], "emergency-stop");
    std::fs::remove_file(d.join("STOP")).unwrap();
    assert_eq!(
        post(&first.addr, &alert("ContainerOOMKilled", "prod", "checkout-api", "2026-11-25T12:01:00Z"), Some(TOKEN)),
        200
    );
    assert_eq!(outcome(&audit, 1)["status"], "applied");
    let restarted = generation("checkout-api");
    assert_ne!(restarted, checkout);
    drop(first); // SIGKILL
    let text = std::fs::read_to_string(&audit).unwrap();
    let cut: String = text.lines().filter(|l| !l.contains(r#""record":"outcome""#)).map(|l| format!("{l}\n")).collect();
    std::fs::write(&audit, cut).unwrap();

    let second = live(d, &kc, &promotion, &inbox, &[]);
    let after = eventually(30, "both decisions settled", || {
        let o = outcomes();
        (o.len() == 2).then_some(o)
    });
    let by = |svc: &str| after.iter().find(|o| o["service"] == svc).unwrap_or_else(|| panic!("{after:?}")).clone();
    let (p, c) = (by("payment-api"), by("checkout-api"));
    assert_eq!((p["status"].as_str(), p["id"].as_str()), (Some("applied"), Some("e1")), "{p}");
    assert!(p["detail"].as_str().unwrap().starts_with("after a restart: "), "{p}");
    assert_ne!(generation("payment-api"), payment, "held by the stop before the crash: applied now");
    assert_eq!((c["status"].as_str(), c["id"].as_str()), (Some("applied"), Some("e2")), "{c}");
    assert!(c["detail"].as_str().unwrap().contains("found applied before the restart"), "{c}");
    assert_eq!(generation("checkout-api"), restarted, "applied before the crash: not restarted twice");
    // Nothing was decided again.
    assert_eq!(jsonl(&audit).iter().filter(|r| r["record"] == "decision").count(), 2);
    drop(second);
}
