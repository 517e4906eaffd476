//! Charts of a simulation run (feature `charts`): arrivals, queue length, service level and
//! staffing over the run, one line per tenant, as SVG or PNG.
//!
//! Both formats come from the same drawing code, [`WIDTH`] × [`HEIGHT`] (SVG user units or PNG
//! pixels). Text in the PNG is set in Noto Sans Regular (Apache-2.0), which is compiled into the
//! binary (crate `ttf-noto-sans`): no system fonts are needed. On first use the font is registered
//! with plotters as its `sans-serif` family, for the whole process; an SVG names `sans-serif` and
//! leaves the face to its viewer.
//!
//! # Example
//! ```
//! use switchboard::sim::{self, Scenario, chart};
//! # let s: Scenario = serde_json::from_str(r#"{
//! #   "duration_hours": 1, "seed": 7,
//! #   "pool": [{"name": "team", "count": 12, "channels": {"voice": 1}}],
//! #   "traffic": [{"tenant": "acme", "name": "calls", "channel": "voice", "per_hour": 120,
//! #                "service": {"exponential": {"mean_secs": 300}}}]
//! # }"#).unwrap();
//! let report = sim::run(&s).unwrap().report;
//!
//! let svg = chart::render_svg(&report).unwrap();
//! assert!(svg.starts_with("<svg"));
//! let png = chart::render_png(&report).unwrap();
//! assert!(png.starts_with(b"\x89PNG"));
//!
//! // `write` picks the format from the extension (`.svg` or `.png`, any case).
//! let path = std::env::temp_dir().join(format!("switchboard-doc-{}.PNG", std::process::id()));
//! chart::write(&report, &path).unwrap();
//! assert_eq!(std::fs::read(&path).unwrap(), png);
//! # std::fs::remove_file(&path).unwrap();
//! let err = chart::write(&report, std::path::Path::new("day.jpg")).unwrap_err();
//! assert!(matches!(err, chart::ChartError::UnknownFormat { .. }));
//! assert!(err.to_string().contains("use .svg or .png"), "{err}");
//! ```

use super::SimReport;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Chart width: SVG user units, PNG pixels.
pub const WIDTH: u32 = 1100;
/// Chart height: SVG user units, PNG pixels.
pub const HEIGHT: u32 = 1200;

/// A chart file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// SVG ([`render_svg`]).
    Svg,
    /// PNG ([`render_png`]).
    Png,
}

/// Why a chart could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    /// The file name ends in neither `.svg` nor `.png`; nothing was written.
    #[error("{}: unknown chart format (use .svg or .png)", path.display())]
    UnknownFormat {
        /// The file name asked for.
        path: PathBuf,
    },
    /// The drawing backend or the PNG encoder failed: its message.
    #[error("{0}")]
    Draw(String),
    /// The file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The chart file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Format {
    /// The format named by the extension of `path`: `.svg` or `.png`, in any case.
    ///
    /// # Errors
    /// Any other extension, or none.
    ///
    /// # Example
    /// ```
    /// use std::path::Path;
    /// use switchboard::sim::chart::Format;
    /// assert_eq!(Format::from_path(Path::new("out/day.PNG")).ok(), Some(Format::Png));
    /// assert!(Format::from_path(Path::new("day.jpg")).is_err());
    /// ```
    pub fn from_path(path: &Path) -> Result<Self, ChartError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext.eq_ignore_ascii_case("svg") {
            Ok(Self::Svg)
        } else if ext.eq_ignore_ascii_case("png") {
            Ok(Self::Png)
        } else {
            Err(ChartError::UnknownFormat {
                path: path.to_path_buf(),
            })
        }
    }
}

/// Writes a four-panel chart of `report` to `path`, as SVG or PNG by the extension of `path`
/// ([`Format::from_path`]).
///
/// # Errors
/// An extension other than `.svg` or `.png` (nothing is written then), the drawing backend's or
/// encoder's error, or the file cannot be written.
pub fn write(report: &SimReport, path: &Path) -> Result<(), ChartError> {
    match Format::from_path(path)? {
        Format::Svg => write_svg(report, path),
        Format::Png => write_png(report, path),
    }
}

