//! Policy sets: the whole routing configuration of a pool — router settings, skills and their
//! taxonomy, tags, tenants with SLAs and shares, workflows — loaded from TOML or JSON, validated
//! in one pass and statically analysed.
//!
//! * [`PolicySet`] is the document, as written ([`from_toml_str`](PolicySet::from_toml_str),
//!   [`from_json_str`](PolicySet::from_json_str), [`from_path`](PolicySet::from_path),
//!   [`to_toml_string`](PolicySet::to_toml_string)).
//! * [`PolicySet::validate`] checks everything at once and reports **every** problem with its
//!   path ([`ConfigErrors`]), or gives a [`ValidPolicy`]: what a host needs to run it — a
//!   [`Catalog`] with every declared name interned, the [`RouterConfig`] with tenant shares
//!   resolved to ids, the skill [`Taxonomy`] and the [`WorkflowSet`].
//! * [`PolicySet::analyze`] warns about configurations that are valid but wrong in practice
//!   ([`Warning`]): a step no agent of the declared pool can match, a step that can never be
//!   reached, a later step that adds nothing, reservations above the pool, a queue that can
//!   starve, a certified-only brand with no certified agent.
//!
//! `docs/CONFIG.md` has the reference table of every field.
//!
//! The policy language lives in the submodules: [`expr`] (target expressions), [`taxonomy`]
//! (the skill tree) and [`workflow`] (multi-step routing plans and their engine); they are also
//! re-exported at the crate root (`switchboard::expr`, …).
//!
//! # Example
//! ```
//! use switchboard::policy::PolicySet;
//! let policy = PolicySet::from_toml_str(r#"
//!     version = "2024-06-01"
//!     skills = [{ name = "apparel" }, { name = "apparel.sizing", parent = "apparel", discount = 0.8 }]
//!     tags = ["lang:zh"]
//!
//!     [[tenants]]
//!     name = "acme"
//!     share = { reserved = 10, cap = 40 }
//!
//!     [[workflows.presale.steps]]
//!     target = 'skill("apparel.sizing") >= 7 and lang == "zh"'
//!     timeout_ms = 30000
//!     [[workflows.presale.steps]]
//!     target = 'has_skill("aparel")'
//! "#).unwrap();
//! let errors = policy.validate().unwrap_err();
//! assert_eq!(errors.to_string(),
//!     r#"workflows.presale.steps[1].target: unknown skill "aparel" (did you mean "apparel"?)"#);
//! ```

pub mod expr;
pub mod taxonomy;
pub mod workflow;

use crate::expr::{CmpOp, Expr};
use crate::taxonomy::{ParentLink, Taxonomy};
use crate::workflow::{ExceptionAction, Step, StepPreference, Trigger, Workflow, WorkflowSet};
use crate::{
    AgentId, AgentKind, AgentSpec, AgentView, Catalog, Channel, MAX_LEVEL, RouterConfig,
    RouterError, TenantId, TenantShare,
};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------------

/// A whole routing policy, as written in TOML or JSON.
///
/// Unknown fields are refused everywhere (including inside `router`), so a typo is an error, not
/// a silently ignored setting.
///
/// # Example
/// ```
/// use switchboard::policy::PolicySet;
/// let p = PolicySet::from_json_str(r#"{
///     "version": "7",
///     "skills": [{"name": "returns"}],
///     "workflows": {"refund": {"steps": [{"target": "has_skill(\"returns\")"}]}}
/// }"#).unwrap();
/// let valid = p.validate().unwrap();
/// assert!(valid.catalog().find_skill("returns").is_some());
/// assert!(p.analyze().is_empty());
/// assert_eq!(PolicySet::from_toml_str(&p.to_toml_string().unwrap()).unwrap(), p);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySet {
    /// A version label for audit (free text, not empty).
    pub version: String,
    /// Router settings: offer timeout, default strategy, priority and scoring weights… Its
    /// `shares` stay empty: shares are given per tenant and resolved by [`validate`](Self::validate).
    #[serde(default)]
    pub router: RouterConfig,
    /// Declared skills, with their place in the taxonomy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<SkillDecl>,
    /// Declared tag names (`"lang:zh"`, `"persona:stylist"`, `"trainee"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The tenants (brands).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantPolicy>,
    /// Default workflows by task type, for tenants that do not override them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workflows: BTreeMap<String, Workflow>,
    /// The agent pool, for static analysis only (agents register with the router at run time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Pool>,
}

/// A declared skill.
///
/// # Example
/// ```
/// use switchboard::policy::SkillDecl;
/// let s: SkillDecl = toml::from_str(r#"name = "apparel.outerwear"
/// parent = "apparel"
/// discount = 0.8"#).unwrap();
/// assert_eq!(s.parent.as_deref(), Some("apparel"));
/// let plain: SkillDecl = toml::from_str(r#"name = "returns""#).unwrap();
/// assert_eq!(plain.discount, 1.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillDecl {
    /// The skill's name, as used in target expressions.
    pub name: String,
    /// The broader skill whose level counts for this one (see [`Taxonomy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Factor in `(0, 1]` applied to the parent's level (default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub discount: f64,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl SkillDecl {
    /// A skill without parent.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        SkillDecl {
            name: name.into(),
            parent: None,
            discount: 1.0,
            description: String::new(),
        }
    }
}

fn one() -> f64 {
    1.0
}

// Serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref, clippy::float_cmp)]
fn is_one(v: &f64) -> bool {
    *v == 1.0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(v: &bool) -> bool {
    !*v
}

fn is_human(k: &AgentKind) -> bool {
    *k == AgentKind::Human
}

/// One tenant (brand) of the pool.
///
/// # Example
/// ```
/// use switchboard::policy::TenantPolicy;
/// let t: TenantPolicy = toml::from_str(r#"
///     name = "maison-lumiere"
///     sla_ms = 30000
///     answer_target = { within_ms = 20000, rate = 0.8 }
///     share = { reserved_pct = 10, cap_pct = 30 }
///     certified_only = true
/// "#).unwrap();
/// assert!(t.certified_only);
/// assert_eq!(t.share.unwrap().reserved_pct, Some(10.0));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPolicy {
    /// The tenant's name, as used in `task.tenant` and `agent.certified`.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// SLA target for this tenant's tasks (ms); the host passes it on each task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_ms: Option<u64>,
    /// The service-level target the tenant is measured against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_target: Option<AnswerTarget>,
    /// The tenant's share of the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<ShareSpec>,
    /// Its tasks go only to agents certified for it: every target of its workflows gets
    /// `task.tenant in agent.certified` added.
    #[serde(default, skip_serializing_if = "is_false")]
    pub certified_only: bool,
    /// Workflows by task type that replace the defaults for this tenant.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workflows: BTreeMap<String, Workflow>,
}

/// A service-level target: answer `rate` of the tasks within `within_ms`.
///
/// # Example
/// ```
/// use switchboard::policy::AnswerTarget;
/// let t: AnswerTarget = serde_json::from_str(r#"{"within_ms": 20000, "rate": 0.8}"#).unwrap();
/// assert_eq!(t.rate, 0.8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerTarget {
    /// Answer within this many ms (≥ 1).
    pub within_ms: u64,
    /// Share of tasks to answer within it, in `[0, 1]`.
    pub rate: f64,
}

/// A tenant's share of the pool, in **tasks held** (see [`TenantShare`]), given either as task
/// counts or as percentages of the pool size ([`Pool::size`]).
///
/// # Example
/// ```
/// use switchboard::policy::ShareSpec;
/// let s: ShareSpec = toml::from_str("reserved = 20\ncap = 120").unwrap();
/// assert_eq!((s.reserved, s.cap), (Some(20), Some(120)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareSpec {
    /// Tasks held below which the tenant is served first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved: Option<u32>,
    /// Tasks held from which the tenant only borrows idle capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<u32>,
    /// `reserved` as a percentage (0..=100) of the pool size, rounded down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_pct: Option<f64>,
    /// `cap` as a percentage (0..=100) of the pool size, rounded down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_pct: Option<f64>,
}

/// The agent pool, described by groups of identical agents. Used by
/// [`analyze`](PolicySet::analyze) and to resolve percentage shares.
///
/// # Example
/// ```
/// use switchboard::policy::Pool;
/// let p: Pool = toml::from_str(r#"
///     [[groups]]
///     name = "zh generalists"
///     count = 40
///     skills = { apparel = 6 }
///     tags = ["lang:zh"]
///     capacity = { chat = 3 }
/// "#).unwrap();
/// assert_eq!(p.size(), 120);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// Tasks the pool holds at once, for percentage shares. Default: the sum over groups of
    /// `count` × the group's total capacity (a group without capacity counts 1 per agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// Groups of identical agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<PoolGroup>,
}

