//! The Kubernetes audit log (`audit.k8s.io/v1` Event objects, one JSON object per line as the
//! API server's log backend writes them, or an `EventList`) → `action` records: who
//! restarted, scaled, rolled out or deleted what, and when. This is the ground truth for
//! "what people did".
//!
//! Only completed (`ResponseComplete`), successful (< 400) writes to workloads and pods count.
//! Reads, failures, other stages, status updates and requests by the cluster's own
//! controllers (`system:` users) are counted by reason, never dropped unsaid. A restart is
//! a patch that sets `kubectl.kubernetes.io/restartedAt`; a scale is the `scale` subresource
//! or a new `spec.replicas`; an image change is `rollout` (a rollback cannot be told from a
//! rollout in the log); a deleted pod is `delete-pod`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Record, workload_of_pod};
use crate::clock::Time;

/// What one audit event means, or why it is left out.
fn action_of(ev: &Value) -> Result<(String, &'static str, String), &'static str> {
    if ev.get("stage").and_then(Value::as_str).is_some_and(|s| s != "ResponseComplete") {
        return Err("not the ResponseComplete stage");
    }
    if ev.pointer("/responseStatus/code").and_then(Value::as_u64).is_some_and(|c| c >= 400) {
        return Err("failed requests (status 400 or more)");
    }
    let verb = ev["verb"].as_str().unwrap_or("");
    if matches!(verb, "get" | "list" | "watch") {
        return Err("read-only requests");
    }
    let user = ev.pointer("/user/username").and_then(Value::as_str).unwrap_or("");
    if user.starts_with("system:") {
        return Err("requests by the cluster's own controllers (system: users)");
    }
    let resource = ev.pointer("/objectRef/resource").and_then(Value::as_str).unwrap_or("");
    let sub = ev.pointer("/objectRef/subresource").and_then(Value::as_str).unwrap_or("");
    let name = ev.pointer("/objectRef/name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        return Err("requests without an object name (collections)");
    }
    let body = ev.get("requestObject").unwrap_or(&Value::Null);
    let kind = match resource {
        "deployments" => "deployment",
        "statefulsets" => "statefulset",
        "daemonsets" => "daemonset",
        "pods" if verb == "delete" => {
            return Ok((workload_of_pod(name), "delete-pod", format!("kubectl delete pod {name}")));
        }
        "pods" => return Err("pod writes other than delete"),
        _ => return Err("objects other than workloads and pods"),
    };
    if sub == "status" {
        return Err("status updates");
    }
    let annotations = body.pointer("/spec/template/metadata/annotations");
    if annotations.and_then(|a| a.get("kubectl.kubernetes.io/restartedAt")).is_some() {
        return Ok((name.into(), "restart", format!("kubectl rollout restart {kind}/{name}")));
    }
    if sub == "scale" || body.pointer("/spec/replicas").is_some() {
        let n = body.pointer("/spec/replicas").map_or_else(|| "?".to_string(), Value::to_string);
        return Ok((name.into(), "scale", format!("kubectl scale {kind}/{name} --replicas={n}")));
    }
    if body.pointer("/spec/template/spec/containers").is_some() {
        return Ok((name.into(), "rollout", format!("a new pod template for {kind}/{name}")));
    }
    if verb == "delete" {
        return Ok((name.into(), "delete", format!("kubectl delete {kind}/{name}")));
    }
    if body.is_null() {
        return Err("workload writes logged without their request body (audit level Metadata)");
    }
    Err("workload writes that change neither replicas, template nor restart")
}

/// What an audit log gave.
#[derive(Debug, Default)]
pub struct Imported {
    pub records: Vec<Record>,
    pub skipped: BTreeMap<&'static str, usize>,
    /// Audit events seen.
    pub events: usize,
}

impl Imported {
    /// Take one audit event; `Err` says why its time cannot be read.
    pub fn add(&mut self, ev: &Value) -> Result<(), String> {
        self.events += 1;
        let (service, action, command) = match action_of(ev) {
            Ok(a) => a,
            Err(why) => {
                *self.skipped.entry(why).or_default() += 1;
                return Ok(());
            }
        };
        let t = ["stageTimestamp", "requestReceivedTimestamp"]
            .iter()
            .find_map(|k| ev.get(*k).and_then(Value::as_str))
            .ok_or("the event has neither stageTimestamp nor requestReceivedTimestamp")?;
        let at: Time = super::parse_time(t, false)?;
        let ns = ev.pointer("/objectRef/namespace").and_then(Value::as_str).unwrap_or("default");
        let user = ev.pointer("/user/username").and_then(Value::as_str).unwrap_or("unknown");
        self.records.push(Record::Action {
            at,
            service,
            namespace: ns.to_string(),
            actor: user.to_string(),
            action: action.to_string(),
            command: Some(format!("{command} -n {ns}")),
            incident: None,
        });
        Ok(())
    }
}

/// Whether a JSON value is an audit event (or a list of them).
pub fn is_audit(v: &Value) -> bool {
    v.get("apiVersion").and_then(Value::as_str).is_some_and(|a| a.starts_with("audit.k8s.io/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(verb: &str, resource: &str, sub: Option<&str>, user: &str, body: Value) -> Value {
        let mut e = serde_json::json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "stage": "ResponseComplete",
            "verb": verb, "user": { "username": user },
            "objectRef": { "resource": resource, "namespace": "prod", "name": "payment-api", "apiGroup": "apps", "apiVersion": "v1" },
            "responseStatus": { "code": 200 },
            "requestObject": body,
            "requestReceivedTimestamp": "2026-11-24T10:20:00.000000Z", "stageTimestamp": "2026-11-24T10:20:00.120000Z"
        });
        if let Some(s) = sub {
            e["objectRef"]["subresource"] = Value::String(s.into());
        }
        e
    }

    #[test]
    fn people_s_writes_become_actions_and_the_rest_is_counted() {
        let mut k = Imported::default();
        let restart = serde_json::json!({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-24T10:20:00Z"}}}}});
        k.add(&ev("patch", "deployments", None, "alice@example.com", restart)).unwrap();
        k.add(&ev("patch", "deployments", Some("scale"), "bob", serde_json::json!({"spec":{"replicas":6}}))).unwrap();
        k.add(&ev(
            "patch",
            "deployments",
            Some("scale"),
            "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
            serde_json::json!({"spec":{"replicas":7}}),
        ))
        .unwrap();
        k.add(&ev("get", "deployments", None, "alice@example.com", Value::Null)).unwrap();
        k.add(&ev("update", "deployments", Some("status"), "carol", serde_json::json!({}))).unwrap();
        let acts: Vec<(String, String)> = k
            .records
            .iter()
            .map(|r| match r {
                Record::Action { actor, action, .. } => (actor.clone(), action.clone()),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(acts, [("alice@example.com".into(), "restart".into()), ("bob".into(), "scale".into())]);
        assert_eq!(k.records[0].at().to_rfc3339(), "2026-11-24T10:20:00.12Z");
        assert_eq!(k.skipped.values().sum::<usize>(), 3);
        assert_eq!(k.events, 5);
    }
}
