//! Replay: recorded history through the classifier and the same decision pipeline, without a
//! world model.
//!
//! Owns turning a time-ordered stream of trace records into episodes (one per service while
//! symptoms keep coming; which signals are symptoms, and which alerts are no incident, the
//! rules file says), classifying each episode on everything it has shown so far and
//! revising that as evidence arrives, deciding when the classification first reaches the
//! policy's threshold or when the decision window ends (whichever is first; `now` is that
//! moment's trace time), and comparing with what the trace says happened next: the human's
//! action and the recovery. Figures come from the trace (onset, recovery, what people did)
//! or from the model (the classifier's label, the policy's decision, and the assumption that
//! the policy's action would have had the human's effect); the report says which is which.
//! Streams: memory holds only open episodes (at most [`MAX_OPEN`], each with at most 64
//! observations), the alerts of recently closed ones (so a stale re-delivery opens nothing),
//! per-service baselines of relative symptoms (bounded) and aggregates, never the trace. In
//! shadow and live the sink also gets `joined`, `alert-resolved` and `closed`, so a restarted
//! process reopens what was open (`Replayer::restore`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::SeedableRng;
use serde::Serialize;

use crate::audit::{AuditRecord, Sink};
use crate::classify::rules::Symptoms;
use crate::classify::{Classification, Classifier, Context, Evidence, Observation};
use crate::clock::Time;
use crate::decide::{Incident, Pipeline, ServiceKey, Status};
use crate::diag::Diagnostic;
use crate::metrics::{Summary, r4};
use crate::policy::Policy;
use crate::trace::{AlertStatus, PageEvent, Record};

/// An alert already decided: service, the alert's start, and its signal (the alert name).
pub type Decided = (ServiceKey, Time, String);

/// At most this many episodes are open at once (a receiver flooded with incidents that never
/// resolve keeps its memory bounded); the oldest is forgotten first.
pub const MAX_OPEN: usize = 10_000;

/// Replay settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// No symptom for this long closes an episode (recovery inferred at the last symptom).
    pub quiet: Duration,
    /// Write the episodes CSV's header (not when appending to a file that has one).
    pub header: bool,
    /// Which signals open an episode, and which alerts are no incident (the rules file's
    /// `symptoms:` and its `not-an-incident` rules).
    pub symptoms: Symptoms,
    /// How long an episode gathers evidence before it is decided, unless its classification
    /// reaches the policy's threshold first. Zero: decide at the first symptom (shadow and
    /// live, which have no timer between webhooks, decide so).
    pub decision_window: Duration,
    /// `--classifier recorded`: a classification record that names its incident is the
    /// recording's decision point (a simulation's trace, shadow's recording): replay decides
    /// that incident there, on that label, with the signal it names, as the recording did.
    /// Once a trace has shown one, episodes no longer decide on their own (their decisions
    /// are the recording's), so the replayed decisions are the recorded pipeline's, line for
    /// line.
    pub decide_at_recorded: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            quiet: Duration::from_secs(30 * 60),
            header: true,
            symptoms: Symptoms::default(),
            decision_window: Duration::ZERO,
            decide_at_recorded: false,
        }
    }
}

/// The type an alert or signal is given when it is no incident (a watchdog, an inhibitor).
pub const NOT_AN_INCIDENT: &str = "not-an-incident";

/// At most this many observations are kept per episode (the first ones and the latest),
/// and this many entries of its classification history.
const MAX_OBSERVED: usize = 64;
const MAX_HISTORY: usize = 32;

/// One episode: a service showing symptoms until it recovers.
#[derive(Debug, Clone, Serialize)]
pub struct Episode {
    pub id: String,
    pub service: String,
    pub namespace: String,
    pub start: Time,
    /// The signal or alert that opened it.
    pub evidence: String,
    pub symptoms: usize,
    pub last_symptom: Time,
    pub classification: Option<Classification>,
    pub status: Option<Status>,
    pub command: Option<String>,
    pub suggested_action: Option<String>,
    /// The kind of the action the policy would have run.
    pub policy_action: Option<String>,
    /// What people did (time, action kind).
    pub human_actions: Vec<(Time, String)>,
    pub recovered_at: Option<Time>,
    /// How recovery is known: `alert-resolved`, `truth`, or `quiet` (no symptom for the quiet
    /// period: inferred at the last symptom).
    pub recovery: Option<&'static str>,
    pub truth: Option<String>,
    #[serde(skip)]
    firing: BTreeMap<String, ()>,
    /// Alerts (name, time) already in the episode: a re-sent one joins without a new
    /// `joined` record.
    #[serde(skip)]
    alerts: std::collections::BTreeSet<(String, Time)>,
    /// Reopened after a restart by an alert decided before it: its page (if any) belongs to
    /// the process before, so its recovery resolves the service's pages from then.
    #[serde(skip)]
    restored: bool,
    /// What the episode has shown (bounded, see `MAX_OBSERVED`).
    #[serde(skip)]
    observed: Vec<Observation>,
    /// The classification each time it changed, with the time: the evidence as it arrived.
    pub history: Vec<(Time, Classification)>,
    /// When the decision falls due if the classification does not reach the policy's
    /// threshold first; `None` once decided (or for a restored episode).
    #[serde(skip)]
    decide_by: Option<Time>,
    /// When the policy's decision was taken.
    pub decided_at: Option<Time>,
    /// The page people got for it, where the trace has the paging system's records.
    pub page: Option<Paged>,
    /// The rules behind the decided classification, with the confidence each says.
    #[serde(skip)]
    support: Vec<crate::classify::Support>,
}

/// A page in the paging system, as its `page` records tell it.
#[derive(Debug, Clone, Serialize)]
pub struct Paged {
    pub incident: String,
    pub triggered: Time,
    pub acknowledged: Option<Time>,
    pub resolved: Option<Time>,
    /// Who acknowledged it (else who resolved it).
    pub by: Option<String>,
}

impl Episode {
    /// The `closed` record of this episode, ended at `at`.
    fn closed_record(&self, at: Time) -> AuditRecord {
        AuditRecord::Closed {
            id: self.id.clone(),
            service: self.service.clone(),
            namespace: self.namespace.clone(),
            at,
        }
    }

    /// An episode opened at `start` by `evidence` (one symptom so far), nothing decided yet.
    fn new(id: String, key: &ServiceKey, start: Time, evidence: String) -> Episode {
        Episode {
            id,
            service: key.service.clone(),
            namespace: key.namespace.clone(),
            start,
            evidence,
            symptoms: 1,
            last_symptom: start,
            classification: None,
            status: None,
            command: None,
            suggested_action: None,
            policy_action: None,
            human_actions: Vec::new(),
            recovered_at: None,
            recovery: None,
            truth: None,
            firing: BTreeMap::new(),
            alerts: std::collections::BTreeSet::new(),
            restored: false,
            observed: Vec::new(),
            history: Vec::new(),
            decide_by: None,
            decided_at: None,
            page: None,
            support: Vec::new(),
        }
    }

    /// Keep an observation: the first `MAX_OBSERVED / 2` and the latest others.
    fn observe(&mut self, o: Observation) {
        if self.observed.len() >= MAX_OBSERVED {
            self.observed.remove(MAX_OBSERVED / 2);
        }
        self.observed.push(o);
    }

    /// The episode's latest evidence (else what opened it).
    fn latest_signal(&self) -> String {
        self.observed.last().map_or_else(|| self.evidence.clone(), |o| o.name.clone())
    }

    /// The kind of object, where the evidence says (a subject label, a pod's name).
    fn target(&self) -> Option<crate::policy::Target> {
        self.observed.iter().find_map(|o| crate::policy::Target::of_labels(&o.labels))
    }

    /// The classification history as the episodes CSV writes it.
    fn history_text(&self) -> String {
        self.history
            .iter()
            .map(|(t, c)| format!("{} {:.2} @{}", c.incident_type, c.confidence, t.to_rfc3339()))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// How the policy compares with what people did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agreement {
    /// The policy would have run the action the person ran.
    Same,
    /// It would have run a different action.
    Different,
    /// It would have escalated where a person acted.
    WouldEscalate,
    /// It would have acted where nobody did.
    ActedAlone,
    /// Nobody acted, and neither would the policy.
    BothWaited,
}

impl Agreement {
    /// As reports write it: `same`, `different`, `would-escalate`, `acted-alone`, `both-waited`
    /// (the serde name, so JSON, CSV and the page agree).
    pub fn as_str(self) -> &'static str {
        match self {
            Agreement::Same => "same",
            Agreement::Different => "different",
            Agreement::WouldEscalate => "would-escalate",
            Agreement::ActedAlone => "acted-alone",
            Agreement::BothWaited => "both-waited",
        }
    }

