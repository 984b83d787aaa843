//! `byzhost policy push|pull|tags`: policies published to OCI registries as Wasm OCI
//! artifacts, fetched and verified into the policy store, and listed. See
//! docs/publishing.md.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};

use super::SandboxArgs;
use crate::conform::{self, Report, Status};
use crate::registry::remote::Remote;
use crate::registry::{Artifact, OciRef, PolicyRef, Selector};

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Check a component with the conformance suite, then upload it as a Wasm OCI artifact
    /// and print its manifest digest.
    Push(PushArgs),
    /// Fetch a policy into the policy store, verified, and print its digests and path.
    Pull(PullArgs),
    /// List the tags of a repository: oci://HOST[:PORT]/REPO.
    Tags(TagsArgs),
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The component (.wasm) to publish.
    pub file: PathBuf,
    /// Where: oci://HOST[:PORT]/REPO:TAG, or NS:NAME@VERSION mapped by the wkg configuration.
    pub reference: PolicyRef,
    /// Push even when conformance properties fail (the manifest's annotations say so).
    #[arg(long)]
    pub allow_nonconforming: bool,
    /// `org.opencontainers.image.source` annotation: where the policy's source lives.
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    /// `org.opencontainers.image.revision` annotation: the source revision built.
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// oci://HOST[:PORT]/REPO:TAG, oci://…@sha256:DIGEST, or NS:NAME@VERSION.
    pub reference: PolicyRef,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

#[derive(Args, Debug)]
pub struct TagsArgs {
    /// oci://HOST[:PORT]/REPO.
    pub repository: String,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

pub fn run(cmd: PolicyCommand) -> Result<ExitCode> {
    match cmd {
        PolicyCommand::Push(args) => push(args),
        PolicyCommand::Pull(args) => pull(args),
        PolicyCommand::Tags(args) => tags(args),
    }
}

/// The OCI reference a push or pull names; a local path is an error naming the argument.
fn remote_ref(reference: &PolicyRef, argument: &str) -> Result<OciRef> {
    reference.to_oci()?.with_context(|| {
        format!("{argument} `{reference}` is a file path; name a registry reference: oci://HOST[:PORT]/REPO:TAG or NS:NAME@VERSION")
    })
}

fn push(args: PushArgs) -> Result<ExitCode> {
    let target = remote_ref(&args.reference, "REF")?;
    if matches!(target.selector, Selector::Digest(_)) {
        bail!("REF {target}: push to a tag (REPO:TAG); the registry computes the digest");
    }
    let sandbox = args.sandbox.sandbox()?;
    let policy = sandbox.load(&args.file)?;
    let report = conform::check_loaded(&sandbox, &args.file.display().to_string(), || Ok(policy.clone()));
    let failed = names_with(&report, Status::Fail);
    if !failed.is_empty() && !args.allow_nonconforming {
        bail!(
            "{} fails conformance ({}); `byzhost conform {}` shows why. Fix it, or pass --allow-nonconforming to publish it anyway (its annotations will say it fails)",
            args.file.display(),
            failed.join(", "),
            args.file.display()
        );
    }
    let mut annotations = conformance_annotations(&report);
    annotations.extend(args.source.map(|s| ("org.opencontainers.image.source".to_string(), s)));
    annotations.extend(args.revision.map(|r| ("org.opencontainers.image.revision".to_string(), r)));
    let artifact = Artifact::build(&policy, &policy.bytes, annotations)?;
    let started = Instant::now();
    let registry = args.sandbox.registry.registry(args.sandbox.resources.max_component_mb << 20)?;
    let remote = Remote::connect(&target, &registry.transport, oci_client::RegistryOperation::Push)?;
    remote.push_blob(&artifact.layer, &crate::registry::artifact::sha256_digest(&artifact.layer))?;
    remote.push_blob(&artifact.config, &crate::registry::artifact::sha256_digest(&artifact.config))?;
    remote.push_manifest(&artifact.manifest)?;
    let digest = artifact.manifest_digest();
    registry.store.put_artifact(&artifact, Some(&target.whole())).context("storing the pushed artifact")?;
    eprintln!(
        "pushed {} {} ({} bytes, {} of {} properties pass{}) to {target} in {:.2} s",
        policy.info.name,
        policy.info.version,
        artifact.layer.len(),
        names_with(&report, Status::Pass).len(),
        report.properties.len(),
        if failed.is_empty() { String::new() } else { format!(", FAILS {}", failed.join(", ")) },
        started.elapsed().as_secs_f64()
    );
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

/// Names of the properties with `status`.
fn names_with(report: &Report, status: Status) -> Vec<&'static str> {
    report.properties.iter().filter(|p| p.status == status).map(|p| p.name).collect()
}

/// The conformance summary a pushed manifest carries.
fn conformance_annotations(report: &Report) -> BTreeMap<String, String> {
    let list = |status| names_with(report, status).join(",");
    BTreeMap::from([
        ("dev.byzhost.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("dev.byzhost.conformance.passed".to_string(), report.passed.to_string()),
        ("dev.byzhost.conformance.pass".to_string(), list(Status::Pass)),
        ("dev.byzhost.conformance.fail".to_string(), list(Status::Fail)),
        ("dev.byzhost.conformance.opt-out".to_string(), list(Status::OptOut)),
    ])
}

fn pull(args: PullArgs) -> Result<ExitCode> {
    let oci = remote_ref(&args.reference, "REF")?;
    let registry = args.sandbox.registry.registry(args.sandbox.resources.max_component_mb << 20)?;
    let started = Instant::now();
    let (_, pin) = registry.fetch(&oci, None, &args.reference.to_string())?;
    let path = registry.store.blob_path(&pin.layer_sha256)?;
    eprintln!("pulled {} in {:.2} s", args.reference, started.elapsed().as_secs_f64());
    println!("manifest   {}", pin.manifest_digest);
    println!("component  sha256:{} ({} bytes, {})", pin.layer_sha256, pin.size, pin.world);
    println!("cached     {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn tags(args: TagsArgs) -> Result<ExitCode> {
    let text = args
        .repository
        .strip_prefix("oci://")
        .with_context(|| format!("`{}`: name the repository as oci://HOST[:PORT]/REPO", args.repository))?;
    let oci: OciRef = format!("{text}:latest").parse().map_err(|e| anyhow::anyhow!("`{}`: {e}", args.repository))?;
    let transport = args.sandbox.registry.transport()?;
    for tag in Remote::connect(&oci, &transport, oci_client::RegistryOperation::Pull)?.tags()? {
        println!("{tag}");
    }
    Ok(ExitCode::SUCCESS)
}
