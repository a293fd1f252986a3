//! `understudy check`: validate files and report every problem in each.

use std::path::PathBuf;

use understudy::diag::{Code, Diagnostic, Report, read_source};
use understudy::policy::Policy;
use understudy::yaml;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Validate policy files (and, as they land, scenarios and traces).
///
/// Prints every problem in every file at once, each as `file:line:column`, what is wrong and
/// a hint. Exit 0 when all files are valid (warnings allowed), 2 otherwise.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let mut failed = 0;
    for file in &args.files {
        let mut report = Report::new();
        match check_one(file, &mut report) {
            Some(summary) if !report.has_errors() => {
                eprint!("{report}");
                println!("ok: {}: {summary}", file.display());
            }
            _ => {
                failed += 1;
                eprint!("{report}");
                println!("FAILED: {}: {} error(s)", file.display(), report.error_count().max(1));
            }
        }
    }
    Ok(if failed > 0 { EXIT_BAD_INPUT } else { EXIT_OK })
}

/// What kind of file this is, judged by its top-level keys.
fn check_one(file: &std::path::Path, report: &mut Report) -> Option<String> {
    let text = match read_source(file) {
        Ok(t) => t,
        Err(d) => {
            report.push(d);
            return None;
        }
    };
    report.add_source(file, &text);
    let root = match yaml::parse(file, &text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            report.push(
                Diagnostic::error(Code::Empty, file, None, "the file is empty")
                    .with_hint("expected a policy (`remediation_policies:`); see scenarios/policy.yaml"),
            );
            return None;
        }
        Err(ds) => {
            report.extend(ds);
            return None;
        }
    };
    let keys = root.keys();
    if keys.iter().any(|k| matches!(*k, "remediation_policies" | "remediation_policy" | "guardrails")) {
        match Policy::from_yaml(file, &text) {
            Ok(loaded) => {
                report.extend(loaded.warnings);
                let p = loaded.policy;
                Some(format!("policy, {} incident type(s), fingerprint {}", p.remediations.len(), p.fingerprint()))
            }
            Err(ds) => {
                report.extend(ds);
                None
            }
        }
    } else {
        report.push(
            Diagnostic::error(Code::UnknownFormat, file, Some(root.pos), "cannot tell what kind of file this is")
                .with_hint("a policy has `remediation_policies:` at the top level; see scenarios/policy.yaml"),
        );
        None
    }
}
