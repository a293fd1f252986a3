//! The twin's cluster: the simulated world (the same `Dynamics` the simulator runs) seen as
//! Kubernetes objects, and Kubernetes writes turned back into world actions.
//!
//! Owns the mapping both ways. World → objects: a Deployment per service (its template,
//! generation and status), a ReplicaSet per template it has run (revision annotations, owner
//! references, `pod-template-hash`), pods labelled `app=<service>` with kubelet-like status
//! (OOMKilled, CrashLoopBackOff, ContainerCreating, Pending), events, and a resourceVersion
//! per change. Objects → world: a new `spec.replicas` is a scale, a new template with the
//! same image is a rolling restart, a template naming an earlier release is a rollback; each
//! goes through the effects table like any action in a simulation. ConfigMaps are stored as
//! given (the emergency stop lives in one). Time: the world runs `speed` times faster than
//! the wall clock from `origin`; timestamps shown are wall time. No HTTP here (`api.rs`).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::clock::Time;
use crate::sim::dynamics::{Dynamics, Mechanics, WorldEv};
use crate::sim::engine::Engine;
use crate::sim::model::Cause;
use crate::sim::scenario::Scenario;
use crate::sim::world::{PodState, World};
use crate::sim::{name_hash, stream_seed};

/// Resource kinds the twin serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Namespace,
    Pod,
    Event,
    ConfigMap,
    Deployment,
    ReplicaSet,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Pod => "Pod",
            Kind::Event => "Event",
            Kind::ConfigMap => "ConfigMap",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::ReplicaSet => "apps/v1",
            _ => "v1",
        }
    }
}

/// A change for watchers.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: Kind,
    pub namespace: String,
    pub rv: u64,
    /// ADDED, MODIFIED or DELETED.
    pub r#type: &'static str,
    pub object: Value,
}

/// An API error: HTTP code, Kubernetes reason, message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn not_found(kind: Kind, name: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{}s \"{name}\" not found", kind.name().to_lowercase()),
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError { code: 422, reason: "Invalid", message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { code: 400, reason: "BadRequest", message: message.into() }
    }

    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError { code: 405, reason: "MethodNotAllowed", message: message.into() }
    }

    /// A path the twin does not serve.
    pub fn no_resource(what: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("the server could not find the requested resource ({what})"),
        }
    }
}

type Key = (Kind, String, String);

#[derive(Debug, Clone)]
struct ReplicaSet {
    hash: String,
    revision: i64,
    /// The pod template, without the `pod-template-hash` label.
    template: Value,
    release: u32,
    created: Time,
}

#[derive(Debug, Clone)]
struct Deploy {
    uid: String,
    generation: i64,
    /// Metadata annotations written by clients (the revision annotation is computed).
    annotations: serde_json::Map<String, Value>,
    sets: Vec<ReplicaSet>,
    current: usize,
    /// Rolling replacements so far: pod names change with each.
    rolls: u32,
}

/// The twin: world, objects and watch feed. Callers hold it behind a mutex.
pub struct Cluster {
    scenario: Scenario,
    dy: Dynamics,
    engine: Engine<WorldEv>,
    speed: f64,
    origin: Time,
    /// Simulated time reached.
    now: Time,
    deploys: Vec<Deploy>,
    store: BTreeMap<Key, Value>,
    events: VecDeque<Value>,
    configmaps: BTreeMap<(String, String), Value>,
    rv: u64,
    oom_total: Vec<u64>,
    actions: usize,
    feed: tokio::sync::broadcast::Sender<Arc<Change>>,
    pod_states: BTreeMap<(usize, usize), PodState>,
}

const EVENTS_KEPT: usize = 500;

