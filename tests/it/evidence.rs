//! Real history in: investigation cases imported as they are, episodes opened by the rules
//! file's symptoms (absolute and relative to the service's own baseline), classification
//! revised as evidence arrives, watchdogs paging nobody.

use std::collections::BTreeMap;
use std::path::Path;

use crate::import::realdata;
use crate::{jsonl, understudy};

fn csv_rows(p: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(p).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|x| h.iter().zip(x.unwrap().iter()).map(|(a, b)| (a.to_string(), b.to_string())).collect())
        .collect()
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Each of the six HolmesGPT/Robusta investigation cases, imported as a folder with nothing
/// converted by hand, is classified to the family its `test_case.yaml` names.
#[test]
fn the_six_investigation_cases_classify_to_their_family_from_everything_importable() {
    let dir = tempfile::tempdir().unwrap();
    // The family each case's expected output names (the test harness's ground truth).
    let cases = [
        ("01_oom_kill", "analytics-exporter-fast", "memory-leak"),
        ("02_crashloop_backoff", "logging-agent", "crash-loop"),
        ("03_cpu_throttling", "frontend-service", "cpu-spike"),
        ("05_crashpod", "db-certs-authenticator", "crash-loop"),
        ("10_KubeDeploymentReplicasMismatch", "user-profile-resources", "capacity-loss"),
        ("11_KubePodCrashLooping", "payment-processing-worker", "crash-loop"),
    ];
    for (case, service, family) in cases {
        let trace = dir.path().join(format!("{case}.jsonl"));
        let folder = realdata(&format!("alerts/{case}"));
        let err = ok(&understudy(&["import", "case", folder.to_str().unwrap(), "-o", trace.to_str().unwrap()]));
        assert!(err.contains("used:"), "{case}: {err}");
        assert!(err.contains("test_case.yaml: not read"), "the harness's own file is listed as not read: {err}");
        let out = dir.path().join(case);
        ok(&understudy(&["replay", trace.to_str().unwrap(), "--out", out.to_str().unwrap()]));
        let rows = csv_rows(&out.join("incidents.csv"));
        let row = rows
            .iter()
            .find(|r| r["service"] == service)
            .unwrap_or_else(|| panic!("{case}: no episode for {service}: {rows:?}"));
        assert_eq!(row["classified_as"], family, "{case}: {row:?}");
        if family == "crash-loop" {
            // The shipped policy has no crash-loop runbook: the page lists the type once.
            let page = std::fs::read_to_string(out.join("index.html")).unwrap();
            assert!(page.contains("id=\"no-policy\"") && page.contains("<td>crash-loop</td>"), "{case}");
        }
        assert!(
            rows.iter().all(|r| r["service"] == service || !r["service"].contains(service)),
            "{case}: one service, not its pods and ReplicaSets as services of their own: {rows:?}"
        );
    }
}

fn signal(t: i64, svc: &str, name: &str, value: f64) -> String {
    let at = understudy::clock::Time(1_795_000_000_000_000_000 + t * 1_000_000_000).to_rfc3339();
    format!(r#"{{"kind":"signal","at":"{at}","service":"{svc}","namespace":"prod","name":"{name}","value":{value}}}"#)
}

/// A day of healthy latency, memory, error and CPU series (noisy, seeded) opens no episode;
/// the same day with a latency spike opens exactly one, on the spiking service.
#[test]
fn a_fault_free_stretch_opens_no_episode_and_a_spike_over_its_own_baseline_opens_one() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    for seed in [1u64, 2, 3] {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        let mut lines = Vec::new();
        let mut spiked = Vec::new();
        for step in 0..(24 * 60) {
            let t = step * 60;
            for (svc, base) in [("search-api", 0.090), ("payment-api", 0.120)] {
                // Healthy: ±10% noise on latency, a slow sawtooth on memory, errors and CPU
                // well under their absolute thresholds.
                let lat = base * (1.0 + rng.gen_range(-0.1..0.1));
                let mem = 5.0e8 + 1.0e6 * f64::from((step % 120) as u32) + rng.gen_range(0.0..2.0e6);
                lines.push(signal(t, svc, "latency_p99_seconds", lat));
                lines.push(signal(t, svc, "memory_working_set_bytes", mem));
                lines.push(signal(t, svc, "http_5xx_rate", rng.gen_range(0.0..0.01)));
                lines.push(signal(t, svc, "cpu_utilization", rng.gen_range(0.2..0.6)));
                let spike = svc == "payment-api" && (600..610).contains(&step);
                spiked.push(signal(t, svc, "latency_p99_seconds", if spike { base * 5.0 } else { lat }));
            }
        }
        let calm = dir.path().join(format!("calm-{seed}.jsonl"));
        std::fs::write(&calm, lines.join("\n") + "\n").unwrap();
        let out = dir.path().join(format!("calm-{seed}"));
        ok(&understudy(&[
            "replay",
            calm.to_str().unwrap(),
            "--policy",
            "fixtures/naive-policy.yaml",
            "--out",
            out.to_str().unwrap(),
        ]));
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["metrics"]["episodes"], 0, "seed {seed}: {}", report["metrics"]);
        assert!(jsonl(&out.join("escalations.jsonl")).is_empty());

        let spike = dir.path().join(format!("spike-{seed}.jsonl"));
        std::fs::write(&spike, spiked.join("\n") + "\n").unwrap();
        let out = dir.path().join(format!("spike-{seed}"));
        ok(&understudy(&["replay", spike.to_str().unwrap(), "--out", out.to_str().unwrap()]));
        let rows = csv_rows(&out.join("incidents.csv"));
        assert_eq!(rows.len(), 1, "seed {seed}: {rows:?}");
        assert_eq!((rows[0]["service"].as_str(), rows[0]["evidence"].as_str()), ("payment-api", "latency_p99_seconds"));
    }
}

