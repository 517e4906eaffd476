//! From-scratch checks of the state invariants (docs/INVARIANTS.md: 1 conservation, 2 capacity,
//! 3 eligibility, 4 work conservation) and of index consistency.

use super::internals::PhaseRef;
use super::{BLOCK, IDX_IDLE, IDX_OCC, NO_KEY, OccKey};
use crate::{Channel, InvariantViolation, Router, Scoring};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) fn check<P: Scoring>(r: &Router<P>) -> Result<(), String> {
    let queues = r.i_queues();
    let offers: BTreeMap<_, _> = r.i_offers().collect();
    let agents: BTreeMap<u32, _> = r.i_agents().collect();

    // 1. Conservation: each live task is in exactly one place.
    let mut in_queues = 0usize;
    for (qi, q) in queues.iter().enumerate() {
        for (key, tid) in &q.waiting {
            let Some((_, t)) = r.i_tasks().find(|(id, _)| id == tid) else {
                return Err(format!("queue {qi} holds unknown task {tid}"));
            };
            if t.key() != *key || t.queue() as usize != qi {
                return Err(format!("task {tid} sits in queue {qi} under a stale key"));
            }
            if !matches!(t.phase(), PhaseRef::Waiting) {
                return Err(format!("task {tid} is in a queue but not waiting"));
            }
            in_queues += 1;
        }
    }
    // Fair-share counters: tasks holding capacity per tenant, and per-tenant queues.
    let mut held: BTreeMap<crate::TenantId, u32> = BTreeMap::new();
    for (tid, t) in r.i_tasks() {
        if !matches!(t.phase(), PhaseRef::Waiting) {
            *held.entry(t.tenant()).or_default() += 1;
        }
        if queues[t.queue() as usize]
            .tenant
            .is_some_and(|q| q != t.tenant())
        {
            return Err(format!("task {tid} sits in another tenant's queue"));
        }
    }
    for i in 0..r.catalog().tenant_count() {
        let tenant = crate::TenantId(u32::try_from(i).unwrap_or(u32::MAX));
        let want = held.get(&tenant).copied().unwrap_or(0);
        if r.tenant_held(tenant) != want {
            return Err(format!(
                "{tenant} holds {} tasks by its counter, {want} by a recount",
                r.tenant_held(tenant)
            ));
        }
    }
    let mut waiting = 0usize;
    let mut offered_refs = 0usize;
    for (tid, t) in r.i_tasks() {
        match t.phase() {
            PhaseRef::Waiting => {
                waiting += 1;
                if queues[t.queue() as usize].waiting.get(&t.key()) != Some(&tid) {
                    return Err(format!("waiting task {tid} missing from its queue"));
                }
            }
            PhaseRef::Offered(list) => {
                if list.is_empty() {
                    return Err(format!("task {tid} offered with no offers"));
                }
                for o in list {
                    match offers.get(&o) {
                        Some(rec) if rec.task == tid => offered_refs += 1,
                        _ => return Err(format!("task {tid} lists offer {o} that is not its own")),
                    }
                }
            }
            PhaseRef::Serving(slot) => match agents.get(&slot) {
                Some(a) if a.work().contains(&tid) => {}
                _ => {
                    return Err(format!(
                        "task {tid} in service with an agent that does not hold it"
                    ));
                }
            },
        }
    }
    if waiting != in_queues {
        return Err(format!(
            "{waiting} waiting tasks but {in_queues} queue entries"
        ));
    }
    if offered_refs != offers.len() {
        return Err(format!(
            "{} offers but {offered_refs} referenced by tasks",
            offers.len()
        ));
    }
    let c = r.i_counters();
    let live = r.i_tasks().count() as u64;
    if c.arrived != live + c.completed + c.cancelled + c.abandoned + c.timed_out {
        return Err(format!(
            "conservation: arrived {} != live {live} + ended",
            c.arrived
        ));
    }

    // 2. Capacity, and load bookkeeping.
    for (&slot, a) in &agents {
        let mut load = [0u16; Channel::COUNT];
        for o in a.offers() {
            let Some(rec) = offers.get(o) else {
                return Err(format!("agent {} lists unknown offer {o}", a.id()));
            };
            if rec.agent != slot {
                return Err(format!("offer {o} listed by the wrong agent"));
            }
            let ch = r
                .i_tasks()
                .find(|(id, _)| *id == rec.task)
                .map(|(_, t)| t.channel());
            load[ch.map_or(0, Channel::index)] += 1;
        }
        for tid in a.work() {
            let Some((_, t)) = r.i_tasks().find(|(id, _)| id == tid) else {
                return Err(format!("agent {} holds unknown task {tid}", a.id()));
            };
            match t.phase() {
                PhaseRef::Serving(s) if s == slot => {}
                _ => {
                    return Err(format!(
                        "agent {} holds task {tid} not serving with it",
                        a.id()
                    ));
                }
            }
            load[t.channel().index()] += 1;
        }
        if load != a.load() {
            return Err(format!(
                "agent {} load {:?} != recomputed {load:?}",
                a.id(),
                a.load()
            ));
        }
        for ch in Channel::ALL {
            if load[ch.index()] > a.capacity().get(ch) {
                return Err(format!("agent {} over capacity on {ch}", a.id()));
            }
            if r.i_free(ch.index()).contains(slot as usize) != a.has_room(ch) {
                return Err(format!("free index wrong for agent {} on {ch}", a.id()));
            }
        }
        // Index: the agent's queue list equals the queues it meets.
        let expect: Vec<u32> = (0..queues.len())
            .filter(|&q| a.meets(&queues[q], r.catalog()))
            .map(|q| u32::try_from(q).unwrap_or(u32::MAX))
            .collect();
        if expect != a.queues() {
            return Err(format!("agent {} queue list is stale", a.id()));
        }
        for (qi, q) in queues.iter().enumerate() {
            if q.eligible.count_ones(..) != q.eligible_n as usize {
                return Err(format!("queue {qi} eligible count is stale"));
            }
            if q.eligible.contains(slot as usize) != a.meets(q, r.catalog()) {
                return Err(format!(
                    "queue {qi} eligibility bit wrong for agent {}",
                    a.id()
                ));
            }
        }
    }

    // 3. Eligibility: every offer goes to an agent meeting its task's requirements.
    for (o, rec) in &offers {
        let Some((_, t)) = r.i_tasks().find(|(id, _)| *id == rec.task) else {
            return Err(format!("offer {o} for unknown task"));
        };
        match agents.get(&rec.agent) {
            Some(a) if a.meets(&queues[t.queue() as usize], r.catalog()) => {}
            _ => return Err(format!("offer {o} made to an ineligible agent")),
        }
    }

    // 4. Work conservation: no waiting task has a free, eligible agent outside back-off. A
    //    batched router reserves capacity between decision points on purpose; call
    //    `check_work_conservation` right after `dispatch_batch` instead.
    if r.config().dispatch == crate::Dispatch::Immediate {
        work_conservation(r)?;
    }
    Ok(())
}