fn uid(parts: &[&str]) -> String {
    let h = hex::encode(Sha256::digest(parts.join("/").as_bytes()));
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn template_hash(template: &Value) -> String {
    let h = Sha256::digest(serde_json::to_vec(template).unwrap_or_default());
    // Kubernetes uses safe-encoded FNV; any stable 10-character name works for clients.
    hex::encode(h)[..10].to_string()
}

/// CPU as the API server canonicalises it (`1000m` is `1`).
fn quantity_cpu(millicores: u32) -> String {
    if millicores.is_multiple_of(1000) { format!("{}", millicores / 1000) } else { format!("{millicores}m") }
}

/// The release an image tag names (`registry/name:r14` → 14).
fn release_of(template: &Value) -> Option<u32> {
    let image = template.pointer("/spec/containers/0/image")?.as_str()?;
    image.rsplit_once(":r")?.1.parse().ok()
}

/// A template as stored and compared: no `pod-template-hash` label, and none of the nulls and
/// empty maps typed clients add (`creationTimestamp: null`, `resources: {}`).
fn without_hash(template: &Value) -> Value {
    fn prune(v: &mut Value) {
        if let Value::Object(m) = v {
            for x in m.values_mut() {
                prune(x);
            }
            m.retain(|_, x| !(x.is_null() || x.as_object().is_some_and(|o| o.is_empty())));
        } else if let Value::Array(a) = v {
            a.iter_mut().for_each(prune);
        }
    }
    let mut t = template.clone();
    if let Some(labels) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove("pod-template-hash");
    }
    prune(&mut t);
    t
}

