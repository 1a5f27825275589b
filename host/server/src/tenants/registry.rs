//! Where the tenants come from: the tenants file and the admin API,
//! together. A tenant is either the file's or the API's: the API cannot
//! change a tenant the file defines, and an API tenant whose name the file
//! takes later is set aside (kept, not served) while the file has it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use wflow_core::LimitCaps;

use super::config::{TenantsConfig, check_name};
use super::defined::{DefinedToken, Definition, TenantRequest, TokenRequest, check_token_name};
use super::quota::Quotas;
use super::token::{TokenHash, new_token};

/// The most tenants the admin API may define.
pub(crate) const MAX_DEFINED_TENANTS: usize = 10_000;

/// The most tokens a tenant defined through the admin API may have.
pub(crate) const MAX_TOKENS_PER_TENANT: usize = 64;

/// Why the admin API refuses a change.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdminRefused {
    /// No tenant of that name (404).
    #[error("no tenant is named `{0}`")]
    NoTenant(String),
    /// The tenants file defines it (409).
    #[error(
        "tenant `{0}` is defined by the tenants file: change it there, then reload (POST /admin/reload)"
    )]
    ByFile(String),
    /// No token of that name (404).
    #[error("tenant `{tenant}` has no token named `{token}`")]
    NoToken { tenant: String, token: String },
    /// A token of that name exists (409).
    #[error(
        "tenant `{tenant}` already has a token named `{token}`: revoke it first, or choose another name"
    )]
    TokenExists { tenant: String, token: String },
    /// As many tokens as a tenant may have (403).
    #[error(
        "tenant `{tenant}` has {MAX_TOKENS_PER_TENANT} tokens, the most a tenant may have: revoke one first"
    )]
    TooManyTokens { tenant: String },
    /// As many tenants as the API may define (403).
    #[error(
        "the admin API defines {MAX_DEFINED_TENANTS} tenants, the most it may: delete one first"
    )]
    TooManyTenants,
    /// The request is not valid; the text names the problem (400).
    #[error("{0}")]
    Invalid(String),
}

/// Who defines a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    /// The tenants file.
    File,
    /// The admin API.
    Api,
}

/// What the admin API shows of a tenant (never its tokens' hashes).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TenantView {
    pub(crate) name: String,
    pub(crate) defined_by: Source,
    /// An API tenant whose name the tenants file took: kept, not served.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) set_aside: bool,
    pub(crate) quotas: Option<Quotas>,
    pub(crate) limits: Option<LimitCaps>,
    pub(crate) tokens: Vec<TokenView>,
    /// Why it cannot be served as defined, if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) problem: Option<String>,
}

/// A token as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenView {
    pub(crate) name: String,
    pub(crate) read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) created_at: Option<String>,
}

/// The tenants file (as last read) and the tenants defined through the
/// admin API.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// The file a reload reads, if the tenants came from one.
    pub(crate) file: Option<PathBuf>,
    from_file: TenantsConfig,
    defined: BTreeMap<String, Definition>,
}

impl Registry {
    /// The tenants of `config` (read from `file`, if given); none defined
    /// through the API yet.
    pub(crate) fn new(file: Option<PathBuf>, config: TenantsConfig) -> Self {
        Self {
            file,
            from_file: config,
            defined: BTreeMap::new(),
        }
    }

    /// Replaces the file's tenants with `config`'s (a reload).
    pub(crate) fn set_file(&mut self, config: TenantsConfig) {
        self.from_file = config;
    }

    /// Records tenant `name` as the API defines it (`None`: deleted).
    pub(crate) fn set_defined(&mut self, name: &str, definition: Option<Definition>) {
        match definition {
            Some(definition) => self.defined.insert(name.to_string(), definition),
            None => self.defined.remove(name),
        };
    }

    /// The tenants to serve: the file's, and the API's whose names the file
    /// does not take; and why some API tenant is not served, if any is not.
    /// The names of the tenants the admin API defined.
    pub(crate) fn defined_names(&self) -> Vec<String> {
        self.defined.keys().cloned().collect()
    }

    pub(crate) fn merged(&self) -> (TenantsConfig, Vec<String>) {
        let mut config = self.from_file.clone();
        let mut problems = Vec::new();
        for (name, definition) in &self.defined {
            if config.tenants.contains_key(name) {
                problems.push(format!(
                    "tenant `{name}` is defined by the tenants file and through the admin API: \
                     the file's is served, the API's set aside"
                ));
                continue;
            }
            match definition.spec(name, &config.defaults) {
                Ok(spec) => {
                    config.tenants.insert(name.clone(), spec);
                }
                Err(problem) => problems.push(problem),
            }
        }
        (config, problems)
    }

