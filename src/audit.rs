//! Audit records: what was decided, on what input, and what verification saw.
//!
//! One record shape for every mode: `simulate` writes them to `decisions.jsonl`, `live` and
//! `shadow` append them to their audit log. A decision made in replay and the same decision
//! made in shadow serialize to the same bytes. This module owns the shape only, not where
//! records are written.

use serde::Serialize;

use crate::clock::Time;
use crate::decide::{Decision, Incident};

/// One verification check and what it saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub observed: String,
    pub expected: String,
}

/// A line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum AuditRecord {
    /// An incident went through the pipeline.
    Decision { policy_fingerprint: String, input: Box<Incident>, decision: Box<Decision> },
    /// An executed action's verification window ended.
    Verification {
        policy_fingerprint: String,
        at: Time,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        service: String,
        namespace: String,
        incident_type: String,
        command: String,
        passed: bool,
        checks: Vec<Check>,
        /// The action was undone (rollback_if_failed).
        rolled_back: bool,
        /// Things got worse than before the action: automation stopped on the service.
        breaker_tripped: bool,
        escalate: bool,
    },
    /// What became of an executed decision in live or shadow mode.
    Outcome {
        policy_fingerprint: String,
        /// When the executor was called (wall time).
        at: Time,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The idempotency key written on the cluster object.
        action_id: String,
        service: String,
        namespace: String,
        incident_type: String,
        command: String,
        /// applied, already-applied, recorded, not-promoted, emergency-stop, out-of-scope,
        /// dry-run-refused, unsupported or failed.
        status: &'static str,
        detail: String,
        escalate: bool,
    },
}
