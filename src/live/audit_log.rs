//! The audit log: append-only JSON Lines, one [`AuditRecord`] per line, each written with a
//! single `write` and fsynced before the call returns, so a record the caller saw succeed
//! survives a crash.
//!
//! Opening a log checks it first: every complete line must be a JSON object; a last line
//! without its newline (a write torn by a crash) is reported, kept aside in
//! `<log>.torn-<offset>` and cut from the log so new records start on a clean line. Nothing is
//! dropped silently: the caller gets what was found and decides how to report it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::audit::AuditRecord;

/// Lock `file` for this process (until it is closed), or fail at once with `WouldBlock`
/// saying why (`rule`) when another process holds it.
pub fn lock_exclusive(file: &File, rule: &str) -> std::io::Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!("another understudy process has it open ({rule})"),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// What opening found in an existing log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// Complete records already in the log.
    pub records: usize,
    /// A torn last line: where it started, its bytes, and where they were kept.
    pub torn: Option<Torn>,
    /// Complete lines that are not JSON objects (1-based line numbers).
    pub corrupt_lines: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Torn {
    pub offset: u64,
    pub bytes: Vec<u8>,
    pub kept_in: PathBuf,
}

/// An open audit log.
#[derive(Debug)]
pub struct AuditLog {
    file: File,
    path: PathBuf,
    /// Bytes of complete lines: where the file is cut back to after a failed write.
    len: u64,
    written: usize,
}

impl AuditLog {
    /// Open (or create) the log for appending, checking what is already there.
    pub fn open(path: &Path) -> std::io::Result<(AuditLog, Recovery)> {
        AuditLog::open_with(path, |_| ())
    }

