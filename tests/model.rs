//! Model-based testing: [`Router`] against the naive reference [`NaiveRouter`].
//!
//! Random sequences of calls over a small universe (2 tenants, 4 skills, 3 tags, up to 7 agent ids,
//! 25 task ids, chat and voice, every strategy, fan-out 1..3, random timeouts) are applied to both
//! implementations. After every step they must return the same `Result`, emit the same effects and
//! agree on every observable (task states, loads, snapshots, counters, offer explanations), and the
//! router's own invariant checker must pass. Also: determinism (invariant 7) and journal replay
//! (invariant 8).
//!
//! Cases default to 512 (`router_matches_reference`) and 64 (the others); set `PROPTEST_CASES` for
//! longer hunts. `cargo test --test model -- --ignored --nocapture generator_coverage` prints how
//! often each call succeeds or fails and which effects the generator produces.

// `RouterConfig` is `#[non_exhaustive]`: it cannot be built with a struct literal out here.
#![allow(clippy::field_reassign_with_default)]

use proptest::prelude::*;
use proptest::strategy::Strategy;
use proptest::test_runner::TestCaseError;
use switchboard::Strategy as Sel;
use switchboard::reference::NaiveRouter;
use switchboard::*;

// ------------------------------------------------------------------ universe

const AGENT_IDS: u64 = 7; // ids 1..=7; 7 rarely used (often unknown)
const TASK_IDS: u64 = 25;
const CHANNELS: [Channel; 3] = [Channel::Chat, Channel::Voice, Channel::Email];

/// Generated router configuration.
#[derive(Debug, Clone)]
struct Cfg {
    offer_timeout_ms: u64,
    decline_backoff_ms: u64,
    wrap_up_ms: u64,
    default_sla_ms: u64,
    strategy: Sel,
    fanout: u8,
    max_missed: Option<u32>,
    seed: u64,
    aging: f64,
    urgency: f64,
}

impl Cfg {
    fn config(&self) -> RouterConfig {
        let mut c = RouterConfig::default();
        c.offer_timeout_ms = self.offer_timeout_ms;
        c.decline_backoff_ms = self.decline_backoff_ms;
        c.wrap_up_ms = self.wrap_up_ms;
        c.default_sla_ms = self.default_sla_ms;
        c.default_strategy = self.strategy;
        c.default_fanout = self.fanout;
        c.max_missed_offers = self.max_missed;
        c.seed = self.seed;
        c.priority.aging_per_sec = self.aging;
        c.priority.urgency_per_sec = self.urgency;
        c
    }
}

#[derive(Debug, Clone, Copy)]
enum When {
    /// Advance the clock by this many ms (0 allowed).
    Advance(u64),
    /// A time before the router's latest time (error path).
    Backwards(u64),
}

#[derive(Debug, Clone, Copy)]
enum Answer {
    /// An outstanding offer, answered by its agent.
    Live(usize),
    /// Any offer ever seen (often settled), answered by its agent.
    Seen(usize),
    /// An outstanding offer answered by some other agent id.
    WrongAgent(usize, u64),
    /// An offer id never issued.
    Bogus(u64),
}

/// How a generated step names a task or an agent: mostly something that exists in the right
/// state (resolved against the router at run time), sometimes a raw id (often unknown).
#[derive(Debug, Clone, Copy)]
enum Pick {
    Live(usize),
    Raw(u64),
}

#[derive(Debug, Clone, Copy)]
enum Created {
    Now,
    Back(u64),
    Future(u64),
}

#[derive(Debug, Clone)]
struct TaskGen {
    /// `Live` here means a task id that is not in use.
    id: Pick,
    tenant: u32,
    channel: Channel,
    requirements: Requirements,
    preferences: Preferences,
    customer: CustomerProfile,
    priority: Priority,
    sla_ms: Option<u64>,
    max_wait_ms: Option<u64>,
    created: Created,
    strategy: Option<Sel>,
    fanout: Option<u8>,
}

#[derive(Debug, Clone)]
enum Op {
    AddAgent(AgentSpec),
    /// The spec's id is replaced by the picked agent.
    UpdateAgent(Pick, AgentSpec),
    RemoveAgent(Pick),
    SetState(Pick, AgentState),
    Arrive(Box<TaskGen>),
    Accept(Answer),
    Reject(Answer),
    Complete(Pick),
    FinishWrapUp(Pick),
    Cancel(Pick),
    Abandon(Pick),
    Transfer(Pick, Channel, Requirements),
    Reprioritize(Pick, Priority, CustomerProfile),
    Retarget(Pick, Requirements, Option<Sel>, Option<Priority>),
    /// `(tenant, reserved, cap)` triples.
    SetShares(Vec<(u32, u32, Option<u32>)>),
    Tick,
    /// `handle_timeout` exactly at the router's next timer.
    TickAtTimer,
    /// Crash and restart: the router is rebuilt from `export_state` (through JSON) with
    /// `from_state`. Not an event: the reference is left alone and must still agree.
    Restore,
}

