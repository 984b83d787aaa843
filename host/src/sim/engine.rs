//! The rounds of Algorithm 1 ("gossip after local update"), in stages: local SGD on every
//! regular node ([`Trainer`]), the attack's messages, each node's defense
//! ([`super::defenses`]), then evaluation — with metrics, a checkpoint and a summary per
//! epoch handed to the record, and divergence and policy faults recorded as results.
//!
//! Under MPI ([`crate::ranks`]) each rank runs these stages for its own block of regular
//! nodes and the ranks meet at [`super::exchange`]: every rank holds every trained model
//! before any defense call, and rank 0 adds up every per-node number in node order, so the
//! records are those of one process, bit for bit, whatever the number of ranks.

use std::ops::Range;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use byzhost_train::data::DataSplit;
use byzhost_train::tensors::{Samples, Shard};
use byzhost_train::{BatchLoss, Steps, Trainer, DIM};

use super::defenses::{self, DefensePool, RoundInputs};
use super::exchange::{self, Messages};
use super::graph::{self, GraphSpec, Topology};
use super::metrics::{consensus_error, finite, quantile};
use super::progress::Progress;
use super::seeds::{seed_for, Stream};
use crate::policy::{parse_params, AttackContext, ByzantineNode};
use crate::ranks::{Agreed, Ranks};
use crate::record::checkpoint::Checkpoint;
use crate::record::{DivergedAt, EpochMetrics, Exchange, RunDir, Status, Summary};
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
    /// This process's place in the job, and the rows it trains, evaluates and aggregates.
    ranks: &'a Ranks,
    own: Range<usize>,
    trainer: Trainer,
    defenses: DefensePool,
    /// Each own node's loss oracle while shared defense instances are not using it.
    oracles: Vec<Option<Box<dyn LossOracle>>>,
    /// The attack, on rank 0 (it crafts once for every rank).
    attack: Option<AttackInstance>,
    /// Whether Byzantine nodes send anything (an attack and at least one Byzantine node).
    attacked: bool,
    /// Bytes of attack messages a rank other than 0 received (on average, known on rank 0),
    /// and over how many rounds.
    forwarded: (u64, u64),
    test: Samples,
    rounds_per_epoch: u64,
    /// x_i^t of the own regular nodes, row after row.
    models: Vec<f32>,
    /// x_i^{t+1} after local training of every regular node, row after row (what regular
    /// nodes broadcast): the own rows trained here, the others received.
    local: Vec<f32>,
    /// The own rows of `local` as they are sent to the other ranks (reused every round).
    send: Vec<f32>,
    /// Every regular node's x_i^t, on rank 0 at the end of an epoch (for its statistics
    /// and checkpoint).
    all_models: Vec<f32>,
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
    /// Time spent in exchanges between ranks (included in neither phase above).
    exchange: Duration,
    agg_ms: Vec<f64>,
    attack_ms: f64,
    /// The own nodes' training losses (node after node, τ each), round after round.
    losses: Vec<f32>,
    loss_rounds: usize,
    diverged: Option<DivergedAt>,
}

