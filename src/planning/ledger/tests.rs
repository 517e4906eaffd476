use super::*;
use crate::{OfferId, QueueReason};
use proptest::prelude::*;

/// The ledger as it was before per-task state moved into one table and agent books into a
/// `Vec`: four maps keyed by task or agent id. The model for the property test below.
#[derive(Default)]
struct Model {
    records: Vec<TaskRecord>,
    index: BTreeMap<TaskId, usize>,
    answered_at: BTreeMap<TaskId, Time>,
    holding: BTreeMap<TaskId, AgentId>,
    agents: BTreeMap<AgentId, AgentBook>,
    ai: BTreeMap<(TenantId, Time), AiCounts>,
    unknown_effects: u64,
}

impl Model {
    fn book(&mut self, a: AgentId) -> &mut AgentBook {
        self.agents.entry(a).or_insert_with(|| AgentBook::new(a))
    }
    fn rec(&mut self, task: TaskId) -> Option<&mut TaskRecord> {
        match self.index.get(&task) {
            Some(&i) => self.records.get_mut(i),
            None => {
                self.unknown_effects += 1;
                None
            }
        }
    }
    fn arrival(&mut self, now: Time, a: &Arrival, default_sla: u64) {
        self.index.insert(a.task, self.records.len());
        self.records.push(TaskRecord {
            task: a.task,
            tenant: a.tenant,
            queue: a.queue,
            created_at: a.created_at.unwrap_or(now).min(now),
            sla_ms: a.sla_ms.unwrap_or(default_sla),
            outreach: a.outreach,
            fate: Fate::Waiting,
            agent: None,
            handle_ms: None,
            outcome: Outcome::default(),
        });
    }
    fn release(&mut self, now: Time, task: TaskId) {
        if let Some(agent) = self.holding.remove(&task)
            && let Some(b) = self.agents.get_mut(&agent)
        {
            b.advance(now);
            b.active = b.active.saturating_sub(1);
        }
    }
    fn end(&mut self, now: Time, task: TaskId, fate: fn(u64) -> Fate) {
        if let Some(r) = self.rec(task)
            && r.fate == Fate::Waiting
        {
            r.fate = fate(now.millis_since(r.created_at));
        }
    }
    fn observe(&mut self, now: Time, effect: &Effect) {
        match *effect {
            Effect::Assigned { task, agent, .. } => {
                self.release(now, task);
                let b = self.book(agent);
                b.advance(now);
                b.active = b.active.saturating_add(1);
                b.peak = b.peak.max(b.active);
                self.holding.insert(task, agent);
                let Some(r) = self.rec(task) else { return };
                if r.fate == Fate::Waiting {
                    r.fate = Fate::Answered(now.millis_since(r.created_at));
                    r.agent = Some(agent);
                    self.answered_at.insert(task, now);
                    self.book(agent).answered += 1;
                }
            }
            Effect::WrapUpStarted { task, agent, .. } | Effect::Completed { task, agent } => {
                if let Some(start) = self.answered_at.remove(&task) {
                    let ms = now.millis_since(start);
                    if let Some(r) = self.rec(task) {
                        r.handle_ms = Some(ms);
                    }
                    self.book(agent).handle_ms += ms;
                }
                if matches!(effect, Effect::Completed { .. }) {
                    self.release(now, task);
                }
            }
            Effect::Queued { task, .. } => self.release(now, task),
            Effect::Abandoned { task } => {
                self.release(now, task);
                self.end(now, task, Fate::Abandoned);
            }
            Effect::TimedOut { task } => {
                self.release(now, task);
                self.end(now, task, Fate::TimedOut);
            }
            Effect::Cancelled { task } => {
                self.release(now, task);
                self.end(now, task, Fate::Cancelled);
            }
            _ => {}
        }
    }
    fn outcome(&mut self, task: TaskId, o: Outcome) {
        let Some(r) = self.rec(task) else { return };
        if let Some(c) = o.csat
            && c.is_finite()
        {
            r.outcome.csat = Some(c);
        }
        if o.converted.is_some() {
            r.outcome.converted = o.converted;
        }
        let (agent, outreach) = (r.agent, r.outreach);
        if let Some(a) = agent {
            let b = self.book(a);
            if let Some(c) = o.csat
                && c.is_finite()
            {
                b.csat_sum += c;
                b.csat_n += 1;
            }
            if outreach && o.converted.is_some() {
                b.outreach += 1;
                b.converted += u64::from(o.converted == Some(true));
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Arrival(u64, u32, bool),
    Assigned(u64, u64),
    WrapUp(u64, u64),
    Completed(u64, u64),
    Queued(u64),
    Abandoned(u64),
    TimedOut(u64),
    Cancelled(u64),
    State(u64, u8),
    Capacity(u64, u8),
    Outcome(u64, u8, Option<bool>),
    Ai(u32, u8),
    Wait(u64),
}

/// Task ids: small (the dense table), around the table's initial bound (some filed in the
/// map, then covered by the table as it grows), and huge.
fn task() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..8,
        (DENSE_SLACK - 4)..(DENSE_SLACK + 12),
        (0u64..4).prop_map(|k| (1 << 40) + k),
        (0u64..2).prop_map(|k| u64::MAX - k),
    ]
}

/// Agent ids: small, around the table's initial bound, and huge.
fn agent() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..4,
        2 => (DENSE_SLACK - 2)..(DENSE_SLACK + 6),
        1 => Just(u64::MAX),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (task(), 0u32..2, any::<bool>()).prop_map(|(t, n, o)| Op::Arrival(t, n, o)),
        4 => (task(), agent()).prop_map(|(t, a)| Op::Assigned(t, a)),
        1 => (task(), agent()).prop_map(|(t, a)| Op::WrapUp(t, a)),
        3 => (task(), agent()).prop_map(|(t, a)| Op::Completed(t, a)),
        1 => task().prop_map(Op::Queued),
        1 => task().prop_map(Op::Abandoned),
        1 => task().prop_map(Op::TimedOut),
        1 => task().prop_map(Op::Cancelled),
        1 => (agent(), 0u8..3).prop_map(|(a, s)| Op::State(a, s)),
        1 => (agent(), 0u8..4).prop_map(|(a, c)| Op::Capacity(a, c)),
        2 => (task(), 0u8..6, proptest::option::of(any::<bool>()))
            .prop_map(|(t, c, v)| Op::Outcome(t, c, v)),
        1 => (0u32..2, 0u8..3).prop_map(|(n, o)| Op::Ai(n, o)),
        3 => (0u64..400_000).prop_map(Op::Wait),
    ]
}

