//! The rule-based classifier and the symptom definitions, from one YAML file people edit.
//!
//! **Symptoms** (`symptoms:`) say which signals open an episode: present at all, above an
//! absolute value, or above the service's own rolling baseline (a quantile of the previous
//! window times a factor, or a z-score against the window's mean and deviation). A firing
//! alert is a symptom unless its rule says `not-an-incident`.
//!
//! **Rules** (`rules:`) say what an observation means. A rule matches an alert name or a signal
//! name (`*` matches any run of characters) and, optionally, labels (globs), annotations
//! (globs, case-insensitive), the signal's value (`above`), a deploy of the service within
//! `after_deploy`, or a campaign (`during_campaign`). For each observation of an episode the
//! first matching rule counts (file order); an episode's type is the one whose matched rules
//! combine to the highest confidence, combined as independent evidence (noisy-OR: 1 − Π(1 − cᵢ),
//! each rule once), ties to the rule earlier in the file. `scenarios/classifier-rules.yaml`
//! covers every alert of the kube-prometheus and kubernetes-mixin rule sets.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::time::Duration;

use rand::RngCore;
use serde::Deserialize;

use super::{Classification, Classifier, Context, Evidence, Observation};
use crate::clock::{Time, parse_duration};
use crate::diag::{Code, Diagnostic, Report};
use crate::yaml::{self, Problem, Seg, at};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    pub rules: Vec<RawRule>,
    #[serde(default)]
    pub symptoms: Option<Vec<RawSymptom>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub alert: Option<String>,
    pub signal: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub above: Option<f64>,
    pub after_deploy: Option<String>,
    pub during_campaign: Option<bool>,
    /// Another service whose name matches this glob has an open episode (a dependency).
    pub while_open: Option<String>,
    /// The node in the observation's `node` label has an open episode (NodeNotReady, a
    /// pressure condition, a node alert).
    pub on_troubled_node: Option<bool>,
    /// Types this evidence explains: OOMKilled explains the crash loop it causes, so the
    /// crash loop's evidence counts for the memory leak once both are seen.
    #[serde(default)]
    pub explains: Vec<String>,
    pub incident_type: String,
    pub confidence: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSymptom {
    pub signal: String,
    pub above: Option<f64>,
    pub baseline: Option<RawRelative>,
    pub zscore: Option<RawRelative>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelative {
    pub window: String,
    pub quantile: Option<f64>,
    pub factor: Option<f64>,
    pub above: Option<f64>,
    pub min_samples: Option<usize>,
}

/// One rule: a pattern on the alert name or the signal name, and conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub alert: Option<String>,
    pub signal: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub above: Option<f64>,
    pub after_deploy: Option<Duration>,
    pub during_campaign: Option<bool>,
    pub while_open: Option<String>,
    pub on_troubled_node: Option<bool>,
    pub explains: Vec<String>,
    pub incident_type: String,
    pub confidence: f64,
}

/// When a signal's value is a symptom.
#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    /// Any value (a condition such as OOMKilled is its own evidence).
    Present,
    Above(f64),
    /// Above `factor` × the `quantile` of the previous `window`'s values.
    Baseline {
        window: Duration,
        quantile: f64,
        factor: f64,
        min_samples: usize,
    },
    /// More than `above` standard deviations over the previous `window`'s mean.
    ZScore {
        window: Duration,
        above: f64,
        min_samples: usize,
    },
}

/// One symptom definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Symptom {
    pub signal: String,
    pub threshold: Threshold,
}

/// At most this many values per (service, signal) are kept for a rolling baseline.
pub const MAX_BASELINE_POINTS: usize = 2_048;

/// The symptom definitions and, per service and signal, the recent values their relative
/// thresholds compare with (bounded: the window, at most [`MAX_BASELINE_POINTS`] values).
#[derive(Debug, Clone, PartialEq)]
pub struct Symptoms {
    pub defs: Vec<Symptom>,
    /// The rules, for which alerts are `not-an-incident`.
    rules: Vec<Rule>,
    /// Whether the definitions came from the shipped file because the file had none.
    pub defaulted: bool,
    /// Keyed `namespace \0 service \0 signal` (looked up without allocating).
    history: BTreeMap<String, Window>,
    /// Which definition a signal name takes (the first whose glob matches), remembered.
    def_of: BTreeMap<String, Option<usize>>,
    scratch: String,
}

