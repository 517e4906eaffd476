//! Free labels on agents: language, persona, region, style.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An interned tag (e.g. `lang:zh`, `persona:outfit-advice`).
///
/// # Example
/// ```
/// use switchboard::Catalog;
/// let mut catalog = Catalog::new();
/// let zh = catalog.tag("lang:zh");
/// assert_eq!(catalog.tag_name(zh), Some("lang:zh"));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TagId(pub u32);

impl fmt::Display for TagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tag#{}", self.0)
    }
}
