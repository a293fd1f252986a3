//! Integration tests, linked once (one binary, one module per area).

mod cli;
mod gate;
mod html;
pub mod import;
mod lesson;
mod live;
mod metrics;
mod policy_errors;
mod properties;
mod replay;
mod shadow;
mod simulate;
mod sweep;
mod twin;

use std::path::{Path, PathBuf};

/// A path inside the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The default policy shipped in `scenarios/policy.yaml`.
pub fn default_policy() -> understudy::policy::Policy {
    understudy::policy::Policy::load(&repo("scenarios/policy.yaml")).unwrap_or_else(|r| panic!("{r}")).policy
}

/// A long-running `understudy` subcommand (twin, shadow, live) that prints
/// `listening on ADDR` first; interrupted and reaped when dropped.
pub struct Daemon {
    pub child: std::process::Child,
    pub addr: String,
    /// The rest of its stdout, read in the background.
    pub stdout: std::sync::mpsc::Receiver<String>,
}

impl Daemon {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_understudy"));
        cmd.args(args).current_dir(repo("")).stdout(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{args:?} printed {first:?} first"))
            .to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon { child, addr, stdout: rx }
    }

    /// Interrupt (Ctrl-C) and wait; the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        // `kill` as the shell builtin: no procps needed on a fresh machine.
        let _ = std::process::Command::new("sh").args(["-c", &format!("kill -INT {}", self.child.id())]).status();
        self.child.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Poll `f` every 200 ms until it returns `Some`, for at most `secs` seconds.
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < end, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
