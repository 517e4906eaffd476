//! Crash recovery of the composed operation with real processes: a worker process runs a
//! bot-first day — conversations the bot contains, escalations by hard trigger and by score,
//! hand-overs routed through a widening workflow, agents accepting, rejecting, letting offers
//! expire, completing and handing back, direct requests through their own workflow, outcomes —
//! through a `Driver<SqliteStorage, ..>` and is killed (SIGKILL) at random points, many times;
//! after each kill the parent reopens the database and checks that
//!
//! * every batch the worker saw acknowledged is in the journal (durability),
//! * the operation recovered from snapshot + journal tail — router, workflow steps and timers,
//!   every conversation's escalation state, the ledger, the load view — equals a full replay of
//!   the whole retained journal from record 1 (invariant 8 across real crashes),
//! * every task is accounted for (`arrived = live + completed + cancelled + abandoned +
//!   timed_out`, each live task id findable), every conversation ever opened is open or counted
//!   closed, every task linked to a conversation is live and its conversation open, and the
//!   router's invariants hold,
//! * a fresh `Driver` opens on it.
//!
//! Several kills in a row hit the same database, so later kills also land in the middle of a
//! recovery. The worker is this test binary itself, re-executed with `--exact crash_worker` and
//! an environment variable naming the database.
//!
//! `SWITCHBOARD_CRASH_POINTS=5000 cargo test --release --test crash -- --nocapture` tries more
//! points (CI tries 1,000); `SWITCHBOARD_CRASH_SEED` replays a run's random delays.

#![cfg(feature = "sqlite")]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::escalation::{ConversationId, Signal, Turn};
use switchboard::ledger::Outcome;
use switchboard::operation::{Input, Operation, OperationConfig, Output};
use switchboard::sqlite::SqliteOptions;
use switchboard::*;

/// Set in the worker's environment: the database path.
const WORKER_ENV: &str = "SWITCHBOARD_CRASH_WORKER_DB";
/// Set in the worker's environment: the seed of its workload.
const WORKER_SEED_ENV: &str = "SWITCHBOARD_CRASH_WORKER_SEED";
/// Crash points per database before starting a fresh one.
const POINTS_PER_DB: u64 = 25;
/// Agents in the workload.
const AGENTS: u64 = 8;

/// The routing policy: three skills, one brand, a widening workflow for hand-overs and one
/// for direct pre-sale requests (workflow timers are part of what recovery must restore).
const POLICY: &str = r#"
version = "crash-1"
skills = [{ name = "s0" }, { name = "s1" }, { name = "s2" }]
[router]
offer_timeout_ms = 8000
decline_backoff_ms = 10000
wrap_up_ms = 3000
max_missed_offers = 3
seed = 11
[[tenants]]
name = "acme"
[[workflows.escalation.steps]]
target = 'skill("s0") >= 7'
timeout_ms = 15000
[[workflows.escalation.steps]]
target = 'skill("s0") >= 3 or skill("s1") >= 3'
timeout_ms = 40000
[[workflows.escalation.steps]]
target = 'true'
[[workflows.presale.steps]]
target = 'skill("s2") >= 6'
timeout_ms = 20000
[[workflows.presale.steps]]
target = 'skill("s2") >= 1'
"#;

fn config() -> OperationConfig {
    OperationConfig {
        policy: Some(PolicySet::from_toml_str(POLICY).unwrap()),
        ..OperationConfig::with_bots(RouterConfig::default())
    }
}

fn storage_options() -> SqliteOptions {
    SqliteOptions::default().retain_journal(true)
}

/// Direct requests get ids from here on (escalated tasks get `conversation << 8 | n`).
const REQUEST_IDS: u64 = 1 << 40;

/// What customers say: neutral, unhappy, asking for a human.
const SAYINGS: [&str; 8] = [
    "where is my order",
    "does this jacket run small",
    "ok thanks",
    "this is useless, you are not helping at all",
    "I want a refund now, this is terrible",
    "转人工",
    "let me talk to a real person",
    "what colours do you have",
];

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

