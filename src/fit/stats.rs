//! The estimators `fit` uses: a log-normal fitted by maximum likelihood with intervals for
//! its median and 90th percentile, the exact (Garwood) Poisson interval for a rate, the
//! Kolmogorov–Smirnov distance between a sample and a fitted distribution, and a Beta set by
//! the method of moments.
//!
//! Pure arithmetic on numbers handed in; no records, no I/O. Samples are kept in bounded
//! memory: the sufficient statistics use every observation, the goodness-of-fit test a
//! reservoir of at most [`RESERVOIR`] of them, drawn by a fixed-seed generator so the same
//! input gives the same figures.

use rand::{Rng, SeedableRng};
use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF, LogNormal, StudentsT};

/// Observations kept for the goodness-of-fit test (and the chart) per figure.
pub const RESERVOIR: usize = 4096;

/// z for the 90th percentile of the standard normal (as `sim::model::Delay` uses).
pub const Z90: f64 = 1.281_551_565_545;

/// Delays shorter than this are counted as this: a log-normal has no zero (an ack in the
/// same second as its page).
pub const FLOOR_SECONDS: f64 = 1.0;

/// Positive durations, in seconds, in bounded memory.
#[derive(Debug, Clone)]
pub struct Samples {
    n: u64,
    sum_ln: f64,
    sum_ln2: f64,
    floored: u64,
    kept: Vec<f64>,
    rng: rand_pcg::Pcg64Mcg,
}

impl Default for Samples {
    fn default() -> Self {
        Samples {
            n: 0,
            sum_ln: 0.0,
            sum_ln2: 0.0,
            floored: 0,
            kept: Vec::new(),
            rng: rand_pcg::Pcg64Mcg::seed_from_u64(0x05EE_DF17),
        }
    }
}

impl Samples {
    pub fn add(&mut self, seconds: f64) {
        if !seconds.is_finite() {
            return;
        }
        let x = if seconds < FLOOR_SECONDS {
            self.floored += 1;
            FLOOR_SECONDS
        } else {
            seconds
        };
        self.n += 1;
        let l = x.ln();
        self.sum_ln += l;
        self.sum_ln2 += l * l;
        // Reservoir sampling (Algorithm R): every observation is kept with equal chance.
        if self.kept.len() < RESERVOIR {
            self.kept.push(x);
        } else {
            let j = self.rng.gen_range(0..self.n);
            if (j as usize) < RESERVOIR {
                self.kept[j as usize] = x;
            }
        }
    }

    pub fn n(&self) -> u64 {
        self.n
    }

    /// How many were below [`FLOOR_SECONDS`] and counted as it.
    pub fn floored(&self) -> u64 {
        self.floored
    }

    /// The sample's own median (of the kept observations), for the report.
    pub fn median(&self) -> Option<f64> {
        let mut xs = self.kept.clone();
        xs.sort_by(f64::total_cmp);
        (!xs.is_empty()).then(|| xs[xs.len() / 2])
    }

    /// The log-normal fitted by maximum likelihood (σ with the n − 1 divisor), or `None`
    /// under `min_n` observations.
    pub fn lognormal(&self, min_n: u64) -> Option<LogNormalFit> {
        if self.n < min_n.max(2) {
            return None;
        }
        let n = self.n as f64;
        let mu = self.sum_ln / n;
        let var = ((self.sum_ln2 - n * mu * mu) / (n - 1.0)).max(0.0);
        let sigma = var.sqrt();
        let t = StudentsT::new(0.0, 1.0, n - 1.0).ok()?.inverse_cdf(0.975);
        let se_mu = sigma / n.sqrt();
        // The 90th percentile is μ + z σ; its standard error by the delta method, with
        // Var(σ̂) ≈ σ² / (2 (n − 1)).
        let se_q = (sigma * sigma / n + Z90 * Z90 * sigma * sigma / (2.0 * (n - 1.0))).sqrt();
        let mut sorted = self.kept.clone();
        sorted.sort_by(f64::total_cmp);
        let (ks_d, ks_p) = if sigma > 0.0 {
            let d = LogNormal::new(mu, sigma).ok()?;
            ks(&sorted, |x| d.cdf(x))
        } else {
            (0.0, 1.0)
        };
        let m = sorted.len() as f64;
        let history = sorted.iter().enumerate().map(|(i, &x)| (x, (i + 1) as f64 / m)).collect();
        Some(LogNormalFit {
            n: self.n,
            censored: 0,
            history,
            mu,
            sigma,
            median: mu.exp(),
            median_ci95: [(mu - t * se_mu).exp(), (mu + t * se_mu).exp()],
            p90: (mu + Z90 * sigma).exp(),
            p90_ci95: [(mu + Z90 * sigma - t * se_q).exp(), (mu + Z90 * sigma + t * se_q).exp()],
            ks_d,
            ks_p,
            tested_on: sorted.len(),
            sorted,
        })
    }
}

