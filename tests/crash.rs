//! Crash recovery with real processes: a worker process runs a workload through a
//! `Driver<SqliteStorage, ..>` and is killed (SIGKILL) at random points, many times; after each
//! kill the parent reopens the database and checks that
//!
//! * every batch the worker saw acknowledged is in the journal (durability),
//! * the state recovered from snapshot + journal tail equals the state of a full replay of the
//!   whole retained journal from record 1 (invariant 8 across real crashes),
//! * every task is accounted for (`arrived = live + completed + cancelled + abandoned +
//!   timed_out`, each live task id findable) and the router's invariants hold,
//! * a fresh `Driver` opens on it.
//!
//! Several kills in a row hit the same database, so later kills also land in the middle of a
//! recovery. The worker is this test binary itself, re-executed with `--exact crash_worker` and
//! an environment variable naming the database.
//!
//! `SWITCHBOARD_CRASH_POINTS=200 cargo test --test crash -- --nocapture` tries more points;
//! `SWITCHBOARD_CRASH_SEED` replays a run's random delays.

#![cfg(feature = "sqlite")]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::sqlite::SqliteOptions;
use switchboard::*;

/// Set in the worker's environment: the database path.
const WORKER_ENV: &str = "SWITCHBOARD_CRASH_WORKER_DB";
/// Set in the worker's environment: the seed of its workload.
const WORKER_SEED_ENV: &str = "SWITCHBOARD_CRASH_WORKER_SEED";
/// Crash points per database before starting a fresh one.
const POINTS_PER_DB: u64 = 8;
/// Agents in the workload.
const AGENTS: u64 = 8;

fn config() -> RouterConfig {
    RouterConfig {
        offer_timeout_ms: 8_000,
        decline_backoff_ms: 10_000,
        wrap_up_ms: 3_000,
        max_missed_offers: Some(3),
        seed: 11,
        ..RouterConfig::default()
    }
}

fn storage_options() -> SqliteOptions {
    SqliteOptions::default().retain_journal(true)
}

/// The names the worker interns, in order, before any event.
fn intern_all<S: Storage, T: Transport, C: Clock>(d: &mut Driver<S, T, C>) {
    d.intern_tenant("acme").unwrap();
    for s in ["s0", "s1", "s2"] {
        d.intern_skill(s).unwrap();
    }
}

/// A fresh router with the names of `recovered`'s catalog, after checking that they are (a
/// prefix of) the names the worker interns, in its order. The worker may have been killed
/// half-way through interning: a name is durable once interned, and only the recovery ticks
/// are journaled before the last one.
fn reference_router<P: Scoring>(recovered: &Router<P>) -> Router {
    let c = recovered.catalog();
    let tenants: Vec<&str> = (0..c.tenant_count() as u32)
        .filter_map(|i| c.tenant_name(TenantId(i)))
        .collect();
    let skills: Vec<&str> = (0..c.skill_count() as u32)
        .filter_map(|i| c.skill_name(SkillId(i)))
        .collect();
    let expect_skills = ["s0", "s1", "s2"];
    assert!(tenants.is_empty() || tenants == ["acme"], "{tenants:?}");
    assert!(
        skills.len() <= 3 && skills == expect_skills[..skills.len()],
        "{skills:?}"
    );
    assert!(skills.is_empty() || !tenants.is_empty(), "interning order");
    assert_eq!(c.tag_count(), 0);
    let mut r = Router::new(config()).unwrap();
    for t in tenants {
        r.catalog_mut().tenant(t);
    }
    for s in skills {
        r.catalog_mut().skill(s);
    }
    r
}

/// splitmix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ------------------------------------------------------------------ the worker (child process)

