//! `understudy sweep` and `understudy merge`: grids of policy variants, in parallel or sharded.

use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use understudy::grid::{self, Grid, JobResult, Summary};

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Run a grid of policy variants × scenarios × seeds on every core (or one shard of it).
///
/// Writes DIR/jobs.jsonl (one line per job) and, when the run covers the whole grid,
/// summary.json, summary.csv and index.html (a Pareto chart of recovery against harm and the
/// best variants by the gate). With --shard i/n only every n-th job from i runs; join the
/// shards with `understudy merge`. The summary does not depend on threads or shards.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Grid file: the policy, scenarios, seeds and the parameter values to vary.
    #[arg(long, value_name = "GRID")]
    grid: PathBuf,
    /// Run one slice: jobs whose index is i modulo n.
    #[arg(long, value_name = "i/n")]
    shard: Option<String>,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Output folder.
    #[arg(long, default_value = "reports/sweep", value_name = "DIR")]
    out: PathBuf,
}

/// Join shard outputs into the summary a single run would give.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Shard output folders (each holding jobs.jsonl).
    #[arg(required = true, value_name = "SHARD_DIR")]
    shards: Vec<PathBuf>,
    /// The grid file the shards ran (its digest must match theirs).
    #[arg(long, value_name = "GRID")]
    grid: PathBuf,
    /// Output folder.
    #[arg(long, default_value = "reports/sweep", value_name = "DIR")]
    out: PathBuf,
}

fn load(grid: &Path) -> Option<Grid> {
    match Grid::load(grid) {
        Ok(g) => Some(g),
        Err(r) => {
            eprint!("{r}");
            None
        }
    }
}

fn write_jobs(dir: &Path, jobs: &[JobResult]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("jobs.jsonl"))?);
    for j in jobs {
        serde_json::to_writer(&mut w, j)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

fn write_summary(dir: &Path, s: &Summary) -> anyhow::Result<()> {
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(s)? + "\n")?;
    std::fs::write(dir.join("summary.csv"), grid::csv(s))?;
    std::fs::write(dir.join("index.html"), understudy::report::sweep_page(s))?;
    println!(
        "{:>7}  {:>9}  {:>8}  {:>6}  {:>5}  {:>9}  {:>6}  parameters",
        "variant", "recovered", "worse", "loops", "wrong", "MTTR cut", "gate"
    );
    for r in &s.rows {
        println!(
            "{:>7}  {:>8.1}%  {:>7.1}%  {:>6}  {:>4.0}%  {:>8.1}%  {:>6}  {}",
            format!("#{}{}", r.variant, if r.pareto { "*" } else { "" }),
            r.automated_recovery_rate * 100.0,
            r.made_worse_rate * 100.0,
            r.loops,
            r.false_confidence_share * 100.0,
            r.mttr_reduction * 100.0,
            r.gate_passed.map_or("-", |p| if p { "pass" } else { "fail" }),
            r.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        );
    }
    println!(
        "recovered: incidents recovered by automation; worse: made worse by automation; wrong: actions on a wrong label; MTTR cut: mean time to recovery, policy vs the team today; * = Pareto front"
    );
    println!("{}", understudy::report::sweep_best(s));
    println!("wrote {}", dir.join("summary.json").display());
    Ok(())
}

pub fn sweep(args: SweepArgs) -> anyhow::Result<u8> {
    let Some(g) = load(&args.grid) else { return Ok(EXIT_BAD_INPUT) };
    let (i, n) = match args.shard.as_deref().map(grid::parse_shard) {
        None => (0, 1),
        Some(Ok(x)) => x,
        Some(Err(e)) => {
            eprintln!("error: --shard: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let all = g.jobs().len();
    let mine: Vec<usize> = (0..all).filter(|k| k % n == i).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build()?;
    let bar = ProgressBar::with_draw_target(Some(mine.len() as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("sweep {pos}/{len} jobs [{elapsed_precise}] {wide_bar} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let results: Vec<JobResult> = pool.install(|| {
        mine.par_iter()
            .map(|&k| {
                let r = grid::run_job(&g, k);
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    write_jobs(&args.out, &results)?;
    eprintln!(
        "{} of {all} job(s) ({} variant(s) × {} scenario(s) × {} seed(s)) in shard {i}/{n}",
        results.len(),
        g.variants().len(),
        g.scenarios.len(),
        g.seeds.len()
    );
    if n == 1 {
        let s = grid::summarize(&g, results).map_err(anyhow::Error::msg)?;
        write_summary(&args.out, &s)?;
    } else {
        println!("wrote {}; join the shards with `understudy merge`", args.out.join("jobs.jsonl").display());
    }
    Ok(EXIT_OK)
}

pub fn merge(args: MergeArgs) -> anyhow::Result<u8> {
    let Some(g) = load(&args.grid) else { return Ok(EXIT_BAD_INPUT) };
    let mut jobs = Vec::new();
    for d in &args.shards {
        match grid::read_jobs(&d.join("jobs.jsonl")) {
            Ok(mut j) => jobs.append(&mut j),
            Err(e) => {
                eprint!("{}", e.render(None));
                return Ok(EXIT_BAD_INPUT);
            }
        }
    }
    jobs.sort_by_key(|j| j.job);
    let s = match grid::summarize(&g, jobs.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    jobs.dedup_by_key(|j| j.job);
    write_jobs(&args.out, &jobs)?;
    write_summary(&args.out, &s)?;
    Ok(EXIT_OK)
}