    /// Whether a person acted in the episode (the denominator of the agreement rate).
    pub fn person_acted(self) -> bool {
        matches!(self, Agreement::Same | Agreement::Different | Agreement::WouldEscalate)
    }
}

impl Episode {
    pub fn agreement(&self) -> Agreement {
        let human = self.human_actions.first().map(|(_, a)| a.as_str());
        match (human, self.policy_action.as_deref()) {
            (Some(h), Some(p)) if h == p => Agreement::Same,
            (Some(_), Some(_)) => Agreement::Different,
            (Some(_), None) => Agreement::WouldEscalate,
            (None, Some(_)) => Agreement::ActedAlone,
            (None, None) => Agreement::BothWaited,
        }
    }

    /// Seconds the policy would have saved, where the trace supports it: the policy would
    /// have run the same action as the person, earlier, and the service recovered after the
    /// person's action.
    pub fn saved_seconds(&self) -> Option<f64> {
        let (h_at, _) = self.human_actions.first()?;
        let rec = self.recovered_at?;
        // The policy would have acted when it decided, not at the first symptom.
        let acted = self.decided_at.unwrap_or(self.start);
        (self.agreement() == Agreement::Same && *h_at > acted && rec >= *h_at).then(|| h_at.since(acted).as_secs_f64())
    }

    pub fn ttr_seconds(&self) -> Option<f64> {
        self.recovered_at.map(|r| r.since(self.start).as_secs_f64())
    }
}

/// The numbers of a replay, each labelled with where it comes from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayMetrics {
    pub records: usize,
    pub episodes: usize,
    /// Decisions by status (model: the policy).
    pub decisions: BTreeMap<String, usize>,
    /// Episodes by classified type (model: the classifier).
    pub by_type: BTreeMap<String, usize>,
    /// Policy vs people (trace: what people did; model: what the policy would do).
    pub agreement: BTreeMap<String, usize>,
    /// Episodes where a person acted (the agreement rate's denominator).
    pub person_acted: usize,
    /// Agreement rate over episodes where a person acted.
    pub agreement_rate: f64,
    /// Time to recovery observed in the trace (recovered episodes only).
    pub observed_ttr_seconds: Summary,
    /// Episodes with a recovery recorded or inferred.
    pub recovered: usize,
    /// Seconds saved where the trace supports it (see `saved_seconds`).
    pub mttr_saved: Summary,
    /// Classification against `truth` records, where there are any.
    pub with_truth: usize,
    pub correct_classifications: usize,
    pub false_confidence_actions: usize,
    /// Alerts re-sent after a restart that the audit log shows were already decided.
    #[serde(skip_serializing_if = "is_zero")]
    pub redelivered: usize,
    /// Firing alerts whose rule says `not-an-incident` (watchdogs, inhibitors): no episode,
    /// no page.
    pub not_incidents: BTreeMap<String, usize>,
    /// Episodes that recovered inside their decision window: never decided, nobody paged.
    pub recovered_before_decision: usize,
    /// Episodes whose classification changed as evidence arrived.
    pub revised: usize,
    /// Pages in the trace's paging-system records (`page`, from `import pagerduty`).
    #[serde(skip_serializing_if = "is_zero")]
    pub pages: usize,
    /// Pages that fell inside an episode of their service (open, or closed within a quiet
    /// period).
    #[serde(skip_serializing_if = "is_zero")]
    pub pages_in_episodes: usize,
    /// Pages with no episode: people were paged for something the trace shows no symptom of
    /// (within [`PAGE_LEAD`] after the page).
    #[serde(skip_serializing_if = "is_zero")]
    pub pages_without_episode: usize,
    /// Paging records that could not be placed: a page triggered again, an acknowledgement
    /// or resolution of a page the trace never triggered.
    #[serde(skip_serializing_if = "is_zero")]
    pub page_events_ignored: usize,
    /// People's time from page to acknowledgement (trace: the paging system).
    #[serde(skip_serializing_if = "no_samples")]
    pub people_ack_seconds: Summary,
    /// People's time from page to resolution (trace: the paging system).
    #[serde(skip_serializing_if = "no_samples")]
    pub people_resolve_seconds: Summary,
    /// Episodes by the type no remediation covers (each one a page today: one table here).
    pub no_policy_types: BTreeMap<String, usize>,
    /// The first episodes the policy would have handed to a person (at most 25, in order).
    pub handed_to_people: Vec<HandedOver>,
    /// The classifier's calibration against `truth` records (replay's own labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::metrics::Calibration>,
    /// Per label: how often it was right where truth exists, what it claimed, and the
    /// confidence the evidence supports (the observed share right, with its 95% interval).
    pub label_accuracy: BTreeMap<String, LabelAccuracy>,
    /// Per rule (as `describe` names it): how often the label it supported was right where
    /// truth exists, and the confidence that supports (rules classifier only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rule_accuracy: BTreeMap<String, RuleAccuracy>,
    /// What the escalations would have been (set by whoever counted them, see `escalate`).
    pub escalations: crate::escalate::Counts,
    pub sources: BTreeMap<&'static str, &'static str>,
}

/// An episode the policy would not have handled itself.
#[derive(Debug, Clone, Serialize)]
pub struct HandedOver {
    pub id: String,
    pub service: String,
    pub start: Time,
    pub classified_as: String,
    pub confidence: f64,
    pub decision: String,
}

/// How one label fared against the truth.
#[derive(Debug, Clone, Serialize)]
pub struct LabelAccuracy {
    pub episodes: usize,
    pub right: usize,
    /// The mean confidence the classifier gave this label.
    pub mean_confidence: f64,
    /// The share right and its Wilson 95% interval: the confidence the rules giving this
    /// label should say.
    pub supported: crate::metrics::Rate,
}

/// How one rule fared against the truth.
#[derive(Debug, Clone, Serialize)]
pub struct RuleAccuracy {
    pub episodes: usize,
    pub right: usize,
    /// The confidence the rule says.
    pub confidence: f64,
    /// The share right and its Wilson 95% interval.
    pub supported: crate::metrics::Rate,
    /// The confidence to write instead (the share right, two decimals), when the rule's own
    /// lies outside the interval on at least [`MIN_RULE_EPISODES`] episodes; `None` when the
    /// truth does not contradict it or is too thin to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggest: Option<f64>,
}

/// A page up to this long before an episode's first symptom counts for that episode (the
/// symptoms' source may lag the paging system).
pub const PAGE_LEAD: Duration = Duration::from_secs(15 * 60);

/// A rule is given a suggested confidence only on at least this many episodes with truth.
pub const MIN_RULE_EPISODES: usize = 5;

/// At most this many rules are tracked against the truth (the rest are counted together).
const MAX_RULES_TRACKED: usize = 512;

/// At most this many episodes are listed as handed to people.
const MAX_HANDED_OVER: usize = 25;

/// What the classifier sees of an open episode: everything it has shown, in its context;
/// `None` before it has shown anything.
fn evidence<'e>(key: &'e ServiceKey, e: &'e Episode, ctx: &'e Context) -> Option<Evidence<'e>> {
    let last = e.observed.last()?;
    Some(Evidence {
        service: &key.service,
        namespace: &key.namespace,
        signal: &last.name,
        alert: last.alert.then_some(last.name.as_str()),
        truth: None,
        observed: &e.observed,
        context: Some(ctx),
    })
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn no_samples(s: &Summary) -> bool {
    s.n == 0
}

/// Durations summarised in bounded memory: the mean exactly; the median and 90th percentile
/// exactly up to [`EXACT_QUANTILES`] values, beyond that from log-spaced buckets 1% wide
/// (clamped to the values seen), so a trace of any length needs the same few kilobytes.
#[derive(Debug, Clone, Default)]
pub struct Quantiles {
    n: usize,
    sum: f64,
    buckets: BTreeMap<i32, usize>,
    exact: Vec<f64>,
    min: f64,
    max: f64,
}

/// Up to this many values, quantiles are exact.
pub const EXACT_QUANTILES: usize = 4096;

impl Quantiles {
    pub fn add(&mut self, x: f64) {
        if self.n == 0 {
            (self.min, self.max) = (x, x);
        }
        (self.min, self.max) = (self.min.min(x), self.max.max(x));
        self.n += 1;
        self.sum += x;
        if self.exact.len() < EXACT_QUANTILES {
            self.exact.push(x);
        }
        // Bucket k holds (1.01^(k-1), 1.01^k]; zero and below go to bucket i32::MIN.
        let k = if x > 0.0 { (x.ln() / 1.01f64.ln()).ceil() as i32 } else { i32::MIN };
        *self.buckets.entry(k).or_default() += 1;
    }

    fn quantile(&self, p: f64) -> f64 {
        let rank = ((self.n - 1) as f64 * p).round() as usize;
        let mut seen = 0;
        for (&k, &c) in &self.buckets {
            seen += c;
            if seen > rank {
                return if k == i32::MIN { 0.0 } else { 1.01f64.powi(k).clamp(self.min, self.max) };
            }
        }
        0.0
    }

