//! The composed engine: exact outputs for single inputs (OpenRaft style), errors that change
//! nothing, export/restore equal to replay, and a property test against a hand-wired reference
//! — the engines wired the way a host would do it by hand, through the workflow module's
//! `drive_*` helpers — on random input sequences.

use proptest::prelude::{Just, ProptestConfig, any, prop_assert_eq, prop_oneof, proptest};
use proptest::strategy::Strategy as Gen;
use std::collections::BTreeMap;
use switchboard::escalation::{ConversationId, Evidence, Signal, Speaker, Turn};
use switchboard::ledger::Outcome;
use switchboard::operation::{Input, Operation, OperationConfig, OperationError, Output};
use switchboard::policy::PolicySet;
use switchboard::*;

const POLICY: &str = r#"
version = "op-test"
skills = [{ name = "s0" }, { name = "s1" }]
[router]
offer_timeout_ms = 10000
wrap_up_ms = 2000
[[tenants]]
name = "acme"
[[tenants]]
name = "zen"
[[workflows.escalation.steps]]
target = 'skill("s0") >= 6'
timeout_ms = 15000
[[workflows.escalation.steps]]
target = 'true'
[[workflows.presale.steps]]
target = 'skill("s1") >= 5'
timeout_ms = 20000
[[workflows.presale.steps]]
target = 'skill("s1") >= 1'
"#;

fn config() -> OperationConfig {
    OperationConfig {
        policy: Some(PolicySet::from_toml_str(POLICY).unwrap()),
        ..OperationConfig::with_bots(RouterConfig::default())
    }
}

fn secs(s: u64) -> Time {
    Time::from_secs(s)
}

fn agent(op: &Operation, id: u64, s0: u8, s1: u8) -> Input {
    let c = op.router().catalog();
    let spec = AgentSpec::new(AgentId(id))
        .skill(c.find_skill("s0").unwrap(), s0)
        .skill(c.find_skill("s1").unwrap(), s1)
        .capacity(Channel::Chat, 1)
        .state(AgentState::Available);
    Event::AddAgent(spec).into()
}

fn say(c: u64, text: &str) -> Input {
    Input::Signal {
        conversation: ConversationId(c),
        signal: Signal::Turn(Turn::customer(text)),
    }
}

/// Output kinds, in order, for compact exact assertions.
fn kinds(out: &[Output]) -> Vec<String> {
    out.iter()
        .map(|o| match o {
            Output::Router { effect } => {
                let v = serde_json::to_value(effect).unwrap();
                format!("router:{}", v["type"].as_str().unwrap_or("?"))
            }
            Output::Workflow { effect } => {
                let v = serde_json::to_value(effect).unwrap();
                format!("workflow:{}", v["type"].as_str().unwrap_or("?"))
            }
            Output::Decision { action, .. } => format!("decision:{}", action.label()),
            other => {
                let v = serde_json::to_value(other).unwrap();
                v["output"].as_str().unwrap_or("?").to_string()
            }
        })
        .collect()
}

#[test]
fn an_explicit_request_becomes_a_workflow_routed_offer() {
    let mut op = Operation::new(config()).unwrap();
    let acme = op.router().catalog().find_tenant("acme").unwrap();
    op.handle(secs(0), agent(&op, 1, 8, 1)).unwrap();
    op.handle(
        secs(1),
        Input::Open {
            conversation: ConversationId(1),
            tenant: acme,
        },
    )
    .unwrap();
    op.drain_outputs().for_each(drop);
    op.handle(secs(2), say(1, "转人工")).unwrap();
    let out: Vec<Output> = op.drain_outputs().collect();
    assert_eq!(
        kinds(&out),
        [
            "decision:escalate_hard_human",
            "handover",
            "notice",
            "workflow:step_entered",
            "router:queued",
            "router:offer",
        ],
        "{out:#?}"
    );
    let Output::Handover { task, .. } = &out[1] else {
        panic!()
    };
    assert_eq!(
        *task,
        TaskId(1 << 8 | 1),
        "the conversation's first hand-over"
    );
    assert_eq!(op.link(*task), Some(ConversationId(1)));
    let Some(Effect::Offer { offer, agent, .. }) = out[5].as_router().cloned() else {
        panic!()
    };
    // Accept: the conversation is the human's; complete: handed back to the bot.
    op.handle(secs(4), Event::Accept { offer, agent }.into())
        .unwrap();
    let out: Vec<Output> = op.drain_outputs().collect();
    assert_eq!(kinds(&out), ["router:assigned", "decision:connected"]);
    assert_eq!(
        op.conversation(ConversationId(1)).unwrap().owner().name(),
        "human"
    );
    op.handle(secs(60), Event::Complete { task: *task }.into())
        .unwrap();
    let out: Vec<Output> = op.drain_outputs().collect();
    assert!(
        kinds(&out).contains(&"hand_back".to_string()),
        "{:?}",
        kinds(&out)
    );
    assert_eq!(
        op.conversation(ConversationId(1)).unwrap().owner().name(),
        "bot"
    );
    assert_eq!(op.link(*task), None);
}

