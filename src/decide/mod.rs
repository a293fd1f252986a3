//! The decision pipeline: given `now`, an incident and the state of past actions, decide
//! whether to act, and say why.
//!
//! Owns [`Incident`], [`Decision`], [`State`] and the guardrail order. It is sans-IO: no
//! clock (it is handed `now`), no files, no network, and it does not know which mode drives
//! it, so simulation, replay, shadow and live get byte-identical decisions from the same
//! inputs. The only way state changes is [`State::record`] (an executed decision) and the
//! explicit breaker and emergency-stop switches.
//!
//! Guardrails are checked in this order; the first that applies decides:
//! 1. no policy for the incident type → `no-policy`
//! 2. namespace outside `guardrails.namespaces` → `blocked` (nothing outside is ever touched)
//! 3. emergency stop (policy file or runtime switch) → `blocked`
//! 4. confidence below the threshold → `low-confidence`
//! 5. `auto_execute: false` → `recommend`
//! 6. service breaker tripped (an action made things worse) → `blocked` until a person resets it
//! 7. change freeze → `blocked`; 8. expected load event explains the incident → `blocked`
//! 9. cooldown after any action on the service → `cooldown-active`
//! 10. attempts for (namespace, service, type) within the attempt window → `max-attempts`
//! 11. loop breaker (actions on the service within its window) → `blocked`
//! 12. actions in the last hour across the policy → `blocked`
//! 13. a scale that would add no capacity → `blocked`
//!
//! Otherwise → `execute`. Everything not executed escalates.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{Time, format_duration};
use crate::policy::{Action, Policy, Remediation};

/// One incident as the pipeline sees it: what was classified, where, and how sure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    pub at: Time,
    pub service: String,
    pub namespace: String,
    pub incident_type: String,
    pub confidence: f64,
    /// The detection signal, e.g. `OOMKilled`, `http_5xx_rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Current replica count, when known (needed to scale by a factor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Caller's identifier, echoed in the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What kind of object the service is, where known (`None`: a Deployment): commands are
    /// built for it, and an action it does not support is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<crate::policy::Target>,
}

impl Incident {
    /// Checks that serde cannot: confidence in [0, 1], names present.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.confidence) {
            return Err(format!("confidence {} is outside [0, 1]", self.confidence));
        }
        for (field, v) in
            [("service", &self.service), ("namespace", &self.namespace), ("incident_type", &self.incident_type)]
        {
            if v.trim().is_empty() {
                return Err(format!("`{field}` is empty"));
            }
            // Names go into the commands a person copies into a shell and into Kubernetes
            // API paths: a control character or a space there is an attack or a mistake.
            if let Some(c) = v.chars().find(|c| c.is_control() || c.is_whitespace()) {
                return Err(format!("`{field}` contains {:?}: names have no spaces or control characters", c));
            }
            if v.len() > 253 {
                return Err(format!("`{field}` is {} bytes long; Kubernetes names have at most 253", v.len()));
            }
        }
        // The service is a Deployment's name and the namespace a namespace's (RFC 1123): they
        // go unquoted into `kubectl … deployment/<service> -n <namespace>` and API paths.
        let dns = |s: &str, dots: bool| {
            s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.'))
                && s.split('.').all(|part| !part.is_empty() && !part.starts_with('-') && !part.ends_with('-'))
        };
        if !dns(&self.service, true) {
            return Err(format!(
                "service `{}` is not a Kubernetes name: lowercase letters, digits, '-' and '.' between them",
                self.service
            ));
        }
        if !dns(&self.namespace, false) || self.namespace.len() > 63 {
            return Err(format!(
                "namespace `{}` is not a Kubernetes namespace: lowercase letters, digits and '-', at most 63",
                self.namespace
            ));
        }
        Ok(())
    }
}

