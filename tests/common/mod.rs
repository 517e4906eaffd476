//! Shared test harness: a router with a few names interned and helpers to read effects.
#![allow(dead_code, unreachable_pub)]

use switchboard::*;

pub struct World {
    pub router: Router,
    pub brand: TenantId,
    pub other_brand: TenantId,
    pub skills: Vec<SkillId>,
    pub tags: Vec<TagId>,
    pub log: Vec<Effect>,
}

pub fn t(s: u64) -> Time {
    Time::from_secs(s)
}

impl World {
    pub fn new(cfg: RouterConfig) -> Self {
        let mut router = Router::new(cfg).unwrap();
        let c = router.catalog_mut();
        let brand = c.tenant("acme");
        let other_brand = c.tenant("nova");
        let skills = (0..4).map(|i| c.skill(&format!("s{i}"))).collect();
        let tags = (0..3).map(|i| c.tag(&format!("t{i}"))).collect();
        World {
            router,
            brand,
            other_brand,
            skills,
            tags,
            log: Vec::new(),
        }
    }

    pub fn default() -> Self {
        Self::new(RouterConfig::default())
    }

    /// An available chat agent with skill 0 at `level` and chat capacity `cap`.
    pub fn chat_agent(&mut self, now: Time, id: u64, level: u8, cap: u16) {
        let spec = AgentSpec::new(AgentId(id))
            .skill(self.skills[0], level)
            .certified(self.brand)
            .capacity(Channel::Chat, cap)
            .state(AgentState::Available);
        self.router.add_agent(now, spec).unwrap();
        self.check();
    }

    /// A chat task needing skill 0 at `min`.
    pub fn chat_task(&self, id: u64, min: u8) -> TaskSpec {
        TaskSpec::new(TaskId(id), self.brand, Channel::Chat)
            .requires(Requirements::default().skill(self.skills[0], min))
    }

    pub fn arrive(&mut self, now: Time, spec: TaskSpec) -> Vec<Effect> {
        self.router.arrive(now, spec).unwrap();
        self.take()
    }

    /// Effects since the last call, also appended to the log; checks invariants.
    pub fn take(&mut self) -> Vec<Effect> {
        let e: Vec<Effect> = self.router.drain_effects().collect();
        self.log.extend(e.iter().cloned());
        self.check();
        e
    }

    pub fn check(&self) {
        if let Err(e) = self.router.check_invariants() {
            panic!("invariant violated: {e}");
        }
    }
}

/// The offers among effects, as (offer, task, agent).
pub fn offers(effects: &[Effect]) -> Vec<(OfferId, TaskId, AgentId)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Offer {
                offer, task, agent, ..
            } => Some((*offer, *task, *agent)),
            _ => None,
        })
        .collect()
}

pub fn only_offer(effects: &[Effect]) -> (OfferId, TaskId, AgentId) {
    let o = offers(effects);
    assert_eq!(o.len(), 1, "expected exactly one offer in {effects:?}");
    o[0]
}

impl World {
    /// Drains pending effects and returns the last `n` of the whole log.
    pub fn take_log_tail(&mut self, n: usize) -> Vec<Effect> {
        self.take();
        let k = self.log.len().saturating_sub(n);
        self.log[k..].to_vec()
    }
}
