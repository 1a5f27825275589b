//! The admin API (admin tokens only): tenants defined, changed and deleted,
//! their tokens made and revoked, the tenants file reloaded. Tenants the
//! API defines are kept in the store, so a restarted server (or another
//! host on the same store) serves them again.
//!
//! Every change is stored first and served after, in a task of its own: a
//! client that goes away half-way changes all of it or nothing. Changes
//! come one at a time (the registry's lock), and each is in the audit log.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use wflow_store::{Store, StoreError, StoredTenant};

use crate::App;
use crate::error::ApiError;
use crate::tenants::auth::Admin;
use crate::tenants::defined::{Definition, TenantRequest, TokenRequest};
use crate::tenants::registry::{AdminRefused, Registry};
use crate::tenants::{Reloaded, TenantsConfig, TenantsError, audit};

type Shared = State<Arc<App>>;

impl App {
    /// Reads the tenants file again: tokens removed stop working at once,
    /// new ones work, quotas change, new tenants are served (with what the
    /// store kept of theirs: deployments, handler counts). A file that does
    /// not parse changes nothing.
    pub async fn reload_tenants(&self) -> Result<Reloaded, TenantsError> {
        let mut registry = self.registry.lock().await;
        let Some(path) = registry.file.clone() else {
            return Err(TenantsError::NoFile);
        };
        registry.set_file(TenantsConfig::load(&path)?);
        self.serve_registry(&registry).await
    }

    /// Serves the tenants `registry` holds, bringing back from the store
    /// what tenants new to this server had kept there. The tenants are
    /// served whatever the store answers: what it could not give back is
    /// logged and listed in `problems`.
    async fn serve_registry(&self, registry: &Registry) -> Result<Reloaded, TenantsError> {
        let mut reloaded = self.serve_merged(registry)?;
        if let Some(store) = &self.store
            && !reloaded.added.is_empty()
        {
            let added = Some(reloaded.added.as_slice());
            let restored = match self.restore_deployments(&**store, added).await {
                Ok(()) => self.count_stored_handlers(&**store, added).await,
                Err(err) => Err(err),
            };
            if let Err(err) = restored {
                let problem = format!(
                    "the store could not give back the deployments or handler counts of {}: {err}",
                    reloaded.added.join(", ")
                );
                tracing::error!("{problem}");
                reloaded.problems.push(problem);
            }
        }
        Ok(reloaded)
    }

    /// Serves the tenants `registry` holds: tokens, quotas, new tenants.
    fn serve_merged(&self, registry: &Registry) -> Result<Reloaded, TenantsError> {
        let (config, problems) = registry.merged();
        for problem in &problems {
            tracing::error!("{problem}");
        }
        let mut reloaded = self
            .access
            .reload(&config, &self.served_workflows())
            .ok_or(TenantsError::NoFile)?;
        reloaded.problems = problems;
        Ok(reloaded)
    }

    /// Serves, besides the tenants file's, the tenants the admin API
    /// defined and `store` kept (before the store's deployments and
    /// handlers are brought back, so that theirs find them). A definition
    /// that no longer reads is logged and left stored.
    pub(crate) async fn serve_stored_tenants(&self, store: &dyn Store) -> Result<(), StoreError> {
        if !self.access.needs_tokens() {
            return Ok(());
        }
        let stored = store.tenants().await?;
        let mut registry = self.registry.lock().await;
        // Deleted through another host sharing the store.
        for name in registry.defined_names() {
            if !stored.iter().any(|tenant| tenant.name == name) {
                registry.set_defined(&name, None);
            }
        }
        for stored in stored {
            match serde_json::from_str::<Definition>(&stored.definition) {
                Ok(definition) => registry.set_defined(&stored.name, Some(definition)),
                Err(err) => tracing::error!(
                    tenant = %stored.name,
                    "a tenant defined through the admin API is not served: its stored definition does not read: {err}"
                ),
            }
        }
        if let Err(err) = self.serve_merged(&registry) {
            tracing::error!("the stored tenants are not served: {err}");
        }
        Ok(())
    }

    /// Stores tenant `name`'s new definition (`None`: deletes it), then
    /// serves it.
    async fn redefine(
        &self,
        registry: &mut Registry,
        name: &str,
        definition: Option<Definition>,
    ) -> Result<Reloaded, ApiError> {
        if let Some(store) = &self.store {
            let stored = match &definition {
                Some(definition) => {
                    let text = serde_json::to_string(definition)
                        .map_err(|err| ApiError::internal(err.to_string()))?;
                    store
                        .save_tenant(&StoredTenant {
                            name: name.to_string(),
                            definition: text,
                            updated_at: wflow_api::now(),
                        })
                        .await
                }
                None => store.delete_tenant(name).await.map(drop),
            };
            stored.map_err(|err| {
                ApiError::internal(format!("tenant `{name}` was not changed: {err}"))
            })?;
        }
        registry.set_defined(name, definition);
        self.serve_registry(registry)
            .await
            .map_err(|err| ApiError::internal(err.to_string()))
    }
}

