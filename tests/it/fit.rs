//! `understudy fit`: a scenario estimated from a history recovers what the history was drawn
//! from, says what it could not estimate, and is a scenario `check` and `simulate` accept.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_distr_free::lognormal;
use understudy::clock::Time;
use understudy::fit::Fitter;
use understudy::trace::{AlertStatus, PageEvent, Record};

use crate::{repo, understudy};

/// Log-normal draws by median and 90th percentile, as the scenario format states delays.
mod rand_distr_free {
    use rand::Rng;
    use rand::distributions::Distribution;
    pub fn lognormal(rng: &mut impl Rng, median: f64, p90: f64) -> f64 {
        let sigma = (p90 / median).ln() / 1.281_551_565_545;
        statrs::distribution::LogNormal::new(median.ln(), sigma).unwrap().sample(rng)
    }
}

const DAYS: f64 = 60.0;
/// (service, type, rate per day)
const FAULTS: [(&str, &str, f64); 3] =
    [("api", "memory-leak", 1.5), ("api", "bad-deployment", 0.4), ("web", "dependency-failure", 0.8)];
/// (step, median s, p90 s)
const DELAYS: [(&str, f64, f64); 3] =
    [("acknowledge", 240.0, 720.0), ("diagnose", 1500.0, 4200.0), ("fix", 600.0, 1800.0)];
const ACCURACY: f64 = 0.8;

/// A paged team's history drawn from known rates and delays: truth, the monitor's alert, the
/// page, its acknowledgement, the person's action, the resolution, and a classification.
fn history(seed: u64) -> Vec<Record> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let start = Time::parse_rfc3339("2026-09-01T00:00:00Z").unwrap();
    let end = start.saturating_add(Duration::from_secs((DAYS * 86_400.0) as u64));
    let s = |x: f64| Duration::from_secs_f64(x);
    let mut out = vec![Record::Window { at: start, end, note: None, independent: false }];
    let mut n = 0;
    for (svc, ty, rate) in FAULTS {
        let mut t = 0.0;
        loop {
            t += -rng.r#gen::<f64>().max(1e-12).ln() * 86_400.0 / rate;
            if t >= DAYS * 86_400.0 {
                break;
            }
            n += 1;
            let onset = start.saturating_add(s(t));
            let alert = onset.saturating_add(s(120.0));
            let paged = alert.saturating_add(s(30.0));
            let ack = paged.saturating_add(s(lognormal(&mut rng, DELAYS[0].1, DELAYS[0].2)));
            let acted = ack.saturating_add(s(lognormal(&mut rng, DELAYS[1].1, DELAYS[1].2)));
            let resolved = acted.saturating_add(s(lognormal(&mut rng, DELAYS[2].1, DELAYS[2].2)));
            let id = format!("P{n}");
            let right = rng.r#gen::<f64>() < ACCURACY;
            let label = if right { ty } else { "cpu-spike" };
            let page = |at, event| Record::Page {
                at,
                service: svc.into(),
                namespace: Some("prod".into()),
                event,
                incident: id.clone(),
                by: None,
                title: None,
            };
            out.extend([
                Record::Truth {
                    at: onset,
                    end: Some(resolved),
                    service: svc.into(),
                    namespace: "prod".into(),
                    incident_type: ty.into(),
                    incident: None,
                },
                Record::Alert {
                    at: alert,
                    name: "HighErrorRate".into(),
                    status: AlertStatus::Firing,
                    service: Some(svc.into()),
                    namespace: Some("prod".into()),
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                    fingerprint: None,
                },
                Record::Classification {
                    at: paged,
                    service: svc.into(),
                    namespace: "prod".into(),
                    incident_type: label.into(),
                    confidence: if right { 0.93 } else { 0.85 } + rng.r#gen::<f64>() * 0.05,
                    incident: None,
                    signal: None,
                },
                page(paged, PageEvent::Triggered),
                page(ack, PageEvent::Acknowledged),
                Record::Action {
                    at: acted,
                    service: svc.into(),
                    namespace: "prod".into(),
                    actor: "alice@example.com".into(),
                    action: "rollback".into(),
                    command: None,
                    incident: None,
                },
                page(resolved, PageEvent::Resolved),
            ]);
        }
    }
    // Incidents on one service overlap rarely; the stream is time-ordered as a trace is.
    out.sort_by_key(Record::at);
    out
}

