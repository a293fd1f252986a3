//! Where escalations go: the `channels:` section (in a policy file, or a file of its own)
//! mapping a channel name (a policy's `escalation_channel`) to a destination: PagerDuty Events
//! API v2, a Slack incoming webhook, or a generic JSON webhook.
//!
//! Owns the format and its validation. Secrets are never read from the file: a channel names
//! the environment variables holding them (`routing_key_env`, `webhook_url_env`,
//! `token_env`), read only by [`Channel::resolve`] when shadow or live starts.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::diag::{Code, Diagnostic, Report, did_you_mean};
use crate::secrets::is_env_name;
use crate::yaml::{Problems, Seg, at};

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// One channel as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    /// pagerduty | slack | webhook
    pub kind: String,
    /// pagerduty: the variable holding the integration's routing key.
    pub routing_key_env: Option<String>,
    /// pagerduty: critical | error | warning | info (default critical).
    pub severity: Option<String>,
    /// slack: the variable holding the incoming-webhook URL (the URL is the credential).
    pub webhook_url_env: Option<String>,
    /// webhook: where to POST; pagerduty: the Events API endpoint (default PagerDuty's).
    pub url: Option<String>,
    /// webhook: the variable holding a bearer token, if the receiver wants one.
    pub token_env: Option<String>,
    /// Receives escalations no policy routes (an incident type without a policy).
    pub default: Option<bool>,
    pub retry: Option<RawRetry>,
    /// `on-change` (default) or `{ every: 15m }`.
    pub repeat: Option<RawRepeat>,
}

/// `repeat:` as written (`on-change` or `{ every: 15m }`), read as a plain value so a wrong
/// one gets a message that says what to write.
pub type RawRepeat = serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub attempts: Option<u32>,
    pub first_backoff: Option<String>,
    pub max_backoff: Option<String>,
    pub timeout: Option<String>,
}

/// A file holding only channels.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannelsFile {
    pub channels: BTreeMap<String, RawChannel>,
}

/// Validated channels and which one takes what no policy routes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channels {
    pub channels: BTreeMap<String, Channel>,
    pub default: String,
}

/// One destination with its delivery settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel {
    pub name: String,
    pub destination: Destination,
    pub retry: Retry,
    pub repeat: Repeat,
}

/// When an incident whose page is open is escalated again, whether the person hears of it.
/// Every escalation stays in the incident's history and count either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Repeat {
    /// Only when the decision or outcome differs from the last one sent (`low-confidence` →
    /// `verification-failed`), not the same thing again.
    #[default]
    OnChange,
    /// At most once per this long, whatever it says.
    Every(#[serde(serialize_with = "crate::clock::serialize_duration")] Duration),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Destination {
    PagerDuty { routing_key_env: String, url: String, severity: String },
    Slack { webhook_url_env: String },
    Webhook { url: String, token_env: Option<String> },
}

impl Destination {
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::PagerDuty { .. } => "pagerduty",
            Destination::Slack { .. } => "slack",
            Destination::Webhook { .. } => "webhook",
        }
    }
}

/// Delivery retries: exponential backoff from `first_backoff`, doubling up to `max_backoff`,
/// with jitter, for at most `attempts` attempts; each attempt times out after `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Retry {
    pub attempts: u32,
    #[serde(serialize_with = "crate::clock::serialize_duration")]
    pub first_backoff: Duration,
    #[serde(serialize_with = "crate::clock::serialize_duration")]
    pub max_backoff: Duration,
    #[serde(serialize_with = "crate::clock::serialize_duration")]
    pub timeout: Duration,
}

