//! Skills and proficiency levels.
//!
//! Skills are interned into [`SkillId`]s by a [`Catalog`](crate::Catalog) so the hot path compares
//! integers. A level runs from 1 (novice) to [`MAX_LEVEL`] (expert); an agent without a skill has
//! no level in it at all.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The highest proficiency level.
pub const MAX_LEVEL: u8 = 10;

/// An interned skill name.
///
/// # Example
/// ```
/// use switchboard::Catalog;
/// let mut catalog = Catalog::new();
/// let sizing = catalog.skill("apparel.sizing");
/// assert_eq!(catalog.skill("apparel.sizing"), sizing);
/// assert_eq!(catalog.skill_name(sizing), Some("apparel.sizing"));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SkillId(pub u32);

impl fmt::Display for SkillId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skill#{}", self.0)
    }
}

/// A hard requirement: the agent must have `skill` at `min_level` or above.
///
/// # Example
/// ```
/// use switchboard::{SkillId, SkillReq};
/// let req = SkillReq::new(SkillId(3), 7);
/// assert_eq!(req.min_level, 7);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SkillReq {
    /// The skill.
    pub skill: SkillId,
    /// The lowest acceptable level, `1..=MAX_LEVEL`.
    pub min_level: u8,
}

impl SkillReq {
    /// A requirement of `skill` at `min_level` or above.
    #[must_use]
    pub const fn new(skill: SkillId, min_level: u8) -> Self {
        SkillReq { skill, min_level }
    }
}
