//! Fuzzes policy-set loading, validation and analysis on arbitrary text.
//!
//! The input, as UTF-8, is read as TOML and as JSON ([`PolicySet::from_toml_str`],
//! [`PolicySet::from_json_str`]). For every policy that loads:
//! * `validate()` and `analyze()` do not panic;
//! * writing it back as TOML and reading that gives a policy that writes the same TOML (a fixed
//!   point: comparing text rather than values lets NaN through), and the same for JSON unless the
//!   policy holds NaN or infinity (JSON writes them as `null`);
//! * a policy that validates is runnable: its [`ValidPolicy`] builds a router with the same
//!   names, every workflow target compiles against the catalog, and the workflow engine accepts
//!   the resolved workflow set.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::expr::Expr;
use switchboard::policy::PolicySet;
use switchboard::workflow::WorkflowEngine;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = [
        PolicySet::from_toml_str(text),
        PolicySet::from_json_str(text),
    ];
    for p in loaded.into_iter().flatten() {
        check(&p);
    }
});

fn check(p: &PolicySet) {
    let valid = p.validate();
    let warnings = p.analyze();
    for w in &warnings {
        assert!(!w.path.is_empty() && !w.message.is_empty());
    }
    if let Err(errors) = &valid {
        assert!(!errors.issues.is_empty());
        for i in &errors.issues {
            assert!(!i.path.is_empty() && !i.message.is_empty(), "{i:?}");
        }
    }

    // TOML round trip (integers above 2^63 - 1 cannot be written: an error, not a panic).
    if let Ok(once) = p.to_toml_string() {
        let back = PolicySet::from_toml_str(&once)
            .unwrap_or_else(|e| panic!("written TOML does not load: {e}\n{once}"));
        let twice = back.to_toml_string().expect("writes again");
        assert_eq!(once, twice);
    }
    // JSON round trip.
    // JSON writes NaN and infinity as `null`, which does not read back as a number.
    if let Ok(once) = p.to_json_string() {
        match PolicySet::from_json_str(&once) {
            Ok(back) => assert_eq!(back.to_json_string().ok().as_deref(), Some(once.as_str())),
            Err(e) => assert!(e.to_string().contains("null"), "{e}\n{once}"),
        }
    }

    let Ok(valid) = valid else { return };
    let router = valid.router().expect("validated settings build a router");
    let parts = valid.into_parts();
    for i in 0..parts.catalog.tenant_count() {
        let id = switchboard::TenantId(u32::try_from(i).unwrap());
        assert_eq!(
            router.catalog().tenant_name(id),
            parts.catalog.tenant_name(id)
        );
    }
    for flows in parts
        .workflows
        .tenants
        .values()
        .chain([&parts.workflows.default])
    {
        for w in flows.values() {
            for s in &w.steps {
                let e = Expr::parse(&s.target).expect("validated targets parse");
                e.compile(&parts.catalog)
                    .unwrap_or_else(|err| panic!("{}: {err}", s.target));
            }
        }
    }
    if let Err(e) = WorkflowEngine::new(parts.workflows.clone(), &parts.catalog) {
        panic!("a validated policy's workflows are refused by the engine: {e}");
    }
}
