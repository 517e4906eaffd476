//! Skill taxonomies: discounted parents, cycles named.

use switchboard::taxonomy::{ParentLink, Taxonomy, TaxonomyError};
use switchboard::*;

fn link(c: &str, p: &str, d: f64) -> ParentLink {
    ParentLink {
        child: c.into(),
        parent: p.into(),
        discount: d,
    }
}

#[test]
fn a_cycle_is_named_in_order() {
    let mut cat = Catalog::new();
    let err = Taxonomy::new(
        &mut cat,
        &[
            link("a", "b", 1.0),
            link("b", "c", 1.0),
            link("c", "a", 1.0),
            link("x", "a", 1.0),
        ],
    )
    .unwrap_err();
    assert_eq!(
        err,
        TaxonomyError::Cycle(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(err.to_string(), "skill taxonomy has a cycle: a > b > c > a");
    let err = Taxonomy::new(&mut Catalog::new(), &[link("a", "a", 0.5)]).unwrap_err();
    assert_eq!(err.to_string(), "skill taxonomy has a cycle: a > a");
}

#[test]
fn bad_discounts_and_two_parents_are_refused() {
    assert!(matches!(
        Taxonomy::new(&mut Catalog::new(), &[link("a", "b", 0.0)]),
        Err(TaxonomyError::Discount { .. })
    ));
    assert!(matches!(
        Taxonomy::new(&mut Catalog::new(), &[link("a", "b", f64::NAN)]),
        Err(TaxonomyError::Discount { .. })
    ));
    assert!(matches!(
        Taxonomy::new(
            &mut Catalog::new(),
            &[link("a", "b", 0.5), link("a", "c", 0.5)]
        ),
        Err(TaxonomyError::TwoParents(_))
    ));
}

#[test]
fn expanded_agents_route_to_child_skills() {
    let mut r = Router::new(RouterConfig::default()).unwrap();
    let tax = Taxonomy::new(
        r.catalog_mut(),
        &[
            link("apparel.outerwear", "apparel", 0.8),
            link("apparel.outerwear.down", "apparel.outerwear", 0.5),
        ],
    )
    .unwrap();
    let c = r.catalog_mut();
    let (apparel, down) = (
        c.skill("apparel"),
        c.find_skill("apparel.outerwear.down").unwrap(),
    );
    let brand = c.tenant("acme");
    let agent = AgentSpec::new(AgentId(1))
        .skill(apparel, 10)
        .skill(down, 2)
        .capacity(Channel::Chat, 1)
        .state(AgentState::Available);
    r.add_agent(Time::ZERO, tax.expand(&agent)).unwrap();
    // 10 × 0.8 × 0.5 = 4 beats its own level 2 in "down".
    r.arrive(
        Time::ZERO,
        TaskSpec::new(TaskId(1), brand, Channel::Chat)
            .requires(Requirements::default().skill(down, 4)),
    )
    .unwrap();
    assert!(matches!(
        r.task_state(TaskId(1)),
        Some(TaskState::Offered(_))
    ));
    r.arrive(
        Time::ZERO,
        TaskSpec::new(TaskId(2), brand, Channel::Chat)
            .requires(Requirements::default().skill(down, 5)),
    )
    .unwrap();
    assert_eq!(r.task_state(TaskId(2)), Some(TaskState::Waiting));
}