#[derive(Debug, Clone)]
struct Step {
    when: When,
    op: Op,
    /// Apply through `handle(Event)` instead of the direct method.
    via_event: bool,
}

// ------------------------------------------------------------------ strategies

fn strategy_s() -> impl Strategy<Value = Sel> {
    prop_oneof![
        Just(Sel::BestScore),
        Just(Sel::LongestIdle),
        Just(Sel::LeastOccupied),
        Just(Sel::RoundRobin),
        Just(Sel::Random),
    ]
}

fn cfg_s() -> impl Strategy<Value = Cfg> {
    (
        prop_oneof![1 => Just(1u64), 6 => 1u64..5000],
        prop_oneof![2 => Just(0u64), 5 => 1u64..3000],
        prop_oneof![2 => Just(0u64), 2 => 1u64..3000],
        0u64..120_000,
        strategy_s(),
        1u8..=3,
        prop_oneof![3 => Just(None), 1 => (1u32..=3).prop_map(Some)],
        any::<u64>(),
        prop_oneof![2 => Just(1.0 / 60.0), 1 => 0.0f64..2.0, 1 => Just(0.0)],
        prop_oneof![2 => Just(1.0 / 60.0), 1 => 0.0f64..2.0, 1 => Just(0.0)],
    )
        .prop_map(
            |(
                offer_timeout_ms,
                decline_backoff_ms,
                wrap_up_ms,
                default_sla_ms,
                strategy,
                fanout,
                max_missed,
                seed,
                aging,
                urgency,
            )| Cfg {
                offer_timeout_ms,
                decline_backoff_ms,
                wrap_up_ms,
                default_sla_ms,
                strategy,
                fanout,
                max_missed,
                seed,
                aging,
                urgency,
            },
        )
}

fn level_s() -> impl Strategy<Value = u8> {
    prop_oneof![30 => 1u8..=10, 1 => Just(0u8), 1 => Just(11u8)]
}

fn skill_s() -> impl Strategy<Value = SkillId> {
    prop_oneof![40 => (0u32..4).prop_map(SkillId), 1 => Just(SkillId(4))]
}

fn tag_s() -> impl Strategy<Value = TagId> {
    prop_oneof![40 => (0u32..3).prop_map(TagId), 1 => Just(TagId(3))]
}

fn tenant_s() -> impl Strategy<Value = TenantId> {
    prop_oneof![40 => (0u32..2).prop_map(TenantId), 1 => Just(TenantId(2))]
}

fn channel_s() -> impl Strategy<Value = Channel> {
    prop_oneof![6 => Just(Channel::Chat), 4 => Just(Channel::Voice), 1 => Just(Channel::Email)]
}

fn agent_state_s() -> impl Strategy<Value = AgentState> {
    prop_oneof![
        10 => Just(AgentState::Available),
        2 => Just(AgentState::Away),
        1 => Just(AgentState::WrapUp),
        2 => Just(AgentState::Offline),
    ]
}

fn agent_id_s() -> impl Strategy<Value = u64> {
    prop_oneof![12 => 1u64..AGENT_IDS, 1 => Just(AGENT_IDS)]
}

fn task_id_s() -> impl Strategy<Value = u64> {
    1u64..=TASK_IDS
}

fn pick_task_s() -> impl Strategy<Value = Pick> {
    prop_oneof![8 => (0usize..16).prop_map(Pick::Live), 1 => task_id_s().prop_map(Pick::Raw)]
}

fn pick_agent_s() -> impl Strategy<Value = Pick> {
    prop_oneof![8 => (0usize..8).prop_map(Pick::Live), 1 => agent_id_s().prop_map(Pick::Raw)]
}

fn agent_spec_s() -> impl Strategy<Value = AgentSpec> {
    (
        agent_id_s(),
        prop::collection::vec((skill_s(), level_s()), 0..6),
        prop::collection::vec(tag_s(), 0..4),
        prop::collection::vec(tenant_s(), 0..3),
        prop_oneof![1 => Just(0u16), 3 => 1u16..4],
        prop_oneof![2 => Just(0u16), 2 => 1u16..3],
        agent_state_s(),
        any::<bool>(),
    )
        .prop_map(|(id, skills, tags, certs, chat, voice, state, bot)| {
            let mut s = AgentSpec::new(AgentId(id))
                .capacity(Channel::Chat, chat)
                .capacity(Channel::Voice, voice)
                .state(state)
                .kind(if bot {
                    AgentKind::Bot
                } else {
                    AgentKind::Human
                });
            s.skills = skills;
            s.tags = tags;
            s.certifications = certs;
            s
        })
}

