//! `byzhost report`: figures and tables from one or more sweep directories.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::report::{render, SweepResult};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Sweep directories (each holds sweep.json and one run directory per cell).
    #[arg(required = true)]
    pub sweeps: Vec<PathBuf>,
    /// Where to write report.md and the figures (PNG and SVG).
    #[arg(long, default_value = "docs")]
    pub out: PathBuf,
}

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let sweeps = args.sweeps.iter().map(|d| SweepResult::load(d)).collect::<Result<Vec<_>>>()?;
    render(&sweeps, &args.out)?;
    for s in &sweeps {
        eprintln!("{}: {} of {} cells complete", s.name, s.complete(), s.cells.len());
    }
    println!("wrote {}/report.md and its figures", args.out.display());
    Ok(ExitCode::SUCCESS)
}
