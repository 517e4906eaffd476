//! Static analysis: [`PolicySet::analyze`] warns about configurations that are valid but wrong
//! in practice (unmatchable or unreachable steps, reservations above the pool, starving queues…).

use super::*;

/// The pool as agents the expression evaluator can look at.
pub(super) struct PoolModel {
    pub(super) catalog: Catalog,
    /// Per group with agents: (group index, expanded agent).
    pub(super) agents: Vec<(usize, AgentSpec)>,
    pub(super) has_bots: bool,
}

impl PoolModel {
    pub(super) fn new(p: &PolicySet) -> Option<PoolModel> {
        let pool = p.pool.as_ref()?;
        let mut catalog = p.declared_catalog();
        let links: Vec<ParentLink> = p
            .skills
            .iter()
            .filter(|s| s.discount > 0.0 && s.discount <= 1.0)
            .filter_map(|s| {
                Some(ParentLink {
                    child: s.name.clone(),
                    parent: s.parent.clone()?,
                    discount: s.discount,
                })
            })
            .collect();
        // A taxonomy that does not validate is left out (validate reports it).
        let taxonomy = Taxonomy::new(&mut catalog, &links).unwrap_or_default();
        let mut agents = Vec::new();
        let mut has_bots = false;
        for (i, g) in pool.groups.iter().enumerate() {
            if g.count == 0 {
                continue;
            }
            let mut a = AgentSpec::new(AgentId(i as u64)).kind(g.kind);
            for (s, &l) in &g.skills {
                a = a.skill(catalog.skill(s), l.clamp(1, MAX_LEVEL));
            }
            for t in &g.tags {
                a = a.tag(catalog.tag(t));
            }
            for t in &g.certified {
                a = a.certified(catalog.tenant(t));
            }
            for (ch, &n) in &g.capacity {
                if let Some(c) = Channel::ALL.iter().find(|c| c.name() == ch) {
                    a = a.capacity(*c, n);
                }
            }
            let mut a = taxonomy.expand(&a);
            a.skills.sort_unstable();
            a.skills.dedup_by_key(|s| s.0);
            a.tags.sort_unstable();
            a.tags.dedup();
            a.certifications.sort_unstable();
            a.certifications.dedup();
            has_bots |= g.kind == AgentKind::Bot;
            agents.push((i, a));
        }
        Some(PoolModel {
            catalog,
            agents,
            has_bots,
        })
    }

    /// The groups that may match `e` (an optimistic target, see [`optimistic`]).
    pub(super) fn matching(&self, e: &Expr) -> BTreeSet<usize> {
        self.agents
            .iter()
            .filter(|(_, a)| {
                let view = AgentView {
                    id: a.id,
                    kind: a.kind,
                    skills: &a.skills,
                    tags: &a.tags,
                    certifications: &a.certifications,
                    capacity: a.capacity,
                    load: [0; Channel::COUNT],
                };
                e.eval_agent(&view, &self.catalog)
            })
            .map(|(i, _)| *i)
            .collect()
    }

    pub(super) fn certified_for(&self, tenant: &str) -> bool {
        self.catalog.find_tenant(tenant).is_some_and(|t| {
            self.agents
                .iter()
                .any(|(_, a)| a.certifications.contains(&t))
        })
    }
}

/// Whether `e` depends on something only known per task or per agent id (`task.…` attributes,
/// `agent.id`).
pub(super) fn task_dependent(e: &Expr) -> bool {
    match e {
        Expr::Path(p) => p.first().is_some_and(|r| r == "task") || p == &["agent", "id"],
        Expr::List(xs) | Expr::And(xs) | Expr::Or(xs) | Expr::Call(_, xs) => {
            xs.iter().any(task_dependent)
        }
        Expr::Not(x) => task_dependent(x),
        Expr::Cmp(l, _, r) => task_dependent(l) || task_dependent(r),
        Expr::Num(_) | Expr::Str(_) | Expr::Bool(_) => false,
    }
}

