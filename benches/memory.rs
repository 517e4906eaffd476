//! Memory per agent and per waiting task, measured with a counting global allocator.
//!
//! ```text
//! cargo bench --bench memory            # 100k agents, 100k waiting tasks
//! SWITCHBOARD_BENCH_QUICK=1 cargo bench --bench memory   # 10k / 10k
//! ```
//!
//! "Live bytes" are the bytes requested from the allocator and not yet freed (the allocator's own
//! per-block overhead is not included). Each figure is the growth of live bytes across one step
//! divided by the number of things the step added; the inputs (generated agents and task specs)
//! are made before the first reading or handed to the router, so only what the router keeps is
//! counted. Effects are drained after every call.

mod workload;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use switchboard::{AgentState, Router, TaskId, Time};
use workload::Gen;

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

struct Row {
    what: String,
    bytes: isize,
    count: usize,
}

fn main() {
    let quick = workload::quick();
    let n_agents = if quick { 10_000 } else { 100_000 };
    let n_tasks = if quick { 10_000 } else { 100_000 };
    let backlog_agents = 10_000;
    let mut rows = Vec::new();

    let agents = workload::gen_agents(AGENT_SEED, n_agents);
    let reqs = workload::requirement_sets(REQ_SEED, QUEUES);

    // --- agents
    let mut r = Router::new(workload::config()).expect("config");
    workload::intern(r.catalog_mut());
    let now = Time::from_secs(1_000);
    let base = live();
    for a in &agents {
        let state = if a.available {
            AgentState::Available
        } else {
            AgentState::Away
        };
        r.add_agent(now, a.spec(state)).expect("add_agent");
        r.drain_effects().for_each(drop);
    }
    let with_agents = live();
    rows.push(Row {
        what: format!("agent ({n_agents} agents, no queues yet)"),
        bytes: with_agents - base,
        count: n_agents,
    });
    let mut g = Gen::new(TASK_SEED);
    let mut next_id = 1u64;
    for q in &reqs {
        r.arrive(now, workload::task(&mut g, next_id, q))
            .expect("arrive");
        r.cancel(now, TaskId(next_id)).expect("cancel");
        r.drain_effects().for_each(drop);
        next_id += 1;
    }
    let with_queues = live();
    rows.push(Row {
        what: format!("agent incl. its share of {QUEUES} queues' eligibility sets"),
        bytes: with_queues - base,
        count: n_agents,
    });
    drop(r);

    // --- waiting tasks: every agent away, so all tasks wait
    let mut r = Router::new(workload::config()).expect("config");
    workload::intern(r.catalog_mut());
    for a in &agents[..backlog_agents.min(agents.len())] {
        r.add_agent(now, a.spec(AgentState::Away))
            .expect("add_agent");
    }
    for q in &reqs {
        r.arrive(now, workload::task(&mut g, next_id, q))
            .expect("arrive");
        r.cancel(now, TaskId(next_id)).expect("cancel");
        next_id += 1;
    }
    r.drain_effects().for_each(drop);
    let before = live();
    for i in 0..n_tasks {
        // Built inside the window: whatever the router does not keep is freed again by the time
        // of the reading, so only what it keeps is counted.
        let t = workload::task(&mut g, next_id, &reqs[i % reqs.len()])
            .created_at(Time::from_millis(g.below(1_000_000) as u64));
        next_id += 1;
        r.arrive(now, t).expect("arrive");
        r.drain_effects().for_each(drop);
    }
    let after = live();
    assert_eq!(r.waiting_tasks(), n_tasks, "every task must wait");
    rows.push(Row {
        what: format!("waiting task ({n_tasks} tasks in {QUEUES} queues)"),
        bytes: after - before,
        count: n_tasks,
    });

    println!();
    println!("| what | live bytes added | count | bytes each |");
    println!("|---|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {:.0} |",
            row.what,
            row.bytes,
            row.count,
            row.bytes as f64 / row.count as f64
        );
    }
    println!();
    println!(
        "(sizes: Router {} B, TaskSpec {} B, AgentSpec {} B)",
        std::mem::size_of::<Router>(),
        std::mem::size_of::<switchboard::TaskSpec>(),
        std::mem::size_of::<switchboard::AgentSpec>()
    );
}
