//! Delivering escalations: one worker thread per channel takes the outbox's entries in order
//! and POSTs each, rendered for its destination (PagerDuty Events API v2, Slack Block Kit, a
//! generic JSON webhook).
//!
//! Retries 5xx, 408, 429 and transport failures (timeouts, refused connections) with
//! exponential backoff and equal jitter (half the backoff fixed, half random), honouring a
//! `Retry-After` (seconds or an HTTP-date) up to the channel's `max_backoff`; does not retry other 4xx (the receiver
//! refused the request, sending it again will not help) and dead-letters them at once,
//! reported. A channel's entries go strictly in order: a `resolve` never overtakes its
//! `trigger`. Delivery is at least once (a crash between the receiver's 2xx and the outbox's
//! `done` resends on start-up); receivers drop repeats by `Idempotency-Key` (the escalation
//! id), PagerDuty folds them by `dedup_key`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::SeedableRng;

use super::outbox::{Entry, Finished, Outbox};
use crate::escalate::channels::{Destination, Resolved, Retry};
use crate::escalate::{Escalation, render};

/// Why an attempt failed, and whether another may succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// 5xx, 408, 429, a timeout or a connection error: try again after the backoff (or the
    /// receiver's `Retry-After`, when longer).
    Retry { reason: String, after: Option<Duration> },
    /// Refused (another 4xx) or unrenderable: never retried.
    Permanent(String),
}

/// The backoff before attempt `attempt + 1` (attempt counts from 1): `first · 2^(attempt-1)`
/// capped at `max`, half of it fixed and half drawn uniformly (equal jitter), so retries of
/// many escalations spread out but never come sooner than half the backoff.
pub fn backoff(r: &Retry, attempt: u32, rng: &mut impl Rng) -> Duration {
    let exp = r.first_backoff.saturating_mul(1u32 << attempt.saturating_sub(1).min(30));
    let b = exp.min(r.max_backoff);
    let half = b / 2;
    half + Duration::from_nanos(rng.gen_range(0..=half.as_nanos().min(u128::from(u64::MAX)) as u64))
}

/// The request for one entry: body and extra headers.
pub fn request(ch: &Resolved, e: &Escalation) -> (serde_json::Value, Vec<(&'static str, String)>) {
    let mut headers = vec![("Idempotency-Key", e.id.clone()), ("X-Understudy-Dedup-Key", e.dedup_key.clone())];
    let body = match &ch.channel.destination {
        Destination::PagerDuty { severity, .. } => {
            render::pagerduty(e, ch.secret.as_deref().unwrap_or_default(), severity)
        }
        Destination::Slack { .. } => render::slack(e),
        Destination::Webhook { .. } => {
            if let Some(t) = &ch.secret {
                headers.push(("Authorization", format!("Bearer {t}")));
            }
            render::webhook(e)
        }
    };
    (body, headers)
}

/// One attempt.
pub fn send(agent: &ureq::Agent, ch: &Resolved, entry: &Entry) -> Result<u16, Failure> {
    let e: Escalation = serde_json::from_value(entry.escalation.clone()).map_err(|err| {
        Failure::Permanent(format!("the outbox entry is not an escalation this version reads: {err}"))
    })?;
    let (body, headers) = request(ch, &e);
    let mut req = agent
        .post(&ch.url)
        .timeout(ch.channel.retry.timeout)
        .set("Content-Type", "application/json")
        .set("User-Agent", concat!("understudy/", env!("CARGO_PKG_VERSION")));
    for (k, v) in &headers {
        req = req.set(k, v);
    }
    match req.send_string(&body.to_string()) {
        // Redirects are not followed (see `agent`): a 3xx would otherwise count as delivered
        // while the page went nowhere.
        Ok(resp) if (200..300).contains(&resp.status()) => Ok(resp.status()),
        Ok(resp) => Err(Failure::Permanent(format!(
            "HTTP {} (a redirect to {}): point the channel at the final URL",
            resp.status(),
            resp.header("Location").map_or("nowhere".to_string(), |l| redact_url(l, &ch.channel.destination))
        ))),
        Err(ureq::Error::Status(code, resp)) => {
            let after = resp.header("Retry-After").and_then(retry_after);
            let text: String = resp.into_string().unwrap_or_default().chars().take(300).collect();
            let reason = format!("HTTP {code}: {}", text.trim());
            if code >= 500 || code == 408 || code == 429 {
                Err(Failure::Retry { reason, after })
            } else {
                Err(Failure::Permanent(reason))
            }
        }
        // Not `t.to_string()`: it starts with the URL, which for Slack is the secret.
        Err(ureq::Error::Transport(t)) => Err(Failure::Retry {
            reason: format!("{}{}", t.kind(), t.message().map_or(String::new(), |m| format!(": {m}"))),
            after: None,
        }),
    }
}

/// A URL fit for logs: only the scheme and host when the URL itself is a secret (Slack).
fn redact_url(u: &str, d: &Destination) -> String {
    match (d, url::Url::parse(u)) {
        (Destination::Slack { .. }, Ok(x)) => format!("{}://{}/…", x.scheme(), x.host_str().unwrap_or("?")),
        (Destination::Slack { .. }, Err(_)) => "(hidden)".to_string(),
        _ => u.to_string(),
    }
}

/// The HTTP client of a channel: its timeout, and no redirects.
pub fn agent(r: &Retry) -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(r.timeout).redirects(0).build()
}

