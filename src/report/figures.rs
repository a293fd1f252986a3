//! How each figure reads, once: the page, report.md and stdout call these, so the same cell
//! of report.json shows as the same rounded text everywhere. Formats only; every number
//! comes from `metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::metrics::phase::{self, Phase, Recommendation};
use crate::metrics::{Metrics, Rate, Reduction};

/// A fraction as a percentage with one decimal: `0.1234` → `12.3%`.
pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Seconds as minutes with one decimal.
pub fn mins(s: f64) -> String {
    format!("{:.1} min", s / 60.0)
}

/// `12 of 340 (3.5%)`.
pub fn count_of(r: &Rate) -> String {
    format!("{} of {} ({})", r.numerator, r.denominator, pct(r.value))
}

/// A rate with its Wilson interval: `42.0% (95% CI 38.1% to 45.9%)`, or `–` with no data.
pub fn rate_ci(r: &Rate) -> String {
    if r.denominator == 0 {
        return "–".into();
    }
    format!("{} (95% CI {} to {})", pct(r.value), pct(r.ci95[0]), pct(r.ci95[1]))
}

/// An MTTR reduction with its interval, signed: `−12.3% (95% CI −18.0% to −6.1%)` means 12.3%
/// shorter. Negative numbers are reductions of time, so the sign reads as the change.
pub fn change_ci(r: &Reduction) -> String {
    format!("{} (95% CI {} to {})", signed(-r.value), signed(-r.ci95[1]), signed(-r.ci95[0]))
}

fn signed(x: f64) -> String {
    let v = format!("{:.1}", x * 100.0);
    if v == "0.0" || v == "-0.0" {
        "±0.0%".into()
    } else if x > 0.0 {
        format!("+{v}%")
    } else {
        format!("−{}%", v.trim_start_matches('-'))
    }
}

/// A reduction in words, never claiming more than its interval supports.
pub fn effect_words(r: &Reduction) -> String {
    if r.resamples == 0 {
        "no incidents".into()
    } else if r.ci95[0] > 0.0 {
        format!("cut MTTR by {} (95% CI {} to {})", pct(r.value), pct(r.ci95[0]), pct(r.ci95[1]))
    } else if r.ci95[1] < 0.0 {
        format!("lengthened MTTR by {} (95% CI {} to {})", pct(-r.value), pct(-r.ci95[1]), pct(-r.ci95[0]))
    } else if r.value == 0.0 && r.ci95 == [0.0, 0.0] {
        "changed MTTR by exactly nothing".into()
    } else {
        format!("made no clear change to MTTR: {}", change_ci(r))
    }
}

/// One row of "what automation adds": a comparison of two arms' mean TTR.
pub struct EffectRow<'m> {
    /// Stable id for the page.
    pub id: &'static str,
    pub name: &'static str,
    /// Mean TTR of the arm compared against, and of the arm compared, in minutes' text.
    pub from: String,
    pub to: String,
    pub change: &'m Reduction,
}

/// The comparisons every report shows, in order: all automation, suggestions, actions, and
/// (for teams paged by alerts) the labelled extra against people never paged.
pub fn effect_rows(m: &Metrics) -> Vec<EffectRow<'_>> {
    let a = &m.arms;
    let row = |id, name, from: f64, to: f64, change| EffectRow { id, name, from: mins(from), to: mins(to), change };
    let mut rows = vec![
        row(
            "e-total",
            "all automation: policy vs baseline",
            a.baseline.mttr_seconds.mean,
            a.policy.mttr_seconds.mean,
            &m.effect.total,
        ),
        row(
            "e-suggestions",
            // A team not paged today: what recommend adds is the pages themselves as well.
            if a.baseline.pages == 0 && a.recommend.pages > 0 {
                "pages and their suggestions: recommend vs baseline (the team today is not paged by alerts)"
            } else {
                "suggestions: recommend vs baseline"
            },
            a.baseline.mttr_seconds.mean,
            a.recommend.mttr_seconds.mean,
            &m.effect.suggestions,
        ),
        row(
            "e-actions",
            "actions: policy vs recommend",
            a.recommend.mttr_seconds.mean,
            a.policy.mttr_seconds.mean,
            &m.effect.actions,
        ),
    ];
    if let (Some(u), Some(e)) = (&a.unpaged, &m.effect.policy_vs_unpaged) {
        rows.push(row(
            "e-unpaged",
            "extra, credits paging to automation: policy vs people never paged",
            u.mttr_seconds.mean,
            a.policy.mttr_seconds.mean,
            e,
        ));
    }
    rows
}

/// Actions on a wrong label: `3 of 60 (5.0%)` (the gate's `false_confidence_share`), or `–`
/// with no action.
pub fn wrong_label(wrong: usize, actions: usize) -> String {
    if actions == 0 {
        return "–".into();
    }
    format!("{wrong} of {actions} ({})", pct(wrong as f64 / actions as f64))
}