impl Pool {
    /// Tasks the pool holds at once: [`size`](Pool::size) if given, else derived from the groups.
    #[must_use]
    pub fn size(&self) -> u64 {
        if let Some(s) = self.size {
            return u64::from(s);
        }
        self.groups
            .iter()
            .map(|g| {
                let per: u64 = g.capacity.values().map(|&c| u64::from(c)).sum();
                u64::from(g.count).saturating_mul(if g.capacity.is_empty() { 1 } else { per })
            })
            .fold(0u64, u64::saturating_add)
    }
}

/// A group of identical agents in the [`Pool`].
///
/// # Example
/// ```
/// use switchboard::policy::PoolGroup;
/// let g: PoolGroup = serde_json::from_str(
///     r#"{"count": 5, "skills": {"apparel": 8}, "certified": ["acme"], "capacity": {"chat": 3}}"#).unwrap();
/// assert_eq!(g.skills["apparel"], 8);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolGroup {
    /// A name for warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How many agents.
    pub count: u32,
    /// Human or bot.
    #[serde(default, skip_serializing_if = "is_human")]
    pub kind: AgentKind,
    /// Skill name → level (1..=10).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skills: BTreeMap<String, u8>,
    /// Tag names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Tenants the agents are certified for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certified: Vec<String>,
    /// Channel name → tasks at once.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, u16>,
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// Why a policy document could not be read (before validation).
///
/// # Example
/// ```
/// use switchboard::policy::{PolicySet, PolicyError};
/// let err = PolicySet::from_json_str(r#"{"version": "1", "tenant": []}"#).unwrap_err();
/// assert!(matches!(err, PolicyError::Json(_)));
/// assert!(err.to_string().contains("unknown field `tenant`"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The file name has neither `.toml` nor `.json` at the end.
    #[error("{0}: unknown format (use a .toml or .json file)")]
    Format(String),
    /// Bad TOML, or TOML that does not describe a policy set.
    #[error("TOML: {0}")]
    Toml(String),
    /// Bad JSON, or JSON that does not describe a policy set.
    #[error("JSON: {0}")]
    Json(String),
    /// A field the `router` table does not have.
    #[error("{path}: unknown field (known: {known})")]
    UnknownField {
        /// Where, e.g. `router.offer_timeout`.
        path: String,
        /// The fields that table has.
        known: String,
    },
    /// The policy cannot be written as TOML (TOML integers stop at 2^63 − 1).
    #[error("cannot write TOML: {0}")]
    Write(String),
}

impl PolicySet {
    /// Reads a policy set from TOML.
    ///
    /// # Errors
    /// [`PolicyError::Toml`] (with line and column) or [`PolicyError::UnknownField`].
    pub fn from_toml_str(text: &str) -> Result<PolicySet, PolicyError> {
        let p: PolicySet = toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?;
        let raw: serde_json::Value =
            toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?;
        check_router_fields(&raw)?;
        Ok(p)
    }

    /// Reads a policy set from JSON.
    ///
    /// # Errors
    /// [`PolicyError::Json`] (with line and column) or [`PolicyError::UnknownField`].
    pub fn from_json_str(text: &str) -> Result<PolicySet, PolicyError> {
        let p: PolicySet =
            serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        let raw: serde_json::Value =
            serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        check_router_fields(&raw)?;
        Ok(p)
    }

    /// Reads a policy set from a `.toml` or `.json` file.
    ///
    /// # Errors
    /// [`PolicyError::Io`], [`PolicyError::Format`], or a parse error.
    pub fn from_path(path: impl AsRef<Path>) -> Result<PolicySet, PolicyError> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let is_toml = match ext.as_deref() {
            Some("toml") => true,
            Some("json") => false,
            _ => return Err(PolicyError::Format(path.display().to_string())),
        };
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if is_toml {
            Self::from_toml_str(&text)
        } else {
            Self::from_json_str(&text)
        }
    }

    /// Writes the policy set as TOML; [`from_toml_str`](Self::from_toml_str) reads it back equal.
    ///
    /// # Errors
    /// [`PolicyError::Write`] for values TOML cannot hold (integers above 2^63 − 1).
    pub fn to_toml_string(&self) -> Result<String, PolicyError> {
        toml::to_string_pretty(self).map_err(|e| PolicyError::Write(e.to_string()))
    }

    /// Writes the policy set as pretty JSON.
    ///
    /// # Errors
    /// [`PolicyError::Write`] if serialization fails (it does not for policy sets).
    pub fn to_json_string(&self) -> Result<String, PolicyError> {
        serde_json::to_string_pretty(self).map_err(|e| PolicyError::Write(e.to_string()))
    }
}

/// `RouterConfig` takes defaults for missing fields and ignores unknown ones; a policy refuses
/// unknown ones. Compares the keys of `router` against those of the default configuration.
fn check_router_fields(raw: &serde_json::Value) -> Result<(), PolicyError> {
    let Some(router) = raw.get("router") else {
        return Ok(());
    };
    let Ok(mut known) = serde_json::to_value(RouterConfig::default()) else {
        return Ok(());
    };
    if let Some(obj) = known.as_object_mut() {
        obj.insert("shares".into(), serde_json::Value::Array(Vec::new()));
    }
    check_keys(router, &known, "router")
}

fn check_keys(
    have: &serde_json::Value,
    known: &serde_json::Value,
    path: &str,
) -> Result<(), PolicyError> {
    let (Some(have), Some(known)) = (have.as_object(), known.as_object()) else {
        return Ok(());
    };
    for (k, v) in have {
        match known.get(k) {
            None => {
                return Err(PolicyError::UnknownField {
                    path: format!("{path}.{k}"),
                    known: known.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
            Some(kv) if kv.is_object() => check_keys(v, kv, &format!("{path}.{k}"))?,
            Some(_) => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Errors and warnings
// ---------------------------------------------------------------------------------------------

/// One configuration problem: where, and what.
///
/// # Example
/// ```
/// use switchboard::policy::ConfigIssue;
/// let i = ConfigIssue { path: "tenants[0].sla_ms".into(), message: "must be at least 1".into() };
/// assert_eq!(i.to_string(), "tenants[0].sla_ms: must be at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigIssue {
    /// Where, e.g. `tenants[2].workflows.presale.steps[1].target`.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem [`PolicySet::validate`] found — by section (version, router, skills, tags,
/// tenants, pool, default workflows, tenant workflows, then cycles), in declaration order within
/// each; displays one per line.
///
/// # Example
/// ```
/// use switchboard::policy::PolicySet;
/// let p = PolicySet::from_toml_str(r#"
///     version = ""
///     tags = ["vip", "vip"]
/// "#).unwrap();
/// let errs = p.validate().unwrap_err();
/// assert_eq!(errs.issues.len(), 2);
/// assert_eq!(errs.to_string(), "version: must not be empty\n\
///     tags[1]: duplicate tag \"vip\" (first declared at tags[0])");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The problems.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// What a [`Warning`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A step (or fallback) target that no agent of the declared pool can ever match.
    NoMatchingAgent,
    /// A step no task can ever be in: after a step that is never left, left as soon as it is
    /// entered, or starting after an exception rule has taken every task away.
    UnreachableStep,
    /// A later step that widens to nothing new: its target is the previous one's, or matches a
    /// subset of the pool groups the previous one matched, and it changes nothing else.
    PointlessStep,
    /// The tenants' reservations add up to more than the pool holds.
    SharesOverPool,
    /// A tenant's tasks of some type can wait forever: the steps they end up in match no pool
    /// agent and no exception rule takes them elsewhere.
    StarvingQueue,
    /// A certified-only tenant, and no pool agent is certified for it.
    NoCertifiedAgent,
}

impl WarningKind {
    /// The snake-case name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            WarningKind::NoMatchingAgent => "no_matching_agent",
            WarningKind::UnreachableStep => "unreachable_step",
            WarningKind::PointlessStep => "pointless_step",
            WarningKind::SharesOverPool => "shares_over_pool",
            WarningKind::StarvingQueue => "starving_queue",
            WarningKind::NoCertifiedAgent => "no_certified_agent",
        }
    }
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A finding of [`PolicySet::analyze`]: valid, but probably not what was meant.
///
/// # Example
/// ```
/// use switchboard::policy::{PolicySet, WarningKind};
/// let p = PolicySet::from_toml_str(r#"
///     version = "1"
///     [[workflows.refund.steps]]
///     target = "true"
///     [[workflows.refund.steps]]
///     target = "true"
/// "#).unwrap();
/// let w = p.analyze();
/// assert_eq!(w[0].kind, WarningKind::UnreachableStep);
/// assert_eq!(w[0].path, "workflows.refund.steps[1]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Where.
    pub path: String,
    /// What, for a person.
    pub message: String,
    /// Which check.
    pub kind: WarningKind,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]", self.path, self.message, self.kind)
    }
}

/// Everything `switchboard check` says about a policy set: [`PolicySet::check`].
///
/// # Example
/// ```
/// use switchboard::policy::PolicySet;
/// let p = PolicySet::from_json_str(r#"{"version": "7", "skills": [{"name": "returns"}],
///     "workflows": {"refund": {"steps": [{"target": "has_skill(\"retruns\")"}]}}}"#).unwrap();
/// let r = p.check();
/// assert!(!r.summary.valid);
/// assert_eq!(r.errors[0].path, "workflows.refund.steps[0].target");
/// assert_eq!(r.summary.text, "1 error, 0 warnings");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Every validation error, with its path ([`PolicySet::validate`]).
    pub errors: Vec<ConfigIssue>,
    /// Every warning ([`PolicySet::analyze`]).
    pub warnings: Vec<Warning>,
    /// Counts and a one-line verdict.
    pub summary: CheckSummary,
}

