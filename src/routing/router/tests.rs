use crate::reference::NaiveRouter;
use crate::*;

/// Rare-skill queues too small to walk the longest-idle index (fewer than one agent in 32
/// eligible), their agents spread over four 64-slot blocks: every offer comes from the bitset
/// scan that skips blocks by their least idle key, while offers, answers, completions and
/// breaks keep changing those keys. Every decision must equal the naive reference's.
#[test]
fn block_skipping_scans_match_the_reference() {
    for seed in 1..=2u64 {
        drive(seed);
    }
}

/// A freed agent's old idle key lowers its block's least key; a scan that then skipped the
/// block by a minimum computed while the agent was busy would miss the longest-idle agent.
#[test]
fn a_freed_agent_lowers_its_block_minimum() {
    let cfg = RouterConfig::default();
    let mut fast = Router::new(cfg.clone()).unwrap();
    let mut slow = NaiveRouter::new(cfg).unwrap();
    for c in [fast.catalog_mut(), slow.catalog_mut()] {
        c.tenant("acme");
        c.skill("common");
        c.skill("rare");
        c.skill("odd");
    }
    let step = |fast: &mut Router, slow: &mut NaiveRouter, ms: u64, ev: Event| {
        let t = Time::from_millis(ms);
        assert_eq!(
            fast.handle(t, ev.clone()),
            slow.handle(t, ev.clone()),
            "{ev:?}"
        );
        let ea: Vec<Effect> = fast.drain_effects().collect();
        let eb: Vec<Effect> = slow.drain_effects().collect();
        assert_eq!(ea, eb, "at {ms} ms for {ev:?}");
        ea.into_iter()
            .find_map(|e| match e {
                Effect::Offer { offer, agent, .. } => Some((offer, agent)),
                _ => None,
            })
            .unwrap_or((OfferId(0), AgentId(u64::MAX)))
    };
    let task = |id: u64, skill: u32| {
        Event::Arrive(
            TaskSpec::new(TaskId(id), TenantId(0), Channel::Chat)
                .requires(Requirements::default().skill(SkillId(skill), 3)),
        )
    };
    let state = |agent: u64, state: AgentState| Event::SetAgentState {
        agent: AgentId(agent),
        state,
    };
    // 130 agents in three blocks; the rare skill at slots 10 and 80, the odd one at 20:
    // both queues are scanned, not walked.
    for id in 0..130u64 {
        let mut spec = AgentSpec::new(AgentId(id))
            .skill(SkillId(0), 5)
            .capacity(Channel::Chat, 1)
            .state(AgentState::Available);
        if id == 10 || id == 80 {
            spec = spec.skill(SkillId(1), 7);
        }
        if id == 20 {
            spec = spec.skill(SkillId(2), 7);
        }
        step(&mut fast, &mut slow, 0, Event::AddAgent(spec));
    }
    // Agent 80 takes rare task 1 at 500 ms (idle key 500).
    step(&mut fast, &mut slow, 500, state(10, AgentState::Away));
    let (o1, a1) = step(&mut fast, &mut slow, 500, task(1, 1));
    assert_eq!(a1, AgentId(80));
    step(
        &mut fast,
        &mut slow,
        500,
        Event::Accept {
            offer: o1,
            agent: a1,
        },
    );
    step(&mut fast, &mut slow, 600, state(10, AgentState::Available));
    // Agent 10 takes rare task 2 at 800 ms.
    let (o2, a2) = step(&mut fast, &mut slow, 800, task(2, 1));
    assert_eq!(a2, AgentId(10));
    step(
        &mut fast,
        &mut slow,
        800,
        Event::Accept {
            offer: o2,
            agent: a2,
        },
    );
    // Every other agent of 80's block becomes idle at 850 ms, and a scan (for the odd
    // task) sees that block at its least free key then: 850.
    for id in (64..128).filter(|&id| id != 80) {
        step(&mut fast, &mut slow, 850, state(id, AgentState::Away));
        step(&mut fast, &mut slow, 850, state(id, AgentState::Available));
    }
    let (_, a3) = step(&mut fast, &mut slow, 860, task(3, 2));
    assert_eq!(a3, AgentId(20));
    // Both rare agents finish: 80 is free again with idle key 500, 10 with 800.
    step(
        &mut fast,
        &mut slow,
        900,
        Event::Complete { task: TaskId(1) },
    );
    step(
        &mut fast,
        &mut slow,
        900,
        Event::Complete { task: TaskId(2) },
    );
    // The next rare task goes to 80, idle longest, in the block scanned after 10's.
    let (_, a4) = step(&mut fast, &mut slow, 1_000, task(4, 1));
    assert_eq!(a4, AgentId(80));
    fast.check_invariants().unwrap();
}

