//! The behaviour the [`Driver`] promises hosts, against both stores: persist before act,
//! recovery to the same state, offers expired while down, offers re-issued, failed deliveries,
//! damaged journals and foreign schema versions.

#![cfg(feature = "sqlite")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use switchboard::operation::{Input, OperationState, Output};
use switchboard::sqlite::{SchemaPart, SqliteOptions};
use switchboard::storage::MemoryStorageError;
use switchboard::*;
use tempfile::TempDir;

// ------------------------------------------------------------------ harness

fn config() -> RouterConfig {
    RouterConfig {
        offer_timeout_ms: 10_000,
        decline_backoff_ms: 15_000,
        wrap_up_ms: 5_000,
        seed: 7,
        ..RouterConfig::default()
    }
}

fn opts() -> DriverOptions {
    DriverOptions { snapshot_every: 0 }
}

/// How a store is made and "restarted" (for SQLite: closed and reopened from the file).
trait Backend {
    type S: Storage + std::fmt::Debug;
    fn fresh(&mut self) -> Self::S;
    fn reopen(&mut self, s: Self::S) -> Self::S;
}

struct Mem;
impl Backend for Mem {
    type S = MemoryStorage;
    fn fresh(&mut self) -> MemoryStorage {
        MemoryStorage {
            compact: true,
            ..MemoryStorage::default()
        }
    }
    fn reopen(&mut self, s: MemoryStorage) -> MemoryStorage {
        s
    }
}

struct Sql {
    dir: TempDir,
    options: SqliteOptions,
}
impl Sql {
    fn new() -> Self {
        Sql {
            dir: tempfile::tempdir().unwrap(),
            options: SqliteOptions::default(),
        }
    }
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("journal.db")
    }
}
impl Backend for Sql {
    type S = SqliteStorage;
    fn fresh(&mut self) -> SqliteStorage {
        SqliteStorage::open_with(self.path(), self.options).unwrap()
    }
    fn reopen(&mut self, s: SqliteStorage) -> SqliteStorage {
        drop(s);
        SqliteStorage::open_with(self.path(), self.options).unwrap()
    }
}

/// Names interned through the driver (so they are durable).
struct Names {
    brand: TenantId,
    skill: SkillId,
}

type D<S, T = VecTransport> = Driver<S, T, ManualClock>;

fn open<S: Storage, T: Transport>(
    storage: S,
    transport: T,
    clock: &ManualClock,
) -> (D<S, T>, RecoveryReport) {
    Driver::open(
        config(),
        DefaultScoring,
        storage,
        transport,
        clock.clone(),
        opts(),
    )
    .unwrap()
}

fn names<S: Storage, T: Transport>(d: &mut D<S, T>) -> Names {
    Names {
        brand: d.intern_tenant("acme").unwrap(),
        skill: d.intern_skill("returns").unwrap(),
    }
}

fn agent(n: &Names, id: u64, cap: u16) -> Event {
    Event::AddAgent(
        AgentSpec::new(AgentId(id))
            .skill(n.skill, 5)
            .certified(n.brand)
            .capacity(Channel::Chat, cap)
            .state(AgentState::Available),
    )
}

fn task(n: &Names, id: u64) -> Event {
    Event::Arrive(
        TaskSpec::new(TaskId(id), n.brand, Channel::Chat)
            .requires(Requirements::default().skill(n.skill, 3)),
    )
}

fn offers_in(outputs: &[Output]) -> Vec<(OfferId, TaskId, AgentId)> {
    outputs
        .iter()
        .filter_map(Output::as_router)
        .filter_map(|e| match e {
            Effect::Offer {
                offer, task, agent, ..
            } => Some((*offer, *task, *agent)),
            _ => None,
        })
        .collect()
}

fn all_ok(s: &Submitted) {
    for r in &s.results {
        assert!(r.is_ok(), "event refused: {r:?}");
    }
}

fn check<P: Scoring>(r: &Router<P>) {
    r.check_invariants().unwrap();
    let c = r.counters();
    assert_eq!(
        c.arrived,
        r.live_tasks() as u64 + c.completed + c.cancelled + c.abandoned + c.timed_out,
        "conservation"
    );
}