fn param<'f>(f: &'f understudy::fit::Fit, name: &str) -> Option<&'f understudy::fit::Parameter> {
    f.parameters.iter().find(|p| p.parameter == name)
}

/// Over 20 histories, every rate, every delay's median and the classifier's accuracy fall
/// inside their 95% intervals in at least 17 (a 95% interval would miss 3 or more of 20 in
/// under 8% of runs; fixed seeds make the check repeatable).
#[test]
fn fit_recovers_the_rates_delays_and_accuracy_a_history_was_drawn_from() {
    let mut covered: BTreeMap<String, u32> = BTreeMap::new();
    for seed in 1..=20 {
        let mut f = Fitter::default();
        for r in history(seed) {
            f.observe(0, &r);
        }
        let fit = f.finish(vec!["synthetic".into()]);
        assert!((fit.exposure_days - DAYS).abs() < 1e-9, "the window record sets exposure: {}", fit.exposure_days);
        let mut check = |name: String, truth: f64| {
            let p = param(&fit, &name).unwrap_or_else(|| panic!("seed {seed}: {name} not fitted: {:?}", fit.assumed));
            assert!(p.n > 0 && p.ci95[0] <= p.value && p.value <= p.ci95[1], "{p:?}");
            *covered.entry(name).or_default() += u32::from(p.ci95[0] <= truth && truth <= p.ci95[1]);
        };
        for (svc, ty, rate) in FAULTS {
            check(format!("faults.prod/{svc}.{ty}"), rate);
        }
        for (step, median, _) in DELAYS {
            check(format!("human.{step}.median"), median);
        }
        // Accuracy is per true type; every type here is classified right with ACCURACY.
        check("classifier.memory-leak.accuracy".into(), ACCURACY);
        // Nothing here says how a person notices without an alert.
        assert!(param(&fit, "human.detect.median").is_none());
        assert!(fit.assumed.iter().any(|a| a.starts_with("human.detect")), "{:?}", fit.assumed);
    }
    for (name, n) in &covered {
        assert!(*n >= 17, "{name}: inside its 95% interval in {n} of 20 histories");
    }
}

