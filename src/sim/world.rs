//! The world model: services as Deployments with pods, revisions, load and the faults acting
//! on them, and the signals a monitor would read.
//!
//! Owns service state (replicas, pods and their states, revision history, capacity lost),
//! fault state (dormant, active, mitigated, fixed, ended) and the arithmetic from them to
//! load, utilisation, error rate and latency. It schedules nothing itself: the runner owns
//! the clock and the event queue and calls in here. Deterministic: no hash maps, no clock.

use std::time::Duration;

use crate::clock::Time;
use crate::sim::model::{Cause, Effect, Effects};
use crate::sim::scenario::{FaultInstance, Scenario, ServiceSpec};

/// Pod phases as `kubectl get pods` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    Running,
    /// Created, not Ready yet (ContainerCreating / readiness probe).
    Starting,
    /// Killed for exceeding its memory limit, waiting to restart.
    OomKilled,
    /// Restarting repeatedly; the kubelet backs off.
    CrashLoopBackOff,
    /// Cannot be scheduled (no room).
    Pending,
}

impl PodState {
    pub fn as_str(self) -> &'static str {
        match self {
            PodState::Running => "Running",
            PodState::Starting => "ContainerCreating",
            PodState::OomKilled => "OOMKilled",
            PodState::CrashLoopBackOff => "CrashLoopBackOff",
            PodState::Pending => "Pending",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    pub state: PodState,
    /// Bumped whenever the pod is replaced or restarted; stale events carry an old value.
    pub generation: u32,
    pub restarts: u32,
    pub last_restart: Option<Time>,
    /// Restarts in a row without 10 min of running in between (kubelet back-off).
    pub crash_streak: u32,
    /// When its container last became Ready (`None`: since the world began).
    pub up_since: Option<Time>,
}

impl Pod {
    fn new(state: PodState) -> Pod {
        Pod { state, generation: 0, restarts: 0, last_restart: None, crash_streak: 0, up_since: None }
    }
}

/// One Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub spec: ServiceSpec,
    pub desired: u32,
    pub pods: Vec<Pod>,
    pub revision: u32,
    /// Revisions deployed, oldest first (the last is current).
    pub history: Vec<u32>,
    /// Pods that cannot be placed (capacity lost).
    pub unschedulable: u32,
    pub last_oom: Option<Time>,
    pub ooms_since_tick: u32,
    /// Bumped when leak OOM schedules must be redrawn.
    pub leak_generation: u32,
}

impl Service {
    pub fn new(spec: &ServiceSpec) -> Service {
        let first = spec.revision.saturating_sub(2).max(1);
        Service {
            desired: spec.replicas,
            pods: (0..spec.replicas).map(|_| Pod::new(PodState::Running)).collect(),
            revision: spec.revision,
            history: (first..=spec.revision).collect(),
            unschedulable: 0,
            last_oom: None,
            ooms_since_tick: 0,
            leak_generation: 0,
            spec: spec.clone(),
        }
    }

    pub fn ready(&self) -> u32 {
        self.pods.iter().filter(|p| p.state == PodState::Running).count() as u32
    }

    pub fn pending(&self) -> u32 {
        self.pods.iter().filter(|p| p.state == PodState::Pending).count() as u32
    }

    pub fn restarts(&self) -> u32 {
        self.pods.iter().map(|p| p.restarts).sum()
    }
}

/// Where a fault is in its life.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultState {
    /// Not yet showing (before onset, or a release's errors not started yet).
    Dormant,
    Active,
    Mitigated {
        /// When the action that mitigated it ran.
        since: Time,
        until: Time,
    },
    Fixed,
    /// Ended by itself.
    Ended,
}

/// A fault in the world: a scenario's fault instance, or harm an action caused.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub instance: FaultInstance,
    pub state: FaultState,
    /// Harm caused by an action (index of that action), not a scenario fault.
    pub harm_of: Option<usize>,
    /// Error rate of a harm.
    pub harm_error_rate: f64,
    /// The incident this fault belongs to.
    pub incident: usize,
    /// Bumped on each mitigation so a stale "mitigation ends" event is ignored.
    pub mitigation_generation: u32,
    /// When it first became active.
    pub activated: Option<Time>,
}

impl Fault {
    pub fn active(&self) -> bool {
        self.state == FaultState::Active
    }

