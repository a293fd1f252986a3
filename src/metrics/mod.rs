//! Metrics: incident records → the numbers a lead decides on, each defined here once.
//!
//! Owns the definitions of DESIGN.md's metrics (automated recovery rate, verification pass
//! rate, MTTR with and without automation and their paired reduction, made worse, loops,
//! false confidence, escalations, pages, calibration), their confidence intervals and their
//! breakdown per incident type. Pure functions of the records and a seed: no I/O, no
//! clock; rounding to fixed precision happens here so reports are byte-stable.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::sim::{IncidentRecord, Outcome};

pub mod phase;

/// Bootstrap resamples for the MTTR reduction interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// Round to 4 decimals (rates) so reports are stable and readable.
pub fn r4(x: f64) -> f64 {
    if x.is_finite() { (x * 10_000.0).round() / 10_000.0 } else { 0.0 }
}

/// Round to 1 decimal (seconds).
pub fn r1(x: f64) -> f64 {
    if x.is_finite() { (x * 10.0).round() / 10.0 } else { 0.0 }
}

/// A proportion with its 95% Wilson score interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rate {
    pub value: f64,
    pub numerator: usize,
    pub denominator: usize,
    /// Wilson score interval.
    pub ci95: [f64; 2],
    /// Percentile bootstrap over incidents (the same resamples as the MTTR reduction's, so
    /// intervals are paired across metrics); absent where a rate is computed on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_ci95: Option<[f64; 2]>,
}

impl Rate {
    pub fn new(numerator: usize, denominator: usize) -> Rate {
        if denominator == 0 {
            return Rate { value: 0.0, numerator, denominator, ci95: [0.0, 1.0], bootstrap_ci95: None };
        }
        let n = denominator as f64;
        let p = numerator as f64 / n;
        let z = Normal::new(0.0, 1.0).expect("standard normal").inverse_cdf(0.975);
        let z2 = z * z;
        let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
        Rate {
            value: r4(p),
            numerator,
            denominator,
            ci95: [r4((centre - half).max(0.0)), r4((centre + half).min(1.0))],
            bootstrap_ci95: None,
        }
    }
}

/// Mean, median and 90th percentile of times to recovery, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub mean: f64,
    pub median: f64,
    pub p90: f64,
    pub n: usize,
}

impl Summary {
    pub fn of(xs: &[f64]) -> Summary {
        if xs.is_empty() {
            return Summary { mean: 0.0, median: 0.0, p90: 0.0, n: 0 };
        }
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let idx = ((v.len() - 1) as f64 * p).round() as usize;
            v[idx]
        };
        Summary { mean: r1(v.iter().sum::<f64>() / v.len() as f64), median: r1(q(0.5)), p90: r1(q(0.9)), n: v.len() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mttr {
    pub automation: Summary,
    pub baseline: Summary,
}

/// `1 − mean(TTR with automation) / mean(TTR people only)` over the same incidents, with a
/// paired percentile bootstrap 95% interval (incidents resampled with both arms together).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reduction {
    pub value: f64,
    pub ci95: [f64; 2],
    pub resamples: usize,
}

/// How well the classifier's confidence matches how often it is right, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub classifications: usize,
    /// Expected calibration error over 10 equal-width bins.
    pub ece: f64,
    /// Mean squared error of confidence against correctness.
    pub brier: f64,
    pub bins: Vec<Bin>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    pub mean_confidence: f64,
    pub accuracy: f64,
}

/// Every metric, for one group of incidents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub incidents: usize,
    /// Incidents recovered by automation with verification passed and no person involved,
    /// over incidents.
    pub automated_recovery_rate: Rate,
    /// Executed actions whose verification passed, over executed actions with a verdict.
    pub verification_pass_rate: Rate,
    pub mttr_seconds: Mttr,
    pub mttr_reduction: Reduction,
    /// Incidents where an action added harm or impact exceeded the baseline's.
    pub made_worse: Rate,
    /// Incidents with ≥ 3 actions within an hour and no lasting recovery between them.
    pub loops: usize,
    /// Executed actions whose classification was wrong.
    pub false_confidence_actions: usize,
    pub actions: usize,
    /// Decisions that escalated plus failed verifications.
    pub escalations: usize,
    /// Escalations that brought a person in (no one was engaged yet).
    pub pages: usize,
    /// Escalations about an incident already escalated (alert fatigue).
    pub repeat_escalations: usize,
    /// The most escalations any one incident produced.
    pub max_escalations_per_incident: usize,
    /// Causes that came back after a recovery (mitigated, not fixed).
    pub relapses: usize,
    /// Incidents still open at the end of the run, per arm (their MTTR is censored).
    pub unresolved: BTreeMap<&'static str, usize>,
    pub outcomes: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
    pub calibration: Calibration,
}

