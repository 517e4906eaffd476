//! Workflows: widening over time, skip_if, exception rules, hot reload — unit tests and a
//! property test that no task is ever offered to an agent its current step's target rejects.

use proptest::prelude::*;
use proptest::strategy::Strategy;
use std::collections::{BTreeMap, BTreeSet};
use switchboard::expr::Expr;
use switchboard::workflow::*;
use switchboard::*;

fn secs(s: u64) -> Time {
    Time::from_secs(s)
}

struct World {
    router: Router,
    flows: WorkflowEngine,
    acme: TenantId,
    partner: TenantId,
}

fn world(set: WorkflowSet) -> World {
    let mut router = Router::new(RouterConfig::default()).unwrap();
    let c = router.catalog_mut();
    let acme = c.tenant("acme");
    let partner = c.tenant("partner");
    c.skill("sizing");
    c.skill("returns");
    c.tag("lang:zh");
    c.tag("trainee");
    let flows = WorkflowEngine::new(set, router.catalog()).unwrap();
    World {
        router,
        flows,
        acme,
        partner,
    }
}

fn agent(r: &mut Router, id: u64, sizing: u8, state: AgentState) -> AgentSpec {
    let s = r.catalog().find_skill("sizing").unwrap();
    let spec = AgentSpec::new(AgentId(id))
        .skill(s, sizing)
        .capacity(Channel::Chat, 1)
        .state(state);
    r.add_agent(r.now(), spec.clone()).unwrap();
    spec
}