/// A mixed history: two agents, five tasks, accepts, a reject, a completion, a cancel.
fn history<S: Storage>(d: &mut D<S>, clock: &ManualClock) -> Names {
    let n = names(d);
    all_ok(&d.submit(vec![agent(&n, 1, 2), agent(&n, 2, 2)]).unwrap());
    for id in 1..=5 {
        clock.advance_millis(500);
        all_ok(&d.submit(vec![task(&n, id)]).unwrap());
    }
    let offers = offers_in(&d.transport().delivered);
    assert!(offers.len() >= 4, "{offers:?}");
    clock.advance_millis(1_000);
    let (o, _, a) = offers[0];
    all_ok(
        &d.submit(vec![Event::Accept { offer: o, agent: a }])
            .unwrap(),
    );
    let (o, _, a) = offers[1];
    all_ok(
        &d.submit(vec![Event::Reject { offer: o, agent: a }])
            .unwrap(),
    );
    clock.advance_millis(1_000);
    all_ok(
        &d.submit(vec![Event::Complete { task: offers[0].1 }])
            .unwrap(),
    );
    all_ok(&d.submit(vec![Event::Cancel { task: TaskId(5) }]).unwrap());
    check(d.router());
    n
}

// ------------------------------------------------------------------ recovery equals the original

fn recovery_replays_to_equal_state<B: Backend>(mut b: B, snapshot_every: u64) {
    let clock = ManualClock::new(Time::from_secs(1_000));
    let (mut d, report) = Driver::open(
        config(),
        DefaultScoring,
        b.fresh(),
        VecTransport::default(),
        clock.clone(),
        DriverOptions { snapshot_every },
    )
    .unwrap();
    assert_eq!(report, RecoveryReport::default());
    history(&mut d, &clock);
    let before = d.router().export_state();
    let seq = d.journal_seq();
    let outstanding = d.router().outstanding_offers() as u64;
    assert!(outstanding > 0);

    let storage = b.reopen(d.into_parts().0);
    // Same clock reading: nothing is due, the recovery tick changes nothing.
    let (d2, report) = Driver::open(
        config(),
        DefaultScoring,
        storage,
        VecTransport::default(),
        clock.clone(),
        DriverOptions { snapshot_every },
    )
    .unwrap();
    assert_eq!(d2.router().export_state(), before);
    assert_eq!(report.snapshot_seq + report.replayed, seq);
    if snapshot_every > 0 {
        assert!(report.snapshot_seq > 0, "{report:?}");
    }
    assert_eq!(report.expired_on_recovery, 0);
    assert_eq!(report.reissued_offers, outstanding);
    assert_eq!(report.damaged_tail, None);
    check(d2.router());
}

#[test]
fn memory_recovery_replays_to_equal_state() {
    recovery_replays_to_equal_state(Mem, 0);
    recovery_replays_to_equal_state(Mem, 3);
}

#[test]
fn sqlite_recovery_replays_to_equal_state() {
    recovery_replays_to_equal_state(Sql::new(), 0);
    recovery_replays_to_equal_state(Sql::new(), 3);
}

#[test]
fn sqlite_compaction_bounds_the_journal_and_retain_keeps_it() {
    for retain in [false, true] {
        let mut b = Sql::new();
        b.options = SqliteOptions::default().retain_journal(retain);
        let clock = ManualClock::new(Time::from_secs(1_000));
        let (mut d, _) = Driver::open(
            config(),
            DefaultScoring,
            b.fresh(),
            VecTransport::default(),
            clock.clone(),
            DriverOptions { snapshot_every: 4 },
        )
        .unwrap();
        history(&mut d, &clock);
        let seq = d.journal_seq();
        let storage = b.reopen(d.into_parts().0);
        let stored = storage.journal(1).unwrap();
        if retain {
            // The whole history, from 1, and a full replay gives the recovered state.
            assert_eq!(stored.len() as u64, seq);
            assert_eq!(stored[0].seq, 1);
        } else {
            assert!((stored.len() as u64) < 4, "{} rows kept", stored.len());
        }
        let mut full = Router::new(config()).unwrap();
        full.catalog_mut().tenant("acme");
        full.catalog_mut().skill("returns");
        if retain {
            for r in &stored {
                match &r.input {
                    Input::Router { event } => full.handle(r.at, event.clone()).unwrap(),
                    Input::Tick => full.handle_timeout(r.at).unwrap(),
                    other => panic!("a router-only journal holds {other:?}"),
                }
            }
        }
        let (d2, report) = open(storage, VecTransport::default(), &clock);
        if retain {
            assert_eq!(full.export_state(), d2.router().export_state());
        }
        assert!(report.snapshot_seq > 0);
        assert_eq!(report.snapshot_seq + report.replayed, seq);
    }
}

// ------------------------------------------------------------------ persist before act

/// Fails on demand: `Off`, fail `Before` writing (nothing stored), or fail `After` writing
/// (stored, but the caller is told it failed — the contract's "all" case).
#[derive(Debug)]
struct Flaky<S> {
    inner: S,
    mode: Arc<AtomicU8>,
}
const OFF: u8 = 0;
const BEFORE: u8 = 1;
const AFTER: u8 = 2;

