//! `byzhost report`: figures and tables from one or more sweep directories.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;

use crate::report::sections::Sections;
use crate::report::{render, SweepResult};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Sweep directories (each holds sweep.json and one run directory per cell).
    #[arg(required = true)]
    pub sweeps: Vec<PathBuf>,
    /// Where to write report.md and the figures (PNG and SVG).
    #[arg(long, default_value = "docs")]
    pub out: PathBuf,
    /// Also write the report to this file (e.g. RESULTS.md), with figure links pointing
    /// into --out, after the text of --preamble if given.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Markdown placed before the tables in --results (status notes, caveats).
    #[arg(long, value_name = "FILE", requires = "results")]
    pub preamble: Option<PathBuf>,
    /// Update --results in place: regenerate the sections of the sweeps given and keep the
    /// sections of every other sweep (and their figures) as the file has them, so one
    /// sweep can be re-rendered without the others' run directories. Without --preamble
    /// the file's own preamble is kept too. --out's report.md is updated the same way.
    #[arg(long, requires = "results")]
    pub update: bool,
}

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let sweeps = args.sweeps.iter().map(|d| SweepResult::load(d)).collect::<Result<Vec<_>>>()?;
    let rendered = render(&sweeps, &args.out, args.update)?;
    if let Some(results) = &args.results {
        let base = results.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        // Figure links are relative to --out; make them relative to the results file.
        // Both exist by now (render created --out), so canonical paths compare reliably
        // (`docs` against `.`); outside the results file's folder the link stays absolute.
        let out_abs = args.out.canonicalize().with_context(|| format!("--out: cannot resolve {}", args.out.display()))?;
        let base_abs = base.canonicalize().with_context(|| format!("--results: cannot resolve the folder of {}", results.display()))?;
        let prefix = match out_abs.strip_prefix(&base_abs) {
            Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
            Ok(rel) => rel.to_path_buf(),
            Err(_) => out_abs.clone(),
        };
        let fresh: Vec<(String, String)> =
            rendered.into_iter().map(|(head, md)| (head, md.replace("](", &format!("]({}/", prefix.display())))).collect();
        let existing = if args.update {
            let text = std::fs::read_to_string(results)
                .with_context(|| format!("--update: cannot read {}; render it once without --update first", results.display()))?;
            Sections::parse(&text)
        } else {
            Sections::empty("")
        };
        let mut updated = existing.updated_with(fresh);
        if let Some(p) = &args.preamble {
            updated.preamble = std::fs::read_to_string(p).with_context(|| format!("--preamble: cannot read {}", p.display()))?;
        }
        std::fs::write(results, updated.to_text()).with_context(|| format!("--results: cannot write {}", results.display()))?;
    }
    for s in &sweeps {
        eprintln!("{}: {} of {} cells complete", s.name, s.complete(), s.cells.len());
    }
    println!("wrote {}/report.md and its figures", args.out.display());
    Ok(ExitCode::SUCCESS)
}
