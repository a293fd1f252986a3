//! Grid sweeps: policy parameters × scenarios × seeds, run in parallel and, for teams that
//! outgrow one machine, in shards (`--shard i/n`) merged afterwards.
//!
//! Owns the grid file, the enumeration of jobs (a fixed order, so job `k` is the same job on
//! every machine), a job's sufficient statistics, and the summary computed from jobs in job
//! order. That order is why the summary does not depend on threads or shards: floating-point
//! sums are always added in the same order. It writes nothing itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diag::{Code, Diagnostic, Report, read_source};
use crate::metrics::r4;
use crate::policy::{Policy, Setting, SettingError};
use crate::sim::{self, scenario::Scenario};
use crate::yaml::{self, Problem, Seg};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrid {
    pub policy: String,
    pub scenarios: Vec<String>,
    pub seeds: Vec<u64>,
    pub replications: Option<u32>,
    pub gate: Option<String>,
    pub parameters: BTreeMap<String, Vec<String>>,
}

/// A validated grid: files loaded, parameters parsed.
#[derive(Debug, Clone)]
pub struct Grid {
    pub policy: Policy,
    pub policy_path: String,
    pub scenarios: Vec<(String, Scenario)>,
    pub seeds: Vec<u64>,
    pub replications: u32,
    pub gate: Option<crate::gate::Gate>,
    /// Parameter name → its values (as written, and parsed).
    pub parameters: Vec<(String, Vec<(String, Setting)>)>,
    pub digest: String,
    /// The policy of each variant, in [`Grid::variants`] order, each validated as a file.
    policies: Vec<Policy>,
    /// Warnings a policy file holding a variant's values would get and the grid's own policy
    /// does not (`check --strict` refuses them), each with the value that causes it.
    pub warnings: Vec<String>,
}

impl Grid {
    /// Load a grid file and everything it names (paths relative to the grid file).
    pub fn load(path: &Path) -> Result<Grid, Report> {
        let text = read_source(path)?;
        Grid::from_yaml(path, &text)
    }

