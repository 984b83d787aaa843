//! Seeded, realistic inputs for the conformance properties, and how to describe one as a
//! "minimal failing input".
//!
//! Models are drawn near each other (a shared centre plus small noise), like the models of
//! a gossip round after a few epochs: inputs of this shape exercise a rule's real code path
//! (distance filters keep some rows, cosines are well defined) instead of degenerate ones.
//! Every draw comes from a ChaCha8 stream seeded by the caller, so a failure reproduces.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::policy::{AttackContext, ByzantineNode, Context};
use crate::sandbox::LossOracle;

/// Coordinates of the models' shared centre are uniform in ±`CENTRE_SPREAD`.
const CENTRE_SPREAD: f32 = 0.5;
/// Each model is the centre plus uniform noise in ±`MODEL_NOISE` (a few SGD steps apart).
const MODEL_NOISE: f32 = 0.02;
/// Inputs up to this many values are printed in full in a failure report.
const PRINTABLE_VALUES: usize = 24;

/// Model dimension of the paper's CNN (the size every shipped rule is tuned for).
pub const PAPER_DIM: usize = 80_202;

fn uniform(rng: &mut ChaCha8Rng, spread: f32) -> f32 {
    rng.random_range(-spread..=spread)
}

fn near(rng: &mut ChaCha8Rng, centre: &[f32]) -> Vec<f32> {
    centre.iter().map(|c| c + uniform(rng, MODEL_NOISE)).collect()
}

/// One `aggregate` call: node 0 with neighbours 1..=k.
#[derive(Clone, Debug)]
pub struct DefenseCase {
    pub ctx: Context,
    pub prev: Vec<f32>,
    pub local: Vec<f32>,
    pub received: Vec<f32>,
    seed: u64,
}

impl DefenseCase {
    /// `k` neighbours' models near the node's own, with distinct-looking degrees so that a
    /// rule using them sees realistic values.
    pub fn near(k: usize, dim: usize, round: u64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let centre: Vec<f32> = (0..dim).map(|_| uniform(&mut rng, CENTRE_SPREAD)).collect();
        let prev = near(&mut rng, &centre);
        let local = near(&mut rng, &prev);
        let received = (0..k).flat_map(|_| near(&mut rng, &centre)).collect();
        let degrees = (0..k).map(|_| rng.random_range(k.max(1) as u32..=2 * k.max(1) as u32)).collect();
        Self::assemble(k, dim, round, seed, degrees, prev, local, received)
    }

    /// Every received model, `prev` and `local` equal: the node and its neighbours agree.
    pub fn agreement(k: usize, dim: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x: Vec<f32> = (0..dim).map(|_| uniform(&mut rng, CENTRE_SPREAD)).collect();
        let received = (0..k).flat_map(|_| x.iter().copied()).collect();
        Self::assemble(k, dim, 0, seed, vec![k as u32; k], x.clone(), x, received)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        k: usize,
        dim: usize,
        round: u64,
        seed: u64,
        degrees: Vec<u32>,
        prev: Vec<f32>,
        local: Vec<f32>,
        received: Vec<f32>,
    ) -> Self {
        let ctx = Context {
            round,
            epoch: 0,
            node: 0,
            neighbors: (1..=k as u32).collect(),
            neighbor_degrees: degrees,
            lr: 0.1,
            dim: dim as u32,
            seed,
        };
        DefenseCase { ctx, prev, local, received, seed }
    }

    pub fn k(&self) -> usize {
        self.ctx.neighbors.len()
    }

    pub fn dim(&self) -> usize {
        self.ctx.dim as usize
    }

    /// The same call with the neighbours listed in `order` (rows, ids and degrees moved
    /// together, so the input means the same thing).
    pub fn permuted(&self, order: &[usize]) -> Self {
        let dim = self.dim();
        let mut out = self.clone();
        out.ctx.neighbors = order.iter().map(|&j| self.ctx.neighbors[j]).collect();
        out.ctx.neighbor_degrees = order.iter().map(|&j| self.ctx.neighbor_degrees[j]).collect();
        out.received = order.iter().flat_map(|&j| self.received[j * dim..(j + 1) * dim].iter().copied()).collect();
        out
    }

    /// The input, in full when it is small, else its shape and seed.
    pub fn describe(&self) -> String {
        let (k, dim) = (self.k(), self.dim());
        let head = format!("k = {k}, d = {dim}, round {}, seed {}", self.ctx.round, self.seed);
        if (k + 2) * dim > PRINTABLE_VALUES {
            return format!("{head} (seeded models near one centre, noise ±{MODEL_NOISE})");
        }
        let rows: Vec<String> = self.received.chunks(dim.max(1)).map(|r| format!("{r:?}")).collect();
        format!(
            "{head}: prev = {:?}, local = {:?}, received = [{}], neighbours = {:?}, degrees = {:?}",
            self.prev,
            self.local,
            rows.join(", "),
            self.ctx.neighbors,
            self.ctx.neighbor_degrees
        )
    }
}

