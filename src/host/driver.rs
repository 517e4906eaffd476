//! Batteries included: the composed [`Operation`] (or a router alone) with [`Storage`],
//! [`Transport`] and [`Clock`] — one journal for every engine.
//!
//! For every batch of inputs the driver (1) reads the clock, (2) applies the inputs to the
//! operation — refused inputs are returned with their error and never journaled, (3) appends
//! the accepted ones to storage in one atomic call (**persist before act**), (4) only then
//! delivers their outputs. If storage fails, the in-memory state is ahead of the disk: the
//! driver refuses all further work ([`DriverError::Poisoned`]) until it is reopened from storage.
//!
//! Snapshots are [`OperationState`](crate::operation::OperationState)s: the router, the
//! workflow engine (steps and their timers), the escalation engine (every conversation's owner,
//! hysteresis, cooldowns and pending hand-over) and the ledger, versioned together.
//!
//! On [`Driver::open`] it loads the newest snapshot and replays the journal after it, then
//! applies an [`Input::Tick`] at the clock's time — so offers that expired while the process was
//! down are expired now, visibly, with their tasks back in line, and conversation timers fire —
//! and delivers every still-outstanding offer again (transports treat offers as idempotent by
//! id).

use crate::operation::{Input, Operation, OperationConfig, OperationError, Output};
use crate::storage::{DamagedRecord, JournalRecord, Loaded};
use crate::{Clock, DefaultScoring, Effect, Event, OfferId, Router, Scoring, Storage, Transport};

/// What went wrong in the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError<SE: std::error::Error + 'static> {
    /// The storage failed; the driver is now poisoned.
    #[error("storage failed: {0}")]
    Storage(#[source] SE),
    /// The operation refused to rebuild (bad snapshot or a journaled input that no longer
    /// applies).
    #[error("recovery failed at record {seq}: {error}")]
    Recovery {
        /// Journal position (0 = the snapshot).
        seq: u64,
        /// The operation's error.
        error: OperationError,
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
    /// Per input, in order: `Ok` or the operation's refusal (refused inputs are not journaled).
    pub results: Vec<Result<(), OperationError>>,
    /// Outputs delivered, in order.
    pub outputs: Vec<Output>,
    /// Outputs whose delivery failed, with the transport's message. Failed offers were rejected
    /// on the agent's behalf.
    pub failed_deliveries: Vec<(Output, String)>,
}

impl Submitted {
    /// The router effects among the delivered outputs, in order.
    pub fn effects(&self) -> impl Iterator<Item = &Effect> + '_ {
        self.outputs.iter().filter_map(Output::as_router)
    }
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

/// The composed operation with storage, transport and clock attached.
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
/// assert!(driver.transport().effects().any(|e| matches!(e, Effect::Offer { .. })));
///
/// // "Restart": reopen from the same storage; the offer is delivered again.
/// let storage = driver.into_parts().0;
/// let (driver, report) = Driver::open(RouterConfig::default(), DefaultScoring, storage,
///     VecTransport::default(), clock, DriverOptions::default())?;
/// assert_eq!(report.reissued_offers, 1);
/// assert_eq!(driver.router().live_tasks(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// With the bot front line, conversations survive a restart too:
/// ```
/// use switchboard::*;
/// use switchboard::escalation::{ConversationId, Signal, Turn};
/// use switchboard::operation::{Input, OperationConfig};
/// let clock = ManualClock::new(Time::from_secs(100));
/// let config = OperationConfig::with_bots(RouterConfig::default());
/// let (mut driver, _) = Driver::open(config.clone(), DefaultScoring, MemoryStorage::default(),
///     VecTransport::default(), clock.clone(), DriverOptions::default())?;
/// let brand = driver.intern_tenant("acme")?;
/// driver.submit(vec![
///     // A human is registered (away for now), so the hand-over waits for one.
///     Event::AddAgent(AgentSpec::new(AgentId(1)).capacity(Channel::Chat, 1)
///         .state(AgentState::Away)).into(),
///     Input::Open { conversation: ConversationId(9), tenant: brand },
///     Input::Signal { conversation: ConversationId(9),
///         signal: Signal::Turn(Turn::customer("转人工")) },
/// ])?;
/// let before = driver.operation().conversation(ConversationId(9)).unwrap().clone();
/// let storage = driver.into_parts().0;
/// let (driver, _) = Driver::open(config, DefaultScoring, storage, VecTransport::default(),
///     clock, DriverOptions::default())?;
/// assert_eq!(driver.operation().conversation(ConversationId(9)), Some(&before));
/// assert_eq!(before.owner().name(), "pending_human");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Driver<S: Storage, T: Transport, C: Clock, P: Scoring = DefaultScoring> {
    op: Operation<P>,
    storage: S,
    transport: T,
    clock: C,
    options: DriverOptions,
    seq: u64,
    since_snapshot: u64,
    poisoned: bool,
}

