//! Secrets never live in files: routing keys, webhook URLs that embed a token, passwords and
//! bearer tokens come from the environment. This module finds secrets written into a YAML
//! file (any kind understudy reads), so loading it (and `understudy check`) refuses it with a
//! located error that never prints the secret.
//!
//! Owns the rules (a key that names a secret holding a literal value; a value shaped like a
//! Slack or Discord webhook, a Slack token, credentials or a token inside a URL, a private
//! key; an `*_env` key whose value is not an environment variable's name) and nothing else:
//! it reads only the tree it is given.

use std::path::Path;

use crate::diag::{Code, Diagnostic};
use crate::yaml::{Node, Value};

/// Key names that hold a secret when given a literal value (compared lower-case, `-` as `_`).
const SECRET_KEYS: [&str; 11] = [
    "token",
    "secret",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "routing_key",
    "integration_key",
    "credential",
    "private_key",
    "authorization",
];

/// URL query parameters that carry a credential.
const SECRET_PARAMS: [&str; 11] =
    ["token", "access_token", "api_key", "apikey", "key", "secret", "sig", "signature", "password", "code", "auth"];

/// Every secret written in the document, one error each, pointing at the value. The
/// diagnostics are marked `redact` so the offending text is masked when rendered.
pub fn scan(file: &Path, root: &Node) -> Vec<(Diagnostic, String)> {
    let mut out = Vec::new();
    walk(file, root, None, &mut out);
    out
}

fn walk(file: &Path, node: &Node, key: Option<&str>, out: &mut Vec<(Diagnostic, String)>) {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                walk(file, v, Some(&k.name), out);
            }
        }
        Value::Seq(items) => {
            for v in items {
                walk(file, v, key, out);
            }
        }
        Value::Scalar { text, quoted } if !text.trim().is_empty() => {
            if let Some((message, hint)) = judge(key, text) {
                // A quoted scalar's position is its opening quote: cover both quotes.
                let width = text.chars().count() + if *quoted { 2 } else { 0 };
                out.push((
                    Diagnostic::error(Code::Secret, file, Some(node.pos), message)
                        .with_hint(hint)
                        .with_width(width)
                        .redacted(),
                    text.clone(),
                ));
            }
        }
        Value::Scalar { .. } | Value::Null => {}
    }
}

/// Why `value` (under `key`) is a secret, and what to write instead.
fn judge(key: Option<&str>, value: &str) -> Option<(String, String)> {
    let key_norm = key.map(|k| k.to_ascii_lowercase().replace('-', "_"));
    if let Some(k) = key_norm.as_deref() {
        if k.ends_with("_env") {
            return (!is_env_name(value)).then(|| {
                (
                    format!("`{}` must name an environment variable, not hold a value", key.unwrap_or(k)),
                    "write the variable's name (e.g. `PAGERDUTY_ROUTING_KEY`) and export the secret in it".to_string(),
                )
            });
        }
        if SECRET_KEYS.iter().any(|s| k == *s || k.ends_with(&format!("_{s}"))) {
            return Some((
                format!("`{}` holds a secret in the file; secrets come only from the environment", key.unwrap_or(k)),
                format!(
                    "remove the value and write `{k}_env: SOME_VARIABLE`, then export SOME_VARIABLE where understudy runs"
                ),
            ));
        }
    }
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    if ["hooks.slack.com/services/", "hooks.slack.com/workflows/", "discord.com/api/webhooks/"]
        .iter()
        .any(|p| lower.contains(p))
    {
        return Some((
            "a chat webhook URL is a secret (its path is the credential)".to_string(),
            "set `webhook_url_env: SLACK_WEBHOOK_URL` and export the URL in that variable".to_string(),
        ));
    }
    if ["xoxb-", "xoxp-", "xoxa-", "xoxo-", "xoxs-", "xoxr-"].iter().any(|p| lower.starts_with(p)) {
        return Some(("a Slack token is a secret".to_string(), "move it into an environment variable".to_string()));
    }
    if lower.contains("-----begin") && lower.contains("private key") {
        return Some(("a private key is a secret".to_string(), "mount it as a file from a Secret instead".to_string()));
    }
    if let Ok(u) = url::Url::parse(v)
        && u.has_host()
    {
        if u.password().is_some() || !u.username().is_empty() {
            return Some((
                "the URL carries credentials".to_string(),
                "drop `user:password@` from the URL and give the credential through an `*_env` setting".to_string(),
            ));
        }
        if let Some((p, _)) = u.query_pairs().find(|(p, v)| !v.is_empty() && secret_param(p)) {
            return Some((
                format!("the URL carries a credential in its `{p}` parameter"),
                "drop the parameter and give the credential through an `*_env` setting".to_string(),
            ));
        }
    }
    None
}