impl Default for Retry {
    /// Thirty attempts, 1 s doubling to 5 min: with equal jitter a delivery is retried for
    /// roughly 1 to 2 hours before it is dead-lettered. A channel delivers in order, so a
    /// receiver outage holds the queue; the budget is sized to ride out an outage of a pager
    /// service rather than give up on a page after minutes (assumption; PagerDuty asks clients
    /// to retry 5xx and 429).
    fn default() -> Self {
        Retry {
            attempts: 30,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A channel with its secrets read from the environment: ready to send.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub channel: Channel,
    /// Where requests go.
    pub url: String,
    /// pagerduty: the routing key; webhook: the bearer token (if any).
    pub secret: Option<String>,
}

impl Channel {
    /// Read this channel's secrets from the environment (through `env`, so tests and callers
    /// choose the source). An unset or empty variable is an error naming it.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Resolved, String> {
        let need = |var: &str| {
            env(var).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                format!(
                    "channel `{}`: environment variable {var} is not set (it holds the channel's secret)",
                    self.name
                )
            })
        };
        let (url, secret) = match &self.destination {
            Destination::PagerDuty { routing_key_env, url, .. } => (url.clone(), Some(need(routing_key_env)?)),
            Destination::Slack { webhook_url_env } => {
                let u = need(webhook_url_env)?;
                if url::Url::parse(&u).map(|u| matches!(u.scheme(), "http" | "https")).unwrap_or(false) {
                    (u, None)
                } else {
                    return Err(format!("channel `{}`: ${webhook_url_env} is not an http(s) URL", self.name));
                }
            }
            Destination::Webhook { url, token_env } => (url.clone(), token_env.as_deref().map(need).transpose()?),
        };
        Ok(Resolved { channel: self.clone(), url, secret })
    }
}

impl Channels {
    /// The channel an escalation goes to: the policy's, or the default when none matched.
    pub fn route(&self, name: Option<&str>) -> Option<&Channel> {
        match name {
            Some(n) => self.channels.get(n),
            None => self.channels.get(&self.default),
        }
    }

    /// Read a file's `channels:` section: a channels file, or a policy file holding one.
    pub fn load(path: &Path) -> Result<Channels, Report> {
        crate::diag::load_with(path, |p, text| {
            let root = crate::yaml::parse(p, text)?;
            let keys = root.as_ref().map(|r| r.keys()).unwrap_or_default();
            if crate::kind::of_keys(&keys) != Some(crate::kind::Kind::Policy) {
                return Channels::from_yaml(p, text);
            }
            let loaded = crate::policy::Policy::from_yaml(p, text)?;
            loaded.policy.channels().cloned().ok_or_else(|| {
                vec![
                    Diagnostic::error(Code::MissingField, p, None, "this policy file has no `channels:` section")
                        .with_hint("add `channels:` to it, or pass a file that holds one"),
                ]
            })
        })
    }

    /// Validate a channels file's text.
    pub fn from_yaml(path: &Path, text: &str) -> Result<Channels, Vec<Diagnostic>> {
        crate::yaml::load_validated(path, text, "channels (`channels:`)", |raw: &RawChannelsFile| {
            let mut p = Problems::default();
            let c = validate(&mut p, &raw.channels);
            (c, p.list)
        })
        .map(|(c, _)| c)
    }
}

/// Validate a `channels:` mapping (at the top level of its file).
pub fn validate(p: &mut Problems, raw: &BTreeMap<String, RawChannel>) -> Option<Channels> {
    let before = p.list.len();
    let base = vec![Seg::key("channels")];
    if raw.is_empty() {
        p.err(base.clone(), Code::BadValue, "`channels` is empty")
            .hint("add at least one, e.g. `pagerduty-p1: { kind: pagerduty, routing_key_env: PAGERDUTY_ROUTING_KEY }`");
    }
    let mut channels = BTreeMap::new();
    for (name, c) in raw {
        let path = at(&base, name);
        let ok_name = !name.is_empty()
            && name.len() <= 63
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok_name {
            p.err(path.clone(), Code::BadValue, format!("`{name}` is not a valid channel name"))
                .hint("use lowercase letters, digits and '-', e.g. `pagerduty-p1`");
        }
        if let Some(ch) = channel(p, &path, name, c) {
            channels.insert(name.clone(), ch);
        }
    }
    let defaults: Vec<&String> = raw.iter().filter(|(_, c)| c.default == Some(true)).map(|(n, _)| n).collect();
    let default = match (defaults.as_slice(), raw.len()) {
        ([one], _) => Some((*one).clone()),
        ([], 1) => raw.keys().next().cloned(),
        ([], _) => {
            p.err(base.clone(), Code::MissingField, "no channel is marked `default: true`")
                .hint("mark the one that takes escalations no policy routes (incident types without a policy)");
            None
        }
        (many, _) => {
            p.err(at(&base, many[1]), Code::Conflict, "more than one channel is marked `default: true`")
                .hint("keep `default: true` on one channel");
            None
        }
    };
    if p.errors_since(before) {
        return None;
    }
    Some(Channels { channels, default: default? })
}

