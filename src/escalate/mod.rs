//! Escalations: what reaches a person when automation does not (or should not) handle an
//! incident, and where it goes.
//!
//! Owns the escalation payload ([`Escalation`]: service, namespace, type and confidence, the
//! decision and its reason, the suggested command, the incident's full action history and a
//! pointer to the evidence), the per-incident [`Book`] that turns a stream of audit records
//! into escalations (one stable `dedup_key` per incident, so repeats update one page instead
//! of opening many; a `resolve` when the incident recovers), the channel format
//! ([`channels`]) and each destination's request body ([`render`]).
//!
//! Sans-IO and mode-blind: simulation, replay, shadow and live feed it the same audit
//! records and get the same payloads; it never sends anything (that is `live::deliver`) and
//! never reads a clock (times come from the records).

pub mod channels;
pub mod render;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{AuditRecord, Sink};
use crate::clock::Time;

/// `trigger` opens or updates the incident's page; `resolve` closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    Trigger,
    Resolve,
}

/// One escalation, as written to `escalations.jsonl` and sent (rendered per destination).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    /// Unique per escalation; receivers use it to drop a redelivery (`Idempotency-Key`).
    pub id: String,
    /// The same for every escalation of one incident (PagerDuty's `dedup_key`).
    pub dedup_key: String,
    pub event: Event,
    /// simulate, replay, shadow or live: in shadow nothing was executed.
    pub mode: String,
    pub at: Time,
    /// The channel it goes to: the policy's `escalation_channel`, or the default.
    pub channel: String,
    /// 1 for the incident's first escalation, 2 for the first repeat, … (resolve: the count).
    pub sequence: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    pub service: String,
    pub namespace: String,
    pub incident_type: String,
    pub confidence: f64,
    /// What escalated: a decision status (`low-confidence`, `recommend`, …), an outcome
    /// (`emergency-stop`, `failed`, …), `verification-failed`, or `resolved`.
    pub decision: String,
    pub reason: String,
    /// The command a person should consider running, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_command: Option<String>,
    /// Everything that happened on this incident so far, oldest first.
    pub history: Vec<Step>,
    pub evidence: Evidence,
    pub policy_fingerprint: String,
}

impl Escalation {
    /// One line for a pager's title (at most 1024 characters, PagerDuty's limit).
    pub fn summary(&self) -> String {
        let s = match self.event {
            Event::Resolve => format!("RESOLVED {} on {}/{}", self.incident_type, self.namespace, self.service),
            Event::Trigger => format!(
                "{} on {}/{} ({:.2}): {}: {}",
                self.incident_type, self.namespace, self.service, self.confidence, self.decision, self.reason
            ),
        };
        s.chars().take(1024).collect()
    }
}

/// One thing that happened on an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub at: Time,
    /// decision, outcome or verification
    pub record: String,
    /// The decision status, the outcome status, or passed / failed.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub detail: String,
}

/// Where a responder finds the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The audit log (live, shadow) or decisions file (simulate, replay) holding the records.
    pub records: String,
    /// A dashboard link built from the `--evidence-url` template, when one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// How a [`Book`] labels what it produces.
#[derive(Debug, Clone)]
pub struct Context {
    pub mode: String,
    /// Part of every dedup key: keeps incidents of different runs apart (a simulated
    /// replication, a replayed trace) while live keeps one scope across restarts.
    pub scope: String,
    /// Incident ids are stable (simulate, replay): the dedup key is derived from the id. In
    /// shadow and live ids restart with the process, so the key is derived from where and
    /// when the incident started, which a re-sent alert reproduces.
    pub key_by_id: bool,
    /// The channel for escalations no policy routes.
    pub default_channel: String,
    /// The records file named in every escalation's evidence.
    pub records: String,
    /// `--evidence-url`: `{service}`, `{namespace}`, `{incident_type}`, `{dedup_key}`,
    /// `{from_ms}` and `{to_ms}` (epoch milliseconds, 30 minutes before the incident to now).
    pub evidence_url: Option<String>,
    /// Each channel's `repeat:` rule (a channel not named repeats on change).
    pub repeat: BTreeMap<String, channels::Repeat>,
}

impl Context {
    /// The channels' repeat rules, for [`Context::repeat`].
    pub fn repeats(channels: Option<&channels::Channels>) -> BTreeMap<String, channels::Repeat> {
        channels.map(|c| c.channels.iter().map(|(n, ch)| (n.clone(), ch.repeat)).collect()).unwrap_or_default()
    }
}