/// A query parameter that carries a credential: `token`, `api-key`, `X-Amz-Signature`, …
fn secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    SECRET_PARAMS.contains(&n.as_str())
        || ["_token", "_key", "_secret", "signature", "password", "_sig"].iter().any(|s| n.ends_with(s))
}

/// Hide any quotation of `secret` in another diagnostic's message or hint (a type error
/// quotes the value it found), so refusing a file never prints what it refuses.
pub fn hide(d: &mut Diagnostic, secret: &str) {
    let probe: String = secret.chars().take(16).collect();
    if probe.chars().count() < 6 {
        return;
    }
    let scrub = |text: &mut String| {
        while let Some(i) = text.find(&probe) {
            let end = text[i..].find(['`', '"', '\'']).map_or(text.len(), |j| i + j);
            text.replace_range(i..end, "****");
        }
    };
    scrub(&mut d.message);
    if let Some(h) = d.hint.as_mut() {
        scrub(h);
    }
}

/// A POSIX environment variable name: letters, digits and `_`, not starting with a digit.
pub fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(yaml: &str) -> Vec<String> {
        let f = Path::new("x.yaml");
        let root = crate::yaml::parse(f, yaml).unwrap().unwrap();
        scan(f, &root)
            .into_iter()
            .map(|(d, _)| format!("{}:{} {}", d.pos.unwrap().line, d.pos.unwrap().col, d.message))
            .collect()
    }

    #[test]
    fn literal_keys_and_secret_shaped_values_are_found() {
        let y = "channels:\n  pd:\n    kind: pagerduty\n    routing_key: R0123456789abcdef0123456789abcd\n  slack:\n    kind: slack\n    url: https://hooks.slack.com/services/T000/B000/XXXX\n  hook:\n    url: https://ops.example.com/hook?token=abc\n    token_env: lower-case\n";
        let f = found(y);
        assert_eq!(f.len(), 4, "{f:?}");
        assert!(f[0].starts_with("4:18 `routing_key` holds a secret"), "{f:?}");
        assert!(f[1].starts_with("7:10 a chat webhook URL"), "{f:?}");
        assert!(f[2].contains("`token` parameter"), "{f:?}");
        assert!(f[3].contains("must name an environment variable"), "{f:?}");
    }

    #[test]
    fn environment_names_and_plain_urls_pass() {
        let y = "channels:\n  pd:\n    kind: pagerduty\n    routing_key_env: PAGERDUTY_ROUTING_KEY\n    url: https://events.pagerduty.com/v2/enqueue\n  hook:\n    url: https://ops.example.com/hook?team=sre\n    token_env: OPS_TOKEN\nguardrails: { max_replicas: 12 }\n";
        assert!(found(y).is_empty(), "{:?}", found(y));
    }

    #[test]
    fn numeric_values_odd_parameters_and_other_schemes_are_secrets_too() {
        let y = "a:\n  password: 12345678\n  url: https://s3.example/x?X-Amz-Signature=abc\n  b: ftp://admin:pw@files.example/\n  c: https://h.example/?api-key=k\n";
        assert_eq!(found(y).len(), 4, "{:?}", found(y));
    }
}
