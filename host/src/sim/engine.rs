//! The rounds of Algorithm 1 ("gossip after local update"): local SGD on every regular
//! node, broadcast, the attack's messages, and each node's defense — with metrics per
//! epoch, a checkpoint per epoch, and divergence and policy faults recorded as results.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use byzhost_train::tensors::{Samples, Shard};
use byzhost_train::{Net, StackedNets, DIM};
use tch::Tensor;

use super::checkpoint::Checkpoint;
use super::config::Experiment;
use super::graph::{self, Topology};
use super::metrics::{consensus_error, finite, quantile, DivergedAt, EpochMetrics, Status, Summary};
use super::output::RunDir;
use super::progress::Progress;
use super::seeds::mix;
use crate::policy::{parse_params, AttackContext, ByzantineNode, Context, SendMode};
use crate::sandbox::{AttackInstance, DefenseInstance, LoadedPolicy, LossOracle, Sandbox};

/// The batch a node trained on last, shared with its loss oracle (MOZI's import).
type SharedBatch = Arc<Mutex<Option<(Tensor, Tensor)>>>;

/// Evaluates candidate models on a node's latest training batch.
struct NodeLoss {
    batch: SharedBatch,
    net: Option<Net>,
    device: tch::Device,
}

impl LossOracle for NodeLoss {
    fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String> {
        let guard = self.batch.lock().map_err(|_| "the node's batch is unavailable".to_string())?;
        let (x, y) = guard.as_ref().ok_or("the node has not trained on a batch yet")?;
        if candidates.len() != count * DIM {
            return Err(format!("candidates hold {} values, expected {count} models of {DIM}", candidates.len()));
        }
        let net = self.net.get_or_insert_with(|| Net::new(self.device));
        Ok(candidates
            .chunks_exact(DIM)
            .map(|c| {
                net.load(c);
                net.loss(x, y)
            })
            .collect())
    }
}

struct RegularNode {
    id: u32,
    net: Net,
    shard: Shard,
    batch: SharedBatch,
    /// The node's loss oracle while a shared defense instance is not using it.
    oracle: Option<Box<dyn LossOracle>>,
}

/// Defense instances. A policy that declares itself stateless is served by one instance
/// per aggregation worker (its output depends only on the call, and the random stream is
/// seeded per node and round), which keeps memory flat at n = 300; a stateful one gets an
/// instance per node so that each node's state stays its own.
enum Defenses {
    Shared(Vec<DefenseInstance>),
    PerNode(Vec<DefenseInstance>),
}

/// What one aggregation worker calls for its rows.
enum WorkerDefense<'d> {
    Shared(&'d mut DefenseInstance),
    PerNode(&'d mut [DefenseInstance]),
}

/// What every defense call of a round reads.
struct RoundInputs<'r> {
    exp: &'r Experiment,
    topology: &'r Topology,
    row_of: &'r [Option<usize>],
    local: &'r [f32],
    crafted: Option<&'r (SendMode, Vec<f32>, AttackContext)>,
    epoch: u32,
    round: u64,
}

/// A worker's outcome: call times, and the first fault with the row it hit.
type WorkerOutcome = (Vec<f64>, Option<(usize, anyhow::Error)>);

/// Everything a run needs, built and checked before the first step.
pub struct Simulation<'a> {
    exp: &'a Experiment,
    topology: Topology,
    byzantine: Vec<bool>,
    nodes: Vec<RegularNode>,
    defenses: Defenses,
    /// Row of each node id in the model matrices (regular nodes only).
    row_of: Vec<Option<usize>>,
    attack: Option<AttackInstance>,
    test: Samples,
    rounds_per_epoch: u64,
    /// x_i^t of every regular node, row after row.
    models: Vec<f32>,
    /// x_i^{t+1} after local training, row after row (what regular nodes broadcast).
    local: Vec<f32>,
    /// All regular nodes as one computation when training takes the stacked path.
    stacked: Option<StackedNets>,
    /// One buffer of received models per aggregation worker, reused every round.
    received: Vec<Vec<f32>>,
    graph_warnings: Vec<String>,
}

