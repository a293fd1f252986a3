//! Traces: recorded history as time-ordered JSON Lines, and the importers that make them from
//! real formats (kubectl dumps and events, Alertmanager alerts, Prometheus series).
//!
//! Owns the [`Record`] format, a streaming reader that never holds a trace whole (one line at
//! a time, time order checked, a truncated last line reported), an external merge sort for
//! unsorted traces in bounded memory, and the writer. Importers live in submodules and only
//! produce records; replaying them is `replay`'s job.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::diag::{Code, Diagnostic, Pos};
use crate::jsonl;

pub mod alertmanager;
pub mod clocks;
pub mod faults;
pub mod k8s;
pub mod kube_audit;
pub mod kubectl_text;
pub mod pagerduty;
pub mod prometheus;
pub mod sources;
pub mod table;

/// Firing or resolved, as Alertmanager says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// What happened to a page in the paging system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageEvent {
    Triggered,
    Acknowledged,
    Resolved,
}

impl PageEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            PageEvent::Triggered => "triggered",
            PageEvent::Acknowledged => "acknowledged",
            PageEvent::Resolved => "resolved",
        }
    }
}

/// The signal a Deployment's desired replicas come in (as kube-state-metrics names it);
/// replay takes the service's latest as a decision's `replicas`.
pub const REPLICAS_SIGNAL: &str = "kube_deployment_spec_replicas";

/// A circuit breaker of the recording's automation changing state on a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BreakerEvent {
    /// An action made things worse: automation stopped on the service.
    Tripped,
    /// Lifted (a person fixed the service, or ran `understudy reset-breaker`).
    Reset,
}

