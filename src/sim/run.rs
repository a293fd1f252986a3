//! One replication: every arm ([`ArmKind`]) over the same fault instances and human draws.
//!
//! The runner owns the event loop: it advances the engine, lets the world change, evaluates
//! the monitor every tick, pages people on alerts (`baseline`) or hands detections to the
//! classifier and the decision pipeline (`recommend`, `policy`), carries out executed actions
//! on the world (the world-model executor), verifies them over the policy's window, and brings
//! people in when paged or when they notice. It keeps per-incident bookkeeping and turns it
//! into [`IncidentRecord`]s, with what automation did on each incident's service
//! ([`Touch`]) so that every difference between arms has a named cause.

use std::time::Duration;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

use super::dynamics::{Dynamics, Mechanics, POD_STARTUP, WorldEv, rollout_time};
use super::engine::Engine;
use super::model::{Cause, HumanDraw};
use super::scenario::{FaultInstance, Scenario};
use super::world::{FaultState, World};
use super::{
    ActionRecord, ArmKind, ArmResult, Arms, IncidentRecord, Outcome, Touch, TouchKind, name_hash, stream_seed,
};
use crate::audit::{AuditRecord, Check};
use crate::classify::{Classifier, Evidence};
use crate::clock::Time;
use crate::decide::{Incident, Pipeline, ServiceKey, Status};
use crate::escalate::{Book, Context, Escalation};
use crate::policy::{Action, Policy};

/// A recovery counts once the service has stayed healthy this long.
pub const LASTING: Duration = Duration::from_secs(30 * 60);
/// Alert → page (Alertmanager's default `group_wait`), and alert → classification →
/// decision: the same 30 s in every arm, so a page reaches people at the same moment whether
/// the alert or the pipeline sends it.
const CLASSIFY_LATENCY: Duration = Duration::from_secs(30);
/// `for:` durations of the monitor's conditions, in `Signals::conditions` order.
const FOR: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_secs(120),
    Duration::from_secs(180),
    Duration::from_secs(300),
    Duration::from_secs(300),
];

/// Streams of randomness (see `sim` module docs).
const STREAM_FAULTS: u64 = 1;
const STREAM_HUMAN: u64 = 2;
const STREAM_CLASSIFY: u64 = 3;
const STREAM_PODS: u64 = 4;

#[derive(Debug, Clone, Copy)]
enum Ev {
    Tick,
    World(WorldEv),
    /// incident, signal index
    Decide(u32, u8),
    VerifyEnd(u32),
    HumanDetect(u32),
    HumanFix(u32),
}

impl From<WorldEv> for Ev {
    fn from(e: WorldEv) -> Ev {
        Ev::World(e)
    }
}

#[derive(Debug, Clone, Default)]
struct IncRun {
    onset: Option<Time>,
    detections: u32,
    classifications: Vec<(String, f64)>,
    decisions: Vec<String>,
    actions: Vec<usize>,
    escalations: u32,
    pages: u32,
    human_engaged: Option<Time>,
    healthy_since: Option<Time>,
    recovered_at: Option<Time>,
    /// The cause came back after recovery and is showing again.
    relapsed: bool,
    relapses: u32,
    impact: f64,
    /// When its latest lasting recovery was confirmed (cleared by a relapse).
    settled_at: Option<Time>,
}

impl IncRun {
    /// Showing symptoms and not (or no longer) recovered.
    fn is_open(&self) -> bool {
        self.onset.is_some() && (self.recovered_at.is_none() || self.relapsed)
    }
}

#[derive(Debug, Clone)]
struct ActRun {
    incident: usize,
    at: Time,
    action: Action,
    command: String,
    classified_as: String,
    confidence: f64,
    correct: bool,
    pre_severity: f64,
    prev_replicas: u32,
    prev_revision: Option<u32>,
    verified: Option<bool>,
    verified_at: Option<Time>,
    rolled_back: bool,
    harmed: bool,
    decision_id: Option<String>,
    incident_type: String,
}

/// Something automation did on a service that can change what happens there.
#[derive(Debug, Clone)]
struct Intervention {
    svc: usize,
    at: Time,
    kind: TouchKind,
    incident: usize,
    what: String,
    /// The label an action was executed on (what the policy saw).
    label: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Monitor {
    since: [Option<Time>; 5],
    /// Per alert rule, in `Signals::conditions` order.
    firing: [bool; 5],
    /// `firing` as the trace last wrote it (to write each resolution once).
    was_firing: [bool; 5],
}

/// The outcome of one replication.
#[derive(Debug, Clone)]
pub struct Replication {
    pub replication: u32,
    pub incidents: Vec<IncidentRecord>,
    pub audit: Vec<AuditRecord>,
    /// What would have been sent to people, in the order it would have been sent.
    pub escalations: Vec<Escalation>,
    /// Alerts that fired with no incident open on the service.
    pub false_alarms: u32,
    /// What happened in the policy arm as trace records, time-ordered (only when asked for:
    /// [`run_replication_traced`]).
    pub trace: Vec<crate::trace::Record>,
}

struct Arm<'a> {
    s: &'a Scenario,
    policy: &'a Policy,
    fingerprint: &'a str,
    kind: ArmKind,
    base: u64,
    rep: u32,
    engine: Engine<Ev>,
    dy: Dynamics,
    inc: Vec<IncRun>,
    acts: Vec<ActRun>,
    pipeline: Pipeline,
    audit: Vec<AuditRecord>,
    book: Book,
    escalations: Vec<Escalation>,
    monitors: Vec<Monitor>,
    human: &'a [HumanDraw],
    false_alarms: u32,
    instances: &'a [FaultInstance],
    interventions: Vec<Intervention>,
    /// Trace records of what happened, when asked for (the policy arm only).
    trace: Option<Vec<crate::trace::Record>>,
}

