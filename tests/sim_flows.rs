//! The simulator running the library's own workflow and escalation engines: tasks follow their
//! workflow's steps and exception rules inside a simulated day, and bot conversations are
//! decided turn by turn by the escalation engine, which sees the simulated pool's load.

use std::collections::BTreeMap;
use switchboard::escalation::PolicyConfig;
use switchboard::ledger::Fate;
use switchboard::policy::PolicySet;
use switchboard::sim::{
    self, AgentGroup, BotModel, Dist, PolicySource, Scenario, SimError, SimRun, Stream,
};
use switchboard::{AgentId, Channel};

fn policy(json: &str) -> Option<PolicySource> {
    Some(PolicySource::Inline(Box::new(
        PolicySet::from_json_str(json).expect("policy parses"),
    )))
}

fn group(name: &str, count: u32, skill: &str, level: u8) -> AgentGroup {
    AgentGroup {
        name: name.into(),
        count,
        skills: [(skill.to_owned(), level)].into_iter().collect(),
        ..Default::default()
    }
}

fn answered_waits(run: &SimRun) -> Vec<(AgentId, u64)> {
    run.ledger
        .records()
        .iter()
        .filter_map(|r| match (r.fate, r.agent) {
            (Fate::Answered(w), Some(a)) => Some((a, w)),
            _ => None,
        })
        .collect()
}

fn cancelled(run: &SimRun) -> u64 {
    run.ledger
        .records()
        .iter()
        .filter(|r| matches!(r.fate, Fate::Cancelled(_)))
        .count() as u64
}

const WIDENING: &str = r#"{
  "version": "t1",
  "skills": [{"name": "sizing"}],
  "tenants": [{"name": "acme"}],
  "workflows": {"presale": {"steps": [
    {"name": "specialists", "target": "skill(\"sizing\") >= 8", "timeout_ms": 30000},
    {"name": "anyone", "target": "has_skill(\"sizing\")"}
  ]}}
}"#;

fn widening(workflow: bool) -> Scenario {
    let mut s = Stream {
        tenant: "acme".into(),
        name: "presale".into(),
        per_hour: 150.0,
        service: Dist::Exponential { mean_secs: 120.0 },
        ..Default::default()
    };
    if workflow {
        s.workflow = Some("presale".into());
    } else {
        s.requires = [("sizing".to_owned(), 1)].into_iter().collect();
    }
    Scenario {
        seed: 3,
        duration_hours: 3.0,
        accept_delay: Dist::Fixed { secs: 0.0 },
        // Agents 0 and 1 are the specialists, 2.. the generalists.
        pool: vec![
            group("specialists", 2, "sizing", 9),
            group("generalists", 10, "sizing", 3),
        ],
        traffic: vec![s],
        policy: workflow.then(|| policy(WIDENING)).flatten(),
        ..Default::default()
    }
}

#[test]
fn workflow_steps_widen_inside_the_simulation() {
    let run = sim::run(&widening(true)).expect("runs");
    let waits = answered_waits(&run);
    let by_generalist: Vec<u64> = waits
        .iter()
        .filter(|(a, _)| a.0 >= 2)
        .map(|&(_, w)| w)
        .collect();
    let by_specialist = waits.len() - by_generalist.len();
    // Specialists serve ~60 an hour of the 150: the rest widen to the generalists, never
    // before the first step's 30 s timeout.
    assert!(by_generalist.len() > 50, "{} widened", by_generalist.len());
    assert!(by_specialist > 50, "{by_specialist} by specialists");
    assert!(
        by_generalist.iter().all(|&w| w >= 30_000),
        "a generalist answered before the step timed out: {:?}",
        by_generalist.iter().min()
    );
    assert!(waits.iter().any(|&(a, w)| a.0 < 2 && w < 30_000));
    // The same traffic without the workflow: generalists answer at once.
    let plain = sim::run(&widening(false)).expect("runs");
    assert!(
        answered_waits(&plain)
            .iter()
            .any(|&(a, w)| a.0 >= 2 && w < 30_000)
    );
}

