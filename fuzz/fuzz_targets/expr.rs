//! Fuzzes the target-expression parser.
//!
//! The input, as UTF-8, is parsed with [`Expr::parse`]. When it parses:
//! * its canonical text (`Display`) parses again to an equal expression, whose text is the same;
//! * compiling it against a small catalog, binding it to a task and evaluating it against a
//!   fixed agent and task do not panic, and the compiled requirements plus residual agree with
//!   the expression on that agent.
//!
//! When it does not parse, the error's line and column lie inside the input (or just after it).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use switchboard::expr::{AttrValue, Expr};
use switchboard::{
    AgentId, AgentKind, AgentView, Capacity, Catalog, Channel, CustomerProfile, Preferences,
    Priority, Requirements, TaskView,
};

struct Fixture {
    catalog: Catalog,
    skills: Vec<(switchboard::SkillId, u8)>,
    tags: Vec<switchboard::TagId>,
    certs: Vec<switchboard::TenantId>,
    tenant: switchboard::TenantId,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut catalog = Catalog::new();
        let apparel = catalog.skill("apparel");
        let sizing = catalog.skill("apparel.sizing");
        catalog.skill("returns");
        let zh = catalog.tag("lang:zh");
        let stylist = catalog.tag("persona:stylist");
        catalog.tag("trainee");
        let acme = catalog.tenant("acme");
        catalog.tenant("globex");
        let mut skills = vec![(apparel, 7), (sizing, 9)];
        skills.sort_unstable();
        let mut tags = vec![zh, stylist];
        tags.sort_unstable();
        Fixture {
            catalog,
            skills,
            tags,
            certs: vec![acme],
            tenant: acme,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let e = match Expr::parse(src) {
        Ok(e) => e,
        Err(err) => {
            let lines = src.split('\n').count();
            assert!(err.line >= 1 && err.line <= lines, "{err:?}");
            let width = src
                .split('\n')
                .nth(err.line - 1)
                .map_or(0, |l| l.chars().count());
            assert!(err.column >= 1 && err.column <= width + 1, "{err:?}");
            assert!(!err.message.is_empty());
            return;
        }
    };
    let shown = e.to_string();
    let again = Expr::parse(&shown)
        .unwrap_or_else(|err| panic!("canonical text {shown:?} does not parse: {err}"));
    assert_eq!(again, e, "{shown}");
    assert_eq!(again.to_string(), shown);

    let f = fixture();
    let agent = AgentView {
        id: AgentId(42),
        kind: AgentKind::Human,
        skills: &f.skills,
        tags: &f.tags,
        certifications: &f.certs,
        capacity: Capacity::default().with(Channel::Chat, 3),
        load: [0; Channel::COUNT],
    };
    let req = Requirements::default();
    let prefs = Preferences::default().agent(AgentId(42));
    let task = TaskView {
        tenant: f.tenant,
        channel: Channel::Chat,
        requirements: &req,
        preferences: &prefs,
        customer: CustomerProfile::default(),
        priority: Priority::default(),
        sla_ms: 60_000,
    };
    let whole = e.eval(&agent, &task, &f.catalog);
    let _ = e.eval_agent(&agent, &f.catalog);
    let _ = e.compile(&f.catalog);
    let attrs: BTreeMap<String, AttrValue> =
        [("lang".to_owned(), AttrValue::Str("zh".into()))].into();
    let bound = e.bind(&task, &f.catalog, &attrs);
    let _ = bound.eval_agent(&agent, &f.catalog);
    if let Ok(r) = e.compile_for(&task, &f.catalog, &BTreeMap::new()) {
        // The index part (levels, tags, certification) and the residual filter together decide
        // like the whole expression.
        let levels = r.skills.iter().all(|s| {
            f.skills
                .iter()
                .any(|&(id, l)| id == s.skill && l >= s.min_level)
        });
        let tags = r.tags.iter().all(|t| f.tags.contains(t));
        let cert = !r.certification || f.certs.contains(&f.tenant);
        let residual = r
            .filter
            .as_ref()
            .is_none_or(|flt| flt.matches(&agent, &f.catalog));
        assert_eq!(levels && tags && cert && residual, whole, "{shown}");
    }
});
