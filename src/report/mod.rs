//! Reports: the files a run leaves behind and the table it prints.
//!
//! Owns `report.json` (every metric by DESIGN.md's names, overall, per type and per scenario,
//! with definitions and provenance), `incidents.csv` (one row per incident), `decisions.jsonl`
//! (the audit trail) and `report.md`. It formats numbers the metrics module computed; it
//! computes none itself. Same inputs give the same bytes: no timestamps, no hash-map order.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::audit::AuditRecord;
use crate::escalate::Escalation;
use crate::metrics::phase::Recommendation;
use crate::metrics::{DEFINITIONS, Evaluation, Metrics};
use crate::sim::IncidentRecord;
use crate::sweep::ThresholdCurve;
use figures::{change_ci, mins, pct};

pub mod charts;
pub mod figures;
pub mod fit;
pub mod html;
pub mod replay;

/// Everything a report is made of.
pub struct Bundle<'a> {
    pub eval: &'a Evaluation,
    pub prov: &'a Provenance,
    pub incidents: &'a [IncidentRecord],
    pub curves: &'a [ThresholdCurve],
    pub phases: &'a std::collections::BTreeMap<String, Recommendation>,
    /// `simulate --compare CURRENT`: what changes from the current policy to this one.
    pub compare: Option<&'a crate::metrics::Comparison>,
}

/// Where a run came from: enough to reproduce it byte for byte.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub understudy_version: &'static str,
    pub policy: String,
    pub policy_fingerprint: String,
    pub seed: u64,
    pub replications: u32,
    pub scenarios: Vec<ScenarioSource>,
    /// Incident type → `auto-execute` or `recommend-only`: what the policy as written asks
    /// for each type it has a runbook for. A gate grants no more than this.
    pub policy_phases: std::collections::BTreeMap<String, &'static str>,
    /// Stated assumptions of the world and human models.
    pub assumptions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioSource {
    pub name: String,
    pub file: String,
    pub digest: String,
    pub description: String,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    provenance: &'a Provenance,
    metrics: &'a Metrics,
    per_cause: &'a std::collections::BTreeMap<&'static str, Metrics>,
    per_label: &'a std::collections::BTreeMap<String, Metrics>,
    per_scenario: &'a std::collections::BTreeMap<String, crate::metrics::ScenarioMetrics>,
    confusion: &'a std::collections::BTreeMap<&'static str, std::collections::BTreeMap<String, usize>>,
    calibration_by_label: &'a std::collections::BTreeMap<String, crate::metrics::Calibration>,
    thresholds: &'a [ThresholdCurve],
    phases: &'a std::collections::BTreeMap<String, Recommendation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compare: Option<&'a crate::metrics::Comparison>,
    definitions: std::collections::BTreeMap<&'static str, &'static str>,
}

/// Errors writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}")]
    Csv { path: PathBuf, source: csv::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io { path: path.to_path_buf(), source }
}

/// The JSON report, pretty-printed, ending in a newline.
pub fn report_json(b: &Bundle<'_>) -> String {
    let eval = b.eval;
    let r = ReportJson {
        provenance: b.prov,
        metrics: &eval.overall,
        per_cause: &eval.per_cause,
        per_label: &eval.per_label,
        per_scenario: &eval.per_scenario,
        confusion: &eval.confusion,
        calibration_by_label: &eval.calibration_by_label,
        thresholds: b.curves,
        phases: b.phases,
        compare: b.compare,
        definitions: DEFINITIONS.into_iter().collect(),
    };
    let mut s = serde_json::to_string_pretty(&r).expect("report serializes");
    s.push('\n');
    s
}

/// Write every report file into `dir` (created if needed). Returns the paths written.
pub fn write_all<'a>(
    dir: &Path,
    b: &Bundle<'_>,
    audit: impl Iterator<Item = &'a AuditRecord>,
    escalations: impl Iterator<Item = &'a Escalation>,
) -> Result<Vec<PathBuf>, ReportError> {
    let incidents = b.incidents;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = dir.join("report.json");
    std::fs::write(&json, report_json(b)).map_err(io(&json))?;

    let csv_path = dir.join("incidents.csv");
    write_csv(&csv_path, incidents)?;

    let jsonl = dir.join("decisions.jsonl");
    write_jsonl(&jsonl, audit)?;
    let escalations_path = dir.join("escalations.jsonl");
    write_jsonl(&escalations_path, escalations)?;

    let md = dir.join("report.md");
    std::fs::write(&md, markdown(b)).map_err(io(&md))?;
    let page = dir.join("index.html");
    std::fs::write(&page, html::page(b.eval, b.prov, incidents, b.curves, b.phases)).map_err(io(&page))?;
    Ok(vec![page, json, csv_path, jsonl, escalations_path, md])
}

