//! The statements for tenants defined through the admin API.

use rusqlite::{Connection, params};

use super::queries::failed;
use crate::{StoreError, StoredTenant};

/// Inserts or replaces a tenant's definition.
pub(super) fn save(connection: &Connection, tenant: &StoredTenant) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO tenants (name, definition, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE
             SET definition = excluded.definition, updated_at = excluded.updated_at",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![tenant.name, tenant.definition, tenant.updated_at])
        })
        .map_err(failed("cannot save a tenant"))?;
    Ok(())
}

/// Deletes a tenant's definition; whether there was one.
pub(super) fn delete(connection: &Connection, name: &str) -> Result<bool, StoreError> {
    let deleted = connection
        .prepare_cached("DELETE FROM tenants WHERE name = ?1")
        .and_then(|mut delete| delete.execute(params![name]))
        .map_err(failed("cannot delete a tenant"))?;
    Ok(deleted > 0)
}

/// Every tenant's definition, by name.
pub(super) fn all(connection: &Connection) -> Result<Vec<StoredTenant>, StoreError> {
    let read = failed("cannot read the tenants");
    let mut select = connection
        .prepare_cached("SELECT name, definition, updated_at FROM tenants ORDER BY name")
        .map_err(&read)?;
    select
        .query_map([], |row| {
            Ok(StoredTenant {
                name: row.get(0)?,
                definition: row.get(1)?,
                updated_at: row.get(2)?,
            })
        })
        .map_err(&read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(&read)
}
