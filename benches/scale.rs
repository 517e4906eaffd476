//! The scale curve (issue 8): routing one arriving task, an agent freeing capacity with many
//! tasks waiting, and memory per agent and per waiting task, at 1k, 10k, 100k and 1M agents and
//! up to 1M waiting tasks. See docs/PERFORMANCE.md, section "Scale".
//!
//! ```text
//! cargo bench --bench scale                                      # 1k … 1M agents, ≤ 1M waiting
//! SWITCHBOARD_BENCH_QUICK=1 cargo bench --bench scale -- --test  # CI smoke: 1k and 10k only
//! ```
//!
//! A plain `harness = false` program, not criterion: each size is set up once (the 1M-agent
//! setups take tens of seconds, reported), then every operation is timed one call (or one batch
//! of 64 arrivals) at a time with `Instant`, and the median, mean and 99th percentile are
//! printed. `--test` (as CI passes it) runs every step with a handful of operations.
//!
//! The workload is the one of `benches/route.rs` (`benches/workload/mod.rs`: 200 Zipf skills,
//! 500 queues eligible for 1.6–20 % of agents, capacity chat 5 / voice 1, default configuration).
//!
//! * **route one arriving task**: N agents, every other one `Available`, nothing waiting; timed:
//!   64 `arrive` calls back to back, each offered at once; untimed: the 64 are cancelled and stale
//!   timers fired, so every batch starts from the same state (as `route_one` in route.rs).
//! * **freed agent → next task**: N agents, all `Available` and full (5 chat + 1 voice filler
//!   tasks in service), W tasks waiting over the 500 queues; timed: `complete` of one chat task of
//!   a random agent that qualifies for a chat queue, which makes the router offer it its best
//!   waiting task; untimed: the offer is accepted and a replacement task for the same queue
//!   arrives, so W stays constant (as `next_task_for_freed_agent` in route.rs).
//! * **memory**: a counting global allocator (as in benches/memory.rs): live bytes added by the
//!   N agents of the routing setup (and with the 500 queues' eligibility bitsets), divided by N;
//!   and live bytes added by W arrivals that all wait (10k agents, all `Away`, queues made
//!   beforehand), divided by W. The counter costs one relaxed atomic add per allocation, also during the
//!   timings (the timed routing calls do not allocate in the steady state).

