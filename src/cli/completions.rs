//! `understudy completions SHELL`: shell completion scripts, generated from the same clap
//! definitions the parser uses, so they cannot drift from the flags.

use super::EXIT_OK;

/// Print a completion script for a shell.
///
/// bash: `understudy completions bash > ~/.local/share/bash-completion/completions/understudy`;
/// zsh: `understudy completions zsh > "${fpath[1]}/_understudy"`;
/// fish: `understudy completions fish > ~/.config/fish/completions/understudy.fish`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to write the script for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn run(args: Args, command: &mut clap::Command) -> anyhow::Result<u8> {
    clap_complete::generate(args.shell, command, "understudy", &mut std::io::stdout());
    Ok(EXIT_OK)
}
