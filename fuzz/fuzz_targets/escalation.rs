//! Fuzzes the escalation engine and the guardrail.
//!
//! The input decodes into policy knobs, a guardrail phrase list, and up to 256 steps: turns
//! (arbitrary UTF-8 text, sometimes blown up to hundreds of KiB, with arbitrary evidence — NaN,
//! infinite and out-of-range numbers included), evidence between turns, classifier answers
//! (open or unknown request ids), ownership signals in any order, ticks, load changes, time
//! going backwards, and direct guardrail scans of arbitrary text.
//!
//! After every step:
//! * no panic;
//! * a call that returned an error left the conversation unchanged;
//! * a second conversation given the same calls returned the same result (determinism);
//! * the decision's owner is the conversation's owner, and a pending or hand-back-offered
//!   conversation has a deadline (never owned by nobody, never stuck);
//! * guardrail hits have valid spans in the original text, and masking keeps the character count.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use switchboard::escalation::{
    BuiltinClassifier, Context, Conversation, ConversationId, Directive, EscalationPolicy, Evidence,
    Load, Owner, PolicyConfig, Signal, Speaker, Topic, TransferFailure, Turn,
};
use switchboard::guardrail::{
    Category, GuardAction, Guardrail, GuardrailConfig, PatternKind, PatternRule, PhraseList,
};
use switchboard::{AgentId, Catalog, TaskId, Time};