fn channel(p: &mut Problems, path: &[Seg], name: &str, c: &RawChannel) -> Option<Channel> {
    let before = p.list.len();
    let env = |p: &mut Problems, key: &str, v: &Option<String>, required: bool| -> Option<String> {
        match v {
            Some(s) if is_env_name(s) => Some(s.clone()),
            Some(_) => None, // reported by the secrets scan
            None if required => {
                p.err(path.to_vec(), Code::MissingField, format!("a {} channel needs `{key}`", c.kind))
                    .hint(format!("name the environment variable that holds it, e.g. `{key}: {}`", example_env(key)));
                None
            }
            None => None,
        }
    };
    let not_for = |p: &mut Problems, key: &str, set: bool, why: &str| {
        if set {
            p.err(at(path, key), Code::Conflict, format!("`{key}` is not used by a {} channel", c.kind))
                .hint(why.to_string());
        }
    };
    let destination = match c.kind.as_str() {
        "pagerduty" => {
            not_for(
                p,
                "webhook_url_env",
                c.webhook_url_env.is_some(),
                "PagerDuty takes a routing key: `routing_key_env`",
            );
            not_for(p, "token_env", c.token_env.is_some(), "PagerDuty takes a routing key: `routing_key_env`");
            let key = env(p, "routing_key_env", &c.routing_key_env, true);
            let severity = c.severity.clone().unwrap_or_else(|| "critical".to_string());
            if !matches!(severity.as_str(), "critical" | "error" | "warning" | "info") {
                p.err(at(path, "severity"), Code::BadValue, format!("`{severity}` is not a PagerDuty severity"))
                    .hint("one of critical, error, warning, info");
            }
            let url = c.url.clone().unwrap_or_else(|| PAGERDUTY_EVENTS_URL.to_string());
            http_url(p, &at(path, "url"), &url);
            key.map(|routing_key_env| Destination::PagerDuty { routing_key_env, url, severity })
        }
        "slack" => {
            not_for(p, "url", c.url.is_some(), "a Slack webhook URL is a secret: export it and set `webhook_url_env`");
            not_for(p, "routing_key_env", c.routing_key_env.is_some(), "Slack takes `webhook_url_env`");
            not_for(p, "token_env", c.token_env.is_some(), "Slack takes `webhook_url_env`");
            not_for(p, "severity", c.severity.is_some(), "severity is PagerDuty's");
            env(p, "webhook_url_env", &c.webhook_url_env, true)
                .map(|webhook_url_env| Destination::Slack { webhook_url_env })
        }
        "webhook" => {
            not_for(p, "routing_key_env", c.routing_key_env.is_some(), "a webhook takes `url` and `token_env`");
            not_for(p, "webhook_url_env", c.webhook_url_env.is_some(), "a webhook takes `url` and `token_env`");
            not_for(p, "severity", c.severity.is_some(), "severity is PagerDuty's");
            let token_env = env(p, "token_env", &c.token_env, false);
            match &c.url {
                Some(u) => {
                    http_url(p, &at(path, "url"), u);
                    Some(Destination::Webhook { url: u.clone(), token_env })
                }
                None => {
                    p.err(path.to_vec(), Code::MissingField, "a webhook channel needs `url`").hint(
                        "the endpoint that receives the escalation JSON, e.g. `https://ops.example.com/escalations`",
                    );
                    None
                }
            }
        }
        other => {
            let hint = match did_you_mean(other, ["pagerduty", "slack", "webhook"]) {
                Some(s) => format!("did you mean `{s}`? kinds: pagerduty, slack, webhook"),
                None => "kinds: pagerduty, slack, webhook".to_string(),
            };
            p.err(at(path, "kind"), Code::BadValue, format!("unknown channel kind `{other}`")).hint(hint);
            None
        }
    };
    let retry = retry(p, &at(path, "retry"), c.retry.as_ref());
    let repeat = repeat(p, &at(path, "repeat"), c.repeat.as_ref());
    if p.errors_since(before) {
        return None;
    }
    Some(Channel { name: name.to_string(), destination: destination?, retry, repeat })
}

