//! What people paste from a terminal: `kubectl describe pod|deployment` and the events tables
//! of `kubectl describe` and `kubectl events`, also wrapped as HolmesGPT records its tool
//! calls (JSON header lines, `stdout:`, `stderr:`).
//!
//! Owns turning that text into the Kubernetes objects (`Pod`, `Deployment`, `Event` as JSON)
//! the k8s importer already reads, so a described pod and a dumped one give the same records.
//! Relative ages (`87s`, `6m40s (x23 over 6m33s)`) are read against a reference time.
//! Must not invent what the text does not say: a field it cannot read is left out.

use serde_json::{Map, Value, json};

use crate::clock::Time;

/// The text a HolmesGPT tool recording holds (after its JSON header lines and `stdout:`,
/// before a trailing `stderr:`), or the text itself when it is not such a recording.
pub fn unwrap_tool_output(text: &str) -> &str {
    let mut rest = text;
    let mut wrapped = false;
    while let Some((line, tail)) = rest.split_once('\n') {
        let l = line.trim();
        let header = l.starts_with('{')
            && serde_json::from_str::<Map<String, Value>>(l)
                .is_ok_and(|m| m.contains_key("toolset_name") || m.contains_key("schema_version"));
        if !header {
            break;
        }
        wrapped = true;
        rest = tail;
    }
    if !wrapped {
        return text;
    }
    if let Some(tail) = rest.strip_prefix("stdout:\n") {
        rest = tail;
    }
    match rest.rfind("\nstderr:") {
        Some(i) => &rest[..i + 1],
        None => rest.strip_prefix("stderr:").map_or(rest, |_| ""),
    }
}

/// Whether the text is `kubectl describe` output or an events table.
pub fn looks_like(text: &str) -> bool {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    first.starts_with("Name:") || first.starts_with("LAST SEEN") || first.trim_start().starts_with("Type ")
}

/// `Thu, 27 Feb 2025 07:36:22 +0100` (what describe prints) as RFC 3339.
fn rfc2822(s: &str) -> Option<String> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc2822).ok()?;
    t.to_offset(time::UtcOffset::UTC).format(&time::format_description::well_known::Rfc3339).ok()
}

/// `6m40s`, `87s`, `5h31m`, `49d`, `2d3h` → seconds.
fn age_secs(s: &str) -> Option<i64> {
    let (mut total, mut num) = (0i64, String::new());
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        total = total.checked_add(n.checked_mul(match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'y' => 365 * 86_400,
            _ => return None,
        })?)?;
    }
    // A century is the most an age can mean; more is a broken table, not a time.
    (num.is_empty() && !s.is_empty() && total <= 100 * 365 * 86_400).then_some(total)
}

/// The indentation-structured fields of a describe: (indent, key, value) per line.
fn fields(text: &str) -> Vec<(usize, &str, &str)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            let t = l.trim_start();
            match t.split_once(':') {
                Some((k, v)) if !k.contains("  ") && !k.is_empty() => (indent, k, v.trim()),
                _ => (indent, "", t),
            }
        })
        .collect()
}

/// `key=value` lines under `Labels:` (the first on the key's line, the rest indented).
fn labels(lines: &[(usize, &str, &str)], key: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(i) = lines.iter().position(|(ind, k, _)| *ind == 0 && *k == key) else { return out };
    let mut add = |s: &str| {
        if let Some((k, v)) = s.split_once('=') {
            out.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
        }
    };
    add(lines[i].2);
    for (_, k, v) in &lines[i + 1..] {
        if !k.is_empty() {
            break;
        }
        add(v);
    }
    out
}

