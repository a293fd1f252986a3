//! `understudy fit`: a scenario estimated from a team's own history.
//!
//! Owns reading a time-ordered record stream once, in bounded memory (aggregates, a bounded
//! reservoir per delay, open pages and recent truths only), into a [`Fit`]: the services
//! seen, fault rates per (service, type) over the time the history covers, campaigns, the
//! people's delays (page → acknowledged, acknowledged → their action, their action → the
//! page resolved, onset → a person noticing when no alert did), the monitor's detection
//! delay, the classifier's accuracy, confusion and confidences against truth, and which of
//! the people's actions ended which type of fault. Every figure carries its interval, its
//! sample size and its source; what the history cannot inform keeps the simulator's default
//! and is named in [`Fit::assumed`]. Writing the scenario's YAML is [`Fit::scenario_yaml`];
//! the page is `report::fit`. It reads no files and never invents a figure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::clock::{Time, format_duration};
use crate::sim::model::{Cause, HumanModel};
use crate::trace::{AlertStatus, PageEvent, Record};

pub mod stats;

use stats::{LogNormalFit, Samples, beta_concentration, poisson_ci95};

/// Observations a delay needs before it is fitted (fewer keep the default).
pub const MIN_DELAY_SAMPLES: u64 = 5;
/// Classifications against truth a cause needs before its accuracy is fitted.
pub const MIN_CLASSIFIED: u64 = 5;
/// A fault counts as ended by a person's action when its truth ends this soon after it.
pub const ENDED_WITHIN: Duration = Duration::from_secs(3600);
/// Truths without an end are forgotten this long after their onset (bounded memory).
const TRUTH_HORIZON: Duration = Duration::from_secs(7 * 86_400);
/// Open pages held at once; older ones are dropped (and counted) past this.
const MAX_OPEN_PAGES: usize = 100_000;
/// Pod names remembered per service to count replicas.
const MAX_PODS: usize = 1_000;
/// Services remembered; records of services past this are counted, not kept.
const MAX_SERVICES: usize = 10_000;
/// The most services, fault lines and campaigns a fitted scenario lists (a scenario file has
/// to stay within the YAML loader's limits); the rest are named as left out.
const MAX_SCENARIO_SERVICES: usize = 2_000;
const MAX_SCENARIO_FAULTS: usize = 4_000;
const MAX_SCENARIO_CAMPAIGNS: usize = 1_000;
/// The highest fault rate a scenario accepts (per service per day).
const MAX_RATE_PER_DAY: f64 = 10_000.0;
/// Faults in progress remembered per service (to match alerts, pages, actions and
/// classifications to them); older ones are forgotten past this.
const MAX_TRUTHS_PER_SERVICE: usize = 256;
/// Types with no model listed one by one in `assumed`; the rest are summed up.
const MAX_LISTED_TYPES: usize = 20;
/// Fault rate per type per service per day assumed when the history has no truth to count.
pub const DEFAULT_RATE_PER_DAY: f64 = 0.5;

/// The longest run a fitted scenario asks for, in days.
pub const MAX_RUN_DAYS: f64 = 28.0;

/// The people's steps, in the scenario's words.
pub const STEPS: [&str; 4] = ["detect", "acknowledge", "diagnose", "fix"];

#[derive(Debug, Clone)]
struct TruthState {
    id: Option<String>,
    namespace: String,
    incident_type: String,
    at: Time,
    end: Option<Time>,
    alerted: bool,
    /// When the first alert on it fired.
    alerted_at: Option<Time>,
    noticed: bool,
    /// When its first page came.
    noticed_at: Option<Time>,
    /// A person noticed it before any alert: an exact detection delay.
    detected: bool,
}

/// What a fault that ended (or was forgotten) says about the people's detection delay when
/// it gave no exact one: an alert reached it first (the person had not noticed by then), or
/// it ended unnoticed. Either way the delay is longer than that: a right-censored observation.
fn censor(into: &mut Samples, x: &TruthState) {
    if x.detected {
        return;
    }
    if let Some(a) = x.alerted_at {
        if x.noticed_at.is_some_and(|n| n < a) {
            return; // paged before the alert, but not known to be by a person: says nothing
        }
        into.add(a.since(x.at).as_secs_f64());
    } else if !x.noticed
        && let Some(e) = x.end
    {
        into.add(e.since(x.at).as_secs_f64());
    }
}

#[derive(Debug, Clone)]
struct PageState {
    service: String,
    triggered: Time,
    acked: Option<Time>,
    acted: Option<Time>,
}

#[derive(Debug, Default, Clone)]
struct ClassTally {
    n: u64,
    right: u64,
    right_conf: (f64, f64),
    wrong_conf: (f64, f64),
    confusion: BTreeMap<String, u64>,
}

