//! Routing benchmarks; see docs/PERFORMANCE.md for the workload, what each bench times and the
//! numbers.
//!
//! ```text
//! cargo bench --bench route                                  # full run
//! cargo bench --bench route -- --test                        # every bench once
//! SWITCHBOARD_BENCH_QUICK=1 cargo bench --bench route -- --test   # ditto, smaller setups
//! ```
//!
//! Every bench runs against [`Router`] and, at the sizes where it is feasible, against the naive
//! baseline (a linear scan over agents), in the same process.

mod workload;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};
use switchboard::reference::NaiveRouter;
use switchboard::{
    AgentId, AgentSpec, AgentState, Catalog, Effect, OfferId, Router, RouterConfig, TaskId,
    TaskSpec, Time,
};
use workload::{AgentData, Gen, ReqSet};

/// Seed of the agent population.
const AGENT_SEED: u64 = 0x5EED_0001;
/// Seed of the requirement sets.
const REQ_SEED: u64 = 0x5EED_0002;
/// Seed of the task stream.
const TASK_SEED: u64 = 0x5EED_0003;
/// Distinct requirement sets (queues) in every bench.
const QUEUES: usize = 500;
/// Arrivals timed back to back between two untimed clean-ups.
const BATCH: u64 = 64;

// ------------------------------------------------------------------ the routers under test

/// The calls the benches make, implemented for [`Router`] and for the baseline. Errors are bugs
/// in the bench and panic.
trait Routing {
    fn build(cfg: RouterConfig) -> Self;
    fn catalog(&mut self) -> &mut Catalog;
    fn add(&mut self, now: Time, spec: AgentSpec);
    fn arrive_task(&mut self, now: Time, spec: TaskSpec);
    fn accept_offer(&mut self, now: Time, offer: OfferId, agent: AgentId);
    fn complete_task(&mut self, now: Time, task: TaskId);
    fn cancel_task(&mut self, now: Time, task: TaskId);
    fn tick(&mut self, now: Time);
    fn next_timer(&self) -> Option<Time>;
    /// Drains every pending effect, appending the offers to `out`.
    fn offers_into(&mut self, out: &mut Vec<(OfferId, TaskId, AgentId)>);
}

macro_rules! routing_impl {
    ($ty:ty) => {
        impl Routing for $ty {
            fn build(cfg: RouterConfig) -> Self {
                <$ty>::new(cfg).expect("config")
            }
            fn catalog(&mut self) -> &mut Catalog {
                self.catalog_mut()
            }
            fn add(&mut self, now: Time, spec: AgentSpec) {
                self.add_agent(now, spec).expect("add_agent");
            }
            fn arrive_task(&mut self, now: Time, spec: TaskSpec) {
                self.arrive(now, spec).expect("arrive");
            }
            fn accept_offer(&mut self, now: Time, offer: OfferId, agent: AgentId) {
                self.accept(now, offer, agent).expect("accept");
            }
            fn complete_task(&mut self, now: Time, task: TaskId) {
                self.complete(now, task).expect("complete");
            }
            fn cancel_task(&mut self, now: Time, task: TaskId) {
                self.cancel(now, task).expect("cancel");
            }
            fn tick(&mut self, now: Time) {
                self.handle_timeout(now).expect("handle_timeout");
            }
            fn next_timer(&self) -> Option<Time> {
                self.poll_timeout()
            }
            fn offers_into(&mut self, out: &mut Vec<(OfferId, TaskId, AgentId)>) {
                for e in self.drain_effects() {
                    if let Effect::Offer {
                        offer, task, agent, ..
                    } = e
                    {
                        out.push((offer, task, agent));
                    }
                }
            }
        }
    };
}

routing_impl!(Router);
routing_impl!(NaiveRouter);

// ------------------------------------------------------------------ shared setup

struct World {
    agents: Vec<AgentData>,
    reqs: Vec<ReqSet>,
}

fn world(n_agents: usize) -> World {
    World {
        agents: workload::gen_agents(AGENT_SEED, n_agents),
        reqs: workload::requirement_sets(REQ_SEED, QUEUES),
    }
}

