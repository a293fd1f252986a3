//! Running a policy against a real cluster: the pieces `shadow` and `live` share.
//!
//! The append-only audit log ([`audit_log`]), the journal that writes records and puts the
//! escalations they cause in the outbox ([`journal`], [`outbox`]), delivery to PagerDuty,
//! Slack and webhooks ([`deliver`]), the emergency stop ([`stop`]), the Alertmanager receiver
//! and its pipeline worker ([`shadow`]), executors ([`executor`]), the live controller
//! ([`controller`]) and what a restart reads back from the audit log ([`restore`]). Nothing here acts without a matching promotion record;
//! nothing here decides (that is `decide`).

pub mod audit_log;
pub mod controller;
pub mod deliver;
pub mod executor;
pub mod journal;
pub mod outbox;
pub mod restore;
pub mod shadow;
pub mod stop;
