//! Shadow mode over HTTP: the bearer token, the audit log, and the same decision records as
//! replay for the same incident.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::repo;

const TOKEN: &str = "test-token-0123456789abcdef";

#[test]
fn shadow_receives_real_alertmanager_webhooks_and_audits_what_replay_decides() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let inbox = crate::Inbox::start(&[]);
    let channels = dir.path().join("channels.yaml");
    std::fs::write(&channels, format!("channels:\n  pagerduty-p1: {{ kind: webhook, url: \"{}/hook\" }}\n", inbox.url))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(["shadow", "--listen", "127.0.0.1:0", "--audit-log", audit.to_str().unwrap()])
        .args(["--episodes", dir.path().join("episodes.csv").to_str().unwrap()])
        .args(["--channels", channels.to_str().unwrap()])
        .args(["--outbox", dir.path().join("outbox.jsonl").to_str().unwrap()])
        .env("UNDERSTUDY_WEBHOOK_TOKEN", TOKEN)
        .current_dir(repo(""))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{first}")).to_string();
    let url = format!("http://{addr}/webhook/alertmanager");
    let body = std::fs::read_to_string(crate::import::realdata("alertmanager-webhooks/alert1.json")).unwrap();

    let status = |r: Result<ureq::Response, ureq::Error>| match r {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status(ureq::post(&url).send_string(&body)), 401, "no token");
    assert_eq!(
        status(ureq::post(&url).set("Authorization", "Bearer wrong-token-0123456789abc").send_string(&body)),
        401
    );
    assert_eq!(crate::audit_text(&audit), "", "nothing audited without the token");
    let started = crate::jsonl(&audit);
    assert_eq!((started[0]["record"].as_str(), started[0]["mode"].as_str()), (Some("started"), Some("shadow")));
    assert_eq!(status(ureq::post(&url).set("Authorization", &format!("Bearer {TOKEN}")).send_string(&body)), 200);
    // No policy covers the alert: a person is told, through the default channel.
    crate::eventually(20, "the escalation", || (inbox.received().len() == 1).then_some(()));
    assert_eq!(inbox.received()[0].body["decision"], "no-policy");
    assert_eq!(inbox.received()[0].body["mode"], "shadow");

    // `kill` as the shell builtin: no procps needed on a fresh machine.
    Command::new("sh").args(["-c", &format!("kill -INT {}", child.id())]).status().unwrap();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let shadow = crate::audit_text(&audit);
    assert_eq!(shadow.lines().count(), 1, "{shadow}");

    // The same webhook imported as a trace and replayed gives the same bytes.
    let trace = dir.path().join("t.jsonl");
    let webhook = crate::import::realdata("alertmanager-webhooks/alert1.json");
    let run = |args: &[&str]| {
        let o = crate::understudy(args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["import", "alertmanager", webhook.to_str().unwrap(), "-o", trace.to_str().unwrap()]);
    let rp = dir.path().join("replay");
    // Shadow decides at the first alert; so does replay with no decision window.
    run(&["replay", trace.to_str().unwrap(), "--decision-window", "0s", "--out", rp.to_str().unwrap()]);
    let replayed = std::fs::read_to_string(rp.join("decisions.jsonl")).unwrap();
    assert_eq!(shadow, replayed, "replay and shadow write identical decision records");
    assert!(shadow.contains(r#""status":"no-policy""#) && shadow.contains("KubePodCrashLooping"));
}

#[test]
fn shadow_refuses_to_start_without_a_token() {
    let o = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(["shadow", "--listen", "127.0.0.1:0"])
        .env_remove("UNDERSTUDY_WEBHOOK_TOKEN")
        .current_dir(repo(""))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("UNDERSTUDY_WEBHOOK_TOKEN"));
}

/// Shadow on the default policy with a webhook channel, as a `Daemon`.
fn shadow_daemon(dir: &std::path::Path) -> crate::Daemon {
    let inbox_url = "http://127.0.0.1:9/hook"; // never reached: nothing here escalates
    let channels = dir.join("channels.yaml");
    std::fs::write(&channels, format!("channels:\n  pagerduty-p1: {{ kind: webhook, url: \"{inbox_url}\" }}\n"))
        .unwrap();
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let args = [
        "shadow".to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--audit-log".into(),
        p("audit.jsonl"),
        "--episodes".into(),
        p("episodes.csv"),
        "--channels".into(),
        channels.to_str().unwrap().into(),
        "--outbox".into(),
        p("outbox.jsonl"),
        "--dead-letter".into(),
        p("dead.jsonl"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    crate::Daemon::start(&args, &[("UNDERSTUDY_WEBHOOK_TOKEN", TOKEN)])
}

#[test]
fn the_receiver_refuses_what_it_cannot_decide_and_what_would_hold_it_up() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let d = shadow_daemon(dir.path());
    let url = format!("http://{}/webhook/alertmanager", d.addr);
    let send = |body: &str| -> (u16, String) {
        match ureq::post(&url).set("Authorization", &format!("Bearer {TOKEN}")).send_string(body) {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };
    // Bodies that decide nothing are errors the sender sees, never `200 … 0 decided`.
    for body in ["{}", "null", "42", r#"{"alerts":[]}"#] {
        let (status, text) = send(body);
        assert_eq!(status, 422, "{body}: {text}");
        assert!(text.contains("no alerts"), "{text}");
    }
    let bad_time =
        r#"{"alerts":[{"status":"firing","labels":{"alertname":"X","service":"a"},"startsAt":"yesterday"}]}"#;
    let (status, text) = send(bad_time);
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("startsAt"), "{text}");
    // Too many alerts in one request: 413, saying what to configure.
    let many: Vec<serde_json::Value> = (0..1_001)
        .map(|i| serde_json::json!({"status":"firing","labels":{"alertname":"X","service":format!("s{i}")},"startsAt":"2026-11-25T10:00:00Z"}))
        .collect();
    let (status, text) = send(&serde_json::json!({ "alerts": many }).to_string());
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("max_alerts"), "{text}");
    assert_eq!(crate::audit_text(&dir.path().join("audit.jsonl")), "", "nothing decided");

    // No token: refused at once, before a (huge, never sent) body is waited for.
    let mut s = std::net::TcpStream::connect(&d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n").unwrap();
    let mut reply = [0u8; 12];
    s.read_exact(&mut reply).expect("an answer without the body");
    assert_eq!(&reply, b"HTTP/1.1 401");

    // With the token but a declared length over the cap: 413 at once, not after a timeout.
    let mut s = std::net::TcpStream::connect(&d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: bearer {TOKEN}\r\nContent-Length: 100000000\r\n\r\n"
    )
    .unwrap();
    let mut reply = [0u8; 12];
    s.read_exact(&mut reply).expect("an answer without the body");
    assert_eq!(&reply, b"HTTP/1.1 413", "(the scheme `bearer` is case-insensitive)");

    // A client trickling header lines is cut off well within 30 s.
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(&d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    write!(s, "POST /webhook/alertmanager HTTP/1.1\r\n").unwrap();
    let closed = loop {
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
        let _ = write!(s, "X-Slow: {}\r\n", started.elapsed().as_secs());
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => break true, // an error response, then the close
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                std::thread::sleep(Duration::from_secs(4));
            }
            Err(_) => break true,
        }
    };
    assert!(closed, "still open after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn three_kill_9s_under_load_leave_exactly_one_decision_per_alert() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let alert = |i: usize| {
        serde_json::json!({"alerts": [{"status": "firing",
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "prod", "service": format!("svc-{i}")},
            "startsAt": "2026-11-25T10:00:00Z"}]})
        .to_string()
    };
    let post = |addr: &str, i: usize| -> Option<u16> {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
        match agent
            .post(&format!("http://{addr}/webhook/alertmanager"))
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .send_string(&alert(i))
        {
            Ok(r) => Some(r.status()),
            Err(ureq::Error::Status(s, _)) => Some(s),
            Err(_) => None, // killed mid-request, or not listening
        }
    };
    let mut d = shadow_daemon(dir.path());
    let mut answered = std::collections::BTreeSet::new();
    let mut sent = 0;
    for kill in 0..3 {
        // Kill -9 after a short while, from another thread, while requests are in flight.
        let pid = d.child.id();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300 + 150 * kill));
            let _ = Command::new("sh").args(["-c", &format!("kill -9 {pid}")]).status();
        });
        while post(&d.addr, sent).is_some_and(|s| {
            if s == 200 {
                answered.insert(sent);
            }
            true
        }) {
            sent += 1;
        }
        sent += 1; // the one cut off: maybe decided, maybe not
        killer.join().unwrap();
        let _ = d.child.wait();
        d = shadow_daemon(dir.path());
        // Alertmanager re-sends every firing alert to the new process.
        for i in 0..sent {
            if post(&d.addr, i) == Some(200) {
                answered.insert(i);
            }
        }
    }
    drop(d);
    assert!(sent > 20, "only {sent} requests under load");
    let mut per_service = std::collections::BTreeMap::<String, usize>::new();
    for r in crate::jsonl(&audit).iter().filter(|r| r["record"] == "decision") {
        *per_service.entry(r["decision"]["service"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let dupes: Vec<_> = per_service.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "decided twice: {dupes:?}");
    for i in &answered {
        assert_eq!(per_service.get(&format!("svc-{i}")), Some(&1), "svc-{i} was answered 200");
    }
    let ids: Vec<String> = crate::jsonl(&audit)
        .iter()
        .filter(|r| r["record"] == "decision")
        .map(|r| r["decision"]["id"].as_str().unwrap().to_string())
        .collect();
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "episode ids are never reused");
}

