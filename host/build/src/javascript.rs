//! JavaScript guests: a folder with `package.json` (its `main`, `app.js` by
//! default, is the guest module), built with componentize-js by the
//! embedded SDK's `build.mjs` (guest-sdk/js/README.md, "Build recipe").

use std::path::{Path, PathBuf};

use super::{Build, BuildCache, GuestLanguage, tools};
use wflow_core::Result;

/// Builds the JavaScript guest in `dir` (or reuses its cached build).
pub(super) async fn build(dir: &Path, cache: &BuildCache) -> Result<PathBuf> {
    let toolchain = tools::js_toolchain()?;
    let build = match cache.prepare(GuestLanguage::JavaScript, &toolchain.componentize_js, dir)? {
        Build::Cached(component) => return Ok(component),
        Build::Fresh(build) => build,
    };
    // Where build.mjs writes a declaration the SDK refused (a step without
    // `accepts`, say), at the user's file and line.
    let reported = build.scratch.path().join("describe-error.json");
    let mut command = tokio::process::Command::new(&toolchain.node);
    command
        .arg(build.sdk.js().join("build.mjs"))
        .arg(dir)
        .arg("-o")
        .arg(build.output())
        .arg("--wit")
        .arg(build.sdk.wit())
        .arg("--componentize-js")
        .arg(&toolchain.componentize_js)
        .arg("--error-file")
        .arg(&reported);
    build
        .run_tool(
            &mut command,
            &format!("the JavaScript guest in {}", dir.display()),
            || super::reported_error(&reported, dir, "JavaScript"),
        )
        .await?;
    build.publish()
}
