//! The statements for tenants' deployments: a version's row, its
//! components (in order) and their bytes, stored once per content.

use rusqlite::{Connection, params};

use super::queries::failed;
use crate::rows::version_value;
use crate::{DeployedComponent, StoreError, StoredDeployment};

/// Inserts a deployment version; a version already stored for the name is
/// a conflict.
pub(super) fn save(
    connection: &Connection,
    deployment: &StoredDeployment,
) -> Result<(), StoreError> {
    let version = version_value(deployment.version);
    connection
        .prepare_cached(
            "INSERT INTO deployments (tenant, name, version, created_at, manifest)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                deployment.tenant,
                deployment.name,
                version,
                deployment.created_at,
                deployment.manifest,
            ])
        })
        .map_err(failed("cannot save a deployment"))?;
    for (position, component) in deployment.components.iter().enumerate() {
        connection
            .prepare_cached("INSERT OR IGNORE INTO blobs (sha256, bytes) VALUES (?1, ?2)")
            .and_then(|mut insert| {
                insert.execute(params![component.sha256, component.bytes.as_slice()])
            })
            .map_err(failed("cannot save a component"))?;
        connection
            .prepare_cached(
                "INSERT INTO deployment_components
                    (tenant, name, version, position, file_name, sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    deployment.tenant,
                    deployment.name,
                    version,
                    position as i64,
                    component.file_name,
                    component.sha256,
                ])
            })
            .map_err(failed("cannot save a deployment"))?;
    }
    Ok(())
}

/// Deletes a deployment version (its row stays, marked deleted, so that
/// its number is never given again) and the bytes no other version uses;
/// whether it was stored and not deleted yet.
pub(super) fn delete(
    connection: &Connection,
    tenant: &str,
    name: &str,
    version: u64,
) -> Result<bool, StoreError> {
    let version = version_value(version);
    let deleted = connection
        .prepare_cached(
            "UPDATE deployments SET deleted = 1, manifest = NULL
             WHERE tenant = ?1 AND name = ?2 AND version = ?3 AND deleted = 0",
        )
        .and_then(|mut delete| delete.execute(params![tenant, name, version]))
        .map_err(failed("cannot delete a deployment"))?;
    connection
        .prepare_cached(
            "DELETE FROM deployment_components WHERE tenant = ?1 AND name = ?2 AND version = ?3",
        )
        .and_then(|mut delete| delete.execute(params![tenant, name, version]))
        .map_err(failed("cannot delete a deployment"))?;
    connection
        .prepare_cached(
            "DELETE FROM blobs WHERE sha256 NOT IN (SELECT sha256 FROM deployment_components)",
        )
        .and_then(|mut delete| delete.execute([]))
        .map_err(failed("cannot delete a deployment"))?;
    Ok(deleted > 0)
}

/// Every deployment version with its components' bytes (none for a
/// deleted one), by tenant, name and version.
pub(super) fn all(connection: &Connection) -> Result<Vec<StoredDeployment>, StoreError> {
    let read = failed("cannot read the deployments");
    let mut versions = connection
        .prepare_cached(
            "SELECT tenant, name, version, created_at, manifest, deleted FROM deployments
             ORDER BY tenant, name, version",
        )
        .map_err(&read)?;
    let mut deployments = versions
        .query_map([], |row| {
            Ok(StoredDeployment {
                tenant: row.get(0)?,
                name: row.get(1)?,
                version: row.get::<_, i64>(2)?.max(0) as u64,
                created_at: row.get(3)?,
                manifest: row.get(4)?,
                deleted: row.get::<_, i64>(5)? != 0,
                components: Vec::new(),
            })
        })
        .map_err(&read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(&read)?;
    let mut components = connection
        .prepare_cached(
            "SELECT c.file_name, c.sha256, b.bytes FROM deployment_components c
             JOIN blobs b ON b.sha256 = c.sha256
             WHERE c.tenant = ?1 AND c.name = ?2 AND c.version = ?3 ORDER BY c.position",
        )
        .map_err(&read)?;
    for deployment in deployments.iter_mut().filter(|d| !d.deleted) {
        deployment.components = components
            .query_map(
                params![
                    deployment.tenant,
                    deployment.name,
                    version_value(deployment.version)
                ],
                |row| {
                    Ok(DeployedComponent {
                        file_name: row.get(0)?,
                        sha256: row.get(1)?,
                        bytes: std::sync::Arc::new(row.get(2)?),
                    })
                },
            )
            .map_err(&read)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&read)?;
    }
    Ok(deployments)
}
