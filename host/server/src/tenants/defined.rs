//! Tenants defined through the admin API (`PUT /admin/tenants/{name}`):
//! what the store keeps of each, as JSON, and the request that defines one.

use serde::{Deserialize, Serialize};
use wflow_core::LimitCaps;

use super::config::{Defaults, TenantSpec, TokenSpec};
use super::quota::QuotasSpec;
use super::token::TokenHash;

/// A tenant defined through the admin API, as stored: its quotas and
/// limits as given (the tenants file's defaults fill the rest when it is
/// served) and its tokens, hashed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Definition {
    #[serde(default)]
    pub(crate) quotas: QuotasSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) limits: Option<LimitCaps>,
    #[serde(default)]
    pub(crate) tokens: Vec<DefinedToken>,
}

/// One token of a tenant defined through the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DefinedToken {
    /// Its name, unique within the tenant: what the audit log calls it and
    /// what revokes it.
    pub(crate) name: String,
    /// Its SHA-256 (`sha256:...`).
    pub(crate) sha256: String,
    /// Whether it may only read.
    #[serde(default)]
    pub(crate) read_only: bool,
    /// When it was made (RFC 3339).
    pub(crate) created_at: String,
}

/// The body of `PUT /admin/tenants/{name}`: the tenant's quotas and
/// limits, each left out taking the tenants file's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantRequest {
    #[serde(default)]
    pub(crate) quotas: QuotasSpec,
    #[serde(default)]
    pub(crate) limits: Option<LimitCaps>,
}

/// The body of `POST /admin/tenants/{name}/tokens`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    /// The token's name: 1 to 64 of `[A-Za-z0-9._-]`, unique within the
    /// tenant.
    pub(crate) name: String,
    /// Whether it may only read.
    #[serde(default)]
    pub(crate) read_only: bool,
}

impl Definition {
    /// The tenant this defines as `name`, `defaults` filling what it leaves
    /// out; an error names what is wrong (a quota of 0, a damaged hash).
    pub(crate) fn spec(&self, name: &str, defaults: &Defaults) -> Result<TenantSpec, String> {
        let tokens = self
            .tokens
            .iter()
            .map(|token| {
                let hash = TokenHash::parse(&token.sha256)
                    .map_err(|err| format!("tenant `{name}`, token `{}`: {err}", token.name))?;
                Ok(TokenSpec {
                    name: token.name.clone(),
                    hash,
                    read_only: token.read_only,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        defaults.tenant(name, tokens, self.quotas, self.limits)
    }
}

/// A token's name appears in logs and URLs: `[A-Za-z0-9._-]`, 1 to 64.
pub(crate) fn check_token_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(format!(
            "token name `{name}`: use 1 to 64 of A-Z, a-z, 0-9, ., _ and -"
        ));
    }
    Ok(())
}
