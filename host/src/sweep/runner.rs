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
use crate::record::lock::{self, Holder};
use crate::record::machine::OMP_WAIT_POLICY;
use crate::record::{files, run_state, RunState};

/// Options of one sweep execution.
pub struct SweepOptions {
    pub out: PathBuf,
    pub jobs: usize,
    pub retry_failed: bool,
    /// Extra arguments for every `byzhost run` (cache and limit flags).
    pub run_args: Vec<String>,
    /// `--offline` and `--insecure-registry`, for every cell, resumed ones included.
    pub registry_args: Vec<String>,
    /// The sweep's `policies.lock`, when its cells name registry policies.
    pub lock: Option<PathBuf>,
    /// Finished runs that cells not yet started may adopt instead of training.
    pub reuse: Matcher,
}

/// Outcome of a cell in this execution.
#[derive(Debug, Serialize)]
pub struct CellOutcome {
    pub label: String,
    pub state_before: RunState,
    pub ran: bool,
    pub success: bool,
    /// The finished run whose results this cell adopted in this execution.
    pub reused_from: Option<PathBuf>,
    /// Another process was running this cell, so this sweep left it alone.
    pub running_elsewhere: Option<Holder>,
}

/// Runs every cell that is not done; returns one outcome per cell, in grid order.
pub fn run_cells(cells: &[Cell], opts: &SweepOptions) -> Result<Vec<CellOutcome>> {
    std::fs::create_dir_all(opts.out.join(".cells")).with_context(|| format!("--out: cannot create {}", opts.out.display()))?;
    let exe = std::env::current_exe().context("locating the byzhost executable")?;
    let (mut outcomes, mut queue) = plan(cells, opts)?;
    let total = queue.len();
    let mut running: Vec<(usize, Child)> = Vec::new();
    let mut finished = 0;
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < opts.jobs.max(1) {
            let Some(i) = queue.pop_front() else { break };
            // Checked as late as possible: another sweep may have started the cell while
            // this one worked through the queue. Its log and records are left untouched.
            if let Some(holder) = lock::holder(&opts.out.join(&cells[i].label)) {
                finished += 1;
                outcomes[i].ran = false;
                outcomes[i].running_elsewhere = Some(holder);
                eprintln!("[{finished}/{total}] {} is being run by another process ({holder}); left alone", cells[i].label);
                continue;
            }
            let child = spawn(&exe, &cells[i], outcomes[i].state_before, opts)?;
            let verb = match outcomes[i].state_before {
                RunState::Interrupted => "resuming",
                RunState::Failed => "retrying",
                _ => "starting",
            };
            eprintln!("[{}/{total}] {} ({verb})", finished + running.len() + 1, cells[i].label);
            running.push((i, child));
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut still = Vec::new();
        for (i, mut child) in running {
            match child.try_wait().context("waiting for a cell")? {
                Some(status) => {
                    finished += 1;
                    outcomes[i].success = status.success();
                    let how = if status.success() { "done" } else { "FAILED (see its log.txt)" };
                    eprintln!("[{finished}/{total}] {} {how}", cells[i].label);
                }
                None => still.push((i, child)),
            }
        }
        running = still;
    }
    Ok(outcomes)
}

/// Every cell's outcome so far, with the cells that may adopt a finished run adopting it,
/// and the queue of cells to run.
fn plan(cells: &[Cell], opts: &SweepOptions) -> Result<(Vec<CellOutcome>, VecDeque<usize>)> {
    let mut outcomes: Vec<CellOutcome> = Vec::new();
    let mut queue = VecDeque::new();
    for (i, cell) in cells.iter().enumerate() {
        let dir = opts.out.join(&cell.label);
        let state = run_state(&dir);
        let outcome = |ran, success, reused_from| CellOutcome {
            label: cell.label.clone(),
            state_before: state,
            ran,
            success,
            reused_from,
            running_elsewhere: None,
        };
        if let Some(donor) = opts.reuse.donor_for(cell, state)? {
            reuse::adopt(donor, &dir).with_context(|| format!("cell `{}`: adopting {}", cell.label, donor.dir.display()))?;
            eprintln!("{}: reused the finished run {} (same configuration and policies)", cell.label, donor.dir.display());
            outcomes.push(outcome(false, true, Some(donor.dir.clone())));
            continue;
        }
        let todo = match state {
            RunState::Done => false,
            RunState::Failed => opts.retry_failed,
            RunState::Interrupted | RunState::New => true,
        };
        outcomes.push(outcome(todo, !todo && state == RunState::Done, None));
        if todo {
            queue.push_back(i);
        }
    }
    Ok((outcomes, queue))
}

fn spawn(exe: &Path, cell: &Cell, state: RunState, opts: &SweepOptions) -> Result<Child> {
    let dir = opts.out.join(&cell.label);
    if state == RunState::Failed {
        // A failed attempt is started over, keeping nothing of it.
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing failed cell {}", dir.display()))?;
    }
    let mut cmd = Command::new(exe);
    cmd.arg("run").arg("--quiet").arg("--out").arg(&dir);
    if state == RunState::Interrupted {
        cmd.arg("--resume");
    } else {
        let config = opts.out.join(".cells").join(format!("{}.toml", cell.label));
        std::fs::write(&config, cell.experiment.to_toml()).with_context(|| format!("writing {}", config.display()))?;
        cmd.arg("--config").arg(&config);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = std::fs::File::create(dir.join(files::LOG)).with_context(|| format!("creating {}/log.txt", dir.display()))?;
    if state != RunState::Interrupted {
        // A resumed run takes every setting from its config.toml.
        cmd.args(&opts.run_args);
    }
    cmd.args(&opts.registry_args);
    match &opts.lock {
        Some(path) => cmd.env(crate::registry::lock::LOCK_ENV, path),
        None => cmd.env_remove(crate::registry::lock::LOCK_ENV),
    };
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
