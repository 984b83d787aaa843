//! `byzhost report`: figures (PNG and SVG) and Markdown tables from sweep directories,
//! with the reference paper's numbers beside the measured ones.

pub mod headline;
pub mod paper;
pub mod plots;
pub mod sections;
pub mod tables;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::record::{self, EpochMetrics, IndexedCell, Role, Summary};
use anyhow::{bail, Context as _, Result};
use sections::Sections;

/// One cell of a sweep as found on disk.
pub struct CellResult {
    pub label: String,
    pub coordinates: BTreeMap<String, String>,
    pub metrics: Vec<EpochMetrics>,
    /// `None` while the cell has not finished.
    pub summary: Option<Summary>,
    /// The run this cell's results were copied from (`sweep --reuse`).
    pub reused_from: Option<String>,
    /// (policy name, sha256) of each component the run recorded in `policies.json`.
    pub builds: Vec<(String, String)>,
}

/// A sweep directory: its index and every cell.
pub struct SweepResult {
    pub dir: PathBuf,
    pub name: String,
    pub artefact: String,
    pub profile: String,
    pub source: String,
    /// Axis names in grid order.
    pub axes: Vec<String>,
    pub cells: Vec<CellResult>,
}

impl SweepResult {
    pub fn load(dir: &Path) -> Result<SweepResult> {
        let index = record::read_sweep_index(dir)?;
        let mut axes: Vec<String> = Vec::new();
        let mut cells = Vec::new();
        for cell in index.cells {
            for k in cell.coordinates.keys() {
                if !axes.contains(k) {
                    axes.push(k.clone());
                }
            }
            cells.push(CellResult::load(&dir.join(&cell.label), cell)?);
        }
        // Axis order as the labels spell it (first axis first).
        if let Some(first) = cells.iter().find(|c| !c.coordinates.is_empty()) {
            let parts: Vec<&str> = first.label.split("__").collect();
            axes.sort_by_key(|a| parts.iter().position(|p| Some(*p) == first.coordinates.get(a).map(String::as_str)).unwrap_or(usize::MAX));
        }
        Ok(SweepResult {
            dir: dir.to_path_buf(),
            name: index.grid,
            artefact: index.artefact,
            profile: index.profile,
            source: index.source.display().to_string(),
            axes,
            cells,
        })
    }

    pub fn cell(&self, coords: &[(&str, &str)]) -> Option<&CellResult> {
        self.cells.iter().find(|c| coords.iter().all(|(k, v)| c.coordinates.get(*k).map(String::as_str) == Some(*v)))
    }

    /// File-name stem of this sweep's figures: grid name and profile, so that the quick
    /// and paper sweeps of one grid can be reported side by side.
    pub fn stem(&self) -> String {
        self.name_with_profile(|name, profile| format!("{name}-{profile}"))
    }

    /// Figure caption prefix: the grid and the profile its numbers come from.
    pub fn caption(&self) -> String {
        self.name_with_profile(|name, profile| format!("{name} ({profile})"))
    }

    /// The grid name alone when the sweep predates profiles, else `join(name, profile)`.
    fn name_with_profile(&self, join: impl Fn(&str, &str) -> String) -> String {
        if self.profile.is_empty() {
            self.name.clone()
        } else {
            join(&self.name, &self.profile)
        }
    }

    pub fn complete(&self) -> usize {
        self.cells.iter().filter(|c| c.summary.is_some()).count()
    }
}

impl CellResult {
    /// A sweep cell's record. A `running` summary is a run still training (or killed), drawn
    /// as incomplete like a cell without a summary.
    fn load(dir: &Path, cell: IndexedCell) -> Result<CellResult> {
        let summary = record::read_summary(dir)?.filter(|s| s.status.is_final());
        let builds = record::read_policies(dir)?
            .map(|p| Role::ALL.iter().filter_map(|&role| p.get(role).map(|b| (b.name.clone(), b.sha256.clone()))).collect())
            .unwrap_or_default();
        Ok(CellResult {
            label: cell.label,
            coordinates: cell.coordinates,
            metrics: record::read_metrics(dir)?,
            summary,
            reused_from: record::read_reuse_origin(dir).map(|o| o.from.display().to_string()),
            builds,
        })
    }
}

