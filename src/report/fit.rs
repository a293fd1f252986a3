//! `understudy fit --report DIR`: fit.json, report.md and index.html, the goodness of fit.
//!
//! Formats a [`Fit`] (the history's delays beside the fitted distributions with their
//! Kolmogorov–Smirnov test, rates per service, the classifier against truth, the people's
//! actions, and a sentence per figure on how much data backs it); computes nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::fit::{Fit, show};

/// fit.json: the whole estimate.
pub fn json(f: &Fit) -> String {
    let mut s = serde_json::to_string_pretty(f).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

fn ci(v: [f64; 2], unit: &str) -> String {
    format!("{} – {}", show(v[0], unit), show(v[1], unit))
}

/// report.md: the same tables in Markdown.
pub fn markdown(f: &Fit) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# Fit: a scenario from {}\n", f.from.join(", "));
    let _ = writeln!(
        m,
        "{} record(s); the history covers {:.2} days ({}).\n",
        f.records, f.exposure_days, f.exposure_source
    );
    let _ = writeln!(m, "## Figures from the history\n");
    for s in f.sentences() {
        let _ = writeln!(m, "- {s}");
    }
    let _ = writeln!(m, "\n## People's delays\n");
    let _ = writeln!(m, "| step | n | median (95% CI) | p90 (95% CI) | KS D | KS p | measured from |");
    let _ = writeln!(m, "|---|---:|---|---|---:|---:|---|");
    for (step, d) in &f.delays {
        match &d.fit {
            Some(x) => {
                let _ = writeln!(
                    m,
                    "| {step} | {}{} | {} ({}) | {} ({}) | {:.3} | {} | {} |",
                    x.n,
                    if x.censored > 0 { format!(" + {} censored", x.censored) } else { String::new() },
                    show(x.median, "s"),
                    ci(x.median_ci95, "s"),
                    show(x.p90, "s"),
                    ci(x.p90_ci95, "s"),
                    x.ks_d,
                    if x.censored > 0 { "–".to_string() } else { format!("{:.2}", x.ks_p) },
                    d.source
                );
            }
            None => {
                let _ = writeln!(m, "| {step} | {} | default kept | | | | {} |", d.n, d.source);
            }
        }
    }
    let _ = writeln!(m, "\n## Fault rates\n");
    let _ = writeln!(m, "| service | type | count | per day (95% CI) | simulated |");
    let _ = writeln!(m, "|---|---|---:|---|---|");
    for r in &f.rates {
        let _ = writeln!(
            m,
            "| {}/{} | {} | {} | {:.3} ({:.3} – {:.3}) | {} |",
            cell(&r.namespace),
            cell(&r.service),
            cell(&r.incident_type),
            r.count,
            r.per_day,
            r.ci95[0],
            r.ci95[1],
            if r.simulated { "yes" } else { "no model" }
        );
    }
    let _ = writeln!(m, "\n## Kept at defaults\n");
    for a in &f.assumed {
        let _ = writeln!(m, "- {}", cell(a));
    }
    m
}