#[test]
fn fit_on_the_sparse_real_traces_writes_a_scenario_check_and_simulate_accept_and_names_what_it_assumed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fitted.yaml");
    let report = dir.path().join("report");
    let traces: Vec<String> = ["lesson-history", "real-alerts", "real-events", "real-pods", "real-series"]
        .iter()
        .map(|t| repo(&format!("fixtures/traces/{t}.jsonl")).display().to_string())
        .collect();
    let mut args = vec!["fit", "-o", out.to_str().unwrap(), "--report", report.to_str().unwrap()];
    args.extend(traces.iter().map(String::as_str));
    let o = understudy(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let yaml = std::fs::read_to_string(&out).unwrap();
    // Sparse history: no pages, so every delay keeps its default and says so.
    for step in ["detect", "acknowledge", "diagnose", "fix"] {
        assert!(yaml.contains(&format!("\"human.{step} (")), "{step} not listed as assumed:\n{yaml}");
        assert!(!yaml.contains(&format!("human.{step}.median")), "{step} invented:\n{yaml}");
    }
    let o = understudy(&["check", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let sim = dir.path().join("sim");
    let o = understudy(&[
        "simulate",
        out.to_str().unwrap(),
        "--replications",
        "2",
        "--sweep-replications",
        "0",
        "--out",
        sim.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(sim.join("report.md")).unwrap();
    assert!(md.contains("was fitted to the team's history"), "{md}");
    assert!(md.contains("not in the history (default kept): human.acknowledge"), "{md}");
    for f in ["fit.json", "report.md", "index.html"] {
        assert!(report.join(f).exists(), "{f}");
    }
    let page = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(page.contains("id=\"rates\"") && page.contains("id=\"assumed\""));
}

#[test]
fn a_fitted_history_with_pages_fits_the_people_and_simulate_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("history.jsonl");
    understudy::trace::write(Some(&trace), history(7)).unwrap();
    let out = dir.path().join("fitted.yaml");
    let report = dir.path().join("report");
    let o = understudy(&[
        "fit",
        trace.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert!(yaml.contains("human:\n  acknowledge: { median: "), "{yaml}");
    assert!(yaml.contains("classifier:\n"), "{yaml}");
    let page = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(page.contains("acknowledge: n = ") && page.contains("KS D"), "the page draws the fit beside the history");
    let sim = dir.path().join("sim");
    let o = understudy(&[
        "simulate",
        out.to_str().unwrap(),
        "--replications",
        "1",
        "--sweep-replications",
        "0",
        "--out",
        sim.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(sim.join("report.md")).unwrap();
    assert!(md.contains("from history: human.acknowledge.median = "), "{md}");
}

#[test]
fn fit_refuses_a_bad_trace_with_its_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("bad.jsonl");
    std::fs::write(
        &trace,
        "{\"kind\":\"window\",\"at\":\"2026-01-01T00:00:00Z\",\"end\":\"2026-01-02T00:00:00Z\"}\n{\"kind\":\"truth\",\"at\":\"2026-01-01T01:00:00Z\"}\n",
    )
    .unwrap();
    let out = dir.path().join("fitted.yaml");
    let o = understudy(&["fit", trace.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.jsonl:2"), "{err}");
    assert!(!out.exists(), "nothing is written from a bad trace");
}

#[test]
fn check_refuses_a_fitted_section_whose_interval_does_not_hold_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.yaml");
    std::fs::write(
        &p,
        "name: t\nduration: 1d\nfaults:\n  - { type: cpu-spike, rate_per_day: 1 }\nfitted:\n  from: [h.jsonl]\n  parameters:\n    - { parameter: human.fix.median, value: 600, unit: s, ci95: [700, 900], n: 12, source: x }\n",
    )
    .unwrap();
    let o = understudy(&["check", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("s.yaml:8") && err.contains("must be finite and hold"), "{err}");
}

/// Seeds the round trip runs: 2 here; `scripts/fit-roundtrip` runs the issue's 20.
fn round_trip_seeds() -> u64 {
    std::env::var("UNDERSTUDY_ROUNDTRIP_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2)
}

/// `simulate --trace-out` then `fit`: for week-in-prod at 20 replications, each fault rate
/// (every rate fault, thinned to its hours; campaigns are the campaigns') and each of the
/// people's medians the trace can show (acknowledge, diagnose, fix) fall inside the fit's 95%
/// interval. Detection is not among them: a person notices on their own only where no alert
/// or page came first, so the trace shows only the short draws (censored), and fit says how
/// it measured it.
#[test]
fn a_simulation_s_trace_fits_back_to_the_scenario_it_came_from() {
    use understudy::sim::scenario::{Scenario, When};
    let (s, _) = Scenario::load(&repo("scenarios/week-in-prod.yaml")).unwrap();
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for f in &s.faults {
        if let When::Rate { per_day, services, hours } = &f.when {
            let share = hours.map_or(1.0, |(a, b)| f64::from(b - a) / 24.0);
            for &k in services {
                let svc = &s.services[k];
                *expected.entry(format!("faults.{}/{}.{}", svc.namespace, svc.name, f.cause)).or_default() +=
                    per_day * share;
            }
        }
    }
    // Detection included: most faults are reached by an alert first, so their delays are
    // censored, and the fit says so (a plain fit of the few exact ones would be biased low).
    for (step, d) in [
        ("detect", s.human.detect),
        ("acknowledge", s.human.acknowledge),
        ("diagnose", s.human.diagnose),
        ("fix", s.human.fix),
    ] {
        expected.insert(format!("human.{step}.median"), d.median.as_secs_f64());
    }
    let seeds = round_trip_seeds();
    let dir = tempfile::tempdir().unwrap();
    let mut covered: BTreeMap<&str, u64> = BTreeMap::new();
    for seed in 1..=seeds {
        let trace = dir.path().join(format!("trace-{seed}.jsonl"));
        let seed_s = seed.to_string();
        let o = understudy(&[
            "simulate",
            "week-in-prod",
            "--replications",
            "20",
            "--sweep-replications",
            "0",
            "--seed",
            &seed_s,
            "--out",
            dir.path().join(format!("sim-{seed}")).to_str().unwrap(),
            "--trace-out",
            trace.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let report = dir.path().join(format!("fit-{seed}"));
        let o = understudy(&[
            "fit",
            trace.to_str().unwrap(),
            "-o",
            dir.path().join(format!("fit-{seed}.yaml")).to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let fit: serde_json::Value = serde_json::from_slice(&std::fs::read(report.join("fit.json")).unwrap()).unwrap();
        assert_eq!(fit["exposure_days"].as_f64(), Some(140.0), "20 weeks of windows");
        let params = fit["parameters"].as_array().unwrap();
        for (name, truth) in &expected {
            let p = params
                .iter()
                .find(|p| p["parameter"] == name.as_str())
                .unwrap_or_else(|| panic!("seed {seed}: {name} was not fitted"));
            let (lo, hi) = (p["ci95"][0].as_f64().unwrap(), p["ci95"][1].as_f64().unwrap());
            *covered.entry(name.as_str()).or_default() += u64::from(lo <= *truth && *truth <= hi);
        }
    }
    let total: u64 = covered.values().sum();
    let cells = expected.len() as u64 * seeds;
    println!("round trip over {seeds} seed(s): {total} of {cells} figures inside their 95% interval");
    for (name, n) in &covered {
        println!("  {name}: {n}/{seeds}");
    }
    // 95% intervals: at least 90% of all figures over all seeds.
    assert!(total * 10 >= cells * 9, "{total} of {cells} covered: {covered:?}");
}

#[test]
fn fit_never_overwrites_the_trace_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("history.jsonl");
    understudy::trace::write(Some(&trace), history(3)).unwrap();
    let before = std::fs::read(&trace).unwrap();
    let o = understudy(&["fit", trace.to_str().unwrap(), "-o", trace.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("would be overwritten"));
    assert_eq!(std::fs::read(&trace).unwrap(), before, "the trace is untouched");
}

/// Lines of JSON as a trace file.
fn trace_file(dir: &std::path::Path, name: &str, lines: &[String]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

/// Truth records of `n` memory leaks on `ns/svc`, an hour apart from `day`.
fn leaks(ns: &str, svc: &str, n: usize, day: u32) -> Vec<(String, String)> {
    (0..n)
        .map(|k| {
            let at = format!("2026-10-{day:02}T{:02}:00:00Z", k % 24);
            let end = format!("2026-10-{day:02}T{:02}:30:00Z", k % 24);
            let (svc, ns) = (serde_json::to_string(svc).unwrap(), serde_json::to_string(ns).unwrap());
            (at.clone(), format!(r#"{{"kind":"truth","at":"{at}","end":"{end}","service":{svc},"namespace":{ns},"incident_type":"memory-leak"}}"#))
        })
        .collect()
}

#[test]
fn fit_keeps_services_of_one_name_in_two_namespaces_apart_and_leaves_out_names_no_scenario_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut recs = vec![(
        "2026-10-01T00:00:00Z".to_string(),
        r#"{"kind":"window","at":"2026-10-01T00:00:00Z","end":"2026-10-11T00:00:00Z"}"#.to_string(),
    )];
    recs.extend(leaks("prod", "api", 2, 2));
    recs.extend(leaks("staging", "api", 6, 3));
    recs.extend(leaks("prod", "bad\u{7f}name", 3, 4));
    recs.sort();
    let lines: Vec<String> = recs.into_iter().map(|(_, l)| l).collect();
    let trace = trace_file(dir.path(), "t.jsonl", &lines);
    let out = dir.path().join("fitted.yaml");
    let o = understudy(&["fit", trace.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("names no scenario can hold"), "{stderr}");
    let (s, _) = understudy::sim::scenario::Scenario::load(&out).unwrap();
    let names: Vec<(&str, &str)> = s.services.iter().map(|x| (x.namespace.as_str(), x.name.as_str())).collect();
    assert!(names.contains(&("prod", "api")) && names.contains(&("staging", "api.staging")), "{names:?}");
    assert_eq!(names.len(), 2, "the name with a control character is left out: {names:?}");
    // Each namespace's leaks stay its own: 2 and 6 in 10 days.
    let rate = |svc: &str| {
        let k = s.services.iter().position(|x| x.name == svc).unwrap();
        s.faults
            .iter()
            .find_map(|f| match &f.when {
                understudy::sim::scenario::When::Rate { per_day, services, .. } if services == &vec![k] => {
                    Some(*per_day)
                }
                _ => None,
            })
            .unwrap()
    };
    assert!((rate("api") - 0.2).abs() < 1e-9 && (rate("api.staging") - 0.6).abs() < 1e-9);
}

#[test]
fn fit_refuses_inputs_that_would_count_twice_or_outputs_that_collide() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("history.jsonl");
    understudy::trace::write(Some(&trace), history(3)).unwrap();
    let t = trace.to_str().unwrap();
    let report = dir.path().join("r");
    let inside = report.join("report.md");
    let around = report.join("..").join("r").join("index.html");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    for (args, says) in [
        (vec!["fit", t, t], "same trace"),
        (vec!["fit", t, "--report", report.to_str().unwrap(), "-o", inside.to_str().unwrap()], "which --report writes"),
        (vec!["fit", t, "--report", report.to_str().unwrap(), "-o", around.to_str().unwrap()], "which --report writes"),
        (vec!["fit", t, "--report", file.to_str().unwrap()], "is a file"),
        (vec!["replay", t, t, "--out", report.to_str().unwrap()], "same trace"),
        (vec!["fit", t, "--name", ""], "is blank"),
        (vec!["fit", "-"], "not standard input"),
    ] {
        let o = understudy(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains(says), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x", "the file given as --report is untouched");
    assert!(!report.exists(), "nothing written");
}

#[test]
fn a_confidence_outside_0_1_or_an_end_before_its_start_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, says) in [
        (
            r#"{"kind":"classification","at":"2026-10-01T01:00:00Z","service":"a","namespace":"p","incident_type":"memory-leak","confidence":95}"#,
            "outside 0–1",
        ),
        (
            r#"{"kind":"truth","at":"2026-10-01T01:00:00Z","end":"2026-10-01T00:00:00Z","service":"a","namespace":"p","incident_type":"memory-leak"}"#,
            "before `at`",
        ),
        (r#"{"kind":"window","at":"2026-10-01T01:00:00Z","end":"2026-09-01T00:00:00Z"}"#, "before `at`"),
        (
            r#"{"kind":"signal","at":"2026-10-01T01:00:00Z","service":"a","namespace":"p","name":"kube_deployment_spec_replicas","value":5.9}"#,
            "no replica count",
        ),
        (
            r#"{"kind":"classification","at":"2026-10-01T01:00:00Z","service":"a","namespace":"p","incident_type":"memory-leak","confidence":0.9,"incident":""}"#,
            "`incident` is empty",
        ),
    ] {
        let lines = vec![
            r#"{"kind":"window","at":"2026-10-01T00:00:00Z","end":"2026-10-02T00:00:00Z"}"#.to_string(),
            bad.to_string(),
        ];
        let trace = trace_file(dir.path(), "bad.jsonl", &lines);
        for cmd in ["fit", "replay"] {
            let out = dir.path().join("out");
            let o = understudy(&[cmd, trace.to_str().unwrap(), "--out", out.to_str().unwrap()]);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{cmd} {bad}: {stderr}");
            assert!(stderr.contains(says) && stderr.contains("bad.jsonl:2:1"), "{cmd}: {stderr}");
        }
    }
}

#[test]
fn simulate_never_writes_its_trace_over_what_it_reads_or_writes() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.yaml");
    std::fs::copy(repo("scenarios/bad-deploy.yaml"), &scenario).unwrap();
    let policy = dir.path().join("p.yaml");
    std::fs::copy(repo("scenarios/policy.yaml"), &policy).unwrap();
    let out = dir.path().join("out");
    let before = (std::fs::read(&scenario).unwrap(), std::fs::read(&policy).unwrap());
    for target in [scenario.clone(), policy.clone(), out.join("decisions.jsonl")] {
        let o = understudy(&[
            "simulate",
            scenario.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--replications",
            "1",
            "--out",
            out.to_str().unwrap(),
            "--trace-out",
            target.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{target:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("would be overwritten"));
    }
    assert_eq!((std::fs::read(&scenario).unwrap(), std::fs::read(&policy).unwrap()), before);
    assert!(!out.exists(), "nothing ran");
}