#[test]
fn a_workflow_step_widens_on_the_merged_timer() {
    let mut op = Operation::new(config()).unwrap();
    let acme = op.router().catalog().find_tenant("acme").unwrap();
    op.handle(secs(0), agent(&op, 1, 2, 1)).unwrap(); // below the first step's s0 >= 6
    op.handle(
        secs(1),
        Input::Open {
            conversation: ConversationId(5),
            tenant: acme,
        },
    )
    .unwrap();
    op.handle(secs(2), say(5, "I want to talk to a real person"))
        .unwrap();
    op.drain_outputs().for_each(drop);
    let task = TaskId(5 << 8 | 1);
    assert_eq!(op.router().task_state(task), Some(TaskState::Waiting));
    assert_eq!(op.poll_timeout(), Some(secs(17)));
    op.handle_timeout(secs(17)).unwrap();
    let out: Vec<Output> = op.drain_outputs().collect();
    assert_eq!(
        kinds(&out),
        ["workflow:step_entered", "router:queued", "router:offer"],
        "{out:#?}"
    );
}

#[test]
fn closing_a_conversation_withdraws_its_request_and_counts_it() {
    let mut op = Operation::new(config()).unwrap();
    let acme = op.router().catalog().find_tenant("acme").unwrap();
    // A human is registered (so the hand-over queues) but away.
    let Input::Router {
        event: Event::AddAgent(spec),
    } = agent(&op, 1, 9, 9)
    else {
        panic!()
    };
    op.handle(
        secs(0),
        Event::AddAgent(spec.state(AgentState::Away)).into(),
    )
    .unwrap();
    op.handle(
        secs(1),
        Input::Open {
            conversation: ConversationId(2),
            tenant: acme,
        },
    )
    .unwrap();
    op.handle(secs(2), say(2, "转人工")).unwrap();
    op.drain_outputs().for_each(drop);
    op.handle(
        secs(3),
        Input::Close {
            conversation: ConversationId(2),
        },
    )
    .unwrap();
    let out: Vec<Output> = op.drain_outputs().collect();
    assert_eq!(kinds(&out), ["closed", "router:cancelled"], "{out:#?}");
    assert_eq!(op.router().live_tasks(), 0);
    assert_eq!(
        op.escalation().unwrap().metrics().escalated_conversations,
        1
    );
    let report = op.ledger().report(secs(3));
    assert_eq!(report.ai_tenants[0].escalated, 1);
    assert_eq!(report.tenants[0].cancelled, 1);
}

#[test]
fn refused_inputs_change_nothing() {
    let mut op = Operation::new(config()).unwrap();
    let acme = op.router().catalog().find_tenant("acme").unwrap();
    op.handle(
        secs(5),
        Input::Open {
            conversation: ConversationId(1),
            tenant: acme,
        },
    )
    .unwrap();
    op.drain_outputs().for_each(drop);
    let before = serde_json::to_value(op.export_state()).unwrap();
    let refusals = [
        (secs(4), say(1, "hello")),
        (secs(6), say(9, "hello")),
        (
            secs(6),
            Input::Open {
                conversation: ConversationId(1),
                tenant: acme,
            },
        ),
        (
            secs(6),
            Input::Signal {
                conversation: ConversationId(1),
                signal: Signal::Assigned { agent: AgentId(1) },
            },
        ),
        (secs(6), Event::Complete { task: TaskId(77) }.into()),
        (
            secs(6),
            Input::Request {
                spec: TaskSpec::new(TaskId(1), acme, Channel::Chat),
                workflow: Some("no-such-type".into()),
                attrs: BTreeMap::new(),
            },
        ),
    ];
    for (at, input) in refusals {
        assert!(op.handle(at, input.clone()).is_err(), "{input:?} accepted");
        assert_eq!(
            serde_json::to_value(op.export_state()).unwrap(),
            before,
            "{input:?}"
        );
        assert_eq!(op.drain_outputs().count(), 0);
    }
    assert!(matches!(
        op.handle(secs(1), Input::Tick),
        Err(OperationError::TimeWentBackwards { .. })
    ));
    let plain = Operation::new(RouterConfig::default().into()).unwrap();
    let mut plain = plain;
    assert!(matches!(
        plain.handle(
            secs(1),
            Input::Open {
                conversation: ConversationId(1),
                tenant: acme
            }
        ),
        Err(OperationError::NoBots)
    ));
}

