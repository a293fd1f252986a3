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
///
/// With `--diff OLD NEW`: what changed between two policies, field by field, after validation
/// (so comments, key order and `600s` for `10m` do not show). Exit 0 when nothing changed, 1
/// when something did, 2 when either file is invalid.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  understudy check scenarios/policy.yaml scenarios/week-in-prod.yaml
  understudy check --strict scenarios/*.yaml
  understudy check --diff main/policy.yaml scenarios/policy.yaml")]
pub struct Args {
    /// Files to check (policies, scenarios, gates, channels, classifier rules, grids, traces).
    #[arg(required_unless_present = "diff", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Compare two policies instead: every field that differs, and whether the fingerprint
    /// (what a promotion is tied to) changes.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], conflicts_with = "files")]
    diff: Option<Vec<PathBuf>>,
    /// Treat warnings as errors (exit 2): what a CI job gating a policy change should run.
    #[arg(long)]
    strict: bool,
    /// The classifier rules whose incident types a policy is checked against (with the
    /// simulator's causes and the policy's `custom_incident_types:`).
    #[arg(long, default_value = "scenarios/classifier-rules.yaml", value_name = "FILE")]
    rules: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if let Some(pair) = &args.diff {
        return Ok(diff(&pair[0], &pair[1]));
    }
    let mut failed = 0;
    // Read once, when the first policy needs it.
    let known = std::cell::OnceCell::new();
    let known = || known.get_or_init(|| known_types(&args.rules)).as_slice();
    // Traces checked together are sources of one history: their clocks are compared.
    let mut clocks = (understudy::trace::clocks::Clocks::default(), Vec::new());
    for file in &args.files {
        let mut report = Report::new();
        let summary = check_one(file, &mut report, &known, &mut clocks);
        let warned = report.diagnostics.iter().any(|d| !d.is_error());
        let failing = report.has_errors() || (args.strict && warned);
        match summary {
            Some(summary) if !failing => {
                eprint!("{report}");
                println!("ok: {}: {summary}", file.display());
            }
            _ => {
                failed += 1;
                eprint!("{report}");
                if report.has_errors() || !args.strict {
                    println!("FAILED: {}: {} error(s)", file.display(), report.error_count().max(1));
                } else {
                    println!("FAILED: {}: warnings under --strict", file.display());
                }
            }
        }
    }
    let (clocks, names) = clocks;
    let warnings = clocks.warnings(&names);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if args.strict && !warnings.is_empty() {
        println!("FAILED: the traces' clocks disagree (warnings under --strict)");
        failed += 1;
    }
    Ok(if failed > 0 { EXIT_BAD_INPUT } else { EXIT_OK })
}

/// `check --diff OLD NEW`.
fn diff(old: &Path, new: &Path) -> u8 {
    let (a, b) = match (Policy::load(old), Policy::load(new)) {
        (Ok(a), Ok(b)) => (a.policy, b.policy),
        (a, b) => {
            for r in [a.err(), b.err()].into_iter().flatten() {
                eprint!("{r}");
            }
            return EXIT_BAD_INPUT;
        }
    };
    let show = |v: &Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    let changes = understudy::policy::diff::diff(&a, &b);
    let mut out = String::new();
    out.push_str(&format!("--- {} {}\n+++ {} {}\n", old.display(), a.fingerprint(), new.display(), b.fingerprint()));
    for c in &changes {
        let note = if c.in_fingerprint { "" } else { "  (routing: not in the fingerprint)" };
        // A member of a list of names (`never_auto[security]`) is there or not: no value.
        let member = |v: &Option<serde_json::Value>| v == &Some(serde_json::Value::Bool(true)) && c.path.ends_with(']');
        let line = match (&c.old, &c.new) {
            (None, _) if member(&c.new) => format!("+ {}", c.path),
            (_, None) if member(&c.old) => format!("- {}", c.path),
            (None, _) => format!("+ {}: {}", c.path, show(&c.new)),
            (_, None) => format!("- {}: {}", c.path, show(&c.old)),
            _ => format!("~ {}: {} → {}", c.path, show(&c.old), show(&c.new)),
        };
        out.push_str(&line);
        out.push_str(note);
        out.push('\n');
    }
    let mut behaviour = changes.iter().filter(|c| c.in_fingerprint).count();
    let moved = a.fingerprint() != b.fingerprint();
    // The summary follows the fingerprints themselves; should they differ where no field
    // does, that is said, never "no difference".
    if moved && behaviour == 0 {
        out.push_str("~ (canonical form): the fingerprints differ though no field does; compare the files by hand\n");
        behaviour = 1;
    }
    out.push_str(&match (behaviour, changes.len() - behaviour) {
        (0, 0) => "no difference: same fingerprint\n".to_string(),
        (0, r) => format!("{r} routing change(s), none to what automation does: same fingerprint, the promotion still holds\n"),
        (n, r) => format!(
            "{n} change(s) to what automation does{}: the fingerprint changes, so the new policy needs its own promotion\n",
            if r > 0 { format!(" and {r} to routing") } else { String::new() }
        ),
    });
    print!("{out}");
    if changes.is_empty() && !moved { EXIT_OK } else { 1 }
}

/// Incident types something produces: the classifier rules' (when the file can be read), and
/// the simulator's causes.
fn known_types(rules: &Path) -> Vec<String> {
    let mut known: Vec<String> = understudy::sim::model::Cause::labels().map(str::to_string).collect();
    match understudy::classify::rules::Rules::load(rules) {
        Ok(r) => known.extend(r.rules.into_iter().map(|r| r.incident_type)),
        Err(e) => eprintln!(
            "warning: cannot read the classifier rules {} ({}); incident types are checked against the simulator's causes only",
            rules.display(),
            e.diagnostics.first().map_or("unreadable".to_string(), |d| d.message.clone())
        ),
    }
    known.sort();
    known.dedup();
    known
}

/// A warning for each remediation whose incident type nothing produces: it would never match.
fn unproduced(file: &Path, text: &str, p: &Policy, known: &[String]) -> Vec<understudy::diag::Diagnostic> {
    let root = understudy::yaml::parse(file, text).ok().flatten();
    let pos_of = |ty: &str| -> Option<understudy::diag::Pos> {
        let root = root.as_ref()?;
        let entries = match root.get("remediation_policies").map(|n| &n.value) {
            Some(understudy::yaml::Value::Seq(items)) => items.iter().collect::<Vec<_>>(),
            _ => root.get("remediation_policy").into_iter().collect(),
        };
        entries.iter().filter_map(|e| e.get("incident_type")).find(|n| n.scalar() == Some(ty)).map(|n| n.pos)
    };
    let candidates: Vec<&str> =
        known.iter().map(String::as_str).chain(p.custom_incident_types().iter().map(String::as_str)).collect();
    p.remediations()
        .keys()
        .filter(|ty| !candidates.contains(&ty.as_str()))
        .map(|ty| {
            let d = understudy::diag::Diagnostic::warning(
                understudy::diag::Code::BadValue,
                file,
                pos_of(ty),
                format!(
                    "no classifier rule or simulated cause produces incident type `{ty}`: this policy never matches it"
                ),
            );
            match understudy::diag::did_you_mean(ty, candidates.iter().copied()) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint("if your own classifier produces it, declare it: `custom_incident_types: [...]`"),
            }
        })
        .collect()
}

/// Every trace's clock, compared across the traces of one `check` (source names alongside).
type TraceClocks = (understudy::trace::clocks::Clocks, Vec<String>);

fn check_one<'a>(
    file: &Path,
    report: &mut Report,
    known: &impl Fn() -> &'a [String],
    clocks: &mut TraceClocks,
) -> Option<String> {
    if file.extension().is_some_and(|e| e == "jsonl" || e == "ndjson") {
        return check_trace(file, report, clocks);
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
                report.extend(unproduced(file, &text, &p, known()));
                let channels = p.channels().map_or(String::new(), |c| format!(", {} channel(s)", c.channels.len()));
                Some(format!(
                    "policy, {} incident type(s){channels}, fingerprint {}",
                    p.remediations().len(),
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
            Ok(g) => {
                for w in &g.warnings {
                    report.push(understudy::diag::Diagnostic::warning(
                        understudy::diag::Code::BadValue,
                        file,
                        None,
                        format!("a variant's policy gets a warning: {w}"),
                    ));
                }
                Some(format!(
                    "grid, {} variant(s) × {} scenario(s) × {} seed(s) = {} job(s)",
                    g.variants().len(),
                    g.scenarios.len(),
                    g.seeds.len(),
                    g.jobs().len()
                ))
            }
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
fn check_trace(file: &Path, report: &mut Report, clocks: &mut TraceClocks) -> Option<String> {
    let reader = match understudy::trace::Reader::open(file) {
        Ok(r) => r,
        Err(d) => {
            report.push(d);
            return None;
        }
    };
    let (mut n, mut first, mut last, mut bad) = (0usize, None, None, 0usize);
    let k = clocks.1.len();
    clocks.1.push(file.display().to_string());
    let wall = understudy::clock::Clock::now(&understudy::clock::WallClock);
    for item in reader {
        match item {
            Ok((_, r)) => {
                n += 1;
                clocks.0.observe(k, &r, wall);
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
