//! `byzhost sweep`: runs every cell of an experiment grid, one run directory per cell,
//! skipping complete cells and resuming interrupted ones.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use super::RegistryArgs;
use crate::ranks::Ranks;
use crate::record::{self, IndexedCell, RunState, SweepIndex};
use crate::sweep::lock;
use crate::sweep::runner::{run_cells, SweepOptions};
use crate::sweep::Grid;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Experiment grid (TOML), e.g. examples/experiments/fig1.toml.
    pub grid: PathBuf,
    /// Which of the grid's profiles to run: `quick` (minutes on two cores) or `paper` (the
    /// paper's full settings).
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Directory holding one run directory per cell [default: runs/<grid name>-<profile>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Cells run at the same time (each is its own process). Above 1, cells get
    /// OMP_WAIT_POLICY=PASSIVE unless it is set, so that idle libtorch threads of one cell
    /// do not spin on cores the others need.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Directory of the IDX files for every cell that does not name one
    /// [default: $BYZHOST_DATA, else the embedded subset].
    #[arg(long, value_name = "DIR", env = "BYZHOST_DATA")]
    pub data: Option<PathBuf>,
    /// Rerun cells whose previous attempt stopped on a policy fault.
    #[arg(long)]
    pub retry_failed: bool,
    /// Run only these cells (comma-separated labels as `--dry-run` lists them, e.g.
    /// `dlie__sim_reweight,dlie__dpsgd`); the index still names every cell of the grid.
    #[arg(long, value_name = "LABELS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Finished runs that cells not yet started may adopt instead of training (repeatable):
    /// a sweep's output folder, e.g. `runs/fig1-paper`, or one run directory. A cell adopts
    /// a run only when its configuration equals the run's `config.toml` and its policy
    /// files have the sha256 the run recorded; the results are copied and `reused.json`
    /// names their origin.
    #[arg(long, value_name = "DIR")]
    pub reuse: Vec<PathBuf>,
    /// List the cells and their state without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Check every registry tag against `policies.lock` in --out and refuse one that now
    /// resolves to a different digest (or is not locked yet), instead of using the lock.
    #[arg(long)]
    pub locked: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Extra arguments passed to every `byzhost run`, e.g. `--threads 1`.
    #[arg(last = true)]
    pub run_args: Vec<String>,
}

/// The profile whose numbers are set beside the paper's.
const PAPER_PROFILE: &str = "paper";

/// The paper profile's cells must train on the whole Fashion-MNIST: on the embedded subset
/// (5,000 training images) an n = 200 cell gets 25 images a node and one round an epoch, and
/// its records would sit in `runs/<grid>-paper` looking like paper numbers.
fn require_full_data(cells: &[crate::sweep::Cell], grid: &std::path::Path) -> Result<()> {
    if let Some(cell) = cells.iter().find(|c| c.experiment.data.is_none()) {
        bail!(
            "--profile paper: cell `{}` of {} names no dataset, so it would train on the embedded subset (5,000 training images, 1,000 test) and its numbers could not be set beside the paper's; pass --data DIR or set BYZHOST_DATA to the full Fashion-MNIST (e.g. ../shared/datasets/fashion-mnist, or what `byzhost data fetch` downloads), or use --profile quick",
            cell.label,
            grid.display()
        );
    }
    Ok(())
}

