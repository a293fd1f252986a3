//! The semantic difference of two validated policies: what a reviewer must read before a new
//! fingerprint is promoted.
//!
//! Owns the comparison only. Both sides are the validated forms (defaults filled in, durations
//! normalised), so comments, key order and spelling of the same value do not show, and any
//! change that moves the fingerprint does. Channels are compared too and marked as routing:
//! they are not part of the fingerprint.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Policy;

/// One field that differs. `old` or `new` is `None` when the field exists on one side only.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Where, as people write it: `remediations.cpu-spike.confidence_threshold`,
    /// `guardrails.never_auto[security]`, `guardrails.expected_load_events[black-friday].end`.
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
    /// Whether the field is part of the fingerprint (false: channels, which only route pages).
    pub in_fingerprint: bool,
}

/// Every field that differs, fingerprint fields first, each group in path order.
pub fn diff(old: &Policy, new: &Policy) -> Vec<Change> {
    let mut out = compare(&flat_policy(old), &flat_policy(new), true);
    out.extend(compare(&flat_channels(old), &flat_channels(new), false));
    out
}

fn compare(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>, in_fingerprint: bool) -> Vec<Change> {
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|p| {
            let (x, y) = (a.get(p), b.get(p));
            (x != y).then(|| Change { path: p.clone(), old: x.cloned(), new: y.cloned(), in_fingerprint })
        })
        .collect()
}

fn flat_policy(p: &Policy) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    // A policy always serializes: its fields are maps, numbers, strings and durations.
    if let Ok(v) = serde_json::to_value(p) {
        flatten("", &v, &mut out);
    }
    out
}

fn flat_channels(p: &Policy) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some(c) = p.channels() {
        if let Ok(v) = serde_json::to_value(&c.channels) {
            flatten("channels", &v, &mut out);
        }
        out.insert("default_channel".to_string(), Value::String(c.default.clone()));
    }
    out
}

/// Leaves by path. Lists of names (never_auto, namespaces) become one leaf per member, lists
/// of named windows one subtree per name, so an insertion does not renumber what follows.
fn flatten(path: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    let join = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(&join(k), x, out);
            }
        }
        Value::Array(xs) if !xs.is_empty() => {
            // Named entries keep their order in the fingerprint, so the order is a field too.
            let names: Vec<Value> = xs.iter().filter_map(|x| x.get("name").cloned()).collect();
            if names.len() == xs.len() && names.len() > 1 {
                out.insert(format!("{path}.(order)"), Value::Array(names));
            }
            for (i, x) in xs.iter().enumerate() {
                match x {
                    Value::String(s) => {
                        out.insert(format!("{path}[{s}]"), Value::Bool(true));
                    }
                    Value::Object(m) => {
                        let key = m.get("name").and_then(Value::as_str).map_or_else(|| i.to_string(), str::to_string);
                        flatten(&format!("{path}[{key}]"), x, out);
                    }
                    other => flatten(&format!("{path}[{i}]"), other, out),
                }
            }
        }
        // An empty list or map has no leaves: adding the first member shows as that member.
        Value::Object(_) | Value::Array(_) => {}
        other => {
            out.insert(path.to_string(), other.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn policy(text: &str) -> Policy {
        Policy::from_yaml(Path::new("p.yaml"), text).unwrap_or_else(|d| panic!("{d:?}")).policy
    }

    const BASE: &str = "remediation_policies:
  - incident_type: memory-leak
    auto_execute: true
    confidence_threshold: 0.92
    max_attempts: 2
    cooldown_after_action: 10m
    verification_window: 5m
    rollback_if_failed: true
    escalation_channel: pagerduty-p1
    action: { kind: restart }
guardrails:
  namespaces: [prod]
";

    #[test]
    fn a_policy_compared_with_itself_differs_by_nothing() {
        let p = policy(BASE);
        assert_eq!(diff(&p, &p), vec![]);
        // Comments, key order and the spelling of a duration change nothing either.
        let q = policy(&BASE.replace("10m", "600s").replace("guardrails:\n", "# the limits\nguardrails:\n"));
        assert_eq!(diff(&p, &q), vec![]);
        assert_eq!(p.fingerprint(), q.fingerprint());
    }

    #[test]
    fn every_change_that_moves_the_fingerprint_is_listed() {
        let p = policy(BASE);
        let q = policy(&BASE.replace("0.92", "0.8").replace("[prod]", "[prod, staging]"));
        assert_ne!(p.fingerprint(), q.fingerprint());
        let d = diff(&p, &q);
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["guardrails.namespaces[staging]", "remediations.memory-leak.confidence_threshold"], "{d:?}");
        assert_eq!(d[1].old, Some(serde_json::json!(0.92)));
        assert_eq!(d[1].new, Some(serde_json::json!(0.8)));
        assert_eq!(d[0].old, None);
        assert!(d.iter().all(|c| c.in_fingerprint));
    }
}