/// The running estimate: feed every record of every trace (time order), then [`Fitter::finish`].
#[derive(Debug, Default)]
pub struct Fitter {
    spans: BTreeMap<usize, (Time, Time)>,
    /// Streams that hold truth records: their spans are the time rates are measured over.
    with_truth: BTreeSet<usize>,
    windows: Vec<(Time, Time)>,
    services: BTreeMap<(String, String), ServiceSeen>,
    onsets: BTreeMap<(String, String, String), Vec<Time>>,
    truths: BTreeMap<String, Vec<TruthState>>,
    pages: BTreeMap<String, PageState>,
    /// Open pages by trigger time (the oldest is dropped first) and by service (an action
    /// finds its page without a scan).
    page_order: BTreeSet<(Time, String)>,
    pages_by_service: BTreeMap<String, BTreeSet<String>>,
    pages_dropped: u64,
    services_dropped: u64,
    truths_forgotten: u64,
    /// Acknowledgements and resolutions of pages never seen triggered (or acknowledged twice).
    page_events_unmatched: u64,
    last_alert: BTreeMap<String, Time>,
    delays: BTreeMap<&'static str, Samples>,
    /// Detection delays known only to be longer than a value (see [`censor`]).
    detect_censored: Samples,
    monitor: Samples,
    classes: BTreeMap<String, ClassTally>,
    unmatched_classifications: u64,
    people: BTreeMap<(String, String), (u64, u64)>,
    campaigns: Vec<CampaignSeen>,
    records: u64,
}

#[derive(Debug, Default, Clone)]
struct ServiceSeen {
    pods: BTreeSet<String>,
    revision: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CampaignSeen {
    pub name: String,
    pub at: Time,
    pub end: Time,
    pub services: Vec<String>,
}

fn is_automation(actor: &str) -> bool {
    actor == "automation" || actor.contains("understudy") || actor.starts_with("system:")
}

impl Fitter {
    /// One record of trace `stream` (records of all streams in time order).
    pub fn observe(&mut self, stream: usize, rec: &Record) {
        self.records += 1;
        let t = rec.at();
        let span = self.spans.entry(stream).or_insert((t, t));
        span.0 = span.0.min(t);
        span.1 = span.1.max(t);
        if let Some(ns) = rec.namespace()
            && let Some(svc) = rec.service()
            && !self.services.contains_key(&(ns.to_string(), svc.to_string()))
            && self.services.len() >= MAX_SERVICES
        {
            self.services_dropped += 1;
        } else if let Some(ns) = rec.namespace()
            && let Some(svc) = rec.service()
        {
            let seen = self.services.entry((ns.to_string(), svc.to_string())).or_default();
            if let Record::Signal { labels, .. } = rec
                && let Some(pod) = labels.get("pod")
                && seen.pods.len() < MAX_PODS
            {
                seen.pods.insert(pod.clone());
            }
            if let Record::Deploy { revision, .. } = rec {
                seen.revision = Some(revision.clone());
            }
        }
        match rec {
            Record::Window { at, end, .. } => self.windows.push((*at, *end)),
            Record::Truth { at, end, service, namespace, incident_type, incident } => {
                self.with_truth.insert(stream);
                self.onsets.entry((namespace.clone(), service.clone(), incident_type.clone())).or_default().push(*at);
                let list = self.truths.entry(service.clone()).or_default();
                let (kept, gone): (Vec<TruthState>, Vec<TruthState>) =
                    std::mem::take(list).into_iter().partition(|x| match x.end {
                        Some(e) => e.saturating_add(ENDED_WITHIN) >= t,
                        None => x.at.saturating_add(TRUTH_HORIZON) >= t,
                    });
                *list = kept;
                for x in &gone {
                    censor(&mut self.detect_censored, x);
                }
                if list.len() >= MAX_TRUTHS_PER_SERVICE {
                    // Faults overlapping by the hundreds on one service: the oldest can no
                    // longer be told apart from the others; forget it (counted).
                    let x = list.remove(0);
                    censor(&mut self.detect_censored, &x);
                    self.truths_forgotten += 1;
                }
                list.push(TruthState {
                    id: incident.clone(),
                    namespace: namespace.clone(),
                    incident_type: incident_type.clone(),
                    at: *at,
                    end: *end,
                    alerted: false,
                    alerted_at: None,
                    noticed: false,
                    noticed_at: None,
                    detected: false,
                });
            }
            Record::Alert { status: AlertStatus::Firing, service: Some(service), .. } => {
                if self.last_alert.len() < 10_000 || self.last_alert.contains_key(service) {
                    self.last_alert.insert(service.clone(), t);
                }
                for x in self.truths.get_mut(service).into_iter().flatten() {
                    if !x.alerted && x.at <= t && x.end.is_none_or(|e| e >= t) {
                        x.alerted = true;
                        x.alerted_at = Some(t);
                        self.monitor.add(t.since(x.at).as_secs_f64());
                    }
                }
            }
            Record::Page { service, event, incident, .. } => self.page(service, *event, incident, t),
            Record::Action { service, namespace, actor, action, incident, .. } if !is_automation(actor) => {
                // One action answers one page: the page it names, else the service's
                // longest-acknowledged page still waiting for one.
                let named = incident.as_ref().filter(|id| self.pages.contains_key(*id)).cloned();
                let id = named.or_else(|| {
                    let ids = self.pages_by_service.get(service)?;
                    ids.iter()
                        .filter_map(|id| self.pages.get(id).map(|p| (id, p)))
                        .filter(|(_, p)| p.acked.is_some() && p.acted.is_none())
                        .min_by_key(|(id, p)| (p.acked, (*id).clone()))
                        .map(|(id, _)| id.clone())
                });
                let page = id.and_then(|id| self.pages.get_mut(&id)).filter(|p| p.acked.is_some() && p.acted.is_none());
                if let Some(p) = page
                    && let Some(acked) = p.acked
                {
                    p.acted = Some(t);
                    self.delays.entry("diagnose").or_default().add(t.since(acked).as_secs_f64());
                }
                let covering = self.truths.get(service).and_then(|v| {
                    v.iter().rev().find(|x| x.namespace == *namespace && x.at <= t && x.end.is_none_or(|e| e >= t))
                });
                if let Some(x) = covering {
                    let ended = x.end.is_some_and(|e| e.since(t) <= ENDED_WITHIN);
                    let c = self.people.entry((x.incident_type.clone(), action.clone())).or_default();
                    c.0 += 1;
                    c.1 += u64::from(ended);
                }
            }
            Record::Classification { service, namespace, incident_type, confidence, incident, .. } => {
                // By the incident's id where both carry one, else the latest truth covering it.
                let covering = self.truths.get(service).and_then(|v| match incident {
                    Some(id) if v.iter().any(|x| x.id.is_some()) => v.iter().rev().find(|x| x.id.as_ref() == Some(id)),
                    _ => {
                        v.iter().rev().find(|x| x.namespace == *namespace && x.at <= t && x.end.is_none_or(|e| e >= t))
                    }
                });
                match covering {
                    None => self.unmatched_classifications += 1,
                    Some(x) => {
                        let c = self.classes.entry(x.incident_type.clone()).or_default();
                        c.n += 1;
                        let conf = confidence.clamp(0.0, 1.0);
                        if *incident_type == x.incident_type {
                            c.right += 1;
                            c.right_conf.0 += conf;
                            c.right_conf.1 += conf * conf;
                        } else {
                            c.wrong_conf.0 += conf;
                            c.wrong_conf.1 += conf * conf;
                            *c.confusion.entry(incident_type.clone()).or_default() += 1;
                        }
                    }
                }
            }
            Record::Campaign { at, end, name, services } if self.campaigns.len() < 10_000 => {
                self.campaigns.push(CampaignSeen {
                    name: name.clone(),
                    at: *at,
                    end: *end,
                    services: services.clone(),
                });
            }
            _ => {}
        }
    }

