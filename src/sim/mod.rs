//! A discrete-event simulator that drives the real [`Router`].
//!
//! It is not a model of the router: every arrival, acceptance, completion, abandonment and shift
//! change is a call on a real [`Router`], and every effect it emits goes through a real
//! [`Ledger`]. What is synthetic is the world around it:
//!
//! * **arrivals**: a Poisson process per [`Stream`] whose rate is `per_hour × profile(t)`,
//!   piecewise constant per simulated minute (exact sampling, no thinning);
//! * **AI front line**: a share `ai_containment` of conversations is resolved by the bot and never
//!   reaches the router; the rest are escalated to humans. Every conversation goes to the
//!   ledger's [`ai_conversation`](Ledger::ai_conversation), so its report has containment and
//!   escalation rate per tenant and interval;
//! * **handling** times: fixed, exponential or lognormal, drawn at arrival (so the same seed
//!   gives every policy the same work — common random numbers);
//! * **patience**: each customer abandons after a drawn patience unless answered first;
//! * **agents** accept each offer after `accept_delay`; work **shifts** (`Away` at the end, so
//!   work in hand finishes) and take staggered **breaks**;
//! * **outcomes**: satisfaction falls with the wait; outreach tasks convert with a probability.
//!
//! Everything is seeded ([`Scenario::seed`], PCG-64) and deterministic: the same scenario gives
//! the same report, bit for bit.
//!
//! # Example
//! ```
//! use switchboard::sim::{Scenario, run};
//! let s: Scenario = serde_json::from_str(r#"{
//!   "duration_hours": 1, "seed": 7,
//!   "pool": [{"name": "team", "count": 12, "channels": {"voice": 1}}],
//!   "traffic": [{"tenant": "acme", "name": "calls", "channel": "voice", "per_hour": 120,
//!                "service": {"exponential": {"mean_secs": 300}}}]
//! }"#).unwrap();
//! let out = run(&s).unwrap();
//! let acme = &out.report.tenants[0];
//! assert_eq!(acme.tenant, "acme");
//! assert!(acme.offered > 80 && acme.offered < 170);
//! assert_eq!(out.report, run(&s).unwrap().report); // deterministic
//! ```

#[cfg(feature = "charts")]
pub mod chart;
mod report;
pub mod scenario;
pub mod verify;

pub use report::{SeriesPoint, SimReport, TenantReport};
pub use scenario::{AgentGroup, Breaks, CsatModel, Dist, Profile, Scenario, Shift, Stream};
pub use verify::{CellCheck, Verdict, VerifiedPlan, VerifyRound, VerifySettings, verify_plan};

use crate::ledger::{AiOutcome, Arrival, Ledger, Outcome};
use crate::{
    AgentId, AgentSpec, AgentState, Effect, OfferId, Requirements, Router, RouterError, TaskId,
    TaskSpec, TenantId, Time,
};
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal};
use rand_pcg::Pcg64Mcg;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use thiserror::Error;

/// What can stop a simulation.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario is invalid; the message names the path.
    #[error("invalid scenario: {0}")]
    Scenario(String),
    /// The router refused a call the simulator made (a bug in the simulator or the router).
    #[error("router error at {at}: {source}")]
    Router {
        /// Simulated time.
        at: Time,
        /// The router's error.
        source: RouterError,
    },
}

/// The result of [`run`]: the report and the full ledger (every task record).
#[derive(Debug, Clone)]
pub struct SimRun {
    /// The report.
    pub report: SimReport,
    /// The ledger, for custom analyses.
    pub ledger: Ledger,
}

/// Runs a scenario to the end.
///
/// # Errors
/// [`SimError::Scenario`] for an invalid scenario.
pub fn run(scenario: &Scenario) -> Result<SimRun, SimError> {
    run_with_progress(scenario, |_| {})
}

/// Runs a scenario, calling `progress` with the share of simulated time done (about 100 times).
///
/// # Errors
/// As [`run`].
pub fn run_with_progress(
    scenario: &Scenario,
    progress: impl FnMut(f64),
) -> Result<SimRun, SimError> {
    scenario.validate().map_err(SimError::Scenario)?;
    let mut sim = Sim::new(scenario)?;
    sim.run(progress)?;
    Ok(sim.finish())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Arrival(u32),
    Accept(u64, u64),
    Complete(u64),
    Abandon(u64),
    ShiftStart(u32),
    ShiftEnd(u32),
    BreakStart(u32),
    BreakEnd(u32),
    Sample,
}

