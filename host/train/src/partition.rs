//! Splitting the training set among nodes: the paper's iid even split, and Dirichlet(α)
//! label skew for non-iid studies.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

/// How training samples are distributed over nodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Partition {
    /// Shuffle, then give every node the same number of samples (the remainder is unused).
    Iid,
    /// For every class, split its samples over nodes in proportions drawn from
    /// Dirichlet(α, …, α): small α gives each node few classes, large α approaches iid.
    Dirichlet(f64),
}

/// Indices of the samples each of `nodes` nodes holds.
pub fn split(labels: &[u8], nodes: usize, partition: Partition, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_DA7A);
    match partition {
        Partition::Iid => {
            let mut idx: Vec<usize> = (0..labels.len()).collect();
            idx.shuffle(&mut rng);
            let per = labels.len() / nodes.max(1);
            idx.chunks_exact(per.max(1)).take(nodes).map(|c| c.to_vec()).collect()
        }
        Partition::Dirichlet(alpha) => {
            let gamma = Gamma::new(alpha, 1.0).expect("alpha was validated as positive and finite");
            let mut shards = vec![Vec::new(); nodes];
            for class in 0..10u8 {
                let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
                idx.shuffle(&mut rng);
                let weights: Vec<f64> = (0..nodes).map(|_| gamma.sample(&mut rng)).collect();
                let total: f64 = weights.iter().sum();
                // Cumulative cut points, so every sample of the class goes to exactly one node.
                let mut acc = 0.0;
                let mut start = 0;
                for (node, w) in weights.iter().enumerate() {
                    acc += w / total;
                    let end = if node + 1 == nodes { idx.len() } else { ((acc * idx.len() as f64).round() as usize).min(idx.len()) };
                    shards[node].extend_from_slice(&idx[start..end.max(start)]);
                    start = end.max(start);
                }
            }
            for s in &mut shards {
                s.shuffle(&mut rng);
            }
            shards
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<u8> {
        (0..1000).map(|i| (i % 10) as u8).collect()
    }

    #[test]
    fn iid_split_is_even_disjoint_and_seeded() {
        let s = split(&labels(), 7, Partition::Iid, 1);
        assert_eq!(s.len(), 7);
        assert!(s.iter().all(|x| x.len() == 142));
        let mut all: Vec<usize> = s.concat();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 7 * 142);
        assert_eq!(s, split(&labels(), 7, Partition::Iid, 1));
        assert_ne!(s, split(&labels(), 7, Partition::Iid, 2));
    }

    #[test]
    fn dirichlet_split_covers_every_sample_once_and_skews_labels() {
        let s = split(&labels(), 5, Partition::Dirichlet(0.1), 3);
        let mut all: Vec<usize> = s.concat();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        // With α = 0.1 some node is dominated by few classes.
        let max_share = s
            .iter()
            .filter(|x| !x.is_empty())
            .map(|x| {
                let mut c = [0usize; 10];
                x.iter().for_each(|&i| c[labels()[i] as usize] += 1);
                *c.iter().max().unwrap() as f64 / x.len() as f64
            })
            .fold(0.0, f64::max);
        assert!(max_share > 0.3, "{max_share}");
    }
}
