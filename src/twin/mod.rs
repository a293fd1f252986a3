//! The twin: the simulated world served as a Kubernetes API, so real `kubectl`, the live
//! executor and Prometheus can be pointed at it.
//!
//! `cluster.rs` owns the world and its object view (the same `sim::dynamics` the simulator
//! runs, so an action through the API has the effect a simulated action would); `api.rs` owns
//! HTTP (discovery, lists, watches, patches, the scale subresource, `/metrics`); `patch.rs`
//! applies JSON, merge and strategic merge patches. The world advances with the wall clock,
//! `speed` times faster. The twin decides nothing and knows no policy.

pub mod api;
pub mod cluster;
pub mod patch;

pub use api::{Twin, router, run_clock};
pub use cluster::Cluster;

/// A kubeconfig for a twin at `server` (`http://127.0.0.1:PORT`).
pub fn kubeconfig(server: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: understudy-twin\n  cluster:\n    server: {server}\n\
         contexts:\n- name: understudy-twin\n  context:\n    cluster: understudy-twin\n    user: understudy-twin\n    namespace: {namespace}\n\
         current-context: understudy-twin\nusers:\n- name: understudy-twin\n  user: {{}}\n"
    )
}
