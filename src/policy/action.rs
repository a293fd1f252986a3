//! Remediation actions and the exact command a person would type for each.
//!
//! Owns the validated [`Action`] and its rendering as a `kubectl`, `helm` or `curl` command.
//! It does not run anything: executors (world model, recorder, Kubernetes) interpret the
//! same `Action` value.

use std::collections::BTreeMap;

use serde::Serialize;

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
fn sh(s: &str) -> String {
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

    /// The exact command a person would type. `replicas` is the scale target from
    /// [`Action::scale_target`] (ignored by other kinds).
    pub fn command(&self, service: &str, namespace: &str, replicas: Option<u32>) -> String {
        let svc = sh(service);
        let ns = sh(namespace);
        match self {
            Action::Restart => format!("kubectl rollout restart deployment/{svc} -n {ns}"),
            Action::Scale { by } => {
                let n = match (replicas, by) {
                    (Some(n), _) | (None, &ScaleBy::Replicas(n)) => n.to_string(),
                    (None, ScaleBy::Factor(f)) => format!("<{f}x current>"),
                };
                format!("kubectl scale deployment/{svc} -n {ns} --replicas={n}")
            }
            Action::Rollback => format!("kubectl rollout undo deployment/{svc} -n {ns}"),
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