const WAITING: u8 = 0;
const SERVING: u8 = 1;
const DONE: u8 = 2;

struct TaskSim {
    stream: u32,
    service_ms: u64,
    created: u64,
    state: u8,
}

struct AgentSim {
    on_shift: bool,
    on_break: bool,
    added: bool,
    spec: AgentSpec,
}

struct StreamRt {
    tenant: TenantId,
    tenant_ix: usize,
    spec: TaskSpec,
    service: Sampler,
    patience: Option<Sampler>,
    /// Rate per ms in the current minute, and that minute's end.
    seg_end: u64,
}

#[derive(Clone, Copy)]
enum Sampler {
    Fixed(f64),
    Exp(Exp<f64>),
    LogNormal(LogNormal<f64>),
}

impl Sampler {
    fn new(d: &Dist) -> Result<Self, SimError> {
        let bad = |e: &dyn std::fmt::Display| SimError::Scenario(e.to_string());
        Ok(match *d {
            Dist::Fixed { secs } => Sampler::Fixed(secs),
            Dist::Exponential { mean_secs } => {
                Sampler::Exp(Exp::new(1.0 / mean_secs).map_err(|e| bad(&e))?)
            }
            Dist::Lognormal { mean_secs, cv } => {
                Sampler::LogNormal(LogNormal::from_mean_cv(mean_secs, cv).map_err(|e| bad(&e))?)
            }
        })
    }
    fn ms(&self, rng: &mut Pcg64Mcg) -> u64 {
        let s = match self {
            Sampler::Fixed(s) => *s,
            Sampler::Exp(d) => d.sample(rng),
            Sampler::LogNormal(d) => d.sample(rng),
        };
        secs_to_ms(s)
    }
}

fn secs_to_ms(s: f64) -> u64 {
    Time::from_secs_f64(s).map_or(u64::MAX / 4, Time::as_millis)
}

struct Sim<'a> {
    sc: &'a Scenario,
    router: Router,
    ledger: Ledger,
    rng: Pcg64Mcg,
    accept: Sampler,
    heap: BinaryHeap<Reverse<(u64, u64, Kind)>>,
    seq: u64,
    end: u64,
    /// End of the warm-up (contained conversations before it are not reported).
    warm: u64,
    tasks: Vec<TaskSim>,
    agents: Vec<AgentSim>,
    streams: Vec<StreamRt>,
    tenants: Vec<String>,
    events: u64,
    stale_answers: u64,
    /// Per tenant: waiting now, max waiting in the bucket, arrivals in the bucket, contained.
    waiting: Vec<u64>,
    waiting_max: Vec<u64>,
    arrivals: Vec<u64>,
    contained: Vec<u64>,
    contained_bucket: Vec<u64>,
    on_shift: u64,
    series: Vec<SeriesPoint>,
    offers: Vec<(OfferId, TaskId, AgentId)>,
    satisfied: Vec<Option<bool>>,
}

impl<'a> Sim<'a> {
    fn new(sc: &'a Scenario) -> Result<Self, SimError> {
        let mut router = Router::new(sc.router.clone()).map_err(|e| SimError::Router {
            at: Time::ZERO,
            source: e,
        })?;
        let mut tenants: Vec<String> = sc.traffic.iter().map(|s| s.tenant.clone()).collect();
        tenants.sort();
        tenants.dedup();
        let mut streams = Vec::new();
        for s in &sc.traffic {
            let cat = router.catalog_mut();
            let tenant = cat.tenant(&s.tenant);
            let mut req = Requirements::default();
            for (k, &l) in &s.requires {
                req = req.skill(cat.skill(k), l);
            }
            for t in &s.tags {
                req = req.tag(cat.tag(t));
            }
            if s.certified {
                req = req.certified();
            }
            let mut spec = TaskSpec::new(TaskId(0), tenant, s.channel)
                .requires(req)
                .priority(s.priority, 0.0)
                .sla_ms(secs_to_ms(s.sla_secs));
            spec.strategy = s.strategy;
            streams.push(StreamRt {
                tenant,
                tenant_ix: tenants.binary_search(&s.tenant).unwrap_or(0),
                spec,
                service: Sampler::new(&s.service)?,
                patience: s.patience.as_ref().map(Sampler::new).transpose()?,
                seg_end: 0,
            });
        }
        let mut agents = Vec::new();
        for g in &sc.pool {
            for _ in 0..g.count {
                let id = AgentId(agents.len() as u64);
                let cat = router.catalog_mut();
                let mut spec = AgentSpec::new(id).state(AgentState::Available);
                for (k, &l) in &g.skills {
                    spec = spec.skill(cat.skill(k), l);
                }
                for t in &g.tags {
                    spec = spec.tag(cat.tag(t));
                }
                for t in &g.certified {
                    spec = spec.certified(cat.tenant(t));
                }
                for (&c, &n) in &g.channels {
                    spec = spec.capacity(c, n);
                }
                agents.push(AgentSim {
                    on_shift: false,
                    on_break: false,
                    added: false,
                    spec,
                });
            }
        }
        let n = tenants.len();
        let mut sim = Sim {
            sc,
            router,
            ledger: Ledger::new(sc.ledger.clone()),
            rng: Pcg64Mcg::seed_from_u64(sc.seed),
            accept: Sampler::new(&sc.accept_delay)?,
            heap: BinaryHeap::new(),
            seq: 0,
            end: secs_to_ms(sc.duration_hours * 3600.0),
            warm: secs_to_ms(sc.warmup_hours * 3600.0),
            tasks: Vec::new(),
            agents,
            streams,
            tenants,
            events: 0,
            stale_answers: 0,
            waiting: vec![0; n],
            waiting_max: vec![0; n],
            arrivals: vec![0; n],
            contained: vec![0; n],
            contained_bucket: vec![0; n],
            on_shift: 0,
            series: Vec::new(),
            offers: Vec::new(),
            satisfied: Vec::new(),
        };
        sim.schedule_agents();
        for i in 0..sim.streams.len() {
            sim.next_arrival(i, 0);
        }
        sim.push(0, Kind::Sample);
        Ok(sim)
    }