    /// Whether a person who took an incident on at `engaged` can diagnose and fix this fault:
    /// it is live and had shown by then, or it is a harm an action did (people see what was
    /// done). A cause that first shows later needs its own diagnosis.
    pub fn diagnosable(&self, engaged: Time) -> bool {
        self.live() && (self.harm_of.is_some() || self.activated.is_some_and(|t| t <= engaged))
    }

    /// Still a cause (not fixed or ended).
    pub fn live(&self) -> bool {
        matches!(self.state, FaultState::Dormant | FaultState::Active | FaultState::Mitigated { .. })
    }
}

/// What a monitor reads off a service at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    pub load_rps: f64,
    /// CPU use per pod, useful plus burnt by an anomaly, in [0, 1].
    pub cpu: f64,
    /// Load over useful capacity (∞ with no pod ready).
    pub utilisation: f64,
    pub error_rate: f64,
    pub latency_ms: f64,
    pub ready: u32,
    pub desired: u32,
    pub pending: u32,
    pub oom_kills: u32,
}

/// Thresholds of the monitor's alert rules. Assumptions modelled on common kube-prometheus
/// rules: 5% 5xx, CPU above 85%, p99 above 3× baseline, fewer Ready pods than desired.
pub const ERROR_RATE_ALERT: f64 = 0.05;
pub const CPU_ALERT: f64 = 0.85;
pub const LATENCY_ALERT_RATIO: f64 = 3.0;

impl Signals {
    /// Which alert conditions hold right now (before any `for:` duration), most specific
    /// first: (signal name, condition).
    pub fn conditions(&self, base_latency_ms: f64) -> [(&'static str, bool); 5] {
        [
            ("OOMKilled", self.oom_kills > 0),
            ("http_5xx_rate", self.error_rate > ERROR_RATE_ALERT),
            ("pod_count", self.ready < self.desired),
            ("cpu_utilization", self.cpu > CPU_ALERT),
            ("latency_p99", self.latency_ms > LATENCY_ALERT_RATIO * base_latency_ms),
        ]
    }

    /// Customer-facing severity in [0, 1]: the share of requests failing, plus half weight
    /// for requests slowed beyond 1.5× baseline latency (saturating at 5×).
    pub fn severity(&self, base_error_rate: f64, base_latency_ms: f64) -> f64 {
        let excess = (self.error_rate - base_error_rate).max(0.0);
        let slow = ((self.latency_ms / base_latency_ms - 1.5) / 3.5).clamp(0.0, 1.0);
        (excess + 0.5 * slow * (1.0 - excess)).clamp(0.0, 1.0)
    }
}

/// What [`World::apply_effects`] changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Faults now fixed.
    pub fixed: Vec<usize>,
    /// Faults now mitigated: (fault, until, mitigation generation).
    pub mitigated: Vec<(usize, Time, u32)>,
    /// Causes that stopped showing (their mechanics must be undone).
    pub deactivated: Vec<Cause>,
    /// Error rate of the harm the action adds, if it makes things worse.
    pub harm: Option<f64>,
}

