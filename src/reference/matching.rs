//! The naive router's internals: helpers, task moves and the matching, by full scans.

use super::*;

impl<P: Scoring> NaiveRouter<P> {
    pub(super) fn find_agent(&self, id: AgentId) -> Option<u32> {
        self.agents
            .iter()
            .position(|a| !a.removed && a.id == id)
            .map(to_u32)
    }

    pub(super) fn slot_of(&self, id: AgentId) -> Result<u32, RouterError> {
        self.find_agent(id).ok_or(RouterError::UnknownAgent(id))
    }

    pub(super) fn agent_id(&self, slot: u32) -> AgentId {
        self.agents
            .get(slot as usize)
            .filter(|a| !a.removed)
            .map_or(AgentId(u64::MAX), |a| a.id)
    }

    pub(super) fn check_time(&self, now: Time) -> Result<(), RouterError> {
        if now < self.now {
            return Err(RouterError::TimeWentBackwards {
                last: self.now,
                now,
            });
        }
        Ok(())
    }

    pub(super) fn check_skill(&self, skill: SkillId) -> Result<(), RouterError> {
        if (skill.0 as usize) < self.catalog.skill_count() {
            return Ok(());
        }
        Err(RouterError::UnknownName {
            kind: "skill",
            id: skill.0,
        })
    }

    pub(super) fn check_tag(&self, tag: TagId) -> Result<(), RouterError> {
        if (tag.0 as usize) < self.catalog.tag_count() {
            return Ok(());
        }
        Err(RouterError::UnknownName {
            kind: "tag",
            id: tag.0,
        })
    }

    pub(super) fn check_tenant(&self, tenant: TenantId) -> Result<(), RouterError> {
        if (tenant.0 as usize) < self.catalog.tenant_count() {
            return Ok(());
        }
        Err(RouterError::UnknownName {
            kind: "tenant",
            id: tenant.0,
        })
    }

    pub(super) fn check_level(level: u8) -> Result<(), RouterError> {
        if level == 0 || level > MAX_LEVEL {
            return Err(RouterError::InvalidLevel {
                level,
                max: MAX_LEVEL,
            });
        }
        Ok(())
    }

    pub(super) fn check_number(field: &'static str, value: f64) -> Result<(), RouterError> {
        if value.is_finite() {
            return Ok(());
        }
        Err(RouterError::InvalidNumber { field, value })
    }

    pub(super) fn check_agent_spec(&self, spec: &AgentSpec) -> Result<(), RouterError> {
        if spec.capacity.0.iter().all(|&c| c == 0) {
            return Err(RouterError::ZeroCapacity(spec.id));
        }
        for &(s, l) in &spec.skills {
            self.check_skill(s)?;
            Self::check_level(l)?;
        }
        for &t in &spec.tags {
            self.check_tag(t)?;
        }
        for &t in &spec.certifications {
            self.check_tenant(t)?;
        }
        Ok(())
    }

    pub(super) fn check_requirements(&self, r: &Requirements) -> Result<(), RouterError> {
        for req in &r.skills {
            self.check_skill(req.skill)?;
            Self::check_level(req.min_level)?;
        }
        for &t in &r.tags {
            self.check_tag(t)?;
        }
        Ok(())
    }

    pub(super) fn check_customer(
        customer: &CustomerProfile,
        priority: &Priority,
    ) -> Result<(), RouterError> {
        Self::check_number("customer.sentiment", customer.sentiment)?;
        if customer.sentiment < -1.0 || customer.sentiment > 1.0 {
            return Err(RouterError::InvalidNumber {
                field: "customer.sentiment (must be in [-1, 1])",
                value: customer.sentiment,
            });
        }
        Self::check_number("priority.base", priority.base)
    }

    pub(super) fn task_view<'a>(t: &'a NaiveTask, reqs: &'a Requirements) -> TaskView<'a> {
        TaskView {
            tenant: t.tenant,
            channel: t.channel,
            requirements: reqs,
            preferences: &t.preferences,
            customer: t.customer,
            priority: t.priority,
            sla_ms: t.sla_ms,
        }
    }

