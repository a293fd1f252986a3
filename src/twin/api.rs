//! The twin's HTTP surface: the subset of the Kubernetes API that kubectl and kube-rs use
//! for get, scale, rollout restart/status/undo and watches, plus `/metrics` for Prometheus.
//!
//! Owns discovery documents, URL routing, label and field selectors,
//! server-side Tables (kubectl's columns), watch streams and Status errors. Holds no world
//! state of its own: every request locks the [`Cluster`] briefly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::cluster::{ApiError, Change, Cluster, Kind};
use super::patch::{self, PatchType};
use crate::clock::{Clock, Time, WallClock};

/// Shared state of the server. There is no authentication: kubectl sends no credentials
/// over plain HTTP, so the twin only listens on loopback (the CLI refuses anything else).
#[derive(Clone)]
pub struct Twin {
    pub cluster: Arc<Mutex<Cluster>>,
}

impl Twin {
    fn lock(&self) -> std::sync::MutexGuard<'_, Cluster> {
        // A panic while holding the lock would be a bug; keep serving what is there.
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Advance the world with the wall clock, ten times a second, until the runtime stops.
pub async fn run_clock(twin: Twin) {
    let mut every = tokio::time::interval(Duration::from_millis(100));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        every.tick().await;
        twin.lock().advance(WallClock.now());
    }
}

fn status(e: &ApiError) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": e.message, "reason": e.reason, "code": e.code});
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn ok(v: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// The routes.
pub fn router(twin: Twin) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route(
            "/api",
            get(|| async { ok(&json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})) }),
        )
        .route("/apis", get(|| async { ok(&api_groups()) }))
        .route("/api/v1", get(|| async { ok(&core_resources()) }))
        .route("/apis/apps/v1", get(|| async { ok(&apps_resources()) }))
        .route("/api/v1/{resource}", get(core_all))
        .route("/api/v1/namespaces/{ns}", get(namespace))
        .route("/api/v1/namespaces/{ns}/{resource}", get(core_list).post(core_create))
        .route(
            "/api/v1/namespaces/{ns}/{resource}/{name}",
            get(core_get).put(core_put).patch(core_patch).delete(core_delete),
        )
        .route("/apis/apps/v1/{resource}", get(apps_all))
        .route("/apis/apps/v1/namespaces/{ns}/{resource}", get(apps_list))
        .route("/apis/apps/v1/namespaces/{ns}/{resource}/{name}", get(apps_get).put(apps_put).patch(apps_patch))
        .route(
            "/apis/apps/v1/namespaces/{ns}/{resource}/{name}/{sub}",
            get(apps_sub_get).put(apps_sub_put).patch(apps_sub_patch),
        )
        .with_state(twin)
}

async fn version() -> Response {
    ok(
        &json!({"major": "1", "minor": "32", "gitVersion": format!("v1.32.0+understudy-twin.{}", env!("CARGO_PKG_VERSION")),
        "platform": "linux/amd64", "goVersion": "n/a", "compiler": "rustc"}),
    )
}

async fn metrics(State(t): State<Twin>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], t.lock().metrics()).into_response()
}

fn api_groups() -> Value {
    let apps = json!({"groupVersion": "apps/v1", "version": "v1"});
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "apps", "versions": [apps], "preferredVersion": apps},
    ]})
}

fn resource(name: &str, kind: &str, namespaced: bool, verbs: &[&str], short: &[&str]) -> Value {
    json!({"name": name, "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind, "verbs": verbs, "shortNames": short})
}

fn core_resources() -> Value {
    let read = ["get", "list", "watch"];
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
        resource("namespaces", "Namespace", false, &read, &["ns"]),
        resource("pods", "Pod", true, &read, &["po"]),
        resource("events", "Event", true, &read, &["ev"]),
        resource("configmaps", "ConfigMap", true, &["create", "delete", "get", "list", "patch", "update", "watch"], &["cm"]),
    ]})
}

