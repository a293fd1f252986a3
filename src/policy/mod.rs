//! The remediation policy: which action answers which incident type, when it may run on its
//! own, and the guardrails around all of it.
//!
//! Owns the YAML format (`raw`, with the lesson's field names unchanged), its validation into
//! [`Policy`] (done once: code past this boundary never re-checks a threshold or a duration),
//! and the policy fingerprint (sha256 of the canonical JSON form of the validated policy, so
//! comments and key order do not change it but any value does). It reads only the file it is
//! given and never decides anything.

pub mod action;
pub mod diff;
pub mod raw;
mod setting;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use action::{Action, ScaleBy, Target};
pub use setting::{PARAMETERS, Setting};

use crate::clock::{Time, serialize_duration};
use crate::diag::{Diagnostic, Report};
use crate::yaml;

/// A validated policy. Sealed: the only ways to one are [`Policy::load`],
/// [`Policy::from_yaml`] and [`Policy::with`], each through the same validation, so every
/// `Policy` in the program is one a policy file could hold.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// One remediation per incident type, ordered by type.
    remediations: BTreeMap<String, Remediation>,
    guardrails: Guardrails,
    /// Where escalations go, when the file has a `channels:` section. Not part of the
    /// fingerprint: routing pages elsewhere does not change what automation does, so it
    /// does not need a new promotion.
    #[serde(skip)]
    channels: Option<crate::escalate::channels::Channels>,
    /// Incident types the file declares its own classifier produces (`custom_incident_types:`):
    /// read by `check` only, so not part of the fingerprint.
    #[serde(skip)]
    custom_incident_types: BTreeSet<String>,
    /// The file as written, which [`Policy::with`] changes and validates again.
    #[serde(skip)]
    written: std::sync::Arc<raw::RawPolicyFile>,
}

/// A problem of a policy made by a setting, in words: `cpu-spike.cooldown_after_action: …`
/// (`remediation_policies[2].x` reads better as the type it is about).
fn describe(written: &raw::RawPolicyFile, p: yaml::Problem) -> String {
    let path = match p.path.as_slice() {
        [yaml::Seg::Key(k), yaml::Seg::Index(i), rest @ ..] if k == "remediation_policies" => {
            let t = written.remediation_policies.iter().flatten().nth(*i);
            let mut out = t.map_or_else(|| k.clone(), |r| r.incident_type.clone());
            if !rest.is_empty() {
                out.push('.');
                out.push_str(&yaml::path_string(rest));
            }
            out
        }
        path => yaml::path_string(path),
    };
    if path.is_empty() { p.message } else { format!("{path}: {}", p.message) }
}

/// Why [`Policy::with`] refused a setting.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingError {
    /// The setting names an incident type the policy has no entry for.
    NoSuchType(String),
    /// The policy it makes breaks these rules, in the words a file's diagnostics use.
    Refused(Vec<String>),
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingError::NoSuchType(t) => write!(f, "the policy has no incident type `{t}`"),
            SettingError::Refused(rules) => write!(f, "it makes a policy no file could hold: {}", rules.join("; ")),
        }
    }
}

/// Equal when they act alike and page alike; how the files were written does not matter.
impl PartialEq for Policy {
    fn eq(&self, o: &Policy) -> bool {
        self.remediations == o.remediations
            && self.guardrails == o.guardrails
            && self.channels == o.channels
            && self.custom_incident_types == o.custom_incident_types
    }
}

/// What to do about one incident type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remediation {
    pub incident_type: String,
    pub detection_signal: Option<String>,
    /// false: recommend-only, a person runs the command.
    pub auto_execute: bool,
    /// Act only at or above this confidence, in [0, 1].
    pub confidence_threshold: f64,
    /// Actions allowed per (namespace, service, incident type) within `attempt_window`; ≥ 1.
    pub max_attempts: u32,
    #[serde(serialize_with = "serialize_duration")]
    pub attempt_window: Duration,
    /// No further action on the same (namespace, service) for this long after any action.
    #[serde(serialize_with = "serialize_duration")]
    pub cooldown_after_action: Duration,
    /// How long recovery is watched after an action; > 0.
    #[serde(serialize_with = "serialize_duration")]
    pub verification_window: Duration,
    /// Undo the action when verification fails (where the action can be undone).
    pub rollback_if_failed: bool,
    pub escalation_channel: String,
    pub action: Action,
    pub verify: VerifySpec,
}

