//! Ground truth from a fault list → `truth` records: what was injected (or found in a
//! postmortem), where, from when to when. Fault-injection datasets ship one as JSON, JSON
//! Lines or CSV; field names vary, so each is found among its usual names, case-insensitively:
//!
//! | field | names |
//! |---|---|
//! | start | `start`, `start_time`, `begin`, `at`, `inject_time`, `injected_at`, `timestamp`, `time` |
//! | end | `end`, `end_time`, `recover_time`, `recovered_at`, `stop` (or a `duration`: seconds or `5m`) |
//! | where | `service`, `svc`, `target`, `component`, `app`, or `pod` (its workload) |
//! | namespace | `namespace`, `ns` (default `default`) |
//! | type | `type`, `fault`, `fault_type`, `incident_type`, `kind`, `chaos_type`, `root_cause` |
//!
//! Types are renamed with `--type FROM=TO` (`cpu=cpu-spike`) so they compare with the
//! classifier's labels. A row missing its start, its place or its type is an error with its
//! line; nothing is skipped silently.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Record, workload_of_pod};
use crate::clock::{Time, parse_duration};

const START: &[&str] = &["start", "start_time", "begin", "at", "inject_time", "injected_at", "timestamp", "time"];
const END: &[&str] = &["end", "end_time", "recover_time", "recovered_at", "stop"];
const WHERE: &[&str] = &["service", "svc", "target", "component", "app"];
const TYPE: &[&str] = &["type", "fault", "fault_type", "incident_type", "kind", "chaos_type", "root_cause"];

/// One row, by lowercased field name → text.
type Row = BTreeMap<String, String>;

fn pick<'r>(row: &'r Row, names: &[&str]) -> Option<&'r str> {
    names.iter().find_map(|n| row.get(*n).map(String::as_str).filter(|s| !s.trim().is_empty()))
}

pub(super) fn time_of(s: &str, assume_utc: bool) -> Result<Time, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.abs() < 1e11 => Ok(Time((x * 1e3).round() as i64 * 1_000_000)),
        Ok(x) if x.abs() < 1e14 => Ok(Time(x.round() as i64 * 1_000_000)),
        Ok(_) => Err(format!("`{s}` is not a Unix time in seconds or milliseconds")),
        Err(_) => super::parse_time(s, assume_utc),
    }
}

/// One fault row → a truth record.
fn truth(row: &Row, types: &[(String, String)], assume_utc: bool) -> Result<Record, String> {
    let start = pick(row, START).ok_or_else(|| format!("no start time (looked for {})", START.join(", ")))?;
    let at = time_of(start, assume_utc)?;
    let end = match (pick(row, END), row.get("duration").filter(|d| !d.trim().is_empty())) {
        (Some(e), _) => Some(time_of(e, assume_utc)?),
        (None, Some(d)) => {
            let d = d.trim();
            let dur = match d.parse::<f64>() {
                Ok(secs) if secs.is_finite() && secs >= 0.0 => {
                    std::time::Duration::try_from_secs_f64(secs).map_err(|_| format!("duration `{d}` is too long"))?
                }
                Ok(_) => return Err(format!("duration `{d}` must be a number of seconds at least 0, or e.g. 5m")),
                Err(_) => parse_duration(d).map_err(|e| format!("duration `{d}`: {e}"))?,
            };
            let end = i64::try_from(dur.as_nanos()).ok().and_then(|n| at.0.checked_add(n));
            Some(Time(
                end.ok_or_else(|| format!("duration `{d}` ends past the times understudy can represent (2262)"))?,
            ))
        }
        (None, None) => None,
    };
    if end.is_some_and(|e| e < at) {
        return Err("the fault ends before it starts".into());
    }
    let service = match (pick(row, WHERE), pick(row, &["pod"])) {
        (Some(s), _) => s.to_string(),
        (None, Some(p)) => workload_of_pod(p),
        (None, None) => return Err(format!("no service or pod (looked for {}, pod)", WHERE.join(", "))),
    };
    let ty = pick(row, TYPE).ok_or_else(|| format!("no fault type (looked for {})", TYPE.join(", ")))?;
    let ty = types.iter().find(|(f, _)| f.eq_ignore_ascii_case(ty)).map_or(ty, |(_, t)| t.as_str());
    Ok(Record::Truth {
        at,
        end,
        service,
        namespace: pick(row, &["namespace", "ns"]).unwrap_or("default").to_string(),
        incident_type: ty.to_string(),
        incident: None,
    })
}