fn apps_resources() -> Value {
    let mut scale = resource("deployments/scale", "Scale", true, &["get", "patch", "update"], &[]);
    scale["group"] = json!("autoscaling");
    scale["version"] = json!("v1");
    scale["singularName"] = json!("");
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1", "resources": [
        resource("deployments", "Deployment", true, &["get", "list", "patch", "update", "watch"], &["deploy"]),
        scale,
        resource("deployments/status", "Deployment", true, &["get"], &[]),
        resource("replicasets", "ReplicaSet", true, &["get", "list", "watch"], &["rs"]),
    ]})
}

fn core_kind(resource: &str) -> Result<Kind, ApiError> {
    match resource {
        "pods" => Ok(Kind::Pod),
        "events" => Ok(Kind::Event),
        "configmaps" => Ok(Kind::ConfigMap),
        "namespaces" => Ok(Kind::Namespace),
        other => Err(ApiError::no_resource(other)),
    }
}

fn apps_kind(resource: &str) -> Result<Kind, ApiError> {
    match resource {
        "deployments" => Ok(Kind::Deployment),
        "replicasets" => Ok(Kind::ReplicaSet),
        other => Err(ApiError::no_resource(other)),
    }
}

type Params = Query<std::collections::BTreeMap<String, String>>;

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return status(&e),
        }
    };
}

async fn core_all(State(t): State<Twin>, Path(res): Path<String>, q: Params, h: HeaderMap) -> Response {
    let kind = tri!(core_kind(&res));
    collection(&t, kind, None, &q, &h).await
}

async fn namespace(State(t): State<Twin>, Path(ns): Path<String>, h: HeaderMap) -> Response {
    let v = tri!(t.lock().get(Kind::Namespace, "", &ns));
    respond_one(&v, &h)
}

async fn core_list(
    State(t): State<Twin>,
    Path((ns, res)): Path<(String, String)>,
    q: Params,
    h: HeaderMap,
) -> Response {
    let kind = tri!(core_kind(&res));
    collection(&t, kind, Some(ns), &q, &h).await
}

async fn apps_all(State(t): State<Twin>, Path(res): Path<String>, q: Params, h: HeaderMap) -> Response {
    let kind = tri!(apps_kind(&res));
    collection(&t, kind, None, &q, &h).await
}

async fn apps_list(
    State(t): State<Twin>,
    Path((ns, res)): Path<(String, String)>,
    q: Params,
    h: HeaderMap,
) -> Response {
    let kind = tri!(apps_kind(&res));
    collection(&t, kind, Some(ns), &q, &h).await
}

async fn core_get(
    State(t): State<Twin>,
    Path((ns, res, name)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    let kind = tri!(core_kind(&res));
    let v = tri!(t.lock().get(kind, &ns, &name));
    respond_one(&v, &h)
}

async fn apps_get(
    State(t): State<Twin>,
    Path((ns, res, name)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    let kind = tri!(apps_kind(&res));
    let v = tri!(t.lock().get(kind, &ns, &name));
    respond_one(&v, &h)
}

fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the request body is not JSON: {e}")))
}

fn dry_run(q: &Params) -> Result<bool, ApiError> {
    match q.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!("dryRun: unsupported value {other:?} (only \"All\")"))),
    }
}

fn configmap_only(res: &str, method: &Method) -> Result<(), ApiError> {
    if res == "configmaps" {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(format!("{method} is not supported on {res} by the twin")))
    }
}

async fn core_create(
    State(t): State<Twin>,
    Path((ns, res)): Path<(String, String)>,
    q: Params,
    body: Bytes,
) -> Response {
    tri!(configmap_only(&res, &Method::POST));
    let v = tri!(json_body(&body));
    let Some(name) = v.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string) else {
        return status(&ApiError::invalid("metadata.name: Required value"));
    };
    if tri!(dry_run(&q)) {
        return (StatusCode::CREATED, ok(&v)).into_response();
    }
    let out = tri!(t.lock().put_configmap(&ns, &name, Some(v), true));
    (StatusCode::CREATED, ok(&out)).into_response()
}

