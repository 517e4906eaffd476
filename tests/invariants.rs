//! Property tests for the invariants of docs/INVARIANTS.md, one test per invariant, each checked from
//! the outside through the public API (and, for ordering, against the naive reference
//! [`NaiveRouter`]) after every step of random call sequences.
//!
//! | test | invariant |
//! |---|---|
//! | `conservation` | 1: every task that entered is live in exactly the state its effects say, or counted in exactly one terminal counter |
//! | `capacity` | 2: load ≤ capacity on every channel, and load = offers + work held |
//! | `eligibility` | 3: every offer goes to an agent meeting the task's hard requirements |
//! | `work_conservation` | 4: no waiting task has a free, eligible agent |
//! | `order_*` | 5: a freed agent is offered the highest-priority waiting task it is eligible for |
//! | `no_starvation_*` | 6: with aging an old task is served despite a stream of higher-base arrivals; without aging it times out by policy |
//! | `errors_leave_state_untouched` | §5: a failing call changes nothing |
//!
//! Cases default to 128 per test (256 for the order test, 64 for the starvation scenarios); set
//! `PROPTEST_CASES` for longer runs.

// `RouterConfig` is `#[non_exhaustive]`: it cannot be built with a struct literal out here.
#![allow(clippy::field_reassign_with_default)]

use proptest::prelude::*;
use proptest::strategy::Strategy;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;
use switchboard::Strategy as Sel;
use switchboard::reference::NaiveRouter;
use switchboard::*;

// ------------------------------------------------------------------ universe and generator

const AGENTS: u64 = 5;
const TASKS: u64 = 20;
const CHANNELS: [Channel; 2] = [Channel::Chat, Channel::Voice];

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
struct Cfg {
    offer_timeout_ms: u64,
    decline_backoff_ms: u64,
    wrap_up_ms: u64,
    strategy: Sel,
    fanout: u8,
    max_missed: Option<u32>,
    seed: u64,
}

impl Cfg {
    fn config(&self) -> RouterConfig {
        let mut c = RouterConfig::default();
        c.offer_timeout_ms = self.offer_timeout_ms;
        c.decline_backoff_ms = self.decline_backoff_ms;
        c.wrap_up_ms = self.wrap_up_ms;
        c.default_strategy = self.strategy;
        c.default_fanout = self.fanout;
        c.max_missed_offers = self.max_missed;
        c.seed = self.seed;
        c
    }
}

/// A task or agent named by a step: an existing one in a fitting state, or a raw id.
#[derive(Debug, Clone, Copy)]
enum Pick {
    Live(usize),
    Raw(u64),
}

#[derive(Debug, Clone)]
enum Op {
    AddAgent(AgentSpec),
    UpdateAgent(Pick, AgentSpec),
    RemoveAgent(Pick),
    SetState(Pick, AgentState),
    Arrive(
        Pick,
        u32,
        Channel,
        Requirements,
        Priority,
        Option<u64>,
        Option<Sel>,
    ),
    /// Answer an outstanding offer (`true` = accept); `Raw` = a wrong or stale answer.
    Answer(bool, Pick, Option<u64>),
    Complete(Pick),
    FinishWrapUp(Pick),
    Cancel(Pick),
    Abandon(Pick),
    Transfer(Pick, Channel, Requirements),
    Reprioritize(Pick, Priority, CustomerProfile),
    Tick,
}

#[derive(Debug, Clone)]
struct Step {
    dt: u64,
    /// Use a time before the router's latest (error path).
    backwards: bool,
    op: Op,
}

fn sel_s() -> impl Strategy<Value = Sel> {
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
        1u64..4000,
        prop_oneof![Just(0u64), 1u64..3000],
        prop_oneof![Just(0u64), 1u64..3000],
        sel_s(),
        1u8..=3,
        prop_oneof![3 => Just(None), 1 => (1u32..=3).prop_map(Some)],
        any::<u64>(),
    )
        .prop_map(
            |(
                offer_timeout_ms,
                decline_backoff_ms,
                wrap_up_ms,
                strategy,
                fanout,
                max_missed,
                seed,
            )| {
                Cfg {
                    offer_timeout_ms,
                    decline_backoff_ms,
                    wrap_up_ms,
                    strategy,
                    fanout,
                    max_missed,
                    seed,
                }
            },
        )
}

fn pick_s(raw: u64) -> impl Strategy<Value = Pick> {
    prop_oneof![8 => (0usize..16).prop_map(Pick::Live), 1 => (1..=raw + 1).prop_map(Pick::Raw)]
}

fn reqs_s() -> impl Strategy<Value = Requirements> {
    prop_oneof![
        2 => Just(Requirements::default()),
        3 => (
            prop::collection::vec(((0u32..3).prop_map(SkillId), 1u8..=6), 0..3),
            prop::collection::vec((0u32..2).prop_map(TagId), 0..2),
            prop::bool::weighted(0.2),
        )
            .prop_map(|(skills, tags, certification)| Requirements {
                skills: skills.into_iter().map(|(s, l)| SkillReq::new(s, l)).collect(),
                tags,
                certification,
                filter: None,
            }),
        // Invalid: unknown skill, level 0.
        1 => prop_oneof![
            Just(Requirements::default().skill(SkillId(9), 1)),
            Just(Requirements::default().skill(SkillId(0), 0)),
            Just(Requirements::default().tag(TagId(9))),
        ],
    ]
}

