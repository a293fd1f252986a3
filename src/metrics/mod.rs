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

use crate::sim::{ArmResult, IncidentRecord, Outcome};

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

/// One arm's numbers over a group of incidents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmMetrics {
    /// Onset → lasting recovery, seconds (unresolved incidents count to the end of the run).
    pub mttr_seconds: Summary,
    /// Escalations that brought a person in.
    pub pages: usize,
    /// Incidents still open when the run ended.
    pub unresolved: usize,
    /// How incidents ended: automation, human, self-resolved, prevented, unresolved.
    pub outcomes: BTreeMap<&'static str, usize>,
}

/// Every arm's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmsMetrics {
    pub baseline: ArmMetrics,
    pub recommend: ArmMetrics,
    pub policy: ArmMetrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpaged: Option<ArmMetrics>,
}

/// `1 − mean(TTR in arm A) / mean(TTR in arm B)` over the same incidents, with a paired
/// percentile bootstrap 95% interval (incidents resampled with every arm together).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reduction {
    pub value: f64,
    pub ci95: [f64; 2],
    pub resamples: usize,
}

/// What automation adds to MTTR, split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectMetrics {
    /// `policy` vs `baseline`: everything automation adds.
    pub total: Reduction,
    /// `recommend` vs `baseline`: what the suggestions on the pages add.
    pub suggestions: Reduction,
    /// `policy` vs `recommend`: what executed actions add.
    pub actions: Reduction,
    /// `policy` vs people who are never paged: the old comparison, which credits paging to
    /// automation. An extra line, never the headline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_vs_unpaged: Option<Reduction>,
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
    pub arms: ArmsMetrics,
    pub effect: EffectMetrics,
    /// Incidents recovered by automation with verification passed and no person involved,
    /// over incidents (`policy` arm).
    pub automated_recovery_rate: Rate,
    /// Executed actions whose verification passed, over executed actions with a verdict.
    pub verification_pass_rate: Rate,
    /// Incidents made worse by an automated action (named in the incident's `touched_by`).
    pub made_worse: Rate,
    /// Incidents made worse by the pages' suggestions (`recommend` vs `baseline`).
    pub made_worse_by_suggestions: Rate,
    /// Arm differences without a cause (see `IncidentRecord::unattributed_difference`):
    /// 0 unless the pairing is broken.
    pub unattributed_difference: usize,
    /// Incidents with ≥ 3 actions within an hour and no lasting recovery between them.
    pub loops: usize,
    pub actions: usize,
    /// Executed actions whose classification was wrong.
    pub false_confidence_actions: usize,
    /// false_confidence_actions / actions (0 with no action).
    pub false_confidence_share: f64,
    /// Executed actions that added harm (an effect of `worse`).
    pub harmful_actions: usize,
    /// Decisions that escalated plus failed verifications (`policy` arm).
    pub escalations: usize,
    /// Escalations that brought a person in (`policy` arm).
    pub pages: usize,
    /// Escalations about an incident already escalated (alert fatigue).
    pub repeat_escalations: usize,
    /// Escalations sent to a person after the channels' `repeat:` rules (the rest are in
    /// each incident's history and count, not sent again).
    pub escalations_sent: usize,
    /// The most escalations any one incident produced.
    pub max_escalations_per_incident: usize,
    /// Causes that came back after a recovery (mitigated, not fixed).
    pub relapses: usize,
    pub calibration: Calibration,
}

fn arm_metrics(incidents: &[&IncidentRecord], arm: impl Fn(&IncidentRecord) -> &ArmResult) -> ArmMetrics {
    let ttr: Vec<f64> = incidents.iter().map(|i| arm(i).ttr_seconds).collect();
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
    for i in incidents {
        *outcomes.entry(arm(i).outcome.as_str()).or_default() += 1;
    }
    ArmMetrics {
        mttr_seconds: Summary::of(&ttr),
        pages: incidents.iter().map(|i| arm(i).pages as usize).sum(),
        unresolved: incidents.iter().filter(|i| arm(i).outcome == Outcome::Unresolved).count(),
        outcomes,
    }
}