/// One service's recent values of one signal: in time order, sorted (for quantiles) and
/// summed (for the mean and deviation), so each new value costs O(log n) plus a short move,
/// never a pass over the window.
#[derive(Debug, Clone, Default, PartialEq)]
struct Window {
    values: VecDeque<(Time, f64)>,
    sorted: Vec<f64>,
    sum: f64,
    sumsq: f64,
    /// Removals since the sums were last recomputed exactly (float drift stays bounded).
    removed: usize,
}

impl Window {
    /// `sorted`: keep the sorted copy (only quantile baselines read it).
    fn push(&mut self, at: Time, v: f64, sorted: bool) {
        self.values.push_back((at, v));
        if sorted {
            let i = self.sorted.partition_point(|x| *x < v);
            self.sorted.insert(i, v);
        }
        self.sum += v;
        self.sumsq += v * v;
    }

    fn pop(&mut self) {
        if let Some((_, v)) = self.values.pop_front() {
            let i = self.sorted.partition_point(|x| *x < v);
            if self.sorted.get(i) == Some(&v) {
                self.sorted.remove(i);
            }
            self.removed += 1;
            if self.removed >= MAX_BASELINE_POINTS {
                self.sum = self.values.iter().map(|(_, x)| x).sum();
                self.sumsq = self.values.iter().map(|(_, x)| x * x).sum();
                self.removed = 0;
            } else {
                self.sum -= v;
                self.sumsq -= v * v;
            }
        }
    }
}

/// The shipped rules file: where the default symptom definitions are written.
pub const SHIPPED: &str = include_str!("../../scenarios/classifier-rules.yaml");

impl Default for Symptoms {
    /// The symptoms of the shipped `scenarios/classifier-rules.yaml`.
    fn default() -> Self {
        Rules::from_yaml(Path::new("scenarios/classifier-rules.yaml"), SHIPPED).map(|r| r.symptoms).unwrap_or(
            Symptoms {
                defs: Vec::new(),
                rules: Vec::new(),
                defaulted: true,
                history: BTreeMap::new(),
                def_of: BTreeMap::new(),
                scratch: String::new(),
            },
        )
    }
}

impl Symptoms {
    /// Whether an observation (a firing alert) is an incident: its first matching rule does
    /// not say `not-an-incident`.
    pub fn is_incident(&self, o: &Observation, ctx: Option<&Context>) -> bool {
        self.rules.iter().find(|r| r.matches(o, ctx)).is_none_or(|r| r.incident_type != "not-an-incident")
    }

    /// Whether this value of a service's signal is a symptom; relative thresholds compare it
    /// with the values before it, then remember it.
    pub fn check(&mut self, namespace: &str, service: &str, name: &str, at: Time, value: f64) -> bool {
        let def = match self.def_of.get(name) {
            Some(d) => *d,
            None => {
                let d = self.defs.iter().position(|d| glob(&d.signal, name));
                // Bounded: a trace of endlessly many signal names recomputes instead.
                if self.def_of.len() < 4_096 {
                    self.def_of.insert(name.to_string(), d);
                }
                d
            }
        };
        let Some(def) = def.map(|i| &self.defs[i]) else { return false };
        let window = match def.threshold {
            Threshold::Present => return true,
            Threshold::Above(x) => return value > x,
            Threshold::Baseline { window, .. } | Threshold::ZScore { window, .. } => window,
        };
        if !value.is_finite() {
            return false;
        }
        let threshold = def.threshold.clone();
        self.scratch.clear();
        for part in [namespace, "\0", service, "\0", name] {
            self.scratch.push_str(part);
        }
        if !self.history.contains_key(self.scratch.as_str()) {
            self.history.insert(self.scratch.clone(), Window::default());
        }
        let Some(h) = self.history.get_mut(self.scratch.as_str()) else { return false };
        while h.values.front().is_some_and(|(t, _)| at.since(*t) > window) {
            h.pop();
        }
        let n = h.values.len();
        let fired = match threshold {
            Threshold::Baseline { quantile, factor, min_samples, .. } if n >= min_samples.max(1) => {
                let q = h.sorted[((n - 1) as f64 * quantile).round() as usize];
                value > q * factor
            }
            Threshold::ZScore { above, min_samples, .. } if n >= min_samples.max(2) => {
                let nf = n as f64;
                let mean = h.sum / nf;
                let var = ((h.sumsq - h.sum * h.sum / nf) / (nf - 1.0)).max(0.0);
                let sd = var.sqrt();
                // A flat baseline (within float noise): any real rise is a symptom.
                if sd > mean.abs() * 1e-9 {
                    (value - mean) / sd > above
                } else {
                    value > mean * (1.0 + 1e-9) && mean != 0.0
                }
            }
            _ => false,
        };
        h.push(at, value, matches!(threshold, Threshold::Baseline { .. }));
        if h.values.len() > MAX_BASELINE_POINTS {
            h.pop();
        }
        fired
    }
}

