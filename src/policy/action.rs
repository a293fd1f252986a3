//! Remediation actions and the exact command a person would type for each.
//!
//! Owns the validated [`Action`] and its rendering as a `kubectl`, `helm` or `curl` command.
//! It does not run anything: executors (world model, recorder, Kubernetes) interpret the
//! same `Action` value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What kind of object a service is, where the evidence says so (an alert's subject label,
/// a pod's name): commands are built for its kind, and an action the kind does not support
/// is not suggested at all. Unknown (`None` where it is used) is read as a Deployment, the
/// common case and the one the executors act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    Node,
    /// A scrape target (`instance`/`job` labels only): no Kubernetes object to act on.
    Endpoint,
}

impl Target {
    /// The kubectl resource name.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Deployment => "deployment",
            Target::StatefulSet => "statefulset",
            Target::DaemonSet => "daemonset",
            Target::Job => "job",
            Target::Node => "node",
            Target::Endpoint => "endpoint",
        }
    }

    /// The kind an alert's labels name as its subject, in the order the alert importer picks
    /// a service (`deployment`, `statefulset`, … before `pod`, `node`, then `instance`/`job`);
    /// a pod's kind from its name where Kubernetes' naming tells it (`web-0`: a StatefulSet;
    /// `web-7d9f8b6c5-x2x4z`: a Deployment's ReplicaSet). `None`: the labels do not say.
    pub fn of_labels(labels: &BTreeMap<String, String>) -> Option<Target> {
        let has = |k: &str| labels.get(k).is_some_and(|v| !v.is_empty());
        if has("deployment") {
            return Some(Target::Deployment);
        }
        if has("statefulset") {
            return Some(Target::StatefulSet);
        }
        if has("daemonset") {
            return Some(Target::DaemonSet);
        }
        if has("job_name") || has("cronjob") {
            return Some(Target::Job);
        }
        // kube-state-metrics' owner labels (kube_pod_owner, kube_pod_info).
        for k in ["owner_kind", "created_by_kind"] {
            match labels.get(k).map(String::as_str) {
                Some("StatefulSet") => return Some(Target::StatefulSet),
                Some("DaemonSet") => return Some(Target::DaemonSet),
                Some("ReplicaSet" | "Deployment") => return Some(Target::Deployment),
                Some("Job" | "CronJob") => return Some(Target::Job),
                _ => {}
            }
        }
        if let Some(pod) = labels.get("pod").filter(|p| !p.is_empty()) {
            return Target::of_pod(pod);
        }
        // A container's alert that also names its node is about the workload, not the node.
        if has("container") {
            return None;
        }
        if has("node") {
            return Some(Target::Node);
        }
        // `service` and `app` name the workload without its kind (on kube-state-metrics alerts
        // they are the exporter's).
        if ["service", "app", "app_kubernetes_io_name"].iter().any(|k| has(k)) {
            return None;
        }
        (has("instance") || has("job")).then_some(Target::Endpoint)
    }

    /// A pod's workload kind from its name, where the name tells it.
    pub fn of_pod(name: &str) -> Option<Target> {
        let parts: Vec<&str> = name.split('-').collect();
        let safe = |s: &str, lens: &[usize]| {
            lens.contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()) && {
                // Kubernetes' generated suffixes avoid vowels and 0, 1, 3.
                !s.chars().any(|c| "aeiou013".contains(c))
            }
        };
        let n = parts.len();
        if n >= 3 && safe(parts[n - 1], &[5]) && safe(parts[n - 2], &[6, 7, 8, 9, 10]) {
            return Some(Target::Deployment);
        }
        // A StatefulSet's pods are numbered: `web-0`, `web-12`.
        let last = parts[n - 1];
        let ordinal = (1..=3).contains(&last.len())
            && last.chars().all(|c| c.is_ascii_digit())
            && (last == "0" || !last.starts_with('0'));
        (n >= 2 && ordinal).then_some(Target::StatefulSet)
    }
}

