//! Metric tables → signal records: the CSVs fault-injection datasets and dashboards export,
//! long (`time, service, metric, value` per row) or wide (a time column, then one column per
//! service × metric such as `carts_cpu`, `front-end_latency-90`), read through a column map.
//!
//! Owns the map (which column is time and in what format, which are service, pod, metric and
//! value, how wide headers split, how metrics are renamed and scaled) and reading a table
//! with it, streaming row by row. Headers match case-insensitively. A time without a zone is
//! an error with its line unless `assume_utc`; a cell that is not a number is an error with
//! its line and column name; an empty cell is counted as skipped, never dropped unsaid.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::Record;
use crate::clock::Time;
use crate::diag::{Code, Diagnostic, Pos};
use crate::yaml::{self, Problem, Seg, at};

/// How times are written.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeFormat {
    /// RFC 3339, or a number: Unix seconds, milliseconds, microseconds or nanoseconds by size.
    Auto,
    Rfc3339,
    EpochSeconds,
    EpochMillis,
    /// A strftime pattern (`%Y-%m-%d %H:%M:%S`); with `%z` it carries its zone.
    Pattern(String),
}

/// The column map (`--map FILE`, or flags for the common cases).
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    /// The time column; `None`: the first of time, timestamp, ts, datetime, date.
    pub time: Option<String>,
    pub time_format: TimeFormat,
    /// Long tables: the columns holding the service, the metric's name and its value.
    pub service: Option<String>,
    pub metric: Option<String>,
    pub value: Option<String>,
    /// A column naming the pod (its workload is the service when there is no service column).
    pub pod: Option<String>,
    pub namespace: String,
    /// Wide tables: headers are `<service><separator><metric>`, split at the first separator
    /// (Kubernetes names cannot hold `_`, the default).
    pub separator: String,
    /// Metric renames (`mem: memory_working_set_bytes`), after splitting.
    pub rename: BTreeMap<String, String>,
    /// Unit scaling per metric name (after renaming): the value is multiplied by it.
    pub scale: BTreeMap<String, f64>,
}

