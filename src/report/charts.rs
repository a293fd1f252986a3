//! Charts as inline SVG strings, drawn with plotters. Each function takes numbers the metrics
//! module computed and returns a self-contained `<svg>`; none computes a metric.

use plotters::prelude::*;

use crate::clock::Time;
use crate::metrics::Calibration;
use crate::sim::IncidentRecord;
use crate::sweep::ThresholdCurve;

const AUTO: RGBColor = RGBColor(31, 119, 180);
const PEOPLE: RGBColor = RGBColor(150, 150, 150);
const BAD: RGBColor = RGBColor(214, 39, 40);
const GOOD: RGBColor = RGBColor(44, 160, 44);
const WARN: RGBColor = RGBColor(255, 127, 14);

type Res = Result<(), Box<dyn std::error::Error>>;

// plotters writes SVG font sizes at 1/1.24 of the size given: 15 → 12.1 px.
/// Axis numbers and axis titles: 12 px in the page, readable at 1280 px wide.
const AXIS: (&str, u32) = ("sans-serif", 15);
/// Chart titles.
const TITLE: (&str, u32) = ("sans-serif", 19);
/// Text inside a chart (labels of rows and marks).
const NOTE: (&str, u32) = ("sans-serif", 14);

fn svg(w: u32, h: u32, draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Res) -> String {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        if let Err(e) =
            root.fill(&WHITE).map_err(|e| e.to_string()).and_then(|_| draw(root.clone()).map_err(|e| e.to_string()))
        {
            return format!("<p>chart unavailable: {e}</p>");
        }
        let _ = root.present();
    }
    buf
}

/// Times to recovery (minutes) with automation and people only, as two histograms on the
/// same axes, side by side.
pub fn mttr_histograms(auto_s: &[f64], base_s: &[f64]) -> String {
    let to_min = |v: &[f64]| v.iter().map(|s| s / 60.0).collect::<Vec<f64>>();
    let (a, b) = (to_min(auto_s), to_min(base_s));
    let mut all: Vec<f64> = a.iter().chain(b.iter()).copied().collect();
    all.sort_by(f64::total_cmp);
    // Cut the axis at the 99th percentile so one long tail does not flatten the rest.
    let max = all.get(((all.len().max(1) - 1) as f64 * 0.99) as usize).copied().unwrap_or(60.0).max(10.0);
    let bins = 24usize;
    let width = max / bins as f64;
    let hist = |v: &[f64]| {
        let mut h = vec![0usize; bins];
        for x in v {
            h[((x / width) as usize).min(bins - 1)] += 1;
        }
        h
    };
    let (ha, hb) = (hist(&a), hist(&b));
    // Counts are whole numbers: an integer axis, so no tick reads 0.5 incidents.
    let top = (ha.iter().chain(hb.iter()).copied().max().unwrap_or(1).max(1) as f64 * 1.1).ceil() as u32 + 1;
    svg(900, 320, |root| {
        let (left, right) = root.split_horizontally(450);
        for (area, h, color, title) in
            [(left, &ha, AUTO, "policy as written"), (right, &hb, PEOPLE, "baseline (team today)")]
        {
            let mut c = ChartBuilder::on(&area)
                .caption(format!("Time to recovery, {title}"), TITLE)
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(62)
                .build_cartesian_2d(0f64..max, 0u32..top)?;
            c.configure_mesh()
                .x_desc("minutes from onset")
                .y_desc("incidents")
                .label_style(AXIS)
                .axis_desc_style(AXIS)
                .disable_x_mesh()
                .draw()?;
            c.draw_series(h.iter().enumerate().map(|(k, &n)| {
                let x0 = k as f64 * width;
                Rectangle::new([(x0, 0), (x0 + width * 0.92, n as u32)], color.filled())
            }))?;
        }
        Ok(())
    })
}

/// Reliability diagram: accuracy against mean confidence per bin, with the diagonal of
/// perfect calibration; dot size follows the bin's count.
pub fn reliability(c: &Calibration) -> String {
    svg(440, 400, |root| {
        let mut ch = ChartBuilder::on(&root)
            .caption(format!("Reliability (ECE {:.3}, Brier {:.3})", c.ece, c.brier), TITLE)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        ch.configure_mesh()
            .x_desc("confidence")
            .y_desc("share correct")
            .label_style(AXIS)
            .axis_desc_style(AXIS)
            .draw()?;
        ch.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], PEOPLE.stroke_width(1)))?
            .label("perfectly calibrated")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PEOPLE));
        let max = c.bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
        let pts: Vec<(f64, f64, usize)> =
            c.bins.iter().filter(|b| b.count > 0).map(|b| (b.mean_confidence, b.accuracy, b.count)).collect();
        ch.draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), AUTO.stroke_width(2)))?
            .label("classifier")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], AUTO));
        ch.draw_series(
            pts.iter().map(|&(x, y, n)| Circle::new((x, y), 3.0 + 9.0 * (n as f64 / max).sqrt(), AUTO.filled())),
        )?
        .label(format!("dot size ∝ classifications in the bin (max {max:.0})"))
        .legend(|(x, y)| Circle::new((x + 10, y), 5, AUTO.filled()));
        ch.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(NOTE)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()?;
        Ok(())
    })
}