    pub fn summary(&self) -> Summary {
        if self.n == 0 {
            return Summary::default();
        }
        if self.exact.len() == self.n {
            return Summary::of(&self.exact);
        }
        let r1 = crate::metrics::r1;
        Summary {
            mean: r1(self.sum / self.n as f64),
            median: r1(self.quantile(0.5)),
            p90: r1(self.quantile(0.9)),
            n: self.n,
        }
    }
}

/// Where each figure of a replay comes from.
pub const SOURCES: [(&str, &str); 11] = [
    (
        "people_ack_seconds",
        "trace: the paging system's records (import pagerduty): page triggered → first acknowledgement",
    ),
    ("people_resolve_seconds", "trace: the paging system's records: page triggered → resolved"),
    (
        "episodes",
        "trace: symptoms (signals over the rules file's thresholds, firing alerts other than not-an-incident) grouped per service until recovery",
    ),
    (
        "observed_ttr_seconds",
        "trace: first symptom → resolved alert, truth end, or last symptom before 30 min of quiet",
    ),
    ("agreement", "trace (what people did) against model (what the policy would have done)"),
    (
        "decisions",
        "model: the policy's pipeline on the classifier's label, when the label first reaches the policy's threshold or the decision window ends",
    ),
    ("by_type", "model: the classifier's label"),
    (
        "mttr_saved",
        "trace and assumption: only where the policy would have run the person's action earlier and recovery followed that action; assumes the same effect sooner",
    ),
    ("correct_classifications", "trace: `truth` records against the classifier's label"),
    ("false_confidence_actions", "trace and model: actions the policy would have run on a label the truth contradicts"),
    (
        "escalations",
        "model: triggers the policy's decisions would have sent (escalations.jsonl); pages = episodes escalated (one dedup key each), repeats = further triggers on an escalated episode, resolves = escalated episodes that recovered",
    ),
];

/// Streams records in and writes episodes (CSV) as they close and decisions (audit records)
/// to a [`Sink`] as they are made, telling it when an episode recovers.
pub struct Replayer<'a, W: Write> {
    pipeline: Pipeline,
    classifier: &'a dyn Classifier,
    settings: Settings,
    fingerprint: String,
    open: BTreeMap<ServiceKey, Episode>,
    /// (start, service) of every open episode: the oldest is forgotten first once
    /// [`MAX_OPEN`] are open, found without a scan.
    by_start: std::collections::BTreeSet<(Time, ServiceKey)>,
    truths: BTreeMap<ServiceKey, Vec<(Time, Option<Time>, String)>>,
    /// Closed episodes still collecting late human actions (for one quiet period).
    recent: Vec<Episode>,
    next_id: usize,
    metrics: ReplayMetrics,
    ttrs: Quantiles,
    saved: Quantiles,
    acks: Quantiles,
    resolves: Quantiles,
    /// Pages not yet resolved: incident id → (triggered, acknowledged yet). Bounded by
    /// [`MAX_OPEN`] (the oldest is forgotten).
    pages: BTreeMap<String, (Time, bool)>,
    /// Pages that found no episode yet, oldest first: (service, namespace, page).
    pending_pages: std::collections::VecDeque<(String, Option<String>, Paged)>,
    calibration: crate::metrics::CalibrationAcc,
    /// label → (episodes, right, sum of confidences), where truth exists.
    labels: BTreeMap<String, (usize, usize, f64)>,
    /// rule → (episodes, right, its confidence), where truth exists.
    rules: BTreeMap<String, (usize, usize, f64)>,
    episodes_csv: csv::Writer<W>,
    audit: Box<dyn Sink + 'a>,
    now: Time,
    next_quiet_check: Time,
    /// Executed decisions kept for an executor (live mode), when asked for.
    executed: Option<Vec<(Incident, crate::decide::Decision)>>,
    /// Alerts decided before a restart (from the audit log) → their episode id.
    decided: BTreeMap<Decided, String>,
    /// Alerts (service, startsAt, name) of recently closed episodes, oldest first: a stale
    /// re-delivery of one (Alertmanager retries, HA peers) reopens nothing and is not decided
    /// again. At most [`MAX_OPEN`] are kept.
    closed_alerts: std::collections::BTreeSet<Decided>,
    closed_order: std::collections::VecDeque<Decided>,
    /// Each service's latest deploy (context for the classifier).
    deploys: BTreeMap<ServiceKey, Time>,
    /// Each service's latest desired replicas (the `kube_deployment_spec_replicas`
    /// signal): the decision's `replicas`, where the trace has it.
    replicas: BTreeMap<ServiceKey, u32>,
    /// The trace has shown a classification naming its incident and
    /// [`Settings::decide_at_recorded`] is on: decisions are the recording's.
    recorded_points: bool,
    /// Campaigns not yet over: (end, services; empty = all).
    campaigns: Vec<(Time, Vec<String>)>,
    /// The earliest `decide_by` of an open episode (no scan before it).
    next_decision: Time,
    /// Service names with an open episode → in how many namespaces (context for rules that
    /// look at a dependency or a node).
    open_names: std::sync::Arc<BTreeMap<String, usize>>,
}

impl<'a, W: Write> Replayer<'a, W> {
    pub fn new(
        policy: Policy,
        classifier: &'a dyn Classifier,
        settings: Settings,
        episodes: W,
        audit: Box<dyn Sink + 'a>,
    ) -> std::io::Result<Self> {
        let mut csv = csv::Writer::from_writer(episodes);
        let header = [
            "id",
            "service",
            "namespace",
            "start",
            "evidence",
            "symptoms",
            "classified_as",
            "confidence",
            "truth",
            "decision",
            "policy_action",
            "command",
            "human_action",
            "human_at",
            "agreement",
            "recovered_at",
            "recovery",
            "ttr_s",
            "saved_s",
            "decided_at",
            "classification_history",
            "paged_at",
            "acknowledged_at",
            "page_resolved_at",
        ];
        if settings.header {
            csv.write_record(header)?;
        }
        Ok(Replayer {
            fingerprint: policy.fingerprint(),
            pipeline: Pipeline::new(policy),
            classifier,
            settings,
            open: BTreeMap::new(),
            by_start: std::collections::BTreeSet::new(),
            truths: BTreeMap::new(),
            recent: Vec::new(),
            next_id: 0,
            metrics: ReplayMetrics::default(),
            ttrs: Quantiles::default(),
            saved: Quantiles::default(),
            acks: Quantiles::default(),
            resolves: Quantiles::default(),
            pages: BTreeMap::new(),
            pending_pages: std::collections::VecDeque::new(),
            calibration: crate::metrics::CalibrationAcc::default(),
            labels: BTreeMap::new(),
            rules: BTreeMap::new(),
            episodes_csv: csv,
            audit,
            now: Time(i64::MIN),
            next_quiet_check: Time(i64::MIN),
            executed: None,
            decided: BTreeMap::new(),
            closed_alerts: std::collections::BTreeSet::new(),
            closed_order: std::collections::VecDeque::new(),
            deploys: BTreeMap::new(),
            replicas: BTreeMap::new(),
            recorded_points: false,
            campaigns: Vec::new(),
            next_decision: Time(i64::MAX),
            open_names: std::sync::Arc::default(),
        })
    }

    /// Carry on from an audit log after a restart: the actions it records count against
    /// cooldowns, attempt caps, hourly caps and the loop breaker; breakers it records as
    /// tripped (and not reset) stay tripped; episode numbers continue after the highest used;
    /// an alert it records as decided is not decided again when Alertmanager re-sends it.
    pub fn restore(&mut self, r: crate::live::restore::Restored) -> std::io::Result<()> {
        let policy = self.pipeline.policy().clone();
        let state = self.pipeline.state_mut();
        for (key, incident_type, at) in r.actions {
            state.record_action(&policy, key, &incident_type, at);
        }
        for (key, why) in r.breakers {
            state.trip_breaker(key, why);
        }
        self.next_id = self.next_id.max(r.last_episode);
        self.decided = r.decided;
        for a in r.closed_alerts {
            self.remember_closed(a);
        }
        // Incidents open when the process stopped are open again: an alert on their service,
        // new or re-sent, joins them; their alerts' resolution closes them.
        for (key, o) in r.open {
            let mut e =
                Episode::new(o.id, &key, o.start, o.alerts.iter().next().map(|(n, _)| n.clone()).unwrap_or_default());
            e.symptoms = o.alerts.len();
            e.last_symptom = o.last;
            e.firing = o.firing.into_iter().map(|n| (n, ())).collect();
            e.alerts = o.alerts;
            e.restored = true;
            self.open_insert(key, e)?;
        }
        self.next_quiet_check = Time(i64::MIN);
        Ok(())
    }