/// Replaces `task.tenant` by the tenant's name when known.
pub(super) fn bind_tenant(e: &Expr, tenant: Option<&str>) -> Expr {
    let go = |x: &Expr| bind_tenant(x, tenant);
    match e {
        Expr::Path(p) if p.len() == 2 && p[0] == "task" && p[1] == "tenant" => {
            tenant.map_or_else(|| e.clone(), |t| Expr::Str(t.to_owned()))
        }
        Expr::List(xs) => Expr::List(xs.iter().map(go).collect()),
        Expr::Call(f, xs) => Expr::Call(f.clone(), xs.iter().map(go).collect()),
        Expr::And(xs) => Expr::And(xs.iter().map(go).collect()),
        Expr::Or(xs) => Expr::Or(xs.iter().map(go).collect()),
        Expr::Not(x) => Expr::Not(Box::new(go(x))),
        Expr::Cmp(l, op, r) => Expr::Cmp(Box::new(go(l)), *op, Box::new(go(r))),
        Expr::Num(_) | Expr::Str(_) | Expr::Bool(_) | Expr::Path(_) => e.clone(),
    }
}

/// An over-approximation of `e` that only looks at the agent: every condition that depends on
/// the task (or on the agent's id) becomes whatever is most favourable where it stands — `true`
/// under an even number of `not`s, `false` under an odd one. If it is false for an agent, no
/// task can make `e` true for that agent.
pub(super) fn optimistic(e: &Expr, positive: bool) -> Expr {
    match e {
        Expr::And(xs) => Expr::And(xs.iter().map(|x| optimistic(x, positive)).collect()),
        Expr::Or(xs) => Expr::Or(xs.iter().map(|x| optimistic(x, positive)).collect()),
        Expr::Not(x) => Expr::Not(Box::new(optimistic(x, !positive))),
        other if task_dependent(other) => Expr::Bool(positive),
        other => other.clone(),
    }
}

/// What analysis knows about one step.
pub(super) struct StepInfo {
    /// The target, parsed (`None` if it does not parse).
    pub(super) expr: Option<Expr>,
    /// Pool groups that may match (with the tenant bound and certification added).
    pub(super) matches: BTreeSet<usize>,
    /// Whether the target depends on the task.
    pub(super) dependent: bool,
}

/// Only the target (and timers) change in this step.
pub(super) fn changes_only_target(s: &Step) -> bool {
    s.priority.is_none() && s.strategy.is_none() && s.prefer.is_empty()
}

/// The target as the pool sees it for one tenant.
pub(super) fn effective_target(e: &Expr, tenant: Option<&str>, certified_only: bool) -> Expr {
    let mut bound = bind_tenant(e, tenant);
    if certified_only && let Some(t) = tenant {
        let cert = Expr::Cmp(
            Box::new(Expr::Str(t.to_owned())),
            CmpOp::In,
            Box::new(Expr::Path(vec!["agent".into(), "certified".into()])),
        );
        bound = Expr::And(vec![bound, cert]);
    }
    optimistic(&bound, true)
}

impl PolicySet {
    /// Validates and analyses in one go: every error and warning, and a summary — what
    /// `switchboard check` prints.
    #[must_use]
    pub fn check(&self) -> CheckReport {
        let result = self.validate();
        let warnings = self.analyze();
        let errors = result.err().map_or_else(Vec::new, |e| e.issues);
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let tenant_workflows: usize = self.tenants.iter().map(|t| t.workflows.len()).sum();
        let valid = errors.is_empty();
        let text = if valid {
            format!(
                "ok: policy {:?}, {}, {}, {}, {} + {} tenant overrides; {}",
                self.version,
                plural(self.tenants.len(), "tenant"),
                plural(self.skills.len(), "skill"),
                plural(self.tags.len(), "tag"),
                plural(self.workflows.len(), "default workflow"),
                tenant_workflows,
                plural(warnings.len(), "warning")
            )
        } else {
            format!(
                "{}, {}",
                plural(errors.len(), "error"),
                plural(warnings.len(), "warning")
            )
        };
        CheckReport {
            summary: CheckSummary {
                valid,
                version: self.version.clone(),
                tenants: self.tenants.len(),
                skills: self.skills.len(),
                tags: self.tags.len(),
                default_workflows: self.workflows.len(),
                tenant_workflows,
                errors: errors.len(),
                warnings: warnings.len(),
                text,
            },
            errors,
            warnings,
        }
    }