/// One JSON object a line, in the order given.
fn write_jsonl<T: Serialize>(path: &Path, items: impl Iterator<Item = T>) -> Result<(), ReportError> {
    let f = std::fs::File::create(path).map_err(io(path))?;
    let mut w = std::io::BufWriter::new(f);
    for item in items {
        serde_json::to_writer(&mut w, &item)
            .map_err(|e| ReportError::Io { path: path.to_path_buf(), source: e.into() })?;
        w.write_all(b"\n").map_err(io(path))?;
    }
    w.flush().map_err(io(path))
}

fn write_csv(path: &Path, incidents: &[IncidentRecord]) -> Result<(), ReportError> {
    let err = |source| ReportError::Csv { path: path.to_path_buf(), source };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record([
        "scenario",
        "replication",
        "id",
        "service",
        "namespace",
        "truth",
        "onset",
        "classified_as",
        "confidence",
        "decisions",
        "actions",
        "verification",
        "outcome_policy",
        "outcome_recommend",
        "outcome_baseline",
        "ttr_policy_s",
        "ttr_recommend_s",
        "ttr_baseline_s",
        "impact_policy",
        "impact_recommend",
        "impact_baseline",
        "made_worse",
        "touched_by",
        "loop",
        "false_confidence_actions",
        "escalations",
        "pages",
        "relapses",
    ])
    .map_err(err)?;
    for i in incidents {
        let (label, conf) =
            i.classifications.first().map_or((String::new(), String::new()), |(l, c)| (l.clone(), format!("{c:.2}")));
        let actions: Vec<&str> = i.actions.iter().map(|a| a.kind).collect();
        let verification: Vec<&str> = i
            .actions
            .iter()
            .map(|a| match (a.verified, a.rolled_back) {
                (Some(true), _) => "pass",
                (Some(false), true) => "fail+undone",
                (Some(false), false) => "fail",
                (None, _) => "pending",
            })
            .collect();
        w.write_record([
            i.scenario.clone(),
            i.replication.to_string(),
            i.id.clone(),
            i.service.clone(),
            i.namespace.clone(),
            i.truth.label().to_string(),
            i.onset.to_rfc3339(),
            label,
            conf,
            i.decisions.join(";"),
            actions.join(";"),
            verification.join(";"),
            i.arms.policy.outcome.as_str().to_string(),
            i.arms.recommend.outcome.as_str().to_string(),
            i.arms.baseline.outcome.as_str().to_string(),
            format!("{:.1}", i.arms.policy.ttr_seconds),
            format!("{:.1}", i.arms.recommend.ttr_seconds),
            format!("{:.1}", i.arms.baseline.ttr_seconds),
            format!("{:.1}", i.arms.policy.impact),
            format!("{:.1}", i.arms.recommend.impact),
            format!("{:.1}", i.arms.baseline.impact),
            i.made_worse().to_string(),
            touches(i),
            i.is_loop().to_string(),
            i.false_confidence_actions().to_string(),
            i.escalations.to_string(),
            i.pages.to_string(),
            i.relapses.to_string(),
        ])
        .map_err(err)?;
    }
    w.flush().map_err(|e| ReportError::Io { path: path.to_path_buf(), source: e })
}

