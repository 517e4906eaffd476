//! Loading a policy document from TOML, JSON or a file, and writing it back as TOML.

use super::*;

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
    #[cfg(feature = "toml")]
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
            #[cfg(feature = "toml")]
            return Self::from_toml_str(&text);
            #[cfg(not(feature = "toml"))]
            return Err(PolicyError::Toml(
                "TOML support is not compiled in (enable the `toml` feature)".into(),
            ));
        } else {
            Self::from_json_str(&text)
        }
    }

    /// Writes the policy set as TOML; [`from_toml_str`](Self::from_toml_str) reads it back equal.
    ///
    /// # Errors
    /// [`PolicyError::Write`] for values TOML cannot hold (integers above 2^63 − 1).
    #[cfg(feature = "toml")]
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
pub(super) fn check_router_fields(raw: &serde_json::Value) -> Result<(), PolicyError> {
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

pub(super) fn check_keys(
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