fn requirements_s() -> impl Strategy<Value = Requirements> {
    prop_oneof![
        2 => Just(Requirements::default()),
        3 => some_requirements_s(),
    ]
}

fn some_requirements_s() -> impl Strategy<Value = Requirements> {
    (
        prop::collection::vec(
            (
                skill_s(),
                prop_oneof![20 => 1u8..=5, 3 => 6u8..=10, 1 => Just(0u8)],
            ),
            0..3,
        ),
        prop::collection::vec(tag_s(), 0..2),
        prop::bool::weighted(0.15),
        filter_s(),
    )
        .prop_map(|(skills, tags, certification, filter)| Requirements {
            skills: skills
                .into_iter()
                .map(|(s, l)| SkillReq::new(s, l))
                .collect(),
            tags,
            certification,
            filter,
        })
}

/// Residual agent filters (what target expressions leave after the index part).
fn filter_s() -> impl Strategy<Value = Option<switchboard::expr::Filter>> {
    prop_oneof![
        6 => Just(None),
        1 => prop::sample::select(vec![
            r#"not has_tag("g0")"#,
            r#"skill("s1") < 5"#,
            r#"has_tag("g1") or has_skill("s2")"#,
            "agent.id == 3",
            "agent.id != 2",
            r#"agent.kind == "bot""#,
            r#""t1" in agent.certified"#,
        ])
        .prop_map(|src| Some(switchboard::expr::Filter::new(src).expect("valid filter"))),
    ]
}

fn shares_s() -> impl Strategy<Value = Vec<(u32, u32, Option<u32>)>> {
    prop_oneof![
        1 => Just(Vec::new()),
        3 => prop::collection::vec(
            (0u32..3, 0u32..3, prop::option::of(0u32..4)),
            1..3,
        ),
    ]
}

fn number_s(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        150 => lo..hi,
        10 => Just(0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(1e308),
    ]
}

fn customer_s() -> impl Strategy<Value = CustomerProfile> {
    (
        0u8..4,
        prop_oneof![100 => -1.0f64..=1.0, 1 => Just(1.5), 1 => Just(f64::NAN)],
    )
        .prop_map(|(value_tier, sentiment)| CustomerProfile {
            value_tier,
            sentiment,
        })
}

fn priority_s() -> impl Strategy<Value = Priority> {
    (0u8..3, number_s(-20.0, 20.0)).prop_map(|(class, base)| Priority { class, base })
}

fn task_s() -> impl Strategy<Value = TaskGen> {
    (
        (pick_task_s(), tenant_s(), channel_s(), requirements_s()),
        (
            prop::collection::vec((skill_s(), number_s(-3.0, 3.0)), 0..2),
            prop::collection::vec((tag_s(), number_s(-3.0, 3.0)), 0..2),
            prop::option::weighted(0.3, 1u64..AGENT_IDS),
        ),
        (customer_s(), priority_s()),
        (
            prop::option::weighted(0.5, 0u64..200_000),
            prop::option::weighted(0.3, 0u64..20_000),
            prop_oneof![
                30 => Just(Created::Now),
                15 => (0u64..100_000).prop_map(Created::Back),
                1 => (1u64..1000).prop_map(Created::Future),
            ],
            prop::option::weighted(0.6, strategy_s()),
            prop::option::weighted(0.4, prop_oneof![1 => Just(0u8), 10 => 1u8..=3]),
        ),
    )
        .prop_map(
            |(
                (id, tenant, channel, requirements),
                (pskills, ptags, pagent),
                (customer, priority),
                (sla_ms, max_wait_ms, created, strategy, fanout),
            )| TaskGen {
                id,
                tenant: tenant.0,
                channel,
                requirements,
                preferences: Preferences {
                    skills: pskills,
                    tags: ptags,
                    preferred_agent: pagent.map(AgentId),
                },
                customer,
                priority,
                sla_ms,
                max_wait_ms,
                created,
                strategy,
                fanout,
            },
        )
}

fn answer_s() -> impl Strategy<Value = Answer> {
    prop_oneof![
        12 => (0usize..8).prop_map(Answer::Live),
        3 => (0usize..64).prop_map(Answer::Seen),
        1 => ((0usize..8), agent_id_s()).prop_map(|(i, a)| Answer::WrongAgent(i, a)),
        1 => (0u64..3).prop_map(|x| Answer::Bogus(10_000 + x)),
    ]
}

