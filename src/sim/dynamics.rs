//! World dynamics: how the world model changes by itself (faults showing and ending, leaks
//! filling pods until they are OOMKilled, pods coming up) and under actions (the effects
//! table plus each action's mechanics), driven by an event queue.
//!
//! Shared by the simulation runner (`run.rs`, which adds monitoring, the pipeline and people)
//! and the twin (which serves the same world as a Kubernetes API and takes actions from
//! kubectl or `understudy live`). Owns the world and the pod-jitter generator; never reads a
//! clock (the caller passes `now`), keeps no incident bookkeeping and knows nothing of
//! policies or people. Every call schedules in a fixed order, so a run is reproducible.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::engine::Engine;
use super::model::{Cause, Effects};
use super::scenario::FaultInstance;
use super::world::{Fault, FaultState, PodState, World};
use crate::clock::Time;
use crate::policy::Action;

/// An OOMKilled container's restart, after the kubelet's back-off.
pub const CONTAINER_START: Duration = Duration::from_secs(10);
/// A new pod's scheduling, image pull and readiness.
pub const POD_STARTUP: Duration = Duration::from_secs(30);

/// How long an action's mechanics take before its pods are Ready.
pub fn rollout_time(kind: &str) -> Duration {
    match kind {
        "restart" => Duration::from_secs(60),
        "rollback" | "helm-rollback" => Duration::from_secs(90),
        "scale" => POD_STARTUP,
        _ => Duration::from_secs(5),
    }
}

/// Events of the world itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorldEv {
    /// A fault instance's onset (a release goes out, or symptoms start).
    Onset(u32),
    /// A fault starts showing.
    Symptoms(u32),
    NaturalEnd(u32),
    /// fault, mitigation generation
    MitigationEnds(u32, u32),
    /// service, pod, pod generation, leak generation
    Oom(u16, u16, u32, u32),
    /// service, pod, pod generation
    PodUp(u16, u16, u32),
}

/// What an action does to Deployments and pods, apart from its effect on causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanics {
    /// A rolling replacement of every pod from the same template.
    Roll,
    /// Back to a release (`None`: the previous one), then a rolling replacement.
    RollbackTo(Option<u32>),
    ScaleTo(u32),
    /// Outside the Deployment (cache purge, feature flag, traffic shift).
    Nothing,
}

impl Mechanics {
    pub fn of(action: &Action, target_replicas: Option<u32>) -> Mechanics {
        match action {
            Action::Restart => Mechanics::Roll,
            Action::Rollback => Mechanics::RollbackTo(None),
            Action::HelmRollback { revision, .. } => Mechanics::RollbackTo(*revision),
            Action::Scale { .. } => target_replicas.map_or(Mechanics::Nothing, Mechanics::ScaleTo),
            Action::CachePurge { .. } | Action::FeatureFlagDisable { .. } | Action::TrafficShift { .. } => {
                Mechanics::Nothing
            }
        }
    }
}

/// The world and the seeds of its pod jitter, one per service. A jitter draw is a pure
/// function of (service seed, pod, time, purpose), not the next number of a stream: what
/// happens on one service never shifts the draws of another, and what happened on a service
/// before never shifts its later draws. Two runs of the same world that differ in an action
/// draw the same jitter wherever the same pod event happens at the same time (common random
/// numbers), so once a service has settled in both, it goes on identically.
#[derive(Debug, Clone)]
pub struct Dynamics {
    pub world: World,
    seeds: Vec<u64>,
}

impl Dynamics {
    /// `seed(svc)` gives the seed of service `svc`'s pod jitter.
    pub fn new(world: World, seed: impl Fn(usize) -> u64) -> Self {
        let seeds = (0..world.services.len()).map(seed).collect();
        Dynamics { world, seeds }
    }