/// Rules in file order, and the symptoms the same file defines.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub rules: Vec<Rule>,
    pub symptoms: Symptoms,
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, s: &str) -> bool {
    // Bytes, not chars: `*` is ASCII and matching UTF-8 bytewise is exact; no allocation.
    let (p, t) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

fn relative(base: &[Seg], key: &str, r: &RawRelative, v: &mut Vec<Problem>, z: bool) -> Option<Threshold> {
    let p = at(base, key);
    let window = match parse_duration(&r.window) {
        Ok(w) if !w.is_zero() => w,
        Ok(_) => {
            v.push(Problem::error(at(&p, "window"), Code::BadValue, "the baseline window must be longer than 0s"));
            return None;
        }
        Err(e) => {
            v.push(Problem::error(at(&p, "window"), Code::BadValue, e));
            return None;
        }
    };
    let min_samples = r.min_samples.unwrap_or(10);
    if z {
        if r.quantile.is_some() || r.factor.is_some() {
            v.push(Problem::error(
                p,
                Code::Conflict,
                "a z-score takes `window`, `above` and `min_samples`; `quantile` and `factor` belong to `baseline`",
            ));
            return None;
        }
        let above = r.above.unwrap_or(3.0);
        if !(above.is_finite() && above > 0.0) {
            v.push(Problem::error(at(&p, "above"), Code::BadValue, format!("z-score {above} must be above 0")));
            return None;
        }
        return Some(Threshold::ZScore { window, above, min_samples });
    }
    if r.above.is_some() {
        v.push(Problem::error(
            at(&p, "above"),
            Code::Conflict,
            "a baseline takes `window`, `quantile`, `factor` and `min_samples`; `above` belongs to `zscore`",
        ));
        return None;
    }
    let quantile = r.quantile.unwrap_or(0.95);
    let factor = r.factor.unwrap_or(1.5);
    if !(0.0..=1.0).contains(&quantile) {
        v.push(Problem::error(at(&p, "quantile"), Code::BadValue, format!("quantile {quantile} is outside [0, 1]")));
        return None;
    }
    if !(factor.is_finite() && factor > 0.0) {
        v.push(Problem::error(at(&p, "factor"), Code::BadValue, format!("factor {factor} must be above 0")));
        return None;
    }
    Some(Threshold::Baseline { window, quantile, factor, min_samples })
}

fn validate(raw: &RawRules) -> (Option<Rules>, Vec<Problem>) {
    let mut v = Vec::new();
    let mut rules = Vec::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let base = vec![Seg::key("rules"), Seg::Index(i)];
        if r.alert.is_some() == r.signal.is_some() {
            v.push(
                Problem::error(base.clone(), Code::Conflict, "a rule matches on `alert` or on `signal`, exactly one")
                    .with_hint("e.g. `{ alert: KubePodCrashLooping, incident_type: crash-loop, confidence: 0.9 }`; `alert: \"*\"` matches any alert"),
            );
        }
        if !(0.0..=1.0).contains(&r.confidence) {
            v.push(Problem::error(
                at(&base, "confidence"),
                Code::BadValue,
                format!("confidence {} is outside [0, 1]", r.confidence),
            ));
        }
        if r.incident_type.trim().is_empty() {
            v.push(Problem::error(at(&base, "incident_type"), Code::BadValue, "`incident_type` is empty"));
        }
        if r.above.is_some_and(|x| !x.is_finite()) {
            v.push(Problem::error(at(&base, "above"), Code::BadValue, "`above` must be a finite number"));
        }
        let after_deploy = match r.after_deploy.as_deref().map(parse_duration) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                v.push(Problem::error(at(&base, "after_deploy"), Code::BadValue, e));
                None
            }
        };
        rules.push(Rule {
            alert: r.alert.clone(),
            signal: r.signal.clone(),
            labels: r.labels.clone(),
            annotations: r.annotations.iter().map(|(k, p)| (k.clone(), p.to_lowercase())).collect(),
            above: r.above,
            after_deploy,
            during_campaign: r.during_campaign,
            while_open: r.while_open.clone(),
            on_troubled_node: r.on_troubled_node,
            explains: r.explains.clone(),
            incident_type: r.incident_type.clone(),
            confidence: r.confidence,
        });
    }
    if raw.rules.is_empty() {
        v.push(Problem::error(vec![Seg::key("rules")], Code::BadValue, "no rules"));
    }
    let mut defs = Vec::new();
    match &raw.symptoms {
        None => {}
        Some(list) => {
            for (i, s) in list.iter().enumerate() {
                let base = vec![Seg::key("symptoms"), Seg::Index(i)];
                let given = usize::from(s.above.is_some())
                    + usize::from(s.baseline.is_some())
                    + usize::from(s.zscore.is_some());
                if given > 1 {
                    v.push(Problem::error(
                        base.clone(),
                        Code::Conflict,
                        "a symptom has one threshold: `above`, `baseline` or `zscore`",
                    ));
                    continue;
                }
                let threshold = match (s.above, &s.baseline, &s.zscore) {
                    (Some(x), _, _) if x.is_finite() => Threshold::Above(x),
                    (Some(_), _, _) => {
                        v.push(Problem::error(at(&base, "above"), Code::BadValue, "`above` must be a finite number"));
                        continue;
                    }
                    (None, Some(b), _) => match relative(&base, "baseline", b, &mut v, false) {
                        Some(t) => t,
                        None => continue,
                    },
                    (None, None, Some(z)) => match relative(&base, "zscore", z, &mut v, true) {
                        Some(t) => t,
                        None => continue,
                    },
                    (None, None, None) => Threshold::Present,
                };
                defs.push(Symptom { signal: s.signal.clone(), threshold });
            }
        }
    }
    let ok = v.iter().all(|p| p.warning);
    let symptoms = Symptoms {
        defs,
        rules: rules.clone(),
        defaulted: raw.symptoms.is_none(),
        history: BTreeMap::new(),
        def_of: BTreeMap::new(),
        scratch: String::new(),
    };
    (ok.then_some(Rules { rules, symptoms }), v)
}