/// Compute every metric over `incidents`. `seed` drives the bootstrap only.
pub fn compute(incidents: &[&IncidentRecord], seed: u64) -> Metrics {
    let n = incidents.len();
    let automated = incidents.iter().filter(|i| i.arms.policy.outcome == Outcome::Automation).count();
    let verdicts: Vec<bool> = incidents.iter().flat_map(|i| i.actions.iter().filter_map(|a| a.verified)).collect();
    let passed = verdicts.iter().filter(|v| **v).count();
    let worse = incidents.iter().filter(|i| i.made_worse()).count();
    let worse_s = incidents.iter().filter(|i| i.made_worse_by_suggestions()).count();
    let has_unpaged = !incidents.is_empty() && incidents.iter().all(|i| i.arms.unpaged.is_some());
    let rows: Vec<Row> = incidents
        .iter()
        .map(|i| {
            let verdicts: Vec<bool> = i.actions.iter().filter_map(|a| a.verified).collect();
            Row {
                policy: i.arms.policy.ttr_seconds,
                recommend: i.arms.recommend.ttr_seconds,
                baseline: i.arms.baseline.ttr_seconds,
                unpaged: i.arms.unpaged.as_ref().map_or(0.0, |u| u.ttr_seconds),
                automated: i.arms.policy.outcome == Outcome::Automation,
                worse: i.made_worse(),
                passed: verdicts.iter().filter(|v| **v).count(),
                verdicts: verdicts.len(),
            }
        })
        .collect();
    let b = bootstrap(&rows, seed);
    let with = |mut r: Rate, ci: [f64; 2]| {
        r.bootstrap_ci95 = Some(ci);
        r
    };
    let actions: usize = incidents.iter().map(|i| i.actions.len()).sum();
    let wrong: usize = incidents.iter().map(|i| i.false_confidence_actions()).sum();
    Metrics {
        incidents: n,
        arms: ArmsMetrics {
            baseline: arm_metrics(incidents, |i| &i.arms.baseline),
            recommend: arm_metrics(incidents, |i| &i.arms.recommend),
            policy: arm_metrics(incidents, |i| &i.arms.policy),
            unpaged: has_unpaged
                .then(|| arm_metrics(incidents, |i| i.arms.unpaged.as_ref().unwrap_or(&i.arms.baseline))),
        },
        effect: EffectMetrics {
            total: b.total,
            suggestions: b.suggestions,
            actions: b.actions,
            policy_vs_unpaged: has_unpaged.then_some(b.unpaged),
        },
        automated_recovery_rate: with(Rate::new(automated, n), b.recovery),
        verification_pass_rate: with(Rate::new(passed, verdicts.len()), b.verification),
        made_worse: with(Rate::new(worse, n), b.worse),
        made_worse_by_suggestions: Rate::new(worse_s, n),
        unattributed_difference: incidents.iter().map(|i| i.unattributed_difference()).sum(),
        loops: incidents.iter().filter(|i| i.is_loop()).count(),
        actions,
        false_confidence_actions: wrong,
        false_confidence_share: r4(if actions > 0 { wrong as f64 / actions as f64 } else { 0.0 }),
        harmful_actions: incidents.iter().map(|i| i.actions.iter().filter(|a| a.harmed).count()).sum(),
        escalations: incidents.iter().map(|i| i.escalations as usize).sum(),
        pages: incidents.iter().map(|i| i.pages as usize).sum(),
        repeat_escalations: incidents.iter().map(|i| i.escalations.saturating_sub(1) as usize).sum(),
        escalations_sent: incidents.iter().map(|i| i.sent as usize).sum(),
        max_escalations_per_incident: incidents.iter().map(|i| i.escalations as usize).max().unwrap_or(0),
        relapses: incidents.iter().map(|i| i.relapses as usize).sum(),
        calibration: calibration(incidents),
    }
}

/// Metrics per true cause ("what happened"), in cause order: every cause, with or without
/// a policy.
pub fn per_cause(incidents: &[&IncidentRecord], seed: u64) -> BTreeMap<&'static str, Metrics> {
    let mut groups: BTreeMap<&'static str, Vec<&IncidentRecord>> = BTreeMap::new();
    for i in incidents {
        groups.entry(i.truth.label()).or_default().push(i);
    }
    groups.into_iter().map(|(k, v)| (k, compute(&v, seed))).collect()
}