    fn page(&mut self, service: &str, event: PageEvent, incident: &str, t: Time) {
        match event {
            PageEvent::Triggered => {
                if self.pages.contains_key(incident) {
                    return;
                }
                // A page no alert preceded: a person noticed (or a person opened it).
                let alerted_lately =
                    self.last_alert.get(service).is_some_and(|a| t.since(*a) <= Duration::from_secs(3600));
                // The page's own fault when a truth carries its id (a simulation's trace),
                // else every fault in progress on the service.
                let by_id =
                    self.truths.get(service).is_some_and(|v| v.iter().any(|x| x.id.as_deref() == Some(incident)));
                for x in self.truths.get_mut(service).into_iter().flatten() {
                    if by_id && x.id.as_deref() != Some(incident) {
                        continue;
                    }
                    if !x.noticed && x.at <= t && x.end.is_none_or(|e| e >= t) {
                        x.noticed = true;
                        x.noticed_at = Some(t);
                        // Its own page before any alert on it is a person noticing; without
                        // ids, a page is only taken for one when no alert fired lately.
                        if !x.alerted && (by_id || !alerted_lately) {
                            x.detected = true;
                            self.delays.entry("detect").or_default().add(t.since(x.at).as_secs_f64());
                        }
                    }
                }
                if self.pages.len() >= MAX_OPEN_PAGES
                    && let Some((_, oldest)) = self.page_order.first().cloned()
                {
                    self.close_page(&oldest);
                    self.pages_dropped += 1;
                }
                self.pages.insert(
                    incident.to_string(),
                    PageState { service: service.to_string(), triggered: t, acked: None, acted: None },
                );
                self.page_order.insert((t, incident.to_string()));
                self.pages_by_service.entry(service.to_string()).or_default().insert(incident.to_string());
            }
            PageEvent::Acknowledged => {
                if let Some(p) = self.pages.get_mut(incident)
                    && p.acked.is_none()
                {
                    p.acked = Some(t);
                    self.delays.entry("acknowledge").or_default().add(t.since(p.triggered).as_secs_f64());
                } else {
                    self.page_events_unmatched += 1;
                }
            }
            PageEvent::Resolved => match self.close_page(incident) {
                Some(p) => {
                    if let Some(acted) = p.acted {
                        self.delays.entry("fix").or_default().add(t.since(acted).as_secs_f64());
                    }
                }
                None => self.page_events_unmatched += 1,
            },
        }
    }

    /// Forget an open page (resolved, or dropped past [`MAX_OPEN_PAGES`]).
    fn close_page(&mut self, id: &str) -> Option<PageState> {
        let p = self.pages.remove(id)?;
        self.page_order.remove(&(p.triggered, id.to_string()));
        if let Some(ids) = self.pages_by_service.get_mut(&p.service) {
            ids.remove(id);
            if ids.is_empty() {
                self.pages_by_service.remove(&p.service);
            }
        }
        Some(p)
    }