async fn core_put(
    State(t): State<Twin>,
    Path((ns, res, name)): Path<(String, String, String)>,
    q: Params,
    body: Bytes,
) -> Response {
    tri!(configmap_only(&res, &Method::PUT));
    let v = tri!(json_body(&body));
    if tri!(dry_run(&q)) {
        return ok(&v);
    }
    let out = tri!(t.lock().put_configmap(&ns, &name, Some(v), false));
    ok(&out)
}

async fn core_patch(
    State(t): State<Twin>,
    Path((ns, res, name)): Path<(String, String, String)>,
    q: Params,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    tri!(configmap_only(&res, &Method::PATCH));
    let mut c = t.lock();
    let new = tri!(patched(&c, Kind::ConfigMap, &ns, &name, &h, &body));
    if tri!(dry_run(&q)) {
        return ok(&new);
    }
    let out = tri!(c.put_configmap(&ns, &name, Some(new), false));
    ok(&out)
}

async fn core_delete(
    State(t): State<Twin>,
    Path((ns, res, name)): Path<(String, String, String)>,
    q: Params,
) -> Response {
    tri!(configmap_only(&res, &Method::DELETE));
    if tri!(dry_run(&q)) {
        let v = tri!(t.lock().get(Kind::ConfigMap, &ns, &name));
        return ok(&v);
    }
    let out = tri!(t.lock().put_configmap(&ns, &name, None, false));
    ok(&out)
}

/// The object as the PATCH request would leave it (not stored).
fn patched(c: &Cluster, kind: Kind, ns: &str, name: &str, h: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let (ty, p) = patch_of(h, body)?;
    let current = c.get(kind, ns, name)?;
    patch::apply(ty, &current, &p).map_err(ApiError::invalid)
}

fn patch_of(h: &HeaderMap, body: &Bytes) -> Result<(PatchType, Value), ApiError> {
    let ct = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ty = PatchType::from_content_type(ct).ok_or_else(|| ApiError {
        code: 415,
        reason: "UnsupportedMediaType",
        message: format!("the twin takes json-patch, merge-patch and strategic-merge-patch, not {ct:?} (server-side apply is not supported)"),
    })?;
    Ok((ty, json_body(body)?))
}

fn deployments_only(res: &str) -> Result<(), ApiError> {
    if res == "deployments" {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(format!("{res} are read-only in the twin")))
    }
}

async fn apps_put(
    State(t): State<Twin>,
    Path((ns, res, name)): Path<(String, String, String)>,
    q: Params,
    body: Bytes,
) -> Response {
    tri!(deployments_only(&res));
    let v = tri!(json_body(&body));
    let dry = tri!(dry_run(&q));
    let out = tri!(t.lock().update_deployment(&ns, &name, &v, dry));
    ok(&out)
}

async fn apps_patch(
    State(t): State<Twin>,
    Path((ns, res, name)): Path<(String, String, String)>,
    q: Params,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    tri!(deployments_only(&res));
    let dry = tri!(dry_run(&q));
    let mut c = t.lock();
    let new = tri!(patched(&c, Kind::Deployment, &ns, &name, &h, &body));
    let out = tri!(c.update_deployment(&ns, &name, &new, dry));
    ok(&out)
}

fn subresource(res: &str, sub: &str) -> Result<(), ApiError> {
    if res == "deployments" && (sub == "scale" || sub == "status") {
        Ok(())
    } else {
        Err(ApiError::no_resource(&format!("{res}/{sub}")))
    }
}

async fn apps_sub_get(
    State(t): State<Twin>,
    Path((ns, res, name, sub)): Path<(String, String, String, String)>,
) -> Response {
    tri!(subresource(&res, &sub));
    let c = t.lock();
    let v = if sub == "scale" { tri!(c.scale(&ns, &name)) } else { tri!(c.get(Kind::Deployment, &ns, &name)) };
    ok(&v)
}

