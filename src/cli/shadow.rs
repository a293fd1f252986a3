//! `understudy shadow`: decide on live alerts, act on nothing, audit everything. Also the
//! serving loop `live` shares.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use understudy::classify::rules::Rules;
use understudy::live::audit_log::AuditLog;
use understudy::live::controller::Controller;
use understudy::live::shadow::{self, Msg, Receiver};
use understudy::policy::Policy;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// What shadow and live mode share.
#[derive(Debug, clap::Args)]
pub struct Common {
    #[arg(long, default_value = "scenarios/policy.yaml", value_name = "POLICY")]
    pub policy: PathBuf,
    /// Address to listen on (port 0 picks a free port; the address is printed first).
    #[arg(long, default_value = "127.0.0.1:9094")]
    pub listen: String,
    /// The audit log (JSON Lines, appended, fsynced per record).
    #[arg(long, default_value = "audit.jsonl", value_name = "FILE")]
    pub audit_log: PathBuf,
    /// Environment variable holding the bearer token (never a flag or a file).
    #[arg(long, default_value = "UNDERSTUDY_WEBHOOK_TOKEN", value_name = "VAR")]
    pub token_env: String,
    /// Classifier rules.
    #[arg(long, default_value = "scenarios/classifier-rules.yaml", value_name = "FILE")]
    pub rules: PathBuf,
    /// Where episodes are written when the receiver stops (CSV).
    #[arg(long, default_value = "shadow-episodes.csv", value_name = "FILE")]
    pub episodes: PathBuf,
}

/// Run the policy in shadow mode: receive Alertmanager webhooks, classify, decide, and append
/// every decision to the audit log (fsynced). Nothing is executed.
///
/// Point an Alertmanager webhook receiver at http://HOST:PORT/webhook/alertmanager with
/// `http_config: { authorization: { credentials: <token> } }`; requests without the bearer
/// token get 401. Stop with Ctrl-C. The same alert replayed from a trace gives the same
/// decision record, byte for byte.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let policy = or_bad_input!(Policy::load(&args.common.policy)).policy;
    serve(&args.common, policy, |_| Ok(None), "shadow mode: decisions go to {audit}; nothing is executed")
}

/// Load the rules and the token, open the audit log (reporting a torn last line), build the
/// controller (`None`: shadow), then serve the webhook until Ctrl-C.
pub fn serve(
    c: &Common,
    policy: Policy,
    controller: impl FnOnce(Arc<Mutex<AuditLog>>) -> anyhow::Result<Option<Controller>>,
    banner: &str,
) -> anyhow::Result<u8> {
    let rules = or_bad_input!(Rules::load(&c.rules));
    let token = std::env::var(&c.token_env).unwrap_or_default();
    if token.len() < 16 {
        eprintln!("error: set ${} to a bearer token of at least 16 characters; requests must carry it", c.token_env);
        return Ok(EXIT_BAD_INPUT);
    }
    let (log, recovery) = AuditLog::open(&c.audit_log)?;
    if let Some(t) = &recovery.torn {
        eprintln!(
            "warning: {} ended in a torn line at byte {} (a crash mid-write); kept in {} and cut from the log",
            c.audit_log.display(),
            t.offset,
            t.kept_in.display()
        );
    }
    if !recovery.corrupt_lines.is_empty() {
        eprintln!(
            "warning: {} has lines that are not JSON objects: {:?}",
            c.audit_log.display(),
            recovery.corrupt_lines
        );
    }
    let log = Arc::new(Mutex::new(log));
    let controller = controller(Arc::clone(&log))?;
    let episodes = Box::new(std::io::BufWriter::new(std::fs::File::create(&c.episodes)?));
    let (tx, worker) = shadow::spawn_worker(policy, move || rules, log, episodes, controller);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result: anyhow::Result<()> = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&c.listen).await?;
        println!("listening on {}", listener.local_addr()?);
        println!("{}", banner.replace("{audit}", &c.audit_log.display().to_string()));
        let app = shadow::router(Receiver { token, tx: tx.clone() });
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    });
    let (reply, done) = tokio::sync::oneshot::channel();
    let _ = tx.send(Msg::Finish(reply));
    let episodes = rt.block_on(done).ok().and_then(Result::ok).unwrap_or(0);
    let _ = worker.join();
    result?;
    println!("stopped: {episodes} episode(s) written to {}", c.episodes.display());
    Ok(EXIT_OK)
}
