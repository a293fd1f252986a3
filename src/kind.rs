//! Which kind of file a path holds (policy, channels, scenario, gate, classifier rules, grid), judged by its top-level keys, so
//! `check` and `simulate` can take a folder of mixed files. Reads nothing but the file given.

use std::path::Path;

use crate::diag::{Code, Diagnostic, read_source};
use crate::yaml;

/// Kinds of files understudy reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Policy,
    Scenario,
    Gate,
    /// Classifier rules.
    Rules,
    /// Escalation channels on their own (`channels:`).
    Channels,
    /// A sweep grid (`policy:`, `scenarios:`, `parameters:`).
    Grid,
}

/// Decide from a parsed document's top-level keys.
pub fn of_keys(keys: &[&str]) -> Option<Kind> {
    if keys.iter().any(|k| matches!(*k, "remediation_policies" | "remediation_policy" | "guardrails")) {
        Some(Kind::Policy)
    } else if keys.contains(&"duration") && keys.iter().any(|k| matches!(*k, "faults" | "campaigns" | "name")) {
        Some(Kind::Scenario)
    } else if keys.contains(&"rules") && keys.iter().all(|k| matches!(*k, "rules" | "symptoms")) || keys == ["symptoms"]
    {
        Some(Kind::Rules)
    } else if keys == ["channels"] {
        Some(Kind::Channels)
    } else if keys.contains(&"parameters") && keys.contains(&"policy") {
        Some(Kind::Grid)
    } else if keys.iter().any(|k| {
        k.starts_with("min_")
            || k.starts_with("max_")
            || matches!(*k, "per_type" | "valid_for")
            || k.starts_with("require_")
    }) {
        Some(Kind::Gate)
    } else {
        None
    }
}

/// Read `path` and tell its kind, or why it cannot be told.
pub fn of_file(path: &Path) -> Result<(Kind, String), Vec<Diagnostic>> {
    let text = read_source(path).map_err(|d| vec![d])?;
    let root = match yaml::parse(path, &text)? {
        Some(r) => r,
        None => {
            return Err(vec![Diagnostic::error(Code::Empty, path, None, "the file is empty").with_hint(
                "expected a policy (`remediation_policies:`) or a scenario (`name:`, `duration:`, `faults:`)",
            )]);
        }
    };
    match of_keys(&root.keys()) {
        Some(k) => Ok((k, text)),
        None => Err(vec![
            Diagnostic::error(Code::UnknownFormat, path, Some(root.pos), "cannot tell what kind of file this is")
                .with_hint("a policy has `remediation_policies:`; a scenario has `name:`, `duration:` and `faults:` (see scenarios/)"),
        ]),
    }
}
