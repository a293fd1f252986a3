//! One test per metric on hand-built incidents, the right answer worked out in each comment.

use understudy::clock::Time;
use understudy::metrics::{Rate, compute};
use understudy::sim::model::Cause;
use understudy::sim::{ActionRecord, ArmResult, Arms, IncidentRecord, Outcome, Touch, TouchKind};

const MIN: i64 = 60_000_000_000;

fn arm(outcome: Outcome, ttr_min: f64, impact: f64) -> ArmResult {
    ArmResult {
        outcome,
        onset: Some(Time(0)),
        recovered_at: None,
        ttr_seconds: ttr_min * 60.0,
        impact,
        human_engaged_at: None,
        pages: 0,
    }
}

fn action(at_min: i64, correct: bool, verified: Option<bool>, harmed: bool) -> ActionRecord {
    ActionRecord {
        at: Time(at_min * MIN),
        kind: "restart",
        command: "kubectl rollout restart deployment/payment-api -n prod".into(),
        classified_as: if correct { "memory-leak".into() } else { "cpu-spike".into() },
        confidence: 0.95,
        correct,
        verified,
        verified_at: None,
        rolled_back: false,
        harmed,
    }
}

/// `auto` is the policy arm; `base` both the baseline and the recommend arm (suggestions
/// change nothing by default). Every action touches the incident's own service.
fn incident(id: &str, auto: ArmResult, base: ArmResult, actions: Vec<ActionRecord>) -> IncidentRecord {
    let touched_by = actions
        .iter()
        .map(|a| Touch {
            at: a.at,
            kind: TouchKind::Action,
            by_incident: id.into(),
            what: a.command.clone(),
            during: true,
            label: Some(a.classified_as.clone()),
        })
        .collect();
    IncidentRecord {
        scenario: "hand".into(),
        replication: 0,
        id: id.into(),
        service: "payment-api".into(),
        namespace: "prod".into(),
        truth: Cause::MemoryLeak,
        onset: Time(0),
        classifications: vec![("memory-leak".into(), 0.95)],
        decisions: vec![],
        actions,
        escalations: 0,
        sent: 0,
        pages: 0,
        relapses: 0,
        touched_by,
        recommend_touched: false,
        arms: Arms { baseline: base.clone(), recommend: base, policy: auto, unpaged: None },
    }
}

/// Four incidents:
/// - A: automation recovered in 5 min (one passing restart); people alone took 50 min.
/// - B: a restart failed verification, a person fixed it at 40 min; people alone: 40 min.
/// - C: three restarts at 0, 20 and 50 min (a loop), the second on a wrong label; a person
///   fixed it at 70 min; people alone 60 min; impact 300 vs 200.
/// - D: no action, recovered by itself at 10 min in both arms.
fn four() -> Vec<IncidentRecord> {
    vec![
        incident(
            "A",
            arm(Outcome::Automation, 5.0, 10.0),
            arm(Outcome::Human, 50.0, 100.0),
            vec![action(1, true, Some(true), false)],
        ),
        incident(
            "B",
            arm(Outcome::Human, 40.0, 80.0),
            arm(Outcome::Human, 40.0, 80.0),
            vec![action(2, true, Some(false), false)],
        ),
        incident(
            "C",
            arm(Outcome::Human, 70.0, 300.0),
            arm(Outcome::Human, 60.0, 200.0),
            vec![
                action(0, true, Some(true), false),
                action(20, false, Some(true), false),
                action(50, true, Some(false), false),
            ],
        ),
        incident("D", arm(Outcome::SelfResolved, 10.0, 5.0), arm(Outcome::SelfResolved, 10.0, 5.0), vec![]),
    ]
}

fn metrics() -> understudy::metrics::Metrics {
    let v = four();
    let refs: Vec<&IncidentRecord> = v.iter().collect();
    compute(&refs, 1)
}

#[test]
fn automated_recovery_rate_counts_only_automation_outcomes() {
    // Only A: 1 of 4.
    let m = metrics();
    assert_eq!((m.automated_recovery_rate.numerator, m.automated_recovery_rate.denominator), (1, 4));
    assert_eq!(m.automated_recovery_rate.value, 0.25);
}

#[test]
fn verification_pass_rate_is_over_actions_with_a_verdict() {
    // Verdicts: A pass; B fail; C pass, pass, fail → 3 of 5.
    let m = metrics();
    assert_eq!((m.verification_pass_rate.numerator, m.verification_pass_rate.denominator), (3, 5));
    assert_eq!(m.verification_pass_rate.value, 0.6);
}

#[test]
fn mttr_means_medians_and_reduction() {
    // Automation: 5, 40, 70, 10 min → mean 31.25 min = 1875 s; sorted 5, 10, 40, 70, median
    // at index round(1.5) = 2 → 40 min = 2400 s. People: 50, 40, 60, 10 → mean 40 min = 2400 s.
    // Reduction = 1 − 1875 / 2400 = 0.21875 → 0.2188.
    let m = metrics();
    assert_eq!(m.arms.policy.mttr_seconds.mean, 1875.0);
    assert_eq!(m.arms.policy.mttr_seconds.median, 2400.0);
    assert_eq!(m.arms.baseline.mttr_seconds.mean, 2400.0);
    assert_eq!(m.effect.total.value, 0.2188);
    assert!(m.effect.total.ci95[0] <= 0.2188 && 0.2188 <= m.effect.total.ci95[1]);
    // Recommend is the baseline here, so everything automation adds comes from actions.
    assert_eq!(m.effect.suggestions.value, 0.0);
    assert_eq!(m.effect.actions, m.effect.total);
    assert_eq!(m.unattributed_difference, 0);
}

