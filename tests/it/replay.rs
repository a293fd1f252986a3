//! Replay end to end: import the real data, replay it, and the guarantees about bad traces.

use std::path::Path;

use crate::{repo, understudy};

fn csv_rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|row| h.iter().zip(row.unwrap().iter()).map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .collect()
}

#[test]
fn importing_then_replaying_the_real_oomkilled_and_crashloop_pods() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("pods.jsonl");
    let data = crate::import::realdata("pod-lists");
    let o = understudy(&[
        "import",
        "k8s",
        data.join("message-oomkill-pod.json").to_str().unwrap(),
        data.join("message-pod-crashloop-backoff.json").to_str().unwrap(),
        "--now",
        "2026-11-25T00:00:00Z",
        "-o",
        trace.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("r");
    let o = understudy(&["replay", trace.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = csv_rows(&out.join("incidents.csv"));
    let find = |t: &str| rows.iter().find(|r| r["classified_as"] == t).unwrap_or_else(|| panic!("no {t} in {rows:?}"));
    let oom = find("memory-leak");
    assert_eq!((oom["service"].as_str(), oom["start"].as_str()), ("oom-kill-job3", "2023-07-11T04:43:25Z"));
    assert_eq!(oom["namespace"], "message-oomkill-pod");
    let crash = find("crash-loop");
    assert_eq!((crash["service"].as_str(), crash["start"].as_str()), ("init-demo", "2023-07-11T03:33:15Z"));
    // Outside guardrails.namespaces [prod]: nothing would run on its own.
    assert!(rows.iter().all(|r| r["decision"] != "execute"));
    let audit = std::fs::read_to_string(out.join("decisions.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), rows.len(), "one audit record per episode");
}

#[test]
fn the_shipped_real_traces_replay() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let mut args = vec!["replay"];
    let traces = [
        "fixtures/traces/real-pods.jsonl",
        "fixtures/traces/real-events.jsonl",
        "fixtures/traces/real-alerts.jsonl",
        "fixtures/traces/real-series.jsonl",
    ];
    args.extend(traces);
    args.extend(["--out", out.to_str().unwrap()]);
    let o = understudy(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let lines: usize = traces.iter().map(|t| std::fs::read_to_string(repo(t)).unwrap().lines().count()).sum();
    assert_eq!(report["metrics"]["records"].as_u64().unwrap() as usize, lines, "every record was read");
    assert!(report["metrics"]["episodes"].as_u64().unwrap() >= 15);
    assert!(report["metrics"]["sources"]["mttr_saved"].as_str().unwrap().starts_with("trace and assumption"));
    // Every escalation the policy's decisions would have sent, counted in the report.
    let esc: Vec<serde_json::Value> = std::fs::read_to_string(out.join("escalations.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let counts = &report["metrics"]["escalations"];
    let triggers = esc.iter().filter(|e| e["event"] == "trigger").count() as u64;
    assert!(triggers > 0);
    assert_eq!(counts["escalations"].as_u64(), Some(triggers));
    assert_eq!(counts["resolves"].as_u64(), Some(esc.len() as u64 - triggers));
    let firsts = esc.iter().filter(|e| e["event"] == "trigger" && e["sequence"] == 1).count() as u64;
    assert_eq!(counts["pages"].as_u64(), Some(firsts));
    assert!(
        esc.iter()
            .all(|e| e["mode"] == "replay" && e["evidence"]["records"].as_str().unwrap().ends_with("decisions.jsonl"))
    );
    let decisions = std::fs::read_to_string(out.join("decisions.jsonl")).unwrap();
    let escalating = decisions.lines().filter(|l| l.contains(r#""escalate":true"#)).count() as u64;
    assert_eq!(escalating, triggers, "one escalation per decision that escalates");
}

/// The lesson's morning, recorded: payment-api OOMKilled at 10:00:30 (alert at 10:00), a
/// person restarted it at 10:20 and the alert resolved at 10:25; checkout-api 503s from
/// 10:10 after a helm upgrade (still at 10:25 and 10:40), rolled back by a person at 11:00.
/// With the shipped rules the first evidence, the KubePodCrashLooping alert, reads as
/// crash-loop (no policy: escalate) while the truth was a memory leak; an external classifier
/// that reads memory-leak at 0.95 makes the policy restart at 10:00, 20 minutes before the
/// person did. With the recorded classifier checkout-api is bad-deployment at 0.88, below
/// the 0.90 threshold, so it escalates.
#[test]
fn replay_compares_the_policy_with_what_people_did() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = understudy(&[
        "replay",
        "fixtures/traces/lesson-history.jsonl",
        "--policy",
        "fixtures/lesson-policy.yaml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = csv_rows(&out.join("incidents.csv"));
    let pay = rows.iter().find(|r| r["service"] == "payment-api").unwrap();
    // KubePodCrashLooping opens the episode as a crash loop (no policy for it); the OOMKilled
    // 30 s later explains the loop, the classification is revised to the leak, and the
    // policy restarts, as the person did 20 minutes later.
    assert_eq!(pay["classified_as"], "memory-leak");
    assert_eq!(pay["truth"], "memory-leak");
    assert_eq!(
        (pay["decision"].as_str(), pay["policy_action"].as_str(), pay["agreement"].as_str()),
        ("execute", "restart", "same")
    );
    assert_eq!(pay["decided_at"], "2026-11-24T10:00:30Z");
    assert!(
        pay["classification_history"]
            .starts_with("crash-loop 0.90 @2026-11-24T10:00:00Z; memory-leak 0.99 @2026-11-24T10:00:30Z"),
        "{}",
        pay["classification_history"]
    );
    assert_eq!((pay["recovered_at"].as_str(), pay["recovery"].as_str()), ("2026-11-24T10:25:00Z", "alert-resolved"));
    assert_eq!(pay["ttr_s"], "1500");
    assert_eq!(pay["saved_s"], "1170", "from the decision at 10:00:30 to the person's restart at 10:20");

    // Decided at the first symptom (as shadow and live decide), the crash loop has no policy.
    let out0 = dir.path().join("r0");
    let o = understudy(&[
        "replay",
        "fixtures/traces/lesson-history.jsonl",
        "--policy",
        "fixtures/lesson-policy.yaml",
        "--decision-window",
        "0s",
        "--out",
        out0.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = csv_rows(&out0.join("incidents.csv"));
    let pay = rows.iter().find(|r| r["service"] == "payment-api").unwrap();
    assert_eq!((pay["classified_as"].as_str(), pay["agreement"].as_str()), ("crash-loop", "would-escalate"));

    // An external classifier that knows better: OOMKilled → memory-leak 0.95 for payment-api.
    let out2 = dir.path().join("r2");
    let cmd = r#"read req; case "$req" in *payment-api*) echo '{"incident_type":"memory-leak","confidence":0.95}';; *) echo '{"incident_type":"bad-deployment","confidence":0.93}';; esac"#;
    let o = understudy(&[
        "replay",
        "fixtures/traces/lesson-history.jsonl",
        "--policy",
        "fixtures/lesson-policy.yaml",
        "--classifier",
        "external",
        "--classifier-cmd",
        cmd,
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = csv_rows(&out2.join("incidents.csv"));
    let pay = rows.iter().find(|r| r["service"] == "payment-api").unwrap();
    assert_eq!(
        (pay["decision"].as_str(), pay["policy_action"].as_str(), pay["agreement"].as_str()),
        ("execute", "restart", "same")
    );
    // The person restarted at 10:20, 20 minutes after the first symptom: 1200 s saved.
    assert_eq!(pay["saved_s"], "1200");
    let checkout = rows.iter().find(|r| r["service"] == "checkout-api").unwrap();
    assert_eq!(
        (checkout["policy_action"].as_str(), checkout["human_action"].as_str()),
        ("helm-rollback", "helm-rollback")
    );
    assert_eq!(checkout["saved_s"], "3000");

    // The recorded classifier: checkout-api's recorded 0.88 is below the 0.90 threshold.
    let out3 = dir.path().join("r3");
    let o = understudy(&[
        "replay",
        "fixtures/traces/lesson-history.jsonl",
        "--policy",
        "fixtures/lesson-policy.yaml",
        "--classifier",
        "recorded",
        "--out",
        out3.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let rows = csv_rows(&out3.join("incidents.csv"));
    let checkout = rows.iter().find(|r| r["service"] == "checkout-api").unwrap();
    assert_eq!(
        (checkout["classified_as"].as_str(), checkout["decision"].as_str()),
        ("bad-deployment", "low-confidence")
    );
}

#[test]
fn a_failing_external_classifier_counts_as_unknown_and_escalates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = understudy(&[
        "replay",
        "fixtures/traces/lesson-history.jsonl",
        "--classifier",
        "external",
        "--classifier-cmd",
        "sleep 3",
        "--classifier-timeout",
        "200ms",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = csv_rows(&out.join("incidents.csv"));
    assert!(rows.iter().all(|r| r["classified_as"] == "unknown" && r["decision"] == "no-policy"), "{rows:?}");
}

#[test]
fn truncated_and_out_of_order_traces_are_errors_with_the_line_unless_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("fixtures/traces/lesson-history.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    let cut = dir.path().join("cut.jsonl");
    std::fs::write(&cut, format!("{}\n{}", lines[..5].join("\n"), &lines[5][..30])).unwrap();
    let o = understudy(&["replay", cut.to_str().unwrap(), "--out", dir.path().join("a").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cut.jsonl:6:") && err.contains("cut short"), "{err}");

    let mut shuffled: Vec<&str> = lines.clone();
    shuffled.swap(1, 8);
    let unsorted = dir.path().join("unsorted.jsonl");
    std::fs::write(&unsorted, shuffled.join("\n") + "\n").unwrap();
    let o = understudy(&["replay", unsorted.to_str().unwrap(), "--out", dir.path().join("b").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unsorted.jsonl:"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--allow-unsorted"));

    let sorted_out = dir.path().join("c");
    let o =
        understudy(&["replay", unsorted.to_str().unwrap(), "--allow-unsorted", "--out", sorted_out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let normal_out = dir.path().join("d");
    assert!(
        understudy(&["replay", "fixtures/traces/lesson-history.jsonl", "--out", normal_out.to_str().unwrap()])
            .status
            .success()
    );
    let a = std::fs::read(sorted_out.join("incidents.csv")).unwrap();
    let b = std::fs::read(normal_out.join("incidents.csv")).unwrap();
    assert_eq!(a, b, "sorting on the fly gives the replay of the sorted trace");
}

#[test]
fn the_external_sort_keeps_every_record_in_order_across_many_runs() {
    use understudy::trace::{self, Record};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.jsonl");
    // 1000 records in a scrambled order, several at the same instant.
    let mut lines = Vec::new();
    for i in 0..1000u64 {
        let sec = (i * 7919) % 500;
        lines.push(format!(
            "{{\"kind\":\"signal\",\"at\":\"2026-01-01T00:{:02}:{:02}Z\",\"service\":\"s{i}\",\"namespace\":\"p\",\"name\":\"x\",\"value\":{i}}}",
            sec / 60,
            sec % 60
        ));
    }
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let out: Vec<(usize, Record)> = trace::sorted(&p, 37).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(out.len(), 1000);
    assert!(out.windows(2).all(|w| (w[0].1.at(), w[0].0) < (w[1].1.at(), w[1].0)), "time order, ties in file order");
}

/// The `decision` lines of a decisions.jsonl, in order.
fn decision_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(r#"{"record":"decision""#))
        .map(String::from)
        .collect()
}

/// One pipeline: `simulate --trace-out` then `replay --classifier recorded` with the same
/// policy gives the simulation's decision records byte for byte, guardrails included (the
/// trace's breaker records and independent windows carry what the world decided); a trace
/// without its breaker records gives other decisions, so the check can fail.
#[test]
fn replaying_a_simulation_s_trace_gives_its_decisions_line_for_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut breakers = 0;
    for (scenario, seed, reps) in [("week-in-prod", "7", "4"), ("restart-loop", "3", "3"), ("bad-deploy", "1", "3")] {
        let sim = dir.path().join(format!("sim-{scenario}"));
        let trace = dir.path().join(format!("{scenario}.jsonl"));
        let o = understudy(&[
            "simulate",
            scenario,
            "--seed",
            seed,
            "--replications",
            reps,
            "--sweep-replications",
            "0",
            "--out",
            sim.to_str().unwrap(),
            "--trace-out",
            trace.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let rp = dir.path().join(format!("replay-{scenario}"));
        let o =
            understudy(&["replay", trace.to_str().unwrap(), "--classifier", "recorded", "--out", rp.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(!String::from_utf8_lossy(&o.stderr).contains("future"), "a simulated world has no wall clock");
        let (simulated, replayed) =
            (decision_lines(&sim.join("decisions.jsonl")), decision_lines(&rp.join("decisions.jsonl")));
        assert!(!simulated.is_empty(), "{scenario}: the simulation decided something");
        for (k, (a, b)) in simulated.iter().zip(&replayed).enumerate() {
            assert_eq!(a, b, "{scenario}: decision {k} differs");
        }
        assert_eq!(simulated.len(), replayed.len(), "{scenario}: as many decisions");
        let text = std::fs::read_to_string(&trace).unwrap();
        let n = text.lines().filter(|l| l.contains(r#""kind":"breaker""#)).count();
        breakers += n;
        if n > 0 {
            let stripped = dir.path().join(format!("{scenario}-no-breakers.jsonl"));
            let kept: Vec<&str> = text.lines().filter(|l| !l.contains(r#""kind":"breaker""#)).collect();
            std::fs::write(&stripped, kept.join("\n") + "\n").unwrap();
            let rp2 = dir.path().join(format!("replay2-{scenario}"));
            let o = understudy(&[
                "replay",
                stripped.to_str().unwrap(),
                "--classifier",
                "recorded",
                "--out",
                rp2.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert_ne!(decision_lines(&rp2.join("decisions.jsonl")), simulated, "{scenario}: breakers matter");
        }
    }
    assert!(breakers > 0, "some run tripped a breaker, so the check above ran");
}
