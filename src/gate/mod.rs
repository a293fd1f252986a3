//! The promotion gate: a report's metrics against a gate file's criteria → pass (and a
//! promotion record naming the policy, the report and the phase each incident type earned)
//! or fail (every failed criterion listed).
//!
//! Owns the gate format, the criteria and the [`Promotion`] record that `live` refuses to
//! start without. Reads the report as JSON (the file `simulate` wrote); never runs a
//! simulation and never touches a cluster.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Time;
use crate::diag::{Code, Diagnostic, Report};
use crate::metrics::phase::Phase;
use crate::yaml::{self, Problem, Seg, at};

pub mod promotion;
pub use promotion::{Promotion, PromotionError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    pub min_incidents: Option<usize>,
    pub min_automated_recovery_rate: Option<f64>,
    pub min_verification_pass_rate: Option<f64>,
    pub max_made_worse_rate: Option<f64>,
    pub max_loops: Option<usize>,
    pub max_false_confidence_share: Option<f64>,
    pub require_mttr_reduction_ci_above_zero: Option<bool>,
    pub per_type: Option<BTreeMap<String, RawTypeGate>>,
    /// How long a promotion record stays valid (default 30d).
    pub valid_for: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTypeGate {
    pub phase: String,
    pub min_incidents: Option<usize>,
    pub min_automated_recovery_rate: Option<f64>,
    pub min_verification_pass_rate: Option<f64>,
    pub max_made_worse_rate: Option<f64>,
    pub max_loops: Option<usize>,
    pub max_false_confidence_share: Option<f64>,
    pub require_mttr_reduction_ci_above_zero: Option<bool>,
}

/// Criteria for a group of incidents (all, or one type).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Criteria {
    pub min_incidents: Option<usize>,
    pub min_automated_recovery_rate: Option<f64>,
    pub min_verification_pass_rate: Option<f64>,
    pub max_made_worse_rate: Option<f64>,
    pub max_loops: Option<usize>,
    pub max_false_confidence_share: Option<f64>,
    pub require_mttr_reduction_ci_above_zero: bool,
}

/// A validated gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    pub overall: Criteria,
    /// Incident type → the phase asked for and its criteria (auto-execute only).
    pub per_type: BTreeMap<String, (Phase, Criteria)>,
    /// How long a promotion record it gives stays valid.
    pub valid_for: std::time::Duration,
    pub digest: String,
}

/// One criterion checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub scope: String,
    pub criterion: String,
    pub required: String,
    pub observed: String,
    pub passed: bool,
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn frac(v: &mut Vec<Problem>, path: Vec<Seg>, x: Option<f64>) {
    if let Some(x) = x
        && !(0.0..=1.0).contains(&x)
    {
        v.push(
            Problem::error(path, Code::BadValue, format!("{x} is outside [0, 1]"))
                .with_hint("rates are fractions: 0.9 means 90%"),
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn criteria(
    v: &mut Vec<Problem>,
    base: &[Seg],
    min_incidents: Option<usize>,
    min_rec: Option<f64>,
    min_ver: Option<f64>,
    max_worse: Option<f64>,
    max_loops: Option<usize>,
    max_fc: Option<f64>,
    ci: Option<bool>,
) -> Criteria {
    frac(v, at(base, "min_automated_recovery_rate"), min_rec);
    frac(v, at(base, "min_verification_pass_rate"), min_ver);
    frac(v, at(base, "max_made_worse_rate"), max_worse);
    frac(v, at(base, "max_false_confidence_share"), max_fc);
    Criteria {
        min_incidents,
        min_automated_recovery_rate: min_rec,
        min_verification_pass_rate: min_ver,
        max_made_worse_rate: max_worse,
        max_loops,
        max_false_confidence_share: max_fc,
        require_mttr_reduction_ci_above_zero: ci.unwrap_or(false),
    }
}

fn validate(raw: &RawGate) -> (Option<Gate>, Vec<Problem>) {
    let mut v = Vec::new();
    let overall = criteria(
        &mut v,
        &[],
        raw.min_incidents,
        raw.min_automated_recovery_rate,
        raw.min_verification_pass_rate,
        raw.max_made_worse_rate,
        raw.max_loops,
        raw.max_false_confidence_share,
        raw.require_mttr_reduction_ci_above_zero,
    );
    let mut per_type = BTreeMap::new();
    for (t, g) in raw.per_type.iter().flatten() {
        let base = vec![Seg::key("per_type"), Seg::key(t)];
        let Some(phase) = Phase::parse(&g.phase) else {
            v.push(
                Problem::error(at(&base, "phase"), Code::BadValue, format!("unknown phase `{}`", g.phase))
                    .with_hint("phases: shadow, recommend-only, auto-execute"),
            );
            continue;
        };
        let c = criteria(
            &mut v,
            &base,
            g.min_incidents,
            g.min_automated_recovery_rate,
            g.min_verification_pass_rate,
            g.max_made_worse_rate,
            g.max_loops,
            g.max_false_confidence_share,
            g.require_mttr_reduction_ci_above_zero,
        );
        per_type.insert(t.clone(), (phase, c));
    }
    let valid_for = promotion::valid_for(&mut v, raw.valid_for.as_deref());
    let ok = v.iter().all(|p| p.warning);
    (ok.then_some(Gate { overall, per_type, valid_for, digest: String::new() }), v)
}

impl Gate {
    pub fn load(path: &Path) -> Result<Gate, Report> {
        crate::diag::load_with(path, Gate::from_yaml)
    }

    pub fn from_yaml(path: &Path, text: &str) -> Result<Gate, Vec<Diagnostic>> {
        let digest = sha(text.as_bytes());
        yaml::load_validated(path, text, "a gate with criteria such as `max_made_worse_rate:`", validate)
            .map(|(g, _)| Gate { digest, ..g })
    }
}

/// The numbers a gate reads from one metrics object of report.json.
struct Observed {
    incidents: usize,
    recovery: f64,
    verification: Option<f64>,
    made_worse: f64,
    loops: usize,
    mttr_ci_low: f64,
}

fn observed(m: &serde_json::Value) -> Option<Observed> {
    let f = |p: &str| m.pointer(p).and_then(serde_json::Value::as_f64);
    let ver_den = f("/verification_pass_rate/denominator")?;
    Some(Observed {
        incidents: f("/incidents")? as usize,
        recovery: f("/automated_recovery_rate/value")?,
        verification: (ver_den > 0.0).then(|| f("/verification_pass_rate/value")).flatten(),
        made_worse: f("/made_worse/value")?,
        loops: f("/loops")? as usize,
        mttr_ci_low: f("/mttr_reduction/ci95/0")?,
    })
}

fn check(out: &mut Vec<Outcome>, scope: &str, c: &Criteria, o: &Observed, false_share: Option<f64>) {
    let mut push = |criterion: &str, required: String, observed: String, passed: bool| {
        out.push(Outcome { scope: scope.to_string(), criterion: criterion.into(), required, observed, passed });
    };
    if let Some(n) = c.min_incidents {
        push("min_incidents", format!("≥ {n}"), o.incidents.to_string(), o.incidents >= n);
    }
    if let Some(x) = c.min_automated_recovery_rate {
        push("min_automated_recovery_rate", format!("≥ {x:.3}"), format!("{:.3}", o.recovery), o.recovery >= x);
    }
    if let Some(x) = c.min_verification_pass_rate {
        let (obs, ok) = match o.verification {
            Some(v) => (format!("{v:.3}"), v >= x),
            None => ("no action executed".to_string(), false),
        };
        push("min_verification_pass_rate", format!("≥ {x:.3}"), obs, ok);
    }
    if let Some(x) = c.max_made_worse_rate {
        push("max_made_worse_rate", format!("≤ {x:.3}"), format!("{:.3}", o.made_worse), o.made_worse <= x);
    }
    if let Some(n) = c.max_loops {
        push("max_loops", format!("≤ {n}"), o.loops.to_string(), o.loops <= n);
    }
    if let Some(x) = c.max_false_confidence_share {
        let share = false_share.unwrap_or(0.0);
        push("max_false_confidence_share", format!("≤ {x:.3}"), format!("{share:.3}"), share <= x);
    }
    if c.require_mttr_reduction_ci_above_zero {
        push(
            "mttr_reduction_ci_above_zero",
            "95% CI lower bound > 0".into(),
            format!("{:.4}", o.mttr_ci_low),
            o.mttr_ci_low > 0.0,
        );
    }
}

/// The result of a gate on a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub outcomes: Vec<Outcome>,
    pub promotion: Option<Promotion>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.passed)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| !o.passed)
    }
}