impl<S: Storage, T: Transport, C: Clock, P: Scoring + Clone> Driver<S, T, C, P> {
    /// Opens the driver: recovers the operation from `storage` (or starts fresh with `config`
    /// when the storage is empty — a [`RouterConfig`](crate::RouterConfig) converts into a
    /// router-only [`OperationConfig`]), expires what ran out while down, fires due timers, and
    /// re-delivers outstanding offers.
    ///
    /// # Errors
    /// [`DriverError::Storage`] when loading fails (including damage before the journal's end and
    /// incompatible versions), [`DriverError::Recovery`] when the configuration, the snapshot or
    /// a record does not apply.
    pub fn open(
        config: impl Into<OperationConfig>,
        policy: P,
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
        let (mut op, mut seq) = match snapshot {
            Some((through, state)) => (
                Operation::from_state(state, policy)
                    .map_err(|error| DriverError::Recovery { seq: 0, error })?,
                through,
            ),
            None => (
                Operation::with_scoring(config.into(), policy)
                    .map_err(|error| DriverError::Recovery { seq: 0, error })?,
                0,
            ),
        };
        report.snapshot_seq = seq;
        for rec in records {
            op.handle(rec.at, rec.input)
                .map_err(|error| DriverError::Recovery {
                    seq: rec.seq,
                    error,
                })?;
            seq = rec.seq;
            report.replayed += 1;
        }
        // Outputs of replayed inputs were delivered before the crash.
        op.drain_outputs().for_each(drop);
        let mut driver = Driver {
            op,
            storage,
            transport,
            clock,
            options,
            seq,
            // The records replayed since the snapshot count towards the next one: a service
            // that restarts before `snapshot_every` new records still compacts eventually.
            since_snapshot: report.replayed,
            poisoned: false,
        };
        let expired_before = driver.op.router().counters().expired;
        let outstanding: Vec<OfferId> = driver.outstanding_offers();
        let done = driver.submit(vec![Input::Tick])?;
        report.expired_on_recovery = driver.op.router().counters().expired - expired_before;
        // Re-deliver offers that survived the tick and were not just made by it.
        let fresh: Vec<OfferId> = done
            .effects()
            .filter_map(|e| match e {
                Effect::Offer { offer, .. } => Some(*offer),
                _ => None,
            })
            .collect();
        for offer in outstanding {
            if fresh.contains(&offer) {
                continue;
            }
            let router = driver.op.router();
            if let Some((task, agent, expires_at)) = router.offer(offer)
                && let Some(channel) = router.task_channel(task)
            {
                let effect = Effect::Offer {
                    offer,
                    task,
                    agent,
                    channel,
                    expires_at,
                };
                // A failed re-delivery is rejected like any failed offer.
                let mut out = Submitted::default();
                driver.deliver_all(vec![effect.into()], &mut out)?;
                report.reissued_offers += 1;
            }
        }
        Ok((driver, report))
    }
}

impl<S: Storage, T: Transport, C: Clock, P: Scoring> Driver<S, T, C, P> {
    /// The router (read-only: change it through [`Driver::submit`] so every change is journaled).
    #[must_use]
    pub fn router(&self) -> &Router<P> {
        self.op.router()
    }
    /// The composed operation (read-only: change it through [`Driver::submit`]).
    #[must_use]
    pub fn operation(&self) -> &Operation<P> {
        &self.op
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
    /// Journal position of the last accepted input.
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
        let catalog = self.op.router_mut().catalog_mut();
        let known = catalog.find_tenant(name);
        let id = catalog.tenant(name);
        self.persist_new_name(known.is_none())?;
        Ok(id)
    }
    /// Interns a skill name (see [`Driver::intern_tenant`]).
    ///
    /// # Errors
    /// [`DriverError::Poisoned`].
    pub fn intern_skill(&mut self, name: &str) -> Result<crate::SkillId, DriverError<S::Error>> {
        self.live()?;
        let catalog = self.op.router_mut().catalog_mut();
        let known = catalog.find_skill(name);
        let id = catalog.skill(name);
        self.persist_new_name(known.is_none())?;
        Ok(id)
    }
    /// Interns a tag name (see [`Driver::intern_tenant`]).
    ///
    /// # Errors
    /// [`DriverError::Poisoned`].
    pub fn intern_tag(&mut self, name: &str) -> Result<crate::TagId, DriverError<S::Error>> {
        self.live()?;
        let catalog = self.op.router_mut().catalog_mut();
        let known = catalog.find_tag(name);
        let id = catalog.tag(name);
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
        let router = self.op.router();
        let mut v: Vec<OfferId> = (1..router.next_offer_id())
            .map(OfferId)
            .filter(|o| router.offer(*o).is_some())
            .collect();
        v.sort_unstable();
        v
    }

