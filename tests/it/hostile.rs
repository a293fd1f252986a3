//! Hostile inputs, each found by fuzzing or by hand (issue "No input crashes, hangs or
//! silently changes a policy"): every one exits 2 with a message naming the file, line and
//! column, or (a closed pipe) ends quietly. None may panic (101), abort (134) or be killed (137).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{repo, understudy};

/// Run `understudy ARGS…`; (exit code, stderr).
fn run(args: &[&str]) -> (Option<i32>, String) {
    let o = understudy(args);
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn run_out(args: &[&str]) -> (Option<i32>, String) {
    let o = understudy(args);
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn a_nul_byte_refuses_the_policy_instead_of_truncating_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = std::fs::read_to_string(repo("scenarios/policy.yaml")).unwrap();
    let at = policy.find("  loop_breaker:").expect("the shipped policy has a loop breaker");
    let line = policy[..at].matches('\n').count() + 1;
    let nul = write(dir.path(), "p.yaml", format!("{}\0{}", &policy[..at], &policy[at..]).as_bytes());
    for args in [
        vec!["check", nul.as_str()],
        vec!["decide", "--policy", nul.as_str(), "--incidents", "fixtures/lesson-incidents.jsonl"],
    ] {
        let (code, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(&format!("p.yaml:{line}:1: error[E002]: control character U+0000")), "{args:?}: {err}");
    }
}

#[test]
fn yaml_alias_bombs_and_deep_nesting_stop_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (k, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"]) {
        bomb.push_str(&format!("{k}: &{k} [{}]\n", vec![format!("*{prev}"); 9].join(",")));
    }
    let bomb = write(dir.path(), "bomb.yaml", bomb.as_bytes());
    let deep =
        write(dir.path(), "deep.yaml", format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)).as_bytes());
    // The copies kept for anchors count too (63 nested anchors over 249,000 scalars were 1.4 GB),
    // and aliases are found without a scan (124,000 of them took 71 s).
    let anchors: String = (0..63).map(|i| format!("&a{i} [")).collect();
    let nested = write(
        dir.path(),
        "nested.yaml",
        format!("name: t\nfoo: {anchors}{}{}\n", vec!["x"; 249_000].join(","), "]".repeat(63)).as_bytes(),
    );
    let many: Vec<String> = (0..124_000).map(|i| format!("&a{i} x")).collect();
    let aliases = write(
        dir.path(),
        "aliases.yaml",
        format!("name: t\nfoo: [{}]\nbar: [{}]\n", many.join(","), vec!["*a0"; 124_000].join(",")).as_bytes(),
    );
    for (file, what) in [
        (&bomb, "expands to more than 250000 nodes"),
        (&deep, "nest more than 64 deep"),
        (&nested, "expands to more than 250000 nodes"),
        (&aliases, "expands to more than 250000 nodes"),
    ] {
        for args in
            [vec!["check", file.as_str()], vec!["simulate", file.as_str(), "--out", dir.path().to_str().unwrap()]]
        {
            let (code, err) = run(&args);
            assert_eq!(code, Some(2), "{args:?}: {err}");
            assert!(err.contains("error[E013]") && err.contains(what), "{args:?}: {err}");
        }
    }
}