/// Per-incident memory: history, count, whether a page is open.
#[derive(Debug, Clone)]
struct Open {
    dedup_key: String,
    start: Time,
    service: String,
    namespace: String,
    incident_type: String,
    confidence: f64,
    channel: String,
    fingerprint: String,
    history: Vec<Step>,
    escalations: u32,
    /// A trigger was sent since the last resolve.
    page_open: bool,
    /// When the last trigger was sent, and what it said (its decision): the repeat rule
    /// compares the next one with it.
    last_sent: Option<(Time, String)>,
}

/// Turns audit records into escalations, one incident at a time. Incidents are keyed by the
/// record's incident id (or namespace/service when a record has none); ordered maps only.
#[derive(Debug, Clone)]
pub struct Book {
    ctx: Context,
    open: BTreeMap<String, Open>,
    /// (page open, start, key) of every remembered incident: which to forget first, found
    /// without scanning (a receiver holding the maximum pays O(log n) per new incident).
    order: std::collections::BTreeSet<(bool, Time, String)>,
    /// Repeats the channels' rules held back (each is in its incident's history and count).
    suppressed: usize,
}

/// At most this many incidents are remembered; the oldest is forgotten first (long live runs).
const MAX_OPEN: usize = 10_000;

impl Book {
    pub fn new(ctx: Context) -> Self {
        Book { ctx, open: BTreeMap::new(), order: std::collections::BTreeSet::new(), suppressed: 0 }
    }

    /// The dedup key of an incident: stable across restarts (it depends on where and when the
    /// incident started, not on process state).
    pub fn dedup_key(scope: &str, namespace: &str, service: &str, start: Time) -> String {
        let h = Sha256::digest(format!("{scope}/{namespace}/{service}/{}", start.nanos()));
        format!("understudy-{}", &hex::encode(h)[..24])
    }