    /// A uniform draw in `range` for (service, pod, time, purpose).
    fn jitter(&self, svc: usize, pod: usize, now: Time, purpose: u64, range: std::ops::Range<f64>) -> f64 {
        let seed = crate::sim::stream_seed(self.seeds[svc], purpose, pod as u64, now.nanos() as u64);
        Pcg64Mcg::seed_from_u64(seed).gen_range(range)
    }

    /// Add a scenario fault (dormant until its onset event) and schedule its onset.
    pub fn add_fault<E: Copy + From<WorldEv>>(&mut self, instance: FaultInstance, incident: usize, q: &mut Engine<E>) {
        let f = self.world.faults.len();
        q.schedule(instance.onset, WorldEv::Onset(f as u32).into());
        self.world.faults.push(Fault {
            instance,
            state: FaultState::Dormant,
            harm_of: None,
            harm_error_rate: 0.0,
            incident,
            mitigation_generation: 0,
            activated: None,
        });
    }

    /// Handle a world event with no bookkeeping around it (the twin). The runner handles
    /// `Onset`, `Symptoms` and `MitigationEnds` itself, through the same steps.
    pub fn handle<E: Copy + From<WorldEv>>(&mut self, ev: WorldEv, now: Time, q: &mut Engine<E>) {
        match ev {
            WorldEv::Onset(f) => {
                if self.onset(f as usize, now, q) && self.activate(f as usize, now) {
                    self.after_activate(f as usize, now, q);
                }
            }
            WorldEv::Symptoms(f) => {
                if self.activate(f as usize, now) {
                    self.after_activate(f as usize, now, q);
                }
            }
            WorldEv::NaturalEnd(f) => self.natural_end(f as usize, now, q),
            WorldEv::MitigationEnds(f, g) => {
                self.mitigation_ends(f as usize, g, now, q);
            }
            WorldEv::Oom(s, p, g, lg) => self.oom(s as usize, p as usize, g, lg, now, q),
            WorldEv::PodUp(s, p, g) => self.pod_up(s as usize, p as usize, g, now, q),
        }
    }

    // ----- faults ------------------------------------------------------------------------

    /// A fault's onset. A bad release goes out now and shows after its delay (scheduled
    /// here); anything else shows now: returns whether the caller should `activate` it now.
    pub fn onset<E: Copy + From<WorldEv>>(&mut self, f: usize, now: Time, q: &mut Engine<E>) -> bool {
        let inst = &self.world.faults[f].instance;
        if inst.cause != Cause::BadDeployment {
            return true;
        }
        let delay = inst.params.symptom_delay;
        let s = &mut self.world.services[inst.service];
        s.revision = s.history.last().copied().unwrap_or(s.revision) + 1;
        s.history.push(s.revision);
        q.schedule(now.saturating_add(delay), WorldEv::Symptoms(f as u32).into());
        false
    }

    /// A dormant fault starts showing: returns false when it was removed before it showed.
    /// The caller then does its bookkeeping and calls `after_activate`.
    pub fn activate(&mut self, f: usize, now: Time) -> bool {
        let x = &mut self.world.faults[f];
        if x.state != FaultState::Dormant {
            return false;
        }
        x.state = FaultState::Active;
        x.activated = Some(now);
        true
    }

    /// Schedule the natural end of a fault that just showed and start its mechanics.
    pub fn after_activate<E: Copy + From<WorldEv>>(&mut self, f: usize, now: Time, q: &mut Engine<E>) {
        let (svc, cause, lasts) = {
            let x = &self.world.faults[f].instance;
            (x.service, x.cause, x.params.lasts)
        };
        if let Some(lasts) = lasts {
            q.schedule(now.saturating_add(lasts), WorldEv::NaturalEnd(f as u32).into());
        }
        self.on_activate(f, svc, cause, now, None, q);
    }

