//! Invariant 8 (recovery): a router restored from a snapshot — or rebuilt by replaying its
//! journal — is indistinguishable from the original, whatever the point of the crash.

use proptest::prelude::{
    ProptestConfig, TestCaseError, any, prop, prop_assert_eq, prop_oneof, proptest,
};
use proptest::strategy::Strategy;
use switchboard::Strategy as Pick;
use switchboard::{
    AgentId, AgentSpec, AgentState, Channel, DefaultScoring, Effect, Event, OfferId, Requirements,
    Router, RouterConfig, RouterError, RouterState, STATE_VERSION, SkillId, TaskId, TaskSpec,
    TenantId, Time,
};

#[derive(Debug, Clone)]
enum Op {
    Agent {
        id: u64,
        skill: u32,
        level: u8,
        chat: u16,
        voice: u16,
    },
    State {
        id: u64,
        state: u8,
    },
    Arrive {
        id: u64,
        skill: u32,
        min: u8,
        voice: bool,
        strategy: u8,
        fanout: u8,
        class: u8,
        max_wait: Option<u64>,
    },
    Answer {
        nth: usize,
        accept: bool,
    },
    Complete {
        id: u64,
    },
    Finish {
        id: u64,
    },
    Cancel {
        id: u64,
    },
    Remove {
        id: u64,
    },
    Advance {
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..6u64, 0..3u32, 1..=10u8, 0..4u16, 0..2u16).prop_map(
            |(id, skill, level, chat, voice)| Op::Agent {
                id,
                skill,
                level,
                chat,
                voice
            }
        ),
        (0..6u64, 0..4u8).prop_map(|(id, state)| Op::State { id, state }),
        (
            0..30u64,
            0..3u32,
            1..=10u8,
            any::<bool>(),
            0..5u8,
            1..=3u8,
            0..2u8,
            prop::option::of(1_000..90_000u64)
        )
            .prop_map(
                |(id, skill, min, voice, strategy, fanout, class, max_wait)| Op::Arrive {
                    id,
                    skill,
                    min,
                    voice,
                    strategy,
                    fanout,
                    class,
                    max_wait
                }
            ),
        (0..8usize, any::<bool>()).prop_map(|(nth, accept)| Op::Answer { nth, accept }),
        (0..30u64).prop_map(|id| Op::Complete { id }),
        (0..30u64).prop_map(|id| Op::Finish { id }),
        (0..30u64).prop_map(|id| Op::Cancel { id }),
        (0..6u64).prop_map(|id| Op::Remove { id }),
        (0..40_000u64).prop_map(|ms| Op::Advance { ms }),
    ]
}

fn config() -> RouterConfig {
    RouterConfig {
        offer_timeout_ms: 10_000,
        decline_backoff_ms: 15_000,
        wrap_up_ms: 5_000,
        max_missed_offers: Some(3),
        seed: 42,
        ..RouterConfig::default()
    }
}

fn fresh() -> Router {
    let mut r = Router::new(config()).unwrap();
    let c = r.catalog_mut();
    c.tenant("acme");
    for i in 0..3 {
        c.skill(&format!("s{i}"));
    }
    r
}

/// Turns an op into an event at a time, given the offers announced so far.
fn event(op: &Op, now: &mut Time, offers: &[(OfferId, AgentId)]) -> Event {
    let strategies = [
        Pick::BestScore,
        Pick::LongestIdle,
        Pick::LeastOccupied,
        Pick::RoundRobin,
        Pick::Random,
    ];
    let states = [
        AgentState::Available,
        AgentState::Away,
        AgentState::Offline,
        AgentState::WrapUp,
    ];
    match *op {
        Op::Agent {
            id,
            skill,
            level,
            chat,
            voice,
        } => Event::AddAgent(
            AgentSpec::new(AgentId(id))
                .skill(SkillId(skill), level)
                .certified(TenantId(0))
                .capacity(Channel::Chat, chat)
                .capacity(Channel::Voice, voice)
                .state(AgentState::Available),
        ),
        Op::State { id, state } => Event::SetAgentState {
            agent: AgentId(id),
            state: states[state as usize],
        },
        Op::Arrive {
            id,
            skill,
            min,
            voice,
            strategy,
            fanout,
            class,
            max_wait,
        } => {
            let mut spec = TaskSpec::new(
                TaskId(id),
                TenantId(0),
                if voice { Channel::Voice } else { Channel::Chat },
            )
            .requires(Requirements::default().skill(SkillId(skill), min))
            .strategy(strategies[strategy as usize])
            .fanout(fanout)
            .priority(class, 0.0);
            spec.max_wait_ms = max_wait;
            Event::Arrive(spec)
        }
        Op::Answer { nth, accept } => {
            let (offer, agent) = offers
                .get(nth % offers.len().max(1))
                .copied()
                .unwrap_or((OfferId(1), AgentId(0)));
            if accept {
                Event::Accept { offer, agent }
            } else {
                Event::Reject { offer, agent }
            }
        }
        Op::Complete { id } => Event::Complete { task: TaskId(id) },
        Op::Finish { id } => Event::FinishWrapUp { task: TaskId(id) },
        Op::Cancel { id } => Event::Cancel { task: TaskId(id) },
        Op::Remove { id } => Event::RemoveAgent { agent: AgentId(id) },
        Op::Advance { ms } => {
            *now = now.plus_millis(ms);
            Event::Tick
        }
    }
}

