//! The workflow engine: runs [`Workflow`]s next to a [`Router`].

use super::{
    ExceptionAction, PriorityChange, RouterCommand, SkipIf, StepPreference, Trigger, Workflow,
    WorkflowSet,
};
use crate::expr::{AttrValue, Expr};
use crate::{
    Catalog, Preferences, Priority, Requirements, Retarget, Router, RouterError, Scoring, TaskId,
    TaskSpec, TaskState, TaskView, Time,
};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Why the workflow engine refused something. Nothing changes on error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowError {
    /// A workflow does not compile; `path` names the field
    /// (`tenants.acme.presale.steps[1].target`).
    #[error("{path}: {message}")]
    Config {
        /// Where.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// No workflow for this tenant and task type.
    #[error("no workflow for tenant {tenant:?} and task type {task_type:?}")]
    NoWorkflow {
        /// The tenant's name.
        tenant: String,
        /// The task type.
        task_type: String,
    },
    /// The router refused the call.
    #[error(transparent)]
    Router(#[from] RouterError),
}

/// Something the host should know or do, drained with [`WorkflowEngine::poll_effect`].
///
/// # Example
/// ```
/// use switchboard::{TaskId, workflow::WorkflowEffect};
/// let e = WorkflowEffect::Callback { task: TaskId(1), rule: "long wait".into() };
/// assert!(serde_json::to_string(&e).unwrap().contains("callback"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkflowEffect {
    /// The task entered a step (on arrival, on widening, on a skip, on a reload).
    StepEntered {
        /// The task.
        task: TaskId,
        /// The workflow (task type) it runs.
        workflow: Arc<str>,
        /// The step's index.
        step: usize,
        /// Steps skipped on the way by `skip_if`.
        skipped: Vec<usize>,
    },
    /// An exception rule fired.
    ExceptionFired {
        /// The task.
        task: TaskId,
        /// The rule's name.
        rule: String,
    },
    /// A callback rule withdrew the task: call the customer back.
    Callback {
        /// The task (cancelled in the router).
        task: TaskId,
        /// The rule's name.
        rule: String,
    },
}

/// What the engine knows about one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowTask {
    /// Index of the running workflow in the engine's compiled list (re-resolved by name on
    /// [`WorkflowEngine::from_state`]).
    #[serde(skip)]
    wf: usize,
    /// The tenant's id.
    tenant_id: crate::TenantId,
    /// The tenant's name.
    pub tenant: Arc<str>,
    /// The task type whose workflow runs (changes on `move_to`).
    pub workflow: Arc<str>,
    /// The current step.
    pub step: usize,
    /// When the task was created (ages count from here).
    pub created_at: Time,
    /// The priority it arrived with.
    pub priority: Priority,
    /// The preferences it arrived with.
    pub preferences: Preferences,
    /// The customer profile it arrived with (for `task.value_tier`, `task.sentiment`).
    pub customer: crate::CustomerProfile,
    /// Its SLA target, if it gave one.
    pub sla_ms: Option<u64>,
    /// The strategy it arrived with (steps without a strategy use it).
    pub strategy: Option<crate::Strategy>,
    /// Host attributes (`task.lang`, …) for target expressions.
    pub attrs: BTreeMap<String, AttrValue>,
    /// Exception rules that fired (each fires once).
    pub fired: Vec<String>,
    /// Priority change accumulated by `raise_priority` rules.
    pub raised: PriorityChange,
    /// A target fixed by an exception (overflow, bot, fallback): steps no longer apply.
    pub pinned: Option<String>,
    /// When the engine looks at the task next.
    pub next: Option<Time>,
}

/// Everything a [`WorkflowEngine`] tracks, for durability: save it next to the router's
/// [`RouterState`](crate::RouterState) and restore both together with
/// [`WorkflowEngine::from_state`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowState {
    /// The tracked tasks, sorted by id.
    pub tasks: Vec<(TaskId, FlowTask)>,
    /// Tasks whose due change waits for them to stop being offered.
    pub deferred: Vec<TaskId>,
}

/// What [`WorkflowEngine::reload`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// Tasks moved to a step of the new workflows.
    pub moved: usize,
    /// Tasks whose workflow no longer exists (they keep their current target).
    pub orphaned: usize,
    /// Tasks offered right now: the new step applies if they come back to waiting.
    pub deferred: usize,
    /// Tasks no longer live in the router, dropped.
    pub dropped: usize,
}

