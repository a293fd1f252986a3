//! The promotion record: what a passed gate allows, signed so that `live` can tell it was
//! written by `understudy gate` with the operator's key and not edited since.
//!
//! Owns the record's format, its evidence (read from the report the gate read), its
//! canonical bytes, Ed25519 signing and verification ([`Promotion::verify`], one
//! [`PromotionError`] variant per check), and the key files `understudy keygen` writes.
//! Never reads a clock (`now` is handed in) and never reads the environment.
//!
//! # Record file
//!
//! One line of compact JSON and a newline, fields in this order: `policy_fingerprint`,
//! `report_digest`, `gate_digest`, `promoted` (incident type → phase, sorted by type),
//! `decided_at`, `valid_until` (RFC 3339, UTC), `understudy_version`, `evidence`
//! (`scenarios` `[{name, digest}]`, `seed`, `replications`, `incidents` per type, sorted),
//! then `signature` (`{algorithm: "ed25519", key_id, value}`), absent on an unsigned record.
//! [`Promotion::load`] refuses a file that differs in any byte from that form, so an edit
//! that keeps the meaning (whitespace, `z` for `Z`) is refused as well as one that changes it.
//!
//! # What is signed
//!
//! The message is the ASCII line `understudy-promotion-v1` and a newline, followed by the
//! record file's JSON without the `signature` field (compact, same field order, no trailing
//! newline): [`Promotion::signed_bytes`]. `value` is the 64-byte Ed25519 signature in
//! standard base64 with padding. `key_id` is `sha256:` and the first 16 hex digits of the
//! SHA-256 of the 32-byte public key.
//!
//! # Key files
//!
//! One line each, written by `understudy keygen`: `understudy-ed25519-secret <base64>` (the
//! 32-byte secret seed; mode 0600) and `understudy-ed25519-public <base64>` (the 32-byte
//! public key), both standard base64 with padding.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{SECRET_KEY_LENGTH, Signer};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Gate;
use crate::clock::Time;
use crate::diag::{Code, Diagnostic, Pos, Report};
use crate::metrics::phase::Phase;
use crate::policy::Policy;
use crate::yaml::{Problem, Seg};

/// How long a promotion stays valid when the gate file has no `valid_for:`.
pub const DEFAULT_VALID_FOR: Duration = Duration::from_secs(30 * 86_400);
/// How far `decided_at` may lie ahead of the verifier's clock (clocks disagree a little).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
/// The only signature algorithm.
pub const ALGORITHM: &str = "ed25519";
/// Domain separation: the first line of every signed message.
const CONTEXT: &[u8] = b"understudy-promotion-v1\n";
const SECRET_TAG: &str = "understudy-ed25519-secret";
const PUBLIC_TAG: &str = "understudy-ed25519-public";

/// What `live` checks before it acts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    pub policy_fingerprint: String,
    pub report_digest: String,
    pub gate_digest: String,
    /// Incident type → phase it may run in.
    pub promoted: BTreeMap<String, String>,
    pub decided_at: Time,
    /// `decided_at` + the gate's `valid_for`; `live` refuses the record after this.
    pub valid_until: Time,
    pub understudy_version: String,
    pub evidence: Evidence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
}

/// What the promotion rests on, read from the report the gate read. A field the report
/// lacks is `null` (or left out of a list or map), never invented.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub scenarios: Vec<ScenarioEvidence>,
    pub seed: Option<u64>,
    pub replications: Option<u64>,
    /// Label → incidents the policy saw as that type in the report (`per_label.<type>.incidents`).
    pub incidents: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEvidence {
    pub name: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub algorithm: String,
    pub key_id: String,
    /// Standard base64 of the 64-byte signature over [`Promotion::signed_bytes`].
    pub value: String,
}