fn op_s() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => agent_spec_s().prop_map(Op::AddAgent),
        2 => (pick_agent_s(), agent_spec_s()).prop_map(|(p, s)| Op::UpdateAgent(p, s)),
        1 => pick_agent_s().prop_map(Op::RemoveAgent),
        4 => (pick_agent_s(), agent_state_s()).prop_map(|(a, s)| Op::SetState(a, s)),
        10 => task_s().prop_map(|t| Op::Arrive(Box::new(t))),
        10 => answer_s().prop_map(Op::Accept),
        4 => answer_s().prop_map(Op::Reject),
        6 => pick_task_s().prop_map(Op::Complete),
        2 => pick_task_s().prop_map(Op::FinishWrapUp),
        1 => pick_task_s().prop_map(Op::Cancel),
        1 => pick_task_s().prop_map(Op::Abandon),
        2 => (pick_task_s(), channel_s(), requirements_s())
            .prop_map(|(t, c, r)| Op::Transfer(t, c, r)),
        2 => (pick_task_s(), priority_s(), customer_s())
            .prop_map(|(t, p, c)| Op::Reprioritize(t, p, c)),
        2 => (
            pick_task_s(),
            requirements_s(),
            prop::option::of(strategy_s()),
            prop::option::of(priority_s()),
        )
            .prop_map(|(t, r, s, p)| Op::Retarget(t, r, s, p)),
        1 => shares_s().prop_map(Op::SetShares),
        3 => Just(Op::Tick),
        3 => Just(Op::TickAtTimer),
        1 => Just(Op::Restore),
    ]
}

fn when_s() -> impl Strategy<Value = When> {
    prop_oneof![
        6 => Just(When::Advance(0)),
        10 => (1u64..200).prop_map(When::Advance),
        4 => (200u64..6000).prop_map(When::Advance),
        1 => (1u64..1000).prop_map(When::Backwards),
    ]
}

fn step_s() -> impl Strategy<Value = Step> {
    (when_s(), op_s(), prop::bool::weighted(0.3)).prop_map(|(when, op, via_event)| Step {
        when,
        op,
        via_event,
    })
}

// ------------------------------------------------------------------ driving

macro_rules! direct {
    ($r:expr, $now:expr, $ev:expr) => {
        match $ev {
            Event::AddAgent(s) => $r.add_agent($now, s),
            Event::UpdateAgent(s) => $r.update_agent($now, s),
            Event::RemoveAgent { agent } => $r.remove_agent($now, agent),
            Event::SetAgentState { agent, state } => $r.set_agent_state($now, agent, state),
            Event::Arrive(s) => $r.arrive($now, s),
            Event::Accept { offer, agent } => $r.accept($now, offer, agent),
            Event::Reject { offer, agent } => $r.reject($now, offer, agent),
            Event::Complete { task } => $r.complete($now, task),
            Event::FinishWrapUp { task } => $r.finish_wrap_up($now, task),
            Event::Cancel { task } => $r.cancel($now, task),
            Event::Abandon { task } => $r.abandon($now, task),
            Event::Transfer {
                task,
                channel,
                requirements,
            } => $r.transfer($now, task, channel, requirements),
            Event::Reprioritize {
                task,
                priority,
                customer,
            } => $r.reprioritize($now, task, priority, customer),
            Event::Retarget { task, target } => $r.retarget($now, task, target),
            Event::SetShares { shares } => $r.set_shares($now, shares),
            Event::Tick => $r.handle_timeout($now),
            other => panic!("unexpected event {other:?}"),
        }
    };
}

fn intern(c: &mut Catalog) {
    for t in ["t0", "t1"] {
        c.tenant(t);
    }
    for s in ["s0", "s1", "s2", "s3"] {
        c.skill(s);
    }
    for g in ["g0", "g1", "g2"] {
        c.tag(g);
    }
}

fn new_router(cfg: &Cfg) -> Router {
    let mut r = Router::new(cfg.config()).expect("valid config");
    intern(r.catalog_mut());
    r
}

/// A router driven by generated steps, with everything seen recorded.
struct Driver {
    router: Router,
    clock: Time,
    /// Every offer seen in an `Offer` effect, oldest first.
    seen: Vec<(OfferId, AgentId)>,
    /// Successful calls, for replay.
    journal: Vec<(Time, Event)>,
    /// Every effect, in order.
    effects: Vec<Effect>,
}

impl Driver {
    fn new(cfg: &Cfg) -> Self {
        Driver {
            router: new_router(cfg),
            clock: Time::ZERO,
            seen: Vec::new(),
            journal: Vec::new(),
            effects: Vec::new(),
        }
    }