/// Compute every metric over `incidents`. `seed` drives the bootstrap only.
pub fn compute(incidents: &[&IncidentRecord], seed: u64) -> Metrics {
    let n = incidents.len();
    let automated = incidents.iter().filter(|i| i.automation.outcome == Outcome::Automation).count();
    let verdicts: Vec<bool> = incidents.iter().flat_map(|i| i.actions.iter().filter_map(|a| a.verified)).collect();
    let passed = verdicts.iter().filter(|v| **v).count();
    let auto_ttr: Vec<f64> = incidents.iter().map(|i| i.automation.ttr_seconds).collect();
    let base_ttr: Vec<f64> = incidents.iter().map(|i| i.baseline.ttr_seconds).collect();
    let worse = incidents.iter().filter(|i| i.made_worse()).count();
    let mut outcomes: BTreeMap<&'static str, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for i in incidents {
        *outcomes.entry("automation").or_default().entry(i.automation.outcome.as_str()).or_default() += 1;
        *outcomes.entry("baseline").or_default().entry(i.baseline.outcome.as_str()).or_default() += 1;
    }
    let unresolved = [
        ("automation", incidents.iter().filter(|i| i.automation.outcome == Outcome::Unresolved).count()),
        ("baseline", incidents.iter().filter(|i| i.baseline.outcome == Outcome::Unresolved).count()),
    ]
    .into_iter()
    .collect();
    let rows: Vec<Row> = incidents
        .iter()
        .map(|i| {
            let verdicts: Vec<bool> = i.actions.iter().filter_map(|a| a.verified).collect();
            (
                i.automation.ttr_seconds,
                i.baseline.ttr_seconds,
                i.automation.outcome == Outcome::Automation,
                i.made_worse(),
                verdicts.iter().filter(|v| **v).count(),
                verdicts.len(),
            )
        })
        .collect();
    let (mttr_reduction, rec_ci, worse_ci, verify_ci) = bootstrap(&rows, seed);
    let with = |mut r: Rate, ci: [f64; 2]| {
        r.bootstrap_ci95 = Some(ci);
        r
    };
    Metrics {
        incidents: n,
        automated_recovery_rate: with(Rate::new(automated, n), rec_ci),
        verification_pass_rate: with(Rate::new(passed, verdicts.len()), verify_ci),
        mttr_seconds: Mttr { automation: Summary::of(&auto_ttr), baseline: Summary::of(&base_ttr) },
        mttr_reduction,
        made_worse: with(Rate::new(worse, n), worse_ci),
        loops: incidents.iter().filter(|i| i.is_loop()).count(),
        false_confidence_actions: incidents.iter().map(|i| i.false_confidence_actions()).sum(),
        actions: incidents.iter().map(|i| i.actions.len()).sum(),
        escalations: incidents.iter().map(|i| i.escalations as usize).sum(),
        pages: incidents.iter().map(|i| i.pages as usize).sum(),
        repeat_escalations: incidents.iter().map(|i| i.escalations.saturating_sub(1) as usize).sum(),
        max_escalations_per_incident: incidents.iter().map(|i| i.escalations as usize).max().unwrap_or(0),
        relapses: incidents.iter().map(|i| i.relapses as usize).sum(),
        unresolved,
        outcomes,
        calibration: calibration(incidents),
    }
}

/// Metrics per true incident type, in type order.
pub fn per_type(incidents: &[&IncidentRecord], seed: u64) -> BTreeMap<&'static str, Metrics> {
    let mut groups: BTreeMap<&'static str, Vec<&IncidentRecord>> = BTreeMap::new();
    for i in incidents {
        groups.entry(i.truth.label()).or_default().push(i);
    }
    groups.into_iter().map(|(k, v)| (k, compute(&v, seed))).collect()
}

fn ratio(auto: &[f64], base: &[f64], idx: impl Iterator<Item = usize>) -> f64 {
    let (mut a, mut b) = (0.0, 0.0);
    for i in idx {
        a += auto[i];
        b += base[i];
    }
    if b > 0.0 { 1.0 - a / b } else { 0.0 }
}

/// Per incident: (TTR with automation, TTR people only, automated?, made worse?, passed
/// verifications, verdicts).
type Row = (f64, f64, bool, bool, usize, usize);

