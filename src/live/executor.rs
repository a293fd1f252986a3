//! Executors: who carries out an executed decision in shadow and live mode.
//!
//! One trait, [`Executor`]: the [`Recorder`] (shadow: logs what it would do, touches
//! nothing) and [`Kube`] (live: the Kubernetes API through kube-rs). The simulator's executor
//! is the world model itself (`sim::dynamics::Dynamics::act`), which needs the event queue and
//! so is called by the runner directly. Every Kubernetes write is first sent as a server-side
//! dry-run and is idempotent: an action whose marker (the decision's action id) is already on
//! the object is not repeated. Executors decide nothing; `live::controller` calls them only
//! for decisions the policy executed, the promotion covers, and no stop forbids.

use std::time::Duration;

use serde_json::{Value, json};

use super::stop::Stopped;
use crate::audit::Check;
use crate::clock::Time;
use crate::policy::Action;

/// What to do, for whom, and the id that makes it idempotent.
#[derive(Debug, Clone)]
pub struct Request {
    /// Stable per decision: the same alert decided again gives the same id.
    pub action_id: String,
    pub service: String,
    pub namespace: String,
    pub action: Action,
    pub target_replicas: Option<u32>,
    pub at: Time,
}

/// How an action went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Carried out now.
    Applied(String),
    /// Found already carried out (same action id, or the target state already holds).
    AlreadyApplied(String),
    /// Logged only (shadow).
    Recorded(String),
}

impl Done {
    pub fn status(&self) -> &'static str {
        match self {
            Done::Applied(_) => "applied",
            Done::AlreadyApplied(_) => "already-applied",
            Done::Recorded(_) => "recorded",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Done::Applied(d) | Done::AlreadyApplied(d) | Done::Recorded(d) => d,
        }
    }
}

/// Why an action was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failed {
    /// The server-side dry-run refused it: nothing was changed.
    #[error("server-side dry-run refused the action, nothing changed: {0}")]
    DryRun(String),
    #[error("{0}")]
    Api(String),
    #[error("{0}")]
    Unsupported(String),
}

impl Failed {
    pub fn status(&self) -> &'static str {
        match self {
            Failed::DryRun(_) => "dry-run-refused",
            Failed::Api(_) => "failed",
            Failed::Unsupported(_) => "unsupported",
        }
    }
}

/// How to put back what an action changed (`rollback_if_failed`), read just before it ran.
/// Written into the action's `applied` outcome record, so a restart can still undo it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Undo {
    /// Scale back to the replicas it had.
    Replicas { replicas: u32 },
    /// Roll forward to the pod template a rollback replaced.
    Template { template: Value },
    /// Turn the feature flag back on.
    FlagOn { url: String, flag: String },
}

impl Undo {
    /// What undoing does, as a person would type or read it.
    pub fn describe(&self, namespace: &str, service: &str) -> String {
        match self {
            Undo::Replicas { replicas } => {
                format!("kubectl scale deployment/{service} -n {namespace} --replicas={replicas}")
            }
            Undo::Template { .. } => {
                format!("roll deployment/{service} -n {namespace} forward to the template the rollback replaced")
            }
            Undo::FlagOn { url, flag } => format!("POST {url} {{\"flag\": \"{flag}\", \"enabled\": true}}"),
        }
    }
}

/// Carries out actions and reads back what verification needs.
pub trait Executor: Send + Sync {
    fn execute(&self, req: &Request) -> Result<Done, Failed>;

    /// What undoing `req` would need, read just before it runs; `None` when it cannot be
    /// undone (a restart: the old pods are gone; a purged cache; a traffic shift or Helm
    /// rollback whose previous state is not read here).
    fn before(&self, req: &Request) -> Option<Undo> {
        let _ = req;
        None
    }

    /// Put back what the action `action_id` changed on `namespace/service`: dry-run first,
    /// and idempotent (an undo already done is not repeated).
    fn undo(&self, action_id: &str, namespace: &str, service: &str, undo: &Undo) -> Result<Done, Failed> {
        let _ = (action_id, namespace, service, undo);
        Err(Failed::Unsupported("this executor cannot undo actions".into()))
    }

    /// The cluster-side emergency stop (`None`: not stopped). Fails safe: an unreadable
    /// switch counts as stopped.
    fn stopped(&self) -> Option<Stopped>;