/// Runs only inside the child process (otherwise returns at once).
#[test]
fn crash_worker() {
    let Ok(path) = std::env::var(WORKER_ENV) else {
        return;
    };
    let seed = std::env::var(WORKER_SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    worker(Path::new(&path), seed);
}

fn worker(path: &Path, seed: u64) {
    // Never outlive a parent that died: stop by ourselves.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rng = Rng(seed);
    println!("opening");
    let storage = SqliteStorage::open_with(path, storage_options()).unwrap();
    // Resume the clock at the journal's last time plus some downtime, so offers run out
    // "while the process was down" and are expired by the recovery.
    let last_at = storage
        .journal(storage.last_seq())
        .ok()
        .and_then(|r| r.last().map(|r| r.at))
        .unwrap_or(Time::from_secs(1_000));
    let clock = ManualClock::new(last_at.plus_millis(rng.below(12_000)));
    let (mut d, report) = Driver::open(
        config(),
        DefaultScoring,
        storage,
        VecTransport::default(),
        clock.clone(),
        DriverOptions {
            snapshot_every: 500,
        },
    )
    .unwrap();
    println!("recovered {report:?}");
    println!("durable {}", d.journal_seq());
    intern_all(&mut d);
    let tenant = TenantId(0);
    let skills: Vec<SkillId> = (0..3).map(SkillId).collect();

    let mut joins = Vec::new();
    for id in 1..=AGENTS {
        if d.router().agent_state(AgentId(id)).is_none() {
            joins.push(join(id, &skills, tenant, &mut rng));
        }
    }
    if !joins.is_empty() {
        d.submit(joins).unwrap();
        println!("durable {}", d.journal_seq());
    }
    // Live tasks, found again from the recovered state.
    let mut next_task = d.router().counters().arrived + 1;
    let mut live: Vec<TaskId> = (1..next_task)
        .map(TaskId)
        .filter(|t| d.router().task_state(*t).is_some())
        .collect();

    let strategies = [Strategy::LongestIdle, Strategy::BestScore, Strategy::Random];
    while Instant::now() < deadline {
        clock.advance_millis(rng.below(1_500));
        let mut batch = Vec::new();
        let mut arriving = Vec::new();
        for _ in 0..=rng.below(4) {
            let r = d.router();
            if live.len() + arriving.len() < 40 && rng.chance(35) {
                let id = TaskId(next_task);
                next_task += 1;
                let mut req = Requirements::default()
                    .skill(skills[rng.below(3) as usize], 1 + rng.below(5) as u8);
                if rng.chance(20) {
                    req = req.certified();
                }
                let mut spec = TaskSpec::new(id, tenant, Channel::Chat)
                    .requires(req)
                    .strategy(strategies[rng.below(3) as usize])
                    .fanout(1 + rng.below(2) as u8)
                    .priority(rng.below(3) as u8, rng.unit() * 10.0);
                if rng.chance(30) {
                    spec = spec.max_wait_ms(20_000 + rng.below(60_000));
                }
                batch.push(Event::Arrive(spec));
                arriving.push(id);
                continue;
            }
            if rng.chance(8) {
                let agent = AgentId(1 + rng.below(AGENTS));
                let event = match r.agent_state(agent) {
                    None => join(agent.0, &skills, tenant, &mut rng),
                    Some(AgentState::Available) if rng.chance(10) => Event::RemoveAgent { agent },
                    Some(AgentState::Available) => Event::SetAgentState {
                        agent,
                        state: AgentState::Away,
                    },
                    Some(_) => Event::SetAgentState {
                        agent,
                        state: AgentState::Available,
                    },
                };
                batch.push(event);
                continue;
            }
            if live.is_empty() {
                continue;
            }
            let k = rng.below(live.len() as u64) as usize;
            let task = live[k];
            match r.task_state(task) {
                None => {
                    live.swap_remove(k);
                }
                Some(TaskState::Waiting) => {
                    if rng.chance(3) {
                        batch.push(if rng.chance(50) {
                            Event::Cancel { task }
                        } else {
                            Event::Abandon { task }
                        });
                    }
                }
                Some(TaskState::Offered(offers)) => {
                    let offer = offers[rng.below(offers.len() as u64) as usize];
                    if let Some((_, agent, _)) = r.offer(offer) {
                        let roll = rng.below(100);
                        if roll < 55 {
                            batch.push(Event::Accept { offer, agent });
                        } else if roll < 75 {
                            batch.push(Event::Reject { offer, agent });
                        } // else: leave it to expire
                    }
                }
                Some(TaskState::InService(_)) => {
                    if rng.chance(45) {
                        batch.push(Event::Complete { task });
                    }
                }
                Some(TaskState::WrapUp(_)) => {
                    if rng.chance(30) {
                        batch.push(Event::FinishWrapUp { task });
                    }
                }
            }
        }
        if batch.is_empty() {
            batch.push(Event::Tick);
        }
        d.submit(batch).unwrap();
        live.append(&mut arriving);
        // Acknowledged: durable from here on.
        println!("durable {}", d.journal_seq());
        d.transport_mut().delivered.clear();
    }
    println!("worker done");
}

fn join(id: u64, skills: &[SkillId], tenant: TenantId, rng: &mut Rng) -> Event {
    let mut spec = AgentSpec::new(AgentId(id))
        .capacity(Channel::Chat, 1 + rng.below(3) as u16)
        .state(AgentState::Available);
    for s in skills {
        if rng.chance(80) {
            spec = spec.skill(*s, 1 + rng.below(10) as u8);
        }
    }
    if rng.chance(50) {
        spec = spec.certified(tenant);
    }
    Event::AddAgent(spec)
}

// ------------------------------------------------------------------ the parent

/// What one check found.
#[derive(Default)]
struct Tally {
    points: u64,
    records: u64,
    acked_max: u64,
    during_recovery: u64,
    finished_early: u64,
    expired_on_recovery: u64,
    reissued: u64,
}

#[test]
fn crash_recovery() {
    let points: u64 = std::env::var("SWITCHBOARD_CRASH_POINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("SWITCHBOARD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    report(&format!(
        "crash seed: {seed} (SWITCHBOARD_CRASH_SEED={seed} to replay the delays)"
    ));
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut db = PathBuf::new();
    for i in 0..points {
        if i % POINTS_PER_DB == 0 {
            db = dir.path().join(format!("crash-{}.db", i / POINTS_PER_DB));
        }
        // Mostly mid-workload; one in five right after the worker starts opening the
        // database, while it recovers.
        let when = if rng.chance(20) {
            Kill::AfterOpening(rng.below(10))
        } else {
            Kill::After(100 + rng.below(1_100))
        };
        let run = run_and_kill(&exe, &db, rng.next(), when);
        if !run.recovered {
            tally.during_recovery += 1;
        }
        if run.exited {
            tally.finished_early += 1;
        }
        tally.expired_on_recovery += run.expired_on_recovery;
        tally.reissued += run.reissued;
        let counters = verify(&db, run.acked, &mut tally);
        tally.points += 1;
        if (i + 1) % POINTS_PER_DB == 0 || i + 1 == points {
            println!(
                "{} after {} crashes: {counters:?}",
                db.display(),
                i % POINTS_PER_DB + 1
            );
        }
    }
    report(&format!(
        "crash points tried: {} ({} before the worker finished recovering, {} records checked, \
         largest acknowledged seq {}, {} offers expired and {} re-issued by recoveries, \
         {} worker(s) finished before the kill) in {:.1?}",
        tally.points,
        tally.during_recovery,
        tally.records,
        tally.acked_max,
        tally.expired_on_recovery,
        tally.reissued,
        tally.finished_early,
        started.elapsed()
    ));
    assert_eq!(tally.points, points);
}

/// Writes a line to the real stderr: shown even when the harness captures test output.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "\n{line}");
}

/// What one worker run reported before it was killed.
struct Run {
    /// The highest journal position it reported durable.
    acked: u64,
    /// Whether it got past its recovery.
    recovered: bool,
    /// Whether it had exited by itself.
    exited: bool,
    /// Offers its recovery expired, and offers it re-issued.
    expired_on_recovery: u64,
    reissued: u64,
}

/// When to kill the worker.
#[derive(Clone, Copy)]
enum Kill {
    /// This many ms after it started.
    After(u64),
    /// This many ms after it said it is opening the database.
    AfterOpening(u64),
}

/// Starts the worker on `db` and kills it.
fn run_and_kill(exe: &Path, db: &Path, seed: u64, when: Kill) -> Run {
    let mut child = Command::new(exe)
        .args(["--exact", "crash_worker", "--nocapture", "--test-threads=1"])
        .env(WORKER_ENV, db)
        .env(WORKER_SEED_ENV, seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let recovered = Arc::new(AtomicU64::new(0));
    let report = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let stdout = child.stdout.take().unwrap();
    let (opening_tx, opening) = std::sync::mpsc::channel();
    let reader = {
        let acked = acked.clone();
        let recovered = recovered.clone();
        let report = report.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.ends_with("opening") {
                    let _ = opening_tx.send(());
                }
                // The harness may print its own text before ours on the first line.
                if let Some(at) = line.rfind("durable ") {
                    let n = line[at + 8..].trim().parse().unwrap_or(0);
                    acked.fetch_max(n, Ordering::SeqCst);
                }
                if line.contains("recovered RecoveryReport") {
                    recovered.store(1, Ordering::SeqCst);
                    for (key, slot) in [("expired_on_recovery: ", 0), ("reissued_offers: ", 1)] {
                        if let Some(at) = line.find(key) {
                            let n: u64 = line[at + key.len()..]
                                .chars()
                                .take_while(char::is_ascii_digit)
                                .collect::<String>()
                                .parse()
                                .unwrap_or(0);
                            report[slot].fetch_add(n, Ordering::SeqCst);
                        }
                    }
                }
            }
        })
    };
    let stderr = child.stderr.take().unwrap();
    let err_text = Arc::new(Mutex::new(String::new()));
    let err_reader = {
        let err_text = err_text.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
            *err_text.lock().unwrap() = s;
        })
    };
    let delay_ms = match when {
        Kill::After(ms) => ms,
        Kill::AfterOpening(ms) => {
            let _ = opening.recv_timeout(Duration::from_secs(10));
            ms
        }
    };
    std::thread::sleep(Duration::from_millis(delay_ms));
    let exited = match child.try_wait().unwrap() {
        Some(status) => {
            let _ = reader.join();
            let _ = err_reader.join();
            assert!(
                status.success(),
                "worker failed: {status}\n{}",
                err_text.lock().unwrap()
            );
            true
        }
        None => {
            child.kill().unwrap(); // SIGKILL
            let status = child.wait().unwrap();
            assert!(!status.success());
            let _ = reader.join();
            let _ = err_reader.join();
            false
        }
    };
    Run {
        acked: acked.load(Ordering::SeqCst),
        recovered: recovered.load(Ordering::SeqCst) == 1,
        exited,
        expired_on_recovery: report[0].load(Ordering::SeqCst),
        reissued: report[1].load(Ordering::SeqCst),
    }
}

