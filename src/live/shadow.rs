//! Shadow mode's Alertmanager receiver: `POST /webhook/alertmanager` with a bearer token;
//! alerts go through the classifier and the decision pipeline exactly as in replay (the same
//! `Replayer`, owned by one worker thread), and every decision is written to the journal
//! (audit log, fsynced; escalations to the outbox). Nothing is executed.
//!
//! Alerts are decided at their own `startsAt`, so the same incident replayed from a trace
//! and received live gives byte-identical decision records. Requests without the right
//! token get 401 and change nothing.

use std::io::Write;
use std::sync::mpsc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use super::controller::Controller;
use super::journal::{Shared, Writer};
use super::restore::Restored;
use crate::classify::Classifier;
use crate::policy::Policy;
use crate::replay::{Replayer, Settings};
use crate::trace::{Record, alertmanager};

type Reply = tokio::sync::oneshot::Sender<Result<usize, String>>;

/// Where episodes go, and whether the file still needs its CSV header (a restart appends).
pub struct Episodes {
    pub out: Box<dyn Write + Send>,
    pub header: bool,
}

/// A request to the worker that owns the pipeline.
pub enum Msg {
    Records(Vec<Record>, Reply),
    /// Close open episodes and flush; the worker then stops.
    Finish(Reply),
}

/// Start the worker: it owns the classifier, the pipeline and the journal's pipeline side.
/// `make` builds the classifier inside the worker thread (classifiers need not be
/// shareable). With a `controller` (live mode), executed decisions go to it after they are
/// audited; breakers its verifications trip are applied before the next records.
pub fn spawn_worker<C: Classifier + 'static>(
    policy: Policy,
    make: impl FnOnce() -> C + Send + 'static,
    journal: Shared,
    episodes: Episodes,
    controller: Option<Controller>,
    mut restored: Restored,
) -> (mpsc::Sender<Msg>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Msg>();
    let handle = std::thread::spawn(move || {
        let classifier = make();
        let settings = Settings { header: episodes.header, ..Settings::default() };
        let out: Box<dyn Write> = episodes.out;
        let sink = Box::new(Writer(journal));
        let mut replayer = match Replayer::new(policy, &classifier, settings, out, sink) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the shadow pipeline");
                return;
            }
        };
        // Before any alert: what the audit log says was done counts, as if never restarted.
        let unverified = std::mem::take(&mut restored.unverified);
        replayer.restore(restored);
        if controller.is_some() {
            replayer.collect_executed();
        }
        let (trip_tx, trips) = mpsc::channel::<super::controller::Trip>();
        if let Some(c) = &controller {
            c.resume(unverified, &trip_tx);
        }
        while let Ok(msg) = rx.recv() {
            for (key, why) in trips.try_iter() {
                tracing::warn!(service = %key.service, namespace = %key.namespace, "breaker tripped: {why}");
                replayer.state_mut().trip_breaker(key, why);
            }
            match msg {
                Msg::Records(records, reply) => {
                    let mut n = 0;
                    let mut result = Ok(0);
                    for r in &records {
                        if let Err(e) = replayer.feed(r) {
                            result = Err(e.to_string());
                            break;
                        }
                        if let Some(c) = &controller {
                            for (inc, d) in replayer.take_executed() {
                                if let Err(e) = c.handle(&inc, &d, &trip_tx) {
                                    result = Err(e.to_string());
                                }
                            }
                        }
                        n += 1;
                    }
                    let _ = reply.send(result.map(|_: usize| n));
                }
                Msg::Finish(reply) => {
                    let r = replayer.finish().map(|m| m.episodes).map_err(|e| e.to_string());
                    let _ = reply.send(r);
                    return;
                }
            }
        }
    });
    (tx, handle)
}

/// The receiver's shared state.
#[derive(Clone)]
pub struct Receiver {
    pub token: String,
    pub tx: mpsc::Sender<Msg>,
}

/// Constant-time check of `Authorization: Bearer <token>`; an empty token never matches.
pub fn authorised(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    !token.is_empty()
        && given.len() == token.len()
        && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn webhook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    if !authorised(&headers, &r.token) {
        return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n".into());
    }
    let doc: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not JSON: {e}\n")),
    };
    let (mut records, skipped) = alertmanager::import(&doc);
    records.sort_by_key(Record::at);
    let (tx, rx) = tokio::sync::oneshot::channel();
    if r.tx.send(Msg::Records(records, tx)).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the pipeline has stopped\n".into());
    }
    match rx.await {
        Ok(Ok(n)) => (StatusCode::OK, format!("{n} alert record(s) decided, {skipped} skipped\n")),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("audit log: {e}\n")),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the pipeline has stopped\n".into()),
    }
}

/// The HTTP routes.
pub fn router(receiver: Receiver) -> Router {
    Router::new().route("/webhook/alertmanager", post(webhook)).with_state(receiver)
}