    /// A grid from its text; `path` names it in diagnostics and the files it names are
    /// read relative to it.
    pub fn from_yaml(path: &Path, text: &str) -> Result<Grid, Report> {
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())));
        let rel = |p: &str| -> PathBuf { if Path::new(p).is_absolute() { PathBuf::from(p) } else { base.join(p) } };
        let mut report = Report::new();
        report.add_source(path, text);
        let raw: RawGrid = match yaml::load_validated(
            path,
            text,
            "a grid (`policy:`, `scenarios:`, `seeds:`, `parameters:`)",
            |r: &RawGrid| (Some(r.clone()), Vec::<Problem>::new()),
        ) {
            Ok((r, _)) => r,
            Err(ds) => {
                report.extend(ds);
                return Err(report);
            }
        };
        let policy = match Policy::load(&rel(&raw.policy)) {
            Ok(l) => l.policy,
            Err(r) => return Err(r),
        };
        let mut problems = Vec::new();
        let mut parameters = Vec::new();
        for (name, values) in &raw.parameters {
            let mut parsed = Vec::new();
            for (i, v) in values.iter().enumerate() {
                // A value is taken only if the policy it makes is one a file could hold: the
                // setting goes through the policy's own validation.
                let checked = Setting::parse(name, v).and_then(|s| match policy.with(&s) {
                    Ok(_) => Ok(s),
                    Err(e @ SettingError::NoSuchType(_)) => Err(e.to_string()),
                    Err(e) => Err(format!("`{v}`: {e}")),
                });
                match checked {
                    Ok(s) => parsed.push((v.clone(), s)),
                    Err(e) => problems.push(Problem::error(
                        vec![Seg::key("parameters"), Seg::key(name), Seg::Index(i)],
                        Code::BadValue,
                        e,
                    )),
                }
            }
            if values.is_empty() {
                problems.push(Problem::error(
                    vec![Seg::key("parameters"), Seg::key(name)],
                    Code::BadValue,
                    "no values",
                ));
            }
            parameters.push((name.clone(), parsed));
        }
        if raw.seeds.is_empty() {
            problems.push(Problem::error(vec![Seg::key("seeds")], Code::BadValue, "no seeds"));
        }
        if let Some(n) = raw.replications
            && !(1..=crate::limits::MAX_REPLICATIONS).contains(&n)
        {
            problems.push(Problem::error(
                vec![Seg::key("replications")],
                Code::BadValue,
                format!("replications {n} is outside 1 to {}", crate::limits::MAX_REPLICATIONS),
            ));
        }
        if raw.scenarios.is_empty() {
            problems.push(Problem::error(vec![Seg::key("scenarios")], Code::BadValue, "no scenarios"));
        }
        if !problems.is_empty() {
            let root = yaml::parse(path, text).ok().flatten();
            if let Some(root) = root {
                report.extend(problems.into_iter().map(|p| p.into_diagnostic(path, &root)));
            }
            return Err(report);
        }
        // Counted before any is made: a grid of 10^9 variants is refused, not built.
        let count = parameters.iter().try_fold(1usize, |n, (_, v)| n.checked_mul(v.len()));
        if count.is_none_or(|n| n > crate::limits::MAX_GRID_VARIANTS) {
            report.push(
                Diagnostic::error(
                    Code::TooLarge,
                    path,
                    None,
                    format!(
                        "the grid makes {} policy variants, more than the limit of {}",
                        count.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string()),
                        crate::limits::MAX_GRID_VARIANTS
                    ),
                )
                .with_hint("split it into grids that vary fewer parameters at once"),
            );
            return Err(report);
        }
        let variants = variants_of(&parameters);
        // Values valid one by one can still make an invalid policy together: every variant is
        // validated as the file it would be.
        let mut policies = Vec::with_capacity(variants.len());
        let mut broken = Vec::new();
        // A warning the file itself does not get, but a variant would, is the grid's.
        let base_warnings = policy.warnings();
        let mut warnings: Vec<String> = Vec::new();
        for variant in &variants {
            let mut p = policy.clone();
            let mut before = base_warnings.clone();
            let mut labels = Vec::new();
            for ((name, values), &k) in parameters.iter().zip(variant) {
                labels.push(format!("{name}={}", values[k].0));
                match p.with_warnings(&values[k].1) {
                    Ok((q, ws)) => {
                        p = q;
                        // Each warning is the value's that first brings it.
                        let fresh: Vec<String> = ws.iter().filter(|w| !before.contains(w)).cloned().collect();
                        before = ws;
                        for w in fresh {
                            let w = format!("{name}={}: {w}", values[k].0);
                            if !warnings.contains(&w) && warnings.len() < 100 {
                                warnings.push(w);
                            }
                        }
                    }
                    Err(e) => {
                        broken.push(format!("{}: {e}", labels.join(", ")));
                        break;
                    }
                }
            }
            policies.push(p);
        }
        if let Some(first) = broken.first() {
            report.push(
                Diagnostic::error(Code::BadValue, path, None, first.clone())
                    .with_hint(format!("{} variant(s) in all; drop the values that cannot go together", broken.len())),
            );
            return Err(report);
        }
        let mut scenarios = Vec::new();
        for s in &raw.scenarios {
            match Scenario::load(&rel(s)) {
                Ok((sc, _)) => scenarios.push((s.clone(), sc)),
                Err(r) => return Err(r),
            }
        }
        let gate = match &raw.gate {
            Some(g) => Some(crate::gate::Gate::load(&rel(g))?),
            None => None,
        };
        Ok(Grid {
            policy,
            policy_path: raw.policy.clone(),
            scenarios,
            seeds: raw.seeds.clone(),
            replications: raw.replications.unwrap_or(5),
            gate,
            parameters,
            digest,
            policies,
            warnings,
        })
    }

    /// Policy variants: the cartesian product of parameter values, parameters in name order.
    pub fn variants(&self) -> Vec<Vec<usize>> {
        variants_of(&self.parameters)
    }

    /// The policy of variant `v` (an index into [`Grid::variants`]).
    pub fn policy_of(&self, v: usize) -> &Policy {
        &self.policies[v]
    }

    /// Jobs: (variant, scenario, seed) in that nesting; a job's index is stable.
    pub fn jobs(&self) -> Vec<(usize, usize, usize)> {
        let v = self.variants().len();
        (0..v)
            .flat_map(|a| (0..self.scenarios.len()).flat_map(move |b| (0..self.seeds.len()).map(move |c| (a, b, c))))
            .collect()
    }
}