fn repeat(p: &mut Problems, path: &[Seg], raw: Option<&RawRepeat>) -> Repeat {
    let hint = "`repeat: on-change` (re-page only when the decision changes) or `repeat: { every: 15m }`";
    let every = raw.and_then(|v| v.as_object()).filter(|m| m.len() == 1).and_then(|m| m.get("every"));
    match (raw, every) {
        (None, _) => Repeat::OnChange,
        (Some(serde_json::Value::String(w)), _) if w == "on-change" => Repeat::OnChange,
        (_, Some(serde_json::Value::String(d))) => {
            p.duration(at(path, "every"), d, true).map_or(Repeat::OnChange, Repeat::Every)
        }
        (_, Some(n @ serde_json::Value::Number(_))) => {
            p.err(at(path, "every"), Code::BadValue, format!("`every: {n}` has no unit"))
                .hint(format!("did you mean `every: {n}m`? write a number and a unit: 30s, 15m, 1h"));
            Repeat::OnChange
        }
        (_, Some(_)) => {
            p.err(at(path, "every"), Code::BadValue, "`every` must be a duration")
                .hint("e.g. `repeat: { every: 15m }`");
            Repeat::OnChange
        }
        (Some(v), None) => {
            let shown = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            p.err(path.to_vec(), Code::BadValue, format!("`repeat: {shown}` is not a repeat rule")).hint(hint);
            Repeat::OnChange
        }
    }
}

fn retry(p: &mut Problems, path: &[Seg], raw: Option<&RawRetry>) -> Retry {
    let d = Retry::default();
    let Some(r) = raw else { return d };
    let attempts = r.attempts.unwrap_or(d.attempts);
    if attempts == 0 {
        p.err(at(path, "attempts"), Code::BadValue, "`attempts` must be at least 1").hint("1 means no retry");
    }
    let mut dur = |key: &str, v: &Option<String>, dflt: Duration| {
        v.as_deref().and_then(|s| p.duration(at(path, key), s, true)).unwrap_or(dflt)
    };
    let first_backoff = dur("first_backoff", &r.first_backoff, d.first_backoff);
    let max_backoff = dur("max_backoff", &r.max_backoff, d.max_backoff);
    let timeout = dur("timeout", &r.timeout, d.timeout);
    if max_backoff < first_backoff {
        p.err(at(path, "max_backoff"), Code::Conflict, "`max_backoff` is shorter than `first_backoff`")
            .hint("backoff doubles from first_backoff up to max_backoff");
    }
    Retry { attempts, first_backoff, max_backoff, timeout }
}

fn http_url(p: &mut Problems, path: &[Seg], u: &str) {
    match url::Url::parse(u) {
        Ok(x) if matches!(x.scheme(), "http" | "https") && x.host().is_some() => {}
        _ => {
            // The value is not quoted back: a mistyped URL may well carry a credential.
            p.err(path.to_vec(), Code::BadValue, "not an http(s) URL with a host")
                .hint("e.g. `https://ops.example.com/escalations`");
        }
    }
}

