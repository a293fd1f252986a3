//! The world's rules that are not state: fault causes, what each action does to each cause,
//! the human responder's delays, and the random distributions they draw from.
//!
//! Every default parameter carries, in a comment, where it comes from: a public figure
//! (cited) or a stated assumption. The assumptions are also listed by [`assumptions`] so the
//! report's provenance can print them. Nothing here holds simulation state.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rand::Rng;
use rand::distributions::Distribution;
use serde::Serialize;

/// The true cause of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// Memory grows until pods are OOMKilled; comes back after a restart unless fixed.
    MemoryLeak,
    /// Anomalous CPU (a hot loop, a runaway job): each pod serves less.
    CpuSpike,
    /// Legitimate extra traffic (a campaign, a sale). Not a fault of the service.
    TrafficSurge,
    /// A release that returns errors (503s) some minutes after it goes out.
    BadDeployment,
    /// Pods lost without a deploy (node loss, eviction) and not rescheduled.
    CapacityLoss,
    /// The fault is elsewhere (a database, a downstream API); this service only shows it.
    DependencyFailure,
}

impl Cause {
    pub const ALL: [Cause; 6] = [
        Cause::MemoryLeak,
        Cause::CpuSpike,
        Cause::TrafficSurge,
        Cause::BadDeployment,
        Cause::CapacityLoss,
        Cause::DependencyFailure,
    ];

    /// The incident-type label a correct classifier gives this cause.
    pub fn label(self) -> &'static str {
        match self {
            Cause::MemoryLeak => "memory-leak",
            Cause::CpuSpike => "cpu-spike",
            Cause::TrafficSurge => "traffic-surge",
            Cause::BadDeployment => "bad-deployment",
            Cause::CapacityLoss => "capacity-loss",
            Cause::DependencyFailure => "dependency-failure",
        }
    }

    pub fn from_label(s: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.label() == s)
    }

    pub fn labels() -> impl Iterator<Item = &'static str> {
        Cause::ALL.into_iter().map(Cause::label)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What an action does to a cause.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum Effect {
    /// The cause is gone.
    Fix,
    /// Symptoms stop for a while, then the cause returns. `None`: the fault's own
    /// `returns_after` (for a leak, the time memory takes to fill again).
    Mitigate {
        #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_dur")]
        r#for: Option<Duration>,
    },
    /// No effect on the cause (the action's mechanics, such as a rolling restart's brief
    /// capacity dip, still happen).
    None,
    /// The action adds harm: errors at this rate until a person undoes it.
    Worse { error_rate: f64 },
}

fn ser_opt_dur<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&crate::clock::format_duration(*d)),
        None => s.serialize_none(),
    }
}

impl Effect {
    pub fn name(&self) -> &'static str {
        match self {
            Effect::Fix => "fix",
            Effect::Mitigate { .. } => "mitigate",
            Effect::None => "none",
            Effect::Worse { .. } => "worse",
        }
    }
}

/// Errors added by a harmful action. Assumption: a wrong action breaks a minority of
/// requests (a rolled-back release missing an API, a retry storm), 5% of them.
pub const DEFAULT_HARM_ERROR_RATE: f64 = 0.05;

/// The default effect of each action kind on each cause. A scenario may override any cell.
pub fn default_effect(action: &str, cause: Cause) -> Effect {
    use Cause::*;
    let worse = Effect::Worse { error_rate: DEFAULT_HARM_ERROR_RATE };
    let mitigate = Effect::Mitigate { r#for: None };
    match (action, cause) {
        // A restart gives fresh pods: a leak fills memory again (the lesson's restart loop);
        // a hot loop clears until its trigger returns.
        ("restart", MemoryLeak | CpuSpike) => mitigate,
        // Restarting while nodes are short: terminated pods cannot be placed again.
        ("restart", CapacityLoss) => worse,
        ("restart", _) => Effect::None,
        // Scale adds capacity through the world's mechanics (more pods), not by changing the
        // cause; against a failing dependency it multiplies connections (a retry storm).
        ("scale", DependencyFailure) => worse,
        ("scale", _) => Effect::None,
        // Rolling back removes a bad release; new pods also reset a leak for a while. Rolling
        // back a good release (any other cause) is the lesson's "rollback of a good release".
        ("rollback" | "helm-rollback", BadDeployment) => Effect::Fix,
        ("rollback" | "helm-rollback", MemoryLeak) => mitigate,
        ("rollback" | "helm-rollback", _) => worse,
        // Serving from cache hides a failing dependency for a while.
        ("cache-purge", _) => Effect::None,
        // Turning off the feature behind a bad release stops its errors until the next deploy.
        ("feature-flag-disable", BadDeployment) => mitigate,
        ("feature-flag-disable", _) => Effect::None,
        // Shifting traffic to a healthy backend or region routes around a failing dependency.
        ("traffic-shift", DependencyFailure | BadDeployment) => mitigate,
        ("traffic-shift", _) => Effect::None,
        _ => Effect::None,
    }
}

/// The effects table: defaults with a scenario's overrides on top.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Effects {
    overrides: BTreeMap<(String, Cause), Effect>,
}

