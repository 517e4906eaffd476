//! The target expression language: every operator, precedence, positions of errors, evaluation
//! with missing attributes, and compilation to index requirements.

use switchboard::expr::{CmpOp, Expr};
use switchboard::*;

struct Fixture {
    cat: Catalog,
    skills: Vec<(SkillId, u8)>,
    tags: Vec<TagId>,
    certs: Vec<TenantId>,
    reqs: Requirements,
    prefs: Preferences,
}

fn fixture() -> Fixture {
    let mut cat = Catalog::new();
    let sizing = cat.skill("apparel.sizing");
    let returns = cat.skill("returns");
    cat.skill("presale");
    let zh = cat.tag("lang:zh");
    let en = cat.tag("lang:en");
    cat.tag("trainee");
    let stylist = cat.tag("persona:stylist");
    let acme = cat.tenant("acme");
    cat.tenant("nova");
    let mut tags = vec![zh, en, stylist];
    tags.sort();
    Fixture {
        cat,
        skills: vec![(sizing, 8), (returns, 3)],
        tags,
        certs: vec![acme],
        reqs: Requirements::default(),
        prefs: Preferences::default(),
    }
}

fn eval(f: &Fixture, src: &str, tenant: u32) -> bool {
    let agent = AgentView {
        id: AgentId(1),
        kind: AgentKind::Human,
        skills: &f.skills,
        tags: &f.tags,
        certifications: &f.certs,
        capacity: Capacity::default().with(Channel::Chat, 3),
        load: [0; Channel::COUNT],
    };
    let task = TaskView {
        tenant: TenantId(tenant),
        channel: Channel::Chat,
        requirements: &f.reqs,
        preferences: &f.prefs,
        customer: CustomerProfile {
            value_tier: 2,
            sentiment: -0.5,
        },
        priority: Priority {
            class: 1,
            base: 0.0,
        },
        sla_ms: 30_000,
    };
    Expr::parse(src)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .eval(&agent, &task, &f.cat)
}