/// kube-prometheus' Watchdog fires forever to prove the alerting works: it opens no episode,
/// pages nobody, and is counted as no incident.
#[test]
fn a_watchdog_pages_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"{"version":"4","status":"firing","alerts":[
      {"status":"firing","labels":{"alertname":"Watchdog","severity":"none","prometheus":"monitoring/k8s"},"annotations":{"summary":"An alert that should always be firing to certify that Alertmanager is working properly."},"startsAt":"2026-11-24T10:00:00Z","endsAt":"0001-01-01T00:00:00Z"},
      {"status":"firing","labels":{"alertname":"InfoInhibitor","severity":"none","namespace":"prod"},"startsAt":"2026-11-24T10:01:00Z","endsAt":"0001-01-01T00:00:00Z"}]}"#;
    let f = dir.path().join("watchdog.json");
    std::fs::write(&f, body).unwrap();
    let trace = dir.path().join("t.jsonl");
    ok(&understudy(&["import", "alertmanager", f.to_str().unwrap(), "-o", trace.to_str().unwrap()]));
    let out = dir.path().join("r");
    ok(&understudy(&["replay", trace.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["metrics"]["episodes"], 0, "{}", report["metrics"]);
    assert_eq!(report["metrics"]["not_incidents"]["Watchdog"], 1);
    assert!(jsonl(&out.join("escalations.jsonl")).is_empty(), "nobody is paged");
}

/// What real alert files look like besides webhook bodies, and what an importer must say.
#[test]
fn alerts_import_in_their_real_shapes_and_never_skip_silently() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let out = dir.path().join("o.jsonl");
    let out = out.to_str().unwrap();
    // A bare alert object, with a team's own name: its subject is the deployment, not the
    // exporter in `service`.
    let bare = write(
        "bare.json",
        r#"{"labels":{"alertname":"PaymentsSlow","deployment":"payment-api","namespace":"prod","service":"kube-state-metrics"},"annotations":{"summary":"p99 latency above 2s"},"startsAt":"2026-11-24T10:00:00+01:00"}"#,
    );
    ok(&understudy(&["import", "alertmanager", &bare, "-o", out]));
    let rec = &jsonl(Path::new(out))[0];
    assert_eq!((rec["service"].as_str(), rec["at"].as_str()), (Some("payment-api"), Some("2026-11-24T09:00:00Z")));

    // A time without a zone is an error at its line and column, unless --assume-utc.
    let zoneless = write(
        "zoneless.json",
        "[\n  {\"labels\": {\"alertname\": \"X\", \"pod\": \"web-7d9f8b6c5-x2x4z\"},\n   \"startsAt\": \"2026-11-24T10:00:00\"}\n]\n",
    );
    let o = understudy(&["import", "alertmanager", &zoneless, "-o", out]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("zoneless.json:3:17") && err.contains("no time zone") && err.contains("--assume-utc"),
        "{err}"
    );
    ok(&understudy(&["import", "alertmanager", &zoneless, "--assume-utc", "-o", out]));
    assert_eq!(jsonl(Path::new(out))[0]["at"], "2026-11-24T10:00:00Z");
    assert_eq!(jsonl(Path::new(out))[0]["service"], "web");

    // Alerts left out are counted by reason; Alertmanager's own truncation is said.
    let partial = write(
        "partial.json",
        r#"{"truncatedAlerts":3,"alerts":[{"labels":{"alertname":"A","app":"a"},"startsAt":"2026-11-24T10:00:00Z"},{"labels":{"app":"b"},"startsAt":"2026-11-24T10:00:00Z"}]}"#,
    );
    let err = ok(&understudy(&["import", "alertmanager", &partial, "-o", out]));
    assert!(err.contains("1  alerts: no alertname label"), "{err}");
    assert!(err.contains("left 3 alert(s) out"), "{err}");

    // Nothing importable is exit 2, saying what was looked for; for k8s as for alerts.
    for (kind, text) in [("alertmanager", r#"{"hello":"world"}"#), ("k8s", r#"{"hello":"world"}"#)] {
        let p = write("empty.json", text);
        let o = understudy(&["import", kind, &p, "-o", out]);
        assert_eq!(o.status.code(), Some(2), "{kind}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to import: looked for"), "{kind}");
    }

    // A shifted clock: every time moves by the offset.
    ok(&understudy(&["import", "alertmanager", &bare, "--time-offset", "-2h", "-o", out]));
    assert_eq!(jsonl(Path::new(out))[0]["at"], "2026-11-24T07:00:00Z");
}

