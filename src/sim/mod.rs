//! Simulation: replay a scenario's incidents through the classifier, the policy and its
//! guardrails, against a world in which actions have effects, and against people alone.
//!
//! Each replication runs the same fault instances in every [`ArmKind`], with common random
//! numbers: `baseline` (the team today: alerts page people), `recommend` (the policy with
//! every auto_execute off: the same pages, carrying the suggested command), `policy` (as
//! written) and, for teams paged by alerts, `unpaged` (people who only notice on their own:
//! the old comparison, kept as a labelled extra). The pairing makes what automation adds a
//! per-incident difference, and every difference has a cause: an incident differs between
//! arms only if automation touched its service ([`Touch`]). Owns the engine, the world model,
//! scenarios and the runner; computes no metrics (that is `metrics`) and writes no files
//! (`report`).
//!
//! Randomness: one seed per replication, split into independent streams by purpose
//! (fault schedule, each incident's human delays, each classification, each service's pod
//! jitter) so a change in one arm, or on one service, never shifts the draws of another.

pub mod dynamics;
pub mod engine;
pub mod model;
mod run;
pub mod scenario;
pub mod world;

use serde::Serialize;

pub use run::{LASTING, Replication, rerun_policy_arm, run_every_arm, run_replication, run_replication_traced};

use crate::audit::AuditRecord;
use crate::clock::Time;
use crate::policy::Policy;
use model::Cause;
use scenario::Scenario;

/// How an incident ended in one arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Recovered after an automated action passed verification, with no person involved.
    Automation,
    /// A person was involved before recovery.
    Human,
    /// Recovered with no passing action and no person (the cause ended by itself).
    SelfResolved,
    /// The cause was removed before it showed (e.g. a rollback during a release's delay).
    Prevented,
    /// Still open when the run ended (MTTR censored at the end of the run).
    Unresolved,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Automation => "automation",
            Outcome::Human => "human",
            Outcome::SelfResolved => "self-resolved",
            Outcome::Prevented => "prevented",
            Outcome::Unresolved => "unresolved",
        }
    }
}

/// The arms every replication runs over the same faults and human draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArmKind {
    /// The team as it works today: the monitor's alerts page people (or, with `people: {
    /// paged_by_alerts: false }`, people notice on their own).
    Baseline,
    /// The policy with every `auto_execute` forced off: the same pages, each carrying the
    /// suggested command.
    Recommend,
    /// The policy as written.
    Policy,
    /// People who are never paged and notice on their own after their detection delay.
    Unpaged,
}

impl ArmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArmKind::Baseline => "baseline",
            ArmKind::Recommend => "recommend",
            ArmKind::Policy => "policy",
            ArmKind::Unpaged => "unpaged",
        }
    }
}

/// One incident in every arm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arms {
    pub baseline: ArmResult,
    pub recommend: ArmResult,
    pub policy: ArmResult,
    /// Only for teams paged by alerts (otherwise `baseline` already is this arm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpaged: Option<ArmResult>,
}

/// What kind of thing automation did on a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TouchKind {
    /// An executed action (its effects on replicas, revisions and harm persist).
    Action,
    /// A page whose suggested command changed how long diagnosis took.
    Suggestion,
    /// A page the team would not have had (teams not paged by alerts today).
    Page,
}

/// Something automation did on an incident's service at or before the incident's end, in
/// the `policy` arm: the only way an incident can differ between arms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Touch {
    pub at: Time,
    pub kind: TouchKind,
    /// The incident it was done for (this one, or an earlier one on the same service).
    pub by_incident: String,
    /// The command run or suggested.
    pub what: String,
    /// While this incident was open (otherwise the latest of its kind before the onset: the
    /// service as automation left it when the incident began).
    pub during: bool,
    /// For an action: the label it was executed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// One arm's view of one incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmResult {
    pub outcome: Outcome,
    /// When symptoms began in this arm (`None`: prevented).
    pub onset: Option<Time>,
    /// Start of the lasting healthy period, if any.
    pub recovered_at: Option<Time>,
    /// Onset → recovery (or → end of run when unresolved).
    pub ttr_seconds: f64,
    /// Degraded seconds × severity while the incident was open.
    pub impact: f64,
    pub human_engaged_at: Option<Time>,
    /// Escalations that brought a person in.
    pub pages: u32,
}

/// Materially worse for the people the service serves: impact (degraded seconds × severity)
/// above the other arm's by more than 10% and 30 severity-seconds (half a minute of full
/// outage, so a rolling restart's brief capacity dip is not harm). A longer time to recovery
/// with no more impact is not harm to anyone; it shows in the MTTR effect instead.
pub fn materially_worse(a: &ArmResult, than: &ArmResult) -> bool {
    a.impact > than.impact * 1.1 + 30.0
}

/// One executed action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    pub at: Time,
    pub kind: &'static str,
    pub command: String,
    pub classified_as: String,
    pub confidence: f64,
    /// The classification matched the true cause.
    pub correct: bool,
    /// `None` if the run ended inside the verification window.
    pub verified: Option<bool>,
    /// When the verification window ended.
    pub verified_at: Option<Time>,
    pub rolled_back: bool,
    /// The action added harm (an effect of `worse`).
    pub harmed: bool,
}