/// What the pipeline decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Execute,
    Recommend,
    LowConfidence,
    NoPolicy,
    CooldownActive,
    MaxAttempts,
    Blocked,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Execute,
        Status::Recommend,
        Status::LowConfidence,
        Status::NoPolicy,
        Status::CooldownActive,
        Status::MaxAttempts,
        Status::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Execute => "execute",
            Status::Recommend => "recommend",
            Status::LowConfidence => "low-confidence",
            Status::NoPolicy => "no-policy",
            Status::CooldownActive => "cooldown-active",
            Status::MaxAttempts => "max-attempts",
            Status::Blocked => "blocked",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which guardrail blocked a decision (for `blocked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guardrail {
    Namespaces,
    EmergencyStop,
    Breaker,
    ChangeFreeze,
    ExpectedLoad,
    LoopBreaker,
    MaxActionsPerHour,
    MaxReplicas,
    /// The action does not apply to the kind of object the service is (a restart of a Node).
    Target,
}

/// One decision, in the shape `decide` prints and the audit log stores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub at: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub service: String,
    pub namespace: String,
    pub incident_type: String,
    pub confidence: f64,
    pub status: Status,
    pub escalate: bool,
    /// The command being executed (status `execute` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// What a person should consider running (not executed, a policy matched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_action: Option<String>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<Guardrail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation_channel: Option<String>,
    /// The action to carry out (status `execute`), for executors.
    #[serde(skip)]
    pub action: Option<Action>,
    /// The replica count a scale action sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_replicas: Option<u32>,
}

impl Decision {
    pub fn executed(&self) -> bool {
        self.status == Status::Execute
    }
}

/// (namespace, service): what cooldowns, loop breakers and breakers are kept per.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    pub namespace: String,
    pub service: String,
}

impl ServiceKey {
    pub fn new(namespace: &str, service: &str) -> Self {
        ServiceKey { namespace: namespace.to_string(), service: service.to_string() }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.service)
    }
}

#[derive(Debug, Clone, PartialEq)]
struct ActionRecord {
    at: Time,
    incident_type: String,
    kind: &'static str,
    cooldown_until: Time,
}

/// What the pipeline remembers between decisions. Ordered maps only: iteration order never
/// depends on hashing. Old records are pruned so memory stays bounded in long live runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    runtime_stop: bool,
    per_service: BTreeMap<ServiceKey, VecDeque<ActionRecord>>,
    all_actions: VecDeque<Time>,
    tripped: BTreeMap<ServiceKey, String>,
}

const HOUR: Duration = Duration::from_secs(3600);

impl State {
    pub fn new() -> Self {
        State::default()
    }

    /// The runtime emergency stop (a ConfigMap or file in live mode), on top of the policy's.
    pub fn set_emergency_stop(&mut self, on: bool) {
        self.runtime_stop = on;
    }

    pub fn emergency_stop(&self) -> bool {
        self.runtime_stop
    }

    /// Stop automation on a service after an action made things worse. Only
    /// [`State::reset_breaker`] (a person) lifts it.
    pub fn trip_breaker(&mut self, key: ServiceKey, why: impl Into<String>) {
        self.tripped.insert(key, why.into());
    }

    pub fn reset_breaker(&mut self, key: &ServiceKey) -> bool {
        self.tripped.remove(key).is_some()
    }

    pub fn breaker(&self, key: &ServiceKey) -> Option<&str> {
        self.tripped.get(key).map(String::as_str)
    }

    /// Actions recorded on a service at or after `since`.
    pub fn actions_since(&self, key: &ServiceKey, since: Time) -> usize {
        self.per_service.get(key).map_or(0, |q| q.iter().filter(|r| r.at >= since).count())
    }

    /// Remember an executed decision. Decisions not executed change nothing.
    pub fn record(&mut self, policy: &Policy, d: &Decision) {
        if d.executed() {
            self.record_action(policy, ServiceKey::new(&d.namespace, &d.service), &d.incident_type, d.at);
        }
    }

    /// Remember an action executed on `key` for `incident_type` at `at`: what
    /// [`State::record`] keeps of an executed decision, and what a restarted process reads
    /// back from its audit log (in log order), so a restart forgets no cooldown, attempt or
    /// hourly cap.
    pub fn record_action(&mut self, policy: &Policy, key: ServiceKey, incident_type: &str, at: Time) {
        let Some(rem) = policy.remediation(incident_type) else {
            return;
        };
        let horizon = horizon(policy);
        let q = self.per_service.entry(key).or_default();
        q.push_back(ActionRecord {
            at,
            incident_type: incident_type.to_string(),
            kind: rem.action.kind(),
            cooldown_until: at.saturating_add(rem.cooldown_after_action),
        });
        let cutoff = at.saturating_sub(horizon);
        while q.front().is_some_and(|r| r.at < cutoff && r.cooldown_until <= at) {
            q.pop_front();
        }
        self.all_actions.push_back(at);
        let hour_ago = at.saturating_sub(HOUR);
        while self.all_actions.front().is_some_and(|t| *t < hour_ago) {
            self.all_actions.pop_front();
        }
    }
}

/// The longest window any rule looks back over; records older than this are forgotten.
fn horizon(policy: &Policy) -> Duration {
    let per_type =
        policy.remediations().values().flat_map(|r| [r.attempt_window, r.cooldown_after_action]).max().unwrap_or(HOUR);
    per_type.max(policy.guardrails().loop_breaker.window).max(HOUR)
}

/// A policy and its state: the pipeline every mode drives.
#[derive(Debug, Clone)]
pub struct Pipeline {
    policy: Policy,
    state: State,
}

impl Pipeline {
    pub fn new(policy: Policy) -> Self {
        Pipeline { policy, state: State::new() }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// Decide on one incident at `now` and remember the decision.
    pub fn decide(&mut self, now: Time, incident: &Incident) -> Decision {
        let d = evaluate(&self.policy, &self.state, now, incident);
        self.state.record(&self.policy, &d);
        d
    }
}

fn ago(now: Time, then: Time) -> String {
    format_duration(Duration::from_secs(now.since(then).as_secs()))
}

/// The pure decision: no state change. See the module docs for the order of checks.
pub fn evaluate(policy: &Policy, state: &State, now: Time, inc: &Incident) -> Decision {
    let _span = tracing::debug_span!(
        "decide",
        service = %inc.service,
        namespace = %inc.namespace,
        incident_type = %inc.incident_type,
        confidence = inc.confidence
    )
    .entered();
    let d = evaluate_inner(policy, state, now, inc);
    tracing::debug!(status = %d.status, reason = %d.reason, "decision");
    d
}

fn evaluate_inner(policy: &Policy, state: &State, now: Time, inc: &Incident) -> Decision {
    let g = &policy.guardrails();
    let mut d = Decision {
        at: now,
        id: inc.id.clone(),
        service: inc.service.clone(),
        namespace: inc.namespace.clone(),
        incident_type: inc.incident_type.clone(),
        confidence: inc.confidence,
        status: Status::NoPolicy,
        escalate: true,
        command: None,
        suggested_action: None,
        reason: String::new(),
        guardrail: None,
        escalation_channel: None,
        action: None,
        target_replicas: None,
    };
    let Some(rem) = policy.remediation(&inc.incident_type) else {
        let known: Vec<&str> = policy.remediations().keys().map(String::as_str).collect();
        d.reason = format!(
            "no policy for incident type `{}` (the policy covers: {}); a person must diagnose it",
            inc.incident_type,
            known.join(", ")
        );
        return d;
    };
    d.escalation_channel = Some(rem.escalation_channel.clone());

    // The command, or why there is no sensible one (a scale that adds nothing).
    let target = match &rem.action {
        Action::Scale { by } => Some(Action::scale_target(by, inc.replicas, g.max_replicas)),
        _ => None,
    };
    let replicas = target.as_ref().and_then(|t| t.as_ref().ok().copied());
    let command = match rem.action.command_on(inc.target, &inc.service, &inc.namespace, replicas) {
        Ok(c) => c,
        Err(why) => {
            // Nothing to suggest: the runbook's action cannot be typed for this object.
            d.status = Status::Blocked;
            d.guardrail = Some(Guardrail::Target);
            d.reason = why;
            return d;
        }
    };
    d.suggested_action = Some(command.clone());
    d.target_replicas = replicas;
    let key = ServiceKey::new(&inc.namespace, &inc.service);
    let rt = rem.confidence_threshold;

    let blocked = |d: &mut Decision, guard: Guardrail, reason: String| {
        d.status = Status::Blocked;
        d.guardrail = Some(guard);
        d.reason = reason;
    };

    if !g.namespace_allowed(&inc.namespace) {
        let allowed: Vec<&str> = g.namespaces.iter().flatten().map(String::as_str).collect();
        blocked(
            &mut d,
            Guardrail::Namespaces,
            format!(
                "namespace `{}` is outside guardrails.namespaces [{}]; automation never touches it",
                inc.namespace,
                allowed.join(", ")
            ),
        );
        return d;
    }
    if g.emergency_stop || state.runtime_stop {
        let source =
            if g.emergency_stop { "the policy's guardrails.emergency_stop" } else { "the runtime emergency stop" };
        blocked(
            &mut d,
            Guardrail::EmergencyStop,
            format!("{source} is on; no automated action runs until it is cleared"),
        );
        return d;
    }
    if inc.confidence < rt {
        d.status = Status::LowConfidence;
        d.reason = format!(
            "confidence {:.2} is below the {} threshold {:.2}; a person should confirm the diagnosis before running the suggested action",
            inc.confidence, rem.incident_type, rt
        );
        return d;
    }
    if !rem.auto_execute {
        d.status = Status::Recommend;
        d.reason = format!(
            "{} at confidence {:.2} (threshold {:.2}) is recommend-only (auto_execute: false); a person runs the suggested action",
            rem.incident_type, inc.confidence, rt
        );
        return d;
    }
    if let Some(why) = state.breaker(&key) {
        blocked(
            &mut d,
            Guardrail::Breaker,
            format!(
                "automation is stopped on {key} since an earlier action made things worse ({why}); a person must reset it"
            ),
        );
        return d;
    }
    if let Some(w) = g.change_freezes.iter().find(|w| w.covers(now, &inc.namespace, &inc.service, &inc.incident_type)) {
        blocked(&mut d, Guardrail::ChangeFreeze, format!("change freeze `{}` is in force until {}", w.name, w.end));
        return d;
    }
    if let Some(w) =
        g.expected_load_events.iter().find(|w| w.covers(now, &inc.namespace, &inc.service, &inc.incident_type))
    {
        blocked(
            &mut d,
            Guardrail::ExpectedLoad,
            format!(
                "expected load event `{}` (until {}) explains {} on {key}; known traffic is not an anomaly, so nothing runs on its own",
                w.name, w.end, inc.incident_type
            ),
        );
        return d;
    }
    let history = state.per_service.get(&key);
    if let Some(last) = history.and_then(|q| q.iter().rev().find(|r| r.cooldown_until > now)) {
        d.status = Status::CooldownActive;
        d.reason = format!(
            "{key} was acted on {} ago ({} for {}); cooldown lasts until {}, so a repeat would mask whether that action worked",
            ago(now, last.at),
            last.kind,
            last.incident_type,
            last.cooldown_until
        );
        return d;
    }
    if let Some(err) = attempts_exhausted(rem, history, now) {
        d.status = Status::MaxAttempts;
        d.reason = format!("{err} on {key}; automation has not fixed it, a person must look");
        return d;
    }
    let lb = &g.loop_breaker;
    let recent = state.actions_since(&key, now.saturating_sub(lb.window));
    if recent >= lb.max_actions as usize {
        blocked(
            &mut d,
            Guardrail::LoopBreaker,
            format!(
                "loop breaker: {recent} actions on {key} within {} (limit {}); repeated remediation is hiding a cause",
                format_duration(lb.window),
                lb.max_actions
            ),
        );
        return d;
    }
    let hour_ago = now.saturating_sub(HOUR);
    let last_hour = state.all_actions.iter().filter(|t| **t >= hour_ago).count();
    if last_hour >= g.max_actions_per_hour as usize {
        blocked(
            &mut d,
            Guardrail::MaxActionsPerHour,
            format!("{last_hour} actions in the last hour across the policy (limit {})", g.max_actions_per_hour),
        );
        return d;
    }
    if let Some(Err(why)) = target {
        blocked(&mut d, Guardrail::MaxReplicas, why);
        return d;
    }

    let attempt = history.map_or(0, |q| count_attempts(rem, q, now)) + 1;
    d.status = Status::Execute;
    d.escalate = false;
    d.command = Some(command);
    d.suggested_action = None;
    d.action = Some(rem.action.clone());
    d.reason = format!(
        "{} at confidence {:.2} ≥ threshold {:.2}; attempt {attempt} of {} within {}; verifying for {}{}",
        rem.incident_type,
        inc.confidence,
        rt,
        rem.max_attempts,
        format_duration(rem.attempt_window),
        format_duration(rem.verification_window),
        if rem.rollback_if_failed && rem.action.reversible() {
            ", undone and escalated if it fails"
        } else {
            ", escalated if it fails"
        }
    );
    d
}

fn count_attempts(rem: &Remediation, q: &VecDeque<ActionRecord>, now: Time) -> usize {
    let since = now.saturating_sub(rem.attempt_window);
    q.iter().filter(|r| r.at >= since && r.incident_type == rem.incident_type).count()
}

fn attempts_exhausted(rem: &Remediation, history: Option<&VecDeque<ActionRecord>>, now: Time) -> Option<String> {
    let used = history.map_or(0, |q| count_attempts(rem, q, now));
    (used >= rem.max_attempts as usize).then(|| {
        format!(
            "{used} of max_attempts {} already used for {} within {}",
            rem.max_attempts,
            rem.incident_type,
            format_duration(rem.attempt_window)
        )
    })
}
