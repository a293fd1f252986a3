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
    assert_eq!(std::fs::read_to_string(&audit).unwrap_or_default(), "", "nothing audited without the token");
    assert_eq!(status(ureq::post(&url).set("Authorization", &format!("Bearer {TOKEN}")).send_string(&body)), 200);
    // No policy covers the alert: a person is told, through the default channel.
    crate::eventually(20, "the escalation", || (inbox.received().len() == 1).then_some(()));
    assert_eq!(inbox.received()[0].body["decision"], "no-policy");
    assert_eq!(inbox.received()[0].body["mode"], "shadow");

    // `kill` as the shell builtin: no procps needed on a fresh machine.
    Command::new("sh").args(["-c", &format!("kill -INT {}", child.id())]).status().unwrap();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let shadow = std::fs::read_to_string(&audit).unwrap();
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
    run(&["replay", trace.to_str().unwrap(), "--out", rp.to_str().unwrap()]);
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