/// The counts of a [`CheckReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// No errors.
    pub valid: bool,
    /// The policy's version label.
    pub version: String,
    /// Tenants declared.
    pub tenants: usize,
    /// Skills declared.
    pub skills: usize,
    /// Tags declared.
    pub tags: usize,
    /// Default workflows.
    pub default_workflows: usize,
    /// Workflows tenants override.
    pub tenant_workflows: usize,
    /// Errors.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
    /// `ok: policy "7", 2 tenants, … ; 1 warning`, or `3 errors, 1 warning`.
    pub text: String,
}

// ---------------------------------------------------------------------------------------------
// The validated policy
// ---------------------------------------------------------------------------------------------

/// A tenant as resolved by validation.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantInfo {
    /// Its id in the [`ValidPolicy`]'s catalog.
    pub id: TenantId,
    /// Its name.
    pub name: String,
    /// SLA target for its tasks (ms), if given.
    pub sla_ms: Option<u64>,
    /// Its service-level target, if given.
    pub answer_target: Option<AnswerTarget>,
    /// Whether its tasks require agents certified for it.
    pub certified_only: bool,
    /// Its share in tasks held (percentages resolved against the pool size), if given.
    pub share: Option<TenantShare>,
}

/// A policy that passed [`PolicySet::validate`]: everything a host needs to run it.
///
/// Names are interned in declaration order — skills, then tags, then tenants — so a host that
/// interns the same names in the same order into its router's catalog gets the same ids;
/// [`ValidPolicy::router`] does exactly that.
///
/// The [`WorkflowSet`] is resolved: for a `certified_only` tenant, every default workflow it uses
/// is copied under its name, and every target of its workflows (steps and fallbacks) gets
/// `task.tenant in agent.certified` added (which compiles to the router's certification index).
///
/// # Example
/// ```
/// use switchboard::policy::PolicySet;
/// let p = PolicySet::from_toml_str(r#"
///     version = "1"
///     skills = [{ name = "styling" }]
///     [pool]
///     size = 100
///     [[tenants]]
///     name = "maison"
///     certified_only = true
///     share = { reserved_pct = 20, cap_pct = 50 }
///     [[workflows.presale.steps]]
///     target = 'has_skill("styling")'
/// "#).unwrap();
/// let parts = p.validate().unwrap().into_parts();
/// let maison = parts.catalog.find_tenant("maison").unwrap();
/// assert_eq!(parts.router.shares[0].tenant, maison);
/// assert_eq!((parts.router.shares[0].reserved, parts.router.shares[0].cap), (20, Some(50)));
/// assert_eq!(parts.workflows.get("maison", "presale").unwrap().steps[0].target,
///     r#"(has_skill("styling") and task.tenant in agent.certified)"#);
/// ```
#[derive(Debug, Clone)]
pub struct ValidPolicy {
    parts: PolicyParts,
}

/// The pieces of a [`ValidPolicy`], by value.
#[derive(Debug, Clone)]
pub struct PolicyParts {
    /// The policy's version label.
    pub version: String,
    /// Every declared skill, tag and tenant name, interned in declaration order.
    pub catalog: Catalog,
    /// The router settings, with `shares` resolved to tenant ids.
    pub router: RouterConfig,
    /// The skill taxonomy.
    pub taxonomy: Taxonomy,
    /// Tenant workflows and defaults (resolved, see [`ValidPolicy`]).
    pub workflows: WorkflowSet,
    /// The tenants, in declaration order.
    pub tenants: Vec<TenantInfo>,
    /// The declared pool, if any.
    pub pool: Option<Pool>,
}

