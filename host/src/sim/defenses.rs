//! The defense side of a round: the pool of defense instances and the calls of every
//! regular node, split over aggregation workers. Every call sees exactly what it would see
//! in sequence, so results do not depend on the number of workers.

use std::ops::Range;
use std::time::Instant;

use anyhow::{Context as _, Result};
use byzhost_train::DIM;

use super::exchange::Messages;
use super::graph::Topology;
use super::seeds::{seed_for, Stream};
use crate::policy::{AttackContext, Context, Crafted, ParamValue};
use crate::sandbox::{DefenseInstance, LoadedPolicy, LossOracle, NoLocalData, PolicyError, Received, Sandbox};

/// Defense instances. A policy that declares itself stateless is served by one instance
/// per aggregation worker (its output depends only on the call, and the random stream is
/// seeded per node and round), which keeps memory flat at n = 300; a stateful one gets an
/// instance per node so that each node's state stays its own.
pub enum DefensePool {
    Shared(Vec<DefenseInstance>),
    PerNode(Vec<DefenseInstance>),
}

/// What one aggregation worker calls for its rows.
enum WorkerDefense<'d> {
    Shared(&'d mut DefenseInstance),
    PerNode(&'d mut [DefenseInstance]),
}

impl DefensePool {
    /// Instances for the regular nodes `ids`. A per-node instance takes its node's oracle
    /// from `oracles` (same order); shared instances borrow them call by call.
    pub fn new(
        sandbox: &Sandbox,
        policy: &LoadedPolicy,
        params: &[(String, ParamValue)],
        run_seed: u64,
        ids: &[u32],
        oracles: &mut [Option<Box<dyn LossOracle>>],
        workers: usize,
    ) -> Result<DefensePool> {
        let seed = seed_for(run_seed, Stream::DefenseInstance, 0);
        let instance = |node: u32, oracle: Box<dyn LossOracle>| -> Result<DefenseInstance> {
            let mut inst = DefenseInstance::with_seed(sandbox, policy, node, seed, oracle)?;
            inst.configure(params).context("--defense-param")?;
            Ok(inst)
        };
        if policy.info.stateless {
            let first = ids.first().copied().unwrap_or(0);
            return Ok(DefensePool::Shared((0..workers).map(|_| instance(first, Box::new(NoLocalData))).collect::<Result<_>>()?));
        }
        let per_node = ids.iter().zip(oracles).map(|(&id, oracle)| instance(id, oracle.take().expect("a node's fresh oracle")));
        Ok(DefensePool::PerNode(per_node.collect::<Result<_>>()?))
    }

    fn per_worker(&mut self, rows_per_worker: usize) -> Vec<WorkerDefense<'_>> {
        match self {
            DefensePool::Shared(list) => list.iter_mut().map(WorkerDefense::Shared).collect(),
            DefensePool::PerNode(list) => list.chunks_mut(rows_per_worker).map(WorkerDefense::PerNode).collect(),
        }
    }
}

impl WorkerDefense<'_> {
    /// The call for the worker's `i`-th row, with the node's oracle where instances are shared.
    fn aggregate(
        &mut self,
        i: usize,
        oracle: &mut Option<Box<dyn LossOracle>>,
        ctx: &Context,
        [prev, local]: [&[f32]; 2],
        received: Received<'_>,
    ) -> Result<Vec<f32>, PolicyError> {
        match self {
            WorkerDefense::PerNode(list) => list[i].aggregate_received(ctx, prev, local, received),
            WorkerDefense::Shared(inst) => {
                let oracle = oracle.as_mut().expect("a node keeps its oracle while instances are shared");
                inst.aggregate_with(oracle, ctx, prev, local, received)
            }
        }
    }
}

/// What the Byzantine nodes send in a round, and the context the attack crafted it for.
pub struct AttackRound {
    pub crafted: Crafted,
    pub ctx: AttackContext,
}

/// What every defense call of a round reads.
pub struct RoundInputs<'r> {
    pub topology: &'r Topology,
    /// Row of each node id in the model matrices (regular nodes only).
    pub row_of: &'r [Option<usize>],
    pub ids: &'r [u32],
    /// The rows whose defense calls this process makes (all of them, or an MPI rank's block).
    pub rows: Range<usize>,
    /// x_i^{t+1} of every regular node, row after row.
    pub local: &'r [f32],
    /// `None` without an attack: Byzantine nodes are silent.
    pub attack: Option<&'r Messages>,
    pub epoch: u32,
    pub round: u64,
    pub lr: f32,
    pub run_seed: u64,
}