/// The fault instances and human draws of replication `rep`: what every arm shares.
fn draws(scenario: &Scenario, seed: u64, rep: u32) -> (u64, Vec<FaultInstance>, Vec<HumanDraw>) {
    let base = stream_seed(seed, 0, name_hash(&scenario.name), u64::from(rep));
    let mut fault_rng = Pcg64Mcg::seed_from_u64(stream_seed(base, STREAM_FAULTS, 0, 0));
    let instances = scenario.instances(&mut fault_rng);
    let human: Vec<HumanDraw> = (0..instances.len())
        .map(|i| scenario.human.draw(&mut Pcg64Mcg::seed_from_u64(stream_seed(base, STREAM_HUMAN, i as u64, 0))))
        .collect();
    (base, instances, human)
}

/// Run replication `rep` of `scenario` under `policy`: every arm.
pub fn run_replication(scenario: &Scenario, policy: &Policy, seed: u64, rep: u32) -> Replication {
    run(scenario, policy, seed, rep, None, false, false)
}

/// [`run_replication`], also writing what happened in the policy arm as trace records
/// ([`Replication::trace`]): the same run, the same results.
pub fn run_replication_traced(scenario: &Scenario, policy: &Policy, seed: u64, rep: u32) -> Replication {
    run(scenario, policy, seed, rep, None, false, true)
}

/// [`run_replication`] without the shortcut that takes the recommend arm from the baseline
/// where the two are provably equal: for tests that check they are.
pub fn run_every_arm(scenario: &Scenario, policy: &Policy, seed: u64, rep: u32) -> Replication {
    run(scenario, policy, seed, rep, None, true, false)
}

/// Replication `rep` under `policy`, re-running only the `policy` arm and taking the others
/// from `shared` (the same scenario, seed and replication under a policy with the same
/// incident types: the shared arms do not depend on thresholds, attempts, cooldowns or
/// guardrails, because nothing is executed in them). What a full re-run gives, for a
/// fraction of the time: the threshold curves and sweeps use it.
pub fn rerun_policy_arm(scenario: &Scenario, policy: &Policy, seed: u64, shared: &Replication) -> Replication {
    run(scenario, policy, seed, shared.replication, Some(shared), false, false)
}

fn run(
    scenario: &Scenario,
    policy: &Policy,
    seed: u64,
    rep: u32,
    shared: Option<&Replication>,
    every_arm: bool,
    traced: bool,
) -> Replication {
    let laid;
    let scenario = match scenario.for_replication(rep) {
        Some(s) => {
            laid = s;
            &laid
        }
        None => scenario,
    };
    let (base, instances, human) = draws(scenario, seed, rep);
    let fingerprint = policy.fingerprint();
    let recommend_policy = policy.recommend_only();
    let arm = |kind: ArmKind| {
        let p = if kind == ArmKind::Recommend { &recommend_policy } else { policy };
        let mut a = Arm::new(scenario, p, &fingerprint, kind, base, rep, &human, &instances);
        if traced && kind == ArmKind::Policy {
            a.trace = Some(Vec::new());
        }
        a.run();
        a
    };
    let auto = arm(ArmKind::Policy);
    let others = match shared {
        Some(sh) => Shared::Reused(sh),
        None => {
            let baseline = arm(ArmKind::Baseline);
            // A team already paged by alerts, with suggestions that change nothing: the
            // recommend arm is the baseline event for event (the same pages at the same times,
            // nothing executed), so it is not run twice. `run_every_arm` runs it anyway, and a
            // test holds the two equal.
            let h = &scenario.human;
            let same =
                !every_arm && h.paged_by_alerts && h.right_suggestion_factor == 1.0 && h.wrong_suggestion_factor == 1.0;
            let recommend = if same { None } else { Some(arm(ArmKind::Recommend)) };
            Shared::Ran(Box::new((baseline, recommend, h.paged_by_alerts.then(|| arm(ArmKind::Unpaged)))))
        }
    };

    let mut sent: std::collections::BTreeMap<&str, u32> = std::collections::BTreeMap::new();
    for e in auto.escalations.iter().filter(|e| e.event == crate::escalate::Event::Trigger) {
        if let Some(id) = e.incident_id.as_deref() {
            *sent.entry(id).or_default() += 1;
        }
    }
    let incidents = instances
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let svc = &scenario.services[f.service];
            let a = &auto.inc[i];
            let (baseline, recommend, unpaged, recommend_touched) = match &others {
                Shared::Reused(sh) => {
                    let r = &sh.incidents[i];
                    (r.arms.baseline.clone(), r.arms.recommend.clone(), r.arms.unpaged.clone(), r.recommend_touched)
                }
                Shared::Ran(b) => {
                    let (base, rec, unp) = b.as_ref();
                    let rec_result = rec.as_ref().map_or_else(|| base.result(i), |r| r.result(i));
                    let touched = rec.as_ref().is_some_and(|r| !r.touches(i, None).is_empty());
                    (base.result(i), rec_result, unp.as_ref().map(|u| u.result(i)), touched)
                }
            };
            let id = incident_id(scenario, rep, i);
            IncidentRecord {
                scenario: scenario.name.clone(),
                replication: rep,
                sent: sent.get(id.as_str()).copied().unwrap_or(0),
                id,
                service: svc.name.clone(),
                namespace: svc.namespace.clone(),
                truth: f.cause,
                onset: a.onset.or(baseline.onset).unwrap_or(f.onset.saturating_add(f.params.symptom_delay)),
                classifications: a.classifications.clone(),
                decisions: a.decisions.clone(),
                actions: a.actions.iter().map(|&k| auto.action_record(k)).collect(),
                escalations: a.escalations,
                pages: a.pages,
                relapses: a.relapses,
                touched_by: auto.touches(
                    i,
                    match &others {
                        Shared::Ran(b) => Some(&b.1.as_ref().unwrap_or(&b.0).dy.world),
                        Shared::Reused(_) => None,
                    },
                ),
                recommend_touched,
                arms: Arms { baseline, recommend, policy: auto.result(i), unpaged },
            }
        })
        .collect();
    let trace = auto.finish_trace();
    Replication {
        replication: rep,
        incidents,
        audit: auto.audit,
        escalations: auto.escalations,
        false_alarms: auto.false_alarms,
        trace,
    }
}