/// The cartesian product of parameter values, parameters in name order.
fn variants_of(parameters: &[(String, Vec<(String, Setting)>)]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for (_, values) in parameters {
        out = out.into_iter().flat_map(|v| (0..values.len()).map(move |k| [v.clone(), vec![k]].concat())).collect();
    }
    out
}

/// Sums from which every summary figure is computed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub incidents: usize,
    pub automated: usize,
    pub verdicts: usize,
    pub passed: usize,
    pub made_worse: usize,
    pub loops: usize,
    pub actions: usize,
    pub false_confidence: usize,
    pub escalations: usize,
    pub pages: usize,
    pub ttr_policy_sum: f64,
    pub ttr_recommend_sum: f64,
    pub ttr_baseline_sum: f64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.incidents += o.incidents;
        self.automated += o.automated;
        self.verdicts += o.verdicts;
        self.passed += o.passed;
        self.made_worse += o.made_worse;
        self.loops += o.loops;
        self.actions += o.actions;
        self.false_confidence += o.false_confidence;
        self.escalations += o.escalations;
        self.pages += o.pages;
        self.ttr_policy_sum += o.ttr_policy_sum;
        self.ttr_recommend_sum += o.ttr_recommend_sum;
        self.ttr_baseline_sum += o.ttr_baseline_sum;
    }
}

/// One job's result, a line of `jobs.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub job: usize,
    pub variant: usize,
    pub scenario: usize,
    pub seed: u64,
    pub stats: Stats,
}

/// Run one job: `replications` replications of one scenario under one variant.
pub fn run_job(grid: &Grid, job: usize) -> JobResult {
    let (v, s, k) = grid.jobs()[job];
    let policy = grid.policy_of(v);
    let seed = grid.seeds[k];
    let mut st = Stats::default();
    for r in 0..grid.replications {
        let rep = sim::run_replication(&grid.scenarios[s].1, policy, seed, r);
        for i in &rep.incidents {
            st.incidents += 1;
            st.automated += usize::from(i.arms.policy.outcome == sim::Outcome::Automation);
            for a in &i.actions {
                st.verdicts += usize::from(a.verified.is_some());
                st.passed += usize::from(a.verified == Some(true));
            }
            st.made_worse += usize::from(i.made_worse());
            st.loops += usize::from(i.is_loop());
            st.actions += i.actions.len();
            st.false_confidence += i.false_confidence_actions();
            st.escalations += i.escalations as usize;
            st.pages += i.pages as usize;
            st.ttr_policy_sum += i.arms.policy.ttr_seconds;
            st.ttr_recommend_sum += i.arms.recommend.ttr_seconds;
            st.ttr_baseline_sum += i.arms.baseline.ttr_seconds;
        }
    }
    JobResult { job, variant: v, scenario: s, seed, stats: st }
}

/// A shard `i/n` as written on the command line.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s.split_once('/').ok_or("write the shard as i/n, e.g. 0/4")?;
    let (i, n): (usize, usize) =
        (i.parse().map_err(|_| "i is not a number")?, n.parse().map_err(|_| "n is not a number")?);
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 ≤ i < n"));
    }
    Ok((i, n))
}

