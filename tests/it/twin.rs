//! The twin with the real kubectl binary: get with label selectors, scale (and server-side
//! dry-run), rollout restart, status and undo; and an action through the API having its
//! effect on the simulated world.

use std::path::Path;
use std::process::Command;

use crate::{Daemon, eventually};

struct Kubectl {
    kubeconfig: std::path::PathBuf,
    cache: std::path::PathBuf,
}

impl Kubectl {
    fn new(dir: &Path) -> Kubectl {
        Kubectl { kubeconfig: dir.join("kubeconfig"), cache: dir.join("kube-cache") }
    }

    fn try_run(&self, args: &[&str]) -> (bool, String, String) {
        let o = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .output()
            .expect("kubectl is installed on every machine");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn run(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.try_run(args);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    fn jsonpath(&self, what: &str, path: &str) -> String {
        self.run(&["get", what, "-o", &format!("jsonpath={path}")])
    }
}

fn twin(dir: &Path, args: &[&str]) -> (Daemon, Kubectl) {
    let kc = dir.join("kubeconfig");
    let mut all = vec!["twin", "--listen", "127.0.0.1:0", "--kubeconfig-out", kc.to_str().unwrap()];
    all.extend_from_slice(args);
    (Daemon::start(&all, &[]), Kubectl::new(dir))
}

#[test]
fn kubectl_gets_scales_restarts_and_rolls_back_deployments_on_the_twin() {
    let dir = tempfile::tempdir().unwrap();
    let (_twin, k) = twin(dir.path(), &["--speed", "20"]);

    let pods = k.run(&["get", "pods", "-l", "app=checkout-api"]);
    let lines: Vec<&str> = pods.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("STATUS"), "{pods}");
    assert_eq!(lines.len(), 1 + 4, "checkout-api has 4 pods:\n{pods}");
    assert!(lines[1..].iter().all(|l| l.starts_with("checkout-api-") && l.contains("Running")), "{pods}");
    assert_eq!(k.run(&["get", "pods", "-l", "app in (payment-api, worker-consumer)", "-o", "name"]).lines().count(), 8);
    assert!(k.run(&["get", "deployments", "-A"]).contains("payment-api"));

    // A server-side dry-run changes nothing; a real scale does.
    let dry = k.run(&["scale", "deployment/payment-api", "--replicas=5", "--dry-run=server"]);
    assert!(dry.contains("scaled (server dry run)"), "{dry}");
    assert_eq!(k.jsonpath("deployment/payment-api", "{.spec.replicas}"), "3");
    assert!(k.run(&["scale", "deployment/payment-api", "--replicas=5"]).contains("scaled"));
    assert_eq!(k.jsonpath("deployment/payment-api", "{.spec.replicas}"), "5");
    eventually(30, "5 ready payment-api pods", || {
        (k.jsonpath("deployment/payment-api", "{.status.readyReplicas}") == "5").then_some(())
    });

    // rollout restart: a new ReplicaSet and revision, new pods, then a finished rollout.
    let before_pods = k.run(&["get", "pods", "-l", "app=checkout-api", "-o", "name"]);
    let rev = |k: &Kubectl| {
        k.jsonpath("deployment/checkout-api", "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}")
    };
    let r0: u32 = rev(&k).parse().unwrap();
    assert!(k.run(&["rollout", "restart", "deployment/checkout-api"]).contains("restarted"));
    assert_eq!(rev(&k).parse::<u32>().unwrap(), r0 + 1);
    let restarted = k.jsonpath("deployment/checkout-api", "{.spec.template.metadata.annotations}");
    assert!(restarted.contains("kubectl.kubernetes.io/restartedAt"), "{restarted}");
    let status = k.run(&["rollout", "status", "deployment/checkout-api", "--timeout=60s"]);
    assert!(status.contains("successfully rolled out"), "{status}");
    let after_pods = k.run(&["get", "pods", "-l", "app=checkout-api", "-o", "name"]);
    assert_eq!(after_pods.lines().count(), 4);
    assert!(after_pods.lines().all(|p| !before_pods.contains(p)), "every pod replaced:\n{before_pods}\n{after_pods}");

    // rollout undo goes back to the template before the restart: that ReplicaSet is reused.
    let sets = k.run(&["get", "rs", "-l", "app=checkout-api", "-o", "name"]).lines().count();
    assert!(k.run(&["rollout", "undo", "deployment/checkout-api"]).contains("rolled back"));
    assert_eq!(k.run(&["get", "rs", "-l", "app=checkout-api", "-o", "name"]).lines().count(), sets);
    let annotations = k.jsonpath("deployment/checkout-api", "{.spec.template.metadata.annotations}");
    assert!(!annotations.contains("restartedAt"), "{annotations}");
    // Back to an earlier release: the image changes.
    assert!(k.run(&["rollout", "undo", "deployment/checkout-api", "--to-revision=1"]).contains("rolled back"));
    let image = k.jsonpath("deployment/checkout-api", "{.spec.template.spec.containers[0].image}");
    assert_eq!(image, "registry.local/checkout-api:r29");
    let status = k.run(&["rollout", "status", "deployment/checkout-api", "--timeout=60s"]);
    assert!(status.contains("successfully rolled out"), "{status}");

    // Errors come back as Kubernetes Status objects kubectl understands.
    let (ok, _, err) = k.try_run(&["get", "deployment/nope"]);
    assert!(!ok && err.contains("\"nope\" not found"), "{err}");
    let (ok, _, err) =
        k.try_run(&["set", "image", "deployment/payment-api", "payment-api=registry.local/payment-api:r99"]);
    assert!(!ok && err.contains("r99 is not in this service's history"), "{err}");
    assert!(k.run(&["get", "events"]).contains("ScalingReplicaSet"));
}

fn metric(addr: &str, name: &str, service: &str) -> f64 {
    let text = ureq::get(&format!("http://{addr}/metrics")).call().unwrap().into_string().unwrap();
    let prefix = format!("{name}{{namespace=\"prod\",service=\"{service}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn a_restart_through_the_api_has_the_effect_a_simulated_restart_has() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = crate::repo("tests/e2e/memory-leak.yaml");
    let (twin, k) = twin(dir.path(), &[scenario.to_str().unwrap(), "--speed", "10"]);
    // The leak starts 30 s (3 s of wall time) in; pods are OOMKilled about 2 min later.
    eventually(60, "an OOM kill on payment-api", || {
        (metric(&twin.addr, "understudy_twin_oom_kills_total", "payment-api") > 0.0).then_some(())
    });
    assert!(metric(&twin.addr, "understudy_twin_memory_utilisation", "payment-api") > 0.3);
    assert_eq!(metric(&twin.addr, "understudy_twin_oom_kills_total", "checkout-api"), 0.0);
    let restarts = k.jsonpath("pods", "{.items[*].status.containerStatuses[0].lastState.terminated.reason}");
    assert!(restarts.contains("OOMKilled"), "{restarts}");

    k.run(&["rollout", "restart", "deployment/payment-api"]);
    k.run(&["rollout", "status", "deployment/payment-api", "--timeout=60s"]);
    let after = metric(&twin.addr, "understudy_twin_oom_kills_total", "payment-api");
    // A restart mitigates a leak for `returns_after` (12 h here): 30 s of wall time is 5 min
    // of world time, more than twice the OOM interval, and no pod is killed.
    std::thread::sleep(std::time::Duration::from_secs(30));
    assert_eq!(metric(&twin.addr, "understudy_twin_oom_kills_total", "payment-api"), after);
    assert!(metric(&twin.addr, "understudy_twin_memory_utilisation", "payment-api") <= 0.3 + 1e-9);
}