/// The rows of an events table (under `Events:` in a describe, or `kubectl events`).
fn event_rows(text: &str, now: Time, ns: &str, object: Option<(&str, &str)>, unread: &mut usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut header: Option<(Vec<(String, usize)>, usize)> = None;
    for l in text.lines() {
        let t = l.trim_start();
        if t.starts_with("Type ") && t.contains("Reason") && t.contains(" Age ") || t.starts_with("LAST SEEN") {
            let indent = l.len() - t.len();
            let mut cols = Vec::new();
            let bytes = l.as_bytes();
            let mut i = indent;
            while i < l.len() {
                let start = i;
                while i < l.len() && !(bytes[i] == b' ' && (i + 1 >= l.len() || bytes[i + 1] == b' ')) {
                    i += 1;
                }
                cols.push((l[start..i].trim().to_ascii_uppercase(), start));
                while i < l.len() && bytes[i] == b' ' {
                    i += 1;
                }
            }
            header = Some((cols, indent));
            continue;
        }
        let Some((cols, indent)) = &header else { continue };
        if t.starts_with("----") {
            continue;
        }
        if l.len() - t.len() < *indent || t.is_empty() {
            header = None;
            continue;
        }
        let cell = |name: &str| -> Option<&str> {
            let k = cols.iter().position(|(c, _)| c == name)?;
            let from = cols[k].1;
            let to = cols.get(k + 1).map_or(l.len(), |c| c.1);
            l.get(from.min(l.len())..to.min(l.len())).map(str::trim).filter(|s| !s.is_empty())
        };
        let age = cell("AGE").or_else(|| cell("LAST SEEN")).unwrap_or("");
        let (last, count) = match age.split_once(" (x") {
            Some((a, rest)) => (a.trim(), rest.split(' ').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(1)),
            None => (age, 1),
        };
        let Some(secs) = age_secs(last) else {
            *unread += 1;
            continue;
        };
        let at = Time(now.0.saturating_sub(secs.saturating_mul(1_000_000_000)));
        let (kind, name) = match (cell("OBJECT").and_then(|o| o.split_once('/')), object) {
            (Some((k, n)), _) => (capitalise(k), n.to_string()),
            (None, Some((k, n))) => (k.to_string(), n.to_string()),
            (None, None) => {
                *unread += 1;
                continue;
            }
        };
        out.push(json!({
            "kind": "Event",
            "type": cell("TYPE").unwrap_or("Normal"),
            "reason": cell("REASON").unwrap_or(""),
            "message": cell("MESSAGE").unwrap_or(""),
            "count": count,
            "lastTimestamp": at.to_rfc3339(),
            "metadata": { "namespace": ns },
            "involvedObject": { "kind": kind, "name": name, "namespace": ns },
        }));
    }
    out
}

fn capitalise(k: &str) -> String {
    match k.to_ascii_lowercase().as_str() {
        "pod" => "Pod".into(),
        "deployment" => "Deployment".into(),
        "replicaset" => "ReplicaSet".into(),
        "job" => "Job".into(),
        "node" => "Node".into(),
        _ => k.to_string(),
    }
}

