//! Integration tests, linked once (one binary, one module per area).

mod cli;
mod gate;
mod html;
pub mod import;
mod lesson;
mod metrics;
mod policy_errors;
mod properties;
mod replay;
mod shadow;
mod simulate;
mod sweep;

use std::path::{Path, PathBuf};

/// A path inside the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The default policy shipped in `scenarios/policy.yaml`.
pub fn default_policy() -> understudy::policy::Policy {
    understudy::policy::Policy::load(&repo("scenarios/policy.yaml")).unwrap_or_else(|r| panic!("{r}")).policy
}