    /// Feed one record (records must come in time order).
    pub fn push(&mut self, rec: &Record) -> std::io::Result<()> {
        self.metrics.records += 1;
        self.classifier.observe(rec);
        let at = rec.at();
        self.now = self.now.max(at);
        if !self.pending_pages.is_empty() {
            self.settle_pages(at, None);
        }
        self.decide_due(at)?;
        self.close_quiet(at)?;
        self.close_ended_truths(at, true)?;
        match rec {
            Record::Signal { service, namespace, name, value, labels, .. } => {
                if name == crate::trace::REPLICAS_SIGNAL && value.is_finite() && *value >= 0.0 {
                    self.replicas.insert(ServiceKey::new(namespace, service), value.min(f64::from(u32::MAX)) as u32);
                }
                if self.settings.symptoms.check(namespace, service, name, at, *value) {
                    let o = Observation {
                        at,
                        name: name.clone(),
                        alert: false,
                        value: *value,
                        labels: labels.clone(),
                        annotations: BTreeMap::new(),
                    };
                    self.symptom(ServiceKey::new(namespace, service), at, name, None, o)?;
                }
            }
            Record::Alert { name, status, service, namespace, labels, annotations, .. } => {
                let key =
                    ServiceKey::new(namespace.as_deref().unwrap_or("default"), service.as_deref().unwrap_or(name));
                match status {
                    AlertStatus::Firing => {
                        let o = Observation {
                            at,
                            name: name.clone(),
                            alert: true,
                            value: 1.0,
                            labels: labels.clone(),
                            annotations: annotations.clone(),
                        };
                        let ctx = self.context(&key, at);
                        if !self.settings.symptoms.is_incident(&o, Some(&ctx)) {
                            // A watchdog or an inhibitor: it says the alerting works, not
                            // that anything is wrong. No episode, no page.
                            *self.metrics.not_incidents.entry(name.clone()).or_default() += 1;
                            return Ok(());
                        }
                        self.symptom(key, at, name, Some(name), o)?
                    }
                    AlertStatus::Resolved => {
                        let mut was_firing = None;
                        let done = self.open.get_mut(&key).is_some_and(|e| {
                            if e.firing.remove(name).is_some() {
                                was_firing = Some(e.id.clone());
                            }
                            e.firing.is_empty()
                        });
                        if let Some(id) = was_firing {
                            self.audit.for_restart(&[AuditRecord::AlertResolved {
                                id,
                                service: key.service.clone(),
                                namespace: key.namespace.clone(),
                                signal: name.clone(),
                                at,
                            }])?;
                            // Its firing, delivered again later, is stale.
                            let resolved: Vec<Time> =
                                self.open[&key].alerts.iter().filter(|(n, _)| n == name).map(|(_, t)| *t).collect();
                            for t in resolved {
                                self.remember_closed((key.clone(), t, name.clone()));
                            }
                        }
                        self.next_quiet_check = Time(i64::MIN);
                        if done {
                            self.close(&key, at, "alert-resolved")?;
                        } else if !self.open.contains_key(&key) {
                            self.audit.resolved_elsewhere(&key.namespace, &key.service, at)?;
                        }
                    }
                }
            }
            Record::Classification { service, namespace, incident_type, confidence, incident, signal, .. } => {
                if let Some(id) = incident.as_ref().filter(|_| self.settings.decide_at_recorded) {
                    self.recorded_points = true;
                    let c = Classification { incident_type: incident_type.clone(), confidence: *confidence };
                    self.decide_recorded(ServiceKey::new(namespace, service), at, c, id, signal.as_deref())?;
                }
            }
            Record::Window { independent, .. } => {
                if *independent {
                    // A world of its own: no guardrail state carries into it.
                    let state = self.pipeline.state_mut();
                    let stop = state.emergency_stop();
                    *state = crate::decide::State::new();
                    state.set_emergency_stop(stop);
                }
            }
            Record::Breaker { service, namespace, event, reason, .. } => {
                let key = ServiceKey::new(namespace, service);
                match event {
                    crate::trace::BreakerEvent::Tripped => self
                        .pipeline
                        .state_mut()
                        .trip_breaker(key, reason.clone().unwrap_or_else(|| "tripped in the recording".into())),
                    crate::trace::BreakerEvent::Reset => {
                        self.pipeline.state_mut().reset_breaker(&key);
                    }
                }
            }
            Record::Action { service, namespace, actor, action, .. } => {
                if actor != "automation" {
                    let key = ServiceKey::new(namespace, service);
                    let late =
                        self.recent.iter_mut().rev().find(|e| e.service == key.service && e.namespace == key.namespace);
                    if let Some(e) = self.open.get_mut(&key).or(late) {
                        e.human_actions.push((at, action.clone()));
                    }
                }
            }
            Record::Truth { service, namespace, incident_type, end, .. } => {
                let key = ServiceKey::new(namespace, service);
                if let Some(e) = self.open.get_mut(&key)
                    && e.truth.is_none()
                {
                    e.truth = Some(incident_type.clone());
                }
                self.truths.entry(key).or_default().push((at, *end, incident_type.clone()));
            }
            Record::Page { service, namespace, event, incident, by, .. } => {
                self.page(service, namespace.as_deref(), *event, incident, by.as_deref(), at);
            }
            Record::Deploy { service, namespace, .. } => {
                self.deploys.insert(ServiceKey::new(namespace, service), at);
            }
            Record::Campaign { end, services, .. } => {
                self.campaigns.retain(|(e, _)| *e >= at);
                self.campaigns.push((*end, services.clone()));
            }
        }
        if self.truths.is_empty() {
            return Ok(());
        }
        self.close_ended_truths(at, false)?;
        // Keep memory bounded on long traces: truths that ended a quiet period ago, and all
        // but the latest few open-ended ones, can no longer label an episode.
        let quiet = self.settings.quiet;
        for v in self.truths.values_mut() {
            v.retain(|(_, end, _)| end.is_none_or(|e| at.since(e) < quiet));
            if v.len() > 64 {
                v.drain(..v.len() - 64);
            }
        }
        self.truths.retain(|_, v| !v.is_empty());
        Ok(())
    }

    /// A truth that has ended by `at` closes its episode (at the truth's end), before any
    /// later record of the service can join it: the result for one service never depends on
    /// whether other services' records advanced the clock in between.
    /// `before`: only truths that ended strictly before `at` (run before a record, so a
    /// record at the very end, such as the alert's own resolution, still says how it ended).
    fn close_ended_truths(&mut self, at: Time, before: bool) -> std::io::Result<()> {
        if self.truths.is_empty() {
            return Ok(());
        }
        let ended: Vec<(ServiceKey, Time)> = self
            .truths
            .iter()
            .filter_map(|(k, v)| {
                v.iter()
                    .filter_map(|(_, end, _)| *end)
                    .filter(|e| if before { *e < at } else { *e <= at })
                    .max()
                    .map(|e| (k.clone(), e))
            })
            .filter(|(k, e)| self.open.get(k).is_some_and(|ep| ep.start <= *e && ep.last_symptom <= *e))
            .collect();
        for (k, e) in ended {
            self.close(&k, e, "truth")?;
        }
        Ok(())
    }

