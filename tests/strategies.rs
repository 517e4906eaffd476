//! Each selection strategy, and the fairness failures users of other routers complain about.

mod common;
use common::*;
use switchboard::*;

fn pool(strategy: Strategy, agents: &[(u64, u8, u16)]) -> World {
    let mut w = World::new(RouterConfig {
        default_strategy: strategy,
        ..RouterConfig::default()
    });
    for &(id, level, cap) in agents {
        w.chat_agent(t(0), id, level, cap);
    }
    w
}

#[test]
fn best_score_prefers_higher_level_then_registration_order() {
    let mut w = pool(Strategy::BestScore, &[(1, 4, 1), (2, 9, 1), (3, 9, 1)]);
    let (_, _, a) = only_offer(&w.arrive(t(1), w.chat_task(10, 3)));
    assert_eq!(
        a,
        AgentId(2),
        "level 9 beats 4; tie between 2 and 3 goes to the earlier registration"
    );
    let (o, _, a) = only_offer(&w.arrive(t(1), w.chat_task(11, 3)));
    assert_eq!(a, AgentId(3));
    assert_eq!(w.router.explain_offer(o).unwrap().score, Some(9.0));
}

#[test]
fn best_score_counts_soft_preferences_and_the_preferred_agent() {
    let mut w = pool(Strategy::BestScore, &[(1, 9, 1), (2, 5, 1)]);
    let spec = w
        .chat_task(10, 3)
        .prefers(Preferences::default().agent(AgentId(2)));
    let (_, _, a) = only_offer(&w.arrive(t(1), spec));
    assert_eq!(
        a,
        AgentId(2),
        "preferred-agent bonus 20 outweighs 4 level points"
    );
    // A soft tag preference decides between otherwise equal agents.
    let mut w = World::new(RouterConfig {
        default_strategy: Strategy::BestScore,
        ..RouterConfig::default()
    });
    for (id, tag) in [(1, false), (2, true)] {
        let mut spec = AgentSpec::new(AgentId(id))
            .skill(w.skills[0], 5)
            .capacity(Channel::Chat, 1)
            .state(AgentState::Available);
        if tag {
            spec = spec.tag(w.tags[0]);
        }
        w.router.add_agent(t(0), spec).unwrap();
    }
    let spec = w
        .chat_task(10, 1)
        .prefers(Preferences::default().tag(w.tags[0], 3.0));
    assert_eq!(only_offer(&w.arrive(t(1), spec)).2, AgentId(2));
}

#[test]
fn longest_idle_is_not_reset_by_offers_the_agent_did_not_take() {
    let cfg = RouterConfig {
        default_strategy: Strategy::LongestIdle,
        decline_backoff_ms: 0,
        ..RouterConfig::default()
    };
    let mut w = World::new(cfg);
    w.chat_agent(t(0), 1, 5, 1); // idle since 0
    w.chat_agent(t(5), 2, 5, 1); // idle since 5
    let (o, _, a) = only_offer(&w.arrive(t(10), w.chat_task(10, 3)));
    assert_eq!(a, AgentId(1));
    // Agent 1 rejects: its idle clock is not reset, so it stays the longest idle.
    w.router.reject(t(11), o, AgentId(1)).unwrap();
    let (o, _, a) = only_offer(&w.take());
    assert_eq!(
        a,
        AgentId(2),
        "task 10 moves on to agent 2 (decliners rank last)"
    );
    w.router.accept(t(12), o, AgentId(2)).unwrap();
    w.take();
    let (_, _, a) = only_offer(&w.arrive(t(13), w.chat_task(11, 3)));
    assert_eq!(a, AgentId(1), "agent 1 still idle since 0");
    let snap = w.router.snapshot(t(13));
    assert!(
        snap.agents
            .iter()
            .any(|s| s.agent == AgentId(2) && s.idle_ms == 1_000)
    );
}

#[test]
fn longest_idle_does_not_pile_pending_offers_on_one_multichat_agent() {
    let mut w = pool(Strategy::LongestIdle, &[(1, 5, 5), (2, 5, 5)]);
    let a1 = only_offer(&w.arrive(t(1), w.chat_task(10, 3))).2;
    let a2 = only_offer(&w.arrive(t(2), w.chat_task(11, 3))).2;
    assert_ne!(
        a1, a2,
        "a pending offer counts as fresh work for longest-idle"
    );
}

#[test]
fn least_occupied_spreads_chats() {
    let mut w = pool(Strategy::LeastOccupied, &[(1, 5, 5), (2, 5, 5), (3, 5, 3)]);
    let mut per_agent = std::collections::BTreeMap::<AgentId, u32>::new();
    for id in 0..6 {
        let (o, _, a) = only_offer(&w.arrive(t(1), w.chat_task(100 + id, 3)));
        w.router.accept(t(1), o, a).unwrap();
        *per_agent.entry(a).or_default() += 1;
    }
    assert_eq!(
        per_agent.values().copied().collect::<Vec<_>>(),
        vec![2, 2, 2]
    );
    // Load ratio, not count: agent 3 (3 slots) is 2/3 full, agents 1 and 2 are 2/5.
    let (_, _, a) = only_offer(&w.arrive(t(2), w.chat_task(200, 3)));
    assert_ne!(a, AgentId(3));
}

