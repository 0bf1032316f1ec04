//! The JCT CDF per policy as an SVG, the figure Tiresias and Blox compare policies by.

use super::engine::Outcome;
use plotters::prelude::*;

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Renders the CDF of job completion times (log-scale seconds) of each outcome.
pub fn jct_cdf_svg(outcomes: &[Outcome], title: &str) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let all = outcomes.iter().flat_map(|o| o.jobs.iter().map(|j| j.jct()));
        let (lo, hi) = all.fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
        let lo = if lo.is_finite() { lo.max(1.0) } else { 1.0 };
        let hi = hi.max(lo * 10.0);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(52)
            .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("job completion time (s, log scale)")
            .y_desc("fraction of jobs")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, o) in outcomes.iter().enumerate() {
            let mut jct: Vec<f64> = o.jobs.iter().map(|j| j.jct().max(lo)).collect();
            jct.sort_by(f64::total_cmp);
            let n = jct.len().max(1) as f64;
            // At most ~1000 points a curve: the figure stays small for 100k-job traces.
            let step = (jct.len() / 1000).max(1);
            let points = jct
                .iter()
                .enumerate()
                .filter(|(k, _)| k % step == 0 || k + 1 == jct.len())
                .map(|(k, &x)| (x, (k + 1) as f64 / n));
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(o.policy.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