/// One paired percentile bootstrap over incidents for the MTTR reduction and the rates.
fn bootstrap(rows: &[Row], seed: u64) -> (Reduction, [f64; 2], [f64; 2], [f64; 2]) {
    let n = rows.len();
    let auto: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let base: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let value = ratio(&auto, &base, 0..n);
    if n == 0 {
        return (Reduction { value: 0.0, ci95: [0.0, 0.0], resamples: 0 }, [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]);
    }
    let mut rng = Pcg64Mcg::seed_from_u64(seed ^ 0x6d74_7472);
    let mut stats: [Vec<f64>; 4] = Default::default();
    for _ in 0..BOOTSTRAP_RESAMPLES {
        let (mut a, mut b, mut rec, mut worse, mut pass, mut verd) = (0.0, 0.0, 0usize, 0usize, 0usize, 0usize);
        for _ in 0..n {
            let r = &rows[rng.gen_range(0..n)];
            a += r.0;
            b += r.1;
            rec += usize::from(r.2);
            worse += usize::from(r.3);
            pass += r.4;
            verd += r.5;
        }
        stats[0].push(if b > 0.0 { 1.0 - a / b } else { 0.0 });
        stats[1].push(rec as f64 / n as f64);
        stats[2].push(worse as f64 / n as f64);
        stats[3].push(if verd > 0 { pass as f64 / verd as f64 } else { 0.0 });
    }
    let ci = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        [r4(q(0.025)), r4(q(0.975))]
    };
    let [mut s0, mut s1, mut s2, mut s3] = stats;
    (
        Reduction { value: r4(value), ci95: ci(&mut s0), resamples: BOOTSTRAP_RESAMPLES },
        ci(&mut s1),
        ci(&mut s2),
        ci(&mut s3),
    )
}

fn calibration(incidents: &[&IncidentRecord]) -> Calibration {
    let pairs: Vec<(f64, bool)> =
        incidents.iter().flat_map(|i| i.classifications.iter().map(move |(l, c)| (*c, l == i.truth.label()))).collect();
    calibration_of(&pairs)
}