    /// Note a record in its incident's history; if it escalates, the escalation to send.
    pub fn observe(&mut self, rec: &AuditRecord) -> Option<Escalation> {
        // What a record says about its incident, should the book not know it yet (a decision
        // opens it; an outcome or verification whose decision was forgotten re-opens it).
        struct Seed<'r> {
            id: Option<&'r str>,
            service: &'r str,
            namespace: &'r str,
            incident_type: &'r str,
            confidence: f64,
            channel: Option<&'r str>,
            fingerprint: &'r str,
            start: Time,
        }
        /// An outcome or verification knows no confidence or channel: the default channel.
        fn after_action<'r>(
            id: &'r Option<String>,
            service: &'r str,
            namespace: &'r str,
            incident_type: &'r str,
            fingerprint: &'r str,
            at: Time,
        ) -> Seed<'r> {
            Seed {
                id: id.as_deref(),
                service,
                namespace,
                incident_type,
                confidence: 0.0,
                channel: None,
                fingerprint,
                start: at,
            }
        }
        let (seed, step, escalate, why) = match rec {
            // A person's reset, or a process starting, escalates nothing.
            AuditRecord::BreakerReset { .. }
            | AuditRecord::Started { .. }
            | AuditRecord::Joined { .. }
            | AuditRecord::AlertResolved { .. }
            | AuditRecord::Closed { .. } => return None,
            AuditRecord::Decision { policy_fingerprint, input, decision: d } => {
                let seed = Seed {
                    id: d.id.as_deref(),
                    service: &d.service,
                    namespace: &d.namespace,
                    incident_type: &d.incident_type,
                    confidence: d.confidence,
                    channel: d.escalation_channel.as_deref(),
                    fingerprint: policy_fingerprint,
                    start: input.at,
                };
                let step = Step {
                    at: d.at,
                    record: "decision".into(),
                    status: d.status.as_str().to_string(),
                    command: d.command.clone().or_else(|| d.suggested_action.clone()),
                    detail: d.reason.clone(),
                };
                let why = (d.status.as_str().to_string(), d.reason.clone(), d.suggested_action.clone());
                (seed, step, d.escalate, why)
            }
            AuditRecord::Outcome {
                policy_fingerprint,
                id,
                at,
                service,
                namespace,
                incident_type,
                command,
                status,
                detail,
                escalate,
                ..
            } => {
                let seed = after_action(id, service, namespace, incident_type, policy_fingerprint, *at);
                let step = Step {
                    at: *at,
                    record: "outcome".into(),
                    status: status.to_string(),
                    command: Some(command.clone()),
                    detail: detail.clone(),
                };
                // Refused or failed: the command was not carried out, a person may run it.
                let why = (status.to_string(), detail.clone(), Some(command.clone()));
                (seed, step, *escalate, why)
            }
            AuditRecord::Verification {
                policy_fingerprint,
                id,
                at,
                service,
                namespace,
                incident_type,
                command,
                passed,
                unknown,
                checks,
                rolled_back,
                breaker_tripped,
                escalate,
            } => {
                let seen: Vec<String> = checks
                    .iter()
                    .map(|c| {
                        let verdict = match (c.passed, c.unknown) {
                            (true, _) => "ok",
                            (false, true) => "UNKNOWN",
                            (false, false) => "FAILED",
                        };
                        format!("{} {verdict}: {}", c.name, c.observed)
                    })
                    .collect();
                let mut detail = seen.join("; ");
                if *rolled_back {
                    detail.push_str("; the action was rolled back");
                }
                if *breaker_tripped {
                    detail.push_str("; automation stopped on this service until a person resets it");
                }
                let seed = after_action(id, service, namespace, incident_type, policy_fingerprint, *at);
                let step = Step {
                    at: *at,
                    record: "verification".into(),
                    status: match (*passed, *unknown) {
                        (true, _) => "passed",
                        (false, true) => "unknown",
                        (false, false) => "failed",
                    }
                    .to_string(),
                    command: Some(command.clone()),
                    detail: detail.clone(),
                };
                let reason = if *unknown { "verification-unknown" } else { "verification-failed" };
                let why = (reason.to_string(), format!("after `{command}`: {detail}"), None);
                (seed, step, *escalate, why)
            }
        };
        let key = incident_key(seed.id, seed.namespace, seed.service);
        if !self.open.contains_key(&key) {
            self.make_room();
            let dedup_key = match (seed.id, self.ctx.key_by_id) {
                (Some(id), true) => Book::dedup_key(&self.ctx.scope, "", id, Time(0)),
                _ => Book::dedup_key(&self.ctx.scope, seed.namespace, seed.service, seed.start),
            };
            // The same incident decided again after a restart (Alertmanager re-sends firing
            // alerts) takes over its adopted page. Its history and count start again from the
            // re-sent alert, so the escalations it repeats get the ids they had before the
            // restart and the outbox does not send them twice.
            let entry = match self.forget(&format!("@page/{dedup_key}")) {
                Some(adopted) => Open { history: Vec::new(), escalations: 0, ..adopted },
                None => Open {
                    dedup_key,
                    start: seed.start,
                    service: seed.service.to_string(),
                    namespace: seed.namespace.to_string(),
                    incident_type: seed.incident_type.to_string(),
                    confidence: seed.confidence,
                    channel: seed.channel.unwrap_or(&self.ctx.default_channel).to_string(),
                    fingerprint: seed.fingerprint.to_string(),
                    history: Vec::new(),
                    escalations: 0,
                    page_open: false,
                    last_sent: None,
                },
            };
            self.remember(key.clone(), entry);
        }
        let o = self.open.get_mut(&key).expect("inserted above");
        if let AuditRecord::Decision { decision: d, .. } = rec {
            // A later decision on the same incident may classify it differently.
            o.incident_type.clone_from(&d.incident_type);
            o.confidence = d.confidence;
            if let Some(c) = &d.escalation_channel {
                o.channel.clone_from(c);
            }
        }
        let at = step.at;
        o.history.push(step);
        if !escalate {
            return None;
        }
        o.escalations += 1;
        let (decision, reason, suggested) = why;
        // A repeat on an open page reaches the person only as the channel's rule allows.
        if o.page_open
            && let Some((last_at, last_decision)) = &o.last_sent
        {
            let send = match self.ctx.repeat.get(&o.channel).copied().unwrap_or_default() {
                channels::Repeat::OnChange => *last_decision != decision,
                channels::Repeat::Every(d) => at >= last_at.saturating_add(d),
            };
            if !send {
                self.suppressed += 1;
                return None;
            }
        }
        o.last_sent = Some((at, decision.clone()));
        self.set_page_open(&key, true);
        Some(self.build(&key, Event::Trigger, at, decision, reason, suggested))
    }

    /// Keep at most [`MAX_OPEN`] incidents: forget the oldest one without an open page, or,
    /// if every page is open, the oldest.
    fn make_room(&mut self) {
        if self.open.len() < MAX_OPEN {
            return;
        }
        let victim = self.order.first().map(|(_, _, k)| k.clone());
        if let Some(k) = victim {
            self.forget(&k);
        }
    }

    fn remember(&mut self, key: String, o: Open) {
        self.order.insert((o.page_open, o.start, key.clone()));
        if let Some(old) = self.open.insert(key.clone(), o) {
            self.order.remove(&(old.page_open, old.start, key));
        }
    }

    fn forget(&mut self, key: &str) -> Option<Open> {
        let o = self.open.remove(key)?;
        self.order.remove(&(o.page_open, o.start, key.to_string()));
        Some(o)
    }

    fn set_page_open(&mut self, key: &str, open: bool) {
        let Some(o) = self.open.get_mut(key) else { return };
        if o.page_open != open {
            self.order.remove(&(o.page_open, o.start, key.to_string()));
            o.page_open = open;
            self.order.insert((open, o.start, key.to_string()));
        }
    }

    /// The incident recovered: if a page is open for it, the `resolve` to send. The incident
    /// is remembered (a relapse escalates under the same incident, its count continuing)
    /// until [`MAX_OPEN`] newer incidents push it out.
    pub fn resolve(&mut self, incident_id: &str, at: Time) -> Option<Escalation> {
        self.open.get(incident_id).filter(|o| o.page_open)?;
        self.set_page_open(incident_id, false);
        let o = self.open.get_mut(incident_id)?;
        o.history.push(Step {
            at,
            record: "recovery".into(),
            status: "recovered".into(),
            command: None,
            detail: "the incident recovered".into(),
        });
        Some(self.build(incident_id, Event::Resolve, at, "resolved".into(), "the incident recovered".into(), None))
    }

    /// Take over a page a previous process opened (its last trigger, from the outbox): it is
    /// resolved when an alert on its service resolves ([`Book::resolve_service`]), or taken
    /// over by the same incident decided again (the same dedup key).
    pub fn adopt(&mut self, last: Escalation) {
        if self.open.values().any(|o| o.dedup_key == last.dedup_key) {
            return;
        }
        self.make_room();
        self.remember(
            format!("@page/{}", last.dedup_key),
            Open {
                dedup_key: last.dedup_key,
                start: last.history.first().map_or(last.at, |s| s.at),
                service: last.service,
                namespace: last.namespace,
                incident_type: last.incident_type,
                confidence: last.confidence,
                channel: last.channel,
                fingerprint: last.policy_fingerprint,
                last_sent: Some((last.at, last.decision)),
                history: last.history,
                escalations: last.sequence,
                page_open: true,
            },
        );
    }

    /// An alert on (namespace, service) resolved and no incident of this process was open
    /// for it: resolve the pages adopted from before a restart for that service.
    pub fn resolve_service(&mut self, namespace: &str, service: &str, at: Time) -> Vec<Escalation> {
        let keys: Vec<String> = self
            .open
            .iter()
            .filter(|(k, o)| k.starts_with("@page/") && o.page_open && o.namespace == namespace && o.service == service)
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| self.resolve(k, at)).collect()
    }

    /// Repeats held back by the channels' `repeat:` rules so far.
    pub fn suppressed(&self) -> usize {
        self.suppressed
    }

    /// Incidents remembered (bounded by [`MAX_OPEN`]).
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    fn build(
        &self,
        key: &str,
        event: Event,
        at: Time,
        decision: String,
        reason: String,
        suggested_command: Option<String>,
    ) -> Escalation {
        let o = &self.open[key];
        let sequence = o.escalations;
        let id = {
            let h = Sha256::digest(format!("{}/{:?}/{sequence}/{}", o.dedup_key, event, at.nanos()));
            format!("esc-{}", &hex::encode(h)[..24])
        };
        let url = self.ctx.evidence_url.as_ref().map(|t| {
            let from_ms = o.start.nanos().saturating_sub(30 * 60 * 1_000_000_000) / 1_000_000;
            t.replace("{service}", &o.service)
                .replace("{namespace}", &o.namespace)
                .replace("{incident_type}", &o.incident_type)
                .replace("{dedup_key}", &o.dedup_key)
                .replace("{from_ms}", &from_ms.to_string())
                .replace("{to_ms}", &(at.nanos() / 1_000_000).to_string())
        });
        Escalation {
            id,
            dedup_key: o.dedup_key.clone(),
            event,
            mode: self.ctx.mode.clone(),
            at,
            channel: o.channel.clone(),
            sequence,
            incident_id: (!key.starts_with('@')).then(|| key.to_string()),
            service: o.service.clone(),
            namespace: o.namespace.clone(),
            incident_type: o.incident_type.clone(),
            confidence: o.confidence,
            decision,
            reason,
            suggested_command,
            history: o.history.clone(),
            evidence: Evidence { records: self.ctx.records.clone(), url },
            policy_fingerprint: o.fingerprint.clone(),
        }
    }
}