    /// Checks of the service after an action taken at `since`.
    fn verify(&self, namespace: &str, service: &str, since: Time) -> Vec<Check>;
}

/// Shadow mode's executor: records, acts on nothing.
#[derive(Debug, Default)]
pub struct Recorder;

impl Executor for Recorder {
    fn execute(&self, req: &Request) -> Result<Done, Failed> {
        Ok(Done::Recorded(format!("would run {} on {}/{}", req.action.kind(), req.namespace, req.service)))
    }

    fn stopped(&self) -> Option<Stopped> {
        None
    }

    fn verify(&self, _: &str, _: &str, _: Time) -> Vec<Check> {
        Vec::new()
    }
}

/// The annotation that marks an action as done (its value is the action id).
pub const ACTION_ID: &str = "understudy.io/action-id";
/// The annotation that marks an undo as done (its value is the undone action's id).
pub const UNDO_OF: &str = "understudy.io/undo-of";
/// The ConfigMap whose presence stops every action.
pub const STOP_CONFIGMAP: &str = "understudy-emergency-stop";

/// Live mode's executor: the Kubernetes API through kube-rs.
pub struct Kube {
    client: kube::Client,
    rt: tokio::runtime::Handle,
    /// The controller's namespace (where the stop ConfigMap lives).
    namespace: String,
    http_timeout: Duration,
    prometheus: Option<Prometheus>,
}

/// A Prometheus query verification runs (with `{service}` and `{namespace}` filled in): it
/// passes when the query returns no series or only zeros, like an alert expression that
/// stopped firing.
#[derive(Debug, Clone)]
pub struct Prometheus {
    pub url: String,
    pub query: String,
}

/// The longest one Kubernetes request may take.
const API_TIMEOUT: Duration = Duration::from_secs(10);
/// The stop ConfigMap is read before every action: a hung API stops automation in this long.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a whole action (dry-run, then the write) may take.
const ACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest one verification (the Deployment, its pods, Prometheus) may take; one that
/// does not finish is unknown and tried again.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(30);

fn api_error(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({}): {}", s.reason, s.code, s.message),
        other => other.to_string(),
    }
}

impl Kube {
    /// Connect with a kubeconfig file (or the in-cluster / default configuration).
    pub fn connect(
        rt: tokio::runtime::Handle,
        kubeconfig: Option<&std::path::Path>,
        namespace: &str,
        prometheus: Option<Prometheus>,
    ) -> Result<Kube, String> {
        let client = rt.block_on(async {
            let mut config = match kubeconfig {
                Some(p) => {
                    let kc = kube::config::Kubeconfig::read_from(p).map_err(|e| format!("{}: {e}", p.display()))?;
                    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                        .await
                        .map_err(|e| format!("{}: {e}", p.display()))?
                }
                None => kube::Config::infer().await.map_err(|e| e.to_string())?,
            };
            // A hung API server must not hang the pipeline: every call is bounded (kube's
            // default read timeout is none), and the executor bounds each operation again.
            config.connect_timeout = Some(Duration::from_secs(5));
            config.read_timeout = Some(API_TIMEOUT);
            config.write_timeout = Some(API_TIMEOUT);
            config.reset_reader_on_write = true;
            kube::Client::try_from(config).map_err(|e| e.to_string())
        })?;
        Ok(Kube { client, rt, namespace: namespace.to_string(), http_timeout: Duration::from_secs(10), prometheus })
    }

    /// Whether the controller's namespace (where the stop ConfigMap lives) exists; start-up
    /// refuses a namespace that does not, since a stop put there could never be seen.
    pub fn namespace_exists(&self) -> Result<bool, String> {
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(self.client.clone());
        match self.rt.block_on(async { tokio::time::timeout(API_TIMEOUT, api.get_opt(&self.namespace)).await }) {
            Ok(Ok(ns)) => Ok(ns.is_some()),
            Ok(Err(e)) => Err(api_error(e)),
            Err(_) => Err(format!("the API server did not answer within {}s", API_TIMEOUT.as_secs())),
        }
    }

    fn deployments(&self, ns: &str) -> kube::Api<k8s_openapi::api::apps::v1::Deployment> {
        kube::Api::namespaced(self.client.clone(), ns)
    }