/// All services and faults of one arm of one replication.
#[derive(Debug, Clone)]
pub struct World {
    pub services: Vec<Service>,
    pub faults: Vec<Fault>,
    daily: Vec<f64>,
    quota: Vec<(String, u32)>,
    /// Namespaces where a pod could not be placed because of the namespace quota: there,
    /// what happens to one service's pods can change another's (the runner attributes it).
    quota_bound: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl World {
    pub fn new(s: &Scenario) -> World {
        World {
            services: s.services.iter().map(Service::new).collect(),
            faults: Vec::new(),
            daily: s.daily_shape.clone(),
            quota: s.quota.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            quota_bound: Default::default(),
        }
    }

    /// Whether the namespace quota has ever kept a pod of `ns` from being placed.
    pub fn quota_bound(&self, ns: &str) -> bool {
        self.quota_bound.borrow().contains(ns)
    }

    fn daily(&self, t: Time) -> f64 {
        let hour = (t.nanos().rem_euclid(86_400_000_000_000) / 3_600_000_000_000) as usize;
        self.daily.get(hour).copied().unwrap_or(1.0)
    }

    /// Faults on a service that are showing symptoms.
    pub fn active_faults(&self, svc: usize) -> impl Iterator<Item = &Fault> {
        self.faults.iter().filter(move |f| f.instance.service == svc && f.active())
    }

    pub fn leak_active(&self, svc: usize) -> bool {
        self.active_faults(svc).any(|f| f.instance.cause == Cause::MemoryLeak && f.harm_of.is_none())
    }

    /// The signals of service `svc` at `t`.
    pub fn signals(&self, svc: usize, t: Time) -> Signals {
        let s = &self.services[svc];
        let spec = &s.spec;
        let mut load = spec.base_rps * self.daily(t);
        let mut burnt: f64 = 0.0;
        let mut fault_ok = 1.0;
        let mut slow = 1.0;
        for f in self.active_faults(svc) {
            let p = &f.instance.params;
            if f.harm_of.is_some() {
                fault_ok *= 1.0 - f.harm_error_rate;
                continue;
            }
            match f.instance.cause {
                Cause::TrafficSurge => load *= p.load_multiplier,
                Cause::CpuSpike => burnt = burnt.max(p.cpu_share),
                Cause::BadDeployment => fault_ok *= 1.0 - p.error_rate,
                Cause::DependencyFailure => {
                    fault_ok *= 1.0 - p.error_rate;
                    // Callers wait on timeouts to the failing dependency.
                    slow *= 2.0;
                }
                Cause::MemoryLeak | Cause::CapacityLoss => {}
            }
        }
        let ready = s.ready();
        let full = f64::from(ready) * spec.rps_per_pod;
        let useful = full * (1.0 - burnt);
        let utilisation = if useful > 0.0 { load / useful } else { f64::INFINITY };
        let cpu = if full > 0.0 { (load / full + burnt).min(1.0) } else { 0.0 };
        let overload = if utilisation > 1.0 { 1.0 - 1.0 / utilisation } else { 0.0 };
        let error_rate = 1.0 - (1.0 - spec.base_error_rate) * (1.0 - overload) * fault_ok;
        // Queueing: flat until 60% busy, then growing as 1/(1-u) (capped at u = 0.97).
        let u = utilisation.min(0.97);
        let queueing = 1.0 + 0.5 * (u - 0.6).max(0.0) / (1.0 - u);
        Signals {
            load_rps: load,
            cpu,
            utilisation,
            error_rate: error_rate.clamp(0.0, 1.0),
            latency_ms: spec.base_latency_ms * queueing * slow,
            ready,
            desired: s.desired,
            pending: s.pending(),
            oom_kills: s.ooms_since_tick,
        }
    }

    fn namespace_pods(&self, ns: &str) -> u32 {
        self.services
            .iter()
            .filter(|s| s.spec.namespace == ns)
            .map(|s| s.pods.iter().filter(|p| p.state != PodState::Pending).count() as u32)
            .sum()
    }

    fn quota(&self, ns: &str) -> u32 {
        self.quota.iter().find(|(n, _)| n == ns).map_or(u32::MAX, |(_, q)| *q)
    }

    /// Set the replica count. New pods start (ready after `startup`, returned with their
    /// indices and generations so the caller can schedule readiness) or stay Pending; surplus
    /// pods are removed from the end.
    pub fn scale_to(&mut self, svc: usize, replicas: u32) -> Vec<(usize, u32)> {
        self.services[svc].desired = replicas;
        let mut started = Vec::new();
        while self.services[svc].pods.len() as u32 > replicas {
            self.services[svc].pods.pop();
        }
        while (self.services[svc].pods.len() as u32) < replicas {
            let room = self.room_for_one(svc);
            let s = &mut self.services[svc];
            let state = if room { PodState::Starting } else { PodState::Pending };
            s.pods.push(Pod::new(state));
            if room {
                started.push((s.pods.len() - 1, 0));
            }
        }
        started
    }

    fn room_for_one(&self, svc: usize) -> bool {
        let s = &self.services[svc];
        let placed = s.pods.iter().filter(|p| p.state != PodState::Pending).count() as u32;
        let allowed = s.desired.saturating_sub(s.unschedulable);
        if placed >= allowed {
            return false;
        }
        let room = self.namespace_pods(&s.spec.namespace) < self.quota(&s.spec.namespace);
        if !room {
            self.quota_bound.borrow_mut().insert(s.spec.namespace.clone());
        }
        room
    }

    /// Capacity lost: `n` pods go Pending and cannot be placed until it is restored.
    pub fn lose_capacity(&mut self, svc: usize, n: u32) {
        let s = &mut self.services[svc];
        s.unschedulable = s.unschedulable.saturating_add(n).min(s.desired);
        let mut to_lose = n as usize;
        for p in s.pods.iter_mut().rev() {
            if to_lose == 0 {
                break;
            }
            if p.state != PodState::Pending {
                p.state = PodState::Pending;
                p.generation += 1;
                to_lose -= 1;
            }
        }
    }

    /// Capacity restored: Pending pods start. Returns the pods started (index, generation).
    pub fn restore_capacity(&mut self, svc: usize) -> Vec<(usize, u32)> {
        self.services[svc].unschedulable = 0;
        let mut started = Vec::new();
        for i in 0..self.services[svc].pods.len() {
            if self.services[svc].pods[i].state == PodState::Pending && self.room_for_one(svc) {
                let p = &mut self.services[svc].pods[i];
                p.state = PodState::Starting;
                p.generation += 1;
                started.push((i, p.generation));
            }
        }
        started
    }

    /// A rolling replacement of every pod (rollout restart, rollback): all pods get new
    /// generations (fresh memory, no crash streak). Kubernetes' default strategy is
    /// `maxUnavailable: 25%` rounded down and `maxSurge: 25%` rounded up (the Deployment API's
    /// RollingUpdateDeployment): with fewer than four pods no serving pod is taken down
    /// before its surge replacement is ready, with eight two are. Those and every pod not
    /// serving (OOMKilled, back-off) are Starting until the rollout ends; surge pods are not
    /// counted against a namespace quota (an assumption). Returns the Starting pods (index,
    /// generation).
    pub fn roll_pods(&mut self, svc: usize) -> Vec<(usize, u32)> {
        let s = &mut self.services[svc];
        let n = s.pods.iter().filter(|p| p.state != PodState::Pending).count();
        let unavailable = n / 4;
        let mut starting = Vec::new();
        let mut taken = 0;
        for (i, p) in s.pods.iter_mut().enumerate() {
            if p.state == PodState::Pending {
                continue;
            }
            p.generation += 1;
            p.crash_streak = 0;
            p.restarts = 0;
            if taken < unavailable || p.state != PodState::Running {
                p.state = PodState::Starting;
                starting.push((i, p.generation));
                taken += 1;
            }
        }
        starting
    }

    /// Apply the effects table for an action of `kind` on service `svc` at `now` to every
    /// cause present there (a release already out counts before its errors show). With no
    /// cause present, the effect on `fallback` (what the incident was, if known) decides harm.
    /// The caller schedules the mitigations' ends and runs the mechanics of causes that stopped.
    pub fn apply_effects(
        &mut self,
        svc: usize,
        kind: &str,
        effects: &Effects,
        fallback: Option<Cause>,
        now: Time,
    ) -> Applied {
        let mut out = Applied::default();
        let present: Vec<usize> = (0..self.faults.len())
            .filter(|&f| {
                let x = &self.faults[f];
                x.instance.service == svc && x.harm_of.is_none() && x.live() && x.instance.onset <= now
            })
            .collect();
        let mut harm = |e: Effect| {
            if let Effect::Worse { error_rate } = e {
                out.harm = Some(out.harm.unwrap_or(0.0).max(error_rate));
            }
        };
        if present.is_empty()
            && let Some(cause) = fallback
        {
            harm(effects.get(kind, cause));
        }
        let mut fixed = Vec::new();
        let mut mitigated = Vec::new();
        let mut deactivated = Vec::new();
        for f in present {
            let cause = self.faults[f].instance.cause;
            let effect = effects.get(kind, cause);
            harm(effect);
            let x = &mut self.faults[f];
            match effect {
                Effect::Fix => {
                    if x.active() {
                        deactivated.push(cause);
                    }
                    x.state = FaultState::Fixed;
                    fixed.push(f);
                }
                Effect::Mitigate { r#for } if matches!(x.state, FaultState::Active | FaultState::Mitigated { .. }) => {
                    if x.active() {
                        deactivated.push(cause);
                    }
                    let until = now.saturating_add(r#for.unwrap_or(x.instance.params.returns_after));
                    x.mitigation_generation += 1;
                    x.state = FaultState::Mitigated { since: now, until };
                    mitigated.push((f, until, x.mitigation_generation));
                }
                Effect::Mitigate { .. } | Effect::None | Effect::Worse { .. } => {}
            }
        }
        out.fixed = fixed;
        out.mitigated = mitigated;
        out.deactivated = deactivated;
        out
    }

    /// A pod was OOMKilled: it waits out the kubelet's back-off (10 s doubling to 5 min, reset
    /// after 10 min of running). Returns the back-off to wait.
    pub fn oom_kill(&mut self, svc: usize, pod: usize, now: Time) -> Duration {
        let s = &mut self.services[svc];
        s.last_oom = Some(now);
        s.ooms_since_tick += 1;
        let p = &mut s.pods[pod];
        let recent = p.last_restart.is_some_and(|t| now.since(t) < Duration::from_secs(600));
        p.crash_streak = if recent { p.crash_streak + 1 } else { 0 };
        p.restarts += 1;
        p.last_restart = Some(now);
        p.generation += 1;
        p.state = if p.crash_streak >= 2 { PodState::CrashLoopBackOff } else { PodState::OomKilled };
        Duration::from_secs((10u64 << p.crash_streak.min(5)).min(300))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::{FaultParams, default_services};

    fn world() -> World {
        let text = "name: t\nduration: 1h\nfaults:\n  - { type: cpu-spike, service: payment-api, at: 10m }\n";
        let (s, _) = Scenario::from_yaml(std::path::Path::new("t.yaml"), text).unwrap();
        World::new(&s)
    }

    fn fault(cause: Cause, svc: usize) -> Fault {
        Fault {
            instance: FaultInstance { cause, service: svc, onset: Time(0), params: FaultParams::default_for(cause, 3) },
            state: FaultState::Active,
            harm_of: None,
            harm_error_rate: 0.0,
            incident: 0,
            mitigation_generation: 0,
            activated: Some(Time(0)),
        }
    }

    #[test]
    fn a_rolling_update_keeps_kubernetes_default_availability() {
        // maxUnavailable 25% rounded down: three pods keep serving, eight lose two at most;
        // a pod that was not serving is replaced either way.
        for (replicas, down) in [(1usize, 0usize), (3, 0), (4, 1), (8, 2)] {
            let mut w = world();
            let pod = w.services[0].pods[0].clone();
            w.services[0].pods.resize(replicas, pod);
            for p in &mut w.services[0].pods {
                p.state = PodState::Running;
            }
            let starting = w.roll_pods(0);
            assert_eq!(starting.len(), down, "{replicas} replicas");
            assert!(w.services[0].pods.iter().all(|p| p.generation == 1), "every pod is replaced");
            w.services[0].pods[0].state = PodState::OomKilled;
            let starting = w.roll_pods(0);
            assert!(starting.iter().any(|&(i, _)| i == 0), "an OOMKilled pod is replaced ({replicas} replicas)");
        }
    }

    #[test]
    fn a_person_fixes_what_had_shown_when_they_took_it_on() {
        let mut f = fault(Cause::BadDeployment, 0);
        f.activated = Some(Time(100));
        assert!(f.diagnosable(Time(100)));
        assert!(!f.diagnosable(Time(99)), "a release that went out later is a new incident");
        f.harm_of = Some(0);
        assert!(f.diagnosable(Time(0)), "harm an action did is always visible");
        f.state = FaultState::Fixed;
        assert!(!f.diagnosable(Time(1_000)), "nothing left to fix");
    }

    // Noon UTC: the daily shape is 1.4 there before normalisation.
    const NOON: Time = Time(12 * 3_600_000_000_000);

    #[test]
    fn each_action_does_to_each_cause_what_the_effects_table_says() {
        use crate::policy::action::KINDS;
        let effects = Effects::default();
        let now = Time(1_000_000_000);
        for kind in KINDS {
            for cause in Cause::ALL {
                let mut w = world();
                w.faults.push(fault(cause, 0));
                let applied = w.apply_effects(0, kind, &effects, Some(cause), now);
                let state = w.faults[0].state;
                match effects.get(kind, cause) {
                    Effect::Fix => {
                        assert_eq!(state, FaultState::Fixed, "{kind} on {cause}");
                        assert_eq!(applied.fixed, vec![0]);
                        assert_eq!(applied.harm, None);
                    }
                    Effect::Mitigate { r#for } => {
                        let until = now.saturating_add(r#for.unwrap_or(w.faults[0].instance.params.returns_after));
                        assert_eq!(state, FaultState::Mitigated { since: now, until }, "{kind} on {cause}");
                        assert_eq!(applied.deactivated, vec![cause]);
                    }
                    Effect::None => {
                        assert_eq!(state, FaultState::Active, "{kind} on {cause}");
                        assert_eq!(applied, Applied::default());
                    }
                    Effect::Worse { error_rate } => {
                        assert_eq!(state, FaultState::Active, "{kind} on {cause}");
                        assert_eq!(applied.harm, Some(error_rate));
                    }
                }
            }
        }
    }

    #[test]
    fn the_lessons_dangers_are_in_the_default_table() {
        let e = Effects::default();
        // A restart hides a leak for a while: the restart loop.
        assert_eq!(e.get("restart", Cause::MemoryLeak), Effect::Mitigate { r#for: None });
        // Rolling back a good release makes things worse; rolling back a bad one fixes it.
        assert!(matches!(e.get("helm-rollback", Cause::DependencyFailure), Effect::Worse { .. }));
        assert_eq!(e.get("helm-rollback", Cause::BadDeployment), Effect::Fix);
        // Scaling a campaign changes nothing about its cause (it was never a fault).
        assert_eq!(e.get("scale", Cause::TrafficSurge), Effect::None);
    }

    #[test]
    fn a_scenario_override_changes_one_effect() {
        let text = "name: t\nduration: 1h\nfaults:\n  - { type: memory-leak, service: payment-api, at: 10m }\neffects:\n  - { action: restart, fault: memory-leak, effect: fix }\n";
        let (s, _) = Scenario::from_yaml(std::path::Path::new("t.yaml"), text).unwrap();
        let mut w = World::new(&s);
        w.faults.push(fault(Cause::MemoryLeak, 0));
        w.apply_effects(0, "restart", &s.effects, Some(Cause::MemoryLeak), Time(1));
        assert_eq!(w.faults[0].state, FaultState::Fixed);
    }

    #[test]
    fn an_action_with_no_cause_present_is_judged_by_the_incidents_cause() {
        let mut w = world();
        let applied = w.apply_effects(0, "rollback", &Effects::default(), Some(Cause::TrafficSurge), Time(1));
        assert!(applied.harm.is_some(), "rolling back a good release during a surge");
    }

    #[test]
    fn a_healthy_service_raises_no_alert() {
        let w = world();
        for svc in 0..3 {
            let s = w.signals(svc, NOON);
            assert!(s.conditions(w.services[svc].spec.base_latency_ms).iter().all(|(_, c)| !c), "{s:?}");
        }
        assert_eq!(default_services().len(), 3);
    }

    #[test]
    fn a_bad_release_fails_requests_and_a_cpu_anomaly_burns_capacity() {
        let mut w = world();
        w.faults.push(fault(Cause::BadDeployment, 1));
        let s = w.signals(1, NOON);
        assert!(s.error_rate > 0.29 && s.error_rate < 0.31, "{s:?}");
        w.faults.push(fault(Cause::CpuSpike, 0));
        let s = w.signals(0, NOON);
        assert!(s.cpu > CPU_ALERT, "{s:?}");
        assert!(s.utilisation > 1.0);
    }

    #[test]
    fn lost_capacity_leaves_pods_pending_until_restored() {
        let mut w = world();
        w.lose_capacity(2, 4);
        assert_eq!(w.services[2].ready(), 1);
        assert_eq!(w.services[2].pending(), 4);
        let started = w.restore_capacity(2);
        assert_eq!(started.len(), 4);
    }

    #[test]
    fn scaling_stops_at_the_namespace_quota() {
        let mut w = world();
        // prod holds 3 + 4 + 5 = 12 pods; the quota is 40.
        let started = w.scale_to(0, 40);
        assert_eq!(started.len(), 28);
        assert_eq!(w.services[0].pending(), 9);
    }

    #[test]
    fn repeated_oom_kills_back_off_into_crash_loop() {
        let mut w = world();
        let t = Time(0);
        assert_eq!(w.oom_kill(0, 0, t), Duration::from_secs(10));
        assert_eq!(w.oom_kill(0, 0, t.saturating_add(Duration::from_secs(60))), Duration::from_secs(20));
        assert_eq!(w.oom_kill(0, 0, t.saturating_add(Duration::from_secs(120))), Duration::from_secs(40));
        assert_eq!(w.services[0].pods[0].state, PodState::CrashLoopBackOff);
        assert_eq!(w.services[0].restarts(), 3);
    }
}
