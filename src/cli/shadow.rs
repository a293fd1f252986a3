//! `understudy shadow`: decide on live alerts, act on nothing, audit everything. Also the
//! serving loop `live` shares.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use understudy::classify::rules::Rules;
use understudy::escalate::channels::Channels;
use understudy::escalate::{Book, Context};
use understudy::live::audit_log::AuditLog;
use understudy::live::controller::Controller;
use understudy::live::deliver;
use understudy::live::journal::{self, Journal};
use understudy::live::outbox::Outbox;
use understudy::live::restore::Restored;
use understudy::live::shadow::{self, Episodes, Msg, Receiver};
use understudy::policy::Policy;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// What shadow and live mode share.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Policy file.
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
    /// Escalation channels (a file with `channels:`); default: the policy file's own section.
    #[arg(long, value_name = "FILE")]
    pub channels: Option<PathBuf>,
    /// The escalation outbox (JSON Lines, fsynced); pending escalations are sent on start-up.
    #[arg(long, default_value = "escalations.outbox.jsonl", value_name = "FILE")]
    pub outbox: PathBuf,
    /// Escalations that could not be delivered (refused, or retries exhausted).
    #[arg(long, default_value = "escalations.dead.jsonl", value_name = "FILE")]
    pub dead_letter: PathBuf,
    /// A link to the evidence in every escalation, e.g. a dashboard:
    /// `https://grafana.example.com/d/svc?var-service={service}&var-namespace={namespace}&from={from_ms}&to={to_ms}`
    /// (also `{incident_type}`, `{dedup_key}`).
    #[arg(long, value_name = "TEMPLATE")]
    pub evidence_url: Option<String>,
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
    serve(&args.common, policy, "shadow", |_| Ok(None), "shadow mode: decisions go to {audit}; nothing is executed")
}