/// How many replicas a scale action asks for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScaleBy {
    /// Set the replica count to this number.
    Replicas(u32),
    /// Multiply the current replica count (rounded up).
    Factor(f64),
}

/// A remediation action, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// `kubectl rollout restart`: new pods from the same template.
    Restart,
    /// `kubectl scale`, capped by `guardrails.max_replicas`.
    Scale { by: ScaleBy },
    /// `kubectl rollout undo`: the Deployment's previous revision.
    Rollback,
    /// `helm rollback RELEASE [REVISION]`.
    HelmRollback { release: Option<String>, revision: Option<u32> },
    /// POST to a cache purge endpoint.
    CachePurge { url: String },
    /// Turn a feature flag off through the flag service's HTTP API.
    FeatureFlagDisable { url: String, flag: String },
    /// Shift traffic between backends (percentages summing to 100).
    TrafficShift { url: String, weights: BTreeMap<String, u32> },
}

/// The action kinds, as written in a policy.
pub const KINDS: [&str; 7] =
    ["restart", "scale", "rollback", "helm-rollback", "cache-purge", "feature-flag-disable", "traffic-shift"];

/// Fill `{service}` and `{namespace}` in a template.
pub fn fill(template: &str, service: &str, namespace: &str) -> String {
    template.replace("{service}", service).replace("{namespace}", namespace)
}

