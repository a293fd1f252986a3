//! Alertmanager → alert records: webhook payloads (`{"alerts": [...]}`), the alert list of
//! `GET /api/v2/alerts` and the groups of `GET /api/v2/alerts/groups`.
//!
//! A firing alert becomes a `firing` record at `startsAt`; a resolved one also gets a
//! `resolved` record at `endsAt`. The service is read from the usual labels (`service`,
//! `deployment`, `app`, `container`, then the pod's workload), the namespace from
//! `namespace`.

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

fn alerts(doc: &Value) -> Vec<&Value> {
    match doc {
        Value::Object(o) if o.contains_key("alerts") => {
            o["alerts"].as_array().map(|a| a.iter().collect()).unwrap_or_default()
        }
        Value::Array(items) => items
            .iter()
            .flat_map(|i| match i.get("alerts").and_then(Value::as_array) {
                Some(group) => group.iter().collect::<Vec<_>>(),
                None => vec![i],
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect())
        .unwrap_or_default()
}

/// Which service an alert is about.
pub fn service_of(labels: &BTreeMap<String, String>) -> Option<String> {
    for k in ["service", "deployment", "statefulset", "daemonset", "app", "job_name"] {
        if let Some(v) = labels.get(k) {
            return Some(v.clone());
        }
    }
    labels
        .get("pod")
        .map(|p| workload_of_pod(p))
        .or_else(|| ["container", "instance", "job"].iter().find_map(|k| labels.get(*k).cloned()))
}

/// Convert one document; returns the records and how many alerts had no usable time.
pub fn import(doc: &Value) -> (Vec<Record>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for a in alerts(doc) {
        let labels = map(&a["labels"]);
        let annotations = map(&a["annotations"]);
        let Some(name) = labels.get("alertname").cloned() else {
            bad += 1;
            continue;
        };
        let Some(starts) = a["startsAt"].as_str().and_then(|s| Time::parse_rfc3339(s).ok()) else {
            bad += 1;
            continue;
        };
        // Alertmanager writes the zero time (0001-01-01) for "not ended".
        let ends =
            a["endsAt"].as_str().and_then(|s| Time::parse_rfc3339(s).ok()).filter(|t| t.nanos() > 0 && *t > starts);
        let resolved = a["status"].as_str() == Some("resolved")
            || a.pointer("/status/state").and_then(Value::as_str) == Some("resolved");
        let service = service_of(&labels);
        let namespace = labels.get("namespace").cloned();
        let fingerprint = a["fingerprint"].as_str().map(str::to_string);
        let rec = |at, status| Record::Alert {
            at,
            name: name.clone(),
            status,
            service: service.clone(),
            namespace: namespace.clone(),
            labels: labels.clone(),
            annotations: annotations.clone(),
            fingerprint: fingerprint.clone(),
        };
        out.push(rec(starts, AlertStatus::Firing));
        if resolved && let Some(end) = ends {
            out.push(rec(end, AlertStatus::Resolved));
        }
    }
    (out, bad)
}
