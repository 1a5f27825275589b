//! The audit log: every token refused, quota refusal, deployment and admin
//! action, with the tenant and the request id, as `tracing` events of
//! target `wflow_audit` (JSON with `wflow serve --log-format json`).

/// The target every audit event has.
pub(crate) const TARGET: &str = "wflow_audit";

/// A request refused for its token (none, unknown, or read-only for a
/// change).
pub(crate) fn token_refused(request_id: &str, method: &str, path: &str, reason: &str) {
    tracing::warn!(target: TARGET, request_id, method, path, reason, "token refused");
}

/// A request refused by a quota.
pub(crate) fn quota_refused(request_id: &str, tenant: &str, quota: &str, detail: &str) {
    tracing::warn!(target: TARGET, request_id, tenant, quota, detail, "quota refused");
}

/// A deployment made or deleted (`what`).
pub(crate) fn deployment(request_id: &str, tenant: &str, workflow: &str, version: u64, what: &str) {
    tracing::info!(target: TARGET, request_id, tenant, workflow, version, "{what}");
}

/// An admin action (reading every tenant's usage, ...).
pub(crate) fn admin_action(request_id: &str, action: &str) {
    tracing::info!(target: TARGET, request_id, action, "admin action");
}
