//! The matching indexes: per-queue eligible-agent bitsets, per-channel free-agent bitsets, the
//! strategy indexes (longest idle, least occupied) and the timer wheel, kept in step with every
//! change of an agent or a task.

use super::*;

impl<P: Scoring> Router<P> {
    pub(super) fn index_agent(&mut self, slot: u32, on: bool) {
        let Some(a) = self.agents[slot as usize].as_ref() else {
            return;
        };
        let (skills, tags, certs) = (
            a.skills.iter().map(|s| s.0.0).collect::<Vec<_>>(),
            a.tags.iter().map(|t| t.0).collect::<Vec<_>>(),
            a.certs.iter().map(|t| t.0).collect::<Vec<_>>(),
        );
        for (idx, ids) in [
            (&mut self.skill_idx, skills),
            (&mut self.tag_idx, tags),
            (&mut self.cert_idx, certs),
        ] {
            for id in ids {
                let id = id as usize;
                if idx.len() <= id {
                    idx.resize_with(id + 1, FixedBitSet::new);
                }
                set_bit(&mut idx[id], slot, on);
            }
        }
        set_bit(&mut self.live, slot, on);
    }

    /// Re-files an agent in the free bitsets and strategy indexes after any change to its
    /// presence, load, capacity, offers or idle time.
    pub(super) fn refresh_free(&mut self, slot: u32) {
        let a = self.aref(slot);
        let idle = self.idle_key(a);
        let mut mask = 0u8;
        for c in Channel::ALL {
            if a.has_room(c) {
                mask |= 1 << c.index();
            }
        }
        let (old, load, cap) = (a.ix, a.load, a.capacity.0);
        for c in 0..Channel::COUNT {
            let was = old.mask & (1 << c) != 0;
            let is = mask & (1 << c) != 0;
            if was == is
                && (!is || (old.idle == idle && old.load[c] == load[c] && old.cap[c] == cap[c]))
            {
                continue;
            }
            let built = self.idx_built[c];
            // The idle index's key ignores load: skip it when only the load moved.
            let idle_same = was == is && old.idle == idle;
            if was {
                if built & IDX_IDLE != 0 && !idle_same {
                    self.idle_idx[c].remove(&(old.idle, slot));
                }
                if built & IDX_OCC != 0 {
                    self.occ_idx[c].remove(&OccKey {
                        load: old.load[c],
                        cap: old.cap[c],
                        idle: old.idle,
                        slot,
                    });
                }
            }
            if is {
                if built & IDX_IDLE != 0 && !idle_same {
                    self.idle_idx[c].insert((idle, slot));
                }
                if built & IDX_OCC != 0 {
                    self.occ_idx[c].insert(OccKey {
                        load: load[c],
                        cap: cap[c],
                        idle,
                        slot,
                    });
                }
            }
            if was != is {
                set_bit(&mut self.free[c], slot, is);
            }
        }
        let i = slot as usize;
        if self.idle_keys.len() <= i {
            self.idle_keys.resize(i + 1, Time::ZERO);
        }
        self.idle_keys[i] = idle;
        if idle != old.idle || mask != old.mask {
            let (word, bit) = (i / BLOCK / BLOCK, i / BLOCK % BLOCK);
            for c in 0..Channel::COUNT {
                if (mask | old.mask) & (1 << c) != 0 {
                    let stale = &mut self.stale_blocks[c];
                    if stale.len() <= word {
                        stale.resize(word + 1, 0);
                    }
                    stale[word] |= 1 << bit;
                }
            }
        }
        self.arec(slot).ix = Indexed {
            idle,
            load,
            cap,
            mask,
        };
    }

    pub(super) fn refresh_agent_queues(&mut self, slot: u32) {
        let mut list = Vec::new();
        for qi in 0..self.queues.len() {
            let meets = self.aref(slot).meets(&self.queues[qi], &self.catalog);
            #[allow(clippy::cast_possible_truncation)]
            let q = qi as u32; // queue count is bounded by u32 (see get_or_create_queue)
            let queue = &mut self.queues[qi];
            if queue.eligible.contains(slot as usize) != meets {
                set_bit(&mut queue.eligible, slot, meets);
                if meets {
                    queue.eligible_n += 1;
                } else {
                    queue.eligible_n -= 1;
                }
            }
            if meets {
                list.push(q);
            }
        }
        self.arec(slot).queues = list;
    }

