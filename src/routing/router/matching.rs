//! The matching: restoring work conservation after every call by pairing the touched tasks and
//! agents (see the module doc of [`crate::router`]), and the strategies' agent choice.

use super::*;

impl<P: Scoring> Router<P> {
    /// A back-off is over for every call from its end on, not only once `handle_timeout` has
    /// fired its timer: marks dirty the tasks whose back-offs ended since the last look.
    pub(super) fn collect_ended_backoffs(&mut self) {
        if self.now > self.backoffs_seen {
            let from = (
                self.backoffs_seen.plus_millis(1),
                0,
                TimerKind::OfferExpiry(OfferId(0)),
            );
            for &(at, _, kind) in self.timers.range(from..) {
                if at > self.now {
                    break;
                }
                if let TimerKind::Backoff { task, .. } = kind {
                    self.dirty_tasks.push(task);
                }
            }
            self.backoffs_seen = self.now;
        }
    }

    pub(super) fn run_matching(&mut self) {
        if self.cfg.dispatch == crate::Dispatch::Batched {
            // Offers are made only at decision points (`dispatch_batch`).
            self.dirty_tasks.clear();
            self.dirty_agents.clear();
            return;
        }
        self.collect_ended_backoffs();
        if self.dirty_tasks.is_empty()
            && let Some(&slot) = self.dirty_agents.first()
            && self.dirty_agents.iter().all(|&s| s == slot)
        {
            // Only this agent freed capacity: the tasks it can now take have no other free,
            // eligible agent (work conservation held before the call, and no back-off ended),
            // so each goes straight to it, best task first.
            while let Some((_, t)) = self.best_task_for_agent(slot, None) {
                self.offer_to(t, slot);
            }
            self.dirty_agents.clear();
            return;
        }
        if self.dirty_agents.is_empty() && self.dirty_tasks.len() == 1 {
            // Only this task can have gained a free agent: offering it is the whole pass.
            let t = self.dirty_tasks[0];
            if self
                .tasks
                .get(&t)
                .is_some_and(|x| x.phase == Phase::Waiting)
            {
                self.offer_task(t);
            }
            self.dirty_tasks.clear();
            return;
        }
        loop {
            let mut best: Option<(Rank, TaskId)> = None;
            for &t in &self.dirty_tasks {
                let Some(task) = self.tasks.get(&t) else {
                    continue;
                };
                if task.phase != Phase::Waiting {
                    continue;
                }
                let rank = (self.tier(self.queues[task.queue as usize].tenant), task.key);
                if best.is_some_and(|(k, _)| rank > k) {
                    continue;
                }
                if self.has_free_candidate(task) {
                    best = Some((rank, t));
                }
            }
            for &slot in &self.dirty_agents {
                if let Some(found) = self.best_task_for_agent(slot, best.map(|b| b.0)) {
                    best = Some(found);
                }
            }
            match best {
                Some((_, t)) => {
                    // The candidate predicates above and in `offer_task` are the same, so an
                    // offer is always made; the guard only rules out spinning if they ever differ.
                    if !self.offer_task(t) {
                        debug_assert!(false, "matching found task {t} but no agent");
                        break;
                    }
                }
                None => break,
            }
        }
        self.dirty_tasks.clear();
        self.dirty_agents.clear();
    }

    pub(super) fn has_free_candidate(&self, task: &TaskRec) -> bool {
        let q = &self.queues[task.queue as usize];
        let mut found = false;
        and_ones(&q.eligible, &self.free[task.channel.index()], |slot| {
            if task.in_backoff(slot, self.now) {
                true
            } else {
                found = true;
                false
            }
        });
        found
    }