    /// Mechanics of a cause starting to show: the first time (`mitigated_for` None) or when a
    /// mitigation that held for `mitigated_for` wore off.
    fn on_activate<E: Copy + From<WorldEv>>(
        &mut self,
        f: usize,
        svc: usize,
        cause: Cause,
        now: Time,
        mitigated_for: Option<Duration>,
        q: &mut Engine<E>,
    ) {
        let params = self.world.faults[f].instance.params;
        match cause {
            Cause::MemoryLeak => {
                self.world.services[svc].leak_generation += 1;
                let n = self.world.services[svc].pods.len().max(1);
                for p in 0..self.world.services[svc].pods.len() {
                    let oom = params.oom_interval.as_secs_f64();
                    // First onset: pods fill at staggered times. After a mitigation every pod
                    // was restarted at about the same time, so they fill about together: each
                    // pod's leak rate varies with its share of traffic (an assumption, up to
                    // 20% slower), so a pod's refill takes up to a fifth longer than the
                    // mitigation held: seconds apart after a 5-minute refill, hours after a day.
                    let delay = match mitigated_for {
                        None => oom * (p as f64 + 1.0) / n as f64 * self.jitter(svc, p, now, 1, 0.9..1.1),
                        Some(held) => held.as_secs_f64() * self.jitter(svc, p, now, 2, 0.0..0.2),
                    };
                    self.schedule_oom(svc, p, crate::clock::secs_f64(delay), now, q);
                }
            }
            Cause::CapacityLoss => self.world.lose_capacity(svc, params.pods_lost),
            _ => {}
        }
    }

    /// Undo the mechanics of a cause that stopped showing.
    pub fn on_deactivate<E: Copy + From<WorldEv>>(&mut self, svc: usize, cause: Cause, now: Time, q: &mut Engine<E>) {
        match cause {
            Cause::MemoryLeak => self.world.services[svc].leak_generation += 1,
            Cause::CapacityLoss => {
                let still = self
                    .world
                    .active_faults(svc)
                    .any(|x| x.instance.cause == Cause::CapacityLoss && x.harm_of.is_none());
                if !still {
                    let started = self.world.restore_capacity(svc);
                    self.pods_up_after(svc, &started, POD_STARTUP, now, q);
                }
            }
            _ => {}
        }
    }

    pub fn natural_end<E: Copy + From<WorldEv>>(&mut self, f: usize, now: Time, q: &mut Engine<E>) {
        if self.world.faults[f].live() {
            let was_active = self.world.faults[f].active();
            self.world.faults[f].state = FaultState::Ended;
            if was_active {
                let (svc, cause) = (self.world.faults[f].instance.service, self.world.faults[f].instance.cause);
                self.on_deactivate(svc, cause, now, q);
            }
        }
    }

    /// A mitigation wore off: the cause shows again. Returns the fault's incident when a
    /// scenario fault (not a harm) came back, for the caller's relapse bookkeeping.
    pub fn mitigation_ends<E: Copy + From<WorldEv>>(
        &mut self,
        f: usize,
        generation: u32,
        now: Time,
        q: &mut Engine<E>,
    ) -> Option<usize> {
        let x = &self.world.faults[f];
        let FaultState::Mitigated { since, .. } = x.state else { return None };
        if x.mitigation_generation != generation {
            return None;
        }
        let (svc, cause, i, harm) = (x.instance.service, x.instance.cause, x.incident, x.harm_of.is_some());
        self.world.faults[f].state = FaultState::Active;
        self.on_activate(f, svc, cause, now, Some(now.since(since)), q);
        (!harm).then_some(i)
    }

    // ----- pods --------------------------------------------------------------------------

    fn schedule_oom<E: Copy + From<WorldEv>>(
        &mut self,
        svc: usize,
        pod: usize,
        after: Duration,
        now: Time,
        q: &mut Engine<E>,
    ) {
        let s = &self.world.services[svc];
        let Some(p) = s.pods.get(pod) else { return };
        q.schedule(
            now.saturating_add(after),
            WorldEv::Oom(svc as u16, pod as u16, p.generation, s.leak_generation).into(),
        );
    }