impl ValidPolicy {
    /// The version label.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.parts.version
    }
    /// Every declared name, interned.
    #[must_use]
    pub fn catalog(&self) -> &Catalog {
        &self.parts.catalog
    }
    /// The router settings with shares resolved.
    #[must_use]
    pub fn router_config(&self) -> &RouterConfig {
        &self.parts.router
    }
    /// The skill taxonomy.
    #[must_use]
    pub fn taxonomy(&self) -> &Taxonomy {
        &self.parts.taxonomy
    }
    /// The workflows.
    #[must_use]
    pub fn workflows(&self) -> &WorkflowSet {
        &self.parts.workflows
    }
    /// The tenants, in declaration order.
    #[must_use]
    pub fn tenants(&self) -> &[TenantInfo] {
        &self.parts.tenants
    }
    /// A tenant by name.
    #[must_use]
    pub fn tenant(&self, name: &str) -> Option<&TenantInfo> {
        self.parts.tenants.iter().find(|t| t.name == name)
    }
    /// A new router with this policy's settings whose catalog holds every declared name with the
    /// same ids as [`catalog`](Self::catalog).
    ///
    /// # Errors
    /// As [`Router::new`](crate::Router::new) (not expected: the settings were validated).
    pub fn router(&self) -> Result<crate::Router, RouterError> {
        let mut r = crate::Router::new(self.parts.router.clone())?;
        self.intern_into(r.catalog_mut());
        Ok(r)
    }
    /// Interns every declared name into `rc`, skills, then tags, then tenants (names already
    /// there keep their ids).
    fn intern_into(&self, rc: &mut Catalog) {
        let cat = &self.parts.catalog;
        for i in 0..u32::try_from(cat.skill_count()).unwrap_or(u32::MAX) {
            if let Some(n) = cat.skill_name(crate::SkillId(i)) {
                rc.skill(n);
            }
        }
        for i in 0..u32::try_from(cat.tag_count()).unwrap_or(u32::MAX) {
            if let Some(n) = cat.tag_name(crate::TagId(i)) {
                rc.tag(n);
            }
        }
        for i in 0..u32::try_from(cat.tenant_count()).unwrap_or(u32::MAX) {
            if let Some(n) = cat.tenant_name(TenantId(i)) {
                rc.tenant(n);
            }
        }
    }

    /// The pieces, by value.
    #[must_use]
    pub fn into_parts(self) -> PolicyParts {
        self.parts
    }

    /// Swaps this policy into a running router and workflow engine without losing any task:
    /// new names are interned into the router's catalog (existing ids never change), the tenant
    /// shares are mapped **by tenant name** onto the router's ids and set with
    /// [`Router::set_shares`](crate::Router::set_shares), and the workflows replace the engine's
    /// with [`WorkflowEngine::reload`](crate::workflow::WorkflowEngine::reload) — waiting tasks keep
    /// their age and move to the matching step. The router's other settings (timeouts, weights)
    /// stay as they were created.
    ///
    /// # Errors
    /// [`WorkflowError`](crate::workflow::WorkflowError) if the router or the engine refuses;
    /// the shares and names may then already be applied (both are valid on their own).
    ///
    /// # Example
    /// ```
    /// use switchboard::{Time, policy::PolicySet, workflow::WorkflowEngine};
    /// let v1 = PolicySet::from_toml_str(r#"
    ///     version = "1"
    ///     skills = [{ name = "returns" }]
    ///     [[tenants]]
    ///     name = "acme"
    ///     [[workflows.aftersale.steps]]
    ///     target = 'skill("returns") >= 8'
    /// "#).unwrap().validate().unwrap();
    /// let mut router = v1.router().unwrap();
    /// let mut flows = WorkflowEngine::new(v1.workflows().clone(), router.catalog()).unwrap();
    /// let v2 = PolicySet::from_toml_str(r#"
    ///     version = "2"
    ///     skills = [{ name = "returns" }, { name = "refunds" }]
    ///     [[tenants]]
    ///     name = "acme"
    ///     share = { reserved = 5 }
    ///     [[workflows.aftersale.steps]]
    ///     target = 'skill("refunds") >= 3'
    /// "#).unwrap().validate().unwrap();
    /// v2.apply_to(&mut router, &mut flows, Time::from_secs(60)).unwrap();
    /// assert!(router.catalog().find_skill("refunds").is_some());
    /// assert_eq!(router.config().shares[0].reserved, 5);
    /// ```
    pub fn apply_to<P: crate::Policy>(
        &self,
        router: &mut crate::Router<P>,
        flows: &mut crate::workflow::WorkflowEngine,
        now: crate::Time,
    ) -> Result<crate::workflow::ReloadReport, crate::workflow::WorkflowError> {
        let cat = &self.parts.catalog;
        self.intern_into(router.catalog_mut());
        let shares: Vec<TenantShare> = self
            .parts
            .router
            .shares
            .iter()
            .filter_map(|s| {
                let tenant = router.catalog().find_tenant(cat.tenant_name(s.tenant)?)?;
                Some(TenantShare { tenant, ..*s })
            })
            .collect();
        router.set_shares(now, shares)?;
        flows.reload(router, now, self.parts.workflows.clone())
    }

    /// The declared pool as agents (ids `first_id`, `first_id + 1`, …, group by group), with
    /// skill levels expanded through the taxonomy, in state `state`. Empty without a pool.
    ///
    /// # Example
    /// ```
    /// use switchboard::{AgentState, policy::PolicySet};
    /// let p = PolicySet::from_toml_str(r#"
    ///     version = "1"
    ///     skills = [{ name = "apparel" }, { name = "apparel.down", parent = "apparel", discount = 0.5 }]
    ///     [[pool.groups]]
    ///     count = 3
    ///     skills = { apparel = 8 }
    ///     capacity = { chat = 2 }
    /// "#).unwrap().validate().unwrap();
    /// let agents = p.pool_agents(100, AgentState::Available);
    /// assert_eq!(agents.len(), 3);
    /// assert_eq!(agents[2].id.0, 102);
    /// assert_eq!(agents[0].skills.len(), 2); // apparel 8, and apparel.down 4 through the taxonomy
    /// ```
    #[must_use]
    pub fn pool_agents(&self, first_id: u64, state: crate::AgentState) -> Vec<AgentSpec> {
        let Some(pool) = &self.parts.pool else {
            return Vec::new();
        };
        let cat = &self.parts.catalog;
        let mut out = Vec::new();
        let mut id = first_id;
        for g in &pool.groups {
            let mut a = AgentSpec::new(AgentId(0)).kind(g.kind).state(state);
            for (s, &l) in &g.skills {
                if let Some(sk) = cat.find_skill(s) {
                    a = a.skill(sk, l.clamp(1, MAX_LEVEL));
                }
            }
            for t in &g.tags {
                if let Some(tg) = cat.find_tag(t) {
                    a = a.tag(tg);
                }
            }
            for t in &g.certified {
                if let Some(tn) = cat.find_tenant(t) {
                    a = a.certified(tn);
                }
            }
            for (ch, &n) in &g.capacity {
                if let Some(c) = Channel::ALL.iter().find(|c| c.name() == ch) {
                    a = a.capacity(*c, n);
                }
            }
            let a = self.parts.taxonomy.expand(&a);
            for _ in 0..g.count {
                let mut one = a.clone();
                one.id = AgentId(id);
                out.push(one);
                // Ids past u64::MAX do not exist: the pool stops there.
                let Some(next) = id.checked_add(1) else {
                    return out;
                };
                id = next;
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// Functions a target expression may call.
const FUNCTIONS: [&str; 3] = ["skill", "has_skill", "has_tag"];
/// `agent.…` attributes.
const AGENT_ATTRS: [&str; 5] = ["tags", "skills", "certified", "kind", "id"];

/// ` (did you mean "x"?)` for the closest known name within 2 edits (and fewer edits than the
/// name has characters), or nothing.
fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let len = name.chars().count();
    known
        .into_iter()
        .map(|k| (crate::expr::edit_distance(name, k), k))
        .filter(|&(d, _)| d <= 2 && d < len.max(1))
        .min()
        .map_or(String::new(), |(_, k)| format!(" (did you mean {k:?}?)"))
}

/// The declared names, for resolving references.
struct Names<'a> {
    skills: BTreeSet<&'a str>,
    tags: BTreeSet<&'a str>,
    tag_keys: BTreeSet<&'a str>,
    tenants: BTreeSet<&'a str>,
}

impl<'a> Names<'a> {
    fn new(p: &'a PolicySet) -> Self {
        let tags: BTreeSet<&str> = p.tags.iter().map(String::as_str).collect();
        Names {
            skills: p.skills.iter().map(|s| s.name.as_str()).collect(),
            tag_keys: tags
                .iter()
                .filter_map(|t| t.split_once(':').map(|(k, _)| k))
                .collect(),
            tags,
            tenants: p.tenants.iter().map(|t| t.name.as_str()).collect(),
        }
    }
    fn skill(&self, name: &str) -> Option<String> {
        (!self.skills.contains(name)).then(|| {
            format!(
                "unknown skill {name:?}{}",
                did_you_mean(name, self.skills.iter().copied())
            )
        })
    }
    fn tag(&self, name: &str) -> Option<String> {
        (!self.tags.contains(name)).then(|| {
            format!(
                "unknown tag {name:?}{}",
                did_you_mean(name, self.tags.iter().copied())
            )
        })
    }
    fn tenant(&self, name: &str) -> Option<String> {
        (!self.tenants.contains(name)).then(|| {
            format!(
                "unknown tenant {name:?}{}",
                did_you_mean(name, self.tenants.iter().copied())
            )
        })
    }
}

/// Collects issues.
#[derive(Default)]
struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// What an expression literal side names, for semantic checks on comparisons.
fn string_items(e: &Expr) -> Vec<&str> {
    match e {
        Expr::Str(s) => vec![s.as_str()],
        Expr::List(items) => items
            .iter()
            .filter_map(|i| match i {
                Expr::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn is_path(e: &Expr, a: &str, b: &str) -> bool {
    matches!(e, Expr::Path(p) if p.len() == 2 && p[0] == a && p[1] == b)
}

/// A bare tag-attribute key (`lang` in `lang == "zh"`).
fn tag_key(e: &Expr) -> Option<&str> {
    match e {
        Expr::Path(p) if p.len() == 1 => Some(p[0].as_str()),
        _ => None,
    }
}

/// Checks a target expression: parses it and resolves every name it uses.
fn check_target(src: &str, path: &str, names: &Names<'_>, out: &mut Issues) -> Option<Expr> {
    match Expr::parse(src) {
        Err(e) => {
            out.push(path, e.to_string());
            None
        }
        Ok(e) => {
            let mut msgs = Vec::new();
            check_cond(&e, names, &mut msgs);
            for m in msgs {
                out.push(path, m);
            }
            Some(e)
        }
    }
}

/// `e` in a position where a condition is expected.
fn check_cond(e: &Expr, names: &Names<'_>, msgs: &mut Vec<String>) {
    match e {
        Expr::And(parts) | Expr::Or(parts) => {
            for p in parts {
                check_cond(p, names, msgs);
            }
        }
        Expr::Not(inner) => check_cond(inner, names, msgs),
        Expr::Bool(_) | Expr::Cmp(..) => check_value(e, names, msgs),
        Expr::Call(f, _) if f == "has_skill" || f == "has_tag" => check_value(e, names, msgs),
        // A host-defined boolean task attribute.
        Expr::Path(p) if p.first().is_some_and(|r| r == "task") => check_value(e, names, msgs),
        other => {
            let before = msgs.len();
            check_value(other, names, msgs);
            if msgs.len() == before {
                msgs.push(format!(
                    "`{other}` is not a condition: compare it (e.g. `skill(\"x\") >= 5`, \
                     `lang == \"zh\"`) or use has_skill / has_tag"
                ));
            }
        }
    }
}

/// `e` in a value position: names must resolve.
fn check_value(e: &Expr, names: &Names<'_>, msgs: &mut Vec<String>) {
    match e {
        Expr::Num(_) | Expr::Str(_) | Expr::Bool(_) => {}
        Expr::List(items) => {
            for i in items {
                check_value(i, names, msgs);
            }
        }
        Expr::Not(_) | Expr::And(_) | Expr::Or(_) => check_cond(e, names, msgs),
        Expr::Call(f, args) => {
            if !FUNCTIONS.contains(&f.as_str()) {
                msgs.push(format!(
                    "unknown function {f:?}{} (functions: skill, has_skill, has_tag)",
                    did_you_mean(f, FUNCTIONS)
                ));
                return;
            }
            let [Expr::Str(name)] = args.as_slice() else {
                let what = if f == "has_tag" { "tag" } else { "skill" };
                msgs.push(format!(
                    "{f}(…) takes one {what} name in double quotes, e.g. {f}(\"name\")"
                ));
                return;
            };
            let bad = if f == "has_tag" {
                names.tag(name)
            } else {
                names.skill(name)
            };
            msgs.extend(bad);
        }
        Expr::Path(p) => match p.as_slice() {
            [root, attr] if root == "agent" => {
                if !AGENT_ATTRS.contains(&attr.as_str()) {
                    let full: Vec<String> =
                        AGENT_ATTRS.iter().map(|a| format!("agent.{a}")).collect();
                    msgs.push(format!(
                        "unknown agent attribute \"agent.{attr}\"{} (agent attributes: {})",
                        did_you_mean(&format!("agent.{attr}"), full.iter().map(String::as_str)),
                        full.join(", ")
                    ));
                }
            }
            [root, _] if root == "task" => {}
            [key] => {
                if !names.tag_keys.contains(key.as_str()) {
                    let hint = if names.tags.contains(key.as_str()) {
                        format!(" (\"{key}\" is a tag: use has_tag(\"{key}\"))")
                    } else {
                        did_you_mean(key, names.tag_keys.iter().copied())
                    };
                    msgs.push(format!(
                        "unknown tag attribute {key:?}{hint}: a bare name `k` means the values \
                         of the agent's `k:value` tags"
                    ));
                }
            }
            _ => msgs.push(format!(
                "unknown attribute {:?}: use agent.<attribute>, task.<attribute> or a tag \
                 attribute",
                p.join(".")
            )),
        },
        Expr::Cmp(l, op, r) => {
            let before = msgs.len();
            check_value(l, names, msgs);
            check_value(r, names, msgs);
            if msgs.len() == before {
                check_cmp(l, *op, r, names, msgs);
                check_cmp(r, *op, l, names, msgs);
            }
        }
    }
}

/// Literal names compared with an attribute must exist: `lang == "zh"` needs tag `lang:zh`,
/// `task.tenant == "x"` a tenant `x`, and so on.
fn check_cmp(attr: &Expr, op: CmpOp, lit: &Expr, names: &Names<'_>, msgs: &mut Vec<String>) {
    if matches!(op, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge) {
        return;
    }
    let items = string_items(lit);
    if items.is_empty() {
        return;
    }
    if let Some(key) = tag_key(attr) {
        for v in items {
            msgs.extend(names.tag(&format!("{key}:{v}")));
        }
    } else if is_path(attr, "task", "tenant") || is_path(attr, "agent", "certified") {
        for v in items {
            msgs.extend(names.tenant(v));
        }
    } else if is_path(attr, "agent", "tags") {
        for v in items {
            msgs.extend(names.tag(v));
        }
    } else if is_path(attr, "agent", "skills") {
        for v in items {
            msgs.extend(names.skill(v));
        }
    } else if is_path(attr, "agent", "kind") {
        for v in items {
            if v != "human" && v != "bot" {
                msgs.push(format!(
                    "unknown agent kind {v:?}{} (kinds: human, bot)",
                    did_you_mean(v, ["human", "bot"])
                ));
            }
        }
    } else if is_path(attr, "task", "channel") {
        for v in items {
            if !Channel::ALL.iter().any(|c| c.name() == v) {
                msgs.push(format!(
                    "unknown channel {v:?}{}",
                    did_you_mean(v, Channel::ALL.iter().map(|c| c.name()))
                ));
            }
        }
    }
}

/// Where a workflow lives.
#[derive(Clone, Copy)]
enum Owner {
    Default,
    Tenant(usize),
}

impl Owner {
    fn prefix(self) -> String {
        match self {
            Owner::Default => "workflows".into(),
            Owner::Tenant(i) => format!("tenants[{i}].workflows"),
        }
    }
}

/// An edge of a graph checked for cycles, with where it was written.
struct Edge {
    from: usize,
    to: usize,
    path: String,
    /// Written in a tenant's own workflow (for `move_to` chains).
    own: bool,
}

/// Every cycle of a graph: one per strongly connected component that has one, as node indices
/// from the component's smallest node around and back to it (shortest way round).
fn cycles(n: usize, edges: &[Edge]) -> Vec<Vec<usize>> {
    let mut g = DiGraph::<usize, ()>::with_capacity(n, edges.len());
    let nodes: Vec<NodeIndex> = (0..n).map(|i| g.add_node(i)).collect();
    for e in edges {
        if let (Some(&a), Some(&b)) = (nodes.get(e.from), nodes.get(e.to)) {
            g.update_edge(a, b, ());
        }
    }
    let mut out = Vec::new();
    for scc in petgraph::algo::tarjan_scc(&g) {
        let cyclic = scc.len() > 1 || scc.iter().any(|&x| g.contains_edge(x, x));
        if !cyclic {
            continue;
        }
        let members: BTreeSet<usize> = scc.iter().map(|&x| g[x]).collect();
        let Some(&start) = members.first() else {
            continue;
        };
        // Breadth-first from `start` inside the component, back to `start`.
        let mut prev: BTreeMap<usize, usize> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        let mut closing = None;
        'bfs: while let Some(u) = queue.pop_front() {
            for v in g.neighbors(nodes[u]).map(|x| g[x]).collect::<BTreeSet<_>>() {
                if v == start {
                    closing = Some(u);
                    break 'bfs;
                }
                if members.contains(&v) && !prev.contains_key(&v) {
                    prev.insert(v, u);
                    queue.push_back(v);
                }
            }
        }
        let Some(mut cur) = closing else { continue };
        let mut back = vec![start, cur];
        while cur != start {
            let Some(&p) = prev.get(&cur) else { break };
            back.push(p);
            cur = p;
        }
        back.reverse();
        out.push(back);
    }
    out.sort();
    out
}

/// The first edge's path along a cycle (`a > b` for cycle `[a, b, …]`), optionally the first
/// one accepted by `pick`.
fn cycle_path<'e>(
    cycle: &[usize],
    edges: &'e [Edge],
    pick: impl Fn(&Edge) -> bool,
) -> Option<&'e Edge> {
    cycle.windows(2).find_map(|w| {
        edges
            .iter()
            .find(|e| e.from == w[0] && e.to == w[1] && pick(e))
    })
}

impl PolicySet {
    /// Checks the whole policy in one pass and reports **every** problem with its path:
    ///
    /// * empty or duplicate names (skills, tags, tenants, pool groups, step and rule names);
    /// * target expressions that do not parse (with the expression's own line and column) or
    ///   that name undeclared skills, tags, tenants, tag attributes, functions or channels —
    ///   with a did-you-mean;
    /// * bad numbers: discounts outside `(0, 1]`, negative or non-finite weights and boosts,
    ///   shares with `reserved` above `cap`, percentages outside `0..=100`, zero SLAs, pool
    ///   levels outside `1..=10`;
    /// * step timeouts that do not increase along a workflow (they count from the task's age);
    /// * `move_to` naming a missing workflow, `overflow` naming an unknown tenant;
    /// * router settings ([`RouterConfig::validate`]) as `router.<field>`;
    /// * cycles in the skill taxonomy, in overflow chains between tenants and in `move_to`
    ///   chains, each named in order (`overflow cycle: brand-a > brand-b > brand-a`).
    ///
    /// # Errors
    /// [`ConfigErrors`] with every issue found.
    ///
    /// # Example
    /// ```
    /// use switchboard::policy::PolicySet;
    /// let p = PolicySet::from_toml_str(r#"
    ///     version = "1"
    ///     [[tenants]]
    ///     name = "brand-a"
    ///     [[tenants.workflows.presale.steps]]
    ///     target = "true"
    ///     [[tenants.workflows.presale.exceptions]]
    ///     name = "spill"
    ///     when = { wait_over_ms = 60000 }
    ///     action = { overflow = { tenant = "brand-b" } }
    ///     [[tenants]]
    ///     name = "brand-b"
    ///     [[tenants.workflows.presale.steps]]
    ///     target = "true"
    ///     [[tenants.workflows.presale.exceptions]]
    ///     name = "spill"
    ///     when = { wait_over_ms = 60000 }
    ///     action = { overflow = { tenant = "brand-a" } }
    /// "#).unwrap();
    /// let errs = p.validate().unwrap_err();
    /// assert_eq!(errs.to_string(),
    ///     "tenants[0].workflows.presale.exceptions[0].action.overflow.tenant: \
    ///      overflow cycle: brand-a > brand-b > brand-a");
    /// ```
    pub fn validate(&self) -> Result<ValidPolicy, ConfigErrors> {
        let mut out = Issues::default();
        let names = Names::new(self);

        if self.version.trim().is_empty() {
            out.push("version", "must not be empty");
        }
        self.check_router(&mut out);
        self.check_skills(&names, &mut out);
        check_names(
            self.tags.iter().map(String::as_str),
            "tags",
            "",
            "tag",
            &mut out,
        );
        check_names(
            self.tenants.iter().map(|t| t.name.as_str()),
            "tenants",
            ".name",
            "tenant",
            &mut out,
        );
        let shares = self.check_tenants(&mut out);
        self.check_pool(&names, &mut out);

        // Workflows: defaults, then each tenant's.
        for (ty, wf) in &self.workflows {
            let avail: BTreeSet<&str> = self.workflows.keys().map(String::as_str).collect();
            check_workflow(wf, Owner::Default, ty, &avail, &names, &mut out);
        }
        for (i, t) in self.tenants.iter().enumerate() {
            let avail: BTreeSet<&str> = self
                .workflows
                .keys()
                .chain(t.workflows.keys())
                .map(String::as_str)
                .collect();
            for (ty, wf) in &t.workflows {
                check_workflow(wf, Owner::Tenant(i), ty, &avail, &names, &mut out);
            }
        }
        self.check_overflow_cycles(&mut out);
        self.check_move_to_cycles(&mut out);

        if !out.0.is_empty() {
            return Err(ConfigErrors { issues: out.0 });
        }
        self.resolve(shares)
            .map_err(|issues| ConfigErrors { issues: issues.0 })
    }

    fn check_router(&self, out: &mut Issues) {
        if !self.router.shares.is_empty() {
            out.push(
                "router.shares",
                "give shares per tenant (tenants[].share), by name, not here",
            );
        }
        let mut c = self.router.clone();
        c.shares.clear();
        let d = RouterConfig::default();
        // `RouterConfig::validate` stops at the first bad field: reset it and ask again.
        for _ in 0..64 {
            match c.validate() {
                Ok(()) => return,
                Err(RouterError::InvalidConfig { path, problem }) => {
                    out.push(format!("router.{path}"), problem);
                    match path {
                        "offer_timeout_ms" => c.offer_timeout_ms = d.offer_timeout_ms,
                        "default_fanout" => c.default_fanout = d.default_fanout,
                        "max_missed_offers" => c.max_missed_offers = d.max_missed_offers,
                        "priority.value_tier" => c.priority.value_tier = d.priority.value_tier,
                        "priority.sentiment" => c.priority.sentiment = d.priority.sentiment,
                        "priority.aging_per_sec" => {
                            c.priority.aging_per_sec = d.priority.aging_per_sec;
                        }
                        "priority.urgency_per_sec" => {
                            c.priority.urgency_per_sec = d.priority.urgency_per_sec;
                        }
                        "scoring.required_level" => {
                            c.scoring.required_level = d.scoring.required_level;
                        }
                        "scoring.preferred_agent" => {
                            c.scoring.preferred_agent = d.scoring.preferred_agent;
                        }
                        _ => return,
                    }
                }
                Err(other) => {
                    out.push("router", other.to_string());
                    return;
                }
            }
        }
    }

    fn check_skills(&self, names: &Names<'_>, out: &mut Issues) {
        check_names(
            self.skills.iter().map(|s| s.name.as_str()),
            "skills",
            ".name",
            "skill",
            out,
        );
        for (i, s) in self.skills.iter().enumerate() {
            if !(s.discount > 0.0 && s.discount <= 1.0) {
                out.push(
                    format!("skills[{i}].discount"),
                    format!("must be in (0, 1], got {}", s.discount),
                );
            }
            if let Some(m) = s.parent.as_deref().and_then(|p| names.skill(p)) {
                out.push(format!("skills[{i}].parent"), m);
            }
        }
        // Cycles, over the first declaration of each name.
        let first: BTreeMap<&str, usize> =
            self.skills
                .iter()
                .enumerate()
                .rev()
                .fold(BTreeMap::new(), |mut m, (i, s)| {
                    m.insert(s.name.as_str(), i);
                    m
                });
        let edges: Vec<Edge> = self
            .skills
            .iter()
            .enumerate()
            .filter(|(i, s)| first.get(s.name.as_str()) == Some(i))
            .filter_map(|(i, s)| {
                let p = first.get(s.parent.as_deref()?)?;
                Some(Edge {
                    from: i,
                    to: *p,
                    path: format!("skills[{i}].parent"),
                    own: false,
                })
            })
            .collect();
        for c in cycles(self.skills.len(), &edges) {
            let path = cycle_path(&c, &edges, |_| true).map_or("skills".into(), |e| e.path.clone());
            let chain: Vec<&str> = c.iter().map(|&i| self.skills[i].name.as_str()).collect();
            out.push(
                path,
                format!("skill taxonomy has a cycle: {}", chain.join(" > ")),
            );
        }
    }

    /// Checks tenants; returns the resolved shares (when they resolve).
    fn check_tenants(&self, out: &mut Issues) -> Vec<(usize, TenantShare)> {
        let pool_size = self.pool.as_ref().map(Pool::size);
        let mut shares = Vec::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if t.sla_ms == Some(0) {
                out.push(format!("tenants[{i}].sla_ms"), "must be at least 1");
            }
            if let Some(a) = &t.answer_target {
                if a.within_ms == 0 {
                    out.push(
                        format!("tenants[{i}].answer_target.within_ms"),
                        "must be at least 1",
                    );
                }
                if !(0.0..=1.0).contains(&a.rate) {
                    out.push(
                        format!("tenants[{i}].answer_target.rate"),
                        format!("must be in [0, 1], got {}", a.rate),
                    );
                }
            }
            if let Some(s) = &t.share {
                let p = format!("tenants[{i}].share");
                let reserved =
                    resolve_count(s.reserved, s.reserved_pct, "reserved", &p, pool_size, out);
                let cap = resolve_count(s.cap, s.cap_pct, "cap", &p, pool_size, out);
                if let (Some(reserved), Some(cap)) = (reserved, cap) {
                    let reserved = reserved.unwrap_or(0);
                    match cap {
                        Some(c) if reserved > c => {
                            out.push(p, format!("reserved {reserved} is above cap {c}"));
                        }
                        _ => shares.push((
                            i,
                            TenantShare {
                                tenant: TenantId(0),
                                reserved,
                                cap,
                            },
                        )),
                    }
                }
            }
        }
        shares
    }

    fn check_pool(&self, names: &Names<'_>, out: &mut Issues) {
        let Some(pool) = &self.pool else { return };
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, g) in pool.groups.iter().enumerate() {
            let p = format!("pool.groups[{i}]");
            if let Some(n) = &g.name
                && let Some(first) = seen.insert(n.as_str(), i)
            {
                out.push(
                    format!("{p}.name"),
                    format!("duplicate pool group {n:?} (first declared at pool.groups[{first}])"),
                );
                seen.insert(n.as_str(), first);
            }
            for (s, &lvl) in &g.skills {
                if let Some(m) = names.skill(s) {
                    out.push(format!("{p}.skills.{s}"), m);
                } else if !(1..=MAX_LEVEL).contains(&lvl) {
                    out.push(
                        format!("{p}.skills.{s}"),
                        format!("level must be in 1..={MAX_LEVEL}, got {lvl}"),
                    );
                }
            }
            for (k, t) in g.tags.iter().enumerate() {
                if let Some(m) = names.tag(t) {
                    out.push(format!("{p}.tags[{k}]"), m);
                }
            }
            for (k, t) in g.certified.iter().enumerate() {
                if let Some(m) = names.tenant(t) {
                    out.push(format!("{p}.certified[{k}]"), m);
                }
            }
            for ch in g.capacity.keys() {
                if !Channel::ALL.iter().any(|c| c.name() == ch) {
                    out.push(
                        format!("{p}.capacity.{ch}"),
                        format!(
                            "unknown channel {ch:?}{}",
                            did_you_mean(ch, Channel::ALL.iter().map(|c| c.name()))
                        ),
                    );
                }
            }
        }
    }

    fn check_overflow_cycles(&self, out: &mut Issues) {
        let index: BTreeMap<&str, usize> = self
            .tenants
            .iter()
            .enumerate()
            .rev()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        let mut edges = Vec::new();
        for (i, t) in self.tenants.iter().enumerate() {
            for (ty, wf, owner) in self.effective(t, i) {
                for (j, rule) in wf.exceptions.iter().enumerate() {
                    if let ExceptionAction::Overflow { tenant } = &rule.action
                        && let Some(&to) = index.get(tenant.as_str())
                    {
                        edges.push(Edge {
                            from: i,
                            to,
                            path: format!(
                                "{}.{ty}.exceptions[{j}].action.overflow.tenant",
                                owner.prefix()
                            ),
                            own: matches!(owner, Owner::Tenant(_)),
                        });
                    }
                }
            }
        }
        let mut reported = BTreeSet::new();
        for c in cycles(self.tenants.len(), &edges) {
            let Some(e) = cycle_path(&c, &edges, |_| true) else {
                continue;
            };
            let chain: Vec<&str> = c.iter().map(|&i| self.tenants[i].name.as_str()).collect();
            let msg = format!("overflow cycle: {}", chain.join(" > "));
            if reported.insert((e.path.clone(), msg.clone())) {
                out.push(e.path.clone(), msg);
            }
        }
    }

    /// The workflows tenant `t` (at index `i`) runs: its own, and the defaults it does not
    /// override.
    fn effective<'a>(
        &'a self,
        t: &'a TenantPolicy,
        i: usize,
    ) -> impl Iterator<Item = (&'a str, &'a Workflow, Owner)> + 'a {
        let own = t
            .workflows
            .iter()
            .map(move |(k, w)| (k.as_str(), w, Owner::Tenant(i)));
        let inherited = self
            .workflows
            .iter()
            .filter(|(k, _)| !t.workflows.contains_key(*k))
            .map(|(k, w)| (k.as_str(), w, Owner::Default));
        own.chain(inherited)
    }

    fn check_move_to_cycles(&self, out: &mut Issues) {
        let mut seen = BTreeSet::new();
        let mut report = |types: &[&str], flows: &[(&str, &Workflow, Owner)], only_tenant: bool| {
            let index: BTreeMap<&str, usize> =
                types.iter().enumerate().map(|(i, t)| (*t, i)).collect();
            let mut edges = Vec::new();
            for &(ty, wf, owner) in flows {
                for (j, rule) in wf.exceptions.iter().enumerate() {
                    if let ExceptionAction::MoveTo { workflow } = &rule.action
                        && let (Some(&from), Some(&to)) =
                            (index.get(ty), index.get(workflow.as_str()))
                    {
                        edges.push(Edge {
                            from,
                            to,
                            path: format!(
                                "{}.{ty}.exceptions[{j}].action.move_to.workflow",
                                owner.prefix()
                            ),
                            own: matches!(owner, Owner::Tenant(_)),
                        });
                    }
                }
            }
            for c in cycles(types.len(), &edges) {
                let Some(e) = cycle_path(&c, &edges, |e| !only_tenant || e.own) else {
                    continue;
                };
                let chain: Vec<&str> = c.iter().map(|&i| types[i]).collect();
                let msg = format!("move_to cycle: {}", chain.join(" > "));
                if seen.insert((e.path.clone(), msg.clone())) {
                    out.push(e.path.clone(), msg);
                }
            }
        };
        let types: Vec<&str> = self.workflows.keys().map(String::as_str).collect();
        let flows: Vec<(&str, &Workflow, Owner)> = self
            .workflows
            .iter()
            .map(|(k, w)| (k.as_str(), w, Owner::Default))
            .collect();
        report(&types, &flows, false);
        for (i, t) in self.tenants.iter().enumerate() {
            if t.workflows.is_empty() {
                continue;
            }
            let flows: Vec<(&str, &Workflow, Owner)> = self.effective(t, i).collect();
            let types: Vec<&str> = flows
                .iter()
                .map(|f| f.0)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            report(&types, &flows, true);
        }
    }

    /// Every declared name interned in declaration order: skills, then tags, then tenants.
    fn declared_catalog(&self) -> Catalog {
        let mut catalog = Catalog::new();
        for s in &self.skills {
            catalog.skill(&s.name);
        }
        for t in &self.tags {
            catalog.tag(t);
        }
        for t in &self.tenants {
            catalog.tenant(&t.name);
        }
        catalog
    }

    /// Builds the [`ValidPolicy`] of a policy that passed every check.
    fn resolve(&self, shares: Vec<(usize, TenantShare)>) -> Result<ValidPolicy, Issues> {
        let mut out = Issues::default();
        let mut catalog = self.declared_catalog();
        let links: Vec<ParentLink> = self
            .skills
            .iter()
            .filter_map(|s| {
                Some(ParentLink {
                    child: s.name.clone(),
                    parent: s.parent.clone()?,
                    discount: s.discount,
                })
            })
            .collect();
        let taxonomy = match Taxonomy::new(&mut catalog, &links) {
            Ok(t) => t,
            Err(e) => {
                out.push("skills", e.to_string());
                Taxonomy::default()
            }
        };
        let mut router = self.router.clone();
        router.shares = shares
            .into_iter()
            .map(|(i, mut s)| {
                s.tenant = catalog.tenant(&self.tenants[i].name);
                s
            })
            .collect();
        if let Err(e) = router.validate() {
            out.push("router", e.to_string());
        }
        let mut workflows = WorkflowSet {
            default: self.workflows.clone(),
            tenants: BTreeMap::new(),
        };
        let mut tenants = Vec::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let id = catalog.tenant(&t.name);
            let mut own = t.workflows.clone();
            if t.certified_only {
                for (k, w) in &self.workflows {
                    own.entry(k.clone()).or_insert_with(|| w.clone());
                }
                for (ty, w) in &mut own {
                    if let Err(m) = certify(w) {
                        out.push(format!("tenants[{i}].workflows.{ty}"), m);
                    }
                }
            }
            if !own.is_empty() {
                workflows.tenants.insert(t.name.clone(), own);
            }
            tenants.push(TenantInfo {
                id,
                name: t.name.clone(),
                sla_ms: t.sla_ms,
                answer_target: t.answer_target,
                certified_only: t.certified_only,
                share: router.shares.iter().find(|s| s.tenant == id).copied(),
            });
        }
        if !out.0.is_empty() {
            return Err(out);
        }
        Ok(ValidPolicy {
            parts: PolicyParts {
                version: self.version.clone(),
                catalog,
                router,
                taxonomy,
                workflows,
                tenants,
                pool: self.pool.clone(),
            },
        })
    }
}