    /// The best waiting task `slot` can take now, if better than `bound`.
    pub(super) fn best_task_for_agent(
        &self,
        slot: u32,
        bound: Option<Rank>,
    ) -> Option<(Rank, TaskId)> {
        let a = self.agents[slot as usize].as_ref()?;
        if a.state != AgentState::Available {
            return None;
        }
        let mut best: Option<(Rank, TaskId)> = None;
        let mut limit = bound;
        for &q in &a.queues {
            if !self.nonempty.contains(q as usize) {
                continue;
            }
            let queue = &self.queues[q as usize];
            if !a.has_room(queue.channel) {
                continue;
            }
            let tier = self.tier(queue.tenant);
            for (key, &tid) in &queue.waiting {
                let rank = (tier, *key);
                if limit.is_some_and(|l| rank > l) {
                    break;
                }
                if self.tref(tid).in_backoff(slot, self.now) {
                    continue;
                }
                best = Some((rank, tid));
                limit = Some(rank);
                break;
            }
        }
        best
    }

    /// The best free candidate for `task` by `strategy` — agents that never declined it first —
    /// in one pass over the candidate bitsets (two for `Random`), as `(slot, score, redeclined)`.
    /// Equivalent to `select(.., 1)` on the fresh candidates, then on the redeclined ones.
    pub(super) fn pick_one(
        &mut self,
        task: TaskId,
        strategy: Strategy,
    ) -> Option<(u32, Option<f64>, bool)> {
        if strategy == Strategy::LongestIdle {
            // The longest-idle scan below reads the block minimums.
            let c = self.tref(task).channel.index();
            self.refresh_block_mins(c);
        }
        let now = self.now;
        let t = self.tref(task);
        let q = &self.queues[t.queue as usize];
        let ch = t.channel;
        let c = ch.index();
        let free = &self.free[c];
        // Tier of a candidate: 0 never declined, 1 declined with the back-off over, None in back-off.
        let tier = |slot: u32| match t.backoff_until(slot) {
            None => Some(0usize),
            Some(until) if until <= now => Some(1),
            Some(_) => None,
        };
        match strategy {
            Strategy::LongestIdle if t.declines.is_empty() => {
                // The common case, tight: nobody declined, so every candidate is in tier 0 and
                // only the dense idle keys are read.
                // Blocks are visited in slot order, so on equal keys the earlier slot (found
                // first) wins, and a block whose least key is not below the best so far holds no
                // better candidate.
                let idle_keys = &self.idle_keys;
                let mins = &self.block_min[c];
                let mut best_key = NO_KEY;
                let mut best = None;
                for (i, (&e, &f)) in q
                    .eligible
                    .as_slice()
                    .iter()
                    .zip(free.as_slice())
                    .enumerate()
                {
                    let mut w = e & f;
                    if w == 0 || mins.get(i).is_some_and(|&m| m >= best_key) {
                        continue;
                    }
                    while w != 0 {
                        let slot = i * BLOCK + w.trailing_zeros() as usize;
                        w &= w - 1;
                        let key = idle_keys[slot];
                        if key < best_key {
                            best_key = key;
                            best = Some(slot);
                        }
                    }
                }
                #[allow(clippy::cast_possible_truncation)]
                best.map(|slot| (slot as u32, None, false))
            }
            Strategy::LongestIdle | Strategy::LeastOccupied => {
                let mut best: [Option<OccKey>; 2] = [None, None];
                let idle_keys = &self.idle_keys;
                and_ones(&q.eligible, free, |slot| {
                    if let Some(k) = tier(slot) {
                        let better = if strategy == Strategy::LongestIdle {
                            // Dense keys: no agent record is touched.
                            let idle = idle_keys[slot as usize];
                            best[k].is_none_or(|b| (idle, slot) < (b.idle, b.slot))
                        } else {
                            let ix = &self.aref(slot).ix;
                            let occ = OccKey {
                                load: ix.load[c],
                                cap: ix.cap[c],
                                idle: ix.idle,
                                slot,
                            };
                            best[k].is_none_or(|b| occ < b)
                        };
                        if better {
                            let ix = &self.aref(slot).ix;
                            best[k] = Some(OccKey {
                                load: ix.load[c],
                                cap: ix.cap[c],
                                idle: ix.idle,
                                slot,
                            });
                        }
                    }
                    true
                });
                let (k, b) = best
                    .iter()
                    .enumerate()
                    .find_map(|(k, b)| b.map(|b| (k, b)))?;
                Some((b.slot, None, k == 1))
            }
            Strategy::BestScore => {
                let view = self.task_view(t, &q.requirements);
                let mut best: [Option<(f64, u32)>; 2] = [None, None];
                and_ones(&q.eligible, free, |slot| {
                    if let Some(k) = tier(slot) {
                        let v = self.scoring.match_score(
                            &self.aref(slot).view(),
                            &view,
                            &self.cfg.scoring,
                        );
                        let v = if v.is_finite() { v } else { f64::NEG_INFINITY };
                        // Strictly greater: ties keep the earlier slot.
                        if best[k].is_none_or(|(bv, _)| v > bv) {
                            best[k] = Some((v, slot));
                        }
                    }
                    true
                });
                let (k, (v, slot)) = best
                    .iter()
                    .enumerate()
                    .find_map(|(k, b)| b.map(|b| (k, b)))?;
                Some((slot, v.is_finite().then_some(v), k == 1))
            }
            Strategy::RoundRobin => {
                let cursor = self.rr_cursor[c];
                // Per tier: the first candidate, and the first after the cursor.
                let mut first: [Option<u32>; 2] = [None, None];
                let mut after: [Option<u32>; 2] = [None, None];
                and_ones(&q.eligible, free, |slot| {
                    if let Some(k) = tier(slot) {
                        first[k].get_or_insert(slot);
                        if cursor.is_some_and(|cur| slot > cur) {
                            after[k].get_or_insert(slot);
                        }
                    }
                    true
                });
                let k = (0..2).find(|&k| first[k].is_some())?;
                let slot = after[k].or(first[k])?;
                self.rr_cursor[c] = Some(slot);
                Some((slot, None, k == 1))
            }
            Strategy::Random => {
                let mut count = [0usize; 2];
                and_ones(&q.eligible, free, |slot| {
                    if let Some(k) = tier(slot) {
                        count[k] += 1;
                    }
                    true
                });
                let k = (0..2).find(|&k| count[k] > 0)?;
                let n = count[k];
                let mut target = self.rng.below(n);
                let t = self.tref(task);
                let q = &self.queues[t.queue as usize];
                let mut found = None;
                and_ones(&q.eligible, &self.free[c], |slot| {
                    let tk = match t.backoff_until(slot) {
                        None => Some(0usize),
                        Some(until) if until <= now => Some(1),
                        Some(_) => None,
                    };
                    if tk == Some(k) {
                        if target == 0 {
                            found = Some(slot);
                            return false;
                        }
                        target -= 1;
                    }
                    true
                });
                found.map(|slot| (slot, None, k == 1))
            }
        }
    }

