//! The rule-based classifier: signal and alert names → incident type and confidence, with the
//! rules in a YAML file people can edit (first match wins; `*` matches any run of
//! characters). `scenarios/classifier-rules.yaml` covers every alert of the kube-prometheus
//! and kubernetes-mixin rule sets.

use std::path::Path;

use rand::RngCore;
use serde::Deserialize;

use super::{Classification, Classifier, Evidence};
use crate::diag::{Code, Diagnostic, Report};
use crate::yaml::{self, Problem, Seg, at};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    pub rules: Vec<RawRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub alert: Option<String>,
    pub signal: Option<String>,
    pub incident_type: String,
    pub confidence: f64,
}

/// One rule: a pattern on the alert name or the signal name.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub alert: Option<String>,
    pub signal: Option<String>,
    pub incident_type: String,
    pub confidence: f64,
}

/// Rules in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, s: &str) -> bool {
    // Bytes, not chars: `*` is ASCII and matching UTF-8 bytewise is exact; no allocation.
    let (p, t) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

fn validate(raw: &RawRules) -> (Option<Rules>, Vec<Problem>) {
    let mut v = Vec::new();
    let mut rules = Vec::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let base = vec![Seg::key("rules"), Seg::Index(i)];
        if r.alert.is_some() == r.signal.is_some() {
            v.push(
                Problem::error(base.clone(), Code::Conflict, "a rule matches on `alert` or on `signal`, exactly one")
                    .with_hint("e.g. `{ alert: KubePodCrashLooping, incident_type: crash-loop, confidence: 0.9 }`"),
            );
        }
        if !(0.0..=1.0).contains(&r.confidence) {
            v.push(Problem::error(
                at(&base, "confidence"),
                Code::BadValue,
                format!("confidence {} is outside [0, 1]", r.confidence),
            ));
        }
        if r.incident_type.trim().is_empty() {
            v.push(Problem::error(at(&base, "incident_type"), Code::BadValue, "`incident_type` is empty"));
        }
        rules.push(Rule {
            alert: r.alert.clone(),
            signal: r.signal.clone(),
            incident_type: r.incident_type.clone(),
            confidence: r.confidence,
        });
    }
    if raw.rules.is_empty() {
        v.push(Problem::error(vec![Seg::key("rules")], Code::BadValue, "no rules"));
    }
    let ok = v.iter().all(|p| p.warning);
    (ok.then_some(Rules { rules }), v)
}

impl Rules {
    pub fn load(path: &Path) -> Result<Rules, Report> {
        crate::diag::load_with(path, Rules::from_yaml)
    }

    pub fn from_yaml(path: &Path, text: &str) -> Result<Rules, Vec<Diagnostic>> {
        yaml::load_validated(path, text, "classifier rules (`rules:`)", validate).map(|(r, _)| r)
    }

    /// The first rule matching the evidence.
    pub fn matching(&self, ev: &Evidence<'_>) -> Option<&Rule> {
        self.rules.iter().find(|r| match (&r.alert, &r.signal, ev.alert) {
            (Some(p), _, Some(a)) => glob(p, a),
            (_, Some(p), None) => glob(p, ev.signal),
            _ => false,
        })
    }
}

impl Classifier for Rules {
    fn classify(&self, ev: &Evidence<'_>, _rng: &mut dyn RngCore) -> Classification {
        match self.matching(ev) {
            Some(r) => Classification { incident_type: r.incident_type.clone(), confidence: r.confidence },
            None => Classification { incident_type: "unknown".into(), confidence: 0.0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("Prometheus*", "PrometheusBadConfig"));
        assert!(glob("*Down", "KubeletDown"));
        assert!(glob("Kube*Mismatch", "KubeDeploymentReplicasMismatch"));
        assert!(!glob("Kube*Mismatch", "KubeDeploymentRolloutStuck"));
        assert!(glob("OOMKilled", "OOMKilled"));
        assert!(!glob("OOMKilled", "OOMKilledX"));
    }
}
