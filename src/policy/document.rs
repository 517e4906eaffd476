//! The document: [`PolicySet`] and its parts, as written in TOML or JSON.

use super::*;

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

pub(super) fn one() -> f64 {
    1.0
}

// Serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref, clippy::float_cmp)]
pub(super) fn is_one(v: &f64) -> bool {
    *v == 1.0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
pub(super) fn is_false(v: &bool) -> bool {
    !*v
}

pub(super) fn is_human(k: &AgentKind) -> bool {
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
