//! Unit tests for every edge of the offer lifecycle.

mod common;
use common::*;
use switchboard::*;

#[test]
fn accept_then_complete_frees_capacity() {
    let mut w = World::default();
    w.chat_agent(t(0), 1, 5, 1);
    let (o, task, agent) = only_offer(&w.arrive(t(1), w.chat_task(10, 3)));
    assert_eq!((task, agent), (TaskId(10), AgentId(1)));
    assert_eq!(w.router.agent_load(AgentId(1), Channel::Chat), Some(1));
    w.router.accept(t(2), o, AgentId(1)).unwrap();
    assert_eq!(
        w.take(),
        vec![Effect::Assigned {
            task,
            agent,
            offer: o
        }]
    );
    w.router.complete(t(3), task).unwrap();
    assert_eq!(w.take(), vec![Effect::Completed { task, agent }]);
    assert_eq!(w.router.agent_load(AgentId(1), Channel::Chat), Some(0));
    assert_eq!(w.router.task_state(task), None);
}

#[test]
fn double_accept_is_refused_and_changes_nothing() {
    let mut w = World::default();
    w.chat_agent(t(0), 1, 5, 2);
    let (o, _, _) = only_offer(&w.arrive(t(1), w.chat_task(10, 3)));
    w.router.accept(t(2), o, AgentId(1)).unwrap();
    w.take();
    let before = w.router.snapshot(t(2));
    assert_eq!(
        w.router.accept(t(2), o, AgentId(1)),
        Err(RouterError::UnknownOffer(o))
    );
    assert_eq!(
        w.router.reject(t(2), o, AgentId(1)),
        Err(RouterError::UnknownOffer(o))
    );
    assert_eq!(w.router.snapshot(t(2)), before);
    assert!(w.take().is_empty());
    assert_eq!(w.router.agent_load(AgentId(1), Channel::Chat), Some(1));
}

#[test]
fn accept_after_expiry_is_refused_before_and_after_the_timer_runs() {
    let mut w = World::new(RouterConfig {
        offer_timeout_ms: 10_000,
        ..RouterConfig::default()
    });
    w.chat_agent(t(0), 1, 5, 1);
    let (o, task, _) = only_offer(&w.arrive(t(0), w.chat_task(10, 3)));
    // At the lease end, before handle_timeout: refused, nothing changes.
    let err = w.router.accept(t(10), o, AgentId(1)).unwrap_err();
    assert!(matches!(err, RouterError::OfferExpired { offer, .. } if offer == o));
    assert_eq!(w.router.task_state(task), Some(TaskState::Offered(vec![o])));
    assert_eq!(w.router.poll_timeout(), Some(t(10)));
    w.router.handle_timeout(t(10)).unwrap();
    let e = w.take();
    assert_eq!(
        e[0],
        Effect::OfferExpired {
            offer: o,
            task,
            agent: AgentId(1)
        }
    );
    assert!(matches!(
        e[1],
        Effect::Queued {
            reason: QueueReason::Expired,
            ..
        }
    ));
    assert_eq!(
        w.router.accept(t(11), o, AgentId(1)),
        Err(RouterError::UnknownOffer(o))
    );
    assert_eq!(w.router.counters().expired, 1);
}

#[test]
fn answer_by_the_wrong_agent_is_refused() {
    let mut w = World::default();
    w.chat_agent(t(0), 1, 5, 1);
    w.chat_agent(t(0), 2, 5, 1);
    let (o, _, agent) = only_offer(&w.arrive(t(1), w.chat_task(10, 3)));
    let other = if agent == AgentId(1) {
        AgentId(2)
    } else {
        AgentId(1)
    };
    assert_eq!(
        w.router.accept(t(2), o, other),
        Err(RouterError::WrongAgent {
            offer: o,
            expected: agent,
            got: other
        })
    );
    assert_eq!(
        w.router.accept(t(2), o, AgentId(99)),
        Err(RouterError::UnknownAgent(AgentId(99)))
    );
    w.router.accept(t(2), o, agent).unwrap();
}