    /// A paging-system record: the people's timing, and the episode it paged for (the
    /// service's open one at the trigger, one closed within a quiet period, or one opening
    /// within [`PAGE_LEAD`] after it; matched by incident id after).
    fn page(
        &mut self,
        service: &str,
        namespace: Option<&str>,
        event: PageEvent,
        incident: &str,
        by: Option<&str>,
        at: Time,
    ) {
        let ours = |e: &Episode| e.service == service && namespace.is_none_or(|n| e.namespace == n);
        match event {
            PageEvent::Triggered => {
                if self.pages.contains_key(incident)
                    || self.pending_pages.iter().any(|(_, _, p)| p.incident == incident)
                {
                    // Triggered again (a re-sent export, the same file twice): one page.
                    self.metrics.page_events_ignored += 1;
                    return;
                }
                self.metrics.pages += 1;
                self.pages.insert(incident.to_string(), (at, false));
                if self.pages.len() > MAX_OPEN
                    && let Some(oldest) =
                        self.pages.iter().min_by_key(|(id, (t, _))| (*t, id.as_str())).map(|(id, _)| id.clone())
                {
                    self.pages.remove(&oldest);
                }
                let quiet = self.settings.quiet;
                let paged = Paged {
                    incident: incident.to_string(),
                    triggered: at,
                    acknowledged: None,
                    resolved: None,
                    by: None,
                };
                let recent = self
                    .recent
                    .iter_mut()
                    .rev()
                    .find(|e| ours(e) && e.page.is_none() && e.recovered_at.is_some_and(|r| at.since(r) < quiet));
                match self.open.values_mut().find(|e| ours(e)).or(recent) {
                    Some(e) => {
                        if e.page.is_none() {
                            e.page = Some(paged);
                        }
                        self.metrics.pages_in_episodes += 1;
                    }
                    // The symptoms may come from a source that lags the paging system: wait
                    // for an episode opening soon after.
                    None => {
                        self.pending_pages.push_back((service.to_string(), namespace.map(str::to_string), paged));
                        if self.pending_pages.len() > MAX_OPEN {
                            self.pending_pages.pop_front();
                            self.metrics.pages_without_episode += 1;
                        }
                    }
                }
            }
            PageEvent::Acknowledged | PageEvent::Resolved => {
                let Some((t, acked)) = self.pages.get_mut(incident) else {
                    // Acknowledged or resolved, never triggered in the trace.
                    self.metrics.page_events_ignored += 1;
                    return;
                };
                let delay = at.since(*t).as_secs_f64();
                if event == PageEvent::Acknowledged && !*acked {
                    *acked = true;
                    self.acks.add(delay);
                } else if event == PageEvent::Resolved {
                    self.resolves.add(delay);
                    self.pages.remove(incident);
                }
                let mine = |e: &&mut Episode| e.page.as_ref().is_some_and(|p| p.incident == incident);
                let p = match self.open.values_mut().find(mine).or_else(|| self.recent.iter_mut().find(mine)) {
                    Some(e) => e.page.as_mut(),
                    None => self.pending_pages.iter_mut().find(|(_, _, p)| p.incident == incident).map(|(_, _, p)| p),
                };
                if let Some(p) = p {
                    if event == PageEvent::Acknowledged && p.acknowledged.is_none() {
                        p.acknowledged = Some(at);
                        p.by = by.map(str::to_string);
                    } else if event == PageEvent::Resolved && p.resolved.is_none() {
                        p.resolved = Some(at);
                        if p.by.is_none() {
                            p.by = by.map(str::to_string);
                        }
                    }
                }
            }
        }
    }

    /// Pages waiting for an episode: the one opening now takes the earliest of its service's;
    /// those older than [`PAGE_LEAD`] (all of them at the end: `now` = the end of time) had
    /// none.
    fn settle_pages(&mut self, now: Time, opened: Option<&ServiceKey>) {
        if let Some(key) = opened
            && let Some(i) = self.pending_pages.iter().position(|(svc, ns, p)| {
                *svc == key.service
                    && ns.as_ref().is_none_or(|n| *n == key.namespace)
                    && now.since(p.triggered) <= PAGE_LEAD
            })
            && let Some((_, _, p)) = self.pending_pages.remove(i)
            && let Some(e) = self.open.get_mut(key)
        {
            e.page = Some(p);
            self.metrics.pages_in_episodes += 1;
        }
        while self
            .pending_pages
            .front()
            .is_some_and(|(_, _, p)| now.0 == i64::MAX || now.since(p.triggered) > PAGE_LEAD)
        {
            self.pending_pages.pop_front();
            self.metrics.pages_without_episode += 1;
        }
    }

    /// What surrounds an episode of `key` at `at`.
    fn context(&self, key: &ServiceKey, at: Time) -> Context {
        Context {
            last_deploy: self.deploys.get(key).copied().filter(|t| *t <= at),
            campaign: self
                .campaigns
                .iter()
                .any(|(end, svcs)| *end >= at && (svcs.is_empty() || svcs.contains(&key.service))),
            service: key.service.clone(),
            open: self.open_names.clone(),
        }
    }

    /// Classify an open episode on everything it has shown; record a change in its history.
    fn reclassify(&mut self, key: &ServiceKey, at: Time) -> Option<Classification> {
        let ctx = self.context(key, at);
        let ev = evidence(key, self.open.get(key)?, &ctx)?;
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(self.next_id as u64);
        let c = self.classifier.classify(&ev, &mut rng);
        let e = self.open.get_mut(key)?;
        if e.history.last().is_none_or(|(_, h)| *h != c) {
            if !e.history.is_empty() && e.history.len() == 1 {
                self.metrics.revised += 1;
            }
            if e.history.len() >= MAX_HISTORY {
                e.history.remove(1);
            }
            e.history.push((at, c.clone()));
        }
        Some(c)
    }

    /// Whether the policy would act on this classification now (its type auto-executes at
    /// this confidence): no need to wait for more evidence.
    fn decisive(&self, c: &Classification) -> bool {
        let p = self.pipeline.policy();
        p.auto_executes(&c.incident_type)
            && p.remediation(&c.incident_type).is_some_and(|r| c.confidence >= r.confidence_threshold)
    }

    /// Decide every open episode whose decision window has ended by `now`, at its end.
    fn decide_due(&mut self, now: Time) -> std::io::Result<()> {
        if now < self.next_decision {
            return Ok(());
        }
        let mut due: Vec<(Time, ServiceKey)> =
            self.open.iter().filter_map(|(k, e)| e.decide_by.filter(|t| *t <= now).map(|t| (t, k.clone()))).collect();
        due.sort();
        for (t, k) in due {
            if self.recorded_points {
                // The recording decides (see `Settings::decide_at_recorded`).
                if let Some(e) = self.open.get_mut(&k) {
                    e.decide_by = None;
                }
                continue;
            }
            let c = self.reclassify(&k, t);
            if let Some(c) = c {
                self.decide(&k, t, c)?;
            }
        }
        self.next_decision = self.open.values().filter_map(|e| e.decide_by).min().unwrap_or(Time(i64::MAX));
        Ok(())
    }

    /// The policy's decision for an open episode, taken at `at` on `c`.
    fn decide(&mut self, key: &ServiceKey, at: Time, c: Classification) -> std::io::Result<()> {
        let ctx = self.context(key, at);
        let Some(e) = self.open.get(key) else { return Ok(()) };
        let support = evidence(key, e, &ctx).map(|ev| self.classifier.support(&ev)).unwrap_or_default();
        let Some(e) = self.open.get_mut(key) else { return Ok(()) };
        e.support = support;
        let e = &self.open[key];
        let incident = self.input(key, at, &c, e.id.clone(), Some(e.latest_signal()), e.target());
        self.apply(key, at, c, incident)
    }

    /// The recording's decision point: incident `id` on `key`, classified `c` at `at` on
    /// `signal` (else the open episode's latest evidence). The decision is attached to the
    /// service's open episode, if any.
    fn decide_recorded(
        &mut self,
        key: ServiceKey,
        at: Time,
        c: Classification,
        id: &str,
        signal: Option<&str>,
    ) -> std::io::Result<()> {
        let e = self.open.get(&key);
        let signal = signal.map(String::from).or_else(|| e.map(Episode::latest_signal));
        let incident = self.input(&key, at, &c, id.to_string(), signal, e.and_then(Episode::target));
        self.apply(&key, at, c, incident)
    }

    /// The pipeline's input: `c` on `key` at `at`, with the service's latest replicas.
    fn input(
        &self,
        key: &ServiceKey,
        at: Time,
        c: &Classification,
        id: String,
        signal: Option<String>,
        target: Option<crate::policy::Target>,
    ) -> Incident {
        Incident {
            at,
            service: key.service.clone(),
            namespace: key.namespace.clone(),
            incident_type: c.incident_type.clone(),
            confidence: c.confidence,
            signal,
            replicas: self.replicas.get(key).copied(),
            id: Some(id),
            target,
        }
    }

    /// Run `incident` through the pipeline, keep the decision on the service's open episode
    /// and write its record.
    fn apply(&mut self, key: &ServiceKey, at: Time, c: Classification, incident: Incident) -> std::io::Result<()> {
        let d = self.pipeline.decide(at, &incident);
        if let Some(x) = self.executed.as_mut()
            && d.executed()
        {
            x.push((incident.clone(), d.clone()));
        }
        // An episode decided more than once (a recording's later decision points) shows
        // the first executed decision, else the latest.
        if let Some(e) = self.open.get_mut(key)
            && e.status != Some(Status::Execute)
        {
            e.status = Some(d.status);
            e.command = d.command.clone();
            e.suggested_action = d.suggested_action.clone();
            e.policy_action = d.action.as_ref().map(|a| a.kind().to_string());
            e.classification = Some(c);
            e.decide_by = None;
            e.decided_at.get_or_insert(at);
        }
        self.audit.record(&AuditRecord::Decision {
            policy_fingerprint: self.fingerprint.clone(),
            input: Box::new(incident),
            decision: Box::new(d),
        })
    }

