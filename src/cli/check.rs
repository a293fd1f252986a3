//! `understudy check`: validate files and report every problem in each.

use std::path::{Path, PathBuf};

use understudy::diag::Report;
use understudy::kind::{self, Kind};
use understudy::policy::Policy;
use understudy::sim::scenario::Scenario;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Validate policies, channels, scenarios, gates, classifier rules, grids and traces (.jsonl).
///
/// Prints every problem in every file at once, each as `file:line:column`, what is wrong and
/// a hint. Exit 0 when all files are valid (warnings allowed), 2 otherwise.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to check (policies, scenarios, gates).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let mut failed = 0;
    for file in &args.files {
        let mut report = Report::new();
        match check_one(file, &mut report) {
            Some(summary) if !report.has_errors() => {
                eprint!("{report}");
                println!("ok: {}: {summary}", file.display());
            }
            _ => {
                failed += 1;
                eprint!("{report}");
                println!("FAILED: {}: {} error(s)", file.display(), report.error_count().max(1));
            }
        }
    }
    Ok(if failed > 0 { EXIT_BAD_INPUT } else { EXIT_OK })
}

fn check_one(file: &Path, report: &mut Report) -> Option<String> {
    if file.extension().is_some_and(|e| e == "jsonl" || e == "ndjson") {
        return check_trace(file, report);
    }
    let (kind, text) = match kind::of_file(file) {
        Ok(k) => k,
        Err(ds) => {
            report.extend(ds);
            return None;
        }
    };
    report.add_source(file, &text);
    match kind {
        Kind::Policy => match Policy::from_yaml(file, &text) {
            Ok(loaded) => {
                report.extend(loaded.warnings);
                let p = loaded.policy;
                let channels =
                    p.channels.as_ref().map_or(String::new(), |c| format!(", {} channel(s)", c.channels.len()));
                Some(format!(
                    "policy, {} incident type(s){channels}, fingerprint {}",
                    p.remediations.len(),
                    p.fingerprint()
                ))
            }
            Err(ds) => {
                report.extend(ds);
                None
            }
        },
        Kind::Gate => match understudy::gate::Gate::from_yaml(file, &text) {
            Ok(g) => Some(format!("gate, {} per-type rule(s), {}", g.per_type.len(), g.digest)),
            Err(ds) => {
                report.extend(ds);
                None
            }
        },
        Kind::Channels => match understudy::escalate::channels::Channels::from_yaml(file, &text) {
            Ok(c) => Some(format!(
                "channels, {} (default `{}`)",
                c.channels.keys().cloned().collect::<Vec<_>>().join(", "),
                c.default
            )),
            Err(ds) => {
                report.extend(ds);
                None
            }
        },
        Kind::Grid => match understudy::grid::Grid::load(file) {
            Ok(g) => Some(format!(
                "grid, {} variant(s) × {} scenario(s) × {} seed(s) = {} job(s)",
                g.variants().len(),
                g.scenarios.len(),
                g.seeds.len(),
                g.jobs().len()
            )),
            Err(r) => {
                report.extend(r.diagnostics);
                None
            }
        },
        Kind::Rules => match understudy::classify::rules::Rules::from_yaml(file, &text) {
            Ok(r) => Some(format!("classifier rules, {} rule(s)", r.rules.len())),
            Err(ds) => {
                report.extend(ds);
                None
            }
        },
        Kind::Scenario => match Scenario::from_yaml(file, &text) {
            Ok((s, warnings)) => {
                report.extend(warnings);
                Some(format!(
                    "scenario `{}`, {} service(s), {} fault spec(s), {} plus {} drain",
                    s.name,
                    s.services.len(),
                    s.faults.len(),
                    understudy::clock::format_duration(s.duration),
                    understudy::clock::format_duration(s.drain)
                ))
            }
            Err(ds) => {
                report.extend(ds);
                None
            }
        },
    }
}

/// A trace: every bad line (up to 50) with its number, streamed.
fn check_trace(file: &Path, report: &mut Report) -> Option<String> {
    let reader = match understudy::trace::Reader::open(file) {
        Ok(r) => r,
        Err(d) => {
            report.push(d);
            return None;
        }
    };
    let (mut n, mut first, mut last, mut bad) = (0usize, None, None, 0usize);
    for item in reader {
        match item {
            Ok((_, r)) => {
                n += 1;
                first = first.or(Some(r.at()));
                last = Some(r.at());
            }
            Err(d) => {
                bad += 1;
                if bad <= 50 {
                    report.push(d);
                }
            }
        }
    }
    if bad > 0 {
        return None;
    }
    match (first, last) {
        (Some(a), Some(b)) => Some(format!("trace, {n} record(s) from {a} to {b}")),
        _ => Some("trace, empty".to_string()),
    }
}