    /// Recomputes every stale `block_min` entry of channel `c`.
    pub(super) fn refresh_block_mins(&mut self, c: usize) {
        let mut stale = std::mem::take(&mut self.stale_blocks[c]);
        for (wi, w) in stale.iter_mut().enumerate() {
            while *w != 0 {
                let block = wi * BLOCK + w.trailing_zeros() as usize;
                *w &= *w - 1;
                self.recompute_block_min(c, block);
            }
        }
        self.stale_blocks[c] = stale;
    }

    pub(super) fn recompute_block_min(&mut self, c: usize, block: usize) {
        let word = self.free[c].as_slice().get(block).copied().unwrap_or(0);
        let keys = self.idle_keys.get(block * BLOCK..).unwrap_or(&[]);
        let mut w = word;
        let mut min = NO_KEY;
        while w != 0 {
            let bit = w.trailing_zeros() as usize;
            w &= w - 1;
            if let Some(&k) = keys.get(bit) {
                min = min.min(k);
            }
        }
        let mins = &mut self.block_min[c];
        if mins.len() <= block {
            mins.resize(block + 1, NO_KEY);
        }
        mins[block] = min;
    }

    /// Whether `block_min[c][block]` may be stale.
    pub(super) fn block_is_stale(&self, c: usize, block: usize) -> bool {
        self.stale_blocks[c]
            .get(block / BLOCK)
            .is_some_and(|&w| w & (1 << (block % BLOCK)) != 0)
    }

