//! Integration tests, linked once (one binary, one module per area).

mod arms;
mod cli;
mod escalate;
mod evidence;
mod fit;
mod gate;
mod hostile;
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

/// Run the `understudy` binary from the repository root and wait for it.
pub fn understudy(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("run understudy")
}

/// A new key pair from `understudy keygen --out DIR`: (secret, public).
pub fn keygen(dir: &Path) -> (PathBuf, PathBuf) {
    let o = understudy(&["keygen", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    (dir.join("understudy-signing.key"), dir.join("understudy-signing.pub"))
}

/// A JSON Lines file (an audit log, an outbox, escalations.jsonl) as values; missing is empty.
pub fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// An audit log's lines without the `started` records shadow and live write on each start
/// (what replay of the same alerts writes), each with its newline.
pub fn audit_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter(|l| !l.starts_with(r#"{"record":"started""#)).map(|l| format!("{l}\n")).collect()
}

/// The lesson's policy as the lesson writes it (`fixtures/lesson-policy.yaml`): all three
/// runbooks auto-execute.
pub fn lesson_policy() -> understudy::policy::Policy {
    understudy::policy::Policy::load(&repo("fixtures/lesson-policy.yaml")).unwrap_or_else(|r| panic!("{r}")).policy
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
        Daemon::start_logged(args, env, None)
    }

    /// [`Daemon::start`] with stderr written to `stderr` (inherited when `None`).
    pub fn start_logged(args: &[&str], env: &[(&str, &str)], stderr: Option<&Path>) -> Daemon {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_understudy"));
        cmd.args(args).current_dir(repo("")).stdout(std::process::Stdio::piped());
        if let Some(f) = stderr {
            cmd.stderr(std::fs::File::create(f).unwrap());
        }
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

/// A loopback HTTP receiver standing in for PagerDuty, Slack or a webhook: it records every
/// request and answers with scripted statuses (then 202). One request per connection.
pub struct Inbox {
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

/// One request an [`Inbox`] received, and the status it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl Inbox {
    pub fn start(script: &[u16]) -> Inbox {
        use std::io::{BufRead, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Received>::new()));
        let script = std::sync::Arc::new(std::sync::Mutex::new(script.to_vec()));
        let seen = std::sync::Arc::clone(&requests);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut r = std::io::BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.trim_end().split_once(':') {
                        headers.push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                let len = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_err() {
                    continue;
                }
                let status = {
                    let mut s = script.lock().unwrap();
                    if s.is_empty() { 202 } else { s.remove(0) }
                };
                seen.lock().unwrap().push(Received {
                    path,
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                    status,
                });
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                );
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        Inbox { url, requests }
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}
