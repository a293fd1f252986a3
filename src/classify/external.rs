//! External classifiers: a subprocess or an HTTP endpoint speaking JSON, with a timeout.
//!
//! Request (one JSON object): `{"service", "namespace", "signal", "alert"}`. Response:
//! `{"incident_type": "...", "confidence": 0.9}`. A failure, a bad answer or a timeout
//! counts as `unknown` at confidence 0, which the policy escalates; the reason is kept so the
//! report can say how often the classifier failed.

use std::cell::Cell;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::RngCore;
use serde::Deserialize;

use super::{Classification, Classifier, Evidence};

#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// A program run once per classification (`sh -c`).
    Command(String),
    /// An HTTP(S) URL receiving a POST.
    Http(String),
}

/// A classifier outside this process.
#[derive(Debug)]
pub struct External {
    pub endpoint: Endpoint,
    pub timeout: Duration,
    failures: Cell<usize>,
}

#[derive(Deserialize)]
struct Answer {
    incident_type: String,
    confidence: f64,
}

impl External {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Self {
        External { endpoint, timeout, failures: Cell::new(0) }
    }

    /// Classifications that failed (error, bad answer or timeout).
    pub fn failures(&self) -> usize {
        self.failures.get()
    }

    fn request(ev: &Evidence<'_>) -> String {
        serde_json::json!({ "service": ev.service, "namespace": ev.namespace, "signal": ev.signal, "alert": ev.alert })
            .to_string()
    }

    fn ask(&self, ev: &Evidence<'_>) -> Result<Classification, String> {
        let body = Self::request(ev);
        let text = match &self.endpoint {
            Endpoint::Command(cmd) => run_with_timeout(cmd, &body, self.timeout)?,
            Endpoint::Http(url) => ureq::post(url)
                .timeout(self.timeout)
                .set("Content-Type", "application/json")
                .send_string(&body)
                .map_err(|e| e.to_string())?
                .into_string()
                .map_err(|e| e.to_string())?,
        };
        let a: Answer = serde_json::from_str(text.trim()).map_err(|e| format!("bad answer: {e}"))?;
        if !(0.0..=1.0).contains(&a.confidence) || a.incident_type.is_empty() {
            return Err("answer out of range".into());
        }
        Ok(Classification { incident_type: a.incident_type, confidence: a.confidence })
    }
}

fn run_with_timeout(cmd: &str, input: &str, timeout: Duration) -> Result<String, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start `{cmd}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let out = reader.join().unwrap_or_default();
                return if status.success() { Ok(out) } else { Err(format!("`{cmd}` exited with {status}")) };
            }
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{cmd}` timed out after {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

impl Classifier for External {
    fn classify(&self, ev: &Evidence<'_>, _rng: &mut dyn RngCore) -> Classification {
        match self.ask(ev) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "external classifier failed; counting as unknown");
                self.failures.set(self.failures.get() + 1);
                Classification { incident_type: "unknown".into(), confidence: 0.0 }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ev() -> Evidence<'static> {
        Evidence {
            service: "payment-api",
            namespace: "prod",
            signal: "OOMKilled",
            alert: None,
            truth: None,
            ..Evidence::default()
        }
    }

    #[test]
    fn a_subprocess_answers() {
        let c = External::new(
            Endpoint::Command(r#"cat >/dev/null; echo '{"incident_type":"memory-leak","confidence":0.93}'"#.into()),
            Duration::from_secs(5),
        );
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
        assert_eq!(
            c.classify(&ev(), &mut rng),
            Classification { incident_type: "memory-leak".into(), confidence: 0.93 }
        );
        assert_eq!(c.failures(), 0);
    }

    /// A one-shot HTTP server on loopback answering `body` with `status`.
    fn serve_once(status: &str, body: &'static str) -> String {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let status = status.to_string();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut req = vec![0; len];
            r.read_exact(&mut req).unwrap();
            assert!(String::from_utf8(req).unwrap().contains("payment-api"));
            write!(s, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        });
        format!("http://{addr}/classify")
    }

    #[test]
    fn an_http_endpoint_answers_and_a_500_is_unknown() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
        let ok = External::new(
            Endpoint::Http(serve_once("200 OK", r#"{"incident_type":"memory-leak","confidence":0.91}"#)),
            Duration::from_secs(5),
        );
        assert_eq!(
            ok.classify(&ev(), &mut rng),
            Classification { incident_type: "memory-leak".into(), confidence: 0.91 }
        );
        let err = External::new(Endpoint::Http(serve_once("500 Internal Server Error", "{}")), Duration::from_secs(5));
        assert_eq!(err.classify(&ev(), &mut rng).incident_type, "unknown");
        assert_eq!(err.failures(), 1);
    }

    #[test]
    fn a_timeout_or_a_bad_answer_is_unknown() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
        let slow = External::new(Endpoint::Command("sleep 5".into()), Duration::from_millis(100));
        let t = Instant::now();
        assert_eq!(slow.classify(&ev(), &mut rng).incident_type, "unknown");
        assert!(t.elapsed() < Duration::from_secs(3));
        let bad = External::new(Endpoint::Command("echo not-json".into()), Duration::from_secs(5));
        assert_eq!(bad.classify(&ev(), &mut rng).confidence, 0.0);
        assert_eq!(bad.failures(), 1);
    }
}
