//! Running a policy against a real cluster: the pieces `shadow` and `live` share.
//!
//! So far: the append-only audit log ([`audit_log`]) and the emergency stop ([`stop`]). The
//! Kubernetes executor, the watcher and the Alertmanager receiver build on these (issue 8).
//! Nothing here acts without a matching promotion record; nothing here decides (that is
//! `decide`).

pub mod audit_log;
pub mod controller;
pub mod executor;
pub mod shadow;
pub mod stop;