    /// Offers a waiting task to one known agent, its only free candidate.
    pub(super) fn offer_to(&mut self, task: TaskId, slot: u32) {
        let t = self.tref(task);
        let (q, key, strategy) = (t.queue, t.key, t.strategy);
        let score = (strategy == Strategy::BestScore)
            .then(|| {
                let view = self.task_view(t, &self.queues[q as usize].requirements);
                self.scoring
                    .match_score(&self.aref(slot).view(), &view, &self.cfg.scoring)
            })
            .filter(|v| v.is_finite());
        let reason = OfferReason {
            strategy,
            score,
            rank: 0,
            redeclined: t.backoff_until(slot).is_some(),
            batch: false,
        };
        // Keep the strategies' state exactly as a one-candidate pick would leave it.
        let c = self.tref(task).channel.index();
        match strategy {
            Strategy::RoundRobin => self.rr_cursor[c] = Some(slot),
            Strategy::Random => {
                self.rng.below(1);
            }
            _ => {}
        }
        self.queue_remove(q, key);
        let id = self.make_offer(task, slot, reason);
        let t = self.tmut(task);
        t.phase = Phase::Offered(vec![id]);
        let tenant = t.tenant;
        self.hold(tenant, true);
    }

    /// Builds the strategy index for a channel on first use.
    pub(super) fn ensure_index(&mut self, channel: Channel, strategy: Strategy) {
        let c = channel.index();
        let bit = if strategy == Strategy::LongestIdle {
            IDX_IDLE
        } else {
            IDX_OCC
        };
        if self.idx_built[c] & bit != 0 {
            return;
        }
        self.idx_built[c] |= bit;
        for (i, a) in self.agents.iter().enumerate() {
            let Some(a) = a else { continue };
            if a.ix.mask & (1 << c) == 0 {
                continue;
            }
            let slot = u32::try_from(i).unwrap_or(u32::MAX);
            if bit == IDX_IDLE {
                self.idle_idx[c].insert((a.ix.idle, slot));
            } else {
                self.occ_idx[c].insert(OccKey {
                    load: a.ix.load[c],
                    cap: a.ix.cap[c],
                    idle: a.ix.idle,
                    slot,
                });
            }
        }
    }

    /// Offers a waiting task to its best free candidates; `false` if there were none.
    pub(super) fn offer_task(&mut self, task: TaskId) -> bool {
        self.offer_task_from(task, true)
    }

