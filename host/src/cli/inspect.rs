//! `byzhost inspect`: what a policy component is and what it accepts.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::SandboxArgs;
use crate::registry::PolicyRef;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The policy to describe: a .wasm file, oci://HOST/REPO:TAG (or @sha256:…), or NS:NAME@VERSION.
    pub policy: PolicyRef,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let sandbox = args.sandbox.sandbox()?;
    let resolved = super::load_policy(&sandbox, &args.policy, None, "policy", &args.sandbox.registry, &args.sandbox.resources)?;
    let p = &resolved.policy;
    let origin = resolved.origin.as_ref().zip(resolved.pin.as_ref());
    if args.json {
        let report = json!({
            "file": p.path,
            "kind": p.kind,
            "name": p.info.name,
            "version": p.info.version,
            "wit_version": format!("byz:policy@{}", p.wit_version),
            "description": p.info.description,
            "params": p.info.params,
            "stateless": p.info.stateless,
            "opt_outs": p.info.opt_outs,
            "sha256": p.sha256,
            "registry": origin.map(|(o, _)| &o.registry),
            "repository": origin.map(|(o, _)| &o.repository),
            "manifest_digest": origin.map(|(_, pin)| &pin.manifest_digest),
            "size_bytes": p.size_bytes,
            "imports": p.imports,
            "wasi": crate::sandbox::wasi::wasi_imports(&p.imports),
            "exports": p.exports,
            "load": { "source": p.load_source, "ms": p.load_time.as_secs_f64() * 1e3 },
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} {} ({})", p.info.name, p.info.version, p.kind);
    println!("  file         {}", p.path.display());
    println!("  wit          byz:policy@{}", p.wit_version);
    println!("  sha256       {}", p.sha256);
    if let Some((o, pin)) = origin {
        println!("  from         {}/{} (manifest {})", o.registry, o.repository, pin.manifest_digest);
    }
    println!("  size         {} bytes", p.size_bytes);
    println!("  stateless    {}", p.info.stateless);
    println!("  loaded from  {} in {:.1} ms", p.load_source, p.load_time.as_secs_f64() * 1e3);
    let (wasi, own): (Vec<&String>, Vec<&String>) = p.imports.iter().partition(|i| i.starts_with("wasi:"));
    let list = |v: &[&String]| if v.is_empty() { "none".to_string() } else { v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ") };
    println!("  imports      {}", list(&own));
    if !wasi.is_empty() {
        println!(
            "  wasi         {} interfaces, granted nothing (no files, environment, arguments or sockets; fixed clocks; seeded random): {}",
            wasi.len(),
            list(&wasi)
        );
    }
    println!("  exports      {}", p.exports.join(", "));
    if !p.info.opt_outs.is_empty() {
        println!("  opt-outs     {}", p.info.opt_outs.join(", "));
    }
    println!("\n  {}", p.info.description);
    println!("\nparameters:");
    if p.info.params.is_empty() {
        println!("  (none)");
    }
    for s in &p.info.params {
        println!("  {:<14} {:<8} default {:<10} {}", s.name, format!("{:?}", s.ty).to_lowercase(), s.default.to_string(), s.description);
    }
    Ok(ExitCode::SUCCESS)
}