/// The arms a policy run is compared with: run here, or taken from an earlier run.
enum Shared<'r, 'a> {
    Reused(&'r Replication),
    /// baseline, recommend (`None`: provably the baseline), unpaged.
    Ran(Box<(Arm<'a>, Option<Arm<'a>>, Option<Arm<'a>>)>),
}

fn incident_id(s: &Scenario, rep: u32, i: usize) -> String {
    format!("{}/r{rep}/i{i}", s.name)
}

impl<'a> Arm<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        s: &'a Scenario,
        policy: &'a Policy,
        fingerprint: &'a str,
        kind: ArmKind,
        base: u64,
        rep: u32,
        human: &'a [HumanDraw],
        instances: &'a [FaultInstance],
    ) -> Self {
        Arm {
            s,
            policy,
            fingerprint,
            kind,
            base,
            rep,
            engine: Engine::with_capacity(s.start, 4096),
            // The same pod jitter in every arm, one generator per service.
            dy: Dynamics::new(World::new(s), |svc| stream_seed(base, STREAM_PODS, svc as u64, 0)),
            inc: vec![IncRun::default(); instances.len()],
            acts: Vec::new(),
            pipeline: Pipeline::new(policy.clone()),
            audit: Vec::new(),
            book: Book::new(Context {
                mode: "simulate".into(),
                scope: format!("{}/r{rep}", s.name),
                key_by_id: true,
                default_channel: policy.channels().map_or_else(|| "default".into(), |c| c.default.clone()),
                records: "decisions.jsonl".into(),
                evidence_url: None,
                repeat: Context::repeats(policy.channels()),
            }),
            escalations: Vec::new(),
            monitors: vec![Monitor::default(); s.services.len()],
            human,
            false_alarms: 0,
            instances,
            interventions: Vec::new(),
            trace: None,
        }
    }

    // ----- the trace -----------------------------------------------------------------------

    fn note(&mut self, r: crate::trace::Record) {
        if let Some(t) = self.trace.as_mut()
            && r.at() < self.s.horizon()
        {
            t.push(r);
        }
    }

    /// The trace of this arm: the window it covers, each service's revision and pods at the
    /// start, campaigns, what happened, and the truth of every fault (onset → lasting
    /// recovery), sorted by time (ties in the order they happened).
    fn finish_trace(&self) -> Vec<crate::trace::Record> {
        use crate::trace::Record;
        let Some(events) = &self.trace else { return Vec::new() };
        let s = self.s;
        let mut out = vec![Record::Window {
            at: s.start,
            end: s.end(),
            note: Some(format!("simulated: {} replication {}", s.name, self.rep)),
            independent: true,
        }];
        for spec in &s.services {
            out.push(Record::Deploy {
                at: s.start,
                service: spec.name.clone(),
                namespace: spec.namespace.clone(),
                revision: spec.revision.to_string(),
                tool: "simulation".into(),
            });
            for k in 0..spec.replicas {
                out.push(Record::Signal {
                    at: s.start,
                    service: spec.name.clone(),
                    namespace: spec.namespace.clone(),
                    name: "kube_pod_status_ready".into(),
                    value: 1.0,
                    labels: [("pod".to_string(), format!("{}-{k}", spec.name))].into_iter().collect(),
                });
            }
        }
        // Load at a known time is a campaign (that is how scenarios write them).
        for f in self.instances.iter().filter(|f| f.cause == Cause::TrafficSurge) {
            let fixed = s.faults.iter().any(|x| {
                x.cause == Cause::TrafficSurge
                    && matches!(x.when, super::scenario::When::At { service, at } if service == f.service && at == f.onset)
            });
            if fixed {
                out.push(Record::Campaign {
                    at: f.onset,
                    end: f.onset.saturating_add(f.params.lasts.unwrap_or(Duration::from_secs(7200))),
                    name: format!("campaign on {}", s.services[f.service].name),
                    services: vec![s.services[f.service].name.clone()],
                });
            }
        }
        for (i, f) in self.instances.iter().enumerate() {
            let spec = &s.services[f.service];
            out.push(Record::Truth {
                at: self.inc[i].onset.unwrap_or(f.onset),
                end: self.inc[i].recovered_at,
                service: spec.name.clone(),
                namespace: spec.namespace.clone(),
                incident_type: f.cause.label().into(),
                incident: Some(incident_id(s, self.rep, i)),
            });
        }
        out.extend(events.iter().cloned());
        // Stable: records at one time keep the order they happened in.
        out.sort_by_key(Record::at);
        out
    }

    /// The incident's page (one per incident: the first escalation or the person's own).
    fn page_record(
        &self,
        i: usize,
        at: Time,
        event: crate::trace::PageEvent,
        by: Option<&str>,
    ) -> crate::trace::Record {
        let spec = &self.s.services[self.instances[i].service];
        crate::trace::Record::Page {
            at,
            service: spec.name.clone(),
            namespace: Some(spec.namespace.clone()),
            event,
            incident: incident_id(self.s, self.rep, i),
            by: by.map(String::from),
            title: None,
        }
    }

    /// Alerts reach this arm's pipeline or page people.
    fn listens(&self) -> bool {
        match self.kind {
            ArmKind::Baseline => self.s.human.paged_by_alerts,
            ArmKind::Unpaged => false,
            ArmKind::Recommend | ArmKind::Policy => true,
        }
    }

    /// What automation did on incident `i`'s service up to the incident's end (its last
    /// lasting recovery, or the end of the run): every action (its effects on replicas,
    /// revisions and harm persist), every suggestion that changed a diagnosis and every page
    /// people would not have had otherwise. Where the namespace quota ever kept a pod from
    /// being placed (in this arm or in `other`'s world), what is done to any service of the
    /// namespace counts too: pods share the quota. Without one, the incident is the same in
    /// every arm.
    fn touches(&self, i: usize, other: Option<&World>) -> Vec<Touch> {
        let inc = &self.inc[i];
        let end = match inc.settled_at {
            Some(t) if !inc.is_open() => t,
            _ => self.s.horizon(),
        };
        let svc = self.instances[i].service;
        let ns = &self.s.services[svc].namespace;
        let shared = self.dy.world.quota_bound(ns) || other.is_some_and(|w| w.quota_bound(ns));
        let during = |x: &&Intervention| inc.onset.is_some_and(|o| x.at >= o);
        let on_it: Vec<&Intervention> = self
            .interventions
            .iter()
            .filter(|x| x.at <= end && (x.svc == svc || (shared && &self.s.services[x.svc].namespace == ns)))
            .collect();
        // Everything done while it was open, and of what came before its onset only the
        // latest of each kind: the service as automation last left it when the incident
        // began (earlier ones are behind that one).
        let kinds = [TouchKind::Action, TouchKind::Suggestion, TouchKind::Page];
        let latest_before: Vec<&Intervention> =
            kinds.iter().filter_map(|k| on_it.iter().rev().find(|x| x.kind == *k && !during(x)).copied()).collect();
        on_it
            .iter()
            .copied()
            .filter(|x| during(x) || latest_before.iter().any(|y| std::ptr::eq(*y, *x)))
            .map(|x| Touch {
                at: x.at,
                kind: x.kind,
                by_incident: incident_id(self.s, self.rep, x.incident),
                what: if x.svc == svc {
                    x.what.clone()
                } else {
                    format!("{} (on {}, which shares the {ns} quota)", x.what, self.s.services[x.svc].name)
                },
                during: inc.onset.is_some_and(|o| x.at >= o),
                label: x.label.clone(),
            })
            .collect()
    }

    fn run(&mut self) {
        for (i, f) in self.instances.iter().enumerate() {
            self.dy.add_fault(f.clone(), i, &mut self.engine);
        }
        self.engine.schedule(self.s.start, Ev::Tick);
        let horizon = self.s.horizon();
        while let Some((now, ev)) = self.engine.pop() {
            if now > horizon {
                break;
            }
            match ev {
                Ev::Tick => {
                    self.tick(now);
                    if !self.done(now) {
                        self.engine.schedule_in(self.s.tick, Ev::Tick);
                    }
                }
                Ev::World(WorldEv::Onset(f)) => {
                    if self.dy.onset(f as usize, now, &mut self.engine) {
                        self.symptoms(f as usize, now);
                    }
                }
                Ev::World(WorldEv::Symptoms(f)) => self.symptoms(f as usize, now),
                Ev::World(WorldEv::MitigationEnds(f, g)) => self.mitigation_ends(f as usize, g, now),
                Ev::World(ev) => self.dy.handle(ev, now, &mut self.engine),
                Ev::Decide(i, sig) => self.decide(i as usize, sig as usize, now),
                Ev::VerifyEnd(a) => self.verify(a as usize, now),
                Ev::HumanDetect(i) => self.human_detect(i as usize, now),
                Ev::HumanFix(i) => self.human_fix(i as usize, now),
            }
        }
    }

    /// Past the injection window with every incident settled: stop early.
    fn done(&self, now: Time) -> bool {
        now >= self.s.end()
            && self
                .inc
                .iter()
                .zip(&self.dy.world.faults)
                .all(|(i, f)| i.recovered_at.is_some() || (i.onset.is_none() && !f.live()))
    }

    // ----- faults ------------------------------------------------------------------------

    /// A fault shows: its incident's onset (first showing of a scenario fault) starts the
    /// people's clock.
    fn symptoms(&mut self, f: usize, now: Time) {
        if !self.dy.activate(f, now) {
            return; // removed before it showed
        }
        let x = &self.dy.world.faults[f];
        let incident = x.incident;
        if x.harm_of.is_none() && self.inc[incident].onset.is_none() {
            self.inc[incident].onset = Some(now);
            self.engine.schedule(now.saturating_add(self.human[incident].detect), Ev::HumanDetect(incident as u32));
        }
        self.dy.after_activate(f, now, &mut self.engine);
    }

    /// A mitigation wore off; a cause back after recovery reopens its incident (a relapse).
    fn mitigation_ends(&mut self, f: usize, generation: u32, now: Time) {
        let Some(i) = self.dy.mitigation_ends(f, generation, now, &mut self.engine) else { return };
        let inc = &mut self.inc[i];
        if inc.recovered_at.is_some() && !inc.relapsed {
            inc.relapsed = true;
            inc.relapses += 1;
            inc.healthy_since = None;
            inc.settled_at = None;
            if inc.human_engaged.is_none() {
                self.engine.schedule(now.saturating_add(self.human[i].detect), Ev::HumanDetect(i as u32));
            }
        }
    }

    // ----- the monitor ---------------------------------------------------------------------

    fn tick(&mut self, now: Time) {
        let tick_s = self.s.tick.as_secs_f64();
        for svc in 0..self.dy.world.services.len() {
            let spec = &self.s.services[svc];
            let sig = self.dy.world.signals(svc, now);
            let conds = sig.conditions(spec.base_latency_ms);
            let healthy = conds.iter().all(|(_, c)| !c);
            let severity = sig.severity(spec.base_error_rate, spec.base_latency_ms);
            self.dy.world.services[svc].ooms_since_tick = 0;

            // Every open incident on the service carries the service's degradation while it is
            // open (the same rule in both arms, so the paired comparison is fair).
            // A relapse (a mitigated cause back after recovery) reopens its incident: its impact
            // counts against the automation that only hid the cause.
            let open: Vec<usize> =
                (0..self.inc.len()).filter(|&i| self.instances[i].service == svc && self.inc[i].is_open()).collect();
            // An incident whose own causes (its fault and any harm done while handling it) have
            // stopped is not kept open by another incident's symptoms on the same service,
            // earlier or later: what remains is that incident's to recover from.
            let own: Vec<bool> = if open.is_empty() {
                Vec::new()
            } else {
                let mut active = vec![false; open.len()];
                for f in self.dy.world.faults.iter().filter(|f| f.active()) {
                    if let Some(k) = open.iter().position(|&i| i == f.incident) {
                        active[k] = true;
                    }
                }
                active
            };
            let others_active: Vec<bool> =
                (0..open.len()).map(|k| own.iter().enumerate().any(|(m, &a)| m != k && a)).collect();
            let mut recovered = Vec::new();
            for (k, &i) in open.iter().enumerate() {
                let inc = &mut self.inc[i];
                // Another incident's symptoms are that incident's impact, not this one's.
                let borrowed = !own[k] && others_active[k];
                if !borrowed {
                    inc.impact += severity * tick_s;
                }
                if healthy || borrowed {
                    let since = *inc.healthy_since.get_or_insert(now);
                    if now.since(since) >= LASTING {
                        if inc.recovered_at.is_none() || inc.relapsed {
                            recovered.push(i);
                        }
                        if inc.recovered_at.is_none() {
                            inc.recovered_at = Some(since);
                        }
                        inc.relapsed = false;
                    }
                } else {
                    inc.healthy_since = None;
                }
            }

            for &i in &recovered {
                self.inc[i].settled_at = Some(now);
            }
            if self.kind == ArmKind::Policy {
                for i in recovered {
                    if let Some(e) = self.book.resolve(&incident_id(self.s, self.rep, i), now) {
                        self.escalations.push(e);
                    }
                }
            }

            // Alert rules with `for:` durations, one alert per rule (as Prometheus fires
            // them): a rule that starts firing is a detection, even while another rule of the
            // service fires, so a second incident on a service is not masked by the first.
            // A rule stays firing until the service is healthy (no flapping on OOM ticks).
            let m = &mut self.monitors[svc];
            let mut new_firing = Vec::new();
            for (k, (_, cond)) in conds.iter().enumerate() {
                m.since[k] = if *cond { Some(m.since[k].unwrap_or(now)) } else { None };
                if !m.firing[k] && m.since[k].is_some_and(|t| now.since(t) >= FOR[k]) {
                    m.firing[k] = true;
                    new_firing.push(k);
                }
            }
            if healthy {
                m.firing = [false; 5];
            }
            if self.trace.is_some() {
                let names = conds.map(|(n, _)| n);
                let (svc_name, ns) = (spec.name.clone(), spec.namespace.clone());
                let alert = |k: usize, status| crate::trace::Record::Alert {
                    at: now,
                    name: names[k].to_string(),
                    status,
                    service: Some(svc_name.clone()),
                    namespace: Some(ns.clone()),
                    labels: std::collections::BTreeMap::new(),
                    annotations: std::collections::BTreeMap::new(),
                    fingerprint: None,
                };
                let fired: Vec<crate::trace::Record> =
                    new_firing.iter().map(|&k| alert(k, crate::trace::AlertStatus::Firing)).collect();
                let resolved: Vec<crate::trace::Record> = if healthy {
                    (0..5)
                        .filter(|&k| self.monitors[svc].was_firing[k])
                        .map(|k| alert(k, crate::trace::AlertStatus::Resolved))
                        .collect()
                } else {
                    Vec::new()
                };
                for r in fired.into_iter().chain(resolved) {
                    self.note(r);
                }
                let m = &mut self.monitors[svc];
                m.was_firing = m.firing;
            }
            if self.listens() {
                for k in new_firing {
                    self.detect(svc, k, &open, now);
                }
            }
        }
    }

    fn detect(&mut self, svc: usize, signal: usize, open: &[usize], now: Time) {
        let pick = open
            .iter()
            .copied()
            .filter(|&i| self.inc[i].detections == 0)
            .min_by_key(|&i| (self.inc[i].onset, i))
            .or_else(|| open.iter().copied().min_by_key(|&i| (self.inc[i].onset, i)));
        let Some(i) = pick else {
            self.false_alarms += 1;
            let _ = svc;
            return;
        };
        self.inc[i].detections += 1;
        self.engine.schedule(now.saturating_add(CLASSIFY_LATENCY), Ev::Decide(i as u32, signal as u8));
    }

    // ----- the pipeline ------------------------------------------------------------------

    fn decide(&mut self, i: usize, signal: usize, now: Time) {
        if !self.inc[i].is_open() {
            return;
        }
        if self.kind == ArmKind::Baseline {
            // The team today: the alert pages a person, with no suggestion.
            self.escalate(i, now, None);
            return;
        }
        let f = &self.instances[i];
        let spec = &self.s.services[f.service];
        let signal_name = self.dy.world.signals(f.service, now).conditions(spec.base_latency_ms)[signal].0;
        let mut rng = Pcg64Mcg::seed_from_u64(stream_seed(
            self.base,
            STREAM_CLASSIFY,
            i as u64,
            u64::from(self.inc[i].detections),
        ));
        let c = self.s.classifier.classify(
            &Evidence {
                service: &spec.name,
                namespace: &spec.namespace,
                signal: signal_name,
                alert: None,
                truth: Some(f.cause),
                ..Evidence::default()
            },
            &mut rng,
        );
        self.inc[i].classifications.push((c.incident_type.clone(), c.confidence));
        if self.trace.is_some() {
            // What the pipeline reads besides the label: the Deployment's replicas now.
            self.note(crate::trace::Record::Signal {
                at: now,
                service: spec.name.clone(),
                namespace: spec.namespace.clone(),
                name: crate::trace::REPLICAS_SIGNAL.into(),
                value: f64::from(self.dy.world.services[f.service].desired),
                labels: std::collections::BTreeMap::new(),
            });
            self.note(crate::trace::Record::Classification {
                at: now,
                service: spec.name.clone(),
                namespace: spec.namespace.clone(),
                incident_type: c.incident_type.clone(),
                confidence: c.confidence,
                incident: Some(incident_id(self.s, self.rep, i)),
                signal: Some(signal_name.to_string()),
            });
        }
        let incident = Incident {
            at: now,
            service: spec.name.clone(),
            namespace: spec.namespace.clone(),
            incident_type: c.incident_type.clone(),
            confidence: c.confidence,
            signal: Some(signal_name.to_string()),
            replicas: Some(self.dy.world.services[f.service].desired),
            id: Some(incident_id(self.s, self.rep, i)),
            target: None,
        };
        let d = self.pipeline.decide(now, &incident);
        self.inc[i].decisions.push(d.status.as_str().to_string());
        let execute = d.status == Status::Execute;
        let action = d.action.clone();
        let command = d.command.clone().unwrap_or_default();
        let suggestion = d.suggested_action.clone().map(|cmd| (cmd, c.incident_type == f.cause.label()));
        let target = d.target_replicas;
        self.record(AuditRecord::Decision {
            policy_fingerprint: self.fingerprint.to_string(),
            input: Box::new(incident),
            decision: Box::new(d),
        });
        match (execute, action) {
            (true, Some(action)) => self.execute(i, action, command, target, &c.incident_type, c.confidence, now),
            _ => self.escalate(i, now, suggestion),
        }
    }

    /// Keep an audit record, and the escalation it causes.
    fn record(&mut self, rec: AuditRecord) {
        if self.kind != ArmKind::Policy {
            return; // only the policy as written leaves an audit trail
        }
        if let Some(e) = self.book.observe(&rec) {
            self.escalations.push(e);
        }
        self.audit.push(rec);
    }

    /// Escalate incident `i`: a page if nobody is engaged yet. `suggestion` is the command the
    /// page suggests and whether it fits the true cause.
    fn escalate(&mut self, i: usize, now: Time, suggestion: Option<(String, bool)>) {
        self.inc[i].escalations += 1;
        if self.inc[i].human_engaged.is_some() {
            return;
        }
        self.inc[i].pages += 1;
        let svc = self.instances[i].service;
        if self.trace.is_some() {
            let r = self.page_record(i, now, crate::trace::PageEvent::Triggered, None);
            self.note(r);
        }
        if self.kind != ArmKind::Baseline && !self.s.human.paged_by_alerts {
            // The team is not paged today: this page is automation's doing.
            self.interventions.push(Intervention {
                svc,
                at: now,
                kind: TouchKind::Page,
                incident: i,
                what: "page".into(),
                label: None,
            });
        }
        let factor = match &suggestion {
            Some((_, true)) => self.s.human.right_suggestion_factor,
            Some((_, false)) => self.s.human.wrong_suggestion_factor,
            None => 1.0,
        };
        if factor != 1.0
            && let Some((cmd, _)) = suggestion
        {
            self.interventions.push(Intervention {
                svc,
                at: now,
                kind: TouchKind::Suggestion,
                incident: i,
                what: cmd,
                label: None,
            });
        }
        self.engage(i, now, factor);
    }

    fn engage(&mut self, i: usize, now: Time, diagnose_factor: f64) {
        if self.trace.is_some() {
            use crate::trace::PageEvent;
            let d = self.human[i];
            if self.inc[i].pages == 0 {
                // Noticed without a page: the person opens one (as on-call does by hand).
                let r = self.page_record(i, now, PageEvent::Triggered, Some("person"));
                self.note(r);
            }
            let acked = now.saturating_add(d.acknowledge);
            let r = self.page_record(i, acked, PageEvent::Acknowledged, Some("person"));
            self.note(r);
            // The person's runbook action starts once they understand the cause; the fix
            // (rollout, check) then takes `fix`, and they resolve the page when it is done.
            let acted = now.saturating_add(d.engaged_to_fix(diagnose_factor).saturating_sub(d.fix));
            let spec = &self.s.services[self.instances[i].service];
            let action = match self.instances[i].cause {
                Cause::TrafficSurge => "scale",
                Cause::MemoryLeak | Cause::CpuSpike | Cause::BadDeployment => "rollback",
                Cause::CapacityLoss | Cause::DependencyFailure => "fix",
            };
            let r = crate::trace::Record::Action {
                at: acted,
                service: spec.name.clone(),
                namespace: spec.namespace.clone(),
                actor: "person".into(),
                action: action.into(),
                command: None,
                incident: Some(incident_id(self.s, self.rep, i)),
            };
            self.note(r);
        }
        self.inc[i].human_engaged = Some(now);
        self.engine.schedule(now.saturating_add(self.human[i].engaged_to_fix(diagnose_factor)), Ev::HumanFix(i as u32));
    }

    // ----- the world-model executor --------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn execute(
        &mut self,
        i: usize,
        action: Action,
        command: String,
        target: Option<u32>,
        label: &str,
        confidence: f64,
        now: Time,
    ) {
        let svc = self.instances[i].service;
        let spec = &self.s.services[svc];
        let kind = action.kind();
        let pre_severity = self.dy.world.signals(svc, now).severity(spec.base_error_rate, spec.base_latency_ms);
        let a = self.acts.len();
        let prev_replicas = self.dy.world.services[svc].desired;
        let prev_revision = self.dy.world.services[svc].history.last().copied();
        self.acts.push(ActRun {
            incident: i,
            at: now,
            action: action.clone(),
            command,
            classified_as: label.to_string(),
            confidence,
            correct: label == self.instances[i].cause.label(),
            pre_severity,
            prev_replicas,
            prev_revision,
            verified: None,
            verified_at: None,
            rolled_back: false,
            harmed: false,
            decision_id: Some(incident_id(self.s, self.rep, i)),
            incident_type: label.to_string(),
        });
        self.inc[i].actions.push(a);
        self.note(crate::trace::Record::Action {
            at: now,
            service: spec.name.clone(),
            namespace: spec.namespace.clone(),
            actor: "automation".into(),
            action: kind.to_string(),
            command: Some(self.acts[a].command.clone()),
            incident: Some(incident_id(self.s, self.rep, i)),
        });
        self.interventions.push(Intervention {
            svc,
            at: now,
            kind: TouchKind::Action,
            incident: i,
            what: self.acts[a].command.clone(),
            label: Some(label.to_string()),
        });

        // What the action does to each cause on the service (the effects table), then its
        // mechanics.
        let mechanics = Mechanics::of(&action, target);
        let instance = &self.instances[i];
        if self.dy.act(svc, kind, mechanics, &self.s.effects, Some(instance), i, a, now, &mut self.engine) {
            self.acts[a].harmed = true;
        }

        let window = self.policy.remediation(label).map_or(Duration::from_secs(300), |r| r.verification_window);
        self.engine.schedule(now.saturating_add(window), Ev::VerifyEnd(a as u32));
    }

