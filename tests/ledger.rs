//! SLA ledger: interval attribution, definitions, percentiles, guarantees.

use switchboard::ledger::{Arrival, Fate, Guarantee, Ledger, LedgerConfig, Outcome};
use switchboard::staffing::SlDefinition;
use switchboard::{
    AgentId, AgentState, Capacity, Channel, Effect, OfferId, QueueId, QueueReason, TaskId,
    TenantId, Time,
};

const A: TenantId = TenantId(0);
const B: TenantId = TenantId(1);

fn answered(l: &mut Ledger, task: u64, agent: u64, at_ms: u64, done_ms: u64) {
    let (task, agent) = (TaskId(task), AgentId(agent));
    let offer = OfferId(task.0);
    l.observe(Time(at_ms), &Effect::Assigned { task, agent, offer });
    l.observe(Time(done_ms), &Effect::Completed { task, agent });
}

fn ledger(minutes: u32, def: SlDefinition) -> Ledger {
    Ledger::new(LedgerConfig {
        interval_minutes: minutes,
        definition: def,
        default_sla_ms: 20_000,
    })
}

#[test]
fn counts_by_offered_interval_and_definition() {
    for (def, want) in [
        (SlDefinition::AbandonsMissed, 1.0 / 4.0),
        (SlDefinition::AbandonsExcluded, 1.0 / 2.0),
        (SlDefinition::ShortAbandonsMet, 2.0 / 4.0),
        (SlDefinition::ShortAbandonsExcluded, 1.0 / 3.0),
    ] {
        let mut l = ledger(15, def);
        // Four contacts offered in 00:00-00:15, one at 00:14:59 answered in the next interval.
        for (i, t) in [(1, 0), (2, 1_000), (3, 2_000), (4, 899_000)] {
            l.arrival(Time(t), Arrival::new(TaskId(i), A));
        }
        answered(&mut l, 1, 7, 5_000, 65_000); // 5 s: within
        answered(&mut l, 4, 7, 929_000, 999_000); // 30 s: late
        l.observe(Time(11_000), &Effect::Abandoned { task: TaskId(2) }); // 10 s: short
        l.observe(Time(62_000), &Effect::Abandoned { task: TaskId(3) }); // 60 s
        let r = l.report(Time(1_000_000));
        assert_eq!(r.intervals.len(), 1, "{def}");
        let row = &r.intervals[0];
        assert_eq!(row.definition, def);
        assert_eq!((row.offered, row.answered, row.abandoned), (4, 2, 2));
        assert!((row.service_level.unwrap() - want).abs() < 1e-12, "{def}");
        assert_eq!(row.asa_secs, Some(17.5));
        assert_eq!(row.wait_p50_secs, Some(5.0));
        assert_eq!(row.wait_p99_secs, Some(30.0));
        assert_eq!(row.aht_secs, Some(65.0));
    }
}

#[test]
fn guarantees_list_breaching_intervals_and_tasks() {
    let mut l = ledger(30, SlDefinition::AbandonsMissed);
    // Interval 0: both answered fast. Interval 1: one of two late.
    for (i, t, wait) in [
        (1, 0, 1_000),
        (2, 10_000, 2_000),
        (3, 1_800_000, 1_000),
        (4, 1_800_001, 90_000),
    ] {
        l.arrival(Time(t), Arrival::new(TaskId(i), A).sla_ms(20_000));
        answered(&mut l, i, 1, t + wait, t + wait + 100_000);
    }
    // Tenant B: outreach, one converted.
    for i in 10..13 {
        l.arrival(Time(0), Arrival::new(TaskId(i), B).outreach());
        answered(&mut l, i, 2, 1_000, 50_000);
    }
    l.outcome(TaskId(10), Outcome::converted(true).and_converted(true));
    l.outcome(TaskId(11), Outcome::converted(false));
    let breaches = l.evaluate(A, &Guarantee::answer_rate(0.9, 20_000));
    assert_eq!(breaches.len(), 1);
    assert_eq!(breaches[0].interval_start, Some(Time(1_800_000)));
    assert_eq!(breaches[0].tasks, vec![TaskId(4)]);
    assert!(breaches[0].what.contains("50.0%"), "{}", breaches[0].what);
    let lenient = l.evaluate(A, &Guarantee::answer_rate(0.4, 20_000));
    assert!(lenient.is_empty());
    let billing = l.evaluate(B, &Guarantee::OutreachConversion);
    assert_eq!(billing.len(), 1);
    assert_eq!(billing[0].tasks, vec![TaskId(11), TaskId(12)]);
    let report = l.report(Time(4_000_000));
    let agent2 = report
        .agents
        .iter()
        .find(|a| a.agent == AgentId(2))
        .unwrap();
    assert_eq!((agent2.outreach, agent2.converted), (2, 1));
    assert_eq!(report.tenants[1].converted, 1);
}