/// A [`Sink`] that passes records on and writes the escalations they cause as JSON Lines
/// (`escalations.jsonl` in simulate and replay), counting pages and repeats.
pub struct Escalating<S: Sink, W: std::io::Write> {
    pub inner: S,
    pub book: Book,
    out: W,
    pub counts: Counts,
}

/// Escalations by kind: what a responder would have been sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Trigger events sent.
    pub escalations: usize,
    /// Incidents whose first escalation opened a page (one per dedup key).
    pub pages: usize,
    /// Triggers on an incident already escalated: PagerDuty folds them into the open page by
    /// dedup_key; Slack and webhooks show each one (alert fatigue).
    pub repeats: usize,
    /// Resolve events sent.
    pub resolves: usize,
}

impl Counts {
    pub fn add(&mut self, e: &Escalation) {
        match (e.event, e.sequence) {
            (Event::Resolve, _) => self.resolves += 1,
            (Event::Trigger, 1) => {
                self.escalations += 1;
                self.pages += 1;
            }
            (Event::Trigger, _) => {
                self.escalations += 1;
                self.repeats += 1;
            }
        }
    }
}

impl<S: Sink, W: std::io::Write> Escalating<S, W> {
    pub fn new(inner: S, book: Book, out: W) -> Self {
        Escalating { inner, book, out, counts: Counts::default() }
    }

