//! `understudy shadow`: decide on live alerts, act on nothing, audit everything.

use std::path::PathBuf;

use understudy::classify::rules::Rules;
use understudy::live::audit_log::AuditLog;
use understudy::live::shadow::{self, Msg, Receiver};
use understudy::policy::Policy;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Run the policy in shadow mode: receive Alertmanager webhooks, classify, decide, and append
/// every decision to the audit log (fsynced). Nothing is executed.
///
/// Point an Alertmanager webhook receiver at http://HOST:PORT/webhook/alertmanager with
/// `http_config: { authorization: { credentials: <token> } }`; requests without the bearer
/// token get 401. Stop with Ctrl-C. Watching pods and events through --kubeconfig is not
/// implemented yet: today shadow mode sees what Alertmanager sends.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "scenarios/policy.yaml", value_name = "POLICY")]
    policy: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9094")]
    listen: String,
    /// The audit log (JSON Lines, appended, fsynced per record).
    #[arg(long, default_value = "audit.jsonl", value_name = "FILE")]
    audit_log: PathBuf,
    /// Environment variable holding the bearer token (never a flag or a file).
    #[arg(long, default_value = "UNDERSTUDY_WEBHOOK_TOKEN", value_name = "VAR")]
    token_env: String,
    /// Classifier rules.
    #[arg(long, default_value = "scenarios/classifier-rules.yaml", value_name = "FILE")]
    rules: PathBuf,
    /// Where episodes are written when shadow mode stops (CSV).
    #[arg(long, default_value = "shadow-episodes.csv", value_name = "FILE")]
    episodes: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let policy = or_bad_input!(Policy::load(&args.policy)).policy;
    let rules = or_bad_input!(Rules::load(&args.rules));
    let token = std::env::var(&args.token_env).unwrap_or_default();
    if token.len() < 16 {
        eprintln!("error: set ${} to a bearer token of at least 16 characters; requests must carry it", args.token_env);
        return Ok(EXIT_BAD_INPUT);
    }
    let (log, recovery) = AuditLog::open(&args.audit_log)?;
    if let Some(t) = &recovery.torn {
        eprintln!(
            "warning: {} ended in a torn line at byte {} (a crash mid-write); kept in {} and cut from the log",
            args.audit_log.display(),
            t.offset,
            t.kept_in.display()
        );
    }
    if !recovery.corrupt_lines.is_empty() {
        eprintln!(
            "warning: {} has lines that are not JSON objects: {:?}",
            args.audit_log.display(),
            recovery.corrupt_lines
        );
    }
    let episodes = Box::new(std::io::BufWriter::new(std::fs::File::create(&args.episodes)?));
    let (tx, worker) = shadow::spawn_worker(policy, move || rules, log, episodes);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result: anyhow::Result<()> = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        println!("listening on {}", listener.local_addr()?);
        println!("shadow mode: decisions go to {}; nothing is executed", args.audit_log.display());
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
    println!("stopped: {episodes} episode(s) written to {}", args.episodes.display());
    Ok(EXIT_OK)
}
