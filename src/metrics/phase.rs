//! The phase each incident type has earned: shadow, recommend-only or auto-execute.
//!
//! The lesson's path to production ("start with shadow mode, then recommend-only, then
//! auto-execute for one narrow incident type after measured success") made explicit. The
//! criteria are constants here and printed in every report; the gate file can be stricter.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Evaluation;
use crate::policy::Policy;

/// Fewer incidents of a type than this is not evidence: shadow.
pub const MIN_INCIDENTS: usize = 20;
pub const MIN_VERIFICATION_PASS: f64 = 0.90;
pub const MAX_FALSE_CONFIDENCE_SHARE: f64 = 0.05;
pub const MAX_MADE_WORSE_RATE: f64 = 0.02;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Shadow,
    RecommendOnly,
    AutoExecute,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Shadow => "shadow",
            Phase::RecommendOnly => "recommend-only",
            Phase::AutoExecute => "auto-execute",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        [Phase::Shadow, Phase::RecommendOnly, Phase::AutoExecute].into_iter().find(|p| p.as_str() == s)
    }
}

/// A recommended phase and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub phase: Phase,
    pub reasons: Vec<String>,
}

/// One recommendation per incident type in the policy, from the "what the policy saw and
/// did" view (`per_label`): the same cells the gate reads.
pub fn recommend(policy: &Policy, eval: &Evaluation) -> BTreeMap<String, Recommendation> {
    policy
        .remediations()
        .values()
        .map(|r| {
            let t = r.incident_type.as_str();
            let mut reasons = Vec::new();
            let Some(m) = eval.per_label.get(t).filter(|m| m.incidents >= MIN_INCIDENTS) else {
                let n = eval.per_label.get(t).map_or(0, |m| m.incidents);
                reasons.push(format!("only {n} incidents seen as this type (need {MIN_INCIDENTS}): not enough evidence"));
                return (t.to_string(), Recommendation { phase: Phase::Shadow, reasons });
            };
            let suggestions_safe = m.made_worse_by_suggestions.value <= MAX_MADE_WORSE_RATE;
            if !suggestions_safe {
                reasons.push(format!(
                    "its pages and their suggestions made {:.1}% of its incidents worse (at most {:.0}%)",
                    m.made_worse_by_suggestions.value * 100.0,
                    MAX_MADE_WORSE_RATE * 100.0
                ));
            }
            let mut auto_ok = r.auto_execute && suggestions_safe;
            if !r.auto_execute {
                reasons.push("the policy runs it recommend-only, so there is no evidence of automated actions".into());
            } else if m.actions == 0 {
                auto_ok = false;
                reasons.push("no action was executed for it".into());
            } else {
                let fx = &m.effect.actions;
                if fx.ci95[0] <= 0.0 {
                    auto_ok = false;
                    reasons.push(format!(
                        "its actions change MTTR by {} (95% CI {} to {}) against the same pages without actions: no clear gain",
                        signed_change(-fx.value),
                        signed_change(-fx.ci95[1]),
                        signed_change(-fx.ci95[0])
                    ));
                }
                let pass = &m.verification_pass_rate;
                if pass.value < MIN_VERIFICATION_PASS {
                    auto_ok = false;
                    reasons.push(format!(
                        "{:.0}% of its actions passed verification ({}/{}; need {:.0}%)",
                        pass.value * 100.0,
                        pass.numerator,
                        pass.denominator,
                        MIN_VERIFICATION_PASS * 100.0
                    ));
                }
                if m.false_confidence_share > MAX_FALSE_CONFIDENCE_SHARE {
                    auto_ok = false;
                    reasons.push(format!(
                        "{:.0}% of its actions ran on a wrong classification ({}/{}; at most {:.0}%)",
                        m.false_confidence_share * 100.0,
                        m.false_confidence_actions,
                        m.actions,
                        MAX_FALSE_CONFIDENCE_SHARE * 100.0
                    ));
                }
                if m.made_worse.value > MAX_MADE_WORSE_RATE {
                    auto_ok = false;
                    reasons.push(format!(
                        "its actions made {:.1}% of its incidents worse ({}/{}; at most {:.0}%)",
                        m.made_worse.value * 100.0,
                        m.made_worse.numerator,
                        m.made_worse.denominator,
                        MAX_MADE_WORSE_RATE * 100.0
                    ));
                }
                if m.loops > 0 {
                    auto_ok = false;
                    reasons.push(format!("{} remediation loop(s)", m.loops));
                }
            }
            let phase = if auto_ok {
                let fx = &m.effect.actions;
                reasons.push(format!(
                    "its actions cut MTTR by {:.0}% (95% CI {:.0}% to {:.0}%) against the same pages without actions; verification, wrong-label share and harm within limits",
                    fx.value * 100.0,
                    fx.ci95[0] * 100.0,
                    fx.ci95[1] * 100.0
                ));
                Phase::AutoExecute
            } else if suggestions_safe {
                Phase::RecommendOnly
            } else {
                Phase::Shadow
            };
            (t.to_string(), Recommendation { phase, reasons })
        })
        .collect()
}

/// A change of MTTR, signed and whole: `0.12` → `+12%` (longer), `-0.3` → `−30%` (shorter).
/// An interval printed with it reads low to high, as everywhere on the page.
pub fn signed_change(change: f64) -> String {
    let v = format!("{:.0}", change * 100.0);
    if v == "0" || v == "-0" {
        "±0%".into()
    } else if change > 0.0 {
        format!("+{v}%")
    } else {
        format!("−{}%", v.trim_start_matches('-'))
    }
}