/// A log-normal fitted to durations (seconds).
#[derive(Debug, Clone, Serialize)]
pub struct LogNormalFit {
    /// Exact observations.
    pub n: u64,
    /// Right-censored ones (known only to exceed a value), fitted by their survival.
    pub censored: u64,
    pub mu: f64,
    pub sigma: f64,
    pub median: f64,
    pub median_ci95: [f64; 2],
    pub p90: f64,
    pub p90_ci95: [f64; 2],
    /// Kolmogorov–Smirnov distance between the sample and the fitted distribution.
    pub ks_d: f64,
    /// Its p-value from the Kolmogorov distribution (Stephens' small-sample correction). The
    /// parameters come from the same sample, so the test is conservative (Lilliefors): a small
    /// p says the family does not fit, a large one is weak evidence that it does.
    pub ks_p: f64,
    /// Observations the test ran on (all of them, or a reservoir of [`RESERVOIR`]).
    pub tested_on: usize,
    #[serde(skip)]
    pub sorted: Vec<f64>,
    /// The history's distribution as steps (seconds, share at or under): the empirical CDF,
    /// or 1 − the Kaplan–Meier survival when some observations are censored.
    #[serde(skip)]
    pub history: Vec<(f64, f64)>,
}

impl LogNormalFit {
    pub fn cdf(&self, x: f64) -> f64 {
        if self.sigma <= 0.0 {
            return if x >= self.median { 1.0 } else { 0.0 };
        }
        LogNormal::new(self.mu, self.sigma).map_or(0.0, |d| d.cdf(x))
    }
}