    /// Patch a Deployment: server-side dry-run first, then for real.
    async fn patch_twice(
        &self,
        ns: &str,
        name: &str,
        patch: &kube::api::Patch<Value>,
        scale: bool,
    ) -> Result<(), Failed> {
        let api = self.deployments(ns);
        for dry_run in [true, false] {
            let pp = kube::api::PatchParams { dry_run, field_manager: Some("understudy".into()), ..Default::default() };
            let r = if scale {
                api.patch_scale(name, &pp, patch).await.map(|_| ())
            } else {
                api.patch(name, &pp, patch).await.map(|_| ())
            };
            if let Err(e) = r {
                return Err(if dry_run { Failed::DryRun(api_error(e)) } else { Failed::Api(api_error(e)) });
            }
        }
        Ok(())
    }

    async fn execute_async(&self, req: &Request) -> Result<Done, Failed> {
        let (ns, name) = (req.namespace.as_str(), req.service.as_str());
        let api = self.deployments(ns);
        let d = api.get(name).await.map_err(|e| Failed::Api(api_error(e)))?;
        let dv = serde_json::to_value(&d).unwrap_or_default();
        let marker = |path: &str| dv.pointer(path).and_then(Value::as_str) == Some(req.action_id.as_str());
        match &req.action {
            Action::Restart => {
                if marker("/spec/template/metadata/annotations/understudy.io~1action-id") {
                    return Ok(Done::AlreadyApplied(format!(
                        "deployment/{name} already restarted by {}",
                        req.action_id
                    )));
                }
                let patch = json!({"spec": {"template": {"metadata": {"annotations": {
                    "kubectl.kubernetes.io/restartedAt": req.at.to_rfc3339(),
                    ACTION_ID: req.action_id,
                }}}}});
                self.patch_twice(ns, name, &kube::api::Patch::Strategic(patch), false).await?;
                Ok(Done::Applied(format!("deployment/{name} restarted (restartedAt {})", req.at.to_rfc3339())))
            }
            Action::Scale { .. } => {
                let target = req
                    .target_replicas
                    .ok_or_else(|| Failed::Unsupported("a scale decision without a target replica count".into()))?;
                let current = dv.pointer("/spec/replicas").and_then(Value::as_u64);
                if current == Some(u64::from(target)) {
                    return Ok(Done::AlreadyApplied(format!("deployment/{name} already has {target} replicas")));
                }
                let patch = json!({"spec": {"replicas": target}});
                self.patch_twice(ns, name, &kube::api::Patch::Merge(patch), true).await?;
                Ok(Done::Applied(format!(
                    "deployment/{name} scaled from {} to {target}",
                    current.map_or("?".into(), |c| c.to_string())
                )))
            }
            Action::Rollback => {
                if marker("/metadata/annotations/understudy.io~1action-id") {
                    return Ok(Done::AlreadyApplied(format!(
                        "deployment/{name} already rolled back by {}",
                        req.action_id
                    )));
                }
                let mut template = self.previous_template(ns, name, &dv).await?;
                // `$patch: replace` swaps the whole template, as `kubectl rollout undo` does.
                template["$patch"] = json!("replace");
                let patch =
                    json!({"metadata": {"annotations": {ACTION_ID: req.action_id}}, "spec": {"template": template}});
                self.patch_twice(ns, name, &kube::api::Patch::Strategic(patch), false).await?;
                Ok(Done::Applied(format!("deployment/{name} rolled back to its previous ReplicaSet's template")))
            }
            Action::HelmRollback { release, revision } => self.helm(req, release.as_deref(), *revision),
            Action::CachePurge { url } => self.webhook(req, url, json!({})),
            Action::FeatureFlagDisable { url, flag } => self.webhook(
                req,
                url,
                json!({"flag": crate::policy::action::fill(flag, &req.service, &req.namespace), "enabled": false}),
            ),
            Action::TrafficShift { url, weights } => {
                self.webhook(req, url, json!({"service": req.service, "namespace": req.namespace, "weights": weights}))
            }
        }
    }

