//! Durability benchmarks: events persisted per second through the [`Driver`] with
//! [`SqliteStorage`] (batching on and off, `synchronous` FULL and NORMAL), and recovery time of
//! a journal of 1M events. Numbers and the command that produced them: docs/PERFORMANCE.md.
//!
//! ```text
//! cargo bench --bench durability                                      # full run (builds a 1M-event journal once)
//! SWITCHBOARD_BENCH_QUICK=1 cargo bench --bench durability -- --test  # smoke test, 10k events
//! ```
//!
//! The workload is a steady service cycle on 100 agents: a task arrives, its offer is
//! accepted, the task is completed — three journaled events per task, plus the ticks the
//! driver journals when timers are due. The 1M-event journal is kept in
//! `target/switchboard-bench/` and reused by later runs.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use switchboard::operation::Operation;
use switchboard::sqlite::{SqliteOptions, Synchronous};
use switchboard::*;

const AGENTS: u64 = 100;
/// Live tasks the workload keeps at most (agents serve 300 at a time).
const MAX_LIVE: u64 = 1_000;

fn quick() -> bool {
    std::env::var_os("SWITCHBOARD_BENCH_QUICK").is_some()
}

fn config() -> RouterConfig {
    RouterConfig {
        seed: 3,
        ..RouterConfig::default()
    }
}

/// Generates the next events of the cycle from what the driver delivered.
struct Workload {
    brand: TenantId,
    skill: SkillId,
    next_task: u64,
    offers: VecDeque<(OfferId, AgentId)>,
    in_service: VecDeque<TaskId>,
    turn: u64,
    live: u64,
}

impl Workload {
    /// Interns the names and registers the agents.
    fn start<S: Storage, T: Transport, C: Clock>(d: &mut Driver<S, T, C>) -> Self {
        let brand = d.intern_tenant("acme").expect("intern");
        let skill = d.intern_skill("returns").expect("intern");
        let mut w = Workload {
            brand,
            skill,
            next_task: d.router().counters().arrived + 1,
            offers: VecDeque::new(),
            in_service: VecDeque::new(),
            turn: 0,
            live: d.router().live_tasks() as u64,
        };
        let agents: Vec<Event> = (1..=AGENTS)
            .filter(|id| d.router().agent_state(AgentId(*id)).is_none())
            .map(|id| {
                Event::AddAgent(
                    AgentSpec::new(AgentId(id))
                        .skill(skill, 1 + (id % 10) as u8)
                        .certified(brand)
                        .capacity(Channel::Chat, 3)
                        .state(AgentState::Available),
                )
            })
            .collect();
        if !agents.is_empty() {
            let out = d.submit(agents).expect("submit");
            w.observe(&out);
        }
        w
    }

    /// `n` events, a third of each kind when possible: accepts of delivered offers,
    /// completions of tasks in service, arrivals (while fewer than `MAX_LIVE` tasks are live;
    /// a tick fills in when nothing else can be done).
    fn batch(&mut self, n: usize) -> Vec<Event> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            self.turn += 1;
            let accept = |w: &mut Self| {
                w.offers
                    .pop_front()
                    .map(|(offer, agent)| Event::Accept { offer, agent })
            };
            let complete = |w: &mut Self| {
                w.in_service.pop_front().map(|task| {
                    w.live -= 1;
                    Event::Complete { task }
                })
            };
            let arrive = |w: &mut Self| {
                (w.live < MAX_LIVE).then(|| {
                    let id = TaskId(w.next_task);
                    w.next_task += 1;
                    w.live += 1;
                    Event::Arrive(
                        TaskSpec::new(id, w.brand, Channel::Chat)
                            .requires(Requirements::default().skill(w.skill, 3))
                            .priority((id.0 % 3) as u8, (id.0 % 7) as f64 * 0.5),
                    )
                })
            };
            let event = match self.turn % 3 {
                0 => accept(self)
                    .or_else(|| complete(self))
                    .or_else(|| arrive(self)),
                1 => complete(self)
                    .or_else(|| accept(self))
                    .or_else(|| arrive(self)),
                _ => arrive(self)
                    .or_else(|| accept(self))
                    .or_else(|| complete(self)),
            };
            out.push(event.unwrap_or(Event::Tick));
        }
        out
    }

    fn observe(&mut self, out: &Submitted) {
        for e in out.effects() {
            match e {
                Effect::Offer { offer, agent, .. } => self.offers.push_back((*offer, *agent)),
                Effect::Assigned { task, .. } => self.in_service.push_back(*task),
                _ => {}
            }
        }
    }
}

type SqlDriver = Driver<SqliteStorage, VecTransport, ManualClock>;

