//! `Input::HandoverContext`: a conversation's hand-overs go through the host's workflow with its
//! attributes and SLA.

use std::collections::BTreeMap;
use switchboard::escalation::{ConversationId, Signal, Turn};
use switchboard::expr::AttrValue;
use switchboard::operation::{Input, Operation, OperationConfig, Output};
use switchboard::policy::PolicySet;
use switchboard::*;

const POLICY: &str = r#"
version = "ctx"
tags = ["lang:zh", "lang:en", "lang:ja"]

[[tenants]]
name = "acme"

[[workflows.presale.steps]]
target = 'lang == task.lang'
"#;

fn operation() -> Operation {
    let config = OperationConfig {
        policy: Some(PolicySet::from_toml_str(POLICY).expect("policy")),
        ..OperationConfig::with_bots(RouterConfig::default())
    };
    let mut op = Operation::new(config).expect("operation");
    for (id, lang) in [(1, "lang:en"), (2, "lang:zh")] {
        let tag = op.router().catalog().find_tag(lang).expect("tag");
        let spec = AgentSpec::new(AgentId(id))
            .capacity(Channel::Chat, 1)
            .tag(tag)
            .state(AgentState::Available);
        op.handle(
            Time::ZERO,
            Input::Router {
                event: Event::AddAgent(spec),
            },
        )
        .expect("agent");
    }
    op
}

fn context(conversation: u64, lang: &str) -> Input {
    Input::HandoverContext {
        conversation: ConversationId(conversation),
        workflow: Some("presale".into()),
        attrs: BTreeMap::from([("lang".to_string(), AttrValue::Str(lang.into()))]),
        sla_ms: Some(15_000),
    }
}

fn ask(op: &mut Operation, at: u64, conversation: u64) -> Vec<Output> {
    let signal = Signal::Turn(Turn::customer("I want to talk to a real person"));
    op.handle(
        Time::from_secs(at),
        Input::Signal {
            conversation: ConversationId(conversation),
            signal,
        },
    )
    .expect("turn");
    op.drain_outputs().collect()
}

#[test]
fn handover_takes_the_conversations_workflow_attributes_and_sla() {
    let mut op = operation();
    let acme = op.router().catalog().find_tenant("acme").expect("tenant");
    let c = ConversationId(1);
    op.handle(
        Time::from_secs(1),
        Input::Open {
            conversation: c,
            tenant: acme,
        },
    )
    .expect("open");
    op.handle(Time::from_secs(1), context(1, "zh"))
        .expect("context");
    let out = ask(&mut op, 2, 1);
    let task = out
        .iter()
        .find_map(|o| match o {
            Output::Handover { task, .. } => Some(*task),
            _ => None,
        })
        .expect("hand-over");
    let offered_to = out.iter().find_map(|o| match o.as_router() {
        Some(Effect::Offer { agent, .. }) => Some(*agent),
        _ => None,
    });
    assert_eq!(offered_to, Some(AgentId(2)), "the zh speaker: {out:?}");
    let rec = op
        .ledger()
        .records()
        .iter()
        .find(|r| r.task == task)
        .expect("record");
    assert_eq!(rec.sla_ms, 15_000);
}

#[test]
fn context_needs_an_open_conversation() {
    let mut op = operation();
    assert!(op.handle(Time::from_secs(1), context(9, "zh")).is_err());
}
