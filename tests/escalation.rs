//! Escalation: integration with the router, the engine's timers and metrics, and property tests
//! (determinism, hard triggers under any load, monotone score, never owned by nobody, errors
//! change nothing).

use proptest::prelude::*;
use switchboard::escalation::*;
use switchboard::{
    AgentId, AgentSpec, AgentState, Catalog, Channel, Router, RouterConfig, TenantId, Time,
};

fn policy_json(json: &str, catalog: &mut Catalog) -> EscalationPolicy {
    EscalationPolicy::compile(serde_json::from_str(json).unwrap(), catalog).unwrap()
}

#[test]
fn escalation_task_plugs_into_router_arrive_unchanged() {
    let mut router = Router::new(RouterConfig::default()).unwrap();
    let acme = router.catalog_mut().tenant("acme");
    let policy = policy_json(
        r#"{ "routing": { "topics": {
               "refund":   { "skill": "after_sale", "min_level": 3 },
               "pre_sale": { "skill": "sales", "min_level": 2 } } } }"#,
        router.catalog_mut(),
    );
    let after_sale = router.catalog().find_skill("after_sale").unwrap();
    let sales = router.catalog().find_skill("sales").unwrap();
    let t0 = Time::ZERO;
    router
        .add_agent(
            t0,
            AgentSpec::new(AgentId(1))
                .skill(sales, 9)
                .capacity(Channel::Chat, 2)
                .state(AgentState::Available),
        )
        .unwrap();
    router
        .add_agent(
            t0,
            AgentSpec::new(AgentId(2))
                .skill(after_sale, 5)
                .capacity(Channel::Chat, 2)
                .state(AgentState::Available),
        )
        .unwrap();
    router.drain_effects().for_each(drop);

    let mut engine = EscalationEngine::new(
        policy,
        Load::quiet(),
        Vec::new(),
        BuiltinClassifier::new().unwrap(),
    );
    let c = ConversationId(77);
    engine.open(t0, c, acme).unwrap();
    engine
        .observe(
            Time::from_secs(1),
            c,
            Signal::Turn(
                Turn::customer("我要退款")
                    .with(Evidence::Customer {
                        tier: 2,
                        order_value: 899.0,
                    })
                    .with(Evidence::Sentiment {
                        value: -0.6,
                        confidence: 1.0,
                    }),
            ),
        )
        .unwrap();
    let now = Time::from_secs(4);
    let d = engine
        .observe(now, c, Signal::Turn(Turn::customer("退款！转人工")))
        .unwrap();
    assert_eq!(
        d.action,
        Action::Escalate {
            layer: Layer::Hard,
            route: Route::Human
        }
    );
    let Some(Directive::Route(handover)) = d.effects.first() else {
        panic!("no route effect: {:?}", d.effects)
    };
    assert_eq!(handover.goal, Goal::Resolve);
    assert_eq!(handover.task.requirements.skills[0].skill, after_sale);
    assert_eq!(handover.task.customer.value_tier, 2);
    assert!(handover.task.priority.base > 0.0);
    assert_eq!(handover.packet.topics, vec![Topic::Refund]);
    assert_eq!(handover.packet.last_turns.len(), 2);

    // Exactly what the router takes.
    router.arrive(now, handover.task.clone()).unwrap();
    let effects: Vec<switchboard::Effect> = router.drain_effects().collect();
    let offer = effects.iter().find_map(|e| match e {
        switchboard::Effect::Offer { offer, agent, .. } => Some((*offer, *agent)),
        _ => None,
    });
    let (offer, agent) = offer.expect("offered");
    assert_eq!(agent, AgentId(2), "only the after-sale agent qualifies");
    engine
        .observe(
            now,
            c,
            Signal::Queued {
                task: handover.task.id,
            },
        )
        .unwrap();
    router.accept(Time::from_secs(6), offer, agent).unwrap();
    let d = engine
        .observe(Time::from_secs(6), c, Signal::Assigned { agent })
        .unwrap();
    assert_eq!(d.action, Action::Connected);
    let d = engine
        .observe(Time::from_secs(60), c, Signal::HumanReleased)
        .unwrap();
    assert_eq!(d.action, Action::HandBack);
    router
        .complete(Time::from_secs(60), handover.task.id)
        .unwrap();

    // Hand-back, then a new explicit request after the cooldown: the previous agent is preferred
    // and the new task id does not collide with the old one.
    let d = engine
        .observe(
            Time::from_secs(200),
            c,
            Signal::Turn(Turn::customer("human please")),
        )
        .unwrap();
    let Some(Directive::Route(h2)) = d.effects.first() else {
        panic!()
    };
    assert_eq!(h2.task.preferences.preferred_agent, Some(AgentId(2)));
    assert_ne!(h2.task.id, handover.task.id);
    assert_eq!(h2.packet.previous_agent, Some(AgentId(2)));
    router
        .arrive(Time::from_secs(200), h2.task.clone())
        .unwrap();
    assert_eq!(engine.metrics().reopened, 1);
    engine.close(c).unwrap();
    assert_eq!(engine.metrics().escalated_conversations, 1);
}