#[test]
fn scenario_numbers_the_engine_cannot_run_are_refused_by_check_with_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("rate_per_day: 1e308", "4:40", "is over 10000"),
        ("rate_per_day: 5000", "4:40", "expects 450000 faults in one replication, over 200000"),
        ("service: payment-api, at: 1h, load_multiplier: 1e5", "4:73", "`load_multiplier` 100000 is over 100"),
    ];
    for (fault, at, what) in cases {
        let f = write(
            dir.path(),
            "s.yaml",
            format!("name: x\nduration: 30d\nfaults:\n  - {{ type: memory-leak, {fault} }}\n").as_bytes(),
        );
        let (code, err) = run(&["check", &f]);
        assert_eq!(code, Some(2), "{fault}: {err}");
        assert!(err.contains(&format!("s.yaml:{at}: error[E008]")) && err.contains(what), "{fault}: {err}");
    }
    let f = write(dir.path(), "t.yaml", b"name: x\nstart: 2262-04-11T23:00:00Z\nduration: 1d\n");
    let (code, err) = run(&["check", &f]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("t.yaml:2:8: error[E008]: `start` 2262-04-11T23:00:00Z is outside 1970–2199"), "{err}");
    // A rate too small to matter runs (it used to panic turning 8.6e24 s into a Duration).
    let f = write(
        dir.path(),
        "u.yaml",
        b"name: x\nduration: 1d\nfaults:\n  - { type: memory-leak, rate_per_day: 1e-20 }\n",
    );
    let out = dir.path().join("out");
    let (code, err) = run(&["simulate", &f, "--replications", "1", "--out", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn import_k8s_locates_json_errors_and_survives_odd_timestamps_and_deep_nesting() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.jsonl");
    let out = out.to_str().unwrap();
    let bad = write(dir.path(), "bad.json", b"{\"kind\":\"PodList\",\n \"items\": [ {\"a\": 1,} ]}");
    let (code, err) = run(&["import", "k8s", &bad, "-o", out]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.json:2:21: error[E004]: not valid JSON: trailing comma"), "{err}");
    let deep =
        write(dir.path(), "deep.json", format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes());
    let (code, err) = run(&["import", "k8s", &deep, "-o", out]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("deep.json:1:") && err.contains("recursion limit"), "{err}");
    let odd = write(
        dir.path(),
        "odd.json",
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\",\"creationTimestamp\":\"@nowé5m\"},\"status\":{\"phase\":\"Pending\"}}".as_bytes(),
    );
    let (code, err) = run(&["import", "k8s", &odd, "-o", out]);
    assert_eq!(code, Some(0), "an unreadable timestamp is no timestamp, not a panic: {err}");
    // `-` is standard input and standard output; a byte-order mark is not part of the text.
    let mut child = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(["import", "k8s", "-", "-o", "-"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(std::fs::read(&odd).unwrap().as_slice()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"kind\":\"signal\""), "the trace went to stdout");
    assert!(!dir.path().join("-").exists(), "no file named `-`");
    let bom = write(
        dir.path(),
        "bom.yaml",
        b"\xef\xbb\xbfname: x\nduration: 1d\nfaults:\n  - { type: memory-leak, service: payment-api, at: 1h }\n",
    );
    let (code, err) = run(&["check", &bom]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    for args in [&["check", "scenarios/policy.yaml", "scenarios/bad-deploy.yaml"][..], &["--help"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_understudy"))
            .args(args)
            .current_dir(repo(""))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // `| head -0`: the reader is gone before anything is written
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
        assert_ne!(o.status.code(), Some(101), "{args:?}: {err}");
    }
}

/// Every parser, fed mutations of the shipped files and arbitrary bytes, answers with a value
/// or diagnostics: it never panics (proptest fails the case on a panic).
mod loaders {

    use proptest::prelude::*;
    use understudy::fuzzing::{TARGETS, load};

    /// Every surface with each of its seed files (from `understudy::fuzzing::TARGETS`, the
    /// list the fuzz targets use too).
    fn seeds() -> Vec<(&'static str, &'static str)> {
        TARGETS.iter().flat_map(|t| t.seeds.iter().map(move |s| (t.name, *s))).collect()
    }

    /// Bytes that parsers have tripped on, spliced in at random places.
    const TOKENS: &[&str] = &[
        "\0",
        "*a",
        "&a ",
        "<<: *a",
        "1e308",
        "-1e308",
        "1e-320",
        "NaN",
        ".inf",
        "\u{feff}",
        "[[[[",
        "{{",
        "- ",
        ": ",
        "\"",
        "'",
        "#",
        "\n",
        "\t",
        "@nowé5m",
        "2262-04-11T23:00:00Z",
        "18446744073709551616",
        "é",
        "---\n",
        "!!binary ",
        "~",
        "100000d",
        "0s",
    ];

    fn mutated() -> impl Strategy<Value = (usize, String)> {
        let edit = prop_oneof![
            (any::<prop::sample::Index>(), prop::sample::select(TOKENS)).prop_map(|(i, t)| (0u8, i, t.to_string())),
            (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| (1u8, i, (b as char).to_string())),
            any::<prop::sample::Index>().prop_map(|i| (2u8, i, String::new())),
            any::<prop::sample::Index>().prop_map(|i| (3u8, i, String::new())),
        ];
        (0..seeds().len(), prop::collection::vec(edit, 1..6)).prop_map(|(k, edits)| {
            let mut text = std::fs::read_to_string(crate::repo(seeds()[k].1)).unwrap();
            for (op, at, s) in edits {
                let mut i = at.index(text.len() + 1);
                while !text.is_char_boundary(i) {
                    i -= 1;
                }
                match op {
                    0 | 1 => text.insert_str(i, &s),
                    2 => text.truncate(i),
                    _ => {
                        let mut j = (i + 40).min(text.len());
                        while !text.is_char_boundary(j) {
                            j -= 1;
                        }
                        text.replace_range(i..j, "");
                    }
                }
            }
            (k, text)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn no_mutation_of_a_shipped_file_panics_its_loader((k, text) in mutated()) {
            load(seeds()[k].0, text.as_bytes());
        }

        #[test]
        fn no_bytes_panic_any_loader(bytes in prop::collection::vec(any::<u8>(), 0..400), k in 0..TARGETS.len()) {
            load(TARGETS[k].name, &bytes);
        }
    }
}

#[test]
fn check_warns_about_what_silently_changes_behaviour_and_strict_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(repo("scenarios/policy.yaml")).unwrap();
    let typo = write(
        dir.path(),
        "typo.yaml",
        shipped.replace("incident_type: cpu-spike", "incident_type: cpu-spkie").as_bytes(),
    );
    let o = understudy(&["check", &typo]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "a warning, not an error: {err}");
    assert!(err.contains("incident type `cpu-spkie`: this policy never matches it"), "{err}");
    assert!(err.contains("did you mean `cpu-spike`?"), "{err}");
    let (code, _) = run(&["check", "--strict", &typo]);
    assert_eq!(code, Some(2), "--strict refuses warnings");
    // Declared as the team's own: no warning.
    let declared = write(
        dir.path(),
        "declared.yaml",
        format!(
            "{}\ncustom_incident_types: [cpu-spkie]\n",
            shipped.replace("incident_type: cpu-spike", "incident_type: cpu-spkie")
        )
        .as_bytes(),
    );
    let (code, err) = run(&["check", "--strict", &declared]);
    assert_eq!(code, Some(0), "{err}");

    let sus = write(
        dir.path(),
        "sus.yaml",
        b"remediation_policies:\n  - { incident_type: memory-leak, auto_execute: true, confidence_threshold: 5e-324, max_attempts: 1, cooldown_after_action: 0s, verification_window: 100000d, rollback_if_failed: false, escalation_channel: p1, action: { kind: restart } }\nguardrails: { namespaces: [prod] }\n",
    );
    let (code, err) = run(&["check", &sus]);
    assert_eq!(code, Some(0), "{err}");
    for w in [
        "2:77: warning[E008]: confidence_threshold 5e-324",
        "2:125: warning[E008]: `cooldown_after_action: 0s`",
        "2:150: warning[E008]: `verification_window` is over a day",
    ] {
        assert!(err.contains(w), "{w}: {err}");
    }
    // What ships passes --strict.
    for f in [
        "scenarios/policy.yaml",
        "fixtures/lesson-policy.yaml",
        "scenarios/week-in-prod.yaml",
        "scenarios/gate.yaml",
        "deploy/channels.yaml",
        "fixtures/grid.yaml",
    ] {
        let (code, err) = run(&["check", "--strict", f]);
        assert_eq!(code, Some(0), "{f}: {err}");
    }
}

#[test]
fn a_grid_cannot_hold_a_value_a_policy_file_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let policy = repo("scenarios/policy.yaml");
    let grid = |params: &str| {
        write(
            dir.path(),
            "grid.yaml",
            format!("policy: {}\nscenarios: []\nseeds: [1]\nparameters:\n{params}", policy.display()).as_bytes(),
        )
    };
    for (param, rule) in [
        ("  guardrails.max_actions_per_hour: [\"0\"]\n", "`max_actions_per_hour` must be at least 1"),
        (
            "  guardrails.loop_breaker.window: [\"0s\"]\n",
            "guardrails.loop_breaker.window: `0s` must be longer than zero",
        ),
        ("  guardrails.max_replicas: [\"2\"]\n", "exceeds guardrails.max_replicas 2"),
        (
            "  memory-leak.verification_window: [\"0s\"]\n",
            "memory-leak.verification_window: `0s` must be longer than zero",
        ),
    ] {
        let g = grid(param);
        let (code, err) = run(&["check", &g]);
        assert_eq!(code, Some(2), "{param}: {err}");
        assert!(err.contains("makes a policy no file could hold") && err.contains(rule), "{param}: {err}");
    }
    // A setting is validated as the file with that value: `with` agrees with the file on
    // whether the value is allowed, and on the policy it makes when it is.
    let text = std::fs::read_to_string(&policy).unwrap();
    let base = understudy::policy::Policy::from_yaml(&policy, &text).unwrap().policy;
    for n in ["0", "1", "7", "20", "4294967295"] {
        let file = understudy::policy::Policy::from_yaml(
            &policy,
            &text.replace("max_actions_per_hour: 20", &format!("max_actions_per_hour: {n}")),
        );
        let setting = understudy::policy::Setting::parse("guardrails.max_actions_per_hour", n).unwrap();
        match (base.with(&setting), file) {
            (Ok(a), Ok(b)) => assert_eq!(a.fingerprint(), b.policy.fingerprint(), "{n}"),
            (Err(understudy::policy::SettingError::Refused(rules)), Err(ds)) => {
                for r in &rules {
                    assert!(ds.iter().any(|d| r.ends_with(&d.message)), "{n}: {r} vs {ds:?}")
                }
            }
            (a, b) => panic!("{n}: with gives {a:?}, the file gives {:?}", b.map(|l| l.policy.fingerprint())),
        }
    }
    for x in ["0.85", "0.5", "1.5", "-0.1", "92"] {
        let file = understudy::policy::Policy::from_yaml(
            &policy,
            &text.replace("confidence_threshold: 0.85 ", &format!("confidence_threshold: {x} ")),
        );
        let setting = understudy::policy::Setting::parse("cpu-spike.confidence_threshold", x).unwrap();
        assert_eq!(base.with(&setting).is_ok(), file.is_ok(), "{x}");
    }
    // The current value changes nothing.
    let same = understudy::policy::Setting::parse("cpu-spike.confidence_threshold", "0.85").unwrap();
    assert_eq!(base.with(&same).unwrap(), base);
    assert_eq!(base.with(&same).unwrap().fingerprint(), base.fingerprint());
}

/// `check --diff OLD NEW` names every field whose change moves the fingerprint, and nothing
/// for a file that differs only in how it is written.
#[test]
fn check_diff_shows_what_moved_the_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("scenarios/policy.yaml")).unwrap();
    let old = repo("scenarios/policy.yaml");
    let reworded = write(dir.path(), "same.yaml", format!("# reviewed\n{}", text.replace("10m", "600s")).as_bytes());
    let (code, out) = run_out(&["check", "--diff", old.to_str().unwrap(), &reworded]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("no difference: same fingerprint"), "{out}");
    let changed = write(
        dir.path(),
        "new.yaml",
        text.replace("confidence_threshold: 0.85 ", "confidence_threshold: 0.9 ")
            .replace("max_actions_per_hour: 20", "max_actions_per_hour: 10")
            .as_bytes(),
    );
    let (code, out) = run_out(&["check", "--diff", old.to_str().unwrap(), &changed]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("~ remediations.cpu-spike.confidence_threshold: 0.85 → 0.9"), "{out}");
    assert!(out.contains("~ guardrails.max_actions_per_hour: 20 → 10"), "{out}");
    assert!(out.contains("2 change(s) to what automation does"), "{out}");
    let broken = write(dir.path(), "bad.yaml", b"remediation_policies: 3\n");
    let (code, _) = run_out(&["check", "--diff", old.to_str().unwrap(), &broken]);
    assert_eq!(code, Some(2));
}

/// Every input a fuzzer (or a person) once broke a parser with, kept under
/// tests/fuzz-regressions/<target>/, goes through that target's parser again, quickly.
#[test]
fn fuzz_regressions_stay_fixed() {
    let root = repo("tests/fuzz-regressions");
    let names: Vec<&str> = understudy::fuzzing::TARGETS.iter().map(|t| t.name).collect();
    let mut ran = 0;
    for dir in std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()) {
        let target = dir.file_name().unwrap().to_str().unwrap().to_string();
        assert!(names.contains(&target.as_str()), "{}: no fuzz target `{target}` (targets: {names:?})", dir.display());
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            let t = std::time::Instant::now();
            understudy::fuzzing::load(&target, &bytes);
            // Generous for a debug build on a shared machine; the fixed cases take milliseconds.
            assert!(t.elapsed() < std::time::Duration::from_secs(20), "{} took {:?}", f.display(), t.elapsed());
            ran += 1;
        }
    }
    assert!(ran >= 5, "only {ran} regression input(s) found under {}", root.display());
}

/// An importer says what it expected and what it found instead.
#[test]
fn import_prometheus_says_what_it_found_instead_of_a_matrix() {
    let dir = tempfile::tempdir().unwrap();
    for (body, expect) in [
        (
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
            "resultType is `vector` (an instant query",
        ),
        (
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
            "the query failed: bad_data: parse error at char 3",
        ),
        ("[1, 2]", "found a JSON list; expected a query_range response"),
        (r#"{"alerts": []}"#, "found an object with keys `alerts`"),
        ("{\"status\":\"success\",\n\"data\":{", "not JSON: EOF while parsing"),
    ] {
        let f = write(dir.path(), "q.json", body.as_bytes());
        let (code, err) = run(&["import", "prometheus", &f, "-o", "-"]);
        assert_eq!(code, Some(2), "{body}: {err}");
        assert!(err.contains(expect), "{body}: {err}");
    }
    // A report cell of the wrong type is named with what it holds.
    let report = std::fs::read_to_string(repo("fixtures/samples/report.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&report).unwrap();
    v["metrics"]["incidents"] = serde_json::json!("many");
    let f = write(dir.path(), "report.json", v.to_string().as_bytes());
    let (code, err) = run(&["gate", &f, "--gate", repo("scenarios/gate.yaml").to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`metrics.incidents` is \"many\", not a number"), "{err}");
}

/// What the hostile review of this change found, kept fixed.
#[test]
fn review_findings_stay_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let policy = repo("scenarios/policy.yaml");
    // A grid of 10^8 variants is refused before one is made.
    let values = "[\"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\", \"10\"]";
    let params: String = ["memory-leak", "cpu-spike", "bad-deployment", "capacity-loss"]
        .iter()
        .flat_map(|t| [format!("  {t}.max_attempts: {values}\n"), format!("  {t}.cooldown_after_action: [\"1m\",\"2m\",\"3m\",\"4m\",\"5m\",\"6m\",\"7m\",\"8m\",\"9m\",\"10m\"]\n")])
        .collect();
    let g = write(
        dir.path(),
        "big.yaml",
        format!("policy: {}\nscenarios: [x.yaml]\nseeds: [1]\nparameters:\n{params}", policy.display()).as_bytes(),
    );
    let (code, err) = run(&["check", &g]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the grid makes 100000000 policy variants, more than the limit"), "{err}");
    // `check --strict` refuses a grid whose variants a policy file's --strict would refuse.
    let g = write(
        dir.path(),
        "warn.yaml",
        format!(
            "policy: {}\nscenarios: [../scenarios/bad-deploy.yaml]\nseeds: [1]\nparameters:\n  memory-leak.cooldown_after_action: [\"0s\", \"10m\"]\n",
            policy.display()
        )
        .as_bytes(),
    );
    let g_in_repo = repo("fixtures").join(format!("grid-warn-{}.yaml", std::process::id()));
    std::fs::copy(&g, &g_in_repo).unwrap();
    let (strict, err) = run(&["check", "--strict", g_in_repo.to_str().unwrap()]);
    let (plain, _) = run(&["check", g_in_repo.to_str().unwrap()]);
    let _ = std::fs::remove_file(&g_in_repo);
    assert_eq!((strict, plain), (Some(2), Some(0)), "{err}");
    assert!(
        err.contains("memory-leak.cooldown_after_action=0s") && err.contains("lets an action repeat at once"),
        "{err}"
    );
    assert!(!err.contains("=10m"), "{err}");
    // -0 and 0 are one threshold; two windows cannot share a name; reordering named windows shows.
    let text = std::fs::read_to_string(&policy).unwrap();
    let neg = write(
        dir.path(),
        "neg.yaml",
        text.replace("confidence_threshold: 0.85 ", "confidence_threshold: -0.0 ").as_bytes(),
    );
    let zero = write(
        dir.path(),
        "zero.yaml",
        text.replace("confidence_threshold: 0.85 ", "confidence_threshold: 0 ").as_bytes(),
    );
    let (code, out) = run_out(&["check", "--diff", &neg, &zero]);
    assert_eq!(code, Some(0), "{out}");
    // A time no `Time` can hold is refused, not wrapped around.
    let prom = write(
        dir.path(),
        "q.json",
        br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1e300,"1"]]}]}}"#,
    );
    let (code, err) = run(&["import", "prometheus", &prom, "-o", "-"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("outside the times understudy can represent"), "{err}");
    // Names that are not Kubernetes names never reach a command.
    for name in ["..", "pay/ment", "Payment-API"] {
        let line = format!(
            "{{\"at\":\"2026-11-24T10:00:00Z\",\"service\":\"{name}\",\"namespace\":\"prod\",\"incident_type\":\"memory-leak\",\"confidence\":0.95}}\n"
        );
        let f = write(dir.path(), "i.jsonl", line.as_bytes());
        let (code, err) = run(&["decide", "--incidents", &f]);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.contains("is not a Kubernetes name"), "{name}: {err}");
    }
}
