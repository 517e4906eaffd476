//! `switchboard check` on policy sets: every error with its path, warnings, summary, exit code.
#![cfg(feature = "cli")]

use std::process::Command;

fn check(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("check")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_examples_pass() {
    for file in [
        "examples/configs/multibrand.toml",
        "examples/configs/small.json",
    ] {
        let (ok, stdout, stderr) = check(&[file, "--strict"]);
        assert!(ok, "{stderr}");
        assert!(
            stdout.starts_with(&format!("{file}: ok: policy ")),
            "{stdout}"
        );
        assert!(stdout.trim_end().ends_with("0 warnings"), "{stdout}");
        assert_eq!(stderr, "");
    }
}

const BAD: &str = r#"
version = "1"
skills = [{ name = "apparel" }]
[[pool.groups]]
count = 4
skills = { apparel = 5 }
[[tenants]]
name = "brand-a"
[[tenants.workflows.presale.steps]]
target = 'has_skill("apparel")'
[[tenants.workflows.presale.steps]]
target = 'skill("aparel") >= 3'
[[tenants.workflows.presale.exceptions]]
name = "spill"
when = { wait_over_ms = 1000 }
action = { overflow = { tenant = "brand-b" } }
"#;

#[test]
fn errors_then_warnings_then_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, BAD).unwrap();
    let (ok, stdout, stderr) = check(&[path.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(stdout, "");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[0],
        r#"error: tenants[0].workflows.presale.steps[1].target: unknown skill "aparel" (did you mean "apparel"?)"#
    );
    assert_eq!(
        lines[1],
        r#"error: tenants[0].workflows.presale.exceptions[0].action.overflow.tenant: unknown tenant "brand-b" (did you mean "brand-a"?)"#
    );
    assert!(
        lines[2]
            .starts_with("warning: tenants[0].workflows.presale.steps[1]: can never be reached"),
        "{stderr}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &format!("error: {}: 2 errors, 1 warning", path.display())
    );
}

#[test]
fn warnings_alone_pass_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warn.json");
    std::fs::write(
        &path,
        r#"{"version": "1", "skills": [{"name": "a"}, {"name": "b"}],
            "pool": {"groups": [{"count": 1, "skills": {"a": 3}}]},
            "workflows": {"w": {"steps": [{"target": "has_skill(\"b\")"}]}}}"#,
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let (ok, stdout, stderr) = check(&[p]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.starts_with("warning: workflows.w.steps[0].target: no agent in the pool"),
        "{stderr}"
    );
    assert!(stdout.trim_end().ends_with("1 warning"), "{stdout}");
    let (ok, _, stderr) = check(&[p, "--strict"]);
    assert!(!ok);
    assert!(stderr.trim_end().ends_with("(--strict)"), "{stderr}");
    // JSON output for tools.
    let (ok, stdout, _) = check(&[p, "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["errors"].as_array().unwrap().len(), 0);
    assert_eq!(v["warnings"][0]["kind"], "no_matching_agent");
    assert_eq!(v["warnings"][0]["path"], "workflows.w.steps[0].target");
}

#[test]
fn bare_router_configs_and_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let router = dir.path().join("router.toml");
    std::fs::write(&router, "offer_timeout_ms = 10000\n").unwrap();
    let (ok, stdout, _) = check(&[router.to_str().unwrap()]);
    assert!(ok);
    assert!(stdout.contains("ok (router configuration)"));
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "version = \"1\"\n[router]\noffer_timout_ms = 5\n").unwrap();
    let (ok, _, stderr) = check(&[typo.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("router.offer_timout_ms: unknown field"),
        "{stderr}"
    );
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{").unwrap();
    let (ok, _, stderr) = check(&[broken.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("broken.json"), "{stderr}");
}