/// Apply `gate` to the bytes of a report.json. Bad JSON or a report missing the metrics is
/// a diagnostic on `report_path`.
pub fn apply(gate: &Gate, report_path: &Path, report_bytes: &[u8], now: Time) -> Result<Verdict, Diagnostic> {
    let bad = |msg: String| {
        Diagnostic::error(Code::UnknownFormat, report_path, None, msg)
            .with_hint("pass the report.json (or its folder) that `understudy simulate` wrote")
    };
    let v: serde_json::Value =
        serde_json::from_slice(report_bytes).map_err(|e| bad(format!("not a JSON report: {e}")))?;
    let fp = v
        .pointer("/provenance/policy_fingerprint")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| bad("no provenance.policy_fingerprint".into()))?
        .to_string();
    let overall = observed(&v["metrics"]).ok_or_else(|| bad("no metrics in the report".into()))?;
    let label_share =
        |t: &str| v.pointer(&format!("/per_label/{t}/false_confidence_share")).and_then(serde_json::Value::as_f64);
    let all_share = {
        let labels = v["per_label"].as_object();
        let (a, w) = labels.into_iter().flatten().fold((0.0, 0.0), |(a, w), (_, s)| {
            (a + s["actions"].as_f64().unwrap_or(0.0), w + s["wrong"].as_f64().unwrap_or(0.0))
        });
        (a > 0.0).then(|| w / a)
    };
    let mut outcomes = Vec::new();
    check(&mut outcomes, "all", &gate.overall, &overall, all_share);
    let mut promoted = BTreeMap::new();
    for (t, (phase, c)) in &gate.per_type {
        let m = v.pointer(&format!("/per_type/{t}"));
        let scope = format!("{t} ({})", phase.as_str());
        match (m.and_then(observed), phase) {
            (_, Phase::Shadow) => {}
            (None, _) => outcomes.push(Outcome {
                scope: scope.clone(),
                criterion: "incidents".into(),
                required: "incidents of this type in the report".into(),
                observed: "none".into(),
                passed: false,
            }),
            (Some(o), Phase::AutoExecute) => check(&mut outcomes, &scope, c, &o, label_share(t)),
            (Some(o), Phase::RecommendOnly) => {
                // Recommend-only acts on nothing: only the amount of evidence is checked.
                let only = Criteria { min_incidents: c.min_incidents, ..Criteria::default() };
                check(&mut outcomes, &scope, &only, &o, None);
            }
        }
        promoted.insert(t.clone(), phase.as_str().to_string());
    }
    let passed = outcomes.iter().all(|o| o.passed);
    let promotion = passed.then(|| Promotion::new(fp, sha(report_bytes), gate, promoted, now, &v));
    Ok(Verdict { outcomes, promotion })
}