mod workload;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};
use switchboard::{AgentState, Channel, Effect, Router, TaskId, TaskSpec, TenantId, Time};
use workload::{AgentData, Gen, ReqSet};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` unchanged and only updates a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const AGENT_SEED: u64 = 0x5EED_0001;
const REQ_SEED: u64 = 0x5EED_0002;
const TASK_SEED: u64 = 0x5EED_0003;
const QUEUES: usize = 500;
const BATCH: usize = 64;

/// Median, mean and 99th percentile of per-operation times.
#[derive(Clone, Copy)]
struct Stats {
    median: Duration,
    mean: Duration,
    p99: Duration,
    n: usize,
}

fn stats(mut t: Vec<Duration>) -> Stats {
    t.sort_unstable();
    let n = t.len();
    Stats {
        median: t[n / 2],
        mean: t.iter().sum::<Duration>() / n as u32,
        p99: t[(n * 99 / 100).min(n - 1)],
        n,
    }
}

fn us(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.1} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.2} µs", s * 1e6)
    }
}

fn label(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn drain(r: &mut Router) {
    r.drain_effects().for_each(drop);
}

/// Fires every outstanding (stale) timer: moves the clock past the offer timeout.
fn flush_timers(r: &mut Router, now: &mut Time) {
    *now = now.plus_millis(workload::config().offer_timeout_ms + 1);
    r.handle_timeout(*now).expect("handle_timeout");
    drain(r);
}

/// Creates the 500 queues (each set's first task arrives and is cancelled).
fn make_queues(r: &mut Router, reqs: &[ReqSet], now: Time, next_id: &mut u64) {
    let mut g = Gen::new(TASK_SEED ^ 1);
    for q in reqs {
        r.arrive(now, workload::task(&mut g, *next_id, q))
            .expect("arrive");
        r.cancel(now, TaskId(*next_id)).expect("cancel");
        *next_id += 1;
        drain(r);
    }
}

// ------------------------------------------------------------------ routing + agent memory

struct RouteRow {
    agents: usize,
    setup: Duration,
    bytes_agent: f64,
    bytes_agent_queues: f64,
    route: Stats,
}

fn route_one(agents: &[AgentData], reqs: &[ReqSet], batches: usize) -> RouteRow {
    let n = agents.len();
    let setup = Instant::now();
    let mut r = Router::new(workload::config()).expect("config");
    workload::intern(r.catalog_mut());
    let mut now = Time::from_secs(1_000);
    let base = live();
    for a in agents {
        let state = if a.available {
            AgentState::Available
        } else {
            AgentState::Away
        };
        r.add_agent(now, a.spec(state)).expect("add_agent");
        drain(&mut r);
    }
    let with_agents = live();
    let mut next_id = 1u64;
    make_queues(&mut r, reqs, now, &mut next_id);
    let with_queues = live();
    let setup = setup.elapsed();

    let mut g = Gen::new(TASK_SEED);
    let mut specs: Vec<TaskSpec> = Vec::with_capacity(BATCH);
    let mut times = Vec::with_capacity(batches);
    let mut cursor = 0usize;
    for _ in 0..batches {
        specs.clear();
        for _ in 0..BATCH {
            specs.push(workload::task(
                &mut g,
                next_id + specs.len() as u64,
                &reqs[cursor % reqs.len()],
            ));
            cursor += 1;
        }
        let first = next_id;
        next_id += BATCH as u64;
        let start = Instant::now();
        for s in specs.drain(..) {
            r.arrive(now, black_box(s)).expect("arrive");
        }
        times.push(start.elapsed() / BATCH as u32);
        let offers = r
            .drain_effects()
            .filter(|e| matches!(e, Effect::Offer { .. }))
            .count();
        assert_eq!(offers, BATCH, "route_one: every arrival must be offered");
        for id in first..next_id {
            r.cancel(now, TaskId(id)).expect("cancel");
        }
        drain(&mut r);
        flush_timers(&mut r, &mut now);
    }
    let t = Instant::now();
    drop(r);
    eprintln!(
        "scale: {} agents: route_one router built in {} (dropped in {})",
        label(n),
        us(setup),
        us(t.elapsed())
    );
    RouteRow {
        agents: n,
        setup,
        bytes_agent: (with_agents - base) as f64 / n as f64,
        bytes_agent_queues: (with_queues - base) as f64 / n as f64,
        route: stats(times),
    }
}

// ------------------------------------------------------------------ freed agent → next task

struct FreeRow {
    agents: usize,
    waiting: usize,
    setup: Duration,
    backlog: Duration,
    next: Stats,
}

fn freed_agent(agents: &[AgentData], reqs: &[ReqSet], waiting: usize, ops: usize) -> FreeRow {
    let n = agents.len();
    let setup = Instant::now();
    let mut r = Router::new(workload::config()).expect("config");
    workload::intern(r.catalog_mut());
    let mut now = Time::from_secs(1_000);
    for a in agents {
        r.add_agent(now, a.spec(AgentState::Available))
            .expect("add_agent");
    }
    drain(&mut r);
    // Fill every agent: filler tasks anyone can take, accepted at once.
    let mut next_id = 1u64;
    let mut chat_task: Vec<TaskId> = vec![TaskId(0); n];
    for (channel, per_agent) in [(Channel::Chat, 5), (Channel::Voice, 1)] {
        for _ in 0..per_agent * n {
            r.arrive(now, TaskSpec::new(TaskId(next_id), TenantId(0), channel))
                .expect("arrive");
            next_id += 1;
            let offers: Vec<_> = r
                .drain_effects()
                .filter_map(|e| match e {
                    Effect::Offer {
                        offer, task, agent, ..
                    } => Some((offer, task, agent)),
                    _ => None,
                })
                .collect();
            for (o, t, a) in offers {
                r.accept(now, o, a).expect("accept");
                if channel == Channel::Chat {
                    chat_task[a.0 as usize] = t;
                }
            }
            drain(&mut r);
        }
    }
    flush_timers(&mut r, &mut now);
    make_queues(&mut r, reqs, now, &mut next_id);
    let setup = setup.elapsed();

    // The backlog: `waiting` tasks round-robin over the queues, created over 10 minutes. The
    // bench's own bookkeeping (queue of each task) is allocated before the reading.
    let first_backlog = next_id;
    let total_ids = waiting + ops + 1;
    let mut queue_of: Vec<u32> = vec![u32::MAX; total_ids];
    let mut g = Gen::new(TASK_SEED ^ 2);
    let backlog_start = now;
    let mut id = first_backlog;
    let t0 = Instant::now();
    for i in 0..waiting {
        let qi = i % reqs.len();
        let mut t = workload::task(&mut g, id, &reqs[qi]);
        queue_of[(id - first_backlog) as usize] = qi as u32;
        id += 1;
        t.created_at = Some(backlog_start.plus_millis(g.below(600_000) as u64));
        now = now.max(t.created_at.unwrap_or(now));
        r.arrive(now, t).expect("arrive");
        drain(&mut r);
    }
    let backlog = t0.elapsed();
    assert_eq!(r.waiting_tasks(), waiting, "the backlog must wait");
    now = now.plus_millis(600_001);

    let chat_reqs: Vec<&ReqSet> = reqs.iter().filter(|q| q.channel == Channel::Chat).collect();
    let mut times = Vec::with_capacity(ops);
    let mut offers = Vec::with_capacity(2);
    for i in 0..ops {
        // A random agent that qualifies for some chat queue.
        let slot = loop {
            let s = g.below(n);
            if chat_reqs.iter().any(|q| agents[s].meets(q)) {
                break s;
            }
        };
        let task = chat_task[slot];
        let start = Instant::now();
        r.complete(now, black_box(task)).expect("complete");
        times.push(start.elapsed());
        offers.clear();
        offers.extend(r.drain_effects().filter_map(|e| match e {
            Effect::Offer {
                offer, task, agent, ..
            } => Some((offer, task, agent)),
            _ => None,
        }));
        let [(o, t, a)] = offers[..] else {
            panic!("freed agent: exactly one offer expected: {offers:?}");
        };
        assert_eq!(a, agents[slot].id, "freed agent: offer to another agent");
        r.accept(now, o, a).expect("accept");
        chat_task[slot] = t;
        let qi = queue_of[(t.0 - first_backlog) as usize] as usize;
        queue_of[(id - first_backlog) as usize] = qi as u32;
        r.arrive(now, workload::task(&mut g, id, &reqs[qi]))
            .expect("arrive");
        id += 1;
        assert!(
            !r.drain_effects().any(|e| matches!(e, Effect::Offer { .. })),
            "replacements must wait"
        );
        if i % BATCH == BATCH - 1 {
            flush_timers(&mut r, &mut now);
        }
    }
    let t = Instant::now();
    drop(r);
    eprintln!(
        "scale: {} agents, {} waiting: full router built in {}, backlog in {} (dropped in {})",
        label(n),
        label(waiting),
        us(setup),
        us(backlog),
        us(t.elapsed())
    );
    FreeRow {
        agents: n,
        waiting,
        setup,
        backlog,
        next: stats(times),
    }
}

// ------------------------------------------------------------------ memory per waiting task

/// Live bytes per waiting task: `agents` all `Away` (so every task waits), the 500 queues
/// created, then `waiting` arrivals (as benches/memory.rs). Measured apart from the freed-agent
/// setup, whose in-service filler tasks pre-size the task table.
fn waiting_memory(agents: &[AgentData], reqs: &[ReqSet], waiting: usize) -> f64 {
    let mut r = Router::new(workload::config()).expect("config");
    workload::intern(r.catalog_mut());
    let now = Time::from_secs(1_000);
    for a in agents {
        r.add_agent(now, a.spec(AgentState::Away))
            .expect("add_agent");
    }
    let mut next_id = 1u64;
    make_queues(&mut r, reqs, now, &mut next_id);
    let mut g = Gen::new(TASK_SEED ^ 4);
    let before = live();
    for i in 0..waiting {
        // Built inside the window: what the router does not keep is freed again.
        let t = workload::task(&mut g, next_id, &reqs[i % reqs.len()])
            .created_at(Time::from_millis(g.below(1_000_000) as u64));
        next_id += 1;
        r.arrive(now, t).expect("arrive");
        drain(&mut r);
    }
    let after = live();
    assert_eq!(r.waiting_tasks(), waiting, "every task must wait");
    (after - before) as f64 / waiting as f64
}

// ------------------------------------------------------------------ driver

/// `--only route|free --agents N [--waiting W] [--ops K]`: one measurement, for a profiler
/// (see docs/PERFORMANCE.md, "Scale": callgrind with `--toggle-collect` on the timed call).
fn only(args: &[String]) -> bool {
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(what) = get("--only") else {
        return false;
    };
    let num = |flag: &str, default: usize| get(flag).map_or(default, |v| v.parse().expect(flag));
    let n = num("--agents", 10_000);
    let reqs = workload::requirement_sets(REQ_SEED, QUEUES);
    let agents = workload::gen_agents(AGENT_SEED, n);
    match what.as_str() {
        "route" => {
            let r = route_one(&agents, &reqs, num("--ops", 100));
            println!("route_one {}: median {}", label(n), us(r.route.median));
        }
        "free" => {
            let f = freed_agent(
                &agents,
                &reqs,
                num("--waiting", 100_000),
                num("--ops", 2_000),
            );
            println!("freed agent {}: median {}", label(n), us(f.next.median));
        }
        other => panic!("--only route|free, not {other}"),
    }
    true
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if only(&args) {
        return;
    }
    let quick = workload::quick();
    let smoke = args.iter().any(|a| a == "--test");
    let sizes: &[usize] = if quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000, 1_000_000]
    };
    let backlogs: &[usize] = if quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000, 1_000_000]
    };
    // Waiting tasks for the agents curve.
    let fixed_waiting = if quick { 10_000 } else { 100_000 };
    let (batches, ops) = if smoke { (4, 64) } else { (500, 20_000) };

    let t = Instant::now();
    let reqs = workload::requirement_sets(REQ_SEED, QUEUES);
    let all = workload::gen_agents(AGENT_SEED, *sizes.last().unwrap_or(&1_000));
    eprintln!(
        "scale: generated {} agents and {} requirement sets in {}",
        all.len(),
        reqs.len(),
        us(t.elapsed())
    );

    let mut route_rows = Vec::new();
    let mut free_rows = Vec::new();
    for &n in sizes {
        // The first n generated agents: the same population as route.rs at every size.
        let agents = &all[..n];
        route_rows.push(route_one(agents, &reqs, batches));
        free_rows.push(freed_agent(agents, &reqs, fixed_waiting, ops));
    }
    let mut backlog_rows = Vec::new();
    for &w in backlogs {
        if w == fixed_waiting {
            // Already measured at 10k agents above.
            if let Some(row) = free_rows.iter().position(|f| f.agents == 10_000) {
                backlog_rows.push(row);
                continue;
            }
        }
        free_rows.push(freed_agent(&all[..10_000], &reqs, w, ops));
        backlog_rows.push(free_rows.len() - 1);
    }

    println!();
    println!(
        "| agents | setup | route one arriving task: median / mean / p99 | freed agent → next task \
         ({} waiting): median / mean / p99 | bytes per agent | … incl. queue bitsets |",
        label(fixed_waiting)
    );
    println!("|---:|---:|---|---|---:|---:|");
    for (rr, fr) in route_rows.iter().zip(&free_rows) {
        println!(
            "| {} | {} + {} | {} / {} / {} | {} / {} / {} | {:.0} | {:.0} |",
            label(rr.agents),
            us(rr.setup),
            us(fr.setup),
            us(rr.route.median),
            us(rr.route.mean),
            us(rr.route.p99),
            us(fr.next.median),
            us(fr.next.mean),
            us(fr.next.p99),
            rr.bytes_agent,
            rr.bytes_agent_queues
        );
    }
    println!();
    println!(
        "| waiting tasks (10k agents) | backlog built in | freed agent → next task: median / mean \
         / p99 | bytes per waiting task |"
    );
    println!("|---:|---:|---|---:|");
    for &i in &backlog_rows {
        let f = &free_rows[i];
        let bytes = waiting_memory(&all[..10_000], &reqs, f.waiting);
        println!(
            "| {} | {} | {} / {} / {} | {:.0} |",
            label(f.waiting),
            us(f.backlog),
            us(f.next.median),
            us(f.next.mean),
            us(f.next.p99),
            bytes
        );
    }
    println!();
    println!(
        "(per size: {} timed batches of {BATCH} arrivals, {} timed frees; setup = route router + \
         full router with 6 filler tasks per agent; {} samples)",
        batches,
        ops,
        route_rows.first().map_or(0, |r| r.route.n)
    );
}
