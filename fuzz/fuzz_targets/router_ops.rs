//! Fuzzes [`Router`] with arbitrary sequences of operations.
//!
//! The input decodes into a configuration and a list of steps. Ids are folded onto a small
//! universe (8 agents, 16 tasks, 4 skills, 3 tags, 3 tenants, the offers seen so far) so that most
//! operations hit real agents, tasks and offers, with an escape hatch to unknown ids. Bad inputs
//! are generated on purpose: unknown ids, time going backwards, NaN / infinite / out-of-range
//! numbers, levels 0 and 11, zero capacity, fan-out 0, stale and foreign offer ids, `created_at`
//! in the future.
//!
//! After every step:
//! * `check_invariants()` is `Ok`;
//! * a call that returned an error emitted nothing and left the router as it was (compared through
//!   everything the public read API shows: snapshot, counters, every task's and agent's state,
//!   load, priority, every offer, every `explain` pair, the next timer);
//! * router B, driven by the same method calls, returned the same result and emitted the same
//!   effects (determinism);
//! * router C, driven by the equivalent [`Event`]s through `Router::handle`, did the same (the
//!   journal/replay guarantee);
//! * the read-only calls (`explain`, `snapshot`, `task_state`, …) do not panic;
//! * after a `Restore` step (router A replaced by `Router::from_state(A.export_state())`), A
//!   shows the same state as B and goes on agreeing with it.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;
use switchboard::{
    AgentId, AgentKind, AgentSpec, AgentState, Channel, CustomerProfile, DefaultScoring, Effect,
    Event, OfferId, Preferences, Priority, Requirements, Retarget, Router, RouterConfig, SkillId,
    SkillReq, Strategy, TagId, TaskId, TaskSpec, TenantId, TenantShare, Time,
};

const AGENTS: u8 = 8;
const TASKS: u8 = 16;
const SKILLS: u8 = 4;
const TAGS: u8 = 3;
const TENANTS: u8 = 3;

#[derive(Arbitrary, Debug, Clone)]
struct Input {
    cfg: Cfg,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug, Clone)]
