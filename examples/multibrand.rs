//! One sales hour for six brands on one shared pool, run from a policy file: target
//! expressions, bullseye workflows with known-agent first steps, exception rules, brand fair
//! share, and a policy hot swap in the middle of a flash sale.
//!
//! ```text
//! cargo run --release --example multibrand [-- examples/configs/multibrand.toml]
//! ```
//!
//! Traffic is synthetic and seeded: each brand gets a steady stream of chats; from minute 20 to
//! minute 40 one brand runs a flash sale at ten times its rate. At minute 30 the host swaps in
//! a policy that raises that brand's cap — waiting tasks keep their age and move to the
//! matching step of the new workflows. Agents accept every offer; a chat lasts 1–4 minutes.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::error::Error;
use switchboard::expr::AttrValue;
use switchboard::policy::PolicySet;
use switchboard::workflow::{WorkflowEffect, WorkflowEngine, drive_timeout};
use switchboard::*;

const MINUTE: u64 = 60_000;
const SALE_BRAND: &str = "northwind-outdoor";

#[derive(Default)]
struct Stats {
    arrived: u64,
    served: u64,
    callbacks: u64,
    waits_ms: Vec<u64>,
    /// Tasks that reached a step past their first.
    widened: std::collections::BTreeSet<TaskId>,
    max_held: u32,
}

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/configs/multibrand.toml".into());
    let set = PolicySet::from_path(&path)?;
    let policy = set.validate()?;
    for w in set.analyze() {
        println!("warning: {w}");
    }
    let mut router = policy.router()?;
    let mut flows = WorkflowEngine::new(policy.workflows().clone(), router.catalog())?;
    let agents = policy.pool_agents(1, AgentState::Available);
    println!(
        "policy {:?}: {} tenants, {} agents, shares {:?}",
        policy.version(),
        policy.tenants().len(),
        agents.len(),
        router
            .config()
            .shares
            .iter()
            .map(|s| (s.reserved, s.cap))
            .collect::<Vec<_>>()
    );
    for a in agents {
        router.add_agent(Time::ZERO, a)?;
    }
    let brands: Vec<(TenantId, String)> = policy
        .tenants()
        .iter()
        .map(|t| (t.id, t.name.clone()))
        .collect();
    let mut rng = SeededRng::new(7);
    // Arrivals: every brand one chat every 3 s on average; the sale brand 10x in minutes 20-40.
    let mut arrivals: Vec<(Time, usize)> = Vec::new();
    for (b, (_, name)) in brands.iter().enumerate() {
        let mut t = 0u64;
        loop {
            let sale = name == SALE_BRAND && (20 * MINUTE..40 * MINUTE).contains(&t);
            let gap = if sale { 300 } else { 3_000 };
            t += 1 + rng.below(2 * gap as usize) as u64;
            if t >= 60 * MINUTE {
                break;
            }
            arrivals.push((Time(t), b));
        }
    }
    arrivals.sort();
    let mut stats: BTreeMap<usize, Stats> = BTreeMap::new();
    let mut created: BTreeMap<TaskId, (usize, Time)> = BTreeMap::new();
    let mut ends: BinaryHeap<Reverse<(Time, TaskId)>> = BinaryHeap::new();
    let mut last_agent: BTreeMap<u64, AgentId> = BTreeMap::new();
    let mut next = 0usize;
    let mut swapped = false;
    let mut now = Time::ZERO;
    loop {
        // The next thing to happen: an arrival, a chat ending, a router or workflow timer.
        let candidates = [
            arrivals.get(next).map(|a| a.0),
            ends.peek().map(|Reverse((t, _))| *t),
            flows.poll_timeout(&router),
        ];
        let Some(at) = candidates.into_iter().flatten().min() else {
            break;
        };
        now = at.max(now);
        if !swapped && now >= Time(30 * MINUTE) {
            swapped = true;
            // Hot swap: a new version of the policy lets the sale brand hold twice as much.
            let mut v2 = set.clone();
            v2.version.push_str("+sale");
            for t in v2.tenants.iter_mut().filter(|t| t.name == SALE_BRAND) {
                if let Some(share) = &mut t.share {
                    share.cap = share.cap.map(|c| c * 2);
                }
            }
            let report = v2.validate()?.apply_to(&mut router, &mut flows, now)?;
            println!(
                "minute 30: policy swapped; {} waiting tasks moved to their step, {} offered deferred, {} tasks live",
                report.moved,
                report.deferred,
                router.live_tasks()
            );
        }
        while let Some(&(t, b)) = arrivals.get(next) {
            if t > now {
                break;
            }
            next += 1;
            let (tenant, _) = brands[b];
            let id = TaskId(next as u64);
            let customer = next as u64 % 500;
            let mut spec = TaskSpec::new(id, tenant, Channel::Chat).customer(CustomerProfile {
                value_tier: (customer % 5) as u8,
                sentiment: 0.0,
            });
            if let Some(&a) = last_agent.get(&customer) {
                spec = spec.prefers(Preferences::default().agent(a));
            }
            let kind = match next % 10 {
                0 => "complaint",
                1..=3 => "aftersale",
                _ => "presale",
            };
            let lang = ["zh", "zh", "zh", "en", "ja"][next % 5];
            let attrs = BTreeMap::from([("lang".to_string(), AttrValue::Str(lang.into()))]);
            // The engine reads the router and says what to do; the host applies it, then the
            // commands that follow (queue-length rules see the queue the task joined).
            flows
                .arrive(&router, now, spec, kind, attrs)?
                .apply(&mut router, now)?;
            while let Some(cmd) = flows.poll_command(&router)? {
                cmd.apply(&mut router, now)?;
            }
            created.insert(id, (b, now));
            stats.entry(b).or_default().arrived += 1;
        }
        while let Some(&Reverse((t, task))) = ends.peek() {
            if t > now {
                break;
            }
            ends.pop();
            router.complete(now, task)?;
            flows.forget(task);
        }
        drive_timeout(&mut flows, &mut router, now)?; // router timers, then the engine's
        // Agents accept every offer at once; the chat lasts 1-4 minutes.
        let offers: Vec<(OfferId, TaskId, AgentId)> = router
            .drain_effects()
            .filter_map(|e| match e {
                Effect::Offer {
                    offer, task, agent, ..
                } => Some((offer, task, agent)),
                _ => None,
            })
            .collect();
        for (offer, task, agent) in offers {
            router.accept(now, offer, agent)?;
            if let Some(&(b, t0)) = created.get(&task) {
                let s = stats.entry(b).or_default();
                s.served += 1;
                s.waits_ms.push(now.as_millis() - t0.as_millis());
                last_agent.insert(task.0 % 500, agent);
            }
            let len = MINUTE + rng.below((3 * MINUTE) as usize) as u64;
            ends.push(Reverse((now.plus_millis(len), task)));
        }
        router.drain_effects().for_each(drop);
        while let Some(e) = flows.poll_effect() {
            match e {
                WorkflowEffect::StepEntered { task, step, .. } if step > 0 => {
                    if let Some(&(b, _)) = created.get(&task) {
                        stats.entry(b).or_default().widened.insert(task);
                    }
                }
                WorkflowEffect::Callback { task, .. } => {
                    if let Some(&(b, _)) = created.get(&task) {
                        stats.entry(b).or_default().callbacks += 1;
                    }
                }
                _ => {}
            }
        }
        for (b, (tenant, _)) in brands.iter().enumerate() {
            let s = stats.entry(b).or_default();
            s.max_held = s.max_held.max(router.tenant_held(*tenant));
        }
    }
    router.check_invariants()?;
    println!(
        "\n{:<20} {:>8} {:>7} {:>9} {:>9} {:>9} {:>8} {:>9}",
        "brand", "arrived", "served", "callback", "mean wait", "p90 wait", "widened", "max held"
    );
    for (b, (_, name)) in brands.iter().enumerate() {
        let s = stats.entry(b).or_default();
        s.waits_ms.sort_unstable();
        let mean = s.waits_ms.iter().sum::<u64>() as f64 / s.waits_ms.len().max(1) as f64 / 1e3;
        let p90 = s
            .waits_ms
            .get(s.waits_ms.len() * 9 / 10)
            .map_or(0.0, |&w| w as f64 / 1e3);
        println!(
            "{:<20} {:>8} {:>7} {:>9} {:>8.1}s {:>8.1}s {:>8} {:>9}",
            name,
            s.arrived,
            s.served,
            s.callbacks,
            mean,
            p90,
            s.widened.len(),
            s.max_held
        );
    }
    Ok(())
}
