//! The naive router's calls: agents, tasks and timers.

use super::*;

impl<P: Scoring> NaiveRouter<P> {
    /// Registers an agent. See [`Router::add_agent`](crate::Router::add_agent).
    ///
    /// # Errors
    /// As [`Router::add_agent`](crate::Router::add_agent).
    pub fn add_agent(&mut self, now: Time, spec: AgentSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        if self.find_agent(spec.id).is_some() {
            return Err(RouterError::DuplicateAgent(spec.id));
        }
        self.check_agent_spec(&spec)?;
        if u32::try_from(self.agents.len()).is_err() {
            return Err(RouterError::InvalidConfig {
                path: "agents",
                problem: "more than u32::MAX agents registered".into(),
            });
        }
        self.now = now;
        let mut agent = NaiveAgent {
            id: spec.id,
            kind: spec.kind,
            skills: HashMap::new(),
            tags: HashSet::new(),
            certs: HashSet::new(),
            capacity: spec.capacity,
            load: [0; Channel::COUNT],
            state: spec.state,
            idle_since: now,
            missed: 0,
            offers: Vec::new(),
            work: Vec::new(),
            removed: false,
        };
        Self::set_profile(&mut agent, &spec);
        self.agents.push(agent);
        self.match_all();
        Ok(())
    }

    pub(super) fn set_profile(agent: &mut NaiveAgent, spec: &AgentSpec) {
        agent.skills.clear();
        for &(s, l) in &spec.skills {
            let e = agent.skills.entry(s).or_insert(l);
            *e = (*e).max(l);
        }
        agent.tags = spec.tags.iter().copied().collect();
        agent.certs = spec.certifications.iter().copied().collect();
        agent.kind = spec.kind;
        agent.capacity = spec.capacity;
    }

    /// Changes an agent's profile. See [`Router::update_agent`](crate::Router::update_agent).
    ///
    /// # Errors
    /// As [`Router::update_agent`](crate::Router::update_agent).
    pub fn update_agent(&mut self, now: Time, spec: AgentSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(spec.id)?;
        self.check_agent_spec(&spec)?;
        let load = self.agents[slot as usize].load;
        for c in Channel::ALL {
            if spec.capacity.get(c) < load[c.index()] {
                return Err(RouterError::CapacityBelowLoad {
                    agent: spec.id,
                    channel: c,
                    capacity: spec.capacity.get(c),
                    load: load[c.index()],
                });
            }
        }
        self.now = now;
        Self::set_profile(&mut self.agents[slot as usize], &spec);
        let stale: Vec<OfferId> = self.agents[slot as usize]
            .offers
            .iter()
            .copied()
            .filter(|o| {
                self.offers.get(o).is_some_and(|rec| {
                    self.tasks.get(&rec.task).is_some_and(|t| {
                        !self.agents[slot as usize]
                            .meets(&self.queues[t.queue as usize], &self.catalog)
                    })
                })
            })
            .collect();
        for o in stale {
            self.withdraw_offer(o, RescindReason::NoLongerEligible, QueueReason::Rescinded);
        }
        self.match_all();
        Ok(())
    }

    /// Changes an agent's presence. See [`Router::set_agent_state`](crate::Router::set_agent_state).
    ///
    /// # Errors
    /// As [`Router::set_agent_state`](crate::Router::set_agent_state).
    pub fn set_agent_state(
        &mut self,
        now: Time,
        agent: AgentId,
        state: AgentState,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(agent)?;
        self.now = now;
        self.change_state(slot, state);
        self.match_all();
        Ok(())
    }

    pub(super) fn change_state(&mut self, slot: u32, state: AgentState) {
        let old = self.agents[slot as usize].state;
        if old == state {
            return;
        }
        self.agents[slot as usize].state = state;
        if old == AgentState::Available {
            for o in self.agents[slot as usize].offers.clone() {
                self.withdraw_offer(o, RescindReason::AgentUnavailable, QueueReason::Rescinded);
            }
        }
        if state == AgentState::Offline {
            for t in std::mem::take(&mut self.agents[slot as usize].work) {
                let Some(task) = self.tasks.get(&t) else {
                    continue;
                };
                let (channel, in_wrap_up) =
                    (task.channel, matches!(task.phase, NaivePhase::WrapUp(..)));
                self.agents[slot as usize].load[channel.index()] -= 1;
                if in_wrap_up {
                    self.finish_record(t, slot);
                } else {
                    self.requeue(t, QueueReason::AgentOffline);
                }
            }
        }
        if state == AgentState::Available {
            let now = self.now;
            let a = &mut self.agents[slot as usize];
            a.idle_since = now;
            a.missed = 0;
        }
    }