#[test]
fn a_bad_configuration_is_a_typed_error() {
    let mut bad = config();
    bad.ledger.interval_minutes = 7;
    assert!(matches!(
        Operation::new(bad),
        Err(OperationError::Ledger(_))
    ));
    let mut bad = config();
    bad.policy = Some(
        PolicySet::from_toml_str(
            "version = \"x\"\n[[workflows.a.steps]]\ntarget = 'skill(\"nope\") >= 1'\n",
        )
        .unwrap(),
    );
    assert!(matches!(
        Operation::new(bad),
        Err(OperationError::Policy(_))
    ));
    let bad: Result<OperationConfig, _> = serde_json::from_str(r#"{"handover_workflw": "x"}"#);
    assert!(bad.unwrap_err().to_string().contains("unknown field"));
}

#[path = "support/hand_wired.rs"]
mod hand_wired;
use hand_wired::HandWired;

// ------------------------------------------------------------------ random input sequences

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Join(u64, u8, u8),
    Away(u64),
    Back(u64),
    Open(u64, bool),
    Say(u64, usize, i8),
    Human(u64),
    Close(u64),
    Request(u64, bool),
    Answer(usize, bool),
    Complete(usize),
    Outcome(usize, u8),
    Tick,
}

const SAYINGS: [&str; 6] = [
    "where is my parcel",
    "转人工",
    "this is useless",
    "I want to speak to a human agent",
    "ok",
    "my card was charged twice, I will sue",
];

fn op_strategy() -> impl Gen<Value = Op> {
    prop_oneof![
        3 => (100u64..40_000).prop_map(Op::Advance),
        2 => (1u64..6, 0u8..11, 0u8..11).prop_map(|(a, x, y)| Op::Join(a, x.max(1), y.max(1))),
        1 => (1u64..6).prop_map(Op::Away),
        1 => (1u64..6).prop_map(Op::Back),
        3 => (1u64..10, any::<bool>()).prop_map(|(c, b)| Op::Open(c, b)),
        6 => (1u64..10, 0..SAYINGS.len(), -10i8..10).prop_map(|(c, s, m)| Op::Say(c, s, m)),
        1 => (1u64..10).prop_map(Op::Human),
        2 => (1u64..10).prop_map(Op::Close),
        2 => (1u64..200, any::<bool>()).prop_map(|(t, w)| Op::Request(t, w)),
        4 => (0usize..50, any::<bool>()).prop_map(|(i, a)| Op::Answer(i, a)),
        3 => (0usize..50).prop_map(Op::Complete),
        1 => (0usize..50, 1u8..6).prop_map(|(i, s)| Op::Outcome(i, s)),
        2 => Just(Op::Tick),
    ]
}