/// One incident: one fault episode on one service, seen by every arm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRecord {
    pub scenario: String,
    pub replication: u32,
    pub id: String,
    pub service: String,
    pub namespace: String,
    pub truth: Cause,
    /// When symptoms began (for a release: after its delay).
    pub onset: Time,
    /// Classifications (label, confidence) in the `policy` arm, in order.
    pub classifications: Vec<(String, f64)>,
    /// Decision statuses in the `policy` arm, in order.
    pub decisions: Vec<String>,
    /// Actions executed on this incident in the `policy` arm.
    pub actions: Vec<ActionRecord>,
    pub escalations: u32,
    /// Escalations sent to a person: the channel's `repeat:` rule holds back a repeat that
    /// says nothing new (`escalations` counts every one).
    pub sent: u32,
    pub pages: u32,
    /// Times the cause came back after a recovery (a mitigated cause). Their impact is
    /// part of the policy arm's impact.
    pub relapses: u32,
    /// What automation did on this incident's service in the `policy` arm (see [`Touch`]):
    /// everything while it was open, and the latest of each kind before its onset.
    pub touched_by: Vec<Touch>,
    /// Automation touched the service in the `recommend` arm (a suggestion that changed a
    /// diagnosis, or a page the team would not have had).
    pub recommend_touched: bool,
    pub arms: Arms,
}

impl IncidentRecord {
    /// ≥ 3 executed actions within one hour (the incident had no lasting recovery between
    /// them, by construction: it would have ended).
    pub fn is_loop(&self) -> bool {
        let hour = 3_600_000_000_000i64;
        self.actions.windows(3).any(|w| w[2].at.nanos() - w[0].at.nanos() <= hour)
    }

    /// An automated action touched the incident's service (while it was open, or before its
    /// onset: the world it began in was one automation had changed).
    pub fn touched_by_action(&self) -> bool {
        self.touched_by.iter().any(|t| t.kind == TouchKind::Action)
    }

    /// Made worse by automation's actions: an action on the incident added harm, or the
    /// `policy` arm is materially worse than `recommend` (the same pages and suggestions, no
    /// action), and an action touched the service. The action is in `touched_by`.
    pub fn made_worse(&self) -> bool {
        self.touched_by_action()
            && (self.actions.iter().any(|a| a.harmed) || materially_worse(&self.arms.policy, &self.arms.recommend))
    }

    /// Made worse by suggestions: `recommend` materially worse than `baseline`, and a page's
    /// suggestion (or a page the team would not have had) touched the service.
    pub fn made_worse_by_suggestions(&self) -> bool {
        self.recommend_touched && materially_worse(&self.arms.recommend, &self.arms.baseline)
    }

    /// Arm differences with no cause: `policy` ≠ `recommend` with no action on the service,
    /// or `recommend` ≠ `baseline` with no suggestion or extra page. Always 0 unless the
    /// pairing is broken; report.json carries the total so anyone can check.
    pub fn unattributed_difference(&self) -> usize {
        let actions = usize::from(self.arms.policy != self.arms.recommend && !self.touched_by_action());
        let suggestions = usize::from(self.arms.recommend != self.arms.baseline && !self.recommend_touched);
        actions + suggestions
    }

    pub fn false_confidence_actions(&self) -> usize {
        self.actions.iter().filter(|a| !a.correct).count()
    }

    /// The label the classifier gave first (what the policy saw), or `undetected`.
    pub fn first_label(&self) -> &str {
        self.classifications.first().map_or("undetected", |(l, _)| l.as_str())
    }
}

/// Run `replications` replications of one scenario in parallel (results in replication order,
/// independent of thread count).
pub fn run(scenario: &Scenario, policy: &Policy, seed: u64, replications: u32) -> Vec<Replication> {
    use rayon::prelude::*;
    (0..replications).into_par_iter().map(|r| run_replication(scenario, policy, seed, r)).collect()
}

/// Audit records of a set of replications, in order.
pub fn audit_records(reps: &[Replication]) -> impl Iterator<Item = &AuditRecord> {
    reps.iter().flat_map(|r| r.audit.iter())
}

/// Escalations of a set of replications, in order.
pub fn escalations(reps: &[Replication]) -> impl Iterator<Item = &crate::escalate::Escalation> {
    reps.iter().flat_map(|r| r.escalations.iter())
}

/// splitmix64: spreads a seed and stream numbers into independent generator seeds.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for (base, stream, a, b): one independent generator per purpose and item.
pub fn stream_seed(base: u64, stream: u64, a: u64, b: u64) -> u64 {
    mix(mix(mix(base ^ mix(stream)) ^ a) ^ b.wrapping_mul(0x2545_F491_4F6C_DD1D))
}

/// A stable 64-bit hash of a name (FNV-1a), for seeding per scenario.
pub fn name_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}