#[test]
fn workflow_callback_rule_withdraws_long_waits() {
    let p = r#"{
      "version": "t2",
      "skills": [{"name": "returns"}],
      "tenants": [{"name": "acme"}],
      "workflows": {"aftersale": {
        "steps": [{"target": "has_skill(\"returns\")"}],
        "exceptions": [{"name": "call back", "when": {"wait_over_ms": 60000}, "action": "callback"}]
      }}
    }"#;
    let sc = Scenario {
        seed: 5,
        duration_hours: 2.0,
        accept_delay: Dist::Fixed { secs: 0.0 },
        pool: vec![group("team", 3, "returns", 5)],
        traffic: vec![Stream {
            tenant: "acme".into(),
            name: "aftersale".into(),
            per_hour: 90.0,
            service: Dist::Exponential { mean_secs: 300.0 },
            workflow: Some("aftersale".into()),
            ..Default::default()
        }],
        policy: policy(p),
        ..Default::default()
    };
    let run = sim::run(&sc).expect("runs");
    let t = &run.report.tenants[0];
    assert!(t.callbacks > 10, "{} callbacks", t.callbacks);
    assert_eq!(t.callbacks, cancelled(&run));
    assert_eq!(
        t.offered,
        t.answered + t.abandoned + t.unfinished + t.callbacks
    );
    assert!(answered_waits(&run).iter().all(|&(_, w)| w <= 60_000));
    assert!(run.report.to_text().contains("callback"));
}

fn bot_scenario(bot: BotModel, escalation: &str, agents: u32, per_hour: f64) -> Scenario {
    Scenario {
        seed: 9,
        duration_hours: 3.0,
        pool: vec![group("team", agents, "support", 5)],
        traffic: vec![Stream {
            tenant: "acme".into(),
            name: "chat".into(),
            per_hour,
            requires: [("support".to_owned(), 1)].into_iter().collect(),
            service: Dist::Exponential { mean_secs: 300.0 },
            bot: Some(bot),
            ..Default::default()
        }],
        escalation: Some(serde_json::from_str::<PolicyConfig>(escalation).expect("policy")),
        ..Default::default()
    }
}

fn calm() -> BotModel {
    BotModel {
        mean_turns: 3.0,
        ask_human: 0.0,
        fallback: 0.0,
        sentiment_start: 0.3,
        sentiment_drift: 0.0,
        sentiment_noise: 0.0,
        intent_confidence: 0.9,
        ..Default::default()
    }
}

