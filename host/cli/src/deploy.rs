//! `wflow deploy PATH --server URL`: uploads a workflow to a server as a
//! deployment of the caller's tenant: a component, a manifest with its
//! components, or a guest folder (built here first).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use reqwest::multipart::{Form, Part};
use wflow_core::Manifest;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// A .wasm component, a workflow.toml (or a folder holding one: its
    /// components go with it), or a guest folder (built first).
    path: PathBuf,
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The API token (a tenant's, from the operator).
    #[arg(long, env = "WFLOW_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The name to serve it under; by default the manifest's, else the
    /// file's or folder's.
    #[arg(long)]
    name: Option<String>,
}

/// What is uploaded: the name, the manifest (its components renamed to the
/// uploaded files' names) and the components.
struct Upload {
    name: String,
    manifest: Option<String>,
    components: Vec<(String, Vec<u8>)>,
}

pub async fn deploy(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let mut upload = gather(&args.path).await?;
    if let Some(name) = args.name {
        upload.name = name;
    }
    let bytes: usize = upload.components.iter().map(|(_, b)| b.len()).sum();
    let count = upload.components.len();
    let mut form = Form::new().text("name", upload.name.clone());
    if let Some(manifest) = upload.manifest {
        form = form.text("manifest", manifest);
    }
    for (file_name, bytes) in upload.components {
        form = form.part(
            "component",
            Part::bytes(bytes)
                .file_name(file_name)
                .mime_str("application/wasm")?,
        );
    }
    let base = args.server.trim_end_matches('/');
    let client = crate::remote::client(args.token.as_deref())?;
    let response = client
        .post(format!("{base}/deployments"))
        .multipart(form)
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {base}"))?;
    let deployed = crate::remote::answer(response).await?;
    eprintln!(
        "deployed {} version {} to {base} ({count} component{}, {:.1} MB)",
        deployed["name"].as_str().unwrap_or(&upload.name),
        deployed["version"],
        if count == 1 { "" } else { "s" },
        bytes as f64 / 1e6
    );
    println!("{deployed}");
    Ok(ExitCode::SUCCESS)
}

/// The files `path` stands for.
async fn gather(path: &Path) -> anyhow::Result<Upload> {
    let manifest_file = if path.is_dir() && path.join("workflow.toml").is_file() {
        Some(path.join("workflow.toml"))
    } else if path.extension().is_some_and(|ext| ext == "toml") {
        Some(path.to_path_buf())
    } else {
        None
    };
    let Some(manifest_file) = manifest_file else {
        let name = stem(path);
        let bytes = component_bytes(path).await?;
        return Ok(Upload {
            components: vec![(format!("{name}.wasm"), bytes)],
            name,
            manifest: None,
        });
    };
    let manifest = Manifest::load(&manifest_file)?;
    let base = manifest_file.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(&manifest_file)
        .with_context(|| format!("cannot read {}", manifest_file.display()))?;
    let mut table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not TOML", manifest_file.display()))?;
    let mut components = Vec::new();
    for (index, entry) in manifest.components.iter().enumerate() {
        let source = base.join(&entry.path);
        let file_name = format!("{}-{}.wasm", index + 1, stem(&source));
        components.push((file_name.clone(), component_bytes(&source).await?));
        if let Some(entry) = table
            .get_mut("components")
            .and_then(|components| components.get_mut(index))
            .and_then(|entry| entry.as_table_mut())
        {
            entry.insert("path".into(), toml::Value::String(file_name));
        }
    }
    let name = manifest.name.clone().unwrap_or_else(|| {
        if manifest_file
            .file_name()
            .is_some_and(|n| n == "workflow.toml")
        {
            stem(base)
        } else {
            stem(&manifest_file)
        }
    });
    Ok(Upload {
        name,
        manifest: Some(toml::to_string(&table).context("cannot write the manifest")?),
        components,
    })
}

/// A component's bytes: the file, or the guest folder built.
async fn component_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    let wasm = if path.is_dir() {
        wflow_build::build_guest(path, &wflow_build::default_build_dir()).await?
    } else {
        path.to_path_buf()
    };
    if wasm.extension().is_none_or(|ext| ext != "wasm") {
        bail!(
            "{} is not a .wasm component, a workflow.toml or a guest folder",
            path.display()
        );
    }
    std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))
}

/// The name a file or folder gives, as `wflow run` names it.
fn stem(path: &Path) -> String {
    wflow_build::workflow_name_of(path)
}