    pub(super) fn task_score(&self, t: &NaiveTask, reqs: &Requirements) -> f64 {
        self.scoring
            .task_score(&Self::task_view(t, reqs), &self.cfg.priority)
    }

    pub(super) fn make_key(
        &self,
        score: f64,
        created_at: Time,
        sla_ms: u64,
        class: u8,
        seq: u64,
    ) -> Result<OrderKey, RouterError> {
        if !score.is_finite() {
            return Err(RouterError::InvalidNumber {
                field: "task score (from Scoring::task_score)",
                value: score,
            });
        }
        let key = self
            .cfg
            .priority
            .key(score, created_at.as_secs_f64(), sla_secs(sla_ms));
        OrderKey::new(class, key, seq).ok_or(RouterError::InvalidNumber {
            field: "priority key",
            value: key,
        })
    }

    pub(super) fn match_score(&self, slot: u32, t: &NaiveTask) -> f64 {
        let a = &self.agents[slot as usize];
        let (skills, tags, certs) = a.sorted();
        let view = AgentView {
            id: a.id,
            kind: a.kind,
            skills: &skills,
            tags: &tags,
            certifications: &certs,
            capacity: a.capacity,
            load: a.load,
        };
        let reqs = &self.queues[t.queue as usize].requirements;
        self.scoring
            .match_score(&view, &Self::task_view(t, reqs), &self.cfg.scoring)
    }

    pub(super) fn queue_for(
        &mut self,
        channel: Channel,
        tenant: TenantId,
        reqs: Requirements,
    ) -> u32 {
        let q = NaiveQueue {
            channel,
            cert_tenant: reqs.certification.then_some(tenant),
            tenant: (!self.cfg.shares.is_empty()).then_some(tenant),
            requirements: reqs,
        };
        if let Some(i) = self.queues.iter().position(|x| *x == q) {
            return to_u32(i);
        }
        self.queues.push(q);
        to_u32(self.queues.len() - 1)
    }

    pub(super) fn new_timer(&mut self) -> u64 {
        self.timer_seq += 1;
        self.timer_seq
    }

    pub(super) fn idle_key(&self, slot: u32) -> Time {
        let a = &self.agents[slot as usize];
        a.offers
            .iter()
            .filter_map(|o| self.offers.get(o).map(|r| r.created_at))
            .fold(a.idle_since, Time::max)
    }

    pub(super) fn insert_waiting(&mut self, key: OrderKey, task: TaskId) {
        let at = self.waiting.partition_point(|(k, _)| *k < key);
        self.waiting.insert(at, (key, task));
    }

    pub(super) fn requeue(&mut self, task: TaskId, reason: QueueReason) {
        let Some(t) = self.tasks.get_mut(&task) else {
            return;
        };
        t.phase = NaivePhase::Waiting;
        let (q, key) = (t.queue, t.key);
        self.insert_waiting(key, task);
        self.effects.push_back(Effect::Queued {
            task,
            queue: QueueId(q),
            reason,
        });
    }

    pub(super) fn unplace(&mut self, task: TaskId, why: RescindReason) {
        let Some(t) = self.tasks.get(&task) else {
            return;
        };
        let (phase, channel) = (t.phase.clone(), t.channel);
        match phase {
            NaivePhase::Waiting => self.waiting.retain(|&(_, id)| id != task),
            NaivePhase::Offered(list) => {
                for o in list {
                    self.rescind(o, why);
                }
            }
            NaivePhase::InService(slot) | NaivePhase::WrapUp(slot, _, _) => {
                let a = &mut self.agents[slot as usize];
                a.work.retain(|&t| t != task);
                a.load[channel.index()] -= 1;
            }
        }
    }

