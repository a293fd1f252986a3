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
    if m.pages > 0 {
        let _ = writeln!(
            s,
            "- People (the paging system's records): {} page(s); page to acknowledgement median {} (n = {}); page to resolution median {} (n = {}); {} page(s) with no symptom in the trace, {} paging record(s) that could not be placed.",
            m.pages,
            mins(m.people_ack_seconds.median),
            m.people_ack_seconds.n,
            mins(m.people_resolve_seconds.median),
            m.people_resolve_seconds.n,
            m.pages_without_episode,
            m.page_events_ignored
        );
    }
    if !m.rule_accuracy.is_empty() {
        let _ = writeln!(
            s,
            "\n| rule | episodes | right | says | supported (95% CI) | suggested |\n|---|---|---|---|---|---|"
        );
        for (r, a) in &m.rule_accuracy {
            let suggest = match a.suggest {
                Some(x) => format!("{x:.2}"),
                None if a.episodes < crate::replay::MIN_RULE_EPISODES => "too few".into(),
                None => "keep".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} | {:.2} ({:.2}–{:.2}) | {suggest} |",
                r.replace('|', "\\|"),
                a.episodes,
                a.right,
                a.confidence,
                a.supported.value,
                a.supported.ci95[0],
                a.supported.ci95[1]
            );
        }
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

/// The replay's page (`index.html`), on the same styles as simulate's: what the policy would
/// have done on this history, against what people did, every figure saying its source.
fn understudy_min() -> usize {
    crate::replay::MIN_RULE_EPISODES
}

