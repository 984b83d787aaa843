//! `byzhost conform`: runs the conformance suite ([`crate::conform`]) on one component and
//! prints one line per property; exits 1 when any property fails, so a policy's CI can
//! gate on it.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::SandboxArgs;
use crate::conform::{self, Report, Status};
use crate::registry::PolicyRef;

#[derive(Args, Debug)]
pub struct ConformArgs {
    /// The policy to check: a .wasm file, oci://HOST/REPO:TAG (or @sha256:…), or NS:NAME@VERSION.
    pub policy: PolicyRef,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

pub fn run(args: ConformArgs) -> Result<ExitCode> {
    let sandbox = args.sandbox.sandbox()?;
    let report = conform::check_loaded(&sandbox, &args.policy.to_string(), || args.sandbox.load(&sandbox, &args.policy));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_text(report: &Report) {
    let kind = report.kind.map(|k| k.to_string()).unwrap_or_else(|| "not loadable".into());
    println!(
        "conformance of `{}` {} ({kind}, {}), limits {} ms and {} MiB per call",
        report.name, report.version, report.file, report.timeout_ms, report.memory_mb
    );
    for p in &report.properties {
        let tag = match p.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::OptOut => "OPT-OUT",
            Status::NotApplicable => "N/A",
        };
        println!("{tag:<8} {:<24} {} [{:.2} s]", p.name, p.detail, p.seconds);
        if let Some(input) = &p.input {
            println!("         {:<24} minimal failing input: {input}", "");
        }
    }
    let failed: Vec<&str> = report.properties.iter().filter(|p| p.status == Status::Fail).map(|p| p.name).collect();
    if failed.is_empty() {
        println!("`{}` conforms", report.name);
    } else {
        println!("`{}` fails {} propert{}: {}", report.name, failed.len(), if failed.len() == 1 { "y" } else { "ies" }, failed.join(", "));
    }
}