/// A router holding `agents`, every one in `state(agent)`, with one queue per requirement set
/// already created (each set's first task arrives and is cancelled). Returns the router and the
/// time reached.
fn populated<R: Routing>(
    w: &World,
    state: impl Fn(&AgentData) -> AgentState,
    next_task: &mut u64,
) -> (R, Time) {
    let mut r = R::build(workload::config());
    workload::intern(r.catalog());
    let now = Time::from_secs(1_000);
    for a in &w.agents {
        r.add(now, a.spec(state(a)));
    }
    let mut g = Gen::new(TASK_SEED ^ 1);
    for q in &w.reqs {
        let id = *next_task;
        *next_task += 1;
        r.arrive_task(now, workload::task(&mut g, id, q));
        r.cancel_task(now, TaskId(id));
    }
    let mut sink = Vec::new();
    r.offers_into(&mut sink);
    (r, now)
}

/// Moves time past every outstanding offer timer and fires them (all stale in these benches), so
/// the timer heap does not grow across iterations.
fn flush_timers<R: Routing>(r: &mut R, now: &mut Time) {
    *now = now.plus_millis(workload::config().offer_timeout_ms + 1);
    r.tick(*now);
}

fn label(n: usize) -> String {
    if n >= 1000 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

// ------------------------------------------------------------------ 1. route_one

/// Times `arrive` of tasks that are each offered at once, `BATCH` arrivals back to back; the
/// offers are then cancelled, effects drained and stale timers fired outside the timed region.
fn route_one<R: Routing>(c: &mut Criterion, group: &str, sizes: &[usize]) {
    let mut grp = c.benchmark_group(group);
    for &n in sizes {
        let w = world(n);
        let mut next_task = 1u64;
        let (mut r, mut now) = populated::<R>(
            &w,
            |a| {
                if a.available {
                    AgentState::Available
                } else {
                    AgentState::Away
                }
            },
            &mut next_task,
        );
        let mut g = Gen::new(TASK_SEED);
        let mut specs: Vec<TaskSpec> = Vec::with_capacity(BATCH as usize);
        let mut offers = Vec::with_capacity(BATCH as usize);
        let mut queue_cursor = 0usize;
        grp.throughput(Throughput::Elements(1));
        grp.bench_function(BenchmarkId::from_parameter(label(n)), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let k = left.min(BATCH);
                    left -= k;
                    specs.clear();
                    for _ in 0..k {
                        let q = &w.reqs[queue_cursor % w.reqs.len()];
                        queue_cursor += 1;
                        specs.push(workload::task(&mut g, next_task, q));
                        next_task += 1;
                    }
                    let first = next_task - k;
                    let start = Instant::now();
                    for s in specs.drain(..) {
                        r.arrive_task(now, black_box(s));
                    }
                    timed += start.elapsed();
                    offers.clear();
                    r.offers_into(&mut offers);
                    assert_eq!(
                        offers.len() as u64,
                        k,
                        "route_one: every arrival must be offered"
                    );
                    for id in first..next_task {
                        r.cancel_task(now, TaskId(id));
                    }
                    r.offers_into(&mut offers);
                    flush_timers(&mut r, &mut now);
                }
                timed
            });
        });
    }
    grp.finish();
}

// ------------------------------------------------------------------ 2. next task for a freed agent