fn open(path: &Path, sync: Synchronous, snapshot_every: u64, clock: &ManualClock) -> SqlDriver {
    let storage = SqliteStorage::open_with(path, SqliteOptions::default().synchronous(sync))
        .expect("open the database");
    Driver::open(
        config(),
        DefaultScoring,
        storage,
        VecTransport::default(),
        clock.clone(),
        DriverOptions { snapshot_every },
    )
    .expect("open the driver")
    .0
}

/// Submits one batch and keeps the workload going.
fn step(d: &mut SqlDriver, w: &mut Workload, clock: &ManualClock, n: usize) {
    clock.advance_millis(10);
    let out = d.submit(w.batch(n)).expect("submit");
    w.observe(&out);
    d.transport_mut().delivered.clear();
}

fn scratch_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/switchboard-bench");
    std::fs::create_dir_all(&dir).expect("create target/switchboard-bench");
    dir
}

fn remove_db(path: &Path) {
    for ext in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(ext);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// Events persisted per second: one `submit` of `batch` events per iteration.
fn persist(c: &mut Criterion) {
    let dir = scratch_dir();
    let mut grp = c.benchmark_group("persist");
    grp.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(if quick() { 1 } else { 5 }));
    for sync in [Synchronous::Full, Synchronous::Normal] {
        for batch in [1usize, 100] {
            let path = dir.join(format!("persist-{sync}-{batch}.db"));
            remove_db(&path);
            let clock = ManualClock::new(Time::from_secs(1_000));
            let mut d = open(&path, sync, 100_000, &clock);
            let mut w = Workload::start(&mut d);
            grp.throughput(Throughput::Elements(batch as u64));
            let id = BenchmarkId::new(format!("sync_{sync}"), format!("batch_{batch}"));
            grp.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        step(&mut d, &mut w, &clock, batch);
                    }
                    t.elapsed()
                });
            });
            drop(d);
            remove_db(&path);
        }
    }
    grp.finish();
}

/// Builds (or reuses) a database holding `n` journaled events and no snapshot after the names.
fn journal_of(n: u64) -> (PathBuf, Time) {
    let path = scratch_dir().join(format!("recovery-{n}.db"));
    if let Ok(s) = SqliteStorage::open(&path)
        && s.last_seq() >= n
        && let Ok(last) = s.journal(s.last_seq())
        && let Some(r) = last.last()
    {
        return (path.clone(), r.at);
    }
    remove_db(&path);
    let t = Instant::now();
    let clock = ManualClock::new(Time::from_secs(1_000));
    // Batches of 100 with synchronous NORMAL: building is not what is measured.
    let mut d = open(&path, Synchronous::Normal, 0, &clock);
    let mut w = Workload::start(&mut d);
    while d.journal_seq() < n {
        let left = (n - d.journal_seq()) as usize;
        step(&mut d, &mut w, &clock, left.min(100));
    }
    let last = clock.now();
    eprintln!(
        "built a journal of {} events in {:.1?} ({} live tasks at the end)",
        d.journal_seq(),
        t.elapsed(),
        d.router().live_tasks()
    );
    (path, last)
}

/// Time for `Driver::open` to recover from a journal of 1M events (no snapshot to start from).
fn recovery(c: &mut Criterion) {
    let n: u64 = if quick() { 10_000 } else { 1_000_000 };
    let (path, last) = journal_of(n);
    let clock = ManualClock::new(last);
    // One recovery broken down, for the docs: load (read + decode) vs replay.
    {
        let t = Instant::now();
        let mut s = SqliteStorage::open(&path).expect("open");
        let loaded = s.load().expect("load");
        let load = t.elapsed();
        let records = loaded.records.len();
        let t = Instant::now();
        let mut op = match loaded.snapshot {
            Some((_, state)) => Operation::from_state(state, DefaultScoring).expect("state"),
            None => Operation::new(config().into()).expect("config"),
        };
        for r in loaded.records {
            op.handle(r.at, r.input).expect("replay");
        }
        eprintln!(
            "recovery of {records} records: load {load:.2?}, replay {:.2?}",
            t.elapsed()
        );
    }
    let mut grp = c.benchmark_group("recovery");
    grp.sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(if quick() { 1 } else { 20 }));
    grp.throughput(Throughput::Elements(n));
    grp.bench_function(BenchmarkId::new("driver_open", label(n)), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let d = open(&path, Synchronous::Full, 0, &clock);
                total += t.elapsed();
                assert!(d.journal_seq() >= n);
            }
            total
        });
    });
    grp.finish();
}

fn label(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{}M_events", n / 1_000_000)
    } else {
        format!("{}k_events", n / 1_000)
    }
}

criterion_group! {
    name = durability;
    config = Criterion::default();
    targets = persist, recovery
}
criterion_main!(durability);
