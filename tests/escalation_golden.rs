//! Golden, table-driven tests of the escalation policy: `tests/golden/escalation/*.txt`.
//!
//! Each file is a list of commands, one per line; after each command that feeds the conversation,
//! the file holds the expected decision on a line starting with `=>`. Run with
//! `UPDATE_GOLDEN=1 cargo test --test escalation_golden` to rewrite the expectations after an
//! intended change (then review the diff).
//!
//! Commands (time advances 1 s per command unless `@<secs>` comes first):
//!
//! ```text
//! # comment
//! policy {json}            replace the policy (PolicyConfig JSON), starts a new conversation
//! guardrail {json}         use this guardrail (GuardrailConfig JSON)
//! load quiet | load wait=<s> sla=<s> [unstaffed] [closed]
//! reset                    new conversation, same policy and load, time back to 0
//! customer|bot|human [text="…"] [sentiment=v[:conf]] [topic=name[:conf]] [fallback] [error]
//!                    [intent=v] [request[=conf]] [repeat=sim] [tier=n] [order=v] [dispute=v] [noinput]
//! evidence <one evidence as above>
//! queued | assigned <agent> | failed <rejected|timed_out|agent_lost> | cancel | released
//! accept | decline | tick
//! ```
//!
//! Expected line: `=> <action> owner=<owner> fired=<rules> score=<s> up=<t> [effects=<kinds>]`.

use std::fmt::Write as _;
use std::path::Path;
use switchboard::escalation::{
    BuiltinClassifier, Context, Conversation, ConversationId, Decision, Directive,
    EscalationPolicy, Evidence, Load, PolicyConfig, Signal, Speaker, Topic, TransferFailure, Turn,
};
use switchboard::guardrail::{Guardrail, GuardrailConfig};
use switchboard::{AgentId, Catalog, TaskId, TenantId, Time};

struct Run {
    catalog: Catalog,
    tenant: TenantId,
    policy: EscalationPolicy,
    guardrail: Option<Guardrail>,
    classifier: BuiltinClassifier,
    load: Load,
    conv: Conversation,
    now: Time,
    last_task: Option<TaskId>,
}

impl Run {
    fn new() -> Run {
        let mut catalog = Catalog::new();
        let tenant = catalog.tenant("acme");
        let policy = EscalationPolicy::compile(PolicyConfig::default(), &mut catalog).unwrap();
        Run {
            catalog,
            tenant,
            policy,
            guardrail: None,
            classifier: BuiltinClassifier::new().unwrap(),
            load: Load::quiet(),
            conv: Conversation::new(ConversationId(1), tenant, Time::ZERO),
            now: Time::ZERO,
            last_task: None,
        }
    }
    fn reset(&mut self) {
        self.conv = Conversation::new(ConversationId(1), self.tenant, Time::ZERO);
        self.now = Time::ZERO;
        self.last_task = None;
    }
}

fn topic(name: &str) -> Topic {
    Topic::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("unknown topic {name}"))
}

fn num(v: &str) -> f64 {
    v.parse().unwrap_or_else(|_| panic!("bad number {v}"))
}

/// Splits `a=b c "d e"`-style arguments, keeping `text="…"` together.
fn args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse_turn(speaker: Speaker, rest: &str) -> Turn {
    let mut t = Turn::new(speaker);
    for a in args(rest) {
        if let Some(text) = a.strip_prefix("text=") {
            t.text = Some(text.to_owned());
        } else {
            t.evidence.push(parse_evidence(&a));
        }
    }
    t
}

fn parse_evidence(a: &str) -> Evidence {
    let (k, v) = a.split_once('=').unwrap_or((a, ""));
    let (v, conf) = v.split_once(':').unwrap_or((v, "1"));
    match k {
        "sentiment" => Evidence::Sentiment {
            value: num(v),
            confidence: num(conf),
        },
        "topic" => Evidence::Topic {
            topic: topic(v),
            confidence: num(conf),
        },
        "fallback" => Evidence::Fallback,
        "error" => Evidence::BotError,
        "intent" => Evidence::IntentConfidence { value: num(v) },
        "request" => Evidence::ExplicitRequest {
            confidence: if v.is_empty() { 1.0 } else { num(v) },
        },
        "repeat" => Evidence::Repetition { similarity: num(v) },
        "tier" => Evidence::Customer {
            tier: v.parse().unwrap(),
            order_value: 0.0,
        },
        "order" => Evidence::Customer {
            tier: 0,
            order_value: num(v),
        },
        "dispute" => Evidence::Dispute {
            order_value: num(v),
        },
        "noinput" => Evidence::NoInput,
        _ => panic!("unknown evidence {a}"),
    }
}

fn effect_name(e: &Directive) -> String {
    match e {
        Directive::Route(h) => format!(
            "route(class={},skills={},pref={})",
            h.task.priority.class,
            h.task.requirements.skills.len(),
            h.task
                .preferences
                .preferred_agent
                .map_or("-".to_owned(), |a| a.0.to_string())
        ),
        Directive::Reprioritize { priority, .. } => format!(
            "reprioritize(class={},base={:.1})",
            priority.class, priority.base
        ),
        Directive::CancelRoute { .. } => "cancel_route".into(),
        Directive::Callback(_) => "callback".into(),
        Directive::Ticket(_) => "ticket".into(),
        Directive::Notify(n) => format!(
            "notify:{}",
            serde_json::to_value(n).unwrap()["notice"].as_str().unwrap()
        ),
        Directive::Classify { classifier, .. } => format!("classify:{classifier}"),
        Directive::BlockReply => "block_reply".into(),
        Directive::MaskText { masked } => format!("mask({masked})"),
        Directive::OfferHandBack { .. } => "offer_hand_back".into(),
        Directive::HandBack(s) => format!("hand_back(turns={})", s.customer_turns),
        Directive::NeedCapacity(n) => {
            format!(
                "need_capacity:{}",
                serde_json::to_value(n.reason).unwrap().as_str().unwrap()
            )
        }
    }
}