/// Objects in a describe or events text. Ages are read against `now`, or when it is `None`
/// against the latest absolute time the text holds (the moment it was captured, as near as
/// the text can say); a text with ages and no absolute time needs `now`. Returns nothing
/// when the text is neither.
/// Also returns how many table rows could not be read (an age such as `<unknown>`, a row
/// without an object): counted, never dropped unsaid.
pub fn parse(text: &str, now: Option<Time>) -> Result<(Vec<Value>, usize), String> {
    let text = unwrap_tool_output(text);
    let lines = fields(text);
    let get = |key: &str| lines.iter().find(|(i, k, _)| *i == 0 && *k == key).map(|(_, _, v)| *v);
    let latest = lines.iter().filter_map(|(_, _, v)| rfc2822(v)).filter_map(|s| Time::parse_rfc3339(&s).ok()).max();
    let now = match (now, latest) {
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => {
            return Err("nothing in the text says when it was captured (events are dated only by their age, such as `49m`, and no absolute time is readable): pass --now".into());
        }
    };
    let mut unread = 0;
    let Some(name) = get("Name") else {
        // A bare events table (`kubectl events`).
        let ns = text
            .lines()
            .find_map(|l| l.split_once("-n ").map(|(_, n)| n.split_whitespace().next().unwrap_or("default")))
            .unwrap_or("default");
        let rows = event_rows(text, now, ns, None, &mut unread);
        return Ok((rows, unread));
    };
    let ns = get("Namespace").unwrap_or("default");
    let mut meta = json!({ "name": name, "namespace": ns, "labels": labels(&lines, "Labels") });
    let annotations = labels(&lines, "Annotations");
    let mut out = Vec::new();
    if let Some(by) = get("Controlled By").and_then(|c| c.split_once('/')) {
        meta["ownerReferences"] = json!([{ "kind": by.0, "name": by.1 }]);
    }
    if let Some(rep) = get("Replicas") {
        // Deployment: `1 desired | 1 updated | 1 total | 0 available | 1 unavailable`.
        let num = |what: &str| {
            rep.split('|')
                .find(|p| p.trim().ends_with(what))
                .and_then(|p| p.split_whitespace().next()?.parse::<u64>().ok())
        };
        meta["annotations"] = Value::Object(
            annotations
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain(
                    // describe prints annotations as `key: value`, not `key=value`.
                    get("Annotations")
                        .and_then(|a| a.split_once(": "))
                        .map(|(k, v)| (k.trim().to_string(), Value::String(v.trim().to_string()))),
                )
                .collect(),
        );
        if let Some(c) = get("CreationTimestamp").and_then(rfc2822) {
            meta["creationTimestamp"] = Value::String(c);
        }
        out.push(json!({
            "kind": "Deployment",
            "metadata": meta,
            "spec": { "replicas": num("desired").unwrap_or(1) },
            "status": {
                "replicas": num("total").unwrap_or(0),
                "updatedReplicas": num("updated").unwrap_or(0),
                "availableReplicas": num("available").unwrap_or(0),
                "unavailableReplicas": num("unavailable").unwrap_or(0),
                "conditions": conditions(text, now),
            },
        }));
        out.extend(event_rows(text, now, ns, Some(("Deployment", name)), &mut unread));
        return Ok((out, unread));
    }
    if get("Roles").is_some() || get("Taints").is_some() {
        // A node: its conditions (the importer counts the object; its events are the node's).
        out.push(json!({ "kind": "Node", "metadata": meta, "status": { "conditions": conditions(text, now) } }));
        out.extend(event_rows(text, now, ns, Some(("Node", name)), &mut unread));
        return Ok((out, unread));
    }
    // A pod: its containers, each with State and Last State.
    let mut containers = Vec::new();
    let mut section = "";
    let mut current: Option<Map<String, Value>> = None;
    let mut state_key = "";
    for (ind, k, v) in &lines {
        if *ind == 0 {
            section = k;
            continue;
        }
        if !matches!(section, "Containers" | "Init Containers") {
            continue;
        }
        if *ind == 2 && v.is_empty() {
            if let Some(c) = current.take() {
                containers.push((section == "Init Containers", c));
            }
            let mut c = Map::new();
            c.insert("name".into(), Value::String(k.to_string()));
            current = Some(c);
            continue;
        }
        let Some(c) = current.as_mut() else { continue };
        match *k {
            "State" | "Last State" => {
                state_key = if *k == "State" { "state" } else { "lastState" };
                let s = match *v {
                    "Waiting" => "waiting",
                    "Running" => "running",
                    "Terminated" => "terminated",
                    _ => "",
                };
                if !s.is_empty() {
                    c.insert(state_key.into(), json!({ s: {} }));
                }
            }
            "Reason" | "Exit Code" | "Started" | "Finished" if !state_key.is_empty() => {
                if let Some(Value::Object(st)) = c.get_mut(state_key)
                    && let Some((_, Value::Object(inner))) = st.iter_mut().next()
                {
                    let (field, value) = match *k {
                        "Reason" => ("reason", Value::String(v.to_string())),
                        "Exit Code" => ("exitCode", v.parse::<i64>().map_or(Value::Null, Value::from)),
                        "Started" => ("startedAt", rfc2822(v).map_or(Value::Null, Value::String)),
                        _ => ("finishedAt", rfc2822(v).map_or(Value::Null, Value::String)),
                    };
                    if !value.is_null() {
                        inner.insert(field.into(), value);
                    }
                }
            }
            "Restart Count" => {
                c.insert("restartCount".into(), v.parse::<u64>().map_or(Value::Null, Value::from));
                state_key = "";
            }
            "Ready" => {
                c.insert("ready".into(), Value::Bool(*v == "True"));
                state_key = "";
            }
            _ => {}
        }
    }
    if let Some(c) = current.take() {
        containers.push((section == "Init Containers", c));
    }
    let (init, main): (Vec<_>, Vec<_>) = containers.into_iter().partition(|(i, _)| *i);
    let strip =
        |v: Vec<(bool, Map<String, Value>)>| -> Vec<Value> { v.into_iter().map(|(_, c)| Value::Object(c)).collect() };
    let mut status = json!({
        "phase": get("Status").unwrap_or(""),
        "containerStatuses": strip(main),
        "initContainerStatuses": strip(init),
        "conditions": conditions(text, now),
    });
    if let Some(s) = get("Start Time").and_then(rfc2822) {
        status["startTime"] = Value::String(s);
    }
    if let Some(n) = get("Node") {
        meta["nodeName"] = Value::String(n.split('/').next().unwrap_or(n).to_string());
    }
    out.push(json!({ "kind": "Pod", "metadata": meta, "status": status }));
    out.extend(event_rows(text, now, ns, Some(("Pod", name)), &mut unread));
    Ok((out, unread))
}