/// One policy variant's row of the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub variant: usize,
    pub parameters: BTreeMap<String, String>,
    pub incidents: usize,
    pub automated_recovery_rate: f64,
    pub verification_pass_rate: f64,
    pub made_worse_rate: f64,
    pub loops: usize,
    pub false_confidence_share: f64,
    /// What automation adds: 1 − policy / baseline mean TTR.
    pub mttr_reduction: f64,
    /// What actions add: 1 − policy / recommend mean TTR.
    pub mttr_reduction_actions: f64,
    pub escalations: usize,
    pub pages: usize,
    /// On the Pareto front of automated recovery (higher) against made worse (lower).
    pub pareto: bool,
    /// The gate's overall criteria on these point estimates, when the grid names a gate.
    pub gate_passed: Option<bool>,
    pub gate_failures: Vec<String>,
}

/// The summary of a complete set of jobs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub grid_digest: String,
    pub policy: String,
    pub jobs: usize,
    pub replications_per_job: u32,
    pub rows: Vec<Row>,
    /// Variants passing the gate, best first (MTTR reduction, then fewer made worse).
    pub best: Vec<usize>,
}

/// Summarise a complete set of job results (any order in, job order used).
pub fn summarize(grid: &Grid, mut jobs: Vec<JobResult>) -> Result<Summary, String> {
    let expected = grid.jobs().len();
    jobs.sort_by_key(|j| j.job);
    jobs.dedup_by_key(|j| j.job);
    if jobs.len() != expected || jobs.iter().enumerate().any(|(k, j)| j.job != k) {
        let have: std::collections::BTreeSet<usize> = jobs.iter().map(|j| j.job).collect();
        let missing: Vec<usize> = (0..expected).filter(|k| !have.contains(k)).take(10).collect();
        return Err(format!("{} of {expected} jobs present; missing e.g. {missing:?}: merge every shard", jobs.len()));
    }
    let variants = grid.variants();
    let mut sums = vec![Stats::default(); variants.len()];
    for j in &jobs {
        sums[j.variant].add(&j.stats);
    }
    let mut rows: Vec<Row> = variants
        .iter()
        .enumerate()
        .map(|(v, choice)| {
            let s = &sums[v];
            let frac = |a: usize, b: usize| r4(if b > 0 { a as f64 / b as f64 } else { 0.0 });
            let mut row = Row {
                variant: v,
                parameters: grid
                    .parameters
                    .iter()
                    .zip(choice)
                    .map(|((n, vals), &k)| (n.clone(), vals[k].0.clone()))
                    .collect(),
                incidents: s.incidents,
                automated_recovery_rate: frac(s.automated, s.incidents),
                verification_pass_rate: frac(s.passed, s.verdicts),
                made_worse_rate: frac(s.made_worse, s.incidents),
                loops: s.loops,
                false_confidence_share: frac(s.false_confidence, s.actions),
                mttr_reduction: r4(if s.ttr_baseline_sum > 0.0 {
                    1.0 - s.ttr_policy_sum / s.ttr_baseline_sum
                } else {
                    0.0
                }),
                mttr_reduction_actions: r4(if s.ttr_recommend_sum > 0.0 {
                    1.0 - s.ttr_policy_sum / s.ttr_recommend_sum
                } else {
                    0.0
                }),
                escalations: s.escalations,
                pages: s.pages,
                pareto: false,
                gate_passed: None,
                gate_failures: Vec::new(),
            };
            if let Some(g) = &grid.gate {
                let failures = gate_point(g, &row, s);
                row.gate_passed = Some(failures.is_empty());
                row.gate_failures = failures;
            }
            row
        })
        .collect();
    let pts: Vec<(f64, f64)> = rows.iter().map(|r| (r.automated_recovery_rate, r.made_worse_rate)).collect();
    for (k, r) in rows.iter_mut().enumerate() {
        let (rec, worse) = pts[k];
        r.pareto = !pts.iter().any(|&(r2, w2)| r2 >= rec && w2 <= worse && (r2 > rec || w2 < worse));
    }
    let mut best: Vec<&Row> = rows.iter().filter(|r| r.gate_passed.unwrap_or(true)).collect();
    best.sort_by(|a, b| {
        b.mttr_reduction
            .total_cmp(&a.mttr_reduction)
            .then(a.made_worse_rate.total_cmp(&b.made_worse_rate))
            .then(a.variant.cmp(&b.variant))
    });
    let best = best.iter().take(5).map(|r| r.variant).collect();
    Ok(Summary {
        grid_digest: grid.digest.clone(),
        policy: grid.policy_path.clone(),
        jobs: expected,
        replications_per_job: grid.replications,
        rows,
        best,
    })
}

