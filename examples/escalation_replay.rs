//! Replays conversation history through an escalation policy, to tune it on your own data.
//!
//! ```text
//! cargo run --example escalation_replay -- [--policy policy.json] [--load WAIT_S:SLA_S]
//!                                          [--quiet-decisions] [conversations.jsonl | --demo]
//! ```
//!
//! Input: one conversation per line (JSON), e.g.
//!
//! ```json
//! {"id": 1, "tenant": "acme", "needs_human_at": 3,
//!  "events": [{"at_ms": 0, "signal": {"type": "turn", "speaker": "customer", "text": "where is my refund"}},
//!             {"at_ms": 4000, "signal": {"type": "turn", "speaker": "bot", "evidence": [{"kind": "fallback"}]}}]}
//! ```
//!
//! `needs_human_at` is the label: the customer turn (1-based) at which a human was really needed,
//! or `null` when the bot should have kept the conversation. `signal` is a
//! [`Signal`](switchboard::escalation::Signal) in its JSON form. The replay confirms every route
//! request (`queued`) itself, like a host would; other ownership events come from the input.
//!
//! Output on stdout: one JSON line per decision that did something (action other than
//! `continue`, with the rules that fired, score and threshold; omitted with `--quiet-decisions`),
//! then one summary line: confusion counts, precision, recall, and how many customer turns early
//! (negative) or late (positive) each hand-off came against its label, plus the engine's metrics.
//! Input from the file named, or stdin; `--demo` uses six built-in conversations.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use switchboard::escalation::{
    Action, BuiltinClassifier, ConversationId, Effect, EscalationEngine, EscalationPolicy, Load,
    PolicyConfig, Signal,
};
use switchboard::{Catalog, Time};

#[derive(Deserialize)]
struct Line {
    id: u64,
    #[serde(default = "default_tenant")]
    tenant: String,
    #[serde(default)]
    needs_human_at: Option<u32>,
    events: Vec<Timed>,
}

fn default_tenant() -> String {
    "default".into()
}

#[derive(Deserialize)]
struct Timed {
    at_ms: u64,
    signal: Signal,
}

#[derive(Serialize)]
struct Out<'a> {
    conversation: u64,
    at_ms: u64,
    turn: u32,
    action: String,
    owner: &'a str,
    fired: Vec<&'static str>,
    score: f64,
    threshold: f64,
}

#[derive(Default, Serialize)]
struct Summary {
    conversations: u64,
    true_positive: u64,
    false_positive: u64,
    false_negative: u64,
    true_negative: u64,
    precision: Option<f64>,
    recall: Option<f64>,
    /// Hand-off turn minus labelled turn, for every true positive: count per offset.
    offset_histogram: BTreeMap<i64, u64>,
    early: u64,
    on_time: u64,
    late: u64,
    mean_offset_turns: Option<f64>,
    errors: u64,
    metrics: Option<switchboard::escalation::Metrics>,
}

