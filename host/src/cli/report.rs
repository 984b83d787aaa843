//! `byzhost report`: figures and tables from one or more sweep directories.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;

use crate::report::sections::Sections;
use crate::report::{headline, machines_table, render, sibling_sweeps, SweepResult};

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
    /// Notes for the appendix: writes --out's provenance.md, these notes followed by a table
    /// of which machine computed each cell of the sweeps given.
    #[arg(long, value_name = "FILE")]
    pub provenance: Option<PathBuf>,
    /// Update --results in place: regenerate the sections of the sweeps given and keep the
    /// sections of every other sweep (and their figures) as the file has them, so one
    /// sweep can be re-rendered without the others' run directories. Without --preamble
    /// the file's own preamble is kept too. --out's report.md is updated the same way.
    #[arg(long, requires = "results")]
    pub update: bool,
}

/// Where the headline table goes in the preamble of --results: a line holding this marker
/// in the preamble file, or the block a previous rendering wrapped in it.
const HEADLINE: &str = "headline";

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let sweeps = args.sweeps.iter().map(|d| SweepResult::load(d)).collect::<Result<Vec<_>>>()?;
    let rendered = render(&sweeps, &args.out, args.update)?;
    if let Some(results) = &args.results {
        write_results(&args, results, &sweeps, rendered)?;
    }
    if let Some(notes) = &args.provenance {
        let text = std::fs::read_to_string(notes).with_context(|| format!("--provenance: cannot read {}", notes.display()))?;
        let path = args.out.join("provenance.md");
        let others = sibling_sweeps(&sweeps, &["paper", "quick"])?;
        let all: Vec<&SweepResult> = sweeps.iter().chain(&others).collect();
        let appendix = format!("{}\n## Which machine computed each cell\n\n{}", text.trim_end(), machines_table(&all));
        std::fs::write(&path, appendix).with_context(|| format!("writing {}", path.display()))?;
    }
    for s in &sweeps {
        eprintln!("{}: {} of {} cells complete", s.name, s.complete(), s.cells.len());
    }
    println!("wrote {}/report.md and its figures", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes --results: the preamble with the headline filled in, then every sweep's section.
fn write_results(args: &ReportArgs, results: &Path, sweeps: &[SweepResult], rendered: Vec<(String, String)>) -> Result<()> {
    let base = results.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
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
    let others = sibling_sweeps(sweeps, &["paper"])?;
    let all: Vec<&SweepResult> = sweeps.iter().chain(&others).collect();
    updated.preamble = fill_generated(&updated.preamble, HEADLINE, &headline::table(&all));
    std::fs::write(results, updated.to_text()).with_context(|| format!("--results: cannot write {}", results.display()))
}

/// `text` with the block named `name` holding `content`: between `<!-- begin NAME -->` and
/// `<!-- end NAME -->` when a previous rendering left them, else in place of a line that is
/// just `<!-- NAME -->`. Text without either is returned as it is.
fn fill_generated(text: &str, name: &str, content: &str) -> String {
    let (begin, end, marker) = (format!("<!-- begin {name} -->"), format!("<!-- end {name} -->"), format!("<!-- {name} -->"));
    let block = format!("{begin}\n{}\n{end}", content.trim_end());
    if let (Some(b), Some(e)) = (text.find(&begin), text.find(&end)) {
        if b < e {
            return format!("{}{block}{}", &text[..b], &text[e + end.len()..]);
        }
    }
    text.lines().map(|line| if line.trim() == marker { block.as_str() } else { line }).collect::<Vec<_>>().join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::fill_generated;

    #[test]
    fn a_generated_block_replaces_its_marker_and_then_itself() {
        let first = fill_generated("title\n<!-- headline -->\nrest\n", "headline", "| a |");
        assert_eq!(first, "title\n<!-- begin headline -->\n| a |\n<!-- end headline -->\nrest\n");
        let second = fill_generated(&first, "headline", "| b |");
        assert_eq!(second, "title\n<!-- begin headline -->\n| b |\n<!-- end headline -->\nrest\n");
        assert_eq!(fill_generated("no marker\n", "headline", "x"), "no marker\n");
    }
}