    /// Turns a generated step into a concrete time and event, using what has been seen so far.
    fn resolve(&mut self, step: &Step) -> (Time, Event) {
        let mut now = match step.when {
            When::Advance(d) => {
                self.clock = self.clock.plus_millis(d);
                self.clock
            }
            When::Backwards(d) => Time(self.router.now().0.saturating_sub(d)),
        };
        let live: Vec<(OfferId, AgentId)> = self
            .seen
            .iter()
            .copied()
            .filter(|(o, _)| self.router.offer(*o).is_some())
            .collect();
        let answer = |a: Answer| -> (OfferId, AgentId) {
            match a {
                Answer::Live(i) if !live.is_empty() => live[i % live.len()],
                Answer::WrongAgent(i, ag) if !live.is_empty() => {
                    (live[i % live.len()].0, AgentId(ag))
                }
                Answer::Seen(i) | Answer::Live(i) | Answer::WrongAgent(i, _)
                    if !self.seen.is_empty() =>
                {
                    self.seen[i % self.seen.len()]
                }
                Answer::Bogus(x) => (OfferId(x), AgentId(1)),
                _ => (OfferId(1), AgentId(1)),
            }
        };
        let r = &self.router;
        let agents: Vec<u64> = (1..=AGENT_IDS)
            .filter(|&a| r.agent_state(AgentId(a)).is_some())
            .collect();
        let agent = |p: Pick| -> AgentId {
            match p {
                Pick::Live(i) if !agents.is_empty() => AgentId(agents[i % agents.len()]),
                Pick::Live(i) => AgentId(i as u64 % AGENT_IDS + 1),
                Pick::Raw(a) => AgentId(a),
            }
        };
        // Live tasks whose state passes `f` (or, if none, any id).
        let task = |p: Pick, f: &dyn Fn(&TaskState) -> bool| -> TaskId {
            match p {
                Pick::Live(i) => {
                    let ids: Vec<u64> = (1..=TASK_IDS)
                        .filter(|&t| r.task_state(TaskId(t)).is_some_and(|s| f(&s)))
                        .collect();
                    if ids.is_empty() {
                        TaskId(i as u64 % TASK_IDS + 1)
                    } else {
                        TaskId(ids[i % ids.len()])
                    }
                }
                Pick::Raw(t) => TaskId(t),
            }
        };
        let unserved = |s: &TaskState| matches!(s, TaskState::Waiting | TaskState::Offered(_));
        let ev = match &step.op {
            Op::AddAgent(s) => Event::AddAgent(s.clone()),
            Op::UpdateAgent(p, s) => Event::UpdateAgent(AgentSpec {
                id: agent(*p),
                ..s.clone()
            }),
            Op::RemoveAgent(a) => Event::RemoveAgent { agent: agent(*a) },
            Op::SetState(a, s) => Event::SetAgentState {
                agent: agent(*a),
                state: *s,
            },
            Op::Arrive(t) => {
                let id = match t.id {
                    Pick::Live(i) => {
                        let free: Vec<u64> = (1..=TASK_IDS)
                            .filter(|&x| r.task_state(TaskId(x)).is_none())
                            .collect();
                        if free.is_empty() {
                            TaskId(1)
                        } else {
                            TaskId(free[i % free.len()])
                        }
                    }
                    Pick::Raw(x) => TaskId(x),
                };
                let mut spec = TaskSpec::new(id, TenantId(t.tenant), t.channel)
                    .requires(t.requirements.clone())
                    .prefers(t.preferences.clone())
                    .customer(t.customer);
                spec.priority = t.priority;
                spec.sla_ms = t.sla_ms;
                spec.max_wait_ms = t.max_wait_ms;
                spec.strategy = t.strategy;
                spec.fanout = t.fanout;
                spec.created_at = match t.created {
                    Created::Now => None,
                    Created::Back(d) => Some(Time(now.0.saturating_sub(d))),
                    Created::Future(d) => Some(now.plus_millis(d)),
                };
                Event::Arrive(spec)
            }
            Op::Accept(a) => {
                let (offer, agent) = answer(*a);
                Event::Accept { offer, agent }
            }
            Op::Reject(a) => {
                let (offer, agent) = answer(*a);
                Event::Reject { offer, agent }
            }
            Op::Complete(t) => Event::Complete {
                task: task(*t, &|s| matches!(s, TaskState::InService(_))),
            },
            Op::FinishWrapUp(t) => Event::FinishWrapUp {
                task: task(*t, &|s| matches!(s, TaskState::WrapUp(_))),
            },
            Op::Cancel(t) => Event::Cancel {
                task: task(*t, &unserved),
            },
            Op::Abandon(t) => Event::Abandon {
                task: task(*t, &unserved),
            },
            Op::Transfer(t, c, req) => Event::Transfer {
                task: task(*t, &|s| !matches!(s, TaskState::WrapUp(_))),
                channel: *c,
                requirements: req.clone(),
            },
            Op::Reprioritize(t, p, c) => Event::Reprioritize {
                task: task(*t, &|_| true),
                priority: *p,
                customer: *c,
            },
            Op::Retarget(t, req, strategy, priority) => Event::Retarget {
                task: task(*t, &|s| matches!(s, TaskState::Waiting)),
                target: Retarget {
                    requirements: req.clone(),
                    strategy: *strategy,
                    priority: *priority,
                    preferences: None,
                },
            },
            Op::SetShares(list) => Event::SetShares {
                shares: list
                    .iter()
                    .map(|&(tenant, reserved, cap)| TenantShare {
                        tenant: TenantId(tenant),
                        reserved,
                        cap,
                    })
                    .collect(),
            },
            Op::Tick | Op::Restore => Event::Tick,
            Op::TickAtTimer => {
                if let Some(t) = self.router.poll_timeout() {
                    if t > self.clock {
                        self.clock = t;
                    }
                    now = self.clock;
                }
                Event::Tick
            }
        };
        (now, ev)
    }