impl<'a> Simulation<'a> {
    /// The simulation of this process's share of the nodes (all of them without MPI).
    pub fn new(
        exp: &'a Experiment,
        sandbox: &Sandbox,
        defense: &LoadedPolicy,
        attack: Option<&LoadedPolicy>,
        ranks: &'a Ranks,
    ) -> Result<Self> {
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
        let own = ranks.block(ids.len());
        let own_ids = &ids[own.clone()];
        let mut trainer = Trainer::new(shards(exp, &data, own_ids, device)?, stacked, device);
        let models = byzhost_train::initial_params(seed_for(exp.seed, Stream::InitialModel, 0)).repeat(own.len());
        trainer.set_models(&models);
        let mut oracles: Vec<Option<Box<dyn LossOracle>>> =
            (0..own.len()).map(|row| Some(Box::new(NodeLoss(trainer.batch_loss(row))) as Box<dyn LossOracle>)).collect();
        let workers = match exp.agg_threads {
            0 => crate::ranks::cores_per_rank(),
            t => t,
        }
        .clamp(1, own.len().max(1));
        let params = parse_params(&defense.info.params, &exp.defense_param).map_err(anyhow::Error::msg).context("--defense-param")?;
        let defenses = DefensePool::new(sandbox, defense, &params, exp.seed, own_ids, &mut oracles, workers)?;
        // Every rank configures the attack, so a bad parameter is refused everywhere alike;
        // only rank 0 keeps it.
        let attack = attack_instance(exp, sandbox, attack)?;
        let attacked = attack.is_some();
        let attack = attack.filter(|_| ranks.is_root());
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
            attacked,
            forwarded: (0, 0),
            attack,
            test: Samples::from_dataset(&data.test, Some(&test_idx), device),
            rounds_per_epoch,
            local: vec![0.0; ids.len() * DIM],
            send: Vec::new(),
            all_models: Vec::new(),
            models,
            ranks,
            own,
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

    /// Where the run continues: rank 0 reads the record in `dir` and every rank restores
    /// its rows of the checkpoint (whatever number of ranks wrote it). Returns the first
    /// epoch to train and, on rank 0, the recorded epochs.
    fn resume(&mut self, dir: Option<&RunDir>) -> Result<(u32, Vec<EpochMetrics>)> {
        // An unreadable record fails on every rank alike.
        let point = self.ranks.agree(dir.map(|d| self.resume_point(d)).transpose())?;
        let (first_epoch, history, parts) = point.unwrap_or_default();
        let mut first = vec![first_epoch as u64];
        self.ranks.broadcast(&mut first);
        let mine = self.ranks.scatter_from_root(parts);
        if !mine.is_empty() {
            self.models.copy_from_slice(&mine);
            self.trainer.set_models(&self.models);
        }
        Ok((first[0] as u32, history))
    }

    /// What the record in `dir` continues from: the epochs done, the recorded epochs and the
    /// checkpoint's models split into every rank's rows (none without a checkpoint).
    fn resume_point(&self, dir: &RunDir) -> Result<(u32, Vec<EpochMetrics>, Vec<Vec<f32>>)> {
        let point = dir.resume_point()?;
        let parts = match &point.checkpoint {
            Some(ckpt) => self.checkpoint_rows(ckpt)?,
            None => Vec::new(),
        };
        Ok((point.epochs_done(), point.history, parts))
    }

    /// A checkpoint's models split into every rank's rows.
    fn checkpoint_rows(&self, ckpt: &Checkpoint) -> Result<Vec<Vec<f32>>> {
        if ckpt.models.len() != self.local.len() {
            bail!("the checkpoint holds {} values, this run needs {}", ckpt.models.len(), self.local.len());
        }
        Ok(self.ranks.blocks(self.ids.len()).iter().map(|b| ckpt.models[b.start * DIM..b.end * DIM].to_vec()).collect())
    }

    /// Runs every remaining epoch. Rank 0 (the only process without MPI) writes metrics,
    /// checkpoints and summaries into `dir` and returns the summary; other ranks pass no
    /// directory and get `None`.
    pub fn run(&mut self, dir: Option<&RunDir>, progress: &mut Progress) -> Result<Option<Summary>> {
        let started = Instant::now();
        let (first_epoch, mut history) = self.resume(dir)?;
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
            let stop = diverged.is_some() && self.exp.on_divergence == OnDivergence::Stop;
            if diverged.is_some() {
                diverged_at = diverged;
            }
            if let (Some(dir), Some(metrics)) = (dir, metrics) {
                dir.append_metrics(&metrics)?;
                progress.epoch(&metrics, self.exp.epochs);
                history.push(metrics);
                if !stop {
                    dir.save_checkpoint(&Checkpoint { epochs_completed: epoch + 1, models: std::mem::take(&mut self.all_models) })?;
                    // A run killed from outside (out of memory, a signal) still leaves a
                    // readable record of every epoch so far, which --resume continues.
                    dir.write_summary(&summarize(&history, Status::Running))?;
                }
            }
            if stop {
                break;
            }
        }
        let peak_rss = self.ranks.gather_to_root(&[crate::record::machine::peak_rss_mib().unwrap_or(f64::NAN)]);
        let Some(dir) = dir else { return outcome.map(|_| None) };
        let mut summary = summarize(&history, Status::Completed);
        if self.ranks.size() > 1 {
            summary.peak_rss_mib_ranks = peak_rss;
            summary.exchange = Some(self.exchange_volume());
        }
        if let Some(d) = diverged_at {
            summary.status = Status::Diverged;
            summary.diverged_at = Some(d);
        }
        if let Err(e) = &outcome {
            summary.status = Status::PolicyFault;
            summary.error = Some(format!("{e:#}"));
        }
        dir.write_summary(&summary)?;
        outcome.map(|_| Some(summary))
    }

