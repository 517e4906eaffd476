//! The agent calls: register, update, remove an agent and change its presence.

use super::*;

impl<P: Scoring> Router<P> {
    /// Registers an agent. It receives offers at once if its state is `Available`.
    ///
    /// # Errors
    /// [`RouterError::DuplicateAgent`], [`RouterError::ZeroCapacity`],
    /// [`RouterError::InvalidLevel`], [`RouterError::UnknownName`],
    /// [`RouterError::TimeWentBackwards`]. The router is unchanged on error.
    pub fn add_agent(&mut self, now: Time, spec: AgentSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        if self.agent_slot.contains_key(&spec.id) {
            return Err(RouterError::DuplicateAgent(spec.id));
        }
        self.check_agent_spec(&spec)?;
        let slot = u32::try_from(self.agents.len()).map_err(|_| RouterError::InvalidConfig {
            path: "agents",
            problem: "more than u32::MAX agents registered".into(),
        })?;
        self.now = now;
        let (skills, tags, certs) = normalise_agent(&spec);
        self.agents.push(Some(AgentRec {
            id: spec.id,
            kind: spec.kind,
            skills,
            tags,
            certs,
            capacity: spec.capacity,
            load: [0; Channel::COUNT],
            state: spec.state,
            idle_since: now,
            offers: Vec::new(),
            work: Vec::new(),
            queues: Vec::new(),
            missed: 0,
            ix: Indexed::default(),
        }));
        self.agent_slot.insert(spec.id, slot);
        self.index_agent(slot, true);
        self.refresh_agent_queues(slot);
        self.refresh_free(slot);
        self.dirty_agents.push(slot);
        self.run_matching();
        Ok(())
    }

    /// Changes an agent's skills, tags, certifications, kind and capacity (its state is left as
    /// is; use [`Router::set_agent_state`]). Outstanding offers for tasks the agent no longer
    /// qualifies for are rescinded and their tasks re-queued in their old place.
    ///
    /// # Errors
    /// As [`Router::add_agent`], plus [`RouterError::UnknownAgent`] and
    /// [`RouterError::CapacityBelowLoad`] when a channel's new capacity is below the work the agent
    /// holds there.
    pub fn update_agent(&mut self, now: Time, spec: AgentSpec) -> Result<(), RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(spec.id)?;
        self.check_agent_spec(&spec)?;
        let a = self.aref(slot);
        for c in Channel::ALL {
            if spec.capacity.get(c) < a.load[c.index()] {
                return Err(RouterError::CapacityBelowLoad {
                    agent: spec.id,
                    channel: c,
                    capacity: spec.capacity.get(c),
                    load: a.load[c.index()],
                });
            }
        }
        self.now = now;
        self.index_agent(slot, false);
        let (skills, tags, certs) = normalise_agent(&spec);
        {
            let a = self.arec(slot);
            a.skills = skills;
            a.tags = tags;
            a.certs = certs;
            a.kind = spec.kind;
            a.capacity = spec.capacity;
        }
        self.index_agent(slot, true);
        self.refresh_agent_queues(slot);
        let stale: Vec<OfferId> = self
            .aref(slot)
            .offers
            .iter()
            .copied()
            .filter(|o| {
                self.offers.get(o).is_some_and(|rec| {
                    let q = self.tref(rec.task).queue;
                    !self.queues[q as usize].eligible.contains(slot as usize)
                })
            })
            .collect();
        for o in stale {
            self.withdraw_offer(o, RescindReason::NoLongerEligible, QueueReason::Rescinded);
        }
        self.refresh_free(slot);
        self.dirty_agents.push(slot);
        self.run_matching();
        Ok(())
    }

    /// Changes an agent's presence. Leaving `Available` rescinds its outstanding offers (the
    /// tasks go back to their old place); going `Offline` also re-queues the tasks it is serving
    /// (keeping their place) and completes those in wrap-up. See [`AgentState`].
    ///
    /// # Errors
    /// [`RouterError::UnknownAgent`], [`RouterError::TimeWentBackwards`].
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
        self.run_matching();
        Ok(())
    }

    pub(super) fn change_state(&mut self, slot: u32, state: AgentState) {
        let old = self.aref(slot).state;
        if old == state {
            return;
        }
        self.arec(slot).state = state;
        if old == AgentState::Available {
            let offers = self.aref(slot).offers.clone();
            for o in offers {
                self.withdraw_offer(o, RescindReason::AgentUnavailable, QueueReason::Rescinded);
            }
        }
        if state == AgentState::Offline {
            let work = std::mem::take(&mut self.arec(slot).work);
            for t in work {
                let (channel, phase) = {
                    let task = self.tref(t);
                    (task.channel, task.phase.clone())
                };
                self.arec(slot).load[channel.index()] -= 1;
                match phase {
                    Phase::WrapUp(..) => self.finish_task_record(t, slot),
                    _ => self.requeue(t, QueueReason::AgentOffline),
                }
            }
        }
        if state == AgentState::Available {
            let now = self.now;
            let a = self.arec(slot);
            a.idle_since = now;
            a.missed = 0;
            self.dirty_agents.push(slot);
        }
        self.refresh_free(slot);
    }

    /// Removes an agent. Its offers are rescinded and its work in hand is re-queued, keeping its
    /// place, exactly as if it had gone offline first.
    ///
    /// # Errors
    /// [`RouterError::UnknownAgent`], [`RouterError::TimeWentBackwards`].
    pub fn remove_agent(&mut self, now: Time, agent: AgentId) -> Result<(), RouterError> {
        self.check_time(now)?;
        let slot = self.slot_of(agent)?;
        self.now = now;
        self.change_state(slot, AgentState::Offline);
        self.index_agent(slot, false);
        for q in std::mem::take(&mut self.arec(slot).queues) {
            let queue = &mut self.queues[q as usize];
            set_bit(&mut queue.eligible, slot, false);
            queue.eligible_n -= 1;
        }
        for c in 0..Channel::COUNT {
            set_bit(&mut self.free[c], slot, false);
        }
        self.agents[slot as usize] = None;
        self.agent_slot.remove(&agent);
        self.dirty_agents.retain(|&s| s != slot);
        self.run_matching();
        Ok(())
    }
}