async fn scale_to(t: &Twin, ns: &str, name: &str, scale: &Value, dry: bool) -> Response {
    let Some(replicas) = scale.pointer("/spec/replicas").and_then(Value::as_u64) else {
        return status(&ApiError::invalid("spec.replicas: Required value"));
    };
    let mut c = t.lock();
    let mut d = tri!(c.get(Kind::Deployment, ns, name));
    d["spec"]["replicas"] = json!(replicas);
    let out = tri!(c.update_deployment(ns, name, &d, dry));
    let mut s = tri!(c.scale(ns, name));
    if dry {
        s["spec"]["replicas"] = out["spec"]["replicas"].clone();
    }
    ok(&s)
}

async fn apps_sub_put(
    State(t): State<Twin>,
    Path((ns, res, name, sub)): Path<(String, String, String, String)>,
    q: Params,
    body: Bytes,
) -> Response {
    tri!(subresource(&res, &sub));
    if sub != "scale" {
        return status(&ApiError::method_not_allowed("status is written by the twin"));
    }
    let v = tri!(json_body(&body));
    let dry = tri!(dry_run(&q));
    scale_to(&t, &ns, &name, &v, dry).await
}

async fn apps_sub_patch(
    State(t): State<Twin>,
    Path((ns, res, name, sub)): Path<(String, String, String, String)>,
    q: Params,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    tri!(subresource(&res, &sub));
    if sub != "scale" {
        return status(&ApiError::method_not_allowed("status is written by the twin"));
    }
    let (ty, p) = tri!(patch_of(&h, &body));
    let dry = tri!(dry_run(&q));
    let current = tri!(t.lock().scale(&ns, &name));
    let new = tri!(patch::apply(ty, &current, &p).map_err(ApiError::invalid));
    scale_to(&t, &ns, &name, &new, dry).await
}

// ----- selectors ---------------------------------------------------------------------------

/// One requirement of a label or field selector.
#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

/// Parse a selector (`app=a,tier!=web,env in (prod,staging),!canary`).
fn parse_selector(s: &str) -> Result<Vec<Req>, ApiError> {
    let mut out = Vec::new();
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in s.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    for p in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || ApiError::bad_request(format!("unable to parse requirement {p:?}"));
        let set = |rest: &str| -> Result<Vec<String>, ApiError> {
            let inner = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(bad)?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let req = if let Some(k) = p.strip_prefix('!') {
            Req::Absent(k.trim().to_string())
        } else if let Some((k, v)) = p.split_once("!=") {
            Req::Ne(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
            Req::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, rest)) = p.split_once(" notin ") {
            Req::NotIn(k.trim().into(), set(rest)?)
        } else if let Some((k, rest)) = p.split_once(" in ") {
            Req::In(k.trim().into(), set(rest)?)
        } else if p.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
            Req::Exists(p.to_string())
        } else {
            return Err(bad());
        };
        out.push(req);
    }
    Ok(out)
}

fn matches(reqs: &[Req], get: impl Fn(&str) -> Option<String>) -> bool {
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
        Req::Ne(k, v) => get(k).as_deref() != Some(v.as_str()),
        Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
        Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
        Req::Exists(k) => get(k).is_some(),
        Req::Absent(k) => get(k).is_none(),
    })
}

/// Label and field selectors of a request.
struct Filter {
    labels: Vec<Req>,
    fields: Vec<Req>,
}

impl Filter {
    fn from(q: &Params) -> Result<Filter, ApiError> {
        Ok(Filter {
            labels: parse_selector(q.get("labelSelector").map_or("", String::as_str))?,
            fields: parse_selector(q.get("fieldSelector").map_or("", String::as_str))?,
        })
    }

    fn accepts(&self, obj: &Value) -> bool {
        matches(&self.labels, |k| {
            obj.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str).map(str::to_string)
        }) && matches(&self.fields, |k| {
            let ptr = format!("/{}", k.replace('.', "/"));
            obj.pointer(&ptr).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        })
    }
}

// ----- lists, tables, watches --------------------------------------------------------------

fn wants_table(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=Table"))
}

