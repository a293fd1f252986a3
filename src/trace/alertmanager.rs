//! Alerts → alert records, from every shape teams have them in: Alertmanager webhook bodies
//! (v4, with `truncatedAlerts`), the alert list of `GET /api/v2/alerts` and the groups of
//! `GET /api/v2/alerts/groups`, a bare alert object or an array of them, Robusta findings
//! (`issue_data.json`: a finding with its raw Alertmanager alert, or the finding alone) and
//! HolmesGPT investigation requests (`investigate_request.json`: a title and a subject).
//!
//! A firing alert becomes a `firing` record at `startsAt`; a resolved one also gets a
//! `resolved` record at `endsAt`. The service is the alert's *subject* (its deployment,
//! statefulset, daemonset, job, pod's workload or node), before `service`, `app` or
//! `container`: on kube-state-metrics alerts `service` names the exporter, not the workload.
//! Nothing is skipped silently: every alert left out is counted by reason, and a time
//! without a zone is an error with its line and column unless the caller assumes UTC.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{AlertStatus, Record, workload_of_pod};
use crate::clock::Time;

/// Why a webhook body holds nothing to decide.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyError {
    NotJson(String),
    /// Not an object with an `alerts` array, nor an array of alerts or groups.
    NoAlerts,
    /// More alerts than one request may carry.
    TooMany {
        sent: usize,
        max: usize,
    },
    /// Alerts, none with an `alertname` label and an RFC 3339 `startsAt`.
    NoneDecidable {
        sent: usize,
        skipped: usize,
    },
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::NotJson(e) => write!(f, "not JSON: {e}"),
            BodyError::NoAlerts => f.write_str(
                "no alerts: expected Alertmanager's webhook body, an object with an `alerts` array (or an array of alerts)",
            ),
            BodyError::TooMany { sent, max } => write!(
                f,
                "{sent} alerts in one request, at most {max}: set `max_alerts: {max}` in the Alertmanager webhook_config"
            ),
            BodyError::NoneDecidable { sent, skipped } => write!(
                f,
                "none of the {sent} alert(s) can be decided ({skipped} without an `alertname` label or an RFC 3339 `startsAt`)"
            ),
        }
    }
}

/// A webhook body as shadow and live receive it: its alert records in time order and how many
/// alerts were skipped, or why there is nothing to decide.
pub fn webhook_body(body: &[u8], max_alerts: usize) -> Result<(Vec<Record>, usize), BodyError> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    let sent = alert_count(&doc).ok_or(BodyError::NoAlerts)?;
    if sent > max_alerts {
        return Err(BodyError::TooMany { sent, max: max_alerts });
    }
    let (mut records, skipped) = import(&doc);
    if records.is_empty() {
        return Err(BodyError::NoneDecidable { sent, skipped });
    }
    records.sort_by_key(Record::at);
    Ok((records, skipped))
}

/// How many alerts a body holds, or `None` when it holds none at all (not an object with an
/// `alerts` array, nor an array of alerts or groups).
pub fn alert_count(doc: &Value) -> Option<usize> {
    let n = alerts(doc).len();
    (n > 0).then_some(n)
}

/// How an import reads times and what it takes as "now".
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The reference time of a document that carries none (a HolmesGPT investigation request
    /// is a snapshot taken "now"); without it such a document's alert is skipped, counted.
    pub now: Option<Time>,
    /// Read a time written without a zone (`2025-01-27T06:06:29`) as UTC instead of refusing it.
    pub assume_utc: bool,
}

/// What one document gave.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub records: Vec<Record>,
    /// Alerts left out, by reason.
    pub skipped: BTreeMap<&'static str, usize>,
    /// Alerts Alertmanager itself left out of the body (`truncatedAlerts`, over `max_alerts`).
    pub truncated: u64,
    /// Times that cannot be read: the text as written and why (the caller locates it).
    pub bad_times: Vec<(String, String)>,
    /// How many alert-shaped objects the document held.
    pub alerts: usize,
}

/// One alert, whatever shape it came in.
struct Raw {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts: Option<String>,
    ends: Option<String>,
    resolved: bool,
    fingerprint: Option<String>,
    /// The document is a snapshot without times of its own (an investigation request).
    undated: bool,
}