    /// As [`Router::offer_task`]; `queued` says whether the task sits in its queue (an arrival
    /// is tried before it is filed).
    pub(super) fn offer_task_from(&mut self, task: TaskId, queued: bool) -> bool {
        let now = self.now;
        let (strategy, fanout) = {
            let t = self.tref(task);
            (t.strategy, usize::from(t.fanout))
        };

        // Strategies with a global order walk their index; the others (and long walks) score
        // the candidates collected from the bitsets.
        let walked = match strategy {
            Strategy::LongestIdle | Strategy::LeastOccupied
                if self.agent_slot.len() as u64
                    <= u64::from(self.queues[self.tref(task).queue as usize].eligible_n)
                        * INDEX_WALK_RATIO =>
            {
                let qi = self.tref(task).queue as usize;
                if self.queues[qi].skip_walks > 0 {
                    self.queues[qi].skip_walks -= 1;
                    None
                } else {
                    self.ensure_index(self.tref(task).channel, strategy);
                    let walked = self.walk_index(task, strategy, fanout);
                    if walked.is_none() {
                        self.queues[qi].skip_walks = WALK_BACKOFF;
                    }
                    walked
                }
            }
            _ => None,
        };
        let (mut picks, redeclined_from) = if let Some((fresh, old)) = walked {
            let mut picks: Vec<(u32, Option<f64>)> =
                fresh.into_iter().take(fanout).map(|s| (s, None)).collect();
            let n = picks.len();
            picks.extend(old.into_iter().take(fanout - n).map(|s| (s, None)));
            (picks, if n < fanout { n } else { usize::MAX })
        } else if fanout == 1 {
            // One pick: a single pass over the candidates, nothing collected.
            match self.pick_one(task, strategy) {
                Some((slot, score, redeclined)) => {
                    (vec![(slot, score)], if redeclined { 0 } else { usize::MAX })
                }
                None => (Vec::new(), 0),
            }
        } else {
            let (fresh, old) = {
                let t = self.tref(task);
                let q = &self.queues[t.queue as usize];
                let (mut fresh, mut old) = (Vec::new(), Vec::new());
                and_ones(&q.eligible, &self.free[t.channel.index()], |slot| {
                    match t.backoff_until(slot) {
                        None => fresh.push(slot),
                        Some(until) if until <= now => old.push(slot),
                        Some(_) => {}
                    }
                    true
                });
                (fresh, old)
            };
            let mut picks = self.select(task, strategy, fresh, fanout);
            let mut redeclined_from = picks.len();
            if picks.len() < fanout {
                let more = self.select(task, strategy, old, fanout - picks.len());
                picks.extend(more);
            } else {
                redeclined_from = usize::MAX;
            }
            (picks, redeclined_from)
        };
        picks.truncate(fanout);
        if picks.is_empty() {
            return false;
        }
        if queued {
            let (q, key) = {
                let t = self.tref(task);
                (t.queue, t.key)
            };
            self.queue_remove(q, key);
        }
        let mut ids = Vec::with_capacity(picks.len());
        for (rank, (slot, score)) in picks.into_iter().enumerate() {
            let reason = OfferReason {
                strategy,
                score,

                rank: u32::try_from(rank).unwrap_or(u32::MAX),
                redeclined: rank >= redeclined_from,
                batch: false,
            };
            ids.push(self.make_offer(task, slot, reason));
        }
        let t = self.tmut(task);
        t.phase = Phase::Offered(ids);
        let tenant = t.tenant;
        self.hold(tenant, true);
        true
    }

    pub(super) fn make_offer(&mut self, task: TaskId, slot: u32, reason: OfferReason) -> OfferId {
        let id = OfferId(self.next_offer);
        self.next_offer += 1;
        let now = self.now;
        let expires_at = now.plus_millis(self.cfg.offer_timeout_ms);
        let channel = self.tref(task).channel;
        let timer = self.push_timer(expires_at, TimerKind::OfferExpiry(id));
        self.offers.insert(
            id,
            OfferRec {
                task,
                agent: slot,
                created_at: now,
                expires_at,
                timer,
                reason,
            },
        );
        let a = self.arec(slot);
        a.load[channel.index()] += 1;
        a.offers.push(id);
        let agent = a.id;
        self.refresh_free(slot);
        self.counters.offers += 1;
        self.effects.push_back(Effect::Offer {
            offer: id,
            task,
            agent,
            channel,
            expires_at,
        });
        id
    }

    /// The later of the agent's idle-since time and its newest pending offer. Offer ids grow
    /// with time and the agent lists its offers in id order, so the newest is the last.
    pub(super) fn idle_key(&self, a: &AgentRec) -> Time {
        a.offers
            .last()
            .and_then(|o| self.offers.get(o))
            .map_or(a.idle_since, |r| r.created_at.max(a.idle_since))
    }

    /// Walks the channel's strategy index in order, collecting eligible candidates until `k`
    /// agents that never declined the task are found. Returns `(fresh, redeclined)`, or `None`
    /// if the walk exceeded its budget (the caller then collects from the bitsets).
    pub(super) fn walk_index(
        &self,
        task: TaskId,
        strategy: Strategy,
        k: usize,
    ) -> Option<(Vec<u32>, Vec<u32>)> {
        let t = self.tref(task);
        let q = &self.queues[t.queue as usize];
        let c = t.channel.index();
        let now = self.now;
        let (mut fresh, mut old) = (Vec::new(), Vec::new());
        let mut steps = 0usize;
        let mut visit = |slot: u32| -> Option<bool> {
            steps += 1;
            if steps > INDEX_WALK_BUDGET {
                return None;
            }
            if q.eligible.contains(slot as usize) {
                match t.backoff_until(slot) {
                    None => fresh.push(slot),
                    Some(until) if until <= now => old.push(slot),
                    Some(_) => {}
                }
            }
            Some(fresh.len() < k)
        };
        let walked = match strategy {
            Strategy::LongestIdle => self.idle_idx[c]
                .iter()
                .map(|&(_, s)| visit(s))
                .find(|r| *r != Some(true)),
            _ => self.occ_idx[c]
                .iter()
                .map(|o| visit(o.slot))
                .find(|r| *r != Some(true)),
        };
        if walked == Some(None) {
            return None;
        }
        Some((fresh, old))
    }