/// Runs ops; returns the journal of accepted (time, event) pairs and every effect.
fn run(
    router: &mut Router,
    ops: &[Op],
    now: &mut Time,
    offers: &mut Vec<(OfferId, AgentId)>,
) -> (Vec<(Time, Event)>, Vec<Effect>) {
    let (mut journal, mut effects) = (Vec::new(), Vec::new());
    for op in ops {
        let ev = event(op, now, offers);
        if router.handle(*now, ev.clone()).is_ok() {
            journal.push((*now, ev));
        }
        for e in router.drain_effects() {
            if let Effect::Offer { offer, agent, .. } = e {
                offers.push((offer, agent));
            }
            effects.push(e);
        }
        offers.retain(|(o, _)| router.offer(*o).is_some());
    }
    (journal, effects)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn snapshot_restore_continues_identically(ops in prop::collection::vec(op(), 1..120), cut in 0usize..120) {
        let cut = cut.min(ops.len());
        let mut a = fresh();
        let (mut now, mut offers) = (Time::ZERO, Vec::new());
        run(&mut a, &ops[..cut], &mut now, &mut offers);
        // "Crash": serialise, parse, rebuild.
        let json = serde_json::to_string(&a.export_state()).unwrap();
        let state: RouterState = serde_json::from_str(&json).unwrap();
        let mut b = Router::from_state(state, DefaultScoring).unwrap();
        prop_assert_eq!(b.export_state(), a.export_state());
        b.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (mut now_b, mut offers_b) = (now, offers.clone());
        let (_, ea) = run(&mut a, &ops[cut..], &mut now, &mut offers);
        let (_, eb) = run(&mut b, &ops[cut..], &mut now_b, &mut offers_b);
        prop_assert_eq!(ea, eb);
        prop_assert_eq!(a.export_state(), b.export_state());
    }

    #[test]
    fn journal_replay_rebuilds_the_same_state(ops in prop::collection::vec(op(), 1..150)) {
        let mut a = fresh();
        let (mut now, mut offers) = (Time::ZERO, Vec::new());
        let (journal, effects) = run(&mut a, &ops, &mut now, &mut offers);
        let mut b = fresh();
        let mut replayed = Vec::new();
        for (t, ev) in journal {
            b.handle(t, ev).unwrap();
            replayed.extend(b.drain_effects());
        }
        prop_assert_eq!(replayed, effects);
        prop_assert_eq!(a.export_state(), b.export_state());
    }
}

#[test]
fn incompatible_and_corrupt_states_are_refused() {
    let mut r = fresh();
    r.add_agent(
        Time::ZERO,
        AgentSpec::new(AgentId(1))
            .capacity(Channel::Chat, 1)
            .state(AgentState::Available),
    )
    .unwrap();
    r.arrive(
        Time::ZERO,
        TaskSpec::new(TaskId(1), TenantId(0), Channel::Chat),
    )
    .unwrap();
    let mut v = serde_json::to_value(r.export_state()).unwrap();
    v["version"] = serde_json::json!(999);
    let state: RouterState = serde_json::from_value(v).unwrap();
    assert_eq!(
        Router::from_state(state, DefaultScoring).unwrap_err(),
        RouterError::IncompatibleState {
            found: 999,
            expected: STATE_VERSION
        }
    );
    // The agent forgets its offer: the cross-check catches it.
    let mut v = serde_json::to_value(r.export_state()).unwrap();
    v["agents"][0]["offers"] = serde_json::json!([]);
    let state: RouterState = serde_json::from_value(v).unwrap();
    assert!(matches!(
        Router::from_state(state, DefaultScoring),
        Err(RouterError::CorruptState(_))
    ));
    // A task pointing at a queue that does not exist.
    let mut v = serde_json::to_value(r.export_state()).unwrap();
    v["tasks"][0]["queue"] = serde_json::json!(77);
    let state: RouterState = serde_json::from_value(v).unwrap();
    assert!(matches!(
        Router::from_state(state, DefaultScoring),
        Err(RouterError::CorruptState(_))
    ));
}