#[test]
fn round_robin_rotates_in_registration_order() {
    let mut w = pool(Strategy::RoundRobin, &[(1, 5, 9), (2, 5, 9), (3, 5, 9)]);
    let picks: Vec<AgentId> = (0..7)
        .map(|i| only_offer(&w.arrive(t(1), w.chat_task(i, 3))).2)
        .collect();
    let ids: Vec<u64> = picks.iter().map(|a| a.0).collect();
    assert_eq!(ids, vec![1, 2, 3, 1, 2, 3, 1]);
}

#[test]
fn random_is_seeded_and_spreads() {
    let run = |seed| {
        let mut w = World::new(RouterConfig {
            default_strategy: Strategy::Random,
            seed,
            ..RouterConfig::default()
        });
        for id in 1..=4 {
            w.chat_agent(t(0), id, 5, 100);
        }
        (0..200)
            .map(|i| only_offer(&w.arrive(t(1), w.chat_task(i, 3))).2)
            .collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7), "same seed, same picks");
    assert_ne!(run(7), run(8));
    let picks = run(7);
    for id in 1..=4 {
        let n = picks.iter().filter(|a| a.0 == id).count();
        assert!((25..=75).contains(&n), "agent {id} picked {n} of 200 times");
    }
}

#[test]
fn queued_work_is_pulled_the_moment_capacity_frees() {
    let mut w = pool(Strategy::LongestIdle, &[(1, 5, 1)]);
    let (o, _, _) = only_offer(&w.arrive(t(0), w.chat_task(10, 3)));
    w.router.accept(t(1), o, AgentId(1)).unwrap();
    for i in 11..=13 {
        assert!(offers(&w.arrive(t(2), w.chat_task(i, 3))).is_empty());
    }
    w.router.complete(t(3), TaskId(10)).unwrap();
    let (_, task, agent) = only_offer(&w.take());
    assert_eq!((task, agent), (TaskId(11), AgentId(1)));
}

#[test]
fn freed_agent_serves_by_priority_then_age_across_all_its_queues() {
    // Agent 1 qualifies for three queues (skill 0, skill 1, skill 0 + tag). Tasks wait in each.
    let mut w = World::default();
    let (s0, s1, tag) = (w.skills[0], w.skills[1], w.tags[0]);
    let spec = AgentSpec::new(AgentId(1))
        .skill(s0, 5)
        .skill(s1, 5)
        .tag(tag)
        .capacity(Channel::Chat, 1)
        .state(AgentState::Away);
    w.router.add_agent(t(0), spec).unwrap();
    let b = w.brand;
    let task = |id: u64, r: Requirements| TaskSpec::new(TaskId(id), b, Channel::Chat).requires(r);
    w.arrive(t(10), task(1, Requirements::default().skill(s0, 1)));
    w.arrive(
        t(11),
        task(2, Requirements::default().skill(s1, 1)).created_at(t(5)),
    ); // older, other queue
    w.arrive(
        t(20),
        task(3, Requirements::default().skill(s0, 1).tag(tag)),
    );
    w.arrive(
        t(30),
        task(4, Requirements::default().skill(s1, 1)).priority(1, 0.0),
    ); // higher class
    let mut served = Vec::new();
    w.router
        .set_agent_state(t(31), AgentId(1), AgentState::Available)
        .unwrap();
    for step in 0..4 {
        let (o, task, _) = only_offer(&w.take());
        served.push(task.0);
        w.router.accept(t(32 + step), o, AgentId(1)).unwrap();
        w.router.complete(t(32 + step), task).unwrap();
    }
    assert_eq!(
        served,
        vec![4, 2, 1, 3],
        "class first, then age, whichever queue it is in"
    );
}

#[test]
fn sla_urgency_lets_a_tighter_target_overtake() {
    let mut w = World::default();
    // Same class and base; task 11 arrives 10 s later but its SLA target is 60 s tighter.
    w.arrive(t(0), w.chat_task(10, 3).sla_ms(120_000));
    w.arrive(t(10), w.chat_task(11, 3).sla_ms(60_000));
    let (c10, s10) = w.router.task_priority_at(TaskId(10), t(20)).unwrap();
    let (c11, s11) = w.router.task_priority_at(TaskId(11), t(20)).unwrap();
    assert_eq!(c10, c11);
    assert!(s11 > s10);
    w.chat_agent(t(20), 1, 5, 1);
    assert_eq!(only_offer(&w.take_log_tail(1)).1, TaskId(11));
}

#[test]
fn aging_order_is_stable_over_time() {
    // Without events, the relative order of two waiting tasks never changes as time passes.
    let mut w = World::default();
    w.arrive(
        t(0),
        w.chat_task(10, 3).customer(CustomerProfile {
            value_tier: 2,
            sentiment: 0.0,
        }),
    );
    w.arrive(t(300), w.chat_task(11, 3));
    for now in [300, 600, 900, 100_000] {
        let a = w.router.task_priority_at(TaskId(10), t(now)).unwrap().1;
        let b = w.router.task_priority_at(TaskId(11), t(now)).unwrap().1;
        assert!(
            (a - b - (10.0 + 300.0 / 60.0 * 2.0)).abs() < 1e-6,
            "constant gap at {now}"
        );
    }
}
