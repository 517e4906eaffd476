//! Policy sets: loading, one-pass validation with paths, static analysis, serde round trips.

use proptest::prelude::*;
use switchboard::Strategy as Pick;
use switchboard::policy::*;
use switchboard::workflow::{
    ExceptionAction, ExceptionRule, PriorityChange, SkipIf, Step, StepPreference, Trigger, Workflow,
};
use switchboard::{AgentKind, Dispatch, RouterConfig, TenantId, TenantShare};

fn toml(text: &str) -> PolicySet {
    PolicySet::from_toml_str(text).unwrap_or_else(|e| panic!("{e}"))
}

/// The issues of a policy that must not validate, as `path: message` lines.
fn errors(p: &PolicySet) -> Vec<String> {
    match p.validate() {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.issues.iter().map(ToString::to_string).collect(),
    }
}

fn warnings(p: &PolicySet) -> Vec<(WarningKind, String)> {
    p.analyze().into_iter().map(|w| (w.kind, w.path)).collect()
}

#[test]
fn every_example_config_validates_without_warnings() {
    let mut seen = 0;
    for entry in std::fs::read_dir("examples/configs").unwrap() {
        let path = entry.unwrap().path();
        let p = PolicySet::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let valid = p
            .validate()
            .unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
        let parts = valid.into_parts();
        switchboard::workflow::WorkflowEngine::new(parts.workflows, &parts.catalog)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let w = p.analyze();
        assert!(
            w.is_empty(),
            "{}:\n{}",
            path.display(),
            w.iter().map(|w| format!("{w}\n")).collect::<String>()
        );
        seen += 1;
    }
    assert!(seen >= 2);
}

// ---------------------------------------------------------------------------------------------
// Names in targets
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_skill_in_a_tenant_workflow_has_its_path_and_a_suggestion() {
    let p = toml(
        r#"
        version = "1"
        skills = [{ name = "apparel" }, { name = "returns" }]
        [[tenants]]
        name = "a"
        [[tenants]]
        name = "b"
        [[tenants]]
        name = "c"
        [[tenants.workflows.presale.steps]]
        target = 'has_skill("apparel")'
        timeout_ms = 30000
        [[tenants.workflows.presale.steps]]
        target = 'skill("aparel") >= 3'
        "#,
    );
    assert_eq!(
        errors(&p),
        [
            r#"tenants[2].workflows.presale.steps[1].target: unknown skill "aparel" (did you mean "apparel"?)"#
        ]
    );
}

/// A policy with declared names and one default workflow whose steps are `targets`.
fn with_targets(targets: &[&str]) -> PolicySet {
    let mut p = toml(
        r#"
        version = "1"
        skills = [{ name = "apparel" }, { name = "returns" }]
        tags = ["lang:zh", "lang:en", "trainee", "vip"]
        tenants = [{ name = "acme-fashion" }, { name = "acme-outlet" }]
        "#,
    );
    let steps = targets
        .iter()
        .enumerate()
        .map(|(i, t)| Step::new(*t).timeout_ms(1000 * (i as u64 + 1)))
        .collect();
    p.workflows.insert(
        "presale".into(),
        Workflow {
            steps,
            exceptions: vec![],
        },
    );
    p
}