/// Writes a four-panel SVG chart of `report` to `path`.
///
/// # Errors
/// The drawing backend's error, or the file cannot be written.
pub fn write_svg(report: &SimReport, path: &Path) -> Result<(), ChartError> {
    let svg = render_svg(report)?;
    std::fs::write(path, svg).map_err(|e| ChartError::Write {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Writes a four-panel PNG chart of `report` to `path` ([`WIDTH`] × [`HEIGHT`] pixels, RGB).
///
/// # Errors
/// The drawing backend's or encoder's error, or the file cannot be written.
pub fn write_png(report: &SimReport, path: &Path) -> Result<(), ChartError> {
    let png = render_png(report)?;
    std::fs::write(path, png).map_err(|e| ChartError::Write {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Renders the chart as an SVG document.
///
/// # Errors
/// [`ChartError::Draw`]: the drawing backend's error.
pub fn render_svg(report: &SimReport) -> Result<String, ChartError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(report, &root).map_err(|e| ChartError::Draw(e.to_string()))?;
    }
    Ok(out)
}

/// Renders the chart as an encoded PNG image: [`WIDTH`] × [`HEIGHT`] pixels, 8-bit RGB.
///
/// # Errors
/// [`ChartError::Draw`]: the drawing backend's or the PNG encoder's error.
pub fn render_png(report: &SimReport) -> Result<Vec<u8>, ChartError> {
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let mut rgb = vec![0u8; w * h * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(report, &root).map_err(|e| ChartError::Draw(e.to_string()))?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| ChartError::Draw(e.to_string()))?;
    writer
        .write_image_data(&rgb)
        .map_err(|e| ChartError::Draw(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| ChartError::Draw(e.to_string()))?;
    Ok(out)
}

/// Registers the embedded font as plotters' `sans-serif` (once per process). With plotters'
/// `ab_glyph` feature every backend measures text with it, so SVG needs it too.
fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, ttf_noto_sans::REGULAR)
            .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("the embedded chart font (Noto Sans) could not be loaded".into())
    }
}

type Lines = BTreeMap<String, Vec<(f64, f64)>>;

#[allow(clippy::cast_precision_loss)]
fn draw<DB>(
    report: &SimReport,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    register_font()?;
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
    Ok(())
}

/// An axis label in hours: `3`, or `1:30` between whole hours (short runs tick every half hour).
fn hour_label(x: &f64) -> String {
    // Ticks lie within the run (hours ≥ 0, far below u64::MAX minutes).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let minutes = (x.max(0.0) * 60.0).round() as u64;
    if minutes.is_multiple_of(60) {
        format!("{}", minutes / 60)
    } else {
        format!("{}:{:02}", minutes / 60, minutes % 60)
    }
}

fn panel<DB>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    hours: f64,
    ymax: f64,
    lines: &Lines,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..hours, 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_desc("hours")
        .x_label_formatter(&hour_label)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    let mut entries = Vec::with_capacity(lines.len());
    for (i, (name, pts)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?;
        entries.push((name.as_str(), color));
    }
    legend(&chart.plotting_area().strip_coord_spec(), &entries)?;
    Ok(())
}

/// Draws the legend at the middle right of `area`: a box with a line sample and the name of each
/// entry.
///
/// Not plotters' `configure_series_labels`: that sizes the box by the text as measured with the
/// registered font (Noto Sans, narrower than most viewers' `sans-serif`), so an SVG legend would
/// overflow its box. This one keeps the layout plotters gives without font metrics (0.7 em a
/// character, lines 1.25 font sizes apart), the same in both formats.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss
)]
fn legend<DB>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(&str, RGBAColor)],
) -> Result<(), Box<dyn std::error::Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    const SIZE: f64 = 12.0;
    const MARGIN: i32 = 10;
    const SAMPLE: i32 = 30;
    let em = SIZE / 1.24 / 1.24;
    let text_h = (em.round() + (em * 0.24).round()) as i32;
    let line_y = |i: usize| (i as f64 * SIZE * 1.25).round() as i32;
    let text_w = entries
        .iter()
        .map(|(name, _)| (em * 0.7 * name.chars().count() as f64).round() as i32)
        .max()
        .unwrap_or(0);
    let lines_h = entries
        .len()
        .checked_sub(1)
        .map_or(0, |i| line_y(i) + text_h);
    let (w, h) = (text_w + SAMPLE + 2 * MARGIN, lines_h + 2 * MARGIN);
    let (area_w, area_h) = area.dim_in_pixel();
    let (x, y) = (area_w as i32 - w - 5, (area_h as i32 - h) / 2);
    let frame = [(x, y), (x + w, y + h)];
    area.draw(&Rectangle::new(frame, WHITE.mix(0.8).filled()))?;
    area.draw(&Rectangle::new(frame, BLACK))?;
    let font = ("sans-serif", SIZE).into_font();
    for (i, (name, _)) in entries.iter().enumerate() {
        let at = (x + MARGIN + SAMPLE, y + MARGIN + line_y(i));
        area.draw(&Text::new(*name, at, font.clone()))?;
    }
    for (i, &(_, color)) in entries.iter().enumerate() {
        let (sx, sy) = (x + MARGIN, y + MARGIN + line_y(i) + text_h / 2);
        area.draw(&PathElement::new(vec![(sx, sy), (sx + 16, sy)], color))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Scenario, run};
    use std::collections::HashSet;

    #[test]
    fn hour_labels_show_minutes_between_whole_hours() {
        let labels: Vec<String> = [0.0, 0.5, 1.0, 1.25, 24.0, -0.0]
            .iter()
            .map(hour_label)
            .collect();
        assert_eq!(labels, ["0", "0:30", "1", "1:15", "24", "0"]);
    }

    /// One simulated hour, two tenants (two lines in each panel).
    fn report() -> SimReport {
        let s: Scenario = serde_json::from_str(
            r#"{
              "name": "chart test", "duration_hours": 1, "seed": 3,
              "pool": [{"name": "team", "count": 6, "channels": {"voice": 1}}],
              "traffic": [
                {"tenant": "acme", "name": "calls", "channel": "voice", "per_hour": 60,
                 "service": {"exponential": {"mean_secs": 240}}},
                {"tenant": "bolt", "name": "calls", "channel": "voice", "per_hour": 30,
                 "service": {"exponential": {"mean_secs": 240}}}
              ]
            }"#,
        )
        .unwrap();
        run(&s).unwrap().report
    }

    /// Decodes an 8-bit RGB PNG: (width, height, pixels).
    fn decode(png: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let px = buf[..info.buffer_size()]
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect();
        (info.width, info.height, px)
    }

    #[test]
    fn png_has_the_documented_size_colours_and_text() {
        let report = report();
        let png = render_png(&report).unwrap();
        let (w, h, px) = decode(&png);
        assert_eq!((w, h), (WIDTH, HEIGHT));
        assert_eq!(px.len(), (WIDTH * HEIGHT) as usize);

        // Not blank: a white page with both tenants' line colours and anti-aliased greys.
        let colours: HashSet<[u8; 3]> = px.iter().copied().collect();
        assert!(colours.len() > 20, "only {} colours", colours.len());
        assert!(colours.contains(&[255, 255, 255]));
        for i in 0..2 {
            let (r, g, b) = Palette99::pick(i).to_rgba().rgb();
            assert!(colours.contains(&[r, g, b]), "line colour {i} missing");
        }

        // The title band (above the first panel) holds only the title: its glyphs must be
        // there, dark and anti-aliased, spread around the centre. A font that failed to load
        // or draw leaves this band white.
        let band = |y0: u32, y1: u32| (y0..y1).flat_map(move |y| (0..WIDTH).map(move |x| (x, y)));
        let at = |(x, y): (u32, u32)| px[(y * WIDTH + x) as usize];
        let dark: Vec<u32> = band(0, 30)
            .filter(|&p| at(p).iter().all(|&c| c < 100))
            .map(|(x, _)| x)
            .collect();
        assert!(
            dark.len() > 300,
            "{} dark pixels in the title band",
            dark.len()
        );
        let (left, right) = (dark.iter().min().unwrap(), dark.iter().max().unwrap());
        assert!(
            *left < WIDTH / 2 - 100 && *right > WIDTH / 2 + 100,
            "{left}..{right}"
        );
        let greys = band(0, 30)
            .map(at)
            .filter(|&[r, g, b]| r == g && g == b && (60..200).contains(&r))
            .count();
        assert!(
            greys > 50,
            "{greys} grey (anti-aliased) pixels in the title band"
        );

        // Deterministic, like the simulation.
        assert_eq!(render_png(&report).unwrap(), png);
    }

    #[test]
    fn svg_keeps_its_shape() {
        let svg = render_svg(&report()).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains(&format!(r#"width="{WIDTH}" height="{HEIGHT}""#)));
        assert!(svg.contains("chart test — service level definition"));
        assert!(svg.contains(r#"font-family="sans-serif""#));
        for tenant in ["acme", "bolt"] {
            assert!(svg.contains(&format!(">\n{tenant}\n</text>")), "{tenant}");
        }
        // The legend box keeps plotters' metric-free size: 4 characters × 0.7 em + 30 for the
        // line sample + 2 × 10 margin wide, two lines 15 apart + 10 + 2 × 10 high; the font's
        // real (narrower) metrics would give a box that viewers' fonts overflow.
        assert!(svg.contains(r##"width="72" height="45" opacity="0.8" fill="#FFFFFF""##));
    }

    #[test]
    fn format_from_extension() {
        for (name, format) in [
            ("a.svg", Format::Svg),
            ("dir/b.SVG", Format::Svg),
            ("c.png", Format::Png),
            ("d.PnG", Format::Png),
        ] {
            assert_eq!(
                Format::from_path(Path::new(name)).ok(),
                Some(format),
                "{name}"
            );
        }
        for name in ["e.jpg", "f", "g.svg.gz", "png"] {
            let err = Format::from_path(Path::new(name)).unwrap_err();
            assert!(
                err.to_string().contains("use .svg or .png"),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn write_picks_the_format_by_extension() {
        let report = report();
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("day.Svg");
        write(&report, &svg).unwrap();
        assert_eq!(
            std::fs::read_to_string(&svg).unwrap(),
            render_svg(&report).unwrap()
        );
        let png = dir.path().join("day.PNG");
        write(&report, &png).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(decode(&bytes).0, WIDTH);

        let jpg = dir.path().join("day.jpg");
        let err = write(&report, &jpg).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: unknown chart format (use .svg or .png)", jpg.display())
        );
        assert!(!jpg.exists(), "nothing is written for an unknown format");
    }
}
