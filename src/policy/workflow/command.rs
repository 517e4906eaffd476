//! What the [`WorkflowEngine`] asks of the router: [`RouterCommand`]s, which the host applies
//! (the engine only reads the router), and the `drive_*` helpers that apply them for hosts
//! that run the engine alone.

use super::{ReloadReport, WorkflowEngine, WorkflowError, WorkflowSet};
use crate::expr::AttrValue;
use crate::{Event, Retarget, Router, RouterError, Scoring, TaskId, TaskSpec, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A router call the [`WorkflowEngine`] wants made: returned by
/// [`WorkflowEngine::arrive`] and [`WorkflowEngine::poll_command`], applied by the host with
/// [`apply`](Self::apply) (or journaled: each is an [`Event`] too).
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
/// let mut flows = WorkflowEngine::new(set, router.catalog()).unwrap();
/// let cmd = flows.arrive(&router, Time::ZERO, TaskSpec::new(TaskId(1), acme, Channel::Chat),
///     "t", Default::default()).unwrap();
/// assert!(matches!(&cmd, RouterCommand::Arrive(spec) if spec.id == TaskId(1)));
/// let line = serde_json::to_string(&cmd).unwrap();          // journal it
/// assert_eq!(serde_json::from_str::<RouterCommand>(&line).unwrap(), cmd);
/// cmd.apply(&mut router, Time::ZERO).unwrap();
/// while let Some(cmd) = flows.poll_command(&router).unwrap() {
///     cmd.apply(&mut router, Time::ZERO).unwrap();
/// }
/// assert_eq!(router.task_state(TaskId(1)), Some(TaskState::Waiting));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RouterCommand {
    /// [`Router::arrive`]: the task, with its step's target, strategy, priority and
    /// preferences.
    Arrive(TaskSpec),
    /// [`Router::retarget`]: move a waiting task to a new step (or pinned target).
    Retarget {
        /// The task.
        task: TaskId,
        /// Its new target.
        target: Retarget,
    },
    /// [`Router::cancel`]: a callback rule withdrew the task.
    Cancel {
        /// The task.
        task: TaskId,
    },
}

impl RouterCommand {
    /// Makes the router call at `now`.
    ///
    /// # Errors
    /// Whatever the router call returns (the router is unchanged then); tell the engine with
    /// [`WorkflowEngine::command_failed`].
    pub fn apply<P: Scoring>(self, router: &mut Router<P>, now: Time) -> Result<(), RouterError> {
        match self {
            RouterCommand::Arrive(spec) => router.arrive(now, spec),
            RouterCommand::Retarget { task, target } => router.retarget(now, task, target),
            RouterCommand::Cancel { task } => router.cancel(now, task),
        }
    }
}

impl From<RouterCommand> for Event {
    fn from(c: RouterCommand) -> Event {
        match c {
            RouterCommand::Arrive(spec) => Event::Arrive(spec),
            RouterCommand::Retarget { task, target } => Event::Retarget { task, target },
            RouterCommand::Cancel { task } => Event::Cancel { task },
        }
    }
}

/// Drains the engine's pending commands and applies them to `router` at `now` — for hosts
/// that run the engine alone (it applies the commands for you). A refused command is reported
/// to the engine ([`WorkflowEngine::command_failed`]) and the operation goes on as
/// [`WorkflowEngine::poll_command`] describes.
///
/// # Errors
/// The operation's first error (see [`WorkflowEngine::poll_command`]).
pub fn drive<P: Scoring>(
    flows: &mut WorkflowEngine,
    router: &mut Router<P>,
    now: Time,
) -> Result<(), WorkflowError> {
    while let Some(cmd) = flows.poll_command(router)? {
        if let Err(e) = cmd.apply(router, now) {
            flows.command_failed(e);
        }
    }
    Ok(())
}

/// [`WorkflowEngine::arrive`], then applies its commands (the Arrive, then any its
/// queue-length rules call for): what `flows.arrive(&mut router, …)` did before.
///
/// # Errors
/// As [`WorkflowEngine::arrive`], and [`WorkflowError::Router`] when the router refuses the
/// task (nothing is tracked then).
pub fn drive_arrive<P: Scoring>(
    flows: &mut WorkflowEngine,
    router: &mut Router<P>,
    now: Time,
    spec: TaskSpec,
    task_type: &str,
    attrs: BTreeMap<String, AttrValue>,
) -> Result<(), WorkflowError> {
    let cmd = flows.arrive(router, now, spec, task_type, attrs)?;
    if let Err(e) = cmd.apply(router, now) {
        flows.command_failed(e);
    }
    drive(flows, router, now)
}