/// Whether every `key: pattern` holds in `values` (`lower`: compare lowercased text).
fn all_match(patterns: &BTreeMap<String, String>, values: &BTreeMap<String, String>, lower: bool) -> bool {
    patterns
        .iter()
        .all(|(k, p)| values.get(k).is_some_and(|v| if lower { glob(p, &v.to_lowercase()) } else { glob(p, v) }))
}

impl Rule {
    /// Whether this rule matches one observation in its context.
    pub fn matches(&self, o: &Observation, ctx: Option<&Context>) -> bool {
        let named = match (&self.alert, &self.signal) {
            (Some(p), _) if o.alert => glob(p, &o.name),
            (_, Some(p)) if !o.alert => glob(p, &o.name),
            _ => false,
        };
        named
            && self.above.is_none_or(|x| o.value > x)
            && all_match(&self.labels, &o.labels, false)
            && all_match(&self.annotations, &o.annotations, true)
            && self
                .after_deploy
                .is_none_or(|d| ctx.and_then(|c| c.last_deploy).is_some_and(|t| t <= o.at && o.at.since(t) <= d))
            && self.during_campaign.is_none_or(|want| ctx.is_some_and(|c| c.campaign) == want)
            && self
                .while_open
                .as_deref()
                .is_none_or(|p| ctx.is_some_and(|c| c.open.keys().any(|s| *s != c.service && glob(p, s))))
            && self.on_troubled_node.is_none_or(|want| {
                let troubled = ctx
                    .is_some_and(|c| o.labels.get("node").is_some_and(|n| *n != c.service && c.open.contains_key(n)));
                troubled == want
            })
    }
}

