//! Shadow mode's Alertmanager receiver: `POST /webhook/alertmanager` with a bearer token;
//! alerts go through the classifier and the decision pipeline exactly as in replay (the same
//! `Replayer`, owned by one worker thread), and every decision is written to the journal
//! (audit log, fsynced; escalations to the outbox). Nothing is executed.
//!
//! Alerts are decided at their own `startsAt`, so the same incident replayed from a trace
//! and received live gives byte-identical decision records. Requests without the right
//! token get 401 and change nothing.

use std::io::Write;
use std::sync::{Arc, mpsc};

use axum::Router;
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
    symptoms: crate::classify::rules::Symptoms,
    make: impl FnOnce() -> C + Send + 'static,
    journal: Shared,
    episodes: Episodes,
    controller: Option<Controller>,
    mut restored: Restored,
) -> (mpsc::Sender<Msg>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Msg>();
    let handle = std::thread::spawn(move || {
        let classifier = make();
        // Decided at the first alert (no decision window: nothing would wake the worker
        // between webhooks); `not-an-incident` alerts open nothing, as in replay.
        let settings = Settings { header: episodes.header, symptoms, ..Settings::default() };
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
        let in_flight = std::mem::take(&mut restored.in_flight);
        let open: std::collections::BTreeSet<String> = restored.open.values().map(|o| o.id.clone()).collect();
        let breakers = restored.breakers.clone();
        let last_written = restored.last_written;
        if let Err(e) = replayer.restore(restored) {
            tracing::error!(error = %e, "cannot write to the audit log while restoring");
            return;
        }
        if controller.is_some() {
            replayer.collect_executed();
        }
        let (trip_tx, trips) = mpsc::channel::<super::controller::Trip>();
        if let Some(c) = &controller {
            let held = |p: &super::controller::Pending| {
                if !p.id.as_ref().is_some_and(|id| open.contains(id)) {
                    Some("its incident closed since".to_string())
                } else {
                    breakers
                        .get(&crate::decide::ServiceKey::new(&p.namespace, &p.service))
                        .map(|why| format!("the service's breaker is tripped ({why})"))
                }
            };
            if let Err(e) = c.unsettled(in_flight, held, last_written, &trip_tx) {
                tracing::error!(error = %e, "cannot record the actions left in flight before the restart");
            }
            c.resume(unverified, &trip_tx);
        }
        // Verifications run on the controller's timer, and actions on a thread of their own:
        // a hung Kubernetes API (each call bounded by the executor's timeouts) holds up the
        // actions queued behind it, never the decisions on unrelated alerts.
        let controller = controller.map(Arc::new);
        let actions = controller.as_ref().map(|c| {
            c.spawn_timer();
            let (tx, rx) = mpsc::channel::<(crate::decide::Incident, crate::decide::Decision)>();
            let (c, trips) = (Arc::clone(c), trip_tx.clone());
            let handle = std::thread::spawn(move || {
                for (inc, d) in rx {
                    if let Err(e) = c.handle(&inc, &d, &trips) {
                        tracing::error!(error = %e, service = %d.service, "cannot record the action's outcome");
                    }
                }
            });
            (tx, handle)
        });
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
                        if let Some((tx, _)) = &actions {
                            for x in replayer.take_executed() {
                                // The decision is in the audit log; its action follows.
                                let _ = tx.send(x);
                            }
                        }
                        n += 1;
                    }
                    let _ = reply.send(result.map(|_: usize| n));
                }
                Msg::Finish(reply) => {
                    // Actions already decided are carried out (each call bounded) before the
                    // worker stops; verifications still waiting resume on the next start.
                    if let Some((tx, handle)) = actions {
                        drop(tx);
                        let _ = handle.join();
                    }
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
        .and_then(|v| v.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")).map(|(_, t)| t))
        .unwrap_or("");
    !token.is_empty()
        && given.len() == token.len()
        && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The largest webhook body read (Alertmanager's own default group limit is far below).
pub const MAX_BODY: usize = 8 << 20;
/// The most alerts decided from one request; more is refused with 413 (set `max_alerts:` in
/// Alertmanager's `webhook_config`), so one huge batch cannot hold up every other webhook.
pub const MAX_ALERTS: usize = 1_000;
/// A client has this long to send its request headers, then this long for its body.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn webhook(State(r): State<Receiver>, req: axum::extract::Request) -> (StatusCode, String) {
    // The token is checked before a byte of the body is read.
    if !authorised(req.headers(), &r.token) {
        return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n".into());
    }
    // A declared length over the cap is refused without waiting for the body.
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return (StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {} MiB\n", MAX_BODY >> 20));
    }
    let body = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(req.into_body(), MAX_BODY)).await {
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {}s\n", BODY_TIMEOUT.as_secs()),
            );
        }
        Ok(Err(_)) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {} MiB\n", MAX_BODY >> 20));
        }
        Ok(Ok(b)) => b,
    };
    let (records, skipped) = match alertmanager::webhook_body(&body, MAX_ALERTS) {
        Ok(r) => r,
        Err(e) => {
            let status = match e {
                alertmanager::BodyError::NotJson(_) => StatusCode::BAD_REQUEST,
                alertmanager::BodyError::TooMany { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                alertmanager::BodyError::NoAlerts | alertmanager::BodyError::NoneDecidable { .. } => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            };
            return (status, format!("{e}\n"));
        }
    };
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

/// Serve `app` on `listener` until `shutdown` resolves. HTTP/1.1; a connection that has not
/// sent its request headers within [`HEADER_TIMEOUT`] is closed (a slow client cannot hold
/// a socket open by trickling header lines); an accept error (out of file descriptors)
/// waits a moment instead of ending the server; on shutdown, requests in flight get 10 s.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot accept a connection; retrying in 100 ms");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
    }
    Ok(())
}

