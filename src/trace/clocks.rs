//! Clock checks across the inputs of one replay: two sources that see the same incidents at
//! a near-constant offset (one of their clocks was off, or a zone was read wrong), and records
//! far from the rest of the trace or in the future (a wrong clock, milliseconds read as
//! seconds). It only warns: the records are replayed as they are.
//!
//! Bounded memory: per source at most [`MAX_ONSETS`] onsets (firing alerts, and a signal's
//! first record after ten quiet minutes), and a count of records per day.

use std::collections::BTreeMap;

use super::{AlertStatus, PageEvent, Record};
use crate::clock::Time;

/// Onsets kept per source.
pub const MAX_ONSETS: usize = 4_096;

const NS_PER_S: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * NS_PER_S;

/// What the check has seen so far.
#[derive(Debug, Default)]
pub struct Clocks {
    /// Per source: (namespace, service) → onset times, in order.
    onsets: Vec<BTreeMap<String, Vec<i64>>>,
    counts: Vec<usize>,
    /// Per source and (namespace, service, signal): the last time seen.
    last_signal: Vec<BTreeMap<(String, String, String), i64>>,
    days: BTreeMap<i64, usize>,
    future: usize,
    latest: Option<Time>,
    /// A window record said the trace is a world of its own (a simulation): its times are
    /// not the wall clock's, and none of them is "in the future".
    simulated: bool,
}

impl Clocks {
    /// Take a record of source `k`; `now` is the wall clock (for records in the future).
    pub fn observe(&mut self, k: usize, rec: &Record, now: Time) {
        while self.onsets.len() <= k {
            self.onsets.push(BTreeMap::new());
            self.counts.push(0);
            self.last_signal.push(BTreeMap::new());
        }
        let at = rec.at();
        if let Record::Window { independent: true, .. } = rec {
            self.simulated = true;
        }
        *self.days.entry(at.0.div_euclid(DAY)).or_default() += 1;
        if at.0 > now.0.saturating_add(3_600 * NS_PER_S) {
            self.future += 1;
            self.latest = self.latest.max(Some(at));
        }
        let key = match rec {
            // By service alone: sources name namespaces differently, and a paging system
            // has none.
            Record::Alert { status: AlertStatus::Firing, service, name, .. } => {
                Some(service.clone().unwrap_or_else(|| name.clone()))
            }
            Record::Page { service, event: PageEvent::Triggered, .. } => Some(service.clone()),
            Record::Signal { service, namespace, name, .. } => {
                let id = (namespace.clone(), service.clone(), name.clone());
                let last = self.last_signal[k].insert(id, at.0);
                last.is_none_or(|t| at.0 - t > 600 * NS_PER_S).then(|| service.clone())
            }
            _ => None,
        };
        if let Some(key) = key
            && self.counts[k] < MAX_ONSETS
        {
            self.counts[k] += 1;
            self.onsets[k].entry(key).or_default().push(at.0);
        }
    }

    /// The warnings, naming sources by `names`.
    pub fn warnings(&self, names: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        let name = |k: usize| names.get(k).cloned().unwrap_or_else(|| format!("input {}", k + 1));
        // Each source against the first: the one the others are read against.
        for a in 0..self.onsets.len().min(1) {
            for b in a + 1..self.onsets.len() {
                if let Some((offset, n)) = offset(&self.onsets[a], &self.onsets[b]) {
                    // To the minute when it is large: a wrong zone or clock, not jitter.
                    let offset = if offset.abs() >= 600 * NS_PER_S {
                        (offset as f64 / (60 * NS_PER_S) as f64).round() as i64 * 60 * NS_PER_S
                    } else {
                        offset
                    };
                    let d = crate::clock::format_duration(std::time::Duration::from_nanos(offset.unsigned_abs()));
                    out.push(format!(
                        "{} sees the same incidents as {} {d} {} ({n} onsets matched at a near-constant offset): a clock or a time zone is off; import it again with --time-offset {}{d}",
                        name(b),
                        name(a),
                        if offset > 0 { "later" } else { "earlier" },
                        if offset > 0 { "-" } else { "+" },
                    ));
                }
            }
        }
        if self.future > 0 && !self.simulated {
            out.push(format!(
                "{} record(s) lie in the future (the latest at {}): a wrong clock, or milliseconds read as seconds?",
                self.future,
                self.latest.map_or_else(String::new, Time::to_rfc3339)
            ));
        }
        // Records more than a year from the median day of all records.
        let total: usize = self.days.values().sum();
        let mut seen = 0;
        let median = self.days.iter().find(|(_, n)| {
            seen += **n;
            seen * 2 >= total
        });
        if let Some((&mid, _)) = median {
            let far: Vec<(i64, usize)> =
                self.days.iter().filter(|(d, _)| (**d - mid).abs() > 365).map(|(d, n)| (*d, *n)).collect();
            let n: usize = far.iter().map(|(_, n)| n).sum();
            if n > 0 {
                out.push(format!(
                    "{n} record(s) lie more than a year from the rest of the trace (e.g. on {}, the rest around {}): check those sources' clocks and units",
                    Time(far[0].0 * DAY).to_rfc3339().get(..10).unwrap_or(""),
                    Time(mid * DAY).to_rfc3339().get(..10).unwrap_or(""),
                ));
            }
        }
        out
    }
}

