//! `understudy bench`: the engine's own throughput, a whole scenario, replay throughput.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use understudy::bench;
use understudy::classify::rules::Rules;
use understudy::policy::Policy;
use understudy::sim::scenario::Scenario;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Measure understudy's speed (numbers, not pass/fail). See benches/README.md.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// The event queue under the hold model: N pending, each pop schedules one more at now + Exp(1).
    Engine {
        /// Events pending in the queue throughout.
        #[arg(long, default_value_t = 100_000)]
        pending: usize,
        /// Events popped (each schedules one more).
        #[arg(long, default_value_t = 20_000_000)]
        events: u64,
        /// One JSON object instead of aligned lines.
        #[arg(long)]
        json: bool,
    },
    /// A whole scenario at full fidelity: incidents and simulated days per second.
    Scenario {
        /// Scenario file.
        #[arg(default_value = "scenarios/week-in-prod.yaml")]
        scenario: PathBuf,
        /// Policy file.
        #[arg(long, default_value = "scenarios/policy.yaml")]
        policy: PathBuf,
        /// Replications to run.
        #[arg(long, default_value_t = 20)]
        replications: u32,
        /// One JSON object instead of aligned lines.
        #[arg(long)]
        json: bool,
    },
    /// Replay throughput and peak memory on a synthetic trace of about this many megabytes.
    Replay {
        /// Size of the synthetic trace, in megabytes.
        #[arg(long, default_value_t = 100)]
        megabytes: u64,
        /// One JSON object instead of aligned lines.
        #[arg(long)]
        json: bool,
    },
}

fn print<T: serde::Serialize>(json: bool, v: &T) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(v)?);
    } else {
        let value = serde_json::to_value(v)?;
        for (k, v) in value.as_object().into_iter().flatten() {
            println!("{k:>24}  {v}");
        }
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    match args.what {
        What::Engine { pending, events, json } => {
            let count = || crate::ALLOCATIONS.load(Ordering::Relaxed);
            let r = bench::hold(pending.max(1), events.max(1), 42, Some(&count));
            print(json, &r)?;
        }
        What::Scenario { scenario, policy, replications, json } => {
            let (s, p) = match (Scenario::load(&scenario), Policy::load(&policy)) {
                (Ok((s, _)), Ok(p)) => (s, p.policy),
                (Err(r), _) => {
                    eprint!("{r}");
                    return Ok(EXIT_BAD_INPUT);
                }
                (_, Err(r)) => {
                    eprint!("{r}");
                    return Ok(EXIT_BAD_INPUT);
                }
            };
            print(json, &bench::scenario(&s, &p, replications.max(1)))?;
        }
        What::Replay { megabytes, json } => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("synthetic.jsonl");
            bench::synthetic_trace(&path, megabytes.max(1))?;
            let policy =
                Policy::load(std::path::Path::new("scenarios/policy.yaml")).map_err(|r| anyhow::anyhow!("{r}"))?.policy;
            let rules = Rules::load(std::path::Path::new("scenarios/classifier-rules.yaml"))
                .map_err(|r| anyhow::anyhow!("{r}"))?;
            let r = bench::replay(&path, policy, &rules).map_err(anyhow::Error::msg)?;
            print(json, &r)?;
        }
    }
    Ok(EXIT_OK)
}
