//! The regular nodes' local training, whichever path computes it: one libtorch graph per
//! node (the reference, faster on a small CPU) or all nodes stacked into one graph of
//! grouped convolutions and batched products (the same models within float tolerance,
//! faster on CUDA). Every node keeps its own [`Net`], set by [`Trainer::set_models`] after
//! each aggregation and evaluated by [`Trainer::accuracies`], its batch order, and the batch
//! it trained on last, for [`BatchLoss`] (MOZI's loss of candidate models).

use std::sync::{Arc, Mutex};

use tch::{Device, Tensor};

use crate::tensors::{Samples, Shard};
use crate::{Net, StackedNets, DIM, EVAL_CHUNK};

/// The batch a node trained on last, shared with its [`BatchLoss`].
type SharedBatch = Arc<Mutex<Option<(Tensor, Tensor)>>>;

/// What one round of local training does.
#[derive(Clone, Copy, Debug)]
pub struct Steps {
    /// Local SGD steps per round (τ).
    pub per_round: usize,
    pub lr: f64,
    pub weight_decay: f64,
}

pub struct Trainer {
    nets: Vec<Net>,
    shards: Vec<Shard>,
    last_batches: Vec<SharedBatch>,
    stacked: Option<StackedNets>,
    device: Device,
}

impl Trainer {
    /// One node per shard; `stacked` picks the path.
    pub fn new(shards: Vec<Shard>, stacked: bool, device: Device) -> Trainer {
        let nets = (0..shards.len()).map(|_| Net::new(device)).collect();
        Trainer {
            last_batches: (0..shards.len()).map(|_| Arc::new(Mutex::new(None))).collect(),
            stacked: stacked.then(|| StackedNets::new(shards.len(), device)),
            nets,
            shards,
            device,
        }
    }

    /// The loss of candidate models on the batch node `row` trained on last.
    pub fn batch_loss(&self, row: usize) -> BatchLoss {
        BatchLoss { batch: self.last_batches[row].clone(), net: None, device: self.device }
    }

    /// The losses of one round, as [`Trainer::round`] returns them for every node (node
    /// after node, `per_round` steps each), summed in the order this trainer's path adds
    /// them up (the stacked path sums a step's nodes first), so that a round split over
    /// processes and put back together sums exactly as one process does.
    pub fn round_loss_sum(&self, values: &[f32], per_round: usize) -> f64 {
        let tau = per_round.max(1);
        if self.stacked.is_some() {
            let nodes = values.len() / tau;
            return (0..tau).map(|s| (0..nodes).map(|n| values[n * tau + s] as f64).sum::<f64>()).fold(0.0, |a, b| a + b);
        }
        values.iter().fold(0.0, |sum, &l| sum + l as f64)
    }

    /// Round `round` (counted within `epoch`) of local training; every node leaves its
    /// trained model in its row of `local`. The stacked path starts from the rows of
    /// `models`; the per-node path from each node's net, which holds the same model except
    /// after a round that diverged (then it holds what that round trained).
    pub fn round(&mut self, epoch: u32, round: usize, steps: &Steps, models: &[f32], local: &mut [f32]) -> Vec<f32> {
        let tau = steps.per_round;
        let mut losses = vec![0.0; self.shards.len() * tau];
        let last = tau - 1;
        if let Some(stacked) = self.stacked.as_mut() {
            stacked.load_all(models);
            for s in 0..tau {
                let step = round * tau + s;
                let (xs, ys): (Vec<Tensor>, Vec<Tensor>) = self.shards.iter_mut().map(|shard| shard.batch(epoch, step)).unzip();
                let step_losses = stacked.sgd_step(&Tensor::stack(&xs, 0), &Tensor::stack(&ys, 0), steps.lr, steps.weight_decay);
                for (node, &l) in step_losses.iter().enumerate() {
                    losses[node * tau + s] = l;
                }
                if s == last {
                    for ((batch, x), y) in self.last_batches.iter().zip(xs).zip(ys) {
                        remember(batch, x, y);
                    }
                }
            }
            stacked.store_all(local);
            return losses;
        }
        for (row, (net, shard)) in self.nets.iter_mut().zip(&mut self.shards).enumerate() {
            for s in 0..tau {
                let (x, y) = shard.batch(epoch, round * tau + s);
                losses[row * tau + s] = net.sgd_step(&x, &y, steps.lr, steps.weight_decay);
                if s == last {
                    remember(&self.last_batches[row], x, y);
                }
            }
            net.store(&mut local[row * DIM..(row + 1) * DIM]);
        }
        losses
    }

    /// Sets every node's net to its row of `models` (after aggregation, or a restore).
    pub fn set_models(&mut self, models: &[f32]) {
        for (net, model) in self.nets.iter_mut().zip(models.chunks_exact(DIM)) {
            net.load(model);
        }
    }

    /// Test accuracy of every node's net, one model at a time on all intra-op threads.
    /// Splitting the models over worker threads with one libtorch thread each was measured
    /// no faster inside a run (10.3 s against 9.7 s for 40 models on 2 cores).
    pub fn accuracies(&self, test: &Samples) -> Vec<f64> {
        let n = test.len().max(1) as f64;
        self.nets.iter().map(|net| net.correct(&test.images, &test.labels, EVAL_CHUNK) as f64 / n).collect()
    }
}

fn remember(batch: &SharedBatch, x: Tensor, y: Tensor) {
    *batch.lock().expect("a node's batch lock is never poisoned: nothing panics while holding it") = Some((x, y));
}

/// Evaluates candidate models on a node's latest training batch.
pub struct BatchLoss {
    batch: SharedBatch,
    net: Option<Net>,
    device: Device,
}

impl BatchLoss {
    /// Mean loss of each of `count` candidate models laid out row after row.
    pub fn losses(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String> {
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