/// Runs workflows next to a [`Router`], which it only reads (sans-I/O: the engine owns no
/// router, clock or thread, and never mutates the router: events in, commands out). What the
/// router should do comes back as [`RouterCommand`]s, which the host applies, one at a time:
///
/// * [`arrive`](Self::arrive) routes a new task through its tenant's workflow for its type
///   and returns its [`RouterCommand::Arrive`];
/// * [`start_timeout`](Self::start_timeout) (after `router.handle_timeout(now)`) handles every
///   due widening and wait-time exception — from a deadline set, `O(log n)` per due task,
///   never a scan;
/// * [`poll_timeout`](Self::poll_timeout) says when to do that next;
/// * [`reload`](Self::reload) swaps the workflows at run time: waiting tasks keep their age and
///   move to the step of the new workflow that matches it;
/// * [`poll_command`](Self::poll_command) yields the operation's commands, each computed
///   from the router as the previous ones left it.
///
/// Hosts that run the engine alone can let [`drive_arrive`](super::drive_arrive),
/// [`drive_timeout`](super::drive_timeout) and [`drive_reload`](super::drive_reload) apply
/// the commands for them.
///
/// Step targets without `task.…` references are compiled once; others are bound to each task.
///
/// # Example
/// ```
/// use switchboard::*;
/// use switchboard::workflow::*;
/// let mut router = Router::new(RouterConfig::default()).unwrap();
/// let acme = router.catalog_mut().tenant("acme");
/// let sizing = router.catalog_mut().skill("sizing");
/// let mut set = WorkflowSet::default();
/// set.default.insert("presale".into(), Workflow { steps: vec![
///     Step::new(r#"skill("sizing") >= 8"#).timeout_ms(30_000),
///     Step::new(r#"skill("sizing") >= 3"#),
/// ], exceptions: vec![] });
/// let mut flows = WorkflowEngine::new(set, router.catalog()).unwrap();
/// router.add_agent(Time::ZERO, AgentSpec::new(AgentId(1)).skill(sizing, 5)
///     .capacity(Channel::Chat, 1).state(AgentState::Available)).unwrap();
/// // The engine says what to do; the host does it.
/// let arrive = flows.arrive(&router, Time::ZERO,
///     TaskSpec::new(TaskId(7), acme, Channel::Chat), "presale", Default::default()).unwrap();
/// arrive.apply(&mut router, Time::ZERO).unwrap();
/// while let Some(cmd) = flows.poll_command(&router).unwrap() {
///     cmd.apply(&mut router, Time::ZERO).unwrap();
/// }
/// assert_eq!(router.task_state(TaskId(7)), Some(TaskState::Waiting)); // nobody at level 8
/// assert_eq!(flows.poll_timeout(&router), Some(Time::from_secs(30)));
/// // Or let a helper apply the commands.
/// drive_timeout(&mut flows, &mut router, Time::from_secs(30)).unwrap();
/// assert_eq!(flows.task(TaskId(7)).unwrap().step, 1);
/// assert!(matches!(router.task_state(TaskId(7)), Some(TaskState::Offered(_))));
/// ```
#[derive(Debug, Clone)]
pub struct WorkflowEngine {
    set: WorkflowSet,
    /// Parsed targets by (tenant override or `None`, task type): one per step, and the
    /// requirements when the target needs no task binding.
    parsed: Vec<Parsed>,
    /// Default workflows by task type (index into `parsed`).
    defaults: FxHashMap<String, usize>,
    /// Per tenant name, its own workflows by task type.
    by_tenant: FxHashMap<String, FxHashMap<String, usize>>,
    tasks: FxHashMap<TaskId, FlowTask>,
    deadlines: BTreeSet<(Time, TaskId)>,
    /// Tasks with a due change that were not waiting at the time.
    deferred: BTreeSet<TaskId>,
    effects: VecDeque<WorkflowEffect>,
    /// Shared tenant names for task records.
    tenant_names: FxHashMap<crate::TenantId, Arc<str>>,
    /// Pending work of the running operation (a stack: the end runs next).
    work: Vec<Work>,
    /// The running operation.
    pass: Pass,
    /// Its time.
    now: Time,
    /// Its first error, reported when it ends.
    first_err: Option<WorkflowError>,
    /// The task of the Arrive just returned by `arrive`, until the next poll.
    arrival: Option<TaskId>,
    /// The report of the last completed reload.
    reload_report: Option<ReloadReport>,
}

#[derive(Debug, Clone)]
struct Parsed {
    /// The task type.
    name: Arc<str>,
    wf: Workflow,
    steps: Vec<(Expr, Option<Requirements>)>,
    /// Whether any exception rule is on queue length (checked on entry only then).
    queue_rules: bool,
    /// Whether any step has `prefer` (preferences are re-set on every step change then).
    any_prefer: bool,
}

/// Compiled workflows and the two lookup maps.
type Compiled = (
    Vec<Parsed>,
    FxHashMap<String, usize>,
    FxHashMap<String, FxHashMap<String, usize>>,
);

/// Whether an expression mentions `task.…` (needs binding per task).
fn mentions_task(e: &Expr) -> bool {
    match e {
        Expr::Path(p) => p.first().is_some_and(|s| s == "task"),
        Expr::List(v) | Expr::Call(_, v) | Expr::And(v) | Expr::Or(v) => {
            v.iter().any(mentions_task)
        }
        Expr::Not(e) => mentions_task(e),
        Expr::Cmp(l, _, r) => mentions_task(l) || mentions_task(r),
        Expr::Num(_) | Expr::Str(_) | Expr::Bool(_) => false,
    }
}

fn parse_workflow(
    name: &str,
    wf: &Workflow,
    path: &str,
    catalog: &Catalog,
) -> Result<Parsed, WorkflowError> {
    let cfg = |p: String, m: String| WorkflowError::Config {
        path: p,
        message: m,
    };
    if wf.steps.is_empty() {
        return Err(cfg(
            format!("{path}.steps"),
            "a workflow needs at least one step".into(),
        ));
    }
    let mut steps = Vec::new();
    let mut last: Option<u64> = None;
    for (i, s) in wf.steps.iter().enumerate() {
        let p = format!("{path}.steps[{i}]");
        let e = Expr::parse(&s.target).map_err(|e| cfg(format!("{p}.target"), e.to_string()))?;
        let fixed = if mentions_task(&e) {
            None
        } else {
            let c = e
                .compile(catalog)
                .map_err(|e| cfg(format!("{p}.target"), e.message))?;
            let mut r = c.requirements;
            r.filter = c.residual.map(crate::expr::Filter::from_expr);
            Some(r)
        };
        if let (Some(prev), Some(t)) = (last, s.timeout_ms)
            && t <= prev
        {
            return Err(cfg(
                format!("{p}.timeout_ms"),
                format!("{t} is not after the previous step's timeout {prev}"),
            ));
        }
        last = s.timeout_ms.or(last);
        for (j, pr) in s.prefer.iter().enumerate() {
            let (name, w, skill) = match pr {
                StepPreference::Skill { skill, weight } => (skill, *weight, true),
                StepPreference::Tag { tag, weight } => (tag, *weight, false),
            };
            let known = if skill {
                catalog.find_skill(name).is_some()
            } else {
                catalog.find_tag(name).is_some()
            };
            if !known || !w.is_finite() {
                return Err(cfg(
                    format!("{p}.prefer[{j}]"),
                    format!("unknown name {name:?} or non-finite weight {w}"),
                ));
            }
        }
        steps.push((e, fixed));
    }
    for (i, r) in wf.exceptions.iter().enumerate() {
        if let ExceptionAction::Fallback { target } = &r.action {
            Expr::parse(target)
                .and_then(|e| e.compile(catalog).map(|_| ()))
                .map_err(|e| {
                    cfg(
                        format!("{path}.exceptions[{i}].action.fallback.target"),
                        e.to_string(),
                    )
                })?;
        }
    }
    Ok(Parsed {
        name: name.into(),
        wf: wf.clone(),
        steps,
        queue_rules: wf
            .exceptions
            .iter()
            .any(|r| matches!(r.when, Trigger::QueueLongerThan(_))),
        any_prefer: wf.steps.iter().any(|s| !s.prefer.is_empty()),
    })
}