#[derive(Debug)]
enum FlakyError<E> {
    Injected,
    Inner(E),
}
impl<E: std::fmt::Display> std::fmt::Display for FlakyError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlakyError::Injected => f.write_str("injected failure"),
            FlakyError::Inner(e) => e.fmt(f),
        }
    }
}
impl<E: std::error::Error> std::error::Error for FlakyError<E> {}

impl<S: Storage> Storage for Flaky<S> {
    type Error = FlakyError<S::Error>;
    fn append(&mut self, records: &[JournalRecord]) -> Result<(), Self::Error> {
        match self.mode.load(Ordering::SeqCst) {
            BEFORE => Err(FlakyError::Injected),
            AFTER => {
                self.inner.append(records).map_err(FlakyError::Inner)?;
                Err(FlakyError::Injected)
            }
            _ => self.inner.append(records).map_err(FlakyError::Inner),
        }
    }
    fn save_snapshot(&mut self, through: u64, state: &OperationState) -> Result<(), Self::Error> {
        match self.mode.load(Ordering::SeqCst) {
            OFF => self
                .inner
                .save_snapshot(through, state)
                .map_err(FlakyError::Inner),
            _ => Err(FlakyError::Injected),
        }
    }
    fn load(&mut self) -> Result<Loaded, Self::Error> {
        self.inner.load().map_err(FlakyError::Inner)
    }
}

fn persist_before_act<B: Backend>(mut b: B, mode: u8) {
    let clock = ManualClock::new(Time::from_secs(1_000));
    let switch = Arc::new(AtomicU8::new(OFF));
    let flaky = Flaky {
        inner: b.fresh(),
        mode: switch.clone(),
    };
    let (mut d, _) = open(flaky, VecTransport::default(), &clock);
    let n = names(&mut d);
    all_ok(&d.submit(vec![agent(&n, 1, 2)]).unwrap());
    all_ok(&d.submit(vec![task(&n, 1)]).unwrap());
    let durable = d.router().export_state();
    let delivered = d.transport().delivered.len();

    // The failing batch would offer task 2 to agent 1: the offer must not go out.
    switch.store(mode, Ordering::SeqCst);
    clock.advance_millis(100);
    let err = d.submit(vec![task(&n, 2), task(&n, 3)]).unwrap_err();
    assert!(
        matches!(err, DriverError::Storage(FlakyError::Injected)),
        "{err}"
    );
    assert_eq!(
        d.transport().delivered.len(),
        delivered,
        "effects of an unpersisted batch went out"
    );
    // Poisoned: nothing more is accepted, not even once storage works again.
    switch.store(OFF, Ordering::SeqCst);
    assert!(matches!(
        d.submit(vec![task(&n, 4)]),
        Err(DriverError::Poisoned)
    ));
    assert!(matches!(d.tick(), Err(DriverError::Poisoned)));
    assert!(matches!(d.snapshot(), Err(DriverError::Poisoned)));
    assert!(matches!(d.intern_tag("vip"), Err(DriverError::Poisoned)));
    assert_eq!(d.transport().delivered.len(), delivered);

    // Reopen from storage: the last durable state.
    let flaky = d.into_parts().0;
    let storage = b.reopen(flaky.inner);
    let (d2, report) = open(storage, VecTransport::default(), &clock);
    check(d2.router());
    match mode {
        BEFORE => {
            // Nothing of the batch was stored: back to the state before it (the recovery tick
            // only moves the time).
            assert_eq!(d2.router().live_tasks(), 1);
            assert_eq!(d2.router().task_state(TaskId(2)), None);
            let mut expect = Router::from_state(durable, DefaultScoring).unwrap();
            expect.handle(clock.now(), Event::Tick).unwrap();
            assert_eq!(d2.router().export_state(), expect.export_state());
            assert_eq!(report.reissued_offers, 1);
        }
        _ => {
            // The batch was stored although the call failed: it is recovered, and its offer,
            // never delivered before, goes out now.
            assert_eq!(d2.router().live_tasks(), 3);
            assert_eq!(report.reissued_offers, 2);
            let offered: Vec<TaskId> = offers_in(&d2.transport().delivered)
                .iter()
                .map(|o| o.1)
                .collect();
            assert_eq!(offered, vec![TaskId(1), TaskId(2)]);
        }
    }
}

#[test]
fn memory_persist_before_act() {
    persist_before_act(Mem, BEFORE);
    persist_before_act(Mem, AFTER);
}

