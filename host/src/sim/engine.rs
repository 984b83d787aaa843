//! The rounds of Algorithm 1 ("gossip after local update"), in stages: local SGD on every
//! regular node ([`Trainer`]), the attack's messages, each node's defense
//! ([`super::defenses`]), then evaluation — with metrics, a checkpoint and a summary per
//! epoch handed to the record, and divergence and policy faults recorded as results.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use byzhost_train::data::DataSplit;
use byzhost_train::tensors::{Samples, Shard};
use byzhost_train::{BatchLoss, Steps, Trainer, DIM};

use super::defenses::{self, AttackRound, DefensePool, RoundInputs};
use super::graph::{self, GraphSpec, Topology};
use super::metrics::{consensus_error, finite, quantile};
use super::progress::Progress;
use super::seeds::{seed_for, Stream};
use crate::policy::{parse_params, AttackContext, ByzantineNode};
use crate::record::checkpoint::Checkpoint;
use crate::record::{DivergedAt, EpochMetrics, RunDir, Status, Summary};
use crate::sandbox::{AttackInstance, LoadedPolicy, LossOracle, Sandbox};
use crate::settings::{self, Experiment, OnDivergence, TrainPath};

/// A node's [`BatchLoss`] behind the sandbox's `local-data` import.
struct NodeLoss(BatchLoss);

impl LossOracle for NodeLoss {
    fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String> {
        self.0.losses(candidates, count)
    }
}

/// Everything a run needs, built and checked before the first step.
pub struct Simulation<'a> {
    exp: &'a Experiment,
    graph_spec: GraphSpec,
    topology: Topology,
    byzantine: Vec<bool>,
    /// Ids of the regular nodes, in row order.
    ids: Vec<u32>,
    /// Row of each node id in the model matrices (regular nodes only).
    row_of: Vec<Option<usize>>,
    trainer: Trainer,
    defenses: DefensePool,
    /// Each node's loss oracle while shared defense instances are not using it.
    oracles: Vec<Option<Box<dyn LossOracle>>>,
    attack: Option<AttackInstance>,
    test: Samples,
    rounds_per_epoch: u64,
    /// x_i^t of every regular node, row after row.
    models: Vec<f32>,
    /// x_i^{t+1} after local training, row after row (what regular nodes broadcast).
    local: Vec<f32>,
    /// One buffer per aggregation worker where a 0.1.0 defense's received models are laid
    /// end to end, grown on first use and reused (a 0.2.0 defense is lent them in place).
    received: Vec<Vec<f32>>,
    graph_warnings: Vec<String>,
}

/// What an epoch's rounds add up to.
#[derive(Default)]
struct EpochTally {
    train: Duration,
    aggregate: Duration,
    agg_ms: Vec<f64>,
    attack_ms: f64,
    loss_sum: f64,
    loss_steps: usize,
    diverged: Option<DivergedAt>,
}

