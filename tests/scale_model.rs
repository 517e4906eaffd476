//! The model check at a size where the strategy indexes' bounded walks give up and fall back to
//! collecting candidates from the bitsets: decisions must still equal the naive reference router.

use switchboard::reference::NaiveRouter;
use switchboard::*;

fn drive(strategy: Strategy, fanout: u8) {
    let cfg = RouterConfig {
        default_strategy: strategy,
        decline_backoff_ms: 5_000,
        seed: 9,
        ..RouterConfig::default()
    };
    let mut fast = Router::new(cfg.clone()).unwrap();
    let mut slow = NaiveRouter::new(cfg).unwrap();
    for r in [&mut fast as &mut dyn Names, &mut slow] {
        r.names();
    }
    let mut rng = SeededRng::new(1);
    let mut now = Time::ZERO;
    let mut events = Vec::new();
    // 294 agents with the common skill, then 12 that also have the rare skill 1: in idle or
    // occupancy order the rare ones come last, so a walk for a rare task passes more entries
    // than its budget and the router falls back to collecting candidates from the bitsets.
    for id in 0..306u64 {
        let mut spec = AgentSpec::new(AgentId(id))
            .skill(SkillId(0), 5)
            .capacity(Channel::Chat, 3)
            .state(AgentState::Available);
        if id >= 294 {
            spec = spec.skill(SkillId(1), 7);
        }
        events.push((now, Event::AddAgent(spec)));
    }
    for id in 0..240u64 {
        now = now.plus_millis(rng.below(3_000) as u64);
        let skill = if id % 3 == 0 { 1 } else { 0 };
        let spec = TaskSpec::new(TaskId(id), TenantId(0), Channel::Chat)
            .requires(Requirements::default().skill(SkillId(skill), 3))
            .fanout(fanout);
        events.push((now, Event::Arrive(spec)));
        if id % 7 == 0 {
            events.push((now, Event::Tick));
        }
    }
    let mut offers = Vec::new();
    for (i, (t, ev)) in events.into_iter().enumerate() {
        let a = fast.handle(t, ev.clone());
        let b = slow.handle(t, ev);
        assert_eq!(a, b, "result differs at event {i}");
        let ea: Vec<Effect> = fast.drain_effects().collect();
        let eb: Vec<Effect> = slow.drain_effects().collect();
        assert_eq!(ea, eb, "effects differ at event {i}");
        for e in ea {
            if let Effect::Offer { offer, agent, .. } = e {
                offers.push((offer, agent));
            }
        }
        // Answer some offers: accept two thirds, reject the rest.
        if i % 5 == 0 {
            for (k, (offer, agent)) in std::mem::take(&mut offers).into_iter().enumerate() {
                let ev = if k % 3 == 2 {
                    Event::Reject { offer, agent }
                } else {
                    Event::Accept { offer, agent }
                };
                assert_eq!(fast.handle(t, ev.clone()), slow.handle(t, ev));
                let ea: Vec<Effect> = fast.drain_effects().collect();
                let eb: Vec<Effect> = slow.drain_effects().collect();
                assert_eq!(ea, eb);
            }
        }
    }
    fast.check_invariants().unwrap();
    assert!(fast.counters().offers > 200);
}

trait Names {
    fn names(&mut self);
}
impl Names for Router {
    fn names(&mut self) {
        let c = self.catalog_mut();
        c.tenant("acme");
        c.skill("common");
        c.skill("rare");
    }
}
impl Names for NaiveRouter {
    fn names(&mut self) {
        let c = self.catalog_mut();
        c.tenant("acme");
        c.skill("common");
        c.skill("rare");
    }
}

#[test]
fn longest_idle_with_long_walks_matches_the_reference() {
    drive(Strategy::LongestIdle, 1);
}

#[test]
fn least_occupied_with_long_walks_matches_the_reference() {
    drive(Strategy::LeastOccupied, 1);
}

#[test]
fn fanout_with_long_walks_matches_the_reference() {
    drive(Strategy::LongestIdle, 3);
    drive(Strategy::LeastOccupied, 2);
}
