//! Fuzzes the composed engine with event sequences.
//!
//! The input decodes into up to 512 steps over a small world (two brands, six agents, ten
//! conversations, workflows that widen, the default escalation policy with a guardrail): agents
//! joining, changing state and leaving, conversations opening and closing, customer / bot / human
//! turns with arbitrary text and evidence (NaN and out-of-range numbers included), signals in any
//! order (the composition's own `queued` / `assigned` too), direct requests with arbitrary ids and
//! workflow names, offer answers from the right and the wrong agent, completions, outcomes, time
//! moving forwards, standing still and going backwards, ticks, and whole inputs decoded from
//! arbitrary JSON.
//!
//! After every step:
//! * no panic;
//! * a refused input changed nothing (the exported state is byte-identical) and output nothing;
//! * the router's invariants hold and every task is accounted for;
//! * every linked task is live in the router.
//! At the end: export → restore gives the same state, and replaying the accepted inputs into a
//! fresh operation gives the same state and the same outputs (determinism, recovery = replay).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use switchboard::escalation::{ConversationId, Evidence, Signal, Speaker, Turn};
use switchboard::ledger::Outcome;
use switchboard::operation::{Input, Operation, OperationConfig, Output};
use switchboard::policy::PolicySet;
use switchboard::*;

const POLICY: &str = r#"{
  "version": "fuzz",
  "skills": [{ "name": "s0" }, { "name": "s1" }],
  "tenants": [{ "name": "acme" }, { "name": "zen" }],
  "router": { "offer_timeout_ms": 5000, "wrap_up_ms": 1000 },
  "workflows": {
    "escalation": { "steps": [
      { "target": "skill(\"s0\") >= 6", "timeout_ms": 4000 },
      { "target": "true" } ] },
    "presale": { "steps": [
      { "target": "skill(\"s1\") >= 5", "timeout_ms": 3000 },
      { "target": "skill(\"s1\") >= 1" } ],
      "exceptions": [ { "name": "long wait", "when": { "wait_over_ms": 9000 }, "action": "callback" } ] }
  }
}"#;

const GUARDRAIL: &str = r#"{ "version": "g", "lists": [
  { "name": "contact", "action": "mask", "phrases": ["138 0000"] },
  { "name": "abuse", "action": "block", "phrases": ["idiot"] } ] }"#;

#[derive(Arbitrary, Debug)]
enum Step {
    Advance(u16),
    Back(u16),
    Join { agent: u8, s0: u8, s1: u8, cap: u8 },
    State { agent: u8, state: u8 },
    Leave { agent: u8 },
    Open { conversation: u8, brand: bool },
    Say { conversation: u8, who: u8, text: String, mood: Option<f64>, ask: bool },
    Signal { conversation: u8, which: u8, arg: u16 },
    Close { conversation: u8 },
    Request { id: u16, brand: bool, workflow: u8, max_wait: Option<u16> },
    Answer { pick: u8, accept: bool, wrong_agent: bool },
    Complete { pick: u8 },
    Outcome { pick: u8, csat: f64 },
    Tick,
    Json(String),
}

#[derive(Arbitrary, Debug)]
struct Script {
    steps: Vec<Step>,
}

fn config() -> Option<OperationConfig> {
    Some(OperationConfig {
        policy: Some(PolicySet::from_json_str(POLICY).ok()?),
        guardrail: Some(serde_json::from_str(GUARDRAIL).ok()?),
        ..OperationConfig::with_bots(RouterConfig::default())
    })
}

fn live_tasks(op: &Operation) -> Vec<TaskId> {
    (0..64u64)
        .map(|t| TaskId(1 << 32 | t))
        .chain((1..=10u64).flat_map(|c| (0..8).map(move |n| TaskId(c << 8 | n))))
        .filter(|t| op.router().task_state(*t).is_some())
        .collect()
}