    pub(super) fn get_or_create_queue(
        &mut self,
        channel: Channel,
        tenant: TenantId,
        reqs: Requirements,
    ) -> u32 {
        let sig = self.queue_sig(channel, tenant, reqs);
        if let Some(&q) = self.queue_by_sig.get(&sig) {
            return q;
        }
        let qi = u32::try_from(self.queues.len()).unwrap_or(u32::MAX);
        let queue = self.build_queue(QueueId(qi), sig.clone());
        for slot in queue.eligible.ones() {
            #[allow(clippy::cast_possible_truncation)]
            self.arec(slot as u32).queues.push(qi);
        }
        self.queues.push(queue);
        self.queue_by_sig.insert(sig, qi);
        qi
    }

    /// The signature of the queue for a task of `tenant` on `channel` with canonical `reqs`.
    pub(super) fn queue_sig(
        &self,
        channel: Channel,
        tenant: TenantId,
        reqs: Requirements,
    ) -> QueueSig {
        QueueSig {
            channel,
            cert_tenant: reqs.certification.then_some(tenant),
            tenant: (!self.cfg.shares.is_empty()).then_some(tenant),
            requirements: reqs,
        }
    }

    /// A queue for `sig` with its eligibility bitset filled: the skill, tag and certification
    /// indexes narrow the candidates, then each candidate is checked in full (filter included).
    pub(super) fn build_queue(&self, id: QueueId, sig: QueueSig) -> Queue {
        let mut cand = self.live.clone();
        let empty = FixedBitSet::new();
        for r in &sig.requirements.skills {
            cand.intersect_with(self.skill_idx.get(r.skill.0 as usize).unwrap_or(&empty));
        }
        for t in &sig.requirements.tags {
            cand.intersect_with(self.tag_idx.get(t.0 as usize).unwrap_or(&empty));
        }
        if let Some(t) = sig.cert_tenant {
            cand.intersect_with(self.cert_idx.get(t.0 as usize).unwrap_or(&empty));
        }
        let mut queue = Queue {
            id,
            channel: sig.channel,
            cert_tenant: sig.cert_tenant,
            tenant: sig.tenant,
            requirements: sig.requirements,
            waiting: std::collections::BTreeMap::new(),
            eligible: FixedBitSet::with_capacity(self.agents.len()),
            eligible_n: 0,
            skip_walks: 0,
        };
        for slot in cand.ones() {
            if self.agents[slot]
                .as_ref()
                .is_some_and(|a| a.meets(&queue, &self.catalog))
            {
                queue.eligible.insert(slot);
                queue.eligible_n += 1;
            }
        }
        queue
    }

    pub(super) fn queue_insert(&mut self, q: u32, key: OrderKey, task: TaskId) {
        self.queues[q as usize].waiting.insert(key, task);
        set_bit(&mut self.nonempty, q, true);
    }

    pub(super) fn queue_remove(&mut self, q: u32, key: OrderKey) {
        let queue = &mut self.queues[q as usize];
        queue.waiting.remove(&key);
        if queue.waiting.is_empty() {
            set_bit(&mut self.nonempty, q, false);
        }
    }

    pub(super) fn push_timer(&mut self, at: Time, kind: TimerKind) -> u64 {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq, kind));
        self.timer_seq
    }

    /// Removes a task record and every timer that belongs to it.
    pub(super) fn drop_task(&mut self, task: TaskId) {
        if let Some(t) = self.tasks.remove(&task) {
            if t.phase != Phase::Waiting {
                self.hold(t.tenant, false);
            }
            let seq = t.key.seq;
            if let (at, n @ 1..) = t.max_wait_timer {
                self.timers
                    .remove(&(at, n, TimerKind::MaxWait { task, seq }));
            }
            if let Phase::WrapUp(_, at, n) = t.phase {
                self.timers
                    .remove(&(at, n, TimerKind::WrapUpEnd { task, seq }));
            }
            for (slot, at, n) in t.declines {
                self.timers
                    .remove(&(at, n, TimerKind::Backoff { task, seq, slot }));
            }
        }
    }
}
