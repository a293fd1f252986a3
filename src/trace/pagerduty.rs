//! The paging system's history → `page` records: when each incident was triggered,
//! acknowledged and resolved, and by whom. This is the human baseline's timing (page → ack →
//! resolution) as the team's own paging system measured it.
//!
//! Reads a PagerDuty export in the shapes teams have:
//! - the REST API's `GET /incidents` (`{"incidents": […]}`), one `{"incident": {…}}`, or a bare
//!   array of incidents: `created_at`, `acknowledgements[].at` and `.acknowledger.summary`,
//!   `resolved_at` (or, for a resolved incident without it, `last_status_change_at` and
//!   `last_status_change_by`), `service.summary`;
//! - the Analytics API's raw incidents (`{"data": […]}`) and the incidents CSV report:
//!   `created_at`/`created_on`, `seconds_to_first_ack`, `seconds_to_resolve` or
//!   `resolved_at`/`resolved_on`, `service_name`, `acknowledged_by_user_names`,
//!   `resolved_by_user_name`, `auto_resolved`.
//!
//! CSV headers are matched case-insensitively with spaces and dashes read as `_` (`Created On`
//! is `created_on`). Service names are the paging system's (`Checkout API`), which rarely are
//! the cluster's: the importer lists them, and `--service 'Checkout API=checkout'` renames.
//! Must not: guess a time, or drop an incident without saying why.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{PageEvent, Record};
use crate::clock::Time;

/// What one export gave.
#[derive(Debug, Default)]
pub struct Imported {
    pub records: Vec<Record>,
    /// Incidents read.
    pub incidents: usize,
    /// Paging-system service → incidents (for the summary and `--service`).
    pub services: BTreeMap<String, usize>,
    /// Items left out, by reason.
    pub skipped: BTreeMap<String, usize>,
}

/// The field of `v` at the first of `names` that holds something (a string, a number, or an
/// object's `summary`/`name`), as text.
fn text(v: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        let f = v.get(*n)?;
        let s = match f {
            Value::String(s) => s.trim().to_string(),
            Value::Number(x) => x.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Object(_) => return text(f, &["summary", "name", "email"]),
            _ => return None,
        };
        (!s.is_empty()).then_some(s)
    })
}

/// A number of seconds at the first of `names`.
fn seconds(v: &Value, names: &[&str]) -> Result<Option<f64>, String> {
    let Some(s) = text(v, names) else { return Ok(None) };
    match s.parse::<f64>() {
        Ok(x) if (0.0..1e10).contains(&x) => Ok(Some(x)),
        Ok(x) if x >= 1e10 => Err(format!("`{s}` seconds is over 300 years: not a delay")),
        _ => Err(format!("`{s}` is not a number of seconds (at least 0)")),
    }
}

fn after(at: Time, secs: f64) -> Result<Time, String> {
    at.0.checked_add((secs * 1e9).round() as i64)
        .map(Time)
        .ok_or_else(|| format!("{secs} s after {} is past the times understudy can represent (2262)", at.to_rfc3339()))
}

/// The first name of a list such as `Ann Lee, Bo Chen` or `["Ann Lee"]`.
fn first_name(v: &Value, names: &[&str]) -> Option<String> {
    for n in names {
        match v.get(*n) {
            Some(Value::Array(a)) => {
                if let Some(s) = a.iter().find_map(|x| x.as_str().map(str::to_string).or_else(|| text(x, &["summary"])))
                {
                    return Some(s);
                }
            }
            Some(_) => {
                if let Some(s) = text(v, &[n]) {
                    return s.split([',', ';']).map(str::trim).find(|s| !s.is_empty()).map(str::to_string);
                }
            }
            None => {}
        }
    }
    None
}

/// Whether `v` looks like an incident of a paging system.
fn is_incident(v: &Value) -> bool {
    v.is_object()
        && ["created_at", "created_on", "triggered_at"].iter().any(|k| v.get(*k).is_some())
        && ["id", "incident_number", "incident_id", "number"].iter().any(|k| v.get(*k).is_some())
}

