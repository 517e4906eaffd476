//! Workflows and target expressions (issue #3).
//!
//! ```text
//! cargo bench --bench workflow                                   # full run
//! SWITCHBOARD_BENCH_QUICK=1 cargo bench --bench workflow -- --test   # smoke test
//! ```
//!
//! * `expr/compile`: parse + compile a typical target into index requirements and a residual.
//! * `route/{hand_filter,workflow_3step}`: one task's whole cycle (arrive → offer → accept →
//!   complete) among 1,000 agents, targeted by a hand-built `Requirements` with the same
//!   residual filter, vs through a 3-step workflow whose first step has that target. The ratio is
//!   the workflow layer's overhead per task.
//! * `widen/N`: N tasks waiting at step 0 all reach their timeout at once; one `handle_timeout`
//!   moves every one to step 1 (no agent matches either step, so this is the widening cost alone).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;
use switchboard::expr::{Expr, Filter};
use switchboard::workflow::{
    Step, Workflow, WorkflowEngine, WorkflowSet, drive_arrive, drive_timeout,
};
use switchboard::*;

#[path = "workload/mod.rs"]
mod workload;

const TARGET: &str = r#"skill("apparel.sizing") >= 5 and lang == "zh" and not has_tag("trainee")"#;

fn catalog(c: &mut Catalog) -> (SkillId, TagId, TagId, TenantId) {
    (
        c.skill("apparel.sizing"),
        c.tag("lang:zh"),
        c.tag("trainee"),
        c.tenant("acme"),
    )
}

fn pool(agents: u64) -> (Router, TenantId) {
    let mut r = Router::new(RouterConfig::default()).unwrap();
    let (sizing, zh, trainee, acme) = catalog(r.catalog_mut());
    for a in 0..agents {
        let mut spec = AgentSpec::new(AgentId(a))
            .skill(sizing, (a % 10 + 1) as u8)
            .capacity(Channel::Chat, 1)
            .state(AgentState::Available);
        if a % 2 == 0 {
            spec = spec.tag(zh);
        }
        if a % 7 == 0 {
            spec = spec.tag(trainee);
        }
        r.add_agent(Time::ZERO, spec).unwrap();
    }
    (r, acme)
}

fn three_steps() -> WorkflowSet {
    let mut set = WorkflowSet::default();
    set.default.insert(
        "presale".into(),
        Workflow {
            steps: vec![
                Step::new(TARGET).timeout_ms(30_000),
                Step::new(r#"skill("apparel.sizing") >= 3"#).timeout_ms(60_000),
                Step::new("true"),
            ],
            exceptions: vec![],
        },
    );
    set
}

/// Accepts the offer for `task` and completes it.
fn serve(r: &mut Router, now: Time, task: TaskId) {
    let offer = r.drain_effects().find_map(|e| match e {
        Effect::Offer { offer, agent, .. } => Some((offer, agent)),
        _ => None,
    });
    if let Some((o, a)) = offer {
        r.accept(now, o, a).unwrap();
        r.complete(now, task).unwrap();
        r.drain_effects().for_each(drop);
    }
}

fn bench(c: &mut Criterion) {
    let quick = workload::quick();
    let mut g = c.benchmark_group("expr");
    let mut cat = Catalog::new();
    catalog(&mut cat);
    g.bench_function("compile", |b| {
        b.iter(|| {
            let e = Expr::parse(black_box(TARGET)).unwrap();
            black_box(e.compile(&cat).unwrap())
        });
    });
    g.finish();

    let agents = if quick { 100 } else { 1_000 };
    let mut g = c.benchmark_group("route");
    {
        let (mut r, acme) = pool(agents);
        let (sizing, zh) = (
            r.catalog().find_skill("apparel.sizing").unwrap(),
            r.catalog().find_tag("lang:zh").unwrap(),
        );
        let reqs = Requirements::default()
            .skill(sizing, 5)
            .tag(zh)
            .filter(Filter::new(r#"not has_tag("trainee")"#).unwrap());
        let mut id = 0u64;
        let mut now = Time::ZERO;
        g.bench_function("hand_filter", |b| {
            b.iter(|| {
                id += 1;
                now = now.plus_millis(1);
                r.arrive(
                    now,
                    TaskSpec::new(TaskId(id), acme, Channel::Chat).requires(reqs.clone()),
                )
                .unwrap();
                serve(&mut r, now, TaskId(id));
            });
        });
    }
    {
        let (mut r, acme) = pool(agents);
        let mut flows = WorkflowEngine::new(three_steps(), r.catalog()).unwrap();
        let mut id = 0u64;
        let mut now = Time::ZERO;
        g.bench_function("workflow_3step", |b| {
            b.iter(|| {
                id += 1;
                now = now.plus_millis(1);
                drive_arrive(
                    &mut flows,
                    &mut r,
                    now,
                    TaskSpec::new(TaskId(id), acme, Channel::Chat),
                    "presale",
                    BTreeMap::new(),
                )
                .unwrap();
                serve(&mut r, now, TaskId(id));
                while flows.poll_effect().is_some() {}
                flows.forget(TaskId(id));
            });
        });
    }
    g.finish();

    let n = if quick { 1_000 } else { 100_000 };
    let mut g = c.benchmark_group("widen");
    g.sample_size(10);
    g.bench_function(format!("{n}"), |b| {
        b.iter_batched(
            || {
                // Nobody at all: every step matches no agent, tasks only widen.
                let mut r = Router::new(RouterConfig::default()).unwrap();
                let (_, _, _, acme) = catalog(r.catalog_mut());
                let mut flows = WorkflowEngine::new(three_steps(), r.catalog()).unwrap();
                for i in 0..n {
                    drive_arrive(
                        &mut flows,
                        &mut r,
                        Time::ZERO,
                        TaskSpec::new(TaskId(i), acme, Channel::Chat),
                        "presale",
                        BTreeMap::new(),
                    )
                    .unwrap();
                }
                while flows.poll_effect().is_some() {}
                (r, flows)
            },
            |(mut r, mut flows)| {
                drive_timeout(&mut flows, &mut r, Time::from_secs(30)).unwrap();
                while flows.poll_effect().is_some() {}
                black_box((r, flows))
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench
}
criterion_main!(benches);
