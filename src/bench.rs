//! Benchmarks a person can run (`understudy bench …`): the engine's hold model, a whole
//! scenario, and replay throughput. Timings are measurements, never assertions; criterion
//! benches under `benches/` cover the same ground for regressions.
//!
//! Owns the workloads and the figures they report; the engine, simulator and replayer are
//! used as they are, not re-implemented.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;

use crate::clock::Time;
use crate::sim::engine::Engine;

/// The classic hold model: `pending` events in the queue; each popped event schedules one
/// more at now + Exp(1) seconds.
#[derive(Debug, Clone, Serialize)]
pub struct HoldResult {
    pub pending: usize,
    pub events: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
    pub ns_per_event: f64,
    /// Queue memory over pending events.
    pub bytes_per_pending: f64,
    /// Allocations made inside the timed loop, if the binary counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocations_in_loop: Option<u64>,
}

#[inline]
fn exp_ns(rng: &mut Pcg64Mcg) -> i64 {
    let u: f64 = rng.r#gen::<f64>();
    ((-(1.0 - u).ln()) * 1e9) as i64
}

/// Run the hold model. `count_allocs` reads an allocation counter before and after the loop.
pub fn hold(pending: usize, events: u64, seed: u64, count_allocs: Option<&dyn Fn() -> u64>) -> HoldResult {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut q: Engine<u32> = Engine::with_capacity(Time(0), pending + 1);
    for i in 0..pending {
        q.schedule(Time(exp_ns(&mut rng)), i as u32);
    }
    let before = count_allocs.map(|f| f());
    let start = Instant::now();
    let mut check = 0u64;
    for _ in 0..events {
        let (now, ev) = q.pop().expect("the hold model never empties");
        check = check.wrapping_add(u64::from(ev));
        q.schedule(Time(now.nanos() + exp_ns(&mut rng)), ev);
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    let allocations_in_loop = count_allocs.zip(before).map(|(f, b)| f() - b);
    std::hint::black_box(check);
    HoldResult {
        pending,
        events,
        seconds,
        events_per_sec: events as f64 / seconds,
        ns_per_event: seconds * 1e9 / events as f64,
        bytes_per_pending: q.memory_bytes() as f64 / pending.max(1) as f64,
        allocations_in_loop,
    }
}

/// Full fidelity: one scenario's replications, timed.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub replications: u32,
    pub threads: usize,
    pub seconds: f64,
    pub incidents: usize,
    pub incidents_per_sec: f64,
    /// Simulated days (both arms count once: they cover the same days) per wall second.
    pub simulated_days_per_sec: f64,
}

pub fn scenario(
    s: &crate::sim::scenario::Scenario,
    policy: &crate::policy::Policy,
    replications: u32,
) -> ScenarioResult {
    let start = Instant::now();
    let runs = crate::sim::run(s, policy, 42, replications);
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    let incidents: usize = runs.iter().map(|r| r.incidents.len()).sum();
    let days = (s.duration + s.drain).as_secs_f64() / 86_400.0 * f64::from(replications);
    ScenarioResult {
        scenario: s.name.clone(),
        replications,
        threads: rayon::current_num_threads(),
        seconds,
        incidents,
        incidents_per_sec: incidents as f64 / seconds,
        simulated_days_per_sec: days / seconds,
    }
}

/// Replay throughput on a synthetic trace of about `megabytes`.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayResult {
    pub bytes: u64,
    pub records: usize,
    pub episodes: usize,
    pub seconds: f64,
    pub megabytes_per_sec: f64,
    pub records_per_sec: f64,
    /// Reading and parsing alone (no classification or decisions), for comparison: replay is
    /// parse-bound when the two are close.
    pub parse_only_megabytes_per_sec: f64,
    /// Peak resident memory of the process (VmHWM), when the platform reports it.
    pub peak_rss_mib: Option<f64>,
}

/// Peak resident set size in MiB from /proc (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Write a synthetic trace of about `megabytes` to `path`: 50 services, OOMKilled and 5xx
/// bursts with quiet gaps, alerts firing and resolving, and people acting.
pub fn synthetic_trace(path: &std::path::Path, megabytes: u64) -> std::io::Result<u64> {
    use std::io::Write;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let target = megabytes * 1_000_000;
    let mut written = 0u64;
    let mut t = Time::parse_rfc3339("2026-01-01T00:00:00Z").expect("valid").nanos();
    let mut i = 0u64;
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    while written < target {
        i += 1;
        t += rng.gen_range(1..20) * 1_000_000_000;
        let svc = i % 50;
        let at = Time(t).to_rfc3339();
        let line = match i % 10 {
            0 => format!(
                r#"{{"kind":"alert","at":"{at}","name":"KubePodCrashLooping","status":"firing","service":"svc-{svc}","namespace":"prod"}}"#
            ),
            1 => format!(
                r#"{{"kind":"alert","at":"{at}","name":"KubePodCrashLooping","status":"resolved","service":"svc-{}","namespace":"prod"}}"#,
                (i - 1) % 50
            ),
            2 => format!(
                r#"{{"kind":"action","at":"{at}","service":"svc-{svc}","namespace":"prod","actor":"human","action":"restart"}}"#
            ),
            3 | 4 => format!(
                r#"{{"kind":"signal","at":"{at}","service":"svc-{svc}","namespace":"prod","name":"OOMKilled","value":1.0,"labels":{{"pod":"svc-{svc}-7d9f8b6c5-x2x4z"}}}}"#
            ),
            _ => format!(
                r#"{{"kind":"signal","at":"{at}","service":"svc-{svc}","namespace":"prod","name":"cpu_seconds","value":{:.3}}}"#,
                rng.r#gen::<f64>()
            ),
        };
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
        written += line.len() as u64 + 1;
    }
    w.flush()?;
    Ok(written)
}

/// Replay a trace with the default policy and rules, discarding the outputs, timed.
pub fn replay(
    path: &std::path::Path,
    policy: crate::policy::Policy,
    rules: &crate::classify::rules::Rules,
) -> Result<ReplayResult, String> {
    let bytes = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    let start = Instant::now();
    let mut n = 0usize;
    for item in crate::trace::Reader::open(path).map_err(|d| d.to_string())? {
        item.map_err(|d| d.to_string())?;
        n += 1;
    }
    std::hint::black_box(n);
    let parse_seconds = start.elapsed().as_secs_f64().max(1e-9);
    let start = Instant::now();
    let mut r = crate::replay::Replayer::new(
        policy,
        rules,
        crate::replay::Settings::default(),
        std::io::sink(),
        Box::new(crate::audit::Jsonl(std::io::sink())),
    )
    .map_err(|e| e.to_string())?;
    for item in crate::trace::Reader::open(path).map_err(|d| d.to_string())? {
        let (_, rec) = item.map_err(|d| d.to_string())?;
        r.feed(&rec).map_err(|e| e.to_string())?;
    }
    let m = r.finish().map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    Ok(ReplayResult {
        bytes,
        records: m.records,
        episodes: m.episodes,
        seconds,
        megabytes_per_sec: bytes as f64 / 1e6 / seconds,
        records_per_sec: m.records as f64 / seconds,
        parse_only_megabytes_per_sec: bytes as f64 / 1e6 / parse_seconds,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Format a duration for people.
pub fn human(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}