/// Why a promotion record does not allow `live` to act: one variant per check, in the
/// order [`Promotion::verify`] makes them.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PromotionError {
    #[error(
        "the record is unsigned: sign it with `understudy gate REPORT --gate GATE --signing-key KEY -o FILE` (make a key pair with `understudy keygen`)"
    )]
    Unsigned,
    #[error("the record is signed with `{found}`, but only `ed25519` is accepted")]
    UnsupportedAlgorithm { found: String },
    #[error(
        "the record is signed by key {record}, not by the trusted key {trusted}: pass the public key of the key that signed it, or re-run gate with the trusted key"
    )]
    WrongKey { record: String, trusted: String },
    #[error(
        "the signature does not match the record ({reason}): the record was edited after it was signed; re-run gate instead of editing it"
    )]
    BadSignature { reason: String },
    #[error("the promotion record is for policy {record}, but this policy is {policy}: re-run simulate and gate on it")]
    Mismatch { record: String, policy: String },
    #[error(
        "the record was decided under gate {record}, but the trusted gate file is {gate}: pass the gate file it was decided under, or re-run gate with this one"
    )]
    GateMismatch { record: String, gate: String },
    #[error(
        "the record was decided at {decided_at}, more than 5 minutes after now ({now}): check this machine's clock and the one that ran gate"
    )]
    DecidedInFuture { decided_at: Time, now: Time },
    #[error("the record expired at {valid_until} (now {now}): re-run simulate and gate for a fresh promotion")]
    Expired { valid_until: Time, now: Time },
}

impl PromotionError {
    /// The check that failed, as a short stable name for messages and tests.
    pub fn check(&self) -> &'static str {
        match self {
            PromotionError::Unsigned => "unsigned",
            PromotionError::UnsupportedAlgorithm { .. } => "algorithm",
            PromotionError::WrongKey { .. } => "key",
            PromotionError::BadSignature { .. } => "signature",
            PromotionError::Mismatch { .. } => "policy",
            PromotionError::GateMismatch { .. } => "gate",
            PromotionError::DecidedInFuture { .. } => "decided-in-future",
            PromotionError::Expired { .. } => "expired",
        }
    }
}

impl Evidence {
    /// What a report.json says the promotion rests on; missing parts are left out.
    pub fn from_report(v: &serde_json::Value) -> Evidence {
        let s = |x: &serde_json::Value| x.as_str().map(str::to_string);
        let scenarios = v
            .pointer("/provenance/scenarios")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .map(|sc| ScenarioEvidence { name: s(&sc["name"]), digest: s(&sc["digest"]) })
            .collect();
        let incidents = v
            .get("per_label")
            .and_then(serde_json::Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(t, m)| Some((t.clone(), m.get("incidents")?.as_u64()?)))
            .collect();
        Evidence {
            scenarios,
            seed: v.pointer("/provenance/seed").and_then(serde_json::Value::as_u64),
            replications: v.pointer("/provenance/replications").and_then(serde_json::Value::as_u64),
            incidents,
        }
    }
}

/// The longest a promotion may stay valid: a year.
pub const MAX_VALID_FOR: Duration = Duration::from_secs(366 * 86_400);

/// The gate file's `valid_for:` (default 30 days): a duration longer than zero, or a problem
/// located at the key.
pub(super) fn valid_for(v: &mut Vec<Problem>, raw: Option<&str>) -> Duration {
    let Some(s) = raw else { return DEFAULT_VALID_FOR };
    let bad = |msg: String| {
        Problem::error(vec![Seg::key("valid_for")], Code::BadValue, msg).with_hint(
            "how long a promotion record stays valid, e.g. `valid_for: 30d` (the default) or `valid_for: 12h`",
        )
    };
    match crate::clock::parse_duration(s) {
        Ok(d) if d.is_zero() => {
            v.push(bad(format!("`{s}` must be longer than zero")));
            DEFAULT_VALID_FOR
        }
        Ok(d) if d > MAX_VALID_FOR => {
            v.push(bad(format!("`{s}` is longer than a year: evidence that old no longer describes the system")));
            DEFAULT_VALID_FOR
        }
        Ok(d) => d,
        Err(e) => {
            v.push(bad(e));
            DEFAULT_VALID_FOR
        }
    }
}

impl Promotion {
    /// An unsigned record for a passed gate, decided at `now`, valid for the gate's `valid_for`.
    pub fn new(
        policy_fingerprint: String,
        report_digest: String,
        gate: &Gate,
        promoted: BTreeMap<String, String>,
        now: Time,
        report: &serde_json::Value,
    ) -> Promotion {
        Promotion {
            policy_fingerprint,
            report_digest,
            gate_digest: gate.digest.clone(),
            promoted,
            decided_at: now,
            valid_until: now.saturating_add(gate.valid_for),
            understudy_version: env!("CARGO_PKG_VERSION").to_string(),
            evidence: Evidence::from_report(report),
            signature: None,
        }
    }

