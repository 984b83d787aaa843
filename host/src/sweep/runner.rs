//! Running a sweep: one run directory per cell, each cell a `byzhost run` child process
//! (so a crash or kill of one cell cannot take the others' results with it), up to `jobs`
//! at a time. Complete cells are skipped and interrupted ones resumed from their
//! checkpoints, so a sweep restarted after any interruption loses nothing.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::grid::Cell;
use super::reuse::{self, Matcher};
use crate::sim::machine::OMP_WAIT_POLICY;
use crate::sim::metrics::{Status, Summary};

/// State of a cell's run directory before the sweep touches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellState {
    /// `summary.json` says completed or diverged: nothing to do.
    Done,
    /// A previous attempt stopped on a policy fault; rerun only with `retry_failed`.
    Failed,
    /// A run was started (config.toml exists) but has no final summary: resume it.
    Interrupted,
    /// Nothing there yet.
    New,
}

pub fn cell_state(dir: &Path) -> CellState {
    let summary = std::fs::read_to_string(dir.join("summary.json")).ok().and_then(|t| serde_json::from_str::<Summary>(&t).ok());
    match summary.map(|s| s.status) {
        Some(Status::Completed | Status::Diverged) => CellState::Done,
        Some(Status::PolicyFault) => CellState::Failed,
        // A summary that is still `running` was left by a process that stopped mid-run.
        Some(Status::Running) | None if dir.join("config.toml").is_file() => CellState::Interrupted,
        Some(Status::Running) | None => CellState::New,
    }
}

/// Options of one sweep execution.
pub struct SweepOptions {
    pub out: PathBuf,
    pub jobs: usize,
    pub retry_failed: bool,
    /// Extra arguments for every `byzhost run` (cache and limit flags).
    pub run_args: Vec<String>,
    /// Finished runs that cells not yet started may adopt instead of training.
    pub reuse: Matcher,
}

/// Outcome of a cell in this execution.
#[derive(Debug, Serialize)]
pub struct CellOutcome {
    pub label: String,
    pub state_before: CellState,
    pub ran: bool,
    pub success: bool,
    /// The finished run whose results this cell adopted in this execution.
    pub reused_from: Option<PathBuf>,
    /// Another process was running this cell, so this sweep left it alone.
    pub running_elsewhere: Option<crate::sim::lock::Holder>,
}

/// Runs every cell that is not done; returns one outcome per cell, in grid order.
pub fn run_cells(cells: &[Cell], opts: &SweepOptions) -> Result<Vec<CellOutcome>> {
    std::fs::create_dir_all(opts.out.join(".cells")).with_context(|| format!("--out: cannot create {}", opts.out.display()))?;
    let exe = std::env::current_exe().context("locating the byzhost executable")?;
    let mut outcomes: Vec<CellOutcome> = Vec::new();
    let mut queue = VecDeque::new();
    for (i, cell) in cells.iter().enumerate() {
        let dir = opts.out.join(&cell.label);
        let state = cell_state(&dir);
        if let Some(donor) = opts.reuse.donor_for(cell, state)? {
            reuse::adopt(donor, &dir).with_context(|| format!("cell `{}`: adopting {}", cell.label, donor.dir.display()))?;
            eprintln!("{}: reused the finished run {} (same configuration and policies)", cell.label, donor.dir.display());
            outcomes.push(CellOutcome {
                label: cell.label.clone(),
                state_before: state,
                ran: false,
                success: true,
                reused_from: Some(donor.dir.clone()),
                running_elsewhere: None,
            });
            continue;
        }
        let todo = match state {
            CellState::Done => false,
            CellState::Failed => opts.retry_failed,
            CellState::Interrupted | CellState::New => true,
        };
        outcomes.push(CellOutcome {
            label: cell.label.clone(),
            state_before: state,
            ran: todo,
            success: !todo && state == CellState::Done,
            reused_from: None,
            running_elsewhere: None,
        });
        if todo {
            queue.push_back(i);
        }
    }
    let total = queue.len();
    let mut running: Vec<(usize, Child)> = Vec::new();
    let mut finished = 0;
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < opts.jobs.max(1) {
            let Some(i) = queue.pop_front() else { break };
            // Checked as late as possible: another sweep may have started the cell while
            // this one worked through the queue. Its log and records are left untouched.
            if let Some(holder) = crate::sim::lock::holder(&opts.out.join(&cells[i].label)) {
                finished += 1;
                outcomes[i].ran = false;
                outcomes[i].running_elsewhere = Some(holder);
                eprintln!("[{finished}/{total}] {} is being run by another process ({holder}); left alone", cells[i].label);
                continue;
            }
            let child = spawn(&exe, &cells[i], outcomes[i].state_before, opts)?;
            eprintln!(
                "[{}/{total}] {} ({})",
                finished + running.len() + 1,
                cells[i].label,
                match outcomes[i].state_before {
                    CellState::Interrupted => "resuming",
                    CellState::Failed => "retrying",
                    _ => "starting",
                }
            );
            running.push((i, child));
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut still = Vec::new();
        for (i, mut child) in running {
            match child.try_wait().context("waiting for a cell")? {
                Some(status) => {
                    finished += 1;
                    outcomes[i].success = status.success();
                    eprintln!(
                        "[{finished}/{total}] {} {}",
                        cells[i].label,
                        if status.success() { "done" } else { "FAILED (see its log.txt)" }
                    );
                }
                None => still.push((i, child)),
            }
        }
        running = still;
    }
    Ok(outcomes)
}

fn spawn(exe: &Path, cell: &Cell, state: CellState, opts: &SweepOptions) -> Result<Child> {
    let dir = opts.out.join(&cell.label);
    if state == CellState::Failed {
        // A failed attempt is started over, keeping nothing of it.
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing failed cell {}", dir.display()))?;
    }
    let mut cmd = Command::new(exe);
    cmd.arg("run").arg("--quiet").arg("--out").arg(&dir);
    if state == CellState::Interrupted {
        cmd.arg("--resume");
    } else {
        let config = opts.out.join(".cells").join(format!("{}.toml", cell.label));
        std::fs::write(&config, cell.experiment.to_toml()).with_context(|| format!("writing {}", config.display()))?;
        cmd.arg("--config").arg(&config);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = std::fs::File::create(dir.join("log.txt")).with_context(|| format!("creating {}/log.txt", dir.display()))?;
    if state != CellState::Interrupted {
        // A resumed run takes every setting from its config.toml.
        cmd.args(&opts.run_args);
    }
    // The cell's config names its data directory; the environment must not override it.
    cmd.env_remove("BYZHOST_DATA").stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    if opts.jobs > 1 && std::env::var_os(OMP_WAIT_POLICY).is_none() {
        // By default libgomp's idle threads spin at every barrier, and cells sharing cores
        // take them from each other: two small runs side by side on 2 cores took 17 s each,
        // 3.8–4.1 s with passive waiting, 2.6 s alone (BENCHMARKS.md). Waiting changes no result.
        cmd.env(OMP_WAIT_POLICY, "PASSIVE");
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the cell
        // when the sweep dies, so an interrupted sweep never leaves cells running behind.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    cmd.spawn().with_context(|| format!("starting cell {}", cell.label))
}