/// One line of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Record {
    /// A measurement or an observed condition: OOMKilled, CrashLoopBackOff, http_5xx_rate, …
    Signal {
        at: Time,
        service: String,
        namespace: String,
        name: String,
        value: f64,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        labels: BTreeMap<String, String>,
    },
    /// An Alertmanager alert changing state.
    Alert {
        at: Time,
        name: String,
        status: AlertStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        labels: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        annotations: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
    },
    /// A release: a new revision of a service.
    Deploy { at: Time, service: String, namespace: String, revision: String, tool: String },
    /// A classifier's recorded output.
    Classification {
        at: Time,
        service: String,
        namespace: String,
        incident_type: String,
        confidence: f64,
        /// The incident it was about, when the recorder knew (a simulation's trace): `fit`
        /// then matches it to that incident's truth instead of by time, and `replay
        /// --classifier recorded` decides that incident here, as the recording did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        incident: Option<String>,
        /// The alert or signal it classified, when the recorder knew.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<String>,
    },
    /// What a person (or a tool) did.
    Action {
        at: Time,
        service: String,
        namespace: String,
        actor: String,
        /// An action kind (restart, scale, rollback, helm-rollback, …).
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// The incident (and its page) it answered, when the recorder knew (see
        /// `classification`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        incident: Option<String>,
    },
    /// Expected load (a campaign, a sale).
    Campaign {
        at: Time,
        end: Time,
        name: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        services: Vec<String>,
    },
    /// A page's life in the paging system (PagerDuty): triggered, acknowledged, resolved, and
    /// by whom: the human baseline's timing as the team measured it.
    Page {
        at: Time,
        /// The paging system's service name (renamed to the cluster's with `--service`).
        service: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        event: PageEvent,
        /// The paging system's incident id: its events share it.
        incident: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// The time the trace covers, `at` to `end`: what it does not show there did not happen
    /// (an incident-free day counts as observed). `fit` measures rates over these windows,
    /// or over the trace's first to last record when it has none.
    Window {
        at: Time,
        end: Time,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// A world of its own (a simulation's replication): nothing before it carries into
        /// it, so replay starts the policy's guardrail state (cooldowns, caps, breakers)
        /// afresh at `at`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        independent: bool,
    },
    /// The recording's automation tripped or lifted a circuit breaker on a service (its
    /// audit log's verification and breaker-reset records; a simulation's trace). Replay
    /// holds the policy's breaker as the recording did: it has no world to verify in.
    Breaker {
        at: Time,
        service: String,
        namespace: String,
        event: BreakerEvent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Ground truth, when known: what the fault really was, from `at` to `end`.
    Truth {
        at: Time,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end: Option<Time>,
        service: String,
        namespace: String,
        incident_type: String,
        /// The incident's id, when the recorder knew it (see `classification`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        incident: Option<String>,
    },
}

impl Record {
    pub fn at(&self) -> Time {
        match self {
            Record::Signal { at, .. }
            | Record::Alert { at, .. }
            | Record::Deploy { at, .. }
            | Record::Classification { at, .. }
            | Record::Action { at, .. }
            | Record::Campaign { at, .. }
            | Record::Page { at, .. }
            | Record::Window { at, .. }
            | Record::Breaker { at, .. }
            | Record::Truth { at, .. } => *at,
        }
    }

    /// Move every time of the record by `nanos` (a source whose clock was off); `false`
    /// (and the record unchanged) when a time would leave the representable range.
    pub fn shift(&mut self, nanos: i64) -> bool {
        let ok = |t: &Time| t.0.checked_add(nanos).is_some();
        let fits = match self {
            Record::Signal { at, .. }
            | Record::Alert { at, .. }
            | Record::Deploy { at, .. }
            | Record::Classification { at, .. }
            | Record::Page { at, .. }
            | Record::Breaker { at, .. }
            | Record::Action { at, .. } => ok(at),
            Record::Campaign { at, end, .. } | Record::Window { at, end, .. } => ok(at) && ok(end),
            Record::Truth { at, end, .. } => ok(at) && end.as_ref().is_none_or(ok),
        };
        if !fits {
            return false;
        }
        let mv = |t: &mut Time| t.0 += nanos;
        match self {
            Record::Signal { at, .. }
            | Record::Alert { at, .. }
            | Record::Deploy { at, .. }
            | Record::Classification { at, .. }
            | Record::Page { at, .. }
            | Record::Breaker { at, .. }
            | Record::Action { at, .. } => mv(at),
            Record::Campaign { at, end, .. } | Record::Window { at, end, .. } => {
                mv(at);
                mv(end);
            }
            Record::Truth { at, end, .. } => {
                mv(at);
                if let Some(e) = end {
                    mv(e);
                }
            }
        }
        true
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Record::Signal { .. } => "signal",
            Record::Alert { .. } => "alert",
            Record::Deploy { .. } => "deploy",
            Record::Classification { .. } => "classification",
            Record::Action { .. } => "action",
            Record::Campaign { .. } => "campaign",
            Record::Page { .. } => "page",
            Record::Window { .. } => "window",
            Record::Breaker { .. } => "breaker",
            Record::Truth { .. } => "truth",
        }
    }

    /// The service the record is about (`None` for a campaign, or an alert naming none).
    pub fn service(&self) -> Option<&str> {
        match self {
            Record::Signal { service, .. }
            | Record::Deploy { service, .. }
            | Record::Classification { service, .. }
            | Record::Action { service, .. }
            | Record::Page { service, .. }
            | Record::Breaker { service, .. }
            | Record::Truth { service, .. } => Some(service),
            Record::Alert { service, .. } => service.as_deref(),
            Record::Campaign { .. } | Record::Window { .. } => None,
        }
    }

    /// What the format says beyond its shape: a confidence is a probability, nothing ends
    /// before it starts. `Err` says what is wrong and how to mend it.
    pub fn check(&self) -> Result<(), (String, &'static str)> {
        match self {
            Record::Classification { confidence, .. } if !(0.0..=1.0).contains(confidence) => Err((
                format!("`confidence` {confidence} is outside 0–1"),
                "a classifier's confidence is a probability; divide percentages by 100",
            )),
            Record::Campaign { at, end, .. } | Record::Window { at, end, .. } if end < at => {
                Err((format!("`end` {end} is before `at` {at}"), "swap them, or fix the clock they were read with"))
            }
            Record::Signal { name, value, .. }
                if name == REPLICAS_SIGNAL && !(value.fract() == 0.0 && (0.0..=100_000.0).contains(value)) =>
            {
                Err((
                    format!("`{REPLICAS_SIGNAL}` {value} is no replica count"),
                    "a Deployment's replicas are a whole number from 0 to 100000",
                ))
            }
            Record::Truth { incident: Some(id), .. }
            | Record::Classification { incident: Some(id), .. }
            | Record::Action { incident: Some(id), .. }
                if id.trim().is_empty() =>
            {
                Err(("`incident` is empty".into(), "leave `incident` out when the recorder did not know it"))
            }
            Record::Truth { at, end: Some(end), .. } if end < at => Err((
                format!("`end` {end} is before `at` {at}"),
                "a fault ends after it begins: swap them, or leave `end` out while it is unknown",
            )),
            _ => Ok(()),
        }
    }

    /// The namespace the record is about (`None` for a campaign, a window, or an alert or
    /// page naming none).
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Record::Signal { namespace, .. }
            | Record::Deploy { namespace, .. }
            | Record::Classification { namespace, .. }
            | Record::Action { namespace, .. }
            | Record::Breaker { namespace, .. }
            | Record::Truth { namespace, .. } => Some(namespace),
            Record::Alert { namespace, .. } | Record::Page { namespace, .. } => namespace.as_deref(),
            Record::Campaign { .. } | Record::Window { .. } => None,
        }
    }

    /// The service the record is about, to rename it (`--service FROM=TO`); a campaign names
    /// several and is left as it is.
    pub fn service_mut(&mut self) -> Option<&mut String> {
        match self {
            Record::Signal { service, .. }
            | Record::Deploy { service, .. }
            | Record::Classification { service, .. }
            | Record::Action { service, .. }
            | Record::Page { service, .. }
            | Record::Breaker { service, .. }
            | Record::Truth { service, .. } => Some(service),
            Record::Alert { service, .. } => service.as_mut(),
            Record::Campaign { .. } | Record::Window { .. } => None,
        }
    }
}