impl Cluster {
    /// A twin of `scenario` whose clock starts at `origin` (wall time): fault times in the
    /// scenario count from there. `seed` draws the scenario's faults and pod jitter.
    pub fn new(scenario: Scenario, seed: u64, speed: f64, origin: Time) -> Cluster {
        let base = stream_seed(seed, 0, name_hash(&scenario.name), 0);
        let mut rng = Pcg64Mcg::seed_from_u64(stream_seed(base, 1, 0, 0));
        let shift = origin.nanos() - scenario.start.nanos();
        let mut engine = Engine::with_capacity(origin, 256);
        let mut dy = Dynamics::new(World::new(&scenario), |svc| stream_seed(base, 4, svc as u64, 0));
        for (i, mut f) in scenario.instances(&mut rng).into_iter().enumerate() {
            f.onset = Time(f.onset.nanos() + shift);
            dy.add_fault(f, i, &mut engine);
        }
        let deploys = dy
            .world
            .services
            .iter()
            .map(|s| {
                let spec = &s.spec;
                let sets = s
                    .history
                    .iter()
                    .enumerate()
                    .map(|(k, &release)| {
                        let template = json!({
                            "metadata": {"labels": {"app": spec.name}},
                            "spec": {"containers": [{
                                "name": spec.name,
                                "image": format!("registry.local/{}:r{release}", spec.name),
                                "resources": {"limits": {
                                    "memory": format!("{}Mi", spec.memory_limit_mib),
                                    "cpu": quantity_cpu(spec.cpu_limit_millicores),
                                }},
                            }]},
                        });
                        ReplicaSet {
                            hash: template_hash(&template),
                            revision: k as i64 + 1,
                            template,
                            release,
                            created: Time(origin.nanos() - (s.history.len() - k) as i64 * 86_400_000_000_000),
                        }
                    })
                    .collect::<Vec<_>>();
                Deploy {
                    uid: uid(&["deployment", &spec.namespace, &spec.name]),
                    generation: 1,
                    annotations: Default::default(),
                    current: sets.len() - 1,
                    sets,
                    rolls: 0,
                }
            })
            .collect();
        let n = scenario.services.len();
        let (feed, _) = tokio::sync::broadcast::channel(4096);
        let mut c = Cluster {
            scenario,
            dy,
            engine,
            speed,
            origin,
            now: origin,
            deploys,
            store: BTreeMap::new(),
            events: VecDeque::new(),
            configmaps: BTreeMap::new(),
            rv: 1,
            oom_total: vec![0; n],
            actions: 0,
            feed,
            pod_states: BTreeMap::new(),
        };
        c.refresh();
        c
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Change>> {
        self.feed.subscribe()
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Simulated time at wall time `wall`.
    pub fn sim_time(&self, wall: Time) -> Time {
        let elapsed = (wall.nanos() - self.origin.nanos()).max(0) as f64 * self.speed;
        Time(self.origin.nanos().saturating_add(elapsed as i64))
    }

    /// Wall time at which simulated time `t` is shown.
    fn wall(&self, t: Time) -> Time {
        Time(self.origin.nanos() + ((t.nanos() - self.origin.nanos()) as f64 / self.speed) as i64)
    }

    fn stamp(&self, t: Time) -> String {
        // Before the twin started, history is shown as it was (not compressed by the speed).
        let w = if t < self.origin { t } else { self.wall(t) };
        Time(w.nanos() - w.nanos().rem_euclid(1_000_000_000)).to_rfc3339()
    }

    /// Run the world up to wall time `wall` and publish what changed.
    pub fn advance(&mut self, wall: Time) {
        let target = self.sim_time(wall);
        while self.engine.peek_time().is_some_and(|t| t <= target) {
            let Some((now, ev)) = self.engine.pop() else { break };
            self.dy.handle(ev, now, &mut self.engine);
            if let WorldEv::Oom(s, ..) = ev
                && self.dy.world.services[s as usize].last_oom == Some(now)
            {
                self.oom_total[s as usize] += 1;
            }
            self.now = now;
        }
        self.now = self.now.max(target);
        self.sync_releases();
        self.refresh();
    }

    /// A release the world rolled out by itself (a bad deploy's onset) gets its ReplicaSet.
    fn sync_releases(&mut self) {
        for svc in 0..self.deploys.len() {
            let release = self.dy.world.services[svc].revision;
            let d = &self.deploys[svc];
            if d.sets[d.current].release == release {
                continue;
            }
            let mut template = d.sets[d.current].template.clone();
            template["spec"]["containers"][0]["image"] =
                json!(format!("registry.local/{}:r{release}", self.scenario.services[svc].name));
            self.switch_template(svc, template, release);
        }
    }

    /// Make `template` current (a matching earlier ReplicaSet is reused, as Kubernetes does).
    fn switch_template(&mut self, svc: usize, template: Value, release: u32) {
        let now = self.now;
        let d = &mut self.deploys[svc];
        let next = d.sets.iter().map(|s| s.revision).max().unwrap_or(0) + 1;
        let template = without_hash(&template);
        match d.sets.iter().position(|s| s.template == template) {
            Some(i) => {
                d.sets[i].revision = next;
                d.current = i;
            }
            None => {
                d.sets.push(ReplicaSet {
                    hash: template_hash(&template),
                    revision: next,
                    template,
                    release,
                    created: now,
                });
                d.current = d.sets.len() - 1;
                if d.sets.len() > 10 {
                    let oldest = (0..d.sets.len()).filter(|&i| i != d.current).min_by_key(|&i| d.sets[i].revision);
                    if let Some(i) = oldest {
                        d.sets.remove(i);
                        if i < d.current {
                            d.current -= 1;
                        }
                    }
                }
            }
        }
        d.generation += 1;
        d.rolls += 1;
        let name =
            format!("{}-{}", self.scenario.services[svc].name, self.deploys[svc].sets[self.deploys[svc].current].hash);
        let replicas = self.dy.world.services[svc].desired;
        self.event(
            svc,
            "Deployment",
            &self.scenario.services[svc].name.clone(),
            "Normal",
            "ScalingReplicaSet",
            &format!("Scaled up replica set {name} to {replicas}"),
        );
    }

    fn event(&mut self, svc: usize, kind: &str, object: &str, ty: &str, reason: &str, message: &str) {
        self.rv += 1;
        let ns = self.scenario.services[svc].namespace.clone();
        let at = self.stamp(self.now);
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": format!("{object}.{:x}", self.rv), "namespace": ns, "resourceVersion": self.rv.to_string(), "creationTimestamp": at},
            "involvedObject": {"kind": kind, "name": object, "namespace": ns, "apiVersion": if kind == "Pod" { "v1" } else { "apps/v1" }},
            "reason": reason,
            "message": message,
            "type": ty,
            "count": 1,
            "firstTimestamp": at,
            "lastTimestamp": at,
            "source": {"component": "understudy-twin"},
        });
        let _ = self.feed.send(Arc::new(Change {
            kind: Kind::Event,
            namespace: ns,
            rv: self.rv,
            r#type: "ADDED",
            object: ev.clone(),
        }));
        self.events.push_back(ev);
        if self.events.len() > EVENTS_KEPT {
            self.events.pop_front();
        }
    }

    // ----- rendering -----------------------------------------------------------------------

