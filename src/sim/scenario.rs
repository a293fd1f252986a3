//! Scenario files: the world, its load and campaigns, the faults (at times or as rates), the
//! classifier model, the human model and effect overrides, for one simulation.
//!
//! Owns the YAML format (raw serde types, unknown fields refused) and its validation into
//! [`Scenario`], with every problem located. Expanding rates into concrete fault instances
//! is [`Scenario::instances`], driven by the caller's RNG. No I/O beyond the file it reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::classify::{Confidence, NoisyOracle};
use crate::clock::{Time, parse_duration, serialize_duration};
use crate::diag::{Code, Diagnostic, Report, did_you_mean};
use crate::policy::action::KINDS;
use crate::sim::model::{Cause, DEFAULT_HARM_ERROR_RATE, Delay, Effect, Effects, HumanModel};
use crate::yaml::{self, Problem, Problems, Seg, at};

// ---------------------------------------------------------------------------------------------
// Raw format

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    pub description: Option<String>,
    /// RFC 3339; default 2026-11-23T00:00:00Z (a Monday).
    pub start: Option<String>,
    pub duration: String,
    /// After `duration`, run on without new faults so open incidents can end (default 6h).
    pub drain: Option<String>,
    /// Monitor evaluation interval (default 30s).
    pub tick: Option<String>,
    pub services: Option<Vec<RawService>>,
    /// Pods schedulable per namespace (default 40).
    pub quota: Option<BTreeMap<String, u32>>,
    /// 24 hourly load multipliers (UTC hours); normalised to mean 1.
    pub daily_shape: Option<Vec<f64>>,
    pub campaigns: Option<Vec<RawCampaign>>,
    pub faults: Option<Vec<RawFault>>,
    pub classifier: Option<BTreeMap<String, RawOracle>>,
    pub human: Option<RawHuman>,
    pub people: Option<RawPeople>,
    pub effects: Option<Vec<RawEffect>>,
    /// What `understudy fit` estimated from a team's history and what it left at defaults:
    /// provenance only (the values are in the fields above); `simulate` prints it.
    pub fitted: Option<RawFitted>,
}

/// Provenance of a fitted scenario.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawFitted {
    /// The trace files the history came from.
    pub from: Vec<String>,
    /// Each estimated figure.
    #[serde(default)]
    pub parameters: Vec<FittedParameter>,
    /// Figures the history could not inform (kept at their defaults), and why.
    #[serde(default)]
    pub assumed: Vec<String>,
}