fn respond_one(v: &Value, h: &HeaderMap) -> Response {
    if wants_table(h) {
        let kind = kind_of(v);
        return ok(&table(kind, std::slice::from_ref(v), v["metadata"]["resourceVersion"].as_str().unwrap_or("")));
    }
    ok(v)
}

fn kind_of(v: &Value) -> Kind {
    match v["kind"].as_str() {
        Some("Pod") => Kind::Pod,
        Some("Deployment") => Kind::Deployment,
        Some("ReplicaSet") => Kind::ReplicaSet,
        Some("Event") => Kind::Event,
        Some("ConfigMap") => Kind::ConfigMap,
        _ => Kind::Namespace,
    }
}

async fn collection(t: &Twin, kind: Kind, ns: Option<String>, q: &Params, h: &HeaderMap) -> Response {
    let filter = tri!(Filter::from(q));
    if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return watch(t, kind, ns, filter, q);
    }
    let (items, rv) = {
        let c = t.lock();
        let items: Vec<Value> = c.list(kind, ns.as_deref()).into_iter().filter(|o| filter.accepts(o)).collect();
        (items, c.resource_version().to_string())
    };
    if wants_table(h) {
        return ok(&table(kind, &items, &rv));
    }
    ok(
        &json!({"kind": format!("{}List", kind.name()), "apiVersion": kind.api_version(), "metadata": {"resourceVersion": rv}, "items": items}),
    )
}