struct Cfg {
    offer_timeout_ms: u16,
    decline_backoff_ms: u16,
    wrap_up_ms: u16,
    default_sla_ms: u32,
    strategy: Strat,
    fanout: u8,
    max_missed: Option<u8>,
    aging: Num,
    urgency: Num,
    value_tier_w: Num,
    seed: u64,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum When {
    Same,
    Later(u16),
    MuchLater(u32),
    /// This call only: `now - ms` (the harness clock does not move back).
    Earlier(u16),
}

#[derive(Arbitrary, Debug, Clone)]
struct Step {
    when: When,
    op: Op,
}

/// An id folded onto the universe (`Known`) or arbitrary (`Raw`, usually unknown).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Id {
    Known(u8),
    Raw(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Name {
    Known(u8),
    Raw(u32),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    Small(i8),
    Raw(f64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Strat {
    BestScore,
    LongestIdle,
    LeastOccupied,
    RoundRobin,
    Random,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ch {
    Voice,
    Chat,
    Email,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum St {
    Offline,
    Available,
    Away,
    WrapUp,
}

/// Which offer an answer names.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum OfferRef {
    /// The `n`-th most recent offer seen (possibly already answered, rescinded or expired).
    Recent(u8),
    Raw(u64),
}

/// Which agent answers.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Answerer {
    /// The agent the offer was made to.
    Owner,
    Other(Id),
}

#[derive(Arbitrary, Debug, Clone)]
struct AgentIn {
    id: Id,
    skills: Vec<(Name, u8)>,
    tags: Vec<Name>,
    certs: Vec<Name>,
    chat: u8,
    voice: u8,
    email: u8,
    state: St,
    bot: bool,
}

#[derive(Arbitrary, Debug, Clone)]
struct ReqIn {
    skills: Vec<(Name, u8)>,
    tags: Vec<Name>,
    cert: bool,
    /// Index into `FILTERS` (residual agent filters), if any.
    filter: Option<u8>,
}

/// Residual filters of the kind target expressions compile to.
const FILTERS: &[&str] = &[
    r#"not has_tag("tag0")"#,
    r#"skill("skill1") < 5 or has_tag("tag1")"#,
    "agent.id == 3",
    r#"agent.kind == "bot""#,
    r#""tenant1" in agent.certified"#,
];

#[derive(Arbitrary, Debug, Clone)]
struct TaskIn {
    id: Id,
    tenant: Name,
    channel: Ch,
    req: ReqIn,
    pref_skills: Vec<(Name, Num)>,
    pref_tags: Vec<(Name, Num)>,
    pref_agent: Option<Id>,
    value_tier: u8,
    sentiment: Num,
    class: u8,
    base: Num,
    sla_ms: Option<u32>,
    max_wait_ms: Option<u16>,
    /// `created_at = now - back` (or in the future when `ahead`).
    created_back: Option<(u16, bool)>,
    strategy: Option<Strat>,
    fanout: Option<u8>,
}

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    AddAgent(AgentIn),
    UpdateAgent(AgentIn),
    RemoveAgent(Id),
    SetState(Id, St),
    Arrive(TaskIn),
    Accept(OfferRef, Answerer),
    Reject(OfferRef, Answerer),
    Complete(Id),
    FinishWrapUp(Id),
    Cancel(Id),
    Abandon(Id),
    Transfer(Id, Ch, ReqIn),
    Reprioritize {
        task: Id,
        class: u8,
        base: Num,
        value_tier: u8,
        sentiment: Num,
    },
    Retarget(Id, ReqIn, Option<u8>, Option<(u8, Num)>),
    SetShares(Vec<(u8, u8, Option<u8>)>),
    Tick,
    /// Read-only calls about a task and an agent.
    Look(Id, Id),
    /// Router A only: replaced by `Router::from_state(A.export_state())`. From then on it must
    /// still agree with B and C.
    Restore,
}

// ------------------------------------------------------------------ decoding

fn agent_id(id: Id) -> AgentId {
    match id {
        Id::Known(x) => AgentId(u64::from(x % AGENTS)),
        Id::Raw(x) => AgentId(x),
    }
}

fn task_id(id: Id) -> TaskId {
    match id {
        Id::Known(x) => TaskId(u64::from(x % TASKS)),
        Id::Raw(x) => TaskId(x),
    }
}

fn name(n: Name, universe: u8) -> u32 {
    match n {
        Name::Known(x) => u32::from(x % universe),
        Name::Raw(x) => x,
    }
}

/// Levels 0..=11: 0 and 11 are invalid.
fn level(l: u8) -> u8 {
    l % 12
}

fn num(n: Num) -> f64 {
    match n {
        Num::Small(x) => f64::from(x) / 8.0,
        Num::Raw(x) => x,
    }
}

/// A per-second rate: mostly small and non-negative, sometimes anything.
fn rate(n: Num) -> f64 {
    match n {
        Num::Small(x) => f64::from(x.unsigned_abs()) / 64.0,
        Num::Raw(x) => x,
    }
}

/// Sentiment: mostly in [-1, 1], sometimes out of range or not finite.
fn sentiment(n: Num) -> f64 {
    match n {
        Num::Small(x) => f64::from(x) / 100.0,
        Num::Raw(x) => x,
    }
}

fn strategy(s: Strat) -> Strategy {
    match s {
        Strat::BestScore => Strategy::BestScore,
        Strat::LongestIdle => Strategy::LongestIdle,
        Strat::LeastOccupied => Strategy::LeastOccupied,
        Strat::RoundRobin => Strategy::RoundRobin,
        Strat::Random => Strategy::Random,
    }
}

fn channel(c: Ch) -> Channel {
    match c {
        Ch::Voice => Channel::Voice,
        Ch::Chat => Channel::Chat,
        Ch::Email => Channel::Email,
    }
}

fn state(s: St) -> AgentState {
    match s {
        St::Offline => AgentState::Offline,
        St::Available => AgentState::Available,
        St::Away => AgentState::Away,
        St::WrapUp => AgentState::WrapUp,
    }
}

// `RouterConfig` is `#[non_exhaustive]`: no struct literal outside its crate.
#[allow(clippy::field_reassign_with_default)]
fn config(c: &Cfg) -> RouterConfig {
    let mut cfg = RouterConfig::default();
    cfg.offer_timeout_ms = u64::from(c.offer_timeout_ms);
    cfg.decline_backoff_ms = u64::from(c.decline_backoff_ms);
    cfg.wrap_up_ms = u64::from(c.wrap_up_ms) % 4 * 1000;
    cfg.default_sla_ms = u64::from(c.default_sla_ms);
    cfg.default_strategy = strategy(c.strategy);
    // 0 (invalid) once in 256.
    cfg.default_fanout = if c.fanout == 0 { 0 } else { 1 + c.fanout % 3 };
    cfg.max_missed_offers = c
        .max_missed
        .map(|m| if m == 0 { 0 } else { 1 + u32::from(m % 3) });
    cfg.priority.aging_per_sec = rate(c.aging);
    cfg.priority.urgency_per_sec = rate(c.urgency);
    cfg.priority.value_tier = num(c.value_tier_w);
    cfg.seed = c.seed;
    cfg
}

fn agent_spec(a: &AgentIn) -> AgentSpec {
    let mut spec = AgentSpec::new(agent_id(a.id))
        .capacity(Channel::Chat, u16::from(a.chat % 4))
        .capacity(Channel::Voice, u16::from(a.voice % 2))
        .capacity(Channel::Email, u16::from(a.email % 2))
        .state(state(a.state))
        .kind(if a.bot {
            AgentKind::Bot
        } else {
            AgentKind::Human
        });
    for &(s, l) in a.skills.iter().take(6) {
        spec = spec.skill(SkillId(name(s, SKILLS)), level(l));
    }
    for &t in a.tags.iter().take(4) {
        spec = spec.tag(TagId(name(t, TAGS)));
    }
    for &t in a.certs.iter().take(4) {
        spec = spec.certified(TenantId(name(t, TENANTS)));
    }
    spec
}

fn requirements(r: &ReqIn) -> Requirements {
    let mut req = Requirements::default();
    for &(s, l) in r.skills.iter().take(3) {
        req.skills
            .push(SkillReq::new(SkillId(name(s, SKILLS)), level(l)));
    }
    for &t in r.tags.iter().take(2) {
        req.tags.push(TagId(name(t, TAGS)));
    }
    req.certification = r.cert;
    req.filter = r.filter.map(|i| {
        switchboard::expr::Filter::new(FILTERS[usize::from(i) % FILTERS.len()])
            .expect("the fixed filters parse")
    });
    req
}

fn retarget(req: &ReqIn, strategy: Option<u8>, priority: Option<(u8, Num)>) -> Retarget {
    const ALL: [Strategy; 5] = [
        Strategy::BestScore,
        Strategy::LongestIdle,
        Strategy::LeastOccupied,
        Strategy::RoundRobin,
        Strategy::Random,
    ];
    Retarget {
        requirements: requirements(req),
        strategy: strategy.map(|s| ALL[usize::from(s) % ALL.len()]),
        priority: priority.map(|(class, base)| Priority {
            class: class % 3,
            base: num(base),
        }),
        preferences: None,
    }
}

fn shares(list: &[(u8, u8, Option<u8>)]) -> Vec<TenantShare> {
    list.iter()
        .take(4)
        .map(|&(t, reserved, cap)| TenantShare {
            tenant: TenantId(u32::from(t % (TENANTS + 1))),
            reserved: u32::from(reserved % 4),
            cap: cap.map(|c| u32::from(c % 6)),
        })
        .collect()
}

fn task_spec(t: &TaskIn, now: Time) -> TaskSpec {
    let mut prefs = Preferences::default();
    for &(s, w) in t.pref_skills.iter().take(3) {
        prefs = prefs.skill(SkillId(name(s, SKILLS)), num(w));
    }
    for &(g, w) in t.pref_tags.iter().take(2) {
        prefs = prefs.tag(TagId(name(g, TAGS)), num(w));
    }
    if let Some(a) = t.pref_agent {
        prefs = prefs.agent(agent_id(a));
    }
    let mut spec = TaskSpec::new(
        task_id(t.id),
        TenantId(name(t.tenant, TENANTS)),
        channel(t.channel),
    )
    .requires(requirements(&t.req))
    .prefers(prefs)
    .customer(CustomerProfile {
        value_tier: t.value_tier % 5,
        sentiment: sentiment(t.sentiment),
    })
    .priority(t.class % 3, num(t.base));
    spec.sla_ms = t.sla_ms.map(u64::from);
    spec.max_wait_ms = t.max_wait_ms.map(u64::from);
    spec.created_at = t.created_back.map(|(ms, ahead)| {
        if ahead {
            now.plus_millis(u64::from(ms))
        } else {
            Time::from_millis(now.as_millis().saturating_sub(u64::from(ms)))
        }
    });
    spec.strategy = t.strategy.map(strategy);
    spec.fanout = t.fanout.map(|f| f % 4);
    spec
}

// ------------------------------------------------------------------ the harness

struct Harness {
    /// Driven by method calls; checked after every step.
    a: Router,
    /// Driven by the same method calls: must agree with `a` (determinism).
    b: Router,
    /// Driven by the equivalent `Event`s through `Router::handle`: must agree with `a`.
    c: Router,
    now: Time,
    /// Every offer seen in `a`'s effects: (offer, agent).
    offers: Vec<(OfferId, AgentId)>,
    /// Every task and agent id that may be live (the universe plus raw ids that were used).
    tasks: BTreeSet<TaskId>,
    agents: BTreeSet<AgentId>,
}

/// Everything the public read API shows about `r`, as text.
fn observe(r: &Router, h: &Harness) -> String {
    use std::fmt::Write;
    let now = r.now();
    let mut out = format!(
        "{now:?} {:?} live {} waiting {} agents {} queues {} offers {} timer {:?}\n{:?}\n",
        r.counters(),
        r.live_tasks(),
        r.waiting_tasks(),
        r.agent_count(),
        r.queue_count(),
        r.outstanding_offers(),
        r.poll_timeout(),
        r.snapshot(now),
    );
    for &a in &h.agents {
        let loads: Vec<_> = Channel::ALL.iter().map(|&c| r.agent_load(a, c)).collect();
        let _ = writeln!(out, "{a:?} {:?} {loads:?}", r.agent_state(a));
    }
    for &t in &h.tasks {
        let _ = writeln!(
            out,
            "{t:?} {:?} {:?} {:?}",
            r.task_state(t),
            r.task_queue(t),
            r.task_priority_at(t, now)
        );
        for &a in &h.agents {
            let _ = writeln!(out, "  {a:?} {:?}", r.explain(t, a));
        }
    }
    for &(o, _) in &h.offers {
        let _ = writeln!(out, "{o:?} {:?} {:?}", r.offer(o), r.explain_offer(o));
    }
    out
}

fn new_router(cfg: &RouterConfig) -> Option<Router> {
    let mut r = Router::new(cfg.clone()).ok()?;
    let cat = r.catalog_mut();
    for i in 0..SKILLS {
        cat.skill(&format!("skill{i}"));
    }
    for i in 0..TAGS {
        cat.tag(&format!("tag{i}"));
    }
    for i in 0..TENANTS {
        cat.tenant(&format!("tenant{i}"));
    }
    Some(r)
}

fn offer_ref(offers: &[(OfferId, AgentId)], r: OfferRef, who: Answerer) -> (OfferId, AgentId) {
    let (offer, owner) = match r {
        OfferRef::Recent(n) => {
            let n = usize::from(n);
            if n < offers.len() {
                offers[offers.len() - 1 - n]
            } else {
                (OfferId(n as u64), AgentId(0))
            }
        }
        OfferRef::Raw(x) => (OfferId(x), AgentId(x % u64::from(AGENTS))),
    };
    let agent = match who {
        Answerer::Owner => owner,
        Answerer::Other(id) => agent_id(id),
    };
    (offer, agent)
}

/// The event twin of a state-changing op; `None` for read-only ops.
fn event(offers: &[(OfferId, AgentId)], op: &Op, now: Time) -> Option<Event> {
    Some(match op {
        Op::AddAgent(a) => Event::AddAgent(agent_spec(a)),
        Op::UpdateAgent(a) => Event::UpdateAgent(agent_spec(a)),
        Op::RemoveAgent(id) => Event::RemoveAgent {
            agent: agent_id(*id),
        },
        Op::SetState(id, s) => Event::SetAgentState {
            agent: agent_id(*id),
            state: state(*s),
        },
        Op::Arrive(t) => Event::Arrive(task_spec(t, now)),
        Op::Accept(o, w) => {
            let (offer, agent) = offer_ref(offers, *o, *w);
            Event::Accept { offer, agent }
        }
        Op::Reject(o, w) => {
            let (offer, agent) = offer_ref(offers, *o, *w);
            Event::Reject { offer, agent }
        }
        Op::Complete(t) => Event::Complete { task: task_id(*t) },
        Op::FinishWrapUp(t) => Event::FinishWrapUp { task: task_id(*t) },
        Op::Cancel(t) => Event::Cancel { task: task_id(*t) },
        Op::Abandon(t) => Event::Abandon { task: task_id(*t) },
        Op::Transfer(t, ch, req) => Event::Transfer {
            task: task_id(*t),
            channel: channel(*ch),
            requirements: requirements(req),
        },
        Op::Reprioritize {
            task,
            class,
            base,
            value_tier,
            sentiment: s,
        } => Event::Reprioritize {
            task: task_id(*task),
            priority: Priority {
                class: class % 3,
                base: num(*base),
            },
            customer: CustomerProfile {
                value_tier: value_tier % 5,
                sentiment: sentiment(*s),
            },
        },
        Op::Retarget(t, req, st, p) => Event::Retarget {
            task: task_id(*t),
            target: retarget(req, *st, *p),
        },
        Op::SetShares(list) => Event::SetShares {
            shares: shares(list),
        },
        Op::Tick => Event::Tick,
        Op::Look(..) | Op::Restore => return None,
    })
}

/// Applies a state-changing op through the matching method.
fn call(
    offers: &[(OfferId, AgentId)],
    r: &mut Router,
    op: &Op,
    now: Time,
) -> Result<(), switchboard::RouterError> {
    match op {
        Op::AddAgent(a) => r.add_agent(now, agent_spec(a)),
        Op::UpdateAgent(a) => r.update_agent(now, agent_spec(a)),
        Op::RemoveAgent(id) => r.remove_agent(now, agent_id(*id)),
        Op::SetState(id, s) => r.set_agent_state(now, agent_id(*id), state(*s)),
        Op::Arrive(t) => r.arrive(now, task_spec(t, now)),
        Op::Accept(o, w) => {
            let (offer, agent) = offer_ref(offers, *o, *w);
            r.accept(now, offer, agent)
        }
        Op::Reject(o, w) => {
            let (offer, agent) = offer_ref(offers, *o, *w);
            r.reject(now, offer, agent)
        }
        Op::Complete(t) => r.complete(now, task_id(*t)),
        Op::FinishWrapUp(t) => r.finish_wrap_up(now, task_id(*t)),
        Op::Cancel(t) => r.cancel(now, task_id(*t)),
        Op::Abandon(t) => r.abandon(now, task_id(*t)),
        Op::Transfer(t, ch, req) => r.transfer(now, task_id(*t), channel(*ch), requirements(req)),
        Op::Reprioritize {
            task,
            class,
            base,
            value_tier,
            sentiment: s,
        } => r.reprioritize(
            now,
            task_id(*task),
            Priority {
                class: class % 3,
                base: num(*base),
            },
            CustomerProfile {
                value_tier: value_tier % 5,
                sentiment: sentiment(*s),
            },
        ),
        Op::Retarget(t, req, st, p) => r.retarget(now, task_id(*t), retarget(req, *st, *p)),
        Op::SetShares(list) => r.set_shares(now, shares(list)),
        Op::Tick => r.handle_timeout(now),
        Op::Look(..) | Op::Restore => Ok(()),
    }
}

impl Harness {
    fn look(&self, task: TaskId, agent: AgentId, now: Time) {
        let r = &self.a;
        let _ = r.explain(task, agent);
        let _ = r.snapshot(now);
        let _ = r.task_state(task);
        let _ = r.task_queue(task);
        let _ = r.task_priority_at(task, now);
        let _ = r.agent_state(agent);
        for c in Channel::ALL {
            let _ = r.agent_load(agent, c);
        }
        for &(o, _) in self.offers.iter().rev().take(4) {
            let _ = r.offer(o);
            let _ = r.explain_offer(o);
        }
        let _ = r.poll_timeout();
        let _ = (r.live_tasks(), r.waiting_tasks(), r.agent_count());
        let _ = (r.queue_count(), r.outstanding_offers(), r.counters());
    }

    fn step(&mut self, i: usize, step: &Step) {
        let now = match step.when {
            When::Same => self.now,
            When::Later(ms) => {
                self.now = self.now.plus_millis(u64::from(ms));
                self.now
            }
            When::MuchLater(ms) => {
                self.now = self.now.plus_millis(u64::from(ms));
                self.now
            }
            When::Earlier(ms) => {
                Time::from_millis(self.now.as_millis().saturating_sub(u64::from(ms)))
            }
        };
        if let Op::Look(t, a) = step.op {
            self.look(task_id(t), agent_id(a), now);
            return;
        }
        if let Op::Restore = step.op {
            let restored = match Router::from_state(self.a.export_state(), DefaultScoring) {
                Ok(r) => r,
                Err(e) => panic!("step {i}: from_state(export_state()) failed: {e:?}"),
            };
            self.a = restored;
            if let Err(e) = self.a.check_invariants() {
                panic!("step {i}: invariant violated after restore: {e}");
            }
            let (was, is) = (observe(&self.b, self), observe(&self.a, self));
            if was != is {
                let diff: Vec<_> = was
                    .lines()
                    .zip(is.lines())
                    .filter(|(x, y)| x != y)
                    .take(4)
                    .collect();
                panic!("step {i}: the restored router differs from the original: {diff:#?}");
            }
            return;
        }
        let before = self.a.clone();
        let ra = call(&self.offers, &mut self.a, &step.op, now);
        if let (Op::AddAgent(spec), Ok(())) = (&step.op, &ra) {
            self.agents.insert(agent_id(spec.id));
        }
        let rb = call(&self.offers, &mut self.b, &step.op, now);
        let rc = match event(&self.offers, &step.op, now) {
            Some(ev) => self.c.handle(now, ev),
            None => Ok(()),
        };
        let ea: Vec<Effect> = self.a.drain_effects().collect();
        let eb: Vec<Effect> = self.b.drain_effects().collect();
        let ec: Vec<Effect> = self.c.drain_effects().collect();
        let show = |r: &Result<(), switchboard::RouterError>| format!("{r:?}");
        assert_eq!(
            show(&ra),
            show(&rb),
            "step {i} {:?}: results differ (A vs B)",
            step.op
        );
        assert_eq!(
            show(&ra),
            show(&rc),
            "step {i} {:?}: results differ (method vs event)",
            step.op
        );
        assert_eq!(ea, eb, "step {i} {:?}: effects differ (A vs B)", step.op);
        assert_eq!(
            ea, ec,
            "step {i} {:?}: effects differ (method vs event)",
            step.op
        );
        if ra.is_err() {
            assert!(
                ea.is_empty(),
                "step {i} {:?}: effects emitted by a failed call",
                step.op
            );
            let (was, is) = (observe(&before, self), observe(&self.a, self));
            if was != is {
                let diff: Vec<_> = was
                    .lines()
                    .zip(is.lines())
                    .filter(|(x, y)| x != y)
                    .take(4)
                    .collect();
                panic!(
                    "step {i} {:?}: a failed call ({ra:?}) changed the router: {diff:#?}",
                    step.op
                );
            }
        }
        if let Err(e) = self.a.check_invariants() {
            panic!("step {i} {:?} at {now}: invariant violated: {e}", step.op);
        }
        for e in &ea {
            match e {
                Effect::Offer {
                    offer, agent, task, ..
                } => {
                    self.offers.push((*offer, *agent));
                    self.tasks.insert(*task);
                }
                Effect::Queued { task, .. } => {
                    self.tasks.insert(*task);
                }
                _ => {}
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let cfg = config(&input.cfg);
    let Some(a) = new_router(&cfg) else {
        assert!(
            cfg.validate().is_err(),
            "Router::new refused a valid config"
        );
        return;
    };
    let (Some(b), Some(c)) = (new_router(&cfg), new_router(&cfg)) else {
        unreachable!("same config accepted once");
    };
    let mut h = Harness {
        a,
        b,
        c,
        now: Time::ZERO,
        offers: Vec::new(),
        tasks: (0..u64::from(TASKS)).map(TaskId).collect(),
        agents: (0..u64::from(AGENTS)).map(AgentId).collect(),
    };
    for (i, step) in input.steps.iter().take(256).enumerate() {
        h.step(i, step);
    }
});