#[test]
fn agent_removed_while_holding_an_offer() {
    let mut w = World::default();
    w.chat_agent(t(0), 1, 9, 1);
    let (o, task, agent) = only_offer(&w.arrive(t(1), w.chat_task(10, 3)));
    assert_eq!(agent, AgentId(1));
    w.router.remove_agent(t(2), AgentId(1)).unwrap();
    let e = w.take();
    assert!(matches!(
        e[0],
        Effect::OfferRescinded {
            reason: RescindReason::AgentUnavailable,
            ..
        }
    ));
    assert!(matches!(
        e[1],
        Effect::Queued {
            reason: QueueReason::Rescinded,
            ..
        }
    ));
    assert_eq!(w.router.task_state(task), Some(TaskState::Waiting));
    assert_eq!(
        w.router.accept(t(3), o, AgentId(1)),
        Err(RouterError::UnknownAgent(AgentId(1)))
    );
    // A new agent picks it up at once.
    w.chat_agent(t(4), 2, 5, 1);
    let (_, task2, agent2) = only_offer(&w.take_log_tail(1));
    assert_eq!((task2, agent2), (task, AgentId(2)));
}

#[test]
fn time_going_backwards_is_refused_everywhere() {
    let mut w = World::default();
    w.chat_agent(t(10), 1, 5, 1);
    let err = RouterError::TimeWentBackwards {
        last: t(10),
        now: t(9),
    };
    assert_eq!(w.router.arrive(t(9), w.chat_task(1, 1)), Err(err.clone()));
    assert_eq!(w.router.handle_timeout(t(9)), Err(err.clone()));
    assert_eq!(
        w.router.set_agent_state(t(9), AgentId(1), AgentState::Away),
        Err(err)
    );
    assert_eq!(w.router.live_tasks(), 0);
    assert_eq!(
        w.router.agent_state(AgentId(1)),
        Some(AgentState::Available)
    );
}

#[test]
fn rejected_task_keeps_its_place_and_the_decliner_backs_off() {
    let cfg = RouterConfig {
        decline_backoff_ms: 30_000,
        ..RouterConfig::default()
    };
    let mut w = World::new(cfg);
    w.chat_agent(t(0), 1, 5, 1);
    let (o1, _, _) = only_offer(&w.arrive(t(0), w.chat_task(10, 3)));
    // Two later tasks queue behind.
    assert!(offers(&w.arrive(t(1), w.chat_task(11, 3))).is_empty());
    assert!(offers(&w.arrive(t(2), w.chat_task(12, 3))).is_empty());
    w.router.reject(t(3), o1, AgentId(1)).unwrap();
    // Task 10 is back ahead of 11 and 12, but agent 1 is in back-off for it: it gets 11.
    let (o2, task, _) = only_offer(&w.take());
    assert_eq!(task, TaskId(11));
    let why = w.router.explain(TaskId(10), AgentId(1)).unwrap();
    assert!(
        why.reasons
            .contains(&Ineligible::DeclinedRecently { until: t(33) })
    );
    // A second agent arrives: task 10 (the oldest) goes to it, not 12.
    w.chat_agent(t(4), 2, 5, 1);
    let (_, task, agent) = only_offer(&w.take_log_tail(1));
    assert_eq!((task, agent), (TaskId(10), AgentId(2)));
    let _ = o2;
}

#[test]
fn decliner_is_offered_again_after_backoff_when_it_is_the_only_one() {
    let cfg = RouterConfig {
        decline_backoff_ms: 30_000,
        offer_timeout_ms: 5_000,
        ..RouterConfig::default()
    };
    let mut w = World::new(cfg);
    w.chat_agent(t(0), 1, 5, 1);
    let (o1, task, _) = only_offer(&w.arrive(t(0), w.chat_task(10, 3)));
    w.router.reject(t(1), o1, AgentId(1)).unwrap();
    assert!(offers(&w.take()).is_empty(), "no re-offer during back-off");
    w.router.handle_timeout(t(30)).unwrap();
    assert!(offers(&w.take()).is_empty());
    assert_eq!(w.router.poll_timeout(), Some(t(31)));
    w.router.handle_timeout(t(31)).unwrap();
    let (o2, task2, agent) = only_offer(&w.take());
    assert_eq!((task2, agent), (task, AgentId(1)));
    assert_ne!(o1, o2, "a new lease with a new id");
    assert!(w.router.explain_offer(o2).unwrap().redeclined);
}