fn bullseye() -> Workflow {
    Workflow {
        steps: vec![
            Step::new(r#"skill("sizing") >= 9"#).timeout_ms(10_000),
            Step::new(r#"skill("sizing") >= 5"#)
                .timeout_ms(25_000)
                .priority(PriorityChange {
                    class: None,
                    boost: 10.0,
                }),
            Step::new(r#"has_skill("sizing")"#),
        ],
        exceptions: vec![],
    }
}

fn set_of(name: &str, wf: Workflow) -> WorkflowSet {
    let mut set = WorkflowSet::default();
    set.default.insert(name.into(), wf);
    set
}

fn arrive(w: &mut World, now: Time, id: u64, kind: &str) {
    let spec = TaskSpec::new(TaskId(id), w.acme, Channel::Chat);
    drive_arrive(
        &mut w.flows,
        &mut w.router,
        now,
        spec,
        kind,
        BTreeMap::new(),
    )
    .unwrap();
}

fn step_of(w: &World, id: u64) -> usize {
    w.flows.task(TaskId(id)).unwrap().step
}

#[test]
fn a_task_enters_each_step_exactly_at_its_timeout() {
    let mut w = world(set_of("presale", bullseye()));
    agent(&mut w.router, 1, 3, AgentState::Available);
    arrive(&mut w, secs(0), 1, "presale");
    assert_eq!(step_of(&w, 1), 0);
    assert_eq!(w.flows.poll_timeout(&w.router), Some(secs(10)));
    drive_timeout(&mut w.flows, &mut w.router, Time::from_millis(9_999)).unwrap();
    assert_eq!(step_of(&w, 1), 0);
    drive_timeout(&mut w.flows, &mut w.router, secs(10)).unwrap();
    assert_eq!(step_of(&w, 1), 1);
    assert_eq!(w.router.task_state(TaskId(1)), Some(TaskState::Waiting));
    // Step 1 boosts the priority by 10 over the arrival priority.
    let (_, p) = w.router.task_priority_at(TaskId(1), secs(10)).unwrap();
    assert!(p >= 9.0, "boosted priority {p}");
    assert_eq!(w.flows.poll_timeout(&w.router), Some(secs(25)));
    drive_timeout(&mut w.flows, &mut w.router, Time::from_millis(24_999)).unwrap();
    assert_eq!(step_of(&w, 1), 1);
    drive_timeout(&mut w.flows, &mut w.router, secs(25)).unwrap();
    assert_eq!(step_of(&w, 1), 2);
    assert!(matches!(
        w.router.task_state(TaskId(1)),
        Some(TaskState::Offered(_))
    ));
    let entered: Vec<usize> = std::iter::from_fn(|| w.flows.poll_effect())
        .filter_map(|e| match e {
            WorkflowEffect::StepEntered { step, .. } => Some(step),
            _ => None,
        })
        .collect();
    assert_eq!(entered, vec![0, 1, 2]);
}

#[test]
fn an_old_task_starts_at_the_step_its_age_calls_for() {
    let mut w = world(set_of("presale", bullseye()));
    let spec = TaskSpec::new(TaskId(1), w.acme, Channel::Chat).created_at(secs(0));
    drive_arrive(
        &mut w.flows,
        &mut w.router,
        secs(15),
        spec,
        "presale",
        BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(step_of(&w, 1), 1);
    assert_eq!(w.flows.poll_timeout(&w.router), Some(secs(25)));
}

fn known_agent() -> Workflow {
    Workflow {
        steps: vec![
            Step::new("agent.id == task.previous_agent")
                .timeout_ms(20_000)
                .skip_if(SkipIf::NoFreeAgent),
            Step::new(r#"has_skill("sizing")"#),
        ],
        exceptions: vec![],
    }
}

#[test]
fn known_agent_step_offers_the_previous_agent_and_skip_if_skips_at_once() {
    let mut w = world(set_of("aftersale", known_agent()));
    agent(&mut w.router, 1, 5, AgentState::Available);
    agent(&mut w.router, 2, 5, AgentState::Available);
    // The previous agent (2) is free: step 0 offers the task to it, not to agent 1 (idle longer).
    let spec = TaskSpec::new(TaskId(1), w.acme, Channel::Chat)
        .prefers(Preferences::default().agent(AgentId(2)));
    drive_arrive(
        &mut w.flows,
        &mut w.router,
        secs(1),
        spec,
        "aftersale",
        BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(step_of(&w, 1), 0);
    let Some(TaskState::Offered(o)) = w.router.task_state(TaskId(1)) else {
        panic!("not offered")
    };
    assert_eq!(w.router.offer(o[0]).unwrap().1, AgentId(2));
    // The previous agent (2) is now busy: step 0 is skipped at once.
    let spec = TaskSpec::new(TaskId(2), w.acme, Channel::Chat)
        .prefers(Preferences::default().agent(AgentId(2)));
    drive_arrive(
        &mut w.flows,
        &mut w.router,
        secs(2),
        spec,
        "aftersale",
        BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(step_of(&w, 2), 1);
    let Some(TaskState::Offered(o)) = w.router.task_state(TaskId(2)) else {
        panic!("not offered")
    };
    assert_eq!(w.router.offer(o[0]).unwrap().1, AgentId(1));
    let skipped = std::iter::from_fn(|| w.flows.poll_effect()).any(|e| {
        matches!(e, WorkflowEffect::StepEntered { task: TaskId(2), step: 1, ref skipped, .. } if skipped == &vec![0])
    });
    assert!(skipped);
}

#[test]
fn wait_time_exceptions_fire_once_on_the_callers_clock() {
    let mut wf = bullseye();
    wf.exceptions = vec![
        ExceptionRule {
            name: "boost".into(),
            when: Trigger::WaitOverMs(5_000),
            action: ExceptionAction::RaisePriority(PriorityChange {
                class: Some(2),
                boost: 0.0,
            }),
        },
        ExceptionRule {
            name: "call back".into(),
            when: Trigger::WaitOverMs(60_000),
            action: ExceptionAction::Callback,
        },
    ];
    let mut w = world(set_of("presale", wf));
    arrive(&mut w, secs(0), 1, "presale");
    assert_eq!(w.flows.poll_timeout(&w.router), Some(secs(5)));
    drive_timeout(&mut w.flows, &mut w.router, secs(5)).unwrap();
    assert_eq!(w.router.task_priority_at(TaskId(1), secs(5)).unwrap().0, 2);
    assert_eq!(w.flows.task(TaskId(1)).unwrap().fired, vec!["boost"]);
    // Widening keeps the raised class.
    drive_timeout(&mut w.flows, &mut w.router, secs(30)).unwrap();
    assert_eq!(step_of(&w, 1), 2);
    assert_eq!(w.router.task_priority_at(TaskId(1), secs(30)).unwrap().0, 2);
    drive_timeout(&mut w.flows, &mut w.router, secs(60)).unwrap();
    assert_eq!(w.router.task_state(TaskId(1)), None);
    assert!(w.flows.task(TaskId(1)).is_none());
    let callbacks = std::iter::from_fn(|| w.flows.poll_effect())
        .filter(|e| matches!(e, WorkflowEffect::Callback { .. }))
        .count();
    assert_eq!(callbacks, 1);
}

#[test]
fn overflow_sends_the_task_to_another_brands_pool() {
    let mut wf = bullseye();
    wf.exceptions = vec![ExceptionRule {
        name: "overflow".into(),
        when: Trigger::WaitOverMs(3_000),
        action: ExceptionAction::Overflow {
            tenant: "partner".into(),
        },
    }];
    let mut w = world(set_of("presale", wf));
    // The only agent has no sizing skill but is certified for the partner brand.
    let partner = w.partner;
    w.router
        .add_agent(
            secs(0),
            AgentSpec::new(AgentId(9))
                .certified(partner)
                .capacity(Channel::Chat, 1)
                .state(AgentState::Available),
        )
        .unwrap();
    arrive(&mut w, secs(0), 1, "presale");
    assert_eq!(w.router.task_state(TaskId(1)), Some(TaskState::Waiting));
    drive_timeout(&mut w.flows, &mut w.router, secs(3)).unwrap();
    let Some(TaskState::Offered(o)) = w.router.task_state(TaskId(1)) else {
        panic!("not offered")
    };
    assert_eq!(w.router.offer(o[0]).unwrap().1, AgentId(9));
    assert!(w.flows.task(TaskId(1)).unwrap().pinned.is_some());
}

#[test]
fn queue_length_rule_hands_excess_tasks_to_a_bot() {
    let mut wf = bullseye();
    wf.exceptions = vec![ExceptionRule {
        name: "busy".into(),
        when: Trigger::QueueLongerThan(2),
        action: ExceptionAction::ToBot,
    }];
    let mut w = world(set_of("presale", wf));
    w.router
        .add_agent(
            secs(0),
            AgentSpec::new(AgentId(50))
                .kind(AgentKind::Bot)
                .capacity(Channel::Chat, 100)
                .state(AgentState::Available),
        )
        .unwrap();
    for id in 1..=4 {
        arrive(&mut w, secs(0), id, "presale");
    }
    // Two wait in the sizing queue; the third and fourth found it longer than 2 and went to
    // the bot.
    assert_eq!(w.router.task_state(TaskId(1)), Some(TaskState::Waiting));
    assert_eq!(w.router.task_state(TaskId(2)), Some(TaskState::Waiting));
    for id in [3, 4] {
        let Some(TaskState::Offered(o)) = w.router.task_state(TaskId(id)) else {
            panic!("task {id} not offered")
        };
        assert_eq!(w.router.offer(o[0]).unwrap().1, AgentId(50));
    }
}

#[test]
fn widening_waits_for_an_offered_task_to_come_back() {
    let mut w = world(set_of("presale", bullseye()));
    agent(&mut w.router, 1, 9, AgentState::Available);
    arrive(&mut w, secs(0), 1, "presale");
    let Some(TaskState::Offered(o)) = w.router.task_state(TaskId(1)) else {
        panic!("not offered")
    };
    // The timeout passes while the offer is out: the offer is left alone.
    drive_timeout(&mut w.flows, &mut w.router, secs(12)).unwrap();
    assert_eq!(step_of(&w, 1), 0);
    assert_eq!(
        w.router.task_state(TaskId(1)),
        Some(TaskState::Offered(o.clone()))
    );
    // Rejected: on the next call the task moves to the step its age calls for.
    w.router.reject(secs(13), o[0], AgentId(1)).unwrap();
    drive_timeout(&mut w.flows, &mut w.router, secs(13)).unwrap();
    assert_eq!(step_of(&w, 1), 1);
}

#[test]
fn reload_moves_waiting_tasks_to_the_matching_step_of_the_new_workflow() {
    let mut w = world(set_of("presale", bullseye()));
    for id in 1..=5 {
        arrive(&mut w, secs(id), id, "presale");
    }
    let live = w.router.live_tasks();
    // New policy: 2 steps, widen after 3 s.
    let new = set_of(
        "presale",
        Workflow {
            steps: vec![
                Step::new(r#"skill("sizing") >= 8"#).timeout_ms(3_000),
                Step::new(r#"skill("sizing") >= 2"#),
            ],
            exceptions: vec![],
        },
    );
    let report = drive_reload(&mut w.flows, &mut w.router, secs(6), new).unwrap();
    assert_eq!(report.moved, 5);
    assert_eq!(w.router.live_tasks(), live);
    // Ages 5,4,3 s → step 1; ages 2,1 s → step 0.
    let steps: Vec<usize> = (1..=5).map(|id| step_of(&w, id)).collect();
    assert_eq!(steps, vec![1, 1, 1, 0, 0]);
    w.router.check_invariants().unwrap();
    // A bad policy is refused and changes nothing.
    let bad = set_of(
        "presale",
        Workflow {
            steps: vec![Step::new(r#"skill("sizng") >= 8"#)],
            exceptions: vec![],
        },
    );
    let err = drive_reload(&mut w.flows, &mut w.router, secs(6), bad).unwrap_err();
    assert!(err.to_string().contains("did you mean"), "{err}");
    assert!(
        err.to_string()
            .starts_with("workflows.presale.steps[0].target")
    );
    assert_eq!(step_of(&w, 5), 0);
}

#[test]
fn host_attributes_bind_into_targets() {
    let set = set_of(
        "presale",
        Workflow {
            steps: vec![Step::new("lang == task.lang")],
            exceptions: vec![],
        },
    );
    let mut w = world(set);
    let zh = w.router.catalog().find_tag("lang:zh").unwrap();
    w.router
        .add_agent(
            secs(0),
            AgentSpec::new(AgentId(1))
                .tag(zh)
                .capacity(Channel::Chat, 1)
                .state(AgentState::Available),
        )
        .unwrap();
    let attrs: BTreeMap<String, expr::AttrValue> =
        [("lang".to_string(), expr::AttrValue::Str("en".into()))].into();
    let spec = TaskSpec::new(TaskId(1), w.acme, Channel::Chat);
    drive_arrive(&mut w.flows, &mut w.router, secs(0), spec, "presale", attrs).unwrap_err(); // "lang:en" is no known tag: a config error naming the target
    assert_eq!(w.router.task_state(TaskId(1)), None);
    let attrs: BTreeMap<String, expr::AttrValue> =
        [("lang".to_string(), expr::AttrValue::Str("zh".into()))].into();
    let spec = TaskSpec::new(TaskId(1), w.acme, Channel::Chat);
    drive_arrive(&mut w.flows, &mut w.router, secs(0), spec, "presale", attrs).unwrap();
    assert!(matches!(
        w.router.task_state(TaskId(1)),
        Some(TaskState::Offered(_))
    ));
}

#[test]
fn config_errors_name_the_path() {
    let mut router = Router::new(RouterConfig::default()).unwrap();
    router.catalog_mut().skill("apparel");
    let mut set = WorkflowSet::default();
    set.tenants.insert(
        "acme".into(),
        [(
            "presale".to_string(),
            Workflow {
                steps: vec![
                    Step::new(r#"has_skill("apparel")"#).timeout_ms(10),
                    Step::new(r#"skill("aparel") >= 3"#),
                ],
                exceptions: vec![],
            },
        )]
        .into(),
    );
    let err = WorkflowEngine::new(set, router.catalog()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"tenants.acme.workflows.presale.steps[1].target: unknown skill "aparel" (did you mean "apparel"?)"#
    );
}

#[test]
fn a_restored_engine_and_router_continue_exactly_like_the_originals() {
    let mut w = world(set_of("presale", bullseye()));
    agent(&mut w.router, 1, 4, AgentState::Available);
    agent(&mut w.router, 2, 9, AgentState::Away);
    for id in 1..=6 {
        arrive(&mut w, secs(id * 3), id, "presale");
    }
    w.router.drain_effects().for_each(drop);
    while w.flows.poll_effect().is_some() {}
    // Snapshot both (through JSON, as a host would store them).
    let rs = serde_json::to_string(&w.router.export_state()).unwrap();
    let fs = serde_json::to_string(&w.flows.export_state()).unwrap();
    let mut router2 =
        Router::from_state(serde_json::from_str(&rs).unwrap(), DefaultScoring).unwrap();
    let mut flows2 = WorkflowEngine::from_state(
        set_of("presale", bullseye()),
        router2.catalog(),
        serde_json::from_str(&fs).unwrap(),
    )
    .unwrap();
    let mut log = [Vec::new(), Vec::new()];
    for (i, (r, f)) in [(&mut w.router, &mut w.flows), (&mut router2, &mut flows2)]
        .into_iter()
        .enumerate()
    {
        r.set_agent_state(secs(20), AgentId(2), AgentState::Available)
            .unwrap();
        let mut t = secs(20);
        while let Some(next) = f.poll_timeout(r) {
            if next > secs(120) {
                break;
            }
            t = next.max(t);
            drive_timeout(f, r, t).unwrap();
            log[i].extend(r.drain_effects().map(|e| format!("{e:?}")));
            log[i].extend(std::iter::from_fn(|| f.poll_effect()).map(|e| format!("{e:?}")));
        }
    }
    assert!(!log[0].is_empty());
    assert_eq!(log[0], log[1]);
}

#[test]
fn the_documented_event_json_parses() {
    // docs/EVENTS.md
    let r: Event = serde_json::from_str(
        r#"{"type":"retarget","task":42,"target":{"requirements":{"skills":[{"skill":0,"min_level":3}],"tags":[1],"certification":false,"filter":"not has_tag(\"trainee\")"},"strategy":"best_score","priority":{"class":1,"base":5.0}}}"#,
    )
    .unwrap();
    assert!(matches!(
        r,
        Event::Retarget {
            task: TaskId(42),
            ..
        }
    ));
    let s: Event = serde_json::from_str(
        r#"{"type":"set_shares","shares":[{"tenant":0,"reserved":10,"cap":50},{"tenant":1,"reserved":4}]}"#,
    )
    .unwrap();
    assert!(matches!(s, Event::SetShares { ref shares } if shares.len() == 2));
    // A malformed filter is refused with its position.
    let bad = serde_json::from_str::<Event>(
        r#"{"type":"retarget","task":1,"target":{"requirements":{"filter":"has_tag("}}}"#,
    );
    assert!(bad.unwrap_err().to_string().contains("line 1"));
}

// ------------------------------------------------------------------ property

const TARGETS: &[&str] = &[
    r#"skill("sizing") >= 7"#,
    r#"skill("sizing") >= 3 and not has_tag("trainee")"#,
    r#"has_tag("lang:zh") or skill("returns") > 5"#,
    r#"skill("returns") >= 2 and skill("sizing") < 6"#,
    "agent.id == task.previous_agent",
    "true",
];

#[derive(Debug, Clone)]
enum Op {
    Arrive { prev: Option<u64>, tier: u8 },
    Advance(u64),
    Accept(usize),
    Reject(usize),
    Complete(usize),
    Reload(Vec<(usize, u64)>),
}

fn workflow_s() -> impl Strategy<Value = Vec<(usize, u64)>> {
    prop::collection::vec((0..TARGETS.len(), 1u64..20_000), 1..4)
}

fn make_set(steps: &[(usize, u64)]) -> WorkflowSet {
    let mut at = 0;
    let n = steps.len();
    let steps = steps
        .iter()
        .enumerate()
        .map(|(i, &(t, d))| {
            at += d;
            let s = Step::new(TARGETS[t]);
            let s = if t == 4 {
                s.skip_if(SkipIf::NoFreeAgent)
            } else {
                s
            };
            if i + 1 < n { s.timeout_ms(at) } else { s }
        })
        .collect();
    set_of(
        "t",
        Workflow {
            steps,
            exceptions: vec![],
        },
    )
}

fn op_s() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop::option::of(1u64..6), 0u8..3).prop_map(|(prev, tier)| Op::Arrive { prev, tier }),
        4 => (1u64..8_000).prop_map(Op::Advance),
        3 => any::<prop::sample::Index>().prop_map(|i| Op::Accept(i.index(1000))),
        1 => any::<prop::sample::Index>().prop_map(|i| Op::Reject(i.index(1000))),
        2 => any::<prop::sample::Index>().prop_map(|i| Op::Complete(i.index(1000))),
        1 => workflow_s().prop_map(Op::Reload),
    ]
}

fn agents_s() -> impl Strategy<Value = Vec<(u8, u8, bool, bool)>> {
    prop::collection::vec((1u8..=10, 0u8..=10, any::<bool>(), any::<bool>()), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every offer goes to an agent the task's current step target accepts (evaluated on the
    /// expression itself, not on the compiled form); invariants and conservation hold after
    /// every step, across reloads.
    #[test]
    fn offers_respect_the_current_step_target(
        agents in agents_s(),
        first in workflow_s(),
        ops in prop::collection::vec(op_s(), 1..60),
    ) {
        let mut w = world(make_set(&first));
        let (sizing, returns) = (
            w.router.catalog().find_skill("sizing").unwrap(),
            w.router.catalog().find_skill("returns").unwrap(),
        );
        let (zh, trainee) = (
            w.router.catalog().find_tag("lang:zh").unwrap(),
            w.router.catalog().find_tag("trainee").unwrap(),
        );
        let mut specs = BTreeMap::new();
        for (i, &(s, r, z, t)) in agents.iter().enumerate() {
            let id = AgentId(i as u64 + 1);
            let mut spec = AgentSpec::new(id).skill(sizing, s).capacity(Channel::Chat, 1)
                .state(AgentState::Available);
            if r > 0 { spec = spec.skill(returns, r); }
            if z { spec = spec.tag(zh); }
            if t { spec = spec.tag(trainee); }
            w.router.add_agent(Time::ZERO, spec.clone()).unwrap();
            specs.insert(id, spec);
        }
        let mut now = Time::ZERO;
        let mut next_id = 1u64;
        let mut live: BTreeSet<TaskId> = BTreeSet::new();
        let mut prefs: BTreeMap<TaskId, Option<u64>> = BTreeMap::new();
        // The target the router holds for each task: the one of the step last entered.
        let mut held: BTreeMap<TaskId, String> = BTreeMap::new();
        let mut seen: BTreeSet<OfferId> = BTreeSet::new();
        for op in ops {
            match op {
                Op::Arrive { prev, tier } => {
                    let id = TaskId(next_id);
                    next_id += 1;
                    let mut p = Preferences::default();
                    if let Some(a) = prev { p = p.agent(AgentId(a)); }
                    let spec = TaskSpec::new(id, w.acme, Channel::Chat).prefers(p)
                        .customer(CustomerProfile { value_tier: tier, sentiment: 0.0 });
                    drive_arrive(&mut w.flows, &mut w.router, now, spec, "t", BTreeMap::new()).unwrap();
                    live.insert(id);
                    prefs.insert(id, prev);
                }
                Op::Advance(ms) => {
                    now = now.plus_millis(ms);
                    drive_timeout(&mut w.flows, &mut w.router, now).unwrap();
                }
                Op::Accept(i) | Op::Reject(i) => {
                    let offered: Vec<(TaskId, OfferId)> = live.iter().filter_map(|&t| match w.router.task_state(t) {
                        Some(TaskState::Offered(o)) => Some((t, o[0])),
                        _ => None,
                    }).collect();
                    if let Some(&(_, o)) = offered.get(i % offered.len().max(1)) {
                        let (_, a, _) = w.router.offer(o).unwrap();
                        if matches!(op, Op::Accept(_)) {
                            w.router.accept(now, o, a).unwrap();
                        } else {
                            w.router.reject(now, o, a).unwrap();
                        }
                    }
                }
                Op::Complete(i) => {
                    let serving: Vec<TaskId> = live.iter().copied()
                        .filter(|&t| matches!(w.router.task_state(t), Some(TaskState::InService(_))))
                        .collect();
                    if let Some(&t) = serving.get(i % serving.len().max(1)) {
                        w.router.complete(now, t).unwrap();
                        live.remove(&t);
                        w.flows.forget(t);
                    }
                }
                Op::Reload(steps) => {
                    drive_reload(&mut w.flows, &mut w.router, now, make_set(&steps)).unwrap();
                }
            }
            w.router.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Conservation: every task that arrived and was not completed is still live.
            for &t in &live {
                prop_assert!(w.router.task_state(t).is_some(), "task {} lost", t);
            }
            prop_assert_eq!(w.router.live_tasks(), live.len());
            while let Some(e) = w.flows.poll_effect() {
                if let WorkflowEffect::StepEntered { task, workflow, step, .. } = e {
                    let wf = w.flows.workflows().get("acme", &workflow).unwrap();
                    held.insert(task, wf.steps[step].target.clone());
                }
            }
            // Eligibility of every new offer against the expression of the step it was made in
            // (a reload reaches an offered task when it waits again).
            for &t in &live {
                let Some(TaskState::Offered(list)) = w.router.task_state(t) else { continue };
                let src = &held[&t];
                let e = Expr::parse(src).unwrap();
                for o in list {
                    if !seen.insert(o) {
                        continue;
                    }
                    let (_, a, _) = w.router.offer(o).unwrap();
                    let spec = &specs[&a];
                    let p = match prefs[&t] { Some(x) => Preferences::default().agent(AgentId(x)), None => Preferences::default() };
                    let r = Requirements::default();
                    let mut skills = spec.skills.clone();
                    skills.sort_unstable();
                    let mut tags = spec.tags.clone();
                    tags.sort_unstable();
                    let view = AgentView { id: a, kind: spec.kind, skills: &skills, tags: &tags,
                        certifications: &spec.certifications, capacity: spec.capacity, load: [0; Channel::COUNT] };
                    let task = TaskView { tenant: w.acme, channel: Channel::Chat, requirements: &r,
                        preferences: &p, customer: CustomerProfile::default(), priority: Priority::default(), sla_ms: 0 };
                    prop_assert!(e.eval(&view, &task, w.router.catalog()),
                        "task {} ({}) offered to agent {} {:?}", t, src, a, spec);
                }
            }
        }
    }
}
