//! The task calls: arrival, the answers to offers (accept, reject), completion, wrap-up,
//! cancellation, abandonment, transfer, reprioritisation, retargeting, tenant shares, and the
//! timers (`poll_timeout`, `handle_timeout`).

use super::*;

impl<P: Scoring> Router<P> {
    /// A task arrives. It joins the queue for its channel and requirements and is offered at once
    /// if a free, eligible agent exists.
    ///
    /// # Errors
    /// [`RouterError::DuplicateTask`], [`RouterError::UnknownName`], [`RouterError::InvalidLevel`],
    /// [`RouterError::InvalidNumber`] (NaN/infinite scores or weights, sentiment outside
    /// `[-1, 1]`, `created_at` in the future), [`RouterError::InvalidConfig`] (fan-out 0),
    /// [`RouterError::TimeWentBackwards`].
    pub fn arrive(&mut self, now: Time, spec: TaskSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        if self.tasks.contains_key(&spec.id) {
            return Err(RouterError::DuplicateTask(spec.id));
        }
        self.check_tenant(spec.tenant)?;
        self.check_requirements(&spec.requirements)?;
        self.check_preferences(&spec.preferences)?;
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
        let mut reqs = spec.requirements;
        reqs.canonicalize();
        let sla_ms = spec.sla_ms.unwrap_or(self.cfg.default_sla_ms);
        let mut rec = TaskRec {
            tenant: spec.tenant,
            channel: spec.channel,
            queue: 0,
            key: OrderKey {
                class: 0,
                key: ordered_float::NotNan::default(),
                seq: 0,
            },
            created_at,
            preferences: (spec.preferences != Preferences::default())
                .then(|| Box::new(spec.preferences)),
            sentiment: spec.customer.sentiment,
            base: spec.priority.base,
            value_tier: spec.customer.value_tier,
            sla_ms,
            strategy: spec.strategy.unwrap_or(self.cfg.default_strategy),
            fanout: spec.fanout.unwrap_or(self.cfg.default_fanout),
            phase: Phase::Waiting,
            declines: thin_vec::ThinVec::new(),
            max_wait_timer: (Time::ZERO, 0),
        };
        let score = self.task_score(&rec, &reqs);
        let seq = self.next_seq;
        rec.key = self.make_key(score, created_at, sla_ms, spec.priority.class, seq)?;
        // ---- validated: mutate from here on.
        self.now = now;
        self.next_seq += 1;
        rec.queue = self.get_or_create_queue(spec.channel, spec.tenant, reqs);
        if let Some(max) = spec.max_wait_ms {
            let at = created_at.plus_millis(max);
            let n = self.push_timer(at, TimerKind::MaxWait { task: spec.id, seq });
            rec.max_wait_timer = (at, n);
        }
        let (q, key) = (rec.queue, rec.key);
        self.tasks.insert(spec.id, rec);
        self.counters.arrived += 1;
        self.effects.push_back(Effect::Queued {
            task: spec.id,
            queue: QueueId(q),
            reason: QueueReason::Arrived,
        });
        self.collect_ended_backoffs();
        if self.cfg.dispatch == crate::Dispatch::Batched {
            self.queue_insert(q, key, spec.id);
            self.dirty_tasks.clear();
        } else if self.dirty_tasks.is_empty() && self.dirty_agents.is_empty() {
            // Nothing else is pending, so this task is the only one that can be matched: try it
            // before filing it in its queue.
            if !self.offer_task_from(spec.id, false) {
                self.queue_insert(q, key, spec.id);
            }
        } else {
            self.queue_insert(q, key, spec.id);
            self.dirty_tasks.push(spec.id);
            self.run_matching();
        }
        Ok(())
    }

    /// The agent accepts an offer: the task goes into service; any other offers for it
    /// (fan-out) are rescinded.
    ///
    /// # Errors
    /// [`RouterError::UnknownOffer`] (never made, already answered, rescinded or expired),
    /// [`RouterError::WrongAgent`], [`RouterError::OfferExpired`] (answer at or after the lease
    /// end, even if [`Router::handle_timeout`] has not run yet), [`RouterError::UnknownAgent`],
    /// [`RouterError::TimeWentBackwards`].
    pub fn accept(&mut self, now: Time, offer: OfferId, agent: AgentId) -> Result<(), RouterError> {
        let slot = self.check_answer(now, offer, agent)?;
        self.now = now;
        let Some(rec) = self.offers.remove(&offer) else {
            return Err(RouterError::UnknownOffer(offer));
        };
        self.timers
            .remove(&(rec.expires_at, rec.timer, TimerKind::OfferExpiry(offer)));
        let task = rec.task;
        let others: Vec<OfferId> = match &self.tref(task).phase {
            Phase::Offered(list) => list.iter().copied().filter(|&o| o != offer).collect(),
            _ => Vec::new(),
        };
        for o in others {
            self.rescind(o, RescindReason::TakenByOther);
        }
        self.tmut(task).phase = Phase::InService(slot);
        let a = self.arec(slot);
        a.offers.retain(|&o| o != offer);
        a.work.push(task);
        a.idle_since = now;
        a.missed = 0;
        self.refresh_free(slot);
        self.effects
            .push_back(Effect::Assigned { task, agent, offer });
        self.run_matching();
        Ok(())
    }

