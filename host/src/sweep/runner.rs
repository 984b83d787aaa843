//! Running a sweep: one run directory per cell, each cell a `byzhost run` child process
//! (so a crash or kill of one cell cannot take the others' results with it), up to `jobs`
//! at a time. Complete cells are skipped and interrupted ones resumed from their
//! checkpoints, so a sweep restarted after any interruption loses nothing.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::grid::Cell;
use super::reuse::{self, Matcher};
use crate::ranks::Ranks;
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

/// Runs every cell that is not done; returns one outcome per cell, in grid order. Under
/// MPI (`ranks` is rank 0 of several) the other ranks run cells too, asking this one for
/// the next whenever they are free.
pub fn run_cells(cells: &[Cell], opts: &SweepOptions, ranks: &Ranks) -> Result<Vec<CellOutcome>> {
    std::fs::create_dir_all(opts.out.join(".cells")).with_context(|| format!("--out: cannot create {}", opts.out.display()))?;
    let exe = std::env::current_exe().context("locating the byzhost executable")?;
    let (outcomes, queue) = plan(cells, opts)?;
    let mut schedule = Schedule { total: queue.len(), queue, outcomes, handed_out: 0, finished: 0, ranks: ranks.size() };
    let mut helpers = super::ranks::Helpers::new(ranks);
    let mut running: Vec<(usize, Child)> = Vec::new();
    loop {
        while running.len() < opts.jobs.max(1) {
            let Some((i, command)) = schedule.next(cells, opts, 0)? else { break };
            running.push((i, command.spawn(&exe)?));
        }
        helpers.serve(&mut schedule, cells, opts)?;
        if running.is_empty() && schedule.queue.is_empty() && !helpers.busy() {
            return Ok(schedule.outcomes);
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut still = Vec::new();
        for (i, mut child) in running {
            match child.try_wait().context("waiting for a cell")? {
                Some(status) => schedule.done(i, status.success(), 0),
                None => still.push((i, child)),
            }
        }
        running = still;
    }
}

/// The cells of a sweep execution: those still to hand out, and every outcome so far.
pub(super) struct Schedule {
    queue: VecDeque<usize>,
    outcomes: Vec<CellOutcome>,
    total: usize,
    handed_out: usize,
    finished: usize,
    /// Ranks running cells (1 without MPI).
    ranks: usize,
}

impl Schedule {
    /// The next cell to run, prepared, for `rank`; `None` when none is left. A cell that
    /// another process runs now is skipped, its log and records left untouched (checked as
    /// late as possible: another sweep may have started it while this one worked through
    /// the queue).
    pub(super) fn next(&mut self, cells: &[Cell], opts: &SweepOptions, rank: usize) -> Result<Option<(usize, CellCommand)>> {
        while let Some(i) = self.queue.pop_front() {
            let label = &cells[i].label;
            if let Some(holder) = lock::holder(&opts.out.join(label)) {
                self.finished += 1;
                self.outcomes[i].ran = false;
                self.outcomes[i].running_elsewhere = Some(holder);
                eprintln!("[{}/{}] {label} is being run by another process ({holder}); left alone", self.finished, self.total);
                continue;
            }
            let command = prepare(&cells[i], self.outcomes[i].state_before, opts)?;
            let verb = match self.outcomes[i].state_before {
                RunState::Interrupted => "resuming",
                RunState::Failed => "retrying",
                _ => "starting",
            };
            self.handed_out += 1;
            eprintln!("[{}/{}] {label} ({verb}{})", self.handed_out, self.total, self.on_rank(rank));
            return Ok(Some((i, command)));
        }
        Ok(None)
    }

    /// Cell `i` ended on `rank`.
    pub(super) fn done(&mut self, i: usize, success: bool, rank: usize) {
        self.finished += 1;
        self.outcomes[i].success = success;
        let how = if success { "done" } else { "FAILED (see its log.txt)" };
        eprintln!("[{}/{}] {} {how}{}", self.finished, self.total, self.outcomes[i].label, self.on_rank(rank));
    }

    /// ", on rank R" under MPI; nothing for one process.
    fn on_rank(&self, rank: usize) -> String {
        match self.ranks {
            1 => String::new(),
            _ => format!(", on rank {rank}"),
        }
    }
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

/// A cell's `byzhost run`, prepared: its run directory, arguments and environment. It
/// travels from the rank that plans a sweep to the rank that runs the cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellCommand {
    pub label: String,
    pub dir: PathBuf,
    pub args: Vec<String>,
    pub set_env: Vec<(String, String)>,
    pub remove_env: Vec<String>,
}

/// Prepares cell `cell` for its run: a failed attempt is cleared, a new one gets its
/// config file, the run directory exists.
pub fn prepare(cell: &Cell, state: RunState, opts: &SweepOptions) -> Result<CellCommand> {
    let dir = opts.out.join(&cell.label);
    if state == RunState::Failed {
        // A failed attempt is started over, keeping nothing of it.
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing failed cell {}", dir.display()))?;
    }
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let mut args: Vec<String> = vec!["run".into(), "--quiet".into(), "--out".into(), path(&dir)];
    if state == RunState::Interrupted {
        args.push("--resume".into());
    } else {
        let config = opts.out.join(".cells").join(format!("{}.toml", cell.label));
        std::fs::write(&config, cell.experiment.to_toml()).with_context(|| format!("writing {}", config.display()))?;
        args.extend(["--config".into(), path(&config)]);
        // A resumed run takes every setting from its config.toml.
        args.extend(opts.run_args.iter().cloned());
    }
    args.extend(opts.registry_args.iter().cloned());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut set_env = Vec::new();
    // The cell's config names its data directory; the environment must not override it.
    let mut remove_env = vec!["BYZHOST_DATA".to_string()];
    match &opts.lock {
        Some(path) => set_env.push((crate::registry::lock::LOCK_ENV.to_string(), path.to_string_lossy().into_owned())),
        None => remove_env.push(crate::registry::lock::LOCK_ENV.to_string()),
    }
    if opts.jobs > 1 && std::env::var_os(OMP_WAIT_POLICY).is_none() {
        // By default libgomp's idle threads spin at every barrier, and cells sharing cores
        // take them from each other: two small runs side by side on 2 cores took 17 s each,
        // 3.8–4.1 s with passive waiting, 2.6 s alone (BENCHMARKS.md). Waiting changes no result.
        set_env.push((OMP_WAIT_POLICY.to_string(), "PASSIVE".to_string()));
    }
    Ok(CellCommand { label: cell.label.clone(), dir, args, set_env, remove_env })
}

impl CellCommand {
    /// Starts the cell as a child process, its output going to the cell's log.txt.
    pub fn spawn(&self, exe: &Path) -> Result<Child> {
        let log = std::fs::File::create(self.dir.join(files::LOG)).with_context(|| format!("creating {}/log.txt", self.dir.display()))?;
        let mut cmd = Command::new(exe);
        cmd.args(&self.args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        for name in &self.remove_env {
            cmd.env_remove(name);
        }
        // A cell is one plain process even when the sweep runs over MPI ranks: it must not
        // take the launcher's variables for its own and start MPI a second time.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if crate::ranks::is_launcher_variable(&name) {
                cmd.env_remove(name.as_ref());
            }
        }
        cmd.envs(self.set_env.iter().map(|(k, v)| (k, v)));
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // A rank that mpirun bound to one core would pass that binding on, and the
            // cell's libtorch would run fewer threads than a cell of a sweep without MPI,
            // which changes training's last bits: the cell gets the launcher's CPUs.
            let cpus = crate::ranks::launcher_cpus();
            // SAFETY: prctl and sched_setaffinity are async-signal-safe. The first only asks
            // the kernel to kill the cell when the sweep dies, so an interrupted sweep never
            // leaves cells running behind.
            unsafe {
                cmd.pre_exec(move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    if let Some(cpus) = &cpus {
                        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), cpus);
                    }
                    Ok(())
                });
            }
        }
        cmd.spawn().with_context(|| format!("starting cell {}", self.label))
    }
}