    /// Static analysis: warnings about a policy that is valid but probably wrong. Runs on any
    /// policy (checks that need something invalid skip it); pool-based checks need a
    /// [`pool`](PolicySet::pool) with groups.
    ///
    /// | kind | when |
    /// |---|---|
    /// | [`NoMatchingAgent`](WarningKind::NoMatchingAgent) | no pool group can match a step's (or fallback's) target |
    /// | [`UnreachableStep`](WarningKind::UnreachableStep) | a step after one without timeout or `skip_if`; a timeout not greater than the previous one; a step starting after a wait-time exception has taken every task away |
    /// | [`PointlessStep`](WarningKind::PointlessStep) | a step that changes only the target, to the previous step's target, or to one matching a subset of the pool groups the previous one matched |
    /// | [`SharesOverPool`](WarningKind::SharesOverPool) | reservations sum above the pool size |
    /// | [`StarvingQueue`](WarningKind::StarvingQueue) | for a tenant and task type, no step (or no step a task can stay in) matches a pool agent, and no wait-time exception takes the task elsewhere |
    /// | [`NoCertifiedAgent`](WarningKind::NoCertifiedAgent) | a `certified_only` tenant without any certified pool agent |
    ///
    /// Targets are evaluated against each pool group with the taxonomy applied; a condition that
    /// depends on the task (`task.…` other than a tenant workflow's own `task.tenant`, or
    /// `agent.id`) counts as possibly true.
    ///
    /// # Example
    /// ```
    /// use switchboard::policy::{PolicySet, WarningKind};
    /// let p = PolicySet::from_toml_str(r#"
    ///     version = "1"
    ///     skills = [{ name = "returns" }, { name = "repairs" }]
    ///     [[pool.groups]]
    ///     count = 10
    ///     skills = { returns = 5 }
    ///     [[workflows.repair.steps]]
    ///     target = 'has_skill("repairs")'
    /// "#).unwrap();
    /// let kinds: Vec<WarningKind> = p.analyze().into_iter().map(|w| w.kind).collect();
    /// assert_eq!(kinds, [WarningKind::NoMatchingAgent]);
    /// ```
    #[must_use]
    pub fn analyze(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        let pool = PoolModel::new(self).filter(|m| !m.agents.is_empty());
        let pool = pool.as_ref();

        // Each workflow as written: defaults with the tenant unknown, tenant ones bound.
        for (ty, wf) in &self.workflows {
            analyze_workflow(wf, Owner::Default, ty, None, false, pool, &mut out);
        }
        for (i, t) in self.tenants.iter().enumerate() {
            for (ty, wf) in &t.workflows {
                analyze_workflow(
                    wf,
                    Owner::Tenant(i),
                    ty,
                    Some(&t.name),
                    t.certified_only,
                    pool,
                    &mut out,
                );
            }
        }

        if let Some(pool) = pool {
            for (i, t) in self.tenants.iter().enumerate() {
                if t.certified_only && !pool.certified_for(&t.name) {
                    out.push(Warning {
                        path: format!("tenants[{i}].certified_only"),
                        message: format!(
                            "tenant {:?} accepts only certified agents, and no pool agent is \
                             certified for it",
                            t.name
                        ),
                        kind: WarningKind::NoCertifiedAgent,
                    });
                }
                for (ty, wf, owner) in self.effective(t, i) {
                    if let Some(w) = self.starving(t, ty, wf, owner, pool) {
                        out.push(w);
                    }
                }
            }
        }
        self.analyze_shares(&mut out);
        out
    }

    pub(super) fn analyze_shares(&self, out: &mut Vec<Warning>) {
        let Some(pool) = &self.pool else { return };
        let size = pool.size();
        let mut sum: u64 = 0;
        let mut pct_sum = 0.0;
        for t in &self.tenants {
            let Some(s) = &t.share else { continue };
            if let Some(r) = s.reserved {
                sum = sum.saturating_add(u64::from(r));
            } else if let Some(p) = s.reserved_pct.filter(|p| (0.0..=100.0).contains(p)) {
                pct_sum += p;
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let n = ((size as f64) * p / 100.0).floor() as u64;
                sum = sum.saturating_add(n);
            }
        }
        if sum > size || pct_sum > 100.0 {
            #[allow(clippy::cast_precision_loss)]
            let pct = if size == 0 {
                f64::INFINITY
            } else {
                sum as f64 * 100.0 / size as f64
            };
            out.push(Warning {
                path: "tenants".into(),
                message: format!(
                    "reserved shares add up to {sum} tasks, {pct:.0}% of the pool's {size}: \
                     not every tenant can get its reservation at once"
                ),
                kind: WarningKind::SharesOverPool,
            });
        }
    }