    /// The agent rejects an offer. The task returns to its old place and is offered to the next
    /// best agent; this agent is kept from it for `decline_backoff_ms`.
    ///
    /// # Errors
    /// As [`Router::accept`].
    pub fn reject(&mut self, now: Time, offer: OfferId, agent: AgentId) -> Result<(), RouterError> {
        self.check_answer(now, offer, agent)?;
        self.now = now;
        self.counters.rejected += 1;
        self.decline(offer, QueueReason::Rejected);
        self.run_matching();
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
        if rec.agent != slot {
            return Err(RouterError::WrongAgent {
                offer,
                expected: self.agent_id(rec.agent),
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

    /// Service ends. With `wrap_up_ms = 0` the task is done at once; otherwise the agent's
    /// capacity is held for wrap-up.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidTaskState`] unless in service,
    /// [`RouterError::TimeWentBackwards`].
    pub fn complete(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        let Phase::InService(slot) = t.phase else {
            return Err(invalid_state(task, &t.phase, "complete"));
        };
        let seq = t.key.seq;
        self.now = now;
        if self.cfg.wrap_up_ms == 0 {
            self.finish_task(task, slot);
        } else {
            let until = now.plus_millis(self.cfg.wrap_up_ms);
            let n = self.push_timer(until, TimerKind::WrapUpEnd { task, seq });
            self.tmut(task).phase = Phase::WrapUp(slot, until, n);
            let agent = self.agent_id(slot);
            self.effects
                .push_back(Effect::WrapUpStarted { task, agent, until });
        }
        self.run_matching();
        Ok(())
    }

    /// Ends wrap-up early: the task is done and the capacity freed.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidTaskState`] unless in wrap-up,
    /// [`RouterError::TimeWentBackwards`].
    pub fn finish_wrap_up(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let t = self
            .tasks
            .get(&task)
            .ok_or(RouterError::UnknownTask(task))?;
        let Phase::WrapUp(slot, _, _) = t.phase else {
            return Err(invalid_state(task, &t.phase, "finish wrap-up"));
        };
        self.now = now;
        self.finish_task(task, slot);
        self.run_matching();
        Ok(())
    }

    /// The host cancels a task that is waiting or offered.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidTaskState`] once in service
    /// (complete it instead), [`RouterError::TimeWentBackwards`].
    pub fn cancel(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.end_unserved(now, task, RescindReason::Cancelled, "cancel")?;
        self.counters.cancelled += 1;
        self.effects.push_back(Effect::Cancelled { task });
        self.run_matching();
        Ok(())
    }

    /// The customer gives up while waiting or while offered.
    ///
    /// # Errors
    /// As [`Router::cancel`].
    pub fn abandon(&mut self, now: Time, task: TaskId) -> Result<(), RouterError> {
        self.end_unserved(now, task, RescindReason::Abandoned, "abandon")?;
        self.counters.abandoned += 1;
        self.effects.push_back(Effect::Abandoned { task });
        self.run_matching();
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
        if !matches!(t.phase, Phase::Waiting | Phase::Offered(_)) {
            return Err(invalid_state(task, &t.phase, op));
        }
        self.now = now;
        self.unplace(task, why);
        self.drop_task(task);
        Ok(())
    }

    /// Moves a task that is waiting, offered or in service to another channel and requirement set
    /// (another queue). It keeps its age and priority; an agent serving it is freed.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidTaskState`] in wrap-up,
    /// [`RouterError::UnknownName`], [`RouterError::InvalidLevel`],
    /// [`RouterError::TimeWentBackwards`].
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
        if matches!(t.phase, Phase::WrapUp(..)) {
            return Err(invalid_state(task, &t.phase, "transfer"));
        }
        self.check_requirements(&requirements)?;
        self.now = now;
        let tenant = t.tenant;
        self.unplace(task, RescindReason::Transferred);
        let q = self.get_or_create_queue(channel, tenant, requirements.canonical());
        let t = self.tmut(task);
        t.queue = q;
        t.channel = channel;
        self.requeue(task, QueueReason::Transferred);
        self.run_matching();
        Ok(())
    }

    /// Changes a live task's priority and customer profile (e.g. a sentiment update). A waiting
    /// task moves to its new place in `O(log n)`; its age and arrival sequence are kept.
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidNumber`],
    /// [`RouterError::TimeWentBackwards`].
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
        probe.base = priority.base;
        probe.sentiment = customer.sentiment;
        probe.value_tier = customer.value_tier;
        probe.key.class = priority.class;
        let score = self.task_score(&probe, &self.queues[t.queue as usize].requirements);
        let key = self.make_key(score, t.created_at, t.sla_ms, priority.class, t.key.seq)?;
        self.now = now;
        let (old, q, waiting) = (t.key, t.queue, t.phase == Phase::Waiting);
        if waiting {
            let queue = &mut self.queues[q as usize];
            queue.waiting.remove(&old);
            queue.waiting.insert(key, task);
            // Still non-empty: the task is back in the same queue.
        }
        let t = self.tmut(task);
        t.key = key;
        t.base = priority.base;
        t.sentiment = customer.sentiment;
        t.value_tier = customer.value_tier;
        self.run_matching();
        Ok(())
    }

    /// Gives a **waiting** task a new target in one step: requirements (and so queue), and
    /// optionally strategy, priority and preferences. It keeps its channel, tenant, age, arrival
    /// sequence and decline back-offs, so it keeps its place in line relative to tasks of equal
    /// priority. This is how [workflow](crate::workflow) steps widen and exception rules move
    /// tasks; it never disturbs an outstanding offer (the task must be waiting).
    ///
    /// # Errors
    /// [`RouterError::UnknownTask`], [`RouterError::InvalidTaskState`] unless waiting,
    /// [`RouterError::UnknownName`], [`RouterError::InvalidLevel`],
    /// [`RouterError::InvalidNumber`], [`RouterError::TimeWentBackwards`]. Nothing changes on
    /// error.
    ///
    /// # Example
    /// ```
    /// use switchboard::*;
    /// let mut r = Router::new(RouterConfig::default()).unwrap();
    /// let acme = r.catalog_mut().tenant("acme");
    /// let vip = r.catalog_mut().tag("vip");
    /// r.add_agent(Time::ZERO, AgentSpec::new(AgentId(1)).capacity(Channel::Chat, 1)
    ///     .state(AgentState::Available)).unwrap();
    /// // Nobody is tagged vip: the task waits.
    /// r.arrive(Time::ZERO, TaskSpec::new(TaskId(1), acme, Channel::Chat)
    ///     .requires(Requirements::default().tag(vip))).unwrap();
    /// assert_eq!(r.task_state(TaskId(1)), Some(TaskState::Waiting));
    /// // Widen: anyone may take it now.
    /// r.retarget(Time::from_secs(30), TaskId(1), Retarget::new(Requirements::default())).unwrap();
    /// assert!(matches!(r.task_state(TaskId(1)), Some(TaskState::Offered(_))));
    /// ```
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
        if t.phase != Phase::Waiting {
            return Err(invalid_state(task, &t.phase, "retarget"));
        }
        self.check_requirements(&target.requirements)?;
        if let Some(p) = &target.preferences {
            self.check_preferences(p)?;
        }
        let priority = target.priority.unwrap_or(t.priority());
        Self::check_number("priority.base", priority.base)?;
        let mut reqs = target.requirements;
        reqs.canonicalize();
        let mut probe = t.clone();
        probe.base = priority.base;
        probe.key.class = priority.class;
        if let Some(p) = &target.preferences {
            probe.preferences = (*p != Preferences::default()).then(|| Box::new(p.clone()));
        }
        let score = self.task_score(&probe, &reqs);
        let key = self.make_key(score, t.created_at, t.sla_ms, priority.class, t.key.seq)?;
        // ---- validated: mutate from here on.
        self.now = now;
        let (old_q, old_key, tenant, channel) = (t.queue, t.key, t.tenant, t.channel);
        self.queue_remove(old_q, old_key);
        let q = self.get_or_create_queue(channel, tenant, reqs);
        let t = self.tmut(task);
        t.queue = q;
        t.key = key;
        t.base = priority.base;
        t.preferences = probe.preferences;
        if let Some(s) = target.strategy {
            t.strategy = s;
        }
        self.queue_insert(q, key, task);
        self.effects.push_back(Effect::Queued {
            task,
            queue: QueueId(q),
            reason: QueueReason::Retargeted,
        });
        self.dirty_tasks.push(task);
        self.run_matching();
        Ok(())
    }

    /// Replaces the tenant shares ([`RouterConfig::shares`]). Waiting tasks keep their places;
    /// when shares are switched on or off, the waiting lines are re-filed (per tenant with
    /// shares, shared without) in arrival order.
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] (a tenant listed twice, a cap below the reservation),
    /// [`RouterError::UnknownName`] for a tenant not in the catalog,
    /// [`RouterError::TimeWentBackwards`]. Nothing changes on error.
    ///
    /// # Example
    /// ```
    /// use switchboard::*;
    /// let mut r = Router::new(RouterConfig::default()).unwrap();
    /// let acme = r.catalog_mut().tenant("acme");
    /// r.set_shares(Time::ZERO, vec![TenantShare { tenant: acme, reserved: 10, cap: Some(50) }]).unwrap();
    /// assert_eq!(r.config().shares.len(), 1);
    /// ```
    pub fn set_shares(
        &mut self,
        now: Time,
        shares: Vec<crate::TenantShare>,
    ) -> Result<(), RouterError> {
        self.check_time(now)?;
        for s in &shares {
            self.check_tenant(s.tenant)?;
        }
        let cfg = RouterConfig {
            shares,
            ..self.cfg.clone()
        };
        cfg.validate()?;
        self.now = now;
        let refile = cfg.shares.is_empty() != self.cfg.shares.is_empty();
        self.cfg = cfg;
        self.rebuild_share_index();
        if refile {
            self.refile_queues();
        }
        // Tiers only reorder competing tasks: no (task, free agent) pair appears or vanishes,
        // except through back-offs that ended by `now`.
        self.run_matching();
        Ok(())
    }

    /// Fires every timer due at or before `now`: offer expiries (the task goes back to its place,
    /// the agent gets a back-off), back-off ends, wrap-up ends and maximum waits.
    ///
    /// # Errors
    /// [`RouterError::TimeWentBackwards`].
    pub fn handle_timeout(&mut self, now: Time) -> Result<(), RouterError> {
        self.check_time(now)?;
        self.now = now;
        while let Some(&(at, _, kind)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.fire(at, kind);
            self.run_matching();
        }
        Ok(())
    }

    pub(super) fn fire(&mut self, at: Time, kind: TimerKind) {
        match kind {
            TimerKind::OfferExpiry(o) => {
                let Some(rec) = self.offers.get(&o) else {
                    return;
                };
                if rec.expires_at > at {
                    return;
                }
                let (task, slot) = (rec.task, rec.agent);
                let agent = self.agent_id(slot);
                self.effects.push_back(Effect::OfferExpired {
                    offer: o,
                    task,
                    agent,
                });
                self.counters.expired += 1;
                self.decline(o, QueueReason::Expired);
                let max = self.cfg.max_missed_offers;
                let a = self.arec(slot);
                a.missed += 1;
                if max.is_some_and(|m| a.missed >= m) && a.state == AgentState::Available {
                    self.change_state(slot, AgentState::Away);
                    self.effects.push_back(Effect::AgentAutoAway { agent });
                }
            }
            TimerKind::Backoff { task, seq, slot } => {
                if let Some(t) = self.tasks.get(&task)
                    && t.key.seq == seq
                    && t.phase == Phase::Waiting
                    && t.backoff_until(slot) == Some(at)
                {
                    self.dirty_tasks.push(task);
                }
            }
            TimerKind::WrapUpEnd { task, seq } => {
                if let Some(t) = self.tasks.get(&task)
                    && let (true, Phase::WrapUp(slot, _, _)) = (t.key.seq == seq, &t.phase)
                {
                    let slot = *slot;
                    self.finish_task(task, slot);
                }
            }
            TimerKind::MaxWait { task, seq } => {
                if let Some(t) = self.tasks.get(&task)
                    && t.key.seq == seq
                    && matches!(t.phase, Phase::Waiting | Phase::Offered(_))
                {
                    self.unplace(task, RescindReason::TimedOut);
                    self.drop_task(task);
                    self.counters.timed_out += 1;
                    self.effects.push_back(Effect::TimedOut { task });
                }
            }
        }
    }
}