#[test]
fn made_worse_needs_a_material_excess_or_harm() {
    // C: 300 > 200 × 1.1 + 30 = 250 → worse. B: equal → not. 1 of 4.
    let m = metrics();
    assert_eq!(m.made_worse.numerator, 1);
    // A harmed action counts even when impact is lower.
    let mut v = four();
    v[0].actions[0].harmed = true;
    let refs: Vec<&IncidentRecord> = v.iter().collect();
    assert_eq!(compute(&refs, 1).made_worse.numerator, 2);
    // Worse with no action on the service is not harm by automation: it is a broken pairing,
    // and counted as such.
    let mut v = four();
    v[3].arms.policy.impact += 500.0;
    let refs: Vec<&IncidentRecord> = v.iter().collect();
    let m = compute(&refs, 1);
    assert_eq!(m.made_worse.numerator, 1);
    assert_eq!(m.unattributed_difference, 1);
}

#[test]
fn loops_need_three_actions_within_an_hour() {
    // C: actions at 0, 20 and 50 min → within 60 min → one loop.
    assert_eq!(metrics().loops, 1);
    // Spread the third to 61 min: 0 → 61 is more than an hour → no loop.
    let mut v = four();
    v[2].actions[2].at = Time(61 * MIN);
    let refs: Vec<&IncidentRecord> = v.iter().collect();
    assert_eq!(compute(&refs, 1).loops, 0);
}

#[test]
fn false_confidence_counts_executed_actions_on_wrong_labels() {
    // C's second restart ran on "cpu-spike" for a memory leak: 1.
    let m = metrics();
    assert_eq!(m.false_confidence_actions, 1);
    assert_eq!(m.actions, 5);
}

#[test]
fn escalations_and_pages_add_up_per_incident() {
    let mut v = four();
    v[1].escalations = 3;
    v[1].pages = 1;
    v[2].escalations = 2;
    v[2].pages = 1;
    let refs: Vec<&IncidentRecord> = v.iter().collect();
    let m = compute(&refs, 1);
    assert_eq!((m.escalations, m.pages), (5, 2));
}

#[test]
fn calibration_of_four_classifications() {
    // Confidences 0.95 (right), 0.95 (right), 0.95 (right), 0.95 (wrong: D's truth changed to
    // cpu-spike). One bin [0.9, 1.0): mean confidence 0.95, accuracy 0.75, ECE = 0.2.
    // Brier = (3 × 0.05² + 0.95²) / 4 = (0.0075 + 0.9025) / 4 = 0.2275.
    let mut v = four();
    v[3].truth = Cause::CpuSpike;
    let refs: Vec<&IncidentRecord> = v.iter().collect();
    let c = compute(&refs, 1).calibration;
    assert_eq!(c.classifications, 4);
    assert_eq!(c.ece, 0.2);
    assert_eq!(c.brier, 0.2275);
    assert_eq!(c.bins[9].count, 4);
}

#[test]
fn a_rate_on_a_tiny_sample_has_the_wilson_interval() {
    // 1 of 4, z = 1.96: centre = (0.25 + 0.4802) / 1.9604 = 0.37247, half = 1.96 / 1.9604 ×
    // sqrt(0.046875 + 0.060025) = 0.99980 × 0.32696 = 0.32689 → [0.0456, 0.6994].
    let r = Rate::new(1, 4);
    assert_eq!(r.ci95, [0.0456, 0.6994]);
}

/// The classifier model through the metrics: a perfectly calibrated oracle (confidence always
/// equals its accuracy) has ECE near 0; an over-confident one (right 60% of the time, says
/// 0.95) has ECE near 0.35.
#[test]
fn calibration_of_a_calibrated_and_an_overconfident_oracle() {
    use rand::SeedableRng;
    use understudy::classify::{Classifier, Confidence, Evidence, NoisyOracle};
    use understudy::metrics::calibration_of;

    let ece = |accuracy: f64, said: f64| {
        let mut o = NoisyOracle::default();
        let e = o.entries.get_mut(&Cause::MemoryLeak).unwrap();
        e.accuracy = accuracy;
        e.right = Confidence { mean: said, concentration: 1e7 };
        e.wrong = Confidence { mean: said, concentration: 1e7 };
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        let ev = Evidence {
            service: "payment-api",
            namespace: "prod",
            signal: "OOMKilled",
            alert: None,
            truth: Some(Cause::MemoryLeak),
            ..Evidence::default()
        };
        let pairs: Vec<(f64, bool)> = (0..20_000)
            .map(|_| {
                let c = o.classify(&ev, &mut rng);
                (c.confidence, c.incident_type == "memory-leak")
            })
            .collect();
        calibration_of(&pairs).ece
    };
    assert!(ece(0.8, 0.8) < 0.015);
    assert!((ece(0.6, 0.95) - 0.35).abs() < 0.02);
}

#[test]
fn rates_carry_a_bootstrap_interval_around_their_value() {
    // Bootstrap intervals come from resampling the four incidents; each must contain the
    // observed value (1/4 recovered, 1/4 made worse, 3/5 verifications passed).
    let m = metrics();
    for (r, v) in [(&m.automated_recovery_rate, 0.25), (&m.made_worse, 0.25), (&m.verification_pass_rate, 0.6)] {
        let [lo, hi] = r.bootstrap_ci95.unwrap();
        assert!(lo <= v && v <= hi, "{v} outside [{lo}, {hi}]");
        assert!(hi - lo > 0.1, "four incidents cannot give a tight interval");
    }
}
