//! What the [`WorkflowEngine`] asks of the router: [`RouterCommand`]s, which the host applies
//! (the engine only reads the router), and the `drive_*` helpers that apply them for hosts
//! that run the engine alone.

use super::{ReloadReport, WorkflowEngine, WorkflowError, WorkflowSet};
use crate::expr::AttrValue;
use crate::{Event, Policy, Retarget, Router, RouterError, TaskId, TaskSpec, Time};
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
    pub fn apply<P: Policy>(self, router: &mut Router<P>, now: Time) -> Result<(), RouterError> {
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
pub fn drive<P: Policy>(
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
pub fn drive_arrive<P: Policy>(
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
pub fn drive_timeout<P: Policy>(
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
pub fn drive_reload<P: Policy>(
    flows: &mut WorkflowEngine,
    router: &mut Router<P>,
    now: Time,
    set: WorkflowSet,
) -> Result<ReloadReport, WorkflowError> {
    flows.reload(router, now, set)?;
    drive(flows, router, now)?;
    Ok(flows.take_reload_report().unwrap_or_default())
}