fn drive(seed: u64) {
    let cfg = RouterConfig {
        default_strategy: Strategy::LongestIdle,
        offer_timeout_ms: 20_000,
        seed,
        ..RouterConfig::default()
    };
    let mut fast = Router::new(cfg.clone()).unwrap();
    let mut slow = NaiveRouter::new(cfg).unwrap();
    for c in [fast.catalog_mut(), slow.catalog_mut()] {
        c.tenant("acme");
        c.skill("common");
        c.skill("rare");
        c.skill("odd");
    }
    let mut rng = SeededRng::new(seed);
    let mut now = Time::ZERO;
    let step = |fast: &mut Router, slow: &mut NaiveRouter, t: Time, ev: Event| {
        let a = fast.handle(t, ev.clone());
        let b = slow.handle(t, ev.clone());
        assert_eq!(a, b, "result differs (seed {seed}) at {t} for {ev:?}");
        let ea: Vec<Effect> = fast.drain_effects().collect();
        let eb: Vec<Effect> = slow.drain_effects().collect();
        assert_eq!(ea, eb, "effects differ (seed {seed}) at {t} for {ev:?}");
        ea
    };
    const AGENTS: u64 = 200;
    for id in 0..AGENTS {
        let mut spec = AgentSpec::new(AgentId(id))
            .skill(SkillId(0), 5)
            .capacity(Channel::Chat, 1 + (id % 3) as u16)
            .state(AgentState::Available);
        if id % 37 == 5 {
            spec = spec.skill(SkillId(1), 7);
        }
        if id % 41 == 3 {
            spec = spec.skill(SkillId(2), 7);
        }
        step(&mut fast, &mut slow, now, Event::AddAgent(spec));
    }
    let mut offers: Vec<(OfferId, AgentId)> = Vec::new();
    let mut serving: Vec<TaskId> = Vec::new();
    let mut away: Vec<AgentId> = Vec::new();
    for id in 0..500u64 {
        now = now.plus_millis(rng.below(4) as u64 * rng.below(1_500) as u64);
        let ev = match rng.below(10) {
            0..=3 => {
                let skill = [1, 1, 2, 0][rng.below(4)];
                Event::Arrive(
                    TaskSpec::new(TaskId(id), TenantId(0), Channel::Chat)
                        .requires(Requirements::default().skill(SkillId(skill), 3)),
                )
            }
            4..=6 if !offers.is_empty() => {
                let (offer, agent) = offers.swap_remove(rng.below(offers.len()));
                if rng.below(6) == 0 {
                    Event::Reject { offer, agent }
                } else {
                    Event::Accept { offer, agent }
                }
            }
            7 | 8 if !serving.is_empty() => Event::Complete {
                task: serving.swap_remove(rng.below(serving.len())),
            },
            9 if away.is_empty() || rng.below(2) == 0 => {
                let agent = AgentId(rng.below(AGENTS as usize) as u64);
                away.push(agent);
                Event::SetAgentState {
                    agent,
                    state: AgentState::Away,
                }
            }
            9 => Event::SetAgentState {
                agent: away.swap_remove(rng.below(away.len())),
                state: AgentState::Available,
            },
            _ => Event::Tick,
        };
        for e in step(&mut fast, &mut slow, now, ev) {
            match e {
                Effect::Offer { offer, agent, .. } => offers.push((offer, agent)),
                Effect::Assigned { task, .. } => serving.push(task),
                _ => {}
            }
        }
    }
    fast.check_invariants().unwrap();
    assert!(fast.counters().offers > 120, "{}", fast.counters().offers);
}
