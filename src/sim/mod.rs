//! Simulation: replay a scenario's incidents through the classifier, the policy and its
//! guardrails, against a world in which actions have effects, and against people alone.
//!
//! Each replication runs the same fault instances twice, with common random numbers: the
//! automation arm (alerts go to the decision pipeline; people join when paged or when they
//! notice on their own) and the human-only baseline. The pairing makes "MTTR with vs without
//! automation" a per-incident difference. Owns the engine, the world model, scenarios and
//! the runner; computes no metrics (that is `metrics`) and writes no files (`report`).
//!
//! Randomness: one seed per replication, split into independent streams by purpose
//! (fault schedule, each incident's human delays, each classification, pod jitter) so a
//! change in one arm never shifts the draws of the other.

pub mod dynamics;
pub mod engine;
pub mod model;
mod run;
pub mod scenario;
pub mod world;

use serde::Serialize;

pub use run::{Replication, run_replication};

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

/// One arm's view of one incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmResult {
    pub outcome: Outcome,
    /// Start of the lasting healthy period, if any.
    pub recovered_at: Option<Time>,
    /// Onset → recovery (or → end of run when unresolved).
    pub ttr_seconds: f64,
    /// Degraded seconds × severity while the incident was open.
    pub impact: f64,
    pub human_engaged_at: Option<Time>,
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

/// One incident: one fault episode on one service, seen by both arms.
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
    /// First classification (label, confidence), if the incident was detected.
    pub classifications: Vec<(String, f64)>,
    /// Decision statuses in order.
    pub decisions: Vec<String>,
    pub actions: Vec<ActionRecord>,
    pub escalations: u32,
    pub pages: u32,
    /// Times the cause came back after a recovery (a mitigation wore off). Their impact is
    /// part of the automation arm's impact.
    pub relapses: u32,
    pub automation: ArmResult,
    pub baseline: ArmResult,
}

impl IncidentRecord {
    /// ≥ 3 executed actions within one hour (the incident had no lasting recovery between
    /// them, by construction: it would have ended).
    pub fn is_loop(&self) -> bool {
        let hour = 3_600_000_000_000i64;
        self.actions.windows(3).any(|w| w[2].at.nanos() - w[0].at.nanos() <= hour)
    }

    /// An action added harm, or impact exceeded the human-only baseline's materially: by
    /// more than 10% and more than 30 severity-seconds (half a minute of full outage), so a
    /// rolling restart's brief capacity dip is not counted as harm.
    pub fn made_worse(&self) -> bool {
        self.actions.iter().any(|a| a.harmed) || self.automation.impact > self.baseline.impact * 1.1 + 30.0
    }

    pub fn false_confidence_actions(&self) -> usize {
        self.actions.iter().filter(|a| !a.correct).count()
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
