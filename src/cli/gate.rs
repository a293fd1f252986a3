//! `understudy gate`: a report against a gate file → promotion record or the failures.

use std::path::PathBuf;

use understudy::clock::{Clock, WallClock};
use understudy::diag::read_source;
use understudy::gate::{self, Gate};

use super::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};

/// Decide whether a simulation report earns the policy a promotion.
///
/// Checks the report's metrics against the gate's criteria (overall and per incident type).
/// On a pass prints the promotion record (and writes it with -o): the policy fingerprint,
/// the report and gate digests, the phase each incident type may run in, and the time.
/// `understudy live` refuses to start without a record matching its policy.
/// Exit 0 pass, 1 a criterion failed (each listed), 2 bad input.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// report.json written by `understudy simulate`, or its folder.
    #[arg(value_name = "REPORT")]
    report: PathBuf,
    /// Gate file (YAML), e.g. scenarios/gate.yaml.
    #[arg(long, value_name = "GATE")]
    gate: PathBuf,
    /// Write the promotion record here.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print the verdict as JSON: every criterion with `observed`, `limit`, `pass`, `source`
    /// (the report.json cell it read) and `floor` (what the same pages without actions score).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let gate = or_bad_input!(Gate::load(&args.gate));
    let path = if args.report.is_dir() { args.report.join("report.json") } else { args.report.clone() };
    let bytes = match read_source(&path) {
        Ok(t) => t.into_bytes(),
        Err(d) => {
            eprint!("{}", d.render(None));
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let verdict = match gate::apply(&gate, &path, &bytes, WallClock.now()) {
        Ok(v) => v,
        Err(d) => {
            eprint!("{}", d.render(None));
            return Ok(EXIT_BAD_INPUT);
        }
    };
    if args.json {
        let criteria: Vec<serde_json::Value> = verdict
            .outcomes
            .iter()
            .map(|o| {
                serde_json::json!({
                    "scope": o.scope,
                    "criterion": o.criterion,
                    "observed": o.observed,
                    "limit": o.limit,
                    "pass": o.passed,
                    "source": format!("{}#{}", path.display(), o.source),
                    "floor": o.floor,
                    "required": o.required,
                    "observed_text": o.observed_text,
                })
            })
            .collect();
        let out = serde_json::json!({ "report": path.display().to_string(), "passed": verdict.passed(), "criteria": criteria });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{:<4} {:<28} {:<28} {:<14} {:<10} observed", "", "scope", "criterion", "limit", "floor");
        for o in &verdict.outcomes {
            println!(
                "{:<4} {:<28} {:<28} {:<14} {:<10} {}   [{}]",
                if o.passed { "pass" } else { "FAIL" },
                o.scope,
                o.criterion,
                o.required,
                o.floor.map_or_else(|| "–".to_string(), |f| format!("{f:.3}")),
                o.observed_text,
                o.source
            );
        }
        println!("\nfloor: what the same pages without any action score (the recommend arm).");
    }
    match &verdict.promotion {
        Some(p) => {
            let json = serde_json::to_string_pretty(p)?;
            if let Some(out) = &args.output {
                std::fs::write(out, format!("{json}\n"))?;
                println!("\npassed: promotion record written to {}", out.display());
            } else {
                println!("\npassed: promotion record:\n{json}");
            }
            Ok(EXIT_OK)
        }
        None => {
            let n = verdict.failures().count();
            eprintln!("\nfailed: {n} criterion(s) not met:");
            for o in verdict.failures() {
                eprintln!("  {}: {} required {}, observed {}", o.scope, o.criterion, o.required, o.observed_text);
            }
            Ok(EXIT_FAILED)
        }
    }
}