/// `reserved`/`cap` from a count or a percentage. `None`: an error was reported;
/// `Some(None)`: not given.
fn resolve_count(
    count: Option<u32>,
    pct: Option<f64>,
    field: &str,
    path: &str,
    pool_size: Option<u64>,
    out: &mut Issues,
) -> Option<Option<u32>> {
    match (count, pct) {
        (Some(_), Some(_)) => {
            out.push(
                format!("{path}.{field}_pct"),
                format!("give {field} or {field}_pct, not both"),
            );
            None
        }
        (Some(c), None) => Some(Some(c)),
        (None, None) => Some(None),
        (None, Some(p)) => {
            if !(0.0..=100.0).contains(&p) {
                out.push(
                    format!("{path}.{field}_pct"),
                    format!("must be in 0..=100, got {p}"),
                );
                return None;
            }
            let Some(size) = pool_size.filter(|&s| s > 0) else {
                out.push(
                    format!("{path}.{field}_pct"),
                    "a percentage needs a pool size: set pool.size or describe pool.groups",
                );
                return None;
            };
            // `p` in 0..=100 and `size` ≤ u64: the product is finite and non-negative.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let n = ((size as f64) * p / 100.0).floor() as u64;
            Some(Some(u32::try_from(n).unwrap_or(u32::MAX)))
        }
    }
}