fn agent_spec_s() -> impl Strategy<Value = AgentSpec> {
    (
        1..=AGENTS,
        prop::collection::vec(((0u32..3).prop_map(SkillId), 1u8..=10), 0..5),
        prop::collection::vec((0u32..2).prop_map(TagId), 0..3),
        prop::collection::vec((0u32..2).prop_map(TenantId), 0..3),
        0u16..4,
        prop_oneof![Just(0u16), 1u16..3],
        prop_oneof![
            6 => Just(AgentState::Available),
            1 => Just(AgentState::Away),
            1 => Just(AgentState::Offline),
        ],
        prop_oneof![20 => Just(None), 1 => Just(Some(SkillId(7))), 1 => Just(Some(SkillId(1)))],
    )
        .prop_map(|(id, skills, tags, certs, chat, voice, state, bad)| {
            let mut s = AgentSpec::new(AgentId(id))
                .capacity(Channel::Chat, chat)
                .capacity(Channel::Voice, voice)
                .state(state);
            s.skills = skills;
            s.tags = tags;
            s.certifications = certs;
            match bad {
                Some(SkillId(7)) => s.skills.push((SkillId(7), 3)), // unknown skill
                Some(sk) => s.skills.push((sk, 0)),                 // level 0
                None => {}
            }
            s
        })
}

fn priority_s() -> impl Strategy<Value = Priority> {
    (
        0u8..3,
        prop_oneof![30 => -10.0f64..10.0, 1 => Just(f64::NAN)],
    )
        .prop_map(|(class, base)| Priority { class, base })
}

fn op_s() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => agent_spec_s().prop_map(Op::AddAgent),
        1 => (pick_s(AGENTS), agent_spec_s()).prop_map(|(p, s)| Op::UpdateAgent(p, s)),
        1 => pick_s(AGENTS).prop_map(Op::RemoveAgent),
        3 => (
            pick_s(AGENTS),
            prop_oneof![
                3 => Just(AgentState::Available),
                1 => Just(AgentState::Away),
                1 => Just(AgentState::WrapUp),
                1 => Just(AgentState::Offline),
            ]
        )
            .prop_map(|(p, s)| Op::SetState(p, s)),
        10 => (
            pick_s(TASKS),
            prop_oneof![20 => 0u32..2, 1 => Just(5u32)],
            prop_oneof![Just(Channel::Chat), Just(Channel::Voice)],
            reqs_s(),
            priority_s(),
            prop::option::weighted(0.25, 0u64..15_000),
            prop::option::weighted(0.5, sel_s()),
        )
            .prop_map(|(p, ten, c, r, pr, mw, st)| Op::Arrive(p, ten, c, r, pr, mw, st)),
        10 => (any::<bool>(), pick_s(30), prop::option::weighted(0.1, 1..=AGENTS))
            .prop_map(|(acc, p, wrong)| Op::Answer(acc, p, wrong)),
        5 => pick_s(TASKS).prop_map(Op::Complete),
        2 => pick_s(TASKS).prop_map(Op::FinishWrapUp),
        1 => pick_s(TASKS).prop_map(Op::Cancel),
        1 => pick_s(TASKS).prop_map(Op::Abandon),
        2 => (
            pick_s(TASKS),
            prop_oneof![Just(Channel::Chat), Just(Channel::Voice)],
            reqs_s()
        )
            .prop_map(|(p, c, r)| Op::Transfer(p, c, r)),
        2 => (
            pick_s(TASKS),
            priority_s(),
            (0u8..3, prop_oneof![20 => -1.0f64..=1.0, 1 => Just(2.0)]),
        )
            .prop_map(|(p, pr, (v, s))| Op::Reprioritize(
                p,
                pr,
                CustomerProfile {
                    value_tier: v,
                    sentiment: s,
                },
            )),
        3 => Just(Op::Tick),
    ]
}

fn step_s() -> impl Strategy<Value = Step> {
    (
        prop_oneof![3 => Just(0u64), 5 => 1u64..300, 2 => 300u64..5000],
        prop::bool::weighted(0.04),
        op_s(),
    )
        .prop_map(|(dt, backwards, op)| Step { dt, backwards, op })
}

fn steps_s() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step_s(), 1..120)
}

// ------------------------------------------------------------------ the world

fn intern(c: &mut Catalog) {
    c.tenant("brand-a");
    c.tenant("brand-b");
    for s in ["returns", "sizing", "presale"] {
        c.skill(s);
    }
    c.tag("lang:zh");
    c.tag("lang:en");
}

/// A router plus what a host would know from its own calls and the effects it has seen.
#[derive(Clone)]
struct World {
    router: Router,
    clock: Time,
    /// Registered agents' specs (as last given).
    agents: BTreeMap<AgentId, AgentSpec>,
    /// Live tasks: tenant, channel, current hard requirements.
    tasks: BTreeMap<TaskId, (TenantId, Channel, Requirements)>,
    /// Outstanding offers as told by effects: offer → (task, agent).
    offers: BTreeMap<OfferId, (TaskId, AgentId)>,
    /// Each live task's state as told by effects.
    model: BTreeMap<TaskId, TaskState>,
    arrived: u64,
    ended: BTreeMap<&'static str, u64>,
}

