//! The composed engine's overhead (issue #13).
//!
//! ```text
//! cargo bench --bench operation                                     # full run
//! SWITCHBOARD_BENCH_QUICK=1 cargo bench --bench operation -- --test   # smoke test
//! ```
//!
//! * `conversation_life/{operation,hand_wired}`: one conversation's whole life among 200 agents —
//!   open, two bot turns, an explicit request for a human (guardrail + escalation), the hand-over
//!   routed through a two-step workflow, the offer accepted, the task completed (hand-back to the
//!   bot), the conversation closed and counted by the ledger — through `Operation` vs through
//!   the same engines wired by hand (`tests/support/hand_wired.rs`, the reference of the
//!   property test). Every iteration runs the same inputs on both; the ratio is the
//!   composition's overhead.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use switchboard::escalation::{ConversationId, Signal, Turn};
use switchboard::operation::{Input, Operation, OperationConfig, Output};
use switchboard::policy::PolicySet;
use switchboard::*;

#[path = "../tests/support/hand_wired.rs"]
mod hand_wired;
#[path = "workload/mod.rs"]
mod workload;

use hand_wired::HandWired;

const POLICY: &str = r#"
version = "bench"
skills = [{ name = "s0" }]
[[tenants]]
name = "acme"
[[workflows.escalation.steps]]
target = 'skill("s0") >= 6'
timeout_ms = 20000
[[workflows.escalation.steps]]
target = 'true'
"#;

const AGENTS: u64 = 200;

fn config() -> OperationConfig {
    OperationConfig {
        policy: Some(PolicySet::from_toml_str(POLICY).expect("policy")),
        ..OperationConfig::with_bots(RouterConfig::default())
    }
}

fn agents(tenant_skill: SkillId) -> Vec<Input> {
    (1..=AGENTS)
        .map(|a| {
            Event::AddAgent(
                AgentSpec::new(AgentId(a))
                    .skill(tenant_skill, (a % 10 + 1) as u8)
                    .capacity(Channel::Chat, 4)
                    .state(AgentState::Available),
            )
            .into()
        })
        .collect()
}

/// The inputs of conversation `c` at time `t` (ms), up to its hand-over.
fn opening(c: u64, tenant: TenantId) -> [Input; 4] {
    let conversation = ConversationId(c);
    let say = |text: &str| Input::Signal {
        conversation,
        signal: Signal::Turn(Turn::customer(text)),
    };
    [
        Input::Open {
            conversation,
            tenant,
        },
        say("hi, where is my order 12345"),
        say("it says delivered but I have nothing"),
        say("I want to talk to a real person"),
    ]
}

/// Plays conversation `c` to its end through `apply`, reading offers and assignments from the
/// outputs it returns; `t` advances.
fn life(c: u64, tenant: TenantId, t: &mut u64, mut apply: impl FnMut(Time, Input) -> Vec<Output>) {
    let mut offer = None;
    for input in opening(c, tenant) {
        *t += 1_000;
        for o in apply(Time(*t), input) {
            if let Some(Effect::Offer {
                offer: id, agent, ..
            }) = o.as_router()
            {
                offer = Some((*id, *agent));
            }
        }
    }
    let Some((offer, agent)) = offer else {
        panic!("conversation {c} got no offer");
    };
    *t += 1_000;
    let mut task = None;
    for o in apply(Time(*t), Event::Accept { offer, agent }.into()) {
        if let Some(Effect::Assigned { task: id, .. }) = o.as_router() {
            task = Some(*id);
        }
    }
    *t += 60_000;
    let task = task.expect("assigned");
    black_box(apply(Time(*t), Event::Complete { task }.into()));
    *t += 1_000;
    black_box(apply(
        Time(*t),
        Input::Close {
            conversation: ConversationId(c),
        },
    ));
}

fn conversation_life(c: &mut Criterion) {
    let mut op = Operation::new(config()).expect("operation");
    let skill = op.router().catalog().find_skill("s0").expect("skill");
    let tenant = op.router().catalog().find_tenant("acme").expect("tenant");
    let mut hand = HandWired::new(config());
    for a in agents(skill) {
        op.handle(Time::ZERO, a.clone()).expect("agent");
        hand.apply(Time::ZERO, a);
    }
    op.drain_outputs().for_each(drop);
    hand.out.clear();
    let mut g = c.benchmark_group("conversation_life");
    if workload::quick() {
        g.sample_size(10)
            .measurement_time(std::time::Duration::from_millis(200));
    }
    let (mut n, mut t) = (0u64, 1_000u64);
    g.bench_function("operation", |b| {
        b.iter(|| {
            n += 1;
            life(n, tenant, &mut t, |now, input| {
                op.handle(now, input).expect("input");
                op.drain_outputs().collect()
            });
        });
    });
    let (mut n, mut t) = (0u64, 1_000u64);
    g.bench_function("hand_wired", |b| {
        b.iter(|| {
            n += 1;
            life(n, tenant, &mut t, |now, input| {
                hand.apply(now, input);
                std::mem::take(&mut hand.out)
            });
        });
    });
    g.finish();
}

criterion_group!(benches, conversation_life);
criterion_main!(benches);