/// Empty and duplicate names in a list; `suffix` follows the index in paths (`.name`).
fn check_names<'a>(
    names: impl Iterator<Item = &'a str>,
    list: &str,
    suffix: &str,
    what: &str,
    out: &mut Issues,
) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in names.enumerate() {
        if n.trim().is_empty() {
            out.push(format!("{list}[{i}]{suffix}"), "must not be empty");
            continue;
        }
        if let Some(&first) = seen.get(n) {
            out.push(
                format!("{list}[{i}]{suffix}"),
                format!("duplicate {what} {n:?} (first declared at {list}[{first}])"),
            );
        } else {
            seen.insert(n, i);
        }
    }
}

fn check_workflow(
    wf: &Workflow,
    owner: Owner,
    ty: &str,
    avail: &BTreeSet<&str>,
    names: &Names<'_>,
    out: &mut Issues,
) {
    let base = format!("{}.{ty}", owner.prefix());
    if ty.trim().is_empty() {
        out.push(base.clone(), "a task type must not be empty");
    }
    if wf.steps.is_empty() {
        out.push(
            format!("{base}.steps"),
            "a workflow needs at least one step",
        );
    }
    let mut step_names: BTreeMap<&str, usize> = BTreeMap::new();
    // The last step with a timeout before this one: (index, timeout).
    let mut last_timeout: Option<(usize, u64)> = None;
    for (i, step) in wf.steps.iter().enumerate() {
        let p = format!("{base}.steps[{i}]");
        if let Some(n) = &step.name {
            if let Some(&first) = step_names.get(n.as_str()) {
                out.push(
                    format!("{p}.name"),
                    format!("duplicate step name {n:?} (first at steps[{first}])"),
                );
            } else {
                step_names.insert(n, i);
            }
        }
        check_target(&step.target, &format!("{p}.target"), names, out);
        if let Some(t) = step.timeout_ms {
            match last_timeout {
                _ if t == 0 => out.push(
                    format!("{p}.timeout_ms"),
                    "must be greater than 0 (timeouts count from the task's age)",
                ),
                Some((j, prev)) if t <= prev => out.push(
                    format!("{p}.timeout_ms"),
                    format!(
                        "{t} is not after steps[{j}].timeout_ms {prev}: timeouts count from the \
                         task's age and must increase along the steps"
                    ),
                ),
                _ => {}
            }
            last_timeout = Some((i, t));
        }
        if let Some(pc) = &step.priority
            && !pc.boost.is_finite()
        {
            out.push(
                format!("{p}.priority.boost"),
                format!("must be finite, got {}", pc.boost),
            );
        }
        for (k, pref) in step.prefer.iter().enumerate() {
            let pp = format!("{p}.prefer[{k}]");
            let (bad, weight) = match pref {
                StepPreference::Skill { skill, weight } => {
                    (names.skill(skill).map(|m| (".skill", m)), *weight)
                }
                StepPreference::Tag { tag, weight } => {
                    (names.tag(tag).map(|m| (".tag", m)), *weight)
                }
            };
            if let Some((field, m)) = bad {
                out.push(format!("{pp}{field}"), m);
            }
            if !(weight.is_finite() && weight >= 0.0) {
                out.push(
                    format!("{pp}.weight"),
                    format!("must be finite and not negative, got {weight}"),
                );
            }
        }
    }
    let mut rule_names: BTreeMap<&str, usize> = BTreeMap::new();
    for (j, rule) in wf.exceptions.iter().enumerate() {
        let p = format!("{base}.exceptions[{j}]");
        if rule.name.trim().is_empty() {
            out.push(format!("{p}.name"), "must not be empty");
        } else if let Some(&first) = rule_names.get(rule.name.as_str()) {
            out.push(
                format!("{p}.name"),
                format!(
                    "duplicate exception rule {:?} (first at exceptions[{first}])",
                    rule.name
                ),
            );
        } else {
            rule_names.insert(&rule.name, j);
        }
        match &rule.action {
            ExceptionAction::RaisePriority(pc) => {
                if !pc.boost.is_finite() {
                    out.push(
                        format!("{p}.action.raise_priority.boost"),
                        format!("must be finite, got {}", pc.boost),
                    );
                }
            }
            ExceptionAction::MoveTo { workflow } => {
                if !avail.contains(workflow.as_str()) {
                    let scope = match owner {
                        Owner::Default => "default workflow",
                        Owner::Tenant(_) => "workflow for this tenant",
                    };
                    out.push(
                        format!("{p}.action.move_to.workflow"),
                        format!(
                            "no {scope} for task type {workflow:?}{}",
                            did_you_mean(workflow, avail.iter().copied())
                        ),
                    );
                }
            }
            ExceptionAction::Overflow { tenant } => {
                if let Some(m) = names.tenant(tenant) {
                    out.push(format!("{p}.action.overflow.tenant"), m);
                }
            }
            ExceptionAction::Fallback { target } => {
                check_target(target, &format!("{p}.action.fallback.target"), names, out);
            }
            ExceptionAction::ToBot | ExceptionAction::Callback => {}
        }
    }
}

