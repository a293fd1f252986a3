//! One import run: input files of one kind (or a whole investigation folder) → records, with
//! every file's problems located and every left-out item counted by reason.
//!
//! Owns what `understudy import` does with each file: pick the reader, resolve relative
//! times against a reference, shift a source's clock (`--time-offset`), refuse a file that
//! holds nothing importable (saying what was looked for), and for a HolmesGPT/Robusta case
//! folder decide which files hold evidence. The readers themselves are the sibling modules;
//! writing the trace is the caller's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Record, alertmanager, k8s, kubectl_text, prometheus};
use crate::clock::Time;
use crate::diag::{Code, Diagnostic, Pos};

/// What kind of input a run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Kubernetes objects: dumps, event lists, `kubectl describe` text, events tables.
    K8s,
    /// Alerts in any of the shapes [`alertmanager`] reads.
    Alerts,
    /// Prometheus series.
    Prometheus,
    /// Metric tables (CSV, long or wide) read through a column map.
    Table,
    /// The Kubernetes audit log: what people did.
    Audit,
    /// A fault list: ground truth.
    Faults,
    /// A paging system's incidents (PagerDuty): the people's timing.
    Pages,
}

/// How a run reads times.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The reference for relative times (`@now-5m`, `87s` ago, an undated request); `None`:
    /// the latest absolute time in the same input.
    pub now: Option<Time>,
    pub assume_utc: bool,
    /// Added to every time of every record (`--time-offset`).
    pub offset_nanos: i64,
    /// Signal name for Prometheus series.
    pub name: Option<String>,
    /// `FROM=TO` service renames.
    pub services: Vec<(String, String)>,
    /// The column map for metric tables.
    pub map: super::table::Map,
    /// `FROM=TO` fault type renames for fault lists.
    pub types: Vec<(String, String)>,
}

/// What a run gathered.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub k8s: k8s::Imported,
    /// Items left out, by reason (nothing is dropped without a count).
    pub skipped: BTreeMap<String, usize>,
    /// Alerts Alertmanager left out of bodies (`truncatedAlerts`).
    pub truncated: u64,
    /// Files of a case folder and what was made of each (`used: …` or `not read: …`).
    pub files: Vec<(PathBuf, String)>,
    /// Wide table columns and how they were read: (header, service, metric).
    pub columns: Vec<(String, String, String)>,
    /// The paging system's services → incidents (its names rarely are the cluster's).
    pub page_services: BTreeMap<String, usize>,
}

/// Where `needle` first appears in `text`, as a line and column (for a value the JSON reader
/// has no position for).
pub fn locate(text: &str, needle: &str) -> Option<Pos> {
    let at = text.find(needle)?;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |i| before[i + 1..].chars().count()) + 1;
    Some(Pos { line, col })
}

impl Batch {
    /// Read one file's text as `kind`, adding what it holds. A file holding nothing of the kind
    /// is an error naming what was looked for.
    pub fn add_text(&mut self, kind: Kind, path: &Path, text: &str, opts: &Options) -> Result<(), Vec<Diagnostic>> {
        let mut out = Vec::new();
        let n = match kind {
            Kind::Alerts => self.alerts(path, text, opts)?,
            Kind::K8s => self.k8s(path, text, opts)?,
            Kind::Audit => self.audit(path, text, opts)?,
            Kind::Faults => {
                let mut r = super::faults::read(text, &opts.types, opts.assume_utc).map_err(|(line, e)| {
                    vec![Diagnostic::error(Code::BadValue, path, Some(Pos { line, col: 1 }), e).with_hint(
                        "a fault list has a start, an end or a duration, a service or pod, and a type per row",
                    )]
                })?;
                shift(&mut r, opts.offset_nanos, path)?;
                let n = r.len();
                self.records.append(&mut r);
                n
            }
            Kind::Pages => {
                let got = super::pagerduty::read(text, opts.assume_utc).map_err(|(line, e)| {
                    vec![Diagnostic::error(Code::BadValue, path, Some(Pos { line, col: 1 }), e).with_hint(
                        "pass PagerDuty's GET /incidents JSON, Analytics raw incidents, or the incidents CSV report",
                    )]
                })?;
                for (why, n) in got.skipped {
                    *self.skipped.entry(format!("pages: {why}")).or_default() += n;
                }
                for (svc, n) in got.services {
                    *self.page_services.entry(svc).or_default() += n;
                }
                let mut r = got.records;
                shift(&mut r, opts.offset_nanos, path)?;
                self.records.append(&mut r);
                got.incidents
            }
            Kind::Table => self.table(path, text.as_bytes(), opts)?,
            Kind::Prometheus => {
                let first = text.lines().next().unwrap_or("").trim_start();
                let csv = path.extension().is_some_and(|e| e == "csv")
                    || (first.contains(',') && !first.starts_with(['{', '[']));
                let result = if csv {
                    prometheus::import_csv(text, opts.name.as_deref())
                } else {
                    prometheus::import_matrix(text, opts.name.as_deref())
                };
                match result {
                    Ok((mut r, skipped)) => {
                        if skipped > 0 {
                            *self.skipped.entry("series points without a finite value".into()).or_default() += skipped;
                        }
                        let n = r.len();
                        shift(&mut r, opts.offset_nanos, path)?;
                        self.records.append(&mut r);
                        n
                    }
                    Err(e) => {
                        out.push(
                            Diagnostic::error(Code::UnknownFormat, path, None, e)
                                .with_hint("pass a query_range response or a CSV with time,value columns"),
                        );
                        return Err(out);
                    }
                }
            }
        };
        if n == 0 {
            return Err(vec![nothing_to_import(kind, path)]);
        }
        Ok(())
    }