pub fn run(args: SweepArgs) -> Result<ExitCode> {
    // Under MPI, rank 0 plans the sweep and hands its cells out; the other ranks only run
    // the cells they are given (their planning error would be rank 0's too).
    let ranks = Ranks::world();
    let dry_run = args.dry_run;
    let planned = ranks.agree(if ranks.is_root() { plan(args).map(Some) } else { Ok(None) })?;
    match planned {
        Some(Some(planned)) => {
            let outcomes = run_cells(&planned.cells, &planned.options, &ranks)?;
            Ok(print_outcomes(&outcomes, &planned.options.out))
        }
        // `--dry-run` listed the cells.
        Some(None) => Ok(ExitCode::SUCCESS),
        None => {
            if !dry_run {
                crate::sweep::ranks::work(&ranks)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A sweep ready to run: its cells and how to run them.
struct Planned {
    cells: Vec<crate::sweep::Cell>,
    options: SweepOptions,
}

/// Checks the grid, writes the sweep's index and policy lock, and lists the cells to run;
/// `None` after `--dry-run`, which only lists them.
fn plan(args: SweepArgs) -> Result<Option<Planned>> {
    if args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let grid = Grid::from_file(&args.grid)?;
    let mut cells = grid.expand(&args.profile)?;
    for cell in &mut cells {
        if cell.experiment.data.is_none() {
            cell.experiment.data = args.data.clone();
        }
        cell.experiment.validate().with_context(|| format!("cell `{}` of {}", cell.label, args.grid.display()))?;
    }
    if let Some(unknown) = args.only.iter().find(|l| !cells.iter().any(|c| &c.label == *l)) {
        let labels: Vec<&str> = cells.iter().map(|c| c.label.as_str()).collect();
        bail!("--only: `{unknown}` is not a cell of {}; its cells are {}", args.grid.display(), labels.join(", "));
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/{}-{}", grid.name, args.profile)));
    if !args.reuse.is_empty() && !args.run_args.is_empty() {
        bail!(
            "--reuse compares each cell's configuration with finished runs, but the arguments after `--` ({}) would change the configuration outside that comparison; put those settings in the grid, or drop --reuse",
            args.run_args.join(" ")
        );
    }
    let registry = lock::lock_policies(&cells, &out, &args.registry, args.locked, args.dry_run)?;
    let lock_file = registry.as_ref().filter(|r| r.lock.is_some()).map(|_| out.join(crate::registry::lock::LOCK_FILE));
    let reuse = crate::sweep::reuse::Matcher::new(&args.reuse, registry)?;
    if args.dry_run {
        print_plan(&cells, &out, &reuse)?;
        return Ok(None);
    }
    if args.profile == PAPER_PROFILE {
        require_full_data(&cells, &args.grid)?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("--out: cannot create {}", out.display()))?;
    let index = SweepIndex {
        artefact: grid.artefact.clone(),
        cells: cells.iter().map(|c| IndexedCell { coordinates: c.coordinates.clone(), label: c.label.clone() }).collect(),
        description: grid.description.clone(),
        grid: grid.name.clone(),
        profile: args.profile.clone(),
        source: args.grid.clone(),
    };
    record::write_sweep_index(&out, &index)?;
    eprintln!("sweep `{}` ({} profile): {} cells in {}", grid.name, args.profile, cells.len(), out.display());
    let chosen: Vec<_> = if args.only.is_empty() { cells } else { cells.into_iter().filter(|c| args.only.contains(&c.label)).collect() };
    let options = SweepOptions {
        out,
        jobs: args.jobs,
        retry_failed: args.retry_failed,
        run_args: args.run_args,
        registry_args: args.registry.as_args(),
        lock: lock_file,
        reuse,
    };
    Ok(Some(Planned { cells: chosen, options }))
}

/// `--dry-run`: every cell's state, without running anything.
fn print_plan(cells: &[crate::sweep::Cell], out: &std::path::Path, reuse: &crate::sweep::reuse::Matcher) -> Result<()> {
    for cell in cells {
        let dir = out.join(&cell.label);
        let state = record::run_state(&dir);
        let mut line = format!("{:<40} {state:?}", cell.label);
        if state == RunState::Interrupted {
            let done = record::read_metrics(&dir)?.len();
            line.push_str(&format!(", {done} of {} epochs", cell.experiment.epochs));
        }
        if let Some(holder) = record::lock::holder(&dir) {
            line.push_str(&format!(", running now ({holder})"));
        }
        if let Some(d) = reuse.donor_for(cell, state)? {
            line.push_str(&format!(" (would reuse {})", d.dir.display()));
        }
        println!("{line}");
    }
    Ok(())
}

/// The closing lines of a sweep; failure when a cell failed or runs elsewhere.
fn print_outcomes(outcomes: &[crate::sweep::runner::CellOutcome], out: &std::path::Path) -> ExitCode {
    let elsewhere: Vec<String> =
        outcomes.iter().filter_map(|o| o.running_elsewhere.map(|holder| format!("{} ({holder})", o.label))).collect();
    let failed: Vec<&str> = outcomes.iter().filter(|o| !o.success && o.running_elsewhere.is_none()).map(|o| o.label.as_str()).collect();
    let reused = outcomes.iter().filter(|o| o.reused_from.is_some()).count();
    let skipped = outcomes.iter().filter(|o| !o.ran).count() - reused - elsewhere.len();
    println!(
        "{} cells: {} already complete, {} reused, {} run, {} failed{}; results in {}",
        outcomes.len(),
        skipped,
        reused,
        outcomes.len() - skipped - reused - elsewhere.len(),
        failed.len(),
        if elsewhere.is_empty() { String::new() } else { format!(", {} running in another process", elsewhere.len()) },
        out.display()
    );
    if !failed.is_empty() {
        println!("failed: {} (each cell's log.txt says why; --retry-failed reruns them)", failed.join(", "));
    }
    if !elsewhere.is_empty() {
        println!("not finished here: {} (another process runs them; rerun this sweep once it ends)", elsewhere.join(", "));
    }
    if !failed.is_empty() || !elsewhere.is_empty() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