    /// The template of the ReplicaSet with the highest revision below the Deployment's own,
    /// among those it controls (what `kubectl rollout undo` picks).
    async fn previous_template(&self, ns: &str, name: &str, deployment: &Value) -> Result<Value, Failed> {
        let rs: kube::Api<k8s_openapi::api::apps::v1::ReplicaSet> = kube::Api::namespaced(self.client.clone(), ns);
        let uid = deployment.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
        let rev = |v: &Value| {
            v.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<i64>().ok())
        };
        let current = rev(deployment).unwrap_or(i64::MAX);
        let list = rs.list(&kube::api::ListParams::default()).await.map_err(|e| Failed::Api(api_error(e)))?;
        let owned: Vec<Value> = list
            .items
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .filter(|r| {
                r.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|o| o.iter().any(|x| x["uid"] == uid && x["controller"] == true))
            })
            .collect();
        let prev = owned
            .iter()
            .filter_map(|r| rev(r).filter(|&v| v < current).map(|v| (v, r)))
            .max_by_key(|(v, _)| *v)
            .map(|(_, r)| r)
            .ok_or_else(|| Failed::Unsupported(format!("deployment/{name} has no earlier revision to roll back to")))?;
        let mut t = prev["spec"]["template"].clone();
        if let Some(l) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
            l.remove("pod-template-hash");
        }
        Ok(t)
    }

    fn helm(&self, req: &Request, release: Option<&str>, revision: Option<u32>) -> Result<Done, Failed> {
        let release =
            release.map_or(req.service.clone(), |r| crate::policy::action::fill(r, &req.service, &req.namespace));
        let mut args = vec!["rollback".to_string(), release.clone()];
        args.extend(revision.map(|r| r.to_string()));
        args.extend(["-n".into(), req.namespace.clone(), "--wait".into(), "--timeout".into(), "5m".into()]);
        let dry = [args.clone(), vec!["--dry-run".into()]].concat();
        let run = |a: &[String]| match std::process::Command::new("helm").args(a).output() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failed::Unsupported(
                "helm-rollback needs the `helm` binary on PATH; it is not installed here (nothing was changed)".into(),
            )),
            Err(e) => Err(Failed::Api(format!("cannot run helm: {e}"))),
            Ok(o) if !o.status.success() => {
                Err(Failed::Api(format!("helm {}: {}", a.join(" "), String::from_utf8_lossy(&o.stderr).trim())))
            }
            Ok(o) => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        };
        run(&dry).map_err(|e| if let Failed::Api(m) = e { Failed::DryRun(m) } else { e })?;
        run(&args).map(|out| Done::Applied(format!("helm rollback {release}: {out}")))
    }

    fn webhook(&self, req: &Request, url: &str, body: Value) -> Result<Done, Failed> {
        let url = crate::policy::action::fill(url, &req.service, &req.namespace);
        let agent = ureq::AgentBuilder::new().timeout(self.http_timeout).build();
        match agent
            .post(&url)
            .set("Idempotency-Key", &req.action_id)
            .set("Content-Type", "application/json")
            .send_string(&body.to_string())
        {
            Ok(r) => Ok(Done::Applied(format!("POST {url}: {}", r.status()))),
            Err(ureq::Error::Status(code, r)) => {
                Err(Failed::Api(format!("POST {url}: {code} {}", r.into_string().unwrap_or_default().trim())))
            }
            Err(e) => Err(Failed::Api(format!("POST {url}: {e}"))),
        }
    }

    async fn verify_async(&self, ns: &str, service: &str, since: Time) -> Vec<Check> {
        let mut checks = Vec::new();
        match self.deployments(ns).get(service).await {
            Ok(d) => {
                let v = serde_json::to_value(&d).unwrap_or_default();
                let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
                let (want, ready, updated) =
                    (n("/spec/replicas"), n("/status/readyReplicas"), n("/status/updatedReplicas"));
                checks.push(Check {
                    unknown: false,
                    name: "pods_ready",
                    passed: ready >= want && updated >= want,
                    observed: format!("{ready}/{want} Ready, {updated} updated"),
                    expected: "all desired pods updated, Running and Ready".into(),
                });
            }
            Err(e) => checks.push(Check {
                // A Deployment that is gone failed; one the API would not show is unknown.
                unknown: !matches!(&e, kube::Error::Api(s) if s.code == 404),
                name: "pods_ready",
                passed: false,
                observed: api_error(e),
                expected: "the Deployment can be read".into(),
            }),
        }
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(self.client.clone(), ns);
        match pods.list(&kube::api::ListParams::default().labels(&format!("app={service}"))).await {
            Ok(list) => {
                let mut late = Vec::new();
                for p in &list.items {
                    let v = serde_json::to_value(p).unwrap_or_default();
                    for c in v.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten() {
                        for s in ["/state/terminated", "/lastState/terminated"] {
                            let finished = c
                                .pointer(&format!("{s}/finishedAt"))
                                .and_then(Value::as_str)
                                .and_then(|t| Time::parse_rfc3339(t).ok());
                            if finished.is_some_and(|t| t > since) {
                                let reason = c.pointer(&format!("{s}/reason")).and_then(Value::as_str).unwrap_or("?");
                                late.push(format!("{} {reason}", v["metadata"]["name"].as_str().unwrap_or("?")));
                            }
                        }
                    }
                }
                late.sort();
                late.dedup();
                checks.push(Check {
                    unknown: false,
                    name: "no_new_restarts",
                    passed: late.is_empty(),
                    observed: if late.is_empty() { "none".into() } else { late.join(", ") },
                    expected: format!("no container terminated after {}", since.to_rfc3339()),
                });
            }
            Err(e) => checks.push(Check {
                unknown: true,
                name: "no_new_restarts",
                passed: false,
                observed: api_error(e),
                expected: "the pods can be listed".into(),
            }),
        }
        if let Some(p) = &self.prometheus {
            checks.push(prometheus_check(p, ns, service, self.http_timeout));
        }
        checks
    }
}