    fn push(&mut self, t: u64, k: Kind) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, k)));
    }

    fn schedule_agents(&mut self) {
        let mut ix = 0u32;
        let n_groups = self.sc.pool.len();
        for gi in 0..n_groups {
            let g = &self.sc.pool[gi];
            let whole = [scenario::Shift {
                start_hour: 0.0,
                end_hour: f64::INFINITY,
            }];
            let shifts: Vec<scenario::Shift> = if g.shifts.is_empty() {
                whole.to_vec()
            } else {
                g.shifts.clone()
            };
            let breaks = g.breaks;
            let count = g.count;
            for k in 0..count {
                let a = ix + k;
                for s in &shifts {
                    let start = secs_to_ms(s.start_hour * 3600.0);
                    let end = if s.end_hour.is_finite() {
                        secs_to_ms(s.end_hour * 3600.0)
                    } else {
                        u64::MAX / 2
                    };
                    self.push(start, Kind::ShiftStart(a));
                    if end < self.end {
                        self.push(end, Kind::ShiftEnd(a));
                    }
                    if let Some(b) = breaks {
                        let every = secs_to_ms(b.every_minutes * 60.0).max(1);
                        let len = secs_to_ms(b.minutes * 60.0);
                        // Stagger: agent k starts its first break at (k/count) of a cycle.
                        let offset = every * u64::from(k) / u64::from(count.max(1));
                        let mut t = start + offset + every / 2;
                        while t + len < end.min(self.end) {
                            self.push(t, Kind::BreakStart(a));
                            self.push(t + len, Kind::BreakEnd(a));
                            t += every;
                        }
                    }
                }
            }
            ix += count;
        }
    }

    /// Schedules the next arrival of stream `i` after `from` (piecewise-constant rate per minute).
    fn next_arrival(&mut self, i: usize, from: u64) {
        const MINUTE: u64 = 60_000;
        let per_hour = self.sc.traffic[i].per_hour;
        let mut t = from;
        loop {
            if t >= self.end {
                return;
            }
            let seg_end = (t / MINUTE + 1) * MINUTE;
            #[allow(clippy::cast_precision_loss)]
            let hour = (t / MINUTE) as f64 / 60.0 + 1.0 / 120.0;
            let rate_ms = per_hour * self.sc.traffic[i].profile.at(hour) / 3_600_000.0;
            if rate_ms > 0.0 {
                let u: f64 = self.rng.random();
                let gap = -(1.0 - u).ln() / rate_ms;
                #[allow(clippy::cast_precision_loss)]
                let room = (seg_end - t) as f64;
                if gap < room {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let at = t + gap as u64;
                    self.streams[i].seg_end = seg_end;
                    #[allow(clippy::cast_possible_truncation)]
                    self.push(at, Kind::Arrival(i as u32));
                    return;
                }
            }
            // Memoryless: nothing in this minute, start afresh at its end.
            t = seg_end;
        }
    }

    fn run(&mut self, mut progress: impl FnMut(f64)) -> Result<(), SimError> {
        let tick = (self.end / 100).max(1);
        let mut next_tick = tick;
        while let Some(Reverse((t, _, kind))) = self.heap.pop() {
            if t > self.end {
                break;
            }
            // Router timers due before this event.
            while let Some(tt) = self.router.poll_timeout() {
                if tt.0 > t {
                    break;
                }
                self.router
                    .handle_timeout(tt)
                    .map_err(|e| SimError::Router { at: tt, source: e })?;
                self.events += 1;
                self.pump(tt.0)?;
            }
            self.events += 1;
            self.handle(t, kind)?;
            self.pump(t)?;
            if t >= next_tick {
                progress(t as f64 / self.end as f64);
                next_tick = t + tick;
            }
        }
        progress(1.0);
        Ok(())
    }

    fn rerr(at: u64) -> impl FnOnce(RouterError) -> SimError {
        move |e| SimError::Router {
            at: Time(at),
            source: e,
        }
    }

    fn handle(&mut self, t: u64, kind: Kind) -> Result<(), SimError> {
        let now = Time(t);
        match kind {
            Kind::Arrival(i) => {
                let i = i as usize;
                self.next_arrival(i, t);
                let st = &self.sc.traffic[i];
                let ti = self.streams[i].tenant_ix;
                self.arrivals[ti] += 1;
                let contained =
                    st.ai_containment > 0.0 && self.rng.random::<f64>() < st.ai_containment;
                self.ledger.ai_conversation(
                    now,
                    self.streams[i].tenant,
                    if contained {
                        AiOutcome::Contained
                    } else {
                        AiOutcome::Escalated
                    },
                );
                if contained {
                    if t >= self.warm {
                        self.contained[ti] += 1;
                    }
                    self.contained_bucket[ti] += 1;
                    return Ok(());
                }
                let id = self.tasks.len() as u64;
                let service_ms = self.streams[i].service.ms(&mut self.rng).max(1);
                let patience = self.streams[i].patience.map(|p| p.ms(&mut self.rng));
                #[allow(clippy::cast_possible_truncation)]
                self.tasks.push(TaskSim {
                    stream: i as u32,
                    service_ms,
                    created: t,
                    state: WAITING,
                });
                self.satisfied.push(None);
                self.waiting[ti] += 1;
                self.waiting_max[ti] = self.waiting_max[ti].max(self.waiting[ti]);
                let mut spec = self.streams[i].spec.clone();
                spec.id = TaskId(id);
                self.router.arrive(now, spec).map_err(Self::rerr(t))?;
                let mut arrival = Arrival::new(TaskId(id), self.streams[i].tenant)
                    .channel(st.channel)
                    .sla_ms(secs_to_ms(st.sla_secs))
                    .queue(self.router.task_queue(TaskId(id)));
                arrival.outreach |= st.outreach;
                self.ledger.arrival(now, arrival);
                if let Some(p) = patience {
                    self.push(t.saturating_add(p), Kind::Abandon(id));
                }
            }
            Kind::Accept(offer, agent) => {
                if self
                    .router
                    .accept(now, OfferId(offer), AgentId(agent))
                    .is_err()
                {
                    // Rescinded or expired meanwhile: a late answer, refused by the router.
                    self.stale_answers += 1;
                }
            }
            Kind::Complete(task) => {
                self.router
                    .complete(now, TaskId(task))
                    .map_err(Self::rerr(t))?;
                let ts = &mut self.tasks[task as usize];
                ts.state = DONE;
                let st = &self.sc.traffic[ts.stream as usize];
                #[allow(clippy::cast_precision_loss)]
                let wait_min =
                    t.saturating_sub(ts.service_ms).saturating_sub(ts.created) as f64 / 60_000.0;
                let p = (st.csat.base - st.csat.per_minute_wait * wait_min).clamp(0.0, 1.0);
                let happy = self.rng.random::<f64>() < p;
                self.satisfied[task as usize] = Some(happy);
                let mut outcome = Outcome::csat(if happy { 1.0 } else { 0.0 });
                if st.outreach {
                    outcome = outcome.and_converted(self.rng.random::<f64>() < st.conversion);
                }
                self.ledger.outcome(TaskId(task), outcome);
            }
            Kind::Abandon(task) => {
                if self.tasks[task as usize].state == WAITING {
                    self.router
                        .abandon(now, TaskId(task))
                        .map_err(Self::rerr(t))?;
                }
            }
            Kind::ShiftStart(a) => {
                let ag = &mut self.agents[a as usize];
                if !ag.on_shift {
                    ag.on_shift = true;
                    self.on_shift += 1;
                    let (added, on_break) = (ag.added, ag.on_break);
                    ag.added = true;
                    let spec = ag.spec.clone();
                    let state = if on_break {
                        AgentState::Away
                    } else {
                        AgentState::Available
                    };
                    if added {
                        self.router
                            .set_agent_state(now, spec.id, state)
                            .map_err(Self::rerr(t))?;
                    } else {
                        self.ledger.agent_capacity(spec.id, spec.capacity);
                        self.router
                            .add_agent(now, spec.state(state))
                            .map_err(Self::rerr(t))?;
                    }
                    self.ledger.agent_state(now, AgentId(u64::from(a)), state);
                }
            }
            Kind::ShiftEnd(a) => {
                let ag = &mut self.agents[a as usize];
                if ag.on_shift {
                    ag.on_shift = false;
                    self.on_shift -= 1;
                    self.router
                        .set_agent_state(now, AgentId(u64::from(a)), AgentState::Away)
                        .map_err(Self::rerr(t))?;
                    self.ledger
                        .agent_state(now, AgentId(u64::from(a)), AgentState::Offline);
                }
            }
            Kind::BreakStart(a) | Kind::BreakEnd(a) => {
                let start = matches!(kind, Kind::BreakStart(_));
                let ag = &mut self.agents[a as usize];
                ag.on_break = start;
                if ag.on_shift {
                    let state = if start {
                        AgentState::Away
                    } else {
                        AgentState::Available
                    };
                    self.router
                        .set_agent_state(now, AgentId(u64::from(a)), state)
                        .map_err(Self::rerr(t))?;
                }
            }
            Kind::Sample => {
                self.sample(t);
                let b = u64::from(self.sc.bucket_minutes) * 60_000;
                self.push(t + b, Kind::Sample);
            }
        }
        Ok(())
    }

    fn sample(&mut self, t: u64) {
        for (i, name) in self.tenants.iter().enumerate() {
            let (n, c) = (self.arrivals[i], self.contained_bucket[i]);
            #[allow(clippy::cast_precision_loss)]
            let share = |k: u64| (n > 0).then(|| k as f64 / n as f64);
            self.series.push(SeriesPoint {
                tenant: name.clone(),
                at_secs: t / 1000,
                arrivals: n,
                contained: c,
                containment: share(c),
                escalation_rate: share(n - c),
                waiting_now: self.waiting[i],
                waiting_max: self.waiting_max[i],
                agents_on_shift: self.on_shift,
                offered: 0,
                service_level: None,
                abandon_rate: None,
            });
            self.arrivals[i] = 0;
            self.contained_bucket[i] = 0;
            self.waiting_max[i] = self.waiting[i];
        }
    }

    fn pump(&mut self, t: u64) -> Result<(), SimError> {
        let now = Time(t);
        let mut offers = std::mem::take(&mut self.offers);
        for e in self.router.drain_effects() {
            self.ledger.observe(now, &e);
            match e {
                Effect::Offer {
                    offer, task, agent, ..
                } => offers.push((offer, task, agent)),
                Effect::Assigned { task, .. } => {
                    let ts = &mut self.tasks[task.0 as usize];
                    ts.state = SERVING;
                    let ti = self.streams[ts.stream as usize].tenant_ix;
                    self.waiting[ti] -= 1;
                    let done = t.saturating_add(ts.service_ms);
                    self.seq += 1;
                    self.heap
                        .push(Reverse((done, self.seq, Kind::Complete(task.0))));
                }
                Effect::Abandoned { task }
                | Effect::TimedOut { task }
                | Effect::Cancelled { task } => {
                    let ts = &mut self.tasks[task.0 as usize];
                    if ts.state == WAITING {
                        ts.state = DONE;
                        let ti = self.streams[ts.stream as usize].tenant_ix;
                        self.waiting[ti] -= 1;
                    }
                }
                _ => {}
            }
        }
        for (offer, _task, agent) in offers.drain(..) {
            let d = self.accept.ms(&mut self.rng);
            self.push(t.saturating_add(d), Kind::Accept(offer.0, agent.0));
        }
        self.offers = offers;
        Ok(())
    }

    fn finish(self) -> SimRun {
        let report = report::build(
            self.sc,
            &self.ledger,
            &self.tenants,
            &self.contained,
            self.series,
            self.events,
            self.stale_answers,
            self.end,
        );
        SimRun {
            report,
            ledger: self.ledger,
        }
    }
}
