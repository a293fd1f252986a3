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
    /// The limit in words (`≤ 0.020`).
    pub required: String,
    /// The limit as a number.
    pub limit: f64,
    /// The value read from the report (`null` when the report has none, e.g. no action).
    pub observed: Option<f64>,
    /// How the observed value reads, with its counts where it has them.
    pub observed_text: String,
    pub passed: bool,
    /// Where in report.json the value was read: `metrics.made_worse.value`.
    pub source: String,
    /// What the same pages without any action score on this criterion (the recommend arm),
    /// where that is defined: the floor a policy cannot go below by acting less.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor: Option<f64>,
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
        if phase == Phase::AutoExecute && (c.min_incidents.is_none() || c.max_made_worse_rate.is_none()) {
            v.push(
                Problem::error(
                    base.clone(),
                    Code::MissingField,
                    format!("`{t}` asks for auto-execute with no evidence required"),
                )
                .with_hint("an auto-execute type needs at least `min_incidents:` and `max_made_worse_rate:`"),
            );
        }
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

/// One metrics object of report.json (`metrics`, or `per_label.<type>`), read by path.
struct Cells<'a> {
    m: &'a serde_json::Value,
    /// The object's path in report.json, dotted (`per_label.memory-leak`).
    base: String,
}

impl Cells<'_> {
    fn get(&self, path: &str) -> Option<f64> {
        self.m.pointer(&format!("/{}", path.replace('.', "/"))).and_then(serde_json::Value::as_f64)
    }

    fn source(&self, path: &str) -> String {
        format!("{}.{path}", self.base)
    }

    /// The cells a gate needs are there and make sense, or the first that does not: a rate in
    /// [0, 1] that equals its numerator over its denominator, counts that are whole and not
    /// negative, finite intervals (else the report is not one `simulate` wrote, or was edited).
    fn check_cells(&self) -> Result<(), String> {
        let need = |p: &str| {
            self.get(p).ok_or_else(|| match self.m.pointer(&format!("/{}", p.replace('.', "/"))) {
                None => format!("`{}` is missing", self.source(p)),
                Some(v) => format!("`{}` is {v}, not a number", self.source(p)),
            })
        };
        for p in ["incidents", "loops", "actions", "false_confidence_actions"] {
            let x = need(p)?;
            if !(x >= 0.0 && x.fract() == 0.0 && x < 1e15) {
                return Err(format!("`{}` is {x}, not a count", self.source(p)));
            }
        }
        for r in ["automated_recovery_rate", "verification_pass_rate", "made_worse"] {
            let (v, n, d) =
                (need(&format!("{r}.value"))?, need(&format!("{r}.numerator"))?, need(&format!("{r}.denominator"))?);
            let counts = n >= 0.0 && d >= 0.0 && n.fract() == 0.0 && d.fract() == 0.0 && n <= d && d < 1e15;
            let expected = if d > 0.0 { crate::metrics::r4(n / d) } else { 0.0 };
            if !counts || (v - expected).abs() > 1e-9 {
                return Err(format!(
                    "`{}` is {v} but its counts are {n} of {d}: the report was edited or is damaged",
                    self.source(&format!("{r}.value"))
                ));
            }
        }
        for p in ["false_confidence_share", "effect.actions.value", "effect.actions.ci95.0", "effect.actions.ci95.1"] {
            let x = need(p)?;
            if !x.is_finite() || x > 1.0 || (p == "false_confidence_share" && x < 0.0) {
                return Err(format!("`{}` is {x}, outside what a report can hold", self.source(p)));
            }
        }
        // An interval's low end is not above its high end. (A percentile bootstrap interval
        // need not hold its point estimate, so that is not required.)
        let (lo, hi) = (need("effect.actions.ci95.0")?, need("effect.actions.ci95.1")?);
        if lo > hi {
            return Err(format!(
                "`{}` is [{lo}, {hi}], low above high: the report was edited or is damaged",
                self.source("effect.actions.ci95")
            ));
        }
        Ok(())
    }
}