    fn verify(&mut self, a: usize, now: Time) {
        let i = self.acts[a].incident;
        let svc = self.instances[i].service;
        let spec = &self.s.services[svc];
        let act = self.acts[a].clone();
        let rem = self.policy.remediation(&act.incident_type);
        let v = rem.map(|r| r.verify.clone()).unwrap_or_default();
        let sig = self.dy.world.signals(svc, now);
        let rollout_end = act.at.saturating_add(rollout_time(act.action.kind()));
        let mut checks = Vec::new();
        if v.pods_ready {
            checks.push(Check {
                unknown: false,
                name: "pods_ready",
                passed: sig.ready >= sig.desired && sig.pending == 0,
                observed: format!("{}/{} Ready, {} Pending", sig.ready, sig.desired, sig.pending),
                expected: "all desired pods Running and Ready".into(),
            });
        }
        if v.no_new_restarts {
            let last = self.dy.world.services[svc].last_oom;
            checks.push(Check {
                unknown: false,
                name: "no_new_restarts",
                passed: last.is_none_or(|t| t < rollout_end),
                observed: last.filter(|t| *t >= rollout_end).map_or("none".into(), |t| format!("OOMKilled at {t}")),
                expected: format!("no restarts after the rollout ended at {rollout_end}"),
            });
        }
        let limit = v.max_error_rate_ratio * spec.base_error_rate;
        checks.push(Check {
            unknown: false,
            name: "error_rate",
            passed: sig.error_rate <= limit + 1e-12,
            observed: format!("{:.4}", sig.error_rate),
            expected: format!(
                "≤ {:.4} ({}× the pre-incident baseline {:.4})",
                limit, v.max_error_rate_ratio, spec.base_error_rate
            ),
        });
        if let Some(r) = v.max_latency_ratio {
            checks.push(Check {
                unknown: false,
                name: "latency",
                passed: sig.latency_ms <= r * spec.base_latency_ms,
                observed: format!("{:.0} ms", sig.latency_ms),
                expected: format!("≤ {:.0} ms", r * spec.base_latency_ms),
            });
        }
        let passed = checks.iter().all(|c| c.passed);
        self.acts[a].verified = Some(passed);
        self.acts[a].verified_at = Some(now);
        let mut rolled_back = false;
        let mut tripped = false;
        if !passed {
            let severity = sig.severity(spec.base_error_rate, spec.base_latency_ms);
            if severity > act.pre_severity + 0.01 {
                tripped = true;
                let why =
                    format!("severity {:.3} after {} vs {:.3} before", severity, act.action.kind(), act.pre_severity);
                self.note(crate::trace::Record::Breaker {
                    at: now,
                    service: spec.name.clone(),
                    namespace: spec.namespace.clone(),
                    event: crate::trace::BreakerEvent::Tripped,
                    reason: Some(why.clone()),
                });
                self.pipeline.state_mut().trip_breaker(ServiceKey::new(&spec.namespace, &spec.name), why);
            }
            if rem.is_some_and(|r| r.rollback_if_failed) && act.action.reversible() {
                rolled_back = true;
                self.undo(a, now);
            }
            self.escalate(i, now, None);
        }
        self.record(AuditRecord::Verification {
            policy_fingerprint: self.fingerprint.to_string(),
            at: now,
            id: act.decision_id.clone(),
            service: spec.name.clone(),
            namespace: spec.namespace.clone(),
            incident_type: act.incident_type.clone(),
            command: act.command.clone(),
            passed,
            unknown: false,
            checks,
            rolled_back,
            breaker_tripped: tripped,
            escalate: !passed,
        });
    }