/// Threshold curves of one incident type: automated recovery, made worse and wrong-label
/// share against the threshold, with the policy's and the supported threshold marked.
pub fn threshold_curve(c: &ThresholdCurve) -> String {
    svg(440, 340, |root| {
        let mut ch = ChartBuilder::on(&root)
            .caption(format!("{}: threshold", c.incident_type), TITLE)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(0.48f64..1f64, 0f64..1f64)?;
        ch.configure_mesh()
            .x_desc("confidence threshold")
            .y_desc("share")
            .label_style(AXIS)
            .axis_desc_style(AXIS)
            .draw()?;
        let line = |f: fn(&crate::sweep::ThresholdPoint) -> f64| c.points.iter().map(move |p| (p.threshold, f(p)));
        ch.draw_series(LineSeries::new(line(|p| p.automated_recovery_rate), GOOD.stroke_width(2)))?
            .label("automated recovery")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GOOD));
        ch.draw_series(LineSeries::new(line(|p| p.false_confidence_share), WARN.stroke_width(2)))?
            .label("actions on a wrong label")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], WARN));
        ch.draw_series(LineSeries::new(line(|p| p.made_worse_rate), BAD.stroke_width(2)))?
            .label("incidents made worse")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BAD));
        ch.draw_series(std::iter::once(PathElement::new(
            vec![(c.current, 0.0), (c.current, 1.0)],
            BLACK.stroke_width(1),
        )))?
        .label("policy's threshold")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        if let Some(s) = c.supported {
            ch.draw_series(std::iter::once(PathElement::new(vec![(s, 0.0), (s, 1.0)], AUTO.stroke_width(2))))?
                .label("supported by the data")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], AUTO));
        }
        ch.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(NOTE)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()?;
        Ok(())
    })
}

fn minutes(from: Time, to: Time) -> f64 {
    (to.nanos() - from.nanos()) as f64 / 60e9
}

/// A timeline of incidents: per incident the people-only span (grey) and the automated span
/// (blue), each action (green: verification passed, red: failed), and when a person joined.
pub fn timeline(incidents: &[&IncidentRecord]) -> String {
    let rows = incidents.len().max(1);
    let span = incidents
        .iter()
        .map(|i| (i.arms.policy.ttr_seconds.max(i.arms.baseline.ttr_seconds) / 60.0).max(10.0))
        .fold(10.0f64, f64::max)
        * 1.05;
    svg(900, 80 + 76 * rows as u32, |root| {
        let mut ch = ChartBuilder::on(&root)
            .caption("Worst incidents: what automation did, minute by minute", TITLE)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(10)
            .build_cartesian_2d(0f64..span, 0f64..rows as f64)?;
        ch.configure_mesh()
            .x_desc("minutes from onset")
            .label_style(AXIS)
            .axis_desc_style(AXIS)
            .disable_y_mesh()
            .disable_y_axis()
            .draw()?;
        for (k, i) in incidents.iter().enumerate() {
            let y = (rows - 1 - k) as f64;
            let base_end = i.arms.baseline.ttr_seconds / 60.0;
            let auto_end = i.arms.policy.ttr_seconds / 60.0;
            ch.draw_series(std::iter::once(Rectangle::new([(0.0, y + 0.55), (base_end, y + 0.75)], PEOPLE.filled())))?;
            ch.draw_series(std::iter::once(Rectangle::new([(0.0, y + 0.25), (auto_end, y + 0.45)], AUTO.filled())))?;
            ch.draw_series(std::iter::once(Text::new(
                format!("{} {} ({})", i.id, i.truth, i.service),
                (0.5, y + 0.98),
                NOTE,
            )))?;
            for a in &i.actions {
                let x = minutes(i.onset, a.at);
                let color = match a.verified {
                    Some(true) => GOOD,
                    Some(false) => BAD,
                    None => PEOPLE,
                };
                ch.draw_series(std::iter::once(Circle::new((x, y + 0.35), 6, color.filled())))?;
                // Under its dot and inside its own row, clear of the next row's title.
                ch.draw_series(std::iter::once(Text::new(a.kind.to_string(), (x, y + 0.22), NOTE)))?;
            }
            // Actions for another incident on the same service (or its namespace quota) that
            // touched this one: hollow, so a harm with no action of its own still shows its cause.
            for t in i.touched_by.iter().filter(|t| t.kind == crate::sim::TouchKind::Action && t.by_incident != i.id) {
                let x = minutes(i.onset, t.at);
                if (0.0..=span).contains(&x) {
                    ch.draw_series(std::iter::once(Circle::new((x, y + 0.35), 6, BLACK.stroke_width(2))))?;
                }
            }
            if let Some(h) = i.arms.policy.human_engaged_at {
                let x = minutes(i.onset, h);
                ch.draw_series(std::iter::once(TriangleMarker::new((x, y + 0.35), 7, BLACK.filled())))?;
            }
        }
        Ok(())
    })
}

