//! The gate: pass and a signed promotion record, fail naming the criterion, records bound
//! to a policy and a gate, signed by a key from `keygen`, refused after any edit.

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use understudy::gate::promotion::{self, PromotionError};
use understudy::gate::{Gate, Promotion};
use understudy::policy::Policy;

use crate::{default_policy, keygen, repo, understudy};

/// A small report: the lesson's bad deploy and OOMKilled burst, where the default policy does well.
fn small_report(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("report");
    let o = understudy(&[
        "simulate",
        "scenarios/bad-deploy.yaml",
        "scenarios/oomkilled-burst.yaml",
        "--replications",
        "10",
        "--sweep-replications",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

const LENIENT: &str = "min_incidents: 10
max_loops: 0
max_made_worse_rate: 0.5
require_mttr_reduction_ci_above_zero: true
per_type:
  memory-leak: { phase: auto-execute, min_incidents: 5, max_made_worse_rate: 0.5 }
  bad-deployment: { phase: auto-execute, min_incidents: 5, max_made_worse_rate: 0.5 }
  capacity-loss: { phase: shadow }
";

#[test]
fn a_passing_report_gets_a_signed_promotion_record_bound_to_its_policy_and_gate() {
    let dir = tempfile::tempdir().unwrap();
    let report = small_report(dir.path());
    let gate = dir.path().join("gate.yaml");
    std::fs::write(&gate, LENIENT).unwrap();
    let (secret, public) = keygen(dir.path());
    let promo = dir.path().join("promotion.json");
    let o = understudy(&[
        "gate",
        report.to_str().unwrap(),
        "--gate",
        gate.to_str().unwrap(),
        "--signing-key",
        secret.to_str().unwrap(),
        "-o",
        promo.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let record = Promotion::load(&promo).unwrap();
    assert_eq!(record.promoted.get("memory-leak").map(String::as_str), Some("auto-execute"));
    // The gate would allow bad-deployment auto-execute; the policy runs it recommend-only, so
    // that is all it gets, and the table says why.
    assert_eq!(record.promoted.get("bad-deployment").map(String::as_str), Some("recommend-only"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("bad-deployment (recommend-only, as the policy asks)"));
    assert!(record.report_digest.starts_with("sha256:"));
    // valid_for defaults to 30 days.
    assert_eq!(record.valid_until, record.decided_at.saturating_add(Duration::from_secs(30 * 86_400)));
    // The evidence is the report's: its scenarios, seed, replications and incidents per type.
    let names: Vec<_> = record.evidence.scenarios.iter().map(|s| s.name.clone().unwrap()).collect();
    assert_eq!(names, ["bad-deploy", "oomkilled-burst"]);
    assert!(record.evidence.scenarios.iter().all(|s| s.digest.as_deref().is_some_and(|d| d.starts_with("sha256:"))));
    assert_eq!(record.evidence.replications, Some(10));
    assert!(record.evidence.seed.is_some());
    assert!(record.evidence.incidents.get("memory-leak").is_some_and(|n| *n > 0), "{:?}", record.evidence);

    let key = promotion::load_verifying_key(&public).unwrap();
    let gate_digest = Gate::load(&gate).unwrap().digest;
    let now = record.decided_at;
    let text = std::fs::read_to_string(repo("scenarios/policy.yaml")).unwrap();
    let policy = Policy::from_yaml(Path::new("policy.yaml"), &text).unwrap().policy;
    assert_eq!(record.verify(&key, &policy, &gate_digest, now), Ok(()));
    // One character changed (0.92 → 0.93): the record no longer covers the policy.
    let changed = Policy::from_yaml(Path::new("changed.yaml"), &text.replacen("0.92", "0.93", 1)).unwrap().policy;
    assert!(matches!(record.verify(&key, &changed, &gate_digest, now), Err(PromotionError::Mismatch { .. })));
    // Another gate file: not the gate it was decided under.
    let other = Gate::load(&repo("scenarios/gate.yaml")).unwrap().digest;
    assert!(matches!(record.verify(&key, &policy, &other, now), Err(PromotionError::GateMismatch { .. })));

    // capacity-loss was kept at shadow: promoting it by hand breaks the signature.
    let file = std::fs::read_to_string(&promo).unwrap();
    assert!(file.contains(r#""capacity-loss":"shadow""#), "{file}");
    let edited = file.replace(r#""capacity-loss":"shadow""#, r#""capacity-loss":"auto-execute""#);
    let edited = Promotion::from_text(&promo, &edited).unwrap();
    assert!(matches!(edited.verify(&key, &policy, &gate_digest, now), Err(PromotionError::BadSignature { .. })));
}

#[test]
fn gate_o_without_a_signing_key_is_refused_unless_unsigned_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate.yaml");
    // `valid_for: 1s`: the record is valid for one second after it is decided.
    std::fs::write(&gate, format!("{LENIENT}valid_for: 1s\n")).unwrap();
    let promo = dir.path().join("promotion.json");
    let args = |extra: &[&str]| {
        let report = dir.path().join("report");
        let mut a: Vec<String> = ["gate", report.to_str().unwrap(), "--gate", gate.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>, env: Option<&Path>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_understudy"));
        cmd.args(a).current_dir(repo("")).env_remove("UNDERSTUDY_SIGNING_KEY_FILE");
        if let Some(k) = env {
            cmd.env("UNDERSTUDY_SIGNING_KEY_FILE", k);
        }
        cmd.output().unwrap()
    };
    // Refused before the report is even read.
    let o = run(args(&["-o", promo.to_str().unwrap()]), None);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("understudy keygen") && stderr.contains("--signing-key"), "{stderr}");
    assert!(!promo.exists());

    small_report(dir.path());
    let o = run(args(&["-o", promo.to_str().unwrap(), "--unsigned"]), None);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unsigned"));
    let record = Promotion::load(&promo).unwrap();
    assert_eq!(record.signature, None);
    assert_eq!(record.valid_until, record.decided_at.saturating_add(Duration::from_secs(1)));

    // The key from the environment; a key file that is not one is bad input naming it.
    let (secret, public) = keygen(dir.path());
    std::fs::remove_file(&promo).unwrap();
    let o = run(args(&["-o", promo.to_str().unwrap()]), Some(&secret));
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let record = Promotion::load(&promo).unwrap();
    let key = promotion::load_verifying_key(&public).unwrap();
    assert_eq!(record.signature.as_ref().map(|s| s.key_id.clone()), Some(promotion::key_id(&key)));
    let o = run(args(&["-o", promo.to_str().unwrap(), "--signing-key", public.to_str().unwrap()]), None);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains(public.to_str().unwrap()) && stderr.contains("other half"), "{stderr}");
}

#[test]
fn keygen_prints_the_key_id_and_never_overwrites_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("keys");
    let o = understudy(&["keygen", "--out", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let key = promotion::load_verifying_key(&d.join("understudy-signing.pub")).unwrap();
    assert!(stdout.contains(&format!("key id {}", promotion::key_id(&key))), "{stdout}");
    let secret = std::fs::read_to_string(d.join("understudy-signing.key")).unwrap();
    assert!(secret.starts_with("understudy-ed25519-secret "), "{secret}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("understudy-signing.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let o = understudy(&["keygen", "--out", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(d.join("understudy-signing.key")).unwrap(), secret, "the old key is kept");
    let (s, p) = (dir.path().join("a.key"), dir.path().join("a.pub"));
    let o = understudy(&["keygen", "--secret", s.to_str().unwrap(), "--public", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(promotion::load_signing_key(&s).is_ok() && promotion::load_verifying_key(&p).is_ok());
    let o = understudy(&["keygen", "--secret", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "--secret needs --public");
}

/// A signed record for the default policy, as its canonical file, and the key that signed it.
fn signed_record() -> (String, promotion::VerifyingKey, String) {
    let key = promotion::SigningKey::from_bytes(&[7; 32]);
    let gate = Gate::from_yaml(Path::new("gate.yaml"), LENIENT).unwrap();
    let report = serde_json::json!({
        "provenance": {"seed": 1, "replications": 10, "scenarios": [{"name": "bad-deploy", "digest": "sha256:0123"}]},
        "per_label": {"memory-leak": {"incidents": 12}},
    });
    let promoted = [("memory-leak", "auto-execute"), ("capacity-loss", "recommend-only")]
        .into_iter()
        .map(|(t, p)| (t.to_string(), p.to_string()))
        .collect();
    let now = understudy::clock::Time::parse_rfc3339("2026-11-24T10:00:00.5Z").unwrap();
    let p = Promotion::new(default_policy().fingerprint(), "sha256:abcd".into(), &gate, promoted, now, &report);
    (p.signed(&key).to_file_text(), key.verifying_key(), gate.digest)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any single byte of a signed record file changed, anywhere: `load` or `verify` fails.
    #[test]
    fn flipping_any_byte_of_a_signed_record_is_caught(at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (text, key, gate) = signed_record();
        let policy = default_policy();
        let now = understudy::clock::Time::parse_rfc3339("2026-11-25T10:00:00Z").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("promotion.json");
        std::fs::write(&path, &text).unwrap();
        prop_assert_eq!(Promotion::load(&path).unwrap().verify(&key, &policy, &gate, now), Ok(()));
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(p) = Promotion::load(&path) {
            prop_assert!(p.verify(&key, &policy, &gate, now).is_err(), "byte {} ^ {:#x} went unnoticed", i, xor);
        }
    }
}

#[test]
fn a_report_failing_one_criterion_exits_1_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let report = small_report(dir.path());
    let gate = dir.path().join("gate.yaml");
    std::fs::write(&gate, format!("{LENIENT}min_automated_recovery_rate: 0.99\n")).unwrap();
    let promo = dir.path().join("promotion.json");
    let (secret, _) = keygen(dir.path());
    let o = understudy(&[
        "gate",
        report.to_str().unwrap(),
        "--gate",
        gate.to_str().unwrap(),
        "--signing-key",
        secret.to_str().unwrap(),
        "-o",
        promo.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("failed: 1 criterion(s) not met"), "{stderr}");
    assert!(stderr.contains("all: min_automated_recovery_rate required ≥ 0.990"), "{stderr}");
    assert!(!promo.exists(), "no record on failure");
}

#[test]
fn a_broken_gate_or_report_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate.yaml");
    std::fs::write(&gate, "max_made_worse_rte: 0.02\nper_type:\n  memory-leak: { phase: autoexecute }\n").unwrap();
    let o = understudy(&["gate", "Cargo.toml", "--gate", gate.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("did you mean `max_made_worse_rate`?"), "{stderr}");
    assert!(stderr.contains("unknown phase `autoexecute`"), "{stderr}");
    let o = understudy(&["gate", "Cargo.toml", "--gate", "scenarios/gate.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(&gate, "max_loops: 0\nvalid_for: 30 days\n").unwrap();
    let o = understudy(&["gate", "Cargo.toml", "--gate", gate.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains(&format!("{}:2:", gate.display())) && stderr.contains("valid_for"), "{stderr}");
}

#[test]
fn an_edited_report_or_a_gate_asking_for_nothing_is_bad_input_not_a_promotion() {
    let dir = tempfile::tempdir().unwrap();
    let report = small_report(dir.path()).join("report.json");
    let gate = dir.path().join("gate.yaml");
    std::fs::write(&gate, LENIENT).unwrap();
    let text = std::fs::read_to_string(&report).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    // A made-worse rate that disagrees with its own counts, an impossible count, a seed gone.
    let edits: [(&str, serde_json::Value); 3] = [
        ("/metrics/made_worse/numerator", serde_json::json!(7)),
        ("/per_label/memory-leak/incidents", serde_json::json!(20.5)),
        ("/provenance/seed", serde_json::json!("x")),
    ];
    for (path, value) in edits {
        let mut e = v.clone();
        *e.pointer_mut(path).unwrap() = value;
        let f = dir.path().join("edited.json");
        std::fs::write(&f, serde_json::to_string(&e).unwrap()).unwrap();
        let o = understudy(&["gate", f.to_str().unwrap(), "--gate", gate.to_str().unwrap(), "--unsigned"]);
        assert_eq!(o.status.code(), Some(2), "{path}: {}", String::from_utf8_lossy(&o.stdout));
    }
    // The unedited report passes the same gate.
    let o = understudy(&["gate", report.to_str().unwrap(), "--gate", gate.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    // Auto-execute with no evidence asked for is refused before any report is read.
    std::fs::write(&gate, "per_type:\n  memory-leak: { phase: auto-execute }\n").unwrap();
    let o = understudy(&["gate", report.to_str().unwrap(), "--gate", gate.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no evidence required"));
}

/// `(12 of 340` in a criterion's text → (12, 340).
fn counts(text: &str) -> Option<(u64, u64)> {
    let inner = text.split_once('(')?.1;
    let mut w = inner.split_whitespace();
    let n = w.next()?.parse().ok()?;
    (w.next()? == "of").then_some(())?;
    let d = w.next()?.trim_end_matches(')').parse().ok()?;
    Some((n, d))
}

#[test]
fn every_criterion_the_gate_prints_is_the_report_cell_it_names_and_the_page_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let report = small_report(dir.path());
    let o = understudy(&["gate", report.to_str().unwrap(), "--gate", "scenarios/gate.yaml", "--json"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap()).unwrap();
    let page = std::fs::read_to_string(report.join("index.html")).unwrap();
    let criteria = v["criteria"].as_array().unwrap();
    assert!(criteria.len() >= 10, "{v}");
    let mut on_page = 0;
    for c in criteria {
        let (file, pointer) = c["source"].as_str().unwrap().split_once('#').unwrap();
        assert_eq!(Path::new(file), report.join("report.json"));
        let cell = pointer.split('.').fold(&json, |at, key| match key.parse::<usize>() {
            Ok(i) if at.is_array() => &at[i],
            _ => &at[key],
        });
        let Some(observed) = c["observed"].as_f64() else {
            // A type with no incidents: nothing to read, and the report has no cell for it.
            assert!(cell.is_null() && c["pass"] == false, "{c}: {cell}");
            continue;
        };
        assert_eq!(cell.as_f64(), Some(observed), "{} read {pointer}: {cell}", c["criterion"]);
        // A rate the gate counts is on the page as the same count and rounded percentage, in
        // the row of its label (or above the by-label table for the whole report).
        let scope = c["scope"].as_str().unwrap();
        let row = match scope.split_whitespace().next().unwrap() {
            "all" => &page[..page.find("<h2>What the policy saw and did").unwrap()],
            label => {
                let start = page.find(&format!("<tr><td>{label}</td>")).unwrap_or_else(|| panic!("no row for {label}"));
                &page[start..start + page[start..].find("</tr>").unwrap()]
            }
        };
        if let Some((n, d)) = counts(c["observed_text"].as_str().unwrap()) {
            assert!((observed - n as f64 / d as f64).abs() < 1e-4, "{c}");
            let shown = format!("{n} of {d} ({:.1}%)", n as f64 / d as f64 * 100.0);
            assert!(row.contains(&shown), "{} {scope}: the page does not show {shown}", c["criterion"]);
            on_page += 1;
        } else if c["criterion"] == "min_incidents" && scope != "all" {
            assert!(row.contains(&format!("<td>{observed}</td>")), "{scope}: incidents {observed} not in its row");
            on_page += 1;
        }
    }
    assert!(on_page >= 6, "only {on_page} criteria checked against the page");
}