    /// Applies an event to the router; records the journal, offers and effects.
    fn apply(
        &mut self,
        now: Time,
        ev: Event,
        via_event: bool,
    ) -> (Result<(), RouterError>, Vec<Effect>) {
        let res = if via_event {
            self.router.handle(now, ev.clone())
        } else {
            direct!(self.router, now, ev.clone())
        };
        let effects: Vec<Effect> = self.router.drain_effects().collect();
        if res.is_ok() {
            self.journal.push((now, ev));
        }
        for e in &effects {
            if let Effect::Offer { offer, agent, .. } = e {
                self.seen.push((*offer, *agent));
            }
        }
        self.effects.extend(effects.iter().cloned());
        (res, effects)
    }
}

fn same_result(a: &Result<(), RouterError>, b: &Result<(), RouterError>) -> bool {
    // Debug form, because errors may carry NaN (never equal to itself).
    format!("{a:?}") == format!("{b:?}")
}

/// Every observable of the router and the reference must agree.
fn compare(r: &Router, n: &NaiveRouter, seen: &[(OfferId, AgentId)]) -> Result<(), TestCaseError> {
    let now = r.now();
    prop_assert_eq!(now, n.now());
    prop_assert_eq!(r.counters(), n.counters());
    prop_assert_eq!(r.live_tasks(), n.live_tasks());
    prop_assert_eq!(r.waiting_tasks(), n.waiting_tasks());
    prop_assert_eq!(r.agent_count(), n.agent_count());
    prop_assert_eq!(r.queue_count(), n.queue_count());
    prop_assert_eq!(r.outstanding_offers(), n.outstanding_offers());
    prop_assert_eq!(r.snapshot(now), n.snapshot(now));
    prop_assert_eq!(
        r.snapshot(now.plus_millis(1234)),
        n.snapshot(now.plus_millis(1234))
    );
    for t in 1..=TASK_IDS {
        let t = TaskId(t);
        prop_assert_eq!(r.task_state(t), n.task_state(t), "task {}", t);
        prop_assert_eq!(r.task_queue(t), n.task_queue(t));
        prop_assert_eq!(
            r.task_priority_at(t, now.plus_millis(500)),
            n.task_priority_at(t, now.plus_millis(500))
        );
        if r.task_state(t).is_some() {
            for a in 1..=AGENT_IDS {
                let a = AgentId(a);
                prop_assert_eq!(
                    format!("{:?}", r.explain(t, a)),
                    format!("{:?}", n.explain(t, a)),
                    "explain({}, {})",
                    t,
                    a
                );
            }
        }
    }
    for a in 1..=AGENT_IDS {
        let a = AgentId(a);
        prop_assert_eq!(r.agent_state(a), n.agent_state(a));
        for c in CHANNELS {
            prop_assert_eq!(r.agent_load(a, c), n.agent_load(a, c));
        }
    }
    // A non-finite match score (ranked as -inf) does not survive a JSON round trip of the router
    // state (`Restore`): JSON has no infinities, so it comes back as `None`. Compare modulo that.
    let reason = |x: Option<&OfferReason>| {
        x.cloned().map(|mut x| {
            x.score = x.score.filter(|v| v.is_finite());
            format!("{x:?}")
        })
    };
    for &(o, _) in seen {
        prop_assert_eq!(r.offer(o), n.offer(o));
        prop_assert_eq!(reason(r.explain_offer(o)), reason(n.explain_offer(o)));
    }
    // Both drop a timer as soon as its subject settles, so they agree exactly.
    prop_assert_eq!(r.poll_timeout(), n.poll_timeout());
    Ok(())
}