/// The `Conditions:` table (Type, Status[, Reason]), without times (describe prints none).
fn conditions(text: &str, _now: Time) -> Vec<Value> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        if l.starts_with("Conditions:") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if !l.starts_with(' ') {
            break;
        }
        let cols: Vec<&str> = l.split_whitespace().collect();
        if cols.first().is_some_and(|c| *c == "Type" || c.starts_with("--")) {
            continue;
        }
        if let [ty, status, rest @ ..] = cols.as_slice() {
            let mut c = json!({ "type": ty, "status": status });
            if let Some(r) = rest.first() {
                c["reason"] = Value::String(r.to_string());
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_kubectl_prints_them() {
        assert_eq!(age_secs("6m40s"), Some(400));
        assert_eq!(age_secs("87s"), Some(87));
        assert_eq!(age_secs("5h31m"), Some(5 * 3600 + 31 * 60));
        assert_eq!(age_secs("49d"), Some(49 * 86_400));
        assert_eq!(age_secs("x"), None);
        assert_eq!(age_secs("5"), None);
    }

    #[test]
    fn a_described_pod_becomes_a_pod_with_its_container_states() {
        let text = "Name:         web-7d9f8b6c5-x2x4z\nNamespace:    prod\nLabels:       app=web\n              pod-template-hash=7d9f8b6c5\nControlled By:  ReplicaSet/web-7d9f8b6c5\nContainers:\n  app:\n    State:          Waiting\n      Reason:       CrashLoopBackOff\n    Last State:     Terminated\n      Reason:       OOMKilled\n      Exit Code:    137\n      Finished:     Thu, 27 Feb 2025 07:36:22 +0100\n    Ready:          False\n    Restart Count:  6\nEvents:\n  Type     Reason   Age                  From     Message\n  ----     ------   ----                 ----     -------\n  Warning  BackOff  87s (x23 over 6m33s)  kubelet  Back-off restarting failed container app in pod web\n";
        let (objs, unread) = parse(text, None).unwrap();
        assert_eq!(unread, 0);
        assert_eq!(objs[0]["kind"], "Pod");
        assert_eq!(objs[0]["metadata"]["labels"]["app"], "web");
        assert_eq!(objs[0]["metadata"]["ownerReferences"][0]["name"], "web-7d9f8b6c5");
        let c = &objs[0]["status"]["containerStatuses"][0];
        assert_eq!(c["lastState"]["terminated"]["reason"], "OOMKilled");
        assert_eq!(c["lastState"]["terminated"]["finishedAt"], "2025-02-27T06:36:22Z");
        assert_eq!(c["restartCount"], 6);
        assert_eq!(objs[1]["reason"], "BackOff");
        assert_eq!(objs[1]["count"], 23);
        // 87 s before the latest time the text holds.
        assert_eq!(objs[1]["lastTimestamp"], "2025-02-27T06:34:55Z");
    }

    #[test]
    fn tool_recordings_are_unwrapped() {
        let t = "{\"toolset_name\":\"kubernetes/core\"}\n{\"schema_version\":\"robusta:v1.0.0\"}\nstdout:\nName: x\n\nstderr:\n";
        assert_eq!(unwrap_tool_output(t), "Name: x\n\n");
        assert_eq!(unwrap_tool_output("Name: y\n"), "Name: y\n");
    }
}
