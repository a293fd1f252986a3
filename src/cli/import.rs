//! `understudy import`: real formats → a trace.

use std::path::PathBuf;

use understudy::clock::{Time, parse_duration};
use understudy::diag::read_source_up_to;
use understudy::trace::{self, sources};

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Turn real history into a trace (JSON Lines, time-ordered) for `understudy replay`.
///
/// Every item left out is counted by reason on standard error; a file holding nothing of the
/// kind asked for, or a time without a zone, is an error (exit 2) naming the file and where.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  understudy import k8s pods.yaml events.json -o trace.jsonl
  kubectl get pods -o json | understudy import k8s - -o pods.jsonl
  kubectl describe pod web-7d9f8b6c5-x2x4z | understudy import k8s - --now 2026-11-24T10:00:00Z
  understudy import alertmanager webhook.json -o alerts.jsonl
  understudy import pagerduty incidents.csv --service 'Checkout API=checkout' -o pages.jsonl
  understudy import case shared/realdata/alerts/01_oom_kill -o case.jsonl
  understudy import prometheus range.json --name cpu_throttling --time-offset -2h -o series.jsonl")]
pub struct Args {
    #[command(subcommand)]
    source: Source,
}

#[derive(Debug, clap::Subcommand)]
enum Source {
    /// `kubectl get … -o yaml|json` dumps and event lists, `kubectl describe pod|deployment`
    /// output and events tables (also as HolmesGPT records tool calls).
    K8s(Common),
    /// Alerts: Alertmanager webhook bodies, GET /api/v2/alerts or /api/v2/alerts/groups, bare
    /// alert objects or arrays, Robusta findings and HolmesGPT investigation requests.
    #[command(visible_alias = "alerts")]
    Alertmanager(Common),
    /// Prometheus query_range JSON (resultType matrix) or CSV with `time` and `value` columns.
    Prometheus(Common),
    /// Metric tables (CSV): wide (a time column, then `<service>_<metric>` columns, as
    /// fault-injection datasets export them) or long (`metric` and `value` columns), read
    /// through --map or the column flags.
    Metrics(Common),
    /// The Kubernetes audit log (audit.k8s.io/v1 events, one per line): people's restarts,
    /// scales, rollouts and deletions become `action` records with the user.
    Audit(Common),
    /// A fault list (JSON, JSON Lines or CSV: start, end or duration, service or pod, type):
    /// ground truth as `truth` records.
    Faults(Common),
    /// A paging system's incidents (PagerDuty GET /incidents JSON, Analytics raw incidents or
    /// the incidents CSV report): triggered, acknowledged, resolved and by whom, as `page`
    /// records, the people's own timing.
    #[command(visible_alias = "pages")]
    Pagerduty(Common),
    /// A HolmesGPT/Robusta investigation folder: every file in it that holds alerts or
    /// Kubernetes objects; the others are listed as not read.
    Case(Common),
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Input files (`-` is standard input); for `case`, folders.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Write the trace here (default: standard output).
    #[arg(short, long, value_name = "TRACE")]
    output: Option<PathBuf>,
    /// Reference time for relative times (`@now-5m`, an age such as `87s` in kubectl's
    /// tables, an undated investigation request). Default: the latest absolute time in the
    /// same input (for `@now` in a dump: the wall clock).
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Signal name for Prometheus series (default: the series' __name__).
    #[arg(long)]
    name: Option<String>,
    /// Read times written without a zone as UTC (otherwise they are errors).
    #[arg(long)]
    assume_utc: bool,
    /// Shift every time of these inputs by this much, for a source whose clock was off
    /// (`-2h`, `+90s`, `15m`). Import sources separately to give each its own.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    time_offset: Option<String>,
    /// Rename a service: `--service payment-api-d86dbc9ef5=payment-api` (repeatable).
    #[arg(long, value_name = "FROM=TO")]
    service: Vec<String>,
    /// `metrics`: a column map (YAML: time, time_format, service, pod, metric, value,
    /// namespace, separator, rename, scale). The flags below override it.
    #[arg(long, value_name = "FILE")]
    map: Option<PathBuf>,
    /// `metrics`: the time column (default: the first of time, timestamp, ts, datetime, date,
    /// in any case).
    #[arg(long, value_name = "COLUMN")]
    time_column: Option<String>,
    /// `metrics`: auto, rfc3339, epoch-seconds, epoch-ms, or a strftime pattern ("%Y-%m-%d %H:%M:%S").
    #[arg(long, value_name = "FORMAT")]
    time_format: Option<String>,
    /// `metrics`: the namespace of every series (default: default).
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// `metrics`: what splits a wide header into service and metric (default `_`).
    #[arg(long, value_name = "TEXT")]
    separator: Option<String>,
    /// `faults`: rename a fault type to the classifier's label: `--type cpu=cpu-spike`.
    #[arg(long = "type", value_name = "FROM=TO")]
    types: Vec<String>,
}

fn offset_nanos(s: &str) -> Result<i64, String> {
    let (neg, d) = match (s.strip_prefix('-'), s.strip_prefix('+')) {
        (Some(d), _) => (true, d),
        (None, Some(d)) => (false, d),
        _ => (false, s),
    };
    let n = i64::try_from(parse_duration(d)?.as_nanos()).map_err(|_| format!("`{s}` is too long an offset"))?;
    Ok(if neg { -n } else { n })
}

/// `FROM=TO` values of a repeatable flag.
fn pairs(flag: &str, values: &[String], example: &str) -> Result<Vec<(String, String)>, String> {
    values
        .iter()
        // At the last `=`: the cluster's name (TO) cannot hold one, a paging system's can.
        .map(|v| match v.rsplit_once('=') {
            Some((from, to)) if !from.is_empty() && !to.is_empty() => Ok((from.to_string(), to.to_string())),
            _ => Err(format!("{flag} {v}: write FROM=TO, e.g. {flag} {example}")),
        })
        .collect()
}

/// `s` as one shell word a person can paste, control characters shown escaped (never sent
/// to the terminal raw).
fn shell_quote(s: &str) -> String {
    let shown: String =
        s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect();
    understudy::policy::action::sh(&shown)
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let (kind, c) = match &args.source {
        Source::K8s(c) => (Some(sources::Kind::K8s), c),
        Source::Alertmanager(c) => (Some(sources::Kind::Alerts), c),
        Source::Prometheus(c) => (Some(sources::Kind::Prometheus), c),
        Source::Metrics(c) => (Some(sources::Kind::Table), c),
        Source::Audit(c) => (Some(sources::Kind::Audit), c),
        Source::Faults(c) => (Some(sources::Kind::Faults), c),
        Source::Pagerduty(c) => (Some(sources::Kind::Pages), c),
        Source::Case(c) => (None, c),
    };
    let now = match c.now.as_deref().map(Time::parse_rfc3339).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --now: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let offset = match c.time_offset.as_deref().map(offset_nanos).transpose() {
        Ok(o) => o.unwrap_or(0),
        Err(e) => {
            eprintln!("error: --time-offset: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let (services, types) = match (
        pairs("--service", &c.service, "payment-api-d86dbc9ef5=payment-api"),
        pairs("--type", &c.types, "cpu=cpu-spike"),
    ) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let mut map = match &c.map {
        Some(p) => or_bad_input!(trace::table::Map::load(p)),
        None => trace::table::Map::default(),
    };
    if let Some(t) = &c.time_column {
        map.time = Some(t.clone());
    }
    if let Some(f) = &c.time_format {
        match trace::table::time_format(f) {
            Ok(f) => map.time_format = f,
            Err(e) => {
                eprintln!("error: --time-format: {e}");
                return Ok(EXIT_BAD_INPUT);
            }
        }
    }
    if let Some(ns) = &c.namespace {
        map.namespace.clone_from(ns);
    }
    if let Some(s) = &c.separator {
        map.separator.clone_from(s);
    }
    let opts = sources::Options {
        now,
        assume_utc: c.assume_utc,
        offset_nanos: offset,
        name: c.name.clone(),
        services,
        map,
        types,
    };
    if let Some(o) = c.output.as_deref().filter(|o| o.as_os_str() != "-")
        && let Some(i) = c.inputs.iter().find(|i| understudy::diag::same_file(i, o))
    {
        eprintln!(
            "error: -o {} is the input {}: the trace would overwrite what it is made from; write it elsewhere",
            o.display(),
            i.display()
        );
        return Ok(EXIT_BAD_INPUT);
    }
    let mut batch = sources::Batch::default();
    let mut failed = false;
    for path in &c.inputs {
        let result = match kind {
            None => batch.add_case(path, &opts).map_err(|e| (e, None)),
            // Audit logs and metric tables run to gigabytes: streamed, never read whole.
            Some(k @ (sources::Kind::Audit | sources::Kind::Table)) => {
                let opened: Result<Box<dyn std::io::BufRead>, _> = if path.as_os_str() == "-" {
                    Ok(Box::new(std::io::stdin().lock()))
                } else {
                    understudy::diag::open_input(path)
                        .map(|f| Box::new(std::io::BufReader::with_capacity(1 << 16, f)) as Box<dyn std::io::BufRead>)
                };
                match (opened, k) {
                    (Ok(mut r), sources::Kind::Audit) => {
                        batch.add_audit_stream(path, &mut r, &opts).map_err(|e| (e, None))
                    }
                    (Ok(r), _) => batch.add_table_stream(path, r, &opts).map_err(|e| (e, None)),
                    (Err(d), _) => Err((vec![d], None)),
                }
            }
            Some(kind) => match read_source_up_to(path, understudy::limits::MAX_IMPORT_BYTES) {
                Ok(text) => batch.add_text(kind, path, &text, &opts).map_err(|e| (e, Some(text))),
                Err(d) => Err((vec![d], None)),
            },
        };
        if let Err((diags, text)) = result {
            for d in diags {
                eprint!("{}", d.render(text.as_deref()));
            }
            failed = true;
        }
    }
    if failed {
        return Ok(EXIT_BAD_INPUT);
    }
    let (records, batch) = batch.finish(&opts);
    // A rename that matched nothing is most likely a typo in FROM.
    for (from, to) in &opts.services {
        let used = records.iter().any(|r| r.service() == Some(to.as_str()))
            || batch.k8s.identity.values().any(|(svc, _)| svc == to);
        if !used {
            eprintln!("warning: --service {from}={to}: no record's service is {from:?}; nothing was renamed");
        }
    }
    for (p, what) in &batch.files {
        eprintln!("{}: {what}", p.display());
    }
    if !batch.k8s.objects.is_empty() || batch.k8s.events > 0 {
        let mut by: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for o in &batch.k8s.objects {
            *by.entry(o.health.as_str()).or_default() += 1;
        }
        eprintln!("{} object(s) ({:?}), {} event(s)", batch.k8s.objects.len(), by, batch.k8s.events);
        // The service each object was given, and how it is known (override with --service).
        let mut seen = std::collections::BTreeSet::new();
        for ((ns, object), (svc, how)) in &batch.k8s.identity {
            if seen.insert((ns, svc, how)) {
                eprintln!("  service {ns}/{svc} ← {object} ({how})");
            }
        }
    }
    if !batch.columns.is_empty() {
        let mut by: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
        for (_, svc, metric) in &batch.columns {
            by.entry(svc).or_default().push(metric);
        }
        for (svc, metrics) in by {
            eprintln!("  service {svc}: {}", metrics.join(", "));
        }
    }
    if !batch.page_services.is_empty() {
        // Paging-system names rarely are the cluster's: say which were seen, so they can be
        // renamed to match (`--service`).
        for (svc, n) in &batch.page_services {
            let to = opts.services.iter().find(|(f, _)| f == svc).map(|(_, t)| t.as_str());
            match to {
                Some(t) => eprintln!("  paging service {svc:?} → {t} ({n} incident(s))"),
                None => eprintln!(
                    "  paging service {svc:?}: {n} incident(s) (rename to the cluster's service with --service {})",
                    shell_quote(&format!("{svc}=NAME"))
                ),
            }
        }
    }
    if batch.truncated > 0 {
        eprintln!(
            "warning: Alertmanager left {} alert(s) out of the bodies (truncatedAlerts; raise max_alerts in the webhook_config)",
            batch.truncated
        );
    }
    if !batch.skipped.is_empty() {
        eprintln!("not imported:");
        for (why, n) in &batch.skipped {
            eprintln!("  {n:>6}  {why}");
        }
    }
    let n = trace::write(c.output.as_deref(), records)?;
    let to = c.output.as_ref().filter(|p| p.as_os_str() != "-");
    eprintln!("{n} record(s){}", to.map_or(String::new(), |p| format!(" written to {}", p.display())));
    Ok(EXIT_OK)
}
