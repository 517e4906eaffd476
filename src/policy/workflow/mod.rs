//! Workflows: ordered routing steps per tenant and task type, widening over time ("bullseye").
//!
//! A [`Workflow`] is a list of [`Step`]s. Each step has a **target** — a
//! [target expression](crate::expr) saying which agents may take the task — and a **timeout**
//! counted from the task's *age* (time since it was created): when the age reaches the step's
//! timeout the task moves to the next step, typically a wider target. A step can change the
//! task's priority, its agent ordering (a [`Strategy`], plus soft [preferences](StepPreference)
//! for attribute sorts) and can be skipped at once by a [`SkipIf`] condition (for example, no
//! agent in the pool matches it). The first step can target the customer's previous agent
//! (`agent.id == task.previous_agent`) for a short time: *known-agent routing*.
//!
//! [`ExceptionRule`]s fire on a task's wait time or its queue's length and raise its priority,
//! move it to another workflow, overflow it to another brand's pool, hand it to an AI bot, turn
//! it into a callback, or send it to a fallback target.
//!
//! The [`WorkflowEngine`] runs workflows next to a [`Router`](crate::Router): it compiles each
//! step's target into the router's index requirements plus a residual agent filter (evaluated
//! once per agent and queue, never per routing decision), keeps a deadline set so widening and
//! exceptions cost `O(log n)` per due task (no scan of waiting tasks), and moves tasks with
//! [`Router::retarget`](crate::Router::retarget) — an ordinary router call with an
//! [`Event`](crate::Event) twin — so they keep their age and place in line.
//!
//! # Example
//! ```
//! use switchboard::workflow::{Workflow, Step};
//! let wf: Workflow = toml::from_str(r#"
//!     [[steps]]
//!     target = 'skill("apparel.sizing") >= 7'
//!     timeout_ms = 30000
//!     [[steps]]
//!     target = 'skill("apparel.sizing") >= 4'
//!     priority = { boost = 10.0 }
//!     [[steps]]
//!     target = 'has_skill("apparel")'
//! "#).unwrap();
//! assert_eq!(wf.steps.len(), 3);
//! assert_eq!(wf.steps[0].timeout_ms, Some(30_000));
//! ```

mod command;
mod engine;

pub use command::{RouterCommand, drive, drive_arrive, drive_reload, drive_timeout};
pub use engine::{
    FlowTask, ReloadReport, WorkflowEffect, WorkflowEngine, WorkflowError, WorkflowState,
};

use crate::Strategy;
use serde::{Deserialize, Serialize};

/// An ordered list of routing steps, with exception rules.
///
/// # Example
/// ```
/// use switchboard::workflow::{Workflow, Step};
/// let wf = Workflow {
///     steps: vec![Step::new(r#"has_skill("returns")"#)],
///     exceptions: vec![],
/// };
/// assert_eq!(wf.steps[0].target, r#"has_skill("returns")"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// The steps, narrowest first. A task enters the first step whose timeout its age has not
    /// reached and that is not skipped.
    pub steps: Vec<Step>,
    /// Rules that fire on wait time or queue length.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<ExceptionRule>,
}

/// One step of a [`Workflow`].
///
/// # Example
/// ```
/// use switchboard::workflow::{Step, SkipIf};
/// let s = Step::new(r#"agent.id == task.previous_agent"#)
///     .timeout_ms(20_000)
///     .skip_if(SkipIf::NoFreeAgent);
/// assert_eq!(s.timeout_ms, Some(20_000));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A name for reports (defaults to the step's position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which agents may take the task: a [target expression](crate::expr).
    pub target: String,
    /// Task age (ms since creation) at which the task widens to the next step. `None` on the
    /// last step (a task stays there); a non-last step without a timeout is never left except by
    /// [`skip_if`](Step::skip_if).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// How the task's priority changes on entering this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<PriorityChange>,
    /// How agents are chosen in this step (default: the task's own strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// Attribute sort: soft preferences added to the task's own, used by
    /// [`Strategy::BestScore`] (e.g. prefer higher levels in a skill).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefer: Vec<StepPreference>,
    /// Skip this step at once when the condition holds on entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_if: Option<SkipIf>,
}

impl Step {
    /// A step with only a target.
    #[must_use]
    pub fn new(target: impl Into<String>) -> Self {
        Step {
            name: None,
            target: target.into(),
            timeout_ms: None,
            priority: None,
            strategy: None,
            prefer: Vec::new(),
            skip_if: None,
        }
    }
    /// Sets the widening timeout (task age in ms).
    #[must_use]
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }
    /// Sets the skip condition.
    #[must_use]
    pub fn skip_if(mut self, c: SkipIf) -> Self {
        self.skip_if = Some(c);
        self
    }
    /// Sets the priority change.
    #[must_use]
    pub fn priority(mut self, p: PriorityChange) -> Self {
        self.priority = Some(p);
        self
    }
    /// Sets the strategy.
    #[must_use]
    pub fn strategy(mut self, s: Strategy) -> Self {
        self.strategy = Some(s);
        self
    }
}