fn run_model(cfg: &Cfg, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut trace = String::new();
    run_model_traced(cfg, steps, &mut trace)
        .map_err(|e| TestCaseError::fail(format!("{e}\n--- trace ({cfg:?}):\n{trace}")))
}

/// Runs the model check, writing one line per call (time, event, result, effects) to `trace`.
fn run_model_traced(cfg: &Cfg, steps: &[Step], trace: &mut String) -> Result<(), TestCaseError> {
    use std::fmt::Write as _;
    let mut d = Driver::new(cfg);
    let mut naive = NaiveRouter::new(cfg.config()).expect("valid config");
    intern(naive.catalog_mut());
    for (i, step) in steps.iter().enumerate() {
        if matches!(step.op, Op::Restore) {
            let json = serde_json::to_string(&d.router.export_state()).expect("serialise");
            let state: RouterState = serde_json::from_str(&json).expect("deserialise");
            d.router = Router::from_state(state, DefaultScoring)
                .map_err(|e| TestCaseError::fail(format!("step {i}: restore failed: {e}")))?;
            let _ = writeln!(trace, "#{i} restore");
            if let Err(e) = d.router.check_invariants() {
                return Err(TestCaseError::fail(format!(
                    "step {i}: restored router violates an invariant: {e}"
                )));
            }
            compare(&d.router, &naive, &d.seen)?;
            continue;
        }
        let (now, ev) = d.resolve(step);
        let (rr, re) = d.apply(now, ev.clone(), step.via_event);
        let nr = if step.via_event {
            naive.handle(now, ev.clone())
        } else {
            direct!(naive, now, ev.clone())
        };
        let ne: Vec<Effect> = naive.drain_effects().collect();
        let _ = writeln!(trace, "#{i} @{now} {ev:?}\n    -> {rr:?} {re:?}");
        prop_assert!(
            same_result(&rr, &nr),
            "step {} at {}: {:?}\nrouter: {:?}\nnaive:  {:?}",
            i,
            now,
            ev,
            rr,
            nr
        );
        prop_assert_eq!(&re, &ne, "step {} at {}: {:?}", i, now, ev);
        if let Err(e) = d.router.check_invariants() {
            return Err(TestCaseError::fail(format!(
                "step {i} at {now}: {ev:?}: invariant violated: {e}"
            )));
        }
        compare(&d.router, &naive, &d.seen)?;
    }
    Ok(())
}

// ------------------------------------------------------------------ tests

/// Number of cases: `default`, or `PROPTEST_CASES` from the environment for longer hunts.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), max_shrink_iters: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The router and the naive reference agree on every result, effect and observable.
    #[test]
    fn router_matches_reference(cfg in cfg_s(), steps in prop::collection::vec(step_s(), 1..150)) {
        run_model(&cfg, &steps)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), failure_persistence: None, ..ProptestConfig::default() })]

    /// Invariant 7: the same calls at the same times give the same results and effects.
    #[test]
    fn deterministic(cfg in cfg_s(), steps in prop::collection::vec(step_s(), 1..120)) {
        let run = || {
            let mut d = Driver::new(&cfg);
            let mut results = Vec::new();
            for step in &steps {
                let (now, ev) = d.resolve(step);
                let (res, _) = d.apply(now, ev, step.via_event);
                results.push(format!("{res:?}"));
            }
            (results, d.effects, format!("{:?}", d.router.snapshot(d.router.now())))
        };
        let (a, b) = (run(), run());
        prop_assert_eq!(a, b);
    }

    /// Invariant 8: replaying the journal of successful calls into a fresh router restores the
    /// same state, and the two routers behave identically afterwards.
    #[test]
    fn journal_replay_restores_state(
        cfg in cfg_s(),
        steps in prop::collection::vec(step_s(), 1..120),
        more in prop::collection::vec(step_s(), 1..40),
    ) {
        let mut d = Driver::new(&cfg);
        for step in &steps {
            let (now, ev) = d.resolve(step);
            let _ = d.apply(now, ev, step.via_event);
        }
        // Through serde, as a host journal would.
        let lines: Vec<String> = d
            .journal
            .iter()
            .map(|(t, e)| serde_json::to_string(&(t, e)).expect("serialise"))
            .collect();
        let mut replay = new_router(&cfg);
        let mut replay_effects = Vec::new();
        for line in &lines {
            let (t, e): (Time, Event) = serde_json::from_str(line).expect("deserialise");
            prop_assert!(replay.handle(t, e).is_ok(), "journaled event failed on replay");
            replay_effects.extend(replay.drain_effects());
        }
        let now = d.router.now();
        prop_assert_eq!(replay.now(), now);
        prop_assert_eq!(&replay_effects, &d.effects);
        prop_assert_eq!(replay.snapshot(now), d.router.snapshot(now));
        prop_assert_eq!(replay.counters(), d.router.counters());
        prop_assert_eq!(replay.poll_timeout(), d.router.poll_timeout());
        for t in 1..=TASK_IDS {
            prop_assert_eq!(replay.task_state(TaskId(t)), d.router.task_state(TaskId(t)));
        }
        prop_assert_eq!(
            format!("{:?}", replay.export_state()),
            format!("{:?}", d.router.export_state())
        );
        // Subsequent behaviour: the same further calls give the same results and effects.
        let mut twin = Driver {
            router: replay,
            clock: d.clock,
            seen: d.seen.clone(),
            journal: Vec::new(),
            effects: Vec::new(),
        };
        for step in &more {
            let (now, ev) = d.resolve(step);
            let (now2, ev2) = twin.resolve(step);
            prop_assert_eq!(now, now2);
            prop_assert_eq!(format!("{ev:?}"), format!("{ev2:?}"));
            let (ra, ea) = d.apply(now, ev.clone(), step.via_event);
            let (rb, eb) = twin.apply(now2, ev2, step.via_event);
            prop_assert!(same_result(&ra, &rb), "{:?}: {:?} vs {:?}", ev, ra, rb);
            prop_assert_eq!(ea, eb);
        }
        prop_assert_eq!(twin.router.snapshot(twin.router.now()), d.router.snapshot(d.router.now()));
    }
}