#[test]
fn sqlite_persist_before_act() {
    persist_before_act(Sql::new(), BEFORE);
    persist_before_act(Sql::new(), AFTER);
}

#[test]
fn failed_snapshot_poisons_too() {
    let clock = ManualClock::new(Time::from_secs(1_000));
    let switch = Arc::new(AtomicU8::new(OFF));
    let flaky = Flaky {
        inner: Mem.fresh(),
        mode: switch.clone(),
    };
    let (mut d, _) = open(flaky, VecTransport::default(), &clock);
    names(&mut d);
    switch.store(BEFORE, Ordering::SeqCst);
    assert!(matches!(
        d.intern_tenant("nova"),
        Err(DriverError::Storage(FlakyError::Injected))
    ));
    switch.store(OFF, Ordering::SeqCst);
    assert!(matches!(d.tick(), Err(DriverError::Poisoned)));
}

// ------------------------------------------------------------------ offers across a restart

fn offers_reissued<B: Backend>(mut b: B) {
    let clock = ManualClock::new(Time::from_secs(1_000));
    let (mut d, _) = open(b.fresh(), VecTransport::default(), &clock);
    let n = names(&mut d);
    all_ok(
        &d.submit(vec![agent(&n, 1, 3), task(&n, 1), task(&n, 2)])
            .unwrap(),
    );
    let before = offers_in(&d.transport().delivered);
    assert_eq!(before.len(), 2);
    let storage = b.reopen(d.into_parts().0);

    // Back 3 s later, before the 10 s leases end: the same offers (same ids) go out again.
    clock.advance_millis(3_000);
    let (mut d, report) = open(storage, VecTransport::default(), &clock);
    assert_eq!(report.reissued_offers, 2);
    assert_eq!(report.expired_on_recovery, 0);
    assert_eq!(offers_in(&d.transport().delivered), before);
    // They can be answered as usual.
    let (o, _, a) = before[0];
    all_ok(
        &d.submit(vec![Event::Accept { offer: o, agent: a }])
            .unwrap(),
    );
    assert_eq!(
        d.router().task_state(TaskId(1)),
        Some(TaskState::InService(AgentId(1)))
    );
    check(d.router());
}

#[test]
fn memory_offers_reissued() {
    offers_reissued(Mem);
}

#[test]
fn sqlite_offers_reissued() {
    offers_reissued(Sql::new());
}

fn offers_expired_while_down<B: Backend>(mut b: B) {
    let clock = ManualClock::new(Time::from_secs(1_000));
    let (mut d, _) = open(b.fresh(), VecTransport::default(), &clock);
    let n = names(&mut d);
    all_ok(
        &d.submit(vec![agent(&n, 1, 2), task(&n, 1), task(&n, 2)])
            .unwrap(),
    );
    let before = offers_in(&d.transport().delivered);
    assert_eq!(before.len(), 2);
    let storage = b.reopen(d.into_parts().0);

    // Down for 12 s: both 10 s leases ran out meanwhile. Agent 1 is in back-off for both
    // tasks (15 s), so they wait in line, visibly.
    clock.advance_millis(12_000);
    let (d, report) = open(storage, VecTransport::default(), &clock);
    assert_eq!(report.expired_on_recovery, 2);
    assert_eq!(report.reissued_offers, 0);
    assert_eq!(d.router().counters().expired, 2);
    let effects: Vec<&Effect> = d.transport().effects().collect();
    for (offer, task, agent) in &before {
        assert!(effects.contains(&&Effect::OfferExpired {
            offer: *offer,
            task: *task,
            agent: *agent
        }));
        assert!(effects.iter().any(|e| matches!(e,
            Effect::Queued { task: t, reason: QueueReason::Expired, .. } if t == task)));
        assert_eq!(d.router().task_state(*task), Some(TaskState::Waiting));
    }
    assert_eq!(d.router().live_tasks(), 2);
    check(d.router());

    // A second agent joining picks them up.
    let mut d = d;
    all_ok(&d.submit(vec![agent(&n, 2, 2)]).unwrap());
    let fresh = offers_in(&d.transport().delivered);
    assert_eq!(fresh.len(), 2);
    assert!(fresh.iter().all(|o| o.2 == AgentId(2)));
}

#[test]
fn memory_offers_expired_while_down() {
    offers_expired_while_down(Mem);
}

#[test]
fn sqlite_offers_expired_while_down() {
    offers_expired_while_down(Sql::new());
}