/// Text from the history inside a Markdown table cell or list item: a `|` would end the
/// cell, a line break the row.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// index.html: the goodness of fit, one self-contained page.
pub fn page(f: &Fit) -> String {
    use super::html::{STYLE, esc};
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>understudy fit</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>Are these our delays, our faults, our classifier?</h1>");
    let _ = writeln!(
        h,
        "<p class=\"small\">Fitted from {} record(s) of {}; the history covers {:.2} days ({}). {} figure(s) come from the history; {} kept the simulator's default.</p>",
        f.records,
        esc(&f.from.join(", ")),
        f.exposure_days,
        esc(f.exposure_source),
        f.parameters.len(),
        f.assumed.len()
    );
    let _ = writeln!(h, "<h2>People's delays: the history beside the fit</h2>");
    let _ = writeln!(
        h,
        "<p class=\"small\">Grey: the history's cumulative distribution; blue: the fitted log-normal. KS D is the largest vertical gap; its p-value is conservative because the fit used the same data (a small p says the log-normal does not describe these delays). Where some delays are censored (an alert reached the fault first, or it ended unnoticed: the delay was longer than that), the fit maximises the likelihood with their survival, the history is 1 − the Kaplan–Meier estimate, and D is measured against it (no p-value is shown: the plain one does not hold under censoring).</p><div id=\"delays\">"
    );
    for (step, d) in &f.delays {
        match &d.fit {
            Some(x) => {
                let _ = writeln!(h, "<div class=\"chart\">{}</div>", super::charts::delay_fit(step, x));
            }
            None => {
                let _ = writeln!(
                    h,
                    "<p><b>{step}</b>: {} observation(s) of {}; under the {} a fit needs, so the default is kept.</p>",
                    d.n,
                    esc(d.source),
                    crate::fit::MIN_DELAY_SAMPLES
                );
            }
        }
    }
    if let Some(x) = &f.monitor_detection {
        let _ = writeln!(
            h,
            "<p class=\"small\">The monitor: onset → first alert, median {} (n = {}); the simulator's alert rules model this delay themselves, so it is shown, not fitted.</p>",
            show(x.median, "s"),
            x.n
        );
    }
    let _ = writeln!(h, "</div><h2>Fault rates per service</h2>");
    let _ = writeln!(
        h,
        "<table id=\"rates\"><tr><th>service</th><th>type</th><th>count</th><th>per day</th><th>95% CI (exact Poisson)</th><th></th></tr>"
    );
    for r in &f.rates {
        let _ = writeln!(
            h,
            "<tr><td>{}/{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3} – {:.3}</td><td>{}</td></tr>",
            esc(&r.namespace),
            esc(&r.service),
            esc(&r.incident_type),
            r.count,
            r.per_day,
            r.ci95[0],
            r.ci95[1],
            if r.simulated { "" } else { "no world model: left out" }
        );
    }
    if f.rates.is_empty() {
        let _ = writeln!(h, "<tr><td colspan=\"6\">No truth records: fault rates are assumed.</td></tr>");
    }
    let _ = writeln!(h, "</table><h2>The classifier against truth</h2>");
    let _ = writeln!(
        h,
        "<table id=\"classifier\"><tr><th>true type</th><th>n</th><th>accuracy (95% CI)</th><th>wrong labels</th><th>used</th></tr>"
    );
    for (ty, c) in &f.classifier {
        let wrong: Vec<String> = c.confusion.iter().map(|(l, n)| format!("{l} × {n}")).collect();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td></tr>",
            esc(ty),
            c.n,
            show(c.accuracy.value, "share"),
            ci(c.accuracy.ci95, "share"),
            esc(&wrong.join(", ")),
            if c.used { "yes" } else { "too few, or no world model" }
        );
    }
    if f.classifier.is_empty() {
        let _ = writeln!(h, "<tr><td colspan=\"5\">No classification records against truth.</td></tr>");
    }
    let _ = writeln!(h, "</table><h2>What people did</h2>");
    let _ = writeln!(
        h,
        "<table id=\"people\"><tr><th>during</th><th>action</th><th>times</th><th>fault ended within 1 h</th></tr>"
    );
    for p in &f.people {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.incident_type),
            esc(&p.action),
            p.n,
            p.ended_within_1h
        );
    }
    if f.people.is_empty() {
        let _ = writeln!(h, "<tr><td colspan=\"4\">No person's action during a known fault.</td></tr>");
    }
    let _ = writeln!(h, "</table><h2>What backs each figure</h2><ul id=\"sentences\">");
    for s in f.sentences() {
        let _ = writeln!(h, "<li>{}</li>", esc(&s));
    }
    if f.parameters.is_empty() {
        let _ = writeln!(h, "<li>Nothing: the history holds no figure the simulator uses.</li>");
    }
    let _ = writeln!(h, "</ul>");
    let _ = writeln!(h, "<h2>Kept at defaults</h2><ul id=\"assumed\">");
    for a in &f.assumed {
        let _ = writeln!(h, "<li>{}</li>", esc(a));
    }
    let _ = writeln!(h, "</ul></body></html>");
    h
}

/// Write fit.json, report.md and index.html into `dir`.
pub fn write_all(dir: &Path, f: &Fit) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for (name, text) in [("fit.json", json(f)), ("report.md", markdown(f)), ("index.html", page(f))] {
        let p = dir.join(name);
        std::fs::write(&p, text)?;
        out.push(p);
    }
    Ok(out)
}
