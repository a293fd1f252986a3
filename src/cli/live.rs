//! `understudy live`: the policy acts on a cluster, within its promotion.

use std::path::PathBuf;
use std::sync::Arc;

use understudy::clock::{Clock, WallClock};
use understudy::gate::Gate;
use understudy::gate::promotion::{self, Promotion};
use understudy::live::controller::Controller;
use understudy::live::executor::{Kube, Prometheus};
use understudy::live::stop::EmergencyStop;
use understudy::policy::Policy;

use super::EXIT_BAD_INPUT;
use super::shadow::{Common, serve};

/// Run the policy against a cluster: receive Alertmanager webhooks, classify, decide, and act
/// through the Kubernetes API on what the promotion allows.
///
/// Refuses to start (exit 2, naming the check) unless --promotion holds a record from
/// `understudy gate -o` that is signed with the key whose public half is --public-key, has
/// not been edited since, is for exactly this policy (fingerprint) and for the gate file
/// --gate (digest), was not decided in the future (5 min of clock skew allowed) and has not
/// expired (`valid_until`). Acts only on incident types promoted to auto-execute, only
/// in the policy's namespaces, and never while an emergency stop is set: the ConfigMap
/// `understudy-emergency-stop` in --namespace, or --stop-file. Each action is sent as a
/// server-side dry-run first and carries an idempotency marker. After the policy's
/// verification window, the cluster (and --prometheus with --verify-query) is read and a
/// verification record written. Every decision, outcome and verification is appended to the
/// audit log, fsynced; whatever escalates (a decision not executed, a refused or failed
/// action, a failed verification) is sent to the policy's escalation channel through the
/// outbox.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// The promotion record from `understudy gate -o` for exactly this policy.
    #[arg(long, value_name = "FILE")]
    promotion: PathBuf,
    /// The public key (`understudy keygen`'s `.pub`) whose signature the record must carry
    /// (default: $UNDERSTUDY_PUBLIC_KEY_FILE).
    #[arg(long, value_name = "FILE")]
    public_key: Option<PathBuf>,
    /// The gate file the operator trusts; the record must have been decided under it.
    #[arg(long, value_name = "FILE")]
    gate: PathBuf,
    /// Accept a record without a valid signature (the twin demo only): the signature and key
    /// are not checked; policy, gate and expiry still are. Warns at start and on every decision.
    #[arg(long)]
    allow_unsigned: bool,
    /// Kubeconfig of the cluster (default: in-cluster, then $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The controller's namespace, where the emergency-stop ConfigMap lives.
    #[arg(long, default_value = "understudy")]
    namespace: String,
    /// A local emergency stop: while this file exists, nothing is executed.
    #[arg(long, value_name = "FILE", default_value = "understudy.stop")]
    stop_file: PathBuf,
    /// Prometheus base URL for verification queries.
    #[arg(long, value_name = "URL", requires = "verify_query")]
    prometheus: Option<String>,
    /// PromQL that must return nothing or 0 when the service has recovered; `{service}` and
    /// `{namespace}` are filled in.
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    verify_query: Option<String>,
}

/// The environment variable naming the public key file.
pub const PUBLIC_KEY_ENV: &str = "UNDERSTUDY_PUBLIC_KEY_FILE";

pub fn run(args: Args) -> anyhow::Result<u8> {
    let policy = or_bad_input!(Policy::load(&args.common.policy)).policy;
    let promotion = match Promotion::load(&args.promotion) {
        Ok(p) => p,
        Err(report) => {
            eprint!("{report}");
            eprintln!(
                "live mode needs a promotion record: run `understudy simulate` and `understudy gate -o FILE` first"
            );
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let gate = or_bad_input!(Gate::load(&args.gate));
    let now = WallClock.now();
    let checked = if args.allow_unsigned {
        tracing::warn!(
            promotion = %args.promotion.display(),
            "--allow-unsigned: the promotion record's signature is NOT checked; anyone who can write {} decides what live may do",
            args.promotion.display()
        );
        promotion.verify_unsigned(&policy, &gate.digest, now)
    } else {
        let from_env = || std::env::var_os(PUBLIC_KEY_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
        let Some(path) = args.public_key.clone().or_else(from_env) else {
            eprintln!(
                "error: live needs the public key that signed {} (--public-key FILE or ${PUBLIC_KEY_ENV})",
                args.promotion.display()
            );
            eprintln!(
                "  = hint: `understudy keygen` writes the pair; `understudy gate --signing-key` signs with the secret half"
            );
            return Ok(EXIT_BAD_INPUT);
        };
        let key = match promotion::load_verifying_key(&path) {
            Ok(k) => k,
            Err(e) => {
                eprintln!("error: public key {e}");
                return Ok(EXIT_BAD_INPUT);
            }
        };
        promotion.verify(&key, &policy, &gate.digest, now)
    };
    if let Err(e) = checked {
        eprintln!("error: {}: promotion refused ({} check): {e}", args.promotion.display(), e.check());
        return Ok(EXIT_BAD_INPUT);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let prometheus =
        args.prometheus.clone().zip(args.verify_query.clone()).map(|(url, query)| Prometheus { url, query });
    let kube = match Kube::connect(rt.handle().clone(), args.kubeconfig.as_deref(), &args.namespace, prometheus) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: cannot configure the Kubernetes client: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    match kube.namespace_exists() {
        Ok(true) => eprintln!(
            "emergency stop: the file {} or the ConfigMap understudy-emergency-stop in namespace {}",
            args.stop_file.display(),
            args.namespace
        ),
        Ok(false) => {
            eprintln!(
                "error: namespace {} does not exist, so the emergency-stop ConfigMap understudy-emergency-stop could never be found there",
                args.namespace
            );
            eprintln!(
                "  = hint: create it (`kubectl create namespace {}`) or pass --namespace where understudy runs",
                args.namespace
            );
            return Ok(EXIT_BAD_INPUT);
        }
        Err(e) => eprintln!(
            "warning: cannot check that namespace {} exists ({e}); until the API answers, every action is stopped",
            args.namespace
        ),
    }
    let promoted: Vec<String> =
        promotion.promoted.iter().filter(|(_, p)| p.as_str() == "auto-execute").map(|(t, _)| t.clone()).collect();
    let banner = format!("live mode: auto-execute for {promoted:?}; decisions and outcomes go to {{audit}}");
    let fingerprint = policy.fingerprint();
    let stop = EmergencyStop::with_file(&args.stop_file);
    let allow_unsigned = args.allow_unsigned;
    let p2 = policy.clone();
    let result = serve(
        &args.common,
        policy,
        "live",
        move |journal| {
            Ok(Some(Controller {
                policy: p2,
                fingerprint,
                promotion: Some(promotion),
                allow_unsigned,
                executor: Arc::new(kube),
                stop,
                journal,
                clock: Arc::new(WallClock),
                verifications: Default::default(),
            }))
        },
        &banner,
    );
    drop(rt);
    result
}
