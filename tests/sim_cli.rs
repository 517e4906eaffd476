//! The `switchboard` binary: check, simulate (TOML scenario, JSON output, SVG chart), staff.
#![cfg(feature = "cli")]

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
}

#[test]
fn check_accepts_good_and_names_bad_fields() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("router.toml");
    std::fs::write(
        &good,
        "offer_timeout_ms = 10000\ndefault_strategy = \"random\"\n",
    )
    .unwrap();
    assert!(bin().arg("check").arg(&good).status().unwrap().success());
    let bad = dir.path().join("router.json");
    std::fs::write(&bad, r#"{"default_fanout": 0}"#).unwrap();
    let out = bin().arg("check").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("default_fanout"));
}

#[test]
fn simulate_toml_to_json_and_chart() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("c.svg");
    let out = bin()
        .args([
            "simulate",
            "examples/scenarios/small.toml",
            "--json",
            "-q",
            "--chart",
        ])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["definition"], "abandons_missed");
    assert!(report["total"]["offered"].as_u64().unwrap() > 100);
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("service level"));
}

#[test]
fn staff_erlang_c_finds_the_agents() {
    let out = bin()
        .args(["staff", "erlang-c", "--contacts", "100", "--aht", "180"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("agents           14 "), "{text}");
    assert!(text.contains("definition: abandons_missed"));
}

#[test]
fn replay_prints_decisions_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.jsonl");
    // Conversation 1 asks for a human at its second customer turn (labelled 2); conversation 2
    // is routine (labelled null); line 3 is not JSON.
    std::fs::write(
        &file,
        concat!(
            r#"{"id":1,"tenant":"acme","needs_human_at":2,"events":["#,
            r#"{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"where is my refund"}},"#,
            r#"{"at_ms":3000,"signal":{"type":"turn","speaker":"customer","text":"转人工"}}]}"#,
            "\n",
            r#"{"id":2,"events":[{"at_ms":0,"signal":{"type":"turn","speaker":"customer","text":"thanks"}}]}"#,
            "\n\nnot json\n"
        ),
    )
    .unwrap();
    let out = bin()
        .args(["replay", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    // The bad line is reported and makes the exit status non-zero, after the summary.
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 4"));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let d = &lines[0];
    assert_eq!(d["conversation"], 1);
    assert_eq!(d["turn"], 2);
    assert_eq!(d["action"], "escalate_hard_human");
    assert_eq!(d["fired"], serde_json::json!(["explicit_request"]));
    let s = &lines[1]["summary"];
    assert_eq!(s["conversations"], 2);
    assert_eq!(
        (s["true_positive"].as_u64(), s["on_time"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(s["true_negative"], 1);
    assert_eq!(s["errors"], 1);
    assert_eq!(s["metrics"]["contained"], 1);

    // Text output, every decision, and load gating: at 15x the SLA the demo's soft escalations
    // are held back while the hard ones stay.
    let quiet = bin().args(["replay", "--demo"]).output().unwrap();
    assert!(quiet.status.success());
    let text = String::from_utf8_lossy(&quiet.stdout);
    assert!(
        text.contains("conv 3 @9.000s turn 2 escalate_soft_human"),
        "{text}"
    );
    assert!(text.contains("precision 100.0%, recall 100.0%"), "{text}");
    let peak = bin()
        .args(["replay", "--demo", "--load", "900:60", "--all"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&peak.stdout);
    assert!(text.contains("conv 3 @9.000s turn 2 hold_back"), "{text}");
    assert!(
        text.contains("conv 1 @9.000s turn 2 escalate_hard_human"),
        "{text}"
    );
    assert!(text.contains("conv 2 @0.000s turn 1 continue"), "{text}");
    assert!(text.contains("recall 50.0%"), "{text}");
}

#[test]
fn staff_plan_verify_adds_agents_where_skills_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let forecast = dir.path().join("forecast.json");
    let rows: Vec<serde_json::Value> = (0..4)
        .flat_map(|i| {
            let refund = if (1..=2).contains(&i) { 400 } else { 120 };
            [
                serde_json::json!({"interval": i, "group": "refund", "contacts": refund, "aht_secs": 300}),
                serde_json::json!({"interval": i, "group": "sizing", "contacts": 60, "aht_secs": 300}),
            ]
        })
        .collect();
    std::fs::write(&forecast, serde_json::to_string(&rows).unwrap()).unwrap();
    let overlap = dir.path().join("overlap.toml");
    std::fs::write(&overlap, "sizing = [\"refund\"]\n").unwrap();
    let out = bin()
        .args([
            "staff",
            "plan",
            "--shrinkage",
            "0.25",
            "--json",
            "--overlap",
        ])
        .arg(&overlap)
        .arg(&forecast)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["met"], true);
    assert!(v["added"].as_u64().unwrap() > 0);
    assert_eq!(v["cells"].as_array().unwrap().len(), 8);
    let plain = bin()
        .args(["staff", "plan", "--shrinkage", "0.25"])
        .arg(&forecast)
        .output()
        .unwrap();
    let planned: u64 = String::from_utf8_lossy(&plain.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[0].parse::<u32>().is_ok()).then(|| f[1].parse::<u64>().unwrap())
        })
        .sum();
    let verified: u64 = v["plan"]["totals"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t[0].as_u64().unwrap())
        .sum();
    assert_eq!(verified, planned + v["added"].as_u64().unwrap());
    // The readable form shows every cell, Erlang vs simulation.
    let text = bin()
        .args(["staff", "plan", "--verify", "--replications", "4"])
        .arg(&forecast)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("verified by simulation"), "{text}");
    assert!(
        text.contains("simulated SL") && text.contains("agents added"),
        "{text}"
    );
}