/// Run the verification query against Prometheus' HTTP API.
fn prometheus_check(p: &Prometheus, ns: &str, service: &str, timeout: Duration) -> Check {
    let query = crate::policy::action::fill(&p.query, service, ns);
    let url = format!("{}/api/v1/query", p.url.trim_end_matches('/'));
    let agent = ureq::AgentBuilder::new().timeout(timeout).build();
    // Prometheus not answering says nothing about the service.
    let fail = |observed: String| Check {
        unknown: true,
        name: "prometheus",
        passed: false,
        observed,
        expected: format!("`{query}` returns nothing or 0"),
    };
    let text = agent.get(&url).query("query", &query).call().map(|r| r.into_string());
    let body: Value = match text.map(|t| t.map(|t| serde_json::from_str::<Value>(&t))) {
        Ok(Ok(Ok(v))) => v,
        Ok(Ok(Err(e))) => return fail(format!("unreadable answer: {e}")),
        Ok(Err(e)) => return fail(format!("unreadable answer: {e}")),
        Err(e) => return fail(format!("query failed: {e}")),
    };
    let values: Vec<f64> = body
        .pointer("/data/result")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.pointer("/value/1").and_then(Value::as_str).and_then(|s| s.parse().ok()))
        .collect();
    Check {
        unknown: body["status"] != "success",
        name: "prometheus",
        passed: body["status"] == "success" && values.iter().all(|v| *v == 0.0),
        observed: if values.is_empty() { "no series".into() } else { format!("{values:?}") },
        expected: format!("`{query}` returns nothing or 0"),
    }
}

impl Executor for Kube {
    fn execute(&self, req: &Request) -> Result<Done, Failed> {
        match self.rt.block_on(async { tokio::time::timeout(ACTION_TIMEOUT, self.execute_async(req)).await }) {
            Ok(done) => done,
            Err(_) => Err(Failed::Api(format!(
                "the API server did not finish the action within {}s; it may or may not have been applied (its idempotency marker {} tells)",
                ACTION_TIMEOUT.as_secs(),
                req.action_id
            ))),
        }
    }

    fn before(&self, req: &Request) -> Option<Undo> {
        let fetch = async {
            let d = self.deployments(&req.namespace).get(&req.service).await.ok()?;
            serde_json::to_value(&d).ok()
        };
        let deployment = || self.rt.block_on(async { tokio::time::timeout(API_TIMEOUT, fetch).await.ok().flatten() });
        match &req.action {
            Action::Scale { .. } => deployment()
                .and_then(|d| d.pointer("/spec/replicas").and_then(Value::as_u64))
                .and_then(|r| u32::try_from(r).ok())
                .map(|replicas| Undo::Replicas { replicas }),
            Action::Rollback => deployment()
                .and_then(|d| d.pointer("/spec/template").cloned())
                .map(|template| Undo::Template { template }),
            Action::FeatureFlagDisable { url, flag } => Some(Undo::FlagOn {
                url: crate::policy::action::fill(url, &req.service, &req.namespace),
                flag: crate::policy::action::fill(flag, &req.service, &req.namespace),
            }),
            Action::Restart | Action::HelmRollback { .. } | Action::CachePurge { .. } | Action::TrafficShift { .. } => {
                None
            }
        }
    }

