//! `kubectl get pods,deployments,replicasets -o yaml|json` dumps and `kubectl get events -o
//! json` → trace records.
//!
//! Pods give OOMKilled terminations at their times, CrashLoopBackOff, image-pull failures,
//! restart counts and a health signal; Deployments give replica deficits, their current
//! revision (a `deploy` record) and health; ReplicaSets give the revisions rolled out;
//! Events give what the kubelet and controllers reported. Each object's health (healthy,
//! warning, unhealthy, unknown) follows the rules most Kubernetes dashboards use. Timestamps
//! written `@now-5m` (as some fixtures do) are read against a reference time.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Record, workload_of_pod, workload_of_replicaset};
use crate::clock::{Time, parse_duration};

/// How an object is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Healthy,
    Warning,
    Unhealthy,
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Warning => "warning",
            Health::Unhealthy => "unhealthy",
            Health::Unknown => "unknown",
        }
    }

    fn value(self) -> f64 {
        match self {
            Health::Healthy => 0.0,
            Health::Warning => 1.0,
            Health::Unhealthy => 2.0,
            Health::Unknown => -1.0,
        }
    }
}

/// One object's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectHealth {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub health: Health,
    pub status: String,
    /// The object's own `expected-health` annotation, when it carries one.
    pub expected: Option<String>,
}

/// What an import found.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub records: Vec<Record>,
    pub objects: Vec<ObjectHealth>,
    /// Kinds not imported, with counts.
    pub skipped: BTreeMap<String, usize>,
    pub events: usize,
    /// Each object's service and how it is known, by (namespace, `Kind/name`): what the
    /// import used, printed so it can be checked (and overridden with `--service`).
    pub identity: BTreeMap<(String, String), (String, &'static str)>,
    /// Event records whose service was guessed from the involved object's name, to be
    /// corrected by [`Imported::finish`] when the object itself is in the import.
    guessed: Vec<(usize, String, String)>,
}

/// A timestamp: RFC 3339, or `@now`, `@now-5m`, `@now+1h` against `now`.
pub fn timestamp(v: Option<&Value>, now: Time) -> Option<Time> {
    let s = v?.as_str()?;
    if let Some(rest) = s.strip_prefix("@now") {
        if rest.is_empty() {
            return Some(now);
        }
        let (minus, d) = match (rest.strip_prefix('-'), rest.strip_prefix('+')) {
            (Some(d), _) => (true, d),
            (None, Some(d)) => (false, d),
            _ => return None,
        };
        let d = parse_duration(d).ok()?;
        return Some(if minus { now.saturating_sub(d) } else { now.saturating_add(d) });
    }
    Time::parse_rfc3339(s).ok()
}

fn str_at<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p).and_then(Value::as_str)
}

fn conditions(v: &Value) -> Vec<(&str, &str, Option<&str>, Option<&Value>)> {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["type"].as_str().unwrap_or(""),
                        c["status"].as_str().unwrap_or(""),
                        c["reason"].as_str(),
                        c.get("lastTransitionTime").or_else(|| c.get("lastUpdateTime")),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn condition<'a>(v: &'a Value, ty: &str) -> Option<(&'a str, Option<&'a str>)> {
    conditions(v).into_iter().find(|c| c.0 == ty).map(|c| (c.1, c.2))
}

