//! Batteries included: the pure [`Router`] composed with [`Storage`], [`Transport`] and [`Clock`].
//!
//! For every batch of events the driver (1) reads the clock, (2) applies the events to the router
//! — refused events are returned with their error and never journaled, (3) appends the accepted
//! ones to storage in one atomic call (**persist before act**), (4) only then delivers their
//! effects. If storage fails, the in-memory router is ahead of the disk: the driver refuses all
//! further work ([`DriverError::Poisoned`]) until it is reopened from storage.
//!
//! On [`Driver::open`] it loads the newest snapshot and replays the journal after it, then applies
//! a [`Event::Tick`] at the clock's time — so offers that expired while the process was down are
//! expired now, visibly, with their tasks back in line — and delivers every still-outstanding
//! offer again (transports treat offers as idempotent by id).

use crate::storage::{DamagedRecord, JournalRecord, Loaded};
use crate::{
    Clock, DefaultScoring, Effect, Event, OfferId, Router, RouterConfig, RouterError, Scoring,
    Storage, Transport,
};

/// What went wrong in the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError<SE: std::error::Error + 'static> {
    /// The storage failed; the driver is now poisoned.
    #[error("storage failed: {0}")]
    Storage(#[source] SE),
    /// The router refused to rebuild (bad snapshot or a journaled event that no longer applies).
    #[error("recovery failed at record {seq}: {error}")]
    Recovery {
        /// Journal position (0 = the snapshot).
        seq: u64,
        /// The router's error.
        error: RouterError,
    },
    /// An earlier storage failure left memory ahead of disk; reopen the driver.
    #[error("driver poisoned by an earlier storage failure; reopen it from storage")]
    Poisoned,
}

/// What [`Driver::open`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Journal position of the snapshot used (0 = none).
    pub snapshot_seq: u64,
    /// Records replayed after it.
    pub replayed: u64,
    /// A damaged last record that was skipped.
    pub damaged_tail: Option<DamagedRecord>,
    /// Offers that expired while the process was down (expired at recovery).
    pub expired_on_recovery: u64,
    /// Outstanding offers delivered again.
    pub reissued_offers: u64,
}

/// The outcome of one submitted batch.
#[derive(Debug, Default)]
pub struct Submitted {
    /// Per event, in order: `Ok` or the router's refusal (refused events are not journaled).
    pub results: Vec<Result<(), RouterError>>,
    /// Effects delivered, in order.
    pub effects: Vec<Effect>,
    /// Effects whose delivery failed, with the transport's message. Failed offers were rejected
    /// on the agent's behalf.
    pub failed_deliveries: Vec<(Effect, String)>,
}

/// Tuning for the [`Driver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverOptions {
    /// Save a snapshot (and let storage compact) after this many journaled records; 0 = never.
    pub snapshot_every: u64,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            snapshot_every: 100_000,
        }
    }
}

/// The pure router with storage, transport and clock attached.
///
/// # Example
/// ```
/// use switchboard::*;
/// let clock = ManualClock::new(Time::from_secs(100));
/// let (mut driver, report) = Driver::open(RouterConfig::default(), DefaultScoring,
///     MemoryStorage::default(), VecTransport::default(), clock.clone(), DriverOptions::default())?;
/// assert_eq!(report.replayed, 0);
/// let brand = driver.intern_tenant("acme")?;
/// driver.submit(vec![
///     Event::AddAgent(AgentSpec::new(AgentId(1)).capacity(Channel::Chat, 2)
///         .state(AgentState::Available)),
///     Event::Arrive(TaskSpec::new(TaskId(1), brand, Channel::Chat)),
/// ])?;
/// assert!(driver.transport().delivered.iter().any(|e| matches!(e, Effect::Offer { .. })));
///
/// // "Restart": reopen from the same storage; the offer is delivered again.
/// let storage = driver.into_parts().0;
/// let (driver, report) = Driver::open(RouterConfig::default(), DefaultScoring, storage,
///     VecTransport::default(), clock, DriverOptions::default())?;
/// assert_eq!(report.reissued_offers, 1);
/// assert_eq!(driver.router().live_tasks(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Driver<S: Storage, T: Transport, C: Clock, P: Scoring = DefaultScoring> {
    router: Router<P>,
    storage: S,
    transport: T,
    clock: C,
    options: DriverOptions,
    seq: u64,
    since_snapshot: u64,
    poisoned: bool,
}

