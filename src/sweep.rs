//! Sweeps: the same scenarios re-run with one policy parameter varied. Today: the confidence
//! threshold of each auto-executed incident type, which gives the threshold curves of the
//! report and the threshold the data supports.
//!
//! Owns the grid and the choice of a supported threshold; runs the simulator and the
//! metrics, writes nothing. Deterministic: the same seed and replication numbers at every
//! grid point (common random numbers), results in grid order whatever the thread count.
//!
//! Cheap by construction, exact by argument: a grid point re-runs only the `policy` arm (the
//! shared arms execute nothing, so no threshold reaches them), and only for replications
//! where some decision on the type's label had a confidence between the current threshold
//! and the point's. Elsewhere every comparison `confidence ≥ threshold` comes out the same,
//! so the run is the reference run, decision for decision; it is reused as it is.

use rayon::prelude::*;
use serde::Serialize;

use crate::metrics::{self, r4};
use crate::policy::{Policy, Setting};
use crate::sim::{self, scenario::Scenario};

/// Thresholds tried for each incident type.
pub const THRESHOLDS: [f64; 11] = [0.50, 0.60, 0.70, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96, 0.98];

/// A supported threshold keeps actions on a wrong label at or below this share …
pub const MAX_FALSE_CONFIDENCE_SHARE: f64 = crate::metrics::phase::MAX_FALSE_CONFIDENCE_SHARE;
/// … and incidents made worse at or below this rate (the same limits as auto-execute).
pub const MAX_MADE_WORSE_RATE: f64 = crate::metrics::phase::MAX_MADE_WORSE_RATE;

/// The whole run at one threshold of one incident type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdPoint {
    pub threshold: f64,
    pub incidents: usize,
    pub automated_recovery_rate: f64,
    pub made_worse_rate: f64,
    pub made_worse: usize,
    /// What automation adds (policy vs baseline).
    pub mttr_reduction: f64,
    /// What actions add (policy vs recommend).
    pub mttr_reduction_actions: f64,
    /// Actions executed on this type's label.
    pub actions: usize,
    /// Of those, on a wrong classification.
    pub false_confidence_actions: usize,
    pub false_confidence_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdCurve {
    pub incident_type: String,
    /// The policy's threshold.
    pub current: f64,
    pub points: Vec<ThresholdPoint>,
    /// The lowest threshold with at most 5% of this type's actions on a wrong label and at
    /// most 2% of incidents made worse; `None` if no threshold tried gets there (the harm
    /// then comes from the action itself, not from trusting the classifier).
    pub supported: Option<f64>,
    pub replications: u32,
}

/// Sweep every auto-executed type's threshold over [`THRESHOLDS`] (plus its current value).
/// `reference[s]` holds replications `0..n` of `scenarios[s]` under `policy` at `seed` (what
/// `simulate` already ran); each point gives what a full re-run at that threshold gives.
pub fn thresholds(
    scenarios: &[Scenario],
    policy: &Policy,
    seed: u64,
    reference: &[&[sim::Replication]],
) -> Vec<ThresholdCurve> {
    let replications = reference.iter().map(|r| r.len()).min().unwrap_or(0) as u32;
    let types: Vec<(String, f64)> = policy
        .remediations()
        .values()
        .filter(|r| r.auto_execute)
        .map(|r| (r.incident_type.clone(), r.confidence_threshold))
        .collect();
    // Each point's policy comes through the same validation as a file; a threshold no policy
    // may hold (none of THRESHOLDS is one) is left out rather than run.
    let mut grid: Vec<(usize, f64, Policy)> = Vec::new();
    for (k, (_, current)) in types.iter().enumerate() {
        let mut ts: Vec<f64> = THRESHOLDS.to_vec();
        if !ts.iter().any(|t| (t - current).abs() < 1e-9) {
            ts.push(*current);
        }
        ts.sort_by(f64::total_cmp);
        let label = &types[k].0;
        grid.extend(
            ts.into_iter().filter_map(|t| Some((k, t, policy.with(&Setting::Threshold(label.clone(), t)).ok()?))),
        );
    }
    let points: Vec<ThresholdPoint> = grid
        .par_iter()
        .map(|(k, t, p)| {
            let (label, current, t) = (&types[*k].0, types[*k].1, *t);
            let records: Vec<sim::IncidentRecord> = scenarios
                .iter()
                .zip(reference)
                .flat_map(|(s, reps)| {
                    reps.iter()
                        .take(replications as usize)
                        .flat_map(|rep| {
                            if unaffected(rep, label, current, t) {
                                rep.incidents.clone()
                            } else {
                                sim::rerun_policy_arm(s, p, seed, rep).incidents
                            }
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            point(&records, label, t, seed)
        })
        .collect();
    let mut out = Vec::new();
    let mut it = points.into_iter();
    for (k, (label, current)) in types.iter().enumerate() {
        let n = grid.iter().filter(|(g, _, _)| *g == k).count();
        let pts: Vec<ThresholdPoint> = it.by_ref().take(n).collect();
        let supported = pts
            .iter()
            .find(|p| {
                p.false_confidence_share <= MAX_FALSE_CONFIDENCE_SHARE && p.made_worse_rate <= MAX_MADE_WORSE_RATE
            })
            .map(|p| p.threshold);
        out.push(ThresholdCurve {
            incident_type: label.clone(),
            current: *current,
            points: pts,
            supported,
            replications,
        });
    }
    out
}

/// No decision on `label` in `rep` compares differently against `from` and `to`: the run at
/// `to` is the run at `from`.
fn unaffected(rep: &sim::Replication, label: &str, from: f64, to: f64) -> bool {
    rep.incidents.iter().flat_map(|i| i.classifications.iter()).all(|(l, c)| l != label || (*c >= from) == (*c >= to))
}

/// One grid point's figures from its records.
pub fn point(records: &[sim::IncidentRecord], label: &str, threshold: f64, seed: u64) -> ThresholdPoint {
    let refs: Vec<&sim::IncidentRecord> = records.iter().collect();
    let m = metrics::compute(&refs, seed);
    let on_label: Vec<&sim::ActionRecord> =
        records.iter().flat_map(|i| i.actions.iter()).filter(|a| a.classified_as == label).collect();
    let wrong = on_label.iter().filter(|a| !a.correct).count();
    ThresholdPoint {
        threshold,
        incidents: m.incidents,
        automated_recovery_rate: m.automated_recovery_rate.value,
        made_worse_rate: m.made_worse.value,
        made_worse: m.made_worse.numerator,
        mttr_reduction: m.effect.total.value,
        mttr_reduction_actions: m.effect.actions.value,
        actions: on_label.len(),
        false_confidence_actions: wrong,
        false_confidence_share: r4(if on_label.is_empty() { 0.0 } else { wrong as f64 / on_label.len() as f64 }),
    }
}