fn map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// A label for the subject of a Robusta finding or a HolmesGPT request (`subject_type` or
/// `kind`: deployment, pod, node, job, …). A "deployment" named like a pod (HolmesGPT writes
/// the pod's name there) is the pod.
fn subject_label(kind: &str, name: &str) -> &'static str {
    match kind.to_ascii_lowercase().as_str() {
        "deployment" | "statefulset" | "daemonset" if super::workload_of_pod(name) != name => "pod",
        "deployment" => "deployment",
        "statefulset" => "statefulset",
        "daemonset" => "daemonset",
        "job" => "job_name",
        "node" => "node",
        _ => "pod",
    }
}

/// The alert name of a finding or request: its issue type, else a one-word title
/// (`CPUThrottlingHigh.`), else the title's sentence itself (the rules can match it).
fn name_from(title: Option<String>, keys: &[Option<String>]) -> Option<String> {
    keys.iter().flatten().next().cloned().or_else(|| {
        let t = title?;
        let word = t.trim_end_matches('.');
        Some(if word.contains(char::is_whitespace) { t } else { word.to_string() })
    })
}

fn subject(labels: &mut BTreeMap<String, String>, kind: Option<&str>, name: Option<&str>, ns: Option<&str>) {
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        let key = subject_label(kind.unwrap_or("pod"), n);
        labels.entry(key.to_string()).or_insert_with(|| n.to_string());
        labels.entry("subject_kind".into()).or_insert_with(|| kind.unwrap_or("pod").to_ascii_lowercase());
    }
    if let Some(ns) = ns.filter(|n| !n.is_empty()) {
        labels.entry("namespace".into()).or_insert_with(|| ns.to_string());
    }
}

fn from_alert(a: &Value) -> Raw {
    let resolved = a["status"].as_str() == Some("resolved")
        || a.pointer("/status/state").and_then(Value::as_str) == Some("resolved");
    Raw {
        labels: map(&a["labels"]),
        annotations: map(&a["annotations"]),
        starts: text(a, "startsAt"),
        ends: text(a, "endsAt"),
        resolved,
        fingerprint: text(a, "fingerprint"),
        undated: false,
    }
}

/// A Robusta finding (`aggregation_key`, `subject_*`, `starts_at`, maybe `raw`).
fn from_finding(f: &Value) -> Raw {
    let mut r = match f.get("raw").filter(|r| r.get("labels").is_some()) {
        Some(raw) => from_alert(raw),
        None => Raw {
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            starts: None,
            ends: None,
            resolved: false,
            fingerprint: None,
            undated: false,
        },
    };
    if !r.labels.contains_key("alertname")
        && let Some(n) = name_from(text(f, "title"), &[text(f, "aggregation_key"), text(f, "name")])
    {
        r.labels.insert("alertname".into(), n);
    }
    subject(&mut r.labels, f["subject_type"].as_str(), f["subject_name"].as_str(), f["subject_namespace"].as_str());
    if let Some(node) = text(f, "subject_node") {
        r.labels.entry("node".into()).or_insert(node);
    }
    for (k, key) in [("summary", "title"), ("description", "description")] {
        if let Some(v) = text(f, key) {
            r.annotations.entry(k.into()).or_insert(v);
        }
    }
    if let Some(p) = text(f, "priority") {
        r.labels.entry("priority".into()).or_insert(p);
    }
    r.starts = r.starts.or_else(|| text(f, "starts_at"));
    r.ends = r.ends.or_else(|| text(f, "ends_at"));
    r.fingerprint = r.fingerprint.or_else(|| text(f, "fingerprint"));
    if f["status"].as_str() == Some("resolved") {
        r.resolved = true;
    }
    r
}

/// A HolmesGPT investigation request: a title, a description and a subject, no time.
fn from_request(q: &Value) -> Raw {
    let s = &q["subject"];
    let mut labels = map(&s["labels"]);
    let name =
        name_from(text(q, "title"), &[q.pointer("/context/issue_type").and_then(Value::as_str).map(str::to_string)]);
    if let Some(n) = name {
        labels.insert("alertname".into(), n);
    }
    let kind = s["subject_type"].as_str().or_else(|| s["kind"].as_str());
    subject(&mut labels, kind, s["name"].as_str(), s["namespace"].as_str());
    for k in ["node", "container"] {
        if let Some(v) = text(s, k) {
            labels.entry(k.into()).or_insert(v);
        }
    }
    let mut annotations = map(&s["annotations"]);
    for (k, key) in [("summary", "title"), ("description", "description")] {
        if let Some(v) = text(q, key) {
            annotations.entry(k.into()).or_insert(v);
        }
    }
    Raw { labels, annotations, starts: None, ends: None, resolved: false, fingerprint: None, undated: true }
}

