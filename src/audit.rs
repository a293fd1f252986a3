//! Audit records: what was decided, on what input, and what verification saw.
//!
//! One record shape for every mode: `simulate` writes them to `decisions.jsonl`, `live` and
//! `shadow` append them to their audit log. A decision made in replay and the same decision
//! made in shadow serialize to the same bytes. This module owns the shape, and the [`Sink`]
//! interface producers hand records to; not where records are written.

use std::io::Write;

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
    /// What the check reads could not be read (the API or Prometheus did not answer): it
    /// neither passed nor failed. Written only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
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
        /// Live mode: the cluster could not be read on any try, so nobody knows whether the
        /// action worked; a person is told and the breaker is left alone. Written only when
        /// true.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        unknown: bool,
        checks: Vec<Check>,
        /// The action was undone (rollback_if_failed).
        rolled_back: bool,
        /// Things got worse than before the action: automation stopped on the service.
        breaker_tripped: bool,
        escalate: bool,
    },
    /// Shadow or live mode started on this log (after reading it back, before taking
    /// alerts). A log is one mode's: live refuses a log shadow wrote (it would count shadow's
    /// recommendations as actions taken) and shadow one live wrote.
    Started { at: Time, mode: &'static str, policy_fingerprint: String, version: &'static str },
    /// A person lifted the breaker a failed verification tripped on a service
    /// (`understudy reset-breaker`); read back when live next starts.
    BreakerReset { at: Time, service: String, namespace: String, by: String, reason: String },
    /// Shadow and live mode: an alert joined the open incident `id` (its first alert is in
    /// the decision record). Read back on start, so the same alert re-sent after a restart
    /// joins its incident again instead of being decided as a new one.
    Joined { id: String, service: String, namespace: String, signal: String, at: Time },
    /// Shadow and live mode: one alert of the open incident `id` resolved (the incident stays
    /// open while another fires).
    AlertResolved { id: String, service: String, namespace: String, signal: String, at: Time },
    /// Shadow and live mode: incident `id` closed (its alerts resolved, or it went quiet). With
    /// `joined` and `alert-resolved`, a restarted process knows which incidents are still
    /// open, so a new alert on their service joins them as it would have.
    Closed { id: String, service: String, namespace: String, at: Time },
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
        /// How to undo it if verification fails (`rollback_if_failed`): read just before it
        /// ran, so a restart can still undo it.
        #[serde(skip_serializing_if = "Option::is_none")]
        undo: Option<serde_json::Value>,
    },
}

/// Where a run's audit records go, and where it says an incident recovered (so escalations
/// can be resolved). Replay writes a file; shadow and live append to the fsynced audit log
/// and hand escalations to the outbox.
pub trait Sink {
    fn record(&mut self, r: &AuditRecord) -> std::io::Result<()>;

    /// Incident `id` recovered at `at`.
    fn resolved(&mut self, _id: &str, _at: Time) -> std::io::Result<()> {
        Ok(())
    }

    /// An alert on (namespace, service) resolved while no incident was open for it (it was
    /// opened before a restart).
    fn resolved_elsewhere(&mut self, _namespace: &str, _service: &str, _at: Time) -> std::io::Result<()> {
        Ok(())
    }

    /// Records only a restarted shadow or live process reads back (`joined`,
    /// `alert-resolved`, `closed`), written together where the sink can (one write, one
    /// fsync); replay's files leave them out.
    fn for_restart(&mut self, _records: &[AuditRecord]) -> std::io::Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Records as JSON Lines, one object a line, in the order given.
#[derive(Debug)]
pub struct Jsonl<W: Write>(pub W);

impl<W: Write> Sink for Jsonl<W> {
    fn record(&mut self, r: &AuditRecord) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.0, r)?;
        self.0.write_all(b"\n")
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn record(&mut self, r: &AuditRecord) -> std::io::Result<()> {
        (**self).record(r)
    }

    fn resolved(&mut self, id: &str, at: Time) -> std::io::Result<()> {
        (**self).resolved(id, at)
    }

    fn resolved_elsewhere(&mut self, namespace: &str, service: &str, at: Time) -> std::io::Result<()> {
        (**self).resolved_elsewhere(namespace, service, at)
    }

    fn for_restart(&mut self, records: &[AuditRecord]) -> std::io::Result<()> {
        (**self).for_restart(records)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        (**self).flush()
    }
}
