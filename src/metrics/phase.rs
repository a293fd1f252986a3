//! The phase each incident type has earned: shadow, recommend-only or auto-execute.
//!
//! The lesson's path to production ("start with shadow mode, then recommend-only, then
//! auto-execute for one narrow incident type after measured success") made explicit. The
//! criteria are constants here and printed in every report; the gate file can be stricter.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Evaluation, LabelStats};
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

/// One recommendation per incident type in the policy.
pub fn recommend(policy: &Policy, eval: &Evaluation) -> BTreeMap<String, Recommendation> {
    let empty = LabelStats::default();
    policy
        .remediations
        .values()
        .map(|r| {
            let t = r.incident_type.as_str();
            let label = eval.per_label.get(t).unwrap_or(&empty);
            let m = eval.per_type.get(t);
            let mut reasons = Vec::new();
            let n = m.map_or(0, |m| m.incidents);
            if n < MIN_INCIDENTS {
                reasons.push(format!("only {n} incidents of this type (need {MIN_INCIDENTS}): not enough evidence"));
                return (t.to_string(), Recommendation { phase: Phase::Shadow, reasons });
            }
            let m = m.expect("n > 0");
            let helps = m.mttr_reduction.ci95[0] > 0.0;
            if !helps {
                reasons.push(format!(
                    "MTTR reduction {:.1}% has a 95% CI reaching {:.1}%: no clear gain over people alone",
                    m.mttr_reduction.value * 100.0,
                    m.mttr_reduction.ci95[0] * 100.0
                ));
            }
            let mut auto_ok = r.auto_execute && helps;
            if !r.auto_execute {
                reasons.push("the policy runs it recommend-only, so there is no evidence of automated actions".into());
            }
            if label.actions > 0 {
                let pass = label.passed as f64 / label.verified.max(1) as f64;
                if pass < MIN_VERIFICATION_PASS {
                    auto_ok = false;
                    reasons.push(format!(
                        "{:.0}% of its actions passed verification (need {:.0}%)",
                        pass * 100.0,
                        MIN_VERIFICATION_PASS * 100.0
                    ));
                }
                if label.false_confidence_share > MAX_FALSE_CONFIDENCE_SHARE {
                    auto_ok = false;
                    reasons.push(format!(
                        "{:.0}% of its actions ran on a wrong classification (at most {:.0}%)",
                        label.false_confidence_share * 100.0,
                        MAX_FALSE_CONFIDENCE_SHARE * 100.0
                    ));
                }
            } else if r.auto_execute {
                auto_ok = false;
                reasons.push("no action was executed for it".into());
            }
            if m.made_worse.value > MAX_MADE_WORSE_RATE {
                auto_ok = false;
                reasons.push(format!(
                    "{:.1}% of its incidents were made worse (at most {:.0}%)",
                    m.made_worse.value * 100.0,
                    MAX_MADE_WORSE_RATE * 100.0
                ));
            }
            if m.loops > 0 {
                auto_ok = false;
                reasons.push(format!("{} remediation loop(s)", m.loops));
            }
            let phase = if auto_ok {
                reasons.push(format!(
                    "{:.0}% MTTR reduction (CI {:.0}% to {:.0}%), verification and false-confidence within limits",
                    m.mttr_reduction.value * 100.0,
                    m.mttr_reduction.ci95[0] * 100.0,
                    m.mttr_reduction.ci95[1] * 100.0
                ));
                Phase::AutoExecute
            } else if helps {
                Phase::RecommendOnly
            } else {
                Phase::Shadow
            };
            (t.to_string(), Recommendation { phase, reasons })
        })
        .collect()
}