    fn pod_name(&self, svc: usize, p: usize) -> String {
        let d = &self.deploys[svc];
        let h = hex::encode(Sha256::digest(format!("{svc}/{p}/{}", d.rolls).as_bytes()));
        let suffix: String = h.chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit()).take(5).collect();
        format!("{}-{}-{suffix}", self.scenario.services[svc].name, d.sets[d.current].hash)
    }

    fn render_pods(&self, svc: usize) -> Vec<Value> {
        let s = &self.dy.world.services[svc];
        let spec = &s.spec;
        let d = &self.deploys[svc];
        let rs = &d.sets[d.current];
        let rs_name = format!("{}-{}", spec.name, rs.hash);
        let created = self.stamp(self.origin);
        s.pods
            .iter()
            .enumerate()
            .map(|(p, pod)| {
                let name = self.pod_name(svc, p);
                let mut labels = rs.template["metadata"]["labels"].clone();
                labels["pod-template-hash"] = json!(rs.hash);
                let started = self.stamp(pod.up_since.unwrap_or(self.origin));
                let last = pod.last_restart.map(|t| {
                    json!({"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": self.stamp(t), "startedAt": created}})
                });
                let container = |ready: bool, state: Value| {
                    let mut c = json!({
                        "name": spec.name,
                        "image": rs.template["spec"]["containers"][0]["image"],
                        "ready": ready,
                        "restartCount": pod.restarts,
                        "state": state,
                    });
                    if let Some(l) = &last {
                        c["lastState"] = l.clone();
                    }
                    c
                };
                let (phase, ready, statuses, scheduled) = match pod.state {
                    PodState::Running => ("Running", true, vec![container(true, json!({"running": {"startedAt": started}}))], true),
                    PodState::Starting => (
                        "Pending",
                        false,
                        vec![container(false, json!({"waiting": {"reason": "ContainerCreating"}}))],
                        true,
                    ),
                    PodState::OomKilled => (
                        "Running",
                        false,
                        vec![container(false, json!({"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": self.stamp(pod.last_restart.unwrap_or(self.now))}}))],
                        true,
                    ),
                    PodState::CrashLoopBackOff => (
                        "Running",
                        false,
                        vec![container(false, json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off restarting failed container {} in pod {name}", spec.name)}}))],
                        true,
                    ),
                    PodState::Pending => ("Pending", false, vec![], false),
                };
                let mut conditions = vec![json!({"type": "PodScheduled", "status": if scheduled { "True" } else { "False" }})];
                if !scheduled {
                    conditions[0]["reason"] = json!("Unschedulable");
                    conditions[0]["message"] = json!("0/3 nodes are available: 3 Insufficient cpu.");
                } else {
                    conditions.push(json!({"type": "Ready", "status": if ready { "True" } else { "False" }}));
                }
                json!({
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": name,
                        "namespace": spec.namespace,
                        "uid": uid(&["pod", &spec.namespace, &name]),
                        "labels": labels,
                        "creationTimestamp": created,
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "uid": uid(&["replicaset", &spec.namespace, &rs_name]), "controller": true}],
                    },
                    "spec": {
                        "containers": rs.template["spec"]["containers"],
                        "nodeName": if scheduled { json!(format!("twin-node-{}", p % 3)) } else { Value::Null },
                    },
                    "status": {
                        "phase": phase,
                        "conditions": conditions,
                        "containerStatuses": statuses,
                        "startTime": created,
                    },
                })
            })
            .collect()
    }

    fn render_deployment(&self, svc: usize) -> Value {
        let s = &self.dy.world.services[svc];
        let spec = &s.spec;
        let d = &self.deploys[svc];
        let rs = &d.sets[d.current];
        let mut annotations = d.annotations.clone();
        annotations.insert("deployment.kubernetes.io/revision".into(), json!(rs.revision.to_string()));
        let total = s.pods.len() as u32;
        let ready = s.ready();
        let mut status = json!({
            "observedGeneration": d.generation,
            "replicas": total,
            "updatedReplicas": total,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {"type": "Available", "status": if ready >= s.desired { "True" } else { "False" },
                 "reason": if ready >= s.desired { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }},
                {"type": "Progressing", "status": "True",
                 "reason": if ready >= s.desired { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
                 "message": format!("ReplicaSet \"{}-{}\" is progressing.", spec.name, rs.hash)},
            ],
        });
        if total > ready {
            status["unavailableReplicas"] = json!(total - ready);
        }
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": spec.name,
                "namespace": spec.namespace,
                "uid": d.uid,
                "generation": d.generation,
                "labels": {"app": spec.name},
                "annotations": annotations,
                "creationTimestamp": self.stamp(d.sets[0].created.min(self.origin)),
            },
            "spec": {
                "replicas": s.desired,
                "selector": {"matchLabels": {"app": spec.name}},
                "template": rs.template,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
            "status": status,
        })
    }

    fn render_replicasets(&self, svc: usize) -> Vec<Value> {
        let s = &self.dy.world.services[svc];
        let spec = &s.spec;
        let d = &self.deploys[svc];
        d.sets
            .iter()
            .enumerate()
            .map(|(i, rs)| {
                let name = format!("{}-{}", spec.name, rs.hash);
                let mut template = rs.template.clone();
                template["metadata"]["labels"]["pod-template-hash"] = json!(rs.hash);
                let replicas = if i == d.current { s.desired } else { 0 };
                let ready = if i == d.current { s.ready() } else { 0 };
                json!({
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": name,
                        "namespace": spec.namespace,
                        "uid": uid(&["replicaset", &spec.namespace, &name]),
                        "labels": template["metadata"]["labels"],
                        "annotations": {"deployment.kubernetes.io/revision": rs.revision.to_string()},
                        "creationTimestamp": self.stamp(rs.created),
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name, "uid": d.uid, "controller": true, "blockOwnerDeletion": true}],
                    },
                    "spec": {
                        "replicas": replicas,
                        "selector": {"matchLabels": {"app": spec.name, "pod-template-hash": rs.hash}},
                        "template": template,
                    },
                    "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": 1},
                })
            })
            .collect()
    }

    fn namespaces(&self) -> Vec<String> {
        let mut ns: Vec<String> = self.scenario.services.iter().map(|s| s.namespace.clone()).collect();
        // `default`, and `understudy`, where the deploy/ manifests run the controller (and
        // where its emergency-stop ConfigMap lives).
        ns.push("default".into());
        ns.push("understudy".into());
        ns.extend(self.configmaps.keys().map(|(n, _)| n.clone()));
        ns.sort();
        ns.dedup();
        ns
    }

    /// Re-render every object; what changed gets a new resourceVersion and goes to watchers.
    fn refresh(&mut self) {
        let mut fresh: BTreeMap<Key, Value> = BTreeMap::new();
        for ns in self.namespaces() {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "uid": uid(&["namespace", &ns]), "creationTimestamp": self.stamp(self.origin)}, "status": {"phase": "Active"}});
            fresh.insert((Kind::Namespace, String::new(), ns), obj);
        }
        for svc in 0..self.deploys.len() {
            let ns = self.scenario.services[svc].namespace.clone();
            let d = self.render_deployment(svc);
            fresh.insert((Kind::Deployment, ns.clone(), self.scenario.services[svc].name.clone()), d);
            for rs in self.render_replicasets(svc) {
                let name = rs["metadata"]["name"].as_str().unwrap_or_default().to_string();
                fresh.insert((Kind::ReplicaSet, ns.clone(), name), rs);
            }
            for pod in self.render_pods(svc) {
                let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
                fresh.insert((Kind::Pod, ns.clone(), name), pod);
            }
        }
        self.pod_events();
        let old = std::mem::take(&mut self.store);
        for (key, mut obj) in fresh {
            let (ty, rv) = match old.get(&key) {
                Some(prev) => {
                    let mut p = prev.clone();
                    let prev_rv = p["metadata"].as_object_mut().and_then(|m| m.remove("resourceVersion"));
                    if p == obj {
                        obj["metadata"]["resourceVersion"] = prev_rv.unwrap_or_default();
                        self.store.insert(key, obj);
                        continue;
                    }
                    self.rv += 1;
                    ("MODIFIED", self.rv)
                }
                None => {
                    self.rv += 1;
                    ("ADDED", self.rv)
                }
            };
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            let _ = self.feed.send(Arc::new(Change {
                kind: key.0,
                namespace: key.1.clone(),
                rv,
                r#type: ty,
                object: obj.clone(),
            }));
            self.store.insert(key, obj);
        }
        for (key, mut obj) in old {
            if !self.store.contains_key(&key) {
                self.rv += 1;
                obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
                let _ = self.feed.send(Arc::new(Change {
                    kind: key.0,
                    namespace: key.1,
                    rv: self.rv,
                    r#type: "DELETED",
                    object: obj,
                }));
            }
        }
    }

    /// Kubelet-like events for pods that changed state since the last render.
    fn pod_events(&mut self) {
        let mut seen = BTreeMap::new();
        let mut out = Vec::new();
        for (svc, s) in self.dy.world.services.iter().enumerate() {
            for (p, pod) in s.pods.iter().enumerate() {
                seen.insert((svc, p), pod.state);
                if self.pod_states.get(&(svc, p)) == Some(&pod.state) {
                    continue;
                }
                let (ty, reason, message) = match pod.state {
                    PodState::OomKilled => (
                        "Warning",
                        "BackOff",
                        format!("Back-off restarting failed container {} (OOMKilled)", s.spec.name),
                    ),
                    PodState::CrashLoopBackOff => {
                        ("Warning", "BackOff", format!("Back-off restarting failed container {}", s.spec.name))
                    }
                    PodState::Pending => {
                        ("Warning", "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.".to_string())
                    }
                    PodState::Running | PodState::Starting => continue,
                };
                out.push((svc, self.pod_name(svc, p), ty, reason, message));
            }
        }
        self.pod_states = seen;
        for (svc, name, ty, reason, message) in out {
            self.event(svc, "Pod", &name, ty, reason, &message);
        }
    }

    // ----- reads -----------------------------------------------------------------------------

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let found = match kind {
            Kind::Event => self
                .events
                .iter()
                .find(|e| e["metadata"]["name"] == name && e["metadata"]["namespace"] == namespace)
                .cloned(),
            Kind::ConfigMap => self.configmaps.get(&(namespace.to_string(), name.to_string())).cloned(),
            _ => self.store.get(&(kind, namespace.to_string(), name.to_string())).cloned(),
        };
        found.ok_or_else(|| ApiError::not_found(kind, name))
    }

    /// Objects of `kind` in `namespace` (all namespaces when `None`), in name order.
    pub fn list(&self, kind: Kind, namespace: Option<&str>) -> Vec<Value> {
        let in_ns = |ns: &str| namespace.is_none_or(|n| n == ns);
        match kind {
            Kind::Event => self
                .events
                .iter()
                .filter(|e| in_ns(e["metadata"]["namespace"].as_str().unwrap_or("")))
                .cloned()
                .collect(),
            Kind::ConfigMap => {
                self.configmaps.iter().filter(|((ns, _), _)| in_ns(ns)).map(|(_, v)| v.clone()).collect()
            }
            _ => self.store.iter().filter(|((k, ns, _), _)| *k == kind && in_ns(ns)).map(|(_, v)| v.clone()).collect(),
        }
    }

    fn service(&self, namespace: &str, name: &str) -> Result<usize, ApiError> {
        self.scenario
            .services
            .iter()
            .position(|s| s.namespace == namespace && s.name == name)
            .ok_or_else(|| ApiError::not_found(Kind::Deployment, name))
    }

    // ----- writes ----------------------------------------------------------------------------

    /// Replace a Deployment with `new` (the result of a patch or a PUT): a changed replica
    /// count scales, a changed template restarts or rolls back. With `dry_run` nothing
    /// changes and the object that would result is returned.
    pub fn update_deployment(
        &mut self,
        namespace: &str,
        name: &str,
        new: &Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let svc = self.service(namespace, name)?;
        let current = self.render_deployment(svc);
        if new.pointer("/metadata/name").and_then(Value::as_str).is_some_and(|n| n != name) {
            return Err(ApiError::bad_request("metadata.name cannot change"));
        }
        let replicas = match new.pointer("/spec/replicas") {
            None | Some(Value::Null) => 1,
            Some(v) => v.as_u64().filter(|&r| r <= 1000).ok_or_else(|| {
                ApiError::invalid(format!("spec.replicas: Invalid value: {v}: must be an integer between 0 and 1000"))
            })? as u32,
        };
        let template =
            new.pointer("/spec/template").cloned().ok_or_else(|| ApiError::invalid("spec.template: Required value"))?;
        if template.pointer("/metadata/labels/app").and_then(Value::as_str) != Some(name) {
            return Err(ApiError::invalid(format!(
                "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels` (app={name})"
            )));
        }
        let new_template = without_hash(&template);
        let template_changed = new_template != without_hash(&current["spec"]["template"]);
        let release = if template_changed {
            let r = release_of(&new_template).ok_or_else(|| {
                ApiError::invalid("spec.template.spec.containers[0].image: the twin runs images tagged :r<release>")
            })?;
            if !self.dy.world.services[svc].history.contains(&r) {
                return Err(ApiError::invalid(format!(
                    "spec.template.spec.containers[0].image: release r{r} is not in this service's history {:?}; the twin can restart and roll back, not roll out new releases",
                    self.dy.world.services[svc].history
                )));
            }
            Some(r)
        } else {
            None
        };
        let annotations = new.pointer("/metadata/annotations").and_then(Value::as_object).cloned().unwrap_or_default();
        if dry_run {
            let mut out = new.clone();
            let changed = template_changed || replicas != self.dy.world.services[svc].desired;
            out["metadata"]["generation"] = json!(self.deploys[svc].generation + i64::from(changed));
            out["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
            return Ok(out);
        }
        let mut a = annotations;
        a.remove("deployment.kubernetes.io/revision");
        self.deploys[svc].annotations = a;
        let now = self.now;
        if replicas != self.dy.world.services[svc].desired {
            self.deploys[svc].generation += 1;
            self.act(svc, "scale", Mechanics::ScaleTo(replicas), now);
            let rs = format!("{name}-{}", self.deploys[svc].sets[self.deploys[svc].current].hash);
            self.event(
                svc,
                "Deployment",
                name,
                "Normal",
                "ScalingReplicaSet",
                &format!("Scaled replica set {rs} to {replicas}"),
            );
        }
        if let Some(r) = release {
            let from = self.dy.world.services[svc].revision;
            self.switch_template(svc, new_template, r);
            if r == from {
                self.act(svc, "restart", Mechanics::Roll, now);
            } else {
                self.act(svc, "rollback", Mechanics::RollbackTo(Some(r)), now);
            }
        }
        self.refresh();
        self.get(Kind::Deployment, namespace, name)
    }

    /// An action from outside (kubectl, `understudy live`) through the effects table: judged
    /// against the newest scenario fault showing on the service, as in a simulation.
    fn act(&mut self, svc: usize, kind: &str, mechanics: Mechanics, now: Time) {
        let fallback = self
            .dy
            .world
            .faults
            .iter()
            .filter(|f| f.instance.service == svc && f.harm_of.is_none() && f.live() && f.activated.is_some())
            .max_by_key(|f| f.activated)
            .map(|f| (f.instance.clone(), f.incident));
        let incident = fallback.as_ref().map_or(usize::MAX, |(_, i)| *i);
        let effects = self.scenario.effects.clone();
        self.actions += 1;
        self.dy.act(
            svc,
            kind,
            mechanics,
            &effects,
            fallback.as_ref().map(|(f, _)| f),
            incident,
            1_000_000 + self.actions,
            now,
            &mut self.engine,
        );
        tracing::info!(service = %self.scenario.services[svc].name, kind, "twin: action applied");
    }

    /// The Deployment's scale subresource.
    pub fn scale(&self, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let d = self.get(Kind::Deployment, namespace, name)?;
        Ok(json!({
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": name, "namespace": namespace, "uid": d["metadata"]["uid"], "resourceVersion": d["metadata"]["resourceVersion"], "creationTimestamp": d["metadata"]["creationTimestamp"]},
            "spec": {"replicas": d["spec"]["replicas"]},
            "status": {"replicas": d["status"]["replicas"], "selector": format!("app={name}")},
        }))
    }

    /// Create, replace or delete a ConfigMap (`None` deletes).
    pub fn put_configmap(
        &mut self,
        namespace: &str,
        name: &str,
        obj: Option<Value>,
        create: bool,
    ) -> Result<Value, ApiError> {
        let key = (namespace.to_string(), name.to_string());
        let exists = self.configmaps.contains_key(&key);
        self.rv += 1;
        let rv = self.rv;
        match obj {
            None => {
                let mut old = self.configmaps.remove(&key).ok_or_else(|| ApiError::not_found(Kind::ConfigMap, name))?;
                old["metadata"]["resourceVersion"] = json!(rv.to_string());
                let _ = self.feed.send(Arc::new(Change {
                    kind: Kind::ConfigMap,
                    namespace: namespace.into(),
                    rv,
                    r#type: "DELETED",
                    object: old.clone(),
                }));
                self.refresh();
                Ok(old)
            }
            Some(_) if create && exists => Err(ApiError {
                code: 409,
                reason: "AlreadyExists",
                message: format!("configmaps \"{name}\" already exists"),
            }),
            Some(_) if !create && !exists => Err(ApiError::not_found(Kind::ConfigMap, name)),
            Some(mut v) => {
                if v.get("data").is_some_and(|d| !d.is_object() && !d.is_null()) {
                    return Err(ApiError::invalid("data: must be a map of strings"));
                }
                v["apiVersion"] = json!("v1");
                v["kind"] = json!("ConfigMap");
                v["metadata"]["name"] = json!(name);
                v["metadata"]["namespace"] = json!(namespace);
                v["metadata"]["resourceVersion"] = json!(rv.to_string());
                if !exists {
                    v["metadata"]["uid"] = json!(uid(&["configmap", namespace, name, &rv.to_string()]));
                    v["metadata"]["creationTimestamp"] = json!(self.stamp(self.now));
                }
                let _ = self.feed.send(Arc::new(Change {
                    kind: Kind::ConfigMap,
                    namespace: namespace.into(),
                    rv,
                    r#type: if exists { "MODIFIED" } else { "ADDED" },
                    object: v.clone(),
                }));
                self.configmaps.insert(key, v.clone());
                self.refresh();
                Ok(v)
            }
        }
    }

    /// Prometheus text exposition of every service's signals (format 0.0.4).
    pub fn metrics(&self) -> String {
        let mut out = String::new();
        let families: [(&str, &str, &str); 9] = [
            ("understudy_twin_error_ratio", "gauge", "Share of requests failing."),
            ("understudy_twin_latency_seconds", "gauge", "Request latency (p99 model)."),
            ("understudy_twin_cpu_utilisation", "gauge", "CPU in use per pod, useful plus burnt, 0 to 1."),
            (
                "understudy_twin_memory_utilisation",
                "gauge",
                "Highest memory use of a running pod over its limit, 0 to 1.",
            ),
            ("understudy_twin_requests_per_second", "gauge", "Offered load."),
            ("understudy_twin_oom_kills_total", "counter", "Containers OOMKilled since the twin started."),
            ("understudy_twin_container_restarts", "gauge", "Restarts of the current pods (kubectl's RESTARTS)."),
            ("understudy_twin_replicas_desired", "gauge", "spec.replicas."),
            ("understudy_twin_replicas_ready", "gauge", "Pods Running and Ready."),
        ];
        for (k, (name, ty, help)) in families.iter().enumerate() {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {ty}");
            for svc in 0..self.deploys.len() {
                let s = &self.dy.world.services[svc];
                let sig = self.dy.world.signals(svc, self.now);
                let value = match k {
                    0 => sig.error_rate,
                    1 => sig.latency_ms / 1000.0,
                    2 => sig.cpu,
                    3 => self.memory(svc),
                    4 => sig.load_rps,
                    5 => self.oom_total[svc] as f64,
                    6 => f64::from(s.restarts()),
                    7 => f64::from(s.desired),
                    _ => f64::from(sig.ready),
                };
                let _ =
                    writeln!(out, "{name}{{namespace=\"{}\",service=\"{}\"}} {value}", s.spec.namespace, s.spec.name);
            }
        }
        out
    }

    /// A leaking pod fills from 30% of its limit to 100% over the leak's OOM interval.
    fn memory(&self, svc: usize) -> f64 {
        let Some(interval) = self.dy.leak_interval(svc) else { return 0.3 };
        let s = &self.dy.world.services[svc];
        s.pods
            .iter()
            .filter(|p| p.state == PodState::Running)
            .map(|p| {
                let since = p.up_since.unwrap_or(self.origin);
                let leak_since = self
                    .dy
                    .world
                    .faults
                    .iter()
                    .filter(|f| f.instance.service == svc && f.instance.cause == Cause::MemoryLeak)
                    .filter_map(|f| f.activated)
                    .max()
                    .unwrap_or(since);
                let filled = self.now.since(since.max(leak_since)).as_secs_f64() / interval.as_secs_f64().max(1.0);
                (0.3 + 0.7 * filled).min(1.0)
            })
            .fold(0.0, f64::max)
    }

    /// A one-line summary per service (for the CLI and tests).
    pub fn summary(&self) -> Vec<String> {
        self.dy
            .world
            .services
            .iter()
            .enumerate()
            .map(|(svc, s)| {
                let active: Vec<&str> = self.dy.world.active_faults(svc).map(|f| f.instance.cause.label()).collect();
                format!(
                    "{}/{}: {}/{} ready, release r{}, {} OOM kills, active: {:?}",
                    s.spec.namespace,
                    s.spec.name,
                    s.ready(),
                    s.desired,
                    s.revision,
                    self.oom_total[svc],
                    active
                )
            })
            .collect()
    }

    /// Faults showing on a service (labels), for tests and the log.
    pub fn active_causes(&self, namespace: &str, name: &str) -> Vec<&'static str> {
        self.service(namespace, name)
            .map_or(Vec::new(), |svc| self.dy.world.active_faults(svc).map(|f| f.instance.cause.label()).collect())
    }

    pub fn sim_now(&self) -> Time {
        self.now
    }

    pub fn tick_interval(&self) -> Duration {
        Duration::from_millis(100)
    }
}
