//! `index.html`: one self-contained page for a lead and for leadership. A verdict and five
//! headline numbers first, then the charts (inline SVG), the confusion matrix, the phase per
//! incident type, definitions and provenance. No network, no JavaScript.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::figures::{self, change_ci, count_of, mins, pct};
use super::{Provenance, charts};
use crate::metrics::phase::{self, Recommendation};
use crate::metrics::{DEFINITIONS, Evaluation, Metrics};
use crate::sim::IncidentRecord;
use crate::sweep::ThresholdCurve;

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The verdict paragraph (see [`figures::verdict`]).
pub fn verdict(rec: &BTreeMap<String, Recommendation>, m: &Metrics) -> (String, &'static str) {
    figures::verdict(rec, m)
}

/// Incidents worth a look: made worse and loops first, then the largest impact excess.
pub fn worst(incidents: &[IncidentRecord], n: usize) -> Vec<&IncidentRecord> {
    let mut v: Vec<&IncidentRecord> = incidents.iter().filter(|i| !i.actions.is_empty() || i.made_worse()).collect();
    v.sort_by(|a, b| {
        let key = |i: &IncidentRecord| (i.made_worse(), i.is_loop(), i.arms.policy.impact - i.arms.baseline.impact);
        let (ka, kb) = (key(a), key(b));
        kb.0.cmp(&ka.0).then(kb.1.cmp(&ka.1)).then(kb.2.total_cmp(&ka.2)).then(a.id.cmp(&b.id))
    });
    v.truncate(n);
    v
}

