//! The tenants file (`wflow serve --tenants tenants.toml`): who may call the
//! server, with which tokens, within which quotas and limits.
//!
//! ```toml
//! [admin]
//! tokens = ["sha256:9f86d0..."]          # may read every tenant's usage
//!
//! [defaults.quotas]                      # every tenant's, unless its own say otherwise
//! max_concurrent_runs = 16
//!
//! [defaults.limits]                      # ceilings over every workflow's limits
//! memory = "128MiB"
//!
//! [tenants.acme]
//! tokens = [
//!     { name = "ci", sha256 = "sha256:2c26b4..." },
//!     { name = "dashboard", sha256 = "sha256:fcde2b...", read_only = true },
//! ]
//! quotas = { runs_per_minute = 120 }
//! limits = { fuel = 10_000_000_000, step_timeout = "30s" }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wflow_core::LimitCaps;

use super::quota::{Quotas, QuotasSpec};
use super::token::TokenHash;

/// What is wrong with a tenants file.
#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    /// It cannot be read.
    #[error("cannot read the tenants file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// It is no valid tenants file.
    #[error("the tenants file {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// A reload was asked of a server whose tenants came from no file.
    #[error("this server's tenants come from no file: there is nothing to reload")]
    NoFile,
    /// The app could not take the tenants.
    #[error(transparent)]
    App(#[from] wflow_core::WorkflowError),
    /// The store could not give back what the new tenants had.
    #[error(transparent)]
    Store(#[from] wflow_store::StoreError),
}

/// A tenant as the file defines it.
#[derive(Debug, Clone)]
pub struct TenantSpec {
    /// Its name: `[a-z0-9_-]`, 1 to 64 characters.
    pub name: String,
    /// Its tokens.
    pub tokens: Vec<TokenSpec>,
    /// Its quotas, the defaults filled in.
    pub quotas: Quotas,
    /// The ceilings over its workflows' limits, the defaults filled in.
    pub limits: LimitCaps,
}

/// One API token of a tenant.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    /// What the audit log calls it (`ci`, `dashboard`).
    pub name: String,
    /// Its SHA-256.
    pub hash: TokenHash,
    /// Whether it may only read (no runs, events, cancels or deployments).
    pub read_only: bool,
}

/// A whole tenants file, checked.
#[derive(Debug, Clone, Default)]
pub struct TenantsConfig {
    /// The admin tokens' hashes.
    pub admin_tokens: Vec<TokenHash>,
    /// The tenants, by name.
    pub tenants: BTreeMap<String, TenantSpec>,
    /// What a tenant leaves out gets (`[defaults]`): the file's tenants and
    /// those defined through the admin API alike.
    pub(crate) defaults: Defaults,
}

/// The file's `[defaults]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Defaults {
    #[serde(default)]
    quotas: QuotasSpec,
    #[serde(default)]
    limits: LimitCaps,
}