// ------------------------------------------------------------------ regressions

/// Found by `router_matches_reference`: a decline back-off that has run out is over for every
/// call, not only once `handle_timeout` has fired its timer. Before the fix the router left the
/// task waiting next to its free, eligible agent until the next `handle_timeout` (violating work
/// conservation, which `check_invariants` measures against `now`).
#[test]
fn regression_backoff_end_seen_by_any_call() {
    let mut cfg = RouterConfig::default();
    cfg.offer_timeout_ms = 1;
    cfg.decline_backoff_ms = 1;
    let mut r = Router::new(cfg.clone()).unwrap();
    let mut n = NaiveRouter::new(cfg).unwrap();
    let t0 = r.catalog_mut().tenant("t0");
    n.catalog_mut().tenant("t0");
    let ops = [
        (
            0,
            Event::Arrive(TaskSpec::new(TaskId(1), t0, Channel::Chat)),
        ),
        (
            0,
            Event::AddAgent(
                AgentSpec::new(AgentId(1))
                    .capacity(Channel::Chat, 1)
                    .state(AgentState::Available),
            ),
        ),
        (1, Event::Tick), // offer expires; back-off until 2
        (
            2,
            Event::AddAgent(AgentSpec::new(AgentId(2)).capacity(Channel::Voice, 1)),
        ),
    ];
    for (t, ev) in ops {
        r.handle(Time(t), ev.clone()).unwrap();
        n.handle(Time(t), ev).unwrap();
        r.check_invariants().unwrap();
        assert_eq!(
            r.drain_effects().collect::<Vec<_>>(),
            n.drain_effects().collect::<Vec<_>>()
        );
    }
    assert!(matches!(
        r.task_state(TaskId(1)),
        Some(TaskState::Offered(_))
    ));
}

/// Not a check: prints how often each call succeeds or fails (by error kind) and how many of each
/// effect the generator produces over 256 random runs, to keep the generator honest.
#[test]
#[ignore]
fn generator_coverage() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeMap;
    let head = |s: String| -> String {
        s.split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let mut runner = TestRunner::deterministic();
    let mut calls: BTreeMap<String, u32> = BTreeMap::new();
    let mut effects: BTreeMap<String, u32> = BTreeMap::new();
    let mut total = 0;
    for _ in 0..256 {
        let cfg = cfg_s().new_tree(&mut runner).unwrap().current();
        let steps = prop::collection::vec(step_s(), 1..150)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let mut d = Driver::new(&cfg);
        for step in &steps {
            total += 1;
            let (now, ev) = d.resolve(step);
            let name = head(format!("{ev:?}"));
            let (res, out) = d.apply(now, ev, step.via_event);
            let key = match &res {
                Ok(()) => format!("{name} ok"),
                Err(e) => format!("{name} err {}", head(format!("{e:?}"))),
            };
            *calls.entry(key).or_default() += 1;
            for e in out {
                *effects.entry(head(format!("{e:?}"))).or_default() += 1;
            }
        }
    }
    println!("{total} steps");
    for (k, v) in calls {
        println!("call   {k:40} {v}");
    }
    for (k, v) in effects {
        println!("effect {k:40} {v}");
    }
}