fn example_env(key: &str) -> &'static str {
    match key {
        "routing_key_env" => "PAGERDUTY_ROUTING_KEY",
        "webhook_url_env" => "SLACK_WEBHOOK_URL",
        _ => "OPS_WEBHOOK_TOKEN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "channels:
  pagerduty-p1:
    kind: pagerduty
    routing_key_env: PD_KEY
    default: true
  slack-sre:
    kind: slack
    webhook_url_env: SLACK_URL
  ops:
    kind: webhook
    url: https://ops.example.com/hook
    token_env: OPS_TOKEN
    retry: { attempts: 3, first_backoff: 100ms, max_backoff: 1s }
";

    #[test]
    fn a_channels_file_validates_and_resolves_from_the_environment() {
        let c = Channels::from_yaml(Path::new("c.yaml"), FILE).unwrap();
        assert_eq!(c.default, "pagerduty-p1");
        assert_eq!(c.route(None).unwrap().name, "pagerduty-p1");
        assert_eq!(c.route(Some("ops")).unwrap().retry.attempts, 3);
        let env = |v: &str| (v == "PD_KEY").then(|| "k".repeat(32));
        let pd = c.channels["pagerduty-p1"].resolve(&env).unwrap();
        assert_eq!(pd.url, PAGERDUTY_EVENTS_URL);
        assert_eq!(pd.secret.as_deref(), Some("k".repeat(32).as_str()));
        let e = c.channels["slack-sre"].resolve(&env).unwrap_err();
        assert!(e.contains("SLACK_URL is not set"), "{e}");
    }

    #[test]
    fn repeat_rules_parse_and_bad_ones_are_located() {
        let c = Channels::from_yaml(Path::new("c.yaml"), FILE).unwrap();
        assert_eq!(c.channels["slack-sre"].repeat, Repeat::OnChange, "the default");
        let every = FILE.replace(
            "    webhook_url_env: SLACK_URL\n",
            "    webhook_url_env: SLACK_URL\n    repeat: { every: 15m }\n",
        );
        let c = Channels::from_yaml(Path::new("c.yaml"), &every).unwrap();
        assert_eq!(c.channels["slack-sre"].repeat, Repeat::Every(Duration::from_secs(900)));
        let on = FILE.replace("    default: true\n", "    default: true\n    repeat: on-change\n");
        assert_eq!(
            Channels::from_yaml(Path::new("c.yaml"), &on).unwrap().channels["pagerduty-p1"].repeat,
            Repeat::OnChange
        );
        for (bad, line, says) in [
            ("    repeat: always\n", 9, "`repeat: always` is not a repeat rule"),
            ("    repeat: { every: 0s }\n", 9, "must be longer than zero"),
            ("    repeat: { every: 15 }\n", 9, "has no unit"),
        ] {
            let text =
                FILE.replace("    webhook_url_env: SLACK_URL\n", &format!("    webhook_url_env: SLACK_URL\n{bad}"));
            let ds = Channels::from_yaml(Path::new("c.yaml"), &text).unwrap_err();
            assert!(
                ds.iter().any(|d| d.pos.is_some_and(|p| p.line == line) && d.message.contains(says)),
                "{bad}: {ds:?}"
            );
        }
    }

    #[test]
    fn mistakes_are_located() {
        let bad = FILE.replace("kind: slack", "kind: slak").replace("default: true", "default: false");
        let ds = Channels::from_yaml(Path::new("c.yaml"), &bad).unwrap_err();
        let got: Vec<String> = ds.iter().map(|d| format!("{}: {}", d.pos.unwrap().line, d.message)).collect();
        assert!(got.iter().any(|g| g.starts_with("7: unknown channel kind `slak`")), "{got:?}");
        assert!(got.iter().any(|g| g.contains("no channel is marked `default: true`")), "{got:?}");
    }

    #[test]
    fn a_routing_key_in_the_file_is_refused_without_echoing_it() {
        let bad = FILE.replace("routing_key_env: PD_KEY", "routing_key: 0123456789abcdef0123456789abcdef");
        let ds = Channels::from_yaml(Path::new("c.yaml"), &bad).unwrap_err();
        assert_eq!(ds.len(), 1, "{ds:?}");
        assert_eq!(ds[0].code, Code::Secret);
        let mut r = Report::new();
        r.add_source(Path::new("c.yaml"), &bad);
        r.extend(ds);
        let shown = r.render();
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("c.yaml:4:18: error[E012]"), "{shown}");
    }
}
