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
//! - `config`: the tenants file; `defined`: tenants defined through the
//!   admin API; `registry`: the two together; `token`: tokens and their
//!   hashes; `quota`: quotas and usage; `auth`: the layer that finds the
//!   caller; `audit`: the audit log.

pub(crate) mod audit;
pub(crate) mod auth;
pub mod config;
pub(crate) mod defined;
pub(crate) mod quota;
pub(crate) mod registry;
pub mod token;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use wflow_api::HandlerRecord;
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

/// The key tenant `tenant`'s handler `id` is kept under (in memory and in
/// the store): `TENANT/ID`, or the id itself for the open tenant. Handler
/// ids hold no `/` (see `runs::check_chosen_id`), so each tenant chooses
/// its ids freely and no tenant's key can name another's handler.
pub(crate) fn handler_key(tenant: &str, id: &str) -> String {
    if tenant == OPEN_TENANT {
        id.to_string()
    } else {
        format!("{tenant}/{id}")
    }
}

/// A handler's record as its tenant sees it: its id without the tenant's
/// prefix.
pub(crate) fn as_seen(mut record: HandlerRecord) -> HandlerRecord {
    if let Some(id) = record
        .handler_id
        .strip_prefix(record.tenant.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|_| record.tenant != OPEN_TENANT)
    {
        record.handler_id = id.to_string();
    }
    record
}

/// A tenant: its workflows, quotas and usage.
pub(crate) struct Tenant {
    name: String,
    /// Its quotas: a reloaded tenants file changes them at once.
    quotas: RwLock<Quotas>,
    limits: LimitCaps,
    workflows: RwLock<Workflows>,
    usage: Arc<Usage>,
    /// Held while one of its deployments is checked and stored: one at a
    /// time, so versions and the deployment quota are counted right.
    deploying: Arc<tokio::sync::Mutex<()>>,
}

/// A tenant's workflows: the operator's (by name, in the order given) and
/// its own deployments' versions (oldest first; the last is current). A
/// deployment shadows the operator's workflow of its name.
#[derive(Default)]
struct Workflows {
    by_name: BTreeMap<String, Workflow>,
    order: Vec<String>,
    deployed: BTreeMap<String, Vec<Deployed>>,
    /// The highest version number taken for each name, deleted versions
    /// and stored ones that no longer load included: never given again.
    taken: BTreeMap<String, u64>,
}

/// One version of a tenant's deployment, served.
pub(crate) struct Deployed {
    /// Its version.
    pub(crate) version: u64,
    /// When it was deployed.
    pub(crate) created_at: String,
    /// The workflow, within the tenant's limits.
    pub(crate) workflow: Workflow,
    /// Its components, as listed.
    pub(crate) components: Vec<ComponentInfo>,
    /// Runs going on on it: it cannot be deleted while any is.
    in_flight: Arc<AtomicU64>,
}

impl Deployed {
    /// A version not yet used by any run.
    pub(crate) fn new(
        version: u64,
        created_at: String,
        workflow: Workflow,
        components: Vec<ComponentInfo>,
    ) -> Self {
        Self {
            version,
            created_at,
            workflow,
            components,
            in_flight: Arc::default(),
        }
    }
}

/// A run going on on a deployment version, counted until dropped.
#[derive(Debug)]
pub(crate) struct VersionInUse(Arc<AtomicU64>);

impl VersionInUse {
    fn take(counter: &Arc<AtomicU64>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter.clone())
    }
}

impl Drop for VersionInUse {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Which version of a workflow a lookup wants.
#[derive(Clone, Copy)]
enum Version {
    /// The current one: the newest deployed, else the operator's.
    Current,
    /// This one (`None`: the operator's).
    Exactly(Option<u64>),
}

/// The workflow a run starts or goes on on: which version, held in use.
pub(crate) struct RunOn {
    pub(crate) workflow: Workflow,
    pub(crate) version: Option<u64>,
    pub(crate) in_use: Option<VersionInUse>,
}

/// Why a deployment version cannot be deleted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RemoveRefused {
    #[error("workflow `{name}` has no deployed version {version}")]
    NotFound { name: String, version: u64 },
    #[error(
        "version {version} of `{name}` is used by {runs} run(s) going on: cancel them or wait for them to end"
    )]
    InUse {
        name: String,
        version: u64,
        runs: u64,
    },
}

/// What `GET /deployments` shows of a version.
#[derive(Debug, serde::Serialize)]
pub(crate) struct DeploymentInfo {
    pub(crate) name: String,
    pub(crate) version: u64,
    pub(crate) current: bool,
    pub(crate) created_at: String,
    pub(crate) runs_in_flight: u64,
    pub(crate) components: Vec<ComponentInfo>,
}