    fn undo(&self, action_id: &str, namespace: &str, service: &str, undo: &Undo) -> Result<Done, Failed> {
        let work = async {
            let api = self.deployments(namespace);
            match undo {
                Undo::Replicas { replicas } => {
                    let d = api.get(service).await.map_err(|e| Failed::Api(api_error(e)))?;
                    if d.spec.replicas == Some(i32::try_from(*replicas).unwrap_or(i32::MAX)) {
                        return Ok(Done::AlreadyApplied(format!(
                            "deployment/{service} already has {replicas} replicas"
                        )));
                    }
                    let patch = json!({"spec": {"replicas": replicas}});
                    self.patch_twice(namespace, service, &kube::api::Patch::Merge(patch), true).await?;
                    Ok(Done::Applied(format!("deployment/{service} scaled back to {replicas}")))
                }
                Undo::Template { template } => {
                    let d = api.get(service).await.map_err(|e| Failed::Api(api_error(e)))?;
                    let dv = serde_json::to_value(&d).unwrap_or_default();
                    if dv.pointer("/metadata/annotations/understudy.io~1undo-of").and_then(Value::as_str)
                        == Some(action_id)
                    {
                        return Ok(Done::AlreadyApplied(format!("deployment/{service} already rolled forward")));
                    }
                    let mut template = template.clone();
                    template["$patch"] = json!("replace");
                    let patch =
                        json!({"metadata": {"annotations": {UNDO_OF: action_id}}, "spec": {"template": template}});
                    self.patch_twice(namespace, service, &kube::api::Patch::Strategic(patch), false).await?;
                    Ok(Done::Applied(format!(
                        "deployment/{service} rolled forward to the template the rollback replaced"
                    )))
                }
                Undo::FlagOn { .. } => Err(Failed::Unsupported(String::new())),
            }
        };
        if let Undo::FlagOn { url, flag } = undo {
            let agent = ureq::AgentBuilder::new().timeout(self.http_timeout).build();
            return match agent
                .post(url)
                .set("Idempotency-Key", &format!("{action_id}-undo"))
                .set("Content-Type", "application/json")
                .send_string(&json!({"flag": flag, "enabled": true}).to_string())
            {
                Ok(r) => Ok(Done::Applied(format!("POST {url}: {}", r.status()))),
                Err(e) => Err(Failed::Api(format!("POST {url}: {e}"))),
            };
        }
        match self.rt.block_on(async { tokio::time::timeout(ACTION_TIMEOUT, work).await }) {
            Ok(done) => done,
            Err(_) => {
                Err(Failed::Api(format!("the API server did not finish the undo within {}s", ACTION_TIMEOUT.as_secs())))
            }
        }
    }

    fn stopped(&self) -> Option<Stopped> {
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(self.client.clone(), &self.namespace);
        let source = format!("configmap {}/{STOP_CONFIGMAP}", self.namespace);
        match self.rt.block_on(async { tokio::time::timeout(STOP_TIMEOUT, api.get_opt(STOP_CONFIGMAP)).await }) {
            Err(_) => Some(Stopped {
                source,
                reason: format!("the API server did not answer within {}s: treated as stopped", STOP_TIMEOUT.as_secs()),
            }),
            Ok(Ok(None)) => None,
            Ok(Ok(Some(cm))) => {
                let reason =
                    cm.data.as_ref().and_then(|d| d.get("reason")).cloned().unwrap_or_else(|| "present".into());
                Some(Stopped { source, reason })
            }
            Ok(Err(e)) => {
                Some(Stopped { source, reason: format!("cannot read it ({}): treated as stopped", api_error(e)) })
            }
        }
    }

    fn verify(&self, namespace: &str, service: &str, since: Time) -> Vec<Check> {
        match self.rt.block_on(async {
            tokio::time::timeout(VERIFY_TIMEOUT, self.verify_async(namespace, service, since)).await
        }) {
            Ok(checks) => checks,
            Err(_) => vec![Check {
                unknown: true,
                name: "api",
                passed: false,
                observed: format!("no answer within {}s", VERIFY_TIMEOUT.as_secs()),
                expected: "the Deployment and its pods readable".into(),
            }],
        }
    }
}
