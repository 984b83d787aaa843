//! What travels between ranks in a sharded run (see [`crate::ranks`]), and nothing else:
//! the regular nodes' trained models each round (an all-gather: every rank ends the round
//! with every row, as one process has them), the attack's messages from rank 0 (see
//! [`deliver`]), and the per-node numbers of an epoch that rank 0 turns
//! into metrics. Graph, Byzantine set and seeds are derived from the run seed on every rank.
//!
//! Why an all-gather and not a neighbour exchange: the graphs of the paper (Erdős–Rényi
//! p = 0.6) and random-regular graphs of degree ≥ 20 leave almost no row that some node of
//! another rank does not need (with K = 2, a row is unneeded only when none of its ~20–180
//! neighbours lies in the other block), and the attack on rank 0 reads every regular row
//! anyway; `BENCHMARKS.md` compares the bytes sent with the minimum the graph requires.

use std::collections::HashMap;
use std::ops::Range;

use byzhost_train::DIM;

use super::defenses::AttackRound;
use super::graph::Topology;
use crate::policy::{AttackContext, Crafted, SendMode};
use crate::ranks::Ranks;

/// What the Byzantine nodes send to this rank's nodes in a round.
pub enum Messages {
    /// The attack's output itself (one process, or rank 0).
    Crafted(AttackRound),
    /// What rank 0 forwarded: one row per distinct message, found by (sender, receiver).
    Forwarded { row_of: HashMap<(u32, u32), usize>, rows: Vec<f32> },
}

impl Messages {
    /// What Byzantine node `sender` sends to `receiver`; `None` when it sends nothing there.
    pub fn message(&self, sender: u32, receiver: u32) -> Option<&[f32]> {
        match self {
            Messages::Crafted(round) => round.crafted.message(&round.ctx, sender, receiver),
            Messages::Forwarded { row_of, rows } => row_of.get(&(sender, receiver)).map(|&r| &rows[r * DIM..(r + 1) * DIM]),
        }
    }
}

/// The (Byzantine sender, receiver) pairs of the receivers `ids[block]`, receiver after
/// receiver in neighbour order: what that block's nodes receive from Byzantine nodes.
fn byzantine_pairs(topology: &Topology, byzantine: &[bool], ids: &[u32], block: Range<usize>) -> Vec<(u32, u32)> {
    ids[block]
        .iter()
        .flat_map(|&id| topology.neighbors[id as usize].iter().filter(|&&j| byzantine[j as usize]).map(move |&j| (j, id)))
        .collect()
}

/// Rank 0's crafted messages (`crafted`, `Some` there) delivered to every rank for the
/// round's context `ctx` (which every rank derives alike). Messages laid out one per
/// Byzantine node reach every rank whole, as one broadcast: with the graphs in use nearly
/// every rank has a neighbour of nearly every Byzantine node, and a broadcast moves each
/// message once per link (a scatter would send rank 0's link a copy per rank). Messages
/// per receiver go to the rank that owns the receiver, each distinct one once. Also
/// returns the bytes of messages a rank other than 0 received, on average (known on rank 0).
pub fn deliver(
    ranks: &Ranks,
    crafted: Option<Crafted>,
    ctx: AttackContext,
    topology: &Topology,
    byzantine: &[bool],
    ids: &[u32],
) -> (Messages, u64) {
    if ranks.size() == 1 {
        return (Messages::Crafted(AttackRound { crafted: crafted.expect("one process crafts its own messages"), ctx }), 0);
    }
    let mut mode = vec![match crafted.as_ref().map(|c| c.mode) {
        None => 0u8,
        Some(SendMode::Broadcast) => 1,
        Some(SendMode::PerReceiver) => 2,
    }];
    ranks.broadcast(&mut mode);
    if mode[0] == 1 {
        let mut vectors = crafted.map(|c| c.vectors).unwrap_or_default();
        ranks.broadcast(&mut vectors);
        let bytes = (vectors.len() * size_of::<f32>()) as u64;
        return (Messages::Crafted(AttackRound { crafted: Crafted { mode: SendMode::Broadcast, vectors }, ctx }), bytes);
    }
    let blocks = ranks.blocks(ids.len());
    let pairs = |block: &Range<usize>| byzantine_pairs(topology, byzantine, ids, block.clone());
    let round = crafted.map(|crafted| AttackRound { crafted, ctx });
    let parts: Vec<Vec<f32>> = match &round {
        Some(round) => blocks.iter().map(|b| pack(round, &pairs(b))).collect(),
        None => Vec::new(),
    };
    let received = parts.iter().skip(1).map(|p| (p.len() * size_of::<f32>()) as u64).sum::<u64>() / (ranks.size() as u64 - 1);
    let mine = ranks.scatter_from_root(parts);
    match round {
        Some(round) => (Messages::Crafted(round), received),
        None => (unpack(mine, &pairs(&blocks[ranks.rank()])), received),
    }
}

/// The messages of `pairs`, each distinct message once, after a header giving each pair's
/// message number (as f32 bit patterns, so that one buffer travels).
fn pack(round: &AttackRound, pairs: &[(u32, u32)]) -> Vec<f32> {
    let crafted = &round.crafted;
    let mut number_of_row: HashMap<usize, u32> = HashMap::new();
    let mut header = Vec::with_capacity(pairs.len());
    let mut rows: Vec<usize> = Vec::new();
    for &(sender, receiver) in pairs {
        let row = crafted.row(&round.ctx, sender, receiver).expect("the attack addressed every honest neighbour");
        let number = *number_of_row.entry(row).or_insert_with(|| {
            rows.push(row);
            rows.len() as u32 - 1
        });
        header.push(f32::from_bits(number));
    }
    let mut packed = header;
    packed.reserve(rows.len() * DIM);
    for row in rows {
        packed.extend_from_slice(&crafted.vectors[row * DIM..(row + 1) * DIM]);
    }
    packed
}