    /// The OOM interval of the leak showing on a service, if any.
    pub fn leak_interval(&self, svc: usize) -> Option<Duration> {
        self.world
            .active_faults(svc)
            .find(|f| f.instance.cause == Cause::MemoryLeak && f.harm_of.is_none())
            .map(|f| f.instance.params.oom_interval)
    }

    fn oom<E: Copy + From<WorldEv>>(
        &mut self,
        svc: usize,
        pod: usize,
        generation: u32,
        leak_gen: u32,
        now: Time,
        q: &mut Engine<E>,
    ) {
        let s = &self.world.services[svc];
        let valid = s.leak_generation == leak_gen
            && s.pods.get(pod).is_some_and(|p| p.generation == generation && p.state == PodState::Running)
            && self.world.leak_active(svc);
        if !valid {
            // A Starting pod fills from scratch once it is up: pod_up reschedules.
            return;
        }
        let backoff = self.world.oom_kill(svc, pod, now);
        let g = self.world.services[svc].pods[pod].generation;
        q.schedule(now.saturating_add(backoff + CONTAINER_START), WorldEv::PodUp(svc as u16, pod as u16, g).into());
    }

    fn pod_up<E: Copy + From<WorldEv>>(
        &mut self,
        svc: usize,
        pod: usize,
        generation: u32,
        now: Time,
        q: &mut Engine<E>,
    ) {
        let Some(p) = self.world.services[svc].pods.get_mut(pod) else { return };
        if p.generation != generation
            || !matches!(p.state, PodState::Starting | PodState::OomKilled | PodState::CrashLoopBackOff)
        {
            return;
        }
        p.state = PodState::Running;
        p.up_since = Some(now);
        if let Some(oom) = self.leak_interval(svc) {
            let d = oom.as_secs_f64() * self.jitter(svc, pod, now, 3, 0.9..1.1);
            self.schedule_oom(svc, pod, crate::clock::secs_f64(d), now, q);
        }
    }

    /// Schedule `pods` (index, generation) to come up after `after`.
    pub fn pods_up_after<E: Copy + From<WorldEv>>(
        &mut self,
        svc: usize,
        pods: &[(usize, u32)],
        after: Duration,
        now: Time,
        q: &mut Engine<E>,
    ) {
        for &(p, _) in pods {
            let g = self.world.services[svc].pods[p].generation;
            q.schedule(now.saturating_add(after), WorldEv::PodUp(svc as u16, p as u16, g).into());
        }
    }

    /// Pods stuck in back-off come back once their cause is gone.
    pub fn restart_backed_off<E: Copy + From<WorldEv>>(&mut self, svc: usize, now: Time, q: &mut Engine<E>) {
        for p in 0..self.world.services[svc].pods.len() {
            if matches!(self.world.services[svc].pods[p].state, PodState::OomKilled | PodState::CrashLoopBackOff) {
                let g = self.world.services[svc].pods[p].generation;
                q.schedule(now.saturating_add(CONTAINER_START), WorldEv::PodUp(svc as u16, p as u16, g).into());
            }
        }
    }

    /// A rolling replacement; a leak that is still active fills the new pods from scratch.
    pub fn roll<E: Copy + From<WorldEv>>(&mut self, svc: usize, kind: &str, now: Time, q: &mut Engine<E>) {
        let starting = self.world.roll_pods(svc);
        let rollout = rollout_time(kind);
        self.pods_up_after(svc, &starting, rollout, now, q);
        self.world.services[svc].leak_generation += 1;
        if let Some(oom) = self.leak_interval(svc) {
            for p in 0..self.world.services[svc].pods.len() {
                if self.world.services[svc].pods[p].state == PodState::Running {
                    let d = oom.as_secs_f64() * self.jitter(svc, p, now, 4, 0.9..1.1);
                    self.schedule_oom(svc, p, crate::clock::secs_f64(d), now, q);
                }
            }
        }
    }