#[test]
fn sigterm_stops_shadow_cleanly_and_keeps_its_episodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = shadow_daemon(dir.path());
    let body = r#"{"alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"prod","service":"t"},"startsAt":"2026-11-25T10:00:00Z"}]}"#;
    let r = ureq::post(&format!("http://{}/webhook/alertmanager", d.addr))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .send_string(body)
        .unwrap();
    assert_eq!(r.status(), 200);
    // How Kubernetes stops a pod.
    Command::new("sh").args(["-c", &format!("kill -TERM {}", d.child.id())]).status().unwrap();
    let exit = d.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let csv = std::fs::read_to_string(dir.path().join("episodes.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "the header and the one episode: {csv}");
}

#[test]
fn reset_breaker_refuses_an_anonymous_reset_and_a_missing_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    std::fs::write(&log, "").unwrap();
    let o = crate::understudy(&[
        "reset-breaker",
        "checkout-api",
        "-n",
        "prod",
        "--audit-log",
        log.to_str().unwrap(),
        "--by",
        " ",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--by is empty"));
    let missing = dir.path().join("typo.jsonl");
    let o = crate::understudy(&[
        "reset-breaker",
        "checkout-api",
        "--audit-log",
        missing.to_str().unwrap(),
        "--by",
        "alice",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not an audit log file"));
    assert!(!missing.exists(), "nothing created");
}

#[test]
fn a_log_is_one_process_s_and_one_mode_s() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = shadow_daemon(dir.path());
    let log = dir.path().join("audit.jsonl");
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    // A second process on the log while the first runs: refused, nothing written.
    let args = |n: &str| -> Vec<String> {
        let p = |f: &str| dir.path().join(format!("{n}{f}")).to_str().unwrap().to_string();
        ["shadow", "--listen", "127.0.0.1:0", "--audit-log", log.to_str().unwrap(), "--episodes", &p("episodes.csv")]
            .into_iter()
            .map(String::from)
            .chain(["--channels".into(), p("channels.yaml"), "--outbox".into(), p("outbox.jsonl")])
            .chain(["--dead-letter".into(), p("dead.jsonl")])
            .collect()
    };
    std::fs::copy(dir.path().join("channels.yaml"), dir.path().join("2channels.yaml")).unwrap();
    let before = std::fs::read(&log).unwrap();
    let second = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(args("2"))
        .env("UNDERSTUDY_WEBHOOK_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(stderr(&second).contains("another understudy process has it open"), "{}", stderr(&second));
    let reset =
        crate::understudy(&["reset-breaker", "a", "-n", "b", "--audit-log", log.to_str().unwrap(), "--by", "me"]);
    assert_eq!(reset.status.code(), Some(2));
    assert!(stderr(&reset).contains("stop live, run reset-breaker, start live"), "{}", stderr(&reset));
    assert_eq!(std::fs::read(&log).unwrap(), before, "neither wrote to the log");
    assert!(first.stop().success());

    // A log live wrote is not shadow's (nor the other way round): exit 2, the log untouched.
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str(
        r#"{"record":"started","at":"2026-11-25T10:00:00Z","mode":"live","policy_fingerprint":"x","version":"0"}"#,
    );
    text.push('\n');
    std::fs::write(&log, &text).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(args("2"))
        .env("UNDERSTUDY_WEBHOOK_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("was written by live mode; shadow mode needs a log of its own"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), text);
}
