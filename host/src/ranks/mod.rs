//! The processes of one job. The plain binary (and `mpirun -np 1`) is one process that owns
//! every node; `mpirun -np K` of a build with the `mpi` feature starts K ranks that split
//! the regular nodes into contiguous blocks and meet at a few collectives per round. With
//! one process every collective is a no-op or a copy, so the engine has one code path and
//! the plain binary pays nothing for it.

mod agree;
#[cfg(feature = "mpi")]
mod world;

use std::ops::Range;

pub use agree::{is_agreed, Agreed, RemoteError};

/// A value that travels between ranks as it lies in memory.
#[cfg(feature = "mpi")]
pub trait Element: Copy + Default + mpi::datatype::Equivalence {}
/// A value that travels between ranks as it lies in memory.
#[cfg(not(feature = "mpi"))]
pub trait Element: Copy + Default {}

impl Element for f32 {}
impl Element for f64 {}
impl Element for u8 {}
impl Element for u64 {}

/// MPI for the life of the process: started by [`start`], finalized when dropped (at the
/// end of `main`, after every rank has agreed on how the job ends).
pub struct Session {
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
}

/// Starts MPI when this process was launched by `mpirun` (and the build has MPI); else does
/// nothing. Under K > 1 ranks a panic on any rank ends the whole job (`MPI_Abort`), since
/// the others would otherwise wait forever in their next collective.
pub fn start() -> Session {
    #[cfg(feature = "mpi")]
    {
        Session { _universe: world::start() }
    }
    #[cfg(not(feature = "mpi"))]
    {
        if launched_by_mpirun() {
            eprintln!(
                "warning: started by mpirun, but this byzhost was built without MPI support: every process runs the whole job \
                 alone; build with `cargo build --release --features mpi` (see docs/mpi.md)"
            );
        }
        Session {}
    }
}

/// The variables an MPI launcher gives its processes (OpenMPI's, PMIx's, and MPICH's).
const LAUNCHER_VARIABLES: &[&str] = &["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"];

/// True when the environment says an MPI launcher started this process.
pub fn launched_by_mpirun() -> bool {
    LAUNCHER_VARIABLES.iter().any(|v| std::env::var_os(v).is_some())
}

/// Whether `name` is one of the variables an MPI launcher sets (OpenMPI's, PMIx's, MPICH's):
/// a process started by a rank must drop them, or it would take itself for a rank.
pub fn is_launcher_variable(name: &str) -> bool {
    ["OMPI_", "PMIX_", "PMI_", "OPAL_"].iter().any(|prefix| name.starts_with(prefix))
}

/// The ranks MPI placed on this machine (1 outside MPI, and in a build without it, where
/// every process runs alone).
fn local_ranks() -> usize {
    if !cfg!(feature = "mpi") {
        return 1;
    }
    let local = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"].iter().find_map(|v| std::env::var(v).ok()?.parse::<usize>().ok());
    local.unwrap_or(1).max(1)
}

/// Cores for one rank's defense-call threads: the machine's, shared by the ranks MPI
/// placed on it (their number changes no result).
pub fn cores_per_rank() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / local_ranks()).max(1)
}

/// libtorch threads for `--threads 0` (auto) under an MPI launcher: as many as the
/// launcher's own CPU set holds, which is what a one-process run started beside it gets.
/// A rank's own set is not used: `mpirun` binds each rank to a core or a socket, and the
/// thread count changes the last bits of training (the gradients' reductions), so
/// results would depend on the number of ranks. `None` outside MPI: libtorch's default.
pub fn torch_threads() -> Option<usize> {
    // SAFETY: CPU_COUNT only reads the set.
    launcher_cpus().map(|set| unsafe { libc::CPU_COUNT(&set) } as usize).filter(|&n| n > 0)
}

/// The CPUs the MPI launcher may run on (this process's parent's set), under a launcher.
pub fn launcher_cpus() -> Option<libc::cpu_set_t> {
    if !launched_by_mpirun() {
        return None;
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it for the
    // parent process and reports failure (e.g. a parent already gone) as -1.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(libc::getppid(), size_of::<libc::cpu_set_t>(), &mut set) == 0).then_some(set)
    }
}

