//! Time as the rest of the crate sees it: instants are integer nanoseconds since the Unix
//! epoch ([`Time`]), durations are [`std::time::Duration`] written the way people write them
//! in YAML (`30s`, `10m`, `1h30m`).
//!
//! The decision pipeline never reads a clock: it is handed `now`. The [`Clock`] trait is the
//! one seam between modes: simulation and replay advance a [`ManualClock`]; only `live` and
//! `shadow` use [`WallClock`]. Nothing in this module does I/O.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant: nanoseconds since 1970-01-01T00:00:00Z. Integer, so simulated time never drifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub i64);

impl Time {
    pub const fn from_nanos(ns: i64) -> Time {
        Time(ns)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Parse RFC 3339 (`2026-11-24T10:00:00Z`, offsets allowed).
    pub fn parse_rfc3339(s: &str) -> Result<Time, String> {
        let t = OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|e| format!("`{s}` is not an RFC 3339 time ({e}); write e.g. 2026-11-24T10:00:00Z"))?;
        let ns = t.unix_timestamp_nanos();
        i64::try_from(ns)
            .map(Time)
            .map_err(|_| format!("`{s}` is outside the times understudy can represent (1677-09-21 to 2262-04-11)"))
    }

    /// RFC 3339 in UTC, with fractional seconds only when they are not zero.
    pub fn to_rfc3339(self) -> String {
        match OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0)) {
            Ok(t) => t.format(&Rfc3339).unwrap_or_else(|_| format!("@{}ns", self.0)),
            Err(_) => format!("@{}ns", self.0),
        }
    }

    pub fn saturating_add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(dur_nanos(d)))
    }

    pub fn saturating_sub(self, d: Duration) -> Time {
        Time(self.0.saturating_sub(dur_nanos(d)))
    }

    /// `self - earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_nanos(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let s = String::deserialize(d)?;
        Time::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

/// Duration → nanoseconds, saturating at `i64::MAX` (about 292 years).
/// Seconds as a `Duration`, never panicking: NaN and negatives are zero, and anything past
/// what a `Duration` holds is its maximum (a later `saturating_add` clamps at the clock's end).
pub fn secs_f64(x: f64) -> Duration {
    if x.is_nan() || x <= 0.0 { Duration::ZERO } else { Duration::try_from_secs_f64(x).unwrap_or(Duration::MAX) }
}

pub fn dur_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

/// Parse `30s`, `10m`, `1h30m`, `2d`, `500ms`: one or more `<integer><unit>` parts, largest
/// unit first, each unit at most once.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let hint = "write a number and a unit, largest unit first: 30s, 10m, 1h30m, 2d, 500ms";
    if s.is_empty() {
        return Err(format!("empty duration; {hint}"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` has no unit; did you mean `{s}s`? ({hint})"));
    }
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = None::<usize>;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{s}` is not a duration; {hint}"));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| format!("`{s}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(format!("`{s}` is not a duration: a number must be followed directly by its unit; {hint}"));
        }
        let idx = UNITS
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(|| format!("`{s}`: unknown unit `{unit}`; {hint}"))?;
        if last_unit.is_some_and(|l| idx <= l) {
            return Err(format!("`{s}`: units must go from largest to smallest, each once; {hint}"));
        }
        last_unit = Some(idx);
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{s}` is too long"))?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_nanos(total))
}

/// The shortest exact rendering in the units `parse_duration` reads: `90s` → `1m30s`.
pub fn format_duration(d: Duration) -> String {
    let mut ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if ns == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        if ns >= size {
            out.push_str(&format!("{}{unit}", ns / size));
            ns %= size;
        }
    }
    if ns > 0 {
        out.push_str(&format!("{ns}ns"));
    }
    out
}

/// Serialize a duration as its `format_duration` string (used in canonical forms and reports).
pub fn serialize_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

/// Where `now` comes from. The pipeline takes `now` as an argument; drivers own a `Clock`.
pub trait Clock {
    fn now(&self) -> Time;
}

/// The wall clock, for `shadow` and `live` only.
#[derive(Debug, Default, Clone, Copy)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Time {
        let ns = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Time(i64::try_from(ns).unwrap_or(i64::MAX))
    }
}

/// A clock set by its owner: the simulator and replay move it forward event by event, and
/// live mode's tests move the controller's verification timers with it. Shareable between
/// threads.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: std::sync::atomic::AtomicI64,
}

impl Clone for ManualClock {
    fn clone(&self) -> Self {
        ManualClock::new(self.now())
    }
}

impl ManualClock {
    pub fn new(start: Time) -> Self {
        ManualClock { now: std::sync::atomic::AtomicI64::new(start.0) }
    }

    /// Move to `t`. Time never goes backwards: an earlier `t` is ignored.
    pub fn advance_to(&self, t: Time) {
        self.now.fetch_max(t.0, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        Time(self.now.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// A clock shared by the threads of one process (live mode's controller and its timers).
pub type SharedClock = std::sync::Arc<dyn Clock + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_people_write_them() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("1m500ms"), Ok(Duration::from_millis(60_500)));
        assert!(parse_duration("600").unwrap_err().contains("did you mean `600s`"));
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("10 m").is_err());
        assert!(parse_duration("5w").unwrap_err().contains("unknown unit `w`"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }

    #[test]
    fn durations_round_trip() {
        for s in ["0s", "30s", "10m", "1h30m", "2d3h", "1m500ms"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn rfc3339_round_trip() {
        let t = Time::parse_rfc3339("2026-11-24T10:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-24T10:00:00Z");
        let t2 = Time::parse_rfc3339("2026-11-24T11:00:00+01:00").unwrap();
        assert_eq!(t, t2);
        assert!(Time::parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn manual_clock_never_goes_back() {
        let c = ManualClock::new(Time(10));
        c.advance_to(Time(5));
        assert_eq!(c.now(), Time(10));
        c.advance_to(Time(20));
        assert_eq!(c.now(), Time(20));
    }
}