/// One figure estimated from history: `{value, ci95, n, source}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FittedParameter {
    /// Where it sits in the scenario (`human.acknowledge.median`, `faults.prod/api.memory-leak`).
    pub parameter: String,
    pub value: f64,
    /// `s` (seconds), `per-day` or `share`.
    pub unit: String,
    pub ci95: [f64; 2],
    /// Observations behind it.
    pub n: u64,
    /// What in the trace it was measured from.
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: String,
    pub namespace: Option<String>,
    pub replicas: u32,
    /// Requests per second one pod serves at full CPU.
    pub rps_per_pod: f64,
    /// Mean load (requests per second) over a day.
    pub base_rps: f64,
    pub base_error_rate: Option<f64>,
    pub base_latency_ms: Option<f64>,
    pub memory_limit_mib: Option<u32>,
    pub cpu_limit_millicores: Option<u32>,
    pub revision: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCampaign {
    pub name: String,
    pub service: String,
    pub at: String,
    pub duration: String,
    pub load_multiplier: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    #[serde(rename = "type")]
    pub kind: String,
    /// One service (with `at`) …
    pub service: Option<String>,
    /// … at an offset from start (`30m`) or an RFC 3339 time, or …
    pub at: Option<String>,
    /// … as a Poisson process with this many per service per day, on `services` (default all).
    pub rate_per_day: Option<f64>,
    pub services: Option<Vec<String>>,
    /// Only between these UTC hours, e.g. [9, 18] (rates only).
    pub hours: Option<Vec<u32>>,
    pub oom_interval: Option<String>,
    pub returns_after: Option<String>,
    pub lasts: Option<String>,
    pub error_rate: Option<f64>,
    pub cpu_share: Option<f64>,
    pub pods_lost: Option<u32>,
    pub symptom_delay: Option<String>,
    pub load_multiplier: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOracle {
    pub accuracy: Option<f64>,
    pub right: Option<RawConfidence>,
    pub wrong: Option<RawConfidence>,
    pub confusion: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfidence {
    pub mean: f64,
    pub concentration: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHuman {
    pub detect: Option<RawDelay>,
    pub acknowledge: Option<RawDelay>,
    pub diagnose: Option<RawDelay>,
    pub fix: Option<RawDelay>,
}

/// How the team works today, which is what the `baseline` arm models.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPeople {
    /// The monitor's alerts page people (default true); false: people notice on their own
    /// after `human.detect` (teams that watch dashboards).
    pub paged_by_alerts: Option<bool>,
    /// Multiplies the diagnosis time when the page suggests the right action (default 1).
    pub right_suggestion_factor: Option<f64>,
    /// Multiplies the diagnosis time when the page suggests a wrong action (default 1).
    pub wrong_suggestion_factor: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelay {
    pub median: String,
    pub p90: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEffect {
    pub action: String,
    pub fault: String,
    pub effect: String,
    /// mitigate: how long it holds.
    #[serde(rename = "for")]
    pub for_: Option<String>,
    /// worse: the error rate the harm adds.
    pub error_rate: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// Validated

/// One service of the world, a Deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    pub name: String,
    pub namespace: String,
    pub replicas: u32,
    pub rps_per_pod: f64,
    pub base_rps: f64,
    pub base_error_rate: f64,
    pub base_latency_ms: f64,
    pub memory_limit_mib: u32,
    pub cpu_limit_millicores: u32,
    pub revision: u32,
}

/// When a fault happens.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    At { service: usize, at: Time },
    Rate { per_day: f64, services: Vec<usize>, hours: Option<(u32, u32)> },
}

/// How a fault behaves (defaults per cause, overridable per fault).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaultParams {
    /// memory-leak: a pod's time from start to OOMKilled.
    #[serde(serialize_with = "serialize_duration")]
    pub oom_interval: Duration,
    /// How long a mitigation holds before the cause returns.
    #[serde(serialize_with = "serialize_duration")]
    pub returns_after: Duration,
    /// When the cause ends by itself, if it does.
    pub lasts: Option<Duration>,
    /// bad-deployment, dependency-failure: share of requests that fail.
    pub error_rate: f64,
    /// cpu-spike: share of each pod's CPU the anomaly burns.
    pub cpu_share: f64,
    /// capacity-loss: pods lost and not rescheduled.
    pub pods_lost: u32,
    /// bad-deployment: release → first errors.
    #[serde(serialize_with = "serialize_duration")]
    pub symptom_delay: Duration,
    /// traffic-surge: load multiplier.
    pub load_multiplier: f64,
}

impl FaultParams {
    /// Defaults per cause; each is an assumption stated here.
    pub fn default_for(cause: Cause, replicas: u32) -> FaultParams {
        let m = |x: u64| Duration::from_secs(x * 60);
        let base = FaultParams {
            oom_interval: m(10),
            returns_after: m(30),
            lasts: None,
            error_rate: 0.0,
            cpu_share: 0.0,
            pods_lost: 0,
            symptom_delay: Duration::ZERO,
            load_multiplier: 1.0,
        };
        match cause {
            // A leak fills a pod in 10 min and fills it again after each restart; it never
            // ends by itself.
            Cause::MemoryLeak => FaultParams { returns_after: m(10), ..base },
            // Half of each pod's CPU burnt for 90 min; a restart clears it for 30 min.
            Cause::CpuSpike => FaultParams { cpu_share: 0.5, lasts: Some(m(90)), ..base },
            // Twice the load for two hours.
            Cause::TrafficSurge => FaultParams { load_multiplier: 2.0, lasts: Some(m(120)), ..base },
            // 30% of requests fail from 2 min after the release until it is rolled back.
            Cause::BadDeployment => FaultParams { error_rate: 0.3, symptom_delay: m(2), returns_after: m(60), ..base },
            // All pods but one lost for 45 min (the time a cluster autoscaler takes to
            // replace a node group, an assumption).
            Cause::CapacityLoss => FaultParams { pods_lost: replicas.saturating_sub(1), lasts: Some(m(45)), ..base },
            // A quarter of requests fail for 30 min, until the dependency recovers.
            Cause::DependencyFailure => FaultParams { error_rate: 0.25, lasts: Some(m(30)), ..base },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultSpec {
    pub cause: Cause,
    pub when: When,
    /// Per-fault overrides of the cause's defaults (applied per service at expansion).
    #[serde(skip)]
    raw: RawFaultParams,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct RawFaultParams {
    oom_interval: Option<Duration>,
    returns_after: Option<Duration>,
    lasts: Option<Duration>,
    error_rate: Option<f64>,
    cpu_share: Option<f64>,
    pods_lost: Option<u32>,
    symptom_delay: Option<Duration>,
    load_multiplier: Option<f64>,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub start: Time,
    #[serde(serialize_with = "serialize_duration")]
    pub duration: Duration,
    #[serde(serialize_with = "serialize_duration")]
    pub drain: Duration,
    #[serde(serialize_with = "serialize_duration")]
    pub tick: Duration,
    pub services: Vec<ServiceSpec>,
    pub quota: BTreeMap<String, u32>,
    pub daily_shape: Vec<f64>,
    pub faults: Vec<FaultSpec>,
    pub classifier: NoisyOracle,
    pub human: HumanModel,
    pub effects: Effects,
    /// Provenance of a scenario made by `understudy fit`.
    pub fitted: Option<RawFitted>,
    /// sha256 of the file's text, for provenance.
    pub digest: String,
    /// Set by [`lay_out`]: replication `r` runs from `timeline + r × stride()` instead of
    /// from `start`, so a run's replications follow one another in time, one history
    /// (`simulate --trace-out`). `None`: every replication runs from `start`.
    pub timeline: Option<Time>,
}

const DAY_NANOS: i64 = 86_400_000_000_000;

/// Lay the replications of `scenarios` out one after another in time (each scenario's after
/// the previous one's), every replication shifted by whole days from its scenario's start so
/// the daily shape and fault hours stay as written: the same draws, the same outcomes, other
/// times. Err when the last replication would end past the year 2262 (the last time
/// nanoseconds since 1970 hold).
pub fn lay_out(scenarios: &mut [Scenario], replications: u32) -> Result<(), String> {
    let mut cursor: Option<i64> = None;
    for s in scenarios.iter_mut() {
        let start = s.start.nanos();
        let first = match cursor {
            Some(c) if c > start => {
                let days = (c - start).checked_add(DAY_NANOS - 1).map(|n| n / DAY_NANOS);
                days.and_then(|d| d.checked_mul(DAY_NANOS)).and_then(|d| start.checked_add(d))
            }
            _ => Some(start),
        };
        let stride = i64::try_from(s.stride().as_nanos()).ok();
        let end = first
            .zip(stride)
            .and_then(|(f, st)| st.checked_mul(i64::from(replications)).and_then(|n| f.checked_add(n)));
        let (Some(first), Some(end)) = (first, end) else {
            return Err(format!(
                "{} replication(s) of `{}` laid one after another would run past the year 2262; run fewer replications",
                replications, s.name
            ));
        };
        s.timeline = Some(Time(first));
        cursor = Some(end);
    }
    Ok(())
}

/// One concrete fault in one replication.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultInstance {
    pub cause: Cause,
    pub service: usize,
    pub onset: Time,
    pub params: FaultParams,
}

/// Default start: Monday 2026-11-23 00:00 UTC.
pub const DEFAULT_START: &str = "2026-11-23T00:00:00Z";

/// A working day's shape (UTC hours): quiet nights, peaks late morning and mid-afternoon.
/// Assumption, normalised to mean 1.
pub const DEFAULT_DAILY_SHAPE: [f64; 24] = [
    0.45, 0.40, 0.35, 0.35, 0.40, 0.50, 0.65, 0.85, 1.10, 1.30, 1.40, 1.40, 1.35, 1.35, 1.40, 1.40, 1.30, 1.20, 1.10,
    1.00, 0.90, 0.80, 0.65, 0.55,
];

/// The default world: the lesson's three services in `prod`.
pub fn default_services() -> Vec<ServiceSpec> {
    let svc = |name: &str, replicas, rps_per_pod, base_rps, err, lat, rev| ServiceSpec {
        name: name.into(),
        namespace: "prod".into(),
        replicas,
        rps_per_pod,
        base_rps,
        base_error_rate: err,
        base_latency_ms: lat,
        memory_limit_mib: 512,
        cpu_limit_millicores: 1000,
        revision: rev,
    };
    vec![
        // Utilisation at the daily mean: 0.5 (payment), 0.45 (checkout), 0.5 (worker).
        svc("payment-api", 3, 100.0, 150.0, 0.002, 120.0, 14),
        svc("checkout-api", 4, 100.0, 180.0, 0.003, 150.0, 31),
        svc("worker-consumer", 5, 40.0, 100.0, 0.001, 400.0, 8),
    ]
}

impl Scenario {
    /// Read and validate a scenario file.
    pub fn load(path: &Path) -> Result<(Scenario, Vec<Diagnostic>), Report> {
        crate::diag::load_with(path, Scenario::from_yaml)
    }

    pub fn from_yaml(path: &Path, text: &str) -> Result<(Scenario, Vec<Diagnostic>), Vec<Diagnostic>> {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())));
        yaml::load_validated(path, text, "a scenario with `name:` and `duration:`", |raw: &RawScenario| {
            let (s, p) = validate(raw);
            (s.map(|s| Scenario { digest: digest.clone(), ..s }), p)
        })
    }

    /// The default services and no faults (validation asks files for at least one fault;
    /// the twin may run a quiet world).
    pub fn quiet() -> Scenario {
        let text = "name: quiet\ndescription: the default services, no faults\nduration: 30d\nfaults:\n  - { type: memory-leak, service: payment-api, at: 1d }\n";
        let (mut s, _) =
            Scenario::from_yaml(Path::new("<built-in>"), text).expect("the built-in quiet scenario is valid");
        s.faults.clear();
        s
    }

    /// The end of fault injection.
    pub fn end(&self) -> Time {
        self.start.saturating_add(self.duration)
    }

    /// The end of the run (injection plus drain).
    pub fn horizon(&self) -> Time {
        self.end().saturating_add(self.drain)
    }

    /// How far apart laid-out replications start (see [`lay_out`]): the run, injection and
    /// drain, rounded up to whole days.
    pub fn stride(&self) -> Duration {
        let run = self.horizon().since(self.start).as_nanos();
        let day = DAY_NANOS as u128;
        Duration::from_nanos(u64::try_from(run.div_ceil(day).max(1) * day).unwrap_or(u64::MAX))
    }

    /// The scenario as replication `rep` runs it when laid out (see [`lay_out`]): every
    /// time moved to the replication's place on the timeline. `None` when not laid out (or
    /// when the place is the scenario's own start).
    pub fn for_replication(&self, rep: u32) -> Option<Scenario> {
        let t0 = self.timeline?;
        let stride = i64::try_from(self.stride().as_nanos()).ok()?;
        let shift = t0.nanos().checked_add(stride.checked_mul(i64::from(rep))?)?.checked_sub(self.start.nanos())?;
        if shift == 0 {
            return None;
        }
        let mut s = self.clone();
        s.timeline = None;
        s.start = Time(s.start.nanos().saturating_add(shift));
        for f in &mut s.faults {
            if let When::At { at, .. } = &mut f.when {
                *at = Time(at.nanos().saturating_add(shift));
            }
        }
        Some(s)
    }

    /// Load multiplier at `t` from the daily shape.
    pub fn daily(&self, t: Time) -> f64 {
        let hour = (t.nanos().rem_euclid(86_400_000_000_000) / 3_600_000_000_000) as usize;
        self.daily_shape[hour % 24]
    }

    /// Concrete faults for one replication: fixed ones as written, rates as Poisson processes
    /// per service (thinned to their hours). Sorted by onset, ties in file order.
    pub fn instances(&self, rng: &mut impl Rng) -> Vec<FaultInstance> {
        let mut out: Vec<(Time, usize, FaultInstance)> = Vec::new();
        for (k, f) in self.faults.iter().enumerate() {
            match &f.when {
                When::At { service, at } => {
                    out.push((*at, k, self.instance(f, *service, *at)));
                }
                When::Rate { per_day, services, hours } => {
                    for &s in services {
                        let mean_gap = 86_400.0 / per_day;
                        let mut t = self.start;
                        loop {
                            let u: f64 = rng.r#gen::<f64>().max(1e-12);
                            t = t.saturating_add(crate::clock::secs_f64(-u.ln() * mean_gap));
                            if t >= self.end() {
                                break;
                            }
                            let hour = (t.nanos().rem_euclid(86_400_000_000_000) / 3_600_000_000_000) as u32;
                            if hours.is_some_and(|(a, b)| hour < a || hour >= b) {
                                continue;
                            }
                            out.push((t, k, self.instance(f, s, t)));
                        }
                    }
                }
            }
        }
        out.sort_by_key(|a| (a.0, a.1, a.2.service));
        out.into_iter().map(|(_, _, i)| i).collect()
    }

    fn instance(&self, f: &FaultSpec, service: usize, onset: Time) -> FaultInstance {
        let d = FaultParams::default_for(f.cause, self.services[service].replicas);
        let r = f.raw;
        let oom_interval = r.oom_interval.unwrap_or(d.oom_interval);
        let params = FaultParams {
            oom_interval,
            returns_after: r.returns_after.unwrap_or(if f.cause == Cause::MemoryLeak {
                oom_interval
            } else {
                d.returns_after
            }),
            lasts: r.lasts.or(d.lasts),
            error_rate: r.error_rate.unwrap_or(d.error_rate),
            cpu_share: r.cpu_share.unwrap_or(d.cpu_share),
            pods_lost: r.pods_lost.unwrap_or(d.pods_lost).min(self.services[service].replicas),
            symptom_delay: r.symptom_delay.unwrap_or(d.symptom_delay),
            load_multiplier: r.load_multiplier.unwrap_or(d.load_multiplier),
        };
        FaultInstance { cause: f.cause, service, onset, params }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

struct V {
    problems: Problems,
}

impl std::ops::Deref for V {
    type Target = Problems;
    fn deref(&self) -> &Problems {
        &self.problems
    }
}

impl std::ops::DerefMut for V {
    fn deref_mut(&mut self) -> &mut Problems {
        &mut self.problems
    }
}

impl V {
    fn dur(&mut self, path: Vec<Seg>, s: &str, positive: bool) -> Option<Duration> {
        self.duration(path, s, positive)
    }

    fn opt_dur(&mut self, path: Vec<Seg>, s: &Option<String>, positive: bool) -> Option<Duration> {
        s.as_ref().and_then(|s| self.dur(path, s, positive))
    }

    fn frac(&mut self, path: Vec<Seg>, x: f64, what: &str) {
        if !(0.0..=1.0).contains(&x) {
            self.err(path, Code::BadValue, format!("{what} {x} is outside [0, 1]"));
        }
    }

    /// A load multiplier: positive and at most [`MAX_LOAD_MULTIPLIER`].
    fn multiplier(&mut self, path: Vec<Seg>, x: f64, what: &str) {
        self.positive(path.clone(), x, what);
        if x > MAX_LOAD_MULTIPLIER {
            self.err(path, Code::BadValue, format!("{what} {} is over {MAX_LOAD_MULTIPLIER}", num(x)))
                .hint("the traffic model is for surges of a few times normal load; 100× is its limit");
        }
    }

    fn positive(&mut self, path: Vec<Seg>, x: f64, what: &str) {
        if !(x.is_finite() && x > 0.0) {
            self.err(path, Code::BadValue, format!("{what} must be a positive number, not {x}"));
        }
    }

    /// `30m` (offset from start) or an RFC 3339 time.
    /// Outside the run (`start` to `end`) it is a warning: it never happens, or happens
    /// before the run starts.
    fn when(&mut self, path: Vec<Seg>, s: &str, start: Time, end: Time) -> Option<Time> {
        let t = match parse_duration(s) {
            Ok(d) => Some(start.saturating_add(d)),
            Err(_) => Time::parse_rfc3339(s).ok(),
        };
        if let Some(t) = t
            && !(start..end).contains(&t)
        {
            self.warn(
                path.clone(),
                Code::BadValue,
                format!("`{s}` is outside the run ({} to {})", start.to_rfc3339(), end.to_rfc3339()),
            )
            .hint("it never happens in this run: move it inside `duration`, or change `start`");
        }
        if t.is_some() {
            return t;
        }
        match Time::parse_rfc3339(s) {
            Ok(t) => Some(t),
            // It is a date: say what is wrong with it rather than that it is not one.
            Err(e) if s.len() > 4 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit) && s.as_bytes()[4] == b'-' => {
                self.err(path, Code::BadValue, e)
                    .hint(format!("times in a scenario lie within its run, from `start` ({})", start.to_rfc3339()));
                None
            }
            Err(_) => {
                self.err(path, Code::BadValue, format!("`{s}` is neither an offset from start nor an RFC 3339 time"))
                    .hint("write an offset such as `2h30m`, or a time such as 2026-11-27T10:00:00Z");
                None
            }
        }
    }

    fn service(&mut self, path: Vec<Seg>, name: &str, services: &[ServiceSpec]) -> Option<usize> {
        match services.iter().position(|s| s.name == name) {
            Some(i) => Some(i),
            None => {
                let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
                let hint = match did_you_mean(name, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("services in this scenario: {}", names.join(", ")),
                };
                self.err(path, Code::BadValue, format!("no service `{name}` in this scenario")).hint(hint);
                None
            }
        }
    }

    fn cause(&mut self, path: Vec<Seg>, s: &str) -> Option<Cause> {
        let c = Cause::from_label(s);
        if c.is_none() {
            let hint = match did_you_mean(s, Cause::labels()) {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!("fault types: {}", Cause::labels().collect::<Vec<_>>().join(", ")),
            };
            self.err(path, Code::BadValue, format!("unknown fault type `{s}`")).hint(hint);
        }
        c
    }

    fn delay(&mut self, path: Vec<Seg>, raw: &Option<RawDelay>, default: Delay) -> Delay {
        let Some(r) = raw else { return default };
        let median = self.dur(at(&path, "median"), &r.median, true);
        let p90 = self.dur(at(&path, "p90"), &r.p90, true);
        match (median, p90) {
            (Some(m), Some(p)) if p < m => {
                self.err(at(&path, "p90"), Code::BadValue, "p90 is shorter than the median");
                default
            }
            (Some(median), Some(p90)) => Delay { median, p90 },
            _ => default,
        }
    }

    fn confidence(&mut self, path: Vec<Seg>, raw: &Option<RawConfidence>, default: Confidence) -> Confidence {
        let Some(r) = raw else { return default };
        if !(r.mean > 0.0 && r.mean < 1.0) {
            self.err(at(&path, "mean"), Code::BadValue, format!("mean {} must be strictly between 0 and 1", r.mean));
        }
        if !(r.concentration.is_finite() && r.concentration > 0.0) {
            self.err(at(&path, "concentration"), Code::BadValue, "concentration must be positive")
                .hint("α + β of the Beta distribution: 20 is loose, 100 is tight");
        }
        Confidence { mean: r.mean, concentration: r.concentration }
    }
}

/// A number for a message: as written for everyday sizes, in exponent form past them.
fn num(x: f64) -> String {
    if x != 0.0 && !(1e-4..1e7).contains(&x.abs()) { format!("{x:e}") } else { format!("{x}") }
}

/// The longest run (`duration` plus `drain`) a scenario may ask for.
const MAX_RUN: Duration = Duration::from_secs(3650 * 86_400);
/// The highest fault rate per service and day.
const MAX_RATE_PER_DAY: f64 = 10_000.0;
/// The most faults a scenario may expect in one replication (each is an incident to run).
const MAX_EXPECTED_FAULTS: f64 = 200_000.0;
/// The highest load multiplier (campaigns and faults).
const MAX_LOAD_MULTIPLIER: f64 = 100.0;

fn validate(raw: &RawScenario) -> (Option<Scenario>, Vec<Problem>) {
    let mut v = V { problems: Problems::default() };
    let root: Vec<Seg> = vec![];
    if raw.name.trim().is_empty() {
        v.err(at(&root, "name"), Code::BadValue, "`name` is empty");
    }
    let start = match &raw.start {
        Some(s) => match Time::parse_rfc3339(s) {
            Ok(t) => t,
            Err(e) => {
                v.err(at(&root, "start"), Code::BadValue, e);
                Time::default()
            }
        },
        None => Time::parse_rfc3339(DEFAULT_START).expect("valid constant"),
    };
    // What the engine can run: nanosecond times from 1970 to 2262, so a start in [1970, 2200)
    // and a run of at most ten years leave room; beyond that a run would never end.
    let (earliest, latest) = (Time(0), Time::parse_rfc3339("2200-01-01T00:00:00Z").expect("valid constant"));
    if raw.start.is_some() && !(earliest..latest).contains(&start) {
        v.err(at(&root, "start"), Code::BadValue, format!("`start` {} is outside 1970–2199", start.to_rfc3339()))
            .hint("the engine's clock counts nanoseconds from 1970 and must have room to run");
    }
    let duration = v.dur(at(&root, "duration"), &raw.duration, true).unwrap_or(Duration::from_secs(3600));
    let drain = v.opt_dur(at(&root, "drain"), &raw.drain, false).unwrap_or(Duration::from_secs(6 * 3600));
    if duration.saturating_add(drain) > MAX_RUN {
        v.err(at(&root, "duration"), Code::BadValue, "`duration` plus `drain` is over 3650d (ten years)")
            .hint("simulate a representative week or month; replications give the spread");
    }
    let tick = v.opt_dur(at(&root, "tick"), &raw.tick, true).unwrap_or(Duration::from_secs(30));
    if tick > Duration::from_secs(300) {
        v.err(at(&root, "tick"), Code::BadValue, "a monitor tick above 5m hides short incidents")
            .hint("30s matches a typical Prometheus evaluation interval");
    }

    let services = match &raw.services {
        None => default_services(),
        Some(list) => {
            let base = at(&root, "services");
            if list.is_empty() {
                v.err(base.clone(), Code::BadValue, "`services` is empty").hint("omit it for the default world");
            }
            let mut out: Vec<ServiceSpec> = Vec::new();
            for (i, s) in list.iter().enumerate() {
                let mut p = base.clone();
                p.push(Seg::Index(i));
                if out.iter().any(|o| o.name == s.name) {
                    v.err(at(&p, "name"), Code::Duplicate, format!("service `{}` is listed twice", s.name));
                }
                if s.replicas == 0 {
                    v.err(at(&p, "replicas"), Code::BadValue, "`replicas` must be at least 1");
                }
                v.positive(at(&p, "rps_per_pod"), s.rps_per_pod, "`rps_per_pod`");
                v.positive(at(&p, "base_rps"), s.base_rps, "`base_rps`");
                if let Some(e) = s.base_error_rate {
                    v.frac(at(&p, "base_error_rate"), e, "`base_error_rate`");
                }
                if let Some(l) = s.base_latency_ms {
                    v.positive(at(&p, "base_latency_ms"), l, "`base_latency_ms`");
                }
                out.push(ServiceSpec {
                    name: s.name.clone(),
                    namespace: s.namespace.clone().unwrap_or_else(|| "prod".into()),
                    replicas: s.replicas.max(1),
                    rps_per_pod: s.rps_per_pod,
                    base_rps: s.base_rps,
                    base_error_rate: s.base_error_rate.unwrap_or(0.002),
                    base_latency_ms: s.base_latency_ms.unwrap_or(100.0),
                    memory_limit_mib: s.memory_limit_mib.unwrap_or(512),
                    cpu_limit_millicores: s.cpu_limit_millicores.unwrap_or(1000),
                    revision: s.revision.unwrap_or(1).max(1),
                });
            }
            out
        }
    };

    let mut quota: BTreeMap<String, u32> = services.iter().map(|s| (s.namespace.clone(), 40)).collect();
    for (ns, q) in raw.quota.iter().flatten() {
        quota.insert(ns.clone(), *q);
    }

    let daily_shape = match &raw.daily_shape {
        None => DEFAULT_DAILY_SHAPE.to_vec(),
        Some(shape) => {
            if shape.len() != 24 || shape.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
                v.err(
                    at(&root, "daily_shape"),
                    Code::BadValue,
                    "`daily_shape` needs 24 non-negative numbers, one per UTC hour",
                );
            }
            shape.clone()
        }
    };
    let mean = daily_shape.iter().sum::<f64>() / daily_shape.len().max(1) as f64;
    let daily_shape: Vec<f64> = if mean > 0.0 && daily_shape.len() == 24 {
        daily_shape.iter().map(|x| x / mean).collect()
    } else {
        DEFAULT_DAILY_SHAPE.to_vec()
    };

    let mut faults = Vec::new();
    // Campaigns are traffic surges at known times: the truth of the lesson's "marketing
    // campaign misread as a CPU anomaly".
    for (i, c) in raw.campaigns.iter().flatten().enumerate() {
        let p = vec![Seg::key("campaigns"), Seg::Index(i)];
        let svc = v.service(at(&p, "service"), &c.service, &services);
        let when = v.when(at(&p, "at"), &c.at, start, start.saturating_add(duration));
        let lasts = v.dur(at(&p, "duration"), &c.duration, true);
        v.multiplier(at(&p, "load_multiplier"), c.load_multiplier, "`load_multiplier`");
        if let (Some(service), Some(t), Some(lasts)) = (svc, when, lasts) {
            faults.push(FaultSpec {
                cause: Cause::TrafficSurge,
                when: When::At { service, at: t },
                raw: RawFaultParams {
                    lasts: Some(lasts),
                    load_multiplier: Some(c.load_multiplier),
                    ..Default::default()
                },
            });
        }
    }
    for (i, f) in raw.faults.iter().flatten().enumerate() {
        let p = vec![Seg::key("faults"), Seg::Index(i)];
        let Some(cause) = v.cause(at(&p, "type"), &f.kind) else { continue };
        let when = match (&f.at, f.rate_per_day) {
            (Some(_), Some(_)) => {
                v.err(at(&p, "rate_per_day"), Code::Conflict, "set `at` (one fault) or `rate_per_day`, not both");
                None
            }
            (None, None) => {
                v.err(p.clone(), Code::MissingField, "a fault needs `at` (with `service`) or `rate_per_day`")
                    .hint("e.g. `{ type: memory-leak, service: payment-api, at: 30m }`");
                None
            }
            (Some(t), None) => {
                if f.services.is_some() || f.hours.is_some() {
                    v.err(at(&p, "services"), Code::Conflict, "`services` and `hours` go with `rate_per_day`");
                }
                let svc = match &f.service {
                    Some(s) => v.service(at(&p, "service"), s, &services),
                    None => {
                        v.err(p.clone(), Code::MissingField, "a fault at a time needs `service`");
                        None
                    }
                };
                let t = v.when(at(&p, "at"), t, start, start.saturating_add(duration));
                match (svc, t) {
                    (Some(service), Some(at)) => Some(When::At { service, at }),
                    _ => None,
                }
            }
            (None, Some(rate)) => {
                v.positive(at(&p, "rate_per_day"), rate, "`rate_per_day`");
                if rate > MAX_RATE_PER_DAY {
                    v.err(
                        at(&p, "rate_per_day"),
                        Code::BadValue,
                        format!(
                            "`rate_per_day` {} is over {MAX_RATE_PER_DAY} (one fault every 9 s per service)",
                            num(rate)
                        ),
                    )
                    .hint("a fault rate is incidents per day per service, e.g. 0.5");
                }
                if f.service.is_some() {
                    v.err(
                        at(&p, "service"),
                        Code::Conflict,
                        "with `rate_per_day` list `services` (or omit it for all)",
                    );
                }
                let svcs: Vec<usize> = match &f.services {
                    None => (0..services.len()).collect(),
                    Some(list) => list
                        .iter()
                        .enumerate()
                        .filter_map(|(j, s)| {
                            let mut q = at(&p, "services");
                            q.push(Seg::Index(j));
                            v.service(q, s, &services)
                        })
                        .collect(),
                };
                let hours = match &f.hours {
                    None => None,
                    Some(h) if h.len() == 2 && h[0] < h[1] && h[1] <= 24 => Some((h[0], h[1])),
                    Some(_) => {
                        v.err(at(&p, "hours"), Code::BadValue, "`hours` is [from, to) in UTC hours, e.g. [9, 18]");
                        None
                    }
                };
                let expected = rate * duration.as_secs_f64() / 86_400.0 * svcs.len() as f64;
                if rate <= MAX_RATE_PER_DAY && expected > MAX_EXPECTED_FAULTS {
                    v.err(
                        at(&p, "rate_per_day"),
                        Code::BadValue,
                        format!(
                            "`rate_per_day` {} over {} service(s) and {} expects {expected:.0} faults in one replication, over {MAX_EXPECTED_FAULTS}",
                            num(rate),
                            svcs.len(),
                            crate::clock::format_duration(duration)
                        ),
                    )
                    .hint("lower the rate or the duration; replications give the spread");
                }
                (rate > 0.0).then_some(When::Rate { per_day: rate, services: svcs, hours })
            }
        };
        for (key, x) in [("error_rate", f.error_rate), ("cpu_share", f.cpu_share)] {
            if let Some(x) = x {
                v.frac(at(&p, key), x, &format!("`{key}`"));
            }
        }
        if let Some(m) = f.load_multiplier {
            v.multiplier(at(&p, "load_multiplier"), m, "`load_multiplier`");
        }
        let raw_params = RawFaultParams {
            oom_interval: v.opt_dur(at(&p, "oom_interval"), &f.oom_interval, true),
            returns_after: v.opt_dur(at(&p, "returns_after"), &f.returns_after, false),
            lasts: v.opt_dur(at(&p, "lasts"), &f.lasts, true),
            error_rate: f.error_rate,
            cpu_share: f.cpu_share,
            pods_lost: f.pods_lost,
            symptom_delay: v.opt_dur(at(&p, "symptom_delay"), &f.symptom_delay, false),
            load_multiplier: f.load_multiplier,
        };
        if let Some(when) = when {
            faults.push(FaultSpec { cause, when, raw: raw_params });
        }
    }

    let mut classifier = NoisyOracle::default();
    for (label, o) in raw.classifier.iter().flatten() {
        let p = vec![Seg::key("classifier"), Seg::key(label)];
        let Some(cause) = v.cause(p.clone(), label) else { continue };
        let e = classifier.entries.get(&cause).cloned().expect("every cause has a default");
        if let Some(a) = o.accuracy {
            v.frac(at(&p, "accuracy"), a, "`accuracy`");
        }
        let mut confusion = e.confusion.clone();
        if let Some(c) = &o.confusion {
            confusion = BTreeMap::new();
            for (l, w) in c {
                if !(w.is_finite() && *w >= 0.0) {
                    v.err(at(&at(&p, "confusion"), l), Code::BadValue, format!("weight {w} must be ≥ 0"));
                }
                if l == label {
                    v.err(
                        at(&at(&p, "confusion"), l),
                        Code::Conflict,
                        "a confusion lists wrong labels; the right one is `accuracy`",
                    );
                }
                confusion.insert(l.clone(), *w);
            }
        }
        let right = v.confidence(at(&p, "right"), &o.right, e.right);
        let wrong = v.confidence(at(&p, "wrong"), &o.wrong, e.wrong);
        classifier.entries.insert(
            cause,
            crate::classify::OracleEntry { accuracy: o.accuracy.unwrap_or(e.accuracy), right, wrong, confusion },
        );
    }

    let d = HumanModel::default();
    let human = match &raw.human {
        None => d,
        Some(h) => {
            let p = vec![Seg::key("human")];
            HumanModel {
                detect: v.delay(at(&p, "detect"), &h.detect, d.detect),
                acknowledge: v.delay(at(&p, "acknowledge"), &h.acknowledge, d.acknowledge),
                diagnose: v.delay(at(&p, "diagnose"), &h.diagnose, d.diagnose),
                fix: v.delay(at(&p, "fix"), &h.fix, d.fix),
                ..d
            }
        }
    };
    let human = match &raw.people {
        None => human,
        Some(pp) => {
            let p = vec![Seg::key("people")];
            let mut factor = |key: &str, x: Option<f64>, default: f64| match x {
                None => default,
                Some(x) if x.is_finite() && x > 0.0 && x <= 100.0 => x,
                Some(x) => {
                    v.err(at(&p, key), Code::BadValue, format!("{key} must be in (0, 100], not {x}"))
                        .hint("1 means a suggestion does not change how long diagnosis takes; 0.5 halves it");
                    default
                }
            };
            HumanModel {
                paged_by_alerts: pp.paged_by_alerts.unwrap_or(human.paged_by_alerts),
                right_suggestion_factor: factor(
                    "right_suggestion_factor",
                    pp.right_suggestion_factor,
                    human.right_suggestion_factor,
                ),
                wrong_suggestion_factor: factor(
                    "wrong_suggestion_factor",
                    pp.wrong_suggestion_factor,
                    human.wrong_suggestion_factor,
                ),
                ..human
            }
        }
    };

    let mut effects = Effects::default();
    for (i, e) in raw.effects.iter().flatten().enumerate() {
        let p = vec![Seg::key("effects"), Seg::Index(i)];
        if !KINDS.contains(&e.action.as_str()) {
            let hint = did_you_mean(&e.action, KINDS)
                .map_or_else(|| format!("actions: {}", KINDS.join(", ")), |s| format!("did you mean `{s}`?"));
            v.err(at(&p, "action"), Code::BadValue, format!("unknown action `{}`", e.action)).hint(hint);
        }
        let cause = v.cause(at(&p, "fault"), &e.fault);
        let effect = match e.effect.as_str() {
            "fix" => Some(Effect::Fix),
            "none" => Some(Effect::None),
            "mitigate" => Some(Effect::Mitigate { r#for: v.opt_dur(at(&p, "for"), &e.for_, true) }),
            "worse" => {
                let r = e.error_rate.unwrap_or(DEFAULT_HARM_ERROR_RATE);
                v.frac(at(&p, "error_rate"), r, "`error_rate`");
                Some(Effect::Worse { error_rate: r })
            }
            other => {
                let hint = did_you_mean(other, ["fix", "mitigate", "none", "worse"])
                    .map_or("effects: fix, mitigate, none, worse".to_string(), |s| format!("did you mean `{s}`?"));
                v.err(at(&p, "effect"), Code::BadValue, format!("unknown effect `{other}`")).hint(hint);
                None
            }
        };
        if e.for_.is_some() && e.effect != "mitigate" {
            v.err(at(&p, "for"), Code::Conflict, "`for` applies to `mitigate` only");
        }
        if e.error_rate.is_some() && e.effect != "worse" {
            v.err(at(&p, "error_rate"), Code::Conflict, "`error_rate` applies to `worse` only");
        }
        if let (Some(c), Some(eff)) = (cause, effect) {
            effects = effects.with_override(&e.action, c, eff);
        }
    }

    for (i, f) in raw.fitted.iter().flat_map(|f| f.parameters.iter()).enumerate() {
        let p = vec![Seg::key("fitted"), Seg::key("parameters"), Seg::Index(i)];
        if !["s", "per-day", "share"].contains(&f.unit.as_str()) {
            v.err(at(&p, "unit"), Code::BadValue, format!("unknown unit `{}`", f.unit))
                .hint("units: s, per-day, share");
        }
        let [lo, hi] = f.ci95;
        if !(f.value.is_finite() && lo.is_finite() && hi.is_finite() && lo <= f.value && f.value <= hi) {
            v.err(
                at(&p, "ci95"),
                Code::BadValue,
                format!("`ci95` [{lo}, {hi}] must be finite and hold `value` {}", f.value),
            )
            .hint("`understudy fit` writes this section; re-run it rather than editing by hand");
        }
    }

    if faults.is_empty() && v.problems.list.iter().all(|p| p.warning) {
        v.err(root.clone(), Code::MissingField, "the scenario has no faults and no campaigns")
            .hint("add `faults:` (at times or as rates) or `campaigns:`");
    }

    let ok = !v.problems.list.iter().any(|p| !p.warning);
    let scenario = ok.then(|| Scenario {
        name: raw.name.clone(),
        description: raw.description.clone().unwrap_or_default(),
        start,
        duration,
        drain,
        tick,
        services,
        quota,
        daily_shape,
        faults,
        classifier,
        human,
        effects,
        fitted: raw.fitted.clone(),
        digest: String::new(),
        timeline: None,
    });
    (scenario, v.problems.list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn rates_expand_to_about_the_expected_count() {
        let text = "name: t\nduration: 7d\nfaults:\n  - { type: cpu-spike, rate_per_day: 4 }\n";
        let (s, _) = Scenario::from_yaml(Path::new("t.yaml"), text).unwrap();
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let n = s.instances(&mut rng).len();
        // 3 services × 7 days × 4 = 84 expected; Poisson sd ≈ 9.
        assert!((55..=115).contains(&n), "{n}");
    }

    #[test]
    fn a_broken_scenario_reports_every_problem() {
        let text = "name: t\nduration: 2h\nfaults:\n  - { type: memory-leek, service: payment-api, at: 1h }\n  - { type: cpu-spike, service: paymnt-api, at: 1h }\n  - { type: cpu-spike, rate_per_day: 2, at: 1h }\n";
        let ds = Scenario::from_yaml(Path::new("t.yaml"), text).unwrap_err();
        let msgs: Vec<String> = ds
            .iter()
            .map(|d| format!("{}:{} {}", d.pos.unwrap().line, d.message, d.hint.clone().unwrap_or_default()))
            .collect();
        assert!(msgs.iter().any(|m| m.starts_with("4:") && m.contains("did you mean `memory-leak`?")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.starts_with("5:") && m.contains("did you mean `payment-api`?")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.starts_with("6:") && m.contains("not both")), "{msgs:?}");
    }
}