/// One `craft` call: regular nodes 0..m, Byzantine nodes m..m+b.
#[derive(Clone, Debug)]
pub struct AttackCase {
    pub ctx: AttackContext,
    pub honest: Vec<f32>,
    seed: u64,
}

impl AttackCase {
    /// `m` regular models near each other and `b` Byzantine nodes, each adjacent to every
    /// regular node with probability `edge_prob` (at least one).
    pub fn near(m: usize, b: usize, dim: usize, edge_prob: f64, round: u64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let centre: Vec<f32> = (0..dim).map(|_| uniform(&mut rng, CENTRE_SPREAD)).collect();
        let honest = (0..m).flat_map(|_| near(&mut rng, &centre)).collect();
        let regular: Vec<u32> = (0..m as u32).collect();
        let byzantine = (0..b as u32)
            .map(|i| {
                let mut receivers: Vec<u32> = regular.iter().copied().filter(|_| rng.random_bool(edge_prob)).collect();
                if receivers.is_empty() {
                    receivers.push(rng.random_range(0..m as u32));
                }
                ByzantineNode { id: m as u32 + i, honest_neighbors: receivers }
            })
            .collect();
        let ctx = AttackContext { round, epoch: 0, nodes: (m + b) as u32, regular, byzantine, lr: 0.1, dim: dim as u32, seed };
        AttackCase { ctx, honest, seed }
    }

    /// The input, in full when it is small, else its shape and seed.
    pub fn describe(&self) -> String {
        let (m, b, dim) = (self.ctx.regular.len(), self.ctx.byzantine.len(), self.ctx.dim as usize);
        let receivers = self.ctx.byzantine.iter().map(|z| z.honest_neighbors.len());
        let (fewest, most) = (receivers.clone().min().unwrap_or(0), receivers.max().unwrap_or(0));
        let head = format!(
            "m = {m} regular, b = {b} Byzantine ({fewest} to {most} receivers each), d = {dim}, round {}, seed {}",
            self.ctx.round, self.seed
        );
        if m * dim > PRINTABLE_VALUES {
            return format!("{head} (seeded models near one centre, noise ±{MODEL_NOISE})");
        }
        format!("{head}: honest = {:?}", self.honest)
    }
}

/// The loss import under `byzhost conform`: the mean squared distance of a candidate to a
/// fixed target drawn from `seed`. Deterministic, cheap, and it ranks candidates the way a
/// real loss does near a minimum, so rules like MOZI run their full code path.
pub struct QuadraticLoss {
    seed: u64,
    target: Vec<f32>,
}

impl QuadraticLoss {
    pub fn new(seed: u64) -> Self {
        QuadraticLoss { seed, target: Vec::new() }
    }
}

impl LossOracle for QuadraticLoss {
    fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String> {
        let dim = candidates.len() / count.max(1);
        if self.target.len() != dim {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            self.target = (0..dim).map(|_| uniform(&mut rng, CENTRE_SPREAD)).collect();
        }
        let target = &self.target;
        Ok(candidates
            .chunks_exact(dim.max(1))
            .map(|c| c.iter().zip(target).map(|(x, t)| (x - t) * (x - t)).sum::<f32>() / dim.max(1) as f32)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_reproducible_and_shaped() {
        let a = DefenseCase::near(3, 4, 1, 9);
        let b = DefenseCase::near(3, 4, 1, 9);
        assert_eq!((a.prev.len(), a.local.len(), a.received.len()), (4, 4, 12));
        assert_eq!(a.received, b.received);
        assert_ne!(a.received, DefenseCase::near(3, 4, 1, 10).received);
    }

    #[test]
    fn permuting_moves_rows_ids_and_degrees_together() {
        let a = DefenseCase::near(3, 2, 0, 1);
        let p = a.permuted(&[2, 0, 1]);
        assert_eq!(p.ctx.neighbors, vec![3, 1, 2]);
        assert_eq!(p.ctx.neighbor_degrees[0], a.ctx.neighbor_degrees[2]);
        assert_eq!(&p.received[0..2], &a.received[4..6]);
    }

    #[test]
    fn attack_cases_give_every_byzantine_node_a_receiver() {
        let c = AttackCase::near(5, 4, 3, 0.01, 0, 2);
        assert!(c.ctx.byzantine.iter().all(|z| !z.honest_neighbors.is_empty()));
        assert_eq!(c.honest.len(), 15);
    }

    #[test]
    fn quadratic_loss_ranks_by_distance_to_its_target() {
        let mut loss = QuadraticLoss::new(3);
        let target = {
            loss.evaluate_loss(&[0.0; 2], 1).unwrap();
            loss.target.clone()
        };
        let far: Vec<f32> = target.iter().map(|t| t + 1.0).collect();
        let both: Vec<f32> = target.iter().chain(&far).copied().collect();
        let l = loss.evaluate_loss(&both, 2).unwrap();
        assert_eq!(l[0], 0.0);
        assert!((l[1] - 1.0).abs() < 1e-6);
    }
}