    fn write(&mut self, e: Escalation) -> std::io::Result<()> {
        self.counts.add(&e);
        serde_json::to_writer(&mut self.out, &e)?;
        self.out.write_all(b"\n")
    }
}

impl<S: Sink, W: std::io::Write> Sink for Escalating<S, W> {
    fn record(&mut self, r: &AuditRecord) -> std::io::Result<()> {
        self.inner.record(r)?;
        match self.book.observe(r) {
            Some(e) => self.write(e),
            None => Ok(()),
        }
    }

    fn resolved(&mut self, id: &str, at: Time) -> std::io::Result<()> {
        self.inner.resolved(id, at)?;
        match self.book.resolve(id, at) {
            Some(e) => self.write(e),
            None => Ok(()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()?;
        self.out.flush()
    }
}

/// Records carry the incident id; a record without one belongs to its service's incident.
fn incident_key(id: Option<&str>, namespace: &str, service: &str) -> String {
    // (`@page/…` keys hold pages adopted from before a restart.)
    match id {
        Some(i) => i.to_string(),
        None => format!("@{namespace}/{service}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{Decision, Incident, Status};

    fn ctx() -> Context {
        Context {
            mode: "live".into(),
            scope: "live".into(),
            key_by_id: false,
            default_channel: "pagerduty-p1".into(),
            records: "audit.jsonl".into(),
            evidence_url: Some("https://grafana/d/x?var-svc={service}&from={from_ms}&to={to_ms}".into()),
            repeat: Default::default(),
        }
    }

    fn decision(at: i64, status: Status, escalate: bool) -> AuditRecord {
        let t = Time(at * 1_000_000_000);
        let input = Incident {
            at: t,
            service: "payment-api".into(),
            namespace: "prod".into(),
            incident_type: "memory-leak".into(),
            confidence: 0.71,
            signal: Some("OOMKilled".into()),
            replicas: None,
            id: Some("e1".into()),
            target: None,
        };
        let d = Decision {
            at: t,
            id: Some("e1".into()),
            service: "payment-api".into(),
            namespace: "prod".into(),
            incident_type: "memory-leak".into(),
            confidence: 0.71,
            status,
            escalate,
            command: None,
            suggested_action: Some("kubectl rollout restart deployment/payment-api -n prod".into()),
            reason: "confidence 0.71 below threshold 0.92".into(),
            guardrail: None,
            escalation_channel: Some("slack-sre".into()),
            action: None,
            target_replicas: None,
        };
        AuditRecord::Decision { policy_fingerprint: "sha256:x".into(), input: Box::new(input), decision: Box::new(d) }
    }

    #[test]
    fn repeats_reach_the_person_as_the_channel_says_and_all_stay_in_the_history() {
        let statuses = [
            Status::LowConfidence,
            Status::LowConfidence,
            Status::CooldownActive,
            Status::CooldownActive,
            Status::LowConfidence,
            Status::LowConfidence,
        ];
        let sent = |repeat: Option<channels::Repeat>| {
            let mut c = ctx();
            if let Some(r) = repeat {
                c.repeat.insert("slack-sre".into(), r);
            }
            let mut b = Book::new(c);
            let es: Vec<Escalation> = statuses
                .iter()
                .enumerate()
                .filter_map(|(k, st)| b.observe(&decision(1_000 + k as i64 * 300, *st, true)))
                .collect();
            (es, b.suppressed())
        };
        // Default, on-change: the first page, then only when what it says changes.
        let (es, held) = sent(None);
        let says: Vec<&str> = es.iter().map(|e| e.decision.as_str()).collect();
        assert_eq!(says, ["low-confidence", "cooldown-active", "low-confidence"]);
        assert_eq!(held, 3);
        assert_eq!(es.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 3, 5], "the count includes the held ones");
        assert_eq!(es[2].history.len(), 5, "a held repeat is still in the history the next one carries");
        // every: 15m, escalations 5 min apart: the first, then one each 15 minutes.
        let (es, held) = sent(Some(channels::Repeat::Every(std::time::Duration::from_secs(900))));
        assert_eq!(es.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(held, 4);
        // A resolved page opens again on the next escalation, whatever the rule.
        let mut b = Book::new(ctx());
        assert!(b.observe(&decision(1_000, Status::LowConfidence, true)).is_some());
        assert!(b.observe(&decision(1_060, Status::LowConfidence, true)).is_none());
        assert!(b.resolve("e1", Time(1_100_000_000_000)).is_some());
        assert!(b.observe(&decision(1_200, Status::LowConfidence, true)).is_some(), "a relapse pages");
    }

    #[test]
    fn ten_escalations_of_one_incident_share_one_dedup_key() {
        let mut c = ctx();
        c.repeat.insert("slack-sre".into(), channels::Repeat::Every(std::time::Duration::from_secs(60)));
        let mut b = Book::new(c);
        let es: Vec<Escalation> =
            (0..10).filter_map(|k| b.observe(&decision(1_000 + k * 60, Status::LowConfidence, true))).collect();
        assert_eq!(es.len(), 10);
        assert!(es.iter().all(|e| e.dedup_key == es[0].dedup_key));
        let ids: std::collections::BTreeSet<&str> = es.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 10, "each escalation has its own id");
        assert_eq!(es.iter().map(|e| e.sequence).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
        assert_eq!(es[9].history.len(), 10, "the history carries every decision");
        assert_eq!(es[0].channel, "slack-sre");
        assert_eq!(es[0].incident_id.as_deref(), Some("e1"));
        let url = es[0].evidence.url.as_deref().unwrap();
        assert_eq!(url, "https://grafana/d/x?var-svc=payment-api&from=-800000&to=1000000");
        let r = b.resolve("e1", Time(2_000_000_000_000)).unwrap();
        assert_eq!((r.event, r.dedup_key.as_str(), r.sequence), (Event::Resolve, es[0].dedup_key.as_str(), 10));
        assert!(b.resolve("e1", Time(2_000_000_000_000)).is_none(), "resolved once");
        // A relapse escalates the same incident again: same key, the count goes on.
        let again = b.observe(&decision(3_000, Status::LowConfidence, true)).unwrap();
        assert_eq!((again.dedup_key.as_str(), again.sequence), (es[0].dedup_key.as_str(), 11));
        assert_eq!(again.history.last().unwrap().record, "decision");
        assert!(again.history.iter().any(|s| s.record == "recovery"));
    }

    #[test]
    fn a_full_book_forgets_the_oldest_incident_without_an_open_page_first() {
        let mut b = Book::new(ctx());
        let rec = |n: usize, escalate: bool| {
            let mut r = decision(1_000 + n as i64, Status::LowConfidence, escalate);
            if let AuditRecord::Decision { input, decision: d, .. } = &mut r {
                input.id = Some(format!("e{n}"));
                d.id = Some(format!("e{n}"));
            }
            r
        };
        // The first incident pages; the rest do not (recorded, not escalated).
        assert!(b.observe(&rec(0, true)).is_some());
        for n in 1..=MAX_OPEN + 5 {
            let _ = b.observe(&rec(n, false));
        }
        assert_eq!(b.len(), MAX_OPEN);
        assert_eq!(b.order.len(), b.open.len(), "the eviction index follows the book");
        assert!(b.open.contains_key("e0"), "the incident with an open page is kept");
        assert!(!b.open.contains_key("e1") && b.open.contains_key(&format!("e{}", MAX_OPEN + 5)));
        // Once resolved it is the oldest without a page, and goes first.
        assert!(b.resolve("e0", Time(9_000_000_000_000)).is_some());
        let _ = b.observe(&rec(MAX_OPEN + 6, false));
        assert!(!b.open.contains_key("e0"));
        assert!(b.order.iter().all(|(open, start, k)| b.open[k].page_open == *open && b.open[k].start == *start));
    }

    #[test]
    fn the_dedup_key_survives_a_restart_and_separates_incidents() {
        let mut a = Book::new(ctx());
        let mut b = Book::new(ctx());
        let x = a.observe(&decision(1_000, Status::Recommend, true)).unwrap();
        let y = b.observe(&decision(1_000, Status::Recommend, true)).unwrap();
        assert_eq!(x.dedup_key, y.dedup_key);
        assert_eq!(x.id, y.id, "the same escalation after a restart has the same id");
        let mut c = Book::new(ctx());
        let z = c.observe(&decision(1_001, Status::Recommend, true)).unwrap();
        assert_ne!(x.dedup_key, z.dedup_key);
    }

    #[test]
    fn a_failed_verification_escalates_even_when_its_decision_was_forgotten() {
        let mut b = Book::new(ctx());
        let v = AuditRecord::Verification {
            policy_fingerprint: "sha256:x".into(),
            at: Time(5_000_000_000_000),
            id: Some("e9".into()),
            service: "payment-api".into(),
            namespace: "prod".into(),
            incident_type: "memory-leak".into(),
            command: "kubectl rollout restart deployment/payment-api -n prod".into(),
            passed: false,
            unknown: false,
            checks: vec![crate::audit::Check {
                unknown: false,
                name: "no_new_restarts",
                passed: false,
                observed: "OOMKilled at 10:07".into(),
                expected: "none".into(),
            }],
            rolled_back: false,
            breaker_tripped: true,
            escalate: true,
        };
        let e = b.observe(&v).expect("a failed verification always reaches a person");
        assert_eq!((e.decision.as_str(), e.channel.as_str()), ("verification-failed", "pagerduty-p1"));
        assert!(
            e.reason.contains("no_new_restarts FAILED: OOMKilled at 10:07") && e.reason.contains("automation stopped")
        );
    }

    #[test]
    fn a_page_from_before_a_restart_is_resolved_or_taken_over() {
        let mut before = Book::new(ctx());
        let page = before.observe(&decision(1_000, Status::LowConfidence, true)).unwrap();
        // Resolved by its service's alert.
        let mut after = Book::new(ctx());
        after.adopt(page.clone());
        assert!(after.resolve_service("prod", "other-api", Time(9)).is_empty());
        let r = after.resolve_service("prod", "payment-api", Time(2_000_000_000_000));
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].event, r[0].dedup_key.as_str()), (Event::Resolve, page.dedup_key.as_str()));
        assert!(after.resolve_service("prod", "payment-api", Time(2_000_000_000_001)).is_empty(), "once");
        // Or the same alert, decided again, takes the page over.
        let mut again = Book::new(ctx());
        again.adopt(page.clone());
        // It says what the page already says: nothing is sent again (on-change).
        assert_eq!(again.observe(&decision(1_000, Status::LowConfidence, true)), None);
        assert_eq!(again.len(), 1);
        assert!(again.resolve_service("prod", "payment-api", Time(5)).is_empty(), "taken over, not orphaned");
        assert!(again.resolve("e1", Time(5)).is_some());
    }

    #[test]
    fn executed_decisions_are_history_not_escalations() {
        let mut b = Book::new(ctx());
        assert!(b.observe(&decision(1_000, Status::Execute, false)).is_none());
        assert!(b.resolve("e1", Time(5)).is_none(), "nothing was escalated, nothing to resolve");
    }
}