impl WorkflowEngine {
    /// Compiles every workflow against the names in `catalog` (declare skills, tags and
    /// tenants first).
    ///
    /// # Errors
    /// [`WorkflowError::Config`] naming the first workflow field that does not compile.
    pub fn new(set: WorkflowSet, catalog: &Catalog) -> Result<Self, WorkflowError> {
        let (parsed, defaults, by_tenant) = Self::parse_set(&set, catalog)?;
        Ok(WorkflowEngine {
            set,
            parsed,
            defaults,
            by_tenant,
            tasks: FxHashMap::default(),
            deadlines: BTreeSet::new(),
            deferred: BTreeSet::new(),
            effects: VecDeque::new(),
            tenant_names: FxHashMap::default(),
            work: Vec::new(),
            pass: Pass::Idle,
            now: Time::ZERO,
            first_err: None,
            arrival: None,
            reload_report: None,
        })
    }

    fn parse_set(set: &WorkflowSet, catalog: &Catalog) -> Result<Compiled, WorkflowError> {
        let mut parsed = Vec::new();
        let mut defaults = FxHashMap::default();
        let mut by_tenant: FxHashMap<String, FxHashMap<String, usize>> = FxHashMap::default();
        for (k, wf) in &set.default {
            defaults.insert(k.clone(), parsed.len());
            parsed.push(parse_workflow(k, wf, &format!("workflows.{k}"), catalog)?);
        }
        for (t, m) in &set.tenants {
            for (k, wf) in m {
                let p = parse_workflow(k, wf, &format!("tenants.{t}.workflows.{k}"), catalog)?;
                by_tenant
                    .entry(t.clone())
                    .or_default()
                    .insert(k.clone(), parsed.len());
                parsed.push(p);
            }
        }
        for (owner, wfs) in std::iter::once((None, &set.default))
            .chain(set.tenants.iter().map(|(t, m)| (Some(t), m)))
        {
            for (k, wf) in wfs {
                for (i, r) in wf.exceptions.iter().enumerate() {
                    let path = owner.map_or(format!("workflows.{k}"), |t| {
                        format!("tenants.{t}.workflows.{k}")
                    });
                    match &r.action {
                        ExceptionAction::MoveTo { workflow }
                            if set
                                .get(owner.map_or("", String::as_str), workflow)
                                .is_none()
                                && !set.default.contains_key(workflow) =>
                        {
                            return Err(WorkflowError::Config {
                                path: format!("{path}.exceptions[{i}].action.move_to.workflow"),
                                message: format!("no workflow {workflow:?}"),
                            });
                        }
                        ExceptionAction::Overflow { tenant }
                            if catalog.find_tenant(tenant).is_none() =>
                        {
                            return Err(WorkflowError::Config {
                                path: format!("{path}.exceptions[{i}].action.overflow.tenant"),
                                message: format!("unknown tenant {tenant:?}"),
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok((parsed, defaults, by_tenant))
    }

    /// The workflows.
    #[must_use]
    pub fn workflows(&self) -> &WorkflowSet {
        &self.set
    }

    /// What the engine tracks, for a durable snapshot (effects not yet polled are not part of
    /// it).
    #[must_use]
    pub fn export_state(&self) -> WorkflowState {
        let mut tasks: Vec<(TaskId, FlowTask)> =
            self.tasks.iter().map(|(&k, v)| (k, v.clone())).collect();
        tasks.sort_unstable_by_key(|(k, _)| *k);
        WorkflowState {
            tasks,
            deferred: self.deferred.iter().copied().collect(),
        }
    }

    /// An engine for `set` that resumes the tasks of a saved [`WorkflowState`]: each task finds
    /// its workflow again by tenant and task type, and its next deadline is recomputed.
    ///
    /// # Errors
    /// [`WorkflowError::Config`] if `set` does not compile, [`WorkflowError::NoWorkflow`] if a
    /// saved task's workflow is not in `set` (restore with the set it ran under, then
    /// [`reload`](Self::reload)).
    ///
    /// # Example
    /// ```
    /// use switchboard::*;
    /// use switchboard::workflow::*;
    /// let mut router = Router::new(RouterConfig::default()).unwrap();
    /// let acme = router.catalog_mut().tenant("acme");
    /// let mut set = WorkflowSet::default();
    /// set.default.insert("t".into(), Workflow { steps: vec![
    ///     Step::new("false").timeout_ms(10_000), Step::new("true")], exceptions: vec![] });
    /// let mut flows = WorkflowEngine::new(set.clone(), router.catalog()).unwrap();
    /// drive_arrive(&mut flows, &mut router, Time::ZERO,
    ///     TaskSpec::new(TaskId(1), acme, Channel::Chat), "t", Default::default()).unwrap();
    /// let saved = serde_json::to_string(&flows.export_state()).unwrap();
    /// let back = WorkflowEngine::from_state(set, router.catalog(),
    ///     serde_json::from_str(&saved).unwrap()).unwrap();
    /// assert_eq!(back.poll_timeout(&router), Some(Time::from_secs(10)));
    /// ```
    pub fn from_state(
        set: WorkflowSet,
        catalog: &Catalog,
        state: WorkflowState,
    ) -> Result<Self, WorkflowError> {
        let mut e = WorkflowEngine::new(set, catalog)?;
        for (id, mut ft) in state.tasks {
            let Some(wf) = e.lookup(&ft.tenant, &ft.workflow) else {
                return Err(WorkflowError::NoWorkflow {
                    tenant: ft.tenant.to_string(),
                    task_type: ft.workflow.to_string(),
                });
            };
            ft.wf = wf;
            // The saved deadline, not a recomputed one: a deadline already consumed (a task
            // deferred because it was offered when its step ran out) must not fire again, so
            // that restoring equals replaying.
            if let Some(at) = ft.next {
                e.deadlines.insert((at, id));
            }
            e.tasks.insert(id, ft);
        }
        e.deferred = state
            .deferred
            .into_iter()
            .filter(|t| e.tasks.contains_key(t))
            .collect();
        Ok(e)
    }

    /// What the engine knows about a task, while it tracks it.
    #[must_use]
    pub fn task(&self, task: TaskId) -> Option<&FlowTask> {
        self.tasks.get(&task)
    }

    /// How many tasks the engine tracks.
    #[must_use]
    pub fn tracked(&self) -> usize {
        self.tasks.len()
    }

    /// The next effect for the host.
    pub fn poll_effect(&mut self) -> Option<WorkflowEffect> {
        self.effects.pop_front()
    }

    /// When to handle timeouts next ([`drive_timeout`](super::drive_timeout), or
    /// `router.handle_timeout` then [`start_timeout`](Self::start_timeout)): the earlier of the
    /// router's timers and the engine's deadlines. A deadline can already be past (a task that
    /// entered a step late, a change deferred while its task was offered): handle it at
    /// `max(due, router.now())`, never at a time before the router's clock.
    #[must_use]
    pub fn poll_timeout<P: Scoring>(&self, router: &Router<P>) -> Option<Time> {
        let own = self.deadlines.first().map(|&(t, _)| t);
        match (own, router.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Stops tracking a task (the host may call this when it completes; the engine also drops
    /// tasks it finds gone).
    pub fn forget(&mut self, task: TaskId) {
        if let Some(t) = self.tasks.remove(&task)
            && let Some(at) = t.next
        {
            self.deadlines.remove(&(at, task));
        }
        self.deferred.remove(&task);
    }

    /// The workflow a tenant's task of this type runs: the tenant's own, else the default.
    fn lookup(&self, tenant: &str, task_type: &str) -> Option<usize> {
        self.by_tenant
            .get(tenant)
            .and_then(|m| m.get(task_type))
            .or_else(|| self.defaults.get(task_type))
            .copied()
    }

    fn workflow(&self, ft: &FlowTask) -> Option<(&Workflow, &Parsed)> {
        let p = self.parsed.get(ft.wf)?;
        Some((&p.wf, p))
    }

    /// Routes a new task through the workflow for its tenant and `task_type`: it enters the
    /// first step its age has not passed (skipping steps whose `skip_if` holds, counted on
    /// `router` as it is now) and comes back as the [`RouterCommand::Arrive`] that hands it to
    /// the router with that step's target, strategy, priority and preferences. The spec's own
    /// requirements are replaced by the step's target; its preferences are kept and extended.
    ///
    /// The engine tracks the task (and queues its
    /// [`StepEntered`](WorkflowEffect::StepEntered) effect and first deadline) at once. Apply
    /// the command, then drain [`poll_command`](Self::poll_command): the task's queue-length
    /// rules are checked against the router *with* the task, as before. [`drive_arrive`](super::drive_arrive) does
    /// all of it. If the router refuses the command, tell the engine with
    /// [`command_failed`](Self::command_failed): it forgets the task and takes back its
    /// effect, so nothing is tracked — as when the router refused the task before.
    ///
    /// Starting an arrival abandons what is left of an earlier operation whose commands were
    /// not drained (see [`poll_command`](Self::poll_command)).
    ///
    /// # Errors
    /// [`WorkflowError::NoWorkflow`], [`WorkflowError::Config`] when a target bound to this
    /// task names an unknown skill or tag, [`WorkflowError::Router`] with
    /// [`RouterError::DuplicateTask`] when the engine or the router already has a live task
    /// with this id. Nothing changes on error.
    pub fn arrive<P: Scoring>(
        &mut self,
        router: &Router<P>,
        now: Time,
        spec: TaskSpec,
        task_type: &str,
        attrs: BTreeMap<String, AttrValue>,
    ) -> Result<RouterCommand, WorkflowError> {
        let name = router
            .catalog()
            .tenant_name(spec.tenant)
            .unwrap_or_default();
        let Some(wf) = self.lookup(name, task_type) else {
            return Err(WorkflowError::NoWorkflow {
                tenant: name.to_owned(),
                task_type: task_type.to_owned(),
            });
        };
        let tenant = match self.tenant_names.get(&spec.tenant) {
            Some(n) if **n == *name => n.clone(),
            _ => {
                let n: Arc<str> = name.into();
                self.tenant_names.insert(spec.tenant, n.clone());
                n
            }
        };
        if self.tasks.contains_key(&spec.id) {
            return Err(RouterError::DuplicateTask(spec.id).into());
        }
        let mut ft = FlowTask {
            wf,
            tenant_id: spec.tenant,
            tenant,
            workflow: self.parsed[wf].name.clone(),
            step: 0,
            created_at: spec.created_at.unwrap_or(now),
            priority: spec.priority,
            preferences: spec.preferences.clone(),
            customer: spec.customer,
            sla_ms: spec.sla_ms,
            strategy: spec.strategy,
            attrs,
            fired: Vec::new(),
            raised: PriorityChange::default(),
            pinned: None,
            next: None,
        };
        let (step, skipped) = self.settle(router, &ft, &spec, now, 0)?;
        ft.step = step;
        let target = self.target(router, &ft, step, &spec)?;
        let mut spec = spec;
        spec.requirements = target.requirements;
        if let Some(s) = target.strategy {
            spec.strategy = Some(s);
        }
        if let Some(p) = target.priority {
            spec.priority = p;
        }
        if let Some(p) = target.preferences {
            spec.preferences = p;
        }
        let id = spec.id;
        if router.task_state(id).is_some() {
            // The router would refuse the Arrive: refuse it here, before tracking anything.
            return Err(RouterError::DuplicateTask(id).into());
        }
        self.abandon();
        self.now = now;
        self.effects.push_back(WorkflowEffect::StepEntered {
            task: id,
            workflow: ft.workflow.clone(),
            step,
            skipped,
        });
        self.tasks.insert(id, ft);
        // Scheduled now so that a host that never drains still widens the task; scheduled
        // again (same result unless a queue rule changed the task) once its rules ran.
        self.schedule(id, now);
        self.pass = Pass::Arrive;
        self.work.push(Work::Arrived(id));
        self.arrival = Some(id);
        Ok(RouterCommand::Arrive(spec))
    }
    /// A spec-like view of the task for binding targets (tenant, channel, customer, priority).
    fn view_spec<P: Scoring>(router: &Router<P>, id: TaskId, ft: &FlowTask) -> Option<TaskSpec> {
        let channel = router.task_channel(id)?;
        let tenant = ft.tenant_id;
        let mut s = TaskSpec::new(id, tenant, channel);
        s.priority = ft.priority;
        s.preferences = ft.preferences.clone();
        s.customer = ft.customer;
        s.sla_ms = ft.sla_ms;
        Some(s)
    }

    /// The step a task with this age belongs in, from `from` on, and the steps skipped.
    fn settle<P: Scoring>(
        &self,
        router: &Router<P>,
        ft: &FlowTask,
        spec: &TaskSpec,
        now: Time,
        from: usize,
    ) -> Result<(usize, Vec<usize>), WorkflowError> {
        let Some((wf, _)) = self.workflow(ft) else {
            return Ok((ft.step, Vec::new()));
        };
        let age = now.as_millis().saturating_sub(ft.created_at.as_millis());
        let mut skipped = Vec::new();
        let last = wf.steps.len() - 1;
        let mut i = from.min(last);
        while i < last {
            let s = &wf.steps[i];
            if s.timeout_ms.is_some_and(|t| age >= t) {
                i += 1;
                continue;
            }
            if let Some(cond) = s.skip_if {
                let reqs = self.step_requirements(router, ft, i, spec)?;
                let e = router.eligible_count(spec.channel, spec.tenant, &reqs);
                let skip = match cond {
                    SkipIf::NoEligibleAgent => e.registered == 0,
                    SkipIf::NoAvailableAgent => e.available == 0,
                    SkipIf::NoFreeAgent => e.free == 0,
                };
                if skip {
                    skipped.push(i);
                    i += 1;
                    continue;
                }
            }
            break;
        }
        Ok((i, skipped))
    }

    fn step_requirements<P: Scoring>(
        &self,
        router: &Router<P>,
        ft: &FlowTask,
        step: usize,
        spec: &TaskSpec,
    ) -> Result<Requirements, WorkflowError> {
        if let Some(pin) = &ft.pinned {
            return Self::bind(router, pin, ft, spec, "pinned target");
        }
        let Some((_, parsed)) = self.workflow(ft) else {
            return Err(WorkflowError::NoWorkflow {
                tenant: ft.tenant.to_string(),
                task_type: ft.workflow.to_string(),
            });
        };
        let Some((expr, fixed)) = parsed.steps.get(step) else {
            return Err(WorkflowError::Config {
                path: format!("{}.steps[{step}]", ft.workflow),
                message: "no such step".into(),
            });
        };
        if let Some(r) = fixed {
            return Ok(r.clone());
        }
        Self::compile_bound(router, expr, ft, spec, || {
            format!("{}.steps[{step}].target", ft.workflow)
        })
    }

    /// Compiles a target bound to this task (see [`Expr::compile_for`]).
    fn compile_bound<P: Scoring>(
        router: &Router<P>,
        expr: &Expr,
        ft: &FlowTask,
        spec: &TaskSpec,
        path: impl FnOnce() -> String,
    ) -> Result<Requirements, WorkflowError> {
        let empty = Requirements::default();
        let view = TaskView {
            tenant: spec.tenant,
            channel: spec.channel,
            requirements: &empty,
            preferences: &spec.preferences,
            customer: spec.customer,
            priority: spec.priority,
            sla_ms: spec.sla_ms.unwrap_or(0),
        };
        expr.compile_for(&view, router.catalog(), &ft.attrs)
            .map_err(|e| WorkflowError::Config {
                path: path(),
                message: e.message,
            })
    }

    fn bind<P: Scoring>(
        router: &Router<P>,
        src: &str,
        ft: &FlowTask,
        spec: &TaskSpec,
        what: &str,
    ) -> Result<Requirements, WorkflowError> {
        let err = |m: String| WorkflowError::Config {
            path: what.to_owned(),
            message: m,
        };
        let e = Expr::parse(src).map_err(|e| err(e.to_string()))?;
        Self::compile_bound(router, &e, ft, spec, || what.to_owned())
    }

    /// The router target for the task's current step (or pinned target).
    fn target<P: Scoring>(
        &self,
        router: &Router<P>,
        ft: &FlowTask,
        step_index: usize,
        spec: &TaskSpec,
    ) -> Result<Retarget, WorkflowError> {
        let requirements = self.step_requirements(router, ft, step_index, spec)?;
        let parsed = self.workflow(ft).map(|(_, p)| p);
        let step = parsed
            .and_then(|p| p.wf.steps.get(step_index))
            .filter(|_| ft.pinned.is_none());
        let change = step.and_then(|s| s.priority).unwrap_or_default();
        let class = ft
            .raised
            .class
            .or(change.class)
            .unwrap_or(ft.priority.class);
        let priority = Priority {
            class,
            base: ft.priority.base + change.boost + ft.raised.boost,
        };
        // Preferences are replaced only by workflows that use `prefer` (and for pinned tasks
        // of such workflows); otherwise the task keeps the ones it arrived with.
        let any_prefer = parsed.is_some_and(|p| p.any_prefer);
        let mut prefs = if any_prefer {
            ft.preferences.clone()
        } else {
            Preferences::default()
        };
        for p in step.map_or(&[][..], |s| &s.prefer[..]) {
            match p {
                StepPreference::Skill { skill, weight } => {
                    if let Some(id) = router.catalog().find_skill(skill) {
                        prefs.skills.push((id, *weight));
                    }
                }
                StepPreference::Tag { tag, weight } => {
                    if let Some(id) = router.catalog().find_tag(tag) {
                        prefs.tags.push((id, *weight));
                    }
                }
            }
        }
        Ok(Retarget {
            requirements,
            strategy: Some(
                step.and_then(|s| s.strategy)
                    .or(ft.strategy)
                    .unwrap_or(router.config().default_strategy),
            ),
            priority: Some(priority),
            preferences: any_prefer.then_some(prefs),
        })
    }

    /// (Re)computes the task's next deadline: its step's timeout, or the next wait-time rule.
    fn schedule(&mut self, id: TaskId, _now: Time) {
        let Some(ft) = self.tasks.get(&id) else {
            return;
        };
        let mut next: Option<Time> = None;
        if let Some((wf, _)) = self.workflow(ft) {
            if ft.pinned.is_none() && ft.step + 1 < wf.steps.len() {
                next = wf.steps[ft.step]
                    .timeout_ms
                    .map(|t| ft.created_at.plus_millis(t));
            }
            for r in &wf.exceptions {
                if let Trigger::WaitOverMs(ms) = r.when
                    && !ft.fired.contains(&r.name)
                {
                    let at = ft.created_at.plus_millis(ms);
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
        }
        let old = ft.next;
        if let Some(at) = old {
            self.deadlines.remove(&(at, id));
        }
        if let Some(at) = next {
            self.deadlines.insert((at, id));
        }
        if let Some(ft) = self.tasks.get_mut(&id) {
            ft.next = next;
        }
    }

    /// Forgets the rest of an operation whose commands were not drained: the task being
    /// handled keeps the state it reached (as when a router error cut an operation short
    /// before), due tasks not yet handled stay due.
    fn abandon(&mut self) {
        self.work.clear();
        self.pass = Pass::Idle;
        self.first_err = None;
        self.arrival = None;
    }

    /// Starts handling the engine's timers at `now`: every due widening and wait-time rule,
    /// task by task in deadline order, then any deferred change whose task is waiting again.
    /// Fire the router's own timers first (`router.handle_timeout(now)`, as the engine did
    /// before), then drain [`poll_command`](Self::poll_command); [`drive_timeout`](super::drive_timeout) does both.
    ///
    /// Starting abandons what is left of an earlier operation whose commands were not drained.
    pub fn start_timeout(&mut self, now: Time) {
        self.abandon();
        self.now = now;
        self.pass = Pass::Timeout { deferred: None };
    }

    /// The next command of the running operation ([`arrive`](Self::arrive),
    /// [`start_timeout`](Self::start_timeout), [`reload`](Self::reload)), computed from
    /// `router` as it is now; `None` once the operation is done. Apply each command to the
    /// router before polling again: the engine emits one command at a time and reads the router
    /// again before deciding the next (a due task sees the previous task's retarget; a task's
    /// queue-length rules see the queue it just entered), so the result is the same as when
    /// the engine called the router itself. The engine's effects are queued at the same
    /// moments as before.
    ///
    /// If the router refuses a command, call [`command_failed`](Self::command_failed) before
    /// polling again: the rest of that task's work is dropped (the task keeps the state it
    /// reached, as when the router's error cut the call short before). Polling again without
    /// it treats the command as applied (the engine's record of that task may then be ahead of
    /// the router until its next step change); nothing panics either way.
    ///
    /// # Errors
    /// The first error of the operation, once: for a timeout pass after every other due task
    /// was handled (a task whose bound target no longer compiles is left where it is and
    /// reported as [`WorkflowError::Config`]); for an arrival or a reload at once, which ends
    /// it (the reload's other tasks are not moved then).
    pub fn poll_command<P: Scoring>(
        &mut self,
        router: &Router<P>,
    ) -> Result<Option<RouterCommand>, WorkflowError> {
        self.arrival = None;
        loop {
            if let Some(w) = self.work.pop() {
                match self.run(router, w) {
                    Ok(Some(c)) => return Ok(Some(c)),
                    Ok(None) => {}
                    Err(e) => self.unit_failed(e),
                }
                continue;
            }
            if !self.next_unit(router) {
                break;
            }
        }
        self.first_err.take().map_or(Ok(None), Err)
    }

    /// The router refused the last command this engine emitted (`error` is what it said).
    /// A refused [`RouterCommand::Arrive`]: the engine forgets the task and takes back its
    /// `StepEntered` effect. Any other: the rest of that task's work is dropped. The error is
    /// reported by the next [`poll_command`](Self::poll_command) — at once for an arrival or a
    /// reload (a reload stops there), after the other due tasks for a timeout pass.
    pub fn command_failed(&mut self, error: RouterError) {
        if let Some(id) = self.arrival.take() {
            if matches!(self.effects.back(),
                Some(WorkflowEffect::StepEntered { task, .. }) if *task == id)
            {
                self.effects.pop_back();
            }
            self.forget(id);
        }
        self.unit_failed(WorkflowError::Router(error));
    }

    /// A task's work failed: drop the rest of it; a timeout pass goes on with the next task,
    /// an arrival or a reload stops.
    fn unit_failed(&mut self, e: WorkflowError) {
        self.work.clear();
        self.first_err.get_or_insert(e);
        if !matches!(self.pass, Pass::Timeout { .. }) {
            self.pass = Pass::Idle;
        }
    }

    /// Queues the work of the running operation's next task; `false` when there is none.
    fn next_unit<P: Scoring>(&mut self, router: &Router<P>) -> bool {
        let mut pass = std::mem::take(&mut self.pass);
        let more = match &mut pass {
            Pass::Idle | Pass::Arrive => false,
            Pass::Timeout { deferred } => self.next_due(router, deferred),
            Pass::Reload { ids, report } => self.next_reload(router, ids, report),
        };
        if more {
            self.pass = pass;
        } else if let Pass::Reload { report, .. } = pass {
            self.reload_report = Some(report);
        }
        more
    }

    /// The next due task (deadline order), then the deferred tasks waiting again.
    fn next_due<P: Scoring>(
        &mut self,
        router: &Router<P>,
        deferred: &mut Option<VecDeque<TaskId>>,
    ) -> bool {
        if deferred.is_none() {
            if let Some(&(at, id)) = self.deadlines.first()
                && at <= self.now
            {
                self.deadlines.remove(&(at, id));
                if let Some(ft) = self.tasks.get_mut(&id) {
                    ft.next = None;
                }
                self.work.push(Work::Due(id));
                return true;
            }
            *deferred = Some(self.deferred.iter().copied().collect());
        }
        let Some(q) = deferred else {
            return false;
        };
        while let Some(id) = q.pop_front() {
            if !matches!(router.task_state(id), Some(TaskState::Offered(_))) {
                self.work.push(Work::Apply(id));
                return true;
            }
        }
        false
    }

    /// The next task of a reload, by id.
    fn next_reload<P: Scoring>(
        &mut self,
        router: &Router<P>,
        ids: &mut VecDeque<TaskId>,
        report: &mut ReloadReport,
    ) -> bool {
        while let Some(id) = ids.pop_front() {
            let Some(ft) = self.tasks.get(&id) else {
                continue;
            };
            let wf = self.lookup(&ft.tenant, &ft.workflow);
            let known = wf.is_some();
            if let Some(ft) = self.tasks.get_mut(&id) {
                ft.step = 0;
                if let Some(wf) = wf {
                    ft.wf = wf;
                }
            }
            match router.task_state(id) {
                Some(TaskState::Waiting) if known => {
                    report.moved += 1;
                    self.work.push(Work::Apply(id));
                    return true;
                }
                Some(TaskState::Offered(_)) if known => {
                    self.deferred.insert(id);
                    report.deferred += 1;
                }
                Some(TaskState::Waiting | TaskState::Offered(_)) => {
                    report.orphaned += 1;
                    self.forget(id);
                }
                _ => {
                    report.dropped += 1;
                    self.forget(id);
                }
            }
        }
        false
    }

    /// Runs one piece of work; returns the command it emits, if any (its continuation is
    /// queued, to run once the command is applied).
    fn run<P: Scoring>(
        &mut self,
        router: &Router<P>,
        w: Work,
    ) -> Result<Option<RouterCommand>, WorkflowError> {
        let now = self.now;
        match w {
            Work::Arrived(id) => {
                if router.task_state(id).is_none() {
                    // The Arrive was not applied (and not reported): track nothing.
                    self.forget(id);
                } else {
                    self.work.push(Work::Schedule(id));
                    self.work.push(Work::QueueRules(id));
                }
            }
            Work::Schedule(id) => self.schedule(id, now),
            Work::QueueRules(id) => self.queue_rules(router, id),
            Work::QueueLoop(id, mut rules) => {
                if let Some((name, action)) = rules.pop_front()
                    && router.task_state(id) == Some(TaskState::Waiting)
                {
                    if !rules.is_empty() {
                        self.work.push(Work::QueueLoop(id, rules));
                    }
                    return self.fire(router, now, id, name, action);
                }
            }
            Work::CalledBack(id, rule) => {
                self.effects
                    .push_back(WorkflowEffect::Callback { task: id, rule });
                self.forget(id);
            }
            Work::Apply(id) => return self.apply(router, now, id),
            Work::Entered {
                task,
                workflow,
                step,
                skipped,
            } => {
                self.effects.push_back(WorkflowEffect::StepEntered {
                    task,
                    workflow,
                    step,
                    skipped,
                });
                if let Some(ft) = self.tasks.get_mut(&task) {
                    ft.step = step;
                }
                self.schedule(task, now);
                self.queue_rules(router, task);
            }
            Work::Due(id) => self.due(router, now, id),
            Work::DueRules(id, mut rules) => {
                if let Some((name, action)) = rules.pop_front()
                    && self.tasks.contains_key(&id)
                {
                    if !rules.is_empty() {
                        self.work.push(Work::DueRules(id, rules));
                    }
                    return self.fire(router, now, id, name, action);
                }
            }
            Work::ApplyIfTracked(id) => {
                if self.tasks.contains_key(&id) {
                    return self.apply(router, now, id);
                }
            }
        }
        Ok(None)
    }

    /// Queues the queue-length rules of a task that just entered a queue (the queue's length
    /// is read now; the rules fire one by one while the task waits).
    fn queue_rules<P: Scoring>(&mut self, router: &Router<P>, id: TaskId) {
        let Some(ft) = self.tasks.get(&id) else {
            return;
        };
        let Some((wf, parsed)) = self.workflow(ft) else {
            return;
        };
        if !parsed.queue_rules {
            return;
        }
        let len = router
            .task_queue(id)
            .and_then(|q| router.queue_len(q))
            .unwrap_or(0);
        let due: VecDeque<(String, ExceptionAction)> = wf
            .exceptions
            .iter()
            .filter(|r| matches!(r.when, Trigger::QueueLongerThan(n) if len > n))
            .filter(|r| !ft.fired.contains(&r.name))
            .map(|r| (r.name.clone(), r.action.clone()))
            .collect();
        if !due.is_empty() {
            self.work.push(Work::QueueLoop(id, due));
        }
    }

    fn fire<P: Scoring>(
        &mut self,
        router: &Router<P>,
        now: Time,
        id: TaskId,
        rule: String,
        action: ExceptionAction,
    ) -> Result<Option<RouterCommand>, WorkflowError> {
        let moved_to = match &action {
            ExceptionAction::MoveTo { workflow } => self
                .tasks
                .get(&id)
                .and_then(|ft| self.lookup(&ft.tenant, workflow)),
            _ => None,
        };
        let Some(ft) = self.tasks.get_mut(&id) else {
            return Ok(None);
        };
        ft.fired.push(rule.clone());
        self.effects.push_back(WorkflowEffect::ExceptionFired {
            task: id,
            rule: rule.clone(),
        });
        match action {
            ExceptionAction::RaisePriority(c) => {
                ft.raised.boost += c.boost;
                if c.class.is_some() {
                    ft.raised.class = c.class;
                }
            }
            ExceptionAction::MoveTo { workflow } => {
                // Validated at load: the workflow exists for this tenant or by default.
                if let Some(wf) = moved_to {
                    ft.wf = wf;
                    ft.workflow = workflow.into();
                }
                ft.step = 0;
                ft.pinned = None;
            }
            ExceptionAction::Overflow { tenant } => {
                ft.pinned = Some(format!("{} in agent.certified", Expr::Str(tenant)));
            }
            ExceptionAction::ToBot => ft.pinned = Some(r#"agent.kind == "bot""#.into()),
            ExceptionAction::Fallback { target } => ft.pinned = Some(target),
            ExceptionAction::Callback => {
                self.work.push(Work::CalledBack(id, rule));
                return Ok(Some(RouterCommand::Cancel { task: id }));
            }
        }
        self.apply(router, now, id)
    }

    /// Moves a waiting task to the step its age and the skip conditions call for, and emits
    /// the router's retarget. Non-waiting tasks are deferred; finished ones dropped.
    fn apply<P: Scoring>(
        &mut self,
        router: &Router<P>,
        now: Time,
        id: TaskId,
    ) -> Result<Option<RouterCommand>, WorkflowError> {
        match router.task_state(id) {
            Some(TaskState::Waiting) => {}
            Some(TaskState::Offered(_)) => {
                // No deadline until it waits again (then its step is settled by age and its
                // due rules fire): the offer is left alone.
                self.deferred.insert(id);
                return Ok(None);
            }
            _ => {
                self.forget(id);
                return Ok(None);
            }
        }
        self.deferred.remove(&id);
        let Some(ft) = self.tasks.get(&id) else {
            return Ok(None);
        };
        let Some(spec) = Self::view_spec(router, id, ft) else {
            self.forget(id);
            return Ok(None);
        };
        let (step, skipped) = if ft.pinned.is_some() {
            (ft.step, Vec::new())
        } else {
            self.settle(router, ft, &spec, now, ft.step)?
        };
        let target = self.target(router, ft, step, &spec)?;
        self.work.push(Work::Entered {
            task: id,
            workflow: ft.workflow.clone(),
            step,
            skipped,
        });
        Ok(Some(RouterCommand::Retarget { task: id, target }))
    }

    /// A task's deadline came: fire due wait-time rules, then widen.
    fn due<P: Scoring>(&mut self, router: &Router<P>, now: Time, id: TaskId) {
        let Some(ft) = self.tasks.get(&id) else {
            return;
        };
        if !matches!(
            router.task_state(id),
            Some(TaskState::Waiting | TaskState::Offered(_))
        ) {
            self.forget(id);
            return;
        }
        let age = now.as_millis().saturating_sub(ft.created_at.as_millis());
        let rules: VecDeque<(String, ExceptionAction)> = self
            .workflow(ft)
            .map(|(wf, _)| {
                wf.exceptions
                    .iter()
                    .filter(|r| matches!(r.when, Trigger::WaitOverMs(ms) if age >= ms))
                    .filter(|r| !ft.fired.contains(&r.name))
                    .map(|r| (r.name.clone(), r.action.clone()))
                    .collect()
            })
            .unwrap_or_default();
        self.work.push(Work::ApplyIfTracked(id));
        if router.task_state(id) == Some(TaskState::Waiting) && !rules.is_empty() {
            self.work.push(Work::DueRules(id, rules));
        }
    }

    /// Swaps in new workflows without losing any task: every tracked task still waiting moves
    /// to the step of its (tenant, type) workflow in the new set that matches its age (exception
    /// rules already fired stay fired); offered tasks are moved if they come back to waiting.
    ///
    /// The new set is installed at once; the tasks are moved one by one (by id) as
    /// [`poll_command`](Self::poll_command) is drained, each against the router as the
    /// previous one's commands left it. Then [`take_reload_report`](Self::take_reload_report)
    /// says what happened; [`drive_reload`](super::drive_reload) does all of it. Starting a reload abandons what is
    /// left of an earlier operation whose commands were not drained.
    ///
    /// # Errors
    /// [`WorkflowError::Config`] if the new set does not compile — nothing changes then.
    pub fn reload<P: Scoring>(
        &mut self,
        router: &Router<P>,
        now: Time,
        set: WorkflowSet,
    ) -> Result<(), WorkflowError> {
        let (parsed, defaults, by_tenant) = Self::parse_set(&set, router.catalog())?;
        self.abandon();
        self.set = set;
        self.parsed = parsed;
        self.defaults = defaults;
        self.by_tenant = by_tenant;
        let mut ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        ids.sort_unstable();
        self.now = now;
        self.reload_report = None;
        self.pass = Pass::Reload {
            ids: ids.into(),
            report: ReloadReport::default(),
        };
        Ok(())
    }

    /// What the last reload did, once its commands are drained (then `None` until the next
    /// reload completes; also `None` if it stopped on an error).
    pub fn take_reload_report(&mut self) -> Option<ReloadReport> {
        self.reload_report.take()
    }
}

/// One piece of the engine's pending work: what were nested calls around the router's
/// mutations, unrolled into a stack so that the host can apply each command before the engine
/// reads the router again. Popped from the end.
#[derive(Debug, Clone)]
enum Work {
    /// An arrival's Arrive was applied: check its queue-length rules, then reschedule.
    Arrived(TaskId),
    /// Recompute a task's deadline.
    Schedule(TaskId),
    /// Read the task's queue length and queue the rules it triggers.
    QueueRules(TaskId),
    /// Queue-length rules left to fire, while the task waits.
    QueueLoop(TaskId, VecDeque<(String, ExceptionAction)>),
    /// A callback's Cancel was applied.
    CalledBack(TaskId, String),
    /// Move the task to its step (emits a Retarget).
    Apply(TaskId),
    /// A step change's Retarget was applied.
    Entered {
        task: TaskId,
        workflow: Arc<str>,
        step: usize,
        skipped: Vec<usize>,
    },
    /// A task's deadline came.
    Due(TaskId),
    /// Due wait-time rules left to fire, while the engine tracks the task.
    DueRules(TaskId, VecDeque<(String, ExceptionAction)>),
    /// After a due task's rules: move it to its step if still tracked.
    ApplyIfTracked(TaskId),
}

/// The operation whose commands are being drained.
#[derive(Debug, Clone, Default)]
enum Pass {
    /// None.
    #[default]
    Idle,
    /// An arrival (one task).
    Arrive,
    /// A timeout pass: due tasks, then (once `deferred` is set) the deferred tasks.
    Timeout { deferred: Option<VecDeque<TaskId>> },
    /// A reload: the tasks left, by id, and the report so far.
    Reload {
        ids: VecDeque<TaskId>,
        report: ReloadReport,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_task_finds_task_paths() {
        assert!(mentions_task(
            &Expr::parse("agent.id == task.previous_agent").unwrap()
        ));
        assert!(!mentions_task(&Expr::parse(r#"has_tag("x")"#).unwrap()));
    }
}