/// Checks the database a killed worker left behind; returns the recovered counters.
fn verify(db: &Path, acked: u64, tally: &mut Tally) -> Counters {
    if !db.exists() {
        // Killed before it created the file.
        assert_eq!(acked, 0);
        return Counters::default();
    }
    let mut storage = SqliteStorage::open_with(db, storage_options()).unwrap();
    // The whole retained history, strictly (no damage tolerated: SQLite commits are atomic).
    let all = storage.journal(1).unwrap();
    let loaded = storage.load().unwrap();
    assert!(loaded.damaged_tail.is_none(), "{:?}", loaded.damaged_tail);
    let through = loaded.snapshot.as_ref().map_or(0, |s| s.0);
    let last = loaded.records.last().map_or(through, |r| r.seq);
    assert_eq!(all.last().map_or(0, |r| r.seq), last);
    assert_eq!(all.len() as u64, last, "journal rows from 1 without gaps");
    // Durability: everything acknowledged before the kill survived.
    assert!(last >= acked, "acknowledged {acked}, recovered only {last}");
    tally.acked_max = tally.acked_max.max(acked);
    tally.records += all.len() as u64;

    // Recovered the driver's way (snapshot + tail), before its recovery tick ...
    let mut recovered = match loaded.snapshot {
        Some((_, state)) => Router::from_state(state, DefaultScoring).unwrap(),
        None => Router::new(config()).unwrap(),
    };
    for r in loaded.records {
        recovered.handle(r.at, r.event).unwrap();
    }
    // ... equals a full replay of the journal from record 1.
    let mut full = reference_router(&recovered);
    if recovered.catalog().skill_count() < 3 {
        assert_eq!(
            recovered.counters().arrived,
            0,
            "tasks before all names were durable"
        );
        assert_eq!(
            recovered.agent_count(),
            0,
            "agents before all names were durable"
        );
    }
    for r in &all {
        full.handle(r.at, r.event.clone())
            .unwrap_or_else(|e| panic!("record {} does not replay: {e}", r.seq));
    }
    assert_eq!(
        recovered.export_state(),
        full.export_state(),
        "recovered state differs from the full replay (through record {last})"
    );
    accounted(&recovered);

    // And a driver opens on it (its recovery tick is journaled like any other).
    let clock = ManualClock::new(recovered.now());
    let (d, report) = Driver::open(
        config(),
        DefaultScoring,
        storage,
        VecTransport::default(),
        clock,
        DriverOptions {
            snapshot_every: 500,
        },
    )
    .unwrap();
    assert_eq!(report.snapshot_seq + report.replayed, last);
    assert_eq!(report.expired_on_recovery, 0, "no time passed");
    assert_eq!(
        report.reissued_offers,
        d.router().outstanding_offers() as u64
    );
    accounted(d.router());
    d.router().counters().clone()
}

/// Every task is accounted for, and the invariants hold.
fn accounted<P: Scoring>(r: &Router<P>) {
    r.check_invariants()
        .unwrap_or_else(|e| panic!("invariant violated: {e}"));
    let c = r.counters();
    assert_eq!(
        c.arrived,
        r.live_tasks() as u64 + c.completed + c.cancelled + c.abandoned + c.timed_out,
        "conservation: {c:?}"
    );
    let findable = (1..=c.arrived)
        .filter(|id| r.task_state(TaskId(*id)).is_some())
        .count();
    assert_eq!(findable, r.live_tasks(), "every live task id is findable");
}
