//! A bot-first sales hour through the composed engine: one `Operation` runs the bot front line
//! (guardrail → escalation), the workflows, the router and the ledger.
//!
//! Two brands, 12 human agents, about 600 conversations in an hour. The bot answers every
//! customer first. Most conversations stay with the bot; some customers ask for a person (a hard
//! trigger), others grow unhappy turn after turn until the escalation score crosses its
//! threshold. Each hand-over is routed through the brand's `escalation` workflow, which widens
//! from specialists to anyone after 20 s; agents take a few seconds to answer offers (and now and
//! then reject one), serve, and complete — which hands the conversation back to the bot. A
//! human reply with a phone number is masked by the guardrail. At the end: what the engines did
//! and the ledger's report per brand.
//!
//! ```sh
//! cargo run --release --example bot_first_hour
//! ```
//!
//! The host loop is the one a real service runs: feed `Input`s with their time, carry out the
//! `Output`s, and call `handle_timeout` when `poll_timeout` says.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use switchboard::escalation::{ConversationId, Evidence, Signal, Turn};
use switchboard::ledger::Outcome;
use switchboard::operation::{Input, Operation, OperationConfig, Output};
use switchboard::*;

/// The routing policy: skills, two brands, and the workflow every hand-over runs.
const POLICY: &str = r#"
version = "bot-first-hour"
skills = [{ name = "presale" }, { name = "aftersale" }]
[router]
offer_timeout_ms = 15000
wrap_up_ms = 5000
[[tenants]]
name = "acme-fashion"
[[tenants]]
name = "zen-audio"
[[workflows.escalation.steps]]
target = 'skill("presale") >= 7'
timeout_ms = 20000
[[workflows.escalation.steps]]
target = 'skill("presale") >= 3 or skill("aftersale") >= 3'
timeout_ms = 60000
[[workflows.escalation.steps]]
target = 'true'
"#;

/// Guardrail: phone numbers in replies are masked before they are stored or sent.
const GUARDRAIL: &str = r#"{ "version": "g1", "lists": [
    { "name": "contact", "action": "mask", "phrases": ["138 0000 0000", "my personal number"] }
] }"#;

/// What happens next, in the host's world (customers typing, agents answering).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    /// A new customer starts a conversation.
    Open,
    /// A customer turn in conversation `c`.
    Turn(u64),
    /// The agent answers an offer.
    Answer(OfferId, AgentId),
    /// The agent finishes serving the task.
    Complete(TaskId),
}

/// splitmix64: the example's own seeded randomness.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Exponential with this mean (ms).
    fn exp_ms(&mut self, mean_ms: f64) -> u64 {
        (-(1.0 - self.unit()).ln() * mean_ms) as u64
    }
}

/// A customer as the example imagines them.
struct Customer {
    turns_left: u32,
    /// How the conversation goes: 0 calm, 1 asks for a person, 2 grows unhappy.
    kind: u8,
    sentiment: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = OperationConfig {
        policy: Some(switchboard::policy::PolicySet::from_toml_str(POLICY)?),
        guardrail: Some(serde_json::from_str(GUARDRAIL)?),
        ..OperationConfig::with_bots(RouterConfig::default())
    };
    let mut op = Operation::new(config)?;
    let catalog = op.router().catalog();
    let brands = [
        catalog.find_tenant("acme-fashion").ok_or("brand")?,
        catalog.find_tenant("zen-audio").ok_or("brand")?,
    ];
    let (presale, aftersale) = (
        catalog.find_skill("presale").ok_or("skill")?,
        catalog.find_skill("aftersale").ok_or("skill")?,
    );
    let mut rng = Rng(2026);
    let t0 = Time::from_secs(9 * 3600);
    for a in 1..=12u64 {
        let spec = AgentSpec::new(AgentId(a))
            .skill(presale, (1 + rng.below(10)) as u8)
            .skill(aftersale, (1 + rng.below(10)) as u8)
            .capacity(Channel::Chat, 2)
            .state(AgentState::Available);
        op.handle(
            t0,
            Input::Router {
                event: Event::AddAgent(spec),
            },
        )?;
    }

