//! Errors and warnings: [`ConfigErrors`] (every problem, with its path) and the static
//! analysis' [`Warning`]s.

use super::*;

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