#[test]
fn occupancy_and_unknown_effects() {
    let mut l = ledger(60, SlDefinition::AbandonsMissed);
    l.agent_state(Time(0), AgentId(1), AgentState::Available);
    l.arrival(Time(0), Arrival::new(TaskId(1), A));
    answered(&mut l, 1, 1, 0, 30_000);
    l.agent_state(Time(60_000), AgentId(1), AgentState::Offline);
    l.observe(Time(70_000), &Effect::TimedOut { task: TaskId(99) });
    let r = l.report(Time(120_000));
    assert_eq!(r.agents[0].occupancy, Some(0.5));
    assert_eq!(l.unknown_effects(), 1);
    assert_eq!(l.records()[0].fate, Fate::Answered(0));
}

#[test]
fn interval_must_be_15_30_or_60() {
    let bad = LedgerConfig {
        interval_minutes: 20,
        ..LedgerConfig::default()
    };
    assert!(bad.interval_ms().is_err());
}

#[test]
fn occupancy_is_busy_slots_over_capacity_times_staffed() {
    let mut l = ledger(60, SlDefinition::AbandonsMissed);
    let (a, b) = (AgentId(1), AgentId(2));
    let s = |secs: u64| Time(secs * 1000);
    l.agent_state(s(0), a, AgentState::Available);
    l.agent_capacity(a, Capacity::default().with(Channel::Chat, 3));
    for t in 1..=3 {
        l.arrival(s(0), Arrival::new(TaskId(t), A));
        l.observe(
            s(0),
            &Effect::Assigned {
                task: TaskId(t),
                agent: a,
                offer: OfferId(t),
            },
        );
    }
    l.observe(
        s(1800),
        &Effect::Completed {
            task: TaskId(1),
            agent: a,
        },
    );
    // Wrap-up holds the slot: busy until Completed, handling until WrapUpStarted.
    l.observe(
        s(2400),
        &Effect::WrapUpStarted {
            task: TaskId(2),
            agent: a,
            until: s(2700),
        },
    );
    l.observe(
        s(2700),
        &Effect::Completed {
            task: TaskId(2),
            agent: a,
        },
    );
    // Work finished after logging out is not counted against the staffed time.
    l.agent_state(s(3000), a, AgentState::Offline);
    l.observe(
        s(3600),
        &Effect::Completed {
            task: TaskId(3),
            agent: a,
        },
    );
    // Agent 2 never reports a capacity: the most chats it held at once (2) stand in.
    l.agent_state(s(0), b, AgentState::Available);
    for t in 10..12 {
        l.arrival(s(0), Arrival::new(TaskId(t), A));
        l.observe(
            s(0),
            &Effect::Assigned {
                task: TaskId(t),
                agent: b,
                offer: OfferId(t),
            },
        );
    }
    let r = l.report(s(3600));
    let ra = &r.agents[0];
    assert_eq!((ra.agent, ra.capacity), (a, 3));
    assert_eq!(ra.staffed_secs, 3000.0);
    assert_eq!(ra.busy_secs, 1800.0 + 2700.0 + 3000.0);
    assert_eq!(ra.handle_secs, 1800.0 + 2400.0 + 3600.0);
    assert!((ra.occupancy.unwrap() - 7500.0 / 9000.0).abs() < 1e-12);
    let rb = &r.agents[1];
    assert_eq!((rb.capacity, rb.occupancy), (2, Some(1.0)));
    for ag in &r.agents {
        assert!(ag.occupancy.unwrap() <= 1.0);
    }
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["agents"][0]["capacity"], 3);
}

#[test]
fn requeued_task_frees_its_slot() {
    let mut l = ledger(60, SlDefinition::AbandonsMissed);
    let a = AgentId(1);
    l.agent_state(Time(0), a, AgentState::Available);
    l.agent_capacity(a, Capacity::default().with(Channel::Voice, 1));
    l.arrival(Time(0), Arrival::new(TaskId(1), A));
    l.observe(
        Time(0),
        &Effect::Assigned {
            task: TaskId(1),
            agent: a,
            offer: OfferId(1),
        },
    );
    l.observe(
        Time(10_000),
        &Effect::Queued {
            task: TaskId(1),
            queue: QueueId(0),
            reason: QueueReason::AgentOffline,
        },
    );
    let r = l.report(Time(40_000));
    assert_eq!(r.agents[0].busy_secs, 10.0);
    assert_eq!(r.agents[0].occupancy, Some(0.25));
}