/// A deployed component, as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ComponentInfo {
    pub(crate) file_name: String,
    pub(crate) sha256: String,
    pub(crate) bytes: u64,
}

impl Tenant {
    /// The open tenant: the served workflows themselves, no quotas.
    fn open(workflows: &[Workflow]) -> Self {
        let unlimited = Quotas {
            max_concurrent_runs: u64::MAX,
            runs_per_minute: u64::MAX,
            max_stream_readers: u64::MAX,
            max_handlers: u64::MAX,
            ..Quotas::default()
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
            quotas: RwLock::new(quotas),
            limits,
            workflows: RwLock::new(served),
            usage: Arc::default(),
            deploying: Arc::default(),
        }
    }

    /// Its name (`""` for the open tenant).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Its quotas.
    pub(crate) fn quotas(&self) -> Quotas {
        *read(&self.quotas)
    }

    /// What it uses.
    pub(crate) fn usage(&self) -> &Arc<Usage> {
        &self.usage
    }

    /// Its limit caps.
    pub(crate) fn limits(&self) -> &LimitCaps {
        &self.limits
    }

    /// Its workflow `name`: the current version of its deployment of that
    /// name, else the operator's.
    pub(crate) fn workflow(&self, name: &str) -> Result<Workflow, ApiError> {
        self.find(name, Version::Current, false)
            .map(|found| found.workflow)
            .ok_or_else(|| ApiError::not_found("Workflow not found"))
    }

    /// Its workflow `name` at `version` (`None`: the operator's): the one a
    /// run started on; `None` when it is no longer served.
    pub(crate) fn workflow_at(&self, name: &str, version: Option<u64>) -> Option<Workflow> {
        self.find(name, Version::Exactly(version), false)
            .map(|found| found.workflow)
    }

    /// Its workflow `name` for a new run, the version counted in use.
    pub(crate) fn start_on(&self, name: &str) -> Result<RunOn, ApiError> {
        self.find(name, Version::Current, true)
            .ok_or_else(|| ApiError::not_found("Workflow not found"))
    }

    /// Its workflow `name` at `version` (`None`: the operator's), for a
    /// run that goes on on it, the version counted in use; `None` when it
    /// is no longer served.
    pub(crate) fn run_on(&self, name: &str, version: Option<u64>) -> Option<RunOn> {
        self.find(name, Version::Exactly(version), true)
    }

    /// `name` at `version`, looked up under one lock; with `in_use`, a
    /// deployed version is counted in use before the lock is let go, so a
    /// deletion never slips between the lookup and the count.
    fn find(&self, name: &str, version: Version, in_use: bool) -> Option<RunOn> {
        let served = read(&self.workflows);
        let deployed = served.deployed.get(name);
        let deployed = match version {
            Version::Current => deployed.and_then(|versions| versions.last()),
            Version::Exactly(Some(version)) => {
                deployed?.iter().find(|known| known.version == version)
            }
            Version::Exactly(None) => None,
        };
        if let Some(deployed) = deployed {
            return Some(RunOn {
                workflow: deployed.workflow.clone(),
                version: Some(deployed.version),
                in_use: in_use.then(|| VersionInUse::take(&deployed.in_flight)),
            });
        }
        if matches!(version, Version::Exactly(Some(_))) {
            return None;
        }
        served.by_name.get(name).map(|workflow| RunOn {
            workflow: workflow.clone(),
            version: None,
            in_use: None,
        })
    }

    /// The SHA-256 of every component its workflows (the operator's and
    /// its deployments' versions) are made of.
    pub(crate) fn component_digests(&self) -> Vec<String> {
        let served = read(&self.workflows);
        let deployed = served.deployed.values().flatten().map(|d| &d.workflow);
        served
            .by_name
            .values()
            .chain(deployed)
            .flat_map(|workflow| workflow.components())
            .map(|component| component.digest.clone())
            .collect()
    }

    /// Its workflows' names: the operator's in the order given, then its
    /// own deployments'.
    pub(crate) fn workflow_names(&self) -> Vec<String> {
        let served = read(&self.workflows);
        let mut names = served.order.clone();
        names.extend(
            served
                .deployed
                .keys()
                .filter(|name| !served.by_name.contains_key(*name))
                .cloned(),
        );
        names
    }

    /// Waits for the tenant's turn to deploy (one deployment at a time).
    pub(crate) async fn deploying(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.deploying.clone().lock_owned().await
    }

