//! `understudy simulate`: run scenarios through the policy and write the reports.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use understudy::diag::Report;
use understudy::kind::{self, Kind};
use understudy::metrics;
use understudy::policy::Policy;
use understudy::report::{self, Provenance, ScenarioSource};
use understudy::sim::{self, scenario::Scenario};

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// What would this policy have done, and what does automation add over the team today?
///
/// Runs each scenario's incidents in three arms per replication, with the same faults and
/// human draws: baseline (the team today: alerts page people), recommend (the policy with
/// every auto_execute off: the same pages carrying the suggested command) and policy (as
/// written, through the classifier and the guardrails against a world where actions have
/// effects). Reports what automation adds (policy vs baseline), split into suggestions and
/// actions, with paired bootstrap intervals; every incident made worse names the action. Writes index.html, report.json, incidents.csv, decisions.jsonl, escalations.jsonl and
/// report.md to --out, and prints a summary. Same inputs and seed give byte-identical reports.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files, or names of scenarios in scenarios/ (`bad-deploy` is
    /// scenarios/bad-deploy.yaml); none means every scenario in scenarios/.
    #[arg(value_name = "SCENARIO")]
    scenarios: Vec<PathBuf>,
    /// Policy file.
    #[arg(long, default_value = "scenarios/policy.yaml", value_name = "POLICY")]
    policy: PathBuf,
    /// Seed of the run; each replication derives its own generator from it.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Replications per scenario.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=i64::from(understudy::limits::MAX_REPLICATIONS)))]
    replications: u32,
    /// Output folder.
    #[arg(long, default_value = "reports/latest", value_name = "DIR")]
    out: PathBuf,
    /// The team's current policy: also run it on the same incidents and report what changes
    /// from it to --policy, per label (the plan of a policy change).
    #[arg(long, value_name = "CURRENT")]
    compare: Option<PathBuf>,
    /// Replications per point of the threshold sweep (0 skips the sweep).
    #[arg(long, default_value_t = 5)]
    sweep_replications: u32,
    /// Also write what happened in the policy arm as a trace (window, revisions and pods,
    /// campaigns, truth, alerts, classifications, automation's and people's actions, pages,
    /// breakers), for `fit` and `replay --classifier recorded`. The run becomes one history:
    /// replications one after another in time (whole days apart) in every file it writes.
    /// The file is replaced; it may not be a file the run reads or writes, nor `-`
    #[arg(long, value_name = "FILE")]
    trace_out: Option<PathBuf>,
}

/// Every scenario file in `dir`, by name.
fn scenarios_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .filter(|p| matches!(kind::of_file(p), Ok((Kind::Scenario, _))))
        .collect();
    files.sort();
    Ok(files)
}

