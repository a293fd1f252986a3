//! `understudy replay`: recorded history through the classifier and the policy.

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Duration;

use understudy::audit::Jsonl;
use understudy::classify::external::{Endpoint, External};
use understudy::classify::rules::Rules;
use understudy::classify::{Classifier, Recorded};
use understudy::clock::parse_duration;
use understudy::escalate::{Book, Context, Escalating};
use understudy::policy::Policy;
use understudy::replay::{self, Replayer, Settings};
use understudy::report::replay::{ReplayProvenance, json, markdown, page};
use understudy::trace;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Which classifier labels the replayed incidents.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Which {
    /// Signal and alert names → types, from --rules.
    Rules,
    /// The trace's own `classification` records; one that names its incident is also where
    /// the recording decided (a simulation's or shadow's trace), and replay decides there
    /// (--decision-window then no longer applies)
    Recorded,
    /// A program (--classifier-cmd) or an HTTP endpoint (--classifier-url) speaking JSON.
    External,
}

/// Run a policy over recorded history and report what it would have done.
///
/// Reads traces (from `understudy import`) as a stream, opens episodes per service on the
/// rules file's symptoms, classifies each on everything it has shown (revised as evidence
/// arrives), decides when the label reaches the policy's threshold or --decision-window
/// ends, and compares with what people did and when the service recovered. Writes report.json, report.md, incidents.csv
/// (one row per episode) and decisions.jsonl (the same audit records `live` writes), and
/// index.html, the page to open.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Trace files (JSON Lines, time-ordered unless --allow-unsorted), each once; read side by
    /// side in time order, records at one time in the order of the files given.
    #[arg(required = true, value_name = "TRACE")]
    traces: Vec<PathBuf>,
    /// Policy file.
    #[arg(long, default_value = "scenarios/policy.yaml", value_name = "POLICY")]
    policy: PathBuf,
    /// Which classifier labels the episodes.
    #[arg(long, value_enum, default_value = "rules")]
    classifier: Which,
    /// Rules file: its `symptoms:` say which signals open an episode (whatever the
    /// classifier), its rules label episodes for --classifier rules.
    #[arg(long, default_value = "scenarios/classifier-rules.yaml", value_name = "FILE")]
    rules: PathBuf,
    /// How long an episode gathers evidence before it is decided, unless its classification
    /// reaches the policy's threshold sooner (0s: at the first symptom, as shadow and live).
    #[arg(long, default_value = "2m", value_name = "DURATION")]
    decision_window: String,
    /// Command for --classifier external (reads a JSON request on stdin, prints a JSON answer).
    #[arg(long, value_name = "CMD")]
    classifier_cmd: Option<String>,
    /// URL for --classifier external (receives a JSON POST).
    #[arg(long, value_name = "URL")]
    classifier_url: Option<String>,
    /// Timeout of the external classifier; a timeout counts as `unknown`.
    #[arg(long, default_value = "2s")]
    classifier_timeout: String,
    /// Sort out-of-order traces on the fly (external merge sort, bounded memory).
    #[arg(long)]
    allow_unsorted: bool,
    /// No symptom on a service for this long closes its episode (30m, 1h, …).
    #[arg(long, default_value = "30m", value_name = "DURATION")]
    episode_gap: String,
    /// Output folder.
    #[arg(long, default_value = "reports/replay", value_name = "DIR")]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let policy = or_bad_input!(Policy::load(&args.policy)).policy;
    let (quiet, timeout) = match (parse_duration(&args.episode_gap), parse_duration(&args.classifier_timeout)) {
        (Ok(q), _) if q.is_zero() => {
            eprintln!("error: --episode-gap must be longer than 0s: every symptom would be an episode of its own");
            return Ok(EXIT_BAD_INPUT);
        }
        (Ok(q), Ok(t)) => (q, t),
        (Err(e), _) => {
            eprintln!("error: --episode-gap {}: {e}", args.episode_gap);
            return Ok(EXIT_BAD_INPUT);
        }
        (_, Err(e)) => {
            eprintln!("error: --classifier-timeout {}: {e}", args.classifier_timeout);
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let window = match parse_duration(&args.decision_window) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: --decision-window {}: {e}", args.decision_window);
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let rules = or_bad_input!(Rules::load(&args.rules));
    let external;
    let recorded = Recorded::default();
    let (classifier, name): (&dyn Classifier, String) = match args.classifier {
        Which::Rules => (&rules, format!("rules ({})", args.rules.display())),
        Which::Recorded => (&recorded, "recorded".to_string()),
        Which::External => {
            let endpoint = match (&args.classifier_cmd, &args.classifier_url) {
                (Some(c), None) => Endpoint::Command(c.clone()),
                (None, Some(u)) => Endpoint::Http(u.clone()),
                _ => {
                    eprintln!("error: --classifier external needs exactly one of --classifier-cmd or --classifier-url");
                    return Ok(EXIT_BAD_INPUT);
                }
            };
            external = External::new(endpoint.clone(), timeout.max(Duration::from_millis(1)));
            (&external, format!("external ({endpoint:?}, timeout {})", args.classifier_timeout))
        }
    };

    if let Some((u, t)) = understudy::diag::repeated(&args.traces) {
        eprintln!(
            "error: {} and {} are the same trace: read twice, every incident would be replayed twice; pass it once",
            u.display(),
            t.display()
        );
        return Ok(EXIT_BAD_INPUT);
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: cannot make the output folder {}: {e}", args.out.display());
        return Ok(EXIT_BAD_INPUT);
    }
    let (json_p, csv_p, audit_p, md_p) = replay::output_files(&args.out);
    let outputs = [&json_p, &csv_p, &audit_p, &md_p, &args.out.join("escalations.jsonl"), &args.out.join("index.html")];
    for t in &args.traces {
        if let Some(o) = outputs.iter().find(|o| understudy::diag::same_file(t, o)) {
            eprintln!(
                "error: the trace {} is {}, which this replay writes: it would be emptied before it is read; pass another --out",
                t.display(),
                o.display()
            );
            return Ok(EXIT_BAD_INPUT);
        }
    }
    let episodes = BufWriter::new(std::fs::File::create(&csv_p)?);
    let audit = BufWriter::new(std::fs::File::create(&audit_p)?);
    let esc_p = args.out.join("escalations.jsonl");
    let book = Book::new(Context {
        mode: "replay".into(),
        scope: format!("replay/{}", args.traces.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",")),
        key_by_id: true,
        default_channel: policy.channels().map_or_else(|| "default".to_string(), |c| c.default.clone()),
        records: audit_p.display().to_string(),
        evidence_url: None,
        repeat: Context::repeats(policy.channels()),
    });
    let mut sink = Escalating::new(Jsonl(audit), book, BufWriter::new(std::fs::File::create(&esc_p)?));
    let mut replayer = Replayer::new(
        policy.clone(),
        classifier,
        Settings {
            quiet,
            symptoms: rules.symptoms.clone(),
            decision_window: window,
            decide_at_recorded: matches!(args.classifier, Which::Recorded),
            ..Settings::default()
        },
        episodes,
        Box::new(&mut sink),
    )?;

    let streams = match trace::open_all(&args.traces, args.allow_unsorted) {
        Ok(s) => s,
        Err(d) => {
            eprint!("{}", d.render(None));
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let mut errors = 0;
    let mut clocks = trace::clocks::Clocks::default();
    let wall = understudy::clock::Clock::now(&understudy::clock::WallClock);
    for item in replay::merge_tagged(streams) {
        match item {
            Ok((k, _, rec)) => {
                clocks.observe(k, &rec, wall);
                replayer.feed(&rec)?
            }
            Err(d) => {
                errors += 1;
                eprint!("{}", d.render(None));
                if errors >= 20 {
                    eprintln!("error: stopping after 20 bad records");
                    break;
                }
            }
        }
    }
    if errors > 0 {
        eprintln!("error: {errors} bad record(s); the replay is incomplete and no report was written");
        let _ = std::fs::remove_file(&csv_p);
        let _ = std::fs::remove_file(&audit_p);
        drop(replayer);
        drop(sink);
        let _ = std::fs::remove_file(&esc_p);
        return Ok(EXIT_BAD_INPUT);
    }
    let mut metrics = replayer.finish()?;
    let names: Vec<String> = args.traces.iter().map(|p| p.display().to_string()).collect();
    for w in clocks.warnings(&names) {
        eprintln!("warning: {w}");
    }
    metrics.escalations = sink.counts;
    let prov = ReplayProvenance {
        understudy_version: env!("CARGO_PKG_VERSION"),
        policy: args.policy.display().to_string(),
        policy_fingerprint: policy.fingerprint(),
        traces: args.traces.iter().map(|p| p.display().to_string()).collect(),
        classifier: name,
        sorted_on_the_fly: args.allow_unsorted,
    };
    std::fs::write(&json_p, json(&metrics, &prov))?;
    std::fs::write(&md_p, markdown(&metrics, &prov))?;
    let html_p = args.out.join("index.html");
    std::fs::write(&html_p, page(&metrics, &prov))?;
    println!(
        "{} record(s), {} episode(s): {} would execute, {} escalate; agreement with people {:.0}%.",
        metrics.records,
        metrics.episodes,
        metrics.decisions.get("execute").copied().unwrap_or(0),
        metrics.episodes - metrics.decisions.get("execute").copied().unwrap_or(0),
        metrics.agreement_rate * 100.0
    );
    if metrics.pages > 0 {
        let median = |m: &understudy::metrics::Summary| {
            if m.n == 0 { "–".to_string() } else { format!("{:.0} s", m.median) }
        };
        println!(
            "People (paging system): {} page(s), acknowledged in median {} (n={}), resolved in median {} (n={}); {} in no episode of the trace.",
            metrics.pages,
            median(&metrics.people_ack_seconds),
            metrics.people_ack_seconds.n,
            median(&metrics.people_resolve_seconds),
            metrics.people_resolve_seconds.n,
            metrics.pages_without_episode
        );
    }
    if !metrics.no_policy_types.is_empty() {
        let types: Vec<String> = metrics.no_policy_types.iter().map(|(t, n)| format!("{t} ({n})")).collect();
        println!("Types no policy covers: {}.", types.join(", "));
    }
    for p in [&html_p, &json_p, &csv_p, &audit_p, &esc_p, &md_p] {
        println!("  {}", p.display());
    }
    Ok(EXIT_OK)
}
