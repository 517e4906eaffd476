//! Skill taxonomies: a parent skill can count for its children.
//!
//! Skills may form a hierarchy (`apparel` > `apparel.outerwear` > `apparel.outerwear.down`). A
//! [`Taxonomy`] maps each child to its parent with a **discount**: an agent's level in the parent
//! counts for the child as `floor(level × discount)`; deeper descendants multiply the discounts
//! along the path. An agent's *effective* level in a skill is the best of its own level and every
//! discounted ancestor level.
//!
//! A taxonomy is validated with `petgraph`: a cycle is a configuration error that names the
//! skills on it, in order.

use crate::{AgentSpec, Catalog, MAX_LEVEL, SkillId};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a taxonomy was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TaxonomyError {
    /// The parent links form a cycle; the skills on it, in order, first repeated at the end.
    #[error("skill taxonomy has a cycle: {}", .0.join(" > "))]
    Cycle(Vec<String>),
    /// A discount outside `(0, 1]`.
    #[error("discount for {child:?} under {parent:?} must be in (0, 1], got {discount}")]
    Discount {
        /// The child skill.
        child: String,
        /// The parent skill.
        parent: String,
        /// The discount given.
        discount: f64,
    },
    /// A skill given two parents.
    #[error("skill {0:?} has more than one parent")]
    TwoParents(String),
}

/// One parent link, as configured.
///
/// # Example
/// ```
/// use switchboard::taxonomy::ParentLink;
/// let l = ParentLink { child: "apparel.outerwear".into(), parent: "apparel".into(), discount: 0.8 };
/// assert_eq!(l.discount, 0.8);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The narrower skill.
    pub child: String,
    /// The broader skill.
    pub parent: String,
    /// Factor applied to the parent's level, in `(0, 1]`.
    pub discount: f64,
}

/// A validated skill hierarchy.
///
/// # Example
/// ```
/// use switchboard::{Catalog, AgentSpec, AgentId, Channel};
/// use switchboard::taxonomy::{ParentLink, Taxonomy};
/// let mut cat = Catalog::new();
/// let links = vec![
///     ParentLink { child: "apparel.outerwear".into(), parent: "apparel".into(), discount: 0.8 },
///     ParentLink { child: "apparel.outerwear.down".into(), parent: "apparel.outerwear".into(), discount: 0.5 },
/// ];
/// let tax = Taxonomy::new(&mut cat, &links).unwrap();
/// let agent = AgentSpec::new(AgentId(1)).skill(cat.skill("apparel"), 10).capacity(Channel::Chat, 1);
/// let expanded = tax.expand(&agent);
/// assert!(expanded.skills.contains(&(cat.find_skill("apparel.outerwear").unwrap(), 8)));
/// assert!(expanded.skills.contains(&(cat.find_skill("apparel.outerwear.down").unwrap(), 4)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Taxonomy {
    /// child → (parent, discount)
    parent: BTreeMap<SkillId, (SkillId, f64)>,
}

impl Taxonomy {
    /// Builds and validates a taxonomy, interning every skill it names.
    ///
    /// # Errors
    /// [`TaxonomyError::Cycle`] naming the cycle, [`TaxonomyError::Discount`],
    /// [`TaxonomyError::TwoParents`].
    pub fn new(catalog: &mut Catalog, links: &[ParentLink]) -> Result<Self, TaxonomyError> {
        let mut parent = BTreeMap::new();
        for l in links {
            if !(l.discount > 0.0 && l.discount <= 1.0) {
                return Err(TaxonomyError::Discount {
                    child: l.child.clone(),
                    parent: l.parent.clone(),
                    discount: l.discount,
                });
            }
            let c = catalog.skill(&l.child);
            let p = catalog.skill(&l.parent);
            if parent.insert(c, (p, l.discount)).is_some() {
                return Err(TaxonomyError::TwoParents(l.child.clone()));
            }
        }
        // Cycle check with petgraph: strongly connected components of size > 1, or self-loops.
        let mut g = DiGraph::<SkillId, ()>::new();
        let mut node: BTreeMap<SkillId, NodeIndex> = BTreeMap::new();
        let mut ix = |g: &mut DiGraph<SkillId, ()>, s: SkillId| {
            *node.entry(s).or_insert_with(|| g.add_node(s))
        };
        for (&c, &(p, _)) in &parent {
            let (a, b) = (ix(&mut g, c), ix(&mut g, p));
            g.add_edge(a, b, ());
        }
        for scc in petgraph::algo::tarjan_scc(&g) {
            let cyclic = scc.len() > 1 || scc.iter().any(|&n| g.contains_edge(n, n));
            if cyclic {
                // Walk the parent links from the smallest skill on the cycle back to it.
                let start = scc.iter().map(|&n| g[n]).min().unwrap_or(SkillId(0));
                let mut names = vec![name(catalog, start)];
                let mut cur = start;
                while let Some(&(p, _)) = parent.get(&cur) {
                    names.push(name(catalog, p));
                    cur = p;
                    if cur == start || names.len() > scc.len() + 1 {
                        break;
                    }
                }
                return Err(TaxonomyError::Cycle(names));
            }
        }
        Ok(Taxonomy { parent })
    }

    /// The agent with every skill it effectively has: its own levels, plus discounted levels for
    /// the descendants of the skills it holds (the best level wins; levels below 1 are dropped).
    #[must_use]
    pub fn expand(&self, agent: &AgentSpec) -> AgentSpec {
        let own: BTreeMap<SkillId, u8> =
            agent.skills.iter().fold(BTreeMap::new(), |mut m, &(s, l)| {
                let e = m.entry(s).or_insert(0);
                *e = (*e).max(l);
                m
            });
        let mut best = own.clone();
        for &child in self.parent.keys() {
            // Walk up from `child`, multiplying discounts.
            let mut factor = 1.0;
            let mut cur = child;
            let mut steps = 0;
            while let Some(&(p, d)) = self.parent.get(&cur) {
                factor *= d;
                if let Some(&l) = own.get(&p) {
                    let eff = (f64::from(l) * factor).floor();
                    if eff >= 1.0 {
                        // In 1..=MAX_LEVEL: the cast is exact.
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let eff = (eff.min(f64::from(MAX_LEVEL))) as u8;
                        let e = best.entry(child).or_insert(0);
                        *e = (*e).max(eff);
                    }
                }
                cur = p;
                steps += 1;
                if steps > self.parent.len() {
                    break;
                }
            }
        }
        let mut out = agent.clone();
        out.skills = best.into_iter().collect();
        out
    }
}

fn name(catalog: &Catalog, s: SkillId) -> String {
    catalog
        .skill_name(s)
        .map_or_else(|| s.to_string(), str::to_owned)
}