fn is_true(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

fn is_false(s: &str) -> bool {
    s.eq_ignore_ascii_case("false")
}

/// A recent failure within this window makes a Running, Ready pod a warning.
const RECENT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// A pod terminating longer than this is stuck.
const STUCK_TERMINATING: std::time::Duration = std::time::Duration::from_secs(3600);

/// A Pod's health and a one-word status.
pub fn pod_health(pod: &Value, now: Time) -> (Health, String) {
    let phase = str_at(pod, "/status/phase").unwrap_or("");
    let statuses: Vec<&Value> = ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .collect();
    if let Some(del) = timestamp(pod.pointer("/metadata/deletionTimestamp"), now) {
        return if now.since(del) > STUCK_TERMINATING {
            (Health::Warning, "TerminatingStalled".into())
        } else {
            (Health::Unknown, "Terminating".into())
        };
    }
    match phase {
        "Succeeded" => return (Health::Healthy, "Completed".into()),
        "Failed" => {
            let reason = str_at(pod, "/status/reason").unwrap_or("Failed");
            return if reason == "Evicted" {
                (Health::Warning, "Evicted".into())
            } else {
                (Health::Unhealthy, "Failed".into())
            };
        }
        _ => {}
    }
    let waiting: Vec<&str> = statuses.iter().filter_map(|c| str_at(c, "/state/waiting/reason")).collect();
    fn last_reason<'a>(c: &&'a Value) -> Option<&'a str> {
        str_at(c, "/lastState/terminated/reason")
    }
    for w in &waiting {
        match *w {
            "CrashLoopBackOff" => {
                let oom = statuses.iter().any(|c| last_reason(c) == Some("OOMKilled"));
                return (Health::Unhealthy, if oom { "OOMKilled" } else { "CrashLoopBackOff" }.into());
            }
            "ImagePullBackOff"
            | "ErrImagePull"
            | "InvalidImageName"
            | "CreateContainerConfigError"
            | "CreateContainerError" => {
                return (Health::Unhealthy, (*w).to_string());
            }
            _ => {}
        }
    }
    if phase == "Pending" {
        return match waiting.first() {
            Some(&"ContainerCreating") => (Health::Unknown, "Starting".into()),
            Some(w) => (Health::Unhealthy, (*w).to_string()),
            None => (Health::Unhealthy, "Pending".into()),
        };
    }
    let ready = condition(pod, "Ready").map(|(s, _)| is_true(s));
    let oom_last = statuses.iter().any(|c| last_reason(c) == Some("OOMKilled"));
    if ready == Some(false) {
        return (Health::Unhealthy, if oom_last { "OOMKilled" } else { "NotReady" }.into());
    }
    let recent_failure = statuses.iter().find_map(|c| {
        let reason = last_reason(c)?;
        let at = timestamp(c.pointer("/lastState/terminated/finishedAt"), now)?;
        (reason != "Completed" && now.since(at) < RECENT).then_some(reason)
    });
    match recent_failure {
        Some(reason) => (Health::Warning, if reason == "OOMKilled" { "OOMKilled" } else { "Running" }.into()),
        None => (Health::Healthy, "Running".into()),
    }
}

/// A Deployment's or ReplicaSet's health.
pub fn workload_health(obj: &Value) -> (Health, String) {
    let spec = obj.pointer("/spec/replicas").and_then(Value::as_u64).unwrap_or(1);
    let status = |k: &str| obj.pointer(&format!("/status/{k}")).and_then(Value::as_u64).unwrap_or(0);
    if let Some((s, _)) = condition(obj, "ReplicaFailure")
        && is_true(s)
    {
        return (Health::Unhealthy, "Failed Create".into());
    }
    if spec == 0 && status("replicas") == 0 {
        return (Health::Healthy, "Scaled to Zero".into());
    }
    if let Some((s, reason)) = condition(obj, "Available") {
        if is_false(s) {
            // Below minimum availability: a failed rollout with nothing available is down; with
            // some pods serving it is degraded; a rollout still starting is not judged yet.
            let failed = condition(obj, "Progressing").is_some_and(|(_, r)| r == Some("ProgressDeadlineExceeded"));
            let serving = status("availableReplicas") > 0 || status("readyReplicas") > 0;
            return match (failed, serving) {
                (true, false) => (Health::Unhealthy, "Rollout Failed".into()),
                (true, true) => (Health::Warning, "Rollout Failed".into()),
                (false, true) => (Health::Warning, "Rolling Out".into()),
                (false, false) => (Health::Unknown, "Starting".into()),
            };
        }
        let _ = reason;
        let updating = status("updatedReplicas") < spec || status("availableReplicas") < spec;
        return (Health::Healthy, if updating { "Rolling Out" } else { "Running" }.into());
    }
    // No conditions (a ReplicaSet): compare ready with desired.
    if status("readyReplicas") >= spec {
        (Health::Healthy, "Running".into())
    } else if obj.pointer("/status/readyReplicas").is_none() && status("replicas") > 0 {
        (Health::Unhealthy, "NotReady".into())
    } else {
        (Health::Unknown, "Starting".into())
    }
}