    /// How many deployment versions it keeps, and the next version of
    /// `name`.
    pub(crate) fn deployment_counts(&self, name: &str) -> (u64, u64) {
        let served = read(&self.workflows);
        let kept = served.deployed.values().map(|v| v.len() as u64).sum();
        let next = served.taken.get(name).map_or(1, |taken| taken + 1);
        (kept, next)
    }

    /// Records version `version` of `name` as taken (a deleted version, or
    /// one that no longer loads).
    pub(crate) fn take_version(&self, name: &str, version: u64) {
        let mut served = write(&self.workflows);
        let taken = served.taken.entry(name.to_string()).or_default();
        *taken = (*taken).max(version);
    }

    /// Serves a deployment version of `name` (current if the newest), once:
    /// a version served already stays as it is.
    pub(crate) fn add_deployment(&self, name: &str, deployed: Deployed) {
        let mut served = write(&self.workflows);
        let taken = served.taken.entry(name.to_string()).or_default();
        *taken = (*taken).max(deployed.version);
        let versions = served.deployed.entry(name.to_string()).or_default();
        let at = versions.partition_point(|known| known.version < deployed.version);
        if versions
            .get(at)
            .is_some_and(|known| known.version == deployed.version)
        {
            return;
        }
        versions.insert(at, deployed);
    }

    /// Stops serving version `version` of `name`, unless a run uses it.
    pub(crate) fn remove_deployment(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Deployed, RemoveRefused> {
        let mut served = write(&self.workflows);
        let not_found = || RemoveRefused::NotFound {
            name: name.to_string(),
            version,
        };
        let versions = served.deployed.get_mut(name).ok_or_else(not_found)?;
        let at = versions
            .iter()
            .position(|deployed| deployed.version == version)
            .ok_or_else(not_found)?;
        let runs = versions[at].in_flight.load(Ordering::Acquire);
        if runs > 0 {
            return Err(RemoveRefused::InUse {
                name: name.to_string(),
                version,
                runs,
            });
        }
        let removed = versions.remove(at);
        if versions.is_empty() {
            served.deployed.remove(name);
        }
        Ok(removed)
    }

    /// Its deployments' versions, by name, oldest first.
    pub(crate) fn deployments(&self) -> Vec<DeploymentInfo> {
        let served = read(&self.workflows);
        served
            .deployed
            .iter()
            .flat_map(|(name, versions)| {
                let current = versions.last().map(|last| last.version);
                versions.iter().map(move |deployed| DeploymentInfo {
                    name: name.clone(),
                    version: deployed.version,
                    current: Some(deployed.version) == current,
                    created_at: deployed.created_at.clone(),
                    runs_in_flight: deployed.in_flight.load(Ordering::Acquire),
                    components: deployed.components.clone(),
                })
            })
            .collect()
    }

    /// What `GET /usage` shows of it.
    pub(crate) fn report(&self) -> UsageReport {
        self.usage.report(&self.name, &self.quotas(), &self.limits)
    }
}

/// Who may call the server.
pub(crate) enum Access {
    /// No tenants file: every request is the open tenant's.
    Open(Arc<Tenant>),
    /// A tenants file: every request needs a token. Reloading the file
    /// replaces the table.
    Tokens(RwLock<TokenTable>),
}

/// The tokens of a tenants file and the tenants they name.
pub(crate) struct TokenTable {
    admin: Vec<Hash>,
    tokens: Vec<(TokenSpec, Arc<Tenant>)>,
    /// Every tenant the server has served since it started: one no longer
    /// in the file has no token, but its runs go on.
    tenants: BTreeMap<String, Arc<Tenant>>,
}

/// What a presented token turned out to be.
pub(crate) enum Bearer {
    /// An admin token.
    Admin,
    /// A tenant's token.
    Tenant {
        /// What the file calls the token.
        name: String,
        /// Whether it may only read.
        read_only: bool,
        /// Its tenant.
        tenant: Arc<Tenant>,
    },
}

/// What reloading a tenants file changed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reloaded {
    /// Tenants new in the file.
    pub added: Vec<String>,
    /// Tenants no longer in the file (their tokens stop working; their runs
    /// go on).
    pub removed: Vec<String>,
    /// How many tokens (tenants' and admin) the file holds now.
    pub tokens: usize,
    /// Tenants whose `limits` changed: that takes a restart.
    pub limits_pending: Vec<String>,
    /// Tenants defined through the admin API that are not served, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl Access {
    /// The open server's access to `workflows`.
    pub(crate) fn open(workflows: &[Workflow]) -> Self {
        Self::Open(Arc::new(Tenant::open(workflows)))
    }