/// A log-normal fitted by maximum likelihood to exact observations and right-censored ones
/// (a delay known only to be longer than a value: nobody had noticed when the alert fired or
/// the fault ended), each reservoir standing for its full count. Without censored ones it is
/// [`Samples::lognormal`]. The intervals come from the observed information (the inverse of
/// the log-likelihood's curvature at its maximum); the goodness of fit compares the fitted CDF
/// with 1 − the Kaplan–Meier survival at the exact observations, its p-value taken as if the
/// exact ones were a plain sample (approximate: the page says so). `None` under `min_n` exact
/// observations, or when the maximum is not a proper one.
pub fn lognormal_censored(exact: &Samples, censored: &Samples, min_n: u64) -> Option<LogNormalFit> {
    if censored.n == 0 {
        return exact.lognormal(min_n);
    }
    let plain = exact.lognormal(min_n)?;
    let we = exact.n as f64 / exact.kept.len().max(1) as f64;
    let wc = censored.n as f64 / censored.kept.len().max(1) as f64;
    let ye: Vec<f64> = exact.kept.iter().map(|x| x.ln()).collect();
    let yc: Vec<f64> = censored.kept.iter().map(|x| x.ln()).collect();
    let ll = |mu: f64, sigma: f64| -> f64 {
        if !(sigma > 1e-9 && sigma.is_finite() && mu.is_finite()) {
            return f64::NEG_INFINITY;
        }
        let a: f64 = ye
            .iter()
            .map(|y| {
                let z = (y - mu) / sigma;
                -sigma.ln() - 0.5 * z * z
            })
            .sum();
        let b: f64 = yc.iter().map(|y| ln_survival((y - mu) / sigma)).sum();
        we * a + wc * b
    };
    let start_sigma = if plain.sigma > 1e-6 { plain.sigma } else { 0.5 };
    let (mu, sigma) = maximise(|p| ll(p[0], p[1].exp()), [plain.mu, start_sigma.ln()]);
    let sigma = sigma.exp();
    // Observed information in (μ, σ) by central differences.
    let h = [1e-4 * mu.abs().max(1.0), 1e-4 * sigma.max(1e-3)];
    let f = |a: f64, b: f64| ll(a, b);
    let f0 = f(mu, sigma);
    let hmm = (f(mu + h[0], sigma) - 2.0 * f0 + f(mu - h[0], sigma)) / (h[0] * h[0]);
    let hss = (f(mu, sigma + h[1]) - 2.0 * f0 + f(mu, sigma - h[1])) / (h[1] * h[1]);
    let hms = (f(mu + h[0], sigma + h[1]) - f(mu + h[0], sigma - h[1]) - f(mu - h[0], sigma + h[1])
        + f(mu - h[0], sigma - h[1]))
        / (4.0 * h[0] * h[1]);
    let det = hmm * hss - hms * hms;
    if !(hmm < 0.0 && det > 0.0 && det.is_finite()) {
        return None;
    }
    let (v_mu, v_s, c) = (-hss / det, -hmm / det, hms / det);
    let z = 1.959_963_984_540;
    let se_mu = v_mu.max(0.0).sqrt();
    let q = mu + Z90 * sigma;
    let se_q = (v_mu + Z90 * Z90 * v_s + 2.0 * Z90 * c).max(0.0).sqrt();
    // Kaplan–Meier: survival steps down at each exact time by the share of those still at
    // risk (censored ones at a time count as at risk there).
    let mut all: Vec<(f64, bool)> =
        exact.kept.iter().map(|&x| (x, true)).chain(censored.kept.iter().map(|&x| (x, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut at_risk = we * exact.kept.len() as f64 + wc * censored.kept.len() as f64;
    let mut surv = 1.0;
    let mut history = Vec::new();
    let d = LogNormal::new(mu, sigma).ok()?;
    let mut ks_d: f64 = 0.0;
    let mut i = 0;
    while i < all.len() {
        let t = all[i].0;
        let (mut events, mut out) = (0.0, 0.0);
        while i < all.len() && all[i].0 == t {
            if all[i].1 {
                events += we;
                out += we;
            } else {
                out += wc;
            }
            i += 1;
        }
        if events > 0.0 && at_risk > 0.0 {
            let before = 1.0 - surv;
            surv *= 1.0 - events / at_risk;
            let after = 1.0 - surv;
            let fit = d.cdf(t);
            ks_d = ks_d.max((after - fit).abs()).max((fit - before).abs());
            history.push((t, after));
        }
        at_risk -= out;
    }
    let nf = exact.n.min(exact.kept.len() as u64) as f64;
    let ks_p = kolmogorov_q((nf.sqrt() + 0.12 + 0.11 / nf.sqrt()) * ks_d);
    Some(LogNormalFit {
        n: exact.n,
        censored: censored.n,
        mu,
        sigma,
        median: mu.exp(),
        median_ci95: [(mu - z * se_mu).exp(), (mu + z * se_mu).exp()],
        p90: q.exp(),
        p90_ci95: [(q - z * se_q).exp(), (q + z * se_q).exp()],
        ks_d,
        ks_p,
        tested_on: all.len(),
        sorted: plain.sorted,
        history,
    })
}

/// ln P(Z > z) for a standard normal, without underflow far in the tail.
fn ln_survival(z: f64) -> f64 {
    if z < 8.0 {
        (0.5 * statrs::function::erf::erfc(z / std::f64::consts::SQRT_2)).max(f64::MIN_POSITIVE).ln()
    } else {
        // Mills' ratio: P(Z > z) ≈ φ(z) / z.
        -0.5 * z * z - z.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    }
}

/// The maximum of `f` over two parameters by Nelder–Mead from `start` (deterministic: fixed
/// steps, at most 2,000 iterations, stopping when the simplex's values agree to 1e-10).
fn maximise(f: impl Fn([f64; 2]) -> f64, start: [f64; 2]) -> (f64, f64) {
    let g = |p: [f64; 2]| {
        let v = f(p);
        if v.is_nan() { f64::INFINITY } else { -v }
    };
    let mut simplex = [start, [start[0] + 0.3, start[1]], [start[0], start[1] + 0.3]];
    let mut vals = simplex.map(g);
    for _ in 0..2_000 {
        let mut idx = [0usize, 1, 2];
        idx.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        let (b, m, w) = (idx[0], idx[1], idx[2]);
        if (vals[w] - vals[b]).abs() <= 1e-10 * (1.0 + vals[b].abs()) {
            break;
        }
        let c = [(simplex[b][0] + simplex[m][0]) / 2.0, (simplex[b][1] + simplex[m][1]) / 2.0];
        let at = |t: f64| [c[0] + t * (simplex[w][0] - c[0]), c[1] + t * (simplex[w][1] - c[1])];
        let r = at(-1.0);
        let fr = g(r);
        if fr < vals[b] {
            let e = at(-2.0);
            let fe = g(e);
            (simplex[w], vals[w]) = if fe < fr { (e, fe) } else { (r, fr) };
        } else if fr < vals[m] {
            (simplex[w], vals[w]) = (r, fr);
        } else {
            let k = at(if fr < vals[w] { -0.5 } else { 0.5 });
            let fk = g(k);
            if fk < vals[w].min(fr) {
                (simplex[w], vals[w]) = (k, fk);
            } else {
                for j in [m, w] {
                    simplex[j] = [(simplex[j][0] + simplex[b][0]) / 2.0, (simplex[j][1] + simplex[b][1]) / 2.0];
                    vals[j] = g(simplex[j]);
                }
            }
        }
    }
    let best = (0..3).min_by(|&a, &b| vals[a].total_cmp(&vals[b])).unwrap_or(0);
    (simplex[best][0], simplex[best][1])
}

/// The Kolmogorov–Smirnov distance of a sorted sample from `cdf`, and its asymptotic p-value.
pub fn ks(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> (f64, f64) {
    let n = sorted.len();
    if n == 0 {
        return (0.0, 1.0);
    }
    let nf = n as f64;
    let mut d: f64 = 0.0;
    for (i, &x) in sorted.iter().enumerate() {
        let f = cdf(x);
        d = d.max((i + 1) as f64 / nf - f).max(f - i as f64 / nf);
    }
    let lambda = (nf.sqrt() + 0.12 + 0.11 / nf.sqrt()) * d;
    (d, kolmogorov_q(lambda))
}

/// P(K > λ) for the Kolmogorov distribution: 2 Σ (−1)^(k−1) e^(−2 k² λ²).
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let k = f64::from(k);
        let term = (-2.0 * k * k * lambda * lambda).exp();
        sum += if (k as u32) % 2 == 1 { term } else { -term };
        if term < 1e-12 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// The exact 95% interval for a Poisson mean given `k` events (Garwood), per unit exposure.
pub fn poisson_ci95(k: u64, exposure: f64) -> [f64; 2] {
    if exposure <= 0.0 {
        return [0.0, 0.0];
    }
    let lo = if k == 0 { 0.0 } else { ChiSquared::new(2.0 * k as f64).map_or(0.0, |c| c.inverse_cdf(0.025) / 2.0) };
    let hi = ChiSquared::new(2.0 * k as f64 + 2.0).map_or(f64::INFINITY, |c| c.inverse_cdf(0.975) / 2.0);
    [lo / exposure, hi / exposure]
}

/// A Beta's concentration (α + β) from a sample's mean and variance (method of moments),
/// held to [2, 1000]; `None` without spread to measure.
pub fn beta_concentration(mean: f64, var: f64) -> Option<f64> {
    if !(var > 0.0 && mean > 0.0 && mean < 1.0) {
        return None;
    }
    Some((mean * (1.0 - mean) / var - 1.0).clamp(2.0, 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::distributions::Distribution;

    #[test]
    fn a_censored_lognormal_gives_back_its_median_where_the_plain_fit_is_biased_low() {
        // Delays of median 8 min, each seen only if shorter than a competing time (the alert,
        // median 4 min): the ones seen are short; the censored fit uses the others' bounds.
        let truth = LogNormal::new((480.0f64).ln(), 0.6).unwrap();
        let race = LogNormal::new((240.0f64).ln(), 0.5).unwrap();
        let mut hits = 0;
        for seed in 0..20 {
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
            let (mut exact, mut cens) = (Samples::default(), Samples::default());
            for _ in 0..600 {
                let (d, c) = (truth.sample(&mut rng), race.sample(&mut rng));
                if d <= c { exact.add(d) } else { cens.add(c) }
            }
            let plain = exact.lognormal(5).unwrap();
            assert!(plain.median_ci95[1] < 480.0, "the plain fit is biased low: {plain:?}");
            let f = lognormal_censored(&exact, &cens, 5).unwrap();
            assert_eq!((f.n + f.censored), 600);
            hits += u32::from(f.median_ci95[0] <= 480.0 && 480.0 <= f.median_ci95[1]);
            assert!(f.history.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1), "Kaplan–Meier steps up");
        }
        assert!(hits >= 17, "the censored fit's interval holds the truth in {hits} of 20");
    }

    #[test]
    fn without_censored_observations_the_censored_fit_is_the_plain_one() {
        let mut s = Samples::default();
        for x in [60.0, 120.0, 90.0, 300.0, 45.0, 200.0] {
            s.add(x);
        }
        let (a, b) = (s.lognormal(5).unwrap(), lognormal_censored(&s, &Samples::default(), 5).unwrap());
        assert_eq!((a.mu, a.sigma, a.median_ci95), (b.mu, b.sigma, b.median_ci95));
    }

    #[test]
    fn a_lognormal_sample_gives_back_its_median_and_p90_within_the_interval() {
        let truth = LogNormal::new((300.0f64).ln(), 0.8).unwrap();
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        let mut s = Samples::default();
        for _ in 0..500 {
            s.add(truth.sample(&mut rng));
        }
        let f = s.lognormal(5).unwrap();
        assert!(f.median_ci95[0] < 300.0 && 300.0 < f.median_ci95[1], "{f:?}");
        let p90 = (300.0f64.ln() + Z90 * 0.8).exp();
        assert!(f.p90_ci95[0] < p90 && p90 < f.p90_ci95[1], "{f:?}");
        assert!(f.ks_p > 0.05, "a log-normal sample fits a log-normal: {f:?}");
    }

    #[test]
    fn a_sample_of_another_shape_fails_the_ks_test() {
        // Two clusters far apart: no log-normal fits them.
        let mut s = Samples::default();
        for i in 0..400 {
            s.add(if i % 2 == 0 { 10.0 + f64::from(i % 7) } else { 100_000.0 + f64::from(i % 5) });
        }
        let f = s.lognormal(5).unwrap();
        assert!(f.ks_p < 0.001, "{f:?}");
    }

    #[test]
    fn poisson_interval_matches_published_values() {
        // Garwood intervals for k = 0, 1, 10 (e.g. Ulm 1990's table): [0, 3.689], [0.0253,
        // 5.572], [4.795, 18.39].
        let close = |a: f64, b: f64| (a - b).abs() < 1e-3;
        let [lo, hi] = poisson_ci95(0, 1.0);
        assert!(close(lo, 0.0) && close(hi, 3.689), "{lo} {hi}");
        let [lo, hi] = poisson_ci95(1, 1.0);
        assert!(close(lo, 0.0253) && close(hi, 5.572), "{lo} {hi}");
        let [lo, hi] = poisson_ci95(10, 2.0);
        assert!(close(lo, 4.795 / 2.0) && close(hi, 18.39 / 2.0), "{lo} {hi}");
    }

    #[test]
    fn too_few_observations_fit_nothing_and_zero_delays_are_floored() {
        let mut s = Samples::default();
        s.add(0.0);
        s.add(5.0);
        assert!(s.lognormal(5).is_none());
        assert_eq!(s.floored(), 1);
    }

    #[test]
    fn the_reservoir_stays_bounded() {
        let mut s = Samples::default();
        for i in 0..(RESERVOIR * 3) {
            s.add(1.0 + i as f64);
        }
        assert_eq!(s.n() as usize, RESERVOIR * 3);
        assert_eq!(s.kept.len(), RESERVOIR);
    }
}