/// The near-constant offset of `b`'s onsets against `a`'s on the services both saw:
/// `Some((median offset in ns, matches))` when at least 3 onsets match within 12 h, at least
/// 70% of them lie within a tenth of the median (at least 60 s) of it, and the median is at
/// least half an hour: a wrong zone or a clock that is off, not the minutes an alert's `for:`
/// or a person's reaction adds between one source and the next.
fn offset(a: &BTreeMap<String, Vec<i64>>, b: &BTreeMap<String, Vec<i64>>) -> Option<(i64, usize)> {
    let mut diffs = Vec::new();
    for (key, tb) in b {
        let Some(ta) = a.get(key) else { continue };
        let mut ta = ta.clone();
        ta.sort_unstable();
        for &t in tb {
            let i = ta.partition_point(|x| *x < t);
            let near = [i.checked_sub(1), Some(i)]
                .into_iter()
                .flatten()
                .filter_map(|j| ta.get(j))
                .min_by_key(|x| (t - **x).abs());
            if let Some(x) = near
                && (t - x).abs() <= 12 * 3_600 * NS_PER_S
            {
                diffs.push(t - x);
            }
        }
    }
    if diffs.len() < 3 {
        return None;
    }
    diffs.sort_unstable();
    let median = diffs[diffs.len() / 2];
    let tol = (median.abs() / 10).max(60 * NS_PER_S);
    let close = diffs.iter().filter(|d| (**d - median).abs() <= tol).count();
    (median.abs() >= 1_800 * NS_PER_S && close * 10 >= diffs.len() * 7).then_some((median, diffs.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(t: i64, svc: &str) -> Record {
        Record::Alert {
            at: Time(t * NS_PER_S),
            name: "X".into(),
            status: AlertStatus::Firing,
            service: Some(svc.into()),
            namespace: Some("prod".into()),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            fingerprint: None,
        }
    }

    #[test]
    fn a_source_two_hours_late_is_found_and_an_agreeing_one_is_not() {
        let now = Time(2_000_000_000 * NS_PER_S);
        let mut c = Clocks::default();
        for (i, svc) in ["a", "b", "c", "a"].iter().enumerate() {
            let t = 1_700_000_000 + i as i64 * 20_000;
            c.observe(0, &alert(t, svc), now);
            c.observe(1, &alert(t + 7_200 + i as i64 * 5, svc), now);
            c.observe(2, &alert(t + 30, svc), now);
        }
        let w = c.warnings(&["am.jsonl".into(), "k8s.jsonl".into(), "ok.jsonl".into()]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("k8s.jsonl sees the same incidents as am.jsonl 2h later")
                && w[0].contains("--time-offset -2h"),
            "{w:?}"
        );
    }

    #[test]
    fn records_in_the_future_or_years_away_are_named() {
        let now = Time(1_800_000_000 * NS_PER_S);
        let mut c = Clocks::default();
        for i in 0..10 {
            c.observe(0, &alert(1_700_000_000 + i * 60, "a"), now);
        }
        c.observe(0, &alert(1_700_000_000_000, "a"), now);
        let w = c.warnings(&["t".into()]);
        assert!(w.iter().any(|m| m.starts_with("1 record(s) lie in the future")), "{w:?}");
        assert!(w.iter().any(|m| m.starts_with("1 record(s) lie more than a year")), "{w:?}");
    }
}