#[test]
fn sqlite_expired_at_recovery_then_reoffered_to_another_agent() {
    let mut b = Sql::new();
    let clock = ManualClock::new(Time::from_secs(1_000));
    let (mut d, _) = open(b.fresh(), VecTransport::default(), &clock);
    let n = names(&mut d);
    // Agent 2 is away when the task arrives; the offer goes to agent 1.
    all_ok(
        &d.submit(vec![
            agent(&n, 1, 1),
            agent(&n, 2, 1),
            Event::SetAgentState {
                agent: AgentId(2),
                state: AgentState::Away,
            },
            task(&n, 1),
        ])
        .unwrap(),
    );
    all_ok(
        &d.submit(vec![Event::SetAgentState {
            agent: AgentId(2),
            state: AgentState::Available,
        }])
        .unwrap(),
    );
    assert_eq!(offers_in(&d.transport().delivered).len(), 1);
    let storage = b.reopen(d.into_parts().0);
    clock.advance_millis(60_000);
    let (d, report) = open(storage, VecTransport::default(), &clock);
    assert_eq!(report.expired_on_recovery, 1);
    // The expiry re-queued the task and the same recovery tick offered it to agent 2; that
    // fresh offer is delivered once, not counted as re-issued.
    assert_eq!(report.reissued_offers, 0);
    let offers = offers_in(&d.transport().delivered);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].2, AgentId(2));
    check(d.router());
}

// ------------------------------------------------------------------ failed deliveries

/// Fails every delivery to the agents listed.
#[derive(Debug, Default)]
struct Unreachable {
    agents: Vec<AgentId>,
    delivered: Vec<Output>,
}

#[derive(Debug)]
struct Down(AgentId);
impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} unreachable", self.0)
    }
}
impl std::error::Error for Down {}

impl Transport for Unreachable {
    type Error = Down;
    fn deliver(&mut self, output: &Output) -> Result<(), Down> {
        if let Some(Effect::Offer { agent, .. }) = output.as_router()
            && self.agents.contains(agent)
        {
            return Err(Down(*agent));
        }
        self.delivered.push(output.clone());
        Ok(())
    }
}

fn failed_delivery_moves_on<B: Backend>(mut b: B) {
    let clock = ManualClock::new(Time::from_secs(1_000));
    let t = Unreachable {
        agents: vec![AgentId(1)],
        ..Unreachable::default()
    };
    let (mut d, _) = open(b.fresh(), t, &clock);
    let n = names(&mut d);
    all_ok(&d.submit(vec![agent(&n, 1, 1)]).unwrap());
    clock.advance_millis(10);
    all_ok(&d.submit(vec![agent(&n, 2, 1)]).unwrap());
    // Agent 1 has been idle longest and gets the offer first; it cannot be reached.
    let out = d.submit(vec![task(&n, 1)]).unwrap();
    all_ok(&out);
    assert_eq!(out.failed_deliveries.len(), 1);
    let (failed, msg) = &out.failed_deliveries[0];
    assert!(
        matches!(
            failed.as_router(),
            Some(Effect::Offer {
                agent: AgentId(1),
                ..
            })
        ),
        "{failed:?}"
    );
    assert_eq!(msg, &format!("{} unreachable", AgentId(1)));
    // Rejected on the agent's behalf, journaled, and the task moved on to agent 2.
    assert_eq!(d.router().counters().rejected, 1);
    let delivered = offers_in(&out.outputs);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].2, AgentId(2));
    assert!(matches!(
        d.router().task_state(TaskId(1)),
        Some(TaskState::Offered(_))
    ));
    let state = d.router().export_state();
    check(d.router());

    // The rejection is in the journal: a restart recovers the same state.
    let storage = b.reopen(d.into_parts().0);
    let (d2, report) = open(storage, VecTransport::default(), &clock);
    assert_eq!(d2.router().export_state(), state);
    assert_eq!(report.reissued_offers, 1);
    assert_eq!(offers_in(&d2.transport().delivered)[0].2, AgentId(2));
}

#[test]
fn memory_failed_delivery_moves_on() {
    failed_delivery_moves_on(Mem);
}

#[test]
fn sqlite_failed_delivery_moves_on() {
    failed_delivery_moves_on(Sql::new());
}