#[test]
fn bot_conversations_are_decided_by_the_escalation_engine() {
    // Everyone asks for a human at the first turn: every conversation escalates (hard).
    let all = BotModel {
        ask_human: 1.0,
        ..calm()
    };
    let run = sim::run(&bot_scenario(all, r#"{"version": "e1"}"#, 60, 200.0)).expect("runs");
    let t = &run.report.tenants[0];
    assert!(t.conversations > 400);
    assert_eq!((t.contained, t.refused, t.offline), (0, 0, 0));
    assert_eq!(t.offered, t.conversations);
    let m = run.report.escalation.as_ref().expect("engine metrics");
    assert_eq!(m.hard_escalations, t.conversations);
    // With one clarifying offer first, the escalation comes at the second request.
    let run = sim::run(&bot_scenario(
        BotModel {
            ask_human: 1.0,
            ask_again: 1.0,
            ..calm()
        },
        r#"{"version": "e1", "hard": {"clarify_once": true}}"#,
        60,
        200.0,
    ))
    .expect("runs");
    let m = run.report.escalation.as_ref().expect("engine metrics");
    assert!(m.clarifications > 0);
    // Conversations of one turn end before the second request: refused, not escalated.
    let t = &run.report.tenants[0];
    assert!(t.refused > 0 && t.offered > 0);
    assert_eq!(t.contained, 0);
    // Nobody asks, nothing goes wrong: the bot contains everything.
    let run = sim::run(&bot_scenario(calm(), r#"{"version": "e1"}"#, 60, 200.0)).expect("runs");
    let t = &run.report.tenants[0];
    assert_eq!(t.contained, t.conversations);
    assert_eq!(t.offered, 0);
    assert_eq!(t.containment, Some(1.0));
}

#[test]
fn load_gating_sees_the_simulated_queue() {
    // Unhappy customers and a struggling bot: soft escalations. No explicit requests and no
    // fallback-loop trigger, so only the soft layer (which load gating shifts) decides.
    let unhappy = BotModel {
        mean_turns: 6.0,
        ask_human: 0.0,
        fallback: 0.3,
        sentiment_start: 0.0,
        sentiment_drift: -0.12,
        sentiment_noise: 0.1,
        intent_confidence: 0.45,
        ..Default::default()
    };
    let esc = r#"{"version": "e2", "hard": {"max_consecutive_fallbacks": null},
                 "load": {"slope": 0.2, "max_raise": 0.45}}"#;
    let small = sim::run(&bot_scenario(unhappy.clone(), esc, 3, 400.0)).expect("runs");
    let big = sim::run(&bot_scenario(unhappy, esc, 150, 400.0)).expect("runs");
    let (s, b) = (&small.report.tenants[0], &big.report.tenants[0]);
    assert!(b.offered > 100, "{} escalations with a big pool", b.offered);
    assert_eq!(
        b.held_back, 0,
        "nothing held back when humans answer at once"
    );
    assert!(
        s.held_back > 0,
        "an overloaded pool holds soft escalations back"
    );
    assert!(
        s.escalation_rate < b.escalation_rate,
        "{:?} vs {:?}",
        s.escalation_rate,
        b.escalation_rate
    );
}

#[test]
fn pending_human_timeout_becomes_a_callback() {
    let asks = BotModel {
        ask_human: 1.0,
        ..calm()
    };
    let esc = r#"{"version": "e3", "pending": {"assign_timeout_ms": 60000}}"#;
    let mut sc = bot_scenario(asks, esc, 1, 60.0);
    sc.accept_delay = Dist::Fixed { secs: 0.0 };
    let run = sim::run(&sc).expect("runs");
    let t = &run.report.tenants[0];
    assert!(t.callbacks > 10, "{} callbacks", t.callbacks);
    assert_eq!(t.callbacks, cancelled(&run));
    assert_eq!(t.offline, 0);
    assert_eq!(t.conversations, t.offered);
    assert!(answered_waits(&run).iter().all(|&(_, w)| w <= 60_000));
}

#[test]
fn bundled_workflow_day_is_deterministic_and_conserves_requests() {
    let sc = Scenario::from_path("examples/scenarios/workflow_day.json").expect("loads");
    let a = sim::run(&sc).expect("runs");
    let b = sim::run(&sc).expect("runs");
    assert_eq!(a.report, b.report);
    let mut escalated = 0;
    for t in &a.report.tenants {
        assert_eq!(
            t.offered,
            t.answered + t.abandoned + t.unfinished + t.callbacks,
            "{}",
            t.tenant
        );
        escalated += t.offered;
    }
    // Every conversation the report counts reached the ledger's AI outcomes once (contained,
    // refused, or escalated live or offline), and nothing else did.
    let ai: u64 = a
        .ledger
        .report(switchboard::Time::from_secs(4 * 3600))
        .ai_tenants
        .iter()
        .map(|s| s.conversations)
        .sum();
    assert_eq!(ai, a.report.total.conversations);
    assert!(escalated > 1000);
    assert!(a.report.escalation.is_some());
    assert_eq!(a.ledger.unknown_effects(), 0);
}

#[test]
fn scenario_files_name_their_policy_relative_to_themselves() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("scenarios")).expect("mkdir");
    std::fs::write(dir.path().join("policy.json"), WIDENING).expect("write");
    let mut sc = widening(true);
    sc.policy = Some(PolicySource::Path("../policy.json".into()));
    let path = dir.path().join("scenarios/s.json");
    std::fs::write(&path, serde_json::to_string(&sc).expect("json")).expect("write");
    let loaded = Scenario::from_path(&path).expect("loads");
    assert_eq!(loaded, widening(true));
    // Not loaded through from_path: the run says what to do.
    let err = sim::run(&sc).unwrap_err();
    assert!(
        matches!(&err, SimError::Scenario(m) if m.contains("from_path")),
        "{err}"
    );
    // A missing policy file is named.
    sc.policy = Some(PolicySource::Path("../nope.toml".into()));
    std::fs::write(&path, serde_json::to_string(&sc).expect("json")).expect("write");
    let err = Scenario::from_path(&path).unwrap_err();
    assert!(err.to_string().contains("nope.toml"), "{err}");
}

#[test]
fn invalid_combinations_name_the_field() {
    let cases: Vec<(Scenario, &str)> = vec![
        (
            {
                let mut s = widening(true);
                s.policy = None;
                s
            },
            "traffic[0].workflow",
        ),
        (
            {
                let mut s = widening(true);
                s.router.offer_timeout_ms = 5_000;
                s
            },
            "router: with a policy",
        ),
        (
            {
                let mut s = widening(true);
                s.pool[0].skills.insert("sizng".into(), 5);
                s
            },
            "pool[0].skills.sizng",
        ),
        (
            {
                let mut s = widening(true);
                s.traffic[0].workflow = Some("refund".into());
                s
            },
            "no workflow \"refund\"",
        ),
        (
            {
                let mut s = bot_scenario(calm(), r#"{"version": "x"}"#, 1, 1.0);
                s.escalation = None;
                s
            },
            "traffic[0].bot",
        ),
        (
            {
                let mut s = bot_scenario(calm(), r#"{"version": "x"}"#, 1, 1.0);
                s.traffic[0].ai_containment = 0.5;
                s
            },
            "leave out ai_containment",
        ),
        (
            {
                let mut s = bot_scenario(calm(), r#"{"version": "x"}"#, 1, 1.0);
                if let Some(b) = &mut s.traffic[0].bot {
                    b.mean_turns = 0.5;
                }
                s
            },
            "traffic[0].bot.mean_turns",
        ),
        (
            {
                let mut s = widening(true);
                s.traffic[0].tiers = vec![0.0, 0.0];
                s
            },
            "traffic[0].tiers",
        ),
        (
            {
                let mut s = widening(false);
                s.traffic[0].requires.insert("sizing".into(), 0);
                s
            },
            "traffic[0].requires.sizing: level must be 1..=10",
        ),
        (
            {
                // A typo in a multiplier would ask for arrivals faster than time advances.
                let mut s = widening(false);
                s.traffic[0].profile = sim::Profile::Steps {
                    minutes: 15.0,
                    factors: vec![1e65, 1.0],
                };
                s
            },
            "traffic[0]: per_hour × the profile's largest multiplier",
        ),
        (
            {
                let mut s = widening(true);
                s.traffic[0].attributes.insert(
                    "lang".into(),
                    sim::AttrChoice::Weighted(BTreeMap::from([("zh".into(), -1.0)])),
                );
                s
            },
            "traffic[0].attributes.lang",
        ),
    ];
    for (sc, want) in cases {
        let err = sim::run(&sc).unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should mention {want:?}");
    }
    // Bots are a pool kind too.
    let g: AgentGroup = serde_json::from_str(
        r#"{"name": "assistant", "count": 1, "kind": "bot", "channels": {"chat": 500}}"#,
    )
    .expect("parses");
    assert_eq!(g.kind, switchboard::AgentKind::Bot);
    assert_eq!(g.channels[&Channel::Chat], 500);
}

/// A workflow's callback rule and the escalation engine's pending-human timeout can fall due at
/// the same millisecond for one request: it is withdrawn and called back once (found by the
/// `scenario` fuzz target).
#[test]
fn one_callback_when_workflow_and_engine_time_out_together() {
    let p = r#"{
      "version": "t3",
      "skills": [{"name": "support"}, {"name": "rare"}],
      "tenants": [{"name": "acme"}],
      "workflows": {"chat": {
        "steps": [{"target": "skill(\"rare\") >= 9"}],
        "exceptions": [{"name": "call back", "when": {"wait_over_ms": 60000}, "action": "callback"}]
      }}
    }"#;
    let mut sc = bot_scenario(
        BotModel {
            ask_human: 1.0,
            ..calm()
        },
        r#"{"version": "e4", "pending": {"assign_timeout_ms": 60000}}"#,
        5,
        120.0,
    );
    sc.policy = policy(p);
    sc.traffic[0].requires.clear();
    sc.traffic[0].workflow = Some("chat".into());
    let run = sim::run(&sc).expect("runs");
    let t = &run.report.tenants[0];
    assert!(t.offered > 100);
    assert_eq!(t.answered, 0, "nobody has the rare skill");
    assert_eq!(
        t.offered,
        t.answered + t.abandoned + t.unfinished + t.callbacks
    );
    assert_eq!(t.callbacks, cancelled(&run));
}

/// With a policy, the router's tenant ids follow the policy's tenant list, not the order the
/// traffic names them in: every row of the report still belongs to its tenant (found by the
/// `scenario` fuzz target).
#[test]
fn report_rows_follow_tenant_names_not_policy_order() {
    let p = r#"{
      "version": "t4",
      "skills": [{"name": "support"}],
      "tenants": [{"name": "alpha"}, {"name": "beta"}],
      "workflows": {"chat": {"steps": [{"target": "has_skill(\"support\")"}]}}
    }"#;
    let stream = |tenant: &str, per_hour| Stream {
        tenant: tenant.into(),
        name: "chat".into(),
        per_hour,
        workflow: Some("chat".into()),
        ..Default::default()
    };
    let sc = Scenario {
        seed: 1,
        duration_hours: 2.0,
        pool: vec![group("team", 80, "support", 5)],
        traffic: vec![stream("beta", 600.0), stream("alpha", 30.0)],
        policy: policy(p),
        ..Default::default()
    };
    let run = sim::run(&sc).expect("runs");
    let row = |name: &str| {
        run.report
            .tenants
            .iter()
            .find(|t| t.tenant == name)
            .expect("row")
            .clone()
    };
    let (alpha, beta) = (row("alpha"), row("beta"));
    assert!(
        beta.offered > 900 && alpha.offered < 150,
        "{alpha:?} {beta:?}"
    );
    assert_eq!(
        alpha.offered + beta.offered,
        run.ledger.records().len() as u64
    );
}

/// The policy's pool stands in for an empty scenario pool; a group without any capacity cannot
/// work in the simulation and is named as the problem, not a router failure (found by the
/// `scenario` fuzz target).
#[test]
fn policy_pool_needs_capacity() {
    let with_pool = |capacity: &str| {
        format!(
            r#"{{"version": "t5", "skills": [{{"name": "sizing"}}], "tenants": [{{"name": "acme"}}],
                "workflows": {{"presale": {{"steps": [{{"target": "has_skill(\"sizing\")"}}]}}}},
                "pool": {{"groups": [{{"count": 4, "skills": {{"sizing": 5}}{capacity}}}]}}}}"#
        )
    };
    let mut sc = widening(true);
    sc.pool.clear();
    sc.policy = policy(&with_pool(""));
    let err = sim::run(&sc).unwrap_err();
    assert!(
        matches!(&err, SimError::Scenario(m) if m.contains("policy.pool")),
        "{err}"
    );
    sc.policy = policy(&with_pool(r#", "capacity": {"chat": 2}"#));
    let run = sim::run(&sc).expect("runs on the policy's pool");
    assert!(run.report.tenants[0].answered > 100);
}