#[test]
fn decliners_rank_after_agents_who_have_not_declined() {
    let cfg = RouterConfig {
        decline_backoff_ms: 10_000,
        ..RouterConfig::default()
    };
    let mut w = World::new(cfg);
    w.chat_agent(t(0), 1, 5, 1);
    let (o1, _, _) = only_offer(&w.arrive(t(0), w.chat_task(10, 3)));
    w.router.reject(t(1), o1, AgentId(1)).unwrap();
    w.take();
    w.router.handle_timeout(t(20)).unwrap();
    let (o2, _, a) = only_offer(&w.take());
    assert_eq!(a, AgentId(1));
    w.router.reject(t(21), o2, AgentId(1)).unwrap();
    w.take();
    // After the back-off a fresh agent is available too: the fresh one wins even though agent 1
    // has been idle longer.
    w.chat_agent(t(22), 2, 5, 1);
    let (_, _, a) = only_offer(&w.take());
    assert_eq!(a, AgentId(2));
}

#[test]
fn fanout_first_acceptance_wins_and_other_offers_are_rescinded() {
    let mut w = World::default();
    for id in 1..=4 {
        w.chat_agent(t(0), id, 5, 1);
    }
    let e = w.arrive(t(1), w.chat_task(10, 3).fanout(3));
    let o = offers(&e);
    assert_eq!(o.len(), 3);
    let (win, task, winner) = o[1];
    w.router.accept(t(2), win, winner).unwrap();
    let e = w.take();
    let rescinded: Vec<_> = e
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::OfferRescinded {
                    reason: RescindReason::TakenByOther,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(rescinded.len(), 2);
    assert_eq!(
        w.router.task_state(task),
        Some(TaskState::InService(winner))
    );
    // The losers' late answers are refused, their capacity is free again.
    assert_eq!(
        w.router.accept(t(3), o[0].0, o[0].2),
        Err(RouterError::UnknownOffer(o[0].0))
    );
    for (_, _, a) in [o[0], o[2]] {
        assert_eq!(w.router.agent_load(a, Channel::Chat), Some(0));
    }
}

#[test]
fn fanout_rejections_requeue_only_after_the_last_offer() {
    let mut w = World::default();
    w.chat_agent(t(0), 1, 5, 1);
    w.chat_agent(t(0), 2, 5, 1);
    let o = offers(&w.arrive(t(1), w.chat_task(10, 3).fanout(2)));
    w.router.reject(t(2), o[0].0, o[0].2).unwrap();
    assert!(w.take().is_empty());
    assert_eq!(
        w.router.task_state(TaskId(10)),
        Some(TaskState::Offered(vec![o[1].0]))
    );
    w.router.reject(t(3), o[1].0, o[1].2).unwrap();
    assert!(matches!(
        w.take()[0],
        Effect::Queued {
            reason: QueueReason::Rejected,
            ..
        }
    ));
}

#[test]
fn agent_offline_with_work_in_hand_requeues_it_in_its_old_place() {
    let mut w = World::default();
    w.chat_agent(t(0), 1, 5, 2);
    let (o, _, _) = only_offer(&w.arrive(t(0), w.chat_task(10, 3)));
    w.router.accept(t(1), o, AgentId(1)).unwrap();
    let (o2, _, _) = only_offer(&w.arrive(t(2), w.chat_task(11, 3)));
    w.take();
    w.router
        .set_agent_state(t(3), AgentId(1), AgentState::Offline)
        .unwrap();
    let e = w.take();
    assert!(e.contains(&Effect::OfferRescinded {
        offer: o2,
        task: TaskId(11),
        agent: AgentId(1),
        reason: RescindReason::AgentUnavailable
    }));
    assert_eq!(w.router.task_state(TaskId(10)), Some(TaskState::Waiting));
    assert_eq!(w.router.task_state(TaskId(11)), Some(TaskState::Waiting));
    assert_eq!(w.router.agent_load(AgentId(1), Channel::Chat), Some(0));
    // Another agent with room for one gets task 10 (older), not 11.
    w.chat_agent(t(4), 2, 5, 1);
    let (_, task, _) = only_offer(&w.take_log_tail(1));
    assert_eq!(task, TaskId(10));
}

#[test]
fn away_keeps_work_but_takes_no_new_offers() {
    let mut w = World::default();
    w.chat_agent(t(0), 1, 5, 2);
    let (o, _, _) = only_offer(&w.arrive(t(0), w.chat_task(10, 3)));
    w.router.accept(t(1), o, AgentId(1)).unwrap();
    w.router
        .set_agent_state(t(2), AgentId(1), AgentState::Away)
        .unwrap();
    w.take();
    assert!(offers(&w.arrive(t(3), w.chat_task(11, 3))).is_empty());
    assert_eq!(
        w.router.task_state(TaskId(10)),
        Some(TaskState::InService(AgentId(1)))
    );
    w.router
        .set_agent_state(t(4), AgentId(1), AgentState::Available)
        .unwrap();
    let (_, task, _) = only_offer(&w.take());
    assert_eq!(task, TaskId(11));
}

#[test]
fn cancel_and_abandon() {
    let mut w = World::default();
    w.chat_agent(t(0), 1, 5, 1);
    let (o, _, _) = only_offer(&w.arrive(t(0), w.chat_task(10, 3)));
    w.arrive(t(1), w.chat_task(11, 3));
    w.router.cancel(t(2), TaskId(10)).unwrap();
    let e = w.take();
    assert!(matches!(
        e[0],
        Effect::OfferRescinded {
            reason: RescindReason::Cancelled,
            ..
        }
    ));
    assert_eq!(e[1], Effect::Cancelled { task: TaskId(10) });
    // Freed capacity pulls task 11 at once.
    let (o2, task, _) = only_offer(&e);
    assert_eq!(task, TaskId(11));
    assert_eq!(
        w.router.accept(t(3), o, AgentId(1)),
        Err(RouterError::UnknownOffer(o))
    );
    w.router.accept(t(3), o2, AgentId(1)).unwrap();
    let err = w.router.abandon(t(4), TaskId(11)).unwrap_err();
    assert!(matches!(
        err,
        RouterError::InvalidTaskState {
            operation: "abandon",
            ..
        }
    ));
    w.arrive(t(5), w.chat_task(12, 3));
    w.router.abandon(t(6), TaskId(12)).unwrap();
    assert_eq!(w.take(), vec![Effect::Abandoned { task: TaskId(12) }]);
    let c = w.router.counters();
    assert_eq!((c.cancelled, c.abandoned), (1, 1));
    assert_eq!(
        w.router.cancel(t(7), TaskId(12)),
        Err(RouterError::UnknownTask(TaskId(12)))
    );
}

#[test]
fn transfer_frees_the_agent_and_keeps_the_age() {
    let mut w = World::default();
    w.chat_agent(t(0), 1, 5, 1);
    let (o, _, _) = only_offer(&w.arrive(t(0), w.chat_task(10, 3)));
    w.router.accept(t(1), o, AgentId(1)).unwrap();
    w.take();
    let reqs = Requirements::default().skill(w.skills[1], 2);
    w.router
        .transfer(t(50), TaskId(10), Channel::Chat, reqs.clone())
        .unwrap();
    let e = w.take();
    assert!(matches!(
        e[0],
        Effect::Queued {
            reason: QueueReason::Transferred,
            ..
        }
    ));
    assert_eq!(w.router.agent_load(AgentId(1), Channel::Chat), Some(0));
    // Same age: a task arriving later with equal priority queues behind it in the new queue.
    w.router
        .arrive(
            t(51),
            TaskSpec::new(TaskId(11), w.brand, Channel::Chat).requires(reqs),
        )
        .unwrap();
    w.take();
    let spec = AgentSpec::new(AgentId(2))
        .skill(w.skills[1], 5)
        .capacity(Channel::Chat, 1)
        .state(AgentState::Available);
    w.router.add_agent(t(52), spec).unwrap();
    let (_, task, _) = only_offer(&w.take());
    assert_eq!(task, TaskId(10));
}

#[test]
fn wrap_up_holds_capacity_until_its_timer_or_an_explicit_finish() {
    let mut w = World::new(RouterConfig {
        wrap_up_ms: 20_000,
        ..RouterConfig::default()
    });
    w.chat_agent(t(0), 1, 5, 1);
    let (o, task, agent) = only_offer(&w.arrive(t(0), w.chat_task(10, 3)));
    w.router.accept(t(1), o, agent).unwrap();
    w.router.complete(t(10), task).unwrap();
    assert!(w.take().contains(&Effect::WrapUpStarted {
        task,
        agent,
        until: t(30)
    }));
    assert_eq!(w.router.task_state(task), Some(TaskState::WrapUp(agent)));
    // Capacity is still held: a new task waits.
    assert!(offers(&w.arrive(t(11), w.chat_task(11, 3))).is_empty());
    w.router.handle_timeout(t(30)).unwrap();
    let e = w.take();
    assert_eq!(e[0], Effect::Completed { task, agent });
    let (o2, t2, _) = only_offer(&e);
    assert_eq!(t2, TaskId(11));
    w.router.accept(t(31), o2, agent).unwrap();
    w.router.complete(t(32), t2).unwrap();
    w.router.finish_wrap_up(t(33), t2).unwrap();
    assert!(w.take().contains(&Effect::Completed { task: t2, agent }));
    assert_eq!(
        w.router.finish_wrap_up(t(34), t2),
        Err(RouterError::UnknownTask(t2))
    );
}

#[test]
fn max_wait_times_a_task_out() {
    let mut w = World::default();
    w.arrive(t(0), w.chat_task(10, 3).max_wait_ms(60_000));
    w.router.handle_timeout(t(59)).unwrap();
    assert!(w.take().is_empty());
    w.router.handle_timeout(t(60)).unwrap();
    assert_eq!(w.take(), vec![Effect::TimedOut { task: TaskId(10) }]);
    assert_eq!(w.router.counters().timed_out, 1);
}

#[test]
fn missed_offers_set_the_agent_away() {
    let cfg = RouterConfig {
        max_missed_offers: Some(2),
        offer_timeout_ms: 1_000,
        decline_backoff_ms: 0,
        ..RouterConfig::default()
    };
    let mut w = World::new(cfg);
    w.chat_agent(t(0), 1, 5, 1);
    w.arrive(t(0), w.chat_task(10, 3));
    w.router.handle_timeout(t(1)).unwrap(); // first miss, re-offered at once (no back-off)
    w.router.handle_timeout(t(2)).unwrap(); // second miss
    let e = w.take();
    assert!(e.contains(&Effect::AgentAutoAway { agent: AgentId(1) }));
    assert_eq!(w.router.agent_state(AgentId(1)), Some(AgentState::Away));
    assert_eq!(w.router.task_state(TaskId(10)), Some(TaskState::Waiting));
}

#[test]
fn reprioritize_moves_a_waiting_task_ahead() {
    let mut w = World::default();
    w.arrive(t(0), w.chat_task(10, 3));
    w.arrive(t(1), w.chat_task(11, 3));
    w.router
        .reprioritize(
            t(2),
            TaskId(11),
            Priority {
                class: 0,
                base: 0.0,
            },
            CustomerProfile {
                value_tier: 0,
                sentiment: -1.0,
            },
        )
        .unwrap();
    w.chat_agent(t(3), 1, 5, 1);
    let (_, task, _) = only_offer(&w.take_log_tail(1));
    assert_eq!(
        task,
        TaskId(11),
        "an unhappy customer is worth 5 points ≈ 5 minutes of waiting"
    );
    let err = w.router.reprioritize(
        t(4),
        TaskId(10),
        Priority {
            class: 0,
            base: f64::NAN,
        },
        CustomerProfile::default(),
    );
    assert!(matches!(err, Err(RouterError::InvalidNumber { .. })));
}

#[test]
fn bad_input_gets_typed_errors_and_no_change() {
    let mut w = World::default();
    w.chat_agent(t(0), 1, 5, 1);
    let before = w.router.snapshot(t(0));
    let r = &mut w.router;
    assert_eq!(
        r.add_agent(t(0), AgentSpec::new(AgentId(1)).capacity(Channel::Chat, 1)),
        Err(RouterError::DuplicateAgent(AgentId(1)))
    );
    assert_eq!(
        r.add_agent(t(0), AgentSpec::new(AgentId(2))),
        Err(RouterError::ZeroCapacity(AgentId(2)))
    );
    assert_eq!(
        r.add_agent(
            t(0),
            AgentSpec::new(AgentId(2))
                .skill(SkillId(0), 0)
                .capacity(Channel::Chat, 1)
        ),
        Err(RouterError::InvalidLevel {
            level: 0,
            max: MAX_LEVEL
        })
    );
    assert_eq!(
        r.add_agent(
            t(0),
            AgentSpec::new(AgentId(2))
                .skill(SkillId(0), 11)
                .capacity(Channel::Chat, 1)
        ),
        Err(RouterError::InvalidLevel {
            level: 11,
            max: MAX_LEVEL
        })
    );
    assert_eq!(
        r.add_agent(
            t(0),
            AgentSpec::new(AgentId(2))
                .skill(SkillId(999), 3)
                .capacity(Channel::Chat, 1)
        ),
        Err(RouterError::UnknownName {
            kind: "skill",
            id: 999
        })
    );
    let brand = TenantId(0);
    let nan = TaskSpec::new(TaskId(5), brand, Channel::Chat).customer(CustomerProfile {
        value_tier: 0,
        sentiment: f64::NAN,
    });
    assert!(matches!(
        r.arrive(t(1), nan),
        Err(RouterError::InvalidNumber { .. })
    ));
    let inf = TaskSpec::new(TaskId(5), brand, Channel::Chat).priority(0, f64::INFINITY);
    assert!(matches!(
        r.arrive(t(1), inf),
        Err(RouterError::InvalidNumber { .. })
    ));
    let future = TaskSpec::new(TaskId(5), brand, Channel::Chat).created_at(t(100));
    assert!(matches!(
        r.arrive(t(1), future),
        Err(RouterError::InvalidNumber { .. })
    ));
    let fan0 = TaskSpec::new(TaskId(5), brand, Channel::Chat).fanout(0);
    assert!(matches!(
        r.arrive(t(1), fan0),
        Err(RouterError::InvalidConfig { .. })
    ));
    assert_eq!(
        r.arrive(t(1), TaskSpec::new(TaskId(5), TenantId(77), Channel::Chat)),
        Err(RouterError::UnknownName {
            kind: "tenant",
            id: 77
        })
    );
    assert_eq!(
        r.complete(t(1), TaskId(404)),
        Err(RouterError::UnknownTask(TaskId(404)))
    );
    assert_eq!(
        r.accept(t(1), OfferId(404), AgentId(1)),
        Err(RouterError::UnknownOffer(OfferId(404)))
    );
    assert_eq!(r.snapshot(t(0)), before);
    assert_eq!(r.counters().arrived, 0);
    // Duplicate task id while the first is live.
    r.arrive(t(2), TaskSpec::new(TaskId(5), brand, Channel::Voice))
        .unwrap();
    assert_eq!(
        r.arrive(t(2), TaskSpec::new(TaskId(5), brand, Channel::Voice)),
        Err(RouterError::DuplicateTask(TaskId(5)))
    );
    assert!(matches!(
        Router::new(RouterConfig {
            offer_timeout_ms: 0,
            ..RouterConfig::default()
        }),
        Err(RouterError::InvalidConfig {
            path: "offer_timeout_ms",
            ..
        })
    ));
}

#[test]
fn update_agent_refuses_capacity_below_load_and_rescinds_ineligible_offers() {
    let mut w = World::default();
    w.chat_agent(t(0), 1, 5, 2);
    let (o, _, _) = only_offer(&w.arrive(t(0), w.chat_task(10, 3)));
    let shrink = AgentSpec::new(AgentId(1))
        .skill(w.skills[0], 5)
        .certified(w.brand)
        .capacity(Channel::Voice, 1);
    assert!(matches!(
        w.router.update_agent(t(1), shrink),
        Err(RouterError::CapacityBelowLoad { .. })
    ));
    // Lowering the skill below the requirement rescinds the offer.
    let demote = AgentSpec::new(AgentId(1))
        .skill(w.skills[0], 2)
        .capacity(Channel::Chat, 2);
    w.router.update_agent(t(2), demote).unwrap();
    let e = w.take();
    assert!(
        matches!(e[0], Effect::OfferRescinded { offer, reason: RescindReason::NoLongerEligible, .. } if offer == o)
    );
    assert_eq!(w.router.task_state(TaskId(10)), Some(TaskState::Waiting));
}