impl Default for Map {
    fn default() -> Self {
        Map {
            time: None,
            time_format: TimeFormat::Auto,
            service: None,
            metric: None,
            value: None,
            pod: None,
            namespace: "default".into(),
            separator: "_".into(),
            rename: BTreeMap::new(),
            scale: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    time: Option<String>,
    time_format: Option<String>,
    service: Option<String>,
    metric: Option<String>,
    value: Option<String>,
    pod: Option<String>,
    namespace: Option<String>,
    separator: Option<String>,
    #[serde(default)]
    rename: BTreeMap<String, String>,
    #[serde(default)]
    scale: BTreeMap<String, f64>,
}

/// `auto`, `rfc3339`, `epoch-seconds` (`unix`), `epoch-ms`, or a strftime pattern.
pub fn time_format(s: &str) -> Result<TimeFormat, String> {
    Ok(match s {
        "auto" => TimeFormat::Auto,
        "rfc3339" => TimeFormat::Rfc3339,
        "epoch-seconds" | "epoch" | "unix" => TimeFormat::EpochSeconds,
        "epoch-ms" | "epoch-millis" => TimeFormat::EpochMillis,
        p if p.contains('%') => {
            // chrono reports a bad pattern only when parsing; try it on nothing.
            if chrono::format::StrftimeItems::new(p).any(|i| matches!(i, chrono::format::Item::Error)) {
                return Err(format!("`{p}` is not a strftime pattern"));
            }
            TimeFormat::Pattern(p.to_string())
        }
        other => {
            return Err(format!(
                "`{other}` is not a time format: write auto, rfc3339, epoch-seconds, epoch-ms or a strftime pattern such as \"%Y-%m-%d %H:%M:%S\""
            ));
        }
    })
}

fn validate(raw: &RawMap) -> (Option<Map>, Vec<Problem>) {
    let mut v = Vec::new();
    let mut m = Map::default();
    m.time.clone_from(&raw.time);
    if let Some(f) = &raw.time_format {
        match time_format(f) {
            Ok(f) => m.time_format = f,
            Err(e) => v.push(Problem::error(vec![Seg::key("time_format")], Code::BadValue, e)),
        }
    }
    m.service.clone_from(&raw.service);
    m.metric.clone_from(&raw.metric);
    m.value.clone_from(&raw.value);
    m.pod.clone_from(&raw.pod);
    if let Some(ns) = &raw.namespace {
        m.namespace.clone_from(ns);
    }
    if let Some(s) = &raw.separator {
        if s.is_empty() {
            v.push(Problem::error(vec![Seg::key("separator")], Code::BadValue, "the separator is empty"));
        }
        m.separator.clone_from(s);
    }
    if raw.metric.is_some() != raw.value.is_some() {
        v.push(Problem::error(
            vec![Seg::key(if raw.metric.is_some() { "value" } else { "metric" })],
            Code::MissingField,
            "a long table names both its `metric` and its `value` column",
        ));
    }
    for (k, f) in &raw.scale {
        if !(f.is_finite() && *f != 0.0) {
            v.push(Problem::error(
                at(&[Seg::key("scale")], k),
                Code::BadValue,
                format!("scale {f} must be a finite number other than 0"),
            ));
        }
    }
    m.rename.clone_from(&raw.rename);
    m.scale.clone_from(&raw.scale);
    let ok = v.iter().all(|p| p.warning);
    (ok.then_some(m), v)
}

impl Map {
    pub fn load(path: &Path) -> Result<Map, crate::diag::Report> {
        crate::diag::load_with(path, |p, t| {
            yaml::load_validated(p, t, "a column map (`time:`, `separator:`, …)", validate).map(|(m, _)| m)
        })
    }
}

/// What a table gave.
#[derive(Debug, Default)]
pub struct Table {
    pub records: Vec<Record>,
    /// Cells left out, by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Wide columns and what they were read as: (header, service, metric).
    pub columns: Vec<(String, String, String)>,
}

fn number_time(x: f64, f: &TimeFormat) -> Option<Time> {
    let secs = match f {
        TimeFormat::EpochSeconds => x,
        TimeFormat::EpochMillis => x / 1e3,
        // By magnitude: seconds until the year 5138, then ms, µs, ns.
        _ if x.abs() < 1e11 => x,
        _ if x.abs() < 1e14 => x / 1e3,
        _ if x.abs() < 1e17 => x / 1e6,
        _ => x / 1e9,
    };
    (secs.is_finite() && secs.abs() < 9.2e9).then(|| Time((secs * 1e6).round() as i64 * 1_000))
}

fn read_time(s: &str, f: &TimeFormat, assume_utc: bool) -> Result<Time, String> {
    let s = s.trim();
    match f {
        TimeFormat::Pattern(p) => {
            if let Ok(t) = chrono::DateTime::parse_from_str(s, p) {
                return t
                    .timestamp_nanos_opt()
                    .map(Time)
                    .ok_or_else(|| format!("`{s}` is outside the times understudy can represent"));
            }
            match chrono::NaiveDateTime::parse_from_str(s, p) {
                Ok(t) if assume_utc => {
                    t.and_utc().timestamp_nanos_opt().map(Time).ok_or_else(|| format!("`{s}` is out of range"))
                }
                Ok(_) => Err(format!("`{s}` has no time zone: use a pattern with %z, or pass --assume-utc")),
                Err(e) => Err(format!("`{s}` does not match the time format `{p}` ({e})")),
            }
        }
        TimeFormat::EpochSeconds | TimeFormat::EpochMillis => s
            .parse::<f64>()
            .ok()
            .and_then(|x| number_time(x, f))
            .ok_or_else(|| format!("`{s}` is not a Unix time in range")),
        TimeFormat::Rfc3339 => super::parse_time(s, assume_utc),
        TimeFormat::Auto => match s.parse::<f64>() {
            Ok(x) => number_time(x, f).ok_or_else(|| format!("`{s}` is outside the times understudy can represent")),
            Err(_) => super::parse_time(s, assume_utc),
        },
    }
}

/// Read a long or wide table with `map`. Errors name the line (and the column).
pub fn read(path: &Path, input: impl Read, map: &Map, assume_utc: bool) -> Result<Table, Diagnostic> {
    let err =
        |line: usize, col: usize, msg: String| Diagnostic::error(Code::BadValue, path, Some(Pos { line, col }), msg);
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(input);
    let headers = rdr.headers().map_err(|e| err(1, 1, format!("cannot read the header: {e}")))?.clone();
    let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    for (k, h) in headers.iter().enumerate() {
        if let Some(j) = headers.iter().take(k).position(|o| o.eq_ignore_ascii_case(h)) {
            return Err(err(
                1,
                k + 1,
                format!("columns {} and {} are both `{h}`: which one holds the data?", j + 1, k + 1),
            ));
        }
    }
    let need = |what: &str, name: &Option<String>| -> Result<Option<usize>, Diagnostic> {
        match name {
            None => Ok(None),
            Some(n) => find(n).map(Some).ok_or_else(|| {
                err(
                    1,
                    1,
                    format!(
                        "no `{n}` column for the {what} (the header has {})",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    ),
                )
            }),
        }
    };
    let t_col = match &map.time {
        Some(_) => need("time", &map.time)?.unwrap_or(0),
        None => ["time", "timestamp", "ts", "datetime", "date"].iter().find_map(|n| find(n)).ok_or_else(|| {
            err(
                1,
                1,
                "no time column: name it with --time-column (looked for time, timestamp, ts, datetime, date)".into(),
            )
        })?,
    };
    let s_col = need("service", &map.service)?.or_else(|| find("service"));
    let m_col = need("metric", &map.metric)?.or_else(|| {
        if find("value").is_some() { ["metric", "name", "__name__"].iter().find_map(|n| find(n)) } else { None }
    });
    let ns_col = find("namespace");
    let v_col = need("value", &map.value)?.or_else(|| if m_col.is_none() { None } else { find("value") });
    let p_col = need("pod", &map.pod)?.or_else(|| find("pod"));
    let long = m_col.is_some() || v_col.is_some() || find("value").is_some();
    let v_col = v_col.or_else(|| find("value"));
    let mut out = Table::default();
    // Wide: every other column is <service><sep><metric>.
    let mut wide: Vec<(usize, String, String, f64)> = Vec::new();
    if !long {
        for (k, h) in headers.iter().enumerate() {
            if k == t_col || Some(k) == p_col || Some(k) == s_col {
                continue;
            }
            match h.split_once(map.separator.as_str()) {
                Some((svc, metric)) if !svc.is_empty() && !metric.is_empty() => {
                    let metric = map.rename.get(metric).cloned().unwrap_or_else(|| metric.to_string());
                    let scale = map.scale.get(&metric).copied().unwrap_or(1.0);
                    out.columns.push((h.to_string(), svc.to_string(), metric.clone()));
                    wide.push((k, svc.to_string(), metric, scale));
                }
                _ => {
                    *out.skipped.entry(format!("column `{h}`: not <service>{}<metric>", map.separator)).or_default() +=
                        1
                }
            }
        }
        if wide.is_empty() {
            return Err(err(
                1,
                1,
                format!(
                    "no metric columns: a wide table has columns named <service>{}<metric> (e.g. carts{}cpu), a long one a `value` column",
                    map.separator, map.separator
                ),
            ));
        }
    }
    let mut row = csv::StringRecord::new();
    let mut line = 1;
    loop {
        match rdr.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(err(line + 1, 1, format!("{e}"))),
        }
        line = row.position().map_or(line + 1, |p| p.line() as usize);
        let at = read_time(&row[t_col], &map.time_format, assume_utc).map_err(|e| err(line, t_col + 1, e))?;
        let pod = p_col.map(|c| row[c].to_string()).filter(|p| !p.is_empty());
        let service_of_row = s_col
            .map(|c| row[c].to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| pod.as_deref().map(super::workload_of_pod));
        let labels: BTreeMap<String, String> = pod.iter().map(|p| ("pod".to_string(), p.clone())).collect();
        let namespace =
            ns_col.map(|c| row[c].to_string()).filter(|n| !n.is_empty()).unwrap_or_else(|| map.namespace.clone());
        let mut push = |svc: String, metric: String, cell: &str, col: usize, scale: f64| -> Result<(), Diagnostic> {
            if cell.is_empty() {
                *out.skipped.entry("empty cells".into()).or_default() += 1;
                return Ok(());
            }
            let v: f64 = cell
                .parse()
                .map_err(|_| err(line, col + 1, format!("`{cell}` in column `{}` is not a number", &headers[col])))?;
            if !v.is_finite() {
                *out.skipped.entry("cells that are not finite (NaN, Inf)".into()).or_default() += 1;
                return Ok(());
            }
            if !(v * scale).is_finite() {
                *out.skipped.entry("values not finite once scaled".into()).or_default() += 1;
                return Ok(());
            }
            out.records.push(Record::Signal {
                at,
                service: svc,
                namespace: namespace.clone(),
                name: metric,
                value: v * scale,
                labels: labels.clone(),
            });
            Ok(())
        };
        if long {
            let vc = v_col.ok_or_else(|| err(1, 1, "a long table needs a `value` column".into()))?;
            let metric = m_col.map_or_else(|| "series".to_string(), |c| row[c].to_string());
            if metric.is_empty() {
                *out.skipped.entry("rows without a metric name".into()).or_default() += 1;
                continue;
            }
            let metric = map.rename.get(&metric).cloned().unwrap_or(metric);
            let scale = map.scale.get(&metric).copied().unwrap_or(1.0);
            let Some(svc) =
                service_of_row.clone().or_else(|| (s_col.is_none() && p_col.is_none()).then(|| "unknown".to_string()))
            else {
                *out.skipped.entry("rows without a service or pod".into()).or_default() += 1;
                continue;
            };
            push(svc, metric, &row[vc], vc, scale)?;
        } else {
            for (k, svc, metric, scale) in &wide {
                push(svc.clone(), metric.clone(), &row[*k], *k, *scale)?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_tables_split_headers_into_service_and_metric() {
        let text = "TimeStamp,carts_cpu,front-end_latency-90,carts-db_mem,total\n1700000000,0.5,120,,7\n1700000060,0.7,130,2e8,8\n";
        let mut m = Map::default();
        m.rename.insert("latency-90".into(), "latency_p90_seconds".into());
        m.scale.insert("latency_p90_seconds".into(), 0.001);
        let t = read(Path::new("w.csv"), text.as_bytes(), &m, false).unwrap();
        assert_eq!(t.columns.len(), 3);
        assert_eq!(t.skipped.get("column `total`: not <service>_<metric>"), Some(&1));
        assert_eq!(t.skipped.get("empty cells"), Some(&1));
        assert_eq!(t.records.len(), 5);
        match &t.records[1] {
            Record::Signal { service, name, value, at, .. } => {
                assert_eq!((service.as_str(), name.as_str()), ("front-end", "latency_p90_seconds"));
                assert!((value - 0.12).abs() < 1e-12);
                assert_eq!(at.to_rfc3339(), "2023-11-14T22:13:20Z");
            }
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn times_in_every_form_and_errors_with_line_and_column() {
        let m = Map { time_format: time_format("%d/%m/%Y %H:%M").unwrap(), ..Map::default() };
        let text = "time,svc_cpu\n24/11/2026 10:00,0.5\n";
        let e = read(Path::new("p.csv"), text.as_bytes(), &m, false).unwrap_err();
        assert!(e.message.contains("no time zone"), "{}", e.message);
        let t = read(Path::new("p.csv"), text.as_bytes(), &m, true).unwrap();
        assert_eq!(t.records[0].at().to_rfc3339(), "2026-11-24T10:00:00Z");
        // Milliseconds by magnitude; a bad cell names its line and column.
        let text = "ts,svc_cpu\n1700000000000,0.5\n1700000060000,x\n";
        let e = read(Path::new("m.csv"), text.as_bytes(), &Map::default(), false).unwrap_err();
        assert_eq!(e.pos, Some(Pos { line: 3, col: 2 }));
        assert!(e.message.contains("`x` in column `svc_cpu`"), "{}", e.message);
        // Long tables, headers in any case, the service from the pod.
        let text = "Time,Pod,Metric,Value\n2026-11-24T10:00:00Z,web-7d9f8b6c5-x2x4z,cpu,0.9\n";
        let m = Map { metric: Some("metric".into()), value: Some("value".into()), ..Map::default() };
        let t = read(Path::new("l.csv"), text.as_bytes(), &m, false).unwrap();
        assert!(matches!(&t.records[0], Record::Signal { service, name, .. } if service == "web" && name == "cpu"));
        assert!(time_format("nonsense").is_err());
    }
}