#[test]
fn every_kind_of_name_in_a_target_is_resolved_with_a_suggestion() {
    let p = with_targets(&[
        r#"has_tag("traniee")"#,
        r#"lang == "zx""#,
        r#"lnag == "zh""#,
        r#"task.tenant == "acme-fashon""#,
        r#""acme-outlett" in agent.certified"#,
        r#"skil("apparel") >= 3"#,
        r#"agent.tag has "vip""#,
        r#"task.channel == "chta""#,
        r#"agent.kind == "bto""#,
        r#"skill("apparel")"#,
        r#"has_skill(apparel)"#,
        r#"has_skill("zzzzzzzz")"#,
        r#"agent.skills has "retuns""#,
        r#"lang in ["zh", "fr"]"#,
        r#"vip"#,
        r#"a.b.c == 1"#,
        // Fine: host task attributes, tag attributes, certified tenants, lists, nesting.
        r#"lang == task.lang and task.tenant in agent.certified and not has_tag("trainee")
            and (skill("returns") >= 5 or agent.tags has "vip") and task.channel == "chat""#,
    ]);
    let s = "workflows.presale.steps";
    assert_eq!(
        errors(&p),
        [
            format!(r#"{s}[0].target: unknown tag "traniee" (did you mean "trainee"?)"#),
            format!(r#"{s}[1].target: unknown tag "lang:zx" (did you mean "lang:zh"?)"#),
            format!(
                r#"{s}[2].target: unknown tag attribute "lnag" (did you mean "lang"?): a bare name `k` means the values of the agent's `k:value` tags"#
            ),
            format!(
                r#"{s}[3].target: unknown tenant "acme-fashon" (did you mean "acme-fashion"?)"#
            ),
            format!(
                r#"{s}[4].target: unknown tenant "acme-outlett" (did you mean "acme-outlet"?)"#
            ),
            format!(
                r#"{s}[5].target: unknown function "skil" (did you mean "skill"?) (functions: skill, has_skill, has_tag)"#
            ),
            format!(
                r#"{s}[6].target: unknown agent attribute "agent.tag" (did you mean "agent.tags"?) (agent attributes: agent.tags, agent.skills, agent.certified, agent.kind, agent.id)"#
            ),
            format!(r#"{s}[7].target: unknown channel "chta" (did you mean "chat"?)"#),
            format!(
                r#"{s}[8].target: unknown agent kind "bto" (did you mean "bot"?) (kinds: human, bot)"#
            ),
            format!(
                r#"{s}[9].target: `skill("apparel")` is not a condition: compare it (e.g. `skill("x") >= 5`, `lang == "zh"`) or use has_skill / has_tag"#
            ),
            format!(
                r#"{s}[10].target: has_skill(…) takes one skill name in double quotes, e.g. has_skill("name")"#
            ),
            format!(r#"{s}[11].target: unknown skill "zzzzzzzz""#),
            format!(r#"{s}[12].target: unknown skill "retuns" (did you mean "returns"?)"#),
            format!(r#"{s}[13].target: unknown tag "lang:fr" (did you mean "lang:en"?)"#),
            format!(
                r#"{s}[14].target: unknown tag attribute "vip" ("vip" is a tag: use has_tag("vip")): a bare name `k` means the values of the agent's `k:value` tags"#
            ),
            format!(
                r#"{s}[15].target: unknown attribute "a.b.c": use agent.<attribute>, task.<attribute> or a tag attribute"#
            ),
        ]
    );
}

#[test]
fn parse_errors_carry_the_expressions_own_line_and_column() {
    let p = with_targets(&[
        r#"skill("apparel") >="#,
        "has_skill(\"apparel\")\n  and (lang == \"zh\"",
    ]);
    assert_eq!(
        errors(&p),
        [
            "workflows.presale.steps[0].target: line 1, column 20: expected a value, found the end of the expression",
            "workflows.presale.steps[1].target: line 2, column 20: expected `)` to close `(`, found the end of the expression",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Other errors, each with its exact path
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_and_empty_names() {
    let p = toml(
        r#"
        version = " "
        skills = [{ name = "a" }, { name = "b" }, { name = "a" }, { name = "" }]
        tags = ["x", "x"]
        tenants = [{ name = "t" }, { name = "u" }, { name = "t" }]
        [pool]
        groups = [{ name = "g", count = 1 }, { name = "g", count = 2 }]
        [[workflows.w.steps]]
        name = "s"
        target = "true"
        timeout_ms = 5
        [[workflows.w.steps]]
        name = "s"
        target = "true"
        [[workflows.w.exceptions]]
        name = "r"
        when = { wait_over_ms = 10 }
        action = "callback"
        [[workflows.w.exceptions]]
        name = "r"
        when = { wait_over_ms = 20 }
        action = "to_bot"
        "#,
    );
    assert_eq!(
        errors(&p),
        [
            "version: must not be empty",
            r#"skills[2].name: duplicate skill "a" (first declared at skills[0])"#,
            "skills[3].name: must not be empty",
            r#"tags[1]: duplicate tag "x" (first declared at tags[0])"#,
            r#"tenants[2].name: duplicate tenant "t" (first declared at tenants[0])"#,
            r#"pool.groups[1].name: duplicate pool group "g" (first declared at pool.groups[0])"#,
            r#"workflows.w.steps[1].name: duplicate step name "s" (first at steps[0])"#,
            r#"workflows.w.exceptions[1].name: duplicate exception rule "r" (first at exceptions[0])"#,
        ]
    );
}

#[test]
fn bad_numbers() {
    let p = toml(
        r#"
        version = "1"
        skills = [
            { name = "a" },
            { name = "b", parent = "a", discount = 0.0 },
            { name = "c", parent = "a", discount = 1.5 },
            { name = "d", parent = "a", discount = nan },
        ]
        tags = ["t"]
        [[tenants]]
        name = "over"
        share = { reserved = 50, cap = 40 }
        [[tenants]]
        name = "pct"
        share = { reserved_pct = 120.0, cap_pct = -1.0 }
        [[tenants]]
        name = "both"
        share = { reserved = 5, reserved_pct = 5.0 }
        sla_ms = 0
        answer_target = { within_ms = 0, rate = 1.5 }
        [pool]
        groups = [{ count = 2, skills = { a = 11, b = 0 }, capacity = { chta = 3 } }]
        [[workflows.w.steps]]
        target = "true"
        timeout_ms = 1000
        priority = { boost = inf }
        prefer = [{ skill = "a", weight = -1.0 }, { tag = "t", weight = nan }, { skill = "zz", weight = 1.0 }]
        [[workflows.w.steps]]
        target = "true"
        [[workflows.w.exceptions]]
        name = "r"
        when = { wait_over_ms = 10 }
        action = { raise_priority = { boost = -inf } }
        "#,
    );
    assert_eq!(
        errors(&p),
        [
            "skills[1].discount: must be in (0, 1], got 0",
            "skills[2].discount: must be in (0, 1], got 1.5",
            "skills[3].discount: must be in (0, 1], got NaN",
            "tenants[0].share: reserved 50 is above cap 40",
            "tenants[1].share.reserved_pct: must be in 0..=100, got 120",
            "tenants[1].share.cap_pct: must be in 0..=100, got -1",
            "tenants[2].sla_ms: must be at least 1",
            "tenants[2].answer_target.within_ms: must be at least 1",
            "tenants[2].answer_target.rate: must be in [0, 1], got 1.5",
            "tenants[2].share.reserved_pct: give reserved or reserved_pct, not both",
            "pool.groups[0].skills.a: level must be in 1..=10, got 11",
            "pool.groups[0].skills.b: level must be in 1..=10, got 0",
            r#"pool.groups[0].capacity.chta: unknown channel "chta" (did you mean "chat"?)"#,
            "workflows.w.steps[0].priority.boost: must be finite, got inf",
            "workflows.w.steps[0].prefer[0].weight: must be finite and not negative, got -1",
            "workflows.w.steps[0].prefer[1].weight: must be finite and not negative, got NaN",
            r#"workflows.w.steps[0].prefer[2].skill: unknown skill "zz""#,
            "workflows.w.exceptions[0].action.raise_priority.boost: must be finite, got -inf",
        ]
    );
}

#[test]
fn percentages_need_a_pool_size() {
    let p = toml(
        r#"
        version = "1"
        tenants = [{ name = "t", share = { reserved_pct = 10.0 } }]
        "#,
    );
    assert_eq!(
        errors(&p),
        [
            "tenants[0].share.reserved_pct: a percentage needs a pool size: set pool.size or describe pool.groups"
        ]
    );
}

#[test]
fn pool_names_must_be_declared() {
    let p = toml(
        r#"
        version = "1"
        skills = [{ name = "returns" }]
        tags = ["lang:zh"]
        tenants = [{ name = "acme" }]
        [[pool.groups]]
        count = 3
        skills = { retruns = 5 }
        tags = ["lang:zhh"]
        certified = ["acm"]
        "#,
    );
    assert_eq!(
        errors(&p),
        [
            r#"pool.groups[0].skills.retruns: unknown skill "retruns" (did you mean "returns"?)"#,
            r#"pool.groups[0].tags[0]: unknown tag "lang:zhh" (did you mean "lang:zh"?)"#,
            r#"pool.groups[0].certified[0]: unknown tenant "acm" (did you mean "acme"?)"#,
        ]
    );
}

#[test]
fn timeouts_must_increase_along_the_steps() {
    let p = with_targets(&["true", "true", "true"]);
    let mut p2 = p.clone();
    let steps = &mut p2.workflows.get_mut("presale").unwrap().steps;
    steps[0].timeout_ms = Some(0);
    steps[1].timeout_ms = Some(30_000);
    steps[2].timeout_ms = Some(20_000);
    assert_eq!(
        errors(&p2),
        [
            "workflows.presale.steps[0].timeout_ms: must be greater than 0 (timeouts count from the task's age)",
            "workflows.presale.steps[2].timeout_ms: 20000 is not after steps[1].timeout_ms 30000: timeouts count from the task's age and must increase along the steps",
        ]
    );
    // Equal is not increasing either; a step without timeout in between does not reset it.
    let steps = &mut p2.workflows.get_mut("presale").unwrap().steps;
    steps[0].timeout_ms = Some(30_000);
    steps[1].timeout_ms = None;
    steps[1].skip_if = Some(SkipIf::NoFreeAgent);
    steps[2].timeout_ms = Some(30_000);
    assert_eq!(
        errors(&p2),
        [
            "workflows.presale.steps[2].timeout_ms: 30000 is not after steps[0].timeout_ms 30000: timeouts count from the task's age and must increase along the steps"
        ]
    );
    assert!(p.validate().is_ok());
}

#[test]
fn a_workflow_needs_steps() {
    let mut p = with_targets(&[]);
    p.tenants[1].workflows.insert(
        "refund".into(),
        Workflow {
            steps: vec![],
            exceptions: vec![],
        },
    );
    assert_eq!(
        errors(&p),
        [
            "workflows.presale.steps: a workflow needs at least one step",
            "tenants[1].workflows.refund.steps: a workflow needs at least one step",
        ]
    );
}

fn rule(name: &str, wait: u64, action: ExceptionAction) -> ExceptionRule {
    ExceptionRule {
        name: name.into(),
        when: Trigger::WaitOverMs(wait),
        action,
    }
}

#[test]
fn move_to_and_overflow_must_name_something_that_exists() {
    let mut p = with_targets(&["true"]);
    p.workflows.insert(
        "aftersale".into(),
        Workflow {
            steps: vec![Step::new("true")],
            exceptions: vec![
                rule(
                    "m",
                    10,
                    ExceptionAction::MoveTo {
                        workflow: "presal".into(),
                    },
                ),
                rule(
                    "o",
                    20,
                    ExceptionAction::Overflow {
                        tenant: "acme-fashio".into(),
                    },
                ),
                rule(
                    "f",
                    30,
                    ExceptionAction::Fallback {
                        target: r#"has_tag("vipp")"#.into(),
                    },
                ),
            ],
        },
    );
    // A tenant may move to its own types as well as the defaults.
    p.tenants[0].workflows.insert(
        "vip".into(),
        Workflow {
            steps: vec![Step::new("true")],
            exceptions: vec![
                rule(
                    "ok",
                    10,
                    ExceptionAction::MoveTo {
                        workflow: "presale".into(),
                    },
                ),
                rule(
                    "bad",
                    20,
                    ExceptionAction::MoveTo {
                        workflow: "complaint".into(),
                    },
                ),
            ],
        },
    );
    assert_eq!(
        errors(&p),
        [
            r#"workflows.aftersale.exceptions[0].action.move_to.workflow: no default workflow for task type "presal" (did you mean "presale"?)"#,
            r#"workflows.aftersale.exceptions[1].action.overflow.tenant: unknown tenant "acme-fashio" (did you mean "acme-fashion"?)"#,
            r#"workflows.aftersale.exceptions[2].action.fallback.target: unknown tag "vipp" (did you mean "vip"?)"#,
            r#"tenants[0].workflows.vip.exceptions[1].action.move_to.workflow: no workflow for this tenant for task type "complaint""#,
        ]
    );
}

#[test]
fn router_errors_are_all_reported_under_router() {
    let p = toml(
        r#"
        version = "1"
        [router]
        offer_timeout_ms = 0
        default_fanout = 0
        shares = [{ tenant = 0, reserved = 1 }]
        [router.priority]
        aging_per_sec = -1.0
        [router.scoring]
        preferred_agent = nan
        "#,
    );
    assert_eq!(
        errors(&p),
        [
            "router.shares: give shares per tenant (tenants[].share), by name, not here",
            "router.offer_timeout_ms: must be at least 1",
            "router.default_fanout: must be at least 1",
            "router.priority.aging_per_sec: must not be negative, got -1",
            "router.scoring.preferred_agent: must be finite, got NaN",
        ]
    );
}

#[test]
fn unknown_fields_are_refused_everywhere() {
    for (text, want) in [
        (
            "version = \"1\"\n[router]\noffer_timeout = 5\n",
            "router.offer_timeout: unknown field",
        ),
        (
            "version = \"1\"\n[router.priority]\nagin = 5\n",
            "router.priority.agin: unknown field",
        ),
        (
            "version = \"1\"\nversoin = \"2\"\n",
            "unknown field `versoin`",
        ),
        (
            "version = \"1\"\n[[tenants]]\nname = \"a\"\nsla = 5\n",
            "unknown field `sla`",
        ),
        (
            "version = \"1\"\n[[workflows.a.steps]]\ntarget = \"true\"\ntimeout = 5\n",
            "unknown field `timeout`",
        ),
    ] {
        let err = PolicySet::from_toml_str(text).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
    let err = PolicySet::from_json_str(r#"{"version": "1", "router": {"seeed": 1}}"#).unwrap_err();
    assert!(matches!(err, PolicyError::UnknownField { ref path, .. } if path == "router.seeed"));
}

#[test]
fn taxonomy_errors() {
    let p = toml(
        r#"
        version = "1"
        skills = [
            { name = "a", parent = "c" },
            { name = "b", parent = "a" },
            { name = "c", parent = "b" },
            { name = "d", parent = "d" },
            { name = "e", parent = "apparrel" },
            { name = "apparel" },
        ]
        "#,
    );
    assert_eq!(
        errors(&p),
        [
            r#"skills[4].parent: unknown skill "apparrel" (did you mean "apparel"?)"#,
            "skills[0].parent: skill taxonomy has a cycle: a > c > b > a",
            "skills[3].parent: skill taxonomy has a cycle: d > d",
        ]
    );
}

#[test]
fn overflow_cycles_are_named_in_order() {
    let flow = |to: &str| Workflow {
        steps: vec![Step::new("true")],
        exceptions: vec![rule(
            "spill",
            60_000,
            ExceptionAction::Overflow { tenant: to.into() },
        )],
    };
    let mut p = toml(
        r#"
        version = "1"
        tenants = [{ name = "brand-a" }, { name = "brand-b" }, { name = "brand-c" }, { name = "solo" }]
        "#,
    );
    p.tenants[0]
        .workflows
        .insert("presale".into(), flow("brand-b"));
    p.tenants[1]
        .workflows
        .insert("presale".into(), flow("brand-c"));
    p.tenants[2]
        .workflows
        .insert("aftersale".into(), flow("brand-a"));
    p.tenants[3]
        .workflows
        .insert("presale".into(), flow("solo"));
    assert_eq!(
        errors(&p),
        [
            "tenants[0].workflows.presale.exceptions[0].action.overflow.tenant: overflow cycle: brand-a > brand-b > brand-c > brand-a",
            "tenants[3].workflows.presale.exceptions[0].action.overflow.tenant: overflow cycle: solo > solo",
        ]
    );
    // A default workflow overflowing to a brand that also runs it makes that brand overflow
    // into itself.
    let mut p = toml(
        r#"
        version = "1"
        tenants = [{ name = "x" }, { name = "partner" }]
        "#,
    );
    p.workflows.insert("presale".into(), flow("partner"));
    assert_eq!(
        errors(&p),
        [
            "workflows.presale.exceptions[0].action.overflow.tenant: overflow cycle: partner > partner"
        ]
    );
    p.tenants[1].workflows.insert(
        "presale".into(),
        with_targets(&["true"]).workflows["presale"].clone(),
    );
    assert!(p.validate().is_ok());
}

#[test]
fn move_to_cycles_are_named_in_order() {
    let flow = |to: &str| Workflow {
        steps: vec![Step::new("true")],
        exceptions: vec![rule(
            "move",
            60_000,
            ExceptionAction::MoveTo {
                workflow: to.into(),
            },
        )],
    };
    let mut p = toml(
        r#"
        version = "1"
        tenants = [{ name = "t" }]
        "#,
    );
    p.workflows.insert("presale".into(), flow("vip"));
    p.workflows.insert("vip".into(), flow("presale"));
    p.workflows.insert("refund".into(), flow("complaint"));
    p.workflows.insert(
        "complaint".into(),
        Workflow {
            steps: vec![Step::new("true")],
            exceptions: vec![],
        },
    );
    // Tenant t's own complaint workflow moves back to refund (a default): a cycle through
    // both.
    p.tenants[0]
        .workflows
        .insert("complaint".into(), flow("refund"));
    assert_eq!(
        errors(&p),
        [
            "workflows.presale.exceptions[0].action.move_to.workflow: move_to cycle: presale > vip > presale",
            "tenants[0].workflows.complaint.exceptions[0].action.move_to.workflow: move_to cycle: complaint > refund > complaint",
        ]
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let p = toml(
        r#"
        version = "2024-06"
        skills = [{ name = "apparel" }, { name = "apparel", discount = 2.0 }]
        tags = ["lang:zh"]
        [router]
        default_fanout = 0
        [[tenants]]
        name = "brand-a"
        share = { reserved = 9, cap = 3 }
        [[tenants.workflows.presale.steps]]
        target = 'skill("aparel") >= 7 and lang == "zh"'
        timeout_ms = 60000
        [[tenants.workflows.presale.steps]]
        target = 'has_skill("apparel") and'
        timeout_ms = 30000
        [[tenants.workflows.presale.steps]]
        target = 'has_skill("apparel")'
        [[tenants.workflows.presale.exceptions]]
        name = "spill"
        when = { wait_over_ms = 100000 }
        action = { overflow = { tenant = "brand-b" } }
        "#,
    );
    let err = p.validate().unwrap_err();
    let want = [
        "router.default_fanout: must be at least 1",
        r#"skills[1].name: duplicate skill "apparel" (first declared at skills[0])"#,
        "skills[1].discount: must be in (0, 1], got 2",
        "tenants[0].share: reserved 9 is above cap 3",
        r#"tenants[0].workflows.presale.steps[0].target: unknown skill "aparel" (did you mean "apparel"?)"#,
        "tenants[0].workflows.presale.steps[1].target: line 1, column 25: expected a value, found the end of the expression",
        "tenants[0].workflows.presale.steps[1].timeout_ms: 30000 is not after steps[0].timeout_ms 60000: timeouts count from the task's age and must increase along the steps",
        r#"tenants[0].workflows.presale.exceptions[0].action.overflow.tenant: unknown tenant "brand-b" (did you mean "brand-a"?)"#,
    ];
    assert_eq!(
        err.issues
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        want
    );
    assert_eq!(err.to_string(), want.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// What a valid policy gives a host
// ---------------------------------------------------------------------------------------------

#[test]
fn a_valid_policy_resolves_names_shares_taxonomy_and_workflows() {
    let p = PolicySet::from_path("examples/configs/multibrand.toml").unwrap();
    let v = p.validate().unwrap();
    assert_eq!(v.version(), "2025-06-01.3");
    let cat = v.catalog();
    // Declaration order: skills, tags, tenants.
    assert_eq!(cat.skill_name(switchboard::SkillId(0)), Some("apparel"));
    assert_eq!(cat.tag_name(switchboard::TagId(3)), Some("persona:stylist"));
    assert_eq!(cat.tenant_name(TenantId(2)), Some("maison-lumiere"));
    assert_eq!(cat.skill_count(), p.skills.len());
    // Shares: absolute, and percentages of the pool size (1000).
    let cfg = v.router_config();
    assert_eq!(
        cfg.shares[0],
        TenantShare {
            tenant: TenantId(0),
            reserved: 120,
            cap: Some(400)
        }
    );
    assert_eq!(
        cfg.shares[2],
        TenantShare {
            tenant: TenantId(2),
            reserved: 50,
            cap: Some(150)
        }
    );
    assert_eq!(cfg.offer_timeout_ms, 15_000);
    let maison = v.tenant("maison-lumiere").unwrap();
    assert!(maison.certified_only);
    assert_eq!(maison.sla_ms, Some(30_000));
    assert_eq!(maison.share, Some(cfg.shares[2]));
    // The taxonomy: apparel 10 counts 8 for outerwear and 5 for down (10 x 0.8 x 0.7).
    let agent = switchboard::AgentSpec::new(switchboard::AgentId(1))
        .skill(cat.find_skill("apparel").unwrap(), 10);
    let ex = v.taxonomy().expand(&agent);
    assert!(
        ex.skills
            .contains(&(cat.find_skill("apparel.outerwear").unwrap(), 8))
    );
    assert!(
        ex.skills
            .contains(&(cat.find_skill("apparel.outerwear.down").unwrap(), 5))
    );
    // Workflows: overrides, defaults, and certification for the certified-only brand — on its
    // own workflows and on the defaults it inherits.
    let wf = v.workflows();
    assert_eq!(
        wf.get("northwind-outdoor", "presale").unwrap().steps[1]
            .name
            .as_deref(),
        Some("down specialists")
    );
    assert_eq!(
        wf.get("urban-thread", "presale"),
        p.workflows.get("presale")
    );
    let m = wf.get("maison-lumiere", "aftersale").unwrap();
    assert_eq!(
        m.steps[1].target,
        r#"(skill("returns") >= 6 and lang == task.lang and task.tenant in agent.certified)"#
    );
    let vip = wf.get("maison-lumiere", "vip").unwrap();
    let ExceptionAction::Fallback { target } = &vip.exceptions[0].action else {
        panic!()
    };
    assert!(target.ends_with("task.tenant in agent.certified)"));
    // A router with the same ids.
    let router = v.router().unwrap();
    assert_eq!(
        router.catalog().find_tenant("pixel-audio"),
        cat.find_tenant("pixel-audio")
    );
    assert_eq!(
        router.catalog().find_tag("trainee"),
        cat.find_tag("trainee")
    );
    let parts = v.into_parts();
    assert_eq!(parts.tenants.len(), 6);
    // Every workflow target compiles against the catalog.
    for flows in parts
        .workflows
        .tenants
        .values()
        .chain([&parts.workflows.default])
    {
        for w in flows.values() {
            for s in &w.steps {
                let e = switchboard::expr::Expr::parse(&s.target).unwrap();
                e.compile(&parts.catalog).unwrap();
            }
        }
    }
}

#[test]
fn loading_by_extension() {
    let err = PolicySet::from_path("examples/configs/nope.yaml").unwrap_err();
    assert!(matches!(err, PolicyError::Format(_)));
    let err = PolicySet::from_path("examples/configs/missing.toml").unwrap_err();
    assert!(matches!(err, PolicyError::Io { .. }));
    let err = PolicySet::from_toml_str("version = ").unwrap_err();
    assert!(
        matches!(err, PolicyError::Toml(ref m) if m.contains("line 1")),
        "{err}"
    );
    let err = PolicySet::from_json_str("{\"version\": 1}").unwrap_err();
    assert!(
        matches!(err, PolicyError::Json(ref m) if m.contains("line 1")),
        "{err}"
    );
    // The JSON twin survives a trip through TOML, and the example through JSON.
    let small = PolicySet::from_path("examples/configs/small.json").unwrap();
    assert_eq!(
        PolicySet::from_toml_str(&small.to_toml_string().unwrap()).unwrap(),
        small
    );
    let big = PolicySet::from_path("examples/configs/multibrand.toml").unwrap();
    assert_eq!(
        PolicySet::from_json_str(&big.to_json_string().unwrap()).unwrap(),
        big
    );
    assert_eq!(
        PolicySet::from_toml_str(&big.to_toml_string().unwrap()).unwrap(),
        big
    );
}

// ---------------------------------------------------------------------------------------------
// Static analysis: each warning from a minimal policy
// ---------------------------------------------------------------------------------------------

/// Skills returns / repairs / apparel, tags, tenants plain and acme (certified-only), and a
/// pool of 10 returns agents (certified for both) and 5 apparel trainees.
fn analysed(workflows: &str) -> PolicySet {
    toml(&format!(
        r#"
        version = "1"
        skills = [{{ name = "returns" }}, {{ name = "repairs" }}, {{ name = "apparel" }}]
        tags = ["trainee", "lang:zh"]
        tenants = [{{ name = "plain" }}, {{ name = "acme", certified_only = true }}]
        [pool]
        groups = [
            {{ name = "returns", count = 10, skills = {{ returns = 6 }}, certified = ["plain", "acme"], capacity = {{ chat = 2 }} }},
            {{ name = "trainees", count = 5, skills = {{ apparel = 3 }}, tags = ["trainee", "lang:zh"] }},
        ]
        {workflows}
        "#
    ))
}

#[test]
fn a_step_no_pool_agent_can_match() {
    let p = analysed(
        r#"
        [[workflows.repair.steps]]
        target = 'has_skill("repairs")'
        timeout_ms = 1000
        [[workflows.repair.steps]]
        target = 'skill("returns") >= 7 or has_tag("lang:zh")'
        timeout_ms = 2000
        [[workflows.repair.steps]]
        target = 'has_skill("returns") and not has_tag("trainee")'
        [[workflows.repair.exceptions]]
        name = "fallback"
        when = { wait_over_ms = 5000 }
        action = { fallback = { target = 'skill("apparel") >= 5' } }
        "#,
    );
    assert_eq!(
        warnings(&p),
        [
            (
                WarningKind::NoMatchingAgent,
                "workflows.repair.steps[0].target".into()
            ),
            (
                WarningKind::NoMatchingAgent,
                "workflows.repair.exceptions[0].action.fallback.target".into()
            ),
        ]
    );
    let w = &p.analyze()[0];
    assert_eq!(
        w.to_string(),
        r#"workflows.repair.steps[0].target: no agent in the pool can ever match `has_skill("repairs")` [no_matching_agent]"#
    );
}

#[test]
fn conditions_on_the_task_count_as_possibly_true() {
    // Known-agent routing, host attributes, negated task conditions: nothing to warn about.
    let p = analysed(
        r#"
        [[workflows.w.steps]]
        target = 'agent.id == task.previous_agent'
        timeout_ms = 1000
        skip_if = "no_free_agent"
        [[workflows.w.steps]]
        target = 'has_skill("returns") and not (task.value_tier > 2) and lang == task.lang'
        "#,
    );
    assert_eq!(warnings(&p), []);
    // ...but the agent's own attributes still count.
    let p = analysed(
        r#"
        [[workflows.w.steps]]
        target = 'agent.id == task.previous_agent and has_skill("repairs")'
        "#,
    );
    assert_eq!(
        warnings(&p),
        [
            (
                WarningKind::NoMatchingAgent,
                "workflows.w.steps[0].target".into()
            ),
            (WarningKind::StarvingQueue, "workflows.w".into()),
            (WarningKind::StarvingQueue, "workflows.w".into()),
        ]
    );
}

#[test]
fn the_taxonomy_counts_in_the_analysis() {
    let p = toml(
        r#"
        version = "1"
        skills = [{ name = "apparel" }, { name = "apparel.down", parent = "apparel", discount = 0.5 }]
        [[pool.groups]]
        count = 3
        skills = { apparel = 10 }
        [[workflows.w.steps]]
        target = 'skill("apparel.down") >= 5'
        timeout_ms = 1000
        [[workflows.w.steps]]
        target = 'skill("apparel.down") >= 6'
        "#,
    );
    assert_eq!(
        warnings(&p),
        [(
            WarningKind::NoMatchingAgent,
            "workflows.w.steps[1].target".into()
        )]
    );
}

#[test]
fn steps_that_can_never_be_reached() {
    let p = analysed(
        r#"
        [[workflows.stuck.steps]]
        target = 'has_skill("returns")'
        [[workflows.stuck.steps]]
        target = 'true'
        [[workflows.stuck.steps]]
        target = 'true'

        [[workflows.instant.steps]]
        target = 'skill("returns") >= 6'
        timeout_ms = 30000
        [[workflows.instant.steps]]
        target = 'skill("returns") >= 5'
        timeout_ms = 30000
        [[workflows.instant.steps]]
        target = 'true'

        [[workflows.taken.steps]]
        target = 'skill("returns") >= 6'
        timeout_ms = 60000
        [[workflows.taken.steps]]
        target = 'true'
        [[workflows.taken.exceptions]]
        name = "call back"
        when = { wait_over_ms = 45000 }
        action = "callback"

        [[workflows.skipped.steps]]
        target = 'has_skill("returns")'
        skip_if = "no_available_agent"
        [[workflows.skipped.steps]]
        target = 'true'
        "#,
    );
    assert_eq!(
        warnings(&p),
        [
            (
                WarningKind::UnreachableStep,
                "workflows.instant.steps[1]".into()
            ),
            (
                WarningKind::UnreachableStep,
                "workflows.stuck.steps[1]".into()
            ),
            (
                WarningKind::UnreachableStep,
                "workflows.stuck.steps[2]".into()
            ),
            (
                WarningKind::UnreachableStep,
                "workflows.taken.steps[1]".into()
            ),
        ]
    );
    let msgs: Vec<String> = p.analyze().into_iter().map(|w| w.message).collect();
    assert_eq!(
        msgs[0],
        "is left as soon as it is entered: its timeout 30000 ms is not greater than steps[0]'s 30000 ms (timeouts count from the task's age)"
    );
    assert_eq!(
        msgs[1],
        "can never be reached: steps[0] has neither a timeout nor a skip_if, so no task ever leaves it"
    );
    assert_eq!(
        msgs[3],
        r#"can never be reached: exceptions[0] ("call back") takes every task out of the workflow at 45000 ms, and this step starts at 60000 ms"#
    );
}

#[test]
fn a_later_step_that_adds_nobody() {
    // Same target (no pool needed).
    let p = toml(
        r#"
        version = "1"
        skills = [{ name = "returns" }]
        [[workflows.w.steps]]
        target = 'skill("returns") >= 5'
        timeout_ms = 1000
        [[workflows.w.steps]]
        target = 'skill( "returns" )>=5'
        "#,
    );
    assert_eq!(
        warnings(&p),
        [(
            WarningKind::PointlessStep,
            "workflows.w.steps[1].target".into()
        )]
    );
    // A step that also raises the priority has a point.
    let mut p2 = p.clone();
    p2.workflows.get_mut("w").unwrap().steps[1].priority = Some(PriorityChange {
        class: None,
        boost: 5.0,
    });
    assert_eq!(warnings(&p2), []);
    // Narrower in the pool: returns >= 4 after returns >= 5 matches the same group.
    let p = analysed(
        r#"
        [[workflows.w.steps]]
        target = 'skill("returns") >= 5'
        timeout_ms = 1000
        [[workflows.w.steps]]
        target = 'skill("returns") >= 4'
        "#,
    );
    assert_eq!(
        warnings(&p),
        [(
            WarningKind::PointlessStep,
            "workflows.w.steps[1].target".into()
        )]
    );
    // Wider: fine.
    let p = analysed(
        r#"
        [[workflows.w.steps]]
        target = 'skill("returns") >= 5'
        timeout_ms = 1000
        [[workflows.w.steps]]
        target = 'has_skill("returns") or has_skill("apparel")'
        "#,
    );
    assert_eq!(warnings(&p), []);
}

#[test]
fn reservations_above_the_pool() {
    let p = toml(
        r#"
        version = "1"
        [pool]
        size = 100
        [[tenants]]
        name = "a"
        share = { reserved = 60 }
        [[tenants]]
        name = "b"
        share = { reserved_pct = 50.0 }
        "#,
    );
    let w = p.analyze();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].kind, WarningKind::SharesOverPool);
    assert_eq!(
        w[0].to_string(),
        "tenants: reserved shares add up to 110 tasks, 110% of the pool's 100: not every tenant can get its reservation at once [shares_over_pool]"
    );
    // The pool size derived from the groups: 10 agents x (chat 2 + voice 1).
    let p = toml(
        r#"
        version = "1"
        [[pool.groups]]
        count = 10
        capacity = { chat = 2, voice = 1 }
        [[tenants]]
        name = "a"
        share = { reserved = 31 }
        "#,
    );
    assert_eq!(p.pool.as_ref().unwrap().size(), 30);
    assert_eq!(
        warnings(&p),
        [(WarningKind::SharesOverPool, "tenants".into())]
    );
}

#[test]
fn a_queue_that_can_starve() {
    // acme (certified-only) sends presale to apparel agents: none is certified for it.
    let mut p = analysed("");
    p.tenants[1].workflows.insert(
        "presale".into(),
        Workflow {
            steps: vec![Step::new(r#"has_skill("apparel")"#)],
            exceptions: vec![],
        },
    );
    assert_eq!(
        warnings(&p),
        [
            (
                WarningKind::NoMatchingAgent,
                "tenants[1].workflows.presale.steps[0].target".into()
            ),
            (
                WarningKind::StarvingQueue,
                "tenants[1].workflows.presale".into()
            ),
        ]
    );
    assert_eq!(
        p.analyze()[0].message,
        r#"no agent in the pool can ever match `has_skill("apparel")` (the tenant accepts only certified agents)"#
    );
    // A default workflow whose resting step matches nobody starves every tenant running it.
    let p = analysed(
        r#"
        [[workflows.repair.steps]]
        target = 'has_skill("returns")'
        timeout_ms = 60000
        [[workflows.repair.steps]]
        target = 'has_skill("repairs")'
        "#,
    );
    assert_eq!(
        warnings(&p),
        [
            (
                WarningKind::NoMatchingAgent,
                "workflows.repair.steps[1].target".into()
            ),
            (WarningKind::StarvingQueue, "workflows.repair".into()),
            (WarningKind::StarvingQueue, "workflows.repair".into()),
        ]
    );
    let msgs: Vec<String> = p.analyze().into_iter().map(|w| w.message).collect();
    assert_eq!(
        msgs[1],
        r#"tenant "plain", task type "repair" (default workflow): the steps a task stays in once the timers have run (from steps[1]) match no pool agent and no wait-time exception moves the task on: its queue can starve"#
    );
    assert!(msgs[2].contains(r#"tenant "acme""#), "{}", msgs[2]);
    // A wait-time callback (or a reachable fallback) rescues the queue.
    let mut rescued = p.clone();
    rescued.workflows.get_mut("repair").unwrap().exceptions =
        vec![rule("call back", 600_000, ExceptionAction::Callback)];
    assert!(
        !rescued
            .analyze()
            .iter()
            .any(|w| w.kind == WarningKind::StarvingQueue)
    );
}

#[test]
fn a_certified_only_tenant_without_certified_agents() {
    let mut p = analysed("");
    p.pool.as_mut().unwrap().groups[0].certified = vec!["plain".into()];
    assert_eq!(
        warnings(&p),
        [(
            WarningKind::NoCertifiedAgent,
            "tenants[1].certified_only".into()
        )]
    );
    p.pool.as_mut().unwrap().groups[1].certified = vec!["acme".into()];
    assert_eq!(warnings(&p), []);
    // Without a pool there is nothing to check against.
    p.pool = None;
    p.tenants[1].certified_only = true;
    assert_eq!(warnings(&p), []);
}

#[test]
fn analysis_never_needs_a_valid_policy() {
    let p = with_targets(&["has_skill(", r#"skill("nope") >= 3"#, "true"]);
    assert!(p.validate().is_err());
    let _ = p.analyze();
    let mut p = toml(
        r#"
        version = "1"
        skills = [{ name = "a", parent = "b" }, { name = "b", parent = "a" }]
        [[pool.groups]]
        count = 1
        skills = { a = 200, zz = 0 }
        capacity = { warp = 9 }
        "#,
    );
    p.workflows.insert(
        "w".into(),
        Workflow {
            steps: vec![],
            exceptions: vec![],
        },
    );
    let _ = p.analyze();
}

// ---------------------------------------------------------------------------------------------
// Serde round trips
// ---------------------------------------------------------------------------------------------

fn name() -> impl proptest::strategy::Strategy<Value = String> {
    "[a-z][a-z0-9._:-]{0,8}"
}

/// Free text, with quotes, backslashes, new lines and non-ASCII.
fn text() -> impl proptest::strategy::Strategy<Value = String> {
    "[ -~é中\n\t]{0,12}"
}

fn float() -> impl proptest::strategy::Strategy<Value = f64> {
    prop::num::f64::NORMAL | prop::num::f64::ZERO
}

/// TOML integers stop at 2^63 − 1.
fn int() -> impl proptest::strategy::Strategy<Value = u64> {
    0..=i64::MAX as u64
}

fn strategy() -> impl proptest::strategy::Strategy<Value = Pick> {
    prop_oneof![
        Just(Pick::BestScore),
        Just(Pick::LongestIdle),
        Just(Pick::LeastOccupied),
        Just(Pick::RoundRobin),
        Just(Pick::Random),
    ]
}

fn priority_change() -> impl proptest::strategy::Strategy<Value = PriorityChange> {
    (prop::option::of(any::<u8>()), float())
        .prop_map(|(class, boost)| PriorityChange { class, boost })
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    (
        prop::option::of(text()),
        text(),
        prop::option::of(int()),
        prop::option::of(priority_change()),
        prop::option::of(strategy()),
        prop::collection::vec(
            prop_oneof![
                (name(), float())
                    .prop_map(|(skill, weight)| StepPreference::Skill { skill, weight }),
                (name(), float()).prop_map(|(tag, weight)| StepPreference::Tag { tag, weight }),
            ],
            0..3,
        ),
        prop::option::of(prop_oneof![
            Just(SkipIf::NoEligibleAgent),
            Just(SkipIf::NoAvailableAgent),
            Just(SkipIf::NoFreeAgent),
        ]),
    )
        .prop_map(
            |(n, target, timeout, priority, strategy, prefer, skip_if)| {
                let mut s = Step::new(target);
                s.name = n;
                s.timeout_ms = timeout;
                s.priority = priority;
                s.strategy = strategy;
                s.prefer = prefer;
                s.skip_if = skip_if;
                s
            },
        )
}

fn exception() -> impl proptest::strategy::Strategy<Value = ExceptionRule> {
    (
        text(),
        prop_oneof![
            int().prop_map(Trigger::WaitOverMs),
            (0..1_000_000usize).prop_map(Trigger::QueueLongerThan),
        ],
        prop_oneof![
            priority_change().prop_map(ExceptionAction::RaisePriority),
            name().prop_map(|workflow| ExceptionAction::MoveTo { workflow }),
            name().prop_map(|tenant| ExceptionAction::Overflow { tenant }),
            Just(ExceptionAction::ToBot),
            Just(ExceptionAction::Callback),
            text().prop_map(|target| ExceptionAction::Fallback { target }),
        ],
    )
        .prop_map(|(name, when, action)| ExceptionRule { name, when, action })
}

fn workflow() -> impl proptest::strategy::Strategy<Value = Workflow> {
    (
        prop::collection::vec(step(), 0..4),
        prop::collection::vec(exception(), 0..3),
    )
        .prop_map(|(steps, exceptions)| Workflow { steps, exceptions })
}

fn workflows()
-> impl proptest::strategy::Strategy<Value = std::collections::BTreeMap<String, Workflow>> {
    prop::collection::btree_map(name(), workflow(), 0..3)
}

fn router() -> impl proptest::strategy::Strategy<Value = RouterConfig> {
    (
        (int(), int(), int(), int(), strategy(), any::<u8>()),
        (
            prop::option::of(any::<u32>()),
            [float(), float(), float(), float(), float(), float()],
            int(),
            prop_oneof![Just(Dispatch::Immediate), Just(Dispatch::Batched)],
            0..=i64::MAX as usize,
        ),
    )
        .prop_map(
            |((offer, backoff, wrap, sla, strat, fanout), (missed, w, seed, dispatch, edges))| {
                let d = RouterConfig::default();
                RouterConfig {
                    offer_timeout_ms: offer,
                    decline_backoff_ms: backoff,
                    wrap_up_ms: wrap,
                    default_sla_ms: sla,
                    default_strategy: strat,
                    default_fanout: fanout,
                    max_missed_offers: missed,
                    priority: switchboard::PriorityWeights {
                        value_tier: w[0],
                        sentiment: w[1],
                        aging_per_sec: w[2],
                        urgency_per_sec: w[3],
                    },
                    scoring: switchboard::ScoreWeights {
                        required_level: w[4],
                        preferred_agent: w[5],
                    },
                    seed,
                    dispatch,
                    batch_exact_edges: edges,
                    ..d
                }
            },
        )
}

fn tenant() -> impl proptest::strategy::Strategy<Value = TenantPolicy> {
    (
        name(),
        text(),
        prop::option::of(int()),
        prop::option::of(
            (int(), float()).prop_map(|(within_ms, rate)| AnswerTarget { within_ms, rate }),
        ),
        prop::option::of(
            (
                prop::option::of(any::<u32>()),
                prop::option::of(any::<u32>()),
                prop::option::of(float()),
                prop::option::of(float()),
            )
                .prop_map(|(reserved, cap, reserved_pct, cap_pct)| ShareSpec {
                    reserved,
                    cap,
                    reserved_pct,
                    cap_pct,
                }),
        ),
        any::<bool>(),
        workflows(),
    )
        .prop_map(
            |(name, description, sla_ms, answer_target, share, certified_only, workflows)| {
                TenantPolicy {
                    name,
                    description,
                    sla_ms,
                    answer_target,
                    share,
                    certified_only,
                    workflows,
                }
            },
        )
}

fn pool() -> impl proptest::strategy::Strategy<Value = Pool> {
    let group = (
        prop::option::of(text()),
        any::<u32>(),
        prop_oneof![Just(AgentKind::Human), Just(AgentKind::Bot)],
        prop::collection::btree_map(name(), any::<u8>(), 0..3),
        prop::collection::vec(name(), 0..3),
        prop::collection::vec(name(), 0..2),
        prop::collection::btree_map(name(), any::<u16>(), 0..3),
    )
        .prop_map(
            |(name, count, kind, skills, tags, certified, capacity)| PoolGroup {
                name,
                count,
                kind,
                skills,
                tags,
                certified,
                capacity,
            },
        );
    (
        prop::option::of(any::<u32>()),
        prop::collection::vec(group, 0..3),
    )
        .prop_map(|(size, groups)| Pool { size, groups })
}

fn policy() -> impl proptest::strategy::Strategy<Value = PolicySet> {
    (
        text(),
        router(),
        prop::collection::vec(
            (name(), prop::option::of(name()), float(), text()).prop_map(
                |(name, parent, discount, description)| SkillDecl {
                    name,
                    parent,
                    discount,
                    description,
                },
            ),
            0..4,
        ),
        prop::collection::vec(text(), 0..4),
        prop::collection::vec(tenant(), 0..3),
        workflows(),
        prop::option::of(pool()),
    )
        .prop_map(
            |(version, router, skills, tags, tenants, workflows, pool)| PolicySet {
                version,
                router,
                skills,
                tags,
                tenants,
                workflows,
                pool,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn policies_round_trip_through_toml_and_json(p in policy()) {
        let text = p.to_toml_string().unwrap();
        let back = PolicySet::from_toml_str(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back, &p, "{}", text);
        let json = p.to_json_string().unwrap();
        prop_assert_eq!(&PolicySet::from_json_str(&json).unwrap(), &p);
        // And validation and analysis never panic on them.
        let _ = p.validate();
        let _ = p.analyze();
    }
}

// ---------------------------------------------------------------------------------------------
// Valid means runnable
// ---------------------------------------------------------------------------------------------

/// Targets over a small universe of names, some of them undeclared.
fn target() -> impl proptest::strategy::Strategy<Value = String> {
    let atom = prop_oneof![
        prop::sample::select(vec!["apparel", "apparel.down", "returns", "aparel"])
            .prop_map(|s| format!("has_skill({s:?})")),
        (
            prop::sample::select(vec!["apparel", "apparel.down", "returns", "retuns"]),
            0..12u8
        )
            .prop_map(|(s, n)| format!("skill({s:?}) >= {n}")),
        prop::sample::select(vec!["lang:zh", "trainee", "vip"])
            .prop_map(|t| format!("has_tag({t:?})")),
        prop::sample::select(vec!["zh", "en"]).prop_map(|v| format!("lang == {v:?}")),
        Just("task.tenant in agent.certified".to_owned()),
        Just("agent.id == task.previous_agent".to_owned()),
        prop::sample::select(vec!["a", "b", "c"]).prop_map(|t| format!("task.tenant == {t:?}")),
        Just("lang == task.lang".to_owned()),
        Just("true".to_owned()),
        Just("skill(".to_owned()),
    ];
    atom.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn small_workflow() -> impl proptest::strategy::Strategy<Value = Workflow> {
    let step = (
        target(),
        prop::option::of(prop::sample::select(vec![
            0u64, 10_000, 20_000, 30_000, 60_000,
        ])),
        prop::option::of(Just(SkipIf::NoFreeAgent)),
        prop::option::of(prop::sample::select(vec!["apparel", "trainee", "nope"])),
    )
        .prop_map(|(t, timeout, skip, pref)| {
            let mut s = Step::new(t);
            s.timeout_ms = timeout;
            s.skip_if = skip;
            if let Some(p) = pref {
                s.prefer = vec![if p == "trainee" {
                    StepPreference::Tag {
                        tag: p.into(),
                        weight: 1.0,
                    }
                } else {
                    StepPreference::Skill {
                        skill: p.into(),
                        weight: 2.0,
                    }
                }];
            }
            s
        });
    let action = prop_oneof![
        prop::sample::select(vec!["presale", "refund", "vip"])
            .prop_map(|w| ExceptionAction::MoveTo { workflow: w.into() }),
        prop::sample::select(vec!["a", "b", "c"])
            .prop_map(|t| ExceptionAction::Overflow { tenant: t.into() }),
        Just(ExceptionAction::Callback),
        Just(ExceptionAction::ToBot),
        target().prop_map(|target| ExceptionAction::Fallback { target }),
    ];
    (
        prop::collection::vec(step, 1..4),
        prop::collection::vec((0..4u8, 1..600u64, action), 0..3),
    )
        .prop_map(|(steps, rules)| Workflow {
            steps,
            exceptions: rules
                .into_iter()
                .enumerate()
                .map(|(i, (_, wait, action))| rule(&format!("r{i}"), wait * 1000, action))
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever validates compiles: every target against the catalog, and the workflow engine
    /// accepts the resolved workflow set. Analysis never panics.
    #[test]
    fn a_valid_policy_is_accepted_by_the_workflow_engine(
        defaults in prop::collection::btree_map(
            prop::sample::select(vec!["presale".to_owned(), "refund".to_owned()]), small_workflow(), 0..3),
        own in prop::collection::vec(
            prop::collection::btree_map(
                prop::sample::select(vec!["presale".to_owned(), "vip".to_owned()]), small_workflow(), 0..2),
            2),
        certified in any::<bool>(),
    ) {
        let mut p = toml(r#"
            version = "1"
            skills = [{ name = "apparel" }, { name = "apparel.down", parent = "apparel", discount = 0.5 }, { name = "returns" }]
            tags = ["lang:zh", "lang:en", "trainee"]
            tenants = [{ name = "a" }, { name = "b" }]
            [[pool.groups]]
            count = 3
            skills = { apparel = 6, returns = 4 }
            tags = ["lang:zh"]
            certified = ["a"]
        "#);
        p.workflows = defaults;
        p.tenants[0].workflows = own[0].clone();
        p.tenants[1].workflows = own[1].clone();
        p.tenants[1].certified_only = certified;
        let _ = p.analyze();
        if let Ok(v) = p.validate() {
            let parts = v.into_parts();
            for flows in parts.workflows.tenants.values().chain([&parts.workflows.default]) {
                for w in flows.values() {
                    for s in &w.steps {
                        let e = switchboard::expr::Expr::parse(&s.target).unwrap();
                        prop_assert!(e.compile(&parts.catalog).is_ok(), "{}", s.target);
                    }
                }
            }
            let engine = switchboard::workflow::WorkflowEngine::new(parts.workflows, &parts.catalog);
            prop_assert!(engine.is_ok(), "{:?}", engine.err());
        }
    }
}