    /// A starving-queue warning for tenant `t`'s tasks of type `ty`, if they can starve.
    pub(super) fn starving(
        &self,
        t: &TenantPolicy,
        ty: &str,
        wf: &Workflow,
        owner: Owner,
        pool: &PoolModel,
    ) -> Option<Warning> {
        let tenant = Some(t.name.as_str());
        let can_match = |w: &Workflow, only_resting: bool| -> bool {
            let resting = resting_from(w);
            w.steps.iter().enumerate().any(|(i, s)| {
                (!only_resting || i >= resting)
                    && Expr::parse(&s.target).is_ok_and(|e| {
                        !pool
                            .matching(&effective_target(&e, tenant, t.certified_only))
                            .is_empty()
                    })
            })
        };
        // No match at all implies no match in the resting steps.
        if can_match(wf, true) {
            return None;
        }
        let none_at_all = !can_match(wf, false);
        // A wait-time rule that takes the task somewhere that can serve it rescues it.
        let rescued = wf.exceptions.iter().any(|r| {
            matches!(r.when, Trigger::WaitOverMs(_))
                && match &r.action {
                    ExceptionAction::Callback => true,
                    ExceptionAction::ToBot => pool.has_bots,
                    ExceptionAction::Overflow { tenant } => pool.certified_for(tenant),
                    ExceptionAction::Fallback { target } => Expr::parse(target).is_ok_and(|e| {
                        !pool
                            .matching(&effective_target(&e, Some(&t.name), t.certified_only))
                            .is_empty()
                    }),
                    ExceptionAction::MoveTo { workflow } => t
                        .workflows
                        .get(workflow)
                        .or_else(|| self.workflows.get(workflow))
                        .is_some_and(|w| can_match(w, true)),
                    ExceptionAction::RaisePriority(_) => false,
                }
        });
        if rescued {
            return None;
        }
        let path = format!("{}.{ty}", owner.prefix());
        let inherited = if matches!(owner, Owner::Default) {
            " (default workflow)"
        } else {
            ""
        };
        let message = if none_at_all {
            format!(
                "tenant {:?}, task type {ty:?}{inherited}: no step matches any pool agent and no \
                 wait-time exception moves the task on: its queue can starve",
                t.name
            )
        } else {
            format!(
                "tenant {:?}, task type {ty:?}{inherited}: the steps a task stays in once the \
                 timers have run (from steps[{}]) match no pool agent and no wait-time exception \
                 moves the task on: its queue can starve",
                t.name,
                resting_from(wf)
            )
        };
        Some(Warning {
            path,
            message,
            kind: WarningKind::StarvingQueue,
        })
    }
}

/// The first step a task can stay in for good: the first step without a timeout (the last
/// step if all have one).
pub(super) fn resting_from(w: &Workflow) -> usize {
    w.steps
        .iter()
        .position(|s| s.timeout_ms.is_none())
        .unwrap_or(w.steps.len().saturating_sub(1))
}