/// Calibration of (confidence, correct) pairs: 10 equal-width bins, ECE and Brier score.
pub fn calibration_of(pairs: &[(f64, bool)]) -> Calibration {
    let n = pairs.len();
    let mut bins: Vec<(usize, f64, usize)> = vec![(0, 0.0, 0); 10];
    let mut brier = 0.0;
    for &(c, ok) in pairs {
        let b = ((c * 10.0).floor() as usize).min(9);
        bins[b].0 += 1;
        bins[b].1 += c;
        bins[b].2 += usize::from(ok);
        let y = if ok { 1.0 } else { 0.0 };
        brier += (c - y) * (c - y);
    }
    let mut ece = 0.0;
    let out = bins
        .iter()
        .enumerate()
        .map(|(k, &(count, sum, right))| {
            let (mc, acc) = if count > 0 { (sum / count as f64, right as f64 / count as f64) } else { (0.0, 0.0) };
            if n > 0 {
                ece += count as f64 / n as f64 * (acc - mc).abs();
            }
            Bin { lo: k as f64 / 10.0, hi: (k + 1) as f64 / 10.0, count, mean_confidence: r4(mc), accuracy: r4(acc) }
        })
        .collect();
    Calibration { classifications: n, ece: r4(ece), brier: r4(if n > 0 { brier / n as f64 } else { 0.0 }), bins: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_matches_a_hand_computed_value() {
        // 8 of 10: p = 0.8, z = 1.96. centre = (0.8 + 0.19208) / 1.38416 = 0.71674;
        // half = 1.96/1.38416 × sqrt(0.016 + 0.009604) = 1.41602 × 0.16001 = 0.22658.
        let r = Rate::new(8, 10);
        assert_eq!(r.value, 0.8);
        assert_eq!(r.ci95, [0.4902, 0.9433]);
    }

    #[test]
    fn a_perfectly_calibrated_source_has_near_zero_ece_and_an_overconfident_one_does_not() {
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let calibrated: Vec<(f64, bool)> = (0..20_000)
            .map(|_| {
                let c: f64 = rng.r#gen();
                (c, rng.r#gen::<f64>() < c)
            })
            .collect();
        let over: Vec<(f64, bool)> = (0..20_000).map(|_| (0.95, rng.r#gen::<f64>() < 0.7)).collect();
        let a = calibration_of(&calibrated);
        let b = calibration_of(&over);
        assert!(a.ece < 0.02, "{}", a.ece);
        assert!((b.ece - 0.25).abs() < 0.02, "{}", b.ece);
    }
}

/// Metrics for a whole run: overall, per incident type, per scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub overall: Metrics,
    pub per_type: BTreeMap<&'static str, Metrics>,
    pub per_scenario: BTreeMap<String, ScenarioMetrics>,
    /// Actions by the label they were executed on (what a policy entry did).
    pub per_label: BTreeMap<String, LabelStats>,
    /// Classifications: true cause → label → count.
    pub confusion: BTreeMap<&'static str, BTreeMap<String, usize>>,
    /// Calibration per label the classifier gave (as the policy sees it).
    pub calibration_by_label: BTreeMap<String, Calibration>,
}

/// What the actions executed on one label did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelStats {
    pub actions: usize,
    /// Executed on a wrong classification.
    pub wrong: usize,
    pub verified: usize,
    pub passed: usize,
    /// Added harm.
    pub harmed: usize,
    /// wrong / actions.
    pub false_confidence_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioMetrics {
    pub metrics: Metrics,
    pub per_type: BTreeMap<&'static str, Metrics>,
}

/// Evaluate every record, grouped.
pub fn evaluate(records: &[IncidentRecord], seed: u64) -> Evaluation {
    let all: Vec<&IncidentRecord> = records.iter().collect();
    let mut by_scenario: BTreeMap<String, Vec<&IncidentRecord>> = BTreeMap::new();
    for r in records {
        by_scenario.entry(r.scenario.clone()).or_default().push(r);
    }
    let mut per_label: BTreeMap<String, LabelStats> = BTreeMap::new();
    let mut confusion: BTreeMap<&'static str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut by_label: BTreeMap<String, Vec<(f64, bool)>> = BTreeMap::new();
    for r in records {
        for a in &r.actions {
            let e = per_label.entry(a.classified_as.clone()).or_default();
            e.actions += 1;
            e.wrong += usize::from(!a.correct);
            e.verified += usize::from(a.verified.is_some());
            e.passed += usize::from(a.verified == Some(true));
            e.harmed += usize::from(a.harmed);
        }
        for (label, c) in &r.classifications {
            *confusion.entry(r.truth.label()).or_default().entry(label.clone()).or_default() += 1;
            by_label.entry(label.clone()).or_default().push((*c, label == r.truth.label()));
        }
    }
    for e in per_label.values_mut() {
        e.false_confidence_share = r4(if e.actions > 0 { e.wrong as f64 / e.actions as f64 } else { 0.0 });
    }
    Evaluation {
        overall: compute(&all, seed),
        per_type: per_type(&all, seed),
        per_scenario: by_scenario
            .into_iter()
            .map(|(k, v)| (k, ScenarioMetrics { metrics: compute(&v, seed), per_type: per_type(&v, seed) }))
            .collect(),
        per_label,
        confusion,
        calibration_by_label: by_label.into_iter().map(|(k, v)| (k, calibration_of(&v))).collect(),
    }
}

/// What each metric means, printed in every report.
pub const DEFINITIONS: [(&str, &str); 14] = [
    ("incident", "one fault episode on one service (a campaign counts as a traffic-surge episode), seen by both arms"),
    (
        "automated_recovery_rate",
        "incidents recovered by automation (an action passed verification, no person involved before recovery) / incidents",
    ),
    ("verification_pass_rate", "executed actions whose verification window passed / executed actions with a verdict"),
    (
        "mttr_seconds",
        "onset → start of a healthy period lasting 30 min; automation arm vs people-only baseline on the same incidents (unresolved incidents count until the end of the run)",
    ),
    (
        "mttr_reduction",
        "1 − mean TTR with automation / mean TTR people only; 95% CI from a paired bootstrap over incidents",
    ),
    (
        "made_worse",
        "incidents where an action added harm, or whose impact (degraded seconds × severity) exceeded the baseline's by more than 10% and 30 severity-seconds",
    ),
    ("loops", "incidents with ≥ 3 executed actions within one hour without a lasting recovery between them"),
    ("false_confidence_actions", "executed actions (at or above threshold) whose classification was wrong"),
    ("escalations", "decisions that escalated plus failed verifications"),
    ("pages", "escalations that brought a person in (nobody was engaged on the incident yet)"),
    (
        "repeat_escalations",
        "escalations of an incident after its first (alert fatigue): PagerDuty folds them into one page by dedup_key, Slack and webhooks show each; every one is in escalations.jsonl",
    ),
    (
        "relapses",
        "times a mitigated cause came back after recovery; the incident reopens and its impact counts against automation",
    ),
    (
        "calibration",
        "classifier confidence vs correctness over every classification: 10 bins, expected calibration error, Brier score",
    ),
    (
        "ci95",
        "rates: Wilson score interval (ci95) and a percentile bootstrap over incidents (bootstrap_ci95); MTTR reduction: paired percentile bootstrap; 2000 resamples shared by all",
    ),
];