/// Every agent is `Available` and full (5 chat + 1 voice filler tasks in service); `waiting` tasks
/// wait across the 500 queues. Timed: `complete` of one chat task of an agent that qualifies for
/// some chat queue, which frees one unit of chat capacity and makes the router pick the best
/// waiting task that agent is eligible for and offer it. Untimed: the offer is accepted (the agent
/// is full again) and a replacement task of the same queue arrives (and waits), so the number of
/// waiting tasks stays constant.
fn next_task<R: Routing>(
    c: &mut Criterion,
    group: &str,
    n_agents: usize,
    waiting: usize,
    id: &str,
) {
    let w = world(n_agents);
    let mut r = R::build(workload::config());
    workload::intern(r.catalog());
    let mut now = Time::from_secs(1_000);
    for a in &w.agents {
        r.add(now, a.spec(AgentState::Available));
    }
    // Fill every agent with filler tasks that anyone can take.
    let mut next_id = 1u64;
    let mut chat_task: Vec<TaskId> = vec![TaskId(0); w.agents.len()];
    let mut offers = Vec::new();
    for (channel, per_agent) in [
        (switchboard::Channel::Chat, 5),
        (switchboard::Channel::Voice, 1),
    ] {
        for _ in 0..per_agent * w.agents.len() {
            r.arrive_task(
                now,
                TaskSpec::new(TaskId(next_id), switchboard::TenantId(0), channel),
            );
            next_id += 1;
            offers.clear();
            r.offers_into(&mut offers);
            for &(o, t, a) in &offers {
                r.accept_offer(now, o, a);
                if channel == switchboard::Channel::Chat {
                    chat_task[a.0 as usize] = t;
                }
            }
        }
    }
    r.offers_into(&mut offers);
    flush_timers(&mut r, &mut now);
    // The backlog: `waiting` tasks spread round-robin over the queues, arriving over 10 minutes.
    let mut g = Gen::new(TASK_SEED ^ 2);
    let backlog_start = now;
    let mut queue_of: HashMap<TaskId, usize> = HashMap::with_capacity(waiting);
    for i in 0..waiting {
        let qi = i % w.reqs.len();
        let mut t = workload::task(&mut g, next_id, &w.reqs[qi]);
        queue_of.insert(TaskId(next_id), qi);
        next_id += 1;
        t.created_at = Some(backlog_start.plus_millis(g.below(600_000) as u64));
        now = now.max(t.created_at.unwrap_or(now));
        r.arrive_task(now, t);
    }
    offers.clear();
    r.offers_into(&mut offers);
    assert!(offers.is_empty(), "next_task: the backlog must wait");
    now = now.plus_millis(600_001);
    // Agents whose freed chat unit will find a task.
    let chat_reqs: Vec<&ReqSet> = w
        .reqs
        .iter()
        .filter(|q| q.channel == switchboard::Channel::Chat)
        .collect();
    let mut picks: Vec<usize> = (0..w.agents.len())
        .filter(|&i| chat_reqs.iter().any(|q| w.agents[i].meets(q)))
        .collect();
    // Deterministic shuffle so consecutive picks are unrelated agents.
    for i in (1..picks.len()).rev() {
        let j = g.below(i + 1);
        picks.swap(i, j);
    }
    eprintln!(
        "{group}/{id}: {} agents ({} qualify for a chat queue), {} waiting in {} queues",
        w.agents.len(),
        picks.len(),
        waiting,
        w.reqs.len()
    );
    let mut cursor = 0usize;
    let mut grp = c.benchmark_group(group);
    grp.throughput(Throughput::Elements(1));
    grp.bench_function(BenchmarkId::from_parameter(id), |b| {
        b.iter_custom(|iters| {
            // Timed one call at a time: with few tasks per queue, a batch of completions could
            // drain an agent's queues before the untimed replacements arrive.
            let mut timed = Duration::ZERO;
            for i in 0..iters {
                let slot = picks[cursor % picks.len()];
                cursor += 1;
                let task = chat_task[slot];
                let start = Instant::now();
                r.complete_task(now, black_box(task));
                timed += start.elapsed();
                offers.clear();
                r.offers_into(&mut offers);
                let [(o, t, a)] = offers[..] else {
                    panic!("next_task: the freed agent must get exactly one offer: {offers:?}");
                };
                assert_eq!(a, w.agents[slot].id, "next_task: offer to another agent");
                r.accept_offer(now, o, a);
                chat_task[slot] = t;
                // Replace the task taken from the backlog with a new one of the same queue.
                let qi = queue_of
                    .remove(&t)
                    .expect("offered task is from the backlog");
                r.arrive_task(now, workload::task(&mut g, next_id, &w.reqs[qi]));
                queue_of.insert(TaskId(next_id), qi);
                next_id += 1;
                offers.clear();
                r.offers_into(&mut offers);
                assert!(offers.is_empty(), "next_task: replacements must wait");
                if i % BATCH == BATCH - 1 {
                    flush_timers(&mut r, &mut now);
                }
            }
            timed
        });
    });
    grp.finish();
}