fn render(d: &Decision) -> String {
    let fired: Vec<&str> = d.fired.iter().map(|r| r.name()).collect();
    let mut s = format!(
        "=> {} owner={} fired={} score={:.3} up={:.2}",
        d.action.label(),
        d.owner.name(),
        if fired.is_empty() {
            "-".to_owned()
        } else {
            fired.join(",")
        },
        d.score,
        d.thresholds.up
    );
    if !d.effects.is_empty() {
        let e: Vec<String> = d.effects.iter().map(effect_name).collect();
        write!(s, " effects={}", e.join(",")).unwrap();
    }
    s
}

fn run_file(path: &Path) -> (String, String) {
    let expected = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    let mut r = Run::new();
    for line in expected.lines() {
        if line.starts_with("=>") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        let mut cmd = line.trim();
        if cmd.is_empty() || cmd.starts_with('#') {
            continue;
        }
        if let Some(rest) = cmd.strip_prefix('@') {
            let (t, rest) = rest.split_once(' ').unwrap();
            r.now = Time::from_secs_f64(num(t)).unwrap();
            cmd = rest.trim();
        } else if !cmd.starts_with("policy")
            && !cmd.starts_with("guardrail")
            && !cmd.starts_with("load")
            && cmd != "reset"
        {
            r.now = r.now.plus_millis(1000);
        }
        let (word, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let signal = match word {
            "policy" => {
                let cfg: PolicyConfig = serde_json::from_str(rest).unwrap();
                r.policy = EscalationPolicy::compile(cfg, &mut r.catalog).unwrap();
                r.reset();
                continue;
            }
            "guardrail" => {
                let cfg: GuardrailConfig = serde_json::from_str(rest).unwrap();
                r.guardrail = Some(Guardrail::new(&cfg, &mut r.catalog).unwrap());
                continue;
            }
            "load" => {
                r.load = Load::quiet();
                for a in args(rest) {
                    match a.split_once('=') {
                        Some(("wait", v)) => r.load.projected_wait_ms = (num(v) * 1000.0) as u64,
                        Some(("sla", v)) => r.load.sla_ms = (num(v) * 1000.0) as u64,
                        None if a == "unstaffed" => r.load.staffed = false,
                        None if a == "closed" => r.load.in_hours = false,
                        None if a == "quiet" => {}
                        _ => panic!("bad load arg {a}"),
                    }
                }
                continue;
            }
            "reset" => {
                r.reset();
                continue;
            }
            "customer" => Signal::Turn(parse_turn(Speaker::Customer, rest)),
            "bot" => Signal::Turn(parse_turn(Speaker::Bot, rest)),
            "human" => Signal::Turn(parse_turn(Speaker::Human, rest)),
            "evidence" => Signal::Evidence(parse_evidence(rest.trim())),
            "tick" => Signal::Tick,
            "queued" => Signal::Queued {
                task: r.last_task.expect("queued before any route"),
            },
            "assigned" => Signal::Assigned {
                agent: AgentId(rest.trim().parse().unwrap()),
            },
            "failed" => Signal::TransferFailed {
                reason: match rest.trim() {
                    "rejected" => TransferFailure::Rejected,
                    "timed_out" => TransferFailure::TimedOut,
                    _ => TransferFailure::AgentLost,
                },
            },
            "cancel" => Signal::CustomerCancelled,
            "released" => Signal::HumanReleased,
            "accept" => Signal::HandBackAccepted,
            "decline" => Signal::HandBackDeclined,
            _ => panic!("{}: unknown command {cmd}", path.display()),
        };
        let ctx = Context {
            policy: &r.policy,
            load: &r.load,
            classifier: &r.classifier,
            guardrail: r.guardrail.as_ref(),
        };
        match r.conv.observe(&ctx, r.now, signal) {
            Ok(d) => {
                for e in &d.effects {
                    if let Directive::Route(h) = e {
                        r.last_task = Some(h.task.id);
                    }
                }
                out.push_str(&render(&d));
            }
            Err(e) => write!(out, "=> error: {e}").unwrap(),
        }
        out.push('\n');
    }
    (expected, out)
}

#[test]
fn golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/escalation");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "golden files missing in {}",
        dir.display()
    );
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failed = Vec::new();
    for f in &files {
        let (expected, actual) = run_file(f);
        if expected != actual {
            if update {
                std::fs::write(f, &actual).unwrap();
            } else {
                let diff: Vec<String> = expected
                    .lines()
                    .zip(actual.lines())
                    .filter(|(a, b)| a != b)
                    .take(5)
                    .map(|(a, b)| format!("  expected: {a}\n  actual:   {b}"))
                    .collect();
                failed.push(format!("{}:\n{}", f.display(), diff.join("\n")));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "golden mismatches (UPDATE_GOLDEN=1 to rewrite):\n{}",
        failed.join("\n")
    );
}