    fn symptom(
        &mut self,
        key: ServiceKey,
        at: Time,
        name: &str,
        alert: Option<&str>,
        obs: Observation,
    ) -> std::io::Result<()> {
        if alert.is_some() && self.closed_alerts.contains(&(key.clone(), at, name.to_string())) {
            // The firing of an alert whose incident is over, delivered again: nothing new.
            self.metrics.redelivered += 1;
            return Ok(());
        }
        if let Some(e) = self.open.get_mut(&key) {
            e.symptoms += 1;
            e.last_symptom = at;
            // Once decided, the evidence is no longer read: keep only the first ones.
            if e.decide_by.is_some() || e.status.is_none() || e.observed.len() < MAX_OBSERVED / 2 {
                e.observe(obs);
            }
            if e.decide_by.is_some() {
                // Still gathering evidence: a classification the policy would act on now is
                // decided now.
                if let Some(c) = self.reclassify(&key, at)
                    && self.decisive(&c)
                    && !self.recorded_points
                {
                    self.decide(&key, at, c)?;
                }
            }
            let Some(e) = self.open.get_mut(&key) else { return Ok(()) };
            if let Some(a) = alert {
                e.firing.insert(a.to_string(), ());
                if e.alerts.insert((name.to_string(), at)) {
                    // A restarted process must know this alert is part of the incident, or
                    // the same alert re-sent alone would be decided as a new one.
                    // One the log already has (re-sent after a restart) is not written again.
                    if self.decided.remove(&(key.clone(), at, name.to_string())).is_none() {
                        self.audit.for_restart(&[AuditRecord::Joined {
                            id: e.id.clone(),
                            service: key.service.clone(),
                            namespace: key.namespace.clone(),
                            signal: name.to_string(),
                            at,
                        }])?;
                    }
                }
            }
            return Ok(());
        }
        let decided_before = self.decided.remove(&(key.clone(), at, name.to_string()));
        let id = match &decided_before {
            Some(id) => id.clone(),
            None => {
                self.next_id = self.next_id.saturating_add(1);
                format!("e{}", self.next_id)
            }
        };
        let truth = self.truths.get(&key).and_then(|v| {
            v.iter().rev().find(|(s, end, _)| *s <= at && end.is_none_or(|e| e >= at)).map(|(_, _, t)| t.clone())
        });
        let mut e = Episode::new(id, &key, at, name.to_string());
        e.truth = truth;
        e.restored = decided_before.is_some();
        if let Some(a) = alert {
            e.firing.insert(a.to_string(), ());
            e.alerts.insert((name.to_string(), at));
        }
        if decided_before.is_some() {
            // Decided before a restart, and the audit log has that decision: the re-sent alert
            // reopens its episode (so its other alerts join it and its resolution resolves
            // it) without a second decision.
            self.metrics.redelivered += 1;
            self.next_quiet_check = self.next_quiet_check.min(at.saturating_add(self.settings.quiet));
            self.open_insert(key, e)?;
            return Ok(());
        }
        e.observe(obs);
        self.next_quiet_check = self.next_quiet_check.min(at.saturating_add(self.settings.quiet));
        self.open_insert(key.clone(), e)?;
        let Some(c) = self.reclassify(&key, at) else { return Ok(()) };
        let window = self.settings.decision_window;
        if self.recorded_points {
            return Ok(()); // the recording decides (see `Settings::decide_at_recorded`)
        }
        if window.is_zero() || self.decisive(&c) {
            return self.decide(&key, at, c);
        }
        let by = at.saturating_add(window);
        if let Some(e) = self.open.get_mut(&key) {
            e.decide_by = Some(by);
        }
        self.next_decision = self.next_decision.min(by);
        Ok(())
    }

    /// Open an episode. With [`MAX_OPEN`] already open, the oldest tenth is forgotten first,
    /// together (one write of their `closed` records): each gets its episodes row (recovery
    /// `forgotten`), and its page, if any, is left to the person (nothing says it recovered).
    fn open_insert(&mut self, key: ServiceKey, e: Episode) -> std::io::Result<()> {
        if self.open.len() >= MAX_OPEN {
            let oldest: Vec<ServiceKey> =
                self.by_start.iter().take(MAX_OPEN / 10 + self.open.len() - MAX_OPEN).map(|(_, k)| k.clone()).collect();
            let mut gone = Vec::with_capacity(oldest.len());
            for k in &oldest {
                if let Some(mut old) = self.open_remove(k) {
                    old.recovery = Some("forgotten");
                    gone.push(old);
                }
            }
            let records: Vec<AuditRecord> = gone.iter().map(|o| o.closed_record(o.last_symptom)).collect();
            self.audit.for_restart(&records)?;
            for old in &gone {
                self.emit(old)?;
            }
        }
        self.by_start.insert((e.start, key.clone()));
        match self.open.insert(key.clone(), e) {
            Some(old) => {
                self.by_start.remove(&(old.start, key));
            }
            None => {
                *std::sync::Arc::make_mut(&mut self.open_names).entry(key.service.clone()).or_default() += 1;
                if !self.pending_pages.is_empty() {
                    let now = self.now;
                    self.settle_pages(now, Some(&key));
                }
            }
        }
        Ok(())
    }