// ------------------------------------------------------------------ 3. full cycle

/// Times the whole life of a task as a host drives it: `arrive` (offered at once), read the offer
/// from the effects, `accept`, `complete`, drain the effects, and fire due timers when
/// `poll_timeout` says so. The clock advances 1 ms per cycle.
fn full_cycle<R: Routing>(c: &mut Criterion, group: &str, n: usize) {
    let w = world(n);
    let mut next_id = 1u64;
    let (mut r, mut now) = populated::<R>(
        &w,
        |a| {
            if a.available {
                AgentState::Available
            } else {
                AgentState::Away
            }
        },
        &mut next_id,
    );
    let mut g = Gen::new(TASK_SEED ^ 3);
    let mut offers = Vec::with_capacity(4);
    let mut grp = c.benchmark_group(group);
    grp.throughput(Throughput::Elements(1));
    grp.bench_function(BenchmarkId::from_parameter(label(n)), |b| {
        b.iter_batched(
            || {
                let q = &w.reqs[(next_id as usize) % w.reqs.len()];
                let t = workload::task(&mut g, next_id, q);
                next_id += 1;
                t
            },
            |spec| {
                let id = spec.id;
                now = now.plus_millis(1);
                if r.next_timer().is_some_and(|t| t <= now) {
                    r.tick(now);
                }
                r.arrive_task(now, spec);
                offers.clear();
                r.offers_into(&mut offers);
                let &(o, t, a) = offers.first().expect("full_cycle: arrival not offered");
                debug_assert_eq!(t, id);
                r.accept_offer(now, o, a);
                r.complete_task(now, t);
                offers.clear();
                r.offers_into(&mut offers);
            },
            criterion::BatchSize::SmallInput,
        );
    });
    grp.finish();
}

// ------------------------------------------------------------------ driver

fn sizes() -> Vec<usize> {
    if workload::quick() {
        vec![1_000, 10_000]
    } else {
        vec![1_000, 10_000, 100_000]
    }
}

fn report_workload() {
    let n = 1_000_000u32;
    let mut sum = Duration::ZERO;
    for _ in 0..n {
        let start = Instant::now();
        sum += black_box(start).elapsed();
    }
    eprintln!(
        "timer: one Instant::now() + elapsed() pair costs {:.0} ns",
        sum.as_nanos() as f64 / f64::from(n)
    );
    let w = world(10_000);
    let (min, med, mean, max) = workload::eligibility(&w.agents, &w.reqs);
    eprintln!(
        "workload: {} queues; agents eligible per queue at 10k agents: min {:.1}% median {:.1}% \
         mean {:.1}% max {:.1}% (half of them Available)",
        w.reqs.len(),
        min * 100.0,
        med * 100.0,
        mean * 100.0,
        max * 100.0
    );
}

fn benches(c: &mut Criterion) {
    report_workload();
    let quick = workload::quick();

    route_one::<Router>(c, "route_one", &sizes());
    route_one::<NaiveRouter>(c, "route_one_naive", &[1_000, 10_000]);

    let waiting = if quick { 10_000 } else { 100_000 };
    let headline = format!("10k_agents_{}_waiting", label(waiting));
    next_task::<Router>(c, "next_task_for_freed_agent", 10_000, waiting, &headline);
    // The baseline rescans every waiting task against every agent on each call (and on each
    // arrival while the backlog is built), so it is compared at 1k agents / 1k waiting tasks.
    let small = "1k_agents_1k_waiting";
    next_task::<Router>(c, "next_task_for_freed_agent", 1_000, 1_000, small);
    next_task::<NaiveRouter>(c, "next_task_for_freed_agent_naive", 1_000, 1_000, small);

    for n in [1_000, 10_000] {
        full_cycle::<Router>(c, "full_cycle", n);
        full_cycle::<NaiveRouter>(c, "full_cycle_naive", n);
    }
}

criterion_group! {
    name = route;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(route);