/// Fires the router's due timers (`router.handle_timeout(now)`), then the engine's
/// ([`WorkflowEngine::start_timeout`]), applying its commands task by task: what
/// `flows.handle_timeout(&mut router, now)` did before.
///
/// # Errors
/// [`WorkflowError::Router`] if the router refuses `now` (time going backwards; nothing runs
/// then), else the first error of the pass, after every due task was handled.
pub fn drive_timeout<P: Scoring>(
    flows: &mut WorkflowEngine,
    router: &mut Router<P>,
    now: Time,
) -> Result<(), WorkflowError> {
    router.handle_timeout(now)?;
    flows.start_timeout(now);
    drive(flows, router, now)
}

/// [`WorkflowEngine::reload`], then applies its commands and returns its report: what
/// `flows.reload(&mut router, now, set)` did before.
///
/// # Errors
/// [`WorkflowError::Config`] if `set` does not compile (nothing changes then); the first
/// error moving a task (the tasks after it are not moved).
pub fn drive_reload<P: Scoring>(
    flows: &mut WorkflowEngine,
    router: &mut Router<P>,
    now: Time,
    set: WorkflowSet,
) -> Result<ReloadReport, WorkflowError> {
    flows.reload(router, now, set)?;
    drive(flows, router, now)?;
    Ok(flows.take_reload_report().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    //! Commands out: each input's exact list of commands (and effects), OpenRaft style.
    use super::*;
    use crate::workflow::{
        ExceptionAction, ExceptionRule, SkipIf, Step, Trigger, Workflow, WorkflowEffect,
    };
    use crate::{
        AgentId, AgentSpec, AgentState, Channel, Requirements, RouterConfig, SkillId, TaskState,
        TenantId,
    };

    fn secs(s: u64) -> Time {
        Time::from_secs(s)
    }

    fn setup(wf: Workflow) -> (Router, WorkflowEngine, TenantId, SkillId) {
        let mut router = Router::new(RouterConfig::default()).unwrap();
        let acme = router.catalog_mut().tenant("acme");
        let sizing = router.catalog_mut().skill("sizing");
        let mut set = WorkflowSet::default();
        set.default.insert("presale".into(), wf);
        let flows = WorkflowEngine::new(set, router.catalog()).unwrap();
        (router, flows, acme, sizing)
    }

    fn two_steps() -> Workflow {
        Workflow {
            steps: vec![
                Step::new(r#"skill("sizing") >= 8"#).timeout_ms(30_000),
                Step::new(r#"skill("sizing") >= 3"#),
            ],
            exceptions: vec![],
        }
    }

    /// Every command until the operation ends, applied at `now` as they come.
    fn drain(flows: &mut WorkflowEngine, router: &mut Router, now: Time) -> Vec<RouterCommand> {
        let mut out = Vec::new();
        while let Some(c) = flows.poll_command(router).unwrap() {
            c.clone().apply(router, now).unwrap();
            out.push(c);
        }
        out
    }

    fn effects(flows: &mut WorkflowEngine) -> Vec<WorkflowEffect> {
        std::iter::from_fn(|| flows.poll_effect()).collect()
    }

    fn entered(task: u64, step: usize, skipped: Vec<usize>) -> WorkflowEffect {
        WorkflowEffect::StepEntered {
            task: TaskId(task),
            workflow: "presale".into(),
            step,
            skipped,
        }
    }

    /// What the engine hands the router for a step with target `skill("sizing") >= level`.
    fn target(router: &Router, sizing: SkillId, level: u8) -> Retarget {
        Retarget {
            requirements: Requirements::default().skill(sizing, level),
            strategy: Some(router.config().default_strategy),
            priority: Some(TaskSpec::new(TaskId(0), TenantId(0), Channel::Chat).priority),
            preferences: None,
        }
    }

    #[test]
    fn an_arrival_is_one_arrive_with_the_first_steps_target() {
        let (mut router, mut flows, acme, sizing) = setup(two_steps());
        let spec = TaskSpec::new(TaskId(7), acme, Channel::Chat);
        let cmd = flows
            .arrive(
                &router,
                Time::ZERO,
                spec.clone(),
                "presale",
                BTreeMap::new(),
            )
            .unwrap();
        let t = target(&router, sizing, 8);
        let mut want = spec;
        want.requirements = t.requirements;
        want.strategy = t.strategy;
        assert_eq!(cmd, RouterCommand::Arrive(want));
        // The engine did not touch the router.
        assert_eq!(router.task_state(TaskId(7)), None);
        cmd.apply(&mut router, Time::ZERO).unwrap();
        assert_eq!(drain(&mut flows, &mut router, Time::ZERO), vec![]);
        assert_eq!(effects(&mut flows), vec![entered(7, 0, vec![])]);
        assert_eq!(flows.poll_timeout(&router), Some(secs(30)));
    }

    #[test]
    fn a_step_timeout_is_one_retarget() {
        let (mut router, mut flows, acme, sizing) = setup(two_steps());
        drive_arrive(
            &mut flows,
            &mut router,
            Time::ZERO,
            TaskSpec::new(TaskId(7), acme, Channel::Chat),
            "presale",
            BTreeMap::new(),
        )
        .unwrap();
        effects(&mut flows);
        router.handle_timeout(secs(30)).unwrap();
        flows.start_timeout(secs(30));
        assert_eq!(
            drain(&mut flows, &mut router, secs(30)),
            vec![RouterCommand::Retarget {
                task: TaskId(7),
                target: target(&router, sizing, 3),
            }]
        );
        assert_eq!(effects(&mut flows), vec![entered(7, 1, vec![])]);
        assert_eq!(flows.task(TaskId(7)).unwrap().step, 1);
        assert_eq!(flows.poll_timeout(&router), None);
    }

    #[test]
    fn a_callback_rule_is_one_cancel_and_a_callback_effect() {
        let mut wf = two_steps();
        wf.exceptions = vec![ExceptionRule {
            name: "long wait".into(),
            when: Trigger::WaitOverMs(5_000),
            action: ExceptionAction::Callback,
        }];
        let (mut router, mut flows, acme, _) = setup(wf);
        drive_arrive(
            &mut flows,
            &mut router,
            Time::ZERO,
            TaskSpec::new(TaskId(7), acme, Channel::Chat),
            "presale",
            BTreeMap::new(),
        )
        .unwrap();
        effects(&mut flows);
        assert_eq!(flows.poll_timeout(&router), Some(secs(5)));
        router.handle_timeout(secs(5)).unwrap();
        flows.start_timeout(secs(5));
        assert_eq!(
            drain(&mut flows, &mut router, secs(5)),
            vec![RouterCommand::Cancel { task: TaskId(7) }]
        );
        let rule = "long wait".to_string();
        assert_eq!(
            effects(&mut flows),
            vec![
                WorkflowEffect::ExceptionFired {
                    task: TaskId(7),
                    rule: rule.clone(),
                },
                WorkflowEffect::Callback {
                    task: TaskId(7),
                    rule,
                },
            ]
        );
        assert_eq!(router.task_state(TaskId(7)), None);
        assert_eq!(flows.tracked(), 0);
    }

    #[test]
    fn tasks_due_together_are_handled_one_after_the_other() {
        // Step 1 is skipped when no agent is free. One agent fits it: the first due task's
        // retarget takes it, so the second due task sees no free agent and skips to step 2.
        let wf = Workflow {
            steps: vec![
                Step::new(r#"skill("sizing") >= 9"#).timeout_ms(10_000),
                Step::new(r#"skill("sizing") >= 5"#)
                    .timeout_ms(20_000)
                    .skip_if(SkipIf::NoFreeAgent),
                Step::new(r#"skill("sizing") >= 1"#),
            ],
            exceptions: vec![],
        };
        let (mut router, mut flows, acme, sizing) = setup(wf);
        router
            .add_agent(
                Time::ZERO,
                AgentSpec::new(AgentId(1))
                    .skill(sizing, 5)
                    .capacity(Channel::Chat, 1)
                    .state(AgentState::Available),
            )
            .unwrap();
        for id in [1, 2] {
            drive_arrive(
                &mut flows,
                &mut router,
                Time::ZERO,
                TaskSpec::new(TaskId(id), acme, Channel::Chat),
                "presale",
                BTreeMap::new(),
            )
            .unwrap();
        }
        effects(&mut flows);
        router.handle_timeout(secs(10)).unwrap();
        flows.start_timeout(secs(10));
        // One task's command at a time: the second is decided only once the first is applied.
        let first = flows.poll_command(&router).unwrap();
        assert_eq!(
            first,
            Some(RouterCommand::Retarget {
                task: TaskId(1),
                target: target(&router, sizing, 5),
            })
        );
        first.unwrap().apply(&mut router, secs(10)).unwrap();
        assert!(matches!(
            router.task_state(TaskId(1)),
            Some(TaskState::Offered(_))
        ));
        assert_eq!(
            drain(&mut flows, &mut router, secs(10)),
            vec![RouterCommand::Retarget {
                task: TaskId(2),
                target: target(&router, sizing, 1),
            }]
        );
        assert_eq!(
            effects(&mut flows),
            vec![entered(1, 1, vec![]), entered(2, 2, vec![1])]
        );
    }

    #[test]
    fn a_refused_arrive_leaves_nothing_tracked() {
        let (mut router, mut flows, acme, _) = setup(two_steps());
        let mut spec = TaskSpec::new(TaskId(7), acme, Channel::Chat);
        spec.customer.sentiment = 2.0; // outside [-1, 1]: the router refuses
        let cmd = flows
            .arrive(&router, Time::ZERO, spec, "presale", BTreeMap::new())
            .unwrap();
        let err = cmd.apply(&mut router, Time::ZERO).unwrap_err();
        flows.command_failed(err.clone());
        assert_eq!(flows.tracked(), 0);
        assert_eq!(flows.poll_effect(), None);
        assert_eq!(flows.poll_timeout(&router), None);
        assert_eq!(flows.poll_command(&router), Err(WorkflowError::Router(err)));
        assert_eq!(flows.poll_command(&router), Ok(None));
        // The helper reports the same error, with nothing tracked.
        let mut spec = TaskSpec::new(TaskId(8), acme, Channel::Chat);
        spec.customer.sentiment = 2.0;
        let e = drive_arrive(
            &mut flows,
            &mut router,
            Time::ZERO,
            spec,
            "presale",
            BTreeMap::new(),
        );
        assert!(matches!(e, Err(WorkflowError::Router(_))));
        assert_eq!(flows.tracked(), 0);
    }

    #[test]
    fn a_refused_retarget_drops_that_task_and_the_pass_goes_on() {
        let (mut router, mut flows, acme, sizing) = setup(two_steps());
        for id in [1, 2] {
            drive_arrive(
                &mut flows,
                &mut router,
                Time::ZERO,
                TaskSpec::new(TaskId(id), acme, Channel::Chat),
                "presale",
                BTreeMap::new(),
            )
            .unwrap();
        }
        effects(&mut flows);
        router.handle_timeout(secs(30)).unwrap();
        flows.start_timeout(secs(30));
        let first = flows.poll_command(&router).unwrap().unwrap();
        // Applied with a stale clock: the router refuses.
        let err = first.apply(&mut router, secs(1)).unwrap_err();
        flows.command_failed(err.clone());
        let second = flows.poll_command(&router).unwrap();
        assert_eq!(
            second,
            Some(RouterCommand::Retarget {
                task: TaskId(2),
                target: target(&router, sizing, 3),
            })
        );
        second.unwrap().apply(&mut router, secs(30)).unwrap();
        // The error comes once the pass is done; task 1 kept its step, as before.
        assert_eq!(flows.poll_command(&router), Err(WorkflowError::Router(err)));
        assert_eq!(effects(&mut flows), vec![entered(2, 1, vec![])]);
        assert_eq!(flows.task(TaskId(1)).unwrap().step, 0);
    }

    #[test]
    fn commands_are_events() {
        let c = RouterCommand::Cancel { task: TaskId(3) };
        assert_eq!(Event::from(c), Event::Cancel { task: TaskId(3) });
    }
}