const DEMO: &str = r#"{"id":1,"tenant":"acme","needs_human_at":2,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"我的退款怎么还没到"}},{"at_ms":2000,"signal":{"type":"turn","speaker":"bot","text":"请提供订单号","evidence":[{"kind":"intent_confidence","value":0.4}]}},{"at_ms":9000,"signal":{"type":"turn","speaker":"customer","text":"转人工"}}]}
{"id":2,"tenant":"acme","needs_human_at":null,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"where is my parcel"}},{"at_ms":1000,"signal":{"type":"turn","speaker":"bot","text":"It arrives tomorrow","evidence":[{"kind":"intent_confidence","value":0.95}]}},{"at_ms":5000,"signal":{"type":"turn","speaker":"customer","text":"thanks","evidence":[{"kind":"sentiment","value":0.6}]}}]}
{"id":3,"tenant":"acme","needs_human_at":2,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"this is the third time the dress is wrong","evidence":[{"kind":"sentiment","value":-0.8},{"kind":"topic","topic":"complaint"}]}},{"at_ms":3000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"fallback"}]}},{"at_ms":8000,"signal":{"type":"turn","speaker":"customer","text":"this is the third time the dress is wrong!!","evidence":[{"kind":"sentiment","value":-0.9}]}},{"at_ms":9000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"fallback"}]}},{"at_ms":15000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.9}]}}]}
{"id":4,"tenant":"acme","needs_human_at":null,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"size chart please","evidence":[{"kind":"sentiment","value":-0.5}]}},{"at_ms":1000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"fallback"}]}},{"at_ms":4000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.6}]}},{"at_ms":5000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"intent_confidence","value":0.9}]}},{"at_ms":8000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":0.2}]}}]}
{"id":5,"tenant":"acme","needs_human_at":1,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"I was charged twice, my lawyer will hear about this","evidence":[{"kind":"customer","tier":3,"order_value":2400}]}}]}
{"id":6,"tenant":"acme","needs_human_at":3,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.3}]}},{"at_ms":1000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"intent_confidence","value":0.5}]}},{"at_ms":4000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.4}]}},{"at_ms":5000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"intent_confidence","value":0.5}]}},{"at_ms":9000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.6},{"kind":"topic","topic":"payment"}]}},{"at_ms":10000,"signal":{"type":"turn","speaker":"bot","evidence":[{"kind":"fallback"}]}},{"at_ms":14000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.8}]}},{"at_ms":18000,"signal":{"type":"turn","speaker":"customer","evidence":[{"kind":"sentiment","value":-0.9}]}}]}
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut policy_path = None;
    let mut input_path = None;
    let mut demo = false;
    let mut quiet = false;
    let mut load = Load {
        projected_wait_ms: 60_000,
        sla_ms: 60_000,
        staffed: true,
        in_hours: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--policy" => policy_path = args.next(),
            "--demo" => demo = true,
            "--quiet-decisions" => quiet = true,
            "--load" => {
                let v = args.next().ok_or("--load needs WAIT_S:SLA_S")?;
                let (w, s) = v.split_once(':').ok_or("--load needs WAIT_S:SLA_S")?;
                load.projected_wait_ms = w.parse::<u64>()? * 1000;
                load.sla_ms = s.parse::<u64>()? * 1000;
            }
            "-h" | "--help" => {
                eprintln!(
                    "usage: escalation_replay [--policy policy.json] [--load WAIT_S:SLA_S] [--quiet-decisions] [conversations.jsonl | --demo]"
                );
                return Ok(());
            }
            _ => input_path = Some(a),
        }
    }
    let cfg: PolicyConfig = match &policy_path {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p)?)?,
        None => PolicyConfig {
            version: "default".into(),
            ..PolicyConfig::default()
        },
    };
    let mut catalog = Catalog::new();
    let policy = EscalationPolicy::compile(cfg, &mut catalog)?;
    let mut engine = EscalationEngine::new(policy, load, (), BuiltinClassifier::new()?);

    let reader: Box<dyn BufRead> = match (&input_path, demo) {
        (_, true) => Box::new(std::io::Cursor::new(DEMO)),
        (Some(p), false) => Box::new(std::io::BufReader::new(std::fs::File::open(p)?)),
        (None, false) => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut summary = Summary::default();
    let mut offsets = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let conv: Line = match serde_json::from_str(&line) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("line {}: {e}", n + 1);
                summary.errors += 1;
                continue;
            }
        };
        let id = ConversationId(conv.id);
        let tenant = catalog.tenant(&conv.tenant);
        let start = Time::from_millis(conv.events.first().map_or(0, |e| e.at_ms));
        if engine.open(start, id, tenant).is_err() {
            eprintln!("line {}: conversation {} twice", n + 1, conv.id);
            summary.errors += 1;
            continue;
        }
        let mut first_handoff: Option<u32> = None;
        for ev in conv.events {
            let now = Time::from_millis(ev.at_ms);
            // Timers that ran out before this event.
            while let Some(t) = engine.poll_timeout() {
                if t > now {
                    break;
                }
                engine.handle_timeout(t);
            }
            let d = match engine.observe(now, id, ev.signal) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("conversation {}: {e}", conv.id);
                    summary.errors += 1;
                    continue;
                }
            };
            if matches!(d.action, Action::Escalate { .. }) && first_handoff.is_none() {
                first_handoff = Some(d.turn);
            }
            if !quiet && d.action != Action::Continue {
                let o = Out {
                    conversation: conv.id,
                    at_ms: ev.at_ms,
                    turn: d.turn,
                    action: d.action.label(),
                    owner: d.owner.name(),
                    fired: d.fired.iter().map(|r| r.name()).collect(),
                    score: (d.score * 1000.0).round() / 1000.0,
                    threshold: (d.thresholds.up * 1000.0).round() / 1000.0,
                };
                writeln!(out, "{}", serde_json::to_string(&o)?)?;
            }
            for e in &d.effects {
                if let Effect::Route(h) = e {
                    engine.observe(now, id, Signal::Queued { task: h.task.id })?;
                }
            }
        }
        engine.close(id)?;
        summary.conversations += 1;
        match (first_handoff, conv.needs_human_at) {
            (Some(got), Some(want)) => {
                summary.true_positive += 1;
                let off = i64::from(got) - i64::from(want);
                *summary.offset_histogram.entry(off).or_default() += 1;
                match off.cmp(&0) {
                    std::cmp::Ordering::Less => summary.early += 1,
                    std::cmp::Ordering::Equal => summary.on_time += 1,
                    std::cmp::Ordering::Greater => summary.late += 1,
                }
                offsets.push(off);
            }
            (Some(_), None) => summary.false_positive += 1,
            (None, Some(_)) => summary.false_negative += 1,
            (None, None) => summary.true_negative += 1,
        }
    }
    #[allow(clippy::cast_precision_loss)]
    {
        let tp = summary.true_positive as f64;
        let fp = summary.false_positive as f64;
        let fneg = summary.false_negative as f64;
        summary.precision = (tp + fp > 0.0).then(|| tp / (tp + fp));
        summary.recall = (tp + fneg > 0.0).then(|| tp / (tp + fneg));
        summary.mean_offset_turns = (!offsets.is_empty())
            .then(|| offsets.iter().sum::<i64>() as f64 / offsets.len() as f64);
    }
    summary.metrics = Some(engine.metrics().clone());
    writeln!(
        out,
        "{}",
        serde_json::to_string(&serde_json::json!({ "summary": summary }))?
    )?;
    Ok(())
}
