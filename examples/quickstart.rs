//! Two brands share a small pool. Tasks arrive, the router offers them, agents answer, and every
//! effect is printed as a readable log.
//!
//! Run: `cargo run --release --example quickstart`

use switchboard::{
    AgentId, AgentSpec, AgentState, Channel, CustomerProfile, Effect, Preferences, Requirements,
    Router, RouterConfig, RouterError, Strategy, TaskId, TaskSpec, Time,
};

fn main() -> Result<(), RouterError> {
    let config = RouterConfig {
        offer_timeout_ms: 15_000,
        decline_backoff_ms: 30_000,
        ..RouterConfig::default()
    };
    let mut router = Router::new(config)?;

    // Names are interned once; the hot path works on integers.
    let c = router.catalog_mut();
    let (acme, nova) = (c.tenant("acme-fashion"), c.tenant("nova-electronics"));
    let (sizing, returns, presale) = (
        c.skill("apparel.sizing"),
        c.skill("returns"),
        c.skill("presale"),
    );
    let (zh, stylist) = (c.tag("lang:zh"), c.tag("persona:stylist"));

    let t = Time::from_secs;
    println!("== the pool ==");
    let pool = [
        // Mei: acme-certified stylist, strong in sizing; 3 chats at once.
        AgentSpec::new(AgentId(1))
            .skill(sizing, 9)
            .skill(returns, 6)
            .tag(zh)
            .tag(stylist)
            .certified(acme)
            .capacity(Channel::Chat, 3),
        // Jun: generalist for both brands, chat and voice.
        AgentSpec::new(AgentId(2))
            .skill(sizing, 5)
            .skill(returns, 8)
            .skill(presale, 6)
            .tag(zh)
            .certified(acme)
            .certified(nova)
            .capacity(Channel::Chat, 2)
            .capacity(Channel::Voice, 1),
        // Lee: nova electronics pre-sale specialist.
        AgentSpec::new(AgentId(3))
            .skill(presale, 9)
            .skill(returns, 4)
            .certified(nova)
            .capacity(Channel::Chat, 2)
            .capacity(Channel::Voice, 1),
    ];
    for spec in pool {
        let id = spec.id;
        router.add_agent(t(0), spec.state(AgentState::Available))?;
        println!("  agent {id} logged in");
    }

    println!("\n== the day ==");
    // An acme sizing question that wants a stylist persona (soft) and a certified agent (hard).
    router.arrive(
        t(10),
        TaskSpec::new(TaskId(101), acme, Channel::Chat)
            .requires(Requirements::default().skill(sizing, 7).certified())
            .prefers(Preferences::default().tag(stylist, 10.0))
            .strategy(Strategy::BestScore),
    )?;
    show(&mut router, t(10));

    // A VIP, unhappy nova customer on the phone: higher class, goes first.
    router.arrive(
        t(12),
        TaskSpec::new(TaskId(102), nova, Channel::Voice)
            .requires(Requirements::default().skill(returns, 4).certified())
            .customer(CustomerProfile {
                value_tier: 3,
                sentiment: -0.7,
            })
            .priority(1, 0.0),
    )?;
    show(&mut router, t(12));

    // Agents answer their offers: Mei accepts, the voice offer is rejected and goes to the next best.
    answer_all(&mut router, t(15), |_, _| true)?;
    // A burst of nova pre-sale chats.
    for id in 103..=106 {
        router.arrive(
            t(20),
            TaskSpec::new(TaskId(id), nova, Channel::Chat)
                .requires(Requirements::default().skill(presale, 5))
                .strategy(Strategy::LeastOccupied),
        )?;
    }
    show(&mut router, t(20));
    answer_all(&mut router, t(25), |task, agent| {
        !(task == TaskId(105) && agent == AgentId(2))
    })?;

    // Time passes on the host's clock; timers fire. Agent 2's back-off on task 105 ends at 55 s and,
    // being the only eligible agent with room, it is offered the task again.
    router.handle_timeout(t(60))?;
    show(&mut router, t(60));
    answer_all(&mut router, t(61), |_, _| true)?;

    // A return that nobody answers: the offer expires and the task keeps its place in line.
    router.arrive(
        t(70),
        TaskSpec::new(TaskId(107), acme, Channel::Chat)
            .requires(Requirements::default().skill(returns, 5)),
    )?;
    show(&mut router, t(70));
    router.handle_timeout(t(90))?;
    show(&mut router, t(90));

    // Work completes; queued work is pulled at once by the freed agents.
    for id in [101, 102, 103, 104] {
        router.complete(t(300), TaskId(id))?;
    }
    show(&mut router, t(300));
    answer_all(&mut router, t(305), |_, _| true)?;

    println!("\n== snapshot at {} ==", t(305));
    let snap = router.snapshot(t(305));
    for a in &snap.agents {
        println!(
            "  agent {} {:<9} chat {}/{}  voice {}/{}",
            a.agent,
            a.state.name(),
            a.load[Channel::Chat.index()],
            a.capacity[Channel::Chat.index()],
            a.load[Channel::Voice.index()],
            a.capacity[Channel::Voice.index()]
        );
    }
    println!(
        "  tasks: {} waiting, {} offered, {} in service",
        snap.tasks_waiting, snap.tasks_offered, snap.tasks_in_service
    );
    let c = router.counters();
    println!(
        "  lifetime: {} arrived, {} completed, {} offers, {} rejected",
        c.arrived, c.completed, c.offers, c.rejected
    );
    router
        .check_invariants()
        .map_err(|problem| RouterError::InvalidConfig {
            path: "invariants",
            problem: problem.to_string(),
        })?;
    Ok(())
}

