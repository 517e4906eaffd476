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

mod analyze;
mod document;
mod load;
mod report;
mod valid;
mod validate;

pub use document::*;
pub use load::*;
pub use report::*;
pub use valid::*;
use validate::*;

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

/// `docs/CONFIG.md`, compiled as a doctest so its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/CONFIG.md")]
pub struct ConfigGuide;