    fn remember_closed(&mut self, a: Decided) {
        if self.closed_alerts.insert(a.clone()) {
            self.closed_order.push_back(a);
        }
        while self.closed_order.len() > MAX_OPEN {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed_alerts.remove(&old);
            }
        }
    }

    fn open_remove(&mut self, key: &ServiceKey) -> Option<Episode> {
        let e = self.open.remove(key)?;
        self.by_start.remove(&(e.start, key.clone()));
        let names = std::sync::Arc::make_mut(&mut self.open_names);
        if let Some(n) = names.get_mut(&key.service) {
            *n -= 1;
            if *n == 0 {
                names.remove(&key.service);
            }
        }
        Some(e)
    }

    fn close_quiet(&mut self, now: Time) -> std::io::Result<()> {
        let quiet = self.settings.quiet;
        // Nothing can have gone quiet before the earliest deadline seen at the last scan.
        if now < self.next_quiet_check {
            return Ok(());
        }
        let due: Vec<ServiceKey> = self
            .open
            .iter()
            .filter(|(_, e)| e.firing.is_empty() && now.since(e.last_symptom) >= quiet)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            let at = self.open[&k].last_symptom;
            self.close(&k, at, "quiet")?;
        }
        // Episodes only get later deadlines as symptoms arrive, so the earliest one now is a
        // safe bound for the next scan.
        self.next_quiet_check = self
            .open
            .values()
            .filter(|e| e.firing.is_empty())
            .map(|e| e.last_symptom.saturating_add(quiet))
            .min()
            .unwrap_or(Time(i64::MAX));
        Ok(())
    }

    fn close(&mut self, key: &ServiceKey, at: Time, how: &'static str) -> std::io::Result<()> {
        let Some(mut e) = self.open_remove(key) else { return Ok(()) };
        if e.decide_by.take().is_some() {
            // Over before its decision window ended: nothing was decided, nobody paged.
            self.metrics.recovered_before_decision += 1;
            e.classification = e.history.last().map(|(_, c)| c.clone());
        }
        for (name, t) in &e.alerts {
            self.remember_closed((key.clone(), *t, name.clone()));
        }
        e.recovered_at = Some(at.max(e.start));
        e.recovery = Some(how);
        if e.restored {
            self.audit.resolved_elsewhere(&e.namespace, &e.service, at.max(e.start))?;
        } else {
            self.audit.resolved(&e.id, at.max(e.start))?;
        }
        self.audit.for_restart(&[e.closed_record(at.max(e.start))])?;
        self.recent.push(e);
        Ok(())
    }

    fn emit(&mut self, e: &Episode) -> std::io::Result<()> {
        let m = &mut self.metrics;
        m.episodes += 1;
        let status = e.status.map_or("none", |s| s.as_str());
        *m.decisions.entry(status.to_string()).or_default() += 1;
        let label = e.classification.as_ref().map_or("unknown".to_string(), |c| c.incident_type.clone());
        *m.by_type.entry(label.clone()).or_default() += 1;
        let agreement = e.agreement();
        *m.agreement.entry(agreement.as_str().to_string()).or_default() += 1;
        m.person_acted += usize::from(agreement.person_acted());
        if let Some(t) = e.ttr_seconds() {
            m.recovered += 1;
            self.ttrs.add(t);
        }
        if let Some(s) = e.saved_seconds() {
            self.saved.add(s);
        }
        if status == "no-policy" {
            *m.no_policy_types.entry(label.clone()).or_default() += 1;
        }
        if !matches!(status, "execute" | "none") && m.handed_to_people.len() < MAX_HANDED_OVER {
            m.handed_to_people.push(HandedOver {
                id: e.id.clone(),
                service: e.service.clone(),
                start: e.start,
                classified_as: label.clone(),
                confidence: e.classification.as_ref().map_or(0.0, |c| c.confidence),
                decision: status.to_string(),
            });
        }
        if let (Some(truth), Some(c)) = (&e.truth, &e.classification) {
            self.calibration.add(c.confidence, *truth == c.incident_type);
            let l = self.labels.entry(c.incident_type.clone()).or_default();
            l.0 += 1;
            l.1 += usize::from(*truth == c.incident_type);
            l.2 += c.confidence;
            // Each matched rule is right when the type it counted for is the truth, whatever
            // the episode's label came out as.
            for sup in &e.support {
                let key = if self.rules.len() < MAX_RULES_TRACKED || self.rules.contains_key(&sup.rule) {
                    sup.rule.clone()
                } else {
                    "(other rules)".to_string()
                };
                let r = self.rules.entry(key).or_insert((0, 0, sup.confidence));
                r.0 += 1;
                r.1 += usize::from(*truth == sup.incident_type);
            }
        }
        if let Some(truth) = &e.truth {
            m.with_truth += 1;
            if *truth == label {
                m.correct_classifications += 1;
            } else if e.status == Some(Status::Execute) {
                m.false_confidence_actions += 1;
            }
        }
        let (h_action, h_at) =
            e.human_actions.first().map_or((String::new(), String::new()), |(t, a)| (a.clone(), t.to_rfc3339()));
        self.episodes_csv.write_record([
            e.id.clone(),
            e.service.clone(),
            e.namespace.clone(),
            e.start.to_rfc3339(),
            e.evidence.clone(),
            e.symptoms.to_string(),
            label,
            e.classification.as_ref().map_or(String::new(), |c| format!("{:.2}", c.confidence)),
            e.truth.clone().unwrap_or_default(),
            status.to_string(),
            e.policy_action.clone().unwrap_or_default(),
            e.command.clone().or_else(|| e.suggested_action.clone()).unwrap_or_default(),
            h_action,
            h_at,
            agreement.as_str().to_string(),
            e.recovered_at.map_or(String::new(), |t| t.to_rfc3339()),
            e.recovery.unwrap_or("unresolved").to_string(),
            e.ttr_seconds().map_or(String::new(), |t| format!("{t:.0}")),
            e.saved_seconds().map_or(String::new(), |t| format!("{t:.0}")),
            e.decided_at.map_or(String::new(), |t| t.to_rfc3339()),
            e.history_text(),
            e.page.as_ref().map_or(String::new(), |p| p.triggered.to_rfc3339()),
            e.page.as_ref().and_then(|p| p.acknowledged).map_or(String::new(), |t| t.to_rfc3339()),
            e.page.as_ref().and_then(|p| p.resolved).map_or(String::new(), |t| t.to_rfc3339()),
        ])?;
        Ok(())
    }

    /// Write out episodes whose late-action window has passed (all of them at the end), in
    /// start order.
    fn flush_recent(&mut self, all: bool) -> std::io::Result<()> {
        let (quiet, now) = (self.settings.quiet, self.now);
        let final_ = |e: &Episode| all || e.recovered_at.is_some_and(|r| now.since(r) >= quiet);
        if !self.recent.iter().any(final_) {
            return Ok(());
        }
        let (mut due, keep): (Vec<Episode>, Vec<Episode>) =
            std::mem::take(&mut self.recent).into_iter().partition(final_);
        self.recent = keep;
        due.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        for e in &due {
            self.emit(e)?;
        }
        Ok(())
    }

    /// Feed a record, then write out episodes that can no longer change.
    /// Keep executed decisions for [`Replayer::take_executed`] (live mode acts on them).
    pub fn collect_executed(&mut self) {
        self.executed.get_or_insert_with(Vec::new);
    }

    /// Executed decisions since the last call (empty unless `collect_executed` was called).
    pub fn take_executed(&mut self) -> Vec<(Incident, crate::decide::Decision)> {
        self.executed.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The pipeline's state (live mode trips breakers after a failed verification).
    pub fn state_mut(&mut self) -> &mut crate::decide::State {
        self.pipeline.state_mut()
    }

    pub fn feed(&mut self, rec: &Record) -> std::io::Result<()> {
        // Episodes recovered more than a quiet period ago are final.
        self.push(rec)?;
        self.flush_recent(false)
    }

    /// End of the trace: close what is still open (unresolved) and return the metrics.
    pub fn finish(mut self) -> std::io::Result<ReplayMetrics> {
        // Decisions still pending fall due at their window's end.
        self.decide_due(Time(i64::MAX))?;
        self.settle_pages(Time(i64::MAX), None);
        // At the end of the trace: an episode whose truth says when it ended is closed there;
        // anything else still showing symptoms is unresolved.
        let keys: Vec<ServiceKey> = self.open.keys().cloned().collect();
        for k in keys {
            let last = self.open[&k].last_symptom;
            let end =
                self.truths.get(&k).and_then(|v| v.iter().filter_map(|(_, e, _)| *e).filter(|e| *e >= last).min());
            match end {
                Some(e) => self.close(&k, e, "truth")?,
                None => {
                    if let Some(e) = self.open_remove(&k) {
                        self.recent.push(e);
                    }
                }
            }
        }
        self.flush_recent(true)?;
        self.episodes_csv.flush()?;
        self.audit.flush()?;
        let mut m = self.metrics;
        let acted = m.person_acted;
        m.agreement_rate =
            r4(if acted > 0 { m.agreement.get("same").copied().unwrap_or(0) as f64 / acted as f64 } else { 0.0 });
        m.observed_ttr_seconds = self.ttrs.summary();
        if !self.calibration.is_empty() {
            m.calibration = Some(self.calibration.finish());
        }
        m.label_accuracy = self
            .labels
            .iter()
            .map(|(l, &(n, right, sum))| {
                let a = LabelAccuracy {
                    episodes: n,
                    right,
                    mean_confidence: r4(sum / n.max(1) as f64),
                    supported: crate::metrics::Rate::new(right, n),
                };
                (l.clone(), a)
            })
            .collect();
        m.rule_accuracy = self
            .rules
            .iter()
            .map(|(rule, &(n, right, conf))| {
                let supported = crate::metrics::Rate::new(right, n);
                // A suggestion needs evidence: at least MIN_RULE_EPISODES episodes, and the
                // rule's own confidence outside the interval they give.
                let outside = n >= MIN_RULE_EPISODES && (conf < supported.ci95[0] || conf > supported.ci95[1]);
                let suggest = outside.then(|| (supported.value * 100.0).round() / 100.0);
                (rule.clone(), RuleAccuracy { episodes: n, right, confidence: conf, supported, suggest })
            })
            .collect();
        m.mttr_saved = self.saved.summary();
        m.people_ack_seconds = self.acks.summary();
        m.people_resolve_seconds = self.resolves.summary();
        m.sources = SOURCES.into_iter().collect();
        Ok(m)
    }
}

/// Merge several time-ordered record streams into one, by time (ties: earlier input first).
pub fn merge<I>(streams: Vec<std::iter::Peekable<I>>) -> impl Iterator<Item = Result<(usize, Record), Diagnostic>>
where
    I: Iterator<Item = Result<(usize, Record), Diagnostic>>,
{
    merge_tagged(streams).map(|r| r.map(|(_, line, rec)| (line, rec)))
}

/// [`merge`], saying which stream each record came from: `(stream, line, record)`.
pub fn merge_tagged<I>(
    mut streams: Vec<std::iter::Peekable<I>>,
) -> impl Iterator<Item = Result<(usize, usize, Record), Diagnostic>>
where
    I: Iterator<Item = Result<(usize, Record), Diagnostic>>,
{
    std::iter::from_fn(move || {
        let mut best: Option<(usize, Time)> = None;
        for (k, s) in streams.iter_mut().enumerate() {
            match s.peek() {
                Some(Err(_)) => return s.next().map(|r| r.map(|(l, rec)| (k, l, rec))),
                Some(Ok((_, r))) if best.is_none_or(|(_, t)| r.at() < t) => best = Some((k, r.at())),
                Some(Ok(_)) | None => {}
            }
        }
        best.and_then(|(k, _)| streams[k].next().map(|r| r.map(|(l, rec)| (k, l, rec))))
    })
}

/// The files a replay writes into `dir`: report.json, incidents.csv, decisions.jsonl, report.md.
pub fn output_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    (dir.join("report.json"), dir.join("incidents.csv"), dir.join("decisions.jsonl"), dir.join("report.md"))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::rc::Rc;

    use proptest::prelude::*;

    use super::*;
    use crate::classify::Classification;
    use crate::live::restore::Restored;

    const POLICY: &str = "remediation_policies:
  - { incident_type: memory-leak, auto_execute: true, confidence_threshold: 0.9, max_attempts: 2, cooldown_after_action: 10m, verification_window: 5m, rollback_if_failed: true, escalation_channel: p1, action: { kind: restart } }
  - { incident_type: cpu-spike, auto_execute: true, confidence_threshold: 0.8, max_attempts: 1, cooldown_after_action: 15m, verification_window: 5m, rollback_if_failed: true, escalation_channel: p1, action: { kind: scale, replicas: 4 } }