impl Rules {
    pub fn load(path: &Path) -> Result<Rules, Report> {
        crate::diag::load_with(path, Rules::from_yaml)
    }

    pub fn from_yaml(path: &Path, text: &str) -> Result<Rules, Vec<Diagnostic>> {
        let mut r: Rules = yaml::load_validated(path, text, "classifier rules (`rules:`)", validate).map(|(r, _)| r)?;
        if r.symptoms.defaulted && text != SHIPPED {
            // A rules file without `symptoms:` keeps the shipped definitions (and its own
            // rules for which alerts are no incident).
            r.symptoms = Symptoms { rules: r.rules.clone(), ..Symptoms::default() };
            r.symptoms.defaulted = true;
        }
        Ok(r)
    }

    /// The first rule matching one observation.
    pub fn first_match(&self, o: &Observation, ctx: Option<&Context>) -> Option<(usize, &Rule)> {
        self.rules.iter().enumerate().find(|(_, r)| r.matches(o, ctx))
    }

    /// The first rule matching the evidence's latest observation (or its signal or alert).
    pub fn matching(&self, ev: &Evidence<'_>) -> Option<&Rule> {
        let o = current(ev);
        self.first_match(&o, ev.context).map(|(_, r)| r)
    }

    /// The classification of everything observed, and the rules that support it (file
    /// indices, in order): see the module's documentation for how evidence combines.
    pub fn classify_observed(&self, observed: &[Observation], ctx: Option<&Context>) -> (Classification, Vec<usize>) {
        let mut matched: Vec<usize> =
            observed.iter().filter_map(|o| self.first_match(o, ctx).map(|(i, _)| i)).collect();
        matched.sort_unstable();
        matched.dedup();
        // A type explained by another type's matched evidence counts for that type.
        let explained_by = |t: &str| -> Option<&str> {
            matched
                .iter()
                .map(|i| &self.rules[*i])
                .find(|r| r.explains.iter().any(|x| x == t))
                .map(|r| r.incident_type.as_str())
        };
        let type_of = |i: usize| -> &str {
            let t = self.rules[i].incident_type.as_str();
            explained_by(t).unwrap_or(t)
        };
        // type → (1 − Π(1 − c), first rule index)
        let mut by_type: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        for &i in &matched {
            let e = by_type.entry(type_of(i)).or_insert((1.0, i));
            e.0 *= 1.0 - self.rules[i].confidence;
        }
        let best = by_type
            .iter()
            .map(|(t, (miss, first))| (*t, 1.0 - miss, *first))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.2.cmp(&a.2)));
        match best {
            Some((t, c, _)) => {
                let support = matched.iter().copied().filter(|i| type_of(*i) == t).collect();
                // Two decimals, and never certainty from combination alone: a single rule
                // may say 1.0, several rules of 0.9 say 0.99.
                let single = support_max(&self.rules, &matched, t, type_of);
                let c = ((c * 100.0).round() / 100.0).min(0.99_f64.max(single));
                (Classification { incident_type: t.to_string(), confidence: c }, support)
            }
            None => (Classification { incident_type: "unknown".into(), confidence: 0.0 }, Vec::new()),
        }
    }
}

/// The highest single confidence among the matched rules that count for `t`.
fn support_max<'r>(rules: &'r [Rule], matched: &[usize], t: &str, type_of: impl Fn(usize) -> &'r str) -> f64 {
    matched.iter().filter(|i| type_of(**i) == t).map(|i| rules[*i].confidence).fold(0.0, f64::max)
}

/// The evidence's latest observation: the last observed, or one made from `signal`/`alert`.
fn current(ev: &Evidence<'_>) -> Observation {
    ev.observed.last().cloned().unwrap_or_else(|| Observation {
        at: Time(0),
        name: ev.alert.unwrap_or(ev.signal).to_string(),
        alert: ev.alert.is_some(),
        value: 1.0,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
    })
}