/// The label an incident counts under in the "what the policy saw and did" view: the label
/// its first executed action ran on, else its first classification, else `undetected`.
pub fn policy_label(i: &IncidentRecord) -> &str {
    i.actions.first().map_or_else(|| i.first_label(), |a| a.classified_as.as_str())
}

/// Metrics per label ("what the policy saw and did"), grouped by [`policy_label`]: every
/// figure of a row is about the same incidents, including the actions taken on them.
pub fn per_label(incidents: &[&IncidentRecord], seed: u64) -> BTreeMap<String, Metrics> {
    let mut groups: BTreeMap<String, Vec<&IncidentRecord>> = BTreeMap::new();
    for i in incidents {
        groups.entry(policy_label(i).to_string()).or_default().push(i);
    }
    groups.into_iter().map(|(k, v)| (k, compute(&v, seed))).collect()
}

fn ratio(rows: &[Row], a: impl Fn(&Row) -> f64, b: impl Fn(&Row) -> f64) -> f64 {
    let (x, y) = rows.iter().fold((0.0, 0.0), |(x, y), r| (x + a(r), y + b(r)));
    if y > 0.0 { 1.0 - x / y } else { 0.0 }
}

/// Per incident: times to recovery in each arm and what the rates count.
struct Row {
    policy: f64,
    recommend: f64,
    baseline: f64,
    unpaged: f64,
    automated: bool,
    worse: bool,
    passed: usize,
    verdicts: usize,
}

struct Boot {
    total: Reduction,
    suggestions: Reduction,
    actions: Reduction,
    unpaged: Reduction,
    recovery: [f64; 2],
    worse: [f64; 2],
    verification: [f64; 2],
}

/// One paired percentile bootstrap over incidents for every reduction and rate: each
/// resample draws incidents with all their arms, so the intervals are paired.
fn bootstrap(rows: &[Row], seed: u64) -> Boot {
    let n = rows.len();
    let reduction = |value: f64, ci: [f64; 2], resamples| Reduction { value: r4(value), ci95: ci, resamples };
    let values = [
        ratio(rows, |r| r.policy, |r| r.baseline),
        ratio(rows, |r| r.recommend, |r| r.baseline),
        ratio(rows, |r| r.policy, |r| r.recommend),
        ratio(rows, |r| r.policy, |r| r.unpaged),
    ];
    if n == 0 {
        let z = reduction(0.0, [0.0, 0.0], 0);
        return Boot {
            total: z.clone(),
            suggestions: z.clone(),
            actions: z.clone(),
            unpaged: z,
            recovery: [0.0, 1.0],
            worse: [0.0, 1.0],
            verification: [0.0, 1.0],
        };
    }
    let mut rng = Pcg64Mcg::seed_from_u64(seed ^ 0x6d74_7472);
    let mut stats: [Vec<f64>; 7] = Default::default();
    let red = |a: f64, b: f64| if b > 0.0 { 1.0 - a / b } else { 0.0 };
    for _ in 0..BOOTSTRAP_RESAMPLES {
        let (mut p, mut rc, mut b, mut u) = (0.0, 0.0, 0.0, 0.0);
        let (mut rec, mut worse, mut pass, mut verd) = (0usize, 0usize, 0usize, 0usize);
        for _ in 0..n {
            let r = &rows[rng.gen_range(0..n)];
            p += r.policy;
            rc += r.recommend;
            b += r.baseline;
            u += r.unpaged;
            rec += usize::from(r.automated);
            worse += usize::from(r.worse);
            pass += r.passed;
            verd += r.verdicts;
        }
        stats[0].push(red(p, b));
        stats[1].push(red(rc, b));
        stats[2].push(red(p, rc));
        stats[3].push(red(p, u));
        stats[4].push(rec as f64 / n as f64);
        stats[5].push(worse as f64 / n as f64);
        stats[6].push(if verd > 0 { pass as f64 / verd as f64 } else { 0.0 });
    }
    let ci = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        [r4(q(0.025)), r4(q(0.975))]
    };
    let [mut s0, mut s1, mut s2, mut s3, mut s4, mut s5, mut s6] = stats;
    Boot {
        total: reduction(values[0], ci(&mut s0), BOOTSTRAP_RESAMPLES),
        suggestions: reduction(values[1], ci(&mut s1), BOOTSTRAP_RESAMPLES),
        actions: reduction(values[2], ci(&mut s2), BOOTSTRAP_RESAMPLES),
        unpaged: reduction(values[3], ci(&mut s3), BOOTSTRAP_RESAMPLES),
        recovery: ci(&mut s4),
        worse: ci(&mut s5),
        verification: ci(&mut s6),
    }
}

