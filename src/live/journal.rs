//! The journal: the one place shadow and live mode write down what happened. Every audit
//! record goes through [`Journal::record`]: the escalation it causes (if any) is put in the
//! outbox, fsynced, then the record is appended to the audit log, fsynced. A person being told
//! comes first; a crash between the two leaves an escalation whose record the re-sent alert
//! writes again (Alertmanager repeats firing alerts; the escalation has the same id and is
//! not sent twice).
//!
//! Shared by the pipeline worker (decisions, episode recoveries → `resolve`) and the
//! controller's verification threads behind one mutex, so the incident book sees records in
//! the order they were written.

use std::sync::{Arc, Mutex, MutexGuard};

use super::audit_log::AuditLog;
use super::outbox::Outbox;
use crate::audit::{AuditRecord, Sink};
use crate::clock::Time;
use crate::escalate::Book;

pub struct Journal {
    log: AuditLog,
    book: Book,
    outbox: Arc<Outbox>,
}

/// A journal several threads write to.
pub type Shared = Arc<Mutex<Journal>>;

/// Lock a shared journal; a writer that panicked mid-append left at most a torn line, which
/// opening the log reports, so carry on.
pub fn lock(j: &Shared) -> MutexGuard<'_, Journal> {
    j.lock().unwrap_or_else(|e| e.into_inner())
}

impl Journal {
    /// A journal over `log`, putting escalations in `outbox`; pages the outbox says are still
    /// open (from before a restart) are adopted so their alerts' resolution resolves them.
    pub fn new(log: AuditLog, mut book: Book, outbox: Arc<Outbox>) -> Self {
        for page in outbox.open_pages() {
            book.adopt(page);
        }
        Journal { log, book, outbox }
    }

    pub fn shared(self) -> Shared {
        Arc::new(Mutex::new(self))
    }

    /// Put the escalation this record causes in the outbox, then append the record.
    pub fn record(&mut self, r: &AuditRecord) -> std::io::Result<()> {
        if let Some(e) = self.book.observe(r) {
            self.outbox.put(&e.channel, &e)?;
        }
        self.log.append(r)
    }

    /// Incident `id` recovered: resolve its page, if it had one.
    pub fn resolved(&mut self, id: &str, at: Time) -> std::io::Result<()> {
        if let Some(e) = self.book.resolve(id, at) {
            self.outbox.put(&e.channel, &e)?;
        }
        Ok(())
    }
}

impl Journal {
    /// An alert resolved on a service with no incident open in this process: resolve the
    /// pages adopted from before a restart.
    pub fn resolved_elsewhere(&mut self, namespace: &str, service: &str, at: Time) -> std::io::Result<()> {
        for e in self.book.resolve_service(namespace, service, at) {
            self.outbox.put(&e.channel, &e)?;
        }
        Ok(())
    }

    /// Records nobody is told of but a restarted process must read back: one write, one
    /// fsync.
    pub fn for_restart(&mut self, records: &[AuditRecord]) -> std::io::Result<()> {
        self.log.append_all(records)
    }
}

/// The replayer's view of a shared journal.
pub struct Writer(pub Shared);

impl Sink for Writer {
    fn record(&mut self, r: &AuditRecord) -> std::io::Result<()> {
        lock(&self.0).record(r)
    }

    fn resolved(&mut self, id: &str, at: Time) -> std::io::Result<()> {
        lock(&self.0).resolved(id, at)
    }

    fn resolved_elsewhere(&mut self, namespace: &str, service: &str, at: Time) -> std::io::Result<()> {
        lock(&self.0).resolved_elsewhere(namespace, service, at)
    }

    fn for_restart(&mut self, records: &[AuditRecord]) -> std::io::Result<()> {
        lock(&self.0).for_restart(records)
    }
}

/// A live-mode journal in `dir` (audit.jsonl, outbox.jsonl, dead.jsonl) whose escalations go
/// to channel `p1`: what the controller's and the worker's tests write through.
#[cfg(test)]
pub fn for_tests(dir: &std::path::Path) -> Shared {
    let (audit, _) = AuditLog::open(&dir.join("audit.jsonl")).unwrap();
    let (outbox, _) = Outbox::open(&dir.join("outbox.jsonl"), &dir.join("dead.jsonl")).unwrap();
    let book = Book::new(crate::escalate::Context {
        mode: "live".into(),
        scope: "live".into(),
        key_by_id: false,
        default_channel: "p1".into(),
        records: "audit.jsonl".into(),
        evidence_url: None,
        repeat: Default::default(),
    });
    Journal::new(audit, book, Arc::new(outbox)).shared()
}