/// Streams records from a trace, one line at a time.
pub struct Reader<R> {
    inner: R,
    path: PathBuf,
    line: usize,
    last: Option<(Time, usize)>,
    buf: Vec<u8>,
    check_order: bool,
    done: bool,
}

impl Reader<BufReader<std::fs::File>> {
    pub fn open(path: &Path) -> Result<Self, Diagnostic> {
        let f = crate::diag::open_input(path)?;
        Ok(Reader::new(path, BufReader::with_capacity(1 << 16, f)))
    }
}

impl<R: BufRead> Reader<R> {
    pub fn new(path: &Path, inner: R) -> Self {
        Reader { inner, path: path.to_path_buf(), line: 0, last: None, buf: Vec::new(), check_order: true, done: false }
    }

    /// Accept records out of time order (the caller sorts them).
    pub fn unordered(mut self) -> Self {
        self.check_order = false;
        self
    }

    fn parse(&mut self) -> Option<Result<(usize, Record), Diagnostic>> {
        loop {
            self.buf.clear();
            let read = match jsonl::read_line(&mut self.inner, &mut self.buf, crate::limits::MAX_LINE_BYTES) {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    return Some(Err(Diagnostic::error(Code::Io, &self.path, None, format!("read error: {e}"))));
                }
            };
            if read == jsonl::Read::Eof {
                self.done = true;
                return None;
            }
            self.line += 1;
            if read == jsonl::Read::TooLong {
                return Some(Err(jsonl::too_long(&self.path, self.line)));
            }
            let complete = self.buf.ends_with(b"\n");
            let text = match std::str::from_utf8(&self.buf) {
                Ok(t) => t.trim_end_matches(['\n', '\r']),
                Err(e) => {
                    return Some(Err(Diagnostic::error(
                        Code::NotText,
                        &self.path,
                        Some(Pos { line: self.line, col: e.valid_up_to() + 1 }),
                        "line is not UTF-8 text",
                    )));
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            let rec = match jsonl::parse_line::<Record>(&self.path, self.line, text) {
                Ok(r) => r,
                Err(mut d) => {
                    if !complete && d.code == Code::Syntax {
                        d.message = format!("the last line is cut short ({})", d.message);
                        d.hint = Some(
                            "the trace was truncated (a crash or a partial copy?): repair or remove the last line"
                                .into(),
                        );
                    }
                    return Some(Err(d));
                }
            };
            if let Err((message, hint)) = rec.check() {
                return Some(Err(Diagnostic::error(
                    Code::BadValue,
                    &self.path,
                    Some(Pos { line: self.line, col: 1 }),
                    message,
                )
                .with_hint(hint)));
            }
            if self.check_order {
                let at = rec.at();
                if let Some((prev, prev_line)) = self.last
                    && at < prev
                {
                    return Some(Err(Diagnostic::error(
                        Code::BadValue,
                        &self.path,
                        Some(Pos { line: self.line, col: 1 }),
                        format!("record at {at} is earlier than line {prev_line} ({prev}): the trace is out of order"),
                    )
                    .with_hint("sort it, or pass --allow-unsorted to sort it on the fly in bounded memory")));
                }
                self.last = Some((at, self.line));
            }
            return Some(Ok((self.line, rec)));
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<(usize, Record), Diagnostic>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.parse()
    }
}

/// One trace as a stream of (line, record), time-ordered or sorted on the fly.
pub type Stream = Box<dyn Iterator<Item = Result<(usize, Record), Diagnostic>>>;

/// Open every trace for a merged read (replay, fit): each checked for time order, or with
/// `allow_unsorted` sorted on the fly in bounded memory. Err: the first that cannot be opened.
pub fn open_all(paths: &[PathBuf], allow_unsorted: bool) -> Result<Vec<std::iter::Peekable<Stream>>, Diagnostic> {
    paths
        .iter()
        .map(|t| {
            let s: Stream = if allow_unsorted { Box::new(sorted(t, 200_000)?) } else { Box::new(Reader::open(t)?) };
            Ok(s.peekable())
        })
        .collect()
}

/// Write records as JSON Lines, sorted by time (ties keep their input order).
pub fn write(path: Option<&Path>, mut records: Vec<Record>) -> std::io::Result<usize> {
    records.sort_by_key(Record::at);
    // `-o -` is standard output, as everywhere else.
    let path = path.filter(|p| p.as_os_str() != "-");
    let out: Box<dyn Write> = match path {
        Some(p) => Box::new(BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut out = out;
    for r in &records {
        serde_json::to_writer(&mut out, r)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(records.len())
}

/// Records of a trace in time order, sorting out-of-order input with an external merge sort:
/// runs of at most `run_len` records are sorted in memory and spilled to temporary files,
/// then merged. Memory is bounded by `run_len` records plus one line per run, whatever the
/// trace's length. Ties keep file order. Every bad line is an error; nothing is dropped.
pub fn sorted(path: &Path, run_len: usize) -> Result<Sorted, Diagnostic> {
    let dir = tempfile::tempdir()
        .map_err(|e| Diagnostic::error(Code::Io, path, None, format!("cannot make a temporary folder: {e}")))?;
    let io_err = |e: std::io::Error| Diagnostic::error(Code::Io, path, None, format!("sorting: {e}"));
    let mut runs = Vec::new();
    let mut chunk: Vec<(i64, usize, String)> = Vec::with_capacity(run_len.min(1 << 20));
    let spill = |chunk: &mut Vec<(i64, usize, String)>, runs: &mut Vec<PathBuf>| -> std::io::Result<()> {
        chunk.sort_by_key(|(t, l, _)| (*t, *l));
        let p = dir.path().join(format!("run-{}", runs.len()));
        let mut w = BufWriter::new(std::fs::File::create(&p)?);
        for (t, l, json) in chunk.drain(..) {
            writeln!(w, "{t}\t{l}\t{json}")?;
        }
        w.flush()?;
        runs.push(p);
        Ok(())
    };
    for item in Reader::open(path)?.unordered() {
        let (line, rec) = item?;
        let json = serde_json::to_string(&rec).expect("records serialize");
        chunk.push((rec.at().nanos(), line, json));
        if chunk.len() >= run_len.max(1) {
            spill(&mut chunk, &mut runs).map_err(io_err)?;
        }
    }
    if !chunk.is_empty() {
        spill(&mut chunk, &mut runs).map_err(io_err)?;
    }
    let mut readers = Vec::new();
    for p in &runs {
        readers.push(BufReader::new(std::fs::File::open(p).map_err(io_err)?).lines());
    }
    let mut s = Sorted { _dir: dir, readers, heap: std::collections::BinaryHeap::new(), path: path.to_path_buf() };
    for k in 0..s.readers.len() {
        s.refill(k)?;
    }
    Ok(s)
}

/// The merge of sorted runs.
pub struct Sorted {
    _dir: tempfile::TempDir,
    readers: Vec<std::io::Lines<BufReader<std::fs::File>>>,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(i64, usize, usize, String)>>,
    path: PathBuf,
}

impl Sorted {
    fn refill(&mut self, k: usize) -> Result<(), Diagnostic> {
        if let Some(line) = self.readers[k].next() {
            let line = line.map_err(|e| Diagnostic::error(Code::Io, &self.path, None, format!("sorting: {e}")))?;
            let mut parts = line.splitn(3, '\t');
            let t: i64 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            let l: usize = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            let json = parts.next().unwrap_or("").to_string();
            self.heap.push(std::cmp::Reverse((t, l, k, json)));
        }
        Ok(())
    }
}

impl Iterator for Sorted {
    type Item = Result<(usize, Record), Diagnostic>;

    fn next(&mut self) -> Option<Self::Item> {
        let std::cmp::Reverse((_, line, k, json)) = self.heap.pop()?;
        if let Err(d) = self.refill(k) {
            return Some(Err(d));
        }
        Some(jsonl::parse_line::<Record>(&self.path, line, &json).map(|r| (line, r)))
    }
}

/// A time as importers meet it: RFC 3339 (`2026-11-24T10:00:00Z`, `…+01:00`), also with a
/// space for the `T` (Python's `str(datetime)`, as Robusta writes it). A time without a zone
/// is refused (its meaning depends on a machine's setting) unless `assume_utc`.
pub fn parse_time(s: &str, assume_utc: bool) -> Result<Time, String> {
    let t = s.trim();
    let mut norm = t.to_string();
    if t.len() > 10 && t.as_bytes()[10] == b' ' {
        norm.replace_range(10..11, "T");
    }
    if let Ok(at) = Time::parse_rfc3339(&norm) {
        return Ok(at);
    }
    let after_date = norm.get(10..).unwrap_or("");
    let zoned = after_date.ends_with(['Z', 'z']) || after_date.contains(['+']) || after_date.rfind('-').is_some();
    if !zoned && norm.len() >= 19 {
        if !assume_utc {
            return Err(format!(
                "`{t}` has no time zone: add one (`Z` for UTC, or an offset such as +01:00), or pass --assume-utc"
            ));
        }
        return Time::parse_rfc3339(&format!("{norm}Z"));
    }
    Time::parse_rfc3339(&norm)
}

/// Turn a pod name into its workload's name: `checkout-api-7d9f8b6c5-x2x4z` → `checkout-api`,
/// `web-0` → `web`, `job-abcde` → `job`.
pub fn workload_of_pod(name: &str) -> String {
    let parts: Vec<&str> = name.split('-').collect();
    // Kubernetes generates name suffixes from an alphabet without vowels or 0, 1, 3
    // (k8s.io/apimachinery rand.SafeEncodeString), which tells `web-7d9f8` from `demo2`.
    let hashy = |s: &str, lens: &[usize]| lens.contains(&s.len()) && s.chars().all(is_safe_char);
    let n = parts.len();
    if n >= 3 && hashy(parts[n - 1], &[5]) && hashy(parts[n - 2], &[6, 7, 8, 9, 10]) {
        return parts[..n - 2].join("-");
    }
    if n >= 2 && (hashy(parts[n - 1], &[5]) || parts[n - 1].chars().all(|c| c.is_ascii_digit())) {
        return parts[..n - 1].join("-");
    }
    name.to_string()
}

fn is_safe_char(c: char) -> bool {
    "bcdfghjklmnpqrstvwxz2456789".contains(c)
}

/// A ReplicaSet's Deployment: `checkout-api-7d9f8b6c5` → `checkout-api`.
pub fn workload_of_replicaset(name: &str) -> String {
    match name.rsplit_once('-') {
        Some((base, hash)) if (6..=10).contains(&hash.len()) && hash.chars().all(is_safe_char) => base.to_string(),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_map_to_workloads() {
        assert_eq!(workload_of_pod("checkout-api-7d9f8b6c5-x2x4z"), "checkout-api");
        assert_eq!(workload_of_pod("no-image-deployment-849c4c4958-rxqmt"), "no-image-deployment");
        assert_eq!(workload_of_pod("oom-kill-job3-gbb89"), "oom-kill-job3");
        assert_eq!(workload_of_pod("web-0"), "web");
        assert_eq!(workload_of_pod("init-demo"), "init-demo");
        assert_eq!(workload_of_pod("init-demo2"), "init-demo2");
        assert_eq!(workload_of_replicaset("checkout-api-7d9f8b6c5"), "checkout-api");
    }

    #[test]
    fn unknown_kinds_and_fields_are_errors_with_the_line() {
        let text = "{\"at\":\"2026-01-01T00:00:00Z\",\"kind\":\"signal\",\"service\":\"a\",\"namespace\":\"p\",\"name\":\"OOMKilled\",\"value\":1}\n{\"at\":\"2026-01-01T00:00:01Z\",\"kind\":\"sigal\"}\n{\"at\":\"2026-01-01T00:00:02Z\",\"kind\":\"deploy\",\"service\":\"a\",\"namespace\":\"p\",\"revision\":\"2\",\"tool\":\"helm\",\"bogus\":1}\n";
        let r: Vec<_> = Reader::new(Path::new("t.jsonl"), text.as_bytes()).collect();
        assert!(r[0].is_ok());
        let e1 = r[1].as_ref().unwrap_err();
        assert_eq!(e1.pos.unwrap().line, 2);
        assert!(e1.message.contains("unknown variant `sigal`"), "{}", e1.message);
        let e2 = r[2].as_ref().unwrap_err();
        assert_eq!(e2.pos.unwrap().line, 3);
        assert!(e2.message.contains("bogus"), "{}", e2.message);
    }

    #[test]
    fn out_of_order_and_truncated_traces_are_errors() {
        let a = "{\"at\":\"2026-01-01T00:00:05Z\",\"kind\":\"deploy\",\"service\":\"a\",\"namespace\":\"p\",\"revision\":\"2\",\"tool\":\"helm\"}";
        let b = "{\"at\":\"2026-01-01T00:00:01Z\",\"kind\":\"deploy\",\"service\":\"a\",\"namespace\":\"p\",\"revision\":\"3\",\"tool\":\"helm\"}";
        let text = format!("{a}\n{b}\n");
        let r: Vec<_> = Reader::new(Path::new("t.jsonl"), text.as_bytes()).collect();
        let e = r[1].as_ref().unwrap_err();
        assert!(e.message.contains("earlier than line 1"), "{}", e.message);
        let cut = format!("{a}\n{}", &b[..40]);
        let r: Vec<_> = Reader::new(Path::new("t.jsonl"), cut.as_bytes()).collect();
        let e = r[1].as_ref().unwrap_err();
        assert!(e.message.contains("cut short"), "{}", e.message);
        assert_eq!(e.pos.unwrap().line, 2);
    }
}