fn calibration(incidents: &[&IncidentRecord]) -> Calibration {
    let pairs: Vec<(f64, bool)> =
        incidents.iter().flat_map(|i| i.classifications.iter().map(move |(l, c)| (*c, l == i.truth.label()))).collect();
    calibration_of(&pairs)
}

/// Calibration of (confidence, correct) pairs: 10 equal-width bins, ECE and Brier score.
pub fn calibration_of(pairs: &[(f64, bool)]) -> Calibration {
    let mut acc = CalibrationAcc::default();
    for &(c, ok) in pairs {
        acc.add(c, ok);
    }
    acc.finish()
}

/// [`calibration_of`] in constant memory, one pair at a time (replay's streams).
#[derive(Debug, Clone, Default)]
pub struct CalibrationAcc {
    n: usize,
    /// Per bin: count, sum of confidences, correct ones.
    bins: [(usize, f64, usize); 10],
    brier: f64,
}

impl CalibrationAcc {
    pub fn add(&mut self, c: f64, ok: bool) {
        let b = ((c * 10.0).floor() as usize).min(9);
        self.n += 1;
        self.bins[b].0 += 1;
        self.bins[b].1 += c;
        self.bins[b].2 += usize::from(ok);
        let y = if ok { 1.0 } else { 0.0 };
        self.brier += (c - y) * (c - y);
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn finish(&self) -> Calibration {
        let n = self.n;
        let mut ece = 0.0;
        let out = self
            .bins
            .iter()
            .enumerate()
            .map(|(k, &(count, sum, right))| {
                let (mc, acc) = if count > 0 { (sum / count as f64, right as f64 / count as f64) } else { (0.0, 0.0) };
                if n > 0 {
                    ece += count as f64 / n as f64 * (acc - mc).abs();
                }
                Bin {
                    lo: k as f64 / 10.0,
                    hi: (k + 1) as f64 / 10.0,
                    count,
                    mean_confidence: r4(mc),
                    accuracy: r4(acc),
                }
            })
            .collect();
        Calibration {
            classifications: n,
            ece: r4(ece),
            brier: r4(if n > 0 { self.brier / n as f64 } else { 0.0 }),
            bins: out,
        }
    }
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

/// Metrics for a whole run: overall, in two views (per true cause and per label), per
/// scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub overall: Metrics,
    /// "What happened": incidents by true cause, every cause, with or without a policy.
    pub per_cause: BTreeMap<&'static str, Metrics>,
    /// "What the policy saw and did": incidents by [`policy_label`]. The gate and the phase
    /// recommendations read this view.
    pub per_label: BTreeMap<String, Metrics>,
    pub per_scenario: BTreeMap<String, ScenarioMetrics>,
    /// Classifications: true cause → label → count.
    pub confusion: BTreeMap<&'static str, BTreeMap<String, usize>>,
    /// Calibration per label the classifier gave (as the policy sees it).
    pub calibration_by_label: BTreeMap<String, Calibration>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioMetrics {
    pub metrics: Metrics,
    pub per_cause: BTreeMap<&'static str, Metrics>,
}

/// Evaluate every record, grouped.
pub fn evaluate(records: &[IncidentRecord], seed: u64) -> Evaluation {
    let all: Vec<&IncidentRecord> = records.iter().collect();
    let mut by_scenario: BTreeMap<String, Vec<&IncidentRecord>> = BTreeMap::new();
    for r in records {
        by_scenario.entry(r.scenario.clone()).or_default().push(r);
    }
    let mut confusion: BTreeMap<&'static str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut by_label: BTreeMap<String, Vec<(f64, bool)>> = BTreeMap::new();
    for r in records {
        for (label, c) in &r.classifications {
            *confusion.entry(r.truth.label()).or_default().entry(label.clone()).or_default() += 1;
            by_label.entry(label.clone()).or_default().push((*c, label == r.truth.label()));
        }
    }
    Evaluation {
        overall: compute(&all, seed),
        per_cause: per_cause(&all, seed),
        per_label: per_label(&all, seed),
        per_scenario: by_scenario
            .into_iter()
            .map(|(k, v)| (k, ScenarioMetrics { metrics: compute(&v, seed), per_cause: per_cause(&v, seed) }))
            .collect(),
        confusion,
        calibration_by_label: by_label.into_iter().map(|(k, v)| (k, calibration_of(&v))).collect(),
    }
}

/// What each metric means, printed in every report.
pub const DEFINITIONS: [(&str, &str); 22] = [
    (
        "incident",
        "one fault episode on one service (a campaign counts as a traffic-surge episode), seen by every arm on the same fault instances and human draws",
    ),
    (
        "arms",
        "baseline: the team today (the monitor's alerts page people 30 s after firing, or, with people.paged_by_alerts false, people notice on their own); recommend: the policy with every auto_execute off (the same pages, carrying the suggested command); policy: the policy as written; unpaged: people never paged, who notice after their detection delay (an extra, never the headline)",
    ),
    (
        "arms.*.mttr_seconds",
        "onset → start of a healthy period lasting 30 min, per arm (unresolved incidents count until the end of the run)",
    ),
    (
        "effect.total",
        "what automation adds: 1 − mean TTR policy / mean TTR baseline; 95% CI from a paired bootstrap over incidents",
    ),
    ("effect.suggestions", "what the pages' suggestions add: 1 − mean TTR recommend / mean TTR baseline"),
    ("effect.actions", "what executed actions add: 1 − mean TTR policy / mean TTR recommend"),
    (
        "effect.policy_vs_unpaged",
        "1 − mean TTR policy / mean TTR of people never paged: credits paging to automation; shown only as a labelled extra",
    ),
    (
        "automated_recovery_rate",
        "incidents recovered by automation (an action passed verification, no person involved before recovery) / incidents",
    ),
    ("verification_pass_rate", "executed actions whose verification window passed / executed actions with a verdict"),
    (
        "made_worse",
        "incidents made worse by automation: an automated action touched the incident's service (while it was open, or as the latest action before its onset: the service as automation left it) and either added harm or left the policy arm's impact (degraded seconds × severity) above recommend's by more than 10% and 30 severity-seconds; each incident names the action in touched_by",
    ),
    (
        "made_worse_by_suggestions",
        "incidents where a page's suggestion (or a page the team would not have had) touched the service and recommend is worse than baseline by the same margins",
    ),
    (
        "unattributed_difference",
        "incidents whose arms differ with nothing of automation's on their service (policy ≠ recommend without an action, recommend ≠ baseline without a suggestion or extra page): 0 unless the pairing is broken",
    ),
    ("loops", "incidents with ≥ 3 executed actions within one hour without a lasting recovery between them"),
    (
        "false_confidence_share",
        "executed actions (at or above threshold) whose classification was wrong / executed actions",
    ),
    ("escalations", "decisions that escalated plus failed verifications (policy arm)"),
    ("pages", "escalations that brought a person in (nobody was engaged on the incident yet); per arm in arms.*.pages"),
    (
        "repeat_escalations",
        "escalations of an incident after its first (alert fatigue), counted whether or not they were sent",
    ),
    (
        "escalations_sent",
        "escalations sent to a person (escalations.jsonl): a channel's `repeat:` rule (default on-change) holds back a repeat on an open page that says the same as the last one sent, or (`every: 15m`) comes sooner than that",
    ),
    (
        "relapses",
        "times a mitigated cause came back after recovery; the incident reopens and its impact counts against the policy arm",
    ),
    (
        "per_cause / per_label",
        "two views, never mixed in a row: per_cause groups incidents by true cause (what happened); per_label by the label the policy acted on (its first action's label, else its first classification, else undetected): what the policy saw and did. The gate reads per_label",
    ),
    (
        "calibration",
        "classifier confidence vs correctness over every classification: 10 bins, expected calibration error, Brier score",
    ),
    (
        "ci95",
        "rates: Wilson score interval (ci95) and a percentile bootstrap over incidents (bootstrap_ci95); MTTR effects: paired percentile bootstrap; 2000 resamples shared by all",
    ),
];

/// What changes from the team's current policy to a proposed one on the same incidents, the
/// same faults and human draws (the `terraform plan` of a policy change): both policies' arms
/// run against the same baseline and recommend arms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The current policy file and its fingerprint.
    pub current: String,
    pub current_fingerprint: String,
    /// `1 − mean TTR proposed / mean TTR current`, paired bootstrap 95% CI.
    pub mttr_change: Reduction,
    pub overall: Change,
    /// Per label the policy acted on (either policy's view): what each did.
    pub per_label: BTreeMap<String, Change>,
}

/// One group's figures under the current and the proposed policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub current: ChangeSide,
    pub proposed: ChangeSide,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeSide {
    pub incidents: usize,
    pub actions: usize,
    pub made_worse: usize,
    pub false_confidence_actions: usize,
    pub loops: usize,
    pub automated_recovery_rate: f64,
    /// What actions add against the same pages without actions.
    pub effect_actions: f64,
    pub mttr_mean_seconds: f64,
}

impl ChangeSide {
    fn of(m: &Metrics) -> ChangeSide {
        ChangeSide {
            incidents: m.incidents,
            actions: m.actions,
            made_worse: m.made_worse.numerator,
            false_confidence_actions: m.false_confidence_actions,
            loops: m.loops,
            automated_recovery_rate: m.automated_recovery_rate.value,
            effect_actions: m.effect.actions.value,
            mttr_mean_seconds: m.arms.policy.mttr_seconds.mean,
        }
    }