    /// Open (or create) the log for appending, handing every record already there to `each`
    /// in log order, one line in memory at a time. The log is locked for as long as the
    /// handle lives: a second process opening it (another `live`, `shadow` on the same file,
    /// `reset-breaker` while live runs) gets an error instead of interleaving lines or
    /// cutting a record being written as "torn".
    pub fn open_with(path: &Path, mut each: impl FnMut(&serde_json::Value)) -> std::io::Result<(AuditLog, Recovery)> {
        let file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
        lock_exclusive(&file, "one process writes a log at a time")?;
        let mut rec = Recovery::default();
        let mut reader = std::io::BufReader::new(&file);
        let (mut line, mut complete, mut n) = (Vec::new(), 0u64, 0usize);
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if line.last() != Some(&b'\n') {
                break; // A torn last line: handled below.
            }
            n += 1;
            complete += line.len() as u64;
            let body = &line[..line.len() - 1];
            if body.is_empty() {
                continue;
            }
            match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(v) if v.is_object() => {
                    rec.records += 1;
                    each(&v);
                }
                _ => rec.corrupt_lines.push(n),
            }
        }
        drop(reader);
        let mut file = file;
        if !line.is_empty() && line.last() != Some(&b'\n') {
            let kept_in = path.with_extension(format!("torn-{complete}"));
            std::fs::write(&kept_in, &line)?;
            // Cut the torn tail so the next record starts a clean line.
            file.set_len(complete)?;
            file.sync_all()?;
            rec.torn = Some(Torn { offset: complete, bytes: std::mem::take(&mut line), kept_in });
        }
        let len = file.seek(SeekFrom::End(0))?;
        Ok((AuditLog { file, path: path.to_path_buf(), len, written: 0 }, rec))
    }

    /// Append one record and fsync it.
    pub fn append(&mut self, record: &AuditRecord) -> std::io::Result<()> {
        let json = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        self.append_line(&json)
    }

    /// Append an already serialized record (one JSON object, no newline) and fsync it. A write
    /// that fails part-way is cut back off, so the next record does not land on a broken line.
    pub fn append_line(&mut self, json: &[u8]) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(json.len() + 1);
        line.extend_from_slice(json);
        line.push(b'\n');
        self.write_synced(&line, 1)
    }

    /// Write `buf` (`records` whole lines) and fsync; a write that fails part-way is cut
    /// back off.
    fn write_synced(&mut self, buf: &[u8], records: usize) -> std::io::Result<()> {
        self.unchanged()?;
        let result = self.file.write_all(buf).and_then(|()| self.file.sync_data());
        if let Err(e) = result {
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += buf.len() as u64;
        self.written += records;
        Ok(())
    }

    /// The file is still the one opened, at the length this handle wrote it to: a log
    /// removed, replaced or written by another program while open would take records nobody
    /// reads back (a restart would forget them), so nothing more is written and the caller
    /// sees why.
    fn unchanged(&self) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let ours = self.file.metadata()?;
        let named = std::fs::metadata(&self.path).ok();
        let same = named.as_ref().is_some_and(|m| m.ino() == ours.ino() && m.dev() == ours.dev());
        if !same {
            return Err(std::io::Error::other(format!(
                "{} was removed or replaced while understudy had it open; nothing more is written to it (restart to continue on the file now at that path)",
                self.path.display()
            )));
        }
        if ours.len() != self.len {
            return Err(std::io::Error::other(format!(
                "{} was changed by another program while understudy had it open ({} bytes, {} expected); nothing more is written to it",
                self.path.display(),
                ours.len(),
                self.len
            )));
        }
        Ok(())
    }

    /// Append several records with one write and one fsync (all or, on failure, none).
    pub fn append_all(&mut self, records: &[AuditRecord]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(std::io::Error::other)?;
            buf.push(b'\n');
        }
        self.write_synced(&buf, records.len())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the log: where the next record starts.
    pub fn end_offset(&self) -> u64 {
        self.len
    }

    /// Records appended through this handle.
    pub fn written(&self) -> usize {
        self.written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Time;
    use crate::decide::{Incident, Pipeline};

    fn record() -> AuditRecord {
        let policy = crate::policy::Policy::from_yaml(
            Path::new("p.yaml"),
            "remediation_policy:\n  incident_type: memory-leak\n  auto_execute: true\n  confidence_threshold: 0.9\n  max_attempts: 1\n  cooldown_after_action: 10m\n  verification_window: 5m\n  rollback_if_failed: false\n  escalation_channel: pagerduty-p1\nguardrails: { namespaces: [prod] }\n",
        )
        .unwrap()
        .policy;
        let inc = Incident {
            at: Time(1_700_000_000_000_000_000),
            service: "payment-api".into(),
            namespace: "prod".into(),
            incident_type: "memory-leak".into(),
            confidence: 0.95,
            signal: None,
            replicas: None,
            id: None,
            target: None,
        };
        let d = Pipeline::new(policy.clone()).decide(inc.at, &inc);
        AuditRecord::Decision { policy_fingerprint: policy.fingerprint(), input: Box::new(inc), decision: Box::new(d) }
    }

    #[test]
    fn records_append_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let (mut log, rec) = AuditLog::open(&p).unwrap();
        assert_eq!(rec, Recovery::default());
        log.append(&record()).unwrap();
        log.append(&record()).unwrap();
        drop(log);
        let (_, rec) = AuditLog::open(&p).unwrap();
        assert_eq!(rec.records, 2);
        assert!(rec.torn.is_none());
    }

    #[test]
    fn a_torn_last_line_is_reported_kept_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let (mut log, _) = AuditLog::open(&p).unwrap();
        log.append(&record()).unwrap();
        drop(log);
        // A crash in the middle of a write.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"record":"decision","policy_fingerpr"#).unwrap();
        drop(f);
        let (mut log, rec) = AuditLog::open(&p).unwrap();
        let torn = rec.torn.expect("the torn line is reported");
        assert_eq!(rec.records, 1);
        assert_eq!(std::fs::read(&torn.kept_in).unwrap(), torn.bytes, "kept, not dropped");
        log.append(&record()).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    }

    #[test]
    fn one_process_at_a_time_and_every_record_is_handed_over_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let (mut log, _) = AuditLog::open(&p).unwrap();
        log.append(&record()).unwrap();
        log.append(&AuditRecord::Closed { id: "e1".into(), service: "s".into(), namespace: "n".into(), at: Time(1) })
            .unwrap();
        let busy = AuditLog::open(&p).expect_err("a second writer is refused while the first holds it");
        assert_eq!(busy.kind(), std::io::ErrorKind::WouldBlock, "{busy}");
        drop(log);
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"not json\n\n{\"record\":").unwrap();
        let mut seen = Vec::new();
        let (_, rec) = AuditLog::open_with(&p, |v| seen.push(v["record"].as_str().unwrap().to_string())).unwrap();
        assert_eq!(seen, ["decision", "closed"]);
        assert_eq!((rec.records, rec.corrupt_lines.clone()), (2, vec![3]), "{rec:?}");
        assert_eq!(rec.torn.map(|t| t.bytes), Some(b"{\"record\":".to_vec()));
    }

    #[test]
    fn a_log_removed_replaced_or_written_behind_its_back_takes_no_more_records() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        for tamper in ["remove", "replace", "append", "truncate"] {
            let (mut log, _) = AuditLog::open(&p).unwrap();
            log.append(&record()).unwrap();
            match tamper {
                "remove" => std::fs::remove_file(&p).unwrap(),
                "replace" => {
                    std::fs::write(dir.path().join("new"), "").unwrap();
                    std::fs::rename(dir.path().join("new"), &p).unwrap();
                }
                "append" => std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"{}\n").unwrap(),
                _ => std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(0).unwrap(),
            }
            let e = log.append(&record()).expect_err(tamper);
            assert!(e.to_string().contains("while understudy had it open"), "{tamper}: {e}");
            drop(log);
            let _ = std::fs::remove_file(&p);
        }
    }
}