/// Conversations opened and direct requests made so far, read back from the journal.
fn history(journal: &[JournalRecord]) -> (u64, Vec<TaskId>, Vec<ConversationId>) {
    let (mut requests, mut convs) = (Vec::new(), Vec::new());
    for r in journal {
        match &r.input {
            Input::Request { spec, .. } => requests.push(spec.id),
            Input::Open { conversation, .. } => convs.push(*conversation),
            _ => {}
        }
    }
    (requests.len() as u64, requests, convs)
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
    let journal = storage.journal(1).unwrap();
    // Resume the clock at the journal's last time plus some downtime, so offers and workflow
    // steps run out "while the process was down" and are handled by the recovery.
    let last_at = journal.last().map_or(Time::from_secs(1_000), |r| r.at);
    let (made, requests, convs) = history(&journal);
    let clock = ManualClock::new(last_at.plus_millis(rng.below(12_000)));
    let (mut d, report) = Driver::open(
        config(),
        DefaultScoring,
        storage,
        VecTransport::default(),
        clock.clone(),
        DriverOptions {
            snapshot_every: 200,
        },
    )
    .unwrap();
    println!("recovered {report:?}");
    println!("durable {}", d.journal_seq());
    let tenant = d.router().catalog().find_tenant("acme").unwrap();
    let skills: Vec<SkillId> = ["s0", "s1", "s2"]
        .iter()
        .map(|s| d.router().catalog().find_skill(s).unwrap())
        .collect();

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
    let mut next_request = REQUEST_IDS + made;
    let mut next_conv = convs.iter().map(|c| c.0).max().unwrap_or(0) + 1;
    // Live tasks and open conversations, found again from the recovered state.
    let mut live: Vec<TaskId> = requests
        .into_iter()
        .chain(
            convs
                .iter()
                .flat_map(|c| (0..8).map(move |n| TaskId(c.0 << 8 | n))),
        )
        .filter(|t| d.router().task_state(*t).is_some())
        .collect();
    let mut open: Vec<ConversationId> = convs
        .into_iter()
        .filter(|c| d.operation().conversation(*c).is_some())
        .collect();

    while Instant::now() < deadline {
        clock.advance_millis(rng.below(1_500));
        let mut batch: Vec<Input> = Vec::new();
        for _ in 0..=rng.below(4) {
            let op = d.operation();
            let r = d.router();
            let roll = rng.below(100);
            if roll < 12 && open.len() < 30 {
                let conversation = ConversationId(next_conv);
                next_conv += 1;
                batch.push(Input::Open {
                    conversation,
                    tenant,
                });
                open.push(conversation);
                continue;
            }
            if roll < 40 && !open.is_empty() {
                let k = rng.below(open.len() as u64) as usize;
                let conversation = open[k];
                if op.conversation(conversation).is_none() {
                    open.swap_remove(k);
                    continue;
                }
                if rng.chance(12) {
                    batch.push(Input::Close { conversation });
                    open.swap_remove(k);
                    continue;
                }
                let owner = op.conversation(conversation).unwrap().owner().name();
                let signal = match owner {
                    "human" if rng.chance(30) => Signal::Turn(Turn::human("let me check that")),
                    "human" if rng.chance(10) => Signal::HumanReleased,
                    "pending_human" if rng.chance(5) => Signal::CustomerCancelled,
                    _ if rng.chance(10) => Signal::Turn(Turn::bot("here is what I found")),
                    _ => {
                        let text = SAYINGS[rng.below(SAYINGS.len() as u64) as usize];
                        Signal::Turn(Turn::customer(text))
                    }
                };
                batch.push(Input::Signal {
                    conversation,
                    signal,
                });
                continue;
            }
            if roll < 48 && live.len() < 40 {
                let id = TaskId(next_request);
                next_request += 1;
                let spec = TaskSpec::new(id, tenant, Channel::Chat)
                    .priority(rng.below(3) as u8, rng.unit() * 10.0)
                    .max_wait_ms(20_000 + rng.below(60_000));
                batch.push(Input::Request {
                    spec,
                    workflow: Some("presale".into()),
                    attrs: Default::default(),
                });
                live.push(id);
                continue;
            }
            if roll < 52 {
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
                batch.push(event.into());
                continue;
            }
            if live.is_empty() {
                continue;
            }
            let k = rng.below(live.len() as u64) as usize;
            let task = live[k];
            let event = match r.task_state(task) {
                None => {
                    live.swap_remove(k);
                    if rng.chance(50) {
                        batch.push(Input::Outcome {
                            task,
                            outcome: Outcome::csat(1.0 + rng.below(5) as f64),
                        });
                    }
                    None
                }
                Some(TaskState::Waiting) if rng.chance(3) => Some(Event::Abandon { task }),
                Some(TaskState::Offered(offers)) => {
                    let offer = offers[rng.below(offers.len() as u64) as usize];
                    r.offer(offer)
                        .and_then(|(_, agent, _)| match rng.below(100) {
                            0..55 => Some(Event::Accept { offer, agent }),
                            55..75 => Some(Event::Reject { offer, agent }),
                            _ => None, // left to expire
                        })
                }
                Some(TaskState::InService(_)) if rng.chance(45) => Some(Event::Complete { task }),
                Some(TaskState::WrapUp(_)) if rng.chance(30) => Some(Event::FinishWrapUp { task }),
                _ => None,
            };
            batch.extend(event.map(Input::from));
        }
        if batch.is_empty() {
            batch.push(Input::Tick);
        }
        d.submit(batch).unwrap();
        // Hand-overs made escalation tasks: track them too.
        for o in &d.transport().delivered {
            if let Output::Handover { task, .. } = o {
                live.push(*task);
            }
        }
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
    conversations: u64,
}

#[test]
fn crash_recovery() {
    let points: u64 = std::env::var("SWITCHBOARD_CRASH_POINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
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
            Kill::After(30 + rng.below(470))
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
         {} conversations accounted for, \
         largest acknowledged seq {}, {} offers expired and {} re-issued by recoveries, \
         {} worker(s) finished before the kill) in {:.1?}",
        tally.points,
        tally.during_recovery,
        tally.records,
        tally.conversations,
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
        Some((_, state)) => Operation::from_state(state, DefaultScoring).unwrap(),
        None => Operation::new(config()).unwrap(),
    };
    for r in loaded.records {
        recovered.handle(r.at, r.input).unwrap();
    }
    // ... equals a full replay of the journal from record 1: every engine, not only the router.
    let mut full = Operation::new(config()).unwrap();
    for r in &all {
        full.handle(r.at, r.input.clone())
            .unwrap_or_else(|e| panic!("record {} does not replay: {e}", r.seq));
    }
    let (a, b) = (
        serde_json::to_value(recovered.export_state()).unwrap(),
        serde_json::to_value(full.export_state()).unwrap(),
    );
    if a != b {
        for key in [
            "router",
            "workflows",
            "escalation",
            "ledger",
            "load",
            "links",
        ] {
            assert_eq!(
                a[key], b[key],
                "{key} differs from the full replay (through record {last})"
            );
        }
        panic!("recovered state differs from the full replay (through record {last})");
    }
    accounted(&recovered, &all);

    // And a driver opens on it (its recovery tick is journaled like any other).
    let clock = ManualClock::new(recovered.now().max(recovered.router().now()));
    let (d, report) = Driver::open(
        config(),
        DefaultScoring,
        storage,
        VecTransport::default(),
        clock,
        DriverOptions {
            snapshot_every: 200,
        },
    )
    .unwrap();
    assert_eq!(report.snapshot_seq + report.replayed, last);
    assert_eq!(report.expired_on_recovery, 0, "no time passed");
    // Every offer outstanding before the recovery tick that survived it is delivered again;
    // offers the tick itself makes (a timer due at this very millisecond) are fresh ones.
    assert!(
        report.reissued_offers <= d.router().outstanding_offers() as u64,
        "{report:?}"
    );
    let all = d.into_parts().0.journal(1).unwrap();
    let mut again = Operation::new(config()).unwrap();
    for r in &all {
        again.handle(r.at, r.input.clone()).unwrap();
    }
    accounted(&again, &all);
    tally.conversations += history(&all).2.len() as u64;
    again.router().counters().clone()
}