    /// Picks up to `k` of `cands` (ascending slots) by `strategy`.
    pub(super) fn select(
        &mut self,
        task: TaskId,
        strategy: Strategy,
        mut cands: Vec<u32>,
        k: usize,
    ) -> Vec<(u32, Option<f64>)> {
        if cands.is_empty() || k == 0 {
            return Vec::new();
        }
        let channel = self.tref(task).channel;
        match strategy {
            Strategy::BestScore => {
                let t = self.tref(task);
                let reqs = &self.queues[t.queue as usize].requirements;
                let view = self.task_view(t, reqs);
                let mut scored: Vec<(f64, u32)> = cands
                    .iter()
                    .map(|&s| {
                        let v = self.scoring.match_score(
                            &self.aref(s).view(),
                            &view,
                            &self.cfg.scoring,
                        );
                        (if v.is_finite() { v } else { f64::NEG_INFINITY }, s)
                    })
                    .collect();
                let cmp = |a: &(f64, u32), b: &(f64, u32)| {
                    b.0.partial_cmp(&a.0)
                        .unwrap_or(Ordering::Equal)
                        .then(a.1.cmp(&b.1))
                };
                take_best(&mut scored, k, cmp)
                    .into_iter()
                    .map(|(v, s)| (s, v.is_finite().then_some(v)))
                    .collect()
            }
            Strategy::LongestIdle => {
                let mut keyed: Vec<(Time, u32)> = cands
                    .iter()
                    .map(|&s| (self.idle_key(self.aref(s)), s))
                    .collect();
                take_best(&mut keyed, k, Ord::cmp)
                    .into_iter()
                    .map(|(_, s)| (s, None))
                    .collect()
            }
            Strategy::LeastOccupied => {
                let c = channel.index();
                let mut keyed: Vec<(u32, u32, Time, u32)> = cands
                    .iter()
                    .map(|&s| {
                        let a = self.aref(s);
                        (
                            u32::from(a.load[c]),
                            u32::from(a.capacity.0[c]),
                            self.idle_key(a),
                            s,
                        )
                    })
                    .collect();
                let cmp = |x: &(u32, u32, Time, u32), y: &(u32, u32, Time, u32)| {
                    // load/cap ascending, compared exactly by cross-multiplication
                    (u64::from(x.0) * u64::from(y.1))
                        .cmp(&(u64::from(y.0) * u64::from(x.1)))
                        .then((y.1 - y.0).cmp(&(x.1 - x.0)))
                        .then(x.2.cmp(&y.2))
                        .then(x.3.cmp(&y.3))
                };
                take_best(&mut keyed, k, cmp)
                    .into_iter()
                    .map(|x| (x.3, None))
                    .collect()
            }
            Strategy::RoundRobin => {
                let mut out = Vec::new();
                let c = channel.index();
                while out.len() < k && !cands.is_empty() {
                    let i = match self.rr_cursor[c] {
                        Some(cur) => cands.iter().position(|&s| s > cur).unwrap_or(0),
                        None => 0,
                    };
                    let s = cands.remove(i);
                    self.rr_cursor[c] = Some(s);
                    out.push((s, None));
                }
                out
            }
            Strategy::Random => {
                let mut out = Vec::new();
                while out.len() < k && !cands.is_empty() {
                    let i = self.rng.below(cands.len());
                    out.push((cands.remove(i), None));
                }
                out
            }
        }
    }
}