impl Imported {
    /// One incident → its triggered, acknowledged and resolved records (time order).
    fn incident(&mut self, v: &Value, assume_utc: bool) -> Result<(), String> {
        let id = text(v, &["id", "incident_id", "incident_number", "number"]).ok_or("no id")?;
        let created = text(v, &["created_at", "created_on", "triggered_at"]).ok_or("no created_at")?;
        let at = super::faults::time_of(&created, assume_utc)?;
        let Some(service) = text(v, &["service", "service_name"]) else {
            *self.skipped.entry("incidents without a service".into()).or_default() += 1;
            return Ok(());
        };
        let title = text(v, &["title", "description", "summary"]);
        let record = |at: Time, event: PageEvent, by: Option<String>| Record::Page {
            at,
            service: service.clone(),
            namespace: None,
            event,
            incident: id.clone(),
            by,
            title: title.clone(),
        };
        let mut out = vec![record(at, PageEvent::Triggered, None)];
        // Acknowledgements: each one (REST), or the first from its delay (Analytics, CSV).
        let mut acked = false;
        if let Some(acks) = v.get("acknowledgements").and_then(Value::as_array) {
            for a in acks {
                let Some(t) = text(a, &["at"]) else {
                    *self.skipped.entry("acknowledgements without a time".into()).or_default() += 1;
                    continue;
                };
                let t = super::faults::time_of(&t, assume_utc)?;
                out.push(record(t, PageEvent::Acknowledged, text(a, &["acknowledger"])));
                acked = true;
            }
        }
        if !acked {
            let by = first_name(v, &["acknowledged_by_user_names", "acknowledged_by", "acknowledged_by_user_name"]);
            if let Some(t) = text(v, &["acknowledged_at", "first_acknowledged_at", "acknowledged_on"]) {
                out.push(record(super::faults::time_of(&t, assume_utc)?, PageEvent::Acknowledged, by));
            } else if let Some(s) = seconds(v, &["seconds_to_first_ack", "seconds_to_ack", "time_to_ack"])? {
                out.push(record(after(at, s)?, PageEvent::Acknowledged, by));
            } else if text(v, &["status"]).as_deref() == Some("acknowledged") || by.is_some() {
                // REST empties `acknowledgements` in some states; the time is not in the export.
                *self.skipped.entry("acknowledgements without a time".into()).or_default() += 1;
            }
        }
        let auto = text(v, &["auto_resolved"]).is_some_and(|s| s.eq_ignore_ascii_case("true"));
        let mut resolver = first_name(v, &["resolved_by_user_name", "resolved_by", "resolved_by_user_names"])
            .or_else(|| auto.then(|| "auto-resolved".to_string()));
        let status = text(v, &["status"]).unwrap_or_default();
        let resolved = if let Some(t) = text(v, &["resolved_at", "resolved_on"]) {
            Some(super::faults::time_of(&t, assume_utc)?)
        } else if let Some(s) = seconds(v, &["seconds_to_resolve", "time_to_resolve"])? {
            Some(after(at, s)?)
        } else if status == "resolved" {
            resolver = resolver.or_else(|| text(v, &["last_status_change_by"]));
            let t = text(v, &["last_status_change_at"])
                .ok_or("resolved, but says neither resolved_at nor last_status_change_at")?;
            Some(super::faults::time_of(&t, assume_utc)?)
        } else {
            if resolver.is_some() {
                *self.skipped.entry("resolutions without a time".into()).or_default() += 1;
            }
            None
        };
        if let Some(t) = resolved {
            out.push(record(t, PageEvent::Resolved, resolver));
        }
        if let Some(r) = out.iter().skip(1).find(|r| r.at() < at) {
            return Err(format!(
                "incident {id} is {} at {}, before it was triggered ({})",
                match r {
                    Record::Page { event, .. } => event.as_str(),
                    _ => "",
                },
                r.at().to_rfc3339(),
                at.to_rfc3339()
            ));
        }
        out.sort_by_key(Record::at);
        let time_of =
            |e: PageEvent| out.iter().find(|r| matches!(r, Record::Page { event, .. } if *event == e)).map(Record::at);
        if let (Some(a), Some(r)) = (time_of(PageEvent::Acknowledged), time_of(PageEvent::Resolved))
            && a > r
        {
            return Err(format!(
                "incident {id} is acknowledged at {}, after it was resolved ({})",
                a.to_rfc3339(),
                r.to_rfc3339()
            ));
        }
        self.incidents += 1;
        *self.services.entry(service.clone()).or_default() += 1;
        self.records.append(&mut out);
        Ok(())
    }
}