#[test]
fn pre_sale_goes_to_sales_for_conversion() {
    let mut catalog = Catalog::new();
    let t = catalog.tenant("acme");
    let policy = policy_json(
        r#"{ "hard": { "topics": ["legal", "safety", "pre_sale"] },
             "routing": { "topics": { "pre_sale": { "skill": "sales" } } } }"#,
        &mut catalog,
    );
    let mut engine = EscalationEngine::new(policy, Load::quiet(), (), ());
    engine.open(Time::ZERO, ConversationId(1), t).unwrap();
    let d = engine
        .observe(
            Time::from_secs(1),
            ConversationId(1),
            Signal::Turn(Turn::new(Speaker::Customer).with(Evidence::Topic {
                topic: Topic::PreSale,
                confidence: 0.9,
            })),
        )
        .unwrap();
    let Some(Directive::Route(h)) = d.effects.first() else {
        panic!()
    };
    assert_eq!(h.goal, Goal::Convert);
    assert_eq!(
        h.task.requirements.skills[0].skill,
        catalog.find_skill("sales").unwrap()
    );
}

#[test]
fn engine_timers_metrics_and_capacity_signal() {
    let mut catalog = Catalog::new();
    let t = catalog.tenant("acme");
    let policy = EscalationPolicy::compile(PolicyConfig::default(), &mut catalog).unwrap();
    let mut engine = EscalationEngine::new(
        policy,
        Load {
            projected_wait_ms: 0,
            sla_ms: 0,
            staffed: false,
            in_hours: true,
        },
        Vec::new(),
        BuiltinClassifier::new().unwrap(),
    );
    for id in 1..=3 {
        engine.open(Time::ZERO, ConversationId(id), t).unwrap();
    }
    assert!(matches!(
        engine.open(Time::ZERO, ConversationId(1), t),
        Err(EscalationError::DuplicateConversation(_))
    ));
    // 1 asks while nobody is staffed: callback + capacity request.
    let d = engine
        .observe(
            Time::from_secs(1),
            ConversationId(1),
            Signal::Turn(Turn::customer("转人工")),
        )
        .unwrap();
    assert_eq!(
        d.action,
        Action::Escalate {
            layer: Layer::Hard,
            route: Route::Callback
        }
    );
    assert_eq!(engine.capacity().len(), 1);
    assert_eq!(engine.capacity()[0].reason, CapacityReason::NoHumanStaffed);
    // Staff arrives; 2 escalates to a human and never gets confirmed: the engine's timer fires.
    *engine.load_source_mut() = Load::quiet();
    engine
        .observe(
            Time::from_secs(2),
            ConversationId(2),
            Signal::Turn(Turn::customer("real person")),
        )
        .unwrap();
    let due = engine.poll_timeout().unwrap();
    assert_eq!(due, Time::from_secs(12));
    assert!(engine.handle_timeout(Time::from_secs(11)).is_empty());
    let fired = engine.handle_timeout(due);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].action, Action::Retry);
    // 3 only chats with the bot: contained.
    engine
        .observe(
            Time::from_secs(30),
            ConversationId(3),
            Signal::Turn(Turn::customer("where is my parcel")),
        )
        .unwrap();
    for id in 1..=3 {
        engine.close(ConversationId(id)).unwrap();
    }
    let m = engine.metrics();
    assert_eq!(
        (m.closed, m.contained, m.escalated_conversations),
        (3, 1, 2)
    );
    assert_eq!(m.retries, 1);
    assert!(engine.poll_timeout().is_none());
}