/// A priority change: an optional new class and a boost added to the task's base priority
/// (both relative to the priority the task arrived with, so they do not accumulate).
///
/// # Example
/// ```
/// use switchboard::workflow::PriorityChange;
/// let p: PriorityChange = serde_json::from_str(r#"{"class": 2, "boost": 5.0}"#).unwrap();
/// assert_eq!(p.class, Some(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityChange {
    /// New priority class (higher is served first), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<u8>,
    /// Added to the task's base priority.
    #[serde(default)]
    pub boost: f64,
}

/// A soft preference of a step: an attribute sort.
///
/// # Example
/// ```
/// use switchboard::workflow::StepPreference;
/// let p: StepPreference = serde_json::from_str(r#"{"skill": "apparel", "weight": 2.0}"#).unwrap();
/// assert!(matches!(p, StepPreference::Skill { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum StepPreference {
    /// Points per level point in a skill.
    Skill {
        /// The skill name.
        skill: String,
        /// Weight per level point.
        weight: f64,
    },
    /// Points when the agent carries a tag.
    Tag {
        /// The tag name.
        tag: String,
        /// Weight.
        weight: f64,
    },
}

/// When a step is skipped on entry.
///
/// # Example
/// ```
/// use switchboard::workflow::SkipIf;
/// let s: SkipIf = serde_json::from_str(r#""no_available_agent""#).unwrap();
/// assert_eq!(s, SkipIf::NoAvailableAgent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipIf {
    /// No registered agent (in any state) matches the target.
    NoEligibleAgent,
    /// No matching agent is `Available` (logged in and not away).
    NoAvailableAgent,
    /// No matching agent has free capacity on the task's channel right now.
    NoFreeAgent,
}

/// A rule that fires once per task when its trigger holds.
///
/// # Example
/// ```
/// use switchboard::workflow::{ExceptionRule, Trigger, ExceptionAction};
/// let r: ExceptionRule = toml::from_str(r#"
///     name = "long wait"
///     when = { wait_over_ms = 120000 }
///     action = { overflow = { tenant = "partner-brand" } }
/// "#).unwrap();
/// assert_eq!(r.when, Trigger::WaitOverMs(120_000));
/// assert!(matches!(r.action, ExceptionAction::Overflow { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionRule {
    /// A name for reports and effects.
    pub name: String,
    /// When it fires.
    pub when: Trigger,
    /// What it does.
    pub action: ExceptionAction,
}

/// What makes an [`ExceptionRule`] fire.
///
/// # Example
/// ```
/// use switchboard::workflow::Trigger;
/// let t: Trigger = serde_json::from_str(r#"{"queue_longer_than": 50}"#).unwrap();
/// assert_eq!(t, Trigger::QueueLongerThan(50));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The task has waited (age) at least this long, in ms. Fires on the caller's clock from
    /// the deadline set.
    WaitOverMs(u64),
    /// On arrival or on entering a step, the task's queue holds more than this many waiting
    /// tasks (the task included).
    QueueLongerThan(usize),
}

/// What an [`ExceptionRule`] does.
///
/// # Example
/// ```
/// use switchboard::workflow::ExceptionAction;
/// let a: ExceptionAction = serde_json::from_str(r#""to_bot""#).unwrap();
/// assert_eq!(a, ExceptionAction::ToBot);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionAction {
    /// Raise the task's priority (relative to the priority it arrived with, added to the
    /// current step's change).
    RaisePriority(PriorityChange),
    /// Continue in another workflow of the same tenant (by task type), at the step matching
    /// the task's age.
    MoveTo {
        /// The task type whose workflow takes over.
        workflow: String,
    },
    /// Overflow to another brand's pool: agents certified for that tenant. Workflow steps stop.
    Overflow {
        /// The tenant whose pool takes the task.
        tenant: String,
    },
    /// Hand the task to an AI bot (agents of kind `bot`). Workflow steps stop.
    ToBot,
    /// Withdraw the task and tell the host to call the customer back
    /// ([`WorkflowEffect::Callback`]); the router task is cancelled.
    Callback,
    /// Send the task to a catch-all target. Workflow steps stop.
    Fallback {
        /// A target expression.
        target: String,
    },
}

/// Every workflow of a policy set: defaults by task type, and per-tenant overrides by task type.
/// A task of tenant `t` and type `k` runs `tenants[t][k]` if present, else `default[k]`.
///
/// # Example
/// ```
/// use switchboard::workflow::{Step, Workflow, WorkflowSet};
/// let mut set = WorkflowSet::default();
/// set.default.insert("presale".into(), Workflow { steps: vec![Step::new("true")], exceptions: vec![] });
/// assert!(set.get("acme", "presale").is_some());
/// assert!(set.get("acme", "refund").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSet {
    /// Workflows for every tenant, by task type.
    #[serde(default)]
    pub default: std::collections::BTreeMap<String, Workflow>,
    /// Per tenant (by name), workflows by task type that replace the defaults.
    #[serde(default)]
    pub tenants: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Workflow>>,
}

impl WorkflowSet {
    /// The workflow for a tenant and task type.
    #[must_use]
    pub fn get(&self, tenant: &str, task_type: &str) -> Option<&Workflow> {
        self.tenants
            .get(tenant)
            .and_then(|m| m.get(task_type))
            .or_else(|| self.default.get(task_type))
    }
}
