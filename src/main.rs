//! The `understudy` binary: parses the command line and hands over to one subcommand.
//! Everything it does lives in the library; see `cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