/// A scenario argument: a file as given, or else the name of one in scenarios/.
fn by_name(arg: &Path) -> Result<PathBuf, String> {
    let name = arg.to_string_lossy();
    let is_name = arg.components().count() == 1 && arg.extension().is_none() && !name.is_empty();
    if arg.exists() || !is_name {
        return Ok(arg.to_path_buf());
    }
    for ext in ["yaml", "yml"] {
        let p = Path::new("scenarios").join(format!("{name}.{ext}"));
        if p.is_file() {
            return Ok(p);
        }
    }
    let known: Vec<String> = scenarios_in(Path::new("scenarios"))
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    let hint = match understudy::diag::did_you_mean(&name, known.iter().map(String::as_str)) {
        Some(s) => format!("did you mean `{s}`?"),
        None if known.is_empty() => "give a scenario file's path".to_string(),
        None => format!("scenarios: {}", known.join(", ")),
    };
    Err(format!("error: no scenario `{name}`: no such file, and no scenarios/{name}.yaml\n  = help: {hint}"))
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let policy = match Policy::load(&args.policy) {
        Ok(l) => {
            for w in &l.warnings {
                eprint!("{}", w.render(None));
            }
            l.policy
        }
        Err(r) => {
            eprint!("{r}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let current = match &args.compare {
        None => None,
        Some(p) => match Policy::load(p) {
            Ok(l) => Some(l.policy),
            Err(r) => {
                eprint!("{r}");
                return Ok(EXIT_BAD_INPUT);
            }
        },
    };
    let files = if args.scenarios.is_empty() {
        scenarios_in(Path::new("scenarios"))?
    } else {
        match args.scenarios.iter().map(|s| by_name(s)).collect::<Result<Vec<_>, _>>() {
            Ok(files) => files,
            Err(e) => {
                eprintln!("{e}");
                return Ok(EXIT_BAD_INPUT);
            }
        }
    };
    if files.is_empty() {
        eprintln!("error: no scenarios to run (none given and none found in scenarios/)");
        return Ok(EXIT_BAD_INPUT);
    }
    if let Some(t) = &args.trace_out {
        if t.as_os_str() == "-" {
            eprintln!("error: --trace-out - would mix the trace into the summary on standard output; give a file");
            return Ok(EXIT_BAD_INPUT);
        }
        // The trace is written last: it must not be anything this run reads or writes.
        let mut taken: Vec<(PathBuf, &str)> = files.iter().map(|f| (f.clone(), "a scenario it runs")).collect();
        taken.push((args.policy.clone(), "the policy"));
        if let Some(c) = &args.compare {
            taken.push((c.clone(), "the --compare policy"));
        }
        for f in ["report.json", "incidents.csv", "decisions.jsonl", "escalations.jsonl", "report.md", "index.html"] {
            taken.push((args.out.join(f), "a report file it writes"));
        }
        if let Some((p, what)) = taken.iter().find(|(p, _)| understudy::diag::one_file(t, p)) {
            eprintln!(
                "error: --trace-out {} is {} ({what}): it would be overwritten; write the trace elsewhere",
                t.display(),
                p.display()
            );
            return Ok(EXIT_BAD_INPUT);
        }
    }
    let mut scenarios = Vec::new();
    let mut bad = Report::new();
    for f in &files {
        match Scenario::load(f) {
            Ok((s, _)) => scenarios.push((f.clone(), s)),
            Err(r) => {
                bad.diagnostics.extend(r.diagnostics.clone());
                eprint!("{r}");
            }
        }
    }
    if bad.has_errors() {
        return Ok(EXIT_BAD_INPUT);
    }
    if args.trace_out.is_some() {
        // One history: replications one after another in time, in every file this run
        // writes (the trace, decisions, escalations, incidents), so replaying the trace
        // meets the decisions at their times.
        let mut laid: Vec<Scenario> = scenarios.iter().map(|(_, s)| s.clone()).collect();
        if let Err(e) = sim::scenario::lay_out(&mut laid, args.replications) {
            eprintln!("error: --trace-out: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
        for ((_, s), l) in scenarios.iter_mut().zip(laid) {
            *s = l;
        }
    }

    let jobs: Vec<(usize, u32)> =
        (0..scenarios.len()).flat_map(|s| (0..args.replications).map(move |r| (s, r))).collect();
    let started = Instant::now();
    let bar = ProgressBar::with_draw_target(Some(jobs.len() as u64), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} simulating {pos}/{len} replications [{elapsed_precise}] {wide_bar} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let reps: Vec<sim::Replication> = jobs
        .par_iter()
        .map(|&(s, r)| {
            let rep = if args.trace_out.is_some() {
                sim::run_replication_traced(&scenarios[s].1, &policy, args.seed, r)
            } else {
                sim::run_replication(&scenarios[s].1, &policy, args.seed, r)
            };
            // Only runs that take more than a second get a bar.
            if started.elapsed() > Duration::from_secs(1) && bar.is_hidden() {
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            bar.inc(1);
            rep
        })
        .collect();
    bar.finish_and_clear();

    let incidents: Vec<sim::IncidentRecord> = reps.iter().flat_map(|r| r.incidents.iter().cloned()).collect();
    let eval = metrics::evaluate(&incidents, args.seed);
    let mut assumptions: Vec<String> = sim::model::assumptions().into_iter().map(String::from).collect();
    for (_, s) in &scenarios {
        for (a, c, e) in s.effects.overrides() {
            assumptions.push(format!("scenario `{}` overrides the effect of {a} on {c}: {}", s.name, e.name()));
        }
        if let Some(f) = &s.fitted {
            assumptions.push(format!(
                "scenario `{}` was fitted to the team's history ({}): {} figure(s) came from it, the rest are defaults",
                s.name,
                f.from.join(", "),
                f.parameters.len()
            ));
            for p in &f.parameters {
                assumptions.push(format!(
                    "scenario `{}`, from history: {} = {} (95% CI {}–{}, n = {}; {})",
                    s.name,
                    p.parameter,
                    understudy::fit::show(p.value, &p.unit),
                    understudy::fit::show(p.ci95[0], &p.unit),
                    understudy::fit::show(p.ci95[1], &p.unit),
                    p.n,
                    p.source
                ));
            }
            for a in &f.assumed {
                assumptions.push(format!("scenario `{}`, not in the history (default kept): {a}", s.name));
            }
        }
        let (h, d) = (&s.human, sim::model::HumanModel::default());
        if h.paged_by_alerts != d.paged_by_alerts {
            assumptions.push(format!(
                "scenario `{}`: the team is not paged by alerts today; its baseline notices after the detection delay",
                s.name
            ));
        }
        if h.right_suggestion_factor != d.right_suggestion_factor
            || h.wrong_suggestion_factor != d.wrong_suggestion_factor
        {
            assumptions.push(format!(
                "scenario `{}`: a right suggestion multiplies diagnosis time by {}, a wrong one by {}",
                s.name, h.right_suggestion_factor, h.wrong_suggestion_factor
            ));
        }
    }
    let prov = Provenance {
        understudy_version: env!("CARGO_PKG_VERSION"),
        policy: args.policy.display().to_string(),
        policy_fingerprint: policy.fingerprint(),
        seed: args.seed,
        replications: args.replications,
        scenarios: scenarios
            .iter()
            .map(|(f, s)| ScenarioSource {
                name: s.name.clone(),
                file: f.display().to_string(),
                digest: s.digest.clone(),
                description: s.description.clone(),
            })
            .collect(),
        policy_phases: policy
            .remediations()
            .keys()
            .map(|t| (t.clone(), if policy.auto_executes(t) { "auto-execute" } else { "recommend-only" }))
            .collect(),
        assumptions,
    };
    let just: Vec<Scenario> = scenarios.iter().map(|(_, s)| s.clone()).collect();
    let curves = if args.sweep_replications == 0 {
        Vec::new()
    } else {
        // The main run's first replications are the curves' reference runs (same seed, same
        // replication numbers): a point re-runs only what its threshold can change.
        let per = args.replications as usize;
        let take = args.sweep_replications.min(args.replications) as usize;
        let reference: Vec<&[sim::Replication]> = (0..just.len()).map(|s| &reps[s * per..s * per + take]).collect();
        understudy::sweep::thresholds(&just, &policy, args.seed, &reference)
    };
    let phases = metrics::phase::recommend(&policy, &eval);
    // The current policy's arm on the same shared arms: same faults, draws and pages.
    let comparison = current.as_ref().map(|cur| {
        let per = args.replications as usize;
        let current_records: Vec<sim::IncidentRecord> = reps
            .par_iter()
            .enumerate()
            .flat_map_iter(|(k, rep)| sim::rerun_policy_arm(&scenarios[k / per].1, cur, args.seed, rep).incidents)
            .collect();
        let name = args.compare.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        metrics::compare(&name, &cur.fingerprint(), &current_records, &incidents, args.seed)
    });
    let bundle = report::Bundle {
        eval: &eval,
        prov: &prov,
        incidents: &incidents,
        curves: &curves,
        phases: &phases,
        compare: comparison.as_ref(),
    };
    let mut trace_written = None;
    if let Some(path) = &args.trace_out {
        let n = understudy::trace::write(Some(path), reps.iter().flat_map(|r| r.trace.iter().cloned()).collect())
            .map_err(|e| anyhow::anyhow!("cannot write the trace to {}: {e}", path.display()))?;
        trace_written = Some((path.clone(), n));
    }
    let written = report::write_all(&args.out, &bundle, sim::audit_records(&reps), sim::escalations(&reps))?;
    print!("{}", report::summary_table(&eval, &phases));
    if let Some(c) = &comparison {
        println!("\nWhat changes from {} to {}:\n{}", c.current, args.policy.display(), report::compare_table(c));
    }
    println!(
        "\n{} incidents in {} replication(s) of {} scenario(s), {:.1}s. Wrote:",
        eval.overall.incidents,
        args.replications,
        scenarios.len(),
        started.elapsed().as_secs_f64()
    );
    for p in written {
        println!("  {}", p.display());
    }
    if let Some((p, n)) = trace_written {
        println!("  {} ({n} trace records of the policy arm)", p.display());
    }
    Ok(EXIT_OK)
}