/// Which side of its limit a criterion's value must be on.
#[derive(Clone, Copy)]
enum Bound {
    AtLeast,
    AtMost,
    Above,
}

/// One criterion of a gate as it reads a report: the cell, the limit, and how to say it.
struct Spec {
    criterion: &'static str,
    /// The cell read, relative to the metrics object.
    path: &'static str,
    bound: Bound,
    limit: f64,
    /// How the limit reads (`≥ 0.900`).
    required: String,
    /// `(numerator, denominator)` cells shown beside the value, with a word after them.
    counts: Option<(&'static str, &'static str, &'static str)>,
    /// A cell with what the same pages without actions score on this criterion.
    floor: Floor,
}

enum Floor {
    None,
    Zero,
    Cell(&'static str),
}

fn rate(criterion: &'static str, path: &'static str, bound: Bound, limit: f64) -> Spec {
    let sign = if matches!(bound, Bound::AtLeast) { "≥" } else { "≤" };
    Spec { criterion, path, bound, limit, required: format!("{sign} {limit:.3}"), counts: None, floor: Floor::None }
}

fn count(criterion: &'static str, path: &'static str, bound: Bound, n: usize) -> Spec {
    let sign = if matches!(bound, Bound::AtLeast) { "≥" } else { "≤" };
    Spec { criterion, path, bound, limit: n as f64, required: format!("{sign} {n}"), counts: None, floor: Floor::None }
}

fn check(out: &mut Vec<Outcome>, scope: &str, c: &Criteria, cells: &Cells<'_>) {
    let num = |p: &str| cells.get(p).unwrap_or(0.0);
    let mut specs = Vec::new();
    if let Some(n) = c.min_incidents {
        specs.push(count("min_incidents", "incidents", Bound::AtLeast, n));
    }
    if let Some(x) = c.min_automated_recovery_rate {
        specs.push(Spec {
            counts: Some(("automated_recovery_rate.numerator", "automated_recovery_rate.denominator", "")),
            floor: Floor::Zero,
            ..rate("min_automated_recovery_rate", "automated_recovery_rate.value", Bound::AtLeast, x)
        });
    }
    if let Some(x) = c.min_verification_pass_rate {
        specs.push(Spec {
            counts: Some(("verification_pass_rate.numerator", "verification_pass_rate.denominator", "")),
            ..rate("min_verification_pass_rate", "verification_pass_rate.value", Bound::AtLeast, x)
        });
    }
    if let Some(x) = c.max_made_worse_rate {
        specs.push(Spec {
            counts: Some(("made_worse.numerator", "made_worse.denominator", " made worse by automation")),
            floor: Floor::Cell("made_worse_by_suggestions.value"),
            ..rate("max_made_worse_rate", "made_worse.value", Bound::AtMost, x)
        });
    }
    if let Some(n) = c.max_loops {
        specs.push(Spec { floor: Floor::Zero, ..count("max_loops", "loops", Bound::AtMost, n) });
    }
    if let Some(x) = c.max_false_confidence_share {
        specs.push(Spec {
            counts: Some(("false_confidence_actions", "actions", " actions")),
            ..rate("max_false_confidence_share", "false_confidence_share", Bound::AtMost, x)
        });
    }
    if c.require_mttr_reduction_ci_above_zero {
        specs.push(Spec {
            required: "95% CI low > 0".into(),
            ..rate("mttr_reduction_ci_above_zero", "effect.actions.ci95.0", Bound::Above, 0.0)
        });
    }
    for spec in specs {
        let o = num(spec.path);
        // A verification rate over no action is no evidence, not a pass.
        let no_action = spec.path == "verification_pass_rate.value" && num("verification_pass_rate.denominator") == 0.0;
        let (observed, observed_text, passed) = if no_action {
            (None, "no action executed".to_string(), false)
        } else {
            let text = match (spec.counts, spec.path) {
                (Some((n, d, word)), _) => format!("{o:.3} ({} of {}{word})", num(n), num(d)),
                (None, "effect.actions.ci95.0") => format!(
                    "{o:.4} (reduction {:.4}, 95% CI {o:.4} to {:.4})",
                    num("effect.actions.value"),
                    num("effect.actions.ci95.1")
                ),
                (None, _) => format!("{o}"),
            };
            let passed = match spec.bound {
                Bound::AtLeast => o >= spec.limit,
                Bound::AtMost => o <= spec.limit,
                Bound::Above => o > spec.limit,
            };
            (Some(o), text, passed)
        };
        out.push(Outcome {
            scope: scope.to_string(),
            criterion: spec.criterion.into(),
            required: spec.required,
            limit: spec.limit,
            observed,
            observed_text,
            passed,
            source: cells.source(spec.path),
            floor: match spec.floor {
                Floor::None => None,
                Floor::Zero => Some(0.0),
                Floor::Cell(p) => cells.get(p),
            },
        });
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
    let overall = Cells { m: &v["metrics"], base: "metrics".into() };
    overall
        .check_cells()
        .map_err(|e| bad(format!("{e}; run `understudy simulate` again for a report a gate can read")))?;
    let provenance_ok = v.pointer("/provenance/seed").is_some_and(serde_json::Value::is_u64)
        && v.pointer("/provenance/replications").is_some_and(serde_json::Value::is_u64)
        && v.pointer("/provenance/scenarios").is_some_and(serde_json::Value::is_array);
    if !provenance_ok {
        return Err(bad("`provenance` lacks its seed, replications or scenarios: the promotion could not name the evidence it rests on".into()));
    }
    let mut outcomes = Vec::new();
    check(&mut outcomes, "all", &gate.overall, &overall);
    let mut promoted = BTreeMap::new();
    let policy_phases = v.pointer("/provenance/policy_phases").and_then(serde_json::Value::as_object);
    for (t, (asked, c)) in &gate.per_type {
        // A gate grants at most what the policy asks: a type the policy runs recommend-only
        // (or has no runbook for) has no automated actions to judge and is promoted no
        // further than recommend-only. Reports from before `policy_phases` keep the gate's.
        let policy_asks_auto =
            policy_phases.map(|p| p.get(t).and_then(serde_json::Value::as_str) == Some("auto-execute"));
        let (phase, note) = match (asked, policy_asks_auto) {
            (Phase::AutoExecute, Some(false)) => (&Phase::RecommendOnly, ", as the policy asks"),
            _ => (asked, ""),
        };
        // The "what the policy saw and did" view: incidents the policy acted on as this type.
        let cells = v
            .pointer(&format!("/per_label/{}", t.replace('~', "~0").replace('/', "~1")))
            .map(|m| Cells { m, base: format!("per_label.{t}") });
        if let Some(c) = &cells {
            c.check_cells()
                .map_err(|e| bad(format!("{e}; run `understudy simulate` again for a report a gate can read")))?;
        }
        let scope = format!("{t} ({}{note})", phase.as_str());
        match (cells, phase) {
            (_, Phase::Shadow) => {}
            (None, _) => outcomes.push(Outcome {
                scope: scope.clone(),
                criterion: "incidents".into(),
                required: "incidents of this type in the report".into(),
                limit: 1.0,
                observed: None,
                observed_text: "none".into(),
                passed: false,
                source: format!("per_label.{t}"),
                floor: None,
            }),
            (Some(cells), Phase::AutoExecute) => check(&mut outcomes, &scope, c, &cells),
            (Some(cells), Phase::RecommendOnly) => {
                // Recommend-only acts on nothing: only the amount of evidence is checked.
                let only = Criteria { min_incidents: c.min_incidents, ..Criteria::default() };
                check(&mut outcomes, &scope, &only, &cells);
            }
        }
        promoted.insert(t.clone(), phase.as_str().to_string());
    }
    let passed = outcomes.iter().all(|o| o.passed);
    let promotion = passed.then(|| Promotion::new(fp, sha(report_bytes), gate, promoted, now, &v));
    Ok(Verdict { outcomes, promotion })
}
