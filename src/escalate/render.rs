//! Each destination's request body for an [`Escalation`]: a PagerDuty Events API v2 event, a
//! Slack Block Kit message, or the escalation itself as JSON for a generic webhook.
//! Pure functions: no I/O, no clock.

use serde_json::{Value, json};

use super::{Escalation, Event};

/// PagerDuty Events API v2: `trigger` with the incident's `dedup_key` (repeats update the same
/// alert instead of opening new incidents) and the whole escalation as `custom_details`;
/// `resolve` with the same key.
pub fn pagerduty(e: &Escalation, routing_key: &str, severity: &str) -> Value {
    match e.event {
        Event::Resolve => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": e.dedup_key,
        }),
        Event::Trigger => {
            let mut v = json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": e.dedup_key,
                "client": "understudy",
                "payload": {
                    "summary": e.summary(),
                    "source": format!("{}/{}", e.namespace, e.service),
                    "severity": severity,
                    "timestamp": e.at.to_rfc3339(),
                    "component": e.service,
                    "group": e.namespace,
                    "class": e.incident_type,
                    "custom_details": e,
                },
            });
            if let Some(u) = &e.evidence.url {
                v["client_url"] = json!(u);
                v["links"] = json!([{ "href": u, "text": "evidence" }]);
            }
            v
        }
    }
}

/// A Slack incoming-webhook message in Block Kit: a header, the facts a responder scans first,
/// the reason, the suggested command as code, the action history and the evidence. `text` is
/// the notification fallback.
pub fn slack(e: &Escalation) -> Value {
    if e.event == Event::Resolve {
        let text = format!(":white_check_mark: {}", esc(&e.summary()));
        return json!({ "text": text, "blocks": [ { "type": "section", "text": { "type": "mrkdwn", "text": text } } ] });
    }
    let title = format!("{} on {}/{}", e.incident_type, e.namespace, e.service);
    let mode = if e.mode == "shadow" { " (shadow mode: nothing was executed)" } else { "" };
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": clip(&format!(":rotating_light: {title}"), 150) } }),
        json!({ "type": "section", "fields": [
            { "type": "mrkdwn", "text": clip(&format!("*Service*\n{}/{}", esc(&e.namespace), esc(&e.service)), 2000) },
            { "type": "mrkdwn", "text": clip(&format!("*Type*\n{} ({:.2})", esc(&e.incident_type), e.confidence), 2000) },
            { "type": "mrkdwn", "text": clip(&format!("*Decision*\n{}{mode}", esc(&e.decision)), 2000) },
            { "type": "mrkdwn", "text": format!("*Escalation*\n#{} for this incident", e.sequence) },
        ] }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(&format!("*Why*\n{}", esc(&e.reason)), 3000) } }),
    ];
    if let Some(c) = &e.suggested_command {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(&format!("*Suggested*\n```{}```", esc(c)), 3000) } }));
    }
    if !e.history.is_empty() {
        let lines: Vec<String> = e
            .history
            .iter()
            .map(|s| format!("• {} {} *{}*: {}", s.at.to_rfc3339(), s.record, esc(&s.status), esc(&s.detail)))
            .collect();
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(&format!("*History*\n{}", lines.join("\n")), 3000) } }));
    }
    let records = esc(&e.evidence.records);
    let evidence = match &e.evidence.url {
        Some(u) => format!(
            "<{}|evidence> · records in `{records}` · dedup `{}`",
            u.replace('|', "%7C").replace('>', "%3E"),
            e.dedup_key
        ),
        None => format!("records in `{records}` · dedup `{}`", e.dedup_key),
    };
    blocks.push(json!({ "type": "context", "elements": [ { "type": "mrkdwn", "text": clip(&evidence, 3000) } ] }));
    json!({ "text": esc(&e.summary()), "blocks": blocks })
}

/// Slack reads `&`, `<` and `>` as control characters in mrkdwn (`<!channel>` pings
/// everyone): text from alerts and policies is escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A generic webhook gets the escalation as it is written to `escalations.jsonl`.
pub fn webhook(e: &Escalation) -> Value {
    serde_json::to_value(e).expect("an escalation serializes")
}

/// Slack refuses text blocks over 3000 characters (headers over 150): cut with a marker.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Time;
    use crate::escalate::{Evidence, Step};

    fn sample(event: Event) -> Escalation {
        Escalation {
            id: "esc-1".into(),
            dedup_key: "understudy-abc".into(),
            event,
            mode: "live".into(),
            at: Time(1_764_000_000_000_000_000),
            channel: "pagerduty-p1".into(),
            sequence: 2,
            incident_id: Some("e1".into()),
            service: "payment-api".into(),
            namespace: "prod".into(),
            incident_type: "memory-leak".into(),
            confidence: 0.71,
            decision: "low-confidence".into(),
            reason: "confidence 0.71 below threshold 0.92".into(),
            suggested_command: Some("kubectl rollout restart deployment/payment-api -n prod".into()),
            history: vec![Step {
                at: Time(1_764_000_000_000_000_000),
                record: "decision".into(),
                status: "low-confidence".into(),
                command: None,
                detail: "x".repeat(5000),
            }],
            evidence: Evidence { records: "audit.jsonl".into(), url: Some("https://grafana/d/x".into()) },
            policy_fingerprint: "sha256:x".into(),
        }
    }

    #[test]
    fn pagerduty_events_carry_the_dedup_key_and_details() {
        let t = pagerduty(&sample(Event::Trigger), "KEY", "critical");
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(t["dedup_key"], "understudy-abc");
        assert_eq!(t["payload"]["source"], "prod/payment-api");
        assert_eq!(
            t["payload"]["custom_details"]["suggested_command"],
            "kubectl rollout restart deployment/payment-api -n prod"
        );
        assert_eq!(t["links"][0]["href"], "https://grafana/d/x");
        assert!(t["payload"]["summary"].as_str().unwrap().chars().count() <= 1024);
        let r = pagerduty(&sample(Event::Resolve), "KEY", "critical");
        assert_eq!(r, json!({ "routing_key": "KEY", "event_action": "resolve", "dedup_key": "understudy-abc" }));
    }

    #[test]
    fn slack_blocks_stay_within_slacks_limits() {
        let m = slack(&sample(Event::Trigger));
        let blocks = m["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= 3000);
            }
        }
        assert!(m.to_string().contains("```kubectl rollout restart deployment/payment-api -n prod```"));
        let mut e = sample(Event::Trigger);
        e.reason = "<!channel> a & b".into();
        assert!(slack(&e).to_string().contains("&lt;!channel&gt; a &amp; b"), "alert text cannot ping a channel");
    }
}