/// Events about a pod take the service its owner and labels give, when the pod is in the
/// same import, instead of a guess from the pod's name.
#[test]
fn events_follow_their_pods_service_from_the_same_import() {
    let dir = tempfile::tempdir().unwrap();
    let pod = r#"{"kind":"Pod","metadata":{"name":"payment-api-d86dbc9ef5-57c3a","namespace":"prod","labels":{"pod-template-hash":"d86dbc9ef5"},"ownerReferences":[{"kind":"ReplicaSet","name":"payment-api-d86dbc9ef5"}]},"status":{"phase":"Running","containerStatuses":[{"name":"app","restartCount":3,"state":{"waiting":{"reason":"CrashLoopBackOff"}},"lastState":{"terminated":{"reason":"OOMKilled","finishedAt":"2026-11-24T10:00:00Z"}}}]}}"#;
    // `57c3a` has a vowel: no name guess could strip it.
    let ev = r#"{"kind":"EventList","items":[{"kind":"Event","reason":"BackOff","message":"Back-off restarting failed container app","type":"Warning","lastTimestamp":"2026-11-24T10:01:00Z","involvedObject":{"kind":"Pod","name":"payment-api-d86dbc9ef5-57c3a","namespace":"prod"}}]}"#;
    let (p, e) = (dir.path().join("pod.json"), dir.path().join("ev.json"));
    std::fs::write(&p, pod).unwrap();
    std::fs::write(&e, ev).unwrap();
    let out = dir.path().join("t.jsonl");
    let err =
        ok(&understudy(&["import", "k8s", e.to_str().unwrap(), p.to_str().unwrap(), "-o", out.to_str().unwrap()]));
    assert!(
        err.contains(
            "service prod/payment-api ← Pod/payment-api-d86dbc9ef5-57c3a (owner ReplicaSet and its pod-template-hash)"
        ),
        "{err}"
    );
    let services: std::collections::BTreeSet<String> =
        jsonl(&out).iter().map(|r| r["service"].as_str().unwrap().to_string()).collect();
    assert_eq!(services.into_iter().collect::<Vec<_>>(), ["payment-api"]);
}