    /// Undo a failed action where it can be undone: scale back, roll forward, and remove the
    /// harm it caused.
    fn undo(&mut self, a: usize, now: Time) {
        self.acts[a].rolled_back = true;
        let svc = self.instances[self.acts[a].incident].service;
        let x = &self.acts[a];
        self.dy.undo(a, svc, &x.action, x.prev_replicas, x.prev_revision, now, &mut self.engine);
    }

    // ----- people ------------------------------------------------------------------------

    fn human_detect(&mut self, i: usize, now: Time) {
        let inc = &self.inc[i];
        if !inc.is_open() || inc.human_engaged.is_some() {
            return;
        }
        // Automation acted and the service looks healthy: a person glancing at it sees a
        // recovery under way and leaves it (a relapse re-alerts and may page).
        if !inc.actions.is_empty() && inc.healthy_since.is_some() {
            return;
        }
        self.engage(i, now, 1.0);
    }

    /// A person's fix: every cause on the service that was showing when they took the
    /// incident on (what they could diagnose) and every harm is removed, and the breaker
    /// reset. A cause that first shows later is a new incident with its own diagnosis, so a
    /// fix in one arm never removes in passing what the other arm's people had not seen.
    /// Legitimate load cannot be removed: for a surge the person adds capacity instead (enough
    /// pods to run at 60% busy, within quota) and the surge runs its course.
    fn human_fix(&mut self, i: usize, now: Time) {
        if self.trace.is_some() {
            let r = self.page_record(i, now, crate::trace::PageEvent::Resolved, Some("person"));
            self.note(r);
        }
        let svc = self.instances[i].service;
        let surging =
            self.dy.world.active_faults(svc).any(|f| f.instance.cause == Cause::TrafficSurge && f.harm_of.is_none());
        if surging {
            let sig = self.dy.world.signals(svc, now);
            let spec = &self.s.services[svc];
            let need = (sig.load_rps / (spec.rps_per_pod * 0.6)).ceil() as u32;
            if need > self.dy.world.services[svc].desired {
                let started = self.dy.world.scale_to(svc, need);
                self.dy.pods_up_after(svc, &started, POD_STARTUP, now, &mut self.engine);
            }
        }
        let seen_by = self.inc[i].human_engaged.unwrap_or(now);
        let mut deactivated = Vec::new();
        let mut redeploy = false;
        for f in self.dy.world.faults.iter_mut() {
            // What a person can see and fix: causes that had shown when they took it on, and
            // harms.
            if f.instance.service == svc && f.diagnosable(seen_by) {
                if f.instance.cause == Cause::TrafficSurge && f.harm_of.is_none() {
                    continue;
                }
                // Fixing a leak or a hot loop ships new code and fixing a bad release rolls it
                // back: a rolling update, with the same mechanics as automation's.
                redeploy |= f.harm_of.is_none()
                    && matches!(f.instance.cause, Cause::MemoryLeak | Cause::CpuSpike | Cause::BadDeployment);
                if f.active() {
                    deactivated.push(f.instance.cause);
                }
                f.state = FaultState::Fixed;
                let j = f.incident;
                if self.inc[j].onset.is_some()
                    && self.inc[j].recovered_at.is_none()
                    && self.inc[j].human_engaged.is_none()
                {
                    self.inc[j].human_engaged = Some(now);
                }
            }
        }
        for cause in deactivated {
            self.dy.on_deactivate(svc, cause, now, &mut self.engine);
        }
        if redeploy {
            self.dy.roll(svc, "rollback", now, &mut self.engine);
        }
        self.dy.restart_backed_off(svc, now, &mut self.engine);
        let spec = &self.s.services[svc];
        if self.pipeline.state_mut().reset_breaker(&ServiceKey::new(&spec.namespace, &spec.name)) {
            let r = crate::trace::Record::Breaker {
                at: now,
                service: spec.name.clone(),
                namespace: spec.namespace.clone(),
                event: crate::trace::BreakerEvent::Reset,
                reason: Some("a person fixed the service".into()),
            };
            self.note(r);
        }
    }

