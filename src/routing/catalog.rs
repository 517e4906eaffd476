//! Interning of skill, tag and tenant names.
//!
//! The router works on dense integer ids; the [`Catalog`] maps the host's names to them and back.
//! Ids are issued in first-seen order, so the same sequence of names always yields the same ids.

use crate::{SkillId, TagId, TenantId};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Names {
    names: Vec<String>,
    #[serde(skip)]
    by_name: FxHashMap<String, u32>,
}

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if self.by_name.len() != self.names.len() {
            self.rebuild();
        }
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        // More than u32::MAX names cannot be held in memory on the targets we support.
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.by_name.insert(name.to_owned(), id);
        id
    }
    fn rebuild(&mut self) {
        self.by_name = self
            .names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| u32::try_from(i).ok().map(|i| (n.clone(), i)))
            .collect();
    }
    fn lookup(&self, name: &str) -> Option<u32> {
        if self.by_name.len() == self.names.len() {
            self.by_name.get(name).copied()
        } else {
            self.names
                .iter()
                .position(|n| n == name)
                .and_then(|i| u32::try_from(i).ok())
        }
    }
    fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(String::as_str)
    }
    fn len(&self) -> usize {
        self.names.len()
    }
}

impl PartialEq for Names {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

/// Name ↔ id tables for skills, tags and tenants.
///
/// # Example
/// ```
/// use switchboard::Catalog;
/// let mut catalog = Catalog::new();
/// let a = catalog.skill("returns");
/// let b = catalog.skill("presale");
/// assert_ne!(a, b);
/// assert_eq!(catalog.find_skill("presale"), Some(b));
/// assert_eq!(catalog.find_skill("nope"), None);
/// assert_eq!(catalog.skill_count(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    skills: Names,
    tags: Names,
    tenants: Names,
}

impl Catalog {
    /// An empty catalog.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// The id of skill `name`, interning it if new.
    pub fn skill(&mut self, name: &str) -> SkillId {
        SkillId(self.skills.intern(name))
    }
    /// The id of tag `name`, interning it if new.
    pub fn tag(&mut self, name: &str) -> TagId {
        TagId(self.tags.intern(name))
    }
    /// The id of tenant `name`, interning it if new.
    pub fn tenant(&mut self, name: &str) -> TenantId {
        TenantId(self.tenants.intern(name))
    }
    /// The id of skill `name` if already interned.
    #[must_use]
    pub fn find_skill(&self, name: &str) -> Option<SkillId> {
        self.skills.lookup(name).map(SkillId)
    }
    /// The id of tag `name` if already interned.
    #[must_use]
    pub fn find_tag(&self, name: &str) -> Option<TagId> {
        self.tags.lookup(name).map(TagId)
    }
    /// The id of tenant `name` if already interned.
    #[must_use]
    pub fn find_tenant(&self, name: &str) -> Option<TenantId> {
        self.tenants.lookup(name).map(TenantId)
    }
    /// The name of a skill id.
    #[must_use]
    pub fn skill_name(&self, id: SkillId) -> Option<&str> {
        self.skills.name(id.0)
    }
    /// The name of a tag id.
    #[must_use]
    pub fn tag_name(&self, id: TagId) -> Option<&str> {
        self.tags.name(id.0)
    }
    /// The name of a tenant id.
    #[must_use]
    pub fn tenant_name(&self, id: TenantId) -> Option<&str> {
        self.tenants.name(id.0)
    }
    /// Number of skills interned.
    #[must_use]
    pub fn skill_count(&self) -> usize {
        self.skills.len()
    }
    /// Number of tags interned.
    #[must_use]
    pub fn tag_count(&self) -> usize {
        self.tags.len()
    }
    /// Number of tenants interned.
    #[must_use]
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }
}