/// Quote for a POSIX shell when needed.
/// `s` as one shell word (single-quoted unless it needs no quoting).
pub fn sh(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Scale { .. } => "scale",
            Action::Rollback => "rollback",
            Action::HelmRollback { .. } => "helm-rollback",
            Action::CachePurge { .. } => "cache-purge",
            Action::FeatureFlagDisable { .. } => "feature-flag-disable",
            Action::TrafficShift { .. } => "traffic-shift",
        }
    }

    /// Whether carrying the same decision out a second time (same idempotency key) leaves
    /// the cluster as once does: a restart or rollback finds its marker, a scale its target,
    /// the HTTP actions carry the key and set a state. A Helm rollback without a revision
    /// does not: run twice, it rolls back to the release before the one it restored.
    pub fn repeatable(&self) -> bool {
        !matches!(self, Action::HelmRollback { revision: None, .. })
    }

    /// Whether the action can be undone when verification fails: scale back, roll forward,
    /// re-enable the flag, shift traffic back. A restart or a purge cannot be undone.
    pub fn reversible(&self) -> bool {
        !matches!(self, Action::Restart | Action::CachePurge { .. })
    }

    /// The replica count a scale action would set, given the current count and the cap.
    /// Errors say why no useful target exists.
    pub fn scale_target(by: &ScaleBy, current: Option<u32>, max_replicas: u32) -> Result<u32, String> {
        let wanted = match by {
            ScaleBy::Replicas(n) => *n,
            ScaleBy::Factor(f) => {
                let cur = current.ok_or_else(|| {
                    format!(
                        "scaling by factor {f} needs the current replica count, and the incident does not carry one"
                    )
                })?;
                let t = (f64::from(cur) * f).ceil();
                if t >= f64::from(u32::MAX) { u32::MAX } else { t.max(1.0) as u32 }
            }
        };
        let target = wanted.min(max_replicas);
        if let Some(cur) = current
            && target <= cur
        {
            return Err(format!(
                "already at {cur} replicas and the target is {target} (guardrails.max_replicas {max_replicas}); scaling would add no capacity"
            ));
        }
        Ok(target)
    }

    /// The exact command a person would type on a Deployment. `replicas` is the scale target
    /// from [`Action::scale_target`] (ignored by other kinds).
    pub fn command(&self, service: &str, namespace: &str, replicas: Option<u32>) -> String {
        self.render(Target::Deployment, service, namespace, replicas)
    }

    /// The command for a service of kind `target` (`None`: a Deployment), or why the action
    /// does not apply to that kind (a restart of a Node, a scale of a DaemonSet, a helm
    /// rollback of a scrape endpoint).
    pub fn command_on(
        &self,
        target: Option<Target>,
        service: &str,
        namespace: &str,
        replicas: Option<u32>,
    ) -> Result<String, String> {
        let t = target.unwrap_or(Target::Deployment);
        let (verb, supported): (&str, &[Target]) = match self {
            Action::Restart => {
                ("kubectl rollout restart", &[Target::Deployment, Target::StatefulSet, Target::DaemonSet])
            }
            Action::Rollback => ("kubectl rollout undo", &[Target::Deployment, Target::StatefulSet, Target::DaemonSet]),
            Action::Scale { .. } => ("kubectl scale", &[Target::Deployment, Target::StatefulSet]),
            Action::HelmRollback { .. } => {
                ("helm rollback", &[Target::Deployment, Target::StatefulSet, Target::DaemonSet, Target::Job])
            }
            // Calls to the team's own endpoints: they name what they act on.
            Action::CachePurge { .. } | Action::FeatureFlagDisable { .. } | Action::TrafficShift { .. } => {
                return Ok(self.render(t, service, namespace, replicas));
            }
        };
        if !supported.contains(&t) {
            let kinds: Vec<&str> = supported.iter().map(|k| k.as_str()).collect();
            let what = match t {
                Target::Endpoint => "a scrape target, not a Kubernetes workload".to_string(),
                t => format!("a {}", t.as_str()),
            };
            return Err(format!(
                "`{verb}` applies to {} only, and {service} is {what}: no command is suggested; a person must act",
                kinds.join(", ")
            ));
        }
        Ok(self.render(t, service, namespace, replicas))
    }

    fn render(&self, target: Target, service: &str, namespace: &str, replicas: Option<u32>) -> String {
        let svc = sh(service);
        let ns = sh(namespace);
        let kind = target.as_str();
        match self {
            Action::Restart => format!("kubectl rollout restart {kind}/{svc} -n {ns}"),
            Action::Scale { by } => {
                let n = match (replicas, by) {
                    (Some(n), _) | (None, &ScaleBy::Replicas(n)) => n.to_string(),
                    (None, ScaleBy::Factor(f)) => format!("<{f}x current>"),
                };
                format!("kubectl scale {kind}/{svc} -n {ns} --replicas={n}")
            }
            Action::Rollback => format!("kubectl rollout undo {kind}/{svc} -n {ns}"),
            Action::HelmRollback { release, revision } => {
                let rel = release.as_deref().map_or_else(|| svc.clone(), |r| sh(&fill(r, service, namespace)));
                match revision {
                    Some(r) => format!("helm rollback {rel} {r} -n {ns}"),
                    None => format!("helm rollback {rel} -n {ns}"),
                }
            }
            Action::CachePurge { url } => {
                format!("curl -fsS -m 10 -X POST {}", sh(&fill(url, service, namespace)))
            }
            Action::FeatureFlagDisable { url, flag } => {
                let body = serde_json::json!({ "flag": fill(flag, service, namespace), "enabled": false });
                format!(
                    "curl -fsS -m 10 -X POST -H 'Content-Type: application/json' -d {} {}",
                    sh(&body.to_string()),
                    sh(&fill(url, service, namespace))
                )
            }
            Action::TrafficShift { url, weights } => {
                let body = serde_json::json!({ "service": service, "namespace": namespace, "weights": weights });
                format!(
                    "curl -fsS -m 10 -X POST -H 'Content-Type: application/json' -d {} {}",
                    sh(&body.to_string()),
                    sh(&fill(url, service, namespace))
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_follow_the_object_kind_and_none_is_built_for_what_it_cannot_apply_to() {
        let on = |a: &Action, t| a.command_on(Some(t), "db", "prod", Some(3));
        assert_eq!(
            on(&Action::Restart, Target::StatefulSet).unwrap(),
            "kubectl rollout restart statefulset/db -n prod"
        );
        assert_eq!(
            on(&Action::Scale { by: ScaleBy::Replicas(3) }, Target::StatefulSet).unwrap(),
            "kubectl scale statefulset/db -n prod --replicas=3"
        );
        let e = on(&Action::Scale { by: ScaleBy::Replicas(3) }, Target::DaemonSet).unwrap_err();
        assert!(e.contains("applies to deployment, statefulset only") && e.contains("db is a daemonset"), "{e}");
        assert!(on(&Action::Restart, Target::Node).is_err());
        let helm = Action::HelmRollback { release: None, revision: None };
        assert!(on(&helm, Target::Endpoint).unwrap_err().contains("scrape target"));
        assert_eq!(Action::Restart.command_on(None, "a", "b", None).unwrap(), Action::Restart.command("a", "b", None));
        let l = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(Target::of_labels(&l("node", "ip-10-0-0-1")), Some(Target::Node));
        assert_eq!(Target::of_labels(&l("pod", "redis-0")), Some(Target::StatefulSet));
        assert_eq!(Target::of_labels(&l("pod", "web-7d9f8b6c5-x2x4z")), Some(Target::Deployment));
        assert_eq!(Target::of_labels(&l("pod", "demo2")), None);
        assert_eq!(Target::of_labels(&l("instance", "https://sqs.eu-west-1.amazonaws.com")), Some(Target::Endpoint));
        assert_eq!(Target::of_labels(&l("app", "web")), None);
        assert_eq!(Target::of_pod("year-2024"), None);
        let two = |a: (&str, &str), b: (&str, &str)| {
            BTreeMap::from([(a.0.to_string(), a.1.to_string()), (b.0.to_string(), b.1.to_string())])
        };
        assert_eq!(Target::of_labels(&two(("node", "n1"), ("container", "app"))), None);
        assert_eq!(
            Target::of_labels(&two(("owner_kind", "DaemonSet"), ("pod", "fluent-bit-x2x4z"))),
            Some(Target::DaemonSet)
        );
    }

    #[test]
    fn commands_match_the_lesson() {
        assert_eq!(
            Action::Restart.command("payment-api", "prod", None),
            "kubectl rollout restart deployment/payment-api -n prod"
        );
        assert_eq!(
            Action::Scale { by: ScaleBy::Replicas(6) }.command("payment-api", "prod", Some(6)),
            "kubectl scale deployment/payment-api -n prod --replicas=6"
        );
        assert_eq!(
            Action::HelmRollback { release: None, revision: None }.command("checkout-api", "prod", None),
            "helm rollback checkout-api -n prod"
        );
        assert_eq!(
            Action::HelmRollback { release: None, revision: Some(3) }.command("payment-api", "prod", None),
            "helm rollback payment-api 3 -n prod"
        );
        assert_eq!(Action::Rollback.command("a", "b", None), "kubectl rollout undo deployment/a -n b");
    }

    #[test]
    fn webhook_commands_are_quoted() {
        let a = Action::FeatureFlagDisable { url: "https://flags.example/api/{service}".into(), flag: "new-ui".into() };
        assert_eq!(
            a.command("checkout-api", "prod", None),
            r#"curl -fsS -m 10 -X POST -H 'Content-Type: application/json' -d '{"enabled":false,"flag":"new-ui"}' https://flags.example/api/checkout-api"#
        );
    }

    #[test]
    fn scale_targets_are_capped_and_must_add_capacity() {
        assert_eq!(Action::scale_target(&ScaleBy::Replicas(20), Some(4), 12), Ok(12));
        assert_eq!(Action::scale_target(&ScaleBy::Factor(1.5), Some(4), 12), Ok(6));
        assert!(Action::scale_target(&ScaleBy::Factor(2.0), None, 12).is_err());
        assert!(Action::scale_target(&ScaleBy::Replicas(6), Some(12), 12).is_err());
        assert_eq!(Action::scale_target(&ScaleBy::Replicas(6), None, 12), Ok(6));
    }
}