#[test]
fn failed_reissue_at_recovery_is_rejected() {
    let mut b = Sql::new();
    let clock = ManualClock::new(Time::from_secs(1_000));
    let (mut d, _) = open(b.fresh(), VecTransport::default(), &clock);
    let n = names(&mut d);
    all_ok(&d.submit(vec![agent(&n, 1, 1), task(&n, 1)]).unwrap());
    let storage = b.reopen(d.into_parts().0);
    // After the restart agent 1 cannot be reached: the re-issued offer is rejected.
    let t = Unreachable {
        agents: vec![AgentId(1)],
        ..Unreachable::default()
    };
    let (d, report) = open(storage, t, &clock);
    assert_eq!(report.reissued_offers, 1);
    assert_eq!(d.router().counters().rejected, 1);
    assert_eq!(d.router().task_state(TaskId(1)), Some(TaskState::Waiting));
    let state = d.router().export_state();
    let storage = b.reopen(d.into_parts().0);
    let (d, _) = open(storage, VecTransport::default(), &clock);
    assert_eq!(d.router().export_state(), state);
}

// ------------------------------------------------------------------ damage and versions

/// Runs a history, then one more event whose record is the last one; returns the state
/// before that event and the last seq.
fn with_last_event<B: Backend>(b: &mut B, clock: &ManualClock) -> (B::S, RouterState, u64) {
    let (mut d, _) = open(b.fresh(), VecTransport::default(), clock);
    let n = history(&mut d, clock);
    let before = d.router().export_state();
    clock.advance_millis(100);
    all_ok(&d.submit(vec![task(&n, 99)]).unwrap());
    let seq = d.journal_seq();
    (d.into_parts().0, before, seq)
}

fn flip(bytes: &mut [u8], at: usize) {
    bytes[at] ^= 0x20;
}

#[test]
fn memory_damaged_last_record_is_reported_and_skipped() {
    for garble in [true, false] {
        let clock = ManualClock::new(Time::from_secs(1_000));
        let (mut storage, before, seq) = with_last_event(&mut Mem, &clock);
        let last = storage.records.last_mut().unwrap();
        assert_eq!(last.0, seq);
        if garble {
            let mid = last.1.len() / 2;
            flip(&mut last.1, mid);
        } else {
            let keep = last.1.len() - 7;
            last.1.truncate(keep);
        }
        let (d, report) = open(storage, VecTransport::default(), &clock);
        let damaged = report.damaged_tail.clone().unwrap();
        assert_eq!(damaged.seq, seq);
        assert_eq!(
            matches!(damaged.error, RecordError::Checksum),
            garble,
            "{damaged:?}"
        );
        assert_eq!(d.router().task_state(TaskId(99)), None);
        let mut expect = Router::from_state(before, DefaultScoring).unwrap();
        expect.handle(clock.now(), Event::Tick).unwrap();
        assert_eq!(d.router().export_state(), expect.export_state());
        check(d.router());
        // The journal goes on after the damaged record.
        let mut d = d;
        let n = Names {
            brand: TenantId(0),
            skill: SkillId(0),
        };
        all_ok(&d.submit(vec![task(&n, 100)]).unwrap());
        let storage = d.into_parts().0;
        let (d, report) = open(storage, VecTransport::default(), &clock);
        assert_eq!(report.damaged_tail, None);
        assert!(d.router().task_state(TaskId(100)).is_some());
    }
}