guardrails: { namespaces: [prod], max_actions_per_hour: 4, loop_breaker: { max_actions: 3, window: 1h } }
";

    /// Reads the alert's name: OOMKilled is a leak, anything else a CPU spike.
    struct ByName;

    impl Classifier for ByName {
        fn classify(&self, ev: &Evidence<'_>, _rng: &mut dyn rand::RngCore) -> Classification {
            let ty = if ev.signal == "OOMKilled" { "memory-leak" } else { "cpu-spike" };
            Classification { incident_type: ty.into(), confidence: 0.95 }
        }
    }

    /// Everything a restarted process could read back, as the audit log holds it.
    #[derive(Clone, Default)]
    struct Log(Rc<RefCell<Vec<serde_json::Value>>>);

    impl Sink for Log {
        fn record(&mut self, r: &AuditRecord) -> std::io::Result<()> {
            self.0.borrow_mut().push(serde_json::to_value(r)?);
            Ok(())
        }

        fn for_restart(&mut self, records: &[AuditRecord]) -> std::io::Result<()> {
            records.iter().try_for_each(|r| self.record(r))
        }
    }

    fn alert(at: Time, svc: &str, name: &str, firing: bool) -> Record {
        Record::Alert {
            at,
            name: name.into(),
            status: if firing { AlertStatus::Firing } else { AlertStatus::Resolved },
            service: Some(svc.into()),
            namespace: Some("prod".into()),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            fingerprint: None,
        }
    }

    fn replayer<'a>(classifier: &'a ByName, log: &Log) -> Replayer<'a, std::io::Sink> {
        let policy = Policy::from_yaml(Path::new("p.yaml"), POLICY).unwrap().policy;
        Replayer::new(policy, classifier, Settings::default(), std::io::sink(), Box::new(log.clone())).unwrap()
    }

    /// (service, alert name) → startsAt of the alerts firing.
    type Firing = BTreeMap<(usize, usize), Time>;

    /// Alertmanager's view: alerts firing now (service, name) → startsAt, and the records
    /// it sends as they fire, re-fire (a re-send carries the original startsAt) and resolve.
    fn traffic(steps: &[(i64, usize, usize, bool)]) -> Vec<(Record, Firing)> {
        let (services, names) = (["payment-api", "checkout-api"], ["OOMKilled", "KubePodCrashLooping", "HighCPU"]);
        let mut firing = BTreeMap::new();
        let mut resolved = BTreeMap::new();
        let mut now = 1_795_000_000_000_000_000i64;
        let mut out = Vec::new();
        for &(gap, s, n, fire) in steps {
            now += gap * 60_000_000_000;
            let rec = match (fire, firing.get(&(s, n)).copied()) {
                (true, Some(start)) => alert(start, services[s], names[n], true),
                (true, None) => {
                    firing.insert((s, n), Time(now));
                    alert(Time(now), services[s], names[n], true)
                }
                (false, Some(start)) => {
                    firing.remove(&(s, n));
                    resolved.insert((s, n), start);
                    alert(Time(now), services[s], names[n], false)
                }
                // A stale re-delivery of the firing of an alert already resolved.
                (false, None) => match resolved.get(&(s, n)) {
                    Some(start) => alert(*start, services[s], names[n], true),
                    None => continue,
                },
            };
            out.push((rec, firing.clone()));
        }
        out
    }

    fn kinds<'v>(log: &'v [serde_json::Value], kind: &str) -> Vec<&'v serde_json::Value> {
        log.iter().filter(|v| v["record"] == kind).collect()
    }

    #[test]
    fn a_flood_of_incidents_that_never_resolve_keeps_at_most_max_open_open() {
        let classifier = ByName;
        let log = Log::default();
        let mut r = replayer(&classifier, &log);
        let t0 = 1_795_000_000_000_000_000i64;
        for n in 0..=MAX_OPEN {
            r.push(&alert(Time(t0 + n as i64 * 1_000_000), &format!("svc-{n}"), "HighCPU", true)).unwrap();
        }
        assert_eq!(r.open.len(), MAX_OPEN - MAX_OPEN / 10 + 1, "the oldest tenth went at once");
        assert_eq!(r.open.len(), r.by_start.len(), "the index follows the open episodes");
        let closed: Vec<String> =
            kinds(&log.0.borrow(), "closed").iter().map(|v| v["service"].as_str().unwrap().to_string()).collect();
        assert_eq!(closed.len(), MAX_OPEN / 10);
        assert_eq!(closed.first().map(String::as_str), Some("svc-0"), "oldest first");
        // The first service's incident was forgotten: its next alert is a new incident.
        let decisions = kinds(&log.0.borrow(), "decision").len();
        r.push(&alert(Time(t0 + 20_000_000_000_000), "svc-0", "OOMKilled", true)).unwrap();
        assert_eq!(kinds(&log.0.borrow(), "decision").len(), decisions + 1);
    }

    proptest! {
        /// A restart between any two webhooks, after which Alertmanager re-sends any of the
        /// alerts still firing (some, all or none, in any order) before new ones arrive, adds
        /// no record and changes no later one: the log is the one a process that never
        /// stopped writes (a new alert on a service whose incident was open joins it).
        #[test]
        fn a_restart_and_alertmanagers_resend_change_nothing_in_the_log(
            steps in proptest::collection::vec((0i64..8, 0usize..2, 0usize..3, proptest::bool::weighted(0.6)), 1..40),
            cut in 0usize..40,
            reverse in any::<bool>(),
            resend_mask in any::<u64>(),
        ) {
            let events = traffic(&steps);
            let cut = cut.min(events.len());
            let classifier = ByName;
            let never = Log::default();
            let mut r = replayer(&classifier, &never);
            for (rec, _) in &events {
                r.push(rec).unwrap();
            }

            let before = Log::default();
            let mut r = replayer(&classifier, &before);
            for (rec, _) in &events[..cut] {
                r.push(rec).unwrap();
            }
            drop(r); // kill -9: nothing more is written
            let mut restored = Restored::default();
            for v in before.0.borrow().iter() {
                restored.fold(v);
            }
            let after = Log(before.0.clone());
            let mut r = replayer(&classifier, &after);
            r.restore(restored).unwrap();
            let firing = cut.checked_sub(1).map(|i| events[i].1.clone()).unwrap_or_default();
            let mut resend: Vec<Record> = events[..cut]
                .iter()
                .filter_map(|(rec, _)| match rec {
                    Record::Alert { at, name, service: Some(svc), status: AlertStatus::Firing, .. } => Some((*at, svc.clone(), name.clone())),
                    _ => None,
                })
                .filter(|(at, svc, name)| firing.iter().any(|((s, n), t)| {
                    t == at && ["payment-api", "checkout-api"][*s] == svc && ["OOMKilled", "KubePodCrashLooping", "HighCPU"][*n] == name
                }))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .enumerate()
                // Alertmanager re-sends some of them, or none, before new alerts come in.
                .filter(|(k, _)| resend_mask >> (k % 64) & 1 == 1)
                .map(|(_, (at, svc, name))| alert(at, &svc, &name, true))
                .collect();
            if reverse {
                resend.reverse();
            }
            for rec in &resend {
                r.push(rec).unwrap();
            }
            for (rec, _) in &events[cut..] {
                r.push(rec).unwrap();
            }
            let (never, restarted) = (never.0.borrow(), after.0.borrow());
            prop_assert_eq!(kinds(&restarted, "decision"), kinds(&never, "decision"));
            prop_assert_eq!(kinds(&restarted, "joined"), kinds(&never, "joined"));
            prop_assert_eq!(&*restarted, &*never, "the whole log, closes and resolved alerts included");
            // Stale re-deliveries reopen nothing: an alert is decided once, and a closed
            // incident gets no later record.
            let decided: Vec<(String, String, String)> = kinds(&never, "decision")
                .iter()
                .map(|d| (d["input"]["service"].to_string(), d["input"]["at"].to_string(), d["input"]["signal"].to_string()))
                .collect();
            let unique: std::collections::BTreeSet<_> = decided.iter().collect();
            prop_assert_eq!(unique.len(), decided.len(), "an alert decided twice: {:?}", decided);
            let mut closed = std::collections::BTreeSet::new();
            for r in never.iter() {
                let id = r["id"].as_str().or_else(|| r["decision"]["id"].as_str()).unwrap_or_default().to_string();
                prop_assert!(!closed.contains(&id), "a record after {} closed: {}", id, r);
                if r["record"] == "closed" {
                    closed.insert(id);
                }
            }
        }
    }
}