#[test]
fn every_operator() {
    let f = fixture();
    for (src, want) in [
        (r#"skill("apparel.sizing") >= 8"#, true),
        (r#"skill("apparel.sizing") > 8"#, false),
        (r#"skill("apparel.sizing") == 8"#, true),
        (r#"skill("apparel.sizing") != 8"#, false),
        (r#"skill("returns") < 4"#, true),
        (r#"skill("returns") <= 2"#, false),
        (r#"lang == "zh""#, true),
        (r#"lang == "fr""#, false),
        (r#"lang != "fr""#, true),
        (r#""zh" in lang"#, true),
        (r#"agent.tags has "trainee""#, false),
        (r#"agent.tags contains "persona:stylist""#, true),
        (r#"task.tenant in agent.certified"#, true),
        (r#"task.tenant in ["nova", "acme"]"#, true),
        (r#"lang in ["fr", "zh"]"#, true),
        (r#"lang in ["fr", "de"]"#, false),
        (r#"agent.id == 1"#, true),
        (r#"agent.id == 2"#, false),
        (r#"task.channel == "chat""#, true),
        (r#"task.value_tier >= 2 and task.sentiment < 0"#, true),
        (r#"task.priority == 1"#, true),
        (r#"agent.kind == "human""#, true),
        (r#"has_skill("presale")"#, false),
        (r#"has_tag("trainee") or has_skill("returns")"#, true),
        (r#"true and not false"#, true),
        (r#"agent.skills has "returns""#, true),
    ] {
        assert_eq!(eval(&f, src, 0), want, "{src}");
    }
    // The task's tenant is nova: not certified.
    assert!(!eval(&f, "task.tenant in agent.certified", 1));
}

#[test]
fn missing_attributes_never_match() {
    let f = fixture();
    assert!(!eval(&f, r#"skill("presale") >= 1"#, 0));
    assert!(!eval(&f, r#"skill("presale") < 100"#, 0));
    assert!(!eval(&f, r#"skill("no-such-skill") >= 1"#, 0));
    assert!(!eval(&f, r#"region == "north""#, 0));
    assert!(!eval(&f, r#"region != "north""#, 0));
    assert!(eval(&f, r#"not skill("presale") >= 1"#, 0));
    assert!(!eval(&f, r#"agent.nothing == 1"#, 0));
}

#[test]
fn precedence_or_and_not() {
    let e = Expr::parse("a == 1 or b == 2 and not c == 3").unwrap();
    assert_eq!(e.to_string(), "(a == 1 or (b == 2 and not c == 3))");
    let e = Expr::parse("(a == 1 or b == 2) and c == 3").unwrap();
    assert_eq!(e.to_string(), "((a == 1 or b == 2) and c == 3)");
    let e = Expr::parse("not not x == 1").unwrap();
    assert_eq!(e.to_string(), "not not x == 1");
    assert!(matches!(
        Expr::parse("x >= -1.5").unwrap(),
        Expr::Cmp(_, CmpOp::Ge, _)
    ));
    let f = fixture();
    assert!(eval(
        &f,
        r#"lang == "fr" or lang == "zh" and has_skill("returns")"#,
        0
    ));
    assert!(!eval(
        &f,
        r#"(lang == "fr" or lang == "zh") and has_skill("presale")"#,
        0
    ));
}

#[test]
fn errors_carry_line_and_column() {
    let cases = [
        ("skill(\"x\") >=", 1, 14, "expected a value"),
        ("a == 1 b", 1, 8, "expected `and`, `or` or the end"),
        ("a ==\n  (b == 2", 2, 10, "expected `)` to close `(`"),
        ("\"open", 1, 1, "unterminated string"),
        ("a == $", 1, 6, "unexpected character '$'"),
        ("a == [1, 2", 1, 11, "expected `,` between list items"),
        ("and", 1, 1, "keyword `and`"),
        ("agent.", 1, 7, "expected a name after `.`"),
        ("\"a\\q\"", 1, 4, "unknown escape"),
    ];
    for (src, line, col, msg) in cases {
        let e = Expr::parse(src).unwrap_err();
        assert_eq!((e.line, e.column), (line, col), "{src:?}: {e}");
        assert!(e.message.contains(msg), "{src:?}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("line {line}, column {col}: "))
        );
    }
}

#[test]
fn compiles_index_shaped_conjuncts_to_requirements() {
    let f = fixture();
    let e = Expr::parse(
        r#"skill("apparel.sizing") >= 7 and task.tenant in agent.certified and lang == "zh" and not has_tag("trainee") and skill("returns") > 2"#,
    )
    .unwrap();
    let c = e.compile(&f.cat).unwrap();
    let sizing = f.cat.find_skill("apparel.sizing").unwrap();
    let returns = f.cat.find_skill("returns").unwrap();
    assert_eq!(
        c.requirements.skills,
        vec![SkillReq::new(sizing, 7), SkillReq::new(returns, 3)]
    );
    assert_eq!(
        c.requirements.tags,
        vec![f.cat.find_tag("lang:zh").unwrap()]
    );
    assert!(c.requirements.certification);
    assert_eq!(c.residual.unwrap().to_string(), r#"not has_tag("trainee")"#);
    // An or at the top cannot be split: everything stays residual.
    let c = Expr::parse(r#"lang == "zh" or lang == "en""#)
        .unwrap()
        .compile(&f.cat)
        .unwrap();
    assert_eq!(c.requirements, Requirements::default());
    assert!(c.residual.is_some());
}

#[test]
fn unknown_names_are_reported_with_a_suggestion() {
    let f = fixture();
    let e = Expr::parse(r#"skill("aparel.sizing") >= 7"#)
        .unwrap()
        .compile(&f.cat)
        .unwrap_err();
    assert_eq!(
        e.message,
        r#"unknown skill "aparel.sizing" (did you mean "apparel.sizing"?)"#
    );
    let e = Expr::parse(r#"lang == "zhx""#)
        .unwrap()
        .compile(&f.cat)
        .unwrap_err();
    assert!(e.message.contains(r#"did you mean "lang:zh"?"#), "{e}");
}

#[test]
fn compiled_requirements_plus_residual_agree_with_evaluation() {
    // For a population of agents, "meets the compiled requirements and the residual" must equal
    // "the expression evaluates true".
    let f = fixture();
    let src = r#"skill("apparel.sizing") >= 5 and lang == "zh" and task.value_tier >= 1 and not has_tag("trainee")"#;
    let e = Expr::parse(src).unwrap();
    let c = e.compile(&f.cat).unwrap();
    let mut rng = SeededRng::new(3);
    for _ in 0..500 {
        let mut skills = vec![];
        for s in 0..3u32 {
            if rng.below(2) == 0 {
                skills.push((SkillId(s), 1 + rng.below(10) as u8));
            }
        }
        let mut tags: Vec<TagId> = (0..4u32).filter(|_| rng.below(2) == 0).map(TagId).collect();
        tags.sort();
        let agent = AgentView {
            id: AgentId(1),
            kind: AgentKind::Human,
            skills: &skills,
            tags: &tags,
            certifications: &f.certs,
            capacity: Capacity::default().with(Channel::Chat, 1),
            load: [0; Channel::COUNT],
        };
        let task = TaskView {
            tenant: TenantId(0),
            channel: Channel::Chat,
            requirements: &f.reqs,
            preferences: &f.prefs,
            customer: CustomerProfile {
                value_tier: rng.below(3) as u8,
                sentiment: 0.0,
            },
            priority: Priority::default(),
            sla_ms: 1,
        };
        let meets = c
            .requirements
            .skills
            .iter()
            .all(|r| agent.level(r.skill).is_some_and(|l| l >= r.min_level))
            && c.requirements.tags.iter().all(|t| agent.has_tag(*t));
        let residual = c
            .residual
            .as_ref()
            .is_none_or(|r| r.eval(&agent, &task, &f.cat));
        assert_eq!(meets && residual, e.eval(&agent, &task, &f.cat));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for src in [
        format!("{}true{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{}true", "not ".repeat(100_000)),
        format!(
            "lang in {}\"zh\"{}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
    ] {
        let err = Expr::parse(&src).unwrap_err();
        assert!(err.message.contains("nested more than"), "{err}");
    }
    // 60 levels are fine.
    let ok = format!("{}true{}", "(".repeat(60), ")".repeat(60));
    assert_eq!(Expr::parse(&ok).unwrap(), Expr::Bool(true));
}
