//! The binary as a person runs it: exit codes, stdout, stderr.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::repo;

fn understudy(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(args)
        .current_dir(repo(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run understudy");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn decide_on_the_shipped_example_prints_one_decision_per_incident() {
    let out = understudy(
        &["decide", "--policy", "scenarios/policy.yaml", "--incidents", "fixtures/lesson-incidents.jsonl"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let input = std::fs::read_to_string(repo("fixtures/lesson-incidents.jsonl")).unwrap();
    assert_eq!(lines.len(), input.lines().count());
    let statuses: Vec<&str> = lines.iter().map(|l| l["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        ["execute", "low-confidence", "low-confidence", "low-confidence", "cooldown-active", "execute", "max-attempts"]
    );
    assert_eq!(lines[0]["command"], "kubectl rollout restart deployment/payment-api -n prod");
    assert_eq!(lines[1]["suggested_action"], "helm rollback checkout-api -n prod");
}

#[test]
fn decide_reads_stdin_and_reports_bad_lines_but_decides_the_rest() {
    let input = concat!(
        r#"{"at":"2026-11-24T10:00:00Z","service":"payment-api","namespace":"prod","incident_type":"memory-leak","confidence":0.95}"#,
        "\n",
        r#"{"at":"2026-11-24T10:01:00Z","service":"payment-api","namespace":"prod","incident_type":"memory-leak","confidense":0.95}"#,
        "\n\n",
        r#"{"at":"2026-11-24T10:02:00Z","service":"checkout-api","namespace":"prod","incident_type":"cpu-spike","confidence":1.7}"#,
        "\n",
        r#"{"at":"2026-11-24T10:03:00Z","service":"checkout-api","namespace":"prod","incident_type":"cpu-spike","confidence":0.99,"replicas":3}"#,
        "\n",
    );
    let out = understudy(&["decide", "--policy", "scenarios/policy.yaml", "--incidents", "-"], Some(input));
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("--replicas=6"));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("<stdin>:2:"), "{stderr}");
    assert!(stderr.contains("did you mean `confidence`?"), "{stderr}");
    assert!(stderr.contains("<stdin>:4:1"), "{stderr}");
    assert!(stderr.contains("outside [0, 1]"), "{stderr}");
}

#[test]
fn decide_refuses_out_of_order_incidents() {
    let input = concat!(
        r#"{"at":"2026-11-24T10:05:00Z","service":"a","namespace":"prod","incident_type":"memory-leak","confidence":0.95}"#,
        "\n",
        r#"{"at":"2026-11-24T10:00:00Z","service":"a","namespace":"prod","incident_type":"memory-leak","confidence":0.95}"#,
        "\n"
    );
    let out = understudy(&["decide", "--policy", "scenarios/policy.yaml"], Some(input));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("<stdin>:2:1"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("earlier than the one before it"));
}

#[test]
fn check_accepts_the_default_policy() {
    let out = understudy(&["check", "scenarios/policy.yaml"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .contains("ok: scenarios/policy.yaml: policy, 4 incident type(s), 1 channel(s), fingerprint sha256:")
    );
}

#[test]
fn check_accepts_every_file_understudy_ships() {
    let files = [
        "scenarios/policy.yaml",
        "scenarios/gate.yaml",
        "scenarios/classifier-rules.yaml",
        "scenarios/week-in-prod.yaml",
        "fixtures/naive-policy.yaml",
        "fixtures/grid.yaml",
        "tests/e2e/policy.yaml",
        "tests/e2e/gate.yaml",
        "tests/e2e/memory-leak.yaml",
        "deploy/channels.yaml",
    ];
    let mut args = vec!["check"];
    args.extend(files);
    let out = understudy(&args, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok: ")).count(), files.len(), "{stdout}");
    assert!(stdout.contains("ok: fixtures/grid.yaml: grid, 12 variant(s) × 2 scenario(s) × 2 seed(s) = 48 job(s)"));
    assert!(
        stdout.contains(
            "ok: deploy/channels.yaml: channels, ops-webhook, pagerduty-p1, slack-sre (default `pagerduty-p1`)"
        )
    );
}

#[test]
fn check_reports_every_problem_with_file_line_column_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(
        &p,
        "remediation_policies:\n  - incident_type: memory-leak\n    auto_execute: true\n    confidence_treshold: 0.92\n    max_attempts: 0\n    cooldown_after_action: 10m\n    verification_window: 5m\n    rollback_if_failed: true\n    escalation_channel: pagerduty-p1\n    action: { kind: restart }\n",
    )
    .unwrap();
    let out = understudy(&["check", p.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.yaml:4:5: error[E005]: unknown field `confidence_treshold`"), "{stderr}");
    assert!(stderr.contains("did you mean `confidence_threshold`?"), "{stderr}");
}

#[test]
fn check_survives_missing_empty_and_binary_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let binary = dir.path().join("garbage.yaml");
    std::fs::write(&binary, [0x7f, b'E', b'L', b'F', 0xff, 0xfe, 0x00, 0x9c]).unwrap();
    let missing = dir.path().join("missing.yaml");
    for (file, code) in [(&empty, "E003"), (&binary, "E002"), (&missing, "E001")] {
        let out = understudy(&["check", file.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(2), "{}", file.display());
        let stderr = text(&out.stderr);
        assert!(stderr.contains(&format!("error[{code}]")), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn decide_with_a_broken_policy_exits_2_before_reading_incidents() {
    let out = understudy(&["decide", "--policy", "Cargo.toml", "--incidents", "-"], Some(""));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Cargo.toml:"), "{}", text(&out.stderr));
}

#[test]
fn usage_errors_exit_2_and_help_explains_the_commands() {
    let out = understudy(&["decide", "--no-such-flag"], None);
    assert_eq!(out.status.code(), Some(2));
    let out = understudy(&["check"], None);
    assert_eq!(out.status.code(), Some(2), "check needs files or --diff");
    let help = understudy(&["--help"], None);
    assert!(help.status.success());
    let h = text(&help.stdout);
    assert!(h.contains("decide") && h.contains("check"), "{h}");
}

/// A log read by a file or a collector carries no colour codes (stderr is a pipe here);
/// `-v` still logs every decision.
#[test]
fn logs_to_a_pipe_are_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let o = understudy(
        &[
            "-v",
            "simulate",
            "bad-deploy",
            "--replications",
            "1",
            "--sweep-replications",
            "0",
            "--out",
            dir.path().join("r").to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("decision"), "-v logs decisions: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI escape in a piped log: {stderr:?}");
}
