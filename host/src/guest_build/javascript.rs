//! JavaScript guests: a folder with `package.json` (its `main`, `app.js` by
//! default, is the guest module), built with componentize-js by the
//! embedded SDK's `build.mjs` (guest-sdk/js/README.md, "Build recipe").

use std::path::{Path, PathBuf};

use super::embedded::SdkFiles;
use super::{BuildCache, GuestLanguage, build_key, publish, run_tool, tools};
use crate::error::Result;

/// Builds the JavaScript guest in `dir` (or reuses its cached build).
pub(super) async fn build(dir: &Path, cache: &BuildCache) -> Result<PathBuf> {
    let toolchain = tools::js_toolchain()?;
    let key = build_key(GuestLanguage::JavaScript, &toolchain.componentize_js, dir)?;
    let (entry, built) = cache.entry(&key);
    if built {
        return Ok(entry);
    }
    let sdk = SdkFiles::materialize(cache.root())?;
    let scratch = cache.scratch()?;
    let out = scratch.path().join("component.wasm");
    let mut command = tokio::process::Command::new(&toolchain.node);
    command
        .arg(sdk.js().join("build.mjs"))
        .arg(dir)
        .arg("-o")
        .arg(&out)
        .arg("--wit")
        .arg(sdk.wit())
        .arg("--componentize-js")
        .arg(&toolchain.componentize_js);
    run_tool(
        &mut command,
        &format!("the JavaScript guest in {}", dir.display()),
    )
    .await?;
    publish(&out, &entry)?;
    Ok(entry)
}