pub fn page(m: &ReplayMetrics, p: &ReplayProvenance) -> String {
    use super::html::{STYLE, esc};
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>understudy replay</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>What would this policy have done on our history?</h1>");
    let _ = writeln!(
        h,
        "<p class=\"small\">Policy <code>{}</code> ({}) replayed over {} record(s) of {} with the <b>{}</b> classifier. No world model: onsets, recoveries and what people did come from the trace; labels and decisions from the model.</p>",
        esc(&p.policy),
        esc(&p.policy_fingerprint),
        m.records,
        esc(&p.traces.join(", ")),
        esc(&p.classifier)
    );
    let executed = m.decisions.get("execute").copied().unwrap_or(0);
    let _ = writeln!(h, "<div class=\"cards\" id=\"headline\">");
    let card = |h: &mut String, id: &str, n: String, label: &str, note: String| {
        let _ = writeln!(
            h,
            "<div class=\"card\" id=\"{id}\"><div class=\"n\">{n}</div><div class=\"l\">{label}</div><div class=\"ci\">{}</div></div>",
            esc(&note)
        );
    };
    card(&mut h, "h-episodes", m.episodes.to_string(), "episodes", format!("{} recovered in the trace", m.recovered));
    card(
        &mut h,
        "h-execute",
        executed.to_string(),
        "would have run an action",
        format!("{} handed to a person", m.episodes.saturating_sub(executed)),
    );
    card(
        &mut h,
        "h-agree",
        format!("{:.0}%", m.agreement_rate * 100.0),
        "same action as the person",
        format!("over {} episode(s) where a person acted", m.person_acted),
    );
    card(
        &mut h,
        "h-saved",
        if m.mttr_saved.n > 0 { format!("{:.1} min", m.mttr_saved.mean / 60.0) } else { "–".into() },
        "time saved, where the trace supports it",
        format!("{} episode(s): same action, decided before the person acted", m.mttr_saved.n),
    );
    card(
        &mut h,
        "h-pages",
        m.escalations.pages.to_string(),
        "episodes that would page",
        format!(
            "{} repeat(s); {} watchdog/inhibitor alert(s) paged nobody",
            m.escalations.repeats,
            m.not_incidents.values().sum::<usize>()
        ),
    );
    if m.pages > 0 {
        let min = |x: f64| format!("{:.1} min", x / 60.0);
        card(
            &mut h,
            "h-people",
            if m.people_ack_seconds.n > 0 { min(m.people_ack_seconds.median) } else { "–".into() },
            "people: page to acknowledgement (median)",
            format!(
                "{} page(s) in the paging system's records; resolved in median {} (n={}); {} page(s) with no symptom in the trace",
                m.pages,
                if m.people_resolve_seconds.n > 0 { min(m.people_resolve_seconds.median) } else { "–".into() },
                m.people_resolve_seconds.n,
                m.pages_without_episode
            ),
        );
    }
    if m.with_truth > 0 {
        card(
            &mut h,
            "h-wrong",
            m.false_confidence_actions.to_string(),
            "actions on a wrong label",
            format!("{} of {} labels right against the truth", m.correct_classifications, m.with_truth),
        );
    }
    let _ = writeln!(h, "</div>");

    let table = |h: &mut String, id: &str, title: &str, head: &[&str], rows: Vec<Vec<String>>| {
        let _ = writeln!(h, "<h2>{}</h2><table id=\"{id}\"><tr>", esc(title));
        for c in head {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        let _ = writeln!(h, "</tr>");
        for r in rows {
            let _ = write!(h, "<tr>");
            for c in r {
                let _ = write!(h, "<td>{}</td>", esc(&c));
            }
            let _ = writeln!(h, "</tr>");
        }
        let _ = writeln!(h, "</table>");
    };
    table(
        &mut h,
        "agreement",
        "Policy against people",
        &["agreement", "episodes"],
        m.agreement.iter().map(|(k, v)| vec![k.replace('-', " "), v.to_string()]).collect(),
    );
    table(
        &mut h,
        "decisions",
        "Decisions (model)",
        &["decision", "episodes"],
        m.decisions.iter().map(|(k, v)| vec![k.clone(), v.to_string()]).collect(),
    );
    if !m.no_policy_types.is_empty() {
        table(
            &mut h,
            "no-policy",
            "Types seen with no policy (each a page today)",
            &["classified as", "episodes"],
            m.no_policy_types.iter().map(|(k, v)| vec![k.clone(), v.to_string()]).collect(),
        );
    }
    if !m.handed_to_people.is_empty() {
        table(
            &mut h,
            "handed-over",
            &format!("Episodes handed to a person (the first {})", m.handed_to_people.len()),
            &["episode", "service", "start", "classified as", "confidence", "decision"],
            m.handed_to_people
                .iter()
                .map(|e| {
                    vec![
                        e.id.clone(),
                        e.service.clone(),
                        e.start.to_rfc3339(),
                        e.classified_as.clone(),
                        format!("{:.2}", e.confidence),
                        e.decision.clone(),
                    ]
                })
                .collect(),
        );
    }
    if let Some(c) = &m.calibration {
        let _ = writeln!(h, "<h2>Calibration against the truth</h2>");
        let _ = writeln!(h, "<div class=\"chart\" id=\"chart-reliability\">{}</div>", super::charts::reliability(c));
        table(
            &mut h,
            "label-accuracy",
            "Per label: what the rules claim and what the truth supports",
            &["label", "episodes", "right", "claimed (mean)", "supported (95% CI)"],
            m.label_accuracy
                .iter()
                .map(|(l, a)| {
                    vec![
                        l.clone(),
                        a.episodes.to_string(),
                        a.right.to_string(),
                        format!("{:.2}", a.mean_confidence),
                        format!("{:.2} ({:.2}–{:.2})", a.supported.value, a.supported.ci95[0], a.supported.ci95[1]),
                    ]
                })
                .collect(),
        );
    }
    if !m.rule_accuracy.is_empty() {
        table(
            &mut h,
            "rule-accuracy",
            "Per rule: the confidence it says, what the truth supports, and what to write instead",
            &["rule", "episodes", "right", "says", "supported (95% CI)", "suggested"],
            m.rule_accuracy
                .iter()
                .map(|(r, a)| {
                    vec![
                        r.clone(),
                        a.episodes.to_string(),
                        a.right.to_string(),
                        format!("{:.2}", a.confidence),
                        format!("{:.2} ({:.2}–{:.2})", a.supported.value, a.supported.ci95[0], a.supported.ci95[1]),
                        match a.suggest {
                            Some(x) => format!("{x:.2}"),
                            None if a.episodes < understudy_min() => format!("too few (under {})", understudy_min()),
                            None => "keep".to_string(),
                        },
                    ]
                })
                .collect(),
        );
    }
    let _ = writeln!(
        h,
        "<p class=\"small\">{} episode(s) revised their label as evidence arrived; {} recovered inside the decision window and were never decided.</p>",
        m.revised, m.recovered_before_decision
    );
    let _ = writeln!(h, "<h2>Where each figure comes from</h2><ul class=\"small\">");
    for (k, v) in &m.sources {
        let _ = writeln!(h, "<li><b>{}</b>: {}</li>", esc(k), esc(v));
    }
    let _ = writeln!(h, "</ul></body></html>");
    h
}