fn input_of(op: &Operation, now: &mut u64, step: Step) -> Option<(Time, Input)> {
    let c = op.router().catalog();
    let brands = [c.find_tenant("acme")?, c.find_tenant("zen")?];
    let (s0, s1) = (c.find_skill("s0")?, c.find_skill("s1")?);
    let live = live_tasks(op);
    let conv = |k: u8| ConversationId(u64::from(k % 10) + 1);
    let input = match step {
        Step::Advance(ms) => {
            *now += u64::from(ms);
            Input::Tick
        }
        Step::Back(ms) => return Some((Time(now.saturating_sub(u64::from(ms))), Input::Tick)),
        Step::Tick => Input::Tick,
        Step::Join { agent, s0: a, s1: b, cap } => {
            let spec = AgentSpec::new(AgentId(u64::from(agent % 6) + 1))
                .skill(s0, a % 11)
                .skill(s1, b % 11)
                .capacity(Channel::Chat, u16::from(cap % 4))
                .state(AgentState::Available);
            if op.router().agent_state(spec.id).is_some() {
                Event::UpdateAgent(spec).into()
            } else {
                Event::AddAgent(spec).into()
            }
        }
        Step::State { agent, state } => Event::SetAgentState {
            agent: AgentId(u64::from(agent % 7)),
            state: [AgentState::Available, AgentState::Away, AgentState::Offline]
                [usize::from(state % 3)],
        }
        .into(),
        Step::Leave { agent } => Event::RemoveAgent {
            agent: AgentId(u64::from(agent % 7)),
        }
        .into(),
        Step::Open { conversation, brand } => Input::Open {
            conversation: conv(conversation),
            tenant: brands[usize::from(brand)],
        },
        Step::Say { conversation, who, text, mood, ask } => {
            let speaker = [Speaker::Customer, Speaker::Bot, Speaker::Human][usize::from(who % 3)];
            let mut turn = Turn::new(speaker);
            turn.text = Some(text);
            if let Some(v) = mood {
                turn = turn.with(Evidence::Sentiment { value: v, confidence: 1.0 });
            }
            if ask {
                turn = turn.with(Evidence::ExplicitRequest { confidence: 1.0 });
            }
            Input::Signal { conversation: conv(conversation), signal: Signal::Turn(turn) }
        }
        Step::Signal { conversation, which, arg } => {
            let signal = match which % 8 {
                0 => Signal::Tick,
                1 => Signal::CustomerCancelled,
                2 => Signal::HumanReleased,
                3 => Signal::HandBackAccepted,
                4 => Signal::HandBackDeclined,
                5 => Signal::Classified { request: u64::from(arg), evidence: vec![] },
                6 => Signal::Queued { task: TaskId(u64::from(arg)) },
                _ => Signal::Assigned { agent: AgentId(u64::from(arg % 7)) },
            };
            Input::Signal { conversation: conv(conversation), signal }
        }
        Step::Close { conversation } => Input::Close { conversation: conv(conversation) },
        Step::Request { id, brand, workflow, max_wait } => {
            let mut spec = TaskSpec::new(TaskId(1 << 32 | u64::from(id % 64)), brands[usize::from(brand)], Channel::Chat);
            if let Some(w) = max_wait {
                spec = spec.max_wait_ms(u64::from(w));
            }
            Input::Request {
                spec,
                workflow: match workflow % 3 {
                    0 => None,
                    1 => Some("presale".into()),
                    _ => Some("nope".into()),
                },
                attrs: BTreeMap::new(),
            }
        }
        Step::Answer { pick, accept, wrong_agent } => {
            let t = *live.get(usize::from(pick) % live.len().max(1))?;
            let Some(TaskState::Offered(offers)) = op.router().task_state(t) else {
                return None;
            };
            let offer = *offers.first()?;
            let (_, mut agent, _) = op.router().offer(offer)?;
            if wrong_agent {
                agent = AgentId(agent.0 % 6 + 1);
            }
            if accept { Event::Accept { offer, agent }.into() } else { Event::Reject { offer, agent }.into() }
        }
        Step::Complete { pick } => Event::Complete {
            task: *live.get(usize::from(pick) % live.len().max(1))?,
        }
        .into(),
        Step::Outcome { pick, csat } => Input::Outcome {
            task: live.get(usize::from(pick) % live.len().max(1)).copied().unwrap_or(TaskId(0)),
            outcome: Outcome::csat(csat),
        },
        Step::Json(text) => serde_json::from_str(&text).ok()?,
    };
    Some((Time(*now), input))
}

fuzz_target!(|script: Script| {
    let Some(cfg) = config() else { return };
    let Ok(mut op) = Operation::new(cfg.clone()) else { return };
    let mut now = 1_000_000u64;
    let mut accepted: Vec<(Time, Input)> = Vec::new();
    let mut outputs: Vec<Output> = Vec::new();
    for step in script.steps.into_iter().take(512) {
        let Some((at, input)) = input_of(&op, &mut now, step) else { continue };
        let before = serde_json::to_string(&op.export_state()).expect("state serialises");
        match op.handle(at, input.clone()) {
            Ok(()) => {
                accepted.push((at, input));
                outputs.extend(op.drain_outputs());
            }
            Err(_) => {
                assert_eq!(serde_json::to_string(&op.export_state()).expect("state"), before);
                assert_eq!(op.drain_outputs().count(), 0);
            }
        }
        let r = op.router();
        r.check_invariants().expect("router invariants");
        let c = r.counters();
        assert_eq!(
            c.arrived,
            r.live_tasks() as u64 + c.completed + c.cancelled + c.abandoned + c.timed_out
        );
        for t in live_tasks(&op) {
            if let Some(conv) = op.link(t) {
                assert!(r.task_state(t).is_some(), "{t:?} of {conv:?}");
            }
        }
    }
    let state = serde_json::to_string(&op.export_state()).expect("state");
    let back = Operation::from_state(op.export_state(), DefaultScoring).expect("restore");
    assert_eq!(serde_json::to_string(&back.export_state()).expect("state"), state);
    let mut again = Operation::new(cfg).expect("config");
    let mut replayed = Vec::new();
    for (at, input) in accepted {
        again.handle(at, input).expect("an accepted input replays");
        replayed.extend(again.drain_outputs());
    }
    assert_eq!(serde_json::to_string(&again.export_state()).expect("state"), state);
    assert_eq!(replayed, outputs);
});