/// The gate's overall criteria on a variant's point estimates (intervals need `simulate`).
fn gate_point(g: &crate::gate::Gate, row: &Row, s: &Stats) -> Vec<String> {
    let c = &g.overall;
    let mut f = Vec::new();
    if c.min_incidents.is_some_and(|n| row.incidents < n) {
        f.push("min_incidents".to_string());
    }
    if c.min_automated_recovery_rate.is_some_and(|x| row.automated_recovery_rate < x) {
        f.push("min_automated_recovery_rate".into());
    }
    if c.min_verification_pass_rate.is_some_and(|x| s.verdicts == 0 || row.verification_pass_rate < x) {
        f.push("min_verification_pass_rate".into());
    }
    if c.max_made_worse_rate.is_some_and(|x| row.made_worse_rate > x) {
        f.push("max_made_worse_rate".into());
    }
    if c.max_loops.is_some_and(|n| row.loops > n) {
        f.push("max_loops".into());
    }
    if c.max_false_confidence_share.is_some_and(|x| row.false_confidence_share > x) {
        f.push("max_false_confidence_share".into());
    }
    if c.require_mttr_reduction_ci_above_zero && row.mttr_reduction_actions <= 0.0 {
        f.push("mttr_reduction_actions_above_zero".into());
    }
    f
}

/// The summary as CSV (one row per variant).
pub fn csv(s: &Summary) -> String {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let names: Vec<String> = s.rows.first().map(|r| r.parameters.keys().cloned().collect()).unwrap_or_default();
    let mut header = vec!["variant".to_string()];
    header.extend(names.iter().cloned());
    header.extend(
        [
            "incidents",
            "automated_recovery_rate",
            "verification_pass_rate",
            "made_worse_rate",
            "loops",
            "false_confidence_share",
            "mttr_reduction",
            "mttr_reduction_actions",
            "escalations",
            "pages",
            "pareto",
            "gate",
        ]
        .map(String::from),
    );
    let _ = w.write_record(&header);
    for r in &s.rows {
        let mut rec = vec![r.variant.to_string()];
        rec.extend(names.iter().map(|n| r.parameters[n].clone()));
        rec.extend([
            r.incidents.to_string(),
            format!("{:.4}", r.automated_recovery_rate),
            format!("{:.4}", r.verification_pass_rate),
            format!("{:.4}", r.made_worse_rate),
            r.loops.to_string(),
            format!("{:.4}", r.false_confidence_share),
            format!("{:.4}", r.mttr_reduction),
            format!("{:.4}", r.mttr_reduction_actions),
            r.escalations.to_string(),
            r.pages.to_string(),
            r.pareto.to_string(),
            match r.gate_passed {
                None => String::new(),
                Some(true) => "pass".into(),
                Some(false) => format!("fail: {}", r.gate_failures.join(" ")),
            },
        ]);
        let _ = w.write_record(&rec);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Read `jobs.jsonl` files back.
pub fn read_jobs(path: &Path) -> Result<Vec<JobResult>, Diagnostic> {
    let text = read_source(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| crate::jsonl::parse_line::<JobResult>(path, i + 1, l))
        .collect()
}
