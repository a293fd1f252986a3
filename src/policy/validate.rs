//! Raw policy → validated [`Policy`]: every rule about meaning lives here, and every broken
//! rule becomes a located [`Problem`] (all of them, not the first).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::action::{Action, KINDS, ScaleBy, fill};
use super::raw::{RawAction, RawGuardrails, RawPolicyFile, RawRemediation, RawVerify, RawWindow};
use super::{Guardrails, LoopBreaker, Policy, Remediation, VerifySpec, Window};
use crate::clock::Time;
use crate::diag::{Code, did_you_mean};
use crate::yaml::{Problem, Problems, Seg, at};

/// Lesson: "identity, data-loss, or security-related incidents" are never auto-remediated early.
const DEFAULT_NEVER_AUTO: [&str; 3] = ["identity", "data-loss", "security"];
/// DESIGN.md's example guardrails.
const DEFAULT_MAX_ACTIONS_PER_HOUR: u32 = 20;
const DEFAULT_MAX_REPLICAS: u32 = 12;
/// Same as the `loops` metric: ≥ 3 actions on one service within 1 h.
pub(super) const DEFAULT_LOOP_MAX_ACTIONS: u32 = 3;
const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);
/// [`DEFAULT_WINDOW`] as a file writes it.
pub(super) const DEFAULT_WINDOW_TEXT: &str = "1h";