#[derive(Arbitrary, Debug)]
struct Input {
    up: u8,
    jump: u8,
    k: u8,
    clarify: bool,
    logistic: Option<(i8, u8)>,
    max_handoffs: u8,
    phrases: Vec<String>,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Who {
    Customer,
    Bot,
    Human,
}

#[derive(Arbitrary, Debug)]
enum Ev {
    Sentiment(f64, f64),
    Intent(f64),
    Fallback,
    BotError,
    Request(f64),
    Repeat(f64),
    Topic(u8, f64),
    Customer(u8, f64),
    Dispute(f64),
    NoInput,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Turn {
        who: Who,
        text: Option<String>,
        /// Repeat the text this many times (up to ~256 KiB in all).
        blow_up: u8,
        evidence: Vec<Ev>,
        dt: u16,
    },
    Evidence(Ev),
    Classified(u8, Vec<Ev>),
    Tick(u32),
    Queued(bool),
    Assigned(u8),
    Failed,
    Cancel,
    Released,
    Accept,
    Decline,
    Load {
        wait: u32,
        sla: u32,
        staffed: bool,
        hours: bool,
    },
    Back(u16),
    Scan(Who, String),
}

fn who(w: &Who) -> Speaker {
    match w {
        Who::Customer => Speaker::Customer,
        Who::Bot => Speaker::Bot,
        Who::Human => Speaker::Human,
    }
}

fn ev(e: &Ev) -> Evidence {
    match *e {
        Ev::Sentiment(value, confidence) => Evidence::Sentiment { value, confidence },
        Ev::Intent(value) => Evidence::IntentConfidence { value },
        Ev::Fallback => Evidence::Fallback,
        Ev::BotError => Evidence::BotError,
        Ev::Request(confidence) => Evidence::ExplicitRequest { confidence },
        Ev::Repeat(similarity) => Evidence::Repetition { similarity },
        Ev::Topic(t, confidence) => Evidence::Topic {
            topic: Topic::ALL[t as usize % Topic::ALL.len()],
            confidence,
        },
        Ev::Customer(tier, order_value) => Evidence::Customer { tier, order_value },
        Ev::Dispute(order_value) => Evidence::Dispute { order_value },
        Ev::NoInput => Evidence::NoInput,
    }
}

fn check_scan(g: &Guardrail, catalog_tenant: switchboard::TenantId, s: Speaker, text: &str) {
    let scan = g.scan(catalog_tenant, s, text);
    for h in &scan.hits {
        assert!(h.start <= h.end && h.end <= text.len(), "span out of range");
        assert!(text.is_char_boundary(h.start) && text.is_char_boundary(h.end));
    }
    if let Some(m) = &scan.masked {
        assert_eq!(m.chars().count(), text.chars().count());
    }
}

fuzz_target!(|input: Input| {
    let mut catalog = Catalog::new();
    let tenant = catalog.tenant("acme");
    let mut cfg = PolicyConfig::default();
    cfg.hysteresis.up_threshold = f64::from(input.up) / 100.0;
    cfg.hysteresis.jump_threshold = f64::from(input.jump) / 100.0;
    cfg.hysteresis.k_turns = u32::from(input.k % 5);
    cfg.hysteresis.max_handoffs = u32::from(input.max_handoffs % 4);
    cfg.hard.clarify_once = input.clarify;
    cfg.classifiers.external = vec!["ext".into()];
    cfg.hand_back.down_threshold = cfg.hysteresis.up_threshold - 0.3;
    if let Some((bias, scale)) = input.logistic {
        cfg.score.logistic = Some(switchboard::escalation::Logistic {
            bias: f64::from(bias) / 10.0,
            scale: f64::from(scale) / 10.0,
        });
    }
    // Invalid configurations must be refused, not crash.
    let Ok(policy) = EscalationPolicy::compile(cfg, &mut catalog) else {
        return;
    };
    let gcfg = GuardrailConfig {
        version: "fuzz".into(),
        lists: vec![PhraseList {
            name: "fuzz".into(),
            category: Category::Other,
            action: GuardAction::Mask,
            applies_to: vec![],
            tenants: vec![],
            phrases: input.phrases.iter().take(64).cloned().collect(),
        }],
        patterns: [PatternKind::Phone, PatternKind::Card, PatternKind::IdNumber]
            .into_iter()
            .map(|kind| PatternRule {
                kind,
                action: GuardAction::Mask,
                applies_to: vec![],
                tenants: vec![],
            })
            .collect(),
    };
    let guardrail = Guardrail::new(&gcfg, &mut catalog).ok();
    static CLASSIFIER: OnceLock<BuiltinClassifier> = OnceLock::new();
    let classifier = CLASSIFIER.get_or_init(|| BuiltinClassifier::new().expect("built-in tables"));
    let mut a = Conversation::new(ConversationId(1), tenant, Time::ZERO);
    let mut b = a.clone();
    let mut load = Load::quiet();
    let mut now = Time::ZERO;
    let mut last_task = TaskId(0);
    let mut last_request = 0u64;
    for step in input.steps.iter().take(256) {
        let mut at = now;
        let signal = match step {
            Step::Turn {
                who: w,
                text,
                blow_up,
                evidence,
                dt,
            } => {
                at = now.plus_millis(u64::from(*dt));
                let text = text.as_ref().map(|t| {
                    let n = if t.is_empty() {
                        1
                    } else {
                        (usize::from(*blow_up) * 1024 / t.len().max(1)).clamp(1, 256 << 10)
                    };
                    t.repeat(n.min((256 << 10) / t.len().max(1)).max(1))
                });
                Signal::Turn(Turn {
                    speaker: who(w),
                    text,
                    evidence: evidence.iter().take(8).map(ev).collect(),
                })
            }
            Step::Evidence(e) => Signal::Evidence(ev(e)),
            Step::Classified(off, e) => Signal::Classified {
                request: last_request.wrapping_sub(u64::from(*off % 3)),
                evidence: e.iter().take(8).map(ev).collect(),
            },
            Step::Tick(dt) => {
                at = now.plus_millis(u64::from(*dt) * 10);
                Signal::Tick
            }
            Step::Queued(right) => Signal::Queued {
                task: if *right { last_task } else { TaskId(u64::MAX) },
            },
            Step::Assigned(x) => Signal::Assigned {
                agent: AgentId(u64::from(*x % 4)),
            },
            Step::Failed => Signal::TransferFailed {
                reason: TransferFailure::AgentLost,
            },
            Step::Cancel => Signal::CustomerCancelled,
            Step::Released => Signal::HumanReleased,
            Step::Accept => Signal::HandBackAccepted,
            Step::Decline => Signal::HandBackDeclined,
            Step::Load {
                wait,
                sla,
                staffed,
                hours,
            } => {
                load = Load {
                    projected_wait_ms: u64::from(*wait),
                    sla_ms: u64::from(*sla),
                    staffed: *staffed,
                    in_hours: *hours,
                };
                continue;
            }
            Step::Back(ms) => {
                at = Time(now.0.saturating_sub(u64::from(*ms)));
                Signal::Tick
            }
            Step::Scan(w, text) => {
                if let Some(g) = &guardrail {
                    check_scan(g, tenant, who(w), text);
                }
                continue;
            }
        };
        let ctx = Context {
            policy: &policy,
            load: &load,
            classifier,
            guardrail: guardrail.as_ref(),
        };
        let before = a.clone();
        let ra = a.observe(&ctx, at, signal.clone());
        let rb = b.observe(&ctx, at, signal);
        // Compared as text: an error may carry a NaN, which is never equal to itself.
        assert_eq!(format!("{ra:?}"), format!("{rb:?}"), "not deterministic");
        match ra {
            Err(_) => assert_eq!(a, before, "an error changed the conversation"),
            Ok(d) => {
                now = now.max(at);
                assert_eq!(&d.owner, a.owner());
                assert!(d.score.is_finite(), "score {}", d.score);
                match a.owner() {
                    Owner::PendingHuman { .. } | Owner::HandBackOffered { .. } => {
                        assert!(a.poll_timeout().is_some(), "waiting without a deadline");
                    }
                    Owner::Bot | Owner::Human { .. } => {}
                }
                for e in &d.effects {
                    match e {
                        Directive::Route(h) => last_task = h.task.id,
                        Directive::Classify { request, .. } => last_request = *request,
                        _ => {}
                    }
                }
            }
        }
    }
});