impl World {
    fn new(cfg: &RouterConfig) -> Self {
        let mut router = Router::new(cfg.clone()).expect("valid config");
        intern(router.catalog_mut());
        World {
            router,
            clock: Time::ZERO,
            agents: BTreeMap::new(),
            tasks: BTreeMap::new(),
            offers: BTreeMap::new(),
            model: BTreeMap::new(),
            arrived: 0,
            ended: BTreeMap::new(),
        }
    }

    fn resolve(&mut self, step: &Step) -> (Time, Event) {
        self.clock = self.clock.plus_millis(step.dt);
        let now = if step.backwards {
            Time(self.router.now().0.saturating_sub(1 + step.dt))
        } else {
            self.clock
        };
        let agent = |p: Pick| -> AgentId {
            let ids: Vec<AgentId> = self.agents.keys().copied().collect();
            match p {
                Pick::Live(i) if !ids.is_empty() => ids[i % ids.len()],
                Pick::Live(i) => AgentId(i as u64 % AGENTS + 1),
                Pick::Raw(a) => AgentId(a),
            }
        };
        let task = |p: Pick, f: &dyn Fn(&TaskState) -> bool| -> TaskId {
            let ids: Vec<TaskId> = self
                .model
                .iter()
                .filter(|(_, s)| f(s))
                .map(|(t, _)| *t)
                .collect();
            match p {
                Pick::Live(i) if !ids.is_empty() => ids[i % ids.len()],
                Pick::Live(i) => TaskId(i as u64 % TASKS + 1),
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
            Op::RemoveAgent(p) => Event::RemoveAgent { agent: agent(*p) },
            Op::SetState(p, s) => Event::SetAgentState {
                agent: agent(*p),
                state: *s,
            },
            Op::Arrive(p, tenant, channel, reqs, prio, max_wait, strategy) => {
                let id = match *p {
                    Pick::Live(i) => {
                        let free: Vec<u64> = (1..=TASKS)
                            .filter(|t| !self.model.contains_key(&TaskId(*t)))
                            .collect();
                        TaskId(free.get(i % free.len().max(1)).copied().unwrap_or(1))
                    }
                    Pick::Raw(t) => TaskId(t),
                };
                let mut spec =
                    TaskSpec::new(id, TenantId(*tenant), *channel).requires(reqs.clone());
                spec.priority = *prio;
                spec.max_wait_ms = *max_wait;
                spec.strategy = *strategy;
                Event::Arrive(spec)
            }
            Op::Answer(accept, p, wrong) => {
                let live: Vec<(OfferId, AgentId)> =
                    self.offers.iter().map(|(o, (_, a))| (*o, *a)).collect();
                let (offer, mut who) = match *p {
                    Pick::Live(i) if !live.is_empty() => live[i % live.len()],
                    Pick::Live(i) => (OfferId(i as u64 + 1), AgentId(1)),
                    Pick::Raw(i) => (OfferId(i), AgentId(1)),
                };
                if let Some(w) = wrong {
                    who = AgentId(*w);
                }
                if *accept {
                    Event::Accept { offer, agent: who }
                } else {
                    Event::Reject { offer, agent: who }
                }
            }
            Op::Complete(p) => Event::Complete {
                task: task(*p, &|s| matches!(s, TaskState::InService(_))),
            },
            Op::FinishWrapUp(p) => Event::FinishWrapUp {
                task: task(*p, &|s| matches!(s, TaskState::WrapUp(_))),
            },
            Op::Cancel(p) => Event::Cancel {
                task: task(*p, &unserved),
            },
            Op::Abandon(p) => Event::Abandon {
                task: task(*p, &unserved),
            },
            Op::Transfer(p, c, r) => Event::Transfer {
                task: task(*p, &|s| !matches!(s, TaskState::WrapUp(_))),
                channel: *c,
                requirements: r.clone(),
            },
            Op::Reprioritize(p, pr, cu) => Event::Reprioritize {
                task: task(*p, &|_| true),
                priority: *pr,
                customer: *cu,
            },
            Op::Tick => Event::Tick,
        };
        (now, ev)
    }

    /// Applies a call and updates the host-side model from the call and its effects.
    fn apply(&mut self, now: Time, ev: &Event) -> (Result<(), RouterError>, Vec<Effect>) {
        let res = self.router.handle(now, ev.clone());
        let effects: Vec<Effect> = self.router.drain_effects().collect();
        if res.is_ok() {
            match ev {
                Event::AddAgent(s) | Event::UpdateAgent(s) => {
                    let mut s = s.clone();
                    if let Some(old) = self.agents.get(&s.id) {
                        s.state = old.state; // update_agent keeps the state
                    }
                    self.agents.insert(s.id, s);
                }
                Event::RemoveAgent { agent } => {
                    self.agents.remove(agent);
                }
                Event::SetAgentState { agent, state } => {
                    if let Some(s) = self.agents.get_mut(agent) {
                        s.state = *state;
                    }
                }
                Event::Arrive(spec) => {
                    self.arrived += 1;
                    self.tasks.insert(
                        spec.id,
                        (spec.tenant, spec.channel, spec.requirements.clone()),
                    );
                }
                Event::Transfer {
                    task,
                    channel,
                    requirements,
                } => {
                    if let Some(t) = self.tasks.get_mut(task) {
                        t.1 = *channel;
                        t.2 = requirements.clone();
                    }
                }
                Event::Reject { offer, .. } => self.drop_offer(*offer),
                _ => {}
            }
        }
        for e in &effects {
            self.observe(e);
        }
        (res, effects)
    }

    fn drop_offer(&mut self, offer: OfferId) {
        if let Some((task, _)) = self.offers.remove(&offer)
            && let Some(TaskState::Offered(list)) = self.model.get_mut(&task)
        {
            list.retain(|&o| o != offer);
        }
    }

    fn end(&mut self, task: TaskId, how: &'static str) {
        assert!(
            self.model.remove(&task).is_some(),
            "task {task} ended ({how}) but was not live"
        );
        self.tasks.remove(&task);
        *self.ended.entry(how).or_default() += 1;
    }

    fn observe(&mut self, e: &Effect) {
        match e {
            Effect::Queued { task, .. } => {
                self.model.insert(*task, TaskState::Waiting);
            }
            Effect::Offer {
                offer, task, agent, ..
            } => {
                self.offers.insert(*offer, (*task, *agent));
                match self.model.get_mut(task) {
                    Some(TaskState::Offered(list)) => list.push(*offer),
                    Some(s) => *s = TaskState::Offered(vec![*offer]),
                    None => panic!("offer for a task that is not live"),
                }
            }
            Effect::OfferRescinded { offer, .. } | Effect::OfferExpired { offer, .. } => {
                self.drop_offer(*offer);
            }
            Effect::Assigned { task, agent, offer } => {
                self.offers.remove(offer);
                self.model.insert(*task, TaskState::InService(*agent));
            }
            Effect::WrapUpStarted { task, agent, .. } => {
                self.model.insert(*task, TaskState::WrapUp(*agent));
            }
            Effect::Completed { task, .. } => self.end(*task, "completed"),
            Effect::Cancelled { task } => self.end(*task, "cancelled"),
            Effect::Abandoned { task } => self.end(*task, "abandoned"),
            Effect::TimedOut { task } => self.end(*task, "timed_out"),
            Effect::AgentAutoAway { agent } => {
                if let Some(s) = self.agents.get_mut(agent) {
                    s.state = AgentState::Away;
                }
            }
            _ => {}
        }
    }
}

/// Runs the steps, calling `check(world, event, result, effects)` after each.
fn run(
    cfg: &Cfg,
    steps: &[Step],
    mut check: impl FnMut(
        &World,
        &Event,
        &Result<(), RouterError>,
        &[Effect],
    ) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let mut w = World::new(&cfg.config());
    for step in steps {
        let (now, ev) = w.resolve(step);
        let (res, effects) = w.apply(now, &ev);
        check(&w, &ev, &res, &effects)?;
    }
    Ok(())
}

/// Whether `spec` meets the hard requirements of a task of `tenant`, computed from scratch.
fn meets(spec: &AgentSpec, tenant: TenantId, reqs: &Requirements) -> bool {
    let level = |s: SkillId| {
        spec.skills
            .iter()
            .filter(|(k, _)| *k == s)
            .map(|&(_, l)| l)
            .max()
    };
    reqs.skills
        .iter()
        .all(|r| level(r.skill).is_some_and(|l| l >= r.min_level))
        && reqs.tags.iter().all(|t| spec.tags.contains(t))
        && (!reqs.certification || spec.certifications.contains(&tenant))
}

fn is_requirement_reason(r: &Ineligible) -> bool {
    matches!(
        r,
        Ineligible::MissingSkill { .. }
            | Ineligible::LevelTooLow { .. }
            | Ineligible::MissingTag { .. }
            | Ineligible::NotCertified { .. }
    )
}

// ------------------------------------------------------------------ 1-4: state invariants

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128), failure_persistence: None, ..ProptestConfig::default() })]

    /// Invariant 1: every task that entered is either live, in exactly the state its effects say,
    /// or counted in exactly one terminal counter.
    #[test]
    fn conservation(cfg in cfg_s(), steps in steps_s()) {
        run(&cfg, &steps, |w, ev, _, _| {
            let r = &w.router;
            let c = r.counters();
            prop_assert_eq!(c.arrived, w.arrived);
            let ended = |k| w.ended.get(k).copied().unwrap_or(0);
            prop_assert_eq!(c.completed, ended("completed"));
            prop_assert_eq!(c.cancelled, ended("cancelled"));
            prop_assert_eq!(c.abandoned, ended("abandoned"));
            prop_assert_eq!(c.timed_out, ended("timed_out"));
            prop_assert_eq!(
                c.arrived,
                r.live_tasks() as u64 + c.completed + c.cancelled + c.abandoned + c.timed_out
            );
            prop_assert_eq!(r.live_tasks(), w.model.len());
            for t in 1..=TASKS + 1 {
                let t = TaskId(t);
                prop_assert_eq!(r.task_state(t), w.model.get(&t).cloned(), "task {} after {:?}", t, ev);
            }
            let snap = r.snapshot(r.now());
            prop_assert_eq!(
                snap.tasks_waiting + snap.tasks_offered + snap.tasks_in_service + snap.tasks_wrap_up,
                r.live_tasks()
            );
            prop_assert_eq!(snap.tasks_waiting, r.waiting_tasks());
            prop_assert_eq!(r.outstanding_offers(), w.offers.len());
            Ok(())
        })?;
    }

    /// Invariant 2: no agent is ever over capacity on any channel, and its load is exactly the
    /// offers and work it holds there.
    #[test]
    fn capacity(cfg in cfg_s(), steps in steps_s()) {
        run(&cfg, &steps, |w, ev, _, _| {
            let r = &w.router;
            for (id, spec) in &w.agents {
                for c in CHANNELS {
                    let load = r.agent_load(*id, c).expect("registered agent");
                    prop_assert!(
                        load <= spec.capacity.get(c),
                        "agent {} on {}: load {} > capacity {} after {:?}", id, c, load, spec.capacity.get(c), ev
                    );
                    let offers = w
                        .offers
                        .values()
                        .filter(|(t, a)| a == id && w.tasks.get(t).is_some_and(|x| x.1 == c))
                        .count();
                    let work = w
                        .model
                        .iter()
                        .filter(|(t, s)| {
                            matches!(s, TaskState::InService(a) | TaskState::WrapUp(a) if a == id)
                                && w.tasks.get(t).is_some_and(|x| x.1 == c)
                        })
                        .count();
                    prop_assert_eq!(usize::from(load), offers + work, "agent {} on {}", id, c);
                }
            }
            for a in r.snapshot(r.now()).agents {
                for i in 0..Channel::COUNT {
                    prop_assert!(a.load[i] <= a.capacity[i]);
                }
            }
            Ok(())
        })?;
    }

    /// Invariant 3: every offer goes to an agent that meets the task's hard requirements — as
    /// computed here from the specs, and as `explain` reports.
    #[test]
    fn eligibility(cfg in cfg_s(), steps in steps_s()) {
        run(&cfg, &steps, |w, _, _, effects| {
            for e in effects {
                let Effect::Offer { offer, task, agent, channel, .. } = e else { continue };
                if w.router.offer(*offer).is_none() {
                    continue; // settled later in the same call (e.g. by a later timer)
                }
                let (tenant, ch, reqs) = w.tasks.get(task).expect("offered task is live");
                prop_assert_eq!(channel, ch);
                let spec = w.agents.get(agent).expect("offered agent is registered");
                prop_assert!(meets(spec, *tenant, reqs), "offer {} of {} to {} who does not meet {:?}", offer, task, agent, reqs);
                prop_assert!(spec.capacity.get(*channel) > 0);
                let why = w.router.explain(*task, *agent).expect("live task and agent");
                prop_assert!(
                    !why.reasons.iter().any(|r| is_requirement_reason(r) || matches!(r, Ineligible::DeclinedRecently { .. })),
                    "offer {} of {} to {}: {:?}", offer, task, agent, why.reasons
                );
            }
            Ok(())
        })?;
    }

    /// Invariant 4: no waiting task has a free, eligible agent — by the router's own checker and
    /// by asking `explain` about every (waiting task, agent) pair.
    #[test]
    fn work_conservation(cfg in cfg_s(), steps in steps_s()) {
        run(&cfg, &steps, |w, ev, _, _| {
            w.router.check_invariants().map_err(|e| TestCaseError::fail(format!("after {ev:?}: {e}")))?;
            for (t, s) in &w.model {
                if *s != TaskState::Waiting {
                    continue;
                }
                for a in w.agents.keys() {
                    let why = w.router.explain(*t, *a).expect("live task and agent");
                    prop_assert!(!why.eligible(), "task {} waits while agent {} could take it, after {:?}", t, a, ev);
                }
            }
            Ok(())
        })?;
    }
}