impl<'a> Simulation<'a> {
    pub fn new(exp: &'a Experiment, sandbox: &Sandbox, defense: &LoadedPolicy, attack: Option<&LoadedPolicy>) -> Result<Self> {
        let device = byzhost_train::device(&exp.device)?;
        let data = match &exp.data {
            Some(dir) => byzhost_train::data::load_dir(dir).with_context(|| format!("--data {}", dir.display()))?,
            None => byzhost_train::data::embedded(),
        };
        let per_node = data.train.len() / exp.nodes;
        let steps_per_epoch = per_node / exp.batch_size;
        if steps_per_epoch == 0 {
            bail!(
                "--batch-size {} is larger than a node's shard: {} training images over {} nodes leave {per_node} each",
                exp.batch_size,
                data.train.len(),
                exp.nodes
            );
        }
        let rounds_per_epoch = steps_per_epoch.div_ceil(exp.local_steps) as u64;

        let byzantine = graph::choose_byzantine(exp.nodes, exp.byzantine, mix(exp.seed, 1, 0));
        let (topology, graph_warnings) = graph::build(&exp.graph_spec()?, byzantine.clone(), mix(exp.seed, 2, 0))?;
        let shards = byzhost_train::partition::split(&data.train.labels, exp.nodes, exp.partition_spec()?, mix(exp.seed, 3, 0));

        let defense_params =
            parse_params(&defense.info.params, &exp.defense_param).map_err(anyhow::Error::msg).context("--defense-param")?;
        let init = byzhost_train::initial_params(mix(exp.seed, 4, 0));
        let defense_seed = mix(exp.seed, 5, 0);
        let new_instance = |node: u32, oracle: Box<dyn LossOracle>| -> Result<DefenseInstance> {
            let mut inst = DefenseInstance::with_seed(sandbox, defense, node, defense_seed, oracle)?;
            inst.configure(&defense_params).context("--defense-param")?;
            Ok(inst)
        };
        let mut per_node = Vec::new();
        let mut nodes = Vec::new();
        let mut row_of = vec![None; exp.nodes];
        for id in topology.regular() {
            let shard_idx = &shards[id as usize];
            if shard_idx.len() < exp.batch_size {
                bail!(
                    "node {id} holds {} training images, fewer than --batch-size {} (--partition {})",
                    shard_idx.len(),
                    exp.batch_size,
                    exp.partition
                );
            }
            let mut net = Net::new(device);
            net.load(&init);
            let batch: SharedBatch = Arc::new(Mutex::new(None));
            let mut oracle: Option<Box<dyn LossOracle>> = Some(Box::new(NodeLoss { batch: batch.clone(), net: None, device }));
            if !defense.info.stateless {
                per_node.push(new_instance(id, oracle.take().expect("fresh oracle"))?);
            }
            row_of[id as usize] = Some(nodes.len());
            nodes.push(RegularNode {
                id,
                net,
                shard: Shard::new(Samples::from_dataset(&data.train, Some(shard_idx), device), exp.batch_size, mix(exp.seed, 6, id as u64)),
                batch,
                oracle,
            });
        }
        let workers = match exp.agg_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            t => t,
        }
        .clamp(1, nodes.len().max(1));
        let defenses = if defense.info.stateless {
            let first = nodes.first().map_or(0, |n| n.id);
            Defenses::Shared((0..workers).map(|_| new_instance(first, Box::new(crate::sandbox::NoLocalData))).collect::<Result<_>>()?)
        } else {
            Defenses::PerNode(per_node)
        };
        let attack = match attack {
            Some(policy) if exp.byzantine > 0 => {
                let params = parse_params(&policy.info.params, &exp.attack_param).map_err(anyhow::Error::msg).context("--attack-param")?;
                let mut inst = AttackInstance::new(sandbox, policy, mix(exp.seed, 7, 0))?;
                inst.configure(&params).context("--attack-param")?;
                Some(inst)
            }
            _ => None,
        };
        let stacked = match exp.train_path.as_str() {
            "stacked" => true,
            "per-node" => false,
            _ => device != tch::Device::Cpu,
        }
        .then(|| StackedNets::new(nodes.len(), device));
        let test_idx: Vec<usize> = (0..data.test.len().min(if exp.eval_samples == 0 { usize::MAX } else { exp.eval_samples })).collect();
        let test = Samples::from_dataset(&data.test, Some(&test_idx), device);
        let m = nodes.len();
        let max_k = topology.neighbors.iter().map(Vec::len).max().unwrap_or(0);
        Ok(Simulation {
            exp,
            topology,
            byzantine,
            nodes,
            defenses,
            row_of,
            attack,
            test,
            rounds_per_epoch,
            models: init.repeat(m),
            local: vec![0.0; m * DIM],
            stacked,
            received: vec![vec![0.0; max_k * DIM]; workers],
            graph_warnings,
        })
    }

    pub fn warnings(&self) -> &[String] {
        &self.graph_warnings
    }

    pub fn rounds_per_epoch(&self) -> u64 {
        self.rounds_per_epoch
    }

    /// Restores the models of a checkpoint.
    fn restore(&mut self, ckpt: &Checkpoint) -> Result<()> {
        if ckpt.models.len() != self.models.len() {
            bail!("the checkpoint holds {} values, this run needs {}", ckpt.models.len(), self.models.len());
        }
        self.models.copy_from_slice(&ckpt.models);
        for (r, node) in self.nodes.iter_mut().enumerate() {
            node.net.load(&self.models[r * DIM..(r + 1) * DIM]);
        }
        Ok(())
    }

    /// Runs every remaining epoch, writing metrics and checkpoints into `dir`.
    pub fn run(&mut self, dir: &RunDir, progress: &mut Progress) -> Result<Summary> {
        let started = Instant::now();
        let mut history = dir.previous_metrics()?;
        let mut first_epoch = 0;
        // Metrics are appended before each checkpoint is saved, so after a crash the
        // metrics file may run one epoch ahead of the checkpoint: keep only what the
        // checkpoint covers.
        if let Some(ckpt) = dir.checkpoint()? {
            // The other way round cannot be mended: the epochs between the record's end and
            // the checkpoint's are lost, and resuming would leave a silent gap in the record
            // (a checkpoint carried beside an older copy of metrics.jsonl does this).
            if history.len() < ckpt.epochs_completed as usize {
                bail!(
                    "--resume: {}: checkpoint.bin was saved after epoch {} but metrics.jsonl records only {} epochs, so the \
                     epochs between would be missing from the record. Put back the metrics.jsonl written with this checkpoint, \
                     or delete checkpoint.bin to train the run again from epoch 1",
                    dir.path.display(),
                    ckpt.epochs_completed,
                    history.len()
                );
            }
            self.restore(&ckpt)?;
            first_epoch = ckpt.epochs_completed;
        }
        if history.len() != first_epoch as usize {
            // One epoch ahead is the crash window above; more means the checkpoint is
            // missing or older (run records are committed, checkpoints are not).
            if history.len() > first_epoch as usize + 1 {
                eprintln!(
                    "warning: {}: metrics.jsonl holds {} epochs but the checkpoint covers {first_epoch}{}; training again from epoch {}",
                    dir.path.display(),
                    history.len(),
                    if first_epoch == 0 { " (there is no checkpoint.bin: checkpoints stay on the machine that ran the run)" } else { "" },
                    first_epoch + 1
                );
            }
            history.truncate(first_epoch as usize);
            dir.rewrite_metrics(&history)?;
        }
        // A resumed run's wall time starts with what its earlier processes spent on the
        // epochs it keeps, so a run cut across sessions does not report only its last part.
        let earlier_epochs_s: f64 =
            history.iter().map(|m| m.time_epoch_s.unwrap_or(m.time_train_s + m.time_aggregate_s + m.time_eval_s)).sum();
        let mut outcome: Result<()> = Ok(());
        let mut diverged_at = None;
        for epoch in first_epoch..self.exp.epochs {
            match self.epoch(epoch) {
                Ok((metrics, diverged)) => {
                    dir.append_metrics(&metrics)?;
                    progress.epoch(&metrics, self.exp.epochs);
                    history.push(metrics);
                    if let Some(d) = diverged {
                        diverged_at = Some(d);
                        if self.exp.on_divergence == "stop" {
                            break;
                        }
                    }
                    dir.save_checkpoint(&Checkpoint { epochs_completed: epoch + 1, models: self.models.clone() })?;
                    // A run killed from outside (out of memory, a signal) still leaves a
                    // readable record of every epoch so far, which --resume continues.
                    let mut running = Summary::from_epochs(&history, self.exp.target_accuracy);
                    running.status = Status::Running;
                    running.wall_time_s = earlier_epochs_s + started.elapsed().as_secs_f64();
                    dir.write_summary(&running)?;
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        let mut summary = Summary::from_epochs(&history, self.exp.target_accuracy);
        summary.wall_time_s = earlier_epochs_s + started.elapsed().as_secs_f64();
        if let Some(d) = diverged_at {
            summary.status = Status::Diverged;
            summary.diverged_at = Some(d);
        }
        if let Err(e) = &outcome {
            summary.status = Status::PolicyFault;
            summary.error = Some(format!("{e:#}"));
        }
        dir.write_summary(&summary)?;
        outcome.map(|_| summary)
    }

    /// One epoch of rounds, then evaluation. Returns the metrics and, if training produced
    /// non-finite weights, where.
    fn epoch(&mut self, epoch: u32) -> Result<(EpochMetrics, Option<DivergedAt>)> {
        let epoch_started = Instant::now();
        if self.exp.time_varying() && epoch > 0 {
            let (t, _) = graph::build(&self.exp.graph_spec()?, self.byzantine.clone(), mix(self.exp.seed, 2, epoch as u64))?;
            self.topology = t;
            let max_k = self.topology.neighbors.iter().map(Vec::len).max().unwrap_or(0);
            for buffer in &mut self.received {
                buffer.resize(max_k * DIM, 0.0);
            }
        }
        let (mut t_train, mut t_agg) = (Duration::ZERO, Duration::ZERO);
        let mut agg_ms = Vec::new();
        let mut attack_ms = 0.0;
        let (mut loss_sum, mut loss_n) = (0.0f64, 0usize);
        let mut diverged = None;
        for r in 0..self.rounds_per_epoch {
            let round = epoch as u64 * self.rounds_per_epoch + r;
            let t0 = Instant::now();
            if let Some(stacked) = self.stacked.as_mut() {
                stacked.load_all(&self.models);
                for s in 0..self.exp.local_steps {
                    let step = r as usize * self.exp.local_steps + s;
                    let (xs, ys): (Vec<Tensor>, Vec<Tensor>) = self.nodes.iter_mut().map(|node| node.shard.batch(epoch, step)).unzip();
                    let losses = stacked.sgd_step(&Tensor::stack(&xs, 0), &Tensor::stack(&ys, 0), self.exp.lr, self.exp.weight_decay);
                    loss_sum += losses.iter().map(|&l| l as f64).sum::<f64>();
                    loss_n += losses.len();
                    if s + 1 == self.exp.local_steps {
                        for ((node, x), y) in self.nodes.iter().zip(xs).zip(ys) {
                            *node.batch.lock().expect("batch lock") = Some((x, y));
                        }
                    }
                }
                stacked.store_all(&mut self.local);
            } else {
                for (row, node) in self.nodes.iter_mut().enumerate() {
                    for s in 0..self.exp.local_steps {
                        let step = r as usize * self.exp.local_steps + s;
                        let (x, y) = node.shard.batch(epoch, step);
                        let loss = node.net.sgd_step(&x, &y, self.exp.lr, self.exp.weight_decay);
                        loss_sum += loss as f64;
                        loss_n += 1;
                        if s + 1 == self.exp.local_steps {
                            *node.batch.lock().expect("batch lock") = Some((x, y));
                        }
                    }
                    node.net.store(&mut self.local[row * DIM..(row + 1) * DIM]);
                }
            }
            t_train += t0.elapsed();
            if let Some(row) = self.local.chunks_exact(DIM).position(|m| m.iter().any(|x| !x.is_finite())) {
                diverged = Some(DivergedAt { epoch: epoch + 1, round, node: self.nodes[row].id });
                break;
            }
            let t1 = Instant::now();
            let crafted = self.craft(epoch, round)?;
            attack_ms += t1.elapsed().as_secs_f64() * 1e3;
            self.aggregate(epoch, round, crafted.as_ref(), &mut agg_ms)?;
            t_agg += t1.elapsed();
        }
        let t2 = Instant::now();
        let evaluate = diverged.is_some() || (epoch + 1).is_multiple_of(self.exp.eval_every) || epoch + 1 == self.exp.epochs;
        let accuracies: Vec<f64> = if evaluate { self.evaluate() } else { Vec::new() };
        let t_eval = t2.elapsed();
        let stat = |f: fn(f64, f64) -> f64| accuracies.iter().copied().reduce(f);
        let (accuracy_min, accuracy_max) = (stat(f64::min), stat(f64::max));
        // `position`, not `max_by`: the first match keeps "lowest node id on ties".
        let node_holding = |value: Option<f64>| value.and_then(|v| accuracies.iter().position(|&a| a == v)).map(|row| self.nodes[row].id);
        let rounds_done = match &diverged {
            Some(d) => d.round,
            None => (epoch as u64 + 1) * self.rounds_per_epoch,
        };
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            round: rounds_done,
            accuracy_mean: (!accuracies.is_empty()).then(|| accuracies.iter().sum::<f64>() / accuracies.len() as f64),
            accuracy_min,
            accuracy_max,
            weakest_node: node_holding(accuracy_min),
            strongest_node: node_holding(accuracy_max),
            consensus_error: consensus_error(&self.models, DIM),
            train_loss: finite(loss_sum / loss_n.max(1) as f64),
            agg_ms_median: quantile(&mut agg_ms, 0.5),
            agg_ms_p95: quantile(&mut agg_ms, 0.95),
            attack_ms_total: attack_ms,
            time_train_s: t_train.as_secs_f64(),
            time_aggregate_s: t_agg.as_secs_f64(),
            time_eval_s: t_eval.as_secs_f64(),
            // Fields are evaluated in order: this one covers the consensus error above.
            time_epoch_s: Some(epoch_started.elapsed().as_secs_f64()),
            train_samples_per_s: (loss_n * self.exp.batch_size) as f64 / t_train.as_secs_f64().max(1e-9),
            diverged: diverged.is_some(),
        };
        Ok((metrics, diverged))
    }

    /// What the Byzantine nodes send this round (`None` without an attack).
    fn craft(&mut self, epoch: u32, round: u64) -> Result<Option<(SendMode, Vec<f32>, AttackContext)>> {
        let Some(attack) = self.attack.as_mut() else { return Ok(None) };
        let regular: Vec<u32> = self.nodes.iter().map(|n| n.id).collect();
        let ctx = AttackContext {
            round,
            epoch,
            nodes: self.exp.nodes as u32,
            byzantine: self
                .topology
                .byzantine_ids()
                .into_iter()
                .map(|b| ByzantineNode {
                    id: b,
                    honest_neighbors: self.topology.neighbors[b as usize]
                        .iter()
                        .copied()
                        .filter(|&j| !self.byzantine[j as usize])
                        .collect(),
                })
                .collect(),
            regular,
            lr: self.exp.lr as f32,
            dim: DIM as u32,
            seed: mix(self.exp.seed, 8, round),
        };
        let crafted = attack.craft(&ctx, &self.local)?;
        Ok(Some((crafted.mode, crafted.vectors, ctx)))
    }

    /// Every regular node's defense call; the new models replace `models`. The rows are
    /// split into contiguous ranges, one per worker thread with its own instance and
    /// buffer; every call sees exactly what it would see in sequence, so results do not
    /// depend on the number of workers. The fault of the lowest row is reported.
    fn aggregate(
        &mut self,
        epoch: u32,
        round: u64,
        crafted: Option<&(SendMode, Vec<f32>, AttackContext)>,
        agg_ms: &mut Vec<f64>,
    ) -> Result<()> {
        let inputs =
            RoundInputs { exp: self.exp, topology: &self.topology, row_of: &self.row_of, local: &self.local, crafted, epoch, round };
        let rows = self.nodes.len();
        let workers = self.received.len();
        let per_worker = rows.div_ceil(workers).max(1);
        let mut defenses: Vec<WorkerDefense> = match &mut self.defenses {
            Defenses::Shared(list) => list.iter_mut().map(WorkerDefense::Shared).collect(),
            Defenses::PerNode(list) => list.chunks_mut(per_worker).map(WorkerDefense::PerNode).collect(),
        };
        let jobs = self
            .nodes
            .chunks_mut(per_worker)
            .zip(self.models.chunks_mut(per_worker * DIM))
            .zip(defenses.drain(..))
            .zip(self.received.iter_mut())
            .enumerate()
            .map(|(w, (((nodes, models), defense), received))| (w * per_worker, nodes, models, defense, received));
        let outcomes: Vec<WorkerOutcome> = if workers == 1 || rows <= per_worker {
            jobs.map(|(first, nodes, models, defense, received)| aggregate_rows(&inputs, first, nodes, models, defense, received)).collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = jobs
                    .map(|(first, nodes, models, defense, received)| {
                        let inputs = &inputs;
                        scope.spawn(move || aggregate_rows(inputs, first, nodes, models, defense, received))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
            })
        };
        let mut first_fault: Option<(usize, anyhow::Error)> = None;
        for (times, fault) in outcomes {
            agg_ms.extend(times);
            if let Some((row, e)) = fault {
                if first_fault.as_ref().is_none_or(|(r, _)| row < *r) {
                    first_fault = Some((row, e));
                }
            }
        }
        match first_fault {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Test accuracy of every regular node's current model, one model at a time on all
    /// intra-op threads. Splitting the models over worker threads with one libtorch thread
    /// each was measured no faster inside a run (10.3 s against 9.7 s for 40 models on
    /// 2 cores), so the simple path stays.
    fn evaluate(&mut self) -> Vec<f64> {
        let n = self.test.len().max(1) as f64;
        self.nodes.iter().map(|node| node.net.correct(&self.test.images, &self.test.labels, byzhost_train::EVAL_CHUNK) as f64 / n).collect()
    }
}

/// The defense calls of rows `first_row ..` (`nodes` and `models` are those rows): fills
/// `received` with each node's incoming models, calls the defense, and installs the result.
/// Stops at the first fault.
fn aggregate_rows(
    inputs: &RoundInputs,
    first_row: usize,
    nodes: &mut [RegularNode],
    models: &mut [f32],
    mut defense: WorkerDefense,
    received: &mut [f32],
) -> WorkerOutcome {
    let mut times = Vec::with_capacity(nodes.len());
    for (i, (node, model)) in nodes.iter_mut().zip(models.chunks_exact_mut(DIM)).enumerate() {
        let id = node.id;
        let mut neighbors = Vec::new();
        let mut filled = 0;
        for &j in &inputs.topology.neighbors[id as usize] {
            let src: &[f32] = match inputs.row_of[j as usize] {
                Some(jr) => &inputs.local[jr * DIM..(jr + 1) * DIM],
                None => match inputs.crafted {
                    // Without an attack, Byzantine nodes are silent.
                    None => continue,
                    Some((mode, vectors, ctx)) => {
                        let b = ctx.byzantine.iter().position(|b| b.id == j).expect("every Byzantine node is in the context");
                        let msg = match mode {
                            SendMode::Broadcast => b,
                            SendMode::PerReceiver => {
                                let before: usize = ctx.byzantine[..b].iter().map(|x| x.honest_neighbors.len()).sum();
                                before + ctx.byzantine[b].honest_neighbors.iter().position(|&r| r == id).expect("receiver is a neighbour")
                            }
                        };
                        &vectors[msg * DIM..(msg + 1) * DIM]
                    }
                },
            };
            received[filled * DIM..(filled + 1) * DIM].copy_from_slice(src);
            filled += 1;
            neighbors.push(j);
        }
        let ctx = Context {
            round: inputs.round,
            epoch: inputs.epoch,
            node: id,
            neighbor_degrees: neighbors.iter().map(|&j| inputs.topology.degree(j as usize) as u32).collect(),
            neighbors,
            lr: inputs.exp.lr as f32,
            dim: DIM as u32,
            seed: mix(inputs.exp.seed, 9, (inputs.round << 20) ^ id as u64),
        };
        let row = first_row + i;
        let t = Instant::now();
        let local = &inputs.local[row * DIM..(row + 1) * DIM];
        let out = match &mut defense {
            WorkerDefense::PerNode(list) => list[i].aggregate(&ctx, model, local, &received[..filled * DIM]),
            WorkerDefense::Shared(inst) => {
                let mine = node.oracle.take().expect("the node holds its oracle between calls");
                let parked = inst.swap_oracle(mine);
                let out = inst.aggregate(&ctx, model, local, &received[..filled * DIM]);
                node.oracle = Some(inst.swap_oracle(parked));
                out
            }
        };
        match out {
            Ok(out) => {
                times.push(t.elapsed().as_secs_f64() * 1e3);
                model.copy_from_slice(&out);
                node.net.load(&out);
            }
            Err(e) => return (times, Some((row, e.into()))),
        }
    }
    (times, None)
}

/// Checks that `dir` may hold a new run (or, with `resume`, an interrupted one) and that
/// no other process is writing it.
pub fn check_out_dir(dir: &Path, resume: bool) -> Result<()> {
    if let Some(holder) = super::lock::holder(dir) {
        bail!("{}", super::lock::busy_message(dir, holder));
    }
    check_out_contents(dir, resume)
}

/// The part of [`check_out_dir`] that reads what `dir` holds, for a process that holds its
/// lock (and so would see itself as the other writer).
pub fn check_out_contents(dir: &Path, resume: bool) -> Result<()> {
    if resume {
        if !dir.join("config.toml").is_file() {
            bail!("--resume: {} holds no run (config.toml is missing)", dir.display());
        }
    } else if dir.join("metrics.jsonl").exists() {
        bail!("--out {} already holds a run; pass --resume to continue it or choose another directory", dir.display());
    }
    Ok(())
}
