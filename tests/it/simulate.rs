//! The simulator end to end: determinism, the lesson's stories under a naive and the default
//! policy, and a tiny world whose answer is worked out by hand.

use std::path::Path;
use std::process::Command;

use understudy::metrics::{self, Evaluation};
use understudy::policy::Policy;
use understudy::sim::{self, scenario::Scenario};

use crate::{default_policy, repo};

fn scenario(name: &str) -> Scenario {
    Scenario::load(&repo(&format!("scenarios/{name}.yaml"))).unwrap_or_else(|r| panic!("{r}")).0
}

fn naive_policy() -> Policy {
    Policy::load(&repo("fixtures/naive-policy.yaml")).unwrap_or_else(|r| panic!("{r}")).policy
}

fn evaluate(s: &Scenario, p: &Policy, seed: u64, reps: u32) -> Evaluation {
    let runs = sim::run(s, p, seed, reps);
    let incidents: Vec<_> = runs.into_iter().flat_map(|r| r.incidents).collect();
    metrics::evaluate(&incidents, seed)
}

fn simulate(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .arg("simulate")
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("run understudy");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn same_seed_same_bytes_other_seed_other_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = |n: &str| dir.path().join(n);
    let base = [
        "scenarios/bad-deploy.yaml",
        "scenarios/restart-loop.yaml",
        "scenarios/week-in-prod.yaml",
        "--replications",
        "3",
    ];
    for (name, seed) in [("a", "7"), ("b", "7"), ("c", "8")] {
        let o = out(name);
        let mut args: Vec<&str> = base.to_vec();
        args.extend(["--seed", seed, "--out", o.to_str().unwrap()]);
        simulate(&args);
    }
    for file in ["report.json", "incidents.csv", "decisions.jsonl", "report.md"] {
        let a = std::fs::read(out("a").join(file)).unwrap();
        let b = std::fs::read(out("b").join(file)).unwrap();
        assert!(a == b, "{file} differs between two runs with the same seed");
    }
    let a = std::fs::read(out("a").join("report.json")).unwrap();
    let c = std::fs::read(out("c").join("report.json")).unwrap();
    assert_ne!(a, c, "another seed must give another report");
}