/// Sweep variants: automated recovery against incidents made worse; the Pareto front
/// (nothing both recovers more and harms less) in blue, the rest grey, gate failures hollow.
pub fn pareto(rows: &[crate::grid::Row]) -> String {
    // Axes span the variants' own range (with a margin), so close variants spread out.
    let span = |f: fn(&crate::grid::Row) -> f64| {
        let lo = rows.iter().map(f).fold(f64::INFINITY, f64::min);
        let hi = rows.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        let pad = ((hi - lo) * 0.15).max(0.005);
        ((lo - pad).max(0.0), (hi + pad).min(1.0))
    };
    let (worse_lo, worse_hi) = span(|r| r.made_worse_rate);
    let (rec_lo, rec_hi) = span(|r| r.automated_recovery_rate);
    svg(640, 420, |root| {
        let mut ch = ChartBuilder::on(&root)
            .caption("Policy variants: recovery against harm", TITLE)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(worse_lo..worse_hi, rec_lo..rec_hi)?;
        ch.configure_mesh()
            .x_desc("incidents made worse (share)")
            .y_desc("automated recovery (share)")
            .label_style(AXIS)
            .axis_desc_style(AXIS)
            .draw()?;
        for r in rows {
            let color = if r.pareto { AUTO } else { PEOPLE };
            let style = if r.gate_passed == Some(false) { color.stroke_width(2) } else { color.filled() };
            ch.draw_series(std::iter::once(Circle::new((r.made_worse_rate, r.automated_recovery_rate), 6, style)))?;
            ch.draw_series(std::iter::once(Text::new(
                format!("#{}", r.variant),
                (r.made_worse_rate, r.automated_recovery_rate),
                NOTE,
            )))?;
        }
        Ok(())
    })
}

/// A delay's empirical distribution (steps) beside the fitted log-normal's (line), minutes on
/// a log axis, with the Kolmogorov–Smirnov distance in the title.
pub fn delay_fit(step: &str, f: &crate::fit::stats::LogNormalFit) -> String {
    // The history's CDF as steps (minutes): the empirical one, or 1 − Kaplan–Meier.
    let pts: Vec<(f64, f64)> = f.history.iter().map(|&(s, p)| ((s / 60.0).max(1.0 / 60.0), p)).collect();
    let (lo, hi) = match (pts.first(), pts.last()) {
        (Some(a), Some(b)) => ((a.0 * 0.8).max(1.0 / 60.0), (b.0 * 1.25).max(a.0 * 2.0)),
        _ => return "<p>no observations</p>".into(),
    };
    let caption = if f.censored > 0 {
        format!("{step}: n = {} + {} censored, KS D = {:.3}", f.n, f.censored, f.ks_d)
    } else {
        format!("{step}: n = {}, KS D = {:.3}, p = {:.2}", f.n, f.ks_d, f.ks_p)
    };
    svg(440, 320, |root| {
        let mut ch = ChartBuilder::on(&root)
            .caption(caption, TITLE)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1f64)?;
        ch.configure_mesh()
            .x_desc("minutes (log scale)")
            .y_desc("share at or under")
            .label_style(AXIS)
            .axis_desc_style(AXIS)
            .draw()?;
        let mut prev = 0.0;
        let steps: Vec<(f64, f64)> = pts
            .iter()
            .flat_map(|&(x, p)| {
                let s = [(x, prev), (x, p)];
                prev = p;
                s
            })
            .collect();
        let label = if f.censored > 0 { "history (Kaplan–Meier)" } else { "history" };
        ch.draw_series(LineSeries::new(steps, PEOPLE.stroke_width(2)))?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PEOPLE));
        let k = 120;
        let curve: Vec<(f64, f64)> = (0..=k)
            .map(|i| {
                let x = lo * (hi / lo).powf(f64::from(i) / f64::from(k));
                (x, f.cdf(x * 60.0))
            })
            .collect();
        ch.draw_series(LineSeries::new(curve, AUTO.stroke_width(2)))?
            .label("fitted log-normal")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], AUTO));
        ch.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(NOTE)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()?;
        Ok(())
    })
}