/// Read an export: JSON (REST `/incidents`, one incident, an array, Analytics `data`) or the
/// CSV report. An error carries the 1-based line (CSV) or the incident's number in the list
/// (JSON) and what was wrong.
pub fn read(text_in: &str, assume_utc: bool) -> Result<Imported, (usize, String)> {
    let mut got = Imported::default();
    let trimmed = text_in.trim_start();
    if trimmed.starts_with(['{', '[']) {
        let doc: Value = serde_json::from_str(text_in).map_err(|e| (e.line(), format!("not valid JSON: {e}")))?;
        let list: Vec<&Value> = match &doc {
            Value::Array(a) => a.iter().collect(),
            Value::Object(o) => {
                match ["incidents", "data", "items"].iter().find_map(|k| o.get(*k).and_then(Value::as_array)) {
                    Some(a) => a.iter().collect(),
                    None => o.get("incident").map_or_else(|| vec![&doc], |i| vec![i]),
                }
            }
            _ => Vec::new(),
        };
        for (i, v) in list.into_iter().enumerate() {
            if !is_incident(v) {
                *got.skipped.entry("entries that are not incidents (no id and created_at)".into()).or_default() += 1;
                continue;
            }
            got.incident(v, assume_utc).map_err(|e| {
                // The line of the incident's id (the JSON reader keeps no positions).
                let id = text(v, &["id", "incident_id", "incident_number", "number"]).unwrap_or_default();
                let line = [format!("\"{id}\""), format!(": {id}")]
                    .iter()
                    .find_map(|n| super::sources::locate(text_in, n))
                    .map_or(i + 1, |p| p.line);
                (line, format!("incident {} in the list: {e}", i + 1))
            })?;
        }
        return Ok(got);
    }
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(text_in.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| (1, format!("{e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase().replace([' ', '-'], "_"))
        .collect();
    for (k, h) in headers.iter().enumerate() {
        if headers[..k].contains(h) {
            return Err((1, format!("two columns are `{h}`: which one holds the data?")));
        }
    }
    for (i, r) in rdr.records().enumerate() {
        let r = r.map_err(|e| (e.position().map_or(i + 2, |p| p.line() as usize), format!("{e}")))?;
        let line = r.position().map_or(i + 2, |p| p.line() as usize);
        let row = Value::Object(
            headers
                .iter()
                .zip(r.iter())
                .filter(|(_, v)| !v.is_empty())
                .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
                .collect(),
        );
        if !is_incident(&row) {
            *got.skipped.entry("rows without an incident id and created time".into()).or_default() += 1;
            continue;
        }
        got.incident(&row, assume_utc).map_err(|e| (line, e))?;
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(r: &[Record]) -> Vec<(String, &'static str, Option<String>)> {
        r.iter()
            .map(|r| match r {
                Record::Page { at, event, by, .. } => (at.to_rfc3339(), event.as_str(), by.clone()),
                o => panic!("{o:?}"),
            })
            .collect()
    }

    #[test]
    fn rest_incidents_give_trigger_ack_and_resolution_with_who() {
        let json = r#"{"incidents":[{"id":"PT4KHLK","incident_number":1234,"title":"The server is on fire.",
          "created_at":"2015-10-06T21:30:42Z","status":"resolved",
          "service":{"id":"PIJ90N7","type":"service_reference","summary":"My Mail Service"},
          "acknowledgements":[{"at":"2015-10-06T21:32:52Z","acknowledger":{"summary":"Earline Greenholt"}}],
          "last_status_change_at":"2015-10-06T21:38:23Z","last_status_change_by":{"summary":"Earline Greenholt"}},
          {"id":"Q1","created_at":"2015-10-07T01:00:00Z","status":"triggered","service":{"summary":"Web"}}],
          "limit":25,"more":false}"#;
        let got = read(json, false).unwrap();
        assert_eq!(got.incidents, 2);
        assert_eq!(
            events(&got.records),
            vec![
                ("2015-10-06T21:30:42Z".into(), "triggered", None),
                ("2015-10-06T21:32:52Z".into(), "acknowledged", Some("Earline Greenholt".into())),
                ("2015-10-06T21:38:23Z".into(), "resolved", Some("Earline Greenholt".into())),
                ("2015-10-07T01:00:00Z".into(), "triggered", None),
            ]
        );
        assert_eq!(got.services.get("My Mail Service"), Some(&1));
    }

    #[test]
    fn the_csv_report_reads_delays_and_names() {
        let csv = "Incident Number,Description,Service Name,Created On,Seconds To First Ack,Seconds To Resolve,Acknowledged By User Names,Resolved By User Name,Auto Resolved\n\
                   7,disk full,checkout,2026-11-24T10:00:00Z,120,900,\"Ann Lee, Bo Chen\",Ann Lee,false\n\
                   8,flap,checkout,2026-11-24T11:00:00+01:00,,60,,,true\n";
        let got = read(csv, false).unwrap();
        assert_eq!(
            events(&got.records),
            vec![
                ("2026-11-24T10:00:00Z".into(), "triggered", None),
                ("2026-11-24T10:02:00Z".into(), "acknowledged", Some("Ann Lee".into())),
                ("2026-11-24T10:15:00Z".into(), "resolved", Some("Ann Lee".into())),
                ("2026-11-24T10:00:00Z".into(), "triggered", None),
                ("2026-11-24T10:01:00Z".into(), "resolved", Some("auto-resolved".into())),
            ]
        );
    }

    #[test]
    fn bad_rows_are_located_and_nothing_is_guessed() {
        let e = read("id,service_name,created_on\n1,web,2026-11-24 10:00:00\n", false).unwrap_err();
        assert_eq!(e.0, 2);
        assert!(e.1.contains("no time zone"), "{}", e.1);
        let e = read(
            r#"[{"id":"A","created_at":"2026-11-24T10:00:00Z","service":{"summary":"w"},"resolved_at":"2026-11-24T09:00:00Z"}]"#,
            false,
        )
        .unwrap_err();
        assert!(e.1.contains("before it was triggered"), "{}", e.1);
        let e =
            read("id,service_name,created_on,seconds_to_resolve\n1,web,2026-11-24T10:00:00Z,-5\n", false).unwrap_err();
        assert!(e.1.contains("not a number of seconds"), "{}", e.1);
        let got = read(r#"[{"id":"A","created_at":"2026-11-24T10:00:00Z"},{"foo":1}]"#, false).unwrap();
        assert_eq!(got.incidents, 0);
        assert_eq!(got.skipped.values().sum::<usize>(), 2);
    }
}
