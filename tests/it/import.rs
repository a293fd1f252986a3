//! Importers on the real data in ../shared/realdata (see its SOURCES.md).

use std::path::{Path, PathBuf};

use understudy::clock::Time;
use understudy::trace::{self, AlertStatus, Record, alertmanager, k8s, prometheus};

/// The real-data corpus: `$UNDERSTUDY_REALDATA`, else ../shared/realdata beside the
/// repository (shared/realdata/SOURCES.md lists each file's upstream repository and commit).
pub fn realdata_root() -> PathBuf {
    match std::env::var_os("UNDERSTUDY_REALDATA") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/realdata"),
    }
}

/// A file of the real-data corpus.
pub fn realdata(rel: &str) -> PathBuf {
    let p = realdata_root().join(rel);
    assert!(
        p.exists(),
        "{} is missing: the tests need the real-data corpus at $UNDERSTUDY_REALDATA or ../shared/realdata (SOURCES.md there lists each file's upstream repository and commit)",
        p.display()
    );
    p
}

/// The reference time for the fixtures' relative timestamps (`@now-5m`).
pub fn now() -> Time {
    Time::parse_rfc3339("2026-11-25T00:00:00Z").unwrap()
}

fn import_k8s(files: &[PathBuf]) -> k8s::Imported {
    let mut k = k8s::Imported::default();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for d in k8s::parse_documents(&text).unwrap_or_else(|e| panic!("{}: {e:?}", f.display())) {
            k.add(&d, now());
        }
    }
    k
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(realdata(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("LICENSE"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_annotated_pod_deployment_and_replicaset_gets_its_expected_health() {
    let mut all = Vec::new();
    for kind in ["Pod", "Deployment", "ReplicaSet", "Node"] {
        all.extend(files(&format!("k8s-objects/{kind}")));
    }
    let k = import_k8s(&all);
    let checked: Vec<_> = k.objects.iter().filter(|o| o.expected.is_some()).collect();
    assert!(checked.len() >= 25, "only {} annotated objects", checked.len());
    let wrong: Vec<String> = checked
        .iter()
        .filter(|o| o.expected.as_deref() != Some(o.health.as_str()))
        .map(|o| {
            format!(
                "{} {}/{}: expected {:?}, got {} ({})",
                o.kind,
                o.namespace,
                o.name,
                o.expected,
                o.health.as_str(),
                o.status
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{} of {} wrong:\n{}", wrong.len(), checked.len(), wrong.join("\n"));
}

fn signals<'a>(records: &'a [Record], name: &str) -> Vec<&'a Record> {
    records.iter().filter(|r| matches!(r, Record::Signal { name: n, .. } if n == name)).collect()
}

#[test]
fn the_real_oomkilled_and_crashloop_pods_become_signals_on_the_right_services_at_the_right_times() {
    let k = import_k8s(&[
        realdata("pod-lists/message-oomkill-pod.json"),
        realdata("pod-lists/message-pod-crashloop-backoff.json"),
    ]);
    let oom = signals(&k.records, "OOMKilled");
    assert_eq!(oom.len(), 1);
    match oom[0] {
        Record::Signal { at, service, namespace, .. } => {
            assert_eq!(at.to_rfc3339(), "2023-07-11T04:43:25Z");
            assert_eq!(service, "oom-kill-job3");
            assert_eq!(namespace, "message-oomkill-pod");
        }
        _ => unreachable!(),
    }
    let crash = signals(&k.records, "CrashLoopBackOff");
    assert_eq!(crash.len(), 1);
    match crash[0] {
        Record::Signal { at, service, value, .. } => {
            assert_eq!(at.to_rfc3339(), "2023-07-11T03:33:15Z");
            assert_eq!(service, "init-demo");
            assert_eq!(*value, 4.0, "the restart count");
        }
        _ => unreachable!(),
    }
}

#[test]
fn real_kubernetes_events_become_signals() {
    let k = import_k8s(&[
        realdata("events/message-container-creating-failed-mount.json"),
        realdata("events/message-image-pull-fail.json"),
    ]);
    assert_eq!(k.events, 76 + 17);
    let crash = signals(&k.records, "CrashLoopBackOff");
    assert!(
        crash
            .iter()
            .any(|r| matches!(r, Record::Signal { service, value, .. } if service == "init-demo2" && *value == 1464.0)),
        "{crash:?}"
    );
    let pulls = signals(&k.records, "image_pull_failed");
    assert!(
        pulls.iter().all(|r| matches!(r, Record::Signal { service, .. } if service == "no-image-deployment")),
        "{pulls:?}"
    );
    assert!(!pulls.is_empty());
    assert!(
        !signals(&k.records, "pod_unschedulable").is_empty(),
        "FailedScheduling carries eventTime, not lastTimestamp"
    );
    assert!(!signals(&k.records, "liveness_failed").is_empty());
    assert!(!signals(&k.records, "job_failed").is_empty());
}

#[test]
fn alertmanager_webhooks_and_api_groups_become_alert_records() {
    let load =
        |p: &str| serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(realdata(p)).unwrap()).unwrap();
    let (r, bad) = alertmanager::import(&load("alertmanager-webhooks/alert1.json"));
    assert_eq!((r.len(), bad), (1, 0));
    match &r[0] {
        Record::Alert { at, name, status, service, namespace, .. } => {
            assert_eq!(name, "KubePodCrashLooping");
            assert_eq!(*status, AlertStatus::Firing);
            assert_eq!(service.as_deref(), Some("dd1"));
            assert_eq!(namespace.as_deref(), Some("pp1"));
            assert_eq!(at.to_rfc3339(), "2020-02-26T07:05:04.989876849Z");
        }
        _ => unreachable!(),
    }
    let (r, _) = alertmanager::import(&load("alertmanager-webhooks/alert.json"));
    assert_eq!(r.len(), 9, "nine firing CPUThrottlingHigh alerts");
    let (r, _) = alertmanager::import(&load("alertmanager-webhooks/karma/0.31.0/api/v2/alerts/groups"));
    assert_eq!(r.len(), 24, "every alert of the ten groups");
    let (r, _) = alertmanager::import(&load("alertmanager-webhooks/prom_post_request.json"));
    assert!(matches!(&r[0], Record::Alert { name, .. } if name == "high_memory_load"));
}

#[test]
fn prometheus_range_queries_become_signals() {
    let text = std::fs::read_to_string(realdata("prometheus-range/query_range_mock.json")).unwrap();
    let (r, skipped) = prometheus::import_matrix(&text, Some("fs_usage")).unwrap();
    assert_eq!((r.len(), skipped), (2 * 887, 0));
    // HolmesGPT's recording: two header lines, then the response with its own extra fields.
    let holmes = "prometheus-range/execute_prometheus_range_queryDetermine_CPU_throttling_ratio_over_time_for_the_frontend-service_pod_in_the_default_nam";
    let text = std::fs::read_to_string(realdata(holmes)).unwrap();
    let (r, _) = prometheus::import_matrix(&text, Some("cpu_throttling_pct")).unwrap();
    assert_eq!(r.len(), 17 * 121);
    assert!(r.iter().all(|x| matches!(x, Record::Signal { namespace, .. } if namespace == "kube-system")));
    let csv = "time,value,service,namespace\n2026-11-24T10:00:00Z,0.31,checkout-api,prod\n1764000060,0.42,checkout-api,prod\n";
    let (r, _) = prometheus::import_csv(csv, Some("http_5xx_rate")).unwrap();
    assert_eq!(r.len(), 2);
    assert!(prometheus::import_csv("time,value\nyesterday,1\n", None).unwrap_err().starts_with("line 2:"));
}

#[test]
fn import_writes_a_time_ordered_trace_the_reader_accepts() {
    let k = import_k8s(&files("events"));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.jsonl");
    let n = trace::write(Some(&p), k.records).unwrap();
    let back: Vec<_> = trace::Reader::open(&p).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(back.len(), n);
}

/// Every alert of the kube-prometheus and kubernetes-mixin rule sets has a rule in the shipped
/// classifier rules.
#[test]
fn shipped_rules_cover_every_real_alert() {
    use understudy::classify::Evidence;
    use understudy::classify::rules::Rules;
    let rules = Rules::load(&crate::repo("scenarios/classifier-rules.yaml")).unwrap_or_else(|r| panic!("{r}"));
    let mut names = std::collections::BTreeSet::new();
    let mut stack = vec![realdata("alert-rules")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                for line in std::fs::read_to_string(&p).unwrap().lines() {
                    let l = line.trim().trim_start_matches("- ");
                    if let Some(name) = l.strip_prefix("alert: ").or_else(|| l.strip_prefix("alertname: ")) {
                        names.insert(name.trim().to_string());
                    }
                }
            }
        }
    }
    assert!(names.len() > 100, "{} alert names found", names.len());
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| {
            rules
                .matching(&Evidence {
                    service: "s",
                    namespace: "n",
                    signal: n,
                    alert: Some(n),
                    truth: None,
                    ..Evidence::default()
                })
                .is_none()
        })
        .collect();
    assert!(missing.is_empty(), "no rule for: {missing:?}");
}