/// Adds `task.tenant in agent.certified` to every target of a workflow.
fn certify(w: &mut Workflow) -> Result<(), String> {
    fn add(target: &str) -> Result<String, String> {
        let e = Expr::parse(target).map_err(|e| e.to_string())?;
        let cert = Expr::Cmp(
            Box::new(Expr::Path(vec!["task".into(), "tenant".into()])),
            CmpOp::In,
            Box::new(Expr::Path(vec!["agent".into(), "certified".into()])),
        );
        let mut parts = match e {
            Expr::And(parts) => parts,
            other => vec![other],
        };
        if !parts.contains(&cert) {
            parts.push(cert);
        }
        Ok(Expr::And(parts).to_string())
    }
    for s in &mut w.steps {
        s.target = add(&s.target)?;
    }
    for r in &mut w.exceptions {
        if let ExceptionAction::Fallback { target } = &mut r.action {
            *target = add(target)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Static analysis
// ---------------------------------------------------------------------------------------------

/// The pool as agents the expression evaluator can look at.
struct PoolModel {
    catalog: Catalog,
    /// Per group with agents: (group index, expanded agent).
    agents: Vec<(usize, AgentSpec)>,
    has_bots: bool,
}

impl PoolModel {
    fn new(p: &PolicySet) -> Option<PoolModel> {
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
    fn matching(&self, e: &Expr) -> BTreeSet<usize> {
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

    fn certified_for(&self, tenant: &str) -> bool {
        self.catalog.find_tenant(tenant).is_some_and(|t| {
            self.agents
                .iter()
                .any(|(_, a)| a.certifications.contains(&t))
        })
    }
}

/// Whether `e` depends on something only known per task or per agent id (`task.…` attributes,
/// `agent.id`).
fn task_dependent(e: &Expr) -> bool {
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
fn bind_tenant(e: &Expr, tenant: Option<&str>) -> Expr {
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
fn optimistic(e: &Expr, positive: bool) -> Expr {
    match e {
        Expr::And(xs) => Expr::And(xs.iter().map(|x| optimistic(x, positive)).collect()),
        Expr::Or(xs) => Expr::Or(xs.iter().map(|x| optimistic(x, positive)).collect()),
        Expr::Not(x) => Expr::Not(Box::new(optimistic(x, !positive))),
        other if task_dependent(other) => Expr::Bool(positive),
        other => other.clone(),
    }
}

/// What analysis knows about one step.
struct StepInfo {
    /// The target, parsed (`None` if it does not parse).
    expr: Option<Expr>,
    /// Pool groups that may match (with the tenant bound and certification added).
    matches: BTreeSet<usize>,
    /// Whether the target depends on the task.
    dependent: bool,
}

/// Only the target (and timers) change in this step.
fn changes_only_target(s: &Step) -> bool {
    s.priority.is_none() && s.strategy.is_none() && s.prefer.is_empty()
}

/// The target as the pool sees it for one tenant.
fn effective_target(e: &Expr, tenant: Option<&str>, certified_only: bool) -> Expr {
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

    fn analyze_shares(&self, out: &mut Vec<Warning>) {
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
    fn starving(
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
fn resting_from(w: &Workflow) -> usize {
    w.steps
        .iter()
        .position(|s| s.timeout_ms.is_none())
        .unwrap_or(w.steps.len().saturating_sub(1))
}

fn analyze_workflow(
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

/// `docs/CONFIG.md`, compiled as a doctest so its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/CONFIG.md")]
pub struct ConfigGuide;