    let end = t0.plus_millis(3_600_000);
    let mut agenda: BinaryHeap<Reverse<(Time, u64, Next)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |agenda: &mut BinaryHeap<_>, at: Time, n: Next| {
        seq += 1;
        agenda.push(Reverse((at, seq, n)));
    };
    push(&mut agenda, t0, Next::Open);
    let mut customers: BTreeMap<u64, Customer> = BTreeMap::new();
    let mut next_conv = 1u64;
    let mut tally: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut now = t0;

    loop {
        // The next thing to happen: the host's world or one of the engines' timers.
        let world = agenda.peek().map(|Reverse((t, _, _))| *t);
        let timer = op.poll_timeout();
        let Some(at) = [world, timer].into_iter().flatten().min() else {
            break;
        };
        if at > end && customers.is_empty() {
            break;
        }
        now = at.max(now);
        if timer.is_some_and(|t| t <= at) && world.is_none_or(|w| w > at) {
            op.handle_timeout(now)?;
        } else if let Some(Reverse((_, _, next))) = agenda.pop() {
            match next {
                Next::Open if now < end => {
                    let c = next_conv;
                    next_conv += 1;
                    let brand = brands[rng.below(2) as usize];
                    let kind = match rng.below(100) {
                        0..12 => 1,
                        12..25 => 2,
                        _ => 0,
                    };
                    customers.insert(
                        c,
                        Customer {
                            turns_left: 2 + rng.below(6) as u32,
                            kind,
                            sentiment: 0.2,
                        },
                    );
                    op.handle(
                        now,
                        Input::Open {
                            conversation: ConversationId(c),
                            tenant: brand,
                        },
                    )?;
                    push(&mut agenda, now.plus_millis(1_000), Next::Turn(c));
                    push(
                        &mut agenda,
                        now.plus_millis(rng.exp_ms(6_000.0)),
                        Next::Open,
                    );
                }
                Next::Open => {}
                Next::Turn(c) => {
                    let Some(cu) = customers.get_mut(&c) else {
                        continue;
                    };
                    let conversation = ConversationId(c);
                    if cu.turns_left == 0 {
                        customers.remove(&c);
                        if op.conversation(conversation).is_some() {
                            op.handle(now, Input::Close { conversation })?;
                        }
                        continue;
                    }
                    cu.turns_left -= 1;
                    let owner = op.conversation(conversation).map(|c| c.owner().name());
                    let turn = match (owner, cu.kind) {
                        (Some("human"), _) if rng.below(4) == 0 => {
                            Turn::human("you can reach me on my personal number 138 0000 0000")
                        }
                        (Some("human"), _) => Turn::customer("thanks, that helps"),
                        (_, 1) if cu.turns_left < 3 => {
                            Turn::customer("I want to talk to a real person")
                        }
                        (_, 2) => {
                            cu.sentiment = (cu.sentiment - 0.3).max(-1.0);
                            Turn::customer("hmm, that is not really what I meant")
                                .with(Evidence::Sentiment {
                                    value: cu.sentiment,
                                    confidence: 0.9,
                                })
                                .with(Evidence::IntentConfidence { value: 0.3 })
                        }
                        _ => Turn::customer("does this come in a smaller size?").with(
                            Evidence::Sentiment {
                                value: cu.sentiment,
                                confidence: 0.9,
                            },
                        ),
                    };
                    op.handle(
                        now,
                        Input::Signal {
                            conversation,
                            signal: Signal::Turn(turn),
                        },
                    )?;
                    push(
                        &mut agenda,
                        now.plus_millis(8_000 + rng.exp_ms(12_000.0)),
                        Next::Turn(c),
                    );
                }
                Next::Answer(offer, agent) => {
                    let event = if rng.below(10) == 0 {
                        Event::Reject { offer, agent }
                    } else {
                        Event::Accept { offer, agent }
                    };
                    // An answer that comes after the offer expired is refused: that is fine.
                    let _ = op.handle(now, Input::Router { event });
                }
                Next::Complete(task) => {
                    op.handle(
                        now,
                        Input::Router {
                            event: Event::Complete { task },
                        },
                    )?;
                    let csat = if rng.below(10) < 9 { 5.0 } else { 2.0 };
                    op.handle(
                        now,
                        Input::Outcome {
                            task,
                            outcome: Outcome::csat(csat),
                        },
                    )?;
                }
            }
        }
        // Carry out what the engines asked for.
        for output in op.drain_outputs().collect::<Vec<_>>() {
            let name = match &output {
                Output::Router {
                    effect: Effect::Offer { offer, agent, .. },
                } => {
                    push(
                        &mut agenda,
                        now.plus_millis(2_000 + rng.exp_ms(3_000.0)),
                        Next::Answer(*offer, *agent),
                    );
                    "offers"
                }
                Output::Router {
                    effect: Effect::Assigned { task, .. },
                } => {
                    push(
                        &mut agenda,
                        now.plus_millis(60_000 + rng.exp_ms(120_000.0)),
                        Next::Complete(*task),
                    );
                    "assigned"
                }
                Output::Router {
                    effect: Effect::WrapUpStarted { task, .. },
                } => {
                    let _ = task;
                    "wrap-ups"
                }
                Output::Router { .. } => continue,
                Output::Workflow {
                    effect: workflow::WorkflowEffect::StepEntered { step, .. },
                } if *step > 0 => "workflow widenings",
                Output::Workflow { .. } => continue,
                Output::Decision { action, .. } => match action {
                    escalation::Action::Escalate {
                        layer: escalation::Layer::Hard,
                        ..
                    } => "escalations (hard trigger)",
                    escalation::Action::Escalate {
                        layer: escalation::Layer::Soft,
                        ..
                    } => "escalations (score)",
                    escalation::Action::HoldBack => "held back by load",
                    _ => continue,
                },
                Output::Handover { .. } => "hand-over packets",
                Output::Notice { .. } => "notices to customers",
                Output::MaskText { .. } => "masked replies",
                Output::BlockReply { .. } => "blocked replies",
                Output::HandBack { .. } => "handed back to the bot",
                Output::Callback { .. } => "call-backs",
                Output::Ticket { .. } => "tickets",
                Output::CapacityNeeded { .. } => "capacity requests",
                Output::Closed { .. } => "conversations closed",
                _ => continue,
            };
            *tally.entry(name).or_default() += 1;
        }
    }