    // ----- actions -----------------------------------------------------------------------

    /// Carry out an action of `kind` on service `svc`: the effects table on every cause
    /// present, then the mechanics. With no cause present, harm is judged by `fallback` (the
    /// incident the action was meant for); a harm becomes a new active fault tagged with
    /// `harm_of` and `incident`. Returns whether the action did harm.
    #[allow(clippy::too_many_arguments)]
    pub fn act<E: Copy + From<WorldEv>>(
        &mut self,
        svc: usize,
        kind: &str,
        mechanics: Mechanics,
        effects: &Effects,
        fallback: Option<&FaultInstance>,
        incident: usize,
        harm_of: usize,
        now: Time,
        q: &mut Engine<E>,
    ) -> bool {
        let applied = self.world.apply_effects(svc, kind, effects, fallback.map(|f| f.cause), now);
        for (f, until, generation) in applied.mitigated {
            q.schedule(until, WorldEv::MitigationEnds(f as u32, generation).into());
        }
        for cause in applied.deactivated {
            self.on_deactivate(svc, cause, now, q);
        }
        let harmed = applied.harm.is_some();
        if let Some(error_rate) = applied.harm {
            let mut inst = match fallback {
                Some(f) => f.clone(),
                None => FaultInstance {
                    cause: Cause::BadDeployment,
                    service: svc,
                    onset: now,
                    params: super::scenario::FaultParams::default_for(Cause::BadDeployment, 1),
                },
            };
            inst.onset = now;
            self.world.faults.push(Fault {
                instance: inst,
                state: FaultState::Active,
                harm_of: Some(harm_of),
                harm_error_rate: error_rate,
                incident,
                mitigation_generation: 0,
                activated: Some(now),
            });
        }
        match mechanics {
            Mechanics::Roll => self.roll(svc, kind, now, q),
            Mechanics::RollbackTo(revision) => {
                let s = &mut self.world.services[svc];
                let to = match revision {
                    Some(r) if s.history.contains(&r) => Some(r),
                    _ if s.history.len() >= 2 => Some(s.history[s.history.len() - 2]),
                    _ => None,
                };
                if let Some(to) = to {
                    while s.history.last().is_some_and(|&r| r != to) {
                        s.history.pop();
                    }
                    s.revision = to;
                    self.roll(svc, kind, now, q);
                }
            }
            Mechanics::ScaleTo(t) => {
                let started = self.world.scale_to(svc, t);
                self.pods_up_after(svc, &started, POD_STARTUP, now, q);
            }
            Mechanics::Nothing => {}
        }
        harmed
    }

    /// Undo action `a` where it can be undone (scale back, roll forward to `prev_revision`)
    /// and remove the harm it caused.
    #[allow(clippy::too_many_arguments)]
    pub fn undo<E: Copy + From<WorldEv>>(
        &mut self,
        a: usize,
        svc: usize,
        action: &Action,
        prev_replicas: u32,
        prev_revision: Option<u32>,
        now: Time,
        q: &mut Engine<E>,
    ) {
        match action {
            Action::Scale { .. } => {
                let started = self.world.scale_to(svc, prev_replicas);
                self.pods_up_after(svc, &started, POD_STARTUP, now, q);
            }
            Action::Rollback | Action::HelmRollback { .. } => {
                if let Some(rev) = prev_revision {
                    let s = &mut self.world.services[svc];
                    if s.revision != rev {
                        s.history.push(rev);
                        s.revision = rev;
                        self.roll(svc, action.kind(), now, q);
                    }
                }
            }
            _ => {}
        }
        for f in self.world.faults.iter_mut() {
            if f.harm_of == Some(a) && f.live() {
                f.state = FaultState::Fixed;
            }
        }
    }
}