    /// The phase an incident type was promoted to (shadow when not listed).
    pub fn phase(&self, incident_type: &str) -> Phase {
        self.promoted.get(incident_type).and_then(|p| Phase::parse(p)).unwrap_or(Phase::Shadow)
    }

    /// The bytes the signature covers: the context line, then the record's compact JSON
    /// without `signature`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let unsigned = Promotion { signature: None, ..self.clone() };
        let mut out = CONTEXT.to_vec();
        // A struct of strings, integers and string-keyed maps: serializing cannot fail.
        out.extend(serde_json::to_vec(&unsigned).unwrap_or_default());
        out
    }

    /// This record signed with `key` (any earlier signature replaced).
    pub fn signed(mut self, key: &SigningKey) -> Promotion {
        self.signature = None;
        let sig = key.sign(&self.signed_bytes());
        self.signature = Some(Signature {
            algorithm: ALGORITHM.to_string(),
            key_id: key_id(&key.verifying_key()),
            value: B64.encode(sig.to_bytes()),
        });
        self
    }

    /// The record file's exact contents: compact JSON in field order and a newline.
    pub fn to_file_text(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Write the record file (replacing what was there).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_file_text())
    }

    /// Read a record file: malformed JSON is a located diagnostic, and so is any byte that
    /// differs from the form `understudy gate` writes.
    pub fn load(path: &Path) -> Result<Promotion, Report> {
        crate::diag::load_with(path, |p, text| Promotion::from_text(p, text).map_err(|d| vec![d]))
    }

    /// [`Promotion::load`] on text already read.
    pub fn from_text(path: &Path, text: &str) -> Result<Promotion, Diagnostic> {
        const HINT: &str = "a promotion record is the file `understudy gate REPORT --gate GATE -o FILE` writes; make a new one rather than editing it";
        let p: Promotion = serde_json::from_str(text).map_err(|e| {
            let d = crate::jsonl::from_json_error(path, 1, text, &e);
            if d.code == Code::UnknownField { d } else { d.with_hint(HINT) }
        })?;
        let canonical = p.to_file_text();
        if text != canonical && text != canonical.trim_end_matches('\n') {
            let at = text.bytes().zip(canonical.bytes()).take_while(|(a, b)| a == b).count();
            let before = &text.as_bytes()[..at];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
            return Err(Diagnostic::error(
                Code::BadValue,
                path,
                Some(Pos { line, col }),
                "the record is not byte for byte what `understudy gate` writes (first difference here): it was edited or reformatted",
            )
            .with_hint(HINT));
        }
        Ok(p)
    }

    /// Every check `live` makes before it acts, in order: signed, with ed25519, by `key`,
    /// the signature matches, for exactly this policy, under this gate, not decided in the
    /// future (beyond [`MAX_CLOCK_SKEW`]), not expired.
    pub fn verify(
        &self,
        key: &VerifyingKey,
        policy: &Policy,
        gate_digest: &str,
        now: Time,
    ) -> Result<(), PromotionError> {
        self.verify_signature(key)?;
        self.verify_unsigned(policy, gate_digest, now)
    }

    /// The signature checks alone.
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), PromotionError> {
        let sig = self.signature.as_ref().ok_or(PromotionError::Unsigned)?;
        if sig.algorithm != ALGORITHM {
            return Err(PromotionError::UnsupportedAlgorithm { found: sig.algorithm.clone() });
        }
        let trusted = key_id(key);
        if sig.key_id != trusted {
            return Err(PromotionError::WrongKey { record: sig.key_id.clone(), trusted });
        }
        let bad = |reason: &str| PromotionError::BadSignature { reason: reason.to_string() };
        let bytes = B64.decode(&sig.value).map_err(|_| bad("the value is not base64"))?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| bad("the value is not 64 bytes"))?;
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        key.verify_strict(&self.signed_bytes(), &sig).map_err(|_| bad("ed25519 verification failed"))
    }

    /// Every check but the signature's (`live --allow-unsigned`): policy, gate and time.
    pub fn verify_unsigned(&self, policy: &Policy, gate_digest: &str, now: Time) -> Result<(), PromotionError> {
        let fp = policy.fingerprint();
        if fp != self.policy_fingerprint {
            return Err(PromotionError::Mismatch { record: self.policy_fingerprint.clone(), policy: fp });
        }
        if gate_digest != self.gate_digest {
            return Err(PromotionError::GateMismatch {
                record: self.gate_digest.clone(),
                gate: gate_digest.to_string(),
            });
        }
        if self.decided_at > now.saturating_add(MAX_CLOCK_SKEW) {
            return Err(PromotionError::DecidedInFuture { decided_at: self.decided_at, now });
        }
        if now > self.valid_until {
            return Err(PromotionError::Expired { valid_until: self.valid_until, now });
        }
        Ok(())
    }
}