    fn alerts(&mut self, path: &Path, text: &str, opts: &Options) -> Result<usize, Vec<Diagnostic>> {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| vec![crate::jsonl::from_json_error(path, 1, text, &e)])?;
        let got =
            alertmanager::import_with(&doc, &alertmanager::Options { now: opts.now, assume_utc: opts.assume_utc });
        if !got.bad_times.is_empty() {
            return Err(got
                .bad_times
                .iter()
                .map(|(s, why)| {
                    Diagnostic::error(
                        Code::BadValue,
                        path,
                        locate(text, &format!("\"{s}\"")).map(|p| Pos { col: p.col + 1, ..p }),
                        why.clone(),
                    )
                })
                .collect());
        }
        for (why, n) in got.skipped {
            *self.skipped.entry(format!("alerts: {why}")).or_default() += n;
        }
        self.truncated += got.truncated;
        let mut r = got.records;
        shift(&mut r, opts.offset_nanos, path)?;
        let n = r.len();
        self.records.append(&mut r);
        // An alert-shaped object left out for a reason still counts as found.
        Ok(n.max(usize::from(got.alerts > 0)))
    }

    fn audit(&mut self, path: &Path, text: &str, opts: &Options) -> Result<usize, Vec<Diagnostic>> {
        let mut k = super::kube_audit::Imported::default();
        let mut errors = Vec::new();
        let take =
            |k: &mut super::kube_audit::Imported, v: &serde_json::Value, line: usize, errors: &mut Vec<Diagnostic>| {
                if let Err(e) = k.add(v) {
                    errors.push(Diagnostic::error(Code::BadValue, path, Some(Pos { line, col: 1 }), e));
                }
            };
        match serde_json::from_str::<serde_json::Value>(text) {
            // One document: an EventList, or a single event.
            Ok(doc) => match doc.get("items").and_then(serde_json::Value::as_array) {
                Some(items) => items.iter().for_each(|v| take(&mut k, v, 1, &mut errors)),
                None if super::kube_audit::is_audit(&doc) => take(&mut k, &doc, 1, &mut errors),
                None => {}
            },
            Err(_) => {
                for (i, l) in text.lines().enumerate() {
                    if l.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<serde_json::Value>(l) {
                        Ok(v) if super::kube_audit::is_audit(&v) => take(&mut k, &v, i + 1, &mut errors),
                        Ok(_) => {
                            *self.skipped.entry("audit: lines that are not audit.k8s.io events".into()).or_default() +=
                                1
                        }
                        Err(e) => errors.push(crate::jsonl::from_json_error(path, i + 1, l, &e)),
                    }
                    if errors.len() >= 20 {
                        break;
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for (why, n) in k.skipped {
            *self.skipped.entry(format!("audit: {why}")).or_default() += n;
        }
        shift(&mut k.records, opts.offset_nanos, path)?;
        self.records.append(&mut k.records);
        Ok(k.events)
    }

    /// A metric table read from `input` as it arrives (no whole-file copy, no size limit on
    /// the input; the records it yields are kept).
    pub fn add_table_stream(
        &mut self,
        path: &Path,
        input: impl std::io::Read,
        opts: &Options,
    ) -> Result<(), Vec<Diagnostic>> {
        if self.table(path, input, opts)? == 0 {
            return Err(vec![nothing_to_import(Kind::Table, path)]);
        }
        Ok(())
    }

    fn table(&mut self, path: &Path, input: impl std::io::Read, opts: &Options) -> Result<usize, Vec<Diagnostic>> {
        let t = super::table::read(path, input, &opts.map, opts.assume_utc).map_err(|d| vec![d])?;
        for (why, n) in t.skipped {
            *self.skipped.entry(format!("table: {why}")).or_default() += n;
        }
        self.columns.extend(t.columns);
        let mut r = t.records;
        shift(&mut r, opts.offset_nanos, path)?;
        let n = r.len();
        self.records.append(&mut r);
        Ok(n)
    }

    /// The audit log, streamed: one event a line, read in bounded memory however long the log
    /// (API servers write gigabytes a day); only the actions it holds are kept. A file that is
    /// one multi-line document (an `EventList` as `kubectl get -o json` prints it) is read
    /// whole, up to [`crate::limits::MAX_IMPORT_BYTES`].
    pub fn add_audit_stream(
        &mut self,
        path: &Path,
        r: &mut dyn std::io::BufRead,
        opts: &Options,
    ) -> Result<(), Vec<Diagnostic>> {
        use crate::jsonl::{Read, read_line};
        let mut k = super::kube_audit::Imported::default();
        let mut errors = Vec::new();
        let mut buf = Vec::new();
        let mut line = 0usize;
        let io = |e: std::io::Error| vec![crate::diag::cannot_read(path, &e)];
        loop {
            let got = read_line(r, &mut buf, crate::limits::MAX_LINE_BYTES).map_err(io)?;
            line += 1;
            match got {
                Read::Eof => break,
                Read::TooLong => {
                    errors.push(Diagnostic::error(
                        Code::TooLarge,
                        path,
                        Some(Pos { line, col: 1 }),
                        format!("line is longer than {}", crate::limits::bytes(crate::limits::MAX_LINE_BYTES as u64)),
                    ));
                }
                Read::Line => {
                    let text = match std::str::from_utf8(&buf) {
                        Ok(t) => t.trim_start_matches('\u{feff}').trim(),
                        Err(e) => {
                            errors.push(Diagnostic::error(
                                Code::BadValue,
                                path,
                                Some(Pos { line, col: e.valid_up_to() + 1 }),
                                "not UTF-8 text",
                            ));
                            continue;
                        }
                    };
                    if text.is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<serde_json::Value>(text) {
                        Ok(v) if super::kube_audit::is_audit(&v) => {
                            if let Err(e) = k.add(&v) {
                                errors.push(Diagnostic::error(Code::BadValue, path, Some(Pos { line, col: 1 }), e));
                            }
                        }
                        Ok(v) => match v.get("items").and_then(serde_json::Value::as_array) {
                            Some(items) => {
                                for item in items {
                                    if let Err(e) = k.add(item) {
                                        errors.push(Diagnostic::error(
                                            Code::BadValue,
                                            path,
                                            Some(Pos { line, col: 1 }),
                                            e,
                                        ));
                                    }
                                }
                            }
                            None => {
                                *self
                                    .skipped
                                    .entry("audit: lines that are not audit.k8s.io events".into())
                                    .or_default() += 1
                            }
                        },
                        Err(_) if line == 1 && text.starts_with(['{', '[']) => {
                            // One document over many lines: read it whole.
                            let mut rest = buf.clone();
                            std::io::Read::read_to_end(
                                &mut std::io::Read::take(r, crate::limits::MAX_IMPORT_BYTES),
                                &mut rest,
                            )
                            .map_err(io)?;
                            let whole = crate::diag::text_from_bytes(path, rest).map_err(|d| vec![d])?;
                            return self.add_text(Kind::Audit, path, &whole, opts);
                        }
                        Err(e) => errors.push(crate::jsonl::from_json_error(path, line, text, &e)),
                    }
                }
            }
            if errors.len() >= 20 {
                break;
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if k.events == 0 && k.skipped.is_empty() {
            return Err(vec![nothing_to_import(Kind::Audit, path)]);
        }
        for (why, n) in k.skipped {
            *self.skipped.entry(format!("audit: {why}")).or_default() += n;
        }
        shift(&mut k.records, opts.offset_nanos, path)?;
        self.records.append(&mut k.records);
        Ok(())
    }

    fn k8s(&mut self, path: &Path, text: &str, opts: &Options) -> Result<usize, Vec<Diagnostic>> {
        let body = kubectl_text::unwrap_tool_output(text);
        let docs = if kubectl_text::looks_like(body) {
            let (docs, unread) = kubectl_text::parse(body, opts.now).map_err(|e| {
                vec![
                    Diagnostic::error(Code::BadValue, path, None, e)
                        .with_hint("e.g. --now 2026-11-24T10:00:00Z, the time the output was taken"),
                ]
            })?;
            if unread > 0 {
                *self.skipped.entry("kubectl tables: rows without a readable age or object".into()).or_default() +=
                    unread;
            }
            docs
        } else {
            k8s::parse_documents(body).map_err(|(pos, e)| {
                vec![
                    Diagnostic::error(Code::Syntax, path, pos, e)
                        .with_hint("pass the output of kubectl get … -o yaml or -o json, or of kubectl describe"),
                ]
            })?
        };
        // `@now` in a dump without --now: the wall clock, as before (the dump was just taken).
        let now = opts.now.unwrap_or_else(|| crate::clock::Clock::now(&crate::clock::WallClock));
        let mut fresh = k8s::Imported::default();
        for d in &docs {
            fresh.add(d, now);
        }
        shift(&mut fresh.records, opts.offset_nanos, path)?;
        // Objects left out for a reason (counted) were found all the same.
        let found = fresh.records.len() + fresh.objects.len() + fresh.events + fresh.skipped.values().sum::<usize>();
        self.k8s.append(fresh);
        Ok(found)
    }

    /// Everything importable in a HolmesGPT/Robusta investigation folder (`issue_data.json`,
    /// `investigate_request.json`, recorded `kubectl describe`, events and `-o yaml` output,
    /// manifests), each file tried as alerts, then as Kubernetes objects; logs and other text
    /// are listed as not read. The undated request is placed at the latest time the other
    /// files hold, unless `--now` says otherwise.
    pub fn add_case(&mut self, dir: &Path, opts: &Options) -> Result<(), Vec<Diagnostic>> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| vec![crate::diag::cannot_read(dir, &e)])?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        let mut errors = Vec::new();
        let mut requests = Vec::new();
        let start = self.records.len() + self.k8s.records.len();
        let (first_alert, first_k8s) = (self.records.len(), self.k8s.records.len());
        for p in &entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if matches!(name, "test_case.yaml" | "toolsets.yaml")
                || name.starts_with("LICENSE")
                || name.ends_with(".md")
            {
                self.files.push((p.clone(), "not read: the test harness's own file, not evidence".into()));
                continue;
            }
            let text = match crate::diag::read_source_up_to(p, crate::limits::MAX_IMPORT_BYTES) {
                Ok(t) => t,
                Err(d) if matches!(d.code, Code::Io | Code::TooLarge) => {
                    errors.push(d);
                    continue;
                }
                Err(d) => {
                    // Logs with colour codes or binary attachments: not evidence this reads.
                    self.files.push((p.clone(), format!("not read: {}", d.message)));
                    continue;
                }
            };
            let body = kubectl_text::unwrap_tool_output(&text);
            let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
            let undated = json.as_ref().is_some_and(|v| v.get("subject").is_some() && v.get("starts_at").is_none())
                || (kubectl_text::looks_like(body) && kubectl_text::parse(body, None).is_err());
            if undated {
                requests.push((p.clone(), text));
                continue;
            }
            let as_alerts = json.as_ref().map(|v| alertmanager::alert_count(v).is_some()).unwrap_or(false);
            let what = if as_alerts {
                self.add_text(Kind::Alerts, p, body, opts).map(|()| "used: alerts")
            } else if kubectl_text::looks_like(body)
                || json.as_ref().is_some_and(|v| v.get("kind").is_some() || v.get("items").is_some())
                || body.trim_start().starts_with("apiVersion:")
            {
                self.add_text(Kind::K8s, p, body, opts).map(|()| "used: Kubernetes objects")
            } else {
                Ok("not read: no alert or Kubernetes object in it (logs, tables or an empty finding)")
            };
            match what {
                Ok(w) => self.files.push((p.clone(), w.into())),
                Err(mut e) => {
                    // A file of the case that turns out to hold nothing is listed, not fatal.
                    if e.iter().all(|d| d.code == Code::UnknownFormat) {
                        self.files.push((p.clone(), "not read: nothing importable in it".into()));
                    } else {
                        errors.append(&mut e);
                    }
                }
            }
        }
        // What is dated only relatively (an investigation request, an events table) is read
        // against the latest absolute time the case's other files hold.
        let seen = self.records[first_alert..].iter().chain(self.k8s.records[first_k8s..].iter());
        let reference = opts.now.or_else(|| seen.map(Record::at).max());
        for (p, text) in requests {
            let o = Options { now: reference, ..opts.clone() };
            let body = kubectl_text::unwrap_tool_output(&text);
            let (kind, what) = if kubectl_text::looks_like(body) {
                (Kind::K8s, "events dated by age")
            } else {
                (Kind::Alerts, "investigation request")
            };
            match self.add_text(kind, &p, body, &o) {
                Ok(()) => self.files.push((
                    p.clone(),
                    format!("used: {what}, read against {}", reference.map_or("--now".to_string(), Time::to_rfc3339)),
                )),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if self.records.len() + self.k8s.records.len() == start {
            return Err(vec![Diagnostic::error(
                Code::UnknownFormat,
                dir,
                None,
                "nothing to import in this folder: no alert, finding, request or Kubernetes object",
            )
            .with_hint("pass a HolmesGPT/Robusta case folder, or import its files with `import alertmanager` or `import k8s`")]);
        }
        Ok(())
    }

    /// All records, services resolved from the objects and renamed as asked; what was
    /// skipped is in `skipped`.
    pub fn finish(mut self, opts: &Options) -> (Vec<Record>, Self) {
        self.k8s.finish();
        self.k8s.override_services(&opts.services);
        let mut records = std::mem::take(&mut self.records);
        records.append(&mut self.k8s.records);
        for r in &mut records {
            if let Some(s) = r.service_mut()
                && let Some((_, to)) = opts.services.iter().find(|(f, _)| f == s)
            {
                s.clone_from(to);
            }
        }
        for (k, n) in &self.k8s.skipped {
            *self.skipped.entry(format!("kubernetes: {k}")).or_default() += n;
        }
        (records, self)
    }
}

/// A file holding nothing of `kind`: what was looked for, and what to do.
fn nothing_to_import(kind: Kind, path: &Path) -> Diagnostic {
    let looked = match kind {
        Kind::Alerts => {
            "alerts: an Alertmanager webhook body (`alerts`), /api/v2/alerts or /api/v2/alerts/groups, a bare alert (`labels.alertname`) or an array of them, a Robusta finding (`aggregation_key`, `subject_name`) or a HolmesGPT investigation request (`title`, `subject`)"
        }
        Kind::K8s => {
            "Kubernetes objects (Pod, Deployment, ReplicaSet, Event, or a List of them) as kubectl -o json|yaml writes them, `kubectl describe pod|deployment` output, or an events table"
        }
        Kind::Prometheus => "Prometheus series",
        Kind::Table => "metric rows",
        Kind::Audit => "audit.k8s.io/v1 Event objects (one per line, as the API server's log backend writes them)",
        Kind::Faults => "faults",
        Kind::Pages => {
            "paging-system incidents: objects with an id and created_at (PagerDuty GET /incidents, Analytics raw incidents) or CSV rows with id or incident_number and created_on"
        }
    };
    Diagnostic::error(Code::UnknownFormat, path, None, format!("nothing to import: looked for {looked}"))
        .with_hint("check that this is the file you meant, or import it with the importer of its kind")
}

fn shift(records: &mut [Record], nanos: i64, path: &Path) -> Result<(), Vec<Diagnostic>> {
    if nanos == 0 {
        return Ok(());
    }
    match records.iter_mut().position(|r| !r.shift(nanos)) {
        None => Ok(()),
        Some(i) => Err(vec![Diagnostic::error(
            Code::BadValue,
            path,
            None,
            format!(
                "--time-offset moves the record at {} outside the times understudy can represent (1677-09-21 to 2262-04-11)",
                records[i].at().to_rfc3339()
            ),
        )]),
    }
}
