//! Replays conversation history through an escalation policy, to tune it on your own data.
//!
//! ```text
//! cargo run --example escalation_replay -- [--policy policy.json] [--load WAIT_S:SLA_S]
//!                                          [--quiet-decisions] [conversations.jsonl | --demo]
//! ```
//!
//! The same as `switchboard replay --json` (the CLI, `--features cli`); both run
//! [`switchboard::escalation::replay`], which documents the input format (one conversation per
//! JSON line, with signals and a `needs_human_at` label) and what the summary means.
//!
//! Output on stdout: one JSON line per decision that did something (action other than
//! `continue`, with the rules that fired, score and threshold; omitted with `--quiet-decisions`),
//! then one summary line: confusion counts, precision, recall, and how many customer turns early
//! (negative) or late (positive) each hand-off came against its label, plus the engine's metrics.
//! Input from the file named, or stdin; `--demo` uses six built-in conversations.

use std::io::{BufRead, Write};
use switchboard::escalation::replay::{DEMO, Replay};
use switchboard::escalation::{Load, PolicyConfig};

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
    let mut replay = Replay::new(cfg, load)?;
    let reader: Box<dyn BufRead> = match (&input_path, demo) {
        (_, true) => Box::new(std::io::Cursor::new(DEMO)),
        (Some(p), false) => Box::new(std::io::BufReader::new(std::fs::File::open(p)?)),
        (None, false) => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = None;
    for line in reader.lines() {
        let errors = replay.replay_line(&line?, |d| {
            if !quiet && !d.is_continue() && failed.is_none() {
                let written = serde_json::to_string(d)
                    .map_err(std::io::Error::other)
                    .and_then(|json| writeln!(out, "{json}"));
                failed = written.err();
            }
        });
        for e in errors {
            eprintln!("{e}");
        }
        if let Some(e) = failed.take() {
            return Err(e.into());
        }
    }
    writeln!(
        out,
        "{}",
        serde_json::to_string(&serde_json::json!({ "summary": replay.summary() }))?
    )?;
    Ok(())
}