impl Classifier for Rules {
    fn classify(&self, ev: &Evidence<'_>, _rng: &mut dyn RngCore) -> Classification {
        if ev.observed.is_empty() {
            return self.classify_observed(&[current(ev)], ev.context).0;
        }
        self.classify_observed(ev.observed, ev.context).0
    }

    fn support(&self, ev: &Evidence<'_>) -> Vec<super::Support> {
        let one = [current(ev)];
        let observed = if ev.observed.is_empty() { &one[..] } else { ev.observed };
        let mut matched: Vec<usize> =
            observed.iter().filter_map(|o| self.first_match(o, ev.context).map(|(i, _)| i)).collect();
        matched.sort_unstable();
        matched.dedup();
        let explained_by = |t: &str| {
            matched
                .iter()
                .map(|i| &self.rules[*i])
                .find(|r| r.explains.iter().any(|x| x == t))
                .map(|r| &r.incident_type)
        };
        matched
            .iter()
            .map(|&i| {
                let r = &self.rules[i];
                super::Support {
                    rule: self.describe(i),
                    confidence: r.confidence,
                    incident_type: explained_by(&r.incident_type).unwrap_or(&r.incident_type).clone(),
                }
            })
            .collect()
    }
}

impl Rules {
    /// A rule as a person finds it in the file: its place among the rules (1-based), what it
    /// matches, and what it says.
    pub fn describe(&self, i: usize) -> String {
        let r = &self.rules[i];
        let what = match (&r.alert, &r.signal) {
            (Some(a), _) => format!("alert {a}"),
            (None, Some(s)) => format!("signal {s}"),
            (None, None) => String::new(),
        };
        let mut extra = String::new();
        for (k, v) in r.labels.iter().chain(&r.annotations) {
            extra.push_str(&format!(" {k}={v}"));
        }
        if let Some(x) = r.above {
            extra.push_str(&format!(" above {x}"));
        }
        if r.after_deploy.is_some() {
            extra.push_str(" after a deploy");
        }
        if r.during_campaign == Some(true) {
            extra.push_str(" during a campaign");
        }
        if let Some(p) = &r.while_open {
            extra.push_str(&format!(" while {p} is open"));
        }
        if r.on_troubled_node == Some(true) {
            extra.push_str(" on a troubled node");
        }
        format!("#{} {what}{extra} → {}", i + 1, r.incident_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("Prometheus*", "PrometheusBadConfig"));
        assert!(glob("*Down", "KubeletDown"));
        assert!(glob("Kube*Mismatch", "KubeDeploymentReplicasMismatch"));
        assert!(!glob("Kube*Mismatch", "KubeDeploymentRolloutStuck"));
        assert!(glob("OOMKilled", "OOMKilled"));
        assert!(!glob("OOMKilled", "OOMKilledX"));
    }