/// The HTTP routes.
pub fn router(receiver: Receiver) -> Router {
    Router::new().route("/webhook/alertmanager", post(webhook)).with_state(receiver)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Mutex;

    use super::*;
    use crate::audit::Check;
    use crate::classify::{Classification, Evidence};
    use crate::clock::{ManualClock, Time};
    use crate::live::executor::{Done, Executor, Failed, Request};
    use crate::live::stop::{EmergencyStop, Stopped};
    use crate::trace::AlertStatus;

    /// A cluster API that hangs: every action waits until the test lets it through.
    struct Hung(Mutex<mpsc::Receiver<()>>);

    impl Executor for Hung {
        fn execute(&self, _: &Request) -> Result<Done, Failed> {
            let _ = self.0.lock().unwrap().recv();
            Ok(Done::Applied("restarted".into()))
        }
        fn stopped(&self) -> Option<Stopped> {
            None
        }
        fn verify(&self, _: &str, _: &str, _: Time) -> Vec<Check> {
            Vec::new()
        }
    }

    struct ByName;

    impl Classifier for ByName {
        fn classify(&self, ev: &Evidence<'_>, _: &mut dyn rand::RngCore) -> Classification {
            let ty = if ev.signal == "OOMKilled" { "memory-leak" } else { "unknown" };
            Classification { incident_type: ty.into(), confidence: 0.99 }
        }
    }

    fn alert(svc: &str, name: &str) -> Record {
        Record::Alert {
            at: Time::parse_rfc3339("2026-11-25T10:00:00Z").unwrap(),
            name: name.into(),
            status: AlertStatus::Firing,
            service: Some(svc.into()),
            namespace: Some("prod".into()),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            fingerprint: None,
        }
    }

    fn send(tx: &mpsc::Sender<Msg>, r: Record) -> Result<usize, String> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        tx.send(Msg::Records(vec![r], reply)).unwrap();
        // A failure detector, not a speed target: a pipeline stuck behind the hung action
        // never answers.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut rx = rx;
        loop {
            match rx.try_recv() {
                Ok(r) => return r,
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("the pipeline did not answer: {e}"),
            }
        }
    }

    #[test]
    fn a_hung_cluster_api_holds_up_its_action_never_the_decisions_on_other_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let journal = crate::live::journal::for_tests(dir.path());
        let policy = Policy::from_yaml(
            Path::new("p.yaml"),
            "remediation_policy: { incident_type: memory-leak, auto_execute: true, confidence_threshold: 0.9, max_attempts: 2, cooldown_after_action: 10m, verification_window: 5m, rollback_if_failed: false, escalation_channel: p1, action: { kind: restart } }\nguardrails: { namespaces: [prod] }\n",
        )
        .unwrap()
        .policy;
        let (release, gate) = mpsc::channel();
        let controller = Controller {
            policy: policy.clone(),
            fingerprint: policy.fingerprint(),
            promotion: None,
            allow_unsigned: false,
            executor: Arc::new(Hung(Mutex::new(gate))),
            stop: EmergencyStop::default(),
            journal: Arc::clone(&journal),
            clock: Arc::new(ManualClock::new(Time::parse_rfc3339("2026-11-25T10:00:05Z").unwrap())),
            verifications: Default::default(),
        };
        let episodes = Episodes { out: Box::new(std::io::sink()), header: false };
        let (tx, worker) = spawn_worker(
            policy,
            Default::default(),
            || ByName,
            journal,
            episodes,
            Some(controller),
            Restored::default(),
        );
        let kinds = || -> Vec<String> {
            std::fs::read_to_string(&log)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["record"].as_str().unwrap().to_string())
                .collect()
        };
        // The leak is decided and its restart hangs in the API.
        assert_eq!(send(&tx, alert("payment-api", "OOMKilled")), Ok(1));
        // Another service's alert is decided while the restart still hangs.
        assert_eq!(send(&tx, alert("checkout-api", "KubeJobFailed")), Ok(1));
        assert_eq!(kinds(), ["decision", "decision"], "both decided, the action still in the API");
        // The API answers: the outcome follows, and stopping waits for it.
        release.send(()).unwrap();
        let (reply, rx) = tokio::sync::oneshot::channel();
        tx.send(Msg::Finish(reply)).unwrap();
        worker.join().unwrap();
        assert!(rx.blocking_recv().unwrap().is_ok());
        assert_eq!(kinds(), ["decision", "decision", "outcome"]);
    }
}