impl<'a> Simulation<'a> {
    pub fn new(exp: &'a Experiment, sandbox: &Sandbox, defense: &LoadedPolicy, attack: Option<&LoadedPolicy>) -> Result<Self> {
        let device = exp.device.torch()?;
        let data = load_data(exp)?;
        let rounds_per_epoch = rounds_per_epoch(exp, data.train.len())?;
        let byzantine = graph::choose_byzantine(exp.nodes, exp.byzantine, seed_for(exp.seed, Stream::ByzantineSet, 0));
        let graph_spec = GraphSpec::of(&exp.topology, exp.edge_prob);
        let (topology, graph_warnings) = graph::build(&graph_spec, byzantine.clone(), seed_for(exp.seed, Stream::Graph, 0))?;
        let ids = topology.regular();
        let mut row_of = vec![None; exp.nodes];
        for (row, &id) in ids.iter().enumerate() {
            row_of[id as usize] = Some(row);
        }
        let stacked = match exp.train_path {
            TrainPath::Stacked => true,
            TrainPath::PerNode => false,
            TrainPath::Auto => device != tch::Device::Cpu,
        };
        let mut trainer = Trainer::new(shards(exp, &data, &ids, device)?, stacked, device);
        let models = byzhost_train::initial_params(seed_for(exp.seed, Stream::InitialModel, 0)).repeat(ids.len());
        trainer.set_models(&models);
        let mut oracles: Vec<Option<Box<dyn LossOracle>>> =
            (0..ids.len()).map(|row| Some(Box::new(NodeLoss(trainer.batch_loss(row))) as Box<dyn LossOracle>)).collect();
        let workers = match exp.agg_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            t => t,
        }
        .clamp(1, ids.len().max(1));
        let params = parse_params(&defense.info.params, &exp.defense_param).map_err(anyhow::Error::msg).context("--defense-param")?;
        let defenses = DefensePool::new(sandbox, defense, &params, exp.seed, &ids, &mut oracles, workers)?;
        let test_images = data.test.len().min(if exp.eval_samples == 0 { usize::MAX } else { exp.eval_samples });
        let test_idx: Vec<usize> = (0..test_images).collect();
        Ok(Simulation {
            exp,
            graph_spec,
            topology,
            byzantine,
            row_of,
            trainer,
            defenses,
            oracles,
            attack: attack_instance(exp, sandbox, attack)?,
            test: Samples::from_dataset(&data.test, Some(&test_idx), device),
            rounds_per_epoch,
            local: vec![0.0; models.len()],
            models,
            received: vec![Vec::new(); workers],
            graph_warnings,
            ids,
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
        self.trainer.set_models(&self.models);
        Ok(())
    }

    /// Runs every remaining epoch, writing metrics, checkpoints and summaries into `dir`.
    pub fn run(&mut self, dir: &RunDir, progress: &mut Progress) -> Result<Summary> {
        let started = Instant::now();
        let resume = dir.resume_point()?;
        if let Some(ckpt) = &resume.checkpoint {
            self.restore(ckpt)?;
        }
        let first_epoch = resume.epochs_done();
        let mut history = resume.history;
        // A resumed run's wall time starts with what its earlier processes spent on the
        // epochs it keeps, so a run cut across sessions does not report only its last part.
        let earlier_epochs_s: f64 =
            history.iter().map(|m| m.time_epoch_s.unwrap_or(m.time_train_s + m.time_aggregate_s + m.time_eval_s)).sum();
        let summarize = |history: &[EpochMetrics], status| {
            let mut summary = Summary::from_epochs(history, self.exp.target_accuracy);
            summary.status = status;
            summary.wall_time_s = earlier_epochs_s + started.elapsed().as_secs_f64();
            summary
        };
        let mut outcome: Result<()> = Ok(());
        let mut diverged_at = None;
        for epoch in first_epoch..self.exp.epochs {
            let (metrics, diverged) = match self.epoch(epoch) {
                Ok(done) => done,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            dir.append_metrics(&metrics)?;
            progress.epoch(&metrics, self.exp.epochs);
            history.push(metrics);
            if diverged.is_some() {
                diverged_at = diverged;
                if self.exp.on_divergence == OnDivergence::Stop {
                    break;
                }
            }
            dir.save_checkpoint(&Checkpoint { epochs_completed: epoch + 1, models: self.models.clone() })?;
            // A run killed from outside (out of memory, a signal) still leaves a readable
            // record of every epoch so far, which --resume continues.
            dir.write_summary(&summarize(&history, Status::Running))?;
        }
        let mut summary = summarize(&history, Status::Completed);
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
        if self.exp.topology == settings::Topology::TimeVarying && epoch > 0 {
            self.redraw_graph(epoch)?;
        }
        let mut tally = EpochTally::default();
        for r in 0..self.rounds_per_epoch {
            let round = epoch as u64 * self.rounds_per_epoch + r;
            self.train_round(epoch, r, &mut tally);
            if let Some(row) = self.local.chunks_exact(DIM).position(|m| m.iter().any(|x| !x.is_finite())) {
                tally.diverged = Some(DivergedAt { epoch: epoch + 1, round, node: self.ids[row] });
                break;
            }
            let started = Instant::now();
            let attack = self.craft(epoch, round)?;
            tally.attack_ms += started.elapsed().as_secs_f64() * 1e3;
            self.aggregate(epoch, round, attack.as_ref(), &mut tally)?;
            tally.aggregate += started.elapsed();
        }
        let evaluated = Instant::now();
        let evaluate = tally.diverged.is_some() || (epoch + 1).is_multiple_of(self.exp.eval_every) || epoch + 1 == self.exp.epochs;
        let accuracies = if evaluate { self.trainer.accuracies(&self.test) } else { Vec::new() };
        let eval_time = evaluated.elapsed();
        let diverged = tally.diverged.clone();
        Ok((self.epoch_metrics(epoch, tally, &accuracies, eval_time, epoch_started), diverged))
    }

    /// A time-varying graph: a new Erdős–Rényi draw for `epoch`, same Byzantine set.
    fn redraw_graph(&mut self, epoch: u32) -> Result<()> {
        let seed = seed_for(self.exp.seed, Stream::Graph, epoch as u64);
        (self.topology, _) = graph::build(&self.graph_spec, self.byzantine.clone(), seed)?;
        Ok(())
    }

    /// Local training of round `r` of `epoch`: x^{t+1} into `local`.
    fn train_round(&mut self, epoch: u32, r: u64, tally: &mut EpochTally) {
        let started = Instant::now();
        let steps = Steps { per_round: self.exp.local_steps, lr: self.exp.lr, weight_decay: self.exp.weight_decay };
        let losses = self.trainer.round(epoch, r as usize, &steps, &self.models, &mut self.local);
        tally.loss_sum += losses.sum;
        tally.loss_steps += losses.steps;
        tally.train += started.elapsed();
    }

    /// What the Byzantine nodes send this round (`None` without an attack).
    fn craft(&mut self, epoch: u32, round: u64) -> Result<Option<AttackRound>> {
        let Some(attack) = self.attack.as_mut() else { return Ok(None) };
        let honest_neighbors =
            |b: u32| self.topology.neighbors[b as usize].iter().copied().filter(|&j| !self.byzantine[j as usize]).collect();
        let ctx = AttackContext {
            round,
            epoch,
            nodes: self.exp.nodes as u32,
            byzantine: self
                .topology
                .byzantine_ids()
                .into_iter()
                .map(|b| ByzantineNode { id: b, honest_neighbors: honest_neighbors(b) })
                .collect(),
            regular: self.ids.clone(),
            lr: self.exp.lr as f32,
            dim: DIM as u32,
            seed: seed_for(self.exp.seed, Stream::AttackContext, round),
        };
        let crafted = attack.craft(&ctx, &self.local)?;
        Ok(Some(AttackRound { crafted, ctx }))
    }

    /// Every regular node's defense call; the new models replace `models`.
    fn aggregate(&mut self, epoch: u32, round: u64, attack: Option<&AttackRound>, tally: &mut EpochTally) -> Result<()> {
        let inputs = RoundInputs {
            topology: &self.topology,
            row_of: &self.row_of,
            ids: &self.ids,
            local: &self.local,
            attack,
            epoch,
            round,
            lr: self.exp.lr as f32,
            run_seed: self.exp.seed,
        };
        let times = defenses::aggregate(&mut self.defenses, &inputs, &mut self.models, &mut self.oracles, &mut self.received)?;
        tally.agg_ms.extend(times);
        self.trainer.set_models(&self.models);
        Ok(())
    }

    /// The epoch's line of `metrics.jsonl`.
    fn epoch_metrics(&self, epoch: u32, mut tally: EpochTally, accuracies: &[f64], eval_time: Duration, started: Instant) -> EpochMetrics {
        let stat = |f: fn(f64, f64) -> f64| accuracies.iter().copied().reduce(f);
        let (accuracy_min, accuracy_max) = (stat(f64::min), stat(f64::max));
        // `position`, not `max_by`: the first match keeps "lowest node id on ties".
        let node_holding = |value: Option<f64>| value.and_then(|v| accuracies.iter().position(|&a| a == v)).map(|row| self.ids[row]);
        let rounds_done = match &tally.diverged {
            Some(d) => d.round,
            None => (epoch as u64 + 1) * self.rounds_per_epoch,
        };
        EpochMetrics {
            epoch: epoch + 1,
            round: rounds_done,
            accuracy_mean: (!accuracies.is_empty()).then(|| accuracies.iter().sum::<f64>() / accuracies.len() as f64),
            accuracy_min,
            accuracy_max,
            weakest_node: node_holding(accuracy_min),
            strongest_node: node_holding(accuracy_max),
            consensus_error: consensus_error(&self.models, DIM),
            train_loss: finite(tally.loss_sum / tally.loss_steps.max(1) as f64),
            agg_ms_median: quantile(&mut tally.agg_ms, 0.5),
            agg_ms_p95: quantile(&mut tally.agg_ms, 0.95),
            attack_ms_total: tally.attack_ms,
            time_train_s: tally.train.as_secs_f64(),
            time_aggregate_s: tally.aggregate.as_secs_f64(),
            time_eval_s: eval_time.as_secs_f64(),
            // Fields are evaluated in order: this one covers the consensus error above.
            time_epoch_s: Some(started.elapsed().as_secs_f64()),
            train_samples_per_s: (tally.loss_steps * self.exp.batch_size) as f64 / tally.train.as_secs_f64().max(1e-9),
            diverged: tally.diverged.is_some(),
        }
    }
}

fn load_data(exp: &Experiment) -> Result<DataSplit> {
    match &exp.data {
        Some(dir) => byzhost_train::data::load_dir(dir).with_context(|| format!("--data {}", dir.display())),
        None => Ok(byzhost_train::data::embedded()),
    }
}

/// Rounds per epoch: a node's shard in mini-batches, τ of them per round.
fn rounds_per_epoch(exp: &Experiment, train_images: usize) -> Result<u64> {
    let per_node = train_images / exp.nodes;
    let steps_per_epoch = per_node / exp.batch_size;
    if steps_per_epoch == 0 {
        bail!(
            "--batch-size {} is larger than a node's shard: {train_images} training images over {} nodes leave {per_node} each",
            exp.batch_size,
            exp.nodes
        );
    }
    Ok(steps_per_epoch.div_ceil(exp.local_steps) as u64)
}

/// The training shard of every regular node `ids`, in row order.
fn shards(exp: &Experiment, data: &DataSplit, ids: &[u32], device: tch::Device) -> Result<Vec<Shard>> {
    let split =
        byzhost_train::partition::split(&data.train.labels, exp.nodes, exp.partition.into(), seed_for(exp.seed, Stream::Partition, 0));
    ids.iter()
        .map(|&id| {
            let indices = &split[id as usize];
            if indices.len() < exp.batch_size {
                bail!(
                    "node {id} holds {} training images, fewer than --batch-size {} (--partition {})",
                    indices.len(),
                    exp.batch_size,
                    exp.partition
                );
            }
            let samples = Samples::from_dataset(&data.train, Some(indices), device);
            Ok(Shard::new(samples, exp.batch_size, seed_for(exp.seed, Stream::BatchOrder, id as u64)))
        })
        .collect()
}

/// The attack's instance, configured; `None` without an attack or without Byzantine nodes.
fn attack_instance(exp: &Experiment, sandbox: &Sandbox, attack: Option<&LoadedPolicy>) -> Result<Option<AttackInstance>> {
    let Some(policy) = attack.filter(|_| exp.byzantine > 0) else { return Ok(None) };
    let params = parse_params(&policy.info.params, &exp.attack_param).map_err(anyhow::Error::msg).context("--attack-param")?;
    let mut inst = AttackInstance::new(sandbox, policy, seed_for(exp.seed, Stream::AttackInstance, 0))?;
    inst.configure(&params).context("--attack-param")?;
    Ok(Some(inst))
}