/// The sweeps of `profiles` that are not in `given` but lie beside its first sweep as
/// `<artefact>-<profile>` record folders, so that `--update` of one sweep still renders the
/// headline and the provenance table from all of them.
pub fn sibling_sweeps(given: &[SweepResult], profiles: &[&str]) -> Result<Vec<SweepResult>> {
    let Some(parent) = given.first().and_then(|s| s.dir.parent()) else { return Ok(Vec::new()) };
    let mut found = Vec::new();
    for artefact in ["fig1", "fig2", "table1", "table2", "fig4", "table3"] {
        for profile in profiles {
            let dir = parent.join(format!("{artefact}-{profile}"));
            let known = given.iter().any(|s| s.artefact == artefact && s.profile == *profile);
            if !known && dir.join(record::files::SWEEP_INDEX).is_file() {
                found.push(SweepResult::load(&dir)?);
            }
        }
    }
    Ok(found)
}

/// Which machine computed each cell of `sweeps`, as their summaries record it: the table
/// under the notes of `docs/provenance.md`.
pub fn machines_table(sweeps: &[&SweepResult]) -> String {
    let mut md = String::from("| sweep | cell | machine | wall time (min) | results copied from |\n|---|---|---|---|---|\n");
    for s in sweeps {
        for c in &s.cells {
            let Some(summary) = &c.summary else { continue };
            let machine = summary.machine.as_ref().map_or("not recorded".to_string(), |m| m.describe());
            let origin = c.reused_from.clone().unwrap_or_default();
            md.push_str(&format!("| {} | {} | {machine} | {:.0} | {origin} |\n", s.caption(), c.label, summary.wall_time_s / 60.0));
        }
    }
    md
}

/// Writes every figure and `report.md` into `out`; returns each sweep's section as
/// (heading, Markdown), in the order given. With `update`, an existing `report.md` keeps
/// the sections of sweeps not given (as `report --update` does for the results file).
pub fn render(sweeps: &[SweepResult], out: &Path, update: bool) -> Result<Vec<(String, String)>> {
    // Refuse before touching --out, so a refused call leaves nothing behind.
    for (i, a) in sweeps.iter().enumerate() {
        if let Some(b) = sweeps[..i].iter().find(|b| b.stem() == a.stem()) {
            bail!(
                "{} and {} are both sweep `{}` ({} profile): their figures would overwrite each other in {}; report them with separate --out folders",
                b.dir.display(),
                a.dir.display(),
                a.name,
                a.profile,
                out.display()
            );
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("--out: cannot create {}", out.display()))?;
    plots::register_font()?;
    let mut rendered = Vec::new();
    for sweep in sweeps {
        remove_figures(out, &sweep.stem())?;
        rendered.push((sections::heading(&sweep.name, &sweep.profile), tables::sweep_section(sweep, out)?));
    }
    let path = out.join("report.md");
    let previous = if update { std::fs::read_to_string(&path).ok() } else { None };
    let report = previous.map_or_else(|| Sections::empty("# byzhost results\n\n"), |t| Sections::parse(&t));
    std::fs::write(&path, report.updated_with(rendered.clone()).to_text()).with_context(|| format!("writing {}", path.display()))?;
    Ok(rendered)
}

/// Removes the figures a previous report drew for the sweep with this stem, so that a
/// figure of a grid value or cell no longer in the sweep does not linger beside the new
/// ones; other sweeps' figures in `out` are left alone.
fn remove_figures(out: &Path, stem: &str) -> Result<()> {
    let entries = std::fs::read_dir(out).with_context(|| format!("--out: cannot list {}", out.display()))?;
    let cell_prefix = format!("{stem}-");
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((base, ext)) = name.rsplit_once('.') else { continue };
        if matches!(ext, "png" | "svg") && (base == stem || base.starts_with(&cell_prefix)) {
            std::fs::remove_file(entry.path()).with_context(|| format!("removing the old figure {}", entry.path().display()))?;
        }
    }
    Ok(())
}