    /// One epoch of rounds, then evaluation. Returns the metrics (on rank 0) and, if
    /// training produced non-finite weights, where.
    fn epoch(&mut self, epoch: u32) -> Result<(Option<EpochMetrics>, Option<DivergedAt>)> {
        let epoch_started = Instant::now();
        if self.exp.topology == settings::Topology::TimeVarying && epoch > 0 {
            // The same draw on every rank: an impossible one fails on every rank alike.
            self.redraw_graph(epoch).map_err(|e| anyhow::Error::new(Agreed(e)))?;
        }
        let mut tally = EpochTally::default();
        for r in 0..self.rounds_per_epoch {
            let round = epoch as u64 * self.rounds_per_epoch + r;
            self.train_round(epoch, r, &mut tally);
            let (exchanged, blocks) = (Instant::now(), self.blocks());
            self.ranks.all_gather_rows(&mut self.local, &mut self.send, DIM, &blocks);
            tally.exchange += exchanged.elapsed();
            if let Some(row) = self.local.chunks_exact(DIM).position(|m| m.iter().any(|x| !x.is_finite())) {
                tally.diverged = Some(DivergedAt { epoch: epoch + 1, round, node: self.ids[row] });
                break;
            }
            // The attack's and the defenses' times leave out the exchanges inside them.
            let (started, exchanged_before) = (Instant::now(), tally.exchange);
            let attack = self.craft(epoch, round, &mut tally)?;
            tally.attack_ms += started.elapsed().saturating_sub(tally.exchange - exchanged_before).as_secs_f64() * 1e3;
            self.aggregate(epoch, round, attack.as_ref(), &mut tally)?;
            tally.aggregate += started.elapsed().saturating_sub(tally.exchange - exchanged_before);
        }
        let evaluated = Instant::now();
        let evaluate = tally.diverged.is_some() || (epoch + 1).is_multiple_of(self.exp.eval_every) || epoch + 1 == self.exp.epochs;
        let accuracies = if evaluate { self.trainer.accuracies(&self.test) } else { Vec::new() };
        let eval_time = evaluated.elapsed();
        let diverged = tally.diverged.clone();
        let gathered_at = Instant::now();
        let gathered = self.gather_epoch(&tally, &accuracies);
        tally.exchange += gathered_at.elapsed();
        let metrics = gathered.map(|g| self.epoch_metrics(epoch, tally, g, eval_time, epoch_started));
        Ok((metrics, diverged))
    }

    /// What the ranks exchange each round (for the run's current graph).
    fn exchange_volume(&self) -> Exchange {
        let volume = exchange::exchange_volume(&self.topology, &self.ids, &self.row_of, self.ranks.size());
        Exchange {
            nodes_per_rank: self.blocks().iter().map(|b| b.len()).collect(),
            model_bytes_sent_per_round: volume.iter().map(|v| v.0).collect(),
            model_bytes_needed_per_round: volume.iter().map(|v| v.1).collect(),
            attack_bytes_per_round: self.forwarded.0 as f64 / self.forwarded.1.max(1) as f64,
        }
    }

    /// Every rank's block of rows, in rank order.
    fn blocks(&self) -> Vec<Range<usize>> {
        self.ranks.blocks(self.ids.len())
    }

    /// A time-varying graph: a new Erdős–Rényi draw for `epoch`, same Byzantine set.
    fn redraw_graph(&mut self, epoch: u32) -> Result<()> {
        let seed = seed_for(self.exp.seed, Stream::Graph, epoch as u64);
        (self.topology, _) = graph::build(&self.graph_spec, self.byzantine.clone(), seed)?;
        Ok(())
    }

    /// Local training of round `r` of `epoch`: the own rows of x^{t+1} into `local`.
    fn train_round(&mut self, epoch: u32, r: u64, tally: &mut EpochTally) {
        let started = Instant::now();
        let steps = Steps { per_round: self.exp.local_steps, lr: self.exp.lr, weight_decay: self.exp.weight_decay };
        let own_local = &mut self.local[self.own.start * DIM..self.own.end * DIM];
        let losses = self.trainer.round(epoch, r as usize, &steps, &self.models, own_local);
        tally.losses.extend_from_slice(&losses);
        tally.loss_rounds += 1;
        tally.train += started.elapsed();
    }

    /// What the Byzantine nodes send this round to this rank's nodes (`None` without an
    /// attack): rank 0 crafts, every rank learns whether it succeeded, and rank 0 delivers.
    fn craft(&mut self, epoch: u32, round: u64, tally: &mut EpochTally) -> Result<Option<Messages>> {
        if !self.attacked {
            return Ok(None);
        }
        let ctx = attack_context(self.exp, &self.topology, &self.byzantine, &self.ids, epoch, round);
        let crafted = self.attack.as_mut().map(|attack| attack.craft(&ctx, &self.local)).transpose();
        let exchanged = Instant::now();
        let crafted = self.ranks.agree(crafted.map_err(anyhow::Error::from))?;
        let (messages, forwarded) = exchange::deliver(&self.ranks, crafted, ctx, &self.topology, &self.byzantine, &self.ids);
        self.forwarded = (self.forwarded.0 + forwarded, self.forwarded.1 + 1);
        tally.exchange += exchanged.elapsed();
        Ok(Some(messages))
    }