fn replay(ops: &[Op]) {
    let mut ledger = Ledger::new(LedgerConfig::default());
    let mut model = Model::default();
    let mut now = Time::ZERO;
    for (i, op) in (1u64..).zip(ops) {
        let mut effect = None;
        match *op {
            Op::Arrival(t, n, outreach) => {
                let mut a = Arrival::new(TaskId(t), TenantId(n)).sla_ms(20_000);
                a.outreach = outreach;
                ledger.arrival(now, a.clone());
                model.arrival(now, &a, ledger.config().default_sla_ms);
            }
            Op::Assigned(t, a) => {
                effect = Some(Effect::Assigned {
                    task: TaskId(t),
                    agent: AgentId(a),
                    offer: OfferId(i),
                });
            }
            Op::WrapUp(t, a) => {
                effect = Some(Effect::WrapUpStarted {
                    task: TaskId(t),
                    agent: AgentId(a),
                    until: now,
                });
            }
            Op::Completed(t, a) => {
                effect = Some(Effect::Completed {
                    task: TaskId(t),
                    agent: AgentId(a),
                });
            }
            Op::Queued(t) => {
                effect = Some(Effect::Queued {
                    task: TaskId(t),
                    queue: QueueId(0),
                    reason: QueueReason::AgentOffline,
                });
            }
            Op::Abandoned(t) => effect = Some(Effect::Abandoned { task: TaskId(t) }),
            Op::TimedOut(t) => effect = Some(Effect::TimedOut { task: TaskId(t) }),
            Op::Cancelled(t) => effect = Some(Effect::Cancelled { task: TaskId(t) }),
            Op::State(a, s) => {
                let s =
                    [AgentState::Available, AgentState::Away, AgentState::Offline][usize::from(s)];
                ledger.agent_state(now, AgentId(a), s);
                let b = model.book(AgentId(a));
                b.advance(now);
                b.state = s;
            }
            Op::Capacity(a, c) => {
                let cap = Capacity::default().with(Channel::Chat, u16::from(c));
                ledger.agent_capacity(AgentId(a), cap);
                model.book(AgentId(a)).slots = u32::from(c);
            }
            Op::Outcome(t, c, converted) => {
                let o = Outcome {
                    csat: (c < 5).then_some(f64::from(c)),
                    converted,
                };
                ledger.outcome(TaskId(t), o);
                model.outcome(TaskId(t), o);
            }
            Op::Ai(n, o) => {
                let o = [
                    AiOutcome::Contained,
                    AiOutcome::Escalated,
                    AiOutcome::Refused,
                ][usize::from(o)];
                ledger.ai_conversation(now, TenantId(n), o);
                let k = (TenantId(n), ledger.interval_of(now));
                model.ai.entry(k).or_default().add(o);
            }
            Op::Wait(ms) => now = Time(now.0 + ms),
        }
        if let Some(e) = effect {
            ledger.observe(now, &e);
            model.observe(now, &e);
        }
    }
    assert_eq!(ledger.records(), &model.records[..]);
    assert_eq!(ledger.unknown_effects(), model.unknown_effects);
    let mut books = ledger.books.clone();
    books.sort_by_key(|b| b.agent);
    let want: Vec<AgentBook> = model.agents.values().cloned().collect();
    assert_eq!(books, want);
    let mut ai: Vec<_> = ledger.ai.iter().map(|(&k, &c)| (k, c)).collect();
    ai.sort_by_key(|&(k, _)| k);
    let want: Vec<_> = model.ai.iter().map(|(&k, &c)| (k, c)).collect();
    assert_eq!(ai, want);
    let report = ledger.report(now);
    let ids: Vec<AgentId> = report.agents.iter().map(|a| a.agent).collect();
    assert_eq!(ids, model.agents.keys().copied().collect::<Vec<_>>());
    assert!(
        report
            .ai
            .windows(2)
            .all(|w| (w[0].tenant, w[0].interval_start) < (w[1].tenant, w[1].interval_start))
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]
    /// Any sequence of calls, with task and agent ids reused, unknown and huge, leaves the
    /// same records, books and counts as the map-based model.
    #[test]
    fn matches_the_map_based_model(ops in proptest::collection::vec(op(), 0..300)) {
        replay(&ops);
    }
}

