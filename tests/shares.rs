//! Brand fair share: whenever capacity frees, it goes to a tenant below its reservation if one
//! is waiting, else to a tenant within its share, and only then to a tenant over its cap — and
//! never sits idle while anyone waits.

use proptest::prelude::*;
use proptest::strategy::Strategy;
use std::collections::BTreeMap;
use switchboard::*;

#[derive(Debug, Clone)]
enum Op {
    Arrive(u32),
    Complete(usize),
}

fn tier(share: Option<&TenantShare>, held: u32) -> u8 {
    share.map_or(1, |s| s.tier(held))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn freed_capacity_goes_to_the_lowest_tier_waiting(
        agents in 1u64..6,
        shares in prop::collection::vec((0u32..4, prop::option::of(0u32..6)), 3),
        ops in prop::collection::vec(prop_oneof![
            3 => (0u32..3).prop_map(Op::Arrive),
            2 => any::<prop::sample::Index>().prop_map(|i| Op::Complete(i.index(1000))),
        ], 1..120),
    ) {
        let mut r = Router::new(RouterConfig::default()).unwrap();
        let tenants: Vec<TenantId> = (0..3).map(|i| r.catalog_mut().tenant(&format!("b{i}"))).collect();
        let shares: Vec<TenantShare> = shares
            .iter()
            .enumerate()
            .map(|(i, &(reserved, cap))| TenantShare {
                tenant: tenants[i],
                reserved,
                cap: cap.map(|c| c.max(reserved)),
            })
            .collect();
        r.set_shares(Time::ZERO, shares.clone()).unwrap();
        let share_of: BTreeMap<TenantId, TenantShare> = shares.iter().map(|s| (s.tenant, *s)).collect();
        for a in 1..=agents {
            r.add_agent(Time::ZERO, AgentSpec::new(AgentId(a)).capacity(Channel::Chat, 1)
                .state(AgentState::Available)).unwrap();
        }
        let mut tenant_of: BTreeMap<TaskId, TenantId> = BTreeMap::new();
        let mut now = Time::ZERO;
        let mut next = 1u64;
        for op in ops {
            now = now.plus_millis(10);
            // Tiers as the router must see them when the freed capacity is assigned.
            let mut held: BTreeMap<TenantId, u32> = tenants.iter().map(|&t| (t, r.tenant_held(t))).collect();
            match op {
                Op::Arrive(t) => {
                    let id = TaskId(next);
                    next += 1;
                    r.arrive(now, TaskSpec::new(id, tenants[t as usize], Channel::Chat)).unwrap();
                    tenant_of.insert(id, tenants[t as usize]);
                }
                Op::Complete(i) => {
                    let serving: Vec<TaskId> = tenant_of.keys().copied()
                        .filter(|&t| matches!(r.task_state(t), Some(TaskState::InService(_))))
                        .collect();
                    let Some(&t) = serving.get(i % serving.len().max(1)) else { continue };
                    *held.get_mut(&tenant_of[&t]).unwrap() -= 1;
                    let waiting_tiers: Vec<u8> = tenant_of.iter()
                        .filter(|(id, _)| r.task_state(**id) == Some(TaskState::Waiting))
                        .map(|(_, ten)| tier(share_of.get(ten), held[ten]))
                        .collect();
                    r.complete(now, t).unwrap();
                    tenant_of.remove(&t);
                    let offers: Vec<TaskId> = r.drain_effects().filter_map(|e| match e {
                        Effect::Offer { task, .. } => Some(task),
                        _ => None,
                    }).collect();
                    // One agent freed: exactly one offer if anyone waits (work conservation).
                    prop_assert_eq!(offers.len(), usize::from(!waiting_tiers.is_empty()));
                    if let Some(&task) = offers.first() {
                        let ten = tenant_of[&task];
                        let got = tier(share_of.get(&ten), held[&ten]);
                        let best = *waiting_tiers.iter().min().unwrap();
                        prop_assert_eq!(got, best,
                            "freed capacity went to {} (tier {}) while a tier-{} tenant waited", ten, got, best);
                    }
                }
            }
            // Accept every offer at once: all capacity is in service.
            let offers: Vec<(OfferId, AgentId)> = r.drain_effects().filter_map(|e| match e {
                Effect::Offer { offer, agent, .. } => Some((offer, agent)),
                _ => None,
            }).collect();
            for (o, a) in offers {
                r.accept(now, o, a).unwrap();
            }
            r.drain_effects().for_each(drop);
            r.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }
}

#[test]
fn a_flash_sale_cannot_starve_a_reserved_brand() {
    // 10 agents; brand "sale" floods the queue, brand "steady" has 3 reserved.
    let mut r = Router::new(RouterConfig::default()).unwrap();
    let sale = r.catalog_mut().tenant("sale");
    let steady = r.catalog_mut().tenant("steady");
    r.set_shares(
        Time::ZERO,
        vec![
            TenantShare {
                tenant: sale,
                reserved: 0,
                cap: Some(8),
            },
            TenantShare {
                tenant: steady,
                reserved: 3,
                cap: None,
            },
        ],
    )
    .unwrap();
    for a in 1..=10 {
        r.add_agent(
            Time::ZERO,
            AgentSpec::new(AgentId(a))
                .capacity(Channel::Chat, 1)
                .state(AgentState::Available),
        )
        .unwrap();
    }
    let mut now = Time::ZERO;
    let accept_all = |r: &mut Router, now: Time| {
        let offers: Vec<(OfferId, AgentId)> = r
            .drain_effects()
            .filter_map(|e| match e {
                Effect::Offer { offer, agent, .. } => Some((offer, agent)),
                _ => None,
            })
            .collect();
        for (o, a) in offers {
            r.accept(now, o, a).unwrap();
        }
    };
    // The sale takes all 10 agents (borrowing past its cap while nobody else waits).
    for i in 0..200 {
        r.arrive(
            now,
            TaskSpec::new(TaskId(i), sale, Channel::Chat).priority(5, 0.0),
        )
        .unwrap();
    }
    accept_all(&mut r, now);
    assert_eq!(r.tenant_held(sale), 10);
    // Steady brand's customers arrive (lower priority class than the sale's).
    for i in 1000..1005 {
        r.arrive(now, TaskSpec::new(TaskId(i), steady, Channel::Chat))
            .unwrap();
    }
    // As sale tasks finish, the next 3 freed agents go to the steady brand (below its
    // reservation), although the sale's tasks have a higher priority class.
    let mut sale_served: Vec<u64> = (0..10).collect();
    for _ in 0..3 {
        now = now.plus_millis(1000);
        let t = sale_served.remove(0);
        r.complete(now, TaskId(t)).unwrap();
        accept_all(&mut r, now);
    }
    assert_eq!(r.tenant_held(steady), 3);
    // Then the sale is within its cap again (7 < 8): it gets the next freed agent over the
    // steady brand, which is at its reservation.
    now = now.plus_millis(1000);
    r.complete(now, TaskId(sale_served.remove(0))).unwrap();
    accept_all(&mut r, now);
    assert_eq!((r.tenant_held(sale), r.tenant_held(steady)), (7, 3));
    r.check_invariants().unwrap();
}