pub(super) fn validate(raw: &RawPolicyFile) -> (Option<Policy>, Vec<Problem>) {
    let mut v = Validator { problems: Problems::default() };
    let guardrails = v.guardrails(raw.guardrails.as_ref());

    let entries: Vec<(Vec<Seg>, &RawRemediation, bool)> = match (&raw.remediation_policies, &raw.remediation_policy) {
        (Some(_), Some(_)) => {
            v.err(
                vec![Seg::key("remediation_policy")],
                Code::Conflict,
                "both `remediation_policies` and `remediation_policy` are set",
            )
            .hint("use `remediation_policies:` (a list) and move the single mapping into it");
            Vec::new()
        }
        (None, None) => {
            v.err(vec![], Code::MissingField, "no policies: expected `remediation_policies:` (a list)")
                .hint("see scenarios/policy.yaml for a complete example");
            Vec::new()
        }
        (Some(list), None) => {
            if list.is_empty() {
                v.err(vec![Seg::key("remediation_policies")], Code::BadValue, "`remediation_policies` is empty")
                    .hint("add at least one entry with an incident_type and an action");
            }
            list.iter()
                .enumerate()
                .map(|(i, r)| (vec![Seg::key("remediation_policies"), Seg::Index(i)], r, false))
                .collect()
        }
        (None, Some(one)) => vec![(vec![Seg::key("remediation_policy")], one, true)],
    };

    let entries_paths: Vec<(Vec<Seg>, &RawRemediation, bool)> = entries.clone();
    let mut remediations = BTreeMap::new();
    for (path, r, single) in entries {
        if let Some(rem) = v.remediation(&path, r, single, &guardrails) {
            if remediations.contains_key(&rem.incident_type) {
                v.err(
                    at(&path, "incident_type"),
                    Code::Duplicate,
                    format!("incident type `{}` has a policy already", rem.incident_type),
                )
                .hint("keep one entry per incident type");
            } else {
                remediations.insert(rem.incident_type.clone(), rem);
            }
        }
    }

    // Warnings: legal, but worth a second look before trusting it at 3am.
    if guardrails.namespaces.is_none() {
        v.warn(
            vec![Seg::key("guardrails")],
            Code::BadValue,
            "no `guardrails.namespaces`: this policy may act in every namespace",
        )
        .hint("list the namespaces automation may touch, e.g. `namespaces: [prod]`");
    }

    let channels = raw.channels.as_ref().and_then(|c| crate::escalate::channels::validate(&mut v.problems, c));
    if let Some(c) = &channels {
        for (path, r, _) in &entries_paths {
            if !c.channels.contains_key(&r.escalation_channel) {
                let hint = match did_you_mean(&r.escalation_channel, c.channels.keys().map(String::as_str)) {
                    Some(s) => format!(
                        "did you mean `{s}`? channels: {}",
                        c.channels.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    None => format!(
                        "define it under `channels:` (defined: {})",
                        c.channels.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                };
                v.err(
                    at(path, "escalation_channel"),
                    Code::BadValue,
                    format!("no channel `{}` under `channels:`", r.escalation_channel),
                )
                .hint(hint);
            }
        }
    }

    let mut custom_incident_types = BTreeSet::new();
    for (i, name) in raw.custom_incident_types.iter().flatten().enumerate() {
        let path = vec![Seg::key("custom_incident_types"), Seg::Index(i)];
        v.name(path.clone(), name, "incident type");
        if !custom_incident_types.insert(name.clone()) {
            v.warn(path, Code::Duplicate, format!("`{name}` is declared twice"));
        }
    }

    let ok = !v.problems.list.iter().any(|p| !p.warning);
    let policy = ok.then(|| Policy {
        remediations,
        guardrails,
        channels,
        custom_incident_types,
        written: std::sync::Arc::new(raw.clone()),
    });
    (policy, v.problems.list)
}

struct Validator {
    problems: Problems,
}

impl std::ops::Deref for Validator {
    type Target = Problems;
    fn deref(&self) -> &Problems {
        &self.problems
    }
}

impl std::ops::DerefMut for Validator {
    fn deref_mut(&mut self) -> &mut Problems {
        &mut self.problems
    }
}

impl Validator {
    fn time(&mut self, path: Vec<Seg>, s: &str) -> Option<Time> {
        match Time::parse_rfc3339(s) {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(path, Code::BadValue, e);
                None
            }
        }
    }

    fn name(&mut self, path: Vec<Seg>, s: &str, what: &str) -> bool {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if !ok {
            let example = match what {
                "namespace name" => "prod",
                "service name" => "payment-api",
                "helm release name" => "checkout-api",
                _ => "memory-leak",
            };
            self.err(path, Code::BadValue, format!("`{s}` is not a valid {what}"))
                .hint(format!("use lowercase letters, digits and '-' (at most 63 characters), e.g. `{example}`"));
        }
        ok
    }

    fn names(&mut self, path: Vec<Seg>, list: &[String], what: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (i, s) in list.iter().enumerate() {
            let mut p = path.clone();
            p.push(Seg::Index(i));
            if self.name(p, s, what) {
                out.insert(s.clone());
            }
        }
        out
    }

    fn guardrails(&mut self, raw: Option<&RawGuardrails>) -> Guardrails {
        let base = vec![Seg::key("guardrails")];
        let default = RawGuardrails::default();
        let g = raw.unwrap_or(&default);
        let namespaces = g.namespaces.as_ref().map(|ns| {
            if ns.is_empty() {
                self.err(at(&base, "namespaces"), Code::BadValue, "`namespaces` is empty: this policy could never act")
                    .hint("list the namespaces automation may touch; to stop all actions set `emergency_stop: true`");
            }
            self.names(at(&base, "namespaces"), ns, "namespace name")
        });
        let max_actions_per_hour = g.max_actions_per_hour.unwrap_or(DEFAULT_MAX_ACTIONS_PER_HOUR);
        if max_actions_per_hour == 0 {
            self.err(at(&base, "max_actions_per_hour"), Code::BadValue, "`max_actions_per_hour` must be at least 1")
                .hint("to stop all actions set `emergency_stop: true`");
        }
        let max_replicas = g.max_replicas.unwrap_or(DEFAULT_MAX_REPLICAS);
        if max_replicas == 0 {
            self.err(at(&base, "max_replicas"), Code::BadValue, "`max_replicas` must be at least 1");
        }
        let loop_breaker = match &g.loop_breaker {
            None => LoopBreaker { max_actions: DEFAULT_LOOP_MAX_ACTIONS, window: DEFAULT_WINDOW },
            Some(lb) => {
                let lb_path = at(&base, "loop_breaker");
                if lb.max_actions == 0 {
                    self.err(at(&lb_path, "max_actions"), Code::BadValue, "`max_actions` must be at least 1");
                }
                let window = self.duration(at(&lb_path, "window"), &lb.window, true).unwrap_or(DEFAULT_WINDOW);
                LoopBreaker { max_actions: lb.max_actions, window }
            }
        };
        let never_auto = match &g.never_auto {
            None => DEFAULT_NEVER_AUTO.iter().map(|s| s.to_string()).collect(),
            Some(list) => self.names(at(&base, "never_auto"), list, "incident type"),
        };
        let expected_load_events =
            self.windows(at(&base, "expected_load_events"), g.expected_load_events.as_deref(), true);
        let change_freezes = self.windows(at(&base, "change_freezes"), g.change_freezes.as_deref(), false);
        Guardrails {
            emergency_stop: g.emergency_stop.unwrap_or(false),
            namespaces,
            max_actions_per_hour,
            max_replicas,
            loop_breaker,
            never_auto,
            expected_load_events,
            change_freezes,
        }
    }

    fn windows(&mut self, path: Vec<Seg>, raw: Option<&[RawWindow]>, load: bool) -> Vec<Window> {
        let mut out = Vec::new();
        let mut names = BTreeSet::new();
        for (i, w) in raw.unwrap_or(&[]).iter().enumerate() {
            let mut p = path.clone();
            p.push(Seg::Index(i));
            if !names.insert(w.name.clone()) {
                self.err(at(&p, "name"), Code::Duplicate, format!("a window named `{}` is listed already", w.name))
                    .hint("reasons cite windows by name: give each its own");
            }
            let start = self.time(at(&p, "start"), &w.start);
            let end = self.time(at(&p, "end"), &w.end);
            if w.name.trim().is_empty() {
                self.err(at(&p, "name"), Code::BadValue, "`name` is empty")
                    .hint("name the event so reasons can cite it");
            }
            if let (Some(s), Some(e)) = (start, end)
                && e <= s
            {
                self.err(
                    at(&p, "end"),
                    Code::BadValue,
                    format!("`end` ({}) is not after `start` ({})", w.end, w.start),
                );
            }
            let namespaces = w.namespaces.as_ref().map(|n| self.names(at(&p, "namespaces"), n, "namespace name"));
            let services = w.services.as_ref().map(|n| self.names(at(&p, "services"), n, "service name"));
            let incident_types = match (&w.incident_types, load) {
                (Some(t), true) => self.names(at(&p, "incident_types"), t, "incident type"),
                (Some(_), false) => {
                    self.err(
                        at(&p, "incident_types"),
                        Code::Conflict,
                        "a change freeze applies to every incident type",
                    )
                    .hint("remove `incident_types`; it only applies to expected_load_events");
                    BTreeSet::new()
                }
                // Known load is what a classifier misreads as a CPU anomaly (the lesson's campaign).
                (None, true) => ["cpu-spike".to_string()].into_iter().collect(),
                (None, false) => BTreeSet::new(),
            };
            if let (Some(start), Some(end)) = (start, end) {
                out.push(Window { name: w.name.clone(), start, end, namespaces, services, incident_types });
            }
        }
        out
    }

    fn remediation(&mut self, path: &[Seg], r: &RawRemediation, single: bool, g: &Guardrails) -> Option<Remediation> {
        let before = self.problems.list.len();
        self.name(at(path, "incident_type"), &r.incident_type, "incident type");
        let t = r.confidence_threshold;
        if !(0.0..=1.0).contains(&t) {
            self.err(
                at(path, "confidence_threshold"),
                Code::BadValue,
                format!("confidence_threshold {t} is outside [0, 1]"),
            )
            .hint(if (10.0..=100.0).contains(&t) {
                format!("write a fraction, not a percentage: {}", t / 100.0)
            } else {
                "a confidence is a probability between 0 and 1, e.g. 0.92".to_string()
            });
        }
        if r.max_attempts == 0 {
            self.err(at(path, "max_attempts"), Code::BadValue, "`max_attempts` must be at least 1")
                .hint("to never act on this type set `auto_execute: false` (recommend-only)");
        }
        let cooldown = self.duration(at(path, "cooldown_after_action"), &r.cooldown_after_action, false);
        let verification = self.duration(at(path, "verification_window"), &r.verification_window, true);
        // Legal, and almost always a slip: said so (`check --strict` refuses them).
        if r.auto_execute && (0.0..0.5).contains(&t) {
            self.warn(
                at(path, "confidence_threshold"),
                Code::BadValue,
                format!(
                    "confidence_threshold {} acts on classifications more likely wrong than right",
                    if t != 0.0 && t < 1e-4 { format!("{t:e}") } else { t.to_string() }
                ),
            )
            .hint("automation should act only when the classifier is sure, e.g. 0.9");
        }
        if cooldown == Some(Duration::ZERO) {
            self.warn(
                at(path, "cooldown_after_action"),
                Code::BadValue,
                "`cooldown_after_action: 0s` lets an action repeat at once",
            )
            .hint("a restart loop is one alert away; e.g. 10m");
        }
        for (key, d) in [("cooldown_after_action", cooldown), ("verification_window", verification)] {
            if d.is_some_and(|d| d > Duration::from_secs(86_400)) {
                self.warn(at(path, key), Code::BadValue, format!("`{key}` is over a day"))
                    .hint("windows are minutes: a verification that waits a day verifies nothing at 3am");
            }
        }
        let attempt_window = match &r.attempt_window {
            Some(s) => self.duration(at(path, "attempt_window"), s, true),
            None => Some(DEFAULT_WINDOW),
        };
        if r.escalation_channel.trim().is_empty() {
            self.err(at(path, "escalation_channel"), Code::BadValue, "`escalation_channel` is empty")
                .hint("name where escalations go, e.g. `pagerduty-p1`");
        }
        if r.auto_execute && g.never_auto.contains(&r.incident_type) {
            self.err(
                at(path, "auto_execute"),
                Code::Conflict,
                format!("`{}` is listed in guardrails.never_auto and may not be auto-executed", r.incident_type),
            )
            .hint("set `auto_execute: false` (recommend-only), or remove the type from never_auto after review");
        }
        let action = match &r.action {
            Some(a) => self.action(&at(path, "action"), a, g),
            None if single => Some(Action::Restart),
            None => {
                self.err(at(path, "action"), Code::MissingField, "missing field `action`")
                    .hint("add e.g. `action: { kind: restart }`; kinds: restart, scale, rollback, helm-rollback, cache-purge, feature-flag-disable, traffic-shift");
                None
            }
        };
        let verify = self.verify(&at(path, "verify"), r.verify.as_ref());
        if self.errors_since(before) {
            return None;
        }
        Some(Remediation {
            incident_type: r.incident_type.clone(),
            detection_signal: r.detection_signal.clone(),
            auto_execute: r.auto_execute,
            // `-0` and `0` are one threshold: one fingerprint.
            confidence_threshold: r.confidence_threshold + 0.0,
            max_attempts: r.max_attempts,
            attempt_window: attempt_window?,
            cooldown_after_action: cooldown?,
            verification_window: verification?,
            rollback_if_failed: r.rollback_if_failed,
            escalation_channel: r.escalation_channel.clone(),
            action: action?,
            verify,
        })
    }

    fn verify(&mut self, path: &[Seg], raw: Option<&RawVerify>) -> VerifySpec {
        let d = VerifySpec::default();
        let Some(v) = raw else { return d };
        for (key, val) in [("max_error_rate_ratio", v.max_error_rate_ratio), ("max_latency_ratio", v.max_latency_ratio)]
        {
            if let Some(x) = val
                && !(x.is_finite() && x >= 1.0)
            {
                self.err(at(path, key), Code::BadValue, format!("`{key}` {x} must be a number ≥ 1"))
                    .hint("it is a multiple of the pre-incident baseline: 1.1 allows 10% above it");
            }
        }
        VerifySpec {
            pods_ready: v.pods_ready.unwrap_or(d.pods_ready),
            no_new_restarts: v.no_new_restarts.unwrap_or(d.no_new_restarts),
            max_error_rate_ratio: v.max_error_rate_ratio.unwrap_or(d.max_error_rate_ratio),
            max_latency_ratio: v.max_latency_ratio,
            prometheus_query: v.prometheus_query.clone(),
        }
    }

    fn action(&mut self, path: &[Seg], a: &RawAction, g: &Guardrails) -> Option<Action> {
        let kind = a.kind.as_str();
        if !KINDS.contains(&kind) {
            self.err(at(path, "kind"), Code::BadValue, format!("unknown action kind `{kind}`")).hint(
                match did_you_mean(kind, KINDS) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("kinds: {}", KINDS.join(", ")),
                },
            );
            return None;
        }
        // Which fields each kind takes; any other field set is a mistake worth naming.
        let allowed: &[&str] = match kind {
            "scale" => &["replicas", "factor"],
            "helm-rollback" => &["release", "revision"],
            "cache-purge" => &["url"],
            "feature-flag-disable" => &["url", "flag"],
            "traffic-shift" => &["url", "weights"],
            _ => &[],
        };
        let set = [
            ("replicas", a.replicas.is_some()),
            ("factor", a.factor.is_some()),
            ("release", a.release.is_some()),
            ("revision", a.revision.is_some()),
            ("url", a.url.is_some()),
            ("flag", a.flag.is_some()),
            ("weights", a.weights.is_some()),
        ];
        let mut ok = true;
        for (field, present) in set {
            if present && !allowed.contains(&field) {
                ok = false;
                self.err(at(path, field), Code::Conflict, format!("`{field}` does not apply to a `{kind}` action"))
                    .hint(if allowed.is_empty() {
                        format!("`{kind}` takes no settings; remove `{field}`")
                    } else {
                        format!("`{kind}` takes: {}", allowed.join(", "))
                    });
            }
        }
        let mut need = |this: &mut Self, field: &str, v: bool| {
            if !v {
                ok = false;
                this.err(path.to_vec(), Code::MissingField, format!("a `{kind}` action needs `{field}`"));
            }
        };
        match kind {
            "cache-purge" => need(self, "url", a.url.is_some()),
            "feature-flag-disable" => {
                need(self, "url", a.url.is_some());
                need(self, "flag", a.flag.is_some());
            }
            "traffic-shift" => {
                need(self, "url", a.url.is_some());
                need(self, "weights", a.weights.is_some());
            }
            _ => {}
        }
        if let Some(u) = &a.url {
            ok &= self.url(at(path, "url"), u);
        }
        if let Some(f) = &a.flag
            && f.trim().is_empty()
        {
            ok = false;
            self.err(at(path, "flag"), Code::BadValue, "`flag` is empty");
        }
        if let Some(r) = &a.release {
            ok &= self.name(at(path, "release"), &fill(r, "svc", "ns"), "helm release name");
        }
        if a.revision == Some(0) {
            ok = false;
            self.err(at(path, "revision"), Code::BadValue, "helm revisions start at 1")
                .hint("omit `revision` to roll back to the previous one");
        }
        if let Some(w) = &a.weights {
            let sum: u64 = w.values().map(|&x| u64::from(x)).sum();
            if w.is_empty() || sum != 100 {
                ok = false;
                self.err(at(path, "weights"), Code::BadValue, format!("traffic weights sum to {sum}, not 100"))
                    .hint("give each backend a percentage, e.g. `{ stable: 100, canary: 0 }`");
            }
        }
        let by = match (kind, a.replicas, a.factor) {
            ("scale", Some(_), Some(_)) => {
                ok = false;
                self.err(at(path, "factor"), Code::Conflict, "set `replicas` or `factor`, not both");
                None
            }
            ("scale", None, None) => {
                ok = false;
                self.err(path.to_vec(), Code::MissingField, "a `scale` action needs `replicas` or `factor`")
                    .hint("e.g. `{ kind: scale, replicas: 6 }` or `{ kind: scale, factor: 1.5 }`");
                None
            }
            ("scale", Some(n), None) => {
                if n == 0 {
                    ok = false;
                    self.err(
                        at(path, "replicas"),
                        Code::BadValue,
                        "scaling to 0 replicas is an outage, not a remediation",
                    );
                } else if n > g.max_replicas {
                    ok = false;
                    self.err(
                        at(path, "replicas"),
                        Code::Conflict,
                        format!("replicas {n} exceeds guardrails.max_replicas {}", g.max_replicas),
                    )
                    .hint("lower `replicas` or raise `guardrails.max_replicas` after checking quota");
                }
                Some(ScaleBy::Replicas(n))
            }
            ("scale", None, Some(f)) => {
                if !(f.is_finite() && f > 1.0 && f <= 10.0) {
                    ok = false;
                    self.err(at(path, "factor"), Code::BadValue, format!("factor {f} must be above 1 and at most 10"))
                        .hint("a scale remediation adds capacity: 1.5 means 50% more replicas");
                }
                Some(ScaleBy::Factor(f))
            }
            _ => None,
        };
        if !ok {
            return None;
        }
        Some(match kind {
            "restart" => Action::Restart,
            "scale" => Action::Scale { by: by? },
            "rollback" => Action::Rollback,
            "helm-rollback" => Action::HelmRollback { release: a.release.clone(), revision: a.revision },
            "cache-purge" => Action::CachePurge { url: a.url.clone()? },
            "feature-flag-disable" => Action::FeatureFlagDisable { url: a.url.clone()?, flag: a.flag.clone()? },
            "traffic-shift" => Action::TrafficShift { url: a.url.clone()?, weights: a.weights.clone()? },
            _ => return None,
        })
    }

    fn url(&mut self, path: Vec<Seg>, u: &str) -> bool {
        match url::Url::parse(&fill(u, "svc", "ns")) {
            // Credentials in the URL are refused by the secrets scan (`crate::secrets`).
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => true,
            Ok(parsed) => {
                self.err(path, Code::BadValue, format!("URL scheme `{}` is not http or https", parsed.scheme()));
                false
            }
            Err(e) => {
                self.err(path, Code::BadValue, format!("`{u}` is not a URL ({e})"))
                    .hint("write a full URL such as https://cdn.example.com/purge/{service}");
                false
            }
        }
    }
}