fn row_of(v: &Value) -> Option<Row> {
    v.as_object().map(|o| {
        o.iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
            .filter(|(_, v)| v != "null")
            .collect()
    })
}

/// Read a fault list: JSON (an array, or an object holding one under `faults`, `items`,
/// `data` or `injections`), JSON Lines, or CSV. Errors carry the 1-based line (JSON Lines,
/// CSV) or entry number (JSON) and what was wrong.
pub fn read(text: &str, types: &[(String, String)], assume_utc: bool) -> Result<Vec<Record>, (usize, String)> {
    let trimmed = text.trim_start();
    let rows: Vec<(usize, Row)> =
        if trimmed.starts_with('[') || (trimmed.starts_with('{') && serde_json::from_str::<Value>(text).is_ok()) {
            let doc: Value = serde_json::from_str(text).map_err(|e| (e.line(), format!("not valid JSON: {e}")))?;
            let list = match &doc {
                Value::Array(a) => a.clone(),
                Value::Object(o) => ["faults", "items", "data", "injections"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(Value::as_array).cloned())
                    .unwrap_or_else(|| vec![doc.clone()]),
                _ => Vec::new(),
            };
            list.iter().enumerate().filter_map(|(i, v)| row_of(v).map(|r| (i + 1, r))).collect()
        } else if trimmed.starts_with('{') {
            let mut rows = Vec::new();
            for (i, l) in text.lines().enumerate() {
                if l.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(l).map_err(|e| (i + 1, format!("not valid JSON: {e}")))?;
                rows.push((i + 1, row_of(&v).ok_or((i + 1, "not a JSON object".to_string()))?));
            }
            rows
        } else {
            let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
            let headers: Vec<String> =
                rdr.headers().map_err(|e| (1, format!("{e}")))?.iter().map(str::to_ascii_lowercase).collect();
            for (k, h) in headers.iter().enumerate() {
                if headers[..k].contains(h) {
                    return Err((1, format!("two columns are `{h}`: which one holds the data?")));
                }
            }
            let mut rows = Vec::new();
            for (i, r) in rdr.records().enumerate() {
                let r = r.map_err(|e| (i + 2, format!("{e}")))?;
                rows.push((i + 2, headers.iter().cloned().zip(r.iter().map(str::to_string)).collect()));
            }
            rows
        };
    if rows.is_empty() {
        return Err((1, "no faults in the list".into()));
    }
    rows.iter().map(|(line, r)| truth(r, types, assume_utc).map_err(|e| (*line, e))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_lists_in_their_usual_shapes() {
        let types = [("cpu".to_string(), "cpu-spike".to_string())];
        let csv = "Service,Fault,Inject_Time,Duration\ncarts,cpu,1700000000,300\norders,mem,2026-11-24T10:00:00Z,5m\n";
        let r = read(csv, &types, false).unwrap();
        assert_eq!(r.len(), 2);
        match &r[0] {
            Record::Truth { service, incident_type, at, end, .. } => {
                assert_eq!((service.as_str(), incident_type.as_str()), ("carts", "cpu-spike"));
                assert_eq!(end.unwrap().since(*at).as_secs(), 300);
            }
            o => panic!("{o:?}"),
        }
        let json = r#"{"faults":[{"pod":"web-7d9f8b6c5-x2x4z","type":"memory-leak","start":"2026-11-24T10:00:00Z","end":"2026-11-24T10:30:00Z"}]}"#;
        assert!(matches!(&read(json, &[], false).unwrap()[0], Record::Truth { service, .. } if service == "web"));
        let e = read("service,type\ncarts,cpu\n", &[], false).unwrap_err();
        assert_eq!(e.0, 2);
        assert!(e.1.contains("no start time"), "{}", e.1);
        let e = read("{\"service\":\"a\",\"type\":\"x\",\"start\":\"2026-11-24T10:00:00\"}\n", &[], false).unwrap_err();
        assert!(e.1.contains("no time zone"), "{}", e.1);
    }
}
