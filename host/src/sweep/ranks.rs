//! A sweep over MPI ranks (`mpirun -np K byzhost sweep GRID`): rank 0 plans the sweep and
//! hands out cells, one at a time, to whichever rank is free (itself included); each cell
//! runs as it does without MPI, as a plain `byzhost run` process in its own directory on
//! the shared filesystem, whose lock keeps two writers apart. A sweep killed and restarted
//! with another K finds its cells as any restarted sweep does: complete ones are skipped,
//! interrupted ones resumed.

use anyhow::{Context as _, Result};

use super::grid::Cell;
use super::runner::{CellCommand, Schedule, SweepOptions};
use crate::ranks::Ranks;

/// A free rank's request for a cell, with the outcome of its last one.
const REQUEST: i32 = 1;
/// Rank 0's answer: the next cell, or none (the rank is done).
const ASSIGNMENT: i32 = 2;

/// What a rank reports when it asks for work: the cell it ran last and whether it succeeded.
type Report = Option<(usize, bool)>;
/// What rank 0 hands out: a cell's index and its prepared command, or nothing left.
type Assignment = Option<(usize, CellCommand)>;

/// Rank 0's view of the other ranks.
pub(super) struct Helpers<'r> {
    ranks: &'r Ranks,
    /// Ranks not yet told that no cell is left.
    working: usize,
}

impl<'r> Helpers<'r> {
    pub(super) fn new(ranks: &'r Ranks) -> Helpers<'r> {
        Helpers { ranks, working: ranks.size() - 1 }
    }

    /// Whether some rank may still report a cell.
    pub(super) fn busy(&self) -> bool {
        self.working > 0
    }

    /// Answers every request that has arrived: records the cell it reports and hands out
    /// the next one.
    pub(super) fn serve(&mut self, schedule: &mut Schedule, cells: &[Cell], opts: &SweepOptions) -> Result<()> {
        while let Some((from, bytes)) = self.ranks.poll_bytes(REQUEST) {
            let report: Report = serde_json::from_slice(&bytes).with_context(|| format!("reading rank {from}'s report"))?;
            if let Some((i, success)) = report {
                schedule.done(i, success, from);
            }
            let next: Assignment = schedule.next(cells, opts, from)?;
            if next.is_none() {
                self.working -= 1;
            }
            self.ranks.send_bytes(from, ASSIGNMENT, &serde_json::to_vec(&next)?);
        }
        Ok(())
    }
}

/// A rank other than 0: runs the cells rank 0 hands out until none is left.
pub fn work(ranks: &Ranks) -> Result<()> {
    let exe = std::env::current_exe().context("locating the byzhost executable")?;
    let mut report: Report = None;
    loop {
        ranks.send_bytes(0, REQUEST, &serde_json::to_vec(&report)?);
        let assignment: Assignment = serde_json::from_slice(&ranks.receive_bytes(0, ASSIGNMENT)).context("reading rank 0's assignment")?;
        let Some((i, command)) = assignment else { return Ok(()) };
        // A cell that cannot even start counts as failed, like one that fails later: its
        // log.txt or this rank's output says why, and the sweep goes on.
        let success = match command.spawn(&exe).and_then(|mut child| child.wait().context("waiting for a cell")) {
            Ok(status) => status.success(),
            Err(e) => {
                eprintln!("rank {}: {e:#}", ranks.rank());
                false
            }
        };
        report = Some((i, success));
    }
}