    /// Applies a batch of inputs (router [`Event`]s convert into [`Input`]s) at the clock's
    /// current time, journals the accepted ones in one storage call, then delivers their
    /// outputs. Timers due by now fire first.
    ///
    /// # Errors
    /// [`DriverError::Storage`] (the driver is then poisoned) or [`DriverError::Poisoned`].
    /// Refusals of individual inputs are in [`Submitted::results`], not errors.
    pub fn submit<I: Into<Input>>(
        &mut self,
        inputs: Vec<I>,
    ) -> Result<Submitted, DriverError<S::Error>> {
        self.live()?;
        let now = self
            .clock
            .now()
            .max(self.op.now())
            .max(self.op.router().now());
        let mut out = Submitted::default();
        let mut records = Vec::with_capacity(inputs.len() + 1);
        let mut outputs = Vec::new();
        let inputs: Vec<Input> = inputs.into_iter().map(Into::into).collect();
        let due = self.op.poll_timeout().is_some_and(|t| t <= now);
        if due && !matches!(inputs.first(), Some(Input::Tick)) {
            // Timers due by now fire before the caller's inputs (journaled as a tick).
            if self.op.handle(now, Input::Tick).is_ok() {
                self.seq += 1;
                records.push(JournalRecord {
                    seq: self.seq,
                    at: now,
                    input: Input::Tick,
                });
            }
            outputs.extend(self.op.drain_outputs());
        }
        for input in inputs {
            let res = self.op.handle(now, input.clone());
            if res.is_ok() {
                self.seq += 1;
                records.push(JournalRecord {
                    seq: self.seq,
                    at: now,
                    input,
                });
            }
            out.results.push(res);
            outputs.extend(self.op.drain_outputs());
        }
        self.persist(&records)?;
        self.deliver_all(outputs, &mut out)?;
        self.maybe_snapshot()?;
        Ok(out)
    }

    /// Fires due timers (journaled as [`Input::Tick`]) and delivers the outputs.
    ///
    /// # Errors
    /// As [`Driver::submit`].
    pub fn tick(&mut self) -> Result<Submitted, DriverError<S::Error>> {
        self.submit(vec![Input::Tick])
    }

    /// Saves a snapshot now (the store may compact the journal it covers).
    ///
    /// # Errors
    /// [`DriverError::Storage`] (the driver is then poisoned) or [`DriverError::Poisoned`].
    pub fn snapshot(&mut self) -> Result<(), DriverError<S::Error>> {
        self.live()?;
        let state = self.op.export_state();
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

    /// Delivers outputs; a failed offer delivery is rejected on the agent's behalf (journaled),
    /// and the outputs of that rejection are delivered in turn.
    fn deliver_all(
        &mut self,
        outputs: Vec<Output>,
        out: &mut Submitted,
    ) -> Result<(), DriverError<S::Error>> {
        let mut queue: std::collections::VecDeque<Output> = outputs.into();
        while let Some(output) = queue.pop_front() {
            match self.transport.deliver(&output) {
                Ok(()) => out.outputs.push(output),
                Err(err) => {
                    if let Some(&Effect::Offer { offer, agent, .. }) = output.as_router() {
                        let now = self.op.now();
                        let input = Input::Router {
                            event: Event::Reject { offer, agent },
                        };
                        if self.op.handle(now, input.clone()).is_ok() {
                            self.seq += 1;
                            let rec = JournalRecord {
                                seq: self.seq,
                                at: now,
                                input,
                            };
                            self.persist(std::slice::from_ref(&rec))?;
                            queue.extend(self.op.drain_outputs());
                        }
                    }
                    out.failed_deliveries.push((output, err.to_string()));
                }
            }
        }
        Ok(())
    }
}