impl Effects {
    pub fn with_override(mut self, action: &str, cause: Cause, effect: Effect) -> Self {
        self.overrides.insert((action.to_string(), cause), effect);
        self
    }

    pub fn get(&self, action: &str, cause: Cause) -> Effect {
        self.overrides.get(&(action.to_string(), cause)).copied().unwrap_or_else(|| default_effect(action, cause))
    }

    pub fn overrides(&self) -> impl Iterator<Item = (&str, Cause, Effect)> {
        self.overrides.iter().map(|((a, c), e)| (a.as_str(), *c, *e))
    }
}

/// A positive delay drawn from a log-normal set by its median and 90th percentile (how
/// incident timings are usually reported).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Delay {
    #[serde(serialize_with = "crate::clock::serialize_duration")]
    pub median: Duration,
    #[serde(serialize_with = "crate::clock::serialize_duration")]
    pub p90: Duration,
}

/// z for the 90th percentile of the standard normal.
const Z90: f64 = 1.281_551_565_545;

impl Delay {
    pub const fn new(median_s: u64, p90_s: u64) -> Delay {
        Delay { median: Duration::from_secs(median_s), p90: Duration::from_secs(p90_s) }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        let m = self.median.as_secs_f64().max(1e-3);
        let sigma = (self.p90.as_secs_f64().max(m) / m).ln() / Z90;
        let secs = if sigma <= 0.0 {
            m
        } else {
            statrs::distribution::LogNormal::new(m.ln(), sigma).map(|d| d.sample(rng)).unwrap_or(m)
        };
        // Cap at 30 days so a heavy tail cannot stall a run.
        crate::clock::secs_f64(secs.min(30.0 * 86_400.0))
    }
}

/// How long a person takes, step by step. Used for the human-only baseline and after every
/// escalation (a page skips detection).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HumanModel {
    /// Onset → someone notices. ISSRE 2022 study of AWS, Azure and Google incidents: median
    /// detection 8 min. The 30 min p90 is an assumption.
    pub detect: Delay,
    /// Noticed or paged → acknowledged. Assumption: a 5 min median, 15 min p90 on-call ack.
    pub acknowledge: Delay,
    /// Acknowledged → cause understood. Assumption: 20 min median, 60 min p90 for routine
    /// incidents with runbooks.
    pub diagnose: Delay,
    /// Understood → fixed (runbook action, rollout, check). Assumption: 15 min median, 45 min
    /// p90. ISSRE 2022's 97.5 min median fix is for major cloud outages and would flatter
    /// automation here.
    pub fix: Delay,
    /// The monitor's alerts page people (the `baseline` arm: the team as it works today).
    /// Assumption: most teams page on alerts; a scenario sets `people: { paged_by_alerts:
    /// false }` for teams that watch dashboards, who notice after `detect`.
    pub paged_by_alerts: bool,
    /// Diagnosis time × this when a page suggests the right action. Assumption: 1 (a
    /// suggestion neither helps nor hurts), listed in the report.
    pub right_suggestion_factor: f64,
    /// Diagnosis time × this when a page suggests a wrong action. Assumption: 1.
    pub wrong_suggestion_factor: f64,
}

impl Default for HumanModel {
    fn default() -> Self {
        HumanModel {
            detect: Delay::new(8 * 60, 30 * 60),
            acknowledge: Delay::new(5 * 60, 15 * 60),
            diagnose: Delay::new(20 * 60, 60 * 60),
            fix: Delay::new(15 * 60, 45 * 60),
            paged_by_alerts: true,
            right_suggestion_factor: 1.0,
            wrong_suggestion_factor: 1.0,
        }
    }
}