/// Turns an abstract op into an input, reading the composed engine's state.
fn concrete(op: &Operation, ops_now: Time, o: &Op) -> Option<(Time, Input)> {
    let c = op.router().catalog();
    let tenants = [c.find_tenant("acme")?, c.find_tenant("zen")?];
    let now = ops_now;
    let live: Vec<TaskId> = (1..200)
        .map(|t| TaskId(1 << 30 | t))
        .chain((1..10).flat_map(|c| (0..4).map(move |n| TaskId(c << 8 | n))))
        .filter(|t| op.router().task_state(*t).is_some())
        .collect();
    let input = match *o {
        Op::Advance(_) | Op::Tick => Input::Tick,
        Op::Join(a, x, y) => {
            let spec = AgentSpec::new(AgentId(a))
                .skill(c.find_skill("s0")?, x)
                .skill(c.find_skill("s1")?, y)
                .capacity(Channel::Chat, 1 + (a % 2) as u16)
                .state(AgentState::Available);
            if op.router().agent_state(AgentId(a)).is_some() {
                Event::UpdateAgent(spec).into()
            } else {
                Event::AddAgent(spec).into()
            }
        }
        Op::Away(a) => Event::SetAgentState {
            agent: AgentId(a),
            state: AgentState::Away,
        }
        .into(),
        Op::Back(a) => Event::SetAgentState {
            agent: AgentId(a),
            state: AgentState::Available,
        }
        .into(),
        Op::Open(cv, z) => Input::Open {
            conversation: ConversationId(cv),
            tenant: tenants[usize::from(z)],
        },
        Op::Say(cv, s, mood) => Input::Signal {
            conversation: ConversationId(cv),
            signal: Signal::Turn(Turn::customer(SAYINGS[s]).with(Evidence::Sentiment {
                value: f64::from(mood) / 10.0,
                confidence: 1.0,
            })),
        },
        Op::Human(cv) => Input::Signal {
            conversation: ConversationId(cv),
            signal: Signal::Turn(Turn::new(Speaker::Human)),
        },
        Op::Close(cv) => Input::Close {
            conversation: ConversationId(cv),
        },
        Op::Request(t, w) => Input::Request {
            spec: TaskSpec::new(
                TaskId(1 << 30 | t),
                tenants[(t % 2) as usize],
                Channel::Chat,
            )
            .max_wait_ms(30_000),
            workflow: w.then(|| "presale".to_string()),
            attrs: BTreeMap::new(),
        },
        Op::Answer(i, yes) => {
            let t = *live.get(i % live.len().max(1))?;
            let Some(TaskState::Offered(offers)) = op.router().task_state(t) else {
                return None;
            };
            let offer = *offers.first()?;
            let (_, agent, _) = op.router().offer(offer)?;
            if yes {
                Event::Accept { offer, agent }.into()
            } else {
                Event::Reject { offer, agent }.into()
            }
        }
        Op::Complete(i) => {
            let t = *live.get(i % live.len().max(1))?;
            Event::Complete { task: t }.into()
        }
        Op::Outcome(i, s) => Input::Outcome {
            task: *live.get(i % live.len().max(1))?,
            outcome: Outcome::csat(f64::from(s)),
        },
    };
    Some((now, input))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The composed engine and the hand-wired engines produce the same outputs, step by step,
    /// and end in the same state; refused inputs change nothing; export + restore equals the
    /// original at every step.
    #[test]
    fn composed_equals_hand_wired(ops in proptest::collection::vec(op_strategy(), 1..120)) {
        let mut op = Operation::new(config()).unwrap();
        let mut hand = HandWired::new(config());
        let mut now = secs(1_000);
        for (i, o) in ops.iter().enumerate() {
            if let Op::Advance(ms) = o {
                now = now.plus_millis(*ms);
            }
            let Some((at, input)) = concrete(&op, now, o) else { continue };
            let before = serde_json::to_value(op.export_state()).unwrap();
            match op.handle(at, input.clone()) {
                Ok(()) => {
                    hand.apply(at, input);
                    let got: Vec<Output> = op.drain_outputs().collect();
                    let want = std::mem::take(&mut hand.out);
                    prop_assert_eq!(&got, &want, "step {}: {:?}", i, o);
                }
                Err(_) => {
                    prop_assert_eq!(serde_json::to_value(op.export_state()).unwrap(), before);
                    prop_assert_eq!(op.drain_outputs().count(), 0);
                }
            }
            op.router().check_invariants().unwrap();
            if i % 16 == 0 {
                let state = op.export_state();
                let back = Operation::from_state(state.clone(), DefaultScoring).unwrap();
                prop_assert_eq!(
                    serde_json::to_value(back.export_state()).unwrap(),
                    serde_json::to_value(state).unwrap()
                );
            }
        }
        prop_assert_eq!(op.router().export_state(), hand.router.export_state());
        prop_assert_eq!(op.workflows().unwrap().export_state(), hand.flows.export_state());
        prop_assert_eq!(op.escalation().unwrap().export_state(), hand.bots.export_state());
        prop_assert_eq!(op.ledger().report(hand.now), hand.ledger.report(hand.now));
    }
}
