//! The gate: pass and promotion record, fail naming the criterion, records bound to a policy.

use std::path::Path;

use understudy::gate::Promotion;
use understudy::policy::Policy;

use crate::{repo, understudy};

/// A small report: the lesson's bad deploy and OOMKilled burst, where the default policy does well.
fn small_report(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("report");
    let o = understudy(&[
        "simulate",
        "scenarios/bad-deploy.yaml",
        "scenarios/oomkilled-burst.yaml",
        "--replications",
        "10",
        "--sweep-replications",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

const LENIENT: &str = "min_incidents: 10
max_loops: 0
max_made_worse_rate: 0.5
require_mttr_reduction_ci_above_zero: true
per_type:
  memory-leak: { phase: auto-execute, min_incidents: 5, max_made_worse_rate: 0.5 }
  bad-deployment: { phase: auto-execute, min_incidents: 5 }
  capacity-loss: { phase: shadow }
";

#[test]
fn a_passing_report_gets_a_promotion_record_bound_to_its_policy() {
    let dir = tempfile::tempdir().unwrap();
    let report = small_report(dir.path());
    let gate = dir.path().join("gate.yaml");
    std::fs::write(&gate, LENIENT).unwrap();
    let promo = dir.path().join("promotion.json");
    let o = understudy(&[
        "gate",
        report.to_str().unwrap(),
        "--gate",
        gate.to_str().unwrap(),
        "-o",
        promo.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let record = Promotion::load(&promo).unwrap();
    assert_eq!(record.promoted.get("memory-leak").map(String::as_str), Some("auto-execute"));
    assert!(record.report_digest.starts_with("sha256:"));

    let text = std::fs::read_to_string(repo("scenarios/policy.yaml")).unwrap();
    let policy = Policy::from_yaml(Path::new("policy.yaml"), &text).unwrap().policy;
    assert_eq!(record.check(&policy), Ok(()));
    // One character changed (0.92 → 0.93): the record no longer covers the policy.
    let changed = Policy::from_yaml(Path::new("changed.yaml"), &text.replacen("0.92", "0.93", 1)).unwrap().policy;
    assert!(record.check(&changed).is_err());
}

#[test]
fn a_report_failing_one_criterion_exits_1_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let report = small_report(dir.path());
    let gate = dir.path().join("gate.yaml");
    std::fs::write(&gate, format!("{LENIENT}min_automated_recovery_rate: 0.99\n")).unwrap();
    let promo = dir.path().join("promotion.json");
    let o = understudy(&[
        "gate",
        report.to_str().unwrap(),
        "--gate",
        gate.to_str().unwrap(),
        "-o",
        promo.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("failed: 1 criterion(s) not met"), "{stderr}");
    assert!(stderr.contains("all: min_automated_recovery_rate required ≥ 0.990"), "{stderr}");
    assert!(!promo.exists(), "no record on failure");
}

#[test]
fn a_broken_gate_or_report_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate.yaml");
    std::fs::write(&gate, "max_made_worse_rte: 0.02\nper_type:\n  memory-leak: { phase: autoexecute }\n").unwrap();
    let o = understudy(&["gate", "Cargo.toml", "--gate", gate.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("did you mean `max_made_worse_rate`?"), "{stderr}");
    assert!(stderr.contains("unknown phase `autoexecute`"), "{stderr}");
    let o = understudy(&["gate", "Cargo.toml", "--gate", "scenarios/gate.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}