    pub(super) fn release_offer(&mut self, offer: OfferId) -> Option<(TaskId, u32)> {
        let rec = self.offers.remove(&offer)?;
        let channel = self.tasks.get(&rec.task)?.channel;
        let a = &mut self.agents[rec.slot as usize];
        a.offers.retain(|&o| o != offer);
        a.load[channel.index()] -= 1;
        Some((rec.task, rec.slot))
    }

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
        let Some(t) = self.tasks.get_mut(&task) else {
            return;
        };
        if let NaivePhase::Offered(list) = &mut t.phase {
            list.retain(|&o| o != offer);
            if list.is_empty() {
                self.requeue(task, qreason);
            }
        }
    }

    pub(super) fn decline(&mut self, offer: OfferId, qreason: QueueReason) {
        let Some((task, slot)) = self.release_offer(offer) else {
            return;
        };
        let until = self.now.plus_millis(self.cfg.decline_backoff_ms);
        let timer = (self.cfg.decline_backoff_ms > 0).then(|| self.new_timer());
        if let Some(t) = self.tasks.get_mut(&task) {
            match t.declines.iter_mut().find(|d| d.slot == slot) {
                Some(d) => {
                    d.until = until;
                    d.timer = timer;
                }
                None => t.declines.push(Decline { slot, until, timer }),
            }
        }
        self.drop_offer_from_task(task, offer, qreason);
    }

    pub(super) fn finish_task(&mut self, task: TaskId, slot: u32) {
        let Some(channel) = self.tasks.get(&task).map(|t| t.channel) else {
            return;
        };
        let a = &mut self.agents[slot as usize];
        a.work.retain(|&t| t != task);
        a.load[channel.index()] -= 1;
        self.finish_record(task, slot);
    }

    pub(super) fn finish_record(&mut self, task: TaskId, slot: u32) {
        self.tasks.remove(&task);
        self.counters.completed += 1;
        let agent = self.agent_id(slot);
        self.effects.push_back(Effect::Completed { task, agent });
    }

    /// Whether the agent in `slot` could be offered `t` right now.
    pub(super) fn can_take(&self, slot: u32, t: &NaiveTask) -> bool {
        let a = &self.agents[slot as usize];
        a.has_room(t.channel)
            && a.meets(&self.queues[t.queue as usize], &self.catalog)
            && t.backoff_until(slot).is_none_or(|u| u <= self.now)
    }

    /// The matching rule, stated globally: while some waiting task has a free, eligible agent,
    /// offer the first such task in serving order.
    /// The tier of a tenant's waiting tasks (see [`crate::TenantShare`]), from a count of its
    /// tasks holding capacity.
    pub(super) fn tier(&self, tenant: TenantId) -> u8 {
        self.cfg
            .shares
            .iter()
            .find(|s| s.tenant == tenant)
            .map_or(1, |s| {
                let held = self
                    .tasks
                    .values()
                    .filter(|t| t.tenant == tenant && t.phase != NaivePhase::Waiting)
                    .count();
                s.tier(u32::try_from(held).unwrap_or(u32::MAX))
            })
    }

    pub(super) fn match_all(&mut self) {
        loop {
            // The best waiting task by (tenant tier, order key) that some agent can take.
            let found = self
                .waiting
                .iter()
                .filter(|(_, id)| {
                    self.tasks.get(id).is_some_and(|t| {
                        (0..self.agents.len()).any(|s| self.can_take(to_u32(s), t))
                    })
                })
                .filter_map(|&(key, id)| Some(((self.tier(self.tasks.get(&id)?.tenant), key), id)))
                .min()
                .map(|(_, id)| id);
            match found {
                Some(task) => self.offer_task(task),
                None => break,
            }
        }
    }

    pub(super) fn offer_task(&mut self, task: TaskId) {
        let Some(t) = self.tasks.get(&task) else {
            return;
        };
        let (mut fresh, mut old) = (Vec::new(), Vec::new());
        for s in 0..self.agents.len() {
            let slot = to_u32(s);
            if self.can_take(slot, t) {
                if t.backoff_until(slot).is_some() {
                    old.push(slot);
                } else {
                    fresh.push(slot);
                }
            }
        }
        let (strategy, fanout) = (t.strategy, usize::from(t.fanout));

        let mut picks = self.select(task, strategy, fresh, fanout);
        let mut redeclined_from = picks.len();
        if picks.len() < fanout {
            let more = self.select(task, strategy, old, fanout - picks.len());
            picks.extend(more);
        } else {
            redeclined_from = usize::MAX;
        }
        if picks.is_empty() {
            return;
        }
        self.waiting.retain(|&(_, id)| id != task);
        let mut ids = Vec::new();
        for (rank, (slot, score)) in picks.into_iter().enumerate() {
            let reason = OfferReason {
                strategy,
                score,

                rank: to_u32(rank),
                redeclined: rank >= redeclined_from,
                batch: false,
            };
            ids.push(self.make_offer(task, slot, reason));
        }
        if let Some(t) = self.tasks.get_mut(&task) {
            t.phase = NaivePhase::Offered(ids);
        }
    }

    pub(super) fn make_offer(&mut self, task: TaskId, slot: u32, reason: OfferReason) -> OfferId {
        let id = OfferId(self.next_offer);
        self.next_offer += 1;
        let now = self.now;
        let expires_at = now.plus_millis(self.cfg.offer_timeout_ms);
        let channel = self.tasks.get(&task).map_or(Channel::Chat, |t| t.channel);
        let timer = self.new_timer();
        self.offers.insert(
            id,
            NaiveOffer {
                task,
                slot,
                created_at: now,
                expires_at,
                timer,
                reason,
            },
        );
        let a = &mut self.agents[slot as usize];
        a.load[channel.index()] += 1;
        a.offers.push(id);
        let agent = a.id;
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

    /// Picks up to `k` of `cands` (ascending registration order) by `strategy`, by sorting the
    /// whole candidate list.
    pub(super) fn select(
        &mut self,
        task: TaskId,
        strategy: Strategy,
        mut cands: Vec<u32>,
        k: usize,
    ) -> Vec<(u32, Option<f64>)> {
        let Some(t) = self.tasks.get(&task) else {
            return Vec::new();
        };
        if cands.is_empty() || k == 0 {
            return Vec::new();
        }
        let c = t.channel.index();
        match strategy {
            Strategy::BestScore => {
                let mut scored: Vec<(f64, u32)> = cands
                    .iter()
                    .map(|&s| {
                        let v = self.match_score(s, t);
                        (if v.is_finite() { v } else { f64::NEG_INFINITY }, s)
                    })
                    .collect();
                scored.sort_by(|a, b| {
                    b.0.partial_cmp(&a.0)
                        .unwrap_or(Ordering::Equal)
                        .then(a.1.cmp(&b.1))
                });
                scored
                    .into_iter()
                    .take(k)
                    .map(|(v, s)| (s, v.is_finite().then_some(v)))
                    .collect()
            }
            Strategy::LongestIdle => {
                let mut keyed: Vec<(Time, u32)> =
                    cands.iter().map(|&s| (self.idle_key(s), s)).collect();
                keyed.sort();
                keyed.into_iter().take(k).map(|(_, s)| (s, None)).collect()
            }
            Strategy::LeastOccupied => {
                let mut keyed: Vec<(u64, u64, Time, u32)> = cands
                    .iter()
                    .map(|&s| {
                        let a = &self.agents[s as usize];
                        (
                            u64::from(a.load[c]),
                            u64::from(a.capacity.0[c]),
                            self.idle_key(s),
                            s,
                        )
                    })
                    .collect();
                // Lowest load/capacity (exactly, by cross-multiplication), then most spare slots,
                // then longest idle, then registration order.
                keyed.sort_by(|x, y| {
                    (x.0 * y.1)
                        .cmp(&(y.0 * x.1))
                        .then((y.1 - y.0).cmp(&(x.1 - x.0)))
                        .then(x.2.cmp(&y.2))
                        .then(x.3.cmp(&y.3))
                });
                keyed.into_iter().take(k).map(|x| (x.3, None)).collect()
            }
            Strategy::RoundRobin => {
                let mut out = Vec::new();
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