/// Load the rules, the token and the escalation channels (with their secrets), open the
/// audit log (reporting a torn last line) and the outbox (sending what it still holds), build
/// the controller (`None`: shadow), then serve the webhook until Ctrl-C.
pub fn serve(
    c: &Common,
    policy: Policy,
    mode: &'static str,
    controller: impl FnOnce(journal::Shared) -> anyhow::Result<Option<Controller>>,
    banner: &str,
) -> anyhow::Result<u8> {
    let rules = or_bad_input!(Rules::load(&c.rules));
    let token = std::env::var(&c.token_env).unwrap_or_default();
    if token.len() < 16 {
        eprintln!("error: set ${} to a bearer token of at least 16 characters; requests must carry it", c.token_env);
        return Ok(EXIT_BAD_INPUT);
    }
    let channels = match (&c.channels, policy.channels()) {
        (Some(f), _) => or_bad_input!(Channels::load(f)),
        (None, Some(ch)) => ch.clone(),
        (None, None) => {
            eprintln!(
                "error: {} has no `channels:` section and no --channels file was given: every escalation must reach a person",
                c.policy.display()
            );
            eprintln!(
                "  = hint: add e.g. `channels: {{ pagerduty-p1: {{ kind: pagerduty, routing_key_env: PAGERDUTY_ROUTING_KEY }} }}`"
            );
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let missing: Vec<String> = policy
        .remediations()
        .values()
        .filter(|r| !channels.channels.contains_key(&r.escalation_channel))
        .map(|r| format!("{} → {}", r.incident_type, r.escalation_channel))
        .collect();
    if !missing.is_empty() {
        eprintln!("error: escalation channels the policy names are not defined: {}", missing.join(", "));
        eprintln!(
            "  = hint: define them under `channels:` (defined: {})",
            channels.channels.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        return Ok(EXIT_BAD_INPUT);
    }
    let mut resolved = BTreeMap::new();
    for (name, ch) in &channels.channels {
        match ch.resolve(&|v| std::env::var(v).ok()) {
            Ok(r) => {
                resolved.insert(name.clone(), r);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(EXIT_BAD_INPUT);
            }
        }
    }
    // One pass over the log: checked, and read back into what a restart must remember.
    let mut restored = Restored::default();
    restored.last_written = std::fs::metadata(&c.audit_log)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| understudy::clock::Time(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)));
    let (log, recovery) = match AuditLog::open_with(&c.audit_log, |v| restored.fold(v)) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: cannot open the audit log {}: {e}", c.audit_log.display());
            eprintln!(
                "  = hint: --audit-log must be a file this user can read and append to (it is created if missing), and no other understudy process may have it open"
            );
            return Ok(EXIT_BAD_INPUT);
        }
    };
    if let Some(other) = restored.modes.iter().find(|m| *m != mode) {
        eprintln!("error: {} was written by {other} mode; {mode} mode needs a log of its own", c.audit_log.display());
        eprintln!(
            "  = hint: {}; give {mode} its own --audit-log",
            if mode == "live" {
                "live would count the actions shadow only recommended against cooldowns and attempt caps"
            } else {
                "shadow would count the actions live took as its own recommendations"
            }
        );
        return Ok(EXIT_BAD_INPUT);
    }
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
    let (outbox, opened) = match Outbox::open(&c.outbox, &c.dead_letter) {
        Ok(x) => x,
        Err(e) => {
            eprintln!(
                "error: cannot open the outbox {} (dead letters: {}): {e}",
                c.outbox.display(),
                c.dead_letter.display()
            );
            eprintln!("  = hint: --outbox and --dead-letter must be files this user can read and append to");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    if let Some(k) = &opened.torn_kept_in {
        eprintln!("warning: {} ended in a torn line (a crash mid-write); kept in {}", c.outbox.display(), k.display());
    }
    if !opened.corrupt_lines.is_empty() {
        eprintln!(
            "warning: {} has lines that are not outbox records: {:?}; kept in {}",
            c.outbox.display(),
            opened.corrupt_lines,
            opened.corrupt_kept_in.as_ref().map_or("?".into(), |p| p.display().to_string())
        );
    }
    if opened.pending > 0 {
        eprintln!("outbox: {} escalation(s) from before the restart are being sent", opened.pending);
    }
    let outbox = Arc::new(outbox);
    let senders = deliver::start(Arc::clone(&outbox), resolved);
    let book = Book::new(Context {
        mode: mode.to_string(),
        scope: mode.to_string(),
        key_by_id: false,
        default_channel: channels.default.clone(),
        records: c.audit_log.display().to_string(),
        evidence_url: c.evidence_url.clone(),
        repeat: Context::repeats(Some(&channels)),
    });
    let open_pages = outbox.open_pages().len();
    if open_pages > 0 {
        eprintln!(
            "outbox: {open_pages} page(s) opened before the restart are still open; each is resolved when its alert resolves"
        );
    }
    let journal = Journal::new(log, book, Arc::clone(&outbox)).shared();
    let controller = controller(Arc::clone(&journal))?;
    // An action dated after now (a clock that was wrong, an edited log) would hold a cooldown
    // and an hourly slot for ever: it is not restored, and said so.
    let horizon = understudy::clock::Clock::now(&understudy::clock::WallClock).saturating_add(Duration::from_secs(300));
    let future = restored.actions.iter().filter(|(_, _, at)| *at > horizon).count();
    if future > 0 {
        eprintln!(
            "warning: {future} action(s) in {} are dated after now; not counted against cooldowns or caps",
            c.audit_log.display()
        );
        restored.actions.retain(|(_, _, at)| *at <= horizon);
    }
    if restored.decisions > 0 && restored.modes.is_empty() {
        eprintln!(
            "warning: {} holds decisions but no `started` record (written by an older understudy): if shadow wrote it, give {mode} a log of its own",
            c.audit_log.display()
        );
    }
    if restored.unowned > 0 && mode == "live" {
        eprintln!(
            "warning: {} executed decision(s) in {} without an outcome were not written by live (shadow's, or from before modes were recorded): counted against the guardrails, not carried out",
            restored.unowned,
            c.audit_log.display()
        );
    }
    if restored.decisions > 0 {
        eprintln!(
            "restored from {}: {} decision(s), {} incident(s) still open, {} action(s) counted against cooldowns and attempt caps, {} applied action(s) still to verify, {} breaker(s) still tripped{}; episodes continue after e{}",
            c.audit_log.display(),
            restored.decisions,
            restored.open.len(),
            restored.actions.len(),
            restored.unverified.len(),
            restored.breakers.len(),
            if restored.breakers.is_empty() {
                String::new()
            } else {
                format!(" ({})", restored.breakers.keys().map(ToString::to_string).collect::<Vec<_>>().join(", "))
            },
            restored.last_episode
        );
    }
    journal::lock(&journal)
        .record(&understudy::audit::AuditRecord::Started {
            at: understudy::clock::Clock::now(&understudy::clock::WallClock),
            mode,
            policy_fingerprint: policy.fingerprint(),
            version: env!("CARGO_PKG_VERSION"),
        })
        .map_err(|e| anyhow::anyhow!("cannot write to the audit log {}: {e}", c.audit_log.display()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&c.episodes)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", c.episodes.display()))?;
    let header = file.metadata().map(|m| m.len() == 0).unwrap_or(true);
    let episodes = Episodes { out: Box::new(std::io::BufWriter::new(file)), header };
    let (tx, worker) =
        shadow::spawn_worker(policy, rules.symptoms.clone(), move || rules, journal, episodes, controller, restored);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result: anyhow::Result<()> = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&c.listen).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e} (is another process using the port, or the address not this machine's?)",
                c.listen
            )
        })?;
        println!("listening on {}", listener.local_addr()?);
        println!("{}", banner.replace("{audit}", &c.audit_log.display().to_string()));
        let app = shadow::router(Receiver { token, tx: tx.clone() });
        // Ctrl-C, or SIGTERM (how Kubernetes stops a pod): stop taking webhooks, close the
        // episodes and flush.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        shadow::serve(listener, app, async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
        Ok(())
    });
    let (reply, done) = tokio::sync::oneshot::channel();
    let _ = tx.send(Msg::Finish(reply));
    let finished = match rt.block_on(done) {
        Ok(r) => r,
        Err(_) => Err("the pipeline worker stopped before closing its episodes".to_string()),
    };
    let _ = worker.join();
    // Give deliveries in flight a moment; what is left stays in the outbox for the next start.
    let left = outbox.drain(Duration::from_secs(5));
    outbox.close();
    for s in senders {
        let _ = s.join();
    }
    if left > 0 {
        println!("outbox: {left} escalation(s) not yet delivered; they are sent when understudy next starts");
    }
    result?;
    match finished {
        Ok(episodes) => {
            println!("stopped: {episodes} episode(s) written to {}", c.episodes.display());
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: cannot write the episodes to {}: {e}", c.episodes.display());
            eprintln!(
                "  = hint: the decisions are in {}; check the disk and the file's permissions",
                c.audit_log.display()
            );
            Ok(super::EXIT_FAILED)
        }
    }
}