fn watch(t: &Twin, kind: Kind, ns: Option<String>, filter: Filter, q: &Params) -> Response {
    // At most an hour, as API servers cap a watch (`--min-request-timeout` is 30 min).
    let timeout = q.get("timeoutSeconds").and_then(|s| s.parse::<u64>().ok()).unwrap_or(1800).min(3600);
    let since: Option<u64> = q.get("resourceVersion").and_then(|s| s.parse().ok()).filter(|&v| v > 0);
    let (rx, initial) = {
        let c = t.lock();
        let rx = c.subscribe();
        let initial: Vec<(u64, &'static str, Value)> = c
            .list(kind, ns.as_deref())
            .into_iter()
            .filter(|o| filter.accepts(o))
            .filter_map(|o| {
                let rv: u64 = o["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
                match since {
                    None => Some((rv, "ADDED", o)),
                    Some(s) if rv > s => Some((rv, "MODIFIED", o)),
                    Some(_) => None,
                }
            })
            .collect();
        (rx, initial)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let floor = since.unwrap_or(0).max(initial.iter().map(|(rv, ..)| *rv).max().unwrap_or(0));
    let line = |ty: &str, obj: &Value| Bytes::from(format!("{}\n", json!({"type": ty, "object": obj})));
    let first: Vec<Result<Bytes, std::io::Error>> = initial.iter().map(|(_, ty, o)| Ok(line(ty, o))).collect();
    struct W {
        rx: tokio::sync::broadcast::Receiver<Arc<Change>>,
        kind: Kind,
        ns: Option<String>,
        filter: Filter,
        floor: u64,
        deadline: tokio::time::Instant,
    }
    let w = W { rx, kind, ns, filter, floor, deadline };
    let rest = futures_util::stream::unfold(w, move |mut w| async move {
        loop {
            let next = tokio::time::timeout_at(w.deadline, w.rx.recv()).await;
            let change = match next {
                Ok(Ok(c)) => c,
                // Timed out, lagged behind (the client re-lists) or shut down: end the stream.
                _ => return None,
            };
            if change.kind != w.kind || change.rv <= w.floor || w.ns.as_deref().is_some_and(|n| n != change.namespace) {
                continue;
            }
            if !w.filter.accepts(&change.object) {
                continue;
            }
            w.floor = change.rv;
            let bytes = Bytes::from(format!("{}\n", json!({"type": change.r#type, "object": change.object})));
            return Some((Ok::<Bytes, std::io::Error>(bytes), w));
        }
    });
    let stream = futures_util::StreamExt::chain(futures_util::stream::iter(first), rest);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// kubectl's AGE: 45s, 12m, 3h, 2d.
fn age(created: Option<&str>) -> String {
    let Some(t) = created.and_then(|c| Time::parse_rfc3339(c).ok()) else { return "<unknown>".into() };
    let s = (WallClock.now().nanos() - t.nanos()).max(0) / 1_000_000_000;
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A server-side Table with kubectl's usual columns for `kind`.
fn table(kind: Kind, items: &[Value], rv: &str) -> Value {
    let cols: &[&str] = match kind {
        Kind::Pod => &["Name", "Ready", "Status", "Restarts", "Age"],
        Kind::Deployment => &["Name", "Ready", "Up-to-date", "Available", "Age"],
        Kind::ReplicaSet => &["Name", "Desired", "Current", "Ready", "Age"],
        Kind::Event => &["Last Seen", "Type", "Reason", "Object", "Message"],
        Kind::ConfigMap => &["Name", "Data", "Age"],
        Kind::Namespace => &["Name", "Status", "Age"],
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let name = o["metadata"]["name"].clone();
            let created = o["metadata"]["creationTimestamp"].as_str();
            let cells = match kind {
                Kind::Pod => {
                    let cs = o["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
                    let ready = cs.iter().filter(|c| c["ready"] == true).count();
                    let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
                    let reason = cs
                        .iter()
                        .find_map(|c| {
                            c.pointer("/state/waiting/reason")
                                .or_else(|| c.pointer("/state/terminated/reason"))
                                .and_then(Value::as_str)
                        })
                        .unwrap_or_else(|| o["status"]["phase"].as_str().unwrap_or("Unknown"));
                    let restarts: u64 = cs.iter().filter_map(|c| c["restartCount"].as_u64()).sum();
                    json!([name, format!("{ready}/{total}"), reason, restarts, age(created)])
                }
                Kind::Deployment => {
                    let s = &o["status"];
                    let ready = s["readyReplicas"].as_u64().unwrap_or(0);
                    json!([
                        name,
                        format!("{ready}/{}", o["spec"]["replicas"]),
                        s["updatedReplicas"],
                        s["availableReplicas"],
                        age(created)
                    ])
                }
                Kind::ReplicaSet => json!([
                    name,
                    o["spec"]["replicas"],
                    o["status"]["replicas"],
                    o["status"]["readyReplicas"],
                    age(created)
                ]),
                Kind::Event => {
                    let obj = format!(
                        "{}/{}",
                        o["involvedObject"]["kind"].as_str().unwrap_or("").to_lowercase(),
                        o["involvedObject"]["name"].as_str().unwrap_or("")
                    );
                    json!([age(o["lastTimestamp"].as_str()), o["type"], o["reason"], obj, o["message"]])
                }
                Kind::ConfigMap => json!([name, o["data"].as_object().map_or(0, |d| d.len()), age(created)]),
                Kind::Namespace => json!([name, o["status"]["phase"], age(created)]),
            };
            json!({"cells": cells, "object": o})
        })
        .collect();
    let defs: Vec<Value> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"name": c, "type": "string", "format": if i == 0 && *c == "Name" { "name" } else { "" }, "description": "", "priority": 0}))
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv}, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_and_match_like_kubernetes() {
        let labels = json!({"metadata": {"labels": {"app": "checkout", "tier": "web"}, "name": "x"}});
        let f = |l: &str, fl: &str| {
            Filter { labels: parse_selector(l).unwrap(), fields: parse_selector(fl).unwrap() }.accepts(&labels)
        };
        assert!(f("app=checkout", ""));
        assert!(f("app==checkout,tier!=db", ""));
        assert!(f("app in (payment, checkout),!canary", ""));
        assert!(!f("app notin (checkout)", ""));
        assert!(!f("app=payment", ""));
        assert!(f("tier", "metadata.name=x"));
        assert!(!f("", "metadata.name=y"));
        assert!(parse_selector("app in checkout").is_err());
    }
}