#[test]
fn report_json_carries_every_metric_by_name_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("r");
    simulate(&["scenarios/oomkilled-burst.yaml", "--replications", "2", "--out", o.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(o.join("report.json")).unwrap()).unwrap();
    for k in [
        "/arms/baseline/mttr_seconds/mean",
        "/arms/recommend/mttr_seconds/mean",
        "/arms/policy/mttr_seconds/mean",
        "/effect/total/value",
        "/effect/total/ci95/1",
        "/effect/suggestions/value",
        "/effect/actions/ci95/0",
        "/made_worse/value",
        "/made_worse/numerator",
        "/made_worse/denominator",
        "/made_worse/ci95/1",
        "/unattributed_difference",
        "/automated_recovery_rate/value",
        "/verification_pass_rate/value",
        "/loops",
        "/false_confidence_share",
        "/escalations",
        "/pages",
        "/calibration/ece",
    ] {
        assert!(v["metrics"].pointer(k).is_some(), "metrics{k} missing");
        assert!(v["per_cause"]["memory-leak"].pointer(k).is_some(), "per_cause.memory-leak{k} missing");
        assert!(v["per_label"]["memory-leak"].pointer(k).is_some(), "per_label.memory-leak{k} missing");
    }
    assert_eq!(v["metrics"]["unattributed_difference"], 0);
    assert!(v["provenance"]["policy_fingerprint"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v["provenance"]["seed"], 42);
    assert!(v["provenance"]["scenarios"][0]["digest"].as_str().unwrap().starts_with("sha256:"));
    let csv = std::fs::read_to_string(o.join("incidents.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2, "a header and one row per incident");
    let audit = std::fs::read_to_string(o.join("decisions.jsonl")).unwrap();
    assert!(audit.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert!(audit.contains(r#""command":"kubectl rollout restart deployment/payment-api -n prod""#));
}

#[test]
fn restart_loop_loops_under_a_naive_policy_and_not_under_the_default() {
    let s = scenario("restart-loop");
    let naive = evaluate(&s, &naive_policy(), 42, 20);
    assert!(naive.overall.loops >= 1, "naive policy: {} loops", naive.overall.loops);
    // The lesson's story: a dozen restarts in under an hour.
    let default = evaluate(&s, &default_policy(), 42, 20);
    assert_eq!(default.overall.loops, 0);
    assert!(default.overall.actions <= 2 * 20 * 2, "at most two restarts an hour per incident");
}

#[test]
fn marketing_campaign_is_false_confidence_under_a_naive_policy_and_not_under_the_default() {
    let s = scenario("marketing-campaign");
    let naive = evaluate(&s, &naive_policy(), 42, 20);
    assert!(naive.overall.false_confidence_actions >= 1);
    let default = evaluate(&s, &default_policy(), 42, 20);
    assert_eq!(default.overall.false_confidence_actions, 0);
    assert_eq!(default.overall.actions, 0, "the campaign is declared as expected load");
}

/// A world small enough to work out by hand. checkout-api (4 pods, 100 rps each, 180 rps
/// mean load) gets a bad release at 10:20; 35% of requests fail from 10:28. The classifier is
/// always right at 0.95 and people are exactly as fast as the medians say.
///
/// Automation arm: the 5xx condition holds from the 10:28:00 tick, fires after its 2 min
/// `for:` at 10:30:00; classification takes 30 s; at 10:30:30 the policy (threshold 0.90)
/// runs `helm rollback checkout-api -n prod`, which fixes the release. The rolling update
/// keeps one pod of four unready for 90 s, so the service is healthy from 10:32:00 and stays
/// so: TTR = 10:32:00 − 10:28:00 = 240 s. Verification at 10:35:30 passes (4/4 Ready, no
/// restarts, error rate back to 0.003).
///
/// Baseline (the team today: the same alert pages a person): the 5xx alert fires at 10:30:00
/// and pages 30 s later (Alertmanager's group_wait); acknowledged, diagnosed and fixed after
/// 5 + 20 + 15 min at 11:10:30 by rolling the release back, whose rolling update keeps one
/// pod unready until 11:12:00: TTR = 11:12:00 − 10:28:00 = 44 min = 2640 s. Recommend is the
/// same (a suggestion changes nothing by default). MTTR reduction = 1 − 240 / 2640 = 0.9091,
/// all of it from the action.
const TINY: &str = "name: tiny-bad-deploy
start: 2026-11-24T10:00:00Z
duration: 1h
faults:
  - { type: bad-deployment, service: checkout-api, at: 20m, symptom_delay: 8m, error_rate: 0.35 }
classifier:
  bad-deployment: { accuracy: 1.0, right: { mean: 0.95, concentration: 1000000 } }
human:
  detect: { median: 8m, p90: 8m }
  acknowledge: { median: 5m, p90: 5m }
  diagnose: { median: 20m, p90: 20m }
  fix: { median: 15m, p90: 15m }
";

#[test]
fn tiny_world_answer_worked_out_by_hand() {
    let (s, _) = Scenario::from_yaml(Path::new("tiny.yaml"), TINY).unwrap();
    let e = evaluate(&s, &crate::lesson_policy(), 1, 1);
    let m = &e.overall;
    assert_eq!(m.incidents, 1);
    assert_eq!(m.arms.policy.mttr_seconds.mean, 240.0);
    assert_eq!(m.arms.baseline.mttr_seconds.mean, 2640.0);
    assert_eq!(m.arms.recommend.mttr_seconds.mean, 2640.0);
    assert_eq!(m.effect.total.value, 0.9091);
    assert_eq!(m.effect.actions.value, 0.9091);
    assert_eq!(m.effect.suggestions.value, 0.0);
    assert_eq!(m.arms.baseline.pages, 1);
    assert_eq!((m.automated_recovery_rate.numerator, m.automated_recovery_rate.denominator), (1, 1));
    assert_eq!((m.verification_pass_rate.numerator, m.verification_pass_rate.denominator), (1, 1));
    assert_eq!(m.actions, 1);
    assert_eq!((m.escalations, m.pages, m.loops, m.false_confidence_actions, m.made_worse.numerator), (0, 0, 0, 0, 0));
    // Same draws every time: the seed does not matter for a deterministic world.
    assert_eq!(evaluate(&s, &crate::lesson_policy(), 99, 1).overall, *m);
}