/// Which service an object belongs to, and how that is known: the owner named in
/// `ownerReferences` (a ReplicaSet's Deployment by the `pod-template-hash` it carries), then
/// the `app.kubernetes.io/name`, `app`, `k8s-app` or `job-name` label, then (only when the
/// object says nothing) a guess from the name's generated suffixes.
pub fn service_of(obj: &Value, kind: &str, name: &str) -> (String, &'static str) {
    let label = |k: &str| obj.pointer(&format!("/metadata/labels/{}", k.replace('/', "~1"))).and_then(Value::as_str);
    let hash = label("pod-template-hash");
    let rs_deployment = |rs: &str| match hash.and_then(|h| rs.strip_suffix(h)).and_then(|b| b.strip_suffix('-')) {
        Some(base) if !base.is_empty() => (base.to_string(), "owner ReplicaSet and its pod-template-hash"),
        _ => (workload_of_replicaset(rs), "owner ReplicaSet (name)"),
    };
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob" => return (name.to_string(), "object name"),
        "Pod" | "ReplicaSet" => {
            if let Some(owner) = obj.pointer("/metadata/ownerReferences/0") {
                let (ok, on) = (owner["kind"].as_str().unwrap_or(""), owner["name"].as_str().unwrap_or(""));
                match ok {
                    "ReplicaSet" if !on.is_empty() => return rs_deployment(on),
                    _ if !on.is_empty() => return (on.to_string(), "owner reference"),
                    _ => {}
                }
            }
            if kind == "ReplicaSet"
                && let Some(base) =
                    hash.and_then(|h| name.strip_suffix(h)).and_then(|b| b.strip_suffix('-')).filter(|b| !b.is_empty())
            {
                return (base.to_string(), "pod-template-hash");
            }
        }
        _ => {}
    }
    for (key, how) in [
        ("app.kubernetes.io/name", "label app.kubernetes.io/name"),
        ("app", "label app"),
        ("k8s-app", "label k8s-app"),
        ("job-name", "label job-name"),
    ] {
        if let Some(v) = label(key) {
            return (v.to_string(), how);
        }
    }
    match kind {
        "Pod" => (workload_of_pod(name), "guessed from the pod name"),
        "ReplicaSet" => (workload_of_replicaset(name), "guessed from the ReplicaSet name"),
        _ => (name.to_string(), "object name"),
    }
}