/// Invariant 4 alone.
pub(crate) fn work_conservation<P: Scoring>(r: &Router<P>) -> Result<(), String> {
    let now = r.i_now();
    let queues = r.i_queues();
    let agents: BTreeMap<u32, _> = r.i_agents().collect();
    for (tid, t) in r.i_tasks() {
        if !matches!(t.phase(), PhaseRef::Waiting) {
            continue;
        }
        let q = &queues[t.queue() as usize];
        for (&slot, a) in &agents {
            if a.has_room(t.channel()) && a.meets(q, r.catalog()) && !t.in_backoff(slot, now) {
                return Err(format!(
                    "work conservation: task {tid} waits while agent {} is free and eligible",
                    a.id()
                ));
            }
        }
    }
    Ok(())
}

impl<P: Scoring> Router<P> {
    /// Checks the invariants of docs/INVARIANTS.md that are properties of one state (conservation,
    /// capacity, eligibility, work conservation) plus the consistency of every index, by
    /// recomputing them from scratch. `O(tasks × agents)`: for tests and fuzzing.
    ///
    /// # Errors
    /// A description of the first violation found.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        check(self)
            .and_then(|()| self.check_strategy_indexes())
            .map_err(|message| InvariantViolation { message })
    }

    /// Invariant 4 alone (no waiting task has a free, eligible agent outside a back-off), also
    /// for [`Dispatch::Batched`](crate::Dispatch::Batched) routers, where it holds right after
    /// [`Router::dispatch_batch`]. `O(tasks × agents)`: for tests.
    ///
    /// # Errors
    /// A description of the first violation found.
    pub fn check_work_conservation(&self) -> Result<(), InvariantViolation> {
        work_conservation(self).map_err(|message| InvariantViolation { message })
    }

    /// The strategy indexes hold exactly the free agents, under their current keys.
    pub(super) fn check_strategy_indexes(&self) -> Result<(), String> {
        for c in 0..Channel::COUNT {
            for (b, &m) in self.block_min[c].iter().enumerate() {
                if self.block_is_stale(c, b) {
                    continue;
                }
                let word = self.free[c].as_slice().get(b).copied().unwrap_or(0);
                let want = (0..BLOCK)
                    .filter(|bit| word & (1 << bit) != 0)
                    .filter_map(|bit| self.idle_keys.get(b * BLOCK + bit).copied())
                    .min()
                    .unwrap_or(NO_KEY);
                if m != want {
                    return Err(format!("block minimum {b} on {} is stale", Channel::ALL[c]));
                }
            }
        }
        for (i, q) in self.queues.iter().enumerate() {
            if self.nonempty.contains(i) == q.waiting.is_empty() {
                return Err(format!("non-empty bit wrong for queue {i}"));
            }
        }
        for c in 0..Channel::COUNT {
            let mut idle = BTreeSet::new();
            let mut occ = BTreeSet::new();
            for (i, a) in self.agents.iter().enumerate() {
                let Some(a) = a else { continue };
                let slot = u32::try_from(i).unwrap_or(u32::MAX);
                if self.idle_keys.get(i) != Some(&self.idle_key(a)) {
                    return Err(format!("dense idle key of agent {} is stale", a.id));
                }
                if a.has_room(Channel::ALL[c]) {
                    let key = self.idle_key(a);
                    idle.insert((key, slot));
                    occ.insert(OccKey {
                        load: a.load[c],
                        cap: a.capacity.0[c],
                        idle: key,
                        slot,
                    });
                }
            }
            if self.idx_built[c] & IDX_IDLE != 0 && idle != self.idle_idx[c] {
                return Err(format!(
                    "longest-idle index for {} is stale",
                    Channel::ALL[c]
                ));
            }
            if self.idx_built[c] & IDX_OCC != 0 && occ != self.occ_idx[c] {
                return Err(format!(
                    "least-occupied index for {} is stale",
                    Channel::ALL[c]
                ));
            }
        }
        Ok(())
    }
}