#[test]
fn asked_and_refused_is_not_contained() {
    let mut catalog = Catalog::new();
    let t = catalog.tenant("acme");
    let policy = policy_json(r#"{ "hard": { "clarify_once": true } }"#, &mut catalog);
    let mut engine = EscalationEngine::with_defaults(policy).unwrap();
    engine.open(Time::ZERO, ConversationId(1), t).unwrap();
    let d = engine
        .observe(
            Time::from_secs(1),
            ConversationId(1),
            Signal::Turn(Turn::customer("客服在吗")),
        )
        .unwrap();
    assert_eq!(d.action, Action::Clarify);
    engine.close(ConversationId(1)).unwrap();
    let m = engine.metrics();
    assert_eq!((m.contained, m.refused), (0, 1));
    assert_eq!(m.containment(), Some(0.0));
}

#[test]
fn external_classifier_round_trip() {
    let mut catalog = Catalog::new();
    let t = catalog.tenant("acme");
    let policy = policy_json(
        r#"{ "classifiers": { "external": ["sentiment-llm"] } }"#,
        &mut catalog,
    );
    let ctx_policy = policy;
    let mut conv = Conversation::new(ConversationId(5), t, Time::ZERO);
    let ctx = Context {
        policy: &ctx_policy,
        load: &Load::quiet(),
        classifier: &(),
        guardrail: None,
    };
    let d = conv
        .observe(
            &ctx,
            Time::from_secs(1),
            Signal::Turn(Turn::customer("this is the third time I write")),
        )
        .unwrap();
    let Some(Directive::Classify {
        request,
        classifier,
        ..
    }) = d.effects.first().cloned()
    else {
        panic!()
    };
    assert_eq!(classifier, "sentiment-llm");
    let before = conv.clone();
    assert_eq!(
        conv.observe(
            &ctx,
            Time::from_secs(2),
            Signal::Classified {
                request: request + 1,
                evidence: vec![]
            }
        ),
        Err(EscalationError::UnknownRequest(request + 1))
    );
    assert_eq!(conv, before);
    let d = conv
        .observe(
            &ctx,
            Time::from_secs(2),
            Signal::Classified {
                request,
                evidence: vec![Evidence::Topic {
                    topic: Topic::Legal,
                    confidence: 0.95,
                }],
            },
        )
        .unwrap();
    assert_eq!(
        d.fired,
        vec![Rule::HardTopic {
            topic: Topic::Legal
        }]
    );
    // Answered once only.
    assert!(
        conv.observe(
            &ctx,
            Time::from_secs(3),
            Signal::Classified {
                request,
                evidence: vec![]
            }
        )
        .is_err()
    );
}

#[test]
fn invalid_policy_names_the_path() {
    let mut catalog = Catalog::new();
    for (json, path) in [
        (
            r#"{"hysteresis":{"up_threshold":0.9,"jump_threshold":0.5}}"#,
            "hysteresis.jump_threshold",
        ),
        (
            r#"{"score":{"weights":{"fallbacks":-1}}}"#,
            "score.weights.fallbacks",
        ),
        (
            r#"{"routing":{"topics":{"refund":{"skill":"x","min_level":11}}}}"#,
            "routing.topics.refund.min_level",
        ),
        (
            r#"{"hand_back":{"down_threshold":0.7}}"#,
            "hand_back.down_threshold",
        ),
        (
            r#"{"score":{"topic_risk":{"legal":2}}}"#,
            "score.topic_risk.legal",
        ),
    ] {
        let cfg: PolicyConfig = serde_json::from_str(json).unwrap();
        match EscalationPolicy::compile(cfg, &mut catalog) {
            Err(EscalationError::InvalidConfig { path: p, .. }) => assert_eq!(p, path, "{json}"),
            other => panic!("{json}: {other:?}"),
        }
    }
    // Unknown fields are refused by serde, with the position.
    let err = serde_json::from_str::<PolicyConfig>(r#"{"hysterisis":{}}"#).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `hysterisis`"),
        "{err}"
    );
}

#[test]
fn bad_numbers_and_time_are_refused_without_change() {
    let mut catalog = Catalog::new();
    let t = catalog.tenant("acme");
    let policy = EscalationPolicy::compile(PolicyConfig::default(), &mut catalog).unwrap();
    let mut conv = Conversation::new(ConversationId(1), t, Time::from_secs(10));
    let ctx = Context {
        policy: &policy,
        load: &Load::quiet(),
        classifier: &(),
        guardrail: None,
    };
    let before = conv.clone();
    for e in [
        Evidence::Sentiment {
            value: f64::NAN,
            confidence: 1.0,
        },
        Evidence::Sentiment {
            value: -2.0,
            confidence: 1.0,
        },
        Evidence::Topic {
            topic: Topic::Refund,
            confidence: f64::INFINITY,
        },
        Evidence::Dispute { order_value: -1.0 },
    ] {
        let r = conv.observe(
            &ctx,
            Time::from_secs(11),
            Signal::Turn(Turn::new(Speaker::Customer).with(e)),
        );
        assert!(matches!(r, Err(EscalationError::InvalidNumber { .. })));
        assert_eq!(conv, before);
    }
    assert!(matches!(
        conv.observe(&ctx, Time::from_secs(9), Signal::Tick),
        Err(EscalationError::TimeWentBackwards { .. })
    ));
    assert_eq!(conv, before);
}

// ------------------------------------------------------------------ property tests

fn evidence() -> impl Strategy<Value = Evidence> {
    prop_oneof![
        (-1.0..=1.0f64, 0.0..=1.0f64)
            .prop_map(|(value, confidence)| Evidence::Sentiment { value, confidence }),
        (0.0..=1.0f64).prop_map(|value| Evidence::IntentConfidence { value }),
        Just(Evidence::Fallback),
        (0.0..=1.0f64).prop_map(|similarity| Evidence::Repetition { similarity }),
        (0usize..9, 0.0..=1.0f64).prop_map(|(t, confidence)| Evidence::Topic {
            topic: Topic::ALL[t],
            confidence
        }),
        (0u8..5, 0.0..3000.0f64)
            .prop_map(|(tier, order_value)| Evidence::Customer { tier, order_value }),
        Just(Evidence::NoInput),
        (0.0..0.6f64).prop_map(|confidence| Evidence::ExplicitRequest { confidence }),
    ]
}

fn soft_turn() -> impl Strategy<Value = Signal> {
    (
        prop_oneof![Just(Speaker::Customer), Just(Speaker::Bot)],
        prop::collection::vec(evidence(), 0..3),
    )
        .prop_map(|(speaker, evidence)| {
            Signal::Turn(Turn {
                speaker,
                text: None,
                evidence,
            })
        })
}

fn any_signal() -> impl Strategy<Value = Signal> {
    prop_oneof![
        4 => soft_turn(),
        1 => prop::sample::select(vec!["人工", "hello", "I will sue", "where is my refund", "again where is my refund"])
            .prop_map(|t| Signal::Turn(Turn::customer(t))),
        1 => Just(Signal::Tick),
        1 => (0u64..3).prop_map(|a| Signal::Assigned { agent: AgentId(a) }),
        1 => Just(Signal::TransferFailed { reason: TransferFailure::Rejected }),
        1 => Just(Signal::CustomerCancelled),
        1 => Just(Signal::HumanReleased),
        1 => Just(Signal::HandBackAccepted),
        1 => Just(Signal::HandBackDeclined),
        1 => Just(Signal::Evidence(Evidence::BotError)),
    ]
}

fn load() -> impl Strategy<Value = Load> {
    (0u64..2_000_000, 1u64..600_000).prop_map(|(w, s)| Load {
        projected_wait_ms: w,
        sla_ms: s,
        staffed: true,
        in_hours: true,
    })
}

struct Fixture {
    tenant: TenantId,
    policy: EscalationPolicy,
    classifier: BuiltinClassifier,
}

fn fixture(logistic: bool) -> Fixture {
    let mut catalog = Catalog::new();
    let tenant = catalog.tenant("acme");
    let json = if logistic {
        r#"{"score":{"logistic":{"bias":-3,"scale":6}},"hysteresis":{"up_threshold":0.6,"jump_threshold":0.9}}"#
    } else {
        "{}"
    };
    Fixture {
        tenant,
        policy: policy_json(json, &mut catalog),
        classifier: BuiltinClassifier::new().unwrap(),
    }
}

/// Runs `signals` (spaced 7 s apart), answering `Queued` for every route so timers make sense;
/// returns every result.
fn run(
    f: &Fixture,
    load: &Load,
    signals: &[Signal],
    mut check: impl FnMut(&Conversation, &Conversation, &Result<Decision, EscalationError>),
) -> (Conversation, Vec<Result<Decision, EscalationError>>) {
    let mut conv = Conversation::new(ConversationId(1), f.tenant, Time::ZERO);
    let ctx = Context {
        policy: &f.policy,
        load,
        classifier: &f.classifier,
        guardrail: None,
    };
    let mut out = Vec::new();
    for (i, s) in signals.iter().enumerate() {
        let now = Time::from_secs(7 * (i as u64 + 1));
        let before = conv.clone();
        let r = conv.observe(&ctx, now, s.clone());
        check(&before, &conv, &r);
        if let Ok(d) = &r {
            for e in &d.effects {
                if let Directive::Route(h) = e {
                    let q = conv
                        .observe(&ctx, now, Signal::Queued { task: h.task.id })
                        .unwrap();
                    assert_eq!(q.action, Action::Continue);
                }
            }
        }
        out.push(r);
    }
    (conv, out)
}

/// Brings a conversation back to the bot.
fn to_bot<L: LoadSource>(
    conv: &mut Conversation,
    ctx: &Context<'_, L, BuiltinClassifier>,
    now: Time,
) {
    let s = match conv.owner() {
        Owner::Bot => return,
        Owner::PendingHuman { .. } => Signal::CustomerCancelled,
        Owner::Human { .. } => Signal::HumanReleased,
        Owner::HandBackOffered { .. } => Signal::HandBackAccepted,
    };
    conv.observe(ctx, now, s).unwrap();
    assert_eq!(conv.owner(), &Owner::Bot);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn decisions_are_deterministic(signals in prop::collection::vec(any_signal(), 0..40), load in load(), logistic: bool) {
        let f = fixture(logistic);
        let (a_conv, a) = run(&f, &load, &signals, |_, _, _| {});
        let (b_conv, b) = run(&f, &load, &signals, |_, _, _| {});
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a_conv, &b_conv);
        // And the audit record is stable text.
        let ja: Vec<String> = a.iter().flatten().map(|d| serde_json::to_string(d).unwrap()).collect();
        let jb: Vec<String> = b.iter().flatten().map(|d| serde_json::to_string(d).unwrap()).collect();
        prop_assert_eq!(ja, jb);
    }

    #[test]
    fn never_owned_by_nobody_and_errors_change_nothing(signals in prop::collection::vec(any_signal(), 0..60), load in load()) {
        let f = fixture(false);
        let (conv, _) = run(&f, &load, &signals, |before, after, r| {
            match r {
                Err(_) => assert_eq!(before, after, "an error changed the conversation"),
                Ok(d) => {
                    assert_eq!(&d.owner, after.owner());
                    match after.owner() {
                        Owner::Bot => assert!(after.poll_timeout().is_none()),
                        Owner::PendingHuman { since, ack_deadline, assign_deadline, .. } => {
                            assert!(ack_deadline > since && assign_deadline > since);
                            assert!(after.poll_timeout().is_some(), "pending without a deadline");
                        }
                        Owner::Human { .. } => {}
                        Owner::HandBackOffered { deadline, .. } => {
                            assert!(after.poll_timeout() == Some(*deadline));
                        }
                    }
                }
            }
        });
        // Whatever happened, following the deadlines always ends in a definite owner.
        let _ = conv.owner().name();
    }

    #[test]
    fn hard_trigger_always_escalates_regardless_of_load(
        prefix in prop::collection::vec(soft_turn(), 0..25),
        load_a in load(),
        load_b in load(),
        trigger in 0usize..5,
    ) {
        let f = fixture(false);
        let hard = match trigger {
            0 => Signal::Turn(Turn::customer("转人工")),
            1 => Signal::Turn(Turn::new(Speaker::Bot).with(Evidence::BotError)),
            2 => Signal::Turn(Turn::new(Speaker::Customer).with(Evidence::Topic { topic: Topic::Legal, confidence: 1.0 })),
            3 => Signal::Turn(Turn::new(Speaker::Customer).with(Evidence::Dispute { order_value: 10_000.0 })),
            _ => Signal::Turn(Turn::customer("I want to talk to a real person")),
        };
        let mut actions = Vec::new();
        for load in [load_a, load_b] {
            let (mut conv, _) = run(&f, &load, &prefix, |_, _, _| {});
            let ctx = Context { policy: &f.policy, load: &load, classifier: &f.classifier, guardrail: None };
            let now = Time::from_secs(10_000);
            to_bot(&mut conv, &ctx, now);
            let d = conv.observe(&ctx, now, hard.clone()).unwrap();
            prop_assert!(d.fired.iter().any(|r| matches!(r, Rule::ExplicitRequest | Rule::BotError | Rule::HardTopic { .. } | Rule::Dispute { .. })), "{:?}", d.fired);
            actions.push(d.action);
        }
        let expected = Action::Escalate { layer: Layer::Hard, route: Route::Human };
        prop_assert_eq!(actions[0], expected);
        prop_assert_eq!(actions[1], expected);
    }

    #[test]
    fn more_negative_evidence_never_lowers_the_score(
        prefix in prop::collection::vec(soft_turn(), 0..20),
        last in prop::collection::vec(evidence(), 0..3),
        extra in 0usize..5,
        logistic: bool,
        load in load(),
    ) {
        let f = fixture(logistic);
        let more = match extra {
            0 => Evidence::Sentiment { value: -1.0, confidence: 1.0 },
            1 => Evidence::Fallback,
            2 => Evidence::Repetition { similarity: 1.0 },
            3 => Evidence::NoInput,
            _ => Evidence::Topic { topic: Topic::Complaint, confidence: 1.0 },
        };
        let mut with_more = last.clone();
        with_more.push(more.clone());
        let mut scores = Vec::new();
        for ev in [last, with_more] {
            let mut signals = prefix.clone();
            signals.push(Signal::Turn(Turn { speaker: Speaker::Customer, text: None, evidence: ev }));
            let (_, out) = run(&f, &load, &signals, |_, _, _| {});
            scores.push(out.last().unwrap().as_ref().unwrap().score);
        }
        prop_assert!(scores[1] >= scores[0] - 1e-12, "{} < {}", scores[1], scores[0]);

        // Counting evidence (not sentiment, whose trend recovers) added to any earlier customer
        // turn never lowers the final score either.
        if extra != 0 && !prefix.is_empty() {
            let mut changed = prefix.clone();
            let i = prefix.len() / 2;
            if let Signal::Turn(t) = &mut changed[i] {
                t.evidence.push(more);
            }
            let (_, a) = run(&f, &load, &prefix, |_, _, _| {});
            let (_, b) = run(&f, &load, &changed, |_, _, _| {});
            let sa = a.last().unwrap().as_ref().unwrap().score;
            let sb = b.last().unwrap().as_ref().unwrap().score;
            prop_assert!(sb >= sa - 1e-12, "{} < {}", sb, sa);
        }
    }
}