// ------------------------------------------------------------------ 5: order

/// The offers a freed agent should get, computed from the reference's serving order *before* the
/// call: walk the waiting tasks in order and take each one the agent is eligible for (ignoring
/// presence and load, which the call changes) while it has room on the task's channel.
fn expected_offers(
    before: &World,
    oracle: &NaiveRouter,
    agent: AgentId,
    mut room: [u16; Channel::COUNT],
) -> Vec<TaskId> {
    let mut out = Vec::new();
    for t in oracle.waiting_order() {
        let Some((_, ch, _)) = before.tasks.get(&t) else {
            continue;
        };
        let Ok(why) = before.router.explain(t, agent) else {
            continue;
        };
        let blocked = why.reasons.iter().any(|r| {
            !matches!(
                r,
                Ineligible::NotAvailable { .. } | Ineligible::AtCapacity { .. }
            )
        });
        if !blocked && room[ch.index()] > 0 {
            room[ch.index()] -= 1;
            out.push(t);
        }
    }
    out
}

/// Contention: many arrivals across queues and classes, agents that accept, complete, pause and
/// come back — so that freed agents usually face several waiting tasks they could take.
fn order_steps_s() -> impl Strategy<Value = Vec<Step>> {
    let valid_reqs = || {
        prop_oneof![
            1 => Just(Requirements::default()),
            2 => (
                prop::collection::vec(((0u32..3).prop_map(SkillId), 1u8..=5), 0..2),
                prop::collection::vec((0u32..2).prop_map(TagId), 0..2),
            )
                .prop_map(|(skills, tags)| Requirements {
                    skills: skills.into_iter().map(|(s, l)| SkillReq::new(s, l)).collect(),
                    tags,
                    certification: false,
                    filter: None,
                }),
        ]
    };
    let op = prop_oneof![
        2 => agent_spec_s().prop_map(Op::AddAgent),
        10 => (
            (0usize..16).prop_map(Pick::Live),
            0u32..2,
            prop_oneof![3 => Just(Channel::Chat), 1 => Just(Channel::Voice)],
            valid_reqs(),
            (0u8..2, -10.0f64..10.0).prop_map(|(class, base)| Priority { class, base }),
            Just(None),
            prop::option::weighted(0.5, sel_s()),
        )
            .prop_map(|(p, ten, c, r, pr, mw, st)| Op::Arrive(p, ten, c, r, pr, mw, st)),
        8 => (0usize..16).prop_map(|i| Op::Answer(true, Pick::Live(i), None)),
        1 => (0usize..16).prop_map(|i| Op::Answer(false, Pick::Live(i), None)),
        6 => (0usize..16).prop_map(|i| Op::Complete(Pick::Live(i))),
        2 => (0usize..16).prop_map(|i| Op::FinishWrapUp(Pick::Live(i))),
        3 => (0usize..16).prop_map(|i| Op::SetState(Pick::Live(i), AgentState::Available)),
        1 => (0usize..16).prop_map(|i| Op::SetState(Pick::Live(i), AgentState::Away)),
        1 => ((0usize..16), (0u8..2, -10.0f64..10.0))
            .prop_map(|(i, (class, base))| Op::Reprioritize(
                Pick::Live(i),
                Priority { class, base },
                CustomerProfile::default(),
            )),
        1 => ((0usize..16), valid_reqs())
            .prop_map(|(i, r)| Op::Transfer(Pick::Live(i), Channel::Chat, r)),
        1 => Just(Op::Tick),
    ];
    prop::collection::vec(
        (prop_oneof![2 => Just(0u64), 3 => 1u64..2000], op).prop_map(|(dt, op)| Step {
            dt,
            backwards: false,
            op,
        }),
        20..150,
    )
}