impl From<AdminRefused> for ApiError {
    fn from(refused: AdminRefused) -> Self {
        let status = match refused {
            AdminRefused::NoTenant(_) | AdminRefused::NoToken { .. } => StatusCode::NOT_FOUND,
            AdminRefused::ByFile(_) | AdminRefused::TokenExists { .. } => StatusCode::CONFLICT,
            AdminRefused::TooManyTokens { .. } | AdminRefused::TooManyTenants => {
                StatusCode::FORBIDDEN
            }
            AdminRefused::Invalid(_) => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, refused.to_string())
    }
}

/// `body` as a `T`, an empty body as `{}`; a 400 naming the problem.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("Invalid JSON body: {err}")))
}

/// Runs `change` in a task of its own, so that a client going away does
/// not stop it half-way.
async fn to_the_end<T: Send + 'static>(
    change: impl Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(change)
        .await
        .map_err(|err| ApiError::internal(format!("the change failed: {err}")))?
}

/// `POST /admin/reload`: reads the tenants file again.
pub(crate) async fn reload(State(app): Shared, admin: Admin) -> Result<Json<Value>, ApiError> {
    let reloaded = to_the_end(async move {
        app.reload_tenants().await.map_err(|err| match err {
            TenantsError::Read { .. } | TenantsError::Invalid { .. } | TenantsError::NoFile => {
                ApiError::bad_request(err.to_string())
            }
            other => ApiError::internal(other.to_string()),
        })
    })
    .await?;
    audit::admin_action(
        &admin.request_id,
        &format!("reloaded the tenants file: {reloaded:?}"),
    );
    Ok(Json(json!({ "status": "reloaded", "changes": reloaded })))
}

/// `GET /admin/tenants`: every tenant, the file's and the API's, with
/// quotas, limits and tokens (names only).
pub(crate) async fn list_tenants(State(app): Shared, admin: Admin) -> Json<Value> {
    audit::admin_action(&admin.request_id, "listed the tenants");
    let views = app.registry.lock().await.views();
    Json(json!({ "tenants": views }))
}

/// `GET /admin/tenants/{name}`.
pub(crate) async fn get_tenant(
    State(app): Shared,
    admin: Admin,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    audit::admin_action(&admin.request_id, &format!("read tenant `{name}`"));
    let view = app.registry.lock().await.view(&name);
    view.map(|view| Json(json!(view)))
        .ok_or_else(|| AdminRefused::NoTenant(name).into())
}

/// `PUT /admin/tenants/{name}`: defines tenant `name` (201) or changes its
/// quotas and limits (200; its tokens stay). Quotas change at once; limits
/// of a tenant already served take a restart (`limits_pending`).
pub(crate) async fn put_tenant(
    State(app): Shared,
    admin: Admin,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: TenantRequest = parse(&body)?;
    let (created, answer) = to_the_end(async move {
        let mut registry = app.registry.lock().await;
        let (definition, created) = registry.define(&name, request)?;
        let reloaded = app.redefine(&mut registry, &name, Some(definition)).await?;
        let mut answer = json!(registry.view(&name));
        answer["limits_pending"] = json!(reloaded.limits_pending.contains(&name));
        // Without a store, a restart forgets it: say so.
        answer["stored"] = json!(app.store.is_some());
        audit::admin_action(
            &admin.request_id,
            &format!(
                "{} tenant `{name}`",
                if created { "defined" } else { "changed" }
            ),
        );
        Ok((created, answer))
    })
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(answer)).into_response())
}

/// `DELETE /admin/tenants/{name}`: its tokens stop working at once; its
/// runs go on, and its handlers and deployments stay stored (defining it
/// again gives them back).
pub(crate) async fn delete_tenant(
    State(app): Shared,
    admin: Admin,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    to_the_end(async move {
        let mut registry = app.registry.lock().await;
        registry.check_deletable(&name)?;
        app.redefine(&mut registry, &name, None).await?;
        audit::admin_action(&admin.request_id, &format!("deleted tenant `{name}`"));
        Ok(Json(json!({ "status": "deleted", "name": name })))
    })
    .await
}

/// `POST /admin/tenants/{name}/tokens`: a new token for tenant `name`
/// (201), shown this once: only its hash is kept.
pub(crate) async fn create_token(
    State(app): Shared,
    admin: Admin,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: TokenRequest = parse(&body)?;
    let answer = to_the_end(async move {
        let mut registry = app.registry.lock().await;
        let (definition, token) = registry.with_new_token(&name, &request)?;
        app.redefine(&mut registry, &name, Some(definition)).await?;
        audit::admin_action(
            &admin.request_id,
            &format!("made token `{}` of tenant `{name}`", request.name),
        );
        Ok(json!({
            "tenant": name,
            "name": request.name,
            "read_only": request.read_only,
            "token": token,
            "stored": app.store.is_some(),
        }))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /admin/tenants/{name}/tokens/{token}`: revokes the token at
/// once.
pub(crate) async fn revoke_token(
    State(app): Shared,
    admin: Admin,
    Path((name, token)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    to_the_end(async move {
        let mut registry = app.registry.lock().await;
        let definition = registry.without_token(&name, &token)?;
        app.redefine(&mut registry, &name, Some(definition)).await?;
        audit::admin_action(
            &admin.request_id,
            &format!("revoked token `{token}` of tenant `{name}`"),
        );
        Ok(Json(
            json!({ "status": "revoked", "tenant": name, "name": token }),
        ))
    })
    .await
}