    println!(
        "A bot-first hour through one Operation ({} conversations)",
        next_conv - 1
    );
    for (what, n) in &tally {
        println!("  {what:<28} {n:>6}");
    }
    let report = op.ledger().report(now);
    println!("\nLedger, per brand:");
    println!(
        "  {:<14} {:>8} {:>8} {:>9} {:>7} {:>6} {:>11} {:>9}",
        "brand", "offered", "answered", "SL (60s)", "ASA s", "CSAT", "AI convs", "contained"
    );
    for row in &report.tenants {
        let Some(ai) = report.ai_tenants.iter().find(|a| a.tenant == row.tenant) else {
            continue;
        };
        let name = op.router().catalog().tenant_name(row.tenant).unwrap_or("?");
        println!(
            "  {:<14} {:>8} {:>8} {:>9} {:>7} {:>6} {:>11} {:>9}",
            name,
            row.offered,
            row.answered,
            row.service_level
                .map_or("-".into(), |v| format!("{:.1}%", 100.0 * v)),
            row.asa_secs.map_or("-".into(), |v| format!("{v:.1}")),
            row.csat_avg.map_or("-".into(), |v| format!("{v:.2}")),
            ai.conversations,
            ai.containment
                .map_or("-".into(), |v| format!("{:.1}%", 100.0 * v)),
        );
    }
    let m = op
        .escalation()
        .map(|e| e.metrics().clone())
        .unwrap_or_default();
    println!(
        "\nEscalation engine: {} closed, {} contained, {} escalated, {} hand-backs",
        m.closed, m.contained, m.escalated_conversations, m.hand_backs
    );
    Ok(())
}
