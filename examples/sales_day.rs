//! A multi-brand sales day with a 100x evening peak, through the real router.
//!
//! ```text
//! cargo run --release --example sales_day                      # report
//! cargo run --release --features full --example sales_day    # report + sales_day.svg
//! cargo run --release --features full --example sales_day -- out.svg   # or out.png
//! ```
//!
//! The scenario is `examples/scenarios/sales_day.json` (format: docs/SIMULATION.md): five brands
//! served from one shared pool — certified brand specialists in two shifts, a night team, cloud
//! generalists by day and a large call-in for the peak — with AI answering first and escalating
//! the rest. The report shows, per brand, the answer rate (service level, abandons counted as
//! missed), abandonment, ASA, CSAT and outreach conversion, and lists the half-hours in which a
//! brand's answer-rate guarantee was breached.

use std::time::Instant;
use switchboard::sim::{self, Scenario};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scenario: Scenario = serde_json::from_str(include_str!("scenarios/sales_day.json"))?;
    let started = Instant::now();
    let run = sim::run(&scenario)?;
    let wall = started.elapsed().as_secs_f64();
    print!("{}", run.report.to_text());
    println!(
        "simulated in {wall:.2} s ({:.2} M events/s)",
        run.report.events as f64 / wall / 1e6
    );
    chart(&run.report)?;
    Ok(())
}

#[cfg(feature = "charts")]
fn chart(report: &sim::SimReport) -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sales_day.svg".into());
    // SVG or PNG by the extension; anything else is an error.
    sim::chart::write(report, std::path::Path::new(&path))?;
    println!("chart: {path}");
    Ok(())
}

#[cfg(not(feature = "charts"))]
fn chart(_: &sim::SimReport) -> Result<(), Box<dyn std::error::Error>> {
    println!("(build with --features charts (or full) to write the SVG or PNG chart)");
    Ok(())
}