/// `sha256:` and the first 16 hex digits of the SHA-256 of the public key's 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    let h = hex::encode(Sha256::digest(key.as_bytes()));
    format!("sha256:{}", &h[..16])
}

/// A new signing key from the operating system's random source.
pub fn generate_key() -> SigningKey {
    let mut seed = [0u8; SECRET_KEY_LENGTH];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    SigningKey::from_bytes(&seed)
}

/// What can go wrong with a key file; every message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: already exists; not overwriting a key (move it away, or choose another path)")]
    Exists { path: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
}

/// Write a new key pair: the secret with mode 0600, the public key world-readable. Refuses
/// (before writing either) when either file exists.
pub fn write_key_pair(secret: &Path, public: &Path, key: &SigningKey) -> Result<(), KeyError> {
    for p in [secret, public] {
        if p.exists() {
            return Err(KeyError::Exists { path: p.to_path_buf() });
        }
    }
    let write = |path: &Path, mode: u32, text: String| -> Result<(), KeyError> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = opts.open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::Exists { path: path.to_path_buf() },
            _ => KeyError::Io { path: path.to_path_buf(), source: e },
        })?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|source| KeyError::Io { path: path.to_path_buf(), source })
    };
    write(secret, 0o600, format!("{SECRET_TAG} {}\n", B64.encode(key.to_bytes())))?;
    write(public, 0o644, format!("{PUBLIC_TAG} {}\n", B64.encode(key.verifying_key().as_bytes())))
}

/// The 32 bytes after `tag` in a one-line key file.
fn read_key_file(path: &Path, tag: &str, other: &str, what: &str) -> Result<[u8; 32], KeyError> {
    let bad = |reason: String| KeyError::Format { path: path.to_path_buf(), reason };
    let bytes = std::fs::read(path).map_err(|source| KeyError::Io { path: path.to_path_buf(), source })?;
    let text = String::from_utf8(bytes).map_err(|_| bad(format!("not a key file (not text); {what}")))?;
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(t), Some(b64), None) if t == tag => {
            let key = B64.decode(b64).map_err(|_| bad(format!("the key after `{tag}` is not base64; {what}")))?;
            key.try_into().map_err(|_| bad(format!("the key after `{tag}` is not 32 bytes; {what}")))
        }
        (Some(t), _, _) if t == other => {
            Err(bad(format!("this is the other half of the key pair (`{other}`); {what}")))
        }
        _ => Err(bad(format!("not a key file: expected one line `{tag} <base64>`; {what}"))),
    }
}

/// Read a secret key file (`understudy-ed25519-secret <base64>`).
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let what = "pass the secret key file `understudy keygen` wrote";
    read_key_file(path, SECRET_TAG, PUBLIC_TAG, what).map(|b| SigningKey::from_bytes(&b))
}

