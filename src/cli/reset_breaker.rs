//! `understudy reset-breaker`: a person lifts the breaker a failed verification tripped.

use std::path::PathBuf;

use understudy::audit::AuditRecord;
use understudy::clock::{Clock, WallClock};
use understudy::live::audit_log::AuditLog;
use understudy::live::restore::Restored;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Lift the breaker on a service, after a person has looked at it.
///
/// A verification that found a service worse after an action stops automation on that
/// service; `live` keeps it stopped across restarts (it reads the audit log back on start).
/// This appends a `breaker-reset` record to the audit log, naming who reset it and why. It
/// takes effect when `live` next starts: restart it after the reset. Exit 2 when the log
/// shows no tripped breaker on the service (nothing is written).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The service whose breaker to lift.
    service: String,
    /// Its namespace.
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// The audit log `live` writes.
    #[arg(long, value_name = "FILE", default_value = "audit.jsonl")]
    audit_log: PathBuf,
    /// Who reset it (kept in the record).
    #[arg(long)]
    by: String,
    /// Why it is safe to act again (kept in the record).
    #[arg(long, default_value = "")]
    reason: String,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    if a.by.trim().is_empty() {
        eprintln!("error: --by is empty: the record must name who lifted the breaker");
        return Ok(EXIT_BAD_INPUT);
    }
    if !a.audit_log.is_file() {
        eprintln!("error: {} is not an audit log file (missing or not a regular file)", a.audit_log.display());
        eprintln!("  = hint: pass the --audit-log that live writes");
        return Ok(EXIT_BAD_INPUT);
    }
    // Opened (and locked) first: a live process running on the log would not see the reset
    // until it restarts, and its next write could land in the middle of ours.
    let mut restored = Restored::default();
    let mut log = match AuditLog::open_with(&a.audit_log, |v| restored.fold(v)) {
        Ok((log, _)) => log,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            eprintln!("error: {} is in use by a running understudy: {e}", a.audit_log.display());
            eprintln!("  = hint: a reset takes effect when live starts: stop live, run reset-breaker, start live");
            return Ok(EXIT_BAD_INPUT);
        }
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", a.audit_log.display());
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let key = understudy::decide::ServiceKey::new(&a.namespace, &a.service);
    let Some(why) = restored.breakers.get(&key) else {
        eprintln!("error: {} shows no tripped breaker on {key}", a.audit_log.display());
        let tripped: Vec<String> = restored.breakers.keys().map(ToString::to_string).collect();
        eprintln!("  = hint: tripped: {}", if tripped.is_empty() { "none".to_string() } else { tripped.join(", ") });
        return Ok(EXIT_BAD_INPUT);
    };
    let written = log.append(&AuditRecord::BreakerReset {
        at: WallClock.now(),
        service: a.service.clone(),
        namespace: a.namespace.clone(),
        by: a.by.clone(),
        reason: a.reason.clone(),
    });
    if let Err(e) = written {
        eprintln!("error: cannot append to {}: {e}; the breaker stays tripped", a.audit_log.display());
        return Ok(EXIT_BAD_INPUT);
    }
    println!("breaker on {key} lifted by {} (it was tripped: {why}); it takes effect when live next starts", a.by);
    Ok(EXIT_OK)
}