    /// Tenant `name` defined (or redefined) by `request`, its tokens kept;
    /// whether it is new.
    pub(crate) fn define(
        &self,
        name: &str,
        request: TenantRequest,
    ) -> Result<(Definition, bool), AdminRefused> {
        check_name(name).map_err(AdminRefused::Invalid)?;
        if self.from_file.tenants.contains_key(name) {
            return Err(AdminRefused::ByFile(name.to_string()));
        }
        let existing = self.defined.get(name);
        if existing.is_none() && self.defined.len() >= MAX_DEFINED_TENANTS {
            return Err(AdminRefused::TooManyTenants);
        }
        let definition = Definition {
            quotas: request.quotas,
            limits: request.limits,
            tokens: existing
                .map(|known| known.tokens.clone())
                .unwrap_or_default(),
        };
        // Checked as it will be served: a quota of 0 is refused now.
        definition
            .spec(name, &self.from_file.defaults)
            .map_err(AdminRefused::Invalid)?;
        Ok((definition, existing.is_none()))
    }

    /// Tenant `name`'s definition with a new token as `request` asks, and
    /// the token (shown once: only its hash is kept).
    pub(crate) fn with_new_token(
        &self,
        name: &str,
        request: &TokenRequest,
    ) -> Result<(Definition, String), AdminRefused> {
        check_token_name(&request.name).map_err(AdminRefused::Invalid)?;
        let mut definition = self.definition(name)?.clone();
        if definition.tokens.iter().any(|t| t.name == request.name) {
            return Err(AdminRefused::TokenExists {
                tenant: name.to_string(),
                token: request.name.clone(),
            });
        }
        if definition.tokens.len() >= MAX_TOKENS_PER_TENANT {
            return Err(AdminRefused::TooManyTokens {
                tenant: name.to_string(),
            });
        }
        let token = new_token();
        definition.tokens.push(DefinedToken {
            name: request.name.clone(),
            sha256: TokenHash::of(&token).to_string(),
            read_only: request.read_only,
            created_at: wflow_api::now(),
        });
        Ok((definition, token))
    }

    /// Tenant `name`'s definition without its token `token`.
    pub(crate) fn without_token(
        &self,
        name: &str,
        token: &str,
    ) -> Result<Definition, AdminRefused> {
        let mut definition = self.definition(name)?.clone();
        let before = definition.tokens.len();
        definition.tokens.retain(|known| known.name != token);
        if definition.tokens.len() == before {
            return Err(AdminRefused::NoToken {
                tenant: name.to_string(),
                token: token.to_string(),
            });
        }
        Ok(definition)
    }

    /// Whether the API may delete tenant `name`: one it defines, even set
    /// aside.
    pub(crate) fn check_deletable(&self, name: &str) -> Result<(), AdminRefused> {
        if self.defined.contains_key(name) {
            Ok(())
        } else if self.from_file.tenants.contains_key(name) {
            Err(AdminRefused::ByFile(name.to_string()))
        } else {
            Err(AdminRefused::NoTenant(name.to_string()))
        }
    }

    /// The API's definition of tenant `name`.
    fn definition(&self, name: &str) -> Result<&Definition, AdminRefused> {
        match self.defined.get(name) {
            Some(definition) if !self.from_file.tenants.contains_key(name) => Ok(definition),
            _ if self.from_file.tenants.contains_key(name) => {
                Err(AdminRefused::ByFile(name.to_string()))
            }
            _ => Err(AdminRefused::NoTenant(name.to_string())),
        }
    }

    /// Every tenant, the file's first, then the API's, each by name.
    pub(crate) fn views(&self) -> Vec<TenantView> {
        let file = self.from_file.tenants.values().map(|spec| TenantView {
            name: spec.name.clone(),
            defined_by: Source::File,
            set_aside: false,
            quotas: Some(spec.quotas),
            limits: Some(spec.limits),
            tokens: spec
                .tokens
                .iter()
                .map(|token| TokenView {
                    name: token.name.clone(),
                    read_only: token.read_only,
                    created_at: None,
                })
                .collect(),
            problem: None,
        });
        let api = self.defined.iter().map(|(name, definition)| {
            let spec = definition.spec(name, &self.from_file.defaults);
            TenantView {
                name: name.clone(),
                defined_by: Source::Api,
                set_aside: self.from_file.tenants.contains_key(name),
                quotas: spec.as_ref().ok().map(|spec| spec.quotas),
                limits: spec.as_ref().ok().map(|spec| spec.limits),
                tokens: definition
                    .tokens
                    .iter()
                    .map(|token| TokenView {
                        name: token.name.clone(),
                        read_only: token.read_only,
                        created_at: Some(token.created_at.clone()),
                    })
                    .collect(),
                problem: spec.err(),
            }
        });
        file.chain(api).collect()
    }

