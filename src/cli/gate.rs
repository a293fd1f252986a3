//! `understudy gate`: a report against a gate file → promotion record or the failures.

use std::path::PathBuf;

use understudy::clock::{Clock, WallClock};
use understudy::diag::read_source;
use understudy::gate::promotion::{self, SigningKey};
use understudy::gate::{self, Gate};

use super::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};

/// Decide whether a simulation report earns the policy a promotion.
///
/// Checks the report's metrics against the gate's criteria (overall and per incident type).
/// On a pass prints the promotion record (and writes it with -o): the policy fingerprint,
/// the report and gate digests, the phase each incident type may run in, when it was decided
/// and until when it is valid (the gate's `valid_for:`, default 30d), the evidence (scenarios
/// and their digests, seed, replications, incidents per type) and an Ed25519 signature.
/// -o needs a secret key (--signing-key or $UNDERSTUDY_SIGNING_KEY_FILE; make one with
/// `understudy keygen`) unless --unsigned is given. `understudy live` refuses to start
/// without a record signed by the trusted key for its policy and gate.
/// Exit 0 pass, 1 a criterion failed (each listed), 2 bad input.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// report.json written by `understudy simulate`, or its folder.
    #[arg(value_name = "REPORT")]
    report: PathBuf,
    /// Gate file (YAML), e.g. scenarios/gate.yaml.
    #[arg(long, value_name = "GATE")]
    gate: PathBuf,
    /// Write the promotion record here (signed; see --signing-key).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print the verdict as JSON: every criterion with `observed`, `limit`, `pass`, `source`
    /// (the report.json cell it read) and `floor` (what the same pages without actions score).
    #[arg(long)]
    json: bool,
    /// Secret key file from `understudy keygen` to sign the record with (default:
    /// $UNDERSTUDY_SIGNING_KEY_FILE).
    #[arg(long, value_name = "FILE", conflicts_with = "unsigned")]
    signing_key: Option<PathBuf>,
    /// Write an unsigned record (`live` accepts it only with --allow-unsigned).
    #[arg(long)]
    unsigned: bool,
}

/// The environment variable naming the secret key file.
pub const SIGNING_KEY_ENV: &str = "UNDERSTUDY_SIGNING_KEY_FILE";

/// The key to sign with: the flag, then the environment; `Err` is the exit code after the
/// message has been printed.
fn signing_key(args: &Args) -> Result<Option<SigningKey>, u8> {
    if args.unsigned {
        return Ok(None);
    }
    let from_env = || std::env::var_os(SIGNING_KEY_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    let Some(path) = args.signing_key.clone().or_else(from_env) else {
        if let Some(out) = &args.output {
            eprintln!(
                "error: {} would be an unsigned promotion record, which `understudy live` refuses",
                out.display()
            );
            eprintln!(
                "  = hint: make a key pair with `understudy keygen --out-dir DIR`, then pass --signing-key DIR/understudy-signing.key (or set ${SIGNING_KEY_ENV}); --unsigned writes an unsigned record for a test"
            );
            return Err(EXIT_BAD_INPUT);
        }
        return Ok(None);
    };
    match promotion::load_signing_key(&path) {
        Ok(k) => {
            warn_if_readable(&path);
            Ok(Some(k))
        }
        Err(e) => {
            eprintln!("error: signing key {e}");
            Err(EXIT_BAD_INPUT)
        }
    }
}

/// A secret key others can read is still used, with a warning.
fn warn_if_readable(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "warning: {} can be read by other users (mode {:o}); `chmod 600` it",
                path.display(),
                m.permissions().mode() & 0o777
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let key = match signing_key(&args) {
        Ok(k) => k,
        Err(code) => return Ok(code),
    };
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
        let w = verdict.outcomes.iter().map(|o| o.scope.chars().count()).max().unwrap_or(5).max(5);
        println!("{:<4} {:<w$} {:<28} {:<14} {:<6} observed", "", "scope", "criterion", "limit", "floor");
        for o in &verdict.outcomes {
            println!(
                "{:<4} {:<w$} {:<28} {:<14} {:<6} {}   [{}]",
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
    // With --json stdout is the JSON alone; the rest goes to stderr.
    let say = |s: String| if args.json { eprintln!("{s}") } else { println!("{s}") };
    match &verdict.promotion {
        Some(p) => {
            let p = match &key {
                Some(k) => p.clone().signed(k),
                None => p.clone(),
            };
            let signed = match &p.signature {
                Some(s) => format!("signed by key {}", s.key_id),
                None => "unsigned".to_string(),
            };
            if let Some(out) = &args.output {
                if let Err(e) = p.write(out) {
                    eprintln!("error: cannot write {}: {e}", out.display());
                    return Ok(EXIT_BAD_INPUT);
                }
                if p.signature.is_none() {
                    eprintln!(
                        "warning: {} is unsigned (--unsigned): `understudy live` accepts it only with --allow-unsigned",
                        out.display()
                    );
                }
                say(format!(
                    "\npassed: promotion record ({signed}, valid until {}) written to {}",
                    p.valid_until,
                    out.display()
                ));
            } else {
                say(format!(
                    "\npassed: promotion record ({signed}; shown for reading, -o FILE writes the file `live` reads):\n{}",
                    serde_json::to_string_pretty(&p)?
                ));
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
