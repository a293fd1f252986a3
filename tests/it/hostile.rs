//! Hostile inputs, each found by fuzzing or by hand (issue "No input crashes, hangs or
//! silently changes a policy"): every one exits 2 with a message naming the file, line and
//! column, or (a closed pipe) ends quietly. None may panic (101), abort (134) or be killed (137).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{repo, understudy};

/// Run `understudy ARGS…`; (exit code, stderr).
fn run(args: &[&str]) -> (Option<i32>, String) {
    let o = understudy(args);
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn a_nul_byte_refuses_the_policy_instead_of_truncating_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = std::fs::read_to_string(repo("scenarios/policy.yaml")).unwrap();
    let at = policy.find("  loop_breaker:").expect("the shipped policy has a loop breaker");
    let line = policy[..at].matches('\n').count() + 1;
    let nul = write(dir.path(), "p.yaml", format!("{}\0{}", &policy[..at], &policy[at..]).as_bytes());
    for args in [
        vec!["check", nul.as_str()],
        vec!["decide", "--policy", nul.as_str(), "--incidents", "fixtures/lesson-incidents.jsonl"],
    ] {
        let (code, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(&format!("p.yaml:{line}:1: error[E002]: control character U+0000")), "{args:?}: {err}");
    }
}

#[test]
fn yaml_alias_bombs_and_deep_nesting_stop_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (k, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"]) {
        bomb.push_str(&format!("{k}: &{k} [{}]\n", vec![format!("*{prev}"); 9].join(",")));
    }
    let bomb = write(dir.path(), "bomb.yaml", bomb.as_bytes());
    let deep =
        write(dir.path(), "deep.yaml", format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)).as_bytes());
    for (file, what) in [(&bomb, "expands to more than 250000 nodes"), (&deep, "nest more than 64 deep")] {
        for args in
            [vec!["check", file.as_str()], vec!["simulate", file.as_str(), "--out", dir.path().to_str().unwrap()]]
        {
            let (code, err) = run(&args);
            assert_eq!(code, Some(2), "{args:?}: {err}");
            assert!(err.contains("error[E013]") && err.contains(what), "{args:?}: {err}");
        }
    }
}

#[test]
fn scenario_numbers_the_engine_cannot_run_are_refused_by_check_with_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("rate_per_day: 1e308", "4:40", "is over 10000"),
        ("rate_per_day: 5000", "4:40", "expects 450000 faults in one replication, over 200000"),
        ("service: payment-api, at: 1h, load_multiplier: 1e5", "4:73", "`load_multiplier` 100000 is over 100"),
    ];
    for (fault, at, what) in cases {
        let f = write(
            dir.path(),
            "s.yaml",
            format!("name: x\nduration: 30d\nfaults:\n  - {{ type: memory-leak, {fault} }}\n").as_bytes(),
        );
        let (code, err) = run(&["check", &f]);
        assert_eq!(code, Some(2), "{fault}: {err}");
        assert!(err.contains(&format!("s.yaml:{at}: error[E008]")) && err.contains(what), "{fault}: {err}");
    }
    let f = write(dir.path(), "t.yaml", b"name: x\nstart: 2262-04-11T23:00:00Z\nduration: 1d\n");
    let (code, err) = run(&["check", &f]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("t.yaml:2:8: error[E008]: `start` 2262-04-11T23:00:00Z is outside 1970–2199"), "{err}");
    // A rate too small to matter runs (it used to panic turning 8.6e24 s into a Duration).
    let f = write(
        dir.path(),
        "u.yaml",
        b"name: x\nduration: 1d\nfaults:\n  - { type: memory-leak, rate_per_day: 1e-20 }\n",
    );
    let out = dir.path().join("out");
    let (code, err) = run(&["simulate", &f, "--replications", "1", "--out", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn import_k8s_locates_json_errors_and_survives_odd_timestamps_and_deep_nesting() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.jsonl");
    let out = out.to_str().unwrap();
    let bad = write(dir.path(), "bad.json", b"{\"kind\":\"PodList\",\n \"items\": [ {\"a\": 1,} ]}");
    let (code, err) = run(&["import", "k8s", &bad, "-o", out]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.json:2:21: error[E004]: not valid JSON: trailing comma"), "{err}");
    let deep =
        write(dir.path(), "deep.json", format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes());
    let (code, err) = run(&["import", "k8s", &deep, "-o", out]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("deep.json:1:") && err.contains("recursion limit"), "{err}");
    let odd = write(
        dir.path(),
        "odd.json",
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\",\"creationTimestamp\":\"@nowé5m\"}}".as_bytes(),
    );
    let (code, err) = run(&["import", "k8s", &odd, "-o", out]);
    assert_eq!(code, Some(0), "an unreadable timestamp is no timestamp, not a panic: {err}");
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    for args in [&["check", "scenarios/policy.yaml", "scenarios/bad-deploy.yaml"][..], &["--help"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_understudy"))
            .args(args)
            .current_dir(repo(""))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // `| head -0`: the reader is gone before anything is written
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
        assert_ne!(o.status.code(), Some(101), "{args:?}: {err}");
    }
}