/// Every alert-shaped object in a document.
fn alerts(doc: &Value) -> Vec<Raw> {
    let one = |v: &Value| -> Option<Raw> {
        let o = v.as_object()?;
        if o.contains_key("aggregation_key")
            || o.contains_key("subject_name")
            || o.get("raw").is_some_and(Value::is_object)
        {
            Some(from_finding(v))
        } else if o.get("subject").is_some_and(Value::is_object)
            && (o.contains_key("title") || o.contains_key("context"))
        {
            Some(from_request(v))
        } else if o.get("labels").is_some_and(Value::is_object) {
            Some(from_alert(v))
        } else {
            None
        }
    };
    match doc {
        Value::Object(o) if o.contains_key("alerts") => {
            o["alerts"].as_array().map(|a| a.iter().filter_map(one).collect()).unwrap_or_default()
        }
        Value::Object(_) => one(doc).into_iter().collect(),
        Value::Array(items) => items
            .iter()
            .flat_map(|i| match i.get("alerts").and_then(Value::as_array) {
                Some(group) => group.iter().filter_map(one).collect::<Vec<_>>(),
                None => one(i).into_iter().collect(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Which service an alert is about: its subject first (deployment, statefulset, daemonset,
/// job, the pod's workload, the node), then what names a service (`service`, `app`, …).
pub fn service_of(labels: &BTreeMap<String, String>) -> Option<String> {
    for k in ["deployment", "statefulset", "daemonset", "job_name", "cronjob"] {
        if let Some(v) = labels.get(k).filter(|v| !v.is_empty()) {
            return Some(v.clone());
        }
    }
    if let Some(p) = labels.get("pod").filter(|v| !v.is_empty()) {
        return Some(workload_of_pod(p));
    }
    for k in ["node", "service", "app", "app_kubernetes_io_name", "container"] {
        if let Some(v) = labels.get(k).filter(|v| !v.is_empty()) {
            return Some(v.clone());
        }
    }
    labels
        .get("instance")
        .map(|i| {
            i.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit())).map_or(i.as_str(), |(h, _)| h)
        })
        .or_else(|| labels.get("job").map(String::as_str))
        .map(str::to_string)
}

/// Convert one document with default options; returns the records and how many alerts were
/// left out (see [`import_with`] for the reasons).
pub fn import(doc: &Value) -> (Vec<Record>, usize) {
    let r = import_with(doc, &Options::default());
    let skipped = r.skipped.values().sum::<usize>() + r.bad_times.len();
    (r.records, skipped)
}

/// Convert one document.
pub fn import_with(doc: &Value, opts: &Options) -> Imported {
    let mut out =
        Imported { truncated: doc.get("truncatedAlerts").and_then(Value::as_u64).unwrap_or(0), ..Imported::default() };
    let read = |s: &str| super::parse_time(s, opts.assume_utc);
    for a in alerts(doc) {
        out.alerts += 1;
        let Some(name) = a.labels.get("alertname").filter(|n| !n.is_empty()).cloned() else {
            *out.skipped.entry("no alertname label").or_default() += 1;
            continue;
        };
        let starts = match (&a.starts, a.undated, opts.now) {
            (Some(s), _, _) => match read(s) {
                Ok(t) => t,
                Err(e) => {
                    out.bad_times.push((s.clone(), e));
                    continue;
                }
            },
            (None, true, Some(now)) => now,
            (None, true, None) => {
                *out.skipped.entry("no time (an investigation request: pass --now)").or_default() += 1;
                continue;
            }
            (None, false, _) => {
                *out.skipped.entry("no startsAt").or_default() += 1;
                continue;
            }
        };
        // Alertmanager writes the zero time (0001-01-01) for "not ended"; it is out of range.
        let ends = a.ends.as_deref().and_then(|s| read(s).ok()).filter(|t| *t > starts);
        let service = service_of(&a.labels);
        let namespace = a.labels.get("namespace").cloned();
        let rec = |at, status| Record::Alert {
            at,
            name: name.clone(),
            status,
            service: service.clone(),
            namespace: namespace.clone(),
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            fingerprint: a.fingerprint.clone(),
        };
        out.records.push(rec(starts, AlertStatus::Firing));
        if a.resolved
            && let Some(end) = ends
        {
            out.records.push(rec(end, AlertStatus::Resolved));
        } else if a.resolved {
            *out.skipped.entry("resolved without a readable endsAt (its firing kept)").or_default() += 1;
        }
    }
    out
}
