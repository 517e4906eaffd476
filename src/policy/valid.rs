//! The validated policy: [`ValidPolicy`], what a host needs to run a policy.

use super::*;

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
    pub(super) parts: PolicyParts,
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
    /// Interns every declared name into `catalog` (skills, then tags, then tenants; names
    /// already there keep their ids).
    pub fn intern_names(&self, catalog: &mut Catalog) {
        self.intern_into(catalog);
    }
    /// As [`router`](Self::router), with a scoring policy of the host's.
    ///
    /// # Errors
    /// As [`Router::with_scoring`](crate::Router::with_scoring).
    pub fn router_with<P: crate::Scoring>(
        &self,
        scoring: P,
    ) -> Result<crate::Router<P>, RouterError> {
        let mut r = crate::Router::with_scoring(self.parts.router.clone(), scoring)?;
        self.intern_into(r.catalog_mut());
        Ok(r)
    }
    /// Interns every declared name into `rc`, skills, then tags, then tenants (names already
    /// there keep their ids).
    pub(super) fn intern_into(&self, rc: &mut Catalog) {
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
    pub fn apply_to<P: crate::Scoring>(
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
        crate::workflow::drive_reload(flows, router, now, self.parts.workflows.clone())
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
