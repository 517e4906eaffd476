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

#[test]
fn ai_containment_and_escalation_rate_from_the_escalation_engine() {
    use switchboard::escalation::{
        ConversationId, EscalationEngine, EscalationPolicy, PolicyConfig, Signal, Turn,
    };
    use switchboard::ledger::AiOutcome;
    let mut catalog = switchboard::Catalog::new();
    let (acme, bolt) = (catalog.tenant("acme"), catalog.tenant("bolt"));
    let policy = EscalationPolicy::compile(PolicyConfig::default(), &mut catalog).unwrap();
    let mut engine = EscalationEngine::with_defaults(policy).unwrap();
    let mut l = ledger(30, SlDefinition::AbandonsMissed);
    // (conversation, tenant, start s, customer text): "转人工" is a hard trigger (escalated).
    let convs = [
        (1, acme, 0, "where is my parcel"),
        (2, acme, 60, "转人工"),
        (3, acme, 120, "thanks"),
        (4, acme, 1_900, "I want a real person"),
        (5, bolt, 10, "size chart"),
    ];
    for &(id, tenant, start, text) in &convs {
        let (id, at) = (ConversationId(id), Time(start * 1000));
        engine.open(at, id, tenant).unwrap();
        engine
            .observe(at, id, Signal::Turn(Turn::customer(text)))
            .unwrap();
        l.conversation_closed(&engine.close(id).unwrap());
    }
    // A conversation where the customer asked and was refused is neither contained nor
    // escalated (host-reported, e.g. from another front line).
    l.ai_conversation(Time(1_000_000), bolt, AiOutcome::Refused);
    let r = l.report(Time(3_600_000));
    let rows: Vec<_> =
        r.ai.iter()
            .map(|a| {
                (
                    a.tenant,
                    a.interval_start,
                    a.conversations,
                    a.contained,
                    a.escalated,
                )
            })
            .collect();
    assert_eq!(
        rows,
        vec![
            (acme, Some(Time(0)), 3, 2, 1),
            (acme, Some(Time(1_800_000)), 1, 0, 1),
            (bolt, Some(Time(0)), 2, 1, 0),
        ]
    );
    let first = &r.ai[0];
    assert!((first.containment.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert!((first.escalation_rate.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(r.ai[2].refused, 1);
    assert_eq!(
        (r.ai[2].containment, r.ai[2].escalation_rate),
        (Some(0.5), Some(0.0))
    );
    // Totals per tenant agree with the engine's own metrics for the conversations it closed.
    let acme_total = &r.ai_tenants[0];
    assert_eq!((acme_total.tenant, acme_total.interval_start), (acme, None));
    assert_eq!(acme_total.containment, Some(0.5));
    assert_eq!(acme_total.escalation_rate, Some(0.5));
    let m = engine.metrics();
    assert_eq!(
        (m.closed, m.contained, m.escalated_conversations),
        (5, 3, 2)
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["ai"][0]["containment"], serde_json::json!(2.0 / 3.0));
    assert_eq!(json["ai_tenants"][1]["refused"], 1);
}

#[test]
fn simulator_feeds_ai_containment_per_tenant_and_interval() {
    let sc: switchboard::sim::Scenario = serde_json::from_str(
        r#"{
      "duration_hours": 2, "seed": 11,
      "ledger": { "interval_minutes": 60 },
      "pool": [{"name": "team", "count": 30, "channels": {"chat": 2}}],
      "traffic": [
        {"tenant": "acme", "name": "chat", "per_hour": 600, "ai_containment": 0.7,
         "service": {"exponential": {"mean_secs": 120}}},
        {"tenant": "bolt", "name": "chat", "per_hour": 300, "ai_containment": 0.0,
         "service": {"exponential": {"mean_secs": 120}}}]
    }"#,
    )
    .unwrap();
    let run = switchboard::sim::run(&sc).unwrap();
    let r = run.ledger.report(Time(2 * 3_600_000));
    assert_eq!(r.ai.len(), 4); // 2 tenants x 2 hourly intervals
    for a in &r.ai {
        let c = a.containment.unwrap();
        let e = a.escalation_rate.unwrap();
        assert!(
            (c + e - 1.0).abs() < 1e-12,
            "the simulator escalates everything else"
        );
        if a.tenant == TenantId(0) {
            assert!((c - 0.7).abs() < 0.06, "{c}");
        } else {
            assert_eq!(c, 0.0);
        }
    }
    // The simulation report shows the same figures per tenant, and in its time series.
    let acme = &run.report.tenants[0];
    let from_ledger = &r.ai_tenants[0];
    assert_eq!(acme.conversations, from_ledger.conversations);
    assert_eq!(acme.contained, from_ledger.contained);
    assert_eq!(acme.containment, from_ledger.containment);
    assert_eq!(acme.escalation_rate, from_ledger.escalation_rate);
    assert!(run.report.to_text().contains("contain"));
    let p = run
        .report
        .series
        .iter()
        .find(|p| p.tenant == "acme" && p.arrivals > 0)
        .unwrap();
    assert_eq!(p.containment, Some(p.contained as f64 / p.arrivals as f64));
}
