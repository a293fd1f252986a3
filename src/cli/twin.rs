//! `understudy twin`: serve a scenario's world as a Kubernetes API.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use understudy::clock::{Clock, WallClock};
use understudy::sim::scenario::Scenario;
use understudy::twin::{self, Cluster, Twin};

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Serve a simulated world as a Kubernetes API for real kubectl, `understudy live` and
/// Prometheus.
///
/// The scenario's services become Deployments (pods labelled app=<service>), its faults
/// happen on schedule (times count from the twin's start), and writes act on the world:
/// `kubectl scale`, `kubectl rollout restart` and `kubectl rollout undo` have the effects a
/// simulated scale, restart or rollback has. GET /metrics (no token) gives each service's
/// error ratio, latency, CPU, memory, OOM kills and replicas for Prometheus. The twin has no
/// authentication (kubectl sends no credentials over plain HTTP), so it only listens on
/// loopback. Stop with Ctrl-C.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario file; none serves the default services with no faults.
    scenario: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: String,
    /// Write a kubeconfig for the twin here.
    #[arg(long, value_name = "FILE", default_value = "twin.kubeconfig")]
    kubeconfig_out: PathBuf,
    /// How many times faster than the wall clock the world runs.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Seed of the scenario's fault draws and pod jitter.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= 10_000.0) {
        eprintln!("error: --speed must be a number in (0, 10000], got {}", args.speed);
        return Ok(EXIT_BAD_INPUT);
    }
    let scenario = match &args.scenario {
        Some(p) => or_bad_input!(Scenario::load(p)).0,
        None => Scenario::quiet(),
    };
    let namespace = scenario.services.first().map_or("default".to_string(), |s| s.namespace.clone());
    let cluster = Cluster::new(scenario, args.seed, args.speed, WallClock.now());
    let state = Twin { cluster: Arc::new(Mutex::new(cluster)) };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            anyhow::bail!("the twin has no authentication and only listens on loopback, not {addr}");
        }
        let server = format!("http://{addr}");
        write_private(&args.kubeconfig_out, &twin::kubeconfig(&server, &namespace))?;
        println!("listening on {addr}");
        println!("kubeconfig: {}", args.kubeconfig_out.display());
        println!("metrics: {server}/metrics");
        std::io::stdout().flush()?;
        tokio::spawn(twin::run_clock(state.clone()));
        axum::serve(listener, twin::router(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })?;
    Ok(EXIT_OK)
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