    /// The defense calls of this rank's nodes; their new models replace `models`. The
    /// ranks agree on the outcome: a fault on any rank ends the round on every rank.
    fn aggregate(&mut self, epoch: u32, round: u64, attack: Option<&Messages>, tally: &mut EpochTally) -> Result<()> {
        let inputs = RoundInputs {
            topology: &self.topology,
            row_of: &self.row_of,
            ids: &self.ids,
            rows: self.own.clone(),
            local: &self.local,
            attack,
            epoch,
            round,
            lr: self.exp.lr as f32,
            run_seed: self.exp.seed,
        };
        let times = defenses::aggregate(&mut self.defenses, &inputs, &mut self.models, &mut self.oracles, &mut self.received);
        let agreed = Instant::now();
        let times = self.ranks.agree(times)?;
        tally.exchange += agreed.elapsed();
        tally.agg_ms.extend(times);
        self.trainer.set_models(&self.models);
        Ok(())
    }

    /// The per-node numbers of the epoch from every rank, on rank 0 in node order (`None`
    /// on other ranks); every model goes into `all_models` there.
    fn gather_epoch(&mut self, tally: &EpochTally, accuracies: &[f64]) -> Option<Gathered> {
        let losses = self.ranks.gather_to_root(&tally.losses);
        let accuracies = self.ranks.gather_to_root(accuracies);
        let agg_ms = self.ranks.gather_to_root(&tally.agg_ms);
        self.all_models = self.ranks.gather_to_root(&self.models);
        if !self.ranks.is_root() {
            return None;
        }
        // Rank r sent its rounds one after another: put each round's nodes back in order.
        let tau = self.exp.local_steps;
        let per_round: Vec<usize> = self.blocks().iter().map(|b| b.len() * tau).collect();
        let mut loss_sum = 0.0;
        let mut round_values = Vec::with_capacity(self.ids.len() * tau);
        for t in 0..tally.loss_rounds {
            round_values.clear();
            let mut rank_start = 0;
            for &len in &per_round {
                round_values.extend_from_slice(&losses[rank_start + t * len..rank_start + (t + 1) * len]);
                rank_start += len * tally.loss_rounds;
            }
            loss_sum += self.trainer.round_loss_sum(&round_values, tau);
        }
        Some(Gathered { loss_sum, loss_steps: losses.len(), accuracies, agg_ms })
    }

    /// The epoch's line of `metrics.jsonl`.
    fn epoch_metrics(&self, epoch: u32, tally: EpochTally, mut g: Gathered, eval_time: Duration, started: Instant) -> EpochMetrics {
        let accuracies = &g.accuracies;
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
            consensus_error: consensus_error(&self.all_models, DIM),
            train_loss: finite(g.loss_sum / g.loss_steps.max(1) as f64),
            agg_ms_median: quantile(&mut g.agg_ms, 0.5),
            agg_ms_p95: quantile(&mut g.agg_ms, 0.95),
            attack_ms_total: tally.attack_ms,
            time_train_s: tally.train.as_secs_f64(),
            time_aggregate_s: tally.aggregate.as_secs_f64(),
            time_eval_s: eval_time.as_secs_f64(),
            time_exchange_s: (self.ranks.size() > 1).then(|| tally.exchange.as_secs_f64()),
            // Fields are evaluated in order: this one covers the consensus error above.
            time_epoch_s: Some(started.elapsed().as_secs_f64()),
            train_samples_per_s: (g.loss_steps * self.exp.batch_size) as f64 / tally.train.as_secs_f64().max(1e-9),
            diverged: tally.diverged.is_some(),
        }
    }
}

/// An epoch's per-node numbers from every rank, on rank 0.
struct Gathered {
    loss_sum: f64,
    loss_steps: usize,
    accuracies: Vec<f64>,
    agg_ms: Vec<f64>,
}

/// What the adversary knows in `round` (the same on every rank).
fn attack_context(exp: &Experiment, topology: &Topology, byzantine: &[bool], ids: &[u32], epoch: u32, round: u64) -> AttackContext {
    let honest_neighbors = |b: u32| topology.neighbors[b as usize].iter().copied().filter(|&j| !byzantine[j as usize]).collect();
    AttackContext {
        round,
        epoch,
        nodes: exp.nodes as u32,
        byzantine: topology.byzantine_ids().into_iter().map(|b| ByzantineNode { id: b, honest_neighbors: honest_neighbors(b) }).collect(),
        regular: ids.to_vec(),
        lr: exp.lr as f32,
        dim: DIM as u32,
        seed: seed_for(exp.seed, Stream::AttackContext, round),
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
