//! The escalation outbox: an append-only JSON Lines file, fsynced per line, holding every
//! escalation until it is delivered or dead-lettered, so none is lost to a crash or restart.
//!
//! Lines are `put` (an escalation for a channel, with a sequence number), `done` (delivered,
//! or dead-lettered with the reason), `sent` (an escalation id delivered earlier, kept so
//! a redelivered alert does not send it twice) and `page` (a page still open: its last
//! trigger, kept so a restarted process can resolve it when its alert resolves). Opening an outbox reads it back: `put`s
//! without a `done` are pending and go first, in order. The file is then compacted (written
//! aside, fsynced and renamed over, so a crash during compaction leaves the old file) to the
//! pending entries and the ids of recent deliveries. Undeliverable escalations are appended,
//! fsynced, to the dead-letter file before they are marked done. A channel keeps its first
//! [`IN_MEMORY`] pending entries in memory; the rest are only their place in the file, read
//! back when their turn comes, so a channel down for hours costs disk, not memory.
//!
//! Owns durability and order only: sending is `deliver`'s.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::audit_log::AuditLog;
use crate::escalate::Escalation;

/// Ids of delivered escalations kept across compactions (a day of a busy fleet).
const KEEP_SENT: usize = 10_000;

/// Pending entries a channel keeps in memory; the ones behind them (a channel down for
/// hours under a flood of incidents) wait in the file and are read back when their turn
/// comes, so memory stays bounded however long delivery lags.
const IN_MEMORY: usize = 1_000;

/// A pending entry: in memory, or (behind [`IN_MEMORY`] others) its `put` line in the file.
#[derive(Debug, Clone)]
enum Slot {
    Mem(Entry),
    File { seq: u64, offset: u64, len: usize },
}

impl Slot {
    fn seq(&self) -> u64 {
        match self {
            Slot::Mem(e) => e.seq,
            Slot::File { seq, .. } => *seq,
        }
    }
}

type Queues = BTreeMap<String, VecDeque<Slot>>;

/// `path` with its symlinks resolved (its folder's, when the file does not exist yet).
fn real_path(path: &Path) -> std::io::Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let name = path
                .file_name()
                .ok_or_else(|| std::io::Error::other(format!("{} is not a file name", path.display())))?;
            Ok(std::fs::canonicalize(dir)?.join(name))
        }
        Err(e) => Err(e),
    }
}

/// Read back the `put` line at `offset`.
fn read_put(path: &Path, offset: u64, len: usize) -> std::io::Result<Entry> {
    use std::io::{Read, Seek};
    let mut f = std::fs::File::open(path)?;
    f.seek(std::io::SeekFrom::Start(offset))?;
    let mut buf = vec![0; len];
    f.read_exact(&mut buf)?;
    match serde_json::from_slice::<Line>(&buf) {
        Ok(Line::Put(e)) => Ok(e),
        _ => Err(std::io::Error::other(format!("{}: no put line at byte {offset}", path.display()))),
    }
}

/// One escalation waiting for its channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub channel: String,
    /// The escalation as JSON (kept as written so a newer or older understudy can resend it).
    pub escalation: serde_json::Value,
}

impl Entry {
    pub fn id(&self) -> &str {
        self.escalation["id"].as_str().unwrap_or("")
    }

