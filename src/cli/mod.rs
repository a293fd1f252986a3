//! Command line: one file per subcommand, clap derive. Holds no logic of its own: each
//! subcommand reads its inputs, calls the library and maps the outcome to an exit code
//! (0 success, 1 a check or gate failed, 2 bad input or usage).

/// A loaded file, or: print its diagnostics (which carry the source lines) and return the
/// bad-input exit code from the calling subcommand.
macro_rules! or_bad_input {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(report) => {
                eprint!("{report}");
                return Ok($crate::cli::EXIT_BAD_INPUT);
            }
        }
    };
}

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod check;
mod decide;
mod gate;
mod import;
mod keygen;
mod live;
mod replay;
mod reset_breaker;
mod shadow;
mod simulate;
mod sweep;
mod twin;

/// Prove an auto-remediation policy safe before it touches production, then run it.
///
/// Typical first steps:
///
///   understudy simulate            (every scenario in scenarios/, default policy)
///
///   understudy check scenarios/policy.yaml
///
///   understudy decide --policy scenarios/policy.yaml --incidents fixtures/lesson-incidents.jsonl
#[derive(Debug, Parser)]
#[command(name = "understudy", version, about, long_about, max_term_width = 100)]
struct Cli {
    /// More logging on stderr (-v: decisions, -vv: everything).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Simulate(simulate::Args),
    Decide(decide::Args),
    Check(check::Args),
    Gate(gate::Args),
    Keygen(keygen::Args),
    ResetBreaker(reset_breaker::Args),
    Import(import::Args),
    Replay(replay::Args),
    Bench(bench::Args),
    Twin(twin::Args),
    Live(live::Args),
    Sweep(sweep::SweepArgs),
    Merge(sweep::MergeArgs),
    Shadow(shadow::Args),
}

/// Exit codes shared by every subcommand.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;

/// A command whose output goes to a pipe that closes (`understudy check … | head -1`) ends
/// quietly with what it wrote, as `cat` and ripgrep do, instead of panicking in `println!`:
/// the default SIGPIPE action is restored. Not for the servers (shadow, live, twin), where a
/// client that hangs up must not stop the process; Rust's ignored SIGPIPE stays for them.
fn quiet_on_broken_pipe() {
    // SAFETY: called once at start-up before any thread is spawned; SIG_DFL is a valid action
    // for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "understudy=debug",
        _ => "debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()))
        .with_writer(std::io::stderr)
        .try_init();
    if !matches!(cli.command, Command::Shadow(_) | Command::Live(_) | Command::Twin(_)) {
        quiet_on_broken_pipe();
    }
    let result = match cli.command {
        Command::Simulate(a) => simulate::run(a),
        Command::Decide(a) => decide::run(a),
        Command::Check(a) => check::run(a),
        Command::Gate(a) => gate::run(a),
        Command::Keygen(a) => keygen::run(a),
        Command::ResetBreaker(a) => reset_breaker::run(a),
        Command::Import(a) => import::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Twin(a) => twin::run(a),
        Command::Live(a) => live::run(a),
        Command::Sweep(a) => sweep::sweep(a),
        Command::Merge(a) => sweep::merge(a),
        Command::Shadow(a) => shadow::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