/// Raw SQL access to the store's file (as an operator or a disk fault would touch it).
fn raw(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn sqlite_bytes(path: &std::path::Path, seq: u64) -> Vec<u8> {
    raw(path)
        .query_row(
            "SELECT bytes FROM journal WHERE seq = ?1",
            [seq as i64],
            |r| r.get(0),
        )
        .unwrap()
}

fn sqlite_put(path: &std::path::Path, seq: u64, bytes: &[u8]) {
    let n = raw(path)
        .execute(
            "UPDATE journal SET bytes = ?1 WHERE seq = ?2",
            rusqlite::params![bytes, seq as i64],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn sqlite_damaged_last_record_is_reported_and_skipped() {
    for garble in [true, false] {
        let mut b = Sql::new();
        let clock = ManualClock::new(Time::from_secs(1_000));
        let (storage, before, seq) = with_last_event(&mut b, &clock);
        drop(storage);
        let mut bytes = sqlite_bytes(&b.path(), seq);
        if garble {
            let mid = bytes.len() / 2;
            flip(&mut bytes, mid);
        } else {
            bytes.truncate(bytes.len() - 7);
        }
        sqlite_put(&b.path(), seq, &bytes);

        let (d, report) = open(b.fresh(), VecTransport::default(), &clock);
        let damaged = report.damaged_tail.clone().unwrap();
        assert_eq!(damaged.seq, seq);
        if garble {
            assert_eq!(damaged.error, RecordError::Checksum);
        } else {
            assert!(matches!(damaged.error, RecordError::Truncated(_)));
        }
        assert_eq!(d.router().task_state(TaskId(99)), None);
        let mut expect = Router::from_state(before, DefaultScoring).unwrap();
        expect.handle(clock.now(), Event::Tick).unwrap();
        assert_eq!(d.router().export_state(), expect.export_state());
        check(d.router());

        // The damaged bytes are set aside, and the journal continues at their position.
        let storage = b.reopen(d.into_parts().0);
        let aside = storage.damaged_records().unwrap();
        assert_eq!(aside.len(), 1);
        assert_eq!(aside[0].0, seq);
        let (d, report) = open(storage, VecTransport::default(), &clock);
        assert_eq!(report.damaged_tail, None);
        let state = d.router().export_state();
        let storage = b.reopen(d.into_parts().0);
        assert!(storage.journal(1).unwrap().len() as u64 >= seq);
        let (d, _) = open(storage, VecTransport::default(), &clock);
        assert_eq!(d.router().export_state(), state);
    }
}

#[test]
fn memory_damaged_middle_record_is_refused() {
    let clock = ManualClock::new(Time::from_secs(1_000));
    let (mut storage, _, _) = with_last_event(&mut Mem, &clock);
    let k = storage.records.len() / 2;
    let seq = storage.records[k].0;
    flip(&mut storage.records[k].1, 20);
    let err = Driver::open(
        config(),
        DefaultScoring,
        storage,
        VecTransport::default(),
        clock,
        opts(),
    )
    .unwrap_err();
    assert!(
        matches!(err, DriverError::Storage(MemoryStorageError::Damaged { seq: s, .. }) if s == seq),
        "{err}"
    );
}

#[test]
fn sqlite_damaged_middle_record_is_refused() {
    let mut b = Sql::new();
    let clock = ManualClock::new(Time::from_secs(1_000));
    let (storage, _, seq) = with_last_event(&mut b, &clock);
    drop(storage);
    let mid = seq / 2;
    let mut bytes = sqlite_bytes(&b.path(), mid);
    flip(&mut bytes, 20);
    sqlite_put(&b.path(), mid, &bytes);
    let err = Driver::open(
        config(),
        DefaultScoring,
        b.fresh(),
        VecTransport::default(),
        clock,
        opts(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, DriverError::Storage(SqliteError::Damaged { seq: s, error: RecordError::Checksum }) if s == mid),
        "{msg}"
    );
    assert!(msg.contains(&format!("record {mid}")), "{msg}");
    // Refused, not repaired: the record is still there, nothing was set aside.
    let storage = b.fresh();
    assert!(storage.damaged_records().unwrap().is_empty());
    assert_eq!(sqlite_bytes(&b.path(), mid), bytes);
}

#[test]
fn sqlite_missing_record_is_refused() {
    let mut b = Sql::new();
    let clock = ManualClock::new(Time::from_secs(1_000));
    let (storage, _, seq) = with_last_event(&mut b, &clock);
    drop(storage);
    raw(&b.path())
        .execute("DELETE FROM journal WHERE seq = ?1", [(seq / 2) as i64])
        .unwrap();
    let mut s = b.fresh();
    let err = s.load().unwrap_err();
    assert!(
        matches!(err, SqliteError::Gap { expected, .. } if expected == seq / 2),
        "{err}"
    );
}

#[test]
fn sqlite_foreign_schema_version_is_refused() {
    for (key, part) in [
        ("journal_version", SchemaPart::Journal),
        ("state_version", SchemaPart::State),
        ("layout", SchemaPart::Layout),
    ] {
        let mut b = Sql::new();
        let clock = ManualClock::new(Time::from_secs(1_000));
        let (storage, _, _) = with_last_event(&mut b, &clock);
        drop(storage);
        raw(&b.path())
            .execute("UPDATE meta SET value = 99 WHERE key = ?1", [key])
            .unwrap();
        let err = SqliteStorage::open(b.path()).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, SqliteError::Version { part: p, found: 99, .. } if p == part),
            "{msg}"
        );
        assert!(msg.contains("version 99"), "{msg}");
        let want = match part {
            SchemaPart::Journal => JOURNAL_VERSION,
            SchemaPart::State => switchboard::operation::OPERATION_STATE_VERSION,
            _ => 1,
        };
        assert!(
            msg.contains(&format!("this build reads version {want}")),
            "{msg}"
        );
    }
}

#[test]
fn sqlite_foreign_record_version_is_refused_even_at_the_tail() {
    let mut b = Sql::new();
    let clock = ManualClock::new(Time::from_secs(1_000));
    let (storage, _, seq) = with_last_event(&mut b, &clock);
    drop(storage);
    // A record written by a future build: version 2 in the header, valid otherwise.
    let mut bytes = sqlite_bytes(&b.path(), seq);
    bytes[0..4].copy_from_slice(&(JOURNAL_VERSION + 1).to_le_bytes());
    sqlite_put(&b.path(), seq, &bytes);
    let err = Driver::open(
        config(),
        DefaultScoring,
        b.fresh(),
        VecTransport::default(),
        clock,
        opts(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DriverError::Storage(SqliteError::Version {
                part: SchemaPart::Journal,
                found,
                expected: JOURNAL_VERSION
            }) if found == i64::from(JOURNAL_VERSION + 1)
        ),
        "{err}"
    );
}

#[test]
fn memory_foreign_record_version_is_refused() {
    let clock = ManualClock::new(Time::from_secs(1_000));
    let (mut storage, _, _) = with_last_event(&mut Mem, &clock);
    storage.records.last_mut().unwrap().1[0..4]
        .copy_from_slice(&(JOURNAL_VERSION + 1).to_le_bytes());
    let err = storage.load().unwrap_err();
    assert!(
        matches!(
            err,
            MemoryStorageError::Damaged {
                error: RecordError::Version {
                    found,
                    expected: JOURNAL_VERSION
                },
                ..
            } if found == JOURNAL_VERSION + 1
        ),
        "{err}"
    );
}

#[test]
fn sqlite_damaged_snapshot_is_refused() {
    let mut b = Sql::new();
    let clock = ManualClock::new(Time::from_secs(1_000));
    let (storage, _, _) = with_last_event(&mut b, &clock);
    drop(storage);
    raw(&b.path())
        .execute("UPDATE snapshot SET crc = crc + 1", [])
        .unwrap();
    let err = SqliteStorage::open(b.path()).unwrap().load().unwrap_err();
    assert!(matches!(err, SqliteError::SnapshotDamaged { .. }), "{err}");
}

#[test]
fn sqlite_other_applications_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    raw(&path)
        .execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    let err = SqliteStorage::open(&path).unwrap_err();
    assert!(matches!(err, SqliteError::Foreign(_)), "{err}");
}

