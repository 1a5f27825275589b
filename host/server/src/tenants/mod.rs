//! Tenants: who calls the server, what each may reach, and how much.
//!
//! Without a tenants file every request is the *open* tenant's (named
//! `""`), as a single-user server on loopback. With one
//! (`wflow serve --tenants FILE`, [`TenantsConfig`]) every request but
//! `/health` and `/openapi.json` carries `Authorization: Bearer TOKEN`; the
//! token names its tenant, and the tenant is all the request can reach:
//! its own copies of the served workflows (instances never shared with
//! another tenant; compiled code is, since it is the same bytes) and its
//! own handlers. Another tenant's handler is "not found", exactly as one
//! that does not exist.
//!
//! - `config`: the tenants file; `token`: tokens and their hashes;
//!   `quota`: quotas and usage; `auth`: the layer that finds the caller;
//!   `audit`: the audit log.

pub(crate) mod audit;
pub(crate) mod auth;
pub mod config;
pub(crate) mod quota;
pub mod token;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use wflow_core::sync::{read, write};
use wflow_core::{LimitCaps, Workflow};

use crate::error::ApiError;

pub use config::{TenantSpec, TenantsConfig, TenantsError, TokenSpec};
pub use quota::{Quotas, UsageReport};
pub use token::{TokenHash, new_token};

use quota::Usage;
use token::TokenHash as Hash;

/// The open tenant's name: the one tenant of a server without a tenants
/// file.
pub(crate) const OPEN_TENANT: &str = "";

/// A tenant: its workflows, quotas and usage.
pub(crate) struct Tenant {
    name: String,
    quotas: Quotas,
    limits: LimitCaps,
    workflows: RwLock<Workflows>,
    usage: Arc<Usage>,
}

/// A tenant's workflows by name, and their names in the order given.
#[derive(Default)]
struct Workflows {
    by_name: BTreeMap<String, Workflow>,
    order: Vec<String>,
}

impl Tenant {
    /// The open tenant: the served workflows themselves, no quotas.
    fn open(workflows: &[Workflow]) -> Self {
        let unlimited = Quotas {
            max_concurrent_runs: u64::MAX,
            runs_per_minute: u64::MAX,
            max_stream_readers: u64::MAX,
        };
        Self::new(
            OPEN_TENANT.to_string(),
            unlimited,
            LimitCaps::default(),
            workflows.to_vec(),
        )
    }

    /// Tenant `spec`, with copies of `workflows` of its own within its
    /// limits.
    fn from_spec(spec: &TenantSpec, workflows: &[Workflow]) -> Self {
        let own = workflows
            .iter()
            .map(|workflow| workflow.with_capped_limits(&spec.limits))
            .collect();
        Self::new(spec.name.clone(), spec.quotas, spec.limits, own)
    }

    fn new(name: String, quotas: Quotas, limits: LimitCaps, workflows: Vec<Workflow>) -> Self {
        let mut served = Workflows::default();
        for workflow in workflows {
            served.order.push(workflow.name().to_string());
            served.by_name.insert(workflow.name().to_string(), workflow);
        }
        Self {
            name,
            quotas,
            limits,
            workflows: RwLock::new(served),
            usage: Arc::default(),
        }
    }

    /// Its name (`""` for the open tenant).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Its quotas.
    pub(crate) fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// What it uses.
    pub(crate) fn usage(&self) -> &Arc<Usage> {
        &self.usage
    }

    /// Its workflow `name`.
    pub(crate) fn workflow(&self, name: &str) -> Result<Workflow, ApiError> {
        read(&self.workflows)
            .by_name
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Workflow not found"))
    }

    /// Its workflows' names, in the order given.
    pub(crate) fn workflow_names(&self) -> Vec<String> {
        read(&self.workflows).order.clone()
    }

    /// What `GET /usage` shows of it.
    pub(crate) fn report(&self) -> UsageReport {
        self.usage.report(&self.name, &self.quotas, &self.limits)
    }

    /// Adds or replaces workflow `workflow` (a deployment).
    #[allow(dead_code)]
    pub(crate) fn serve(&self, workflow: Workflow) {
        let mut served = write(&self.workflows);
        let name = workflow.name().to_string();
        if served.by_name.insert(name.clone(), workflow).is_none() {
            served.order.push(name);
        }
    }
}

/// Who may call the server.
pub(crate) enum Access {
    /// No tenants file: every request is the open tenant's.
    Open(Arc<Tenant>),
    /// A tenants file: every request needs a token.
    Tokens(TokenTable),
}

/// The tokens of a tenants file and the tenants they name.
pub(crate) struct TokenTable {
    admin: Vec<Hash>,
    tokens: Vec<(TokenSpec, Arc<Tenant>)>,
    tenants: BTreeMap<String, Arc<Tenant>>,
}

/// What a presented token turned out to be.
pub(crate) enum Bearer<'a> {
    /// An admin token.
    Admin,
    /// A tenant's token.
    Tenant(&'a TokenSpec, &'a Arc<Tenant>),
}

impl Access {
    /// The open server's access to `workflows`.
    pub(crate) fn open(workflows: &[Workflow]) -> Self {
        Self::Open(Arc::new(Tenant::open(workflows)))
    }

    /// Access by the tokens of `config`, each tenant with its own copies of
    /// `workflows`.
    pub(crate) fn tokens(config: &TenantsConfig, workflows: &[Workflow]) -> Self {
        let tenants: BTreeMap<String, Arc<Tenant>> = config
            .tenants
            .values()
            .map(|spec| {
                let tenant = Arc::new(Tenant::from_spec(spec, workflows));
                (spec.name.clone(), tenant)
            })
            .collect();
        let tokens = config
            .tenants
            .values()
            .flat_map(|spec| {
                let tenant = &tenants[&spec.name];
                spec.tokens
                    .iter()
                    .map(move |token| (token.clone(), tenant.clone()))
            })
            .collect();
        Self::Tokens(TokenTable {
            admin: config.admin_tokens.clone(),
            tokens,
            tenants,
        })
    }

    /// The tenant named `name`, if there is one.
    pub(crate) fn tenant(&self, name: &str) -> Option<&Arc<Tenant>> {
        match self {
            Self::Open(open) => (name == OPEN_TENANT).then_some(open),
            Self::Tokens(table) => table.tenants.get(name),
        }
    }

    /// Every tenant.
    pub(crate) fn tenants(&self) -> Vec<&Arc<Tenant>> {
        match self {
            Self::Open(open) => vec![open],
            Self::Tokens(table) => table.tenants.values().collect(),
        }
    }

    /// Whether requests need tokens.
    pub(crate) fn needs_tokens(&self) -> bool {
        matches!(self, Self::Tokens(_))
    }
}

impl TokenTable {
    /// What `token` is, if anything. Every known hash is compared, each in
    /// constant time, so the time taken says nothing of which matched.
    pub(crate) fn find(&self, token: &str) -> Option<Bearer<'_>> {
        let presented = Hash::of(token);
        let mut found = None;
        for admin in &self.admin {
            if admin.matches(&presented) {
                found = Some(Bearer::Admin);
            }
        }
        for (spec, tenant) in &self.tokens {
            if spec.hash.matches(&presented) {
                found = Some(Bearer::Tenant(spec, tenant));
            }
        }
        found
    }
}