/// Every task and conversation is accounted for, and the invariants hold.
fn accounted<P: Scoring>(op: &Operation<P>, journal: &[JournalRecord]) {
    let r = op.router();
    r.check_invariants()
        .unwrap_or_else(|e| panic!("invariant violated: {e}"));
    let c = r.counters();
    assert_eq!(
        c.arrived,
        r.live_tasks() as u64 + c.completed + c.cancelled + c.abandoned + c.timed_out,
        "conservation: {c:?}"
    );
    let (_, requests, convs) = history(journal);
    let escalated = convs
        .iter()
        .flat_map(|c| (0..256).map(move |n| TaskId(c.0 << 8 | n)));
    let findable = requests
        .iter()
        .copied()
        .chain(escalated)
        .filter(|id| r.task_state(*id).is_some())
        .count();
    assert_eq!(findable, r.live_tasks(), "every live task id is findable");
    let bots = op.escalation().unwrap();
    let open = bots.conversations().count() as u64;
    assert_eq!(
        convs.len() as u64,
        open + bots.metrics().closed,
        "every conversation is open or counted closed"
    );
    for c in &convs {
        let Some(conv) = op.conversation(*c) else {
            continue;
        };
        // A conversation that waits for a human has its task in the router.
        if conv.owner().name() == "pending_human"
            && let Some(task) = (0..256)
                .map(|n| TaskId(c.0 << 8 | n))
                .find(|t| op.link(*t) == Some(*c))
        {
            assert!(
                r.task_state(task).is_some(),
                "{c:?} waits for a task the router lost"
            );
        }
    }
}
