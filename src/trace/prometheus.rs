//! Prometheus series → signal records: `query_range` JSON (`resultType: matrix`, also when
//! wrapped by a tool that prints header lines first) and CSV (`time,value` plus label
//! columns such as `name`, `service`, `namespace`, `pod`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Record, workload_of_pod};
use crate::clock::Time;

/// Unix seconds → time, at Prometheus' millisecond precision (so float noise such as
/// `.051000064` does not leak into traces).
fn secs_to_time(s: f64) -> Option<Time> {
    // i64 nanoseconds reach 2262-04-11; past that (or before 1677) there is no such time here.
    (s.is_finite() && s.abs() < 9.2e9).then(|| Time((s * 1e3).round() as i64 * 1_000_000))
}

/// The error for a timestamp no `Time` can hold.
fn out_of_range(what: &str) -> String {
    format!("timestamp `{what}` is outside the times understudy can represent (1677-09-21 to 2262-04-11)")
}

fn service_and_namespace(labels: &BTreeMap<String, String>) -> (String, String) {
    let svc = ["service", "deployment", "app"]
        .iter()
        .find_map(|k| labels.get(*k).cloned())
        .or_else(|| labels.get("pod").map(|p| workload_of_pod(p)))
        .or_else(|| ["container", "job", "instance"].iter().find_map(|k| labels.get(*k).cloned()))
        .unwrap_or_else(|| "unknown".into());
    (svc, labels.get("namespace").cloned().unwrap_or_else(|| "default".into()))
}

/// Find the query_range object in `text`: the whole text, or the first line (or the rest of
/// the text from a line) that parses as one.
fn matrix_doc(text: &str) -> Option<Value> {
    let is_matrix = |v: &Value| v.pointer("/data/resultType").and_then(Value::as_str) == Some("matrix");
    if let Ok(v) = serde_json::from_str::<Value>(text)
        && is_matrix(&v)
    {
        return Some(v);
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Ok(v) = serde_json::from_str::<Value>(&text[offset..])
            && is_matrix(&v)
        {
            return Some(v);
        }
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && is_matrix(&v)
        {
            return Some(v);
        }
        offset += line.len();
    }
    None
}

