//! Read access: the configuration, catalog, counters and per-id lookups, and the visibility
//! calls (`explain`, snapshots) that say why a task waits.

use super::*;

impl<P: Scoring> Router<P> {
    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RouterConfig {
        &self.cfg
    }
    /// The name tables.
    #[must_use]
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    /// The name tables, to intern new skills, tags and tenants.
    pub fn catalog_mut(&mut self) -> &mut Catalog {
        &mut self.catalog
    }
    /// The latest time the router has seen.
    #[must_use]
    pub fn now(&self) -> Time {
        self.now
    }
    /// Lifetime counters.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// Number of live tasks (waiting, offered, in service or wrap-up).
    #[must_use]
    pub fn live_tasks(&self) -> usize {
        self.tasks.len()
    }
    /// Number of tasks waiting in queues.
    #[must_use]
    pub fn waiting_tasks(&self) -> usize {
        self.queues.iter().map(|q| q.waiting.len()).sum()
    }
    /// Number of registered agents.
    #[must_use]
    pub fn agent_count(&self) -> usize {
        self.agent_slot.len()
    }
    /// Number of queues created so far.
    #[must_use]
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }
    /// Number of outstanding offers.
    #[must_use]
    pub fn outstanding_offers(&self) -> usize {
        self.offers.len()
    }

    /// Where a live task is; `None` for unknown or finished tasks.
    #[must_use]
    pub fn task_state(&self, task: TaskId) -> Option<TaskState> {
        let t = self.tasks.get(&task)?;
        Some(match &t.phase {
            Phase::Waiting => TaskState::Waiting,
            Phase::Offered(o) => TaskState::Offered(o.clone()),
            Phase::InService(s) => TaskState::InService(self.agent_id(*s)),
            Phase::WrapUp(s, _, _) => TaskState::WrapUp(self.agent_id(*s)),
        })
    }

    /// The channel of a live task.
    #[must_use]
    pub fn task_channel(&self, task: TaskId) -> Option<Channel> {
        self.tasks.get(&task).map(|t| t.channel)
    }

    /// The id the next offer will get (offer ids run from 1 without gaps).
    #[must_use]
    pub fn next_offer_id(&self) -> u64 {
        self.next_offer
    }

    /// The queue a live task belongs to.
    #[must_use]
    pub fn task_queue(&self, task: TaskId) -> Option<QueueId> {
        self.tasks.get(&task).map(|t| QueueId(t.queue))
    }

    /// A live task's priority score at `now` (see [`crate::queue`]).
    #[must_use]
    pub fn task_priority_at(&self, task: TaskId, now: Time) -> Option<(u8, f64)> {
        let t = self.tasks.get(&task)?;
        let s = self.task_score(t, &self.queues[t.queue as usize].requirements);
        Some((
            t.key.class,
            self.cfg.priority.score_at(
                s,
                t.created_at.as_secs_f64(),
                sla_secs(t.sla_ms),
                now.as_secs_f64(),
            ),
        ))
    }

    /// An agent's state.
    #[must_use]
    pub fn agent_state(&self, agent: AgentId) -> Option<AgentState> {
        self.agent(agent).map(|a| a.state)
    }

    /// An agent's load on a channel (offers + in service + wrap-up).
    #[must_use]
    pub fn agent_load(&self, agent: AgentId, channel: Channel) -> Option<u16> {
        self.agent(agent).map(|a| a.load[channel.index()])
    }

    /// The agent and task of an outstanding offer.
    #[must_use]
    pub fn offer(&self, offer: OfferId) -> Option<(TaskId, AgentId, Time)> {
        self.offers
            .get(&offer)
            .map(|o| (o.task, self.agent_id(o.agent), o.expires_at))
    }

    /// Why the agent of an outstanding offer was chosen.
    #[must_use]
    pub fn explain_offer(&self, offer: OfferId) -> Option<&OfferReason> {
        self.offers.get(&offer).map(|o| &o.reason)
    }

    /// The next effect, if any.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// All pending effects, oldest first.
    pub fn drain_effects(&mut self) -> std::collections::vec_deque::Drain<'_, Effect> {
        self.effects.drain(..)
    }

    /// When [`Router::handle_timeout`] should next be called. May be earlier than necessary
    /// (a timer whose subject is gone), never later.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.first().map(|&(t, _, _)| t)
    }

    pub(super) fn agent(&self, id: AgentId) -> Option<&AgentRec> {
        self.agent_slot
            .get(&id)
            .and_then(|&s| self.agents[s as usize].as_ref())
    }

    pub(super) fn agent_id(&self, slot: u32) -> AgentId {
        self.agents[slot as usize]
            .as_ref()
            .map_or(AgentId(u64::MAX), |a| a.id)
    }

    pub(super) fn slot_of(&self, id: AgentId) -> Result<u32, RouterError> {
        self.agent_slot
            .get(&id)
            .copied()
            .ok_or(RouterError::UnknownAgent(id))
    }

    pub(super) fn arec(&mut self, slot: u32) -> &mut AgentRec {
        // Slots handed around internally always refer to live agents.
        match self.agents[slot as usize].as_mut() {
            Some(a) => a,
            None => unreachable!("internal slot {slot} refers to a removed agent"),
        }
    }

    pub(super) fn aref(&self, slot: u32) -> &AgentRec {
        match self.agents[slot as usize].as_ref() {
            Some(a) => a,
            None => unreachable!("internal slot {slot} refers to a removed agent"),
        }
    }

    pub(super) fn tref(&self, id: TaskId) -> &TaskRec {
        match self.tasks.get(&id) {
            Some(t) => t,
            None => unreachable!("internal task {id} is gone"),
        }
    }

    pub(super) fn tmut(&mut self, id: TaskId) -> &mut TaskRec {
        match self.tasks.get_mut(&id) {
            Some(t) => t,
            None => unreachable!("internal task {id} is gone"),
        }
    }

    /// Can `agent` take `task` right now, and if not, why not? Works for tasks in any state;
    /// availability reasons reflect the agent's current presence and load.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::UnknownAgent`].
    pub fn explain(&self, task: TaskId, agent: AgentId) -> Result<Explanation, RouterError> {
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        let slot = self.slot_of(agent)?;
        let a = self.aref(slot);
        let q = &self.queues[t.queue as usize];
        let mut reasons = Vec::new();
        for r in &q.requirements.skills {
            match a.level(r.skill) {
                None => reasons.push(Ineligible::MissingSkill { skill: r.skill }),
                Some(l) if l < r.min_level => reasons.push(Ineligible::LevelTooLow {
                    skill: r.skill,
                    have: l,
                    need: r.min_level,
                }),
                Some(_) => {}
            }
        }
        for &tag in &q.requirements.tags {
            if a.tags.binary_search(&tag).is_err() {
                reasons.push(Ineligible::MissingTag { tag });
            }
        }
        if let Some(tenant) = q.cert_tenant
            && a.certs.binary_search(&tenant).is_err()
        {
            reasons.push(Ineligible::NotCertified { tenant });
        }
        if a.state != AgentState::Available {
            reasons.push(Ineligible::NotAvailable { state: a.state });
        }
        let c = t.channel;
        if a.load[c.index()] >= a.capacity.get(c) {
            reasons.push(Ineligible::AtCapacity {
                channel: c,
                load: a.load[c.index()],
                capacity: a.capacity.get(c),
            });
        }
        if let Some(until) = t.backoff_until(slot).filter(|&u| u > self.now) {
            reasons.push(Ineligible::DeclinedRecently { until });
        }
        let score = self.scoring.match_score(
            &a.view(),
            &self.task_view(t, &q.requirements),
            &self.cfg.scoring,
        );
        Ok(Explanation {
            agent,
            reasons,
            score,
            declined_before: t.backoff_until(slot).is_some(),
        })
    }

    /// A real-time view of queues and agents at `now` (used for ages; does not change state).
    #[must_use]
    pub fn snapshot(&self, now: Time) -> Snapshot {
        let mut queues = Vec::new();
        for q in &self.queues {
            if q.waiting.is_empty() {
                continue;
            }
            let oldest = q
                .waiting
                .values()
                .map(|t| now.millis_since(self.tref(*t).created_at))
                .max()
                .unwrap_or(0);
            let mut free = 0;
            and_ones(&q.eligible, &self.free[q.channel.index()], |_| {
                free += 1;
                true
            });
            queues.push(QueueSnapshot {
                queue: q.id,
                channel: q.channel,
                waiting: q.waiting.len(),
                oldest_wait_ms: oldest,
                eligible_agents: q.eligible.count_ones(..),
                eligible_free: free,
            });
        }
        let agents = self
            .agents
            .iter()
            .flatten()
            .map(|a| AgentSnapshot {
                agent: a.id,
                state: a.state,
                load: a.load,
                capacity: a.capacity.0,
                offers: a.offers.len(),
                idle_ms: now.millis_since(self.idle_key(a)),
            })
            .collect();
        let mut counts = [0usize; 4];
        for t in self.tasks.values() {
            counts[match t.phase {
                Phase::Waiting => 0,
                Phase::Offered(_) => 1,
                Phase::InService(_) => 2,
                Phase::WrapUp(..) => 3,
            }] += 1;
        }
        Snapshot {
            at: now,
            queues,
            agents,
            tasks_waiting: counts[0],
            tasks_offered: counts[1],
            tasks_in_service: counts[2],
            tasks_wrap_up: counts[3],
        }
    }
}