impl<S: Storage, T: Transport, C: Clock, P: Scoring + Clone> Driver<S, T, C, P> {
    /// Opens the driver: recovers the router from `storage` (or starts fresh with `config` when
    /// the storage is empty), expires what ran out while down, and re-delivers outstanding
    /// offers.
    ///
    /// # Errors
    /// [`DriverError::Storage`] when loading fails (including damage before the journal's end and
    /// incompatible versions), [`DriverError::Recovery`] when the snapshot or a record does not
    /// apply.
    pub fn open(
        config: RouterConfig,
        scoring: P,
        mut storage: S,
        transport: T,
        clock: C,
        options: DriverOptions,
    ) -> Result<(Self, RecoveryReport), DriverError<S::Error>> {
        let Loaded {
            snapshot,
            records,
            damaged_tail,
        } = storage.load().map_err(DriverError::Storage)?;
        let mut report = RecoveryReport {
            damaged_tail,
            ..RecoveryReport::default()
        };
        let (mut router, mut seq) = match snapshot {
            Some((through, state)) => (
                Router::from_state(state, scoring)
                    .map_err(|error| DriverError::Recovery { seq: 0, error })?,
                through,
            ),
            None => (
                Router::with_scoring(config, scoring)
                    .map_err(|error| DriverError::Recovery { seq: 0, error })?,
                0,
            ),
        };
        report.snapshot_seq = seq;
        for rec in records {
            router
                .handle(rec.at, rec.event)
                .map_err(|error| DriverError::Recovery {
                    seq: rec.seq,
                    error,
                })?;
            seq = rec.seq;
            report.replayed += 1;
        }
        // Effects of replayed events were delivered before the crash.
        router.drain_effects().for_each(drop);
        let mut driver = Driver {
            router,
            storage,
            transport,
            clock,
            options,
            seq,
            since_snapshot: 0,
            poisoned: false,
        };
        let expired_before = driver.router.counters().expired;
        let outstanding: Vec<OfferId> = driver.outstanding_offers();
        let done = driver.submit(vec![Event::Tick])?;
        report.expired_on_recovery = driver.router.counters().expired - expired_before;
        // Re-deliver offers that survived the tick and were not just made by it.
        let fresh: Vec<OfferId> = done
            .effects
            .iter()
            .filter_map(|e| match e {
                Effect::Offer { offer, .. } => Some(*offer),
                _ => None,
            })
            .collect();
        for offer in outstanding {
            if fresh.contains(&offer) {
                continue;
            }
            if let Some((task, agent, expires_at)) = driver.router.offer(offer) {
                let channel = driver.router.task_channel(task);
                if let Some(channel) = channel {
                    let effect = Effect::Offer {
                        offer,
                        task,
                        agent,
                        channel,
                        expires_at,
                    };
                    // A failed re-delivery is rejected like any failed offer.
                    let mut out = Submitted::default();
                    driver.deliver_all(vec![effect], &mut out)?;
                    report.reissued_offers += 1;
                }
            }
        }
        Ok((driver, report))
    }
}