    fn obs(name: &str, alert: bool, value: f64) -> Observation {
        Observation {
            at: Time(0),
            name: name.into(),
            alert,
            value,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    const RULES: &str = "rules:
  - { signal: OOMKilled, incident_type: memory-leak, confidence: 0.9, explains: [crash-loop] }
  - { signal: CrashLoopBackOff, incident_type: crash-loop, confidence: 0.9 }
  - { alert: \"*\", labels: { severity: none }, incident_type: not-an-incident, confidence: 1.0 }
  - { alert: \"*\", annotations: { summary: \"*crash*loop*\" }, incident_type: crash-loop, confidence: 0.5 }
  - { signal: cpu, during_campaign: true, incident_type: traffic-surge, confidence: 0.8 }
  - { signal: cpu, above: 0.5, incident_type: cpu-spike, confidence: 0.7 }
symptoms:
  - { signal: OOMKilled }
  - { signal: lat, baseline: { window: 10m, quantile: 0.5, factor: 2, min_samples: 3 } }
  - { signal: mem, zscore: { window: 10m, above: 3, min_samples: 3 } }
";

    #[test]
    fn evidence_combines_and_a_cause_explains_its_symptom() {
        let r = Rules::from_yaml(Path::new("r.yaml"), RULES).unwrap();
        let crash = obs("CrashLoopBackOff", false, 1.0);
        let (c, _) = r.classify_observed(std::slice::from_ref(&crash), None);
        assert_eq!((c.incident_type.as_str(), c.confidence), ("crash-loop", 0.9));
        // The kill explains the loop: both count for the leak, as independent evidence.
        let (c, support) = r.classify_observed(&[crash.clone(), obs("OOMKilled", false, 1.0)], None);
        assert_eq!((c.incident_type.as_str(), c.confidence), ("memory-leak", 0.99), "1 − 0.1 × 0.1, capped at 0.99");
        assert_eq!(support, [0, 1]);
        // Text rules on annotations, case-insensitively.
        let mut a = obs("TeamPaymentsDown", true, 1.0);
        a.annotations.insert("summary".into(), "Pod is Crash Looping.".into());
        assert_eq!(r.classify_observed(&[a], None).0.incident_type, "crash-loop");
        // Context: the same CPU reading is a surge during a campaign.
        let cpu = obs("cpu", false, 0.9);
        let during = Context { campaign: true, ..Context::default() };
        assert_eq!(r.classify_observed(std::slice::from_ref(&cpu), Some(&during)).0.incident_type, "traffic-surge");
        assert_eq!(r.classify_observed(std::slice::from_ref(&cpu), None).0.incident_type, "cpu-spike");
        assert_eq!(r.classify_observed(&[obs("cpu", false, 0.4)], None).0.incident_type, "unknown", "`above` not met");
        // No rule: unknown at 0.
        assert_eq!(r.classify_observed(&[obs("nothing", false, 1.0)], None).0.confidence, 0.0);
        let mut w = obs("Watchdog", true, 1.0);
        w.labels.insert("severity".into(), "none".into());
        assert!(!r.symptoms.is_incident(&w, None));
        assert!(r.symptoms.is_incident(&obs("Other", true, 1.0), None));
    }

    #[test]
    fn relative_symptoms_compare_with_the_services_own_past() {
        let mut s = Rules::from_yaml(Path::new("r.yaml"), RULES).unwrap().symptoms;
        let t = |m: i64| Time(m * 60_000_000_000);
        assert!(s.check("p", "a", "OOMKilled", t(0), 0.0), "present is enough");
        assert!(!s.check("p", "a", "unlisted", t(0), 1e9), "a signal listed nowhere opens nothing");
        // Too few samples: nothing fires, whatever the value.
        assert!(!s.check("p", "a", "lat", t(0), 1.0));
        assert!(!s.check("p", "a", "lat", t(1), 1.0));
        assert!(!s.check("p", "a", "lat", t(2), 100.0));
        assert!(!s.check("p", "a", "lat", t(3), 1.1), "median 1.0 × 2 is the bar");
        assert!(s.check("p", "a", "lat", t(4), 2.5));
        // Another service has its own baseline.
        assert!(!s.check("p", "b", "lat", t(4), 2.5));
        // The window forgets: 20 minutes later only the latest values count.
        for m in 30..34 {
            assert!(!s.check("p", "a", "lat", t(m), 10.0));
        }
        assert!(!s.check("p", "a", "lat", t(34), 15.0));
        for m in 0..4 {
            assert!(!s.check("p", "a", "mem", t(m), 100.0 + (m % 2) as f64));
        }
        assert!(s.check("p", "a", "mem", t(4), 110.0));
    }

    #[test]
    fn malformed_symptoms_and_rules_are_located() {
        let bad = "rules:\n  - { signal: x, incident_type: y, confidence: 0.5, after_deploy: soon }\nsymptoms:\n  - { signal: a, above: 1, zscore: { window: 1h } }\n  - { signal: b, baseline: { window: 0s } }\n  - { signal: c, baseline: { window: 1h, quantile: 2 } }\n";
        let e = Rules::from_yaml(Path::new("r.yaml"), bad).unwrap_err();
        let text: Vec<String> = e
            .iter()
            .map(|d| format!("{}:{} {}", d.pos.map_or(0, |p| p.line), d.pos.map_or(0, |p| p.col), d.message))
            .collect();
        assert_eq!(e.len(), 4, "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("2:") && t.contains("soon")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("4:") && t.contains("one threshold")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("5:") && t.contains("longer than 0s")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("6:") && t.contains("quantile 2")), "{text:?}");
    }
}
