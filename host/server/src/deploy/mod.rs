//! Deployments over the API: a tenant uploads a component (or a manifest
//! with its components), the server checks and compiles it, stores it
//! durably and serves it under the tenant as `/workflows/{name}`.
//!
//! Each deployment of a name is a new version and becomes current for new
//! runs; a run in flight finishes on the version it started on (it holds
//! it: see [`crate::tenants::VersionInUse`]), and a version no run uses
//! may be deleted. A restarted server serves every stored version again.
//!
//! - `upload`: reading the multipart request; `check`: from files to a
//!   checked workflow.

mod check;
mod upload;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use wflow_store::{DeployedComponent, StoreError, StoredDeployment};

use crate::App;
use crate::error::ApiError;
use crate::tenants::auth::Caller;
use crate::tenants::quota::QuotaRefused;
use crate::tenants::{ComponentInfo, Deployed, RemoveRefused, Tenant, audit};

use self::check::{Parts, workflow_of};
use self::upload::Upload;

/// `POST /deployments`: checks, stores and serves a deployment; 201 with
/// the version made.
pub(crate) async fn deploy(
    State(app): State<Arc<App>>,
    caller: Caller,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let tenant = &caller.tenant;
    let Some(runtime) = app.runtime.clone() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this server takes no deployments",
        ));
    };
    let multipart = multipart.map_err(|err| {
        ApiError::bad_request(format!(
            "a deployment is a multipart/form-data upload: {}",
            err.body_text()
        ))
    })?;
    // One deployment of the tenant's at a time: versions and the quota are
    // counted right.
    let turn = tenant.deploying().await;
    let quotas = tenant.quotas();
    let (kept, _) = tenant.deployment_counts("");
    if kept >= quotas.max_deployments {
        let refused = QuotaRefused::AtLimit {
            tenant: tenant.name().to_string(),
            quota: "max_deployments",
            limit: quotas.max_deployments,
            in_use: kept,
        };
        return Err(caller.refused(refused));
    }
    let upload = Upload::read(multipart, quotas.max_deployment_bytes).await?;
    let parts = Parts {
        name: upload.name.as_deref(),
        manifest: upload.manifest.as_deref(),
        components: upload
            .components
            .iter()
            .map(|(file, bytes)| (file.as_str(), bytes.clone()))
            .collect(),
    };
    let (name, workflow) = match workflow_of(&runtime, parts).await {
        Ok(checked) => checked,
        Err(refused) => {
            forget_compiled(&app, &runtime, upload.components).await;
            return Err(refused);
        }
    };
    let workflow = workflow.with_capped_limits(&deployment_caps(tenant));
    let (_, version) = tenant.deployment_counts(&name);
    let stored = StoredDeployment {
        tenant: tenant.name().to_string(),
        name: name.clone(),
        version,
        created_at: wflow_api::now(),
        manifest: upload.manifest,
        components: upload
            .components
            .into_iter()
            .map(|(file_name, bytes)| DeployedComponent {
                file_name,
                sha256: hex::encode(Sha256::digest(&bytes)),
                bytes: Arc::new(bytes),
            })
            .collect(),
        deleted: false,
    };
    // Stored, then served, in a task of its own: a client going away
    // meanwhile leaves both done or neither.
    let (store, serving) = (app.store.clone(), tenant.clone());
    tokio::spawn(async move {
        // The tenant's turn ends with the task, not with the request.
        let _turn = turn;
        if let Some(store) = store {
            store
                .save_deployment(&stored)
                .await
                .map_err(|err| match err {
                    StoreError::Conflict { .. } => ApiError::conflict(format!(
                        "version {} of {} was deployed through another host at the same time: nothing deployed, deploy again",
                        stored.version, stored.name
                    )),
                    err => ApiError::internal(format!(
                        "cannot store the deployment, nothing deployed: {err}"
                    )),
                })?;
        }
        serving.add_deployment(&stored.name, deployed_from(&stored, workflow));
        Ok::<_, ApiError>(())
    })
    .await
    .map_err(|err| ApiError::internal(format!("the deployment failed: {err}")))??;
    audit::deployment(
        &caller.request_id,
        tenant.name(),
        &name,
        version,
        "deployed",
    );
    let info = tenant
        .deployments()
        .into_iter()
        .find(|info| info.name == name && info.version == version);
    Ok((StatusCode::CREATED, Json(json!(info))).into_response())
}

/// Removes from the compiled cache what a refused deployment's components
/// left there, unless a served workflow is made of the same bytes: refused
/// uploads do not fill the disk.
async fn forget_compiled(
    app: &App,
    runtime: &wflow_core::Runtime,
    components: Vec<(String, Vec<u8>)>,
) {
    let Some(cache) = runtime.cache().cloned() else {
        return;
    };
    let in_use: std::collections::HashSet<String> = app
        .access
        .tenants()
        .iter()
        .flat_map(|tenant| tenant.component_digests())
        .collect();
    let engine = runtime.engine().clone();
    let forget = move || {
        for (_, bytes) in components {
            if !in_use.contains(&hex::encode(Sha256::digest(&bytes))) {
                cache.remove(&engine, &bytes);
            }
        }
    };
    if let Err(err) = tokio::task::spawn_blocking(forget).await {
        tracing::warn!("cannot clear a refused deployment from the compiled cache: {err}");
    }
}