#[test]
fn hard_trigger_while_pending_raises_the_queued_task() {
    let mut router = Router::new(RouterConfig::default()).unwrap();
    let acme = router.catalog_mut().tenant("acme");
    let policy = EscalationPolicy::compile(PolicyConfig::default(), router.catalog_mut()).unwrap();
    let mut engine = EscalationEngine::with_defaults(policy).unwrap();
    let (a, b) = (ConversationId(1), ConversationId(2));
    engine.open(Time::ZERO, a, acme).unwrap();
    engine.open(Time::ZERO, b, acme).unwrap();
    // Every decision's routing effects go to the router, like a host would apply them.
    let apply = |router: &mut Router, engine: &mut EscalationEngine, d: &Decision, now: Time| {
        for e in &d.effects {
            match e {
                Directive::Route(h) => {
                    router.arrive(now, h.task.clone()).unwrap();
                    engine
                        .observe(now, d.conversation, Signal::Queued { task: h.task.id })
                        .unwrap();
                }
                Directive::Reprioritize {
                    task,
                    priority,
                    customer,
                } => router
                    .reprioritize(now, *task, *priority, *customer)
                    .unwrap(),
                _ => {}
            }
        }
    };
    // A escalates softly (two very unhappy turns), B by an explicit request (hard, class 1).
    let angry = || {
        Signal::Turn(
            Turn::new(Speaker::Customer)
                .with(Evidence::Sentiment {
                    value: -1.0,
                    confidence: 1.0,
                })
                .with(Evidence::Topic {
                    topic: Topic::Complaint,
                    confidence: 1.0,
                }),
        )
    };
    engine.observe(Time::from_secs(1), a, angry()).unwrap();
    let d = engine.observe(Time::from_secs(2), a, angry()).unwrap();
    assert_eq!(
        d.action,
        Action::Escalate {
            layer: Layer::Soft,
            route: Route::Human
        }
    );
    apply(&mut router, &mut engine, &d, Time::from_secs(2));
    let Owner::PendingHuman { task: task_a, .. } = engine.conversation(a).unwrap().owner().clone()
    else {
        panic!("pending")
    };
    let d = engine
        .observe(
            Time::from_secs(3),
            b,
            Signal::Turn(Turn::customer("转人工")),
        )
        .unwrap();
    apply(&mut router, &mut engine, &d, Time::from_secs(3));
    let Owner::PendingHuman { task: task_b, .. } = engine.conversation(b).unwrap().owner().clone()
    else {
        panic!("pending")
    };
    let now = Time::from_secs(4);
    let (class_a, _) = router.task_priority_at(task_a, now).unwrap();
    let (class_b, _) = router.task_priority_at(task_b, now).unwrap();
    assert_eq!((class_a, class_b), (0, 1), "soft below hard");

    // While A waits, the customer threatens legal action: a hard trigger. The task moves up.
    let d = engine
        .observe(
            now,
            a,
            Signal::Turn(Turn::customer("I will call my lawyer and sue you")),
        )
        .unwrap();
    assert_eq!(d.action, Action::Continue);
    assert_eq!(d.owner.name(), "pending_human");
    let names: Vec<&str> = d.fired.iter().map(Rule::name).collect();
    assert_eq!(names, ["hard_topic", "already_pending", "priority_raised"]);
    let Some(Directive::Reprioritize { task, priority, .. }) = d.effects.first().cloned() else {
        panic!("{:?}", d.effects)
    };
    assert_eq!(task, task_a);
    assert_eq!(priority.class, 1);
    assert!(priority.base >= 10.0, "{priority:?}"); // + routing.pending_hard_boost
    assert!(matches!(
        d.effects.last(),
        Some(Directive::Notify(Notice::HumanPending { .. }))
    ));
    apply(&mut router, &mut engine, &d, now);
    let (class_a, score_a) = router.task_priority_at(task_a, now).unwrap();
    let (_, score_b) = router.task_priority_at(task_b, now).unwrap();
    assert_eq!(class_a, 1);
    assert!(score_a > score_b, "{score_a} vs {score_b}");

    // The same kind of trigger again does not keep jumping the queue; another kind does.
    let again = engine
        .observe(
            Time::from_secs(5),
            a,
            Signal::Turn(Turn::customer("my lawyer will sue")),
        )
        .unwrap();
    assert!(
        !again
            .effects
            .iter()
            .any(|e| matches!(e, Directive::Reprioritize { .. })),
        "{:?}",
        again.effects
    );
    let ask = engine
        .observe(
            Time::from_secs(6),
            a,
            Signal::Turn(Turn::customer("人工！")),
        )
        .unwrap();
    let Some(Directive::Reprioritize { priority: p2, .. }) = ask.effects.first().cloned() else {
        panic!("{:?}", ask.effects)
    };
    assert!(p2.base > priority.base);
    apply(&mut router, &mut engine, &ask, Time::from_secs(6));
    assert_eq!(engine.metrics().raised, 2);

    // A free agent takes A's task first, though B was queued as hard from the start.
    router
        .add_agent(
            Time::from_secs(7),
            AgentSpec::new(AgentId(1))
                .capacity(Channel::Chat, 1)
                .state(AgentState::Available),
        )
        .unwrap();
    let offered: Vec<_> = router
        .drain_effects()
        .filter_map(|e| match e {
            switchboard::Effect::Offer { task, .. } => Some(task),
            _ => None,
        })
        .collect();
    assert_eq!(offered, [task_a]);

    // A failed transfer is retried with the raised priority, not the original soft one.
    let d = engine
        .observe(
            Time::from_secs(8),
            a,
            Signal::TransferFailed {
                reason: TransferFailure::Rejected,
            },
        )
        .unwrap();
    assert_eq!(d.action, Action::Retry);
    let Some(Directive::Route(h)) = d.effects.first() else {
        panic!("{:?}", d.effects)
    };
    assert_eq!((h.task.priority.class, h.task.priority.base), (1, p2.base));
}