/// The defense calls of the rows `inputs.rows`: the new models replace `models` (those
/// rows, row after row). The rows are split into contiguous ranges, one per worker thread with its own instance and
/// buffer. Returns the call times; the fault of the lowest row is reported.
pub fn aggregate(
    pool: &mut DefensePool,
    inputs: &RoundInputs,
    models: &mut [f32],
    oracles: &mut [Option<Box<dyn LossOracle>>],
    buffers: &mut [Vec<f32>],
) -> Result<Vec<f64>> {
    let rows = inputs.rows.len();
    let rows_per_worker = rows.div_ceil(buffers.len()).max(1);
    let jobs = pool
        .per_worker(rows_per_worker)
        .into_iter()
        .zip(models.chunks_mut(rows_per_worker * DIM))
        .zip(oracles.chunks_mut(rows_per_worker))
        .zip(buffers.iter_mut())
        .enumerate()
        .map(|(w, (((defense, models), oracles), buffer))| Rows {
            first: inputs.rows.start + w * rows_per_worker,
            defense,
            models,
            oracles,
            buffer,
        });
    let outcomes: Vec<RowsOutcome> = if rows.div_ceil(rows_per_worker) == 1 {
        jobs.map(|job| job.run(inputs)).collect()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs.map(|job| scope.spawn(move || job.run(inputs))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        })
    };
    let mut times = Vec::with_capacity(rows);
    let mut first_fault: Option<(usize, anyhow::Error)> = None;
    for (worker_times, fault) in outcomes {
        times.extend(worker_times);
        if let Some((row, e)) = fault {
            if first_fault.as_ref().is_none_or(|(r, _)| row < *r) {
                first_fault = Some((row, e));
            }
        }
    }
    match first_fault {
        Some((_, e)) => Err(e),
        None => Ok(times),
    }
}

/// A worker's outcome: call times, and the first fault with the row it hit.
type RowsOutcome = (Vec<f64>, Option<(usize, anyhow::Error)>);

/// One worker's rows `first ..`: their models, oracles, defense and received-models buffer.
struct Rows<'a> {
    first: usize,
    defense: WorkerDefense<'a>,
    models: &'a mut [f32],
    oracles: &'a mut [Option<Box<dyn LossOracle>>],
    buffer: &'a mut Vec<f32>,
}

impl Rows<'_> {
    /// Gathers each node's incoming models, calls the defense, and installs the result.
    /// Stops at the first fault.
    fn run(mut self, inputs: &RoundInputs) -> RowsOutcome {
        let mut times = Vec::with_capacity(self.oracles.len());
        for (i, (model, oracle)) in self.models.chunks_exact_mut(DIM).zip(self.oracles.iter_mut()).enumerate() {
            let row = self.first + i;
            let id = inputs.ids[row];
            let (neighbors, messages) = receive(inputs, id);
            let ctx = Context {
                round: inputs.round,
                epoch: inputs.epoch,
                node: id,
                neighbor_degrees: neighbors.iter().map(|&j| inputs.topology.degree(j as usize) as u32).collect(),
                lr: inputs.lr,
                dim: DIM as u32,
                seed: seed_for(inputs.run_seed, Stream::DefenseContext, (inputs.round << 20) ^ id as u64),
                neighbors,
            };
            let local = &inputs.local[row * DIM..(row + 1) * DIM];
            // Where the messages are: a 0.2.0 policy is lent them as they lie, a 0.1.0 one
            // gets them copied end to end into the worker's buffer.
            let received = Received::Rows { rows: messages, scratch: &mut *self.buffer };
            let started = Instant::now();
            match self.defense.aggregate(i, oracle, &ctx, [model, local], received) {
                Ok(out) => {
                    times.push(started.elapsed().as_secs_f64() * 1e3);
                    model.copy_from_slice(&out);
                }
                Err(e) => return (times, Some((row, e.into()))),
            }
        }
        (times, None)
    }
}

/// What node `id` receives this round, neighbour after neighbour: the neighbours that sent
/// something (all but silent Byzantine ones) and their messages.
fn receive<'r>(inputs: &RoundInputs<'r>, id: u32) -> (Vec<u32>, Vec<&'r [f32]>) {
    let mut senders = Vec::new();
    let mut messages = Vec::new();
    for &j in &inputs.topology.neighbors[id as usize] {
        let message = match (inputs.row_of[j as usize], inputs.attack) {
            (Some(row), _) => &inputs.local[row * DIM..(row + 1) * DIM],
            (None, Some(attack)) => attack.message(j, id).expect("the attack addressed every honest neighbour"),
            (None, None) => continue,
        };
        messages.push(message);
        senders.push(j);
    }
    (senders, messages)
}