    // ----- results -----------------------------------------------------------------------

    fn result(&self, i: usize) -> ArmResult {
        let inc = &self.inc[i];
        let horizon = self.s.horizon();
        let Some(onset) = inc.onset else {
            return ArmResult {
                outcome: Outcome::Prevented,
                onset: None,
                recovered_at: None,
                ttr_seconds: 0.0,
                impact: 0.0,
                human_engaged_at: None,
                pages: inc.pages,
            };
        };
        let (outcome, end) = match inc.recovered_at {
            None => (Outcome::Unresolved, horizon),
            Some(r) => {
                let human = inc.human_engaged.is_some_and(|h| h <= r);
                let verified = inc.actions.iter().any(|&a| self.acts[a].verified == Some(true) && self.acts[a].at <= r);
                let o = if human {
                    Outcome::Human
                } else if verified {
                    Outcome::Automation
                } else {
                    Outcome::SelfResolved
                };
                (o, r)
            }
        };
        ArmResult {
            outcome,
            onset: Some(onset),
            recovered_at: inc.recovered_at,
            ttr_seconds: end.since(onset).as_secs_f64(),
            impact: inc.impact,
            human_engaged_at: inc.human_engaged,
            pages: inc.pages,
        }
    }

    fn action_record(&self, a: usize) -> ActionRecord {
        let x = &self.acts[a];
        ActionRecord {
            at: x.at,
            kind: x.action.kind(),
            command: x.command.clone(),
            classified_as: x.classified_as.clone(),
            confidence: x.confidence,
            correct: x.correct,
            verified: x.verified,
            verified_at: x.verified_at,
            rolled_back: x.rolled_back,
            harmed: x.harmed,
        }
    }
}