// ------------------------------------------------------------------ the store's own contract

#[test]
fn sqlite_append_is_all_or_nothing() {
    let mut b = Sql::new();
    let mut s = b.fresh();
    let rec = |seq| JournalRecord {
        seq,
        at: Time::ZERO,
        input: Input::Tick,
    };
    s.append(&[rec(1), rec(2)]).unwrap();
    // A gap in the middle of a batch: refused, and nothing of it stored.
    let err = s.append(&[rec(3), rec(5)]).unwrap_err();
    assert!(
        matches!(err, SqliteError::OutOfSequence { last: 3, got: 5 }),
        "{err}"
    );
    assert_eq!(s.last_seq(), 2);
    let s = b.reopen(s);
    assert_eq!(s.journal(1).unwrap().len(), 2);
    assert_eq!(s.last_seq(), 2);
    // A duplicate batch (already stored) is refused the same way.
    let mut s = s;
    assert!(s.append(&[rec(2)]).is_err());
    s.append(&[rec(3)]).unwrap();
    assert_eq!(s.load().unwrap().records.len(), 3);
}

#[test]
fn sqlite_synchronous_normal_works_the_same() {
    let mut b = Sql::new();
    b.options = SqliteOptions::default().synchronous(sqlite::Synchronous::Normal);
    recovery_replays_to_equal_state(b, 2);
}

/// Regression: the count of records since the snapshot restarted at 0 after every recovery, so a
/// service restarting before `snapshot_every` new records never snapshotted and its replay grew
/// without bound.
#[test]
fn restarts_do_not_postpone_compaction() {
    let clock = ManualClock::new(Time::from_secs(1_000));
    let options = DriverOptions { snapshot_every: 10 };
    let mut storage = MemoryStorage {
        compact: true,
        ..MemoryStorage::default()
    };
    let mut longest = 0;
    for restart in 0..12u64 {
        let (mut d, report) = Driver::open(
            config(),
            DefaultScoring,
            storage,
            VecTransport::default(),
            clock.clone(),
            options,
        )
        .unwrap();
        longest = longest.max(report.replayed);
        let brand = d.intern_tenant("acme").unwrap();
        // Fewer new records than `snapshot_every` per run.
        for i in 0..4 {
            clock.advance_millis(10);
            let id = TaskId(restart * 10 + i + 1);
            all_ok(
                &d.submit(vec![Event::Arrive(TaskSpec::new(id, brand, Channel::Chat))])
                    .unwrap(),
            );
        }
        storage = d.into_parts().0;
    }
    assert!(longest <= 10 + 5, "a recovery replayed {longest} records");
}
