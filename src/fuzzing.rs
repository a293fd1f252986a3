//! Every input surface, by name, for the fuzz targets (fuzz/), the proptest of arbitrary bytes
//! (tests/it/hostile.rs) and the crash regressions (tests/fuzz-regressions/).
//!
//! Owns the list of surfaces and the seed files of each; runs each surface's real parser from
//! bytes, as the commands do (bytes to text first, with the same checks), and drops the
//! result. A surface either returns a result or a diagnostic; a panic, an abort or a hang
//! here is a bug in the parser it reached. Not part of the product's interface.

use std::path::Path;

use crate::clock::Time;
use crate::trace::{Reader, alertmanager, k8s, prometheus};

/// One input surface and the shipped files its corpus starts from (paths from the repo root).
pub struct Target {
    pub name: &'static str,
    pub seeds: &'static [&'static str],
}

/// Every surface that reads input from outside the program.
pub const TARGETS: &[Target] = &[
    Target {
        name: "policy",
        seeds: &["scenarios/policy.yaml", "fixtures/lesson-policy.yaml", "fixtures/naive-policy.yaml"],
    },
    Target { name: "scenario", seeds: &["scenarios/week-in-prod.yaml", "scenarios/bad-deploy.yaml"] },
    Target { name: "gate", seeds: &["scenarios/gate.yaml", "tests/e2e/gate.yaml"] },
    Target { name: "grid", seeds: &["fixtures/grid.yaml"] },
    Target { name: "channels", seeds: &["deploy/channels.yaml"] },
    Target { name: "rules", seeds: &["scenarios/classifier-rules.yaml"] },
    Target { name: "promotion", seeds: &["fixtures/samples/promotion.json"] },
    // What `understudy simulate bad-deploy --replications 3` writes, read by the gate.
    Target { name: "report", seeds: &["fixtures/samples/report.json"] },
    Target { name: "trace", seeds: &["fixtures/traces/lesson-history.jsonl", "fixtures/traces/real-events.jsonl"] },
    Target { name: "incidents", seeds: &["fixtures/lesson-incidents.jsonl"] },
    // Hand-written samples; `scripts/fuzz` adds the real dumps in ../shared/realdata too.
    Target { name: "k8s", seeds: &["fixtures/samples/pods.json"] },
    Target { name: "alertmanager", seeds: &["fixtures/samples/alertmanager-webhook.json"] },
    Target { name: "prometheus", seeds: &["fixtures/samples/prometheus-range.json"] },
    Target { name: "webhook", seeds: &["fixtures/samples/alertmanager-webhook.json"] },
    Target { name: "kubectl-text", seeds: &["fixtures/samples/kubectl-describe.txt"] },
    Target { name: "metrics", seeds: &["fixtures/samples/metrics-wide.csv"] },
    Target { name: "audit", seeds: &["fixtures/samples/audit.jsonl"] },
    Target { name: "faults", seeds: &["fixtures/samples/faults.csv"] },
];

/// The repository root, wherever the fuzzer or the test runs from.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Real dumps in `../shared/realdata` (beside the project, never copied into it) that seed
/// the importers' corpora too, when that folder is there.
pub const REALDATA: &[(&str, &str)] = &[
    ("k8s", "pod-lists"),
    ("k8s", "k8s-objects"),
    ("k8s", "events"),
    ("alertmanager", "alertmanager-webhooks"),
    ("alertmanager", "alerts"),
    ("webhook", "alertmanager-webhooks"),
    ("prometheus", "prometheus-range"),
    ("kubectl-text", "alerts"),
];