/// What people did comes from the audit log, the truth from a fault list: replayed with the
/// alerts, the policy's restart is compared with Alice's and the label with the injected fault.
#[test]
fn the_audit_log_and_a_fault_list_give_people_s_actions_and_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let restart = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","stage":"ResponseComplete","verb":"patch","user":{"username":"alice@example.com"},"objectRef":{"resource":"deployments","namespace":"prod","name":"payment-api","apiGroup":"apps","apiVersion":"v1"},"responseStatus":{"code":200},"requestObject":{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-24T10:20:00Z"}}}}},"requestReceivedTimestamp":"2026-11-24T10:20:00Z","stageTimestamp":"2026-11-24T10:20:00Z"}"#;
    let hpa = restart.replace("alice@example.com", "system:serviceaccount:kube-system:horizontal-pod-autoscaler");
    let failed = restart.replace(r#""code":200"#, r#""code":409"#);
    std::fs::write(&audit, format!("{restart}\n{hpa}\n{failed}\n")).unwrap();
    let faults = dir.path().join("faults.csv");
    std::fs::write(&faults, "Service,Namespace,Fault,Start,Duration\npayment-api,prod,mem,2026-11-24T09:58:00Z,27m\n")
        .unwrap();
    let (a, f) = (dir.path().join("a.jsonl"), dir.path().join("f.jsonl"));
    let err = ok(&understudy(&["import", "audit", audit.to_str().unwrap(), "-o", a.to_str().unwrap()]));
    assert!(
        err.contains("1  audit: requests by the cluster's own controllers")
            && err.contains("1  audit: failed requests"),
        "{err}"
    );
    ok(&understudy(&[
        "import",
        "faults",
        faults.to_str().unwrap(),
        "--type",
        "mem=memory-leak",
        "-o",
        f.to_str().unwrap(),
    ]));
    // The lesson's alerts and signals, without its own actions and truth.
    let lesson = std::fs::read_to_string(crate::repo("fixtures/traces/lesson-history.jsonl")).unwrap();
    let alerts = dir.path().join("alerts.jsonl");
    let kept: Vec<&str> =
        lesson.lines().filter(|l| !l.contains(r#""kind":"action""#) && !l.contains(r#""kind":"truth""#)).collect();
    std::fs::write(&alerts, kept.join("\n") + "\n").unwrap();
    let out = dir.path().join("r");
    ok(&understudy(&[
        "replay",
        alerts.to_str().unwrap(),
        a.to_str().unwrap(),
        f.to_str().unwrap(),
        "--policy",
        "fixtures/lesson-policy.yaml",
        "--out",
        out.to_str().unwrap(),
    ]));
    let rows = csv_rows(&out.join("incidents.csv"));
    let pay = rows.iter().find(|r| r["service"] == "payment-api").unwrap();
    assert_eq!(
        (pay["truth"].as_str(), pay["classified_as"].as_str(), pay["human_action"].as_str(), pay["agreement"].as_str()),
        ("memory-leak", "memory-leak", "restart", "same")
    );
    // Replay's own page: the agreement, the types no policy covers as one table, and the
    // calibration against the fault list.
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    for id in ["id=\"headline\"", "id=\"agreement\"", "id=\"chart-reliability\"", "id=\"label-accuracy\""] {
        assert!(page.contains(id), "{id} missing from the replay page");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["metrics"]["label_accuracy"]["memory-leak"]["right"], 1);
    assert_eq!(report["metrics"]["calibration"]["classifications"], 1);
}

/// What a hostile review found in the importers and replay, kept fixed.
#[test]
fn hostile_inputs_to_the_importers_are_errors_not_panics_or_lost_data() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let out = dir.path().join("o.jsonl");
    let out = out.to_str().unwrap();
    let code = |args: &[&str]| understudy(args).status.code();
    // A duration no time can hold: exit 2, not a panic.
    let f = write("f.csv", "start,duration,service,type\n2024-01-01T00:10:00Z,1e30,web,mem\n");
    assert_eq!(code(&["import", "faults", &f, "-o", out]), Some(2));
    // An offset past the representable range is refused, not clamped.
    let edge = write("edge.json", r#"[{"labels":{"alertname":"X","app":"a"},"startsAt":"2262-04-10T00:00:00Z"}]"#);
    assert_eq!(code(&["import", "alertmanager", &edge, "--time-offset", "5d", "-o", out]), Some(2));
    // A describe that says nowhere when it was taken needs --now (no wall-clock times).
    let d = write("d.txt", "Name:         web-7d9f8b6c5-x2x4z\nNamespace:    prod\nStatus:       Failed\n");
    assert_eq!(code(&["import", "k8s", &d, "-o", out]), Some(2));
    ok(&understudy(&["import", "k8s", &d, "--now", "2026-11-24T10:00:00Z", "-o", out]));
    // A long table's own service and metric columns are found without a map.
    let long = write(
        "long.csv",
        "time,service,metric,value\n2024-01-01T00:00:00Z,web,cpu,0.5\n2024-01-01T00:00:00Z,,cpu,0.5\n",
    );
    let err = ok(&understudy(&["import", "metrics", &long, "-o", out]));
    let r = &jsonl(Path::new(out))[0];
    assert_eq!((r["service"].as_str(), r["name"].as_str()), (Some("web"), Some("cpu")));
    assert!(err.contains("1  table: rows without a service or pod"), "{err}");
    // Two columns of one name are an error, not two series.
    let dup = write("dup.csv", "time,web_cpu,web_cpu\n1700000000,1,2\n");
    assert_eq!(code(&["import", "metrics", &dup, "-o", out]), Some(2));
    // An output that is an input is refused, and the input survives.
    let me = write("me.json", r#"[{"labels":{"alertname":"X","app":"a"},"startsAt":"2024-01-01T00:00:00Z"}]"#);
    assert_eq!(code(&["import", "alertmanager", &me, "-o", &me]), Some(2));
    assert!(std::fs::read_to_string(&me).unwrap().contains("alertname"));
    let rdir = dir.path().join("r");
    std::fs::create_dir_all(&rdir).unwrap();
    let trace = rdir.join("decisions.jsonl");
    std::fs::copy(crate::repo("fixtures/traces/lesson-history.jsonl"), &trace).unwrap();
    assert_eq!(code(&["replay", trace.to_str().unwrap(), "--out", rdir.to_str().unwrap()]), Some(2));
    assert!(std::fs::metadata(&trace).unwrap().len() > 0, "the trace was not emptied");
}

/// A truth's end closes its service's episode before that service's next record, whether
/// or not another service's records came in between.
#[test]
fn one_services_episodes_do_not_depend_on_other_services_records() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"kind":"truth","at":"2023-12-31T23:59:55Z","end":"2024-01-01T00:05:00Z","service":"web","namespace":"default","incident_type":"memory-leak"}"#,
        r#"{"kind":"alert","at":"2024-01-01T00:00:00Z","name":"KubePodCrashLooping","status":"firing","service":"web","namespace":"default"}"#,
        r#"{"kind":"signal","at":"2024-01-01T00:20:00Z","service":"other","namespace":"default","name":"nothing","value":1.0}"#,
        r#"{"kind":"alert","at":"2024-01-01T00:31:00Z","name":"KubePodCrashLooping","status":"firing","service":"web","namespace":"default"}"#,
    ];
    let mut results = Vec::new();
    for (name, keep) in [("with", vec![0, 1, 2, 3]), ("without", vec![0, 1, 3])] {
        let t = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&t, keep.iter().map(|i| format!("{}\n", lines[*i])).collect::<String>()).unwrap();
        let out = dir.path().join(name);
        ok(&understudy(&["replay", t.to_str().unwrap(), "--out", out.to_str().unwrap()]));
        let rows: Vec<(String, String, String)> = csv_rows(&out.join("incidents.csv"))
            .into_iter()
            .filter(|r| r["service"] == "web")
            .map(|r| (r["start"].clone(), r["recovered_at"].clone(), r["recovery"].clone()))
            .collect();
        results.push(rows);
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0][0].2, "truth", "{:?}", results[0]);
}

