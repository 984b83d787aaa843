//! The collectives over MPI (rsmpi against the system's OpenMPI). Only the main thread of
//! each rank calls MPI (the aggregation threads never do), so MPI is started at the
//! "funneled" threading level. Counts travel first, so every call takes buffers of any size
//! up to MPI's 2³¹ − 1 elements per rank.

use std::ops::Range;

use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;

use super::{launched_by_mpirun, Element, Ranks};

/// MPI started, when an MPI launcher started this process.
pub(super) fn start() -> Option<mpi::environment::Universe> {
    if !launched_by_mpirun() {
        return None;
    }
    wait_passively_beside_other_ranks();
    let (universe, _level) = mpi::initialize_with_threading(mpi::Threading::Funneled)?;
    let world = universe.world();
    if world.size() > 1 {
        let rank = world.rank();
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default_hook(info);
            eprintln!("rank {rank}: a panic ends the whole job (MPI_Abort), since the other ranks would wait for this one forever");
            SimpleCommunicator::world().abort(101);
        }));
    }
    Some(universe)
}

/// Every rank runs libtorch on as many threads as one process started beside `mpirun`
/// would ([`super::torch_threads`]), because the number of libtorch threads changes the
/// last bits of training. Ranks sharing a machine then share its cores, and libgomp's idle
/// threads, which by default spin at every barrier, would take cores from the other ranks
/// (measured: a 2-rank epoch 1.83 s spinning, 1.56 s passive, 1.48 s with one thread each).
/// The wait policy is read when libgomp loads, before `main`, so the process restarts
/// itself once with `OMP_WAIT_POLICY=PASSIVE` (before MPI starts: nothing is lost). Waiting
/// changes no result.
fn wait_passively_beside_other_ranks() {
    use std::os::unix::process::CommandExt;
    if super::local_ranks() <= 1 || std::env::var_os(crate::record::machine::OMP_WAIT_POLICY).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let err =
        std::process::Command::new(exe).args(std::env::args_os().skip(1)).env(crate::record::machine::OMP_WAIT_POLICY, "PASSIVE").exec();
    eprintln!("warning: could not restart with OMP_WAIT_POLICY=PASSIVE ({err}); idle libtorch threads will spin");
}

/// The world's ranks, when MPI runs with more than one.
pub(super) fn communicator() -> Option<Ranks> {
    if !mpi::environment::is_initialized() || mpi::environment::is_finalized() {
        return None;
    }
    let world = SimpleCommunicator::world();
    (world.size() > 1).then(|| Ranks { rank: world.rank() as usize, size: world.size() as usize, world: Some(world) })
}

/// An element count as MPI takes it.
fn count(n: usize) -> Count {
    Count::try_from(n).unwrap_or_else(|_| panic!("{n} elements is more than MPI moves in one message (2^31 - 1)"))
}

/// A receive buffer of `len` elements that is a real allocation even when empty: OpenMPI
/// refuses a collective whose send and receive buffers share an address, as two empty
/// vectors' dangling pointers do.
fn receive_buffer<T: Element>(len: usize) -> Vec<T> {
    let mut buffer = Vec::with_capacity(len.max(1));
    buffer.resize(len, T::default());
    buffer
}

/// Displacements of consecutive parts of `counts`.
fn displacements(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |start, &c| {
            let at = *start;
            *start += c;
            Some(at)
        })
        .collect()
}

impl Ranks {
    fn comm(&self) -> Option<&SimpleCommunicator> {
        self.world.as_ref()
    }

    /// Every rank's block of rows of `all` (rows of `row_len`, blocks as `blocks` gives
    /// them) into every rank's `all`. `send` is a buffer reused across calls.
    pub fn all_gather_rows<T: Element>(&self, all: &mut [T], send: &mut Vec<T>, row_len: usize, blocks: &[Range<usize>]) {
        let Some(world) = self.comm() else { return };
        let own = &blocks[self.rank];
        send.clear();
        send.extend_from_slice(&all[own.start * row_len..own.end * row_len]);
        let counts: Vec<Count> = blocks.iter().map(|b| count(b.len() * row_len)).collect();
        let displs = displacements(&counts);
        let mut partition = PartitionMut::new(all, counts, &displs[..]);
        world.all_gather_varcount_into(&send[..], &mut partition);
    }