impl<S: Storage, T: Transport, C: Clock, P: Scoring> Driver<S, T, C, P> {
    /// The router (read-only: change it through [`Driver::submit`] so every change is journaled).
    #[must_use]
    pub fn router(&self) -> &Router<P> {
        &self.router
    }
    /// The transport.
    #[must_use]
    pub fn transport(&self) -> &T {
        &self.transport
    }
    /// The transport, mutably (e.g. to drain a test transport).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }
    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.clock
    }
    /// Journal position of the last accepted event.
    #[must_use]
    pub fn journal_seq(&self) -> u64 {
        self.seq
    }
    /// Takes the driver apart.
    pub fn into_parts(self) -> (S, T, C) {
        (self.storage, self.transport, self.clock)
    }

    /// Interns a tenant name. Names are part of the snapshot, not the journal: a name not seen
    /// before is made durable at once by saving a snapshot (names are few and interned at
    /// set-up, so this is cheap in practice). Interning is idempotent.
    ///
    /// # Errors
    /// [`DriverError::Poisoned`].
    pub fn intern_tenant(&mut self, name: &str) -> Result<crate::TenantId, DriverError<S::Error>> {
        self.live()?;
        let known = self.router.catalog().find_tenant(name);
        let id = self.router.catalog_mut().tenant(name);
        self.persist_new_name(known.is_none())?;
        Ok(id)
    }
    /// Interns a skill name (see [`Driver::intern_tenant`]).
    ///
    /// # Errors
    /// [`DriverError::Poisoned`].
    pub fn intern_skill(&mut self, name: &str) -> Result<crate::SkillId, DriverError<S::Error>> {
        self.live()?;
        let known = self.router.catalog().find_skill(name);
        let id = self.router.catalog_mut().skill(name);
        self.persist_new_name(known.is_none())?;
        Ok(id)
    }
    /// Interns a tag name (see [`Driver::intern_tenant`]).
    ///
    /// # Errors
    /// [`DriverError::Poisoned`].
    pub fn intern_tag(&mut self, name: &str) -> Result<crate::TagId, DriverError<S::Error>> {
        self.live()?;
        let known = self.router.catalog().find_tag(name);
        let id = self.router.catalog_mut().tag(name);
        self.persist_new_name(known.is_none())?;
        Ok(id)
    }

    /// Names live in the snapshot, not the journal: a new name is made durable at once.
    fn persist_new_name(&mut self, new: bool) -> Result<(), DriverError<S::Error>> {
        if new { self.snapshot() } else { Ok(()) }
    }

    fn live(&self) -> Result<(), DriverError<S::Error>> {
        if self.poisoned {
            Err(DriverError::Poisoned)
        } else {
            Ok(())
        }
    }

    fn outstanding_offers(&self) -> Vec<OfferId> {
        let mut v: Vec<OfferId> = (1..self.router.next_offer_id())
            .map(OfferId)
            .filter(|o| self.router.offer(*o).is_some())
            .collect();
        v.sort_unstable();
        v
    }

    /// Applies a batch of events at the clock's current time, journals the accepted ones in one
    /// storage call, then delivers their effects. Timers due by now fire first.
    ///
    /// # Errors
    /// [`DriverError::Storage`] (the driver is then poisoned) or [`DriverError::Poisoned`].
    /// Refusals of individual events are in [`Submitted::results`], not errors.
    pub fn submit(&mut self, events: Vec<Event>) -> Result<Submitted, DriverError<S::Error>> {
        self.live()?;
        let now = self.clock.now().max(self.router.now());
        let mut out = Submitted::default();
        let mut records = Vec::with_capacity(events.len() + 1);
        let mut effects = Vec::new();
        let due = self.router.poll_timeout().is_some_and(|t| t <= now);
        if due && !matches!(events.first(), Some(Event::Tick)) {
            // Timers due by now fire before the caller's events (journaled as a tick).
            if self.router.handle_timeout(now).is_ok() {
                self.seq += 1;
                records.push(JournalRecord {
                    seq: self.seq,
                    at: now,
                    event: Event::Tick,
                });
            }
            effects.extend(self.router.drain_effects());
        }
        for event in events {
            let res = self.router.handle(now, event.clone());
            if res.is_ok() {
                self.seq += 1;
                records.push(JournalRecord {
                    seq: self.seq,
                    at: now,
                    event,
                });
            }
            out.results.push(res);
            effects.extend(self.router.drain_effects());
        }
        self.persist(&records)?;
        self.deliver_all(effects, &mut out)?;
        self.maybe_snapshot()?;
        Ok(out)
    }

    /// Fires due timers (journaled as [`Event::Tick`]) and delivers the effects.
    ///
    /// # Errors
    /// As [`Driver::submit`].
    pub fn tick(&mut self) -> Result<Submitted, DriverError<S::Error>> {
        self.submit(vec![Event::Tick])
    }

    /// Saves a snapshot now (the store may compact the journal it covers).
    ///
    /// # Errors
    /// [`DriverError::Storage`] (the driver is then poisoned) or [`DriverError::Poisoned`].
    pub fn snapshot(&mut self) -> Result<(), DriverError<S::Error>> {
        self.live()?;
        let state = self.router.export_state();
        if let Err(e) = self.storage.save_snapshot(self.seq, &state) {
            self.poisoned = true;
            return Err(DriverError::Storage(e));
        }
        self.since_snapshot = 0;
        Ok(())
    }

    fn persist(&mut self, records: &[JournalRecord]) -> Result<(), DriverError<S::Error>> {
        if records.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.storage.append(records) {
            self.poisoned = true;
            return Err(DriverError::Storage(e));
        }
        self.since_snapshot += records.len() as u64;
        Ok(())
    }

    fn maybe_snapshot(&mut self) -> Result<(), DriverError<S::Error>> {
        if self.options.snapshot_every > 0 && self.since_snapshot >= self.options.snapshot_every {
            self.snapshot()?;
        }
        Ok(())
    }

    /// Delivers effects; a failed offer delivery is rejected on the agent's behalf (journaled),
    /// and the effects of that rejection are delivered in turn.
    fn deliver_all(
        &mut self,
        effects: Vec<Effect>,
        out: &mut Submitted,
    ) -> Result<(), DriverError<S::Error>> {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match self.transport.deliver(&effect) {
                Ok(()) => out.effects.push(effect),
                Err(err) => {
                    if let Effect::Offer { offer, agent, .. } = effect {
                        let now = self.router.now();
                        if self.router.reject(now, offer, agent).is_ok() {
                            self.seq += 1;
                            let rec = JournalRecord {
                                seq: self.seq,
                                at: now,
                                event: Event::Reject { offer, agent },
                            };
                            self.persist(std::slice::from_ref(&rec))?;
                            queue.extend(self.router.drain_effects());
                        }
                    }
                    out.failed_deliveries.push((effect, err.to_string()));
                }
            }
        }
        Ok(())
    }
}