    /// Removes an agent. See [`Router::remove_agent`](crate::Router::remove_agent).
    ///
    /// # Errors
    /// As [`Router::remove_agent`](crate::Router::remove_agent).
    pub fn remove_agent(&mut self, now: Time, agent: AgentId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(agent)?;
        self.now = now;
        self.change_state(slot, AgentState::Offline);
        self.agents[slot as usize].removed = true;
        self.match_all();
        Ok(())
    }

    /// A task arrives. See [`Router::arrive`](crate::Router::arrive).
    ///
    /// # Errors
    /// As [`Router::arrive`](crate::Router::arrive).
    pub fn arrive(&mut self, now: Time, spec: TaskSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        if self.tasks.contains_key(&spec.id) {
            return Err(RouterError::DuplicateTask(spec.id));
        }
        self.check_tenant(spec.tenant)?;
        self.check_requirements(&spec.requirements)?;
        for &(s, w) in &spec.preferences.skills {
            self.check_skill(s)?;
            Self::check_number("preferences.skills weight", w)?;
        }
        for &(t, w) in &spec.preferences.tags {
            self.check_tag(t)?;
            Self::check_number("preferences.tags weight", w)?;
        }
        Self::check_customer(&spec.customer, &spec.priority)?;
        if spec.fanout == Some(0) {
            return Err(RouterError::InvalidConfig {
                path: "task.fanout",
                problem: "must be at least 1".into(),
            });
        }
        let created_at = spec.created_at.unwrap_or(now);
        if created_at > now {
            #[allow(clippy::cast_precision_loss)]
            return Err(RouterError::InvalidNumber {
                field: "created_at (in the future)",
                value: created_at.as_millis() as f64,
            });
        }
        let reqs = spec.requirements.canonical();
        let sla_ms = spec.sla_ms.unwrap_or(self.cfg.default_sla_ms);
        let mut task = NaiveTask {
            tenant: spec.tenant,
            channel: spec.channel,
            queue: 0,
            key: OrderKey {
                class: 0,
                key: ordered_float::NotNan::default(),
                seq: 0,
            },
            created_at,
            preferences: spec.preferences,
            customer: spec.customer,
            priority: spec.priority,
            sla_ms,
            strategy: spec.strategy.unwrap_or(self.cfg.default_strategy),
            fanout: spec.fanout.unwrap_or(self.cfg.default_fanout),
            phase: NaivePhase::Waiting,
            declines: Vec::new(),
            max_wait: None,
        };
        let score = self.task_score(&task, &reqs);
        task.key = self.make_key(
            score,
            created_at,
            sla_ms,
            spec.priority.class,
            self.next_seq,
        )?;
        // Validated: mutate from here on.
        self.now = now;
        self.next_seq += 1;
        task.queue = self.queue_for(spec.channel, spec.tenant, reqs);
        if let Some(max) = spec.max_wait_ms {
            task.max_wait = Some((created_at.plus_millis(max), self.new_timer()));
        }
        self.tasks.insert(spec.id, task);
        self.counters.arrived += 1;
        self.requeue(spec.id, QueueReason::Arrived);
        self.match_all();
        Ok(())
    }

