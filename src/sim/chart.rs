//! SVG charts of a simulation run (feature `charts`): arrivals, queue length, service level and
//! staffing over the run, one line per tenant.

use super::SimReport;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Writes a four-panel SVG chart of `report` to `path`.
///
/// # Errors
/// The drawing backend's error (e.g. the file cannot be written), as text.
pub fn write_svg(report: &SimReport, path: &Path) -> Result<(), String> {
    let svg = render_svg(report)?;
    std::fs::write(path, svg).map_err(|e| format!("{}: {e}", path.display()))
}

/// Renders the chart as an SVG document.
///
/// # Errors
/// The drawing backend's error, as text.
pub fn render_svg(report: &SimReport) -> Result<String, String> {
    let mut out = String::new();
    draw(report, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

type Lines = BTreeMap<String, Vec<(f64, f64)>>;

#[allow(clippy::cast_precision_loss)]
fn draw(report: &SimReport, out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let mut arrivals: Lines = BTreeMap::new();
    let mut queue: Lines = BTreeMap::new();
    let mut sl: Lines = BTreeMap::new();
    let mut staff: Vec<(f64, f64)> = Vec::new();
    let mut last_staff_at = None;
    for p in &report.series {
        let h = p.at_secs as f64 / 3600.0;
        // Arrivals and the queue maximum describe the bucket that ends at the sample.
        if p.at_secs > 0 {
            arrivals
                .entry(p.tenant.clone())
                .or_default()
                .push((h, p.arrivals as f64));
            queue
                .entry(p.tenant.clone())
                .or_default()
                .push((h, p.waiting_max as f64));
        }
        if let Some(v) = p.service_level {
            sl.entry(p.tenant.clone()).or_default().push((h, v * 100.0));
        }
        if last_staff_at != Some(p.at_secs) {
            staff.push((h, p.agents_on_shift as f64));
            last_staff_at = Some(p.at_secs);
        }
    }
    let hours = report.duration_hours.max(1e-6);
    {
        let root = SVGBackend::with_string(out, (1100, 1200)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!(
            "{} — service level definition: {}",
            if report.name.is_empty() {
                "simulation"
            } else {
                &report.name
            },
            report.definition
        );
        let root = root.titled(&title, ("sans-serif", 22))?;
        let panels = root.split_evenly((4, 1));
        let max_of = |l: &Lines| l.values().flatten().map(|&(_, y)| y).fold(1.0f64, f64::max);
        panel(
            &panels[0],
            "conversations per bucket",
            hours,
            max_of(&arrivals) * 1.05,
            &arrivals,
        )?;
        panel(
            &panels[1],
            "most requests waiting",
            hours,
            max_of(&queue) * 1.05,
            &queue,
        )?;
        panel(
            &panels[2],
            "service level % (by offered bucket)",
            hours,
            100.0,
            &sl,
        )?;
        let mut st: Lines = BTreeMap::new();
        st.insert("agents on shift".into(), staff);
        panel(&panels[3], "staffing", hours, max_of(&st) * 1.1, &st)?;
        root.present()?;
    }
    Ok(())
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    hours: f64,
    ymax: f64,
    lines: &Lines,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..hours, 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_desc("hours")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for (i, (name, pts)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