    /// Tenant `name` as the admin API shows it.
    /// The served one, if the file and the API both name it.
    pub(crate) fn view(&self, name: &str) -> Option<TenantView> {
        let mut named: Vec<TenantView> = self
            .views()
            .into_iter()
            .filter(|view| view.name == name)
            .collect();
        let served = named.iter().position(|view| !view.set_aside).unwrap_or(0);
        (!named.is_empty()).then(|| named.swap_remove(served))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::quota::QuotasSpec;

    fn registry() -> Registry {
        let config = TenantsConfig::parse(
            "[defaults.quotas]\nmax_concurrent_runs = 3\n[tenants.acme]\ntokens = []\n",
        )
        .expect("parses");
        Registry::new(None, config)
    }

    fn define(registry: &mut Registry, name: &str, quotas: QuotasSpec) -> bool {
        let request = TenantRequest {
            quotas,
            limits: None,
        };
        let (definition, created) = registry.define(name, request).expect("defined");
        registry.set_defined(name, Some(definition));
        created
    }

    #[test]
    fn an_api_tenant_is_served_with_the_files_defaults_and_its_tokens_work() {
        let mut registry = registry();
        assert!(define(&mut registry, "globex", QuotasSpec::default()));
        let request = TokenRequest {
            name: "ci".into(),
            read_only: false,
        };
        let (definition, token) = registry.with_new_token("globex", &request).expect("minted");
        registry.set_defined("globex", Some(definition));
        let (config, problems) = registry.merged();
        assert!(problems.is_empty(), "{problems:?}");
        let globex = &config.tenants["globex"];
        assert_eq!(globex.quotas.max_concurrent_runs, 3, "the file's default");
        assert!(globex.tokens[0].hash.matches(&TokenHash::of(&token)));
        // Redefining keeps the tokens.
        let quotas = QuotasSpec {
            max_concurrent_runs: Some(7),
            ..QuotasSpec::default()
        };
        assert!(!define(&mut registry, "globex", quotas), "not new");
        let (config, _) = registry.merged();
        assert_eq!(config.tenants["globex"].quotas.max_concurrent_runs, 7);
        assert_eq!(config.tenants["globex"].tokens.len(), 1);
        let err = registry
            .with_new_token("globex", &request)
            .expect_err("a second `ci`");
        assert!(matches!(err, AdminRefused::TokenExists { .. }), "{err}");
        let definition = registry.without_token("globex", "ci").expect("revoked");
        registry.set_defined("globex", Some(definition));
        assert!(registry.merged().0.tenants["globex"].tokens.is_empty());
    }

    #[test]
    fn the_files_tenants_are_the_files() {
        let mut registry = registry();
        let err = registry
            .define("acme", TenantRequest::default())
            .expect_err("the file's");
        assert!(matches!(err, AdminRefused::ByFile(_)), "{err}");
        assert!(matches!(
            registry.check_deletable("acme"),
            Err(AdminRefused::ByFile(_))
        ));
        // An API tenant whose name the file takes later is set aside.
        define(&mut registry, "globex", QuotasSpec::default());
        let file = TenantsConfig::parse("[tenants.globex]\n").expect("parses");
        registry.set_file(file);
        let (config, problems) = registry.merged();
        assert_eq!(config.tenants.len(), 1);
        assert!(problems[0].contains("`globex` is defined by the tenants file"));
        let views = registry.views();
        assert!(
            views
                .iter()
                .any(|v| v.set_aside && v.defined_by == Source::Api)
        );
        assert!(
            registry.check_deletable("globex").is_ok(),
            "the API's may go"
        );
    }

    #[test]
    fn bad_requests_are_named() {
        let registry = registry();
        let zero = TenantRequest {
            quotas: QuotasSpec {
                runs_per_minute: Some(0),
                ..QuotasSpec::default()
            },
            limits: None,
        };
        let err = registry.define("globex", zero).expect_err("a quota of 0");
        assert!(err.to_string().contains("runs_per_minute is 0"), "{err}");
        let err = registry
            .define("Bad Name", TenantRequest::default())
            .expect_err("a bad name");
        assert!(err.to_string().contains("tenant name `Bad Name`"), "{err}");
        let err = registry
            .with_new_token(
                "nobody",
                &TokenRequest {
                    name: "ci".into(),
                    read_only: false,
                },
            )
            .expect_err("no such tenant");
        assert!(matches!(err, AdminRefused::NoTenant(_)), "{err}");
    }
}
