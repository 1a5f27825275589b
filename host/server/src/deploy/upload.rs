//! A deployment's upload: `multipart/form-data` with one or more
//! `component` file parts, an optional `manifest` (a `workflow.toml`'s
//! text) and an optional `name`. Read within the tenant's
//! `max_deployment_bytes`.

use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;
use axum::http::StatusCode;

use crate::error::ApiError;

/// The longest manifest accepted.
const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

/// The most components one deployment may hold.
pub(crate) const MAX_COMPONENTS: usize = 64;

/// What each part costs against the upload's size besides its bytes (its
/// headers, roughly): many empty parts cost as much as their framing.
const PART_OVERHEAD: u64 = 256;

/// What a deployment request uploads.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    /// The workflow's name, if given.
    pub(crate) name: Option<String>,
    /// The manifest's text, if given.
    pub(crate) manifest: Option<String>,
    /// The components: file name and bytes, in the order sent.
    pub(crate) components: Vec<(String, Vec<u8>)>,
}

impl Upload {
    /// Reads the parts of `multipart`, at most `max_bytes` of them in all;
    /// an unknown part, a component without a file name, or too many bytes
    /// is a 400 naming it.
    pub(crate) async fn read(mut multipart: Multipart, max_bytes: u64) -> Result<Self, ApiError> {
        let mut upload = Upload::default();
        let mut names = std::collections::HashSet::<String>::new();
        let mut total: u64 = 0;
        let too_large = || {
            ApiError::bad_request(format!(
                "the upload is larger than the tenant's quota max_deployment_bytes = {max_bytes}"
            ))
        };
        let failed = |err: MultipartError| {
            if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(format!("cannot read the upload: {}", err.body_text()))
            }
        };
        while let Some(mut field) = multipart.next_field().await.map_err(failed)? {
            total += PART_OVERHEAD;
            if total > max_bytes {
                return Err(too_large());
            }
            let part = field.name().unwrap_or_default().to_string();
            let file_name = field.file_name().map(str::to_string);
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(failed)? {
                total += chunk.len() as u64;
                if total > max_bytes {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&chunk);
            }
            match part.as_str() {
                "component" => {
                    let Some(file_name) = file_name else {
                        return Err(ApiError::bad_request(
                            "a `component` part needs a file name (curl -F component=@joke.wasm)",
                        ));
                    };
                    let file_name = check_file_name(&file_name)?;
                    if upload.components.len() == MAX_COMPONENTS {
                        return Err(ApiError::bad_request(format!(
                            "a deployment holds at most {MAX_COMPONENTS} components"
                        )));
                    }
                    if !names.insert(file_name.clone()) {
                        return Err(ApiError::bad_request(format!(
                            "two components are named `{file_name}`"
                        )));
                    }
                    upload.components.push((file_name, bytes));
                }
                "manifest" | "name" if seen_text(&upload, &part) => {
                    return Err(ApiError::bad_request(format!("two `{part}` parts")));
                }
                "manifest" => {
                    if bytes.len() > MAX_MANIFEST_BYTES {
                        return Err(ApiError::bad_request(format!(
                            "the manifest is larger than {MAX_MANIFEST_BYTES} bytes"
                        )));
                    }
                    let text = String::from_utf8(bytes)
                        .map_err(|_| ApiError::bad_request("the manifest is not UTF-8 text"))?;
                    upload.manifest = Some(text);
                }
                "name" => {
                    let text = String::from_utf8(bytes)
                        .map_err(|_| ApiError::bad_request("the name is not UTF-8 text"))?;
                    upload.name = Some(text.trim().to_string());
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown part `{other}`: a deployment takes `component` files, an \
                         optional `manifest` and an optional `name`"
                    )));
                }
            }
        }
        if upload.components.is_empty() {
            return Err(ApiError::bad_request(
                "a deployment needs at least one `component` part (a .wasm file)",
            ));
        }
        Ok(upload)
    }
}

/// Whether a `manifest` or `name` part came already.
fn seen_text(upload: &Upload, part: &str) -> bool {
    match part {
        "manifest" => upload.manifest.is_some(),
        _ => upload.name.is_some(),
    }
}

/// The last segment of an uploaded file's name, checked: 1 to 128 of
/// `[A-Za-z0-9._-]`, not starting with a dot.
fn check_file_name(name: &str) -> Result<String, ApiError> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    if base.is_empty() || base.len() > 128 || base.starts_with('.') || !base.chars().all(allowed) {
        return Err(ApiError::bad_request(format!(
            "component file name `{name}`: use 1 to 128 of A-Z, a-z, 0-9, . _ - (not starting with a dot)"
        )));
    }
    Ok(base.to_string())
}