pub(super) fn analyze_workflow(
    wf: &Workflow,
    owner: Owner,
    ty: &str,
    tenant: Option<&str>,
    certified_only: bool,
    pool: Option<&PoolModel>,
    out: &mut Vec<Warning>,
) {
    let base = format!("{}.{ty}", owner.prefix());
    let infos: Vec<StepInfo> = wf
        .steps
        .iter()
        .map(|s| {
            let expr = Expr::parse(&s.target).ok();
            let matches = match (&expr, pool) {
                (Some(e), Some(pool)) => {
                    pool.matching(&effective_target(e, tenant, certified_only))
                }
                _ => BTreeSet::new(),
            };
            let dependent = expr
                .as_ref()
                .is_none_or(|e| task_dependent(&bind_tenant(e, tenant)));
            StepInfo {
                expr,
                matches,
                dependent,
            }
        })
        .collect();
    let cert_note = if certified_only {
        " (the tenant accepts only certified agents)"
    } else {
        ""
    };

    // Earliest age at which a task can enter each step (`None`: never).
    let mut entry: Vec<Option<u64>> = Vec::with_capacity(wf.steps.len());
    for i in 0..wf.steps.len() {
        let e = match i.checked_sub(1) {
            None => Some(0),
            Some(j) => {
                let prev = &wf.steps[j];
                match (entry[j], prev.skip_if, prev.timeout_ms) {
                    // Skipped on entry: the next step starts as early as this one.
                    (Some(pe), Some(_), _) => Some(pe),
                    (Some(_), None, Some(t)) => Some(t),
                    _ => None,
                }
            }
        };
        entry.push(e);
    }

    let mut unreachable = vec![false; wf.steps.len()];
    for (i, s) in wf.steps.iter().enumerate() {
        let p = format!("{base}.steps[{i}]");
        let last = i + 1 == wf.steps.len();
        if i > 0 && entry[i].is_none() {
            let blocker = (0..i)
                .rev()
                .find(|&j| wf.steps[j].timeout_ms.is_none() && wf.steps[j].skip_if.is_none())
                .unwrap_or(i - 1);
            unreachable[i] = true;
            out.push(Warning {
                path: p.clone(),
                message: format!(
                    "can never be reached: steps[{blocker}] has neither a timeout nor a skip_if, \
                     so no task ever leaves it"
                ),
                kind: WarningKind::UnreachableStep,
            });
            continue;
        }
        if let Some(t) = s.timeout_ms {
            let prev = wf.steps[..i]
                .iter()
                .enumerate()
                .rev()
                .find_map(|(j, x)| x.timeout_ms.map(|pt| (j, pt)));
            let zero = match prev {
                Some((_, pt)) => t <= pt,
                None => t == 0,
            };
            if zero && !last {
                unreachable[i] = true;
                let why = prev.map_or_else(
                    || "its timeout is 0".to_owned(),
                    |(j, pt)| {
                        format!(
                            "its timeout {t} ms is not greater than steps[{j}]'s {pt} ms \
                             (timeouts count from the task's age)"
                        )
                    },
                );
                out.push(Warning {
                    path: p.clone(),
                    message: format!("is left as soon as it is entered: {why}"),
                    kind: WarningKind::UnreachableStep,
                });
                continue;
            }
        }
        if let Some(e) = entry[i].filter(|&e| e > 0) {
            let taker = wf.exceptions.iter().enumerate().find(|(_, r)| {
                matches!(r.when, Trigger::WaitOverMs(w) if w <= e)
                    && !matches!(r.action, ExceptionAction::RaisePriority(_))
            });
            if let Some((j, r)) = taker {
                unreachable[i] = true;
                let w = match r.when {
                    Trigger::WaitOverMs(w) => w,
                    Trigger::QueueLongerThan(_) => 0,
                };
                out.push(Warning {
                    path: p.clone(),
                    message: format!(
                        "can never be reached: exceptions[{j}] ({:?}) takes every task out of \
                         the workflow at {w} ms, and this step starts at {e} ms",
                        r.name
                    ),
                    kind: WarningKind::UnreachableStep,
                });
                continue;
            }
        }
        if pool.is_some() && infos[i].expr.is_some() && infos[i].matches.is_empty() {
            out.push(Warning {
                path: format!("{p}.target"),
                message: format!(
                    "no agent in the pool can ever match `{}`{cert_note}",
                    s.target.trim()
                ),
                kind: WarningKind::NoMatchingAgent,
            });
            continue;
        }
        if i > 0 && !unreachable[i - 1] && changes_only_target(s) {
            let (a, b) = (&infos[i - 1], &infos[i]);
            let same = matches!((&a.expr, &b.expr), (Some(x), Some(y)) if x == y);
            let narrower = pool.is_some()
                && !a.dependent
                && !b.dependent
                && !b.matches.is_empty()
                && b.matches.is_subset(&a.matches);
            if same || narrower {
                let what = if same {
                    format!("has the same target as steps[{}]", i - 1)
                } else {
                    format!(
                        "matches no pool group that steps[{}] did not already match",
                        i - 1
                    )
                };
                out.push(Warning {
                    path: format!("{p}.target"),
                    message: format!(
                        "{what} and changes nothing else: widening to it adds no agent, so \
                         steps[{}]'s timer only delays the next step",
                        i - 1
                    ),
                    kind: WarningKind::PointlessStep,
                });
            }
        }
    }
    if let Some(pool) = pool {
        for (j, r) in wf.exceptions.iter().enumerate() {
            if let ExceptionAction::Fallback { target } = &r.action
                && let Ok(e) = Expr::parse(target)
                && pool
                    .matching(&effective_target(&e, tenant, certified_only))
                    .is_empty()
            {
                out.push(Warning {
                    path: format!("{base}.exceptions[{j}].action.fallback.target"),
                    message: format!(
                        "no agent in the pool can ever match `{}`{cert_note}",
                        target.trim()
                    ),
                    kind: WarningKind::NoMatchingAgent,
                });
            }
        }
    }
}
