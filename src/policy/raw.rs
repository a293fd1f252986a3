//! The policy file exactly as written: serde types that refuse unknown fields and check only
//! shape. Meaning (ranges, units, unsafe combinations) is checked once, in `validate`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file: a list of policies (`remediation_policies:`) or the lesson's single
/// mapping (`remediation_policy:`), and the guardrails.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicyFile {
    pub remediation_policies: Option<Vec<RawRemediation>>,
    pub remediation_policy: Option<RawRemediation>,
    pub guardrails: Option<RawGuardrails>,
    /// Where escalations go (`escalation_channel` names one); may also live in a file of its own.
    pub channels: Option<BTreeMap<String, crate::escalate::channels::RawChannel>>,
    /// Incident types a team's own classifier produces, beyond the built-in rules and the
    /// simulator's causes (so `check` does not warn that nothing produces them).
    pub custom_incident_types: Option<Vec<String>>,
}

/// One incident type → one action, with the lesson's field names unchanged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemediation {
    pub incident_type: String,
    pub detection_signal: Option<String>,
    pub auto_execute: bool,
    pub confidence_threshold: f64,
    pub max_attempts: u32,
    pub cooldown_after_action: String,
    pub verification_window: String,
    pub rollback_if_failed: bool,
    pub escalation_channel: String,
    pub action: Option<RawAction>,
    /// The window `max_attempts` counts in (default 1h).
    pub attempt_window: Option<String>,
    pub verify: Option<RawVerify>,
}

/// An action. One flat shape for every kind so a misplaced field gets a precise message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    pub kind: String,
    /// scale: absolute target.
    pub replicas: Option<u32>,
    /// scale: multiply the current replica count.
    pub factor: Option<f64>,
    /// helm-rollback: release name (default: the service name).
    pub release: Option<String>,
    /// helm-rollback: revision (default: the previous one).
    pub revision: Option<u32>,
    /// cache-purge, feature-flag-disable, traffic-shift: the endpoint to call.
    pub url: Option<String>,
    /// feature-flag-disable: the flag to turn off.
    pub flag: Option<String>,
    /// traffic-shift: backend → percent, summing to 100.
    pub weights: Option<BTreeMap<String, u32>>,
}

/// What verification checks after an action (the lesson's hands-on list).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    pub pods_ready: Option<bool>,
    pub no_new_restarts: Option<bool>,
    pub max_error_rate_ratio: Option<f64>,
    pub max_latency_ratio: Option<f64>,
    pub prometheus_query: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuardrails {
    pub emergency_stop: Option<bool>,
    pub namespaces: Option<Vec<String>>,
    pub max_actions_per_hour: Option<u32>,
    pub max_replicas: Option<u32>,
    pub loop_breaker: Option<RawLoopBreaker>,
    pub never_auto: Option<Vec<String>>,
    pub expected_load_events: Option<Vec<RawWindow>>,
    pub change_freezes: Option<Vec<RawWindow>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoopBreaker {
    pub max_actions: u32,
    pub window: String,
}

/// A named time window: a campaign or sale (expected load) or a change freeze.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub name: String,
    pub start: String,
    pub end: String,
    pub namespaces: Option<Vec<String>>,
    pub services: Option<Vec<String>>,
    /// expected load events only: incident types this load explains (default cpu-spike).
    pub incident_types: Option<Vec<String>>,
}
