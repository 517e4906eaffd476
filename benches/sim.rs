//! Simulation and staffing benchmarks; numbers in docs/PERFORMANCE.md (section "Simulation and
//! staffing").
//!
//! ```text
//! cargo bench --bench sim                                    # full run
//! SWITCHBOARD_BENCH_QUICK=1 cargo bench --bench sim -- --test   # smoke test (CI)
//! ```
//!
//! * `sim/sales_day` — the bundled 5-brand sales day (examples/scenarios/sales_day.json) through
//!   the real router; throughput is simulated events per second. Quick mode simulates 2 hours.
//! * `sim/sales_day_full` — the peak day at full scale (examples/scenarios/sales_day_full.json:
//!   550k human requests, 12.4k agents, 2.8 M events); the issue's targets are ≥ 1 M events/s and
//!   the whole day under 10 s. Quick mode simulates 1 hour.
//! * `sim/workflow_day` — examples/scenarios/workflow_day.json: six brands' workflows in the real
//!   workflow engine and bot conversations turn by turn through the real escalation engine (the
//!   cost of running the engines, per simulated event). Quick mode simulates 1 hour.
//! * `staffing/erlang_c_5000` — Erlang C for 5,000 agents at 4,900 Erlangs.
//! * `staffing/erlang_a_5000` — Erlang A for the same, patience 120 s.
//! * `staffing/agents_for_erlang_c_5000` — the fewest agents for 80/20 at 4,900 Erlangs.
//! * `staffing/plan_48x20` — the planner for 48 intervals × 20 skill groups (Erlang A).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use switchboard::sim::{self, Scenario};
use switchboard::staffing::{ForecastRow, Model, PlanSettings, Target, Traffic, plan};

fn quick() -> bool {
    std::env::var_os("SWITCHBOARD_BENCH_QUICK").is_some()
}

/// A bundled scenario, cut to `quick_hours` in quick mode.
fn scenario(file: &str, quick_hours: f64) -> Scenario {
    let mut s = Scenario::from_path(format!(
        "{}/examples/scenarios/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("scenario");
    if quick() {
        s.duration_hours = quick_hours;
    }
    s
}

fn bench_sim(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    for (name, file, quick_hours, secs) in [
        ("sales_day", "sales_day.json", 2.0, 20),
        ("sales_day_full", "sales_day_full.json", 1.0, 40),
        ("workflow_day", "workflow_day.json", 1.0, 20),
    ] {
        let sc = scenario(file, quick_hours);
        let events = sim::run(&sc).expect("run").report.events;
        g.measurement_time(Duration::from_secs(if quick() { 1 } else { secs }));
        g.throughput(Throughput::Elements(events));
        g.bench_function(name, |b| b.iter(|| black_box(sim::run(&sc).expect("run"))));
    }
    g.finish();
}

fn forecast() -> Vec<ForecastRow> {
    (0..48u32)
        .flat_map(|i| {
            (0..20u32).map(move |g| {
                let shape = 1.0 + 4.0 * (std::f64::consts::PI * f64::from(i) / 48.0).sin();
                ForecastRow {
                    interval: i,
                    group: format!("skill{g:02}"),
                    contacts: 40.0 * shape * f64::from(g % 5 + 1),
                    aht_secs: 240.0,
                    patience_secs: Some(150.0),
                    concurrency: 1,
                }
            })
        })
        .collect()
}

fn bench_staffing(c: &mut Criterion) {
    let mut g = c.benchmark_group("staffing");
    if quick() {
        g.sample_size(10);
        g.measurement_time(Duration::from_millis(500));
    }
    let t = Traffic::new(4900.0 / 300.0, 300.0);
    g.bench_function("erlang_c_5000", |b| {
        b.iter(|| black_box(t.erlang_c(black_box(5000)).expect("stable")))
    });
    let ta = t.patience(120.0);
    g.bench_function("erlang_a_5000", |b| {
        b.iter(|| black_box(ta.erlang_a(black_box(5000)).expect("ok")))
    });
    let target = Target::new(20.0, 0.8);
    g.bench_function("agents_for_erlang_c_5000", |b| {
        b.iter(|| black_box(t.agents_for(&target, Model::ErlangC).expect("reachable")))
    });
    let rows = forecast();
    let settings = PlanSettings {
        interval_secs: 1800.0,
        target,
        model: Model::ErlangA,
        shrinkage: 0.3,
    };
    g.bench_function("plan_48x20", |b| {
        b.iter(|| black_box(plan(&rows, &settings).expect("plan")))
    });
    g.finish();
}

criterion_group!(sim_benches, bench_sim, bench_staffing);
criterion_main!(sim_benches);