    pub fn dedup_key(&self) -> &str {
        self.escalation["dedup_key"].as_str().unwrap_or("")
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Line {
    Put(Entry),
    Done {
        seq: u64,
        result: String,
        attempts: u32,
        detail: String,
    },
    Sent {
        id: String,
    },
    /// A page still open (its last trigger), kept by compaction so a restart can resolve it.
    Page {
        escalation: serde_json::Value,
    },
}

/// What opening an outbox found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Opened {
    /// Escalations not yet delivered, to be sent first.
    pub pending: usize,
    /// Lines that were not outbox records (1-based): kept in `corrupt_kept_in`, then dropped
    /// from the outbox by compaction.
    pub corrupt_lines: Vec<usize>,
    pub corrupt_kept_in: Option<PathBuf>,
    /// A torn last line (a crash mid-write), kept aside in this file.
    pub torn_kept_in: Option<PathBuf>,
}

struct State {
    log: AuditLog,
    next_seq: u64,
    /// Pending entries per channel, in order.
    queues: Queues,
    /// Ids put (pending, or among the latest [`KEEP_SENT`] put): a second put of one is
    /// dropped. `seen_order` is the order they were put in, to forget the oldest.
    seen: BTreeSet<String>,
    seen_order: VecDeque<String>,
    /// Open pages by dedup key: the last trigger put, until a resolve is put.
    pages: Pages,
    closed: bool,
}

/// A durable queue of escalations, one FIFO per channel.
pub struct Outbox {
    state: Mutex<State>,
    ready: Condvar,
    dead_letter: PathBuf,
    /// Held (locked) for the outbox's life.
    _lock: std::fs::File,
}

/// How an entry ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    Delivered { status: u16 },
    DeadLetter { reason: String },
}

