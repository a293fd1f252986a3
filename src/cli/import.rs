//! `understudy import`: real formats → a trace.

use std::path::PathBuf;

use understudy::clock::{Clock, Time, WallClock};
use understudy::diag::{Code, Diagnostic, read_source_up_to};
use understudy::trace::{self, Record, alertmanager, k8s, prometheus};

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Turn real history into a trace (JSON Lines, time-ordered) for `understudy replay`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  understudy import k8s pods.yaml events.json -o trace.jsonl
  kubectl get pods -o json | understudy import k8s - -o pods.jsonl
  understudy import alertmanager webhook.json -o alerts.jsonl
  understudy import prometheus range.json --name cpu_throttling -o series.jsonl")]
pub struct Args {
    #[command(subcommand)]
    source: Source,
}

#[derive(Debug, clap::Subcommand)]
enum Source {
    /// `kubectl get pods,deployments,replicasets -o yaml|json` dumps and `kubectl get events -o json`.
    K8s(Common),
    /// Alertmanager webhook payloads, or what GET /api/v2/alerts or /api/v2/alerts/groups returns.
    Alertmanager(Common),
    /// Prometheus query_range JSON (resultType matrix) or CSV with `time` and `value` columns.
    Prometheus(Common),
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Input files.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Write the trace here (default: standard output).
    #[arg(short, long, value_name = "TRACE")]
    output: Option<PathBuf>,
    /// Reference time for relative timestamps such as `@now-5m` (default: now).
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Signal name for Prometheus series (default: the series' __name__).
    #[arg(long)]
    name: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let (which, c) = match &args.source {
        Source::K8s(c) => ("k8s", c),
        Source::Alertmanager(c) => ("alertmanager", c),
        Source::Prometheus(c) => ("prometheus", c),
    };
    let now = match &c.now {
        None => WallClock.now(),
        Some(s) => match Time::parse_rfc3339(s) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: --now: {e}");
                return Ok(EXIT_BAD_INPUT);
            }
        },
    };
    let mut records: Vec<Record> = Vec::new();
    let mut failed = false;
    let mut k = k8s::Imported::default();
    for path in &c.inputs {
        let text = match read_source_up_to(path, understudy::limits::MAX_IMPORT_BYTES) {
            Ok(t) => t,
            Err(d) => {
                eprint!("{}", d.render(None));
                failed = true;
                continue;
            }
        };
        let bad = |msg: String| Diagnostic::error(Code::UnknownFormat, path, None, msg);
        match which {
            "k8s" => match k8s::parse_documents(&text) {
                Ok(docs) => docs.iter().for_each(|d| k.add(d, now)),
                Err((pos, e)) => {
                    eprint!(
                        "{}",
                        Diagnostic::error(Code::Syntax, path, pos, e)
                            .with_hint("pass the output of kubectl get … -o yaml or -o json")
                            .render(Some(&text))
                    );
                    failed = true;
                }
            },
            "alertmanager" => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(doc) => {
                    let (mut r, skipped) = alertmanager::import(&doc);
                    if r.is_empty() && skipped == 0 {
                        eprint!(
                            "{}",
                            bad("no alerts found".into())
                                .with_hint("pass a webhook body or the JSON of /api/v2/alerts")
                                .render(None)
                        );
                        failed = true;
                    }
                    if skipped > 0 {
                        eprintln!("{}: {skipped} alert(s) without alertname or startsAt skipped", path.display());
                    }
                    records.append(&mut r);
                }
                Err(e) => {
                    eprint!("{}", understudy::jsonl::from_json_error(path, 1, &text, &e).render(None));
                    failed = true;
                }
            },
            _ => {
                // A CSV is named so, or (from standard input) starts with a header line.
                let first = text.lines().next().unwrap_or("").trim_start();
                let csv = path.extension().is_some_and(|e| e == "csv")
                    || (first.contains(',') && !first.starts_with(['{', '[']));
                let result = if csv {
                    prometheus::import_csv(&text, c.name.as_deref())
                } else {
                    prometheus::import_matrix(&text, c.name.as_deref())
                };
                match result {
                    Ok((mut r, skipped)) => {
                        if skipped > 0 {
                            eprintln!("{}: {skipped} point(s) without a finite value skipped", path.display());
                        }
                        records.append(&mut r);
                    }
                    Err(e) => {
                        eprint!(
                            "{}",
                            bad(e)
                                .with_hint("pass a query_range response or a CSV with time,value columns")
                                .render(None)
                        );
                        failed = true;
                    }
                }
            }
        }
    }
    if failed {
        return Ok(EXIT_BAD_INPUT);
    }
    if which == "k8s" {
        let mut by: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for o in &k.objects {
            *by.entry(o.health.as_str()).or_default() += 1;
        }
        eprintln!("{} object(s) ({:?}), {} event(s); not imported: {:?}", k.objects.len(), by, k.events, k.skipped);
        records.append(&mut k.records);
    }
    let n = trace::write(c.output.as_deref(), records)?;
    let to = c.output.as_ref().filter(|p| p.as_os_str() != "-");
    eprintln!("{n} record(s){}", to.map_or(String::new(), |p| format!(" written to {}", p.display())));
    Ok(EXIT_OK)
}
