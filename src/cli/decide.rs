//! `understudy decide`: incidents in (JSON lines), decisions out (JSON lines, input order).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use understudy::clock::Time;
use understudy::decide::{Incident, Pipeline};
use understudy::diag::{Code, Diagnostic, Pos};
use understudy::jsonl;
use understudy::policy::Policy;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Decide what the policy would do for each incident, without acting.
///
/// Reads one JSON incident per line, e.g.
/// {"at":"2026-11-24T10:00:00Z","service":"payment-api","namespace":"prod","incident_type":"memory-leak","confidence":0.95,"signal":"OOMKilled"}
/// and prints one JSON decision per line, in input order, with the exact command a person
/// would type and the reason. Incidents must be in time order: cooldowns and attempt caps
/// count from earlier ones. A bad line is reported on stderr with its line and column and
/// the rest are still decided; the exit code is then 2.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy file.
    #[arg(long, default_value = "scenarios/policy.yaml", value_name = "POLICY")]
    policy: PathBuf,
    /// Incidents as JSON lines; `-` reads standard input.
    #[arg(long, value_name = "FILE", default_value = "-")]
    incidents: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let loaded = or_bad_input!(Policy::load(&args.policy));
    let stdin = args.incidents.as_os_str() == "-";
    let (name, reader): (PathBuf, Box<dyn BufRead>) = if stdin {
        (PathBuf::from("<stdin>"), Box::new(BufReader::new(std::io::stdin().lock())))
    } else {
        match understudy::diag::open_input(&args.incidents) {
            Ok(f) => (args.incidents.clone(), Box::new(BufReader::new(f))),
            Err(d) => {
                eprint!("{}", d.render(None));
                return Ok(EXIT_BAD_INPUT);
            }
        }
    };
    let mut pipeline = Pipeline::new(loaded.policy);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let bad = decide_stream(&name, reader, &mut pipeline, &mut out, stdin)?;
    out.flush().context("writing decisions")?;
    Ok(if bad > 0 { EXIT_BAD_INPUT } else { EXIT_OK })
}

/// Decide every line; report bad lines on stderr. Returns how many lines were bad.
fn decide_stream(
    name: &Path,
    mut reader: Box<dyn BufRead>,
    pipeline: &mut Pipeline,
    out: &mut impl Write,
    flush_each: bool,
) -> anyhow::Result<usize> {
    let mut bad = 0;
    let mut last: Option<Time> = None;
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        let read = understudy::jsonl::read_line(&mut reader, &mut buf, understudy::limits::MAX_LINE_BYTES)
            .context("reading incidents")?;
        if read == understudy::jsonl::Read::Eof {
            break;
        }
        line_no += 1;
        if read == understudy::jsonl::Read::TooLong {
            bad += 1;
            eprint!("{}", understudy::jsonl::too_long(name, line_no).render(None));
            continue;
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim_end_matches(['\n', '\r']),
            Err(e) => {
                bad += 1;
                let d = Diagnostic::error(
                    Code::NotText,
                    name,
                    Some(Pos { line: line_no, col: e.valid_up_to() + 1 }),
                    "line is not UTF-8 text",
                );
                eprint!("{}", d.render(None));
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let incident = jsonl::parse_line::<Incident>(name, line_no, text).and_then(|i| {
            i.check().map_err(|m| Diagnostic::error(Code::BadValue, name, Some(Pos { line: line_no, col: 1 }), m))?;
            if let Some(prev) = last
                && i.at < prev
            {
                return Err(Diagnostic::error(
                    Code::BadValue,
                    name,
                    Some(Pos { line: line_no, col: 1 }),
                    format!("incident at {} is earlier than the one before it ({prev})", i.at),
                )
                .with_hint("sort incidents by `at`: cooldowns and attempt caps count from earlier incidents"));
            }
            Ok(i)
        });
        match incident {
            Ok(i) => {
                last = Some(i.at);
                let d = pipeline.decide(i.at, &i);
                serde_json::to_writer(&mut *out, &d)?;
                out.write_all(b"\n")?;
                if flush_each {
                    out.flush()?;
                }
            }
            Err(d) => {
                bad += 1;
                eprint!("{}", d.render_line(Some(text)));
            }
        }
    }
    Ok(bad)
}
