//! `understudy fit`: a scenario estimated from a team's own history.

use std::path::PathBuf;

use understudy::fit::Fitter;
use understudy::sim::scenario::Scenario;
use understudy::trace;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Estimate a scenario from a team's history: its services, fault rates, people and classifier.
///
/// Reads traces made by `understudy import` or `simulate --trace-out` (truth records from `import faults`, pages from
/// `import pagerduty`, people's actions from `import audit`, classifications, campaigns) as one
/// time-ordered stream in bounded memory, and writes a scenario `check` accepts and `simulate`
/// runs. Fault rates per service and type come with exact Poisson intervals over the time the
/// history covers (its `window` records, else each trace's first to last record); people's
/// delays (page → acknowledged → their action → resolved, onset → noticed where no alert fired)
/// are log-normals with intervals and a Kolmogorov–Smirnov test; the classifier's accuracy,
/// confusion and confidences come from classifications against truth. Every figure is listed
/// under `fitted:` with {value, ci95, n, source}; what the history cannot inform keeps its
/// default and is listed as assumed. --report writes fit.json, report.md and index.html (the
/// goodness of fit).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Trace files (JSON Lines, time-ordered unless --allow-unsorted).
    #[arg(required = true, value_name = "TRACE")]
    traces: Vec<PathBuf>,
    /// Where to write the scenario (- for stdout).
    #[arg(short = 'o', long = "out", default_value = "-", value_name = "SCENARIO")]
    out: PathBuf,
    /// The scenario's name.
    #[arg(long, default_value = "fitted")]
    name: String,
    /// Also write fit.json, report.md and index.html (goodness of fit) into this folder.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Sort out-of-order traces on the fly (external merge sort, bounded memory).
    #[arg(long)]
    allow_unsorted: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if args.name.trim().is_empty() || args.name.chars().any(char::is_control) {
        eprintln!("error: --name {:?} is blank or holds control characters: give the scenario a name", args.name);
        return Ok(EXIT_BAD_INPUT);
    }
    if args.traces.iter().any(|t| t.as_os_str() == "-") {
        eprintln!(
            "error: fit reads trace files, not standard input (it reads every trace side by side in time order); save the trace to a file and pass its path"
        );
        return Ok(EXIT_BAD_INPUT);
    }
    if let Some((u, t)) = understudy::diag::repeated(&args.traces) {
        eprintln!(
            "error: {} and {} are the same trace: read twice, its faults would count twice; pass it once",
            u.display(),
            t.display()
        );
        return Ok(EXIT_BAD_INPUT);
    }
    // Never overwrite what is being read, nor one output with another.
    let mut outputs = Vec::new();
    if args.out.as_os_str() != "-" {
        outputs.push(args.out.clone());
    }
    if let Some(d) = &args.report {
        if d.exists() && !d.is_dir() {
            eprintln!(
                "error: --report {} is a file; --report takes a folder (fit writes fit.json, report.md and index.html into it)",
                d.display()
            );
            return Ok(EXIT_BAD_INPUT);
        }
        let files = ["fit.json", "report.md", "index.html"].map(|f| d.join(f));
        if args.out.as_os_str() != "-"
            && let Some(f) = files
                .iter()
                .find(|f| understudy::diag::same_file(&args.out, f) || understudy::diag::same_path(&args.out, f))
        {
            eprintln!(
                "error: -o {} is {}, which --report writes: one would overwrite the other; write the scenario elsewhere",
                args.out.display(),
                f.display()
            );
            return Ok(EXIT_BAD_INPUT);
        }
        outputs.extend(files);
    }
    for t in &args.traces {
        if let Some(o) = outputs.iter().find(|o| understudy::diag::same_file(t, o)) {
            eprintln!(
                "error: the trace {} is {}, which fit writes: it would be overwritten; write the scenario elsewhere",
                t.display(),
                o.display()
            );
            return Ok(EXIT_BAD_INPUT);
        }
    }
    let streams = match trace::open_all(&args.traces, args.allow_unsorted) {
        Ok(s) => s,
        Err(d) => {
            eprint!("{}", d.render(None));
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let mut fitter = Fitter::default();
    let mut errors = 0;
    for item in understudy::replay::merge_tagged(streams) {
        match item {
            Ok((k, _, rec)) => fitter.observe(k, &rec),
            Err(d) => {
                errors += 1;
                eprint!("{}", d.render(None));
                if errors >= 20 {
                    eprintln!("error: stopping after 20 bad records");
                    break;
                }
            }
        }
    }
    if errors > 0 {
        eprintln!("error: {errors} bad record(s); nothing was fitted or written");
        return Ok(EXIT_BAD_INPUT);
    }
    let from: Vec<String> = args.traces.iter().map(|p| p.display().to_string()).collect();
    let fit = fitter.finish(from);
    let yaml = fit.scenario_yaml(&args.name);
    // What fit writes must be a scenario: a failure here is a bug in fit, said as one.
    let label = if args.out.as_os_str() == "-" { PathBuf::from("<fitted>") } else { args.out.clone() };
    if let Err(ds) = Scenario::from_yaml(&label, &yaml) {
        for d in ds {
            eprint!("{}", d.render(Some(&yaml)));
        }
        anyhow::bail!("the fitted scenario does not validate (a bug in `understudy fit`; please report it)");
    }
    let mut written = Vec::new();
    if let Some(dir) = &args.report {
        // The report first: a scenario is written only with its evidence beside it.
        written = understudy::report::fit::write_all(dir, &fit)
            .map_err(|e| anyhow::anyhow!("cannot write the report into {}: {e}", dir.display()))?;
    }
    if args.out.as_os_str() == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(yaml.as_bytes()).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(EXIT_OK); // the reader stopped reading (`| head`): not an error of ours
            }
            anyhow::bail!("cannot write the scenario to standard output: {e}");
        }
    } else {
        std::fs::write(&args.out, &yaml)
            .map_err(|e| anyhow::anyhow!("cannot write the scenario to {}: {e}", args.out.display()))?;
    }
    eprintln!(
        "fitted {} record(s) over {:.2} days: {} figure(s) from the history, {} kept at defaults",
        fit.records,
        fit.exposure_days,
        fit.parameters.len(),
        fit.assumed.len()
    );
    for s in fit.sentences() {
        eprintln!("  {s}");
    }
    for a in &fit.assumed {
        eprintln!("  assumed: {a}");
    }
    if args.out.as_os_str() != "-" {
        eprintln!("wrote {}", args.out.display());
    }
    for p in written {
        eprintln!("wrote {}", p.display());
    }
    Ok(EXIT_OK)
}