    fn empty() -> ChangeSide {
        ChangeSide {
            incidents: 0,
            actions: 0,
            made_worse: 0,
            false_confidence_actions: 0,
            loops: 0,
            automated_recovery_rate: 0.0,
            effect_actions: 0.0,
            mttr_mean_seconds: 0.0,
        }
    }
}

/// Compare `proposed` with `current`: records of the same incidents in the same order (the
/// current policy's arm re-run on the proposed run's shared arms).
pub fn compare(
    current_name: &str,
    current_fingerprint: &str,
    current: &[IncidentRecord],
    proposed: &[IncidentRecord],
    seed: u64,
) -> Comparison {
    let c: Vec<&IncidentRecord> = current.iter().collect();
    let p: Vec<&IncidentRecord> = proposed.iter().collect();
    let (cl, pl) = (per_label(&c, seed), per_label(&p, seed));
    let labels: std::collections::BTreeSet<&String> = cl.keys().chain(pl.keys()).collect();
    let side = |m: Option<&Metrics>| m.map_or_else(ChangeSide::empty, ChangeSide::of);
    // The paired reduction, as the arms' effects are computed: proposed in the policy
    // position, current in the recommend position.
    let rows: Vec<Row> = current
        .iter()
        .zip(proposed)
        .map(|(c, p)| Row {
            policy: p.arms.policy.ttr_seconds,
            recommend: c.arms.policy.ttr_seconds,
            baseline: c.arms.policy.ttr_seconds,
            unpaged: 0.0,
            automated: false,
            worse: false,
            passed: 0,
            verdicts: 0,
        })
        .collect();
    Comparison {
        current: current_name.to_string(),
        current_fingerprint: current_fingerprint.to_string(),
        mttr_change: bootstrap(&rows, seed).actions,
        overall: Change { current: ChangeSide::of(&compute(&c, seed)), proposed: ChangeSide::of(&compute(&p, seed)) },
        per_label: labels
            .into_iter()
            .map(|l| (l.clone(), Change { current: side(cl.get(l)), proposed: side(pl.get(l)) }))
            .collect(),
    }
}
