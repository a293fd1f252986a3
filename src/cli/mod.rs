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
mod completions;
mod decide;
mod fit;
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
    Fit(fit::Args),
    Bench(bench::Args),
    Twin(twin::Args),
    Live(live::Args),
    Sweep(sweep::SweepArgs),
    Merge(sweep::MergeArgs),
    Shadow(shadow::Args),
    Completions(completions::Args),
    /// Write the fuzz targets' seed corpora (used by scripts/fuzz).
    #[command(name = "fuzz-seeds", hide = true)]
    FuzzSeeds {
        /// Folder to write `<target>/` corpora into.
        corpus: std::path::PathBuf,
        /// The real dumps to add (../shared/realdata), when present.
        #[arg(long)]
        realdata: Option<std::path::PathBuf>,
    },
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
    // Colour only for a person at a terminal: a log redirected to a file or read by a
    // collector gets plain text (and NO_COLOR is honoured, https://no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()))
        .with_writer(std::io::stderr)
        .with_ansi(colour)
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
        Command::Fit(a) => fit::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Twin(a) => twin::run(a),
        Command::Live(a) => live::run(a),
        Command::Sweep(a) => sweep::sweep(a),
        Command::Merge(a) => sweep::merge(a),
        Command::Shadow(a) => shadow::run(a),
        Command::FuzzSeeds { corpus, realdata } => understudy::fuzzing::write_seeds(&corpus, realdata.as_deref())
            .map(|n| {
                println!("{n} seed file(s) in {}", corpus.display());
                EXIT_OK
            })
            .map_err(anyhow::Error::from),
        Command::Completions(a) => completions::run(a, &mut <Cli as clap::CommandFactory>::command()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand, nested ones included, with its full name (`import k8s`).
    fn commands() -> Vec<(String, clap::Command)> {
        fn walk(prefix: &str, c: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
            for sub in c.get_subcommands() {
                let name = format!("{prefix}{}", sub.get_name()).trim().to_string();
                out.push((name.clone(), sub.clone()));
                walk(&format!("{name} "), sub, out);
            }
        }
        let mut out = Vec::new();
        walk("", &super::Cli::command(), &mut out);
        out
    }

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
        let mut problems = Vec::new();
        for (name, c) in commands() {
            if c.get_about().is_none() {
                problems.push(format!("`{name}` has no about text"));
            }
            for a in c.get_arguments() {
                let id = a.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    problems.push(format!("`{name}`: `{id}` has no help text"));
                }
                // One name for an output folder: `--out DIR`.
                if matches!(id, "out_dir" | "output_dir" | "outdir" | "report_dir") {
                    problems.push(format!("`{name}`: `{id}` should be `--out`"));
                }
                // Every command that takes a policy finds the shipped one by default.
                if id == "policy" {
                    let d: Vec<String> =
                        a.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
                    if d != ["scenarios/policy.yaml"] {
                        problems.push(format!("`{name}`: --policy defaults to {d:?}, not scenarios/policy.yaml"));
                    }
                }
                if id == "quiet" && a.get_num_args().is_some_and(|n| n.takes_values()) {
                    problems.push(format!("`{name}`: --quiet takes a value; quiet means less output"));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// The `--help` of every command, as a user reads it: a changed flag shows in review.
    #[test]
    fn help_text_snapshots() {
        let mut root = super::Cli::command().term_width(100);
        root.build();
        let mut all = String::new();
        let mut render = |name: &str, c: &mut clap::Command| {
            let name = if name.is_empty() { String::new() } else { format!(" {name}") };
            all.push_str(&format!("━━━ understudy{name} --help\n{}\n", c.render_long_help()));
        };
        render("", &mut root.clone());
        for (name, _) in commands() {
            let mut c = root.clone();
            let mut cur = &mut c;
            for part in name.split(' ') {
                cur = cur.find_subcommand_mut(part).expect("a listed subcommand exists");
            }
            render(&name, &mut cur.clone().term_width(100));
        }
        insta::assert_snapshot!("help", all);
    }
}