/// Verification as counts: `12 of 14 (85.7%)`, or `–` with no verdict.
pub fn verification(r: &Rate) -> String {
    if r.denominator > 0 { count_of(r) } else { "–".into() }
}

/// What automation costs, only what is not zero: harm, loops, wrong-label actions.
pub fn costs(m: &Metrics) -> Vec<String> {
    let mut c = Vec::new();
    if m.made_worse.numerator > 0 {
        c.push(format!("its actions made {} incident(s) worse ({})", m.made_worse.numerator, pct(m.made_worse.value)));
    }
    if m.loops > 0 {
        c.push(format!("{} remediation loop(s)", m.loops));
    }
    if m.false_confidence_actions > 0 {
        c.push(format!("{} of {} action(s) on a wrong classification", m.false_confidence_actions, m.actions));
    }
    if m.made_worse_by_suggestions.numerator > 0 {
        c.push(format!("suggestions made {} incident(s) worse", m.made_worse_by_suggestions.numerator));
    }
    c
}

/// The one-paragraph verdict: the decision first, then what automation adds and what it
/// costs. `class` is the page's colour: good, warn or bad.
pub fn verdict(rec: &BTreeMap<String, Recommendation>, m: &Metrics) -> (String, &'static str) {
    let by = |p: Phase| rec.iter().filter(|(_, r)| r.phase == p).map(|(t, _)| t.as_str()).collect::<Vec<_>>();
    let (auto, recommend, shadow) = (by(Phase::AutoExecute), by(Phase::RecommendOnly), by(Phase::Shadow));
    let mut s = String::new();
    let unsafe_ = m.loops > 0 || m.made_worse.value > phase::MAX_MADE_WORSE_RATE;
    let class = if unsafe_ {
        let mut why = Vec::new();
        if m.made_worse.value > phase::MAX_MADE_WORSE_RATE {
            why.push(format!(
                "its actions made {} of {} incidents worse ({}, limit {})",
                m.made_worse.numerator,
                m.incidents,
                pct(m.made_worse.value),
                pct(phase::MAX_MADE_WORSE_RATE)
            ));
        }
        if m.loops > 0 {
            why.push(format!("{} remediation loop(s)", m.loops));
        }
        let _ = write!(s, "Not safe to switch on as written: {}. ", why.join(" and "));
        "bad"
    } else if auto.is_empty() {
        s.push_str("Not ready for automated action yet. ");
        "warn"
    } else {
        "good"
    };
    if !auto.is_empty() {
        let _ = write!(s, "The evidence supports auto-execute for {}. ", auto.join(", "));
    }
    if !recommend.is_empty() {
        let _ = write!(s, "Keep {} recommend-only. ", recommend.join(", "));
    }
    if !shadow.is_empty() {
        let _ = write!(s, "Run {} in shadow mode first. ", shadow.join(", "));
    }
    let a = &m.arms;
    // A team not paged today gets its pages from automation: say so, and do not call what
    // paging adds a suggestion's doing.
    let (team, pages) = if a.baseline.pages == 0 && a.recommend.pages > 0 {
        ("the team today (not paged by alerts)", "The pages automation sends, with their suggestions,")
    } else {
        ("the team today (alerts page people)", "The pages' suggestions")
    };
    let _ = write!(
        s,
        "Against {team}, automation {}: mean time to recovery {} → {}. \
         {pages} {} (a suggestion changes diagnosis time only by the scenario's people factors); the executed actions {}. ",
        effect_words(&m.effect.total),
        mins(a.baseline.mttr_seconds.mean),
        mins(a.policy.mttr_seconds.mean),
        effect_words(&m.effect.suggestions),
        effect_words(&m.effect.actions),
    );
    let costs = costs(m);
    let _ = write!(
        s,
        "The cost: {}; people get {} page(s) (today {}).",
        if costs.is_empty() { "no incident made worse and no loop".to_string() } else { costs.join(", ") },
        a.policy.pages,
        a.baseline.pages
    );
    (s, class)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(value: f64, lo: f64, hi: f64) -> Reduction {
        Reduction { value, ci95: [lo, hi], resamples: 2000 }
    }

    #[test]
    fn words_never_claim_a_reduction_the_interval_does_not_support() {
        assert!(effect_words(&red(0.2, 0.1, 0.3)).starts_with("cut MTTR by 20.0%"));
        assert!(effect_words(&red(0.05, -0.01, 0.1)).starts_with("made no clear change"));
        assert!(effect_words(&red(-0.2, -0.3, -0.1)).starts_with("lengthened MTTR by 20.0%"));
        assert_eq!(effect_words(&red(0.0, 0.0, 0.0)), "changed MTTR by exactly nothing");
    }

    #[test]
    fn changes_read_as_signed_time() {
        assert_eq!(change_ci(&red(0.123, 0.061, 0.18)), "−12.3% (95% CI −18.0% to −6.1%)");
        assert_eq!(change_ci(&red(0.0, 0.0, 0.0)), "±0.0% (95% CI ±0.0% to ±0.0%)");
    }
}