/// Read a public key file (`understudy-ed25519-public <base64>`).
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let what = "pass the public key file (`.pub`) `understudy keygen` wrote";
    let bytes = read_key_file(path, PUBLIC_TAG, SECRET_TAG, what)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Format {
        path: path.to_path_buf(),
        reason: format!("the bytes are not an Ed25519 public key; {what}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = include_str!("../../scenarios/policy.yaml");
    const NOW: Time = Time(1_795_000_000_000_000_000);

    fn policy() -> Policy {
        Policy::from_yaml(Path::new("policy.yaml"), POLICY).expect("the shipped policy is valid").policy
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn record() -> Promotion {
        let report = serde_json::json!({
            "provenance": {"seed": 7, "replications": 10, "scenarios": [{"name": "bad-deploy", "digest": "sha256:ab"}]},
            "per_label": {"memory-leak": {"incidents": 40}, "capacity-loss": {"incidents": 3}},
        });
        let gate = Gate {
            overall: Default::default(),
            per_type: BTreeMap::new(),
            valid_for: Duration::from_secs(3600),
            digest: "sha256:gate".into(),
        };
        let promoted = [("memory-leak", "auto-execute"), ("capacity-loss", "recommend-only")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Promotion::new(policy().fingerprint(), "sha256:report".into(), &gate, promoted, NOW, &report)
    }

    fn verify(p: &Promotion, k: &SigningKey, now: Time) -> Result<(), PromotionError> {
        p.verify(&k.verifying_key(), &policy(), "sha256:gate", now)
    }

    #[test]
    fn a_signed_record_verifies_and_carries_its_evidence() {
        let p = record().signed(&key(1));
        assert_eq!(verify(&p, &key(1), NOW), Ok(()));
        assert_eq!(p.valid_until, NOW.saturating_add(Duration::from_secs(3600)));
        assert_eq!(p.evidence.seed, Some(7));
        assert_eq!(p.evidence.replications, Some(10));
        assert_eq!(p.evidence.incidents.get("memory-leak"), Some(&40));
        assert_eq!(p.evidence.scenarios[0].name.as_deref(), Some("bad-deploy"));
        let sig = p.signature.as_ref().expect("signed");
        assert_eq!(sig.algorithm, "ed25519");
        assert!(sig.key_id.starts_with("sha256:") && sig.key_id.len() == 7 + 16, "{}", sig.key_id);
    }

    #[test]
    fn evidence_from_a_report_without_per_label_records_what_exists() {
        let e = Evidence::from_report(&serde_json::json!({"provenance": {"seed": 3}}));
        assert_eq!(e, Evidence { seed: Some(3), ..Evidence::default() });
        assert_eq!(Evidence::from_report(&serde_json::json!([])), Evidence::default());
    }

    #[test]
    fn unsigned() {
        assert_eq!(verify(&record(), &key(1), NOW), Err(PromotionError::Unsigned));
        assert_eq!(PromotionError::Unsigned.check(), "unsigned");
    }

    #[test]
    fn unsupported_algorithm() {
        let mut p = record().signed(&key(1));
        if let Some(s) = p.signature.as_mut() {
            s.algorithm = "rsa".into();
        }
        assert_eq!(verify(&p, &key(1), NOW), Err(PromotionError::UnsupportedAlgorithm { found: "rsa".into() }));
    }

    #[test]
    fn wrong_key() {
        let p = record().signed(&key(1));
        let e = verify(&p, &key(2), NOW).unwrap_err();
        assert!(matches!(e, PromotionError::WrongKey { .. }), "{e}");
        assert_eq!(e.check(), "key");
    }

    #[test]
    fn bad_signature_after_any_edit_of_a_signed_field() {
        let good = record().signed(&key(1));
        let edits: Vec<fn(&mut Promotion)> = vec![
            |p| {
                p.promoted.insert("capacity-loss".into(), "auto-execute".into());
            },
            |p| p.decided_at = Time(p.decided_at.0 - 1_000_000_000),
            |p| p.valid_until = Time(p.valid_until.0 + 1),
            |p| p.report_digest.push('0'),
            |p| p.understudy_version = "9.9.9".into(),
            |p| p.evidence.seed = Some(8),
            |p| {
                if let Some(s) = p.signature.as_mut() {
                    s.value = B64.encode([0u8; 64]);
                }
            },
            |p| {
                if let Some(s) = p.signature.as_mut() {
                    s.value = "not base64!".into();
                }
            },
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut p = good.clone();
            edit(&mut p);
            let e = verify(&p, &key(1), NOW).unwrap_err();
            assert!(matches!(e, PromotionError::BadSignature { .. }), "edit {i}: {e}");
            assert_eq!(e.check(), "signature");
        }
    }

    #[test]
    fn mismatch() {
        let mut p = record();
        p.policy_fingerprint = "sha256:other".into();
        let p = p.signed(&key(1));
        let e = verify(&p, &key(1), NOW).unwrap_err();
        assert!(matches!(e, PromotionError::Mismatch { .. }), "{e}");
        assert!(e.to_string().contains("re-run simulate and gate"));
    }

    #[test]
    fn gate_mismatch() {
        let p = record().signed(&key(1));
        let e = p.verify(&key(1).verifying_key(), &policy(), "sha256:another-gate", NOW).unwrap_err();
        assert_eq!(
            e,
            PromotionError::GateMismatch { record: "sha256:gate".into(), gate: "sha256:another-gate".into() }
        );
    }

    #[test]
    fn decided_in_future() {
        let p = record().signed(&key(1));
        let early = NOW.saturating_sub(Duration::from_secs(301));
        assert_eq!(verify(&p, &key(1), early), Err(PromotionError::DecidedInFuture { decided_at: NOW, now: early }));
        // Within the allowed skew is fine.
        assert_eq!(verify(&p, &key(1), NOW.saturating_sub(Duration::from_secs(299))), Ok(()));
    }

    #[test]
    fn expired() {
        let p = record().signed(&key(1));
        let later = p.valid_until.saturating_add(Duration::from_secs(1));
        assert_eq!(verify(&p, &key(1), p.valid_until), Ok(()));
        assert_eq!(verify(&p, &key(1), later), Err(PromotionError::Expired { valid_until: p.valid_until, now: later }));
    }

    #[test]
    fn verify_unsigned_skips_only_the_signature() {
        let p = record();
        assert_eq!(p.verify_unsigned(&policy(), "sha256:gate", NOW), Ok(()));
        let later = p.valid_until.saturating_add(Duration::from_secs(1));
        assert!(matches!(p.verify_unsigned(&policy(), "sha256:gate", later), Err(PromotionError::Expired { .. })));
        assert!(matches!(p.verify_unsigned(&policy(), "x", NOW), Err(PromotionError::GateMismatch { .. })));
    }

    #[test]
    fn the_file_round_trips_and_a_reformatted_one_is_refused_with_a_location() {
        let p = record().signed(&key(1));
        let text = p.to_file_text();
        assert_eq!(text.lines().count(), 1);
        assert_eq!(Promotion::from_text(Path::new("p.json"), &text), Ok(p.clone()));
        let pretty = serde_json::to_string_pretty(&p).unwrap_or_default();
        let d = Promotion::from_text(Path::new("p.json"), &pretty).unwrap_err();
        assert_eq!((d.code, d.pos), (Code::BadValue, Some(Pos { line: 1, col: 2 })));
        let lower = text.replacen("Z\"", "z\"", 1);
        assert!(Promotion::from_text(Path::new("p.json"), &lower).is_err());
        let d = Promotion::from_text(Path::new("p.json"), "{\"policy_fingerprint\": 1").unwrap_err();
        assert_eq!(d.code, Code::WrongType);
        assert!(d.pos.is_some());
    }

    #[test]
    fn valid_for_defaults_to_30_days_and_a_bad_one_is_located() {
        let gate = |text: &str| Gate::from_yaml(Path::new("gate.yaml"), text);
        assert_eq!(gate("max_loops: 0\n").map(|g| g.valid_for), Ok(DEFAULT_VALID_FOR));
        assert_eq!(gate("max_loops: 0\nvalid_for: 12h\n").map(|g| g.valid_for), Ok(Duration::from_secs(43_200)));
        for bad in ["30 days", "0s", "30"] {
            let ds = gate(&format!("max_loops: 0\nvalid_for: {bad}\n")).unwrap_err();
            assert_eq!(ds.len(), 1, "{ds:?}");
            assert_eq!((ds[0].code, ds[0].pos.map(|p| p.line)), (Code::BadValue, Some(2)), "{bad}: {:?}", ds[0]);
        }
    }

    #[test]
    fn key_files_round_trip_and_refuse_to_be_overwritten_or_confused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (s, p) = (dir.path().join("k"), dir.path().join("k.pub"));
        let k = generate_key();
        write_key_pair(&s, &p, &k).expect("written");
        assert_eq!(load_signing_key(&s).expect("secret").to_bytes(), k.to_bytes());
        assert_eq!(load_verifying_key(&p).expect("public"), k.verifying_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&s).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(write_key_pair(&s, &dir.path().join("new.pub"), &k), Err(KeyError::Exists { .. })));
        assert!(!dir.path().join("new.pub").exists());
        let e = load_verifying_key(&s).unwrap_err().to_string();
        assert!(e.contains("other half"), "{e}");
        let e = load_signing_key(&dir.path().join("missing")).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
    }
}
