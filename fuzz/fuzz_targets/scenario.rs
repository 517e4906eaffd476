//! Fuzzes simulation scenarios: loading, validation, and a short run of whatever validates.
//!
//! The input, as UTF-8, is read as a JSON and as a TOML [`Scenario`]. Every scenario that loads
//! and validates is cut down so one input runs in milliseconds (at most half an hour simulated,
//! 30 agents per group, 3,000 arrivals per hour per stream, 20 bot turns), then simulated:
//! * the run never panics, and it only fails with [`SimError::Scenario`] or
//!   [`SimError::Workflow`] (input the engines refuse) — a router or escalation error would be
//!   the simulator breaking the engines' rules;
//! * every tenant's human requests are accounted for: `offered = answered + abandoned +
//!   unfinished + callbacks`, and every conversation the report counts reached the ledger's AI
//!   outcomes exactly once (checked without warm-up, which leaves early ones out of the report);
//! * the same scenario runs to the same report.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::sim::{self, Scenario, SimError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for sc in [Scenario::from_json(text), Scenario::from_toml(text)]
        .into_iter()
        .flatten()
    {
        check(sc);
    }
});

fn check(mut sc: Scenario) {
    if sc.validate().is_err() {
        return;
    }
    sc.duration_hours = sc.duration_hours.min(0.5);
    sc.warmup_hours = 0.0;
    for g in &mut sc.pool {
        g.count = g.count.min(30);
    }
    for s in &mut sc.traffic {
        s.per_hour = s.per_hour.min(3_000.0);
        if let Some(b) = &mut s.bot {
            b.mean_turns = b.mean_turns.min(20.0);
        }
    }
    let first = match sim::run(&sc) {
        Ok(run) => run,
        Err(SimError::Scenario(_) | SimError::Workflow { .. }) => return,
        Err(e) => panic!("the simulator broke an engine's rules: {e}"),
    };
    for t in &first.report.tenants {
        assert_eq!(
            t.offered,
            t.answered + t.abandoned + t.unfinished + t.callbacks,
            "{}",
            t.tenant
        );
    }
    // Each conversation the report counts reached the ledger's AI outcomes exactly once.
    let end = switchboard::Time::from_secs_f64(sc.duration_hours * 3600.0).unwrap_or_default();
    let ai: u64 = first
        .ledger
        .report(end)
        .ai_tenants
        .iter()
        .map(|s| s.conversations)
        .sum();
    assert_eq!(ai, first.report.total.conversations);
    let again = sim::run(&sc).expect("ran once");
    assert_eq!(first.report, again.report);
}