/// A PagerDuty export (REST `/incidents` JSON, and the CSV report) gives the people's own
/// timing: each page is tied to the episode it paged for, and the ones no symptom explains
/// are counted, not dropped.
#[test]
fn a_paging_system_export_gives_the_people_s_timing_per_episode() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("incidents.json");
    std::fs::write(
        &json,
        r#"{"incidents":[
  {"id":"P1","incident_number":1,"title":"payment pods crash","created_at":"2026-11-24T10:00:05Z","status":"resolved",
   "service":{"summary":"Payment API"},
   "acknowledgements":[{"at":"2026-11-24T10:04:05Z","acknowledger":{"summary":"Ann Lee"}}],
   "resolved_at":"2026-11-24T10:25:05Z"},
  {"id":"P2","incident_number":2,"title":"disk","created_at":"2026-11-24T13:00:00Z","status":"resolved",
   "service":{"summary":"Payment API"},"acknowledgements":[],"last_status_change_at":"2026-11-24T13:10:00Z",
   "last_status_change_by":{"summary":"Bo Chen"}}],"more":false}"#,
    )
    .unwrap();
    let pages = dir.path().join("pages.jsonl");
    let err = ok(&understudy(&[
        "import",
        "pagerduty",
        json.to_str().unwrap(),
        "--service",
        "Payment API=payment-api",
        "-o",
        pages.to_str().unwrap(),
    ]));
    assert!(err.contains("paging service \"Payment API\" → payment-api (2 incident(s))"), "{err}");
    let written = jsonl(&pages);
    assert_eq!(written.len(), 5, "{written:?}");
    assert!(written.iter().all(|r| r["kind"] == "page" && r["service"] == "payment-api"));
    // Without the rename the paging system's own name is kept and the rename suggested.
    let raw = dir.path().join("raw.jsonl");
    let err = ok(&understudy(&["import", "pages", json.to_str().unwrap(), "-o", raw.to_str().unwrap()]));
    assert!(err.contains("--service 'Payment API=NAME'"), "{err}");

    let out = dir.path().join("r");
    ok(&understudy(&[
        "replay",
        "fixtures/traces/lesson-history.jsonl",
        pages.to_str().unwrap(),
        "--policy",
        "fixtures/lesson-policy.yaml",
        "--out",
        out.to_str().unwrap(),
    ]));
    let rows = csv_rows(&out.join("incidents.csv"));
    let pay = rows.iter().find(|r| r["service"] == "payment-api").unwrap();
    assert_eq!(
        (pay["paged_at"].as_str(), pay["acknowledged_at"].as_str(), pay["page_resolved_at"].as_str()),
        ("2026-11-24T10:00:05Z", "2026-11-24T10:04:05Z", "2026-11-24T10:25:05Z")
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let m = &report["metrics"];
    assert_eq!(
        (m["pages"].as_u64(), m["pages_in_episodes"].as_u64(), m["pages_without_episode"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(m["people_ack_seconds"]["n"], 1);
    assert!((m["people_ack_seconds"]["median"].as_f64().unwrap() - 240.0).abs() < 3.0, "{m}");
    assert_eq!(m["people_resolve_seconds"]["n"], 2);
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains("id=\"h-people\""));

    // The CSV report, with a time missing its zone: an error at its line, exit 2.
    let csv = dir.path().join("report.csv");
    std::fs::write(&csv, "Incident Number,Service Name,Created On,Seconds To First Ack\n1,web,2026-11-24T10:00:00Z,60\n2,web,2026-11-24 11:00:00,30\n").unwrap();
    let o = understudy(&["import", "pagerduty", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("report.csv:3") && err.contains("no time zone"), "{err}");
    let o = understudy(&["import", "pagerduty", "--assume-utc", csv.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 4);
}

/// `check` compares the clocks of the traces it is given, as replay does: a source that sees
/// the same incidents two hours late is named with the offset, and `--strict` fails on it.
#[test]
fn check_names_a_source_whose_clock_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let alert = |t: i64, svc: &str| {
        let at = understudy::clock::Time(1_795_000_000_000_000_000 + t * 1_000_000_000).to_rfc3339();
        format!(r#"{{"kind":"alert","at":"{at}","name":"X","status":"firing","service":"{svc}","namespace":"prod"}}"#)
    };
    let (mut a, mut b) = (String::new(), String::new());
    for (i, svc) in ["web", "db", "cache", "web"].iter().enumerate() {
        let t = i as i64 * 20_000;
        a.push_str(&(alert(t, svc) + "\n"));
        b.push_str(&(alert(t + 7_200 + i as i64 * 4, svc) + "\n"));
    }
    let (pa, pb) = (dir.path().join("am.jsonl"), dir.path().join("k8s.jsonl"));
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    let o = understudy(&["check", pa.to_str().unwrap(), pb.to_str().unwrap()]);
    let err = ok(&o);
    assert!(err.contains("k8s.jsonl sees the same incidents as") && err.contains("--time-offset -2h"), "{err}");
    let o = understudy(&["check", "--strict", pa.to_str().unwrap(), pb.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    // One trace alone has nothing to compare with.
    let err = ok(&understudy(&["check", pa.to_str().unwrap()]));
    assert!(!err.contains("warning"), "{err}");
}

/// Commands are built for the kind of object the evidence names, and none is suggested for
/// an object the action cannot apply to: a StatefulSet is restarted as one; a Node or a
/// scrape endpoint gets no `kubectl rollout restart` (blocked, handed to a person).
#[test]
fn commands_follow_the_object_kind_the_evidence_names() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.jsonl");
    let oom = |svc: &str, labels: &str| {
        format!(
            r#"{{"kind":"signal","at":"2026-11-24T10:00:00Z","service":"{svc}","namespace":"prod","name":"OOMKilled","value":1.0,"labels":{labels}}}"#
        )
    };
    std::fs::write(
        &t,
        [
            oom("redis", r#"{"pod":"redis-0"}"#),
            oom("ip-10-0-0-1", r#"{"node":"ip-10-0-0-1"}"#),
            oom(
                "https://sqs.eu-west-1.amazonaws.com/1/q",
                r#"{"instance":"https://sqs.eu-west-1.amazonaws.com/1/q","job":"sqs"}"#,
            ),
            oom("web", r#"{"pod":"web-7d9f8b6c5-x2x4z"}"#),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let out = dir.path().join("r");
    ok(&understudy(&[
        "replay",
        t.to_str().unwrap(),
        "--policy",
        "fixtures/lesson-policy.yaml",
        "--out",
        out.to_str().unwrap(),
    ]));
    let rows = csv_rows(&out.join("incidents.csv"));
    let by = |svc: &str| rows.iter().find(|r| r["service"] == svc).unwrap_or_else(|| panic!("{svc}: {rows:?}"));
    assert_eq!(by("redis")["command"], "kubectl rollout restart statefulset/redis -n prod");
    assert_eq!(by("web")["command"], "kubectl rollout restart deployment/web -n prod");
    for svc in ["ip-10-0-0-1", "https://sqs.eu-west-1.amazonaws.com/1/q"] {
        assert_eq!((by(svc)["decision"].as_str(), by(svc)["command"].as_str()), ("blocked", ""), "{svc}");
    }
    let decisions = jsonl(&out.join("decisions.jsonl"));
    let node = &decisions.iter().find(|d| d["decision"]["service"] == "ip-10-0-0-1").unwrap()["decision"];
    assert_eq!(node["guardrail"], "target");
    assert!(node["reason"].as_str().unwrap().contains("is a node"), "{node}");
}

/// Where the trace has truth, each rule behind a decided label is scored against it and a
/// rule whose confidence the truth contradicts gets a suggested one.
#[test]
fn rules_the_truth_contradicts_get_a_suggested_confidence() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.jsonl");
    let mut lines = Vec::new();
    for i in 0..8 {
        let svc = format!("svc{i}");
        let at = understudy::clock::Time(1_795_000_000_000_000_000 + i * 7_200_000_000_000);
        let end = understudy::clock::Time(at.0 + 600_000_000_000);
        lines.push(format!(
            r#"{{"kind":"truth","at":"{}","end":"{}","service":"{svc}","namespace":"prod","incident_type":"cpu-spike"}}"#,
            at.to_rfc3339(),
            end.to_rfc3339()
        ));
        lines.push(format!(
            r#"{{"kind":"signal","at":"{}","service":"{svc}","namespace":"prod","name":"OOMKilled","value":1.0}}"#,
            at.to_rfc3339()
        ));
    }
    std::fs::write(&t, lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("r");
    ok(&understudy(&[
        "replay",
        t.to_str().unwrap(),
        "--policy",
        "fixtures/lesson-policy.yaml",
        "--out",
        out.to_str().unwrap(),
    ]));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let rules = report["metrics"]["rule_accuracy"].as_object().unwrap();
    let (name, oom) = rules.iter().find(|(k, _)| k.contains("signal OOMKilled")).expect("the OOMKilled rule is scored");
    assert!(name.starts_with('#') && name.ends_with("→ memory-leak"), "{name}");
    assert_eq!((oom["episodes"].as_u64(), oom["right"].as_u64()), (Some(8), Some(0)));
    assert_eq!(oom["suggest"].as_f64(), Some(0.0), "{oom}");
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains("id=\"rule-accuracy\""));
}

/// Node conditions become signals on the node, and a pod's trouble on a node that is itself
/// in trouble is classified as the node's, not the pod's own.
#[test]
fn a_pod_on_a_troubled_node_is_the_node_s_incident() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = dir.path().join("nodes.jsonl");
    let node = realdata("k8s-objects/Node/unhealthy.yaml");
    let err = ok(&understudy(&[
        "import",
        "k8s",
        node.to_str().unwrap(),
        "--now",
        "2026-11-24T10:00:00Z",
        "-o",
        nodes.to_str().unwrap(),
    ]));
    assert!(err.contains("({\"unhealthy\": 1})"), "{err}");
    let got = jsonl(&nodes);
    let ready = got.iter().find(|r| r["name"] == "NodeNotReady").expect("NodeNotReady signal");
    let node_name = ready["service"].as_str().unwrap().to_string();
    assert_eq!(ready["labels"]["node"], node_name.as_str());
    // Two pods killed for memory a minute later: one on that node, one elsewhere.
    let pods = dir.path().join("pods.jsonl");
    let oom = |svc: &str, node: &str| {
        format!(
            r#"{{"kind":"signal","at":"2026-11-24T10:01:00Z","service":"{svc}","namespace":"prod","name":"OOMKilled","value":1.0,"labels":{{"pod":"{svc}-7d9f8b6c5-x2x4z","node":"{node}"}}}}"#
        )
    };
    std::fs::write(&pods, format!("{}\n{}\n", oom("web", &node_name), oom("api", "ip-10-0-0-9"))).unwrap();
    let out = dir.path().join("r");
    ok(&understudy(&[
        "replay",
        nodes.to_str().unwrap(),
        pods.to_str().unwrap(),
        "--policy",
        "fixtures/lesson-policy.yaml",
        "--out",
        out.to_str().unwrap(),
    ]));
    let rows = csv_rows(&out.join("incidents.csv"));
    let by = |svc: &str| rows.iter().find(|r| r["service"] == svc).unwrap_or_else(|| panic!("{svc}: {rows:?}"));
    assert_eq!(by(&node_name)["classified_as"], "node-failure");
    assert_eq!(by("web")["classified_as"], "node-failure", "the node's trouble, not web's leak");
    assert_eq!(by("api")["classified_as"], "memory-leak");
}

/// The audit log is streamed: a log larger than the whole-file import limit is read a line at
/// a time (its reads counted), a multi-line `EventList` is still read, and a bad line is
/// named by its number.
#[test]
fn an_audit_log_larger_than_the_import_limit_streams() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let read = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"get","user":{"username":"alice@example.com"},"objectRef":{"resource":"pods","namespace":"prod","name":"payment-api"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-24T10:20:00Z","stageTimestamp":"2026-11-24T10:20:00Z"}"#;
    let scale = read
        .replace(r#""verb":"get""#, r#""verb":"patch""#)
        .replace(r#""resource":"pods""#, r#""resource":"deployments","apiGroup":"apps""#)
        .replace(r#""responseStatus""#, r#""requestObject":{"spec":{"replicas":5}},"responseStatus""#);
    let big = dir.path().join("audit.log");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
    let n = (understudy::limits::MAX_IMPORT_BYTES as usize / read.len()) + 1000;
    for _ in 0..n {
        writeln!(f, "{read}").unwrap();
    }
    writeln!(f, "{scale}").unwrap();
    drop(f);
    assert!(std::fs::metadata(&big).unwrap().len() > understudy::limits::MAX_IMPORT_BYTES);
    let out = dir.path().join("a.jsonl");
    let err = ok(&understudy(&["import", "audit", big.to_str().unwrap(), "-o", out.to_str().unwrap()]));
    assert!(err.contains(&format!("{n}  audit: read-only requests")), "{err}");
    let got = jsonl(&out);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0]["action"].as_str(), got[0]["actor"].as_str()), (Some("scale"), Some("alice@example.com")));
    std::fs::remove_file(&big).unwrap();

    let list = dir.path().join("list.json");
    std::fs::write(&list, format!("{{\"kind\": \"EventList\",\n \"items\": [{scale}]}}\n")).unwrap();
    assert_eq!(jsonl_of(&understudy(&["import", "audit", list.to_str().unwrap()])).len(), 1);
    let bad = dir.path().join("bad.log");
    std::fs::write(&bad, format!("{scale}\n{{\"kind\": oops\n")).unwrap();
    let o = understudy(&["import", "audit", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.log:2:"), "{}", String::from_utf8_lossy(&o.stderr));
}

fn jsonl_of(o: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// What the hostile review of the paging importer and replay found, kept fixed.
#[test]
fn paging_review_findings_stay_fixed() {
    let dir = tempfile::tempdir().unwrap();
    // The rename hint is one shell word whatever the name holds.
    let inj = dir.path().join("inj.json");
    std::fs::write(
        &inj,
        r#"{"incidents":[{"id":"X1","created_at":"2026-11-24T10:00:00Z","service":{"summary":"x' $(touch PWNED) 'y"}}]}"#,
    )
    .unwrap();
    let err = ok(&understudy(&["import", "pagerduty", inj.to_str().unwrap()]));
    assert!(err.contains(r#"--service 'x'\'' $(touch PWNED) '\''y=NAME'"#), "{err}");
    // A name holding `=` can still be renamed (the split is at the last `=`).
    let eq = dir.path().join("eq.json");
    std::fs::write(&eq, r#"[{"id":"X1","created_at":"2026-11-24T10:00:00Z","service":{"summary":"a=b"}}]"#).unwrap();
    let o = understudy(&["import", "pagerduty", eq.to_str().unwrap(), "--service", "a=b=web"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains(r#""service":"web""#));
    // A rename whose FROM matches nothing says so.
    let o = understudy(&["import", "pagerduty", eq.to_str().unwrap(), "--service", "a=c=web"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no record's service is \"a=c\""),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // An ack after the resolution, and a delay past 2262, are errors at the incident's line.
    let late = dir.path().join("late.json");
    std::fs::write(
        &late,
        "{\"incidents\": [\n  {\"id\": \"A\", \"created_at\": \"2026-11-24T10:00:00Z\", \"service\": {\"summary\": \"w\"},\n   \"resolved_at\": \"2026-11-24T10:05:00Z\"},\n  {\"id\": \"B\", \"created_at\": \"2026-11-24T10:00:00Z\", \"service\": {\"summary\": \"w\"},\n   \"acknowledgements\": [{\"at\": \"2026-11-24T10:09:00Z\"}], \"resolved_at\": \"2026-11-24T10:05:00Z\"}]}\n",
    )
    .unwrap();
    let o = understudy(&["import", "pagerduty", late.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("late.json:4:") && e.contains("after it was resolved"), "{e}");
    let far = dir.path().join("far.json");
    std::fs::write(
        &far,
        r#"{"data":[{"id":"Q1","created_at":"2026-11-24T10:00:00Z","service_name":"s","seconds_to_resolve":9e9}]}"#,
    )
    .unwrap();
    assert_eq!(understudy(&["import", "pagerduty", far.to_str().unwrap()]).status.code(), Some(2));
    // A hard link to the input is the input.
    let link = dir.path().join("link.json");
    std::fs::hard_link(&eq, &link).unwrap();
    let o = understudy(&["import", "pagerduty", eq.to_str().unwrap(), "-o", link.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(std::fs::read_to_string(&eq).unwrap().contains("a=b"));

    // Replay: a page a minute before the first symptom is the episode's; a repeated trigger
    // and an ack of a page never triggered are counted, not double-counted.
    let t = dir.path().join("t.jsonl");
    std::fs::write(
        &t,
        [
            r#"{"kind":"page","at":"2026-11-24T09:59:00Z","service":"web","event":"triggered","incident":"P1"}"#,
            r#"{"kind":"page","at":"2026-11-24T09:59:30Z","service":"web","event":"triggered","incident":"P1"}"#,
            r#"{"kind":"page","at":"2026-11-24T09:59:40Z","service":"web","event":"acknowledged","incident":"P9"}"#,
            r#"{"kind":"signal","at":"2026-11-24T10:00:00Z","service":"web","namespace":"prod","name":"OOMKilled","value":1.0}"#,
            r#"{"kind":"page","at":"2026-11-24T10:02:00Z","service":"web","event":"acknowledged","incident":"P1","by":"Ann"}"#,
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let out = dir.path().join("r");
    ok(&understudy(&[
        "replay",
        t.to_str().unwrap(),
        "--policy",
        "fixtures/lesson-policy.yaml",
        "--out",
        out.to_str().unwrap(),
    ]));
    let rows = csv_rows(&out.join("incidents.csv"));
    assert_eq!(
        (rows[0]["paged_at"].as_str(), rows[0]["acknowledged_at"].as_str()),
        ("2026-11-24T09:59:00Z", "2026-11-24T10:02:00Z")
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let m = &report["metrics"];
    assert_eq!(
        (
            m["pages"].as_u64(),
            m["pages_in_episodes"].as_u64(),
            m["pages_without_episode"].as_u64(),
            m["page_events_ignored"].as_u64()
        ),
        (Some(1), Some(1), None, Some(2)),
        "{m}"
    );
    // Exact quantiles on few values: the median of one acknowledgement is that delay.
    assert_eq!(m["people_ack_seconds"]["median"].as_f64(), Some(180.0));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("People (the paging system's records): 1 page(s)"), "{md}");
}
