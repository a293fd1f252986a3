//! The three patch types a Kubernetes API server takes: JSON patch (RFC 6902), JSON merge
//! patch (RFC 7386) and strategic merge patch.
//!
//! Strategic merge here covers what kubectl and kube-rs send to Deployments: maps merge
//! recursively, `null` deletes, lists of objects with a `name` (containers, env, ports,
//! volumes) merge by name, other lists are replaced, and the `$patch: replace|delete` and
//! `$setElementOrder/…`/`$retainKeys` directives are honoured or ignored as the API server
//! would for these types. Owns no objects: `apply` maps one JSON value to another.

use serde_json::Value;

/// A patch request's type, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            _ => None,
        }
    }
}

/// Apply `patch` of type `t` to `target`.
pub fn apply(t: PatchType, target: &Value, patch: &Value) -> Result<Value, String> {
    let mut out = target.clone();
    match t {
        PatchType::Json => {
            let p: json_patch::Patch =
                serde_json::from_value(patch.clone()).map_err(|e| format!("not a JSON patch: {e}"))?;
            json_patch::patch(&mut out, &p).map_err(|e| e.to_string())?;
        }
        PatchType::Merge => json_patch::merge(&mut out, patch),
        PatchType::Strategic => strategic(&mut out, patch)?,
    }
    Ok(out)
}

fn strategic(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut v = patch.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("$patch");
        }
        *target = v;
        return Ok(());
    }
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let t = target.as_object_mut().expect("just made an object");
    for (k, v) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(_) => strategic(t.entry(k.clone()).or_insert(Value::Null), v)?,
            Value::Array(items) => {
                let merge_by_name = items.iter().all(|i| i.get("name").is_some_and(Value::is_string))
                    && !items.is_empty()
                    && t.get(k).is_some_and(Value::is_array);
                if merge_by_name {
                    let list = t.get_mut(k).and_then(Value::as_array_mut).expect("checked above");
                    for item in items {
                        let name = &item["name"];
                        let pos = list.iter().position(|x| &x["name"] == name);
                        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                        match (pos, delete) {
                            (Some(i), true) => {
                                list.remove(i);
                            }
                            (None, true) => {}
                            (Some(i), false) => strategic(&mut list[i], item)?,
                            (None, false) => list.push(item.clone()),
                        }
                    }
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "a", "image": "a:r1"}, {"name": "b", "image": "b:r1"}]}}}})
    }

    #[test]
    fn kubectl_rollout_restart_adds_an_annotation_and_keeps_everything_else() {
        let p = json!({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-25T10:00:00Z"}}}}});
        let out = apply(PatchType::Strategic, &deployment(), &p).unwrap();
        assert_eq!(
            out["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "2026-11-25T10:00:00Z"
        );
        assert_eq!(out["spec"]["template"]["metadata"]["labels"]["app"], "a");
        assert_eq!(out["spec"]["replicas"], 3);
    }

    #[test]
    fn strategic_lists_merge_by_name_and_plain_merge_replaces_them() {
        let p = json!({"spec":{"template":{"spec":{"containers":[{"name":"b","image":"b:r2"}]}}}});
        let s = apply(PatchType::Strategic, &deployment(), &p).unwrap();
        assert_eq!(s["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 2);
        assert_eq!(s["spec"]["template"]["spec"]["containers"][1]["image"], "b:r2");
        let m = apply(PatchType::Merge, &deployment(), &p).unwrap();
        assert_eq!(m["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 1);
        let d = json!({"spec":{"template":{"spec":{"containers":[{"name":"a","$patch":"delete"}]}}}});
        let s = apply(PatchType::Strategic, &deployment(), &d).unwrap();
        assert_eq!(s["spec"]["template"]["spec"]["containers"][0]["name"], "b");
    }

    #[test]
    fn json_patch_replaces_the_template_as_rollout_undo_does_and_reports_bad_paths() {
        let p = json!([{"op":"replace","path":"/spec/template","value":{"metadata":{}}},{"op":"replace","path":"/spec/replicas","value":5}]);
        let out = apply(PatchType::Json, &deployment(), &p).unwrap();
        assert_eq!(out["spec"]["template"], json!({"metadata":{}}));
        assert_eq!(out["spec"]["replicas"], 5);
        let bad = json!([{"op":"replace","path":"/nope/deeper","value":1}]);
        assert!(apply(PatchType::Json, &deployment(), &bad).is_err());
        assert!(apply(PatchType::Json, &deployment(), &json!({"not": "a list"})).is_err());
    }

    #[test]
    fn null_deletes_in_merge_and_strategic() {
        let p = json!({"spec":{"replicas":null}});
        for t in [PatchType::Merge, PatchType::Strategic] {
            let out = apply(t, &deployment(), &p).unwrap();
            assert!(out["spec"].get("replicas").is_none(), "{t:?}");
        }
        assert_eq!(PatchType::from_content_type("application/merge-patch+json; charset=utf-8"), Some(PatchType::Merge));
        assert_eq!(PatchType::from_content_type("application/apply-patch+yaml"), None);
    }
}