/// Prints and forgets the pending effects.
fn show(router: &mut Router, now: Time) {
    let effects: Vec<Effect> = router.drain_effects().collect();
    for e in effects {
        println!("  [{now}] {}", describe(router, &e));
    }
}

/// Answers every outstanding offer announced so far: `yes(task, agent)` decides accept or reject.
fn answer_all(
    router: &mut Router,
    now: Time,
    yes: impl Fn(TaskId, AgentId) -> bool,
) -> Result<(), RouterError> {
    let mut offers: Vec<_> = (1..=router.counters().offers)
        .map(switchboard::OfferId)
        .filter_map(|o| router.offer(o).map(|(task, agent, _)| (o, task, agent)))
        .collect();
    offers.sort();
    for (offer, task, agent) in offers {
        if router.offer(offer).is_none() {
            continue; // rescinded by an earlier answer in this batch
        }
        if yes(task, agent) {
            router.accept(now, offer, agent)?;
        } else {
            router.reject(now, offer, agent)?;
        }
        show(router, now);
    }
    Ok(())
}

fn describe(router: &Router, e: &Effect) -> String {
    match e {
        Effect::Offer {
            offer,
            task,
            agent,
            channel,
            expires_at,
        } => {
            let why = router.explain_offer(*offer).map_or(String::new(), |r| {
                format!(
                    " — {:?}, choice #{}{}",
                    r.strategy,
                    r.rank + 1,
                    r.score.map_or(String::new(), |s| format!(", score {s:.1}"))
                )
            });
            format!(
                "offer {offer}: task {task} ({channel}) → agent {agent}, until {expires_at}{why}"
            )
        }
        Effect::Assigned { task, agent, .. } => format!("agent {agent} accepted task {task}"),
        Effect::Queued {
            task,
            queue,
            reason,
        } => format!("task {task} queued in {queue} ({reason:?})"),
        Effect::OfferRescinded {
            offer,
            agent,
            reason,
            ..
        } => format!("offer {offer} to agent {agent} rescinded ({reason:?})"),
        Effect::OfferExpired { offer, agent, .. } => {
            format!("offer {offer} to agent {agent} expired")
        }
        Effect::Completed { task, agent } => format!("task {task} completed by agent {agent}"),
        other => format!("{other:?}"),
    }
}