    pub(super) fn check_answer(
        &self,
        now: Time,
        offer: OfferId,
        agent: AgentId,
    ) -> Result<u32, RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(agent)?;
        let rec = self
            .offers
            .get(&offer)
            .ok_or(RouterError::UnknownOffer(offer))?;
        if rec.slot != slot {
            return Err(RouterError::WrongAgent {
                offer,
                expected: self.agent_id(rec.slot),
                got: agent,
            });
        }
        if now >= rec.expires_at {
            return Err(RouterError::OfferExpired {
                offer,
                expired_at: rec.expires_at,
                now,
            });
        }
        Ok(slot)
    }

    /// The agent accepts an offer. See [`Router::accept`](crate::Router::accept).
    ///
    /// # Errors
    /// As [`Router::accept`](crate::Router::accept).
    pub fn accept(&mut self, now: Time, offer: OfferId, agent: AgentId) -> Result<(), RouterError> {
        let slot = self.check_answer(now, offer, agent)?;
        self.now = now;
        let Some(rec) = self.offers.remove(&offer) else {
            return Err(RouterError::UnknownOffer(offer));
        };
        let task = rec.task;
        let others: Vec<OfferId> = self
            .offers
            .iter()
            .filter(|(_, o)| o.task == task)
            .map(|(&id, _)| id)
            .collect();
        for o in others {
            self.rescind(o, RescindReason::TakenByOther);
        }
        if let Some(t) = self.tasks.get_mut(&task) {
            t.phase = NaivePhase::InService(slot);
        }
        let a = &mut self.agents[slot as usize];
        a.offers.retain(|&o| o != offer);
        a.work.push(task);
        a.idle_since = now;
        a.missed = 0;
        self.effects
            .push_back(Effect::Assigned { task, agent, offer });
        self.match_all();
        Ok(())
    }

    /// The agent rejects an offer. See [`Router::reject`](crate::Router::reject).
    ///
    /// # Errors
    /// As [`Router::accept`](crate::Router::accept).
    pub fn reject(&mut self, now: Time, offer: OfferId, agent: AgentId) -> Result<(), RouterError> {
        self.check_answer(now, offer, agent)?;
        self.now = now;
        self.counters.rejected += 1;
        self.decline(offer, QueueReason::Rejected);
        self.match_all();
        Ok(())
    }

    /// Service ends. See [`Router::complete`](crate::Router::complete).
    ///
    /// # Errors
    /// As [`Router::complete`](crate::Router::complete).
    pub fn complete(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        let NaivePhase::InService(slot) = t.phase else {
            return Err(invalid_state(task, &t.phase, "complete"));
        };
        self.now = now;
        if self.cfg.wrap_up_ms == 0 {
            self.finish_task(task, slot);
        } else {
            let until = now.plus_millis(self.cfg.wrap_up_ms);
            let timer = self.new_timer();
            if let Some(t) = self.tasks.get_mut(&task) {
                t.phase = NaivePhase::WrapUp(slot, until, timer);
            }
            let agent = self.agent_id(slot);
            self.effects
                .push_back(Effect::WrapUpStarted { task, agent, until });
        }
        self.match_all();
        Ok(())
    }

    /// Ends wrap-up early. See [`Router::finish_wrap_up`](crate::Router::finish_wrap_up).
    ///
    /// # Errors
    /// As [`Router::finish_wrap_up`](crate::Router::finish_wrap_up).
    pub fn finish_wrap_up(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        let NaivePhase::WrapUp(slot, _, _) = t.phase else {
            return Err(invalid_state(task, &t.phase, "finish wrap-up"));
        };
        self.now = now;
        self.finish_task(task, slot);
        self.match_all();
        Ok(())
    }

    /// The host cancels a waiting or offered task. See [`Router::cancel`](crate::Router::cancel).
    ///
    /// # Errors
    /// As [`Router::cancel`](crate::Router::cancel).
    pub fn cancel(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.end_unserved(now, task, RescindReason::Cancelled, "cancel")?;
        self.counters.cancelled += 1;
        self.effects.push_back(Effect::Cancelled { task });
        self.match_all();
        Ok(())
    }

    /// The customer gives up. See [`Router::abandon`](crate::Router::abandon).
    ///
    /// # Errors
    /// As [`Router::abandon`](crate::Router::abandon).
    pub fn abandon(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.end_unserved(now, task, RescindReason::Abandoned, "abandon")?;
        self.counters.abandoned += 1;
        self.effects.push_back(Effect::Abandoned { task });
        self.match_all();
        Ok(())
    }

    pub(super) fn end_unserved(
        &mut self,
        now: Time,
        task: TaskId,
        why: RescindReason,
        op: &'static str,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        if !matches!(t.phase, NaivePhase::Waiting | NaivePhase::Offered(_)) {
            return Err(invalid_state(task, &t.phase, op));
        }
        self.now = now;
        self.unplace(task, why);
        self.tasks.remove(&task);
        Ok(())
    }

    /// Moves a task to another channel and requirement set. See
    /// [`Router::transfer`](crate::Router::transfer).
    ///
    /// # Errors
    /// As [`Router::transfer`](crate::Router::transfer).
    pub fn transfer(
        &mut self,
        now: Time,
        task: TaskId,
        channel: Channel,
        requirements: Requirements,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        if matches!(t.phase, NaivePhase::WrapUp(..)) {
            return Err(invalid_state(task, &t.phase, "transfer"));
        }
        self.check_requirements(&requirements)?;
        let tenant = t.tenant;
        self.now = now;
        self.unplace(task, RescindReason::Transferred);
        let q = self.queue_for(channel, tenant, requirements.canonical());
        if let Some(t) = self.tasks.get_mut(&task) {
            t.queue = q;
            t.channel = channel;
        }
        self.requeue(task, QueueReason::Transferred);
        self.match_all();
        Ok(())
    }

    /// Gives a waiting task a new target. See [`Router::retarget`](crate::Router::retarget).
    ///
    /// # Errors
    /// As [`Router::retarget`](crate::Router::retarget).
    pub fn retarget(
        &mut self,
        now: Time,
        task: TaskId,
        target: crate::Retarget,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        if t.phase != NaivePhase::Waiting {
            return Err(invalid_state(task, &t.phase, "retarget"));
        }
        self.check_requirements(&target.requirements)?;
        if let Some(p) = &target.preferences {
            for &(s, w) in &p.skills {
                self.check_skill(s)?;
                Self::check_number("preferences.skills weight", w)?;
            }
            for &(tag, w) in &p.tags {
                self.check_tag(tag)?;
                Self::check_number("preferences.tags weight", w)?;
            }
        }
        let priority = target.priority.unwrap_or(t.priority);
        Self::check_number("priority.base", priority.base)?;
        let reqs = target.requirements.canonical();
        let mut probe = t.clone();
        probe.priority = priority;
        if let Some(p) = &target.preferences {
            probe.preferences = p.clone();
        }
        let score = self.task_score(&probe, &reqs);
        let key = self.make_key(score, t.created_at, t.sla_ms, priority.class, t.key.seq)?;
        self.now = now;
        let (tenant, channel) = (t.tenant, t.channel);
        let q = self.queue_for(channel, tenant, reqs);
        self.waiting.retain(|&(_, id)| id != task);
        if let Some(t) = self.tasks.get_mut(&task) {
            t.queue = q;
            t.key = key;
            t.priority = priority;
            t.preferences = probe.preferences;
            if let Some(s) = target.strategy {
                t.strategy = s;
            }
        }
        self.insert_waiting(key, task);
        self.effects.push_back(Effect::Queued {
            task,
            queue: QueueId(q),
            reason: QueueReason::Retargeted,
        });
        self.match_all();
        Ok(())
    }

    /// Replaces the tenant shares. See [`Router::set_shares`](crate::Router::set_shares).
    ///
    /// # Errors
    /// As [`Router::set_shares`](crate::Router::set_shares).
    pub fn set_shares(
        &mut self,
        now: Time,
        shares: Vec<crate::TenantShare>,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        for s in &shares {
            if (s.tenant.0 as usize) >= self.catalog.tenant_count() {
                return Err(RouterError::UnknownName {
                    kind: "tenant",
                    id: s.tenant.0,
                });
            }
        }
        let cfg = RouterConfig {
            shares,
            ..self.cfg.clone()
        };
        cfg.validate()?;
        self.now = now;
        let refile = cfg.shares.is_empty() != self.cfg.shares.is_empty();
        self.cfg = cfg;
        if refile {
            let mut order: Vec<(u64, TaskId)> =
                self.tasks.iter().map(|(&id, t)| (t.key.seq, id)).collect();
            order.sort_unstable();
            for (_, id) in order {
                let Some(t) = self.tasks.get(&id) else {
                    continue;
                };
                let (channel, tenant) = (t.channel, t.tenant);
                let reqs = self.queues[t.queue as usize].requirements.clone();
                let q = self.queue_for(channel, tenant, reqs);
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.queue = q;
                }
            }
        }
        self.match_all();
        Ok(())
    }

    /// Changes a live task's priority and customer profile. See
    /// [`Router::reprioritize`](crate::Router::reprioritize).
    ///
    /// # Errors
    /// As [`Router::reprioritize`](crate::Router::reprioritize).
    pub fn reprioritize(
        &mut self,
        now: Time,
        task: TaskId,
        priority: Priority,
        customer: CustomerProfile,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        Self::check_customer(&customer, &priority)?;
        let mut probe = t.clone();
        probe.priority = priority;
        probe.customer = customer;
        let score = self.task_score(&probe, &self.queues[t.queue as usize].requirements);
        let key = self.make_key(score, t.created_at, t.sla_ms, priority.class, t.key.seq)?;
        self.now = now;
        let waiting = t.phase == NaivePhase::Waiting;
        if waiting {
            self.waiting.retain(|&(_, id)| id != task);
            self.insert_waiting(key, task);
        }
        if let Some(t) = self.tasks.get_mut(&task) {
            t.key = key;
            t.priority = priority;
            t.customer = customer;
        }
        self.match_all();
        Ok(())
    }

    /// The earliest pending timer: (time, creation sequence, what).
    pub(super) fn next_due(&self) -> Option<(Time, u64, Due)> {
        let mut best: Option<(Time, u64, Due)> = None;
        let mut consider = |at: Time, seq: u64, due: Due| {
            if best.is_none_or(|(bt, bs, _)| (at, seq) < (bt, bs)) {
                best = Some((at, seq, due));
            }
        };
        for (&id, o) in &self.offers {
            consider(o.expires_at, o.timer, Due::Offer(id));
        }
        for (&id, t) in &self.tasks {
            for d in &t.declines {
                if let Some(seq) = d.timer {
                    consider(d.until, seq, Due::Backoff(id, d.slot));
                }
            }
            if let NaivePhase::WrapUp(_, until, seq) = t.phase {
                consider(until, seq, Due::WrapUp(id));
            }
            if let Some((at, seq)) = t.max_wait {
                consider(at, seq, Due::MaxWait(id));
            }
        }
        best
    }

    /// Fires every timer due at or before `now`, one at a time in (time, creation) order, and
    /// applies the matching rule after each. See
    /// [`Router::handle_timeout`](crate::Router::handle_timeout).
    ///
    /// # Errors
    /// [`RouterError::TimeWentBackwards`].
    pub fn handle_timeout(&mut self, now: Time) -> Result<(), RouterError> {
        self.check_time(now)?;
        self.now = now;
        while let Some((at, _, due)) = self.next_due() {
            if at > now {
                break;
            }
            self.fire(due);
            self.match_all();
        }
        self.match_all();
        Ok(())
    }

    pub(super) fn fire(&mut self, due: Due) {
        match due {
            Due::Offer(o) => {
                let Some(rec) = self.offers.get(&o) else {
                    return;
                };
                let (task, slot) = (rec.task, rec.slot);
                let agent = self.agent_id(slot);
                self.effects.push_back(Effect::OfferExpired {
                    offer: o,
                    task,
                    agent,
                });
                self.counters.expired += 1;
                self.decline(o, QueueReason::Expired);
                let max = self.cfg.max_missed_offers;
                let a = &mut self.agents[slot as usize];
                a.missed += 1;
                if max.is_some_and(|m| a.missed >= m) && a.state == AgentState::Available {
                    self.change_state(slot, AgentState::Away);
                    self.effects.push_back(Effect::AgentAutoAway { agent });
                }
            }
            Due::Backoff(task, slot) => {
                // A back-off end only makes the agent eligible again; the matching rule that
                // runs after every timer does the rest.
                if let Some(t) = self.tasks.get_mut(&task) {
                    for d in &mut t.declines {
                        if d.slot == slot {
                            d.timer = None;
                        }
                    }
                }
            }
            Due::WrapUp(task) => {
                if let Some(&NaivePhase::WrapUp(slot, _, _)) =
                    self.tasks.get(&task).map(|t| &t.phase)
                {
                    self.finish_task(task, slot);
                }
            }
            Due::MaxWait(task) => {
                let Some(t) = self.tasks.get_mut(&task) else {
                    return;
                };
                t.max_wait = None;
                if matches!(t.phase, NaivePhase::Waiting | NaivePhase::Offered(_)) {
                    self.unplace(task, RescindReason::TimedOut);
                    self.tasks.remove(&task);
                    self.counters.timed_out += 1;
                    self.effects.push_back(Effect::TimedOut { task });
                }
            }
        }
    }
}