/// This process's place in the job.
pub struct Ranks {
    rank: usize,
    size: usize,
    #[cfg(feature = "mpi")]
    world: Option<mpi::topology::SimpleCommunicator>,
}

impl Ranks {
    /// One process owning everything.
    pub fn single() -> Ranks {
        Ranks {
            rank: 0,
            size: 1,
            #[cfg(feature = "mpi")]
            world: None,
        }
    }

    /// The job's ranks: the MPI world when [`start`] started MPI with more than one rank,
    /// else [`Ranks::single`].
    pub fn world() -> Ranks {
        #[cfg(feature = "mpi")]
        if let Some(world) = world::communicator() {
            return world;
        }
        Ranks::single()
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Rank 0 writes the records and prints.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// The contiguous block of `items` each rank owns, in rank order: the first
    /// `items % size` ranks own one more.
    pub fn blocks(&self, items: usize) -> Vec<Range<usize>> {
        blocks(items, self.size)
    }

    /// This rank's block of `items`.
    pub fn block(&self, items: usize) -> Range<usize> {
        blocks(items, self.size)[self.rank].clone()
    }
}

/// `items` split into `parts` contiguous blocks, in order; the first `items % parts` blocks
/// hold one more.
pub fn blocks(items: usize, parts: usize) -> Vec<Range<usize>> {
    let (base, extra) = (items / parts, items % parts);
    let mut start = 0;
    (0..parts)
        .map(|p| {
            let len = base + usize::from(p < extra);
            let block = start..start + len;
            start += len;
            block
        })
        .collect()
}

/// The collectives, for one process: nothing travels, each result is this process's own.
#[cfg(not(feature = "mpi"))]
impl Ranks {
    /// Every rank's `rows` (a block of `all`, rows of `row_len`) into every rank's `all`.
    pub fn all_gather_rows<T: Element>(&self, _all: &mut [T], _send: &mut Vec<T>, _row_len: usize, _blocks: &[Range<usize>]) {}

    /// Every rank's `own` in rank order on rank 0 (empty elsewhere).
    pub fn gather_to_root<T: Element>(&self, own: &[T]) -> Vec<T> {
        own.to_vec()
    }

    /// Every rank's `own`, in rank order, on every rank.
    pub fn all_gather_varcount<T: Element>(&self, own: &[T]) -> Vec<Vec<T>> {
        vec![own.to_vec()]
    }

    /// Rank 0's `data` on every rank.
    pub fn broadcast<T: Element>(&self, _data: &mut Vec<T>) {}

    /// Rank `r` receives `parts[r]` from rank 0 (whose own part is `parts[0]`; parts
    /// missing at the end are empty).
    pub fn scatter_from_root<T: Element>(&self, parts: Vec<Vec<T>>) -> Vec<T> {
        parts.into_iter().next().unwrap_or_default()
    }

    /// Ends every rank of the job at once.
    pub fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }

    /// Point-to-point messages: with one process there is no other rank to talk to.
    pub fn send_bytes(&self, _to: usize, _tag: i32, _bytes: &[u8]) {}

    pub fn receive_bytes(&self, _from: usize, _tag: i32) -> Vec<u8> {
        Vec::new()
    }

    pub fn poll_bytes(&self, _tag: i32) -> Option<(usize, Vec<u8>)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_contiguous_cover_everything_and_differ_by_at_most_one() {
        for (items, parts) in [(40, 1), (40, 2), (40, 3), (7, 4), (3, 4), (800, 32)] {
            let b = blocks(items, parts);
            assert_eq!(b.len(), parts);
            assert_eq!(b[0].start, 0);
            assert_eq!(b[parts - 1].end, items);
            assert!(b.windows(2).all(|w| w[0].end == w[1].start));
            let lens: Vec<usize> = b.iter().map(|r| r.len()).collect();
            assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1, "{lens:?}");
        }
        assert_eq!(blocks(7, 3), vec![0..3, 3..5, 5..7]);
    }
}