/// What verification checks (the lesson's list: restarts stopped, pods Running and Ready,
/// error rate and latency back to the pre-incident baseline).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifySpec {
    pub pods_ready: bool,
    pub no_new_restarts: bool,
    /// Error rate must be at most this multiple of the pre-incident baseline.
    pub max_error_rate_ratio: f64,
    /// Latency must be at most this multiple of the baseline, when set.
    pub max_latency_ratio: Option<f64>,
    /// A PromQL expression that must return a non-empty result for recovery, when set (live).
    pub prometheus_query: Option<String>,
}

impl Default for VerifySpec {
    fn default() -> Self {
        VerifySpec {
            pods_ready: true,
            no_new_restarts: true,
            max_error_rate_ratio: 1.1,
            max_latency_ratio: None,
            prometheus_query: None,
        }
    }
}

/// Limits that hold whatever the per-type policies say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Guardrails {
    /// Nothing is executed while set.
    pub emergency_stop: bool,
    /// Namespaces automation may touch; `None` means the file set no scope (any namespace).
    pub namespaces: Option<BTreeSet<String>>,
    /// Actions across the whole policy in any sliding hour.
    pub max_actions_per_hour: u32,
    /// No scale action sets more replicas than this.
    pub max_replicas: u32,
    pub loop_breaker: LoopBreaker,
    /// Incident types that may never be auto-executed.
    pub never_auto: BTreeSet<String>,
    /// Known traffic (campaigns, sales) that is not an anomaly.
    pub expected_load_events: Vec<Window>,
    /// Times when no automated change may be made.
    pub change_freezes: Vec<Window>,
}

/// At most `max_actions` actions on one (namespace, service) within `window`, whatever the
/// incident types; beyond that automation stops for the service and a person is paged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoopBreaker {
    pub max_actions: u32,
    #[serde(serialize_with = "serialize_duration")]
    pub window: Duration,
}

/// A named time window, optionally limited to namespaces, services and incident types.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub name: String,
    pub start: Time,
    pub end: Time,
    pub namespaces: Option<BTreeSet<String>>,
    pub services: Option<BTreeSet<String>>,
    /// For expected load: the incident types this load explains.
    pub incident_types: BTreeSet<String>,
}

impl Window {
    /// Whether the window covers this instant, namespace, service and incident type.
    pub fn covers(&self, now: Time, namespace: &str, service: &str, incident_type: &str) -> bool {
        now >= self.start
            && now < self.end
            && self.namespaces.as_ref().is_none_or(|n| n.contains(namespace))
            && self.services.as_ref().is_none_or(|s| s.contains(service))
            && (self.incident_types.is_empty() || self.incident_types.contains(incident_type))
    }
}

impl Guardrails {
    /// Whether automation may touch `namespace`.
    pub fn namespace_allowed(&self, namespace: &str) -> bool {
        self.namespaces.as_ref().is_none_or(|n| n.contains(namespace))
    }
}

/// A loaded policy and the warnings its file produced.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub policy: Policy,
    pub warnings: Vec<Diagnostic>,
}

impl Policy {
    /// The same policy with every `auto_execute` off: what the `recommend` arm of a
    /// simulation runs (every page carries the suggested command, nothing is executed).
    /// Turning automation off breaks no rule, so this needs no second validation.
    pub fn recommend_only(&self) -> Policy {
        let mut p = self.clone();
        for r in p.remediations.values_mut() {
            r.auto_execute = false;
        }
        let mut written = (*self.written).clone();
        for r in written.remediation_policies.iter_mut().flatten().chain(written.remediation_policy.as_mut()) {
            r.auto_execute = false;
        }
        p.written = std::sync::Arc::new(written);
        p
    }

    /// This policy with one setting changed, validated as a file with that value would be.
    pub fn with(&self, setting: &Setting) -> Result<Policy, SettingError> {
        self.with_warnings(setting).map(|(p, _)| p)
    }

    /// [`Policy::with`], and the warnings the file with that value would get (what
    /// `check --strict` refuses), in the same words.
    pub fn with_warnings(&self, setting: &Setting) -> Result<(Policy, Vec<String>), SettingError> {
        let mut written = (*self.written).clone();
        setting.write(&mut written).map_err(SettingError::NoSuchType)?;
        let (policy, problems) = validate::validate(&written);
        let (warnings, errors): (Vec<_>, Vec<_>) = problems.into_iter().partition(|p| p.warning);
        let say = |p| describe(&written, p);
        match policy {
            Some(p) => Ok((p, warnings.into_iter().map(say).collect())),
            None => Err(SettingError::Refused(errors.into_iter().map(say).collect())),
        }
    }