/// The HTTP-date form of `Retry-After` (IMF-fixdate).
const HTTP_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// A `Retry-After` value: delay-seconds, or an HTTP-date counted from now (a date already
/// past means now).
pub fn retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = time::PrimitiveDateTime::parse(v, HTTP_DATE).ok()?.assume_utc();
    Some((at - time::OffsetDateTime::now_utc()).try_into().unwrap_or(Duration::ZERO))
}

/// Start one worker per configured channel, and one for each channel the outbox still holds
/// entries for but the configuration no longer names (they are dead-lettered). Workers stop
/// when the outbox is closed.
pub fn start(outbox: Arc<Outbox>, channels: BTreeMap<String, Resolved>) -> Vec<std::thread::JoinHandle<()>> {
    let mut handles = Vec::new();
    for name in outbox.channels() {
        if !channels.contains_key(&name) {
            let o = Arc::clone(&outbox);
            handles.push(std::thread::spawn(move || orphans(&o, &name)));
        }
    }
    for (name, ch) in channels {
        let o = Arc::clone(&outbox);
        handles.push(std::thread::spawn(move || worker(&o, &name, &ch)));
    }
    handles
}

fn orphans(outbox: &Outbox, name: &str) {
    while let Some(entry) = outbox.next(name, Duration::ZERO) {
        let reason = format!("channel `{name}` is not configured any more");
        tracing::error!(channel = name, id = entry.id(), "dead-lettered: {reason}");
        if let Err(e) = outbox.finish(&entry, 0, &Finished::DeadLetter { reason }) {
            tracing::error!(error = %e, "cannot write the outbox");
            return;
        }
    }
}

fn worker(outbox: &Outbox, name: &str, ch: &Resolved) {
    let agent = agent(&ch.channel.retry);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed ^ crate::sim::name_hash(name));
    let retry = ch.channel.retry;
    loop {
        let Some(entry) = outbox.next(name, Duration::from_secs(1)) else {
            if outbox.is_closed() {
                return;
            }
            continue;
        };
        let mut attempts = 0;
        let finished = loop {
            attempts += 1;
            match send(&agent, ch, &entry) {
                Ok(status) => break Finished::Delivered { status },
                Err(Failure::Permanent(reason)) => break Finished::DeadLetter { reason },
                Err(Failure::Retry { reason, after }) => {
                    if attempts >= retry.attempts {
                        break Finished::DeadLetter {
                            reason: format!("gave up after {attempts} attempt(s): {reason}"),
                        };
                    }
                    let wait =
                        backoff(&retry, attempts, &mut rng).max(after.unwrap_or_default().min(retry.max_backoff));
                    tracing::warn!(
                        channel = name,
                        id = entry.id(),
                        attempts,
                        "delivery failed ({reason}); retrying in {wait:?}"
                    );
                    if !outbox.pause(wait) {
                        return; // closed: the entry stays pending for the next start
                    }
                }
            }
        };
        match &finished {
            Finished::Delivered { status } => {
                tracing::info!(
                    channel = name,
                    id = entry.id(),
                    dedup_key = entry.dedup_key(),
                    attempts,
                    status,
                    "escalation delivered"
                )
            }
            Finished::DeadLetter { reason } => tracing::error!(
                channel = name,
                id = entry.id(),
                attempts,
                dead_letter = %outbox.dead_letter_path().display(),
                "escalation NOT delivered: {reason}"
            ),
        }
        // The outcome must be written before the next entry goes: keep trying (a full or
        // failing disk), never leave the channel without a worker.
        let mut wait = Duration::from_secs(1);
        while let Err(e) = outbox.finish(&entry, attempts, &finished) {
            tracing::error!(error = %e, channel = name, "cannot write the outbox; retrying in {wait:?}");
            if !outbox.pause(wait) {
                return; // closed: delivered or not, the entry is sent again on the next start
            }
            wait = (wait * 2).min(Duration::from_secs(60));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(retry_after(" 120 "), Some(Duration::from_secs(120)));
        let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(90);
        let d = retry_after(&soon.format(HTTP_DATE).unwrap()).unwrap();
        assert!(d > Duration::from_secs(80) && d <= Duration::from_secs(90), "{d:?}");
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO), "a date in the past: now");
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_equal_jitter() {
        let r = Retry {
            attempts: 12,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
        };
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        for (attempt, base) in [(1, 1u64), (2, 2), (3, 4), (9, 256), (10, 300), (40, 300)] {
            for _ in 0..50 {
                let d = backoff(&r, attempt, &mut rng);
                let b = Duration::from_secs(base);
                assert!(d >= b / 2 && d <= b, "attempt {attempt}: {d:?} outside [{:?}, {b:?}]", b / 2);
            }
        }
    }
}