    /// Access by the tokens of `config`, each tenant with its own copies of
    /// `workflows`.
    pub(crate) fn tokens(config: &TenantsConfig, workflows: &[Workflow]) -> Self {
        let (table, _) = TokenTable::build(config, workflows, &BTreeMap::new());
        Self::Tokens(RwLock::new(table))
    }

    /// Replaces the tokens, quotas and tenants with `config`'s: a token no
    /// longer in it stops working at once. A tenant new in it gets its own
    /// copies of `workflows`.
    pub(crate) fn reload(
        &self,
        config: &TenantsConfig,
        workflows: &[Workflow],
    ) -> Option<Reloaded> {
        let Self::Tokens(table) = self else {
            return None;
        };
        let mut table = write(table);
        let (next, reloaded) = TokenTable::build(config, workflows, &table.tenants);
        *table = next;
        Some(reloaded)
    }

    /// The tenant named `name`, if there is one.
    pub(crate) fn tenant(&self, name: &str) -> Option<Arc<Tenant>> {
        match self {
            Self::Open(open) => (name == OPEN_TENANT).then(|| open.clone()),
            Self::Tokens(table) => read(table).tenants.get(name).cloned(),
        }
    }

    /// Every tenant.
    pub(crate) fn tenants(&self) -> Vec<Arc<Tenant>> {
        match self {
            Self::Open(open) => vec![open.clone()],
            Self::Tokens(table) => read(table).tenants.values().cloned().collect(),
        }
    }

    /// How many tenants there are.
    pub(crate) fn tenant_count(&self) -> usize {
        match self {
            Self::Open(_) => 1,
            Self::Tokens(table) => read(table).tenants.len(),
        }
    }

    /// Whether requests need tokens.
    pub(crate) fn needs_tokens(&self) -> bool {
        matches!(self, Self::Tokens(_))
    }

    /// What `token` is, if anything, on a server with tokens.
    pub(crate) fn find(&self, token: &str) -> Option<Bearer> {
        match self {
            Self::Open(_) => None,
            Self::Tokens(table) => read(table).find(token),
        }
    }
}

impl TokenTable {
    /// The table `config` makes, keeping the tenants of `known` (their
    /// usage, deployments and instances) and what changed.
    fn build(
        config: &TenantsConfig,
        workflows: &[Workflow],
        known: &BTreeMap<String, Arc<Tenant>>,
    ) -> (Self, Reloaded) {
        let mut reloaded = Reloaded {
            added: Vec::new(),
            removed: Vec::new(),
            tokens: config.admin_tokens.len(),
            limits_pending: Vec::new(),
            problems: Vec::new(),
        };
        let mut tenants = known.clone();
        for spec in config.tenants.values() {
            match known.get(&spec.name) {
                Some(tenant) => {
                    *write(&tenant.quotas) = spec.quotas;
                    if tenant.limits != spec.limits {
                        reloaded.limits_pending.push(spec.name.clone());
                    }
                }
                None => {
                    let tenant = Arc::new(Tenant::from_spec(spec, workflows));
                    tenants.insert(spec.name.clone(), tenant);
                    reloaded.added.push(spec.name.clone());
                }
            }
        }
        reloaded.removed = known
            .keys()
            .filter(|name| !config.tenants.contains_key(*name))
            .cloned()
            .collect();
        let tokens: Vec<(TokenSpec, Arc<Tenant>)> = config
            .tenants
            .values()
            .flat_map(|spec| {
                let tenant = &tenants[&spec.name];
                spec.tokens
                    .iter()
                    .map(move |token| (token.clone(), tenant.clone()))
            })
            .collect();
        reloaded.tokens += tokens.len();
        let table = Self {
            admin: config.admin_tokens.clone(),
            tokens,
            tenants,
        };
        (table, reloaded)
    }

    /// What `token` is, if anything. Every known hash is compared, each in
    /// constant time, so the time taken says nothing of which matched.
    fn find(&self, token: &str) -> Option<Bearer> {
        let presented = Hash::of(token);
        let mut found = None;
        for admin in &self.admin {
            if admin.matches(&presented) {
                found = Some(Bearer::Admin);
            }
        }
        for (spec, tenant) in &self.tokens {
            if spec.hash.matches(&presented) {
                found = Some(Bearer::Tenant {
                    name: spec.name.clone(),
                    read_only: spec.read_only,
                    tenant: tenant.clone(),
                });
            }
        }
        found
    }
}