fn signal(at: Time, service: &str, ns: &str, name: &str, value: f64, labels: &[(&str, &str)]) -> Record {
    Record::Signal {
        at,
        service: service.to_string(),
        namespace: ns.to_string(),
        name: name.to_string(),
        value,
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// The latest time the object itself records (its status "as of").
fn as_of(obj: &Value, now: Time) -> Option<Time> {
    let mut ts: Vec<Time> = conditions(obj).iter().filter_map(|c| timestamp(c.3, now)).collect();
    for p in ["/status/containerStatuses", "/status/initContainerStatuses"] {
        for c in obj.pointer(p).and_then(Value::as_array).into_iter().flatten() {
            for q in ["/state/running/startedAt", "/state/terminated/finishedAt", "/lastState/terminated/finishedAt"] {
                ts.extend(timestamp(c.pointer(q), now));
            }
        }
    }
    ts.extend(timestamp(obj.pointer("/status/startTime"), now));
    ts.extend(timestamp(obj.pointer("/metadata/creationTimestamp"), now));
    ts.into_iter().max()
}

impl Imported {
    /// Add every object in a parsed document (a single object, a List or an EventList).
    pub fn add(&mut self, doc: &Value, now: Time) {
        let kind = doc["kind"].as_str().unwrap_or("");
        if kind.ends_with("List") || (kind.is_empty() && doc.get("items").is_some()) {
            for item in doc["items"].as_array().into_iter().flatten() {
                // List items from `kubectl get -o json` carry their kind; typed lists may not.
                if item.get("kind").is_none() && kind.ends_with("List") && kind != "List" {
                    let mut with = item.clone();
                    with["kind"] = Value::String(kind.trim_end_matches("List").to_string());
                    self.add(&with, now);
                } else {
                    self.add(item, now);
                }
            }
            return;
        }
        if matches!(kind, "Pod" | "Deployment" | "ReplicaSet")
            && doc.get("status").is_none_or(|s| s.as_object().is_none_or(|o| o.is_empty()))
        {
            // A manifest: the desired state, with nothing observed (no replicas available is
            // not the same as none reported).
            *self.skipped.entry(format!("{kind} without status (a manifest)")).or_default() += 1;
            return;
        }
        match kind {
            "Pod" => self.pod(doc, now),
            "Deployment" | "ReplicaSet" => self.workload(doc, kind, now),
            "Event" => self.event(doc, now),
            "Node" => self.node(doc, now),
            "" => {}
            other => *self.skipped.entry(other.to_string()).or_default() += 1,
        }
    }

    /// Done adding: events about an object that is itself in the import take its service
    /// (from its owner and labels) instead of the guess from its name.
    pub fn finish(&mut self) {
        for (i, ns, object) in std::mem::take(&mut self.guessed) {
            if let Some((svc, _)) = self.identity.get(&(ns, object))
                && let Some(Record::Signal { service, .. }) = self.records.get_mut(i)
            {
                service.clone_from(svc);
            }
        }
    }

    /// Take in another file's import (its guesses still to be corrected by `finish`).
    pub fn append(&mut self, mut other: Imported) {
        let base = self.records.len();
        self.guessed.extend(other.guessed.drain(..).map(|(i, ns, o)| (i + base, ns, o)));
        self.records.append(&mut other.records);
        self.objects.append(&mut other.objects);
        self.events += other.events;
        for (k, n) in other.skipped {
            *self.skipped.entry(k).or_default() += n;
        }
        self.identity.append(&mut other.identity);
    }

    /// Rename services (`--service FROM=TO`) in the identity map the importer prints.
    pub fn override_services(&mut self, map: &[(String, String)]) {
        // The records themselves are renamed with every other source's (`sources::Batch::finish`).
        for (svc, _) in self.identity.values_mut() {
            if let Some((_, to)) = map.iter().find(|(from, _)| from == svc) {
                svc.clone_from(to);
            }
        }
    }

    fn note(&mut self, obj: &Value, kind: &str, health: Health, status: &str) {
        let expected = obj
            .pointer("/metadata/annotations/expected-health")
            .and_then(Value::as_str)
            .map(|s| s.trim_matches('"').trim().to_string());
        self.objects.push(ObjectHealth {
            kind: kind.to_string(),
            namespace: str_at(obj, "/metadata/namespace").unwrap_or("default").to_string(),
            name: str_at(obj, "/metadata/name").unwrap_or("").to_string(),
            health,
            status: status.to_string(),
            expected,
        });
    }

    fn pod(&mut self, pod: &Value, now: Time) {
        let name = str_at(pod, "/metadata/name").unwrap_or("").to_string();
        let ns = str_at(pod, "/metadata/namespace").unwrap_or("default").to_string();
        let (svc, how) = service_of(pod, "Pod", &name);
        self.identity.insert((ns.clone(), format!("Pod/{name}")), (svc.clone(), how));
        let (health, status) = pod_health(pod, now);
        self.note(pod, "Pod", health, &status);
        let as_of = as_of(pod, now).unwrap_or(now);
        for c in ["/status/initContainerStatuses", "/status/containerStatuses"]
            .iter()
            .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
            .flatten()
        {
            let container = c["name"].as_str().unwrap_or("");
            let restarts = c["restartCount"].as_f64().unwrap_or(0.0);
            // The node it runs on: a rule can ask whether that node is in trouble.
            let node = str_at(pod, "/spec/nodeName").unwrap_or("");
            let labels: Vec<(&str, &str)> = [("pod", name.as_str()), ("container", container), ("node", node)]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect();
            for (state, value) in [("/state/terminated", 1.0), ("/lastState/terminated", restarts.max(1.0))] {
                if str_at(c, &format!("{state}/reason")) == Some("OOMKilled")
                    && let Some(at) = timestamp(c.pointer(&format!("{state}/finishedAt")), now)
                {
                    self.records.push(signal(at, &svc, &ns, "OOMKilled", value, &labels));
                }
            }
            if let Some(w) = str_at(c, "/state/waiting/reason") {
                let at = timestamp(c.pointer("/lastState/terminated/finishedAt"), now).unwrap_or(as_of);
                match w {
                    "CrashLoopBackOff" => {
                        self.records.push(signal(at, &svc, &ns, "CrashLoopBackOff", restarts, &labels))
                    }
                    "ImagePullBackOff" | "ErrImagePull" => {
                        self.records.push(signal(as_of, &svc, &ns, "image_pull_failed", 1.0, &labels))
                    }
                    _ => {}
                }
            }
            if restarts > 0.0 {
                self.records.push(signal(as_of, &svc, &ns, "restarts", restarts, &labels));
            }
        }
        self.records.push(signal(
            as_of,
            &svc,
            &ns,
            "pod_health",
            health.value(),
            &[
                ("pod", name.as_str()),
                ("status", status.as_str()),
                ("node", str_at(pod, "/spec/nodeName").unwrap_or("")),
            ]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect::<Vec<_>>(),
        ));
    }

    /// A Node: each condition in trouble (`Ready` not true; `MemoryPressure`, `DiskPressure`,
    /// `PIDPressure`, `NetworkUnavailable` or another condition, such as node-problem-detector's,
    /// true) is a signal `Node<Condition>` (`NodeNotReady`, `NodeMemoryPressure`, …) on the node as its
    /// service, at the condition's transition, labelled with the node and the reason.
    fn node(&mut self, node: &Value, now: Time) {
        let name = str_at(node, "/metadata/name").unwrap_or("").to_string();
        if name.is_empty() {
            *self.skipped.entry("Node without a name".into()).or_default() += 1;
            return;
        }
        self.identity.insert(("default".into(), format!("Node/{name}")), (name.clone(), "node name"));
        let as_of = as_of(node, now).unwrap_or(now);
        let mut worst = if conditions(node).is_empty() { Health::Unknown } else { Health::Healthy };
        let mut status = String::from("Ready");
        for (ty, st, reason, at) in conditions(node) {
            let sig = match ty {
                "Ready" if !is_true(st) => "NodeNotReady".to_string(),
                "Ready" => continue,
                _ if is_true(st) => format!("Node{ty}"),
                _ => continue,
            };
            // The kubelet's own pressure conditions judge the node's health; others (from
            // node-problem-detector or a vendor: `EtcdIsVoter`, `SysctlChanged`) are kept as
            // signals for the rules to weigh, without calling the node unhealthy.
            let health = match ty {
                "Ready" => Health::Unhealthy,
                "MemoryPressure" | "DiskPressure" | "PIDPressure" | "NetworkUnavailable" => Health::Warning,
                _ => Health::Healthy,
            };
            if health.value() > worst.value() {
                worst = health;
                status.clone_from(&sig);
            }
            let at = timestamp(at, now).unwrap_or(as_of);
            let labels: Vec<(&str, &str)> = [("node", name.as_str()), ("reason", reason.unwrap_or(""))]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect();
            self.records.push(signal(at, &name, "default", &sig, 1.0, &labels));
        }
        self.note(node, "Node", worst, &status);
    }

    fn workload(&mut self, obj: &Value, kind: &str, now: Time) {
        let name = str_at(obj, "/metadata/name").unwrap_or("").to_string();
        let ns = str_at(obj, "/metadata/namespace").unwrap_or("default").to_string();
        let (svc, how) = service_of(obj, kind, &name);
        self.identity.insert((ns.clone(), format!("{kind}/{name}")), (svc.clone(), how));
        let (health, status) = workload_health(obj);
        self.note(obj, kind, health, &status);
        let as_of = as_of(obj, now).unwrap_or(now);
        if let Some(rev) = str_at(obj, "/metadata/annotations/deployment.kubernetes.io~1revision") {
            let at = if kind == "ReplicaSet" {
                timestamp(obj.pointer("/metadata/creationTimestamp"), now).unwrap_or(as_of)
            } else {
                as_of
            };
            let tool = if obj.pointer("/metadata/annotations/meta.helm.sh~1release-name").is_some() {
                "helm"
            } else {
                "kubectl"
            };
            self.records.push(Record::Deploy {
                at,
                service: svc.clone(),
                namespace: ns.clone(),
                revision: rev.to_string(),
                tool: tool.into(),
            });
        }
        if kind == "Deployment" {
            let spec = obj.pointer("/spec/replicas").and_then(Value::as_f64).unwrap_or(1.0);
            let avail = obj.pointer("/status/availableReplicas").and_then(Value::as_f64).unwrap_or(0.0);
            if spec > avail {
                self.records.push(signal(
                    as_of,
                    &svc,
                    &ns,
                    "replica_deficit",
                    spec - avail,
                    &[("desired", &spec.to_string())],
                ));
            }
            self.records.push(signal(as_of, &svc, &ns, "deployment_health", health.value(), &[("status", &status)]));
        }
    }

    fn event(&mut self, ev: &Value, now: Time) {
        self.events += 1;
        let reason = ev["reason"].as_str().unwrap_or("");
        let message = ev["message"].as_str().unwrap_or("");
        let ns = str_at(ev, "/involvedObject/namespace")
            .or_else(|| str_at(ev, "/metadata/namespace"))
            .unwrap_or("default")
            .to_string();
        let obj_kind = str_at(ev, "/involvedObject/kind").unwrap_or("");
        let obj_name = str_at(ev, "/involvedObject/name").unwrap_or("").to_string();
        let svc = match obj_kind {
            "Pod" => workload_of_pod(&obj_name),
            "ReplicaSet" => workload_of_replicaset(&obj_name),
            _ => obj_name.clone(),
        };
        let Some(at) = ["lastTimestamp", "eventTime", "firstTimestamp"]
            .iter()
            .find_map(|k| timestamp(ev.get(*k), now))
            .or_else(|| timestamp(ev.pointer("/metadata/creationTimestamp"), now))
        else {
            *self.skipped.entry("Event without a time".into()).or_default() += 1;
            return;
        };
        let count = ev["count"].as_f64().unwrap_or(1.0);
        let lower = message.to_ascii_lowercase();
        let name = match reason {
            "OOMKilling" | "OOMKilled" => Some("OOMKilled"),
            "BackOff" if lower.contains("restarting failed container") => Some("CrashLoopBackOff"),
            "BackOff" | "Failed" if lower.contains("pull") || lower.contains("image") => Some("image_pull_failed"),
            "Killing" if lower.contains("liveness") => Some("liveness_failed"),
            "Unhealthy" => Some("probe_failed"),
            "FailedScheduling" => Some("pod_unschedulable"),
            "Evicted" => Some("evicted"),
            "BackoffLimitExceeded" => Some("job_failed"),
            "FailedMount" | "FailedAttachVolume" => Some("mount_failed"),
            "FailedCreate" => Some("create_failed"),
            "ScalingReplicaSet" => Some("scaled"),
            _ if ev["type"].as_str() == Some("Warning") => Some("k8s_warning"),
            _ => None,
        };
        match name {
            Some(n) => {
                let labels = [("reason", reason), ("object", obj_name.as_str()), ("message", message)];
                self.guessed.push((self.records.len(), ns.clone(), format!("{obj_kind}/{obj_name}")));
                self.records.push(signal(at, &svc, &ns, n, count, &labels));
            }
            None => *self.skipped.entry(format!("Normal event {reason}")).or_default() += 1,
        }
    }
}

/// Parse a dump: JSON (what `kubectl get -o json` writes: it starts with `{` or `[`, and its
/// errors are JSON's), or YAML with one or more documents. An error says where (line, column)
/// and what was wrong.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, (Option<crate::diag::Pos>, String)> {
    if text.trim_start().starts_with(['{', '[']) {
        return serde_json::from_str::<Value>(text)
            .map(|v| vec![v])
            .map_err(|e| (Some(crate::diag::Pos { line: e.line(), col: e.column() }), format!("not valid JSON: {e}")));
    }
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v = <Value as serde::Deserialize>::deserialize(doc).map_err(|e| {
            let pos = e.location().map(|l| crate::diag::Pos { line: l.line(), col: l.column() });
            (pos, format!("not valid YAML: {e}"))
        })?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}