proptest! {
    /// Selection gives the same nearest-rank percentiles as sorting.
    #[test]
    fn percentiles_match_sorting(
        mut v in proptest::collection::vec(0u64..50, 0..200),
        mut ps in proptest::collection::vec(0.0f64..=1.0, 1..4),
    ) {
        ps.sort_by(f64::total_cmp);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        #[allow(clippy::cast_precision_loss)]
        let want: Vec<Option<f64>> = ps.iter().map(|&p| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
            sorted.get(rank - 1).map(|&w| w as f64 / 1000.0)
        }).collect();
        let got = match ps[..] {
            [a] => percentiles(&mut v, [a]).to_vec(),
            [a, b] => percentiles(&mut v, [a, b]).to_vec(),
            [a, b, c] => percentiles(&mut v, [a, b, c]).to_vec(),
            _ => unreachable!(),
        };
        prop_assert_eq!(got, want);
    }
}

#[test]
fn an_id_filed_in_the_map_is_found_after_the_table_grows_past_it() {
    let mut l = Ledger::new(LedgerConfig::default());
    let late = TaskId(DENSE_SLACK + 10);
    l.arrival(Time::ZERO, Arrival::new(late, TenantId(0)));
    assert!(l.tasks.sparse.contains_key(&late.0));
    for t in 0..20 {
        l.arrival(
            Time::ZERO,
            Arrival::new(TaskId(DENSE_SLACK + 20 + t), TenantId(0)),
        );
    }
    assert!(l.tasks.dense.len() > (DENSE_SLACK + 10) as usize);
    l.observe(
        Time::from_secs(5),
        &Effect::Assigned {
            task: late,
            agent: AgentId(1),
            offer: OfferId(1),
        },
    );
    assert_eq!(l.records()[0].fate, Fate::Answered(5_000));
    assert_eq!(l.unknown_effects(), 0);
}