impl Defaults {
    /// Tenant `name` with `tokens`, `quotas` and `limits` (`None`: the
    /// defaults'), the defaults filling what its quotas leave out; a quota
    /// of 0 is an error naming it.
    pub(crate) fn tenant(
        &self,
        name: &str,
        tokens: Vec<TokenSpec>,
        quotas: QuotasSpec,
        limits: Option<LimitCaps>,
    ) -> Result<TenantSpec, String> {
        let quotas = quotas
            .over(&self.quotas)
            .resolve()
            .map_err(|err| format!("tenant `{name}`, quotas: {err}"))?;
        Ok(TenantSpec {
            name: name.to_string(),
            tokens,
            quotas,
            limits: limits.unwrap_or(self.limits),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    admin: AdminSpec,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    tenants: BTreeMap<String, TenantFileSpec>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AdminSpec {
    #[serde(default)]
    tokens: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFileSpec {
    #[serde(default)]
    tokens: Vec<TokenFileSpec>,
    #[serde(default)]
    quotas: QuotasSpec,
    #[serde(default)]
    limits: Option<LimitCaps>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFileSpec {
    #[serde(default)]
    name: Option<String>,
    sha256: String,
    #[serde(default)]
    read_only: bool,
}

impl TenantsConfig {
    /// Reads and checks the tenants file at `path`.
    pub fn load(path: &Path) -> Result<Self, TenantsError> {
        let text = std::fs::read_to_string(path).map_err(|source| TenantsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| TenantsError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and checks a tenants file's text; the error names the
    /// problem.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: FileSpec = toml::from_str(text).map_err(|err| err.to_string())?;
        let admin_tokens = file
            .admin
            .tokens
            .iter()
            .map(|hash| TokenHash::parse(hash).map_err(|err| format!("[admin] tokens: {err}")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen: Vec<(TokenHash, String)> = admin_tokens
            .iter()
            .map(|hash| (hash.clone(), "[admin]".to_string()))
            .collect();
        let mut tenants = BTreeMap::new();
        for (name, spec) in file.tenants {
            check_name(&name)?;
            let mut tokens = Vec::new();
            for (index, token) in spec.tokens.into_iter().enumerate() {
                let hash = TokenHash::parse(&token.sha256)
                    .map_err(|err| format!("tenant `{name}`, token {}: {err}", index + 1))?;
                if let Some((_, owner)) = seen.iter().find(|(known, _)| known.matches(&hash)) {
                    return Err(format!(
                        "tenant `{name}`, token {}: the same token is also {owner}'s; \
                         give each its own (`wflow token`)",
                        index + 1
                    ));
                }
                seen.push((hash.clone(), format!("tenant `{name}`")));
                tokens.push(TokenSpec {
                    name: token.name.unwrap_or_else(|| format!("token {}", index + 1)),
                    hash,
                    read_only: token.read_only,
                });
            }
            let tenant = file
                .defaults
                .tenant(&name, tokens, spec.quotas, spec.limits)?;
            tenants.insert(name, tenant);
        }
        Ok(Self {
            admin_tokens,
            tenants,
            defaults: file.defaults,
        })
    }

    /// Whether any token at all is defined (a server with none cannot be
    /// reached).
    pub fn has_tokens(&self) -> bool {
        !self.admin_tokens.is_empty() || self.tenants.values().any(|t| !t.tokens.is_empty())
    }
}

/// A tenant's name appears in logs and URLs: `[a-z0-9_-]`, 1 to 64.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(format!(
            "tenant name `{name}`: use 1 to 64 of a-z, 0-9, _ and -"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::token::TokenHash;

    fn hash(token: &str) -> String {
        TokenHash::of(token).to_string()
    }

    #[test]
    fn a_file_with_defaults_and_overrides_parses() {
        let text = format!(
            r#"
            [admin]
            tokens = ["{admin}"]
            [defaults.quotas]
            max_concurrent_runs = 4
            [defaults.limits]
            memory = "64MiB"
            [tenants.acme]
            tokens = [{{ name = "ci", sha256 = "{a}" }}, {{ sha256 = "{r}", read_only = true }}]
            quotas = {{ runs_per_minute = 10 }}
            [tenants.globex]
            tokens = [{{ sha256 = "{g}" }}]
            limits = {{ fuel = 1000 }}
            "#,
            admin = hash("admin"),
            a = hash("a"),
            r = hash("r"),
            g = hash("g"),
        );
        let config = TenantsConfig::parse(&text).expect("parses");
        assert_eq!(config.admin_tokens.len(), 1);
        let acme = &config.tenants["acme"];
        assert_eq!(acme.quotas.max_concurrent_runs, 4, "the default");
        assert_eq!(acme.quotas.runs_per_minute, 10, "its own");
        assert_eq!(acme.tokens[0].name, "ci");
        assert_eq!(acme.tokens[1].name, "token 2");
        assert!(acme.tokens[1].read_only);
        assert_eq!(acme.limits.memory, Some(bytesize::ByteSize::mib(64)));
        let globex = &config.tenants["globex"];
        assert_eq!(globex.limits.fuel, Some(1000));
        assert_eq!(
            globex.limits.memory, None,
            "its own limits replace the defaults"
        );
        assert!(config.has_tokens());
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("[tenants.Acme]\n", "tenant name `Acme`"),
            (
                "[tenants.a]\ntokens = [{ sha256 = \"xyz\" }]\n",
                "tenant `a`, token 1: `xyz`",
            ),
            ("[tenants.a]\nquota = {}\n", "unknown field `quota`"),
            (
                "[tenants.a]\nquotas = { max_concurrent_runs = 0 }\n",
                "max_concurrent_runs is 0",
            ),
        ];
        for (text, expected) in cases {
            let err = TenantsConfig::parse(text).expect_err(text);
            assert!(err.contains(expected), "{text}: {err}");
        }
        let twice = format!(
            "[tenants.a]\ntokens = [{{ sha256 = \"{h}\" }}]\n[tenants.b]\ntokens = [{{ sha256 = \"{h}\" }}]\n",
            h = hash("same")
        );
        let err = TenantsConfig::parse(&twice).expect_err("a token shared");
        assert!(err.contains("also tenant `a`'s"), "{err}");
    }
}