impl Outbox {
    /// Open (or create) the outbox at `path`, recover what it holds, compact it. Reads the
    /// file a line at a time and keeps only each pending entry's place in it (and the first
    /// [`IN_MEMORY`] per channel), so a backlog from a long outage opens in bounded memory.
    /// The path's symlinks are resolved first, so compaction replaces the real file; a
    /// `<outbox>.lock` file held for the outbox's life keeps a second process off it.
    pub fn open(path: &Path, dead_letter: &Path) -> std::io::Result<(Outbox, Opened)> {
        use std::io::{BufRead, Read, Seek, SeekFrom};
        let path = &real_path(path)?;
        let lock =
            std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path.with_extension("lock"))?;
        super::audit_log::lock_exclusive(&lock, "one process delivers an outbox at a time")?;
        // The audit log's open reports and keeps aside a torn last line.
        let (log, recovery) = AuditLog::open(path)?;
        drop(log);
        let mut opened = Opened { torn_kept_in: recovery.torn.map(|t| t.kept_in), ..Opened::default() };
        // Pending puts: seq → (offset, length, channel, id).
        let mut puts: BTreeMap<u64, (u64, usize, String, String)> = BTreeMap::new();
        let mut sent: VecDeque<String> = VecDeque::new();
        let mut next_seq = 0;
        let mut corrupt: Option<std::fs::File> = None;
        let mut pages = Pages::default();
        {
            let mut reader = std::io::BufReader::new(std::fs::File::open(path)?);
            let (mut line, mut offset, mut n) = (Vec::new(), 0u64, 0usize);
            loop {
                line.clear();
                let read = reader.read_until(b'\n', &mut line)?;
                if read == 0 {
                    break;
                }
                n += 1;
                let at = offset;
                offset += read as u64;
                let body = line.strip_suffix(b"\n").unwrap_or(&line);
                if body.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Line>(body) {
                    Ok(Line::Put(e)) => {
                        next_seq = next_seq.max(e.seq + 1);
                        pages.track(&e.escalation);
                        puts.insert(e.seq, (at, body.len(), e.channel.clone(), e.id().to_string()));
                    }
                    Ok(Line::Page { escalation }) => pages.track(&escalation),
                    Ok(Line::Done { seq, result, .. }) => {
                        if let Some((_, _, _, id)) = puts.remove(&seq)
                            && result == "delivered"
                        {
                            sent.push_back(id);
                        }
                    }
                    Ok(Line::Sent { id }) => sent.push_back(id),
                    Err(_) => {
                        // Nothing is dropped silently: what cannot be read is kept for a person.
                        opened.corrupt_lines.push(n);
                        let kept = path.with_extension("corrupt");
                        if corrupt.is_none() {
                            corrupt = Some(std::fs::OpenOptions::new().create(true).append(true).open(&kept)?);
                            opened.corrupt_kept_in = Some(kept);
                        }
                        if let Some(f) = &mut corrupt {
                            f.write_all(body)?;
                            f.write_all(b"\n")?;
                        }
                    }
                }
                if sent.len() > KEEP_SENT {
                    sent.pop_front();
                }
            }
        }
        if let Some(f) = corrupt {
            f.sync_all()?;
        }
        // Compact: open pages, recent deliveries and pending puts (copied line by line from
        // the old file), written aside and renamed over.
        let tmp = path.with_extension("compacting");
        let mut queues: Queues = BTreeMap::new();
        let mut seen_order: VecDeque<String> = sent.iter().cloned().collect();
        {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            let mut written = 0u64;
            let mut put_line = |out: &mut std::io::BufWriter<std::fs::File>, bytes: &[u8]| -> std::io::Result<u64> {
                let at = written;
                out.write_all(bytes)?;
                out.write_all(b"\n")?;
                written += bytes.len() as u64 + 1;
                Ok(at)
            };
            for (_, escalation) in pages.by_key.values() {
                put_line(&mut out, &serde_json::to_vec(&Line::Page { escalation: escalation.clone() })?)?;
            }
            for id in &sent {
                put_line(&mut out, &serde_json::to_vec(&Line::Sent { id: id.clone() })?)?;
            }
            let mut old = std::fs::File::open(path)?;
            let mut bytes = Vec::new();
            for (seq, (offset, len, channel, id)) in puts {
                old.seek(SeekFrom::Start(offset))?;
                bytes.resize(len, 0);
                old.read_exact(&mut bytes)?;
                let at = put_line(&mut out, &bytes)?;
                seen_order.push_back(id);
                let q = queues.entry(channel).or_default();
                if q.len() >= IN_MEMORY {
                    q.push_back(Slot::File { seq, offset: at, len });
                } else if let Ok(Line::Put(e)) = serde_json::from_slice::<Line>(&bytes) {
                    q.push_back(Slot::Mem(e));
                }
            }
            out.flush()?;
            out.get_ref().sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        let (log, _) = AuditLog::open(path)?;
        let seen: BTreeSet<String> = seen_order.iter().cloned().collect();
        opened.pending = queues.values().map(VecDeque::len).sum();
        let state = State { log, next_seq, queues, seen, seen_order, pages, closed: false };
        let outbox = Outbox {
            state: Mutex::new(state),
            ready: Condvar::new(),
            dead_letter: dead_letter.to_path_buf(),
            _lock: lock,
        };
        Ok((outbox, opened))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Put an escalation for `channel`, fsynced before this returns. An escalation already put
    /// (the same id: the same incident decided again after a restart) is not put twice;
    /// returns whether it was added.
    pub fn put(&self, channel: &str, e: &Escalation) -> std::io::Result<bool> {
        let mut s = self.lock();
        if !s.seen.insert(e.id.clone()) {
            return Ok(false);
        }
        let entry = Entry { seq: s.next_seq, channel: channel.to_string(), escalation: serde_json::to_value(e)? };
        s.next_seq += 1;
        let line = serde_json::to_vec(&Line::Put(entry.clone()))?;
        let offset = s.log.end_offset();
        if let Err(err) = s.log.append_line(&line) {
            s.seen.remove(&e.id);
            return Err(err);
        }
        s.pages.track(&entry.escalation);
        let q = s.queues.entry(channel.to_string()).or_default();
        if q.len() >= IN_MEMORY {
            q.push_back(Slot::File { seq: entry.seq, offset, len: line.len() });
        } else {
            q.push_back(Slot::Mem(entry));
        }
        // Remember the latest KEEP_SENT ids put, plus as many as are pending: an id is
        // forgotten only once that many newer ones were put (a re-sent alert after a restart
        // repeats recent escalations, not ones that old), so memory stays bounded.
        s.seen_order.push_back(e.id.clone());
        while s.seen_order.len() > KEEP_SENT + s.queues.values().map(VecDeque::len).sum::<usize>() {
            if let Some(old) = s.seen_order.pop_front() {
                s.seen.remove(&old);
            }
        }
        drop(s);
        self.ready.notify_all();
        Ok(true)
    }

    /// Pages opened and not yet resolved (their last trigger), oldest dedup key first: what a
    /// restarted process must still resolve.
    pub fn open_pages(&self) -> Vec<Escalation> {
        self.lock().pages.by_key.values().filter_map(|(_, v)| serde_json::from_value(v.clone()).ok()).collect()
    }

    /// The oldest pending entry of `channel`, waiting up to `wait` for one. `None` on timeout
    /// or once the outbox is closed.
    pub fn next(&self, channel: &str, wait: Duration) -> Option<Entry> {
        let s = self.lock();
        let (s, _) = self
            .ready
            .wait_timeout_while(s, wait, |s| !s.closed && s.queues.get(channel).is_none_or(VecDeque::is_empty))
            .unwrap_or_else(|e| e.into_inner());
        if s.closed {
            return None;
        }
        let mut s = s;
        let path = s.log.path().to_path_buf();
        let front = s.queues.get_mut(channel)?.front_mut()?;
        if let Slot::File { seq, offset, len } = *front {
            match read_put(&path, offset, len) {
                Ok(e) if e.seq == seq => *front = Slot::Mem(e),
                r => {
                    // The file no longer holds it (edited under a running process): a dead
                    // letter says which one, and the channel goes on rather than stall.
                    let why = format!("cannot read it back from {} at byte {offset}: {:?}", path.display(), r.err());
                    tracing::error!(seq, "a pending escalation is lost: {why}");
                    let line = serde_json::json!({"channel": channel, "seq": seq, "reason": why}).to_string();
                    let written = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.dead_letter)
                        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()).and_then(|()| f.sync_data()));
                    if let Err(e) = written {
                        tracing::error!(error = %e, "cannot write the dead letter either");
                    }
                    s.queues.get_mut(channel)?.pop_front();
                    return None;
                }
            }
        }
        match s.queues.get(channel)?.front()? {
            Slot::Mem(e) => Some(e.clone()),
            Slot::File { .. } => None,
        }
    }

    /// Mark the front entry of its channel finished: a dead letter is written (fsynced) to the
    /// dead-letter file first, then `done` to the outbox.
    pub fn finish(&self, entry: &Entry, attempts: u32, how: &Finished) -> std::io::Result<()> {
        let (result, detail) = match how {
            Finished::Delivered { status } => ("delivered", format!("HTTP {status}")),
            Finished::DeadLetter { reason } => {
                let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.dead_letter)?;
                let mut line = serde_json::to_vec(&serde_json::json!({
                    "channel": entry.channel,
                    "attempts": attempts,
                    "reason": reason,
                    "escalation": entry.escalation,
                }))?;
                line.push(b'\n');
                f.write_all(&line)?;
                f.sync_data()?;
                ("dead-letter", reason.clone())
            }
        };
        let mut s = self.lock();
        let line = serde_json::to_vec(&Line::Done { seq: entry.seq, result: result.to_string(), attempts, detail })?;
        s.log.append_line(&line)?;
        if let Some(q) = s.queues.get_mut(&entry.channel)
            && q.front().is_some_and(|f| f.seq() == entry.seq)
        {
            q.pop_front();
        }
        drop(s);
        self.ready.notify_all();
        Ok(())
    }

    /// Sleep for `d` unless the outbox is closed first; false if it was closed.
    pub fn pause(&self, d: Duration) -> bool {
        let s = self.lock();
        let (s, _) = self.ready.wait_timeout_while(s, d, |s| !s.closed).unwrap_or_else(|e| e.into_inner());
        !s.closed
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Channels with pending entries.
    pub fn channels(&self) -> Vec<String> {
        self.lock().queues.iter().filter(|(_, q)| !q.is_empty()).map(|(c, _)| c.clone()).collect()
    }

    /// Entries not yet finished.
    pub fn pending(&self) -> usize {
        self.lock().queues.values().map(VecDeque::len).sum()
    }

    /// Wait until nothing is pending or `wait` has passed; returns what is still pending.
    pub fn drain(&self, wait: Duration) -> usize {
        let s = self.lock();
        let (s, _) = self
            .ready
            .wait_timeout_while(s, wait, |s| s.queues.values().any(|q| !q.is_empty()))
            .unwrap_or_else(|e| e.into_inner());
        s.queues.values().map(VecDeque::len).sum()
    }

    /// Stop handing out entries (workers exit); what is pending stays in the file.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub fn dead_letter_path(&self) -> &Path {
        &self.dead_letter
    }
}