/// `GET /deployments`: the caller's deployment versions.
pub(crate) async fn list(caller: Caller) -> Json<Value> {
    Json(json!({ "deployments": caller.tenant.deployments() }))
}

/// `DELETE /deployments/{name}/{version}`: forgets a version no run uses.
pub(crate) async fn delete(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((name, version)): Path<(String, u64)>,
) -> Result<Json<Value>, ApiError> {
    let tenant = &caller.tenant;
    let turn = tenant.deploying().await;
    let removed = tenant
        .remove_deployment(&name, version)
        .map_err(|refused| match refused {
            RemoveRefused::NotFound { .. } => ApiError::not_found(refused.to_string()),
            RemoveRefused::InUse { .. } => ApiError::conflict(refused.to_string()),
        })?;
    // In a task of its own: a client going away meanwhile leaves the
    // version deleted in the store too, or served still.
    let (store, serving, forgotten) = (app.store.clone(), tenant.clone(), name.clone());
    tokio::spawn(async move {
        let _turn = turn;
        if let Some(store) = store
            && let Err(err) = store
                .delete_deployment(serving.name(), &forgotten, version)
                .await
        {
            // Still stored: still served.
            serving.add_deployment(&forgotten, removed);
            return Err(ApiError::internal(format!(
                "cannot delete the deployment: {err}"
            )));
        }
        Ok(())
    })
    .await
    .map_err(|err| ApiError::internal(format!("the deletion failed: {err}")))??;
    audit::deployment(
        &caller.request_id,
        tenant.name(),
        &name,
        version,
        "deployment deleted",
    );
    Ok(Json(
        json!({ "status": "deleted", "name": name, "version": version }),
    ))
}

/// What a tenant's deployment runs within: the tenant's caps, and wflow's
/// default limits where the operator set no cap (a deployed manifest may
/// lower its limits, never raise them past those).
fn deployment_caps(tenant: &Tenant) -> wflow_core::LimitCaps {
    tenant.limits().over(&wflow_core::LimitCaps::at_defaults())
}

/// What a stored deployment serves as.
fn deployed_from(stored: &StoredDeployment, workflow: wflow_core::Workflow) -> Deployed {
    Deployed::new(
        stored.version,
        stored.created_at.clone(),
        workflow,
        stored
            .components
            .iter()
            .map(|c| ComponentInfo {
                file_name: c.file_name.clone(),
                sha256: c.sha256.clone(),
                bytes: c.bytes.len() as u64,
            })
            .collect(),
    )
}

impl App {
    /// Serves again every deployment `store` kept (of the tenants `only`
    /// names, if given), each under its tenant; one that no longer loads
    /// (or whose tenant is gone) is logged and left stored.
    pub(crate) async fn restore_deployments(
        &self,
        store: &dyn wflow_store::Store,
        only: Option<&[String]>,
    ) -> Result<(), StoreError> {
        let Some(runtime) = &self.runtime else {
            return Ok(());
        };
        for stored in store.deployments().await? {
            if only.is_some_and(|only| !only.contains(&stored.tenant)) {
                continue;
            }
            if let Some(tenant) = self.access.tenant(&stored.tenant) {
                // Its number is taken, whether or not it loads.
                tenant.take_version(&stored.name, stored.version);
                if stored.deleted {
                    // Deleted through another host sharing the store: no
                    // longer served here either (a run of it here goes on).
                    let _ = tenant.remove_deployment(&stored.name, stored.version);
                }
                if tenant
                    .workflow_at(&stored.name, Some(stored.version))
                    .is_some()
                {
                    // Served already.
                    continue;
                }
            }
            if stored.deleted {
                continue;
            }
            let Some(tenant) = self.access.tenant(&stored.tenant) else {
                // Kept stored: a tenants file giving the tenant back serves it
                // again after a restart.
                tracing::warn!(tenant = %stored.tenant, workflow = %stored.name, "a deployment of a tenant this server does not know is not served");
                continue;
            };
            match rebuild(runtime, &tenant, &stored).await {
                Ok(deployed) => tenant.add_deployment(&stored.name, deployed),
                Err(err) => tracing::error!(
                    tenant = %stored.tenant,
                    workflow = %stored.name,
                    version = stored.version,
                    "a stored deployment no longer loads: {err:?}"
                ),
            }
        }
        Ok(())
    }
}

/// A stored deployment, checked and loaded again.
async fn rebuild(
    runtime: &wflow_core::Runtime,
    tenant: &Tenant,
    stored: &StoredDeployment,
) -> Result<Deployed, ApiError> {
    let parts = Parts {
        name: Some(&stored.name),
        manifest: stored.manifest.as_deref(),
        components: stored
            .components
            .iter()
            .map(|c| (c.file_name.as_str(), c.bytes.to_vec()))
            .collect(),
    };
    let (_, workflow) = workflow_of(runtime, parts).await?;
    Ok(deployed_from(
        stored,
        workflow.with_capped_limits(&deployment_caps(tenant)),
    ))
}