/// Write every target's seeds into `corpus/<target>/` (made if missing): the shipped files and
/// the real dumps under `realdata` (files only, at most 1 MiB each). Returns files written.
pub fn write_seeds(corpus: &Path, realdata: Option<&Path>) -> std::io::Result<usize> {
    let mut n = 0;
    for t in TARGETS {
        let dir = corpus.join(t.name);
        std::fs::create_dir_all(&dir)?;
        let mut files: Vec<std::path::PathBuf> = t.seeds.iter().map(|s| repo().join(s)).collect();
        for (_, sub) in REALDATA.iter().filter(|(name, _)| *name == t.name) {
            let Some(root) = realdata else { continue };
            let mut stack = vec![root.join(sub)];
            while let Some(d) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&d) else { continue };
                let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
                entries.sort();
                for p in entries {
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.metadata().is_ok_and(|m| m.len() <= 1 << 20)
                        && !p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("LICENSE"))
                    {
                        files.push(p);
                    }
                }
            }
        }
        for (i, f) in files.iter().enumerate() {
            let stem = f.file_name().map_or_else(|| "seed".into(), |s| s.to_string_lossy().into_owned());
            std::fs::copy(f, dir.join(format!("{i:03}-{stem}")))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Run surface `target` on `bytes`. Unknown names do nothing (the caller lists [`TARGETS`]).
pub fn load(target: &str, bytes: &[u8]) {
    let path = Path::new("fuzz-input");
    // As every file loader does: bytes → text with the control-character and size checks.
    let text = || crate::diag::text_from_bytes(path, bytes.to_vec()).ok();
    match target {
        "policy" => drop(text().map(|t| crate::policy::Policy::from_yaml(path, &t))),
        "scenario" => drop(text().map(|t| crate::sim::scenario::Scenario::from_yaml(path, &t))),
        "gate" => drop(text().map(|t| crate::gate::Gate::from_yaml(path, &t))),
        "channels" => drop(text().map(|t| crate::escalate::channels::Channels::from_yaml(path, &t))),
        "rules" => drop(text().map(|t| crate::classify::rules::Rules::from_yaml(path, &t))),
        // Files a grid names are read relative to it: a grid in fixtures/ finds the shipped ones.
        "grid" => drop(text().map(|t| crate::grid::Grid::from_yaml(&repo().join("fixtures/fuzz-input.yaml"), &t))),
        "promotion" => drop(text().map(|t| crate::gate::promotion::Promotion::from_text(path, &t))),
        "report" => {
            if let Ok(gate) = crate::gate::Gate::load(&repo().join("scenarios/gate.yaml")) {
                drop(crate::gate::apply(&gate, path, bytes, Time(1_795_000_000_000_000_000)));
            }
        }
        "trace" => Reader::new(path, bytes).for_each(drop),
        "incidents" => {
            let Some(t) = text() else { return };
            for (n, line) in t.lines().enumerate() {
                drop(crate::jsonl::parse_line::<crate::decide::Incident>(path, n + 1, line));
            }
        }
        "k8s" => {
            let Some(t) = text() else { return };
            let mut k = k8s::Imported::default();
            if let Ok(docs) = k8s::parse_documents(&t) {
                docs.iter().for_each(|d| k.add(d, Time(1_795_000_000_000_000_000)));
            }
            drop(k);
        }
        "alertmanager" => {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
                drop(alertmanager::import(&v));
            }
        }
        "prometheus" => {
            let Some(t) = text() else { return };
            drop(prometheus::import_matrix(&t, None));
            drop(prometheus::import_csv(&t, Some("x")));
        }
        "webhook" => drop(alertmanager::webhook_body(bytes, crate::live::shadow::MAX_ALERTS)),
        "kubectl-text" | "metrics" | "audit" | "faults" => {
            let Some(t) = text() else { return };
            let kind = match target {
                "kubectl-text" => crate::trace::sources::Kind::K8s,
                "metrics" => crate::trace::sources::Kind::Table,
                "audit" => crate::trace::sources::Kind::Audit,
                _ => crate::trace::sources::Kind::Faults,
            };
            let opts = crate::trace::sources::Options {
                now: Some(Time(1_795_000_000_000_000_000)),
                ..crate::trace::sources::Options::default()
            };
            let mut b = crate::trace::sources::Batch::default();
            drop(b.add_text(kind, path, &t, &opts));
            drop(b.finish(&opts));
        }
        _ => {}
    }
}
