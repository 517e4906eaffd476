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
