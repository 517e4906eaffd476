//! Internal task moves: into and out of queues, offers made and rescinded, service started and
//! finished — the bookkeeping every call shares.

use super::*;

impl<P: Scoring> Router<P> {
    /// Puts a task (not currently in a queue) into its queue, keeping its key.
    pub(super) fn requeue(&mut self, task: TaskId, reason: QueueReason) {
        let t = self.tmut(task);
        let (was_held, tenant) = (t.phase != Phase::Waiting, t.tenant);
        t.phase = Phase::Waiting;
        if was_held {
            self.hold(tenant, false);
        }
        let t = self.tref(task);
        let (q, key) = (t.queue, t.key);
        self.queue_insert(q, key, task);
        self.effects.push_back(Effect::Queued {
            task,
            queue: QueueId(q),
            reason,
        });
        self.dirty_tasks.push(task);
    }

    /// Takes a task out of wherever it is (queue, offers, agent) without deciding where it goes.
    pub(super) fn unplace(&mut self, task: TaskId, why: RescindReason) {
        let (phase, q, key, channel) = {
            let t = self.tref(task);
            (t.phase.clone(), t.queue, t.key, t.channel)
        };
        match phase {
            Phase::Waiting => {
                self.queue_remove(q, key);
            }
            Phase::Offered(list) => {
                for o in list {
                    self.rescind(o, why);
                }
            }
            Phase::InService(slot) | Phase::WrapUp(slot, _, _) => {
                let a = self.arec(slot);
                a.work.retain(|&t| t != task);
                a.load[channel.index()] -= 1;
                self.refresh_free(slot);
                self.dirty_agents.push(slot);
            }
        }
    }

    /// Removes an offer record and frees the agent's capacity; the task is not touched.
    pub(super) fn release_offer(&mut self, offer: OfferId) -> Option<(TaskId, u32)> {
        let rec = self.offers.remove(&offer)?;
        self.timers
            .remove(&(rec.expires_at, rec.timer, TimerKind::OfferExpiry(offer)));
        let channel = self.tref(rec.task).channel;
        let a = self.arec(rec.agent);
        a.offers.retain(|&o| o != offer);
        a.load[channel.index()] -= 1;
        self.refresh_free(rec.agent);
        self.dirty_agents.push(rec.agent);
        Some((rec.task, rec.agent))
    }

    /// Rescinds one offer of a task whose phase the caller rewrites.
    pub(super) fn rescind(&mut self, offer: OfferId, reason: RescindReason) {
        if let Some((task, slot)) = self.release_offer(offer) {
            let agent = self.agent_id(slot);
            self.effects.push_back(Effect::OfferRescinded {
                offer,
                task,
                agent,
                reason,
            });
        }
    }

    /// Rescinds one offer and re-queues its task if that was its last offer.
    pub(super) fn withdraw_offer(
        &mut self,
        offer: OfferId,
        reason: RescindReason,
        qreason: QueueReason,
    ) {
        let Some(task) = self.offers.get(&offer).map(|o| o.task) else {
            return;
        };
        self.rescind(offer, reason);
        self.drop_offer_from_task(task, offer, qreason);
    }

    pub(super) fn drop_offer_from_task(
        &mut self,
        task: TaskId,
        offer: OfferId,
        qreason: QueueReason,
    ) {
        let t = self.tmut(task);
        if let Phase::Offered(list) = &mut t.phase {
            list.retain(|&o| o != offer);
            if list.is_empty() {
                self.requeue(task, qreason);
            }
        }
    }

    /// Reject or expiry: free the agent, record the back-off, re-queue if last offer.
    pub(super) fn decline(&mut self, offer: OfferId, qreason: QueueReason) {
        let Some((task, slot)) = self.release_offer(offer) else {
            return;
        };
        let until = self.now.plus_millis(self.cfg.decline_backoff_ms);
        let seq = self.tref(task).key.seq;
        let n = if self.cfg.decline_backoff_ms > 0 {
            self.push_timer(until, TimerKind::Backoff { task, seq, slot })
        } else {
            0
        };
        let t = self.tmut(task);
        let old = match t.declines.iter_mut().find(|d| d.0 == slot) {
            Some(d) => Some(std::mem::replace(d, (slot, until, n))),
            None => {
                t.declines.push((slot, until, n));
                None
            }
        };
        if let Some((_, at, n)) = old {
            self.timers
                .remove(&(at, n, TimerKind::Backoff { task, seq, slot }));
        }
        self.drop_offer_from_task(task, offer, qreason);
    }

    pub(super) fn finish_task(&mut self, task: TaskId, slot: u32) {
        let channel = self.tref(task).channel;
        let a = self.arec(slot);
        a.work.retain(|&t| t != task);
        a.load[channel.index()] -= 1;
        self.finish_task_record(task, slot);
    }

    /// Removes a finished task (its capacity already released from the agent's load).
    pub(super) fn finish_task_record(&mut self, task: TaskId, slot: u32) {
        self.drop_task(task);
        self.counters.completed += 1;
        self.refresh_free(slot);
        self.dirty_agents.push(slot);
        let agent = self.agent_id(slot);
        self.effects.push_back(Effect::Completed { task, agent });
    }
}