    /// The estimate, from everything observed. `from` names the traces (for provenance).
    pub fn finish(mut self, from: Vec<String>) -> Fit {
        for x in self.truths.values().flatten() {
            censor(&mut self.detect_censored, x);
        }
        let (windows, exposure_source) = if self.windows.is_empty() {
            // A trace without truth (a pod dump, an alert export) says nothing about how often
            // faults happen, and may cover other years: only the labelled traces count.
            let spans = self
                .spans
                .iter()
                .filter(|(k, _)| self.with_truth.is_empty() || self.with_truth.contains(k))
                .map(|(_, s)| *s)
                .collect::<Vec<_>>();
            (spans, "the first to the last record of each trace holding truth records")
        } else {
            (self.windows.clone(), "the trace's `window` records")
        };
        let windows = union(windows);
        let exposure_days: f64 = windows.iter().map(|(a, b)| b.since(*a).as_secs_f64()).sum::<f64>() / 86_400.0;
        let inside = |t: Time| windows.iter().any(|(a, b)| *a <= t && t < *b || (a == b && *a == t));
        let mut assumed = Vec::new();
        let mut parameters = Vec::new();

        // Fault rates.
        let mut rates = Vec::new();
        let mut types_seen = BTreeSet::new();
        let mut campaign_surges = 0u64;
        let mut unmodelled: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for ((ns, svc, ty), at) in &self.onsets {
            // A surge a campaign announced is expected load, not a fault that happens at a rate.
            let announced = |t: &Time| {
                ty == "traffic-surge"
                    && self.campaigns.iter().any(|c| {
                        c.at <= *t && *t <= c.end && (c.services.is_empty() || c.services.iter().any(|x| x == svc))
                    })
            };
            let surges = at.iter().filter(|t| inside(**t) && announced(t)).count() as u64;
            campaign_surges += surges;
            let k = at.iter().filter(|t| inside(**t)).count() as u64 - surges;
            types_seen.insert(ty.clone());
            let ci = poisson_ci95(k, exposure_days);
            let per_day = if exposure_days > 0.0 { k as f64 / exposure_days } else { 0.0 };
            let simulated = Cause::from_label(ty).is_some();
            rates.push(RateFit {
                namespace: ns.clone(),
                service: svc.clone(),
                incident_type: ty.clone(),
                count: k,
                per_day,
                ci95: ci,
                simulated,
                in_scenario: false,
            });
            if simulated && k > 0 {
                parameters.push(Parameter {
                    parameter: format!("faults.{ns}/{svc}.{ty}"),
                    value: per_day,
                    unit: "per-day",
                    ci95: ci,
                    n: k,
                    source: format!("truth records over {exposure_days:.2} days ({exposure_source})"),
                });
            } else if !simulated {
                let u = unmodelled.entry(ty.clone()).or_insert((0u64, 0u64));
                u.0 += k;
                u.1 += 1;
            }
        }
        for (ty, (k, n)) in unmodelled.iter().take(MAX_LISTED_TYPES) {
            assumed.push(format!(
                "{ty} ({k} in the history, on {n} service(s)) has no model in the simulator's world and is left out"
            ));
        }
        if unmodelled.len() > MAX_LISTED_TYPES {
            let rest = &unmodelled.values().skip(MAX_LISTED_TYPES).map(|(k, _)| k).sum::<u64>();
            assumed.push(format!(
                "{} more type(s) with no model in the simulator's world ({rest} incidents) are left out (fit.json lists them)",
                unmodelled.len() - MAX_LISTED_TYPES
            ));
        }
        if campaign_surges > 0 {
            assumed.push(format!(
                "{campaign_surges} traffic surge(s) during a campaign are the campaign's, not counted in the surge rate"
            ));
        }
        let fitted_faults = rates.iter().any(|r| r.simulated && r.count > 0);
        if !fitted_faults {
            assumed.push(format!(
                "fault rates: the history has no truth records of a simulated type; every type runs at {DEFAULT_RATE_PER_DAY} per service per day (label incidents with `import faults` to measure them)"
            ));
        }

        // People.
        let d = HumanModel::default();
        let mut delays = BTreeMap::new();
        for step in STEPS {
            let s = self.delays.get(step).cloned().unwrap_or_default();
            let fit = if step == "detect" {
                stats::lognormal_censored(&s, &self.detect_censored, MIN_DELAY_SAMPLES)
            } else {
                s.lognormal(MIN_DELAY_SAMPLES)
            };
            let source = match step {
                "detect" => {
                    "onset (truth) → the first page, where no alert fired on the service in the hour before; a fault an alert reached first, or that ended unnoticed, says the delay was longer (censored, fitted by its survival)"
                }
                "acknowledge" => "page triggered → acknowledged",
                "diagnose" => "page acknowledged → the person's first action on the service",
                _ => "the person's action → the page resolved",
            };
            match &fit {
                Some(f) => {
                    for (what, v, ci) in [("median", f.median, f.median_ci95), ("p90", f.p90, f.p90_ci95)] {
                        parameters.push(Parameter {
                            parameter: format!("human.{step}.{what}"),
                            value: v,
                            unit: "s",
                            ci95: ci,
                            n: f.n,
                            source: source.into(),
                        });
                    }
                }
                None => {
                    let def = match step {
                        "detect" => d.detect,
                        "acknowledge" => d.acknowledge,
                        "diagnose" => d.diagnose,
                        _ => d.fix,
                    };
                    assumed.push(format!(
                        "human.{step} ({source}): {} observation(s), under the {MIN_DELAY_SAMPLES} a fit needs; default median {} / p90 {}",
                        s.n(),
                        format_duration(def.median),
                        format_duration(def.p90)
                    ));
                }
            }
            delays.insert(step, DelayFit { source, n: s.n(), floored: s.floored(), sample_median: s.median(), fit });
        }
        let monitor = self.monitor.lognormal(MIN_DELAY_SAMPLES);

        // The classifier.
        let mut classifier = BTreeMap::new();
        for (ty, c) in &self.classes {
            let cause = Cause::from_label(ty);
            let acc = crate::metrics::Rate::new(c.right as usize, c.n as usize);
            let mom = |(s, s2): (f64, f64), k: u64| {
                (k >= 2).then(|| {
                    let m = s / k as f64;
                    let var = (s2 - k as f64 * m * m) / (k as f64 - 1.0);
                    (m, beta_concentration(m, var))
                })
            };
            let right = mom(c.right_conf, c.right);
            let wrong = mom(c.wrong_conf, c.n - c.right);
            let enough = c.n >= MIN_CLASSIFIED && cause.is_some();
            if enough {
                parameters.push(Parameter {
                    parameter: format!("classifier.{ty}.accuracy"),
                    value: acc.value,
                    unit: "share",
                    ci95: acc.ci95,
                    n: c.n,
                    source: "classification records against the truth covering them".into(),
                });
            } else if cause.is_some() {
                assumed.push(format!(
                    "classifier.{ty}: {} classification(s) against truth, under the {MIN_CLASSIFIED} a fit needs; default accuracy kept",
                    c.n
                ));
            }
            classifier.insert(
                ty.clone(),
                ClassifierFit {
                    n: c.n,
                    accuracy: acc,
                    right_confidence: right,
                    wrong_confidence: wrong,
                    confusion: c.confusion.clone(),
                    used: enough,
                },
            );
        }
        for c in Cause::ALL {
            if !self.classes.contains_key(c.label()) && types_seen.contains(c.label()) {
                assumed.push(format!(
                    "classifier.{c}: no classification records against truth; the default accuracy and confusion are kept"
                ));
            }
        }
        if self.classes.is_empty() {
            assumed
                .push("classifier: no classification records against truth; the default noisy oracle is kept".into());
        }

        let services: Vec<ServiceFit> = self
            .services
            .iter()
            .map(|((ns, name), s)| ServiceFit {
                namespace: ns.clone(),
                name: name.clone(),
                replicas: (!s.pods.is_empty()).then_some(s.pods.len() as u32),
                revision: s.revision.as_deref().and_then(|r| r.trim_start_matches(['v', 'r']).parse().ok()),
                scenario_name: None,
            })
            .collect();
        let mut services = services;
        // What the scenario holds: names a scenario file can carry (a Kubernetes name is at
        // most 253 characters, without control characters), one name per service (a second
        // namespace's `api` becomes `api.staging`), services with faults first, within the
        // loader's limits.
        let holdable = |x: &str| !x.trim().is_empty() && x.len() <= 253 && !x.chars().any(char::is_control);
        let with_faults: BTreeSet<(&str, &str)> = rates
            .iter()
            .filter(|r| r.simulated && r.count > 0)
            .map(|r| (r.namespace.as_str(), r.service.as_str()))
            .collect();
        let mut order: Vec<usize> = (0..services.len()).collect();
        order.sort_by_key(|&k| !with_faults.contains(&(services[k].namespace.as_str(), services[k].name.as_str())));
        let (mut taken, mut unholdable, mut over) = (BTreeSet::new(), Vec::new(), 0usize);
        for k in order {
            let s = &mut services[k];
            if !holdable(&s.name) || !holdable(&s.namespace) {
                unholdable.push(format!("{:?}/{:?}", s.namespace, s.name));
                continue;
            }
            if taken.len() >= MAX_SCENARIO_SERVICES {
                over += 1;
                continue;
            }
            let mut name = s.name.clone();
            let mut n = 1;
            while taken.contains(&name) {
                name = if n == 1 {
                    format!("{}.{}", s.name, s.namespace)
                } else {
                    format!("{}.{}-{n}", s.name, s.namespace)
                };
                n += 1;
            }
            if name != s.name {
                assumed.push(format!(
                    "service {}/{} is `{name}` in the scenario (another namespace has a `{}`)",
                    s.namespace, s.name, s.name
                ));
            }
            taken.insert(name.clone());
            s.scenario_name = Some(name);
        }
        if !unholdable.is_empty() {
            assumed.push(format!(
                "{} service(s) with names no scenario can hold (empty, over 253 characters, or with control characters) are left out: {}",
                unholdable.len(),
                unholdable.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if over > 0 {
            assumed.push(format!("{over} service(s) past the first {MAX_SCENARIO_SERVICES} (those with faults first) are left out of the scenario"));
        }
        if self.services_dropped > 0 {
            assumed.push(format!(
                "{} record(s) of services past the first {MAX_SERVICES} seen were not counted as services",
                self.services_dropped
            ));
        }
        let held: BTreeSet<(&str, &str)> = services
            .iter()
            .filter(|s| s.scenario_name.is_some())
            .map(|s| (s.namespace.as_str(), s.name.as_str()))
            .collect();
        let (mut faults_over, mut capped) = (0usize, 0usize);
        let mut lines = 0usize;
        for r in rates.iter_mut() {
            if !(r.simulated
                && r.count > 0
                && r.per_day > 0.0
                && held.contains(&(r.namespace.as_str(), r.service.as_str())))
            {
                continue;
            }
            if lines >= MAX_SCENARIO_FAULTS {
                faults_over += 1;
                continue;
            }
            lines += 1;
            r.in_scenario = true;
            if r.per_day > MAX_RATE_PER_DAY {
                capped += 1;
            }
        }
        // Only the rates the scenario runs are its fitted figures (the rest are named above).
        let running: BTreeSet<String> = rates
            .iter()
            .filter(|r| r.in_scenario)
            .map(|r| format!("faults.{}/{}.{}", r.namespace, r.service, r.incident_type))
            .collect();
        parameters.retain(|p| !p.parameter.starts_with("faults.") || running.contains(&p.parameter));
        if faults_over > 0 {
            assumed.push(format!(
                "{faults_over} fault rate(s) past the first {MAX_SCENARIO_FAULTS} are left out of the scenario"
            ));
        }
        if capped > 0 {
            assumed.push(format!("{capped} fault rate(s) over {MAX_RATE_PER_DAY} a day run at {MAX_RATE_PER_DAY} (the most a scenario takes)"));
        }
        if rates.iter().any(|r| r.simulated && r.count > 0) && exposure_days <= 0.0 {
            assumed.push("fault rates: the history covers no time (its windows or records span 0 s), so no rate could be measured".into());
        }
        // The run: from the history's start (when a scenario can start there), its length.
        let first = windows.first().map_or(Time(0), |w| w.0);
        let latest = Time::parse_rfc3339("2200-01-01T00:00:00Z").unwrap_or(Time(i64::MAX));
        let start = if (Time(0)..latest).contains(&first) {
            first
        } else {
            let d = Time::parse_rfc3339(crate::sim::scenario::DEFAULT_START).unwrap_or(Time(0));
            assumed.push(format!(
                "start: the history begins at {}, outside the 1970–2199 a scenario runs in; the scenario starts at {}",
                first.to_rfc3339(),
                d.to_rfc3339()
            ));
            d
        };
        let days = exposure_days.clamp(1.0, MAX_RUN_DAYS);
        let run_end = start.saturating_add(Duration::from_secs((days * 86_400.0).round() as u64));
        let mut campaigns = self.campaigns;
        let before = campaigns.len();
        campaigns.retain(|c| c.at >= start && c.at < run_end);
        // One scenario line per campaign and service it names.
        let mut lines = 0usize;
        campaigns.retain(|c| {
            let n =
                held.iter().filter(|(_, name)| c.services.is_empty() || c.services.iter().any(|x| x == name)).count();
            lines += n;
            lines <= MAX_SCENARIO_CAMPAIGNS
        });
        if campaigns.len() < before {
            assumed.push(format!(
                "{} campaign(s) outside the scenario's {days:.1}-day run (or past the first {MAX_SCENARIO_CAMPAIGNS}) are left out",
                before - campaigns.len()
            ));
        }
        if services.iter().any(|s| s.replicas.is_none()) {
            assumed.push("replicas: services without pod names in their signals run 3 pods".into());
        }
        assumed.push("load: 100 requests/s per pod at half busy on average (rps_per_pod, base_rps), the default daily shape, error and latency baselines: the history has no load model".into());
        assumed.push("effects of actions: the default table (the people's actions observed are listed in the fit report, not applied)".into());
        if exposure_days > MAX_RUN_DAYS {
            assumed.push(format!(
                "run length: {MAX_RUN_DAYS} days of the history's {exposure_days:.1} (rates are per day; replications give the spread)"
            ));
        }
        if !campaigns.is_empty() {
            assumed.push("campaigns: each multiplies load by 1.5 (the history says when, not how much)".into());
        }
        if self.page_events_unmatched > 0 {
            assumed.push(format!(
                "{} page acknowledgement(s) or resolution(s) came with no page triggered before them (or a second time) and measure nothing",
                self.page_events_unmatched
            ));
        }
        if self.truths_forgotten > 0 {
            assumed.push(format!(
                "{} fault(s) overlapping more than {MAX_TRUTHS_PER_SERVICE} others on one service were not matched to alerts, pages or classifications (their rates count)",
                self.truths_forgotten
            ));
        }
        if self.pages_dropped > 0 {
            assumed.push(format!(
                "{} page(s) still open when {MAX_OPEN_PAGES} were, were dropped, oldest first: their delays are not in the fit",
                self.pages_dropped
            ));
        }
        let people = self
            .people
            .iter()
            .map(|((ty, action), (n, ended))| PeopleAction {
                incident_type: ty.clone(),
                action: action.clone(),
                n: *n,
                ended_within_1h: *ended,
            })
            .collect();

        Fit {
            from,
            records: self.records,
            windows: windows.iter().map(|(a, b)| [*a, *b]).collect(),
            exposure_days,
            exposure_source,
            start,
            days,
            services,
            rates,
            campaigns,
            delays,
            monitor_detection: monitor,
            classifier,
            unmatched_classifications: self.unmatched_classifications,
            people,
            pages_dropped: self.pages_dropped,
            parameters,
            assumed,
        }
    }
}

/// Sorted, overlapping intervals merged.
fn union(mut w: Vec<(Time, Time)>) -> Vec<(Time, Time)> {
    w.retain(|(a, b)| a <= b);
    w.sort();
    let mut out: Vec<(Time, Time)> = Vec::new();
    for (a, b) in w {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// A service as the history shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceFit {
    pub namespace: String,
    pub name: String,
    /// Distinct pods seen in its signals.
    pub replicas: Option<u32>,
    /// Its latest deploy's revision, when a number.
    pub revision: Option<u32>,
    /// Its name in the fitted scenario (its own, else `name.namespace` when another
    /// namespace has one of that name); `None` when left out of it.
    pub scenario_name: Option<String>,
}

/// Faults of one type on one service, per day.
#[derive(Debug, Clone, Serialize)]
pub struct RateFit {
    pub namespace: String,
    pub service: String,
    pub incident_type: String,
    pub count: u64,
    pub per_day: f64,
    pub ci95: [f64; 2],
    /// Whether the simulator has a world model for the type.
    pub simulated: bool,
    /// Written into the fitted scenario (a simulated type seen at least once, on a service
    /// the scenario holds, within the scenario's limits).
    pub in_scenario: bool,
}

/// One of the people's steps.
#[derive(Debug, Clone, Serialize)]
pub struct DelayFit {
    pub source: &'static str,
    pub n: u64,
    /// Observations under a second, counted as one second.
    pub floored: u64,
    pub sample_median: Option<f64>,
    pub fit: Option<LogNormalFit>,
}

/// The classifier against truth, for one true type.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifierFit {
    pub n: u64,
    pub accuracy: crate::metrics::Rate,
    /// Mean and Beta concentration of confidences when right.
    pub right_confidence: Option<(f64, Option<f64>)>,
    pub wrong_confidence: Option<(f64, Option<f64>)>,
    /// Wrong labels given, and how often.
    pub confusion: BTreeMap<String, u64>,
    /// Whether it went into the scenario (enough data, a simulated type).
    pub used: bool,
}

/// A person's action during a fault of a type.
#[derive(Debug, Clone, Serialize)]
pub struct PeopleAction {
    pub incident_type: String,
    pub action: String,
    pub n: u64,
    pub ended_within_1h: u64,
}

/// One figure taken from history.
#[derive(Debug, Clone, Serialize)]
pub struct Parameter {
    pub parameter: String,
    pub value: f64,
    pub unit: &'static str,
    pub ci95: [f64; 2],
    pub n: u64,
    pub source: String,
}

/// Everything `fit` learnt.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    pub from: Vec<String>,
    pub records: u64,
    pub windows: Vec<[Time; 2]>,
    pub exposure_days: f64,
    pub exposure_source: &'static str,
    /// Where the fitted scenario starts, and how many days it runs.
    pub start: Time,
    pub days: f64,
    pub services: Vec<ServiceFit>,
    pub rates: Vec<RateFit>,
    pub campaigns: Vec<CampaignSeen>,
    pub delays: BTreeMap<&'static str, DelayFit>,
    /// Onset → the first alert: the monitor's delay (the simulator's own alert rules model it;
    /// shown beside the fit, not a parameter).
    pub monitor_detection: Option<LogNormalFit>,
    pub classifier: BTreeMap<String, ClassifierFit>,
    pub unmatched_classifications: u64,
    pub people: Vec<PeopleAction>,
    pub pages_dropped: u64,
    pub parameters: Vec<Parameter>,
    pub assumed: Vec<String>,
}

/// A figure as a person reads it, in its unit.
pub fn show(v: f64, unit: &str) -> String {
    match unit {
        "s" => format_duration(Duration::from_secs(v.max(0.0).round() as u64)),
        "per-day" if v != 0.0 && v.abs() < 0.01 => format!("{v:.2e}/day"),
        "per-day" => format!("{v:.3}/day"),
        "share" => format!("{:.1}%", v * 100.0),
        _ => format!("{v}"),
    }
}

/// A double-quoted YAML string: JSON's escapes, and every control character JSON leaves raw
/// (DEL, C1) escaped too, so the file is text the loader accepts.
fn q(s: &str) -> String {
    let j = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    if !j.chars().any(char::is_control) {
        return j;
    }
    j.chars().fold(String::with_capacity(j.len() + 8), |mut out, c| {
        if c.is_control() {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
        out
    })
}

fn dur(seconds: f64) -> String {
    q(&format_duration(Duration::from_secs(seconds.max(1.0).round() as u64)))
}

impl Fit {
    /// The scenario, as YAML `check` accepts and `simulate` runs.
    pub fn scenario_yaml(&self, name: &str) -> String {
        let mut y = String::new();
        let _ = writeln!(y, "# Fitted by `understudy fit` from {}.", self.from.join(", "));
        let _ = writeln!(y, "# Every figure taken from the history is listed under `fitted.parameters` with its");
        let _ = writeln!(y, "# 95% interval, sample size and source; `fitted.assumed` lists what kept its default.");
        let _ = writeln!(y, "name: {}", q(name));
        let _ = writeln!(
            y,
            "description: {}",
            q(&format!("fitted to {} record(s) over {:.2} days of history", self.records, self.exposure_days))
        );
        // A representative stretch: the history's length, at least a day and at most
        // MAX_RUN_DAYS (rates are per day; replications give the spread).
        let (start, days) = (self.start, self.days);
        let _ = writeln!(y, "start: {}", q(&start.to_rfc3339()));
        let _ = writeln!(y, "duration: {}", q(&format_duration(Duration::from_secs((days * 86_400.0).round() as u64))));

        // Services: those the scenario holds, by their scenario names (see `ServiceFit`).
        let services: Vec<(&ServiceFit, &str)> =
            self.services.iter().filter_map(|s| s.scenario_name.as_deref().map(|n| (s, n))).collect();
        let mut quota: BTreeMap<&str, u32> = BTreeMap::new();
        if !services.is_empty() {
            let _ = writeln!(y, "services:");
            for (s, name) in &services {
                let r = s.replicas.unwrap_or(3).clamp(1, 500);
                *quota.entry(&s.namespace).or_default() += r;
                let _ = write!(
                    y,
                    "  - {{ name: {}, namespace: {}, replicas: {r}, rps_per_pod: 100, base_rps: {}",
                    q(name),
                    q(&s.namespace),
                    50 * r
                );
                if let Some(rev) = s.revision {
                    let _ = write!(y, ", revision: {rev}");
                }
                let _ = writeln!(y, " }}");
            }
            let _ = writeln!(y, "quota:");
            for (ns, n) in &quota {
                let _ = writeln!(y, "  {}: {}", q(ns), (n * 3).max(40));
            }
        }
        let _ = writeln!(y, "faults:");
        let known: BTreeMap<(&str, &str), &str> =
            services.iter().map(|(s, n)| ((s.namespace.as_str(), s.name.as_str()), *n)).collect();
        let mut any = false;
        for r in self.rates.iter().filter(|r| r.in_scenario) {
            let Some(name) = known.get(&(r.namespace.as_str(), r.service.as_str())) else { continue };
            any = true;
            let _ = writeln!(
                y,
                "  - {{ type: {}, services: [{}], rate_per_day: {:.6} }}   # {} in {:.2} days",
                r.incident_type,
                q(name),
                r.per_day.clamp(1e-6, MAX_RATE_PER_DAY),
                r.count,
                self.exposure_days
            );
        }
        if !any {
            for c in Cause::labels() {
                let _ = writeln!(y, "  - {{ type: {c}, rate_per_day: {DEFAULT_RATE_PER_DAY} }}   # assumed");
            }
        }
        let mut campaigns = Vec::new();
        for c in &self.campaigns {
            let svcs: Vec<&str> = services
                .iter()
                .filter(|(s, _)| c.services.is_empty() || c.services.contains(&s.name))
                .map(|(_, n)| *n)
                .collect();
            let len = c.end.since(c.at).max(Duration::from_secs(60));
            for s in svcs {
                campaigns.push(format!(
                    "  - {{ name: {}, service: {}, at: {}, duration: {}, load_multiplier: 1.5 }}",
                    q(&c.name),
                    q(s),
                    q(&c.at.to_rfc3339()),
                    q(&format_duration(Duration::from_secs(len.as_secs().max(60))))
                ));
            }
        }
        if !campaigns.is_empty() {
            let _ = writeln!(y, "campaigns:");
            for c in campaigns {
                let _ = writeln!(y, "{c}");
            }
        }
        let fitted: Vec<(&str, &LogNormalFit)> =
            self.delays.iter().filter_map(|(k, d)| d.fit.as_ref().map(|f| (*k, f))).collect();
        if !fitted.is_empty() {
            let _ = writeln!(y, "human:");
            for (step, f) in fitted {
                let _ = writeln!(
                    y,
                    "  {step}: {{ median: {}, p90: {} }}   # n = {}",
                    dur(f.median),
                    dur(f.p90.max(f.median)),
                    f.n
                );
            }
        }
        let used: Vec<(&String, &ClassifierFit)> = self.classifier.iter().filter(|(_, c)| c.used).collect();
        if !used.is_empty() {
            let _ = writeln!(y, "classifier:");
            for (ty, c) in used {
                let _ = write!(y, "  {ty}: {{ accuracy: {:.4}", c.accuracy.value);
                let conf = |y: &mut String, key: &str, x: &Option<(f64, Option<f64>)>| {
                    if let Some((m, Some(k))) = x
                        && *m > 0.0
                        && *m < 1.0
                    {
                        let _ = write!(y, ", {key}: {{ mean: {m:.4}, concentration: {k:.2} }}");
                    }
                };
                conf(&mut y, "right", &c.right_confidence);
                conf(&mut y, "wrong", &c.wrong_confidence);
                let wrong: Vec<String> =
                    c.confusion.iter().filter(|(l, _)| *l != ty).map(|(l, n)| format!("{}: {n}", q(l))).collect();
                if !wrong.is_empty() {
                    let _ = write!(y, ", confusion: {{ {} }}", wrong.join(", "));
                }
                let _ = writeln!(y, " }}");
            }
        }
        let _ = writeln!(y, "fitted:");
        let _ = writeln!(y, "  from: [{}]", self.from.iter().map(|f| q(f)).collect::<Vec<_>>().join(", "));
        let _ = writeln!(y, "  parameters:");
        if self.parameters.is_empty() {
            let _ = writeln!(y, "    []");
        }
        for p in &self.parameters {
            let _ = writeln!(
                y,
                "    - {{ parameter: {}, value: {}, unit: {}, ci95: [{}, {}], n: {}, source: {} }}",
                q(&p.parameter),
                num(p.value),
                p.unit,
                num(p.ci95[0].min(p.value)),
                num(p.ci95[1].max(p.value)),
                p.n,
                q(&p.source)
            );
        }
        let _ = writeln!(y, "  assumed:");
        if self.assumed.is_empty() {
            let _ = writeln!(y, "    []");
        }
        for a in &self.assumed {
            let _ = writeln!(y, "    - {}", q(a));
        }
        y
    }

    /// A plain sentence on how much data backs each figure, for stdout and the page.
    pub fn sentences(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.parameters {
            let strength = match p.n {
                0..=9 => "thin evidence",
                10..=29 => "some evidence",
                30..=99 => "good evidence",
                _ => "strong evidence",
            };
            out.push(format!(
                "{} = {} (95% CI {} – {}) from {} observation(s) of {}: {strength}.",
                p.parameter,
                show(p.value, p.unit),
                show(p.ci95[0], p.unit),
                show(p.ci95[1], p.unit),
                p.n,
                p.source
            ));
        }
        out
    }
}

/// A number written so it reads back the same (six significant decimals).
fn num(x: f64) -> String {
    if !x.is_finite() {
        return "0".into();
    }
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" { "0".into() } else { s.to_string() }
}
