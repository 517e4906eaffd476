//! Validation: [`PolicySet::validate`] checks the whole document in one pass and reports every
//! problem with its path.

use super::*;

/// Functions a target expression may call.
pub(super) const FUNCTIONS: [&str; 3] = ["skill", "has_skill", "has_tag"];
/// `agent.…` attributes.
pub(super) const AGENT_ATTRS: [&str; 5] = ["tags", "skills", "certified", "kind", "id"];

/// ` (did you mean "x"?)` for the closest known name within 2 edits (and fewer edits than the
/// name has characters), or nothing.
pub(super) fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let len = name.chars().count();
    known
        .into_iter()
        .map(|k| (crate::expr::edit_distance(name, k), k))
        .filter(|&(d, _)| d <= 2 && d < len.max(1))
        .min()
        .map_or(String::new(), |(_, k)| format!(" (did you mean {k:?}?)"))
}

/// The declared names, for resolving references.
pub(super) struct Names<'a> {
    pub(super) skills: BTreeSet<&'a str>,
    pub(super) tags: BTreeSet<&'a str>,
    pub(super) tag_keys: BTreeSet<&'a str>,
    pub(super) tenants: BTreeSet<&'a str>,
}

impl<'a> Names<'a> {
    pub(super) fn new(p: &'a PolicySet) -> Self {
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
    pub(super) fn skill(&self, name: &str) -> Option<String> {
        (!self.skills.contains(name)).then(|| {
            format!(
                "unknown skill {name:?}{}",
                did_you_mean(name, self.skills.iter().copied())
            )
        })
    }
    pub(super) fn tag(&self, name: &str) -> Option<String> {
        (!self.tags.contains(name)).then(|| {
            format!(
                "unknown tag {name:?}{}",
                did_you_mean(name, self.tags.iter().copied())
            )
        })
    }
    pub(super) fn tenant(&self, name: &str) -> Option<String> {
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
pub(super) struct Issues(Vec<ConfigIssue>);

impl Issues {
    pub(super) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// What an expression literal side names, for semantic checks on comparisons.
pub(super) fn string_items(e: &Expr) -> Vec<&str> {
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

pub(super) fn is_path(e: &Expr, a: &str, b: &str) -> bool {
    matches!(e, Expr::Path(p) if p.len() == 2 && p[0] == a && p[1] == b)
}

/// A bare tag-attribute key (`lang` in `lang == "zh"`).
pub(super) fn tag_key(e: &Expr) -> Option<&str> {
    match e {
        Expr::Path(p) if p.len() == 1 => Some(p[0].as_str()),
        _ => None,
    }
}

/// Checks a target expression: parses it and resolves every name it uses.
pub(super) fn check_target(
    src: &str,
    path: &str,
    names: &Names<'_>,
    out: &mut Issues,
) -> Option<Expr> {
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
pub(super) fn check_cond(e: &Expr, names: &Names<'_>, msgs: &mut Vec<String>) {
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
pub(super) fn check_value(e: &Expr, names: &Names<'_>, msgs: &mut Vec<String>) {
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
pub(super) fn check_cmp(
    attr: &Expr,
    op: CmpOp,
    lit: &Expr,
    names: &Names<'_>,
    msgs: &mut Vec<String>,
) {
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
pub(super) enum Owner {
    Default,
    Tenant(usize),
}

impl Owner {
    pub(super) fn prefix(self) -> String {
        match self {
            Owner::Default => "workflows".into(),
            Owner::Tenant(i) => format!("tenants[{i}].workflows"),
        }
    }
}

/// An edge of a graph checked for cycles, with where it was written.
pub(super) struct Edge {
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) path: String,
    /// Written in a tenant's own workflow (for `move_to` chains).
    pub(super) own: bool,
}

/// Every cycle of a graph: one per strongly connected component that has one, as node indices
/// from the component's smallest node around and back to it (shortest way round).
pub(super) fn cycles(n: usize, edges: &[Edge]) -> Vec<Vec<usize>> {
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
pub(super) fn cycle_path<'e>(
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

    pub(super) fn check_router(&self, out: &mut Issues) {
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

    pub(super) fn check_skills(&self, names: &Names<'_>, out: &mut Issues) {
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
    pub(super) fn check_tenants(&self, out: &mut Issues) -> Vec<(usize, TenantShare)> {
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

    pub(super) fn check_pool(&self, names: &Names<'_>, out: &mut Issues) {
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

    pub(super) fn check_overflow_cycles(&self, out: &mut Issues) {
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
    pub(super) fn effective<'a>(
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

    pub(super) fn check_move_to_cycles(&self, out: &mut Issues) {
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
    pub(super) fn declared_catalog(&self) -> Catalog {
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
    pub(super) fn resolve(&self, shares: Vec<(usize, TenantShare)>) -> Result<ValidPolicy, Issues> {
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
pub(super) fn resolve_count(
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
pub(super) fn check_names<'a>(
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

pub(super) fn check_workflow(
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
pub(super) fn certify(w: &mut Workflow) -> Result<(), String> {
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