/// What the text holds instead of a query_range matrix, in words.
fn not_a_matrix(text: &str) -> String {
    const WANT: &str =
        "expected a query_range response: {\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[…]}}";
    let doc = match serde_json::from_str::<Value>(text) {
        Ok(v) => v,
        Err(e) if text.trim_start().starts_with(['{', '[']) => {
            return format!("not JSON: {e}");
        }
        Err(_) => return format!("neither JSON nor CSV with `time` and `value` columns; {WANT}"),
    };
    match &doc {
        Value::Object(o) if o.get("status").and_then(Value::as_str) == Some("error") => format!(
            "the query failed: {}: {}",
            o.get("errorType").and_then(Value::as_str).unwrap_or("error"),
            o.get("error").and_then(Value::as_str).unwrap_or("(no message)")
        ),
        Value::Object(o) => match doc.pointer("/data/resultType").and_then(Value::as_str) {
            Some(t @ ("vector" | "scalar" | "string")) => format!(
                "resultType is `{t}` (an instant query, /api/v1/query); a trace needs series over time: export with /api/v1/query_range"
            ),
            Some(t) => format!("resultType is `{t}`, not `matrix`"),
            None => format!(
                "found an object with {}; {WANT}",
                if o.is_empty() {
                    "no keys".to_string()
                } else {
                    format!("keys {}", o.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
                }
            ),
        },
        Value::Array(_) => format!("found a JSON list; {WANT}"),
        other => format!("found a JSON {}; {WANT}", if other.is_string() { "string" } else { "number or literal" }),
    }
}

/// Convert a query_range response. `name` names the signal (default: `__name__`, else
/// `series`). Points whose value is not a number (`NaN` is kept as Prometheus sends it) are
/// counted as skipped.
pub fn import_matrix(text: &str, name: Option<&str>) -> Result<(Vec<Record>, usize), String> {
    let doc = matrix_doc(text).ok_or_else(|| not_a_matrix(text))?;
    match doc["status"].as_str() {
        // Prometheus always says; a tool that strips the envelope's status leaves the data.
        None | Some("success") => {}
        Some(other) => return Err(format!("the response's status is `{other}`, not `success`")),
    }
    if !doc.pointer("/data/result").is_some_and(Value::is_array) {
        return Err("`data.result` is not a list of series".into());
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    for series in doc.pointer("/data/result").and_then(Value::as_array).into_iter().flatten() {
        let labels: BTreeMap<String, String> = series["metric"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        let metric =
            name.map(str::to_string).or_else(|| labels.get("__name__").cloned()).unwrap_or_else(|| "series".into());
        let (service, namespace) = service_and_namespace(&labels);
        for p in series["values"].as_array().into_iter().flatten() {
            let raw_t = p.get(0).and_then(Value::as_f64);
            if let Some(s) = raw_t
                && secs_to_time(s).is_none()
            {
                return Err(out_of_range(&p[0].to_string()));
            }
            let t = raw_t.and_then(secs_to_time);
            let v = p.get(1).and_then(Value::as_str).and_then(|s| s.parse::<f64>().ok());
            match (t, v) {
                (Some(at), Some(value)) if value.is_finite() => out.push(Record::Signal {
                    at,
                    service: service.clone(),
                    namespace: namespace.clone(),
                    name: metric.clone(),
                    value,
                    labels: labels
                        .iter()
                        .filter(|(k, _)| *k != "__name__")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                }),
                _ => skipped += 1,
            }
        }
    }
    Ok((out, skipped))
}

/// Convert CSV with a header: `time` (RFC 3339 or Unix seconds) and `value` columns; `name`,
/// `service` and `namespace` when present; every other column becomes a label. Errors name
/// the line.
/// Rows whose value is not finite (`NaN`, `+Inf`) are counted as skipped, as in JSON.
pub fn import_csv(text: &str, name: Option<&str>) -> Result<(Vec<Record>, usize), String> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| format!("line 1: {e}"))?.clone();
    let col = |n: &str| headers.iter().position(|h| h == n);
    let (t_col, v_col) = match (col("time").or_else(|| col("timestamp")), col("value")) {
        (Some(t), Some(v)) => (t, v),
        _ => return Err("line 1: the header needs `time` (or `timestamp`) and `value` columns".into()),
    };
    let mut out = Vec::new();
    let mut skipped = 0;
    for (i, row) in rdr.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| format!("line {line}: {e}"))?;
        let t = &row[t_col];
        let at = match (Time::parse_rfc3339(t), t.parse::<f64>()) {
            (Ok(at), _) => at,
            (Err(_), Ok(s)) => secs_to_time(s).ok_or_else(|| format!("line {line}: {}", out_of_range(t)))?,
            // A date that parses but cannot be held says so, not that it is no date.
            (Err(e), _) if e.contains("outside the times") => return Err(format!("line {line}: {e}")),
            (Err(_), _) => return Err(format!("line {line}: `{t}` is neither RFC 3339 nor Unix seconds")),
        };
        let value: f64 =
            row[v_col].parse().map_err(|_| format!("line {line}: value `{}` is not a number", &row[v_col]))?;
        if !value.is_finite() {
            skipped += 1;
            continue;
        }
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        for (k, h) in headers.iter().enumerate() {
            if k != t_col && k != v_col {
                labels.insert(h.to_string(), row[k].to_string());
            }
        }
        let metric = name.map(str::to_string).or_else(|| labels.remove("name")).unwrap_or_else(|| "series".into());
        let (service, namespace) = service_and_namespace(&labels);
        labels.remove("service");
        labels.remove("namespace");
        out.push(Record::Signal { at, service, namespace, name: metric, value, labels });
    }
    Ok((out, skipped))
}