/// At most this many open pages are remembered (the oldest trigger is forgotten first).
const MAX_PAGES: usize = 10_000;

/// Open pages by dedup key (the last trigger put), indexed by that trigger's time so the
/// oldest is forgotten without a scan once [`MAX_PAGES`] are open.
#[derive(Debug, Default)]
struct Pages {
    by_key: BTreeMap<String, (crate::clock::Time, serde_json::Value)>,
    by_at: BTreeSet<(crate::clock::Time, String)>,
}

impl Pages {
    /// A trigger opens (or refreshes) its page; a resolve closes it.
    fn track(&mut self, e: &serde_json::Value) {
        let Some(key) = e["dedup_key"].as_str() else { return };
        match e["event"].as_str() {
            Some("trigger") => {
                let at = e["at"]
                    .as_str()
                    .and_then(|t| crate::clock::Time::parse_rfc3339(t).ok())
                    .unwrap_or(crate::clock::Time(i64::MIN));
                self.remove(key);
                self.by_at.insert((at, key.to_string()));
                self.by_key.insert(key.to_string(), (at, e.clone()));
                if self.by_key.len() > MAX_PAGES
                    && let Some((_, oldest)) = self.by_at.first().cloned()
                {
                    self.remove(&oldest);
                }
            }
            Some("resolve") => self.remove(key),
            _ => {}
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some((at, _)) = self.by_key.remove(key) {
            self.by_at.remove(&(at, key.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escalate::{Event, Evidence};

    fn esc(id: &str) -> Escalation {
        Escalation {
            id: id.into(),
            dedup_key: "understudy-k".into(),
            event: Event::Trigger,
            mode: "live".into(),
            at: crate::clock::Time(0),
            channel: "pd".into(),
            sequence: 1,
            incident_id: None,
            service: "s".into(),
            namespace: "n".into(),
            incident_type: "t".into(),
            confidence: 0.5,
            decision: "low-confidence".into(),
            reason: "r".into(),
            suggested_command: None,
            history: Vec::new(),
            evidence: Evidence { records: "a".into(), url: None },
            policy_fingerprint: "f".into(),
        }
    }

    #[test]
    fn pending_entries_survive_reopening_in_order_and_delivered_ones_are_not_resent() {
        let dir = tempfile::tempdir().unwrap();
        let (p, d) = (dir.path().join("outbox.jsonl"), dir.path().join("dead.jsonl"));
        let (o, opened) = Outbox::open(&p, &d).unwrap();
        assert_eq!(opened.pending, 0);
        for id in ["a", "b", "c"] {
            assert!(o.put("pd", &esc(id)).unwrap());
        }
        assert!(!o.put("pd", &esc("a")).unwrap(), "the same escalation is put once");
        let first = o.next("pd", Duration::ZERO).unwrap();
        assert_eq!(first.id(), "a");
        o.finish(&first, 1, &Finished::Delivered { status: 202 }).unwrap();
        let second = o.next("pd", Duration::ZERO).unwrap();
        o.finish(&second, 3, &Finished::DeadLetter { reason: "HTTP 400".into() }).unwrap();
        drop(o);

        let (o, opened) = Outbox::open(&p, &d).unwrap();
        assert_eq!(opened.pending, 1);
        assert_eq!(o.next("pd", Duration::ZERO).unwrap().id(), "c");
        assert!(!o.put("pd", &esc("a")).unwrap(), "delivered before the restart: not sent again");
        let dead = std::fs::read_to_string(&d).unwrap();
        assert_eq!(dead.lines().count(), 1);
        assert!(dead.contains(r#""reason":"HTTP 400""#) && dead.contains(r#""id":"b""#));
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 3, "compacted to the open page, one sent id and one pending put: {text}");
    }

    #[test]
    fn a_long_backlog_waits_in_the_file_and_is_delivered_in_order_after_a_restart_too() {
        let dir = tempfile::tempdir().unwrap();
        let (p, d) = (dir.path().join("outbox.jsonl"), dir.path().join("dead.jsonl"));
        let in_memory = |o: &Outbox| o.lock().queues.values().flatten().filter(|s| matches!(s, Slot::Mem(_))).count();
        let n = IN_MEMORY + 700;
        let (o, _) = Outbox::open(&p, &d).unwrap();
        for i in 0..n {
            o.put("pd", &esc(&format!("x{i}"))).unwrap();
        }
        assert_eq!((o.pending(), in_memory(&o)), (n, IN_MEMORY), "the backlog beyond the cap is in the file only");
        let deliver = |o: &Outbox, from: usize, to: usize| {
            for i in from..to {
                let e = o.next("pd", Duration::ZERO).expect("pending");
                assert_eq!(e.id(), format!("x{i}"), "in put order");
                o.finish(&e, 1, &Finished::Delivered { status: 202 }).unwrap();
                assert!(in_memory(o) <= IN_MEMORY + 1);
            }
        };
        deliver(&o, 0, 300);
        // One process per outbox, whichever name (here a symlink) it is reached by.
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        let busy = Outbox::open(&link, &d).err().expect("a second outbox on the same file is refused");
        assert_eq!(busy.kind(), std::io::ErrorKind::WouldBlock);
        drop(o);
        let (o, opened) = Outbox::open(&link, &d).unwrap();
        assert!(
            std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
            "compaction replaced the real file"
        );
        assert_eq!(
            (opened.pending, in_memory(&o)),
            (n - 300, IN_MEMORY),
            "compacted: again in the file beyond the cap"
        );
        // New puts queue behind the backlog and come out after it.
        o.put("pd", &esc(&format!("x{n}"))).unwrap();
        deliver(&o, 300, n + 1);
        assert_eq!(o.pending(), 0);
        assert!(!d.exists(), "nothing dead-lettered");
    }

    #[test]
    fn open_pages_survive_delivery_compaction_and_close_on_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let (p, d) = (dir.path().join("outbox.jsonl"), dir.path().join("dead.jsonl"));
        let (o, _) = Outbox::open(&p, &d).unwrap();
        o.put("pd", &esc("a")).unwrap();
        let e = o.next("pd", Duration::ZERO).unwrap();
        o.finish(&e, 1, &Finished::Delivered { status: 202 }).unwrap();
        drop(o);
        let (o, _) = Outbox::open(&p, &d).unwrap();
        assert_eq!(o.open_pages().len(), 1, "delivered, compacted, still open");
        let mut r = esc("a-resolve");
        r.event = Event::Resolve;
        o.put("pd", &r).unwrap();
        assert!(o.open_pages().is_empty());
        drop(o);
        let (o, _) = Outbox::open(&p, &d).unwrap();
        assert!(o.open_pages().is_empty());
    }

    #[test]
    fn a_torn_put_is_kept_aside_and_the_rest_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let (p, d) = (dir.path().join("outbox.jsonl"), dir.path().join("dead.jsonl"));
        let (o, _) = Outbox::open(&p, &d).unwrap();
        o.put("pd", &esc("a")).unwrap();
        drop(o);
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(br#"{"op":"put","seq":1,"chan"#).unwrap();
        let (o, opened) = Outbox::open(&p, &d).unwrap();
        assert_eq!(opened.pending, 1);
        assert!(opened.torn_kept_in.is_some_and(|k| k.exists()));
        assert_eq!(o.next("pd", Duration::ZERO).unwrap().id(), "a");
    }
}