/// [`pack`]'s buffer read back for the same `pairs`.
fn unpack(mut packed: Vec<f32>, pairs: &[(u32, u32)]) -> Messages {
    let rows = packed.split_off(pairs.len());
    let row_of = pairs.iter().zip(&packed).map(|(&pair, number)| (pair, number.to_bits() as usize)).collect();
    Messages::Forwarded { row_of, rows }
}

/// Bytes one round's all-gather moves, and the least any exchange could move for the same
/// graph: every row a rank sends to another that needs it (a neighbour of one of its nodes,
/// or rank 0's attack, which reads every row). Per rank, in rank order.
pub fn exchange_volume(topology: &Topology, ids: &[u32], row_of: &[Option<usize>], ranks: usize) -> Vec<(u64, u64)> {
    let blocks = crate::ranks::blocks(ids.len(), ranks);
    let owner = |row: usize| blocks.iter().position(|b| b.contains(&row)).expect("every row has an owner");
    let row_bytes = (DIM * size_of::<f32>()) as u64;
    blocks
        .iter()
        .enumerate()
        .map(|(r, block)| {
            let sent = block.len() as u64 * row_bytes * (ranks as u64 - 1);
            let needed: u64 = block
                .clone()
                .map(|row| {
                    let mut readers: Vec<usize> = topology.neighbors[ids[row] as usize]
                        .iter()
                        .filter_map(|&j| row_of[j as usize])
                        .map(owner)
                        .chain(std::iter::once(0))
                        .filter(|&o| o != r)
                        .collect();
                    readers.sort_unstable();
                    readers.dedup();
                    readers.len() as u64
                })
                .sum();
            (sent, needed * row_bytes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ByzantineNode;

    /// A ring of 8 nodes, node 3 Byzantine: regular rows 0..7 are ids 0, 1, 2, 4, 5, 6, 7.
    fn ring() -> (Topology, Vec<u32>, Vec<Option<usize>>) {
        let n = 8u32;
        let byzantine: Vec<bool> = (0..n).map(|i| i == 3).collect();
        let neighbors = (0..n)
            .map(|i| vec![(i + n - 1) % n, (i + 1) % n].into_iter().collect::<std::collections::BTreeSet<_>>())
            .map(|s| s.into_iter().collect())
            .collect();
        let ids: Vec<u32> = (0..n).filter(|&i| i != 3).collect();
        let mut row_of = vec![None; n as usize];
        for (row, &id) in ids.iter().enumerate() {
            row_of[id as usize] = Some(row);
        }
        (Topology { neighbors, byzantine }, ids, row_of)
    }

    fn round(mode: SendMode, topology: &Topology) -> AttackRound {
        let honest = topology.neighbors[3].clone();
        let ctx = AttackContext {
            nodes: 8,
            regular: vec![0, 1, 2, 4, 5, 6, 7],
            byzantine: vec![ByzantineNode { id: 3, honest_neighbors: honest.clone() }],
            dim: DIM as u32,
            ..AttackContext::default()
        };
        let rows = if mode == SendMode::Broadcast { 1 } else { honest.len() };
        let vectors = (0..rows * DIM).map(|i| (i / DIM) as f32 + 0.5).collect();
        AttackRound { crafted: Crafted { mode, vectors }, ctx }
    }

    #[test]
    fn packed_messages_read_back_as_the_attack_addressed_them() {
        let (topology, ids, _) = ring();
        for mode in [SendMode::Broadcast, SendMode::PerReceiver] {
            let round = round(mode, &topology);
            // Rows 2..4 (ids 2 and 4) are node 3's two honest neighbours.
            let pairs = byzantine_pairs(&topology, &topology.byzantine, &ids, 2..4);
            assert_eq!(pairs, [(3, 2), (3, 4)]);
            let packed = pack(&round, &pairs);
            let distinct = if mode == SendMode::Broadcast { 1 } else { 2 };
            assert_eq!(packed.len(), pairs.len() + distinct * DIM, "each distinct message once ({mode:?})");
            let delivered = unpack(packed, &pairs);
            for &(sender, receiver) in &pairs {
                assert_eq!(delivered.message(sender, receiver), round.crafted.message(&round.ctx, sender, receiver), "{mode:?}");
            }
            assert_eq!(delivered.message(3, 0), None, "0 is not node 3's neighbour");
        }
    }

    #[test]
    fn the_minimum_exchange_counts_each_row_once_per_rank_that_reads_it() {
        let (topology, ids, row_of) = ring();
        let row = (DIM * size_of::<f32>()) as u64;
        // Two ranks: rows 0..4 (ids 0, 1, 2, 4) and 4..7 (ids 5, 6, 7).
        let volume = exchange_volume(&topology, &ids, &row_of, 2);
        // Rank 0's rows are read on rank 1 only by id 4's neighbour 5 and id 0's neighbour 7.
        // Rank 1's rows all go to rank 0, whose attack reads every row.
        assert_eq!(volume, [(4 * row, 2 * row), (3 * row, 3 * row)]);
        assert_eq!(exchange_volume(&topology, &ids, &row_of, 1), [(0, 0)]);
    }
}
