//! Erlang C / Erlang A against reference values computed independently (exact rationals and
//! 60-digit decimals) by `tests/data/erlang_reference.py`, to 1e-6.

use switchboard::staffing::{
    ForecastRow, Model, PlanSettings, SlDefinition, StaffingError, Target, Traffic, erlang_b,
    erlang_c, plan,
};

const REFERENCE: &str = include_str!("data/erlang_reference.csv");

fn rel_close(got: f64, want: f64, what: &str) {
    let tol = 1e-6 * want.abs().max(1e-3);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:.12e}, want {want:.12e}"
    );
}

fn parse_load(s: &str) -> f64 {
    match s.split_once('/') {
        Some((a, b)) => a.parse::<f64>().unwrap() / b.parse::<f64>().unwrap(),
        None => s.parse().unwrap(),
    }
}

#[test]
fn reference_values_agree_to_1e_6() {
    let mut checked = 0;
    for line in REFERENCE.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let n: u32 = f[1].parse().unwrap();
        let aht: f64 = f[3].parse().unwrap();
        let t: f64 = f[4].parse().unwrap();
        let p_wait: f64 = f[6].parse().unwrap();
        let wait: f64 = f[7].parse().unwrap();
        let within: f64 = f[8].parse().unwrap();
        let what = line.to_owned();
        match f[0] {
            "erlang_c" => {
                let load = parse_load(f[2]);
                let m = Traffic::new(load / aht, aht).erlang_c(n).unwrap();
                rel_close(m.p_wait, p_wait, &format!("P(wait) {what}"));
                rel_close(erlang_c(u64::from(n), load), p_wait, &what);
                rel_close(m.asa_secs, wait, &format!("ASA {what}"));
                for d in SlDefinition::ALL {
                    rel_close(m.service_level_at(t, d), within, &format!("SL {d} {what}"));
                }
            }
            "erlang_a" => {
                let rate: f64 = f[2].parse().unwrap();
                let patience: f64 = f[5].parse().unwrap();
                let p_ab: f64 = f[9].parse().unwrap();
                let m = Traffic::new(rate, aht)
                    .patience(patience)
                    .erlang_a(n)
                    .unwrap();
                rel_close(m.p_wait, p_wait, &format!("P(wait) {what}"));
                rel_close(m.p_abandon, p_ab, &format!("P(abandon) {what}"));
                rel_close(m.avg_wait_secs, wait, &format!("avg wait {what}"));
                let s = m.shares_at(t);
                rel_close(
                    s.answered_within,
                    within,
                    &format!("answered within {what}"),
                );
            }
            other => panic!("unknown model {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 16);
}

#[test]
fn stable_for_thousands_of_agents() {
    // 50,000 servers: a^n/n! would overflow f64 by thousands of orders of magnitude.
    let c = erlang_c(50_000, 49_500.0);
    assert!(c.is_finite() && c > 0.0 && c < 1.0, "{c}");
    let b = erlang_b(50_000, 10_000.0);
    assert!(b == 0.0 || (b > 0.0 && b < 1e-300), "{b}");
    let m = Traffic::new(10.0, 300.0)
        .patience(120.0)
        .erlang_a(3_200)
        .unwrap();
    assert!(m.p_abandon.is_finite() && m.p_abandon < 0.1, "{m:?}");
    let overloaded = Traffic::new(10.0, 300.0)
        .patience(120.0)
        .erlang_a(2_000)
        .unwrap();
    // Load 3,000 on 2,000: about a third must abandon.
    assert!(
        (overloaded.p_abandon - 1.0 / 3.0).abs() < 0.02,
        "{overloaded:?}"
    );
}

#[test]
fn agents_for_is_the_smallest_meeting_the_target() {
    let traffic = Traffic::per_interval(2_000.0, 1800.0, 240.0);
    let target = Target::new(20.0, 0.8);
    for model in [Model::ErlangC, Model::ErlangA] {
        let t = if model == Model::ErlangA {
            traffic.patience(90.0)
        } else {
            traffic
        };
        let s = t.agents_for(&target, model).unwrap();
        assert!(target.met_by(&s.metrics));
        let below = t.metrics(model, s.agents - 1);
        assert!(below.map_or(true, |m| !target.met_by(&m)), "{model:?}");
    }
}

#[test]
fn abandonment_definitions_are_ordered() {
    let m = Traffic::new(0.5, 120.0)
        .patience(60.0)
        .erlang_a(58)
        .unwrap();
    let sl = |d| m.service_level_at(20.0, d);
    let missed = sl(SlDefinition::AbandonsMissed);
    assert!(missed <= sl(SlDefinition::AbandonsExcluded));
    assert!(missed <= sl(SlDefinition::ShortAbandonsMet));
    assert!(missed <= sl(SlDefinition::ShortAbandonsExcluded));
    assert!(sl(SlDefinition::ShortAbandonsExcluded) <= sl(SlDefinition::AbandonsExcluded) + 1e-12);
}

#[test]
fn chat_concurrency_multiplies_servers() {
    let single = Traffic::per_interval(300.0, 1800.0, 600.0)
        .erlang_c(120)
        .unwrap();
    let chat = Traffic::per_interval(300.0, 1800.0, 600.0)
        .concurrency(3)
        .erlang_c(40)
        .unwrap();
    assert_eq!(chat.servers, 120);
    assert!((single.p_wait - chat.p_wait).abs() < 1e-15);
}

#[test]
fn bad_input_is_an_error() {
    assert!(matches!(
        Traffic::new(f64::NAN, 10.0).erlang_c(2),
        Err(StaffingError::InvalidInput {
            field: "arrival_rate",
            ..
        })
    ));
    assert!(matches!(
        Traffic::new(1.0, 10.0).erlang_c(5),
        Err(StaffingError::Unstable { servers: 5, .. })
    ));
    assert!(matches!(
        Traffic::new(1.0, 10.0).erlang_a(5),
        Err(StaffingError::InvalidInput {
            field: "patience_secs",
            ..
        })
    ));
    assert!(Traffic::new(1.0, 10.0).erlang_c(0).is_err());
    assert!(
        Traffic::new(1.0, 10.0)
            .agents_for(&Target::new(20.0, 1.5), Model::ErlangC)
            .is_err()
    );
    let mut target = Target::new(20.0, 0.8);
    target.max_agents = 5;
    assert_eq!(
        Traffic::new(1.0, 10.0).agents_for(&target, Model::ErlangC),
        Err(StaffingError::Unreachable { max_agents: 5 })
    );
}

#[test]
fn planner_48_intervals() {
    let rows: Vec<ForecastRow> = (0..48)
        .flat_map(|i| {
            (0..3).map(move |g| ForecastRow {
                interval: i,
                group: format!("g{g}"),
                contacts: 50.0 + 10.0 * f64::from(i) * f64::from(g + 1),
                aht_secs: 200.0,
                patience_secs: Some(120.0),
                concurrency: 1,
            })
        })
        .collect();
    let settings = PlanSettings {
        interval_secs: 1800.0,
        target: Target::new(20.0, 0.8),
        model: Model::ErlangA,
        shrinkage: 0.25,
    };
    let p = plan(&rows, &settings).unwrap();
    assert_eq!(p.cells.len(), 144);
    assert_eq!(p.totals.len(), 48);
    assert!(p.cells.iter().all(|c| c.service_level >= 0.8));
    let (need, call) = p.totals[&47];
    assert!(call >= need && f64::from(call) < f64::from(need) / 0.75 + 1.0);
}

fn row(interval: u32, group: &str, contacts: f64) -> ForecastRow {
    ForecastRow {
        interval,
        group: group.into(),
        contacts,
        aht_secs: 300.0,
        patience_secs: None,
        concurrency: 1,
    }
}

#[test]
fn simulator_verifies_the_plan_and_corrects_it_where_skills_overlap() {
    use std::collections::BTreeMap;
    use switchboard::sim::{Verdict, VerifySettings, verify_plan};
    // Refunds surge in intervals 1-2; sizing is steady. Sizing agents also hold the refund
    // skill, so the router pulls them into the refund queue and sizing falls below its silo
    // (Erlang) service level: the verification must add sizing agents there.
    let rows: Vec<ForecastRow> = (0..4)
        .flat_map(|i| {
            let refund = if (1..=2).contains(&i) { 400.0 } else { 120.0 };
            [row(i, "refund", refund), row(i, "sizing", 60.0)]
        })
        .collect();
    let settings = PlanSettings {
        interval_secs: 1800.0,
        target: Target::new(20.0, 0.8),
        model: Model::ErlangC,
        shrinkage: 0.25,
    };
    let p = plan(&rows, &settings).unwrap();
    let mut overlap = BTreeMap::new();
    overlap.insert("sizing".to_owned(), vec!["refund".to_owned()]);
    let opts = VerifySettings {
        overlap,
        ..VerifySettings::default()
    };
    let v = verify_plan(&rows, &settings, &p, &opts).unwrap();
    for c in &v.cells {
        eprintln!(
            "interval {} {:<7} planned {:>3} -> {:>3}  erlang {:.3}  sim {:.3} ± {:.3}  {:?}",
            c.interval,
            c.group,
            c.planned,
            c.agents,
            c.erlang_service_level,
            c.simulated_service_level.unwrap_or(f64::NAN),
            c.standard_error,
            c.verdict
        );
    }
    eprintln!("rounds {:?}", v.rounds);
    assert!(v.met, "{:?}", v.rounds);
    // Sizing in the surge is fixed for real, not left within the noise.
    for c in v.cells.iter().filter(|c| c.group == "sizing") {
        assert!(c.simulated_service_level.unwrap() >= 0.75, "{c:?}");
        assert_ne!(c.verdict, Verdict::Missed);
    }
    assert!(v.added > 0, "the overlap must cost sizing some service");
    let first = &v.rounds[0];
    assert!(first.missed > 0 && first.added > 0);
    assert_eq!(v.rounds.last().unwrap().missed, 0);
    assert!(v.rounds.len() <= 1 + opts.max_rounds as usize);
    // Agents are only added, to sizing in the surge, and the totals follow (with shrinkage).
    for (c, before) in v.plan.cells.iter().zip(&p.cells) {
        assert!(c.agents >= before.agents);
        if c.agents > before.agents {
            assert_eq!(c.group, "sizing", "{c:?}");
        }
        assert!(c.service_level >= before.service_level);
    }
    let added: u32 = v.cells.iter().map(|c| c.agents - c.planned).sum();
    assert_eq!(added, v.added);
    for (i, &(need, call)) in &v.plan.totals {
        let sum: u32 = v
            .plan
            .cells
            .iter()
            .filter(|c| c.interval == *i)
            .map(|c| c.agents)
            .sum();
        assert_eq!(need, sum);
        assert!(call >= need);
    }
    // Without the overlap the silos behave as Erlang says: nothing (or next to nothing) to add.
    let silo = verify_plan(&rows, &settings, &p, &VerifySettings::default()).unwrap();
    assert!(silo.met);
    assert!(silo.added < v.added, "{} vs {}", silo.added, v.added);
    // Deterministic.
    assert_eq!(v, verify_plan(&rows, &settings, &p, &opts).unwrap());
}

#[test]
fn verification_refuses_what_it_cannot_model() {
    use switchboard::sim::{VerifySettings, verify_plan};
    let rows = vec![row(0, "a", 10.0)];
    let mut settings = PlanSettings {
        interval_secs: 1800.0,
        target: Target::new(20.0, 0.8),
        model: Model::ErlangA, // rows have no patience
        shrinkage: 0.0,
    };
    let p = plan(&rows, &settings.clone().tap_model(Model::ErlangC)).unwrap();
    let err = verify_plan(&rows, &settings, &p, &VerifySettings::default()).unwrap_err();
    assert!(err.to_string().contains("patience_secs"), "{err}");
    settings.model = Model::ErlangC;
    settings.interval_secs = 1000.5;
    let err = verify_plan(&rows, &settings, &p, &VerifySettings::default()).unwrap_err();
    assert!(err.to_string().contains("whole number of minutes"), "{err}");
    settings.interval_secs = 1800.0;
    let twice = vec![row(0, "a", 10.0), row(0, "a", 5.0)];
    let err = verify_plan(&twice, &settings, &p, &VerifySettings::default()).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}

trait TapModel {
    fn tap_model(self, m: Model) -> Self;
}
impl TapModel for PlanSettings {
    fn tap_model(mut self, m: Model) -> Self {
        self.model = m;
        self
    }
}