    /// Every rank's `own` in rank order on rank 0 (empty elsewhere).
    pub fn gather_to_root<T: Element>(&self, own: &[T]) -> Vec<T> {
        let Some(world) = self.comm() else { return own.to_vec() };
        let root = world.process_at_rank(0);
        let mine = count(own.len());
        if !self.is_root() {
            root.gather_into(&mine);
            root.gather_varcount_into(own);
            return Vec::new();
        }
        let mut counts = vec![0 as Count; self.size];
        root.gather_into_root(&mine, &mut counts[..]);
        let displs = displacements(&counts);
        let mut all = receive_buffer(counts.iter().map(|&c| c as usize).sum());
        let mut partition = PartitionMut::new(&mut all[..], counts, &displs[..]);
        root.gather_varcount_into_root(own, &mut partition);
        all
    }

    /// Every rank's `own`, in rank order, on every rank.
    pub fn all_gather_varcount<T: Element>(&self, own: &[T]) -> Vec<Vec<T>> {
        let Some(world) = self.comm() else { return vec![own.to_vec()] };
        let mut counts = vec![0 as Count; self.size];
        world.all_gather_into(&count(own.len()), &mut counts[..]);
        let displs = displacements(&counts);
        let mut all = receive_buffer(counts.iter().map(|&c| c as usize).sum());
        {
            let mut partition = PartitionMut::new(&mut all[..], counts.clone(), &displs[..]);
            world.all_gather_varcount_into(own, &mut partition);
        }
        counts.iter().zip(&displs).map(|(&c, &d)| all[d as usize..(d + c) as usize].to_vec()).collect()
    }

    /// Rank 0's `data` on every rank.
    pub fn broadcast<T: Element>(&self, data: &mut Vec<T>) {
        let Some(world) = self.comm() else { return };
        let root = world.process_at_rank(0);
        let mut len = data.len() as u64;
        root.broadcast_into(&mut len);
        data.resize(len as usize, T::default());
        root.broadcast_into(&mut data[..]);
    }

    /// Rank `r` receives `parts[r]` from rank 0 (whose own part is `parts[0]`; parts
    /// missing at the end are empty; other ranks pass no parts).
    pub fn scatter_from_root<T: Element>(&self, mut parts: Vec<Vec<T>>) -> Vec<T> {
        let Some(world) = self.comm() else { return parts.into_iter().next().unwrap_or_default() };
        parts.resize(self.size, Vec::new());
        let root = world.process_at_rank(0);
        let mut len: u64 = 0;
        if self.is_root() {
            let lens: Vec<u64> = parts.iter().map(|p| p.len() as u64).collect();
            root.scatter_into_root(&lens[..], &mut len);
            let counts: Vec<Count> = parts.iter().map(|p| count(p.len())).collect();
            let displs = displacements(&counts);
            let flat: Vec<T> = parts.concat();
            let mut mine = receive_buffer(len as usize);
            root.scatter_varcount_into_root(&Partition::new(&flat[..], counts, &displs[..]), &mut mine[..]);
            return mine;
        }
        root.scatter_into(&mut len);
        let mut mine = receive_buffer(len as usize);
        root.scatter_varcount_into(&mut mine[..]);
        mine
    }

    /// Ends every rank of the job at once.
    pub fn abort(&self, code: i32) -> ! {
        match self.comm() {
            Some(world) => world.abort(code),
            None => std::process::exit(code),
        }
    }
}

/// Point-to-point messages of bytes (the sweep's cell queue).
impl Ranks {
    /// Sends `bytes` to rank `to` under `tag`.
    pub fn send_bytes(&self, to: usize, tag: i32, bytes: &[u8]) {
        if let Some(world) = self.comm() {
            world.process_at_rank(to as i32).send_with_tag(bytes, tag);
        }
    }

    /// Waits for the bytes rank `from` sends under `tag`.
    pub fn receive_bytes(&self, from: usize, tag: i32) -> Vec<u8> {
        match self.comm() {
            Some(world) => world.process_at_rank(from as i32).receive_vec_with_tag::<u8>(tag).0,
            None => Vec::new(),
        }
    }

    /// A message under `tag` from any rank, with its sender, if one has arrived.
    pub fn poll_bytes(&self, tag: i32) -> Option<(usize, Vec<u8>)> {
        let world = self.comm()?;
        let status = world.any_process().immediate_probe_with_tag(tag)?;
        let from = status.source_rank();
        let (bytes, _) = world.process_at_rank(from).receive_vec_with_tag::<u8>(tag);
        Some((from as usize, bytes))
    }
}
