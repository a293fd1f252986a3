//! Replay reports: report.json and report.md for `understudy replay`, saying for every
//! figure whether it comes from the trace or from the model.

use std::fmt::Write as _;

use serde::Serialize;

use crate::replay::ReplayMetrics;

/// Where a replay came from.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayProvenance {
    pub understudy_version: &'static str,
    pub policy: String,
    pub policy_fingerprint: String,
    pub traces: Vec<String>,
    pub classifier: String,
    pub sorted_on_the_fly: bool,
}

#[derive(Serialize)]
struct Json<'a> {
    mode: &'static str,
    provenance: &'a ReplayProvenance,
    metrics: &'a ReplayMetrics,
}

pub fn json(m: &ReplayMetrics, p: &ReplayProvenance) -> String {
    let mut s = serde_json::to_string_pretty(&Json { mode: "replay", provenance: p, metrics: m }).expect("serializes");
    s.push('\n');
    s
}

fn mins(s: f64) -> String {
    format!("{:.1} min", s / 60.0)
}

pub fn markdown(m: &ReplayMetrics, p: &ReplayProvenance) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# understudy replay report\n");
    let _ = writeln!(
        s,
        "Policy `{}` ({}) replayed over {} record(s) of {} with the `{}` classifier. No world model: what happened next comes from the trace.\n",
        p.policy,
        p.policy_fingerprint,
        m.records,
        p.traces.join(", "),
        p.classifier
    );
    let _ = writeln!(s, "## From the trace\n");
    let _ = writeln!(s, "- {} episode(s); {} with a recovery recorded or inferred.", m.episodes, m.recovered);
    let _ = writeln!(
        s,
        "- Observed time to recovery: mean {}, median {}, p90 {} (n = {}).",
        mins(m.observed_ttr_seconds.mean),
        mins(m.observed_ttr_seconds.median),
        mins(m.observed_ttr_seconds.p90),
        m.observed_ttr_seconds.n
    );
    if m.with_truth > 0 {
        let _ = writeln!(
            s,
            "- Ground truth on {} episode(s): the classifier was right on {}; the policy would have acted on a wrong label {} time(s).",
            m.with_truth, m.correct_classifications, m.false_confidence_actions
        );
    }
    let _ = writeln!(s, "\n## From the model (classifier and policy)\n");
    let _ = writeln!(s, "| decision | episodes |\n|---|---|");
    for (k, v) in &m.decisions {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let c = &m.escalations;
    let _ = writeln!(
        s,
        "\nEscalations the policy would have sent (escalations.jsonl): {} trigger(s) paging {} episode(s), {} repeat(s) on an episode already escalated, {} resolve(s).",
        c.escalations, c.pages, c.repeats, c.resolves
    );
    let _ = writeln!(s, "\n| classified as | episodes |\n|---|---|");
    for (k, v) in &m.by_type {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(s, "\n## Policy against people\n");
    let _ = writeln!(s, "| agreement | episodes |\n|---|---|");
    for (k, v) in &m.agreement {
        let _ = writeln!(s, "| {} | {v} |", k.replace('-', " "));
    }
    let _ = writeln!(
        s,
        "\nWhere a person acted, the policy would have run the same action in {:.1}% of episodes. Time it would have saved, only where the trace supports it (same action, earlier, recovery after the person's action): {} episode(s), mean {}.\n",
        m.agreement_rate * 100.0,
        m.mttr_saved.n,
        mins(m.mttr_saved.mean)
    );
    let _ = writeln!(s, "## Where each figure comes from\n");
    for (k, v) in &m.sources {
        let _ = writeln!(s, "- **{k}**: {v}");
    }
    s
}