    /// The warnings this policy's own file gets, in [`Policy::with_warnings`]'s words.
    pub fn warnings(&self) -> Vec<String> {
        let (_, problems) = validate::validate(&self.written);
        problems.into_iter().filter(|p| p.warning).map(|p| describe(&self.written, p)).collect()
    }

    /// One remediation per incident type, ordered by type.
    pub fn remediations(&self) -> &BTreeMap<String, Remediation> {
        &self.remediations
    }

    pub fn guardrails(&self) -> &Guardrails {
        &self.guardrails
    }

    /// Where escalations go, when the file has a `channels:` section.
    pub fn channels(&self) -> Option<&crate::escalate::channels::Channels> {
        self.channels.as_ref()
    }

    /// Incident types the file declares its own classifier produces.
    pub fn custom_incident_types(&self) -> &BTreeSet<String> {
        &self.custom_incident_types
    }

    /// Read and validate a policy file. Every problem comes back at once, located.
    pub fn load(path: &Path) -> Result<Loaded, Report> {
        crate::diag::load_with(path, Policy::from_yaml)
    }

    /// Validate policy text; `path` names it in diagnostics.
    pub fn from_yaml(path: &Path, text: &str) -> Result<Loaded, Vec<Diagnostic>> {
        yaml::load_validated(path, text, "a policy with `remediation_policies:`", validate::validate)
            .map(|(policy, warnings)| Loaded { policy, warnings })
    }

    /// The policy's identity: `sha256:` and the hex digest of its canonical JSON form.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("a policy always serializes");
        format!("sha256:{}", hex::encode(Sha256::digest(&canonical)))
    }

    pub fn remediation(&self, incident_type: &str) -> Option<&Remediation> {
        self.remediations.get(incident_type)
    }

    /// Whether the policy as written may ever act on `incident_type` alone: its remediation
    /// says `auto_execute: true` and `guardrails.never_auto` does not list it.
    pub fn auto_executes(&self, incident_type: &str) -> bool {
        self.remediation(incident_type).is_some_and(|r| r.auto_execute)
            && !self.guardrails.never_auto.contains(incident_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LESSON: &str = "remediation_policy:
  incident_type: high-memory-leak
  detection_signal: OOMKilled
  auto_execute: true
  confidence_threshold: 0.92   # AI must be 92%+ confident before executing
  max_attempts: 2              # never retry more than twice
  cooldown_after_action: 10m  # suppress re-trigger for 10 minutes
  verification_window: 5m     # check error rate in this window after action
  rollback_if_failed: true    # escalate to human if verification fails
  escalation_channel: pagerduty-p1
";

    #[test]
    fn the_lessons_single_mapping_is_a_policy_of_one() {
        let p = Policy::from_yaml(Path::new("lesson.yaml"), LESSON).unwrap().policy;
        assert_eq!(p.remediations.len(), 1);
        let r = p.remediation("high-memory-leak").unwrap();
        assert_eq!(r.action, Action::Restart);
        assert_eq!(r.confidence_threshold, 0.92);
        assert_eq!(r.max_attempts, 2);
        assert_eq!(r.cooldown_after_action, Duration::from_secs(600));
        assert_eq!(r.verification_window, Duration::from_secs(300));
        assert_eq!(r.attempt_window, Duration::from_secs(3600));
        assert_eq!(r.escalation_channel, "pagerduty-p1");
    }

    #[test]
    fn fingerprint_ignores_comments_but_not_values() {
        let a = Policy::from_yaml(Path::new("a"), LESSON).unwrap().policy;
        let b = Policy::from_yaml(Path::new("b"), &LESSON.replace("# never retry more than twice", "")).unwrap().policy;
        let c = Policy::from_yaml(Path::new("c"), &LESSON.replace("0.92", "0.93")).unwrap().policy;
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert!(a.fingerprint().starts_with("sha256:") && a.fingerprint().len() == 7 + 64);
    }

    #[test]
    fn shipped_default_policy_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/policy.yaml");
        let loaded = Policy::load(&path).unwrap_or_else(|r| panic!("{r}"));
        let p = loaded.policy;
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        for t in ["memory-leak", "cpu-spike", "bad-deployment", "capacity-loss"] {
            assert!(p.remediation(t).is_some(), "{t} missing");
        }
        assert!(!p.remediation("capacity-loss").unwrap().auto_execute);
        assert!(p.guardrails.namespace_allowed("prod"));
        assert!(!p.guardrails.namespace_allowed("kube-system"));
    }
}