/// The human's delays for one incident, drawn once and used in both arms (common random
/// numbers), so the paired MTTR difference is the policy's doing and not sampling noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanDraw {
    pub detect: Duration,
    pub acknowledge: Duration,
    pub diagnose: Duration,
    pub fix: Duration,
}

impl HumanModel {
    pub fn draw(&self, rng: &mut impl Rng) -> HumanDraw {
        HumanDraw {
            detect: self.detect.sample(rng),
            acknowledge: self.acknowledge.sample(rng),
            diagnose: self.diagnose.sample(rng),
            fix: self.fix.sample(rng),
        }
    }
}

impl HumanDraw {
    /// Engaged (noticed or paged) → fixed; `diagnose_factor` scales the diagnosis (a page
    /// with a right or wrong suggestion).
    pub fn engaged_to_fix(&self, diagnose_factor: f64) -> Duration {
        let diagnose = if diagnose_factor == 1.0 {
            self.diagnose
        } else {
            crate::clock::secs_f64((self.diagnose.as_secs_f64() * diagnose_factor).min(30.0 * 86_400.0))
        };
        self.acknowledge + diagnose + self.fix
    }
}

/// Stated assumptions of the default model, for the report's provenance.
pub fn assumptions() -> Vec<&'static str> {
    vec![
        "Human detection: median 8 min (ISSRE 2022 cloud incident study), p90 30 min (assumption).",
        "Human acknowledge 5 min median / 15 min p90, diagnose 20/60 min, fix 15/45 min (assumptions for routine incidents with runbooks).",
        "Delays are log-normal, fitted to a median and a 90th percentile.",
        "Three arms on the same faults and human draws: `baseline` (the team today: the monitor's alerts page people; a scenario may say `people: { paged_by_alerts: false }`), `recommend` (the policy with every auto_execute off: the same pages, carrying the suggested command), `policy` (as written).",
        "An alert pages 30 s after it fires (Alertmanager's default group_wait; the same 30 s as alert → classification → decision); a person paged skips detection.",
        "A page's suggested command changes diagnosis time by `people.right_suggestion_factor` / `wrong_suggestion_factor` (default 1: no change).",
        "In every arm people also notice an incident on their own after their detection delay if nobody was paged and automation has not visibly recovered it.",
        "A person's fix removes every cause and every harm on the service and resets its breaker; for legitimate traffic it adds pods to run at 60% busy and lets the surge run its course. Fixing a leak, a hot loop or a bad release ships or rolls back code: a rolling update with the same mechanics as automation's (90 s, Kubernetes' default rolling strategy).",
        "Harmful actions add 5% errors until a person undoes them.",
        "Rolling update with Kubernetes' defaults (maxUnavailable 25% rounded down, maxSurge 25% rounded up): under four pods no serving pod is down during the rollout (restart 60 s, rollback 90 s); surge pods are not counted against a namespace quota; new pods are ready 30 s after scheduling.",
        "Recovery is lasting when the service stays healthy for 30 min (or, once the incident's own causes have stopped, when what remains belongs to another incident on the service); MTTR runs from onset to the start of that period.",
        "After a rollout restart the pods refill memory together, so a leak that returns OOMKills them within 10% of its interval of each other; a leak left alone OOMKills pods at staggered times.",
        "A mitigated cause that returns after recovery reopens its incident (a relapse); the relapse's impact counts against the automation arm.",
        "Classifier confidence is Beta-distributed, set by mean and concentration, separately for right and wrong answers.",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn delays_have_the_median_they_are_given() {
        let d = Delay::new(600, 1800);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        let mut xs: Vec<f64> = (0..4001).map(|_| d.sample(&mut rng).as_secs_f64()).collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[2000];
        let p90 = xs[3600];
        assert!((median - 600.0).abs() < 40.0, "median {median}");
        assert!((p90 - 1800.0).abs() < 200.0, "p90 {p90}");
    }

    #[test]
    fn overrides_replace_one_cell_only() {
        let e = Effects::default().with_override("restart", Cause::MemoryLeak, Effect::Fix);
        assert_eq!(e.get("restart", Cause::MemoryLeak), Effect::Fix);
        assert_eq!(e.get("restart", Cause::CpuSpike), Effect::Mitigate { r#for: None });
    }
}