/// `restart by r0/i3 at 2026-11-23T10:00:00Z; …`: what automation did on the service.
fn touches(i: &IncidentRecord) -> String {
    i.touched_by
        .iter()
        .map(|t| {
            let kind = match t.kind {
                crate::sim::TouchKind::Action => "action",
                crate::sim::TouchKind::Suggestion => "suggestion",
                crate::sim::TouchKind::Page => "page",
            };
            format!("{kind} `{}` for {} at {}", t.what, t.by_incident, t.at.to_rfc3339())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The "what happened" row (per true cause, per scenario).
fn cause_row(name: &str, m: &Metrics) -> String {
    format!(
        "| {name} | {} | {} → {} | {} | {} | {} | {} | {} |",
        m.incidents,
        mins(m.arms.baseline.mttr_seconds.mean),
        mins(m.arms.policy.mttr_seconds.mean),
        change_ci(&m.effect.total),
        change_ci(&m.effect.actions),
        pct(m.automated_recovery_rate.value),
        m.made_worse.numerator,
        m.loops,
    )
}

const CAUSE_HEADER: &str = "| | incidents | MTTR today → with policy | MTTR change, all automation [95% CI] | MTTR change from actions [95% CI] | recovered by automation | made worse by automation | loops |\n|---|---|---|---|---|---|---|---|";

/// The "what the policy saw and did" row (per label).
fn label_row(name: &str, m: &Metrics, phase: Option<&Recommendation>) -> String {
    let v = &m.verification_pass_rate;
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        m.incidents,
        m.actions,
        figures::count_of(&m.automated_recovery_rate),
        figures::verification(v),
        figures::wrong_label(m.false_confidence_actions, m.actions),
        figures::count_of(&m.made_worse),
        m.loops,
        change_ci(&m.effect.actions),
        phase.map_or_else(|| "no policy".to_string(), |r| format!("{} ({})", r.phase.as_str(), r.reasons.join("; "))),
    )
}

const LABEL_HEADER: &str = "| label | incidents | actions | recovered by automation | verification passed | on a wrong label | made worse by automation | loops | MTTR change from actions [95% CI] | phase (why) |\n|---|---|---|---|---|---|---|---|---|---|";

/// The Markdown report: the same content as index.html, in text.
pub fn markdown(b: &Bundle<'_>) -> String {
    let (eval, prov) = (b.eval, b.prov);
    let mut s = String::new();
    let m = &eval.overall;
    let _ = writeln!(s, "# understudy simulation report\n");
    let (verdict, _) = figures::verdict(b.phases, m);
    let _ = writeln!(s, "**Verdict.** {verdict}\n");
    let _ = writeln!(
        s,
        "Policy `{}` ({}), seed {}, {} replication(s) of {} scenario(s), {} incidents, each run in three arms on the same faults and human draws: baseline (the team today), recommend (the same pages with the suggested command), policy (as written). Same inputs and seed give the same bytes.\n",
        prov.policy,
        prov.policy_fingerprint,
        prov.seed,
        prov.replications,
        prov.scenarios.len(),
        m.incidents
    );
    let _ = writeln!(s, "## What automation adds\n");
    let _ = writeln!(s, "| comparison | mean TTR | MTTR change [95% CI] |\n|---|---|---|");
    let a = &m.arms;
    for r in figures::effect_rows(m) {
        let _ = writeln!(s, "| {} | {} → {} | {} |", r.name, r.from, r.to, change_ci(r.change));
    }
    let _ = writeln!(
        s,
        "\nCosts: {} incident(s) made worse by automation ({}), {} by suggestions; {} loop(s); {} of {} action(s) on a wrong classification; {} action(s) passed verification of {} with a verdict. Pages: {} with the policy, {} today. Unattributed differences between arms: {} (0 unless the pairing is broken).\n",
        m.made_worse.numerator,
        pct(m.made_worse.value),
        m.made_worse_by_suggestions.numerator,
        m.loops,
        m.false_confidence_actions,
        m.actions,
        m.verification_pass_rate.numerator,
        m.verification_pass_rate.denominator,
        a.policy.pages,
        a.baseline.pages,
        m.unattributed_difference
    );
    let _ = writeln!(s, "## What the policy saw and did (by label)\n");
    let _ = writeln!(s, "{LABEL_HEADER}");
    for (t, lm) in &eval.per_label {
        let _ = writeln!(s, "{}", label_row(t, lm, b.phases.get(t)));
    }
    if let Some(c) = b.compare {
        let _ = writeln!(s, "\n## What changes from `{}`\n", c.current);
        let _ = writeln!(s, "{}", compare_table(c));
    }
    let _ = writeln!(s, "\n## What happened (by true cause)\n");
    let _ = writeln!(s, "{CAUSE_HEADER}");
    let _ = writeln!(s, "{}", cause_row("all", m));
    for (t, tm) in &eval.per_cause {
        let _ = writeln!(s, "{}", cause_row(t, tm));
    }
    let _ = writeln!(s, "\n## Per scenario\n");
    let _ = writeln!(s, "{CAUSE_HEADER}");
    for (name, sm) in &eval.per_scenario {
        let _ = writeln!(s, "{}", cause_row(name, &sm.metrics));
    }
    let _ = writeln!(s, "\n## Outcomes\n");
    let _ = writeln!(
        s,
        "| arm | automation | human | self-resolved | prevented | unresolved | pages | median TTR | p90 TTR |\n|---|---|---|---|---|---|---|---|---|"
    );
    let arms = [
        ("baseline", Some(&a.baseline)),
        ("recommend", Some(&a.recommend)),
        ("policy", Some(&a.policy)),
        ("unpaged", a.unpaged.as_ref()),
    ];
    for (arm, am) in arms {
        let Some(am) = am else { continue };
        let g = |k: &str| am.outcomes.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            s,
            "| {arm} | {} | {} | {} | {} | {} | {} | {} | {} |",
            g("automation"),
            g("human"),
            g("self-resolved"),
            g("prevented"),
            g("unresolved"),
            am.pages,
            mins(am.mttr_seconds.median),
            mins(am.mttr_seconds.p90)
        );
    }
    let _ = writeln!(
        s,
        "\nActions executed: {}. Escalations: {}; pages: {}; repeats: {} (escalations about an incident already escalated; at most {} on one incident); sent to a person after the channels' repeat rules: {}.\n",
        m.actions, m.escalations, m.pages, m.repeat_escalations, m.max_escalations_per_incident, m.escalations_sent,
    );
    let _ = writeln!(s, "## Thresholds\n");
    if b.curves.is_empty() {
        let _ = writeln!(s, "Not computed (`--sweep-replications 0`).");
    } else {
        let _ = writeln!(
            s,
            "| incident type | threshold | automated recovery | made worse by automation | actions on label | wrong label |\n|---|---|---|---|---|---|"
        );
    }
    for c in b.curves {
        for p in &c.points {
            let mark = if (p.threshold - c.current).abs() < 1e-9 { " (policy)" } else { "" };
            let sup = if c.supported.is_some_and(|x| (x - p.threshold).abs() < 1e-9) { " (supported)" } else { "" };
            let _ = writeln!(
                s,
                "| {} | {:.2}{mark}{sup} | {} | {} | {} | {} |",
                c.incident_type,
                p.threshold,
                pct(p.automated_recovery_rate),
                p.made_worse,
                p.actions,
                pct(p.false_confidence_share)
            );
        }
    }
    let _ = writeln!(s, "\n## Worst incidents\n");
    for i in html::worst(b.incidents, 6) {
        let acts: Vec<String> = i
            .actions
            .iter()
            .map(|a| {
                let v = match a.verified {
                    Some(true) => "passed",
                    Some(false) => "failed",
                    None => "pending",
                };
                format!(
                    "{} at +{:.1} min on `{}` {:.2} (verification {v})",
                    a.kind,
                    (a.at.nanos() - i.onset.nanos()) as f64 / 60e9,
                    a.classified_as,
                    a.confidence
                )
            })
            .collect();
        // Harm is impact (degraded seconds × severity), which a shorter recovery can still
        // carry more of; and an incident with no action of its own was touched by another's.
        let touched: Vec<String> = i
            .touched_by
            .iter()
            .filter(|t| t.kind == crate::sim::TouchKind::Action && t.by_incident != i.id)
            .map(|t| format!("{} for {} at {}", t.what, t.by_incident, t.at))
            .collect();
        let own = if acts.is_empty() { "no action of its own".to_string() } else { acts.join("; ") };
        let others = if touched.is_empty() { String::new() } else { format!("; touched by {}", touched.join("; ")) };
        let _ = writeln!(
            s,
            "- `{}` {} on {}: {} with the policy vs {} today, impact {:.0} vs {:.0} with the same pages and no action (severity × seconds); made worse by automation: {}; {own}{others}",
            i.id,
            i.truth,
            i.service,
            mins(i.arms.policy.ttr_seconds),
            mins(i.arms.baseline.ttr_seconds),
            i.arms.policy.impact,
            i.arms.recommend.impact,
            if i.made_worse() { "yes" } else { "no" },
        );
    }
    let _ = writeln!(s, "\n## Confusion matrix (rows: true cause, columns: label)\n");
    let mut labels: Vec<&String> = eval.confusion.values().flat_map(|r| r.keys()).collect();
    labels.sort();
    labels.dedup();
    let _ = writeln!(s, "| truth \\ label | {} |", labels.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(s, "|---|{}", "---|".repeat(labels.len()));
    for (t, row) in &eval.confusion {
        let cells: Vec<String> = labels.iter().map(|l| row.get(*l).copied().unwrap_or(0).to_string()).collect();
        let _ = writeln!(s, "| {t} | {} |", cells.join(" | "));
    }
    let c = &m.calibration;
    let _ = writeln!(s, "\n## Classifier calibration\n");
    let _ = writeln!(s, "{} classifications; ECE {:.4}; Brier score {:.4}.\n", c.classifications, c.ece, c.brier);
    let _ = writeln!(s, "| confidence | count | mean confidence | accuracy |\n|---|---|---|---|");
    for b in c.bins.iter().filter(|b| b.count > 0) {
        let _ = writeln!(s, "| {:.1}–{:.1} | {} | {:.3} | {:.3} |", b.lo, b.hi, b.count, b.mean_confidence, b.accuracy);
    }
    let _ = writeln!(s, "\n## Definitions\n");
    for (k, v) in DEFINITIONS {
        let _ = writeln!(s, "- **{k}**: {v}");
    }
    let _ = writeln!(s, "\n## Provenance\n");
    for sc in &prov.scenarios {
        let _ = writeln!(s, "- scenario `{}` from `{}` ({}): {}", sc.name, sc.file, sc.digest, sc.description.trim());
    }
    let _ = writeln!(s, "\nAssumptions of the model (each default is also commented in the source):\n");
    for a in &prov.assumptions {
        let _ = writeln!(s, "- {a}");
    }
    s
}

/// The plan of a policy change: per label, the current policy's figures → the proposed one's.
pub fn compare_table(c: &crate::metrics::Comparison) -> String {
    let mut s = format!(
        "MTTR with the proposed policy against `{}` ({}): {}.\n\n",
        c.current,
        c.current_fingerprint,
        change_ci(&c.mttr_change)
    );
    s.push_str("| label | actions | made worse by automation | on a wrong label | loops | recovered by automation | mean TTR |\n|---|---|---|---|---|---|---|\n");
    let row = |name: &str, ch: &crate::metrics::Change| {
        let (a, b) = (&ch.current, &ch.proposed);
        let arrow = |x: String, y: String| if x == y { x } else { format!("{x} → {y}") };
        format!(
            "| {name} | {} | {} | {} | {} | {} | {} |\n",
            arrow(a.actions.to_string(), b.actions.to_string()),
            arrow(a.made_worse.to_string(), b.made_worse.to_string()),
            arrow(a.false_confidence_actions.to_string(), b.false_confidence_actions.to_string()),
            arrow(a.loops.to_string(), b.loops.to_string()),
            arrow(pct(a.automated_recovery_rate), pct(b.automated_recovery_rate)),
            arrow(mins(a.mttr_mean_seconds), mins(b.mttr_mean_seconds)),
        )
    };
    for (l, ch) in &c.per_label {
        s.push_str(&row(l, ch));
    }
    s.push_str(&row("all", &c.overall));
    s.push_str(
        "\nLabels are the label each policy acted on (per_label); a label's incidents can differ between the two.\n",
    );
    s
}

/// What stdout prints after a run: the verdict first, then one row per scenario with its
/// columns spelled out.
pub fn summary_table(eval: &Evaluation, phases: &std::collections::BTreeMap<String, Recommendation>) -> String {
    let (verdict, _) = figures::verdict(phases, &eval.overall);
    let mut s = format!("Verdict: {verdict}\n\n");
    for (t, r) in phases {
        let _ = writeln!(s, "  {t:<20} {:<15} {}", r.phase.as_str(), r.reasons.join("; "));
    }
    s.push('\n');
    let mut rows: Vec<(String, &Metrics)> = eval.per_scenario.iter().map(|(k, v)| (k.clone(), &v.metrics)).collect();
    rows.push(("all".into(), &eval.overall));
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(8).max(8);
    let _ = writeln!(
        s,
        "{:<width$}  {:>9}  {:>17}  {:>17}  {:>34}  {:>34}  {:>10}  {:>5}  {:>11}",
        "scenario",
        "incidents",
        "MTTR today (min)",
        "with policy (min)",
        "MTTR change, automation [95% CI]",
        "MTTR change, actions [95% CI]",
        "made worse",
        "loops",
        "wrong label"
    );
    for (name, m) in rows {
        let _ = writeln!(
            s,
            "{:<width$}  {:>9}  {:>17.1}  {:>17.1}  {:>34}  {:>34}  {:>10}  {:>5}  {:>11}",
            name,
            m.incidents,
            m.arms.baseline.mttr_seconds.mean / 60.0,
            m.arms.policy.mttr_seconds.mean / 60.0,
            change_ci(&m.effect.total),
            change_ci(&m.effect.actions),
            m.made_worse.numerator,
            m.loops,
            format!("{}/{}", m.false_confidence_actions, m.actions),
        );
    }
    let _ = writeln!(
        s,
        "\nMTTR change: negative is shorter. Made worse: incidents an automated action touched that ended worse than the same pages without actions. Wrong label: actions on a wrong classification / actions. Unattributed differences between arms: {}.",
        eval.overall.unattributed_difference
    );
    s
}

/// Which variants are best, in one sentence (the page and stdout print the same): by the
/// gate, or "none passes" with how many variants each criterion failed; by MTTR reduction
/// alone when the grid names no gate.
pub fn sweep_best(s: &crate::grid::Summary) -> String {
    let list = || s.best.iter().map(|v| format!("#{v}")).collect::<Vec<_>>().join(", ");
    match (s.rows.iter().any(|r| r.gate_passed.is_some()), s.best.is_empty()) {
        (false, _) => format!("The grid names no gate; by MTTR reduction alone (not a promotion): {}.", list()),
        (true, false) => format!("Best by the gate (point estimates; confirm with `simulate`): {}.", list()),
        (true, true) => {
            let mut why: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
            for r in &s.rows {
                for f in &r.gate_failures {
                    *why.entry(f.as_str()).or_default() += 1;
                }
            }
            let why: Vec<String> = why.iter().map(|(k, n)| format!("{k} fails for {n}")).collect();
            format!("None passes the gate (of {} variants): {}.", s.rows.len(), why.join(", "))
        }
    }
}

/// The sweep's page: the Pareto chart and the variants table.
pub fn sweep_page(s: &crate::grid::Summary) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>understudy sweep</title>",
    );
    h.push_str("<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:right}</style></head><body>");
    let _ = write!(
        h,
        "<h1>Policy sweep</h1><p>{} job(s), {} replication(s) each, policy <code>{}</code>, grid {}.</p>",
        s.jobs, s.replications_per_job, s.policy, s.grid_digest
    );
    let _ = write!(h, "<div class=\"chart\" id=\"chart-pareto\">{}</div>", charts::pareto(&s.rows));
    let _ = write!(h, "<p>{}</p>", html::esc(&sweep_best(s)));
    h.push_str("<table><tr><th>variant</th><th>parameters</th><th>recovery</th><th>made worse</th><th>loops</th><th>wrong label</th><th>MTTR reduction</th><th>gate</th></tr>");
    for r in &s.rows {
        let params = r.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        let gate = match r.gate_passed {
            None => "-".to_string(),
            Some(true) => "pass".into(),
            Some(false) => format!("fail: {}", r.gate_failures.join(", ")),
        };
        let _ = write!(
            h,
            "<tr><td>#{}{}</td><td style=\"text-align:left\">{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{}</td></tr>",
            r.variant,
            if r.pareto { " *" } else { "" },
            params,
            r.automated_recovery_rate * 100.0,
            r.made_worse_rate * 100.0,
            r.loops,
            r.false_confidence_share * 100.0,
            r.mttr_reduction * 100.0,
            gate
        );
    }
    h.push_str("</table><p>* on the Pareto front: no other variant recovers more and harms less.</p></body></html>\n");
    h
}