fn order_cfg_s() -> impl Strategy<Value = Cfg> {
    // Back-offs either never hold or never end during a run, so that no back-off runs out during
    // the call under test (which would free other pairs at the same time).
    (cfg_s(), prop_oneof![Just(0u64), Just(1_000_000_000_000u64)]).prop_map(|(mut c, b)| {
        c.decline_backoff_ms = b;
        c
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), failure_persistence: None, ..ProptestConfig::default() })]

    /// Invariant 5: when an agent frees capacity (completes a task without wrap-up, finishes
    /// wrap-up, or becomes `Available`), the offers it gets are exactly the highest-priority
    /// waiting tasks it is eligible for, in serving order, as many as it has room for.
    #[test]
    fn order_freed_agent_gets_highest_priority_task(cfg in order_cfg_s(), steps in order_steps_s()) {
        let mut w = World::new(&cfg.config());
        let mut oracle = NaiveRouter::new(cfg.config()).expect("valid config");
        intern(oracle.catalog_mut());
        let mut checked = 0;
        for step in &steps {
            let (now, ev) = w.resolve(step);
            // Which agent does this call free, and how much room will it have?
            let freed: Option<(AgentId, [u16; Channel::COUNT])> = (|| {
                let r = &w.router;
                let room_of = |a: AgentId| -> Option<[u16; Channel::COUNT]> {
                    let spec = w.agents.get(&a)?;
                    Some(std::array::from_fn(|i| {
                        let c = Channel::ALL[i];
                        spec.capacity.get(c) - r.agent_load(a, c).unwrap_or(0)
                    }))
                };
                match &ev {
                    Event::Complete { task } if cfg.wrap_up_ms == 0 => {
                        let Some(TaskState::InService(a)) = r.task_state(*task) else { return None };
                        if r.agent_state(a) != Some(AgentState::Available) { return None; }
                        let mut room = room_of(a)?;
                        room[w.tasks.get(task)?.1.index()] += 1;
                        Some((a, room))
                    }
                    Event::FinishWrapUp { task } => {
                        let Some(TaskState::WrapUp(a)) = r.task_state(*task) else { return None };
                        if r.agent_state(a) != Some(AgentState::Available) { return None; }
                        let mut room = room_of(a)?;
                        room[w.tasks.get(task)?.1.index()] += 1;
                        Some((a, room))
                    }
                    Event::SetAgentState { agent, state: AgentState::Available } => {
                        match r.agent_state(*agent) {
                            Some(AgentState::Away | AgentState::WrapUp | AgentState::Offline) => {
                                Some((*agent, room_of(*agent)?))
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                }
            })();
            let expected = freed.map(|(a, room)| (a, expected_offers(&w, &oracle, a, room)));
            let (res, effects) = w.apply(now, &ev);
            let ores = oracle.handle(now, ev.clone());
            prop_assert_eq!(format!("{res:?}"), format!("{ores:?}"));
            prop_assert_eq!(&effects, &oracle.drain_effects().collect::<Vec<_>>());
            if let (Ok(()), Some((agent, want))) = (&res, expected) {
                let got: Vec<TaskId> = effects
                    .iter()
                    .filter_map(|e| match e {
                        Effect::Offer { task, agent: a, .. } if *a == agent => Some(*task),
                        _ => None,
                    })
                    .collect();
                let others = effects
                    .iter()
                    .filter(|e| matches!(e, Effect::Offer { agent: a, .. } if *a != agent))
                    .count();
                prop_assert_eq!(others, 0, "only the freed agent can take new work: {:?}", effects);
                prop_assert_eq!(&got, &want, "agent {} freed by {:?}", agent, ev);
                checked += 1;
            }
        }
        let _ = checked;
    }
}

/// A fixed scenario for invariant 5 across queues: the freed agent qualifies for two queues and
/// is handed the better task across both, not the head of the queue it happens to look at first.
#[test]
fn order_across_queues_and_classes() {
    let mut cfg = RouterConfig::default();
    cfg.decline_backoff_ms = 0;
    let mut r = Router::new(cfg).unwrap();
    let brand = r.catalog_mut().tenant("brand");
    let returns = r.catalog_mut().skill("returns");
    let sizing = r.catalog_mut().skill("sizing");
    let t0 = Time::ZERO;
    r.add_agent(
        t0,
        AgentSpec::new(AgentId(1))
            .skill(returns, 5)
            .skill(sizing, 5)
            .capacity(Channel::Chat, 1)
            .state(AgentState::Available),
    )
    .unwrap();
    // Occupy the agent.
    r.arrive(t0, TaskSpec::new(TaskId(1), brand, Channel::Chat))
        .unwrap();
    let o = r
        .drain_effects()
        .find_map(|e| match e {
            Effect::Offer { offer, .. } => Some(offer),
            _ => None,
        })
        .unwrap();
    r.accept(t0, o, AgentId(1)).unwrap();
    // Waiting: old returns task (class 0), newer sizing task (class 0, higher base), and a
    // newest sizing task in class 1.
    let at = Time::from_secs;
    r.arrive(
        at(1),
        TaskSpec::new(TaskId(2), brand, Channel::Chat)
            .requires(Requirements::default().skill(returns, 3)),
    )
    .unwrap();
    r.arrive(
        at(2),
        TaskSpec::new(TaskId(3), brand, Channel::Chat)
            .requires(Requirements::default().skill(sizing, 3))
            .priority(0, 50.0),
    )
    .unwrap();
    r.arrive(
        at(3),
        TaskSpec::new(TaskId(4), brand, Channel::Chat)
            .requires(Requirements::default().skill(sizing, 3))
            .priority(1, 0.0),
    )
    .unwrap();
    r.drain_effects().for_each(drop);
    let mut served = Vec::new();
    let mut t = at(10);
    let mut current = TaskId(1);
    for _ in 0..3 {
        r.complete(t, current).unwrap();
        let (offer, task) = r
            .drain_effects()
            .find_map(|e| match e {
                Effect::Offer { offer, task, .. } => Some((offer, task)),
                _ => None,
            })
            .unwrap();
        served.push(task);
        r.accept(t, offer, AgentId(1)).unwrap();
        current = task;
        t = t.plus_millis(1000);
        r.check_invariants().unwrap();
    }
    // Class 1 first, then the higher base (50 points beat 1 s of extra age), then the rest.
    assert_eq!(served, vec![TaskId(4), TaskId(3), TaskId(2)]);
}

// ------------------------------------------------------------------ 6: no starvation

/// Drives one agent (chat capacity 1) that accepts every offer at once and completes each task
/// `service_ms` later, while a new task with base `gap` arrives every `interval_ms` (slower
/// service than arrivals, so the higher-base backlog never empties). Returns when `TaskId(0)`
/// (base 0, arrived first) is assigned or times out, or `None` if neither happens by `horizon`.
fn starvation_run(
    aging: f64,
    urgency: f64,
    gap: f64,
    interval_ms: u64,
    service_ms: u64,
    max_wait_ms: Option<u64>,
    horizon: Time,
) -> Option<(Time, Effect)> {
    let mut cfg = RouterConfig::default();
    cfg.priority.aging_per_sec = aging;
    cfg.priority.urgency_per_sec = urgency;
    cfg.offer_timeout_ms = 1_000_000_000;
    let mut r = Router::new(cfg).unwrap();
    let brand = r.catalog_mut().tenant("brand");
    r.add_agent(
        Time::ZERO,
        AgentSpec::new(AgentId(1))
            .capacity(Channel::Chat, 1)
            .state(AgentState::Available),
    )
    .unwrap();
    // The agent is busy with task 1 first; then the old task arrives.
    r.arrive(Time::ZERO, TaskSpec::new(TaskId(1), brand, Channel::Chat))
        .unwrap();
    let mut old = TaskSpec::new(TaskId(0), brand, Channel::Chat);
    old.max_wait_ms = max_wait_ms;
    r.arrive(Time::ZERO, old).unwrap();
    let mut next_id = 2u64;
    let mut next_arrival = Time::from_millis(interval_ms);
    let mut finish: Option<(Time, TaskId)> = None;
    let mut pending_offer: Option<(OfferId, TaskId)> = None;
    let mut now = Time::ZERO;
    loop {
        for e in r.drain_effects() {
            match e {
                Effect::Offer { offer, task, .. } => pending_offer = Some((offer, task)),
                Effect::TimedOut { task: TaskId(0) } => return Some((now, e)),
                Effect::Assigned {
                    task: TaskId(0), ..
                } => return Some((now, e)),
                _ => {}
            }
        }
        r.check_invariants().unwrap();
        if let Some((offer, task)) = pending_offer.take() {
            r.accept(now, offer, AgentId(1)).unwrap();
            finish = Some((now.plus_millis(service_ms), task));
            continue;
        }
        // Next event: an arrival, the end of service, or a timer.
        let mut t = next_arrival;
        if let Some((f, _)) = finish {
            t = t.min(f);
        }
        if let Some(p) = r.poll_timeout() {
            t = t.min(p);
        }
        if t > horizon {
            return None;
        }
        now = t.max(now);
        if finish.is_some_and(|(f, _)| f == now) {
            let (_, task) = finish.take().unwrap();
            r.complete(now, task).unwrap();
        } else if next_arrival == now {
            r.arrive(
                now,
                TaskSpec::new(TaskId(next_id), brand, Channel::Chat).priority(0, gap),
            )
            .unwrap();
            next_id += 1;
            next_arrival = now.plus_millis(interval_ms);
        } else {
            r.handle_timeout(now).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), failure_persistence: None, ..ProptestConfig::default() })]

    /// Invariant 6: under aging, an old low-base task is served even though higher-base tasks keep
    /// arriving faster than they are served. Its score overtakes every task that arrives more
    /// than `gap / (aging + urgency)` seconds after it, so at most that many arrivals go first.
    #[test]
    fn no_starvation_with_aging(
        aging in 0.05f64..2.0,
        urgency in prop_oneof![Just(0.0f64), 0.0f64..1.0],
        gap in 1.0f64..40.0,
        interval_ms in 200u64..3000,
        slower in 1.1f64..3.0,
    ) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let service_ms = (interval_ms as f64 * slower) as u64;
        let overtakes_after_s = gap / (aging + urgency);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let ahead = (overtakes_after_s * 1000.0 / interval_ms as f64).ceil() as u64 + 2;
        let bound = Time::from_millis(service_ms * (ahead + 2));
        let out = starvation_run(aging, urgency, gap, interval_ms, service_ms, None, bound);
        match out {
            Some((t, Effect::Assigned { .. })) => prop_assert!(t <= bound),
            other => prop_assert!(false, "old task not served by {}: {:?}", bound, other),
        }
    }

    /// Invariant 6, the policy side: without aging the old task would wait forever behind the
    /// stream; with a maximum wait it times out exactly then instead.
    #[test]
    fn without_aging_old_task_times_out_by_policy(
        gap in 1.0f64..40.0,
        interval_ms in 200u64..3000,
        max_wait_s in 5u64..60,
    ) {
        let service_ms = interval_ms * 2;
        let horizon = Time::from_secs(max_wait_s * 3 + 10);
        let out = starvation_run(0.0, 0.0, gap, interval_ms, service_ms, Some(max_wait_s * 1000), horizon);
        match out {
            Some((t, Effect::TimedOut { .. })) => prop_assert_eq!(t, Time::from_secs(max_wait_s)),
            other => prop_assert!(false, "expected a timeout at {} s: {:?}", max_wait_s, other),
        }
        // And with no maximum wait it is indeed never served within the horizon.
        prop_assert!(starvation_run(0.0, 0.0, gap, interval_ms, service_ms, None, horizon).is_none());
    }
}