pub const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.verdict{font-size:1.15em;padding:1em 1.2em;border-radius:8px;margin:1em 0}
.verdict.good{background:#e8f5e9;border-left:6px solid #2ca02c}.verdict.warn{background:#fff8e1;border-left:6px solid #ff7f0e}
.verdict.bad{background:#fdecea;border-left:6px solid #d62728}
.cards{display:grid;grid-template-columns:repeat(6,1fr);gap:.8em;margin:1em 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.8em;text-align:center}
.card .n{font-size:1.7em;font-weight:600}#h-mttr .n{font-size:1.2em;padding:.25em 0}.card .l{font-size:.85em;color:#555}.card .ci{font-size:.8em;color:#777}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart svg{max-width:100%;height:auto}
.phase-auto-execute{color:#1b5e20;font-weight:600}.phase-recommend-only{color:#8a4b00;font-weight:600}.phase-shadow{color:#555;font-weight:600}
.small{font-size:.85em;color:#555}
#phases{font-size:.8em;width:100%}#phases td,#phases th{padding:.25em .4em}#phases td:last-child{min-width:15em}";

/// The whole page.
pub fn page(
    eval: &Evaluation,
    prov: &Provenance,
    incidents: &[IncidentRecord],
    curves: &[ThresholdCurve],
    rec: &BTreeMap<String, Recommendation>,
) -> String {
    let m = &eval.overall;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>understudy report</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>Is this remediation policy safe to switch on?</h1>");
    let _ = writeln!(
        h,
        "<p class=\"small\">Policy <code>{}</code> ({}), seed {}, {} replication(s) of {} scenario(s), {} incidents, each run three times on the same faults and human draws: <b>baseline</b> (the team today: alerts page people), <b>recommend</b> (the same pages carrying the suggested command) and <b>policy</b> (as written).</p>",
        esc(&prov.policy),
        esc(&prov.policy_fingerprint),
        prov.seed,
        prov.replications,
        prov.scenarios.len(),
        m.incidents
    );
    let (text, class) = verdict(rec, m);
    let _ = writeln!(h, "<div class=\"verdict {class}\" id=\"verdict\">{}</div>", esc(&text));

    let _ = writeln!(h, "<div class=\"cards\" id=\"headline\">");
    let card = |h: &mut String, id: &str, n: String, label: &str, ci: String| {
        let _ = writeln!(
            h,
            "<div class=\"card\" id=\"{id}\"><div class=\"n\">{n}</div><div class=\"l\">{label}</div><div class=\"ci\">{ci}</div></div>"
        );
    };
    let r = &m.automated_recovery_rate;
    card(
        &mut h,
        "h-recovery",
        pct(r.value),
        "automated recovery",
        format!("95% CI {}–{}", pct(r.ci95[0]), pct(r.ci95[1])),
    );
    let v = &m.verification_pass_rate;
    card(
        &mut h,
        "h-verify",
        pct(v.value),
        "verification passed",
        format!("{} of {} actions", v.numerator, v.denominator),
    );
    let a = &m.arms;
    card(
        &mut h,
        "h-mttr",
        format!("{:.1} → {}", a.baseline.mttr_seconds.mean / 60.0, mins(a.policy.mttr_seconds.mean)),
        "MTTR today → with the policy",
        change_ci(&m.effect.total),
    );
    card(
        &mut h,
        "h-worse",
        m.made_worse.numerator.to_string(),
        "incidents made worse by automation",
        format!("{} of incidents; unattributed differences {}", pct(m.made_worse.value), m.unattributed_difference),
    );
    card(
        &mut h,
        "h-loops",
        m.loops.to_string(),
        "remediation loops",
        if m.actions == 0 {
            "no action was executed".to_string()
        } else {
            format!("{} actions on a wrong label", figures::wrong_label(m.false_confidence_actions, m.actions))
        },
    );
    card(
        &mut h,
        "h-pages",
        a.policy.pages.to_string(),
        "pages to people",
        format!(
            "today {}; {} escalations, {} repeats (most on one incident: {}), {} sent after the channels' repeat rules",
            a.baseline.pages, m.escalations, m.repeat_escalations, m.max_escalations_per_incident, m.escalations_sent
        ),
    );
    let _ = writeln!(h, "</div>");

    let _ = writeln!(h, "<h2>What automation adds</h2>");
    let _ = writeln!(
        h,
        "<table id=\"effects\"><tr><th>comparison</th><th>mean time to recovery</th><th>MTTR change [95% CI]</th></tr>"
    );
    for r in figures::effect_rows(m) {
        let _ = writeln!(
            h,
            "<tr id=\"{}\"><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
            r.id,
            esc(r.name),
            r.from,
            r.to,
            change_ci(r.change)
        );
    }
    let _ = writeln!(h, "</table>");
    let _ = writeln!(
        h,
        "<p class=\"small\">Negative changes are shorter times to recovery. Made worse by automation: {}; by suggestions: {}. Verification passed: {}.</p>",
        count_of(&m.made_worse),
        count_of(&m.made_worse_by_suggestions),
        count_of(&m.verification_pass_rate)
    );

    let _ = writeln!(h, "<h2>What the policy saw and did (by label)</h2>");
    let _ = writeln!(
        h,
        "<p class=\"small\">Incidents grouped by the label the policy acted on (its first action's label, else its first classification). The gate reads these cells.</p>"
    );
    let _ = writeln!(
        h,
        "<table id=\"phases\"><tr><th>label</th><th>incidents</th><th>actions</th><th>recovered by automation</th><th>verification passed</th><th>on a wrong label</th><th>made worse by automation</th><th>loops</th><th>MTTR change from actions [95% CI]</th><th>recommended phase</th><th>why</th></tr>"
    );
    for (t, lm) in &eval.per_label {
        let r = rec.get(t);
        let v = &lm.verification_pass_rate;
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"phase-{}\">{}</td><td style=\"text-align:left\">{}</td></tr>",
            esc(t),
            lm.incidents,
            lm.actions,
            figures::count_of(&lm.automated_recovery_rate),
            figures::verification(v),
            figures::wrong_label(lm.false_confidence_actions, lm.actions),
            figures::count_of(&lm.made_worse),
            lm.loops,
            change_ci(&lm.effect.actions),
            r.map_or("none", |r| r.phase.as_str()),
            r.map_or("no policy", |r| r.phase.as_str()),
            esc(&r.map_or_else(
                || "no remediation for this label: every incident is escalated".to_string(),
                |r| r.reasons.join("; ")
            ))
        );
    }
    let _ = writeln!(h, "</table>");
    let _ = writeln!(
        h,
        "<p class=\"small\">auto-execute needs ≥ {} incidents, an MTTR change from actions whose CI is below zero, ≥ {:.0}% verification passes, ≤ {:.0}% of actions on a wrong label, ≤ {:.0}% of incidents made worse by automation and no loops.</p>",
        phase::MIN_INCIDENTS,
        phase::MIN_VERIFICATION_PASS * 100.0,
        phase::MAX_FALSE_CONFIDENCE_SHARE * 100.0,
        phase::MAX_MADE_WORSE_RATE * 100.0
    );

    let _ = writeln!(h, "<h2>What happened (by true cause)</h2>");
    let _ = writeln!(
        h,
        "<table id=\"causes\"><tr><th>true cause</th><th>incidents</th><th>MTTR today → with policy</th><th>MTTR change, all automation [95% CI]</th><th>recovered by automation</th><th>made worse by automation</th><th>loops</th></tr>"
    );
    for (t, cm) in eval.per_cause.iter().map(|(k, v)| (k.to_string(), v)).chain([("all".to_string(), m)]) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t),
            cm.incidents,
            mins(cm.arms.baseline.mttr_seconds.mean),
            mins(cm.arms.policy.mttr_seconds.mean),
            change_ci(&cm.effect.total),
            pct(cm.automated_recovery_rate.value),
            cm.made_worse.numerator,
            cm.loops
        );
    }
    let _ = writeln!(h, "</table>");

    let _ = writeln!(h, "<h2>Time to recovery</h2>");
    let auto: Vec<f64> = incidents.iter().map(|i| i.arms.policy.ttr_seconds).collect();
    let base: Vec<f64> = incidents.iter().map(|i| i.arms.baseline.ttr_seconds).collect();
    let _ = writeln!(h, "<div class=\"chart\" id=\"chart-mttr\">{}</div>", charts::mttr_histograms(&auto, &base));
    let _ = writeln!(
        h,
        "<p class=\"small\">Median {} with the policy vs {} today; 90th percentile {} vs {}.</p>",
        mins(a.policy.mttr_seconds.median),
        mins(a.baseline.mttr_seconds.median),
        mins(a.policy.mttr_seconds.p90),
        mins(a.baseline.mttr_seconds.p90)
    );

    let _ = writeln!(h, "<h2>Classifier calibration and thresholds</h2><div class=\"charts\">");
    let _ = writeln!(h, "<div class=\"chart\" id=\"chart-reliability\">{}</div>", charts::reliability(&m.calibration));
    for c in curves {
        let _ = writeln!(h, "<div class=\"chart chart-threshold\">{}</div>", charts::threshold_curve(c));
    }
    let _ = writeln!(
        h,
        "</div><table id=\"thresholds\"><tr><th>incident type</th><th>policy threshold</th><th>supported by the data</th></tr>"
    );
    for c in curves {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
            esc(&c.incident_type),
            c.current,
            c.supported.map_or(
                "none: no threshold tried keeps wrong labels ≤ 5% and incidents made worse ≤ 2%".into(),
                |s| format!("{s:.2}")
            )
        );
    }
    let _ = writeln!(
        h,
        "</table><p class=\"small\">Each point is what re-running every scenario ({} replication(s)) with only that type's threshold changed gives (only the policy arm is re-run, and only in runs where the threshold can change a decision; a test holds it equal to a full re-run). Supported: the lowest threshold with at most 5% of its actions on a wrong label and at most 2% of incidents made worse by automation. None means the harm comes from the action itself, not from trusting the classifier.</p>",
        curves.first().map_or(0, |c| c.replications)
    );

    let _ = writeln!(h, "<h2>Worst incidents</h2>");
    let worst = worst(incidents, 6);
    if worst.is_empty() {
        let _ = writeln!(h, "<p>No action was executed.</p>");
    } else {
        let _ = writeln!(h, "<div class=\"chart\" id=\"chart-timeline\">{}</div>", charts::timeline(&worst));
        let _ = writeln!(
            h,
            "<p class=\"small\">Grey: baseline (the team today); blue: the policy. Dots: actions on the incident (green passed verification, red failed); hollow dots: actions for another incident on its service while it was open (the latest action before its onset is listed in incidents.csv, touched_by); triangle: a person joined.</p>"
        );
    }

    let _ = writeln!(
        h,
        "<h2>Confusion matrix</h2><p class=\"small\">Rows: true cause; columns: the classifier's label.</p>"
    );
    let labels: Vec<&String> = {
        let mut l: Vec<&String> = eval.confusion.values().flat_map(|r| r.keys()).collect();
        l.sort();
        l.dedup();
        l
    };
    let _ = write!(h, "<table id=\"confusion\"><tr><th>truth \\ label</th>");
    for l in &labels {
        let _ = write!(h, "<th>{}</th>", esc(l));
    }
    let _ = writeln!(h, "</tr>");
    for (truth, row) in &eval.confusion {
        let total: usize = row.values().sum();
        let _ = write!(h, "<tr><td>{truth}</td>");
        for l in &labels {
            let n = row.get(*l).copied().unwrap_or(0);
            let share = if total > 0 { n as f64 / total as f64 } else { 0.0 };
            let hue = if *l == truth { "44,160,44" } else { "214,39,40" };
            let _ = write!(h, "<td style=\"background:rgba({hue},{:.2})\">{n}</td>", share * 0.8);
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</table>");

    let _ = writeln!(
        h,
        "<h2>Per scenario</h2><table id=\"scenarios\"><tr><th>scenario</th><th>incidents</th><th>automated recovery</th><th>verification</th><th>MTTR today → with policy</th><th>made worse by automation</th><th>loops</th><th>on a wrong label</th></tr>"
    );
    for (name, sm) in &eval.per_scenario {
        let s = &sm.metrics;
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            s.incidents,
            pct(s.automated_recovery_rate.value),
            if s.verification_pass_rate.denominator > 0 { pct(s.verification_pass_rate.value) } else { "–".into() },
            mins(s.arms.baseline.mttr_seconds.mean),
            mins(s.arms.policy.mttr_seconds.mean),
            s.made_worse.numerator,
            s.loops,
            s.false_confidence_actions
        );
    }
    let _ = writeln!(h, "</table>");

    let _ = writeln!(h, "<h2>Definitions</h2><ul>");
    for (k, v) in DEFINITIONS {
        let _ = writeln!(h, "<li><b>{k}</b>: {}</li>", esc(v));
    }
    let _ = writeln!(h, "</ul><h2>Provenance</h2><ul>");
    for s in &prov.scenarios {
        let _ = writeln!(
            h,
            "<li>scenario <code>{}</code> from <code>{}</code> ({}): {}</li>",
            esc(&s.name),
            esc(&s.file),
            esc(&s.digest),
            esc(&s.description)
        );
    }
    let _ = writeln!(h, "</ul><p>Assumptions of the model:</p><ul>");
    for a in &prov.assumptions {
        let _ = writeln!(h, "<li>{}</li>", esc(a));
    }
    let _ = writeln!(
        h,
        "</ul><p class=\"small\">understudy {}. Same inputs and seed give the same page.</p></body></html>",
        prov.understudy_version
    );
    h
}
