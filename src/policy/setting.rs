//! One policy setting changed from outside a policy file: a grid's parameter value or a
//! sweep's threshold point.
//!
//! A setting is written into the policy *as written* (the raw file the policy was validated
//! from) and the result goes through the same validation as a file ([`super::Policy::with`]),
//! so a grid or a sweep can never run a policy no file could hold. This module parses only
//! what a value is (a number, a duration's text, a boolean); what it may be is validation's.

use serde::Serialize;

use super::raw::{RawGuardrails, RawLoopBreaker, RawPolicyFile, RawRemediation};

/// The parameters a setting can change, as a grid file names them.
pub const PARAMETERS: &str = "TYPE.confidence_threshold, TYPE.max_attempts, TYPE.cooldown_after_action, TYPE.verification_window, TYPE.attempt_window, TYPE.auto_execute, guardrails.max_actions_per_hour, guardrails.max_replicas, guardrails.loop_breaker.max_actions, guardrails.loop_breaker.window";

/// One setting. Durations keep the text written, which validation parses as a file's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Setting {
    Threshold(String, f64),
    MaxAttempts(String, u32),
    Cooldown(String, String),
    Verification(String, String),
    AttemptWindow(String, String),
    AutoExecute(String, bool),
    MaxActionsPerHour(u32),
    MaxReplicas(u32),
    LoopMaxActions(u32),
    LoopWindow(String),
}

impl Setting {
    /// Read `name: value` as a grid file writes it (`cpu-spike.confidence_threshold: "0.9"`).
    /// Only the value's kind is checked here; its range is checked by [`super::Policy::with`].
    pub fn parse(name: &str, value: &str) -> Result<Setting, String> {
        let num = |v: &str| v.trim().parse::<u32>().map_err(|_| format!("`{v}` is not a whole number"));
        let dur = |v: &str| {
            // Parsed here only to report a bad duration before any policy is touched.
            crate::clock::parse_duration(v).map(|_| v.to_string())
        };
        match name {
            "guardrails.max_actions_per_hour" => num(value).map(Setting::MaxActionsPerHour),
            "guardrails.max_replicas" => num(value).map(Setting::MaxReplicas),
            "guardrails.loop_breaker.max_actions" => num(value).map(Setting::LoopMaxActions),
            "guardrails.loop_breaker.window" => dur(value).map(Setting::LoopWindow),
            _ => {
                let unknown = || format!("unknown parameter `{name}`; known: {PARAMETERS}");
                let (t, field) = name.rsplit_once('.').ok_or_else(unknown)?;
                let t = t.to_string();
                match field {
                    "confidence_threshold" => match value.trim().parse::<f64>() {
                        Ok(x) if x.is_finite() => Ok(Setting::Threshold(t, x)),
                        _ => Err(format!("`{value}` is not a number")),
                    },
                    "max_attempts" => num(value).map(|n| Setting::MaxAttempts(t, n)),
                    "cooldown_after_action" => dur(value).map(|d| Setting::Cooldown(t, d)),
                    "verification_window" => dur(value).map(|d| Setting::Verification(t, d)),
                    "attempt_window" => dur(value).map(|d| Setting::AttemptWindow(t, d)),
                    "auto_execute" => match value.trim() {
                        "true" => Ok(Setting::AutoExecute(t, true)),
                        "false" => Ok(Setting::AutoExecute(t, false)),
                        _ => Err(format!("`{value}` is not true or false")),
                    },
                    _ => Err(unknown()),
                }
            }
        }
    }

    /// The incident type a per-type setting names.
    fn incident_type(&self) -> Option<&str> {
        match self {
            Setting::Threshold(t, _)
            | Setting::MaxAttempts(t, _)
            | Setting::Cooldown(t, _)
            | Setting::Verification(t, _)
            | Setting::AttemptWindow(t, _)
            | Setting::AutoExecute(t, _) => Some(t),
            _ => None,
        }
    }

    /// Write the setting into the file as written. `Err` (the type) when it names a type the
    /// policy has no entry for.
    pub(super) fn write(&self, raw: &mut RawPolicyFile) -> Result<(), String> {
        if let Some(t) = self.incident_type() {
            let entries = raw.remediation_policies.iter_mut().flatten().chain(raw.remediation_policy.as_mut());
            let mut found = false;
            for r in entries.filter(|r| r.incident_type == t) {
                found = true;
                self.write_remediation(r);
            }
            return if found { Ok(()) } else { Err(t.to_string()) };
        }
        let g = raw.guardrails.get_or_insert_with(RawGuardrails::default);
        let default_breaker = || RawLoopBreaker {
            max_actions: super::validate::DEFAULT_LOOP_MAX_ACTIONS,
            window: super::validate::DEFAULT_WINDOW_TEXT.to_string(),
        };
        match self {
            Setting::MaxActionsPerHour(n) => g.max_actions_per_hour = Some(*n),
            Setting::MaxReplicas(n) => g.max_replicas = Some(*n),
            Setting::LoopMaxActions(n) => g.loop_breaker.get_or_insert_with(default_breaker).max_actions = *n,
            Setting::LoopWindow(d) => g.loop_breaker.get_or_insert_with(default_breaker).window = d.clone(),
            _ => {}
        }
        Ok(())
    }

    fn write_remediation(&self, r: &mut RawRemediation) {
        match self {
            Setting::Threshold(_, x) => r.confidence_threshold = *x,
            Setting::MaxAttempts(_, n) => r.max_attempts = *n,
            Setting::Cooldown(_, d) => r.cooldown_after_action = d.clone(),
            Setting::Verification(_, d) => r.verification_window = d.clone(),
            Setting::AttemptWindow(_, d) => r.attempt_window = Some(d.clone()),
            Setting::AutoExecute(_, b) => r.auto_execute = *b,
            _ => {}
        }
    }
}