// ------------------------------------------------------------------ §5: errors change nothing

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128), failure_persistence: None, ..ProptestConfig::default() })]

    /// A call that returns an error leaves the router exactly as it was: same exported state,
    /// snapshot, counters, task states, next timer, no effects — and the same behaviour afterwards.
    #[test]
    fn errors_leave_state_untouched(cfg in cfg_s(), steps in steps_s()) {
        let mut w = World::new(&cfg.config());
        let mut errors = 0;
        for step in &steps {
            let (now, ev) = w.resolve(step);
            let before = w.router.clone();
            let (res, effects) = w.apply(now, &ev);
            if res.is_ok() {
                continue;
            }
            errors += 1;
            let r = &w.router;
            prop_assert!(effects.is_empty(), "{:?} failed but emitted {:?}", ev, effects);
            prop_assert_eq!(format!("{:?}", r.export_state()), format!("{:?}", before.export_state()), "{:?}", ev);
            prop_assert_eq!(r.now(), before.now());
            prop_assert_eq!(r.snapshot(now), before.snapshot(now));
            prop_assert_eq!(r.counters(), before.counters());
            prop_assert_eq!(r.poll_timeout(), before.poll_timeout());
            for t in 1..=TASKS + 1 {
                prop_assert_eq!(r.task_state(TaskId(t)), before.task_state(TaskId(t)));
            }
            // Same behaviour afterwards: a far-future tick fires the same timers the same way.
            let (mut a, mut b) = (r.clone(), before);
            let later = a.now().plus_millis(60_000);
            prop_assert_eq!(a.handle_timeout(later), b.handle_timeout(later));
            prop_assert_eq!(a.drain_effects().collect::<Vec<_>>(), b.drain_effects().collect::<Vec<_>>());
        }
        let _ = errors;
    }
}
