//! Communication graphs (petgraph): Erdős–Rényi with the paper's constraints, random
//! regular, complete, ring, or an explicit edge list; and the choice of Byzantine nodes.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use petgraph::graph::UnGraph;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Attempts before an Erdős–Rényi graph that cannot meet the constraints is reported.
pub const MAX_TRIES: usize = 1000;

/// How the communication graph is built.
#[derive(Clone, Debug, PartialEq)]
pub enum GraphSpec {
    /// G(n, p), resampled until every regular node has at least 2b + 1 neighbours and the
    /// regular nodes are connected among themselves.
    ErdosRenyi {
        p: f64,
    },
    /// Every node with `degree` neighbours, uniformly at random (Steger–Wormald pairing),
    /// resampled until the regular nodes are connected among themselves: the degree stays
    /// what the user asks at any n, where G(n, p)'s grows with n.
    RandomRegular {
        degree: usize,
    },
    Complete,
    Ring,
    /// Undirected edges `a b`, one per line, node ids in 0..n; `#` starts a comment.
    EdgeList(std::path::PathBuf),
}

/// A communication graph and which nodes are Byzantine.
#[derive(Clone, Debug)]
pub struct Topology {
    /// Sorted neighbour ids of every node.
    pub neighbors: Vec<Vec<u32>>,
    pub byzantine: Vec<bool>,
}

impl Topology {
    pub fn nodes(&self) -> usize {
        self.neighbors.len()
    }

    pub fn degree(&self, node: usize) -> usize {
        self.neighbors[node].len()
    }

    pub fn regular(&self) -> Vec<u32> {
        (0..self.nodes() as u32).filter(|&i| !self.byzantine[i as usize]).collect()
    }

    pub fn byzantine_ids(&self) -> Vec<u32> {
        (0..self.nodes() as u32).filter(|&i| self.byzantine[i as usize]).collect()
    }

    /// Regular nodes with fewer than `min` neighbours.
    fn under_degree(&self, min: usize) -> Vec<u32> {
        self.regular().into_iter().filter(|&i| self.degree(i as usize) < min).collect()
    }

    /// True when the regular nodes form one connected component among themselves.
    fn regular_connected(&self) -> bool {
        let regular = self.regular();
        if regular.len() <= 1 {
            return true;
        }
        let mut g = UnGraph::<(), ()>::new_undirected();
        let ids: Vec<_> = (0..self.nodes()).map(|_| g.add_node(())).collect();
        for &i in &regular {
            for &j in &self.neighbors[i as usize] {
                if i < j && !self.byzantine[j as usize] {
                    g.add_edge(ids[i as usize], ids[j as usize], ());
                }
            }
        }
        // Byzantine nodes are isolated here, each its own component.
        petgraph::algo::connected_components(&g) == 1 + (self.nodes() - regular.len())
    }
}

/// Picks `b` of `n` nodes as Byzantine.
pub fn choose_byzantine(n: usize, b: usize, seed: u64) -> Vec<bool> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut byz = vec![false; n];
    for i in sample(&mut rng, n, b) {
        byz[i] = true;
    }
    byz
}

fn from_edges(n: usize, edges: impl IntoIterator<Item = (usize, usize)>, byzantine: Vec<bool>) -> Topology {
    let mut neighbors = vec![Vec::new(); n];
    for (a, b) in edges {
        if a != b {
            neighbors[a].push(b as u32);
            neighbors[b].push(a as u32);
        }
    }
    for list in &mut neighbors {
        list.sort_unstable();
        list.dedup();
    }
    Topology { neighbors, byzantine }
}

/// A random `degree`-regular graph whose regular nodes are connected among themselves.
fn random_regular(n: usize, degree: usize, byzantine: Vec<bool>, seed: u64) -> Result<Topology> {
    if degree >= n || (n * degree) % 2 == 1 {
        bail!("--topology random-regular:{degree} needs fewer neighbours than nodes ({n}) and n·degree even; change the degree or --nodes");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..MAX_TRIES {
        if let Some(edges) = regular_pairing(n, degree, &mut rng) {
            let t = from_edges(n, edges, byzantine.clone());
            if t.regular_connected() {
                return Ok(t);
            }
        }
    }
    bail!("no random {degree}-regular graph on {n} nodes left the regular nodes connected in {MAX_TRIES} tries; raise the degree")
}

/// One try of Steger and Wormald's pairing: every node holds `degree` free ends; two ends
/// drawn at random are joined when that makes neither a loop nor a second edge. `None` when
/// the ends left can no longer be joined (the caller starts again).
fn regular_pairing(n: usize, degree: usize, rng: &mut ChaCha8Rng) -> Option<Vec<(usize, usize)>> {
    let mut ends: Vec<usize> = (0..n).flat_map(|i| std::iter::repeat_n(i, degree)).collect();
    let mut joined = std::collections::HashSet::with_capacity(n * degree / 2);
    let mut edges = Vec::with_capacity(n * degree / 2);
    while !ends.is_empty() {
        // Enough draws that giving up means the leftover ends are (nearly) all unjoinable.
        let pair = (0..50 * ends.len()).find_map(|_| {
            let (i, j) = (rng.random_range(0..ends.len()), rng.random_range(0..ends.len()));
            let (a, b) = (ends[i].min(ends[j]), ends[i].max(ends[j]));
            (a != b && !joined.contains(&(a, b))).then_some((i, j, a, b))
        })?;
        let (i, j, a, b) = pair;
        joined.insert((a, b));
        edges.push((a, b));
        ends.swap_remove(i.max(j));
        ends.swap_remove(i.min(j));
    }
    Some(edges)
}

/// Builds the graph. For Erdős–Rényi the constraints are enforced by resampling; for the
/// fixed graphs they are checked and violations returned as warnings, since a researcher
/// may study such graphs on purpose.
impl GraphSpec {
    /// The graph a run's `--topology` and `--edge-prob` ask for.
    pub fn of(topology: &crate::settings::Topology, edge_prob: f64) -> GraphSpec {
        use crate::settings::Topology as T;
        match topology {
            T::Static | T::TimeVarying => GraphSpec::ErdosRenyi { p: edge_prob },
            T::Complete => GraphSpec::Complete,
            T::Ring => GraphSpec::Ring,
            T::RandomRegular(degree) => GraphSpec::RandomRegular { degree: *degree as usize },
            T::Edges(path) => GraphSpec::EdgeList(path.clone()),
        }
    }
}

pub fn build(spec: &GraphSpec, byzantine: Vec<bool>, seed: u64) -> Result<(Topology, Vec<String>)> {
    let n = byzantine.len();
    let b = byzantine.iter().filter(|&&x| x).count();
    let min_degree = 2 * b + 1;
    let topology = match spec {
        GraphSpec::ErdosRenyi { p } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (mut worst_degree, mut disconnected) = (0, 0);
            for _ in 0..MAX_TRIES {
                let edges: Vec<(usize, usize)> =
                    (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).filter(|_| rng.random_bool(*p)).collect();
                let t = from_edges(n, edges, byzantine.clone());
                if !t.under_degree(min_degree).is_empty() {
                    worst_degree += 1;
                } else if !t.regular_connected() {
                    disconnected += 1;
                } else {
                    return Ok((t, Vec::new()));
                }
            }
            bail!(
                "no Erdős–Rényi graph with n = {n}, p = {p} met the constraints in {MAX_TRIES} tries: \
                 {worst_degree} had a regular node with fewer than 2b + 1 = {min_degree} neighbours, \
                 {disconnected} left the regular nodes disconnected; raise --edge-prob or --nodes, or lower --byzantine"
            )
        }
        GraphSpec::RandomRegular { degree } => random_regular(n, *degree, byzantine, seed)?,
        GraphSpec::Complete => from_edges(n, (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))), byzantine),
        GraphSpec::Ring => from_edges(n, (0..n).map(|i| (i, (i + 1) % n)), byzantine),
        GraphSpec::EdgeList(path) => from_edges(n, read_edge_list(path, n)?, byzantine),
    };
    let mut warnings = Vec::new();
    let low = topology.under_degree(min_degree);
    if !low.is_empty() {
        let named = if low.len() > 10 {
            format!("{} regular nodes (first: {:?})", low.len(), &low[..10])
        } else {
            format!("regular nodes {low:?}")
        };
        warnings.push(format!("{named} have fewer than 2b + 1 = {min_degree} neighbours; rules such as BRIDGE need that many"));
    }
    if !topology.regular_connected() {
        warnings.push("the regular nodes are not connected among themselves; they cannot reach consensus".into());
    }
    Ok((topology, warnings))
}

fn read_edge_list(path: &Path, n: usize) -> Result<Vec<(usize, usize)>> {
    // An edge list of the largest run (10,000 nodes, every edge) is about 600 MB.
    let bytes = byzhost_train::files::read_regular(path, 1 << 30, "--topology edges", "")?;
    let text = String::from_utf8(bytes).with_context(|| format!("--topology edges: {} is not UTF-8 text", path.display()))?;
    let mut edges = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let ids: Vec<&str> = line.split(|c: char| c.is_whitespace() || c == ',').filter(|s| !s.is_empty()).collect();
        let parse = |s: &str| -> Result<usize> {
            let v: usize = s.parse().with_context(|| format!("{}:{}: `{s}` is not a node id", path.display(), lineno + 1))?;
            if v >= n {
                bail!("{}:{}: node {v} is out of range for --nodes {n} (ids are 0..{})", path.display(), lineno + 1, n - 1);
            }
            Ok(v)
        };
        match ids.as_slice() {
            [a, b] => edges.push((parse(a)?, parse(b)?)),
            _ => bail!("{}:{}: expected two node ids per line, got `{line}`", path.display(), lineno + 1),
        }
    }
    Ok(edges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erdos_renyi_meets_the_paper_constraints() {
        let byz = choose_byzantine(50, 10, 1);
        let (t, warnings) = build(&GraphSpec::ErdosRenyi { p: 0.6 }, byz, 2).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(t.byzantine_ids().len(), 10);
        for i in t.regular() {
            assert!(t.degree(i as usize) >= 21);
        }
        assert!(t.regular_connected());
        // Symmetric adjacency.
        for (i, list) in t.neighbors.iter().enumerate() {
            for &j in list {
                assert!(t.neighbors[j as usize].contains(&(i as u32)));
            }
        }
    }

    #[test]
    fn random_regular_graphs_have_the_degree_asked_and_follow_the_seed() {
        let byz = choose_byzantine(1000, 200, 1);
        let (t, warnings) = build(&GraphSpec::RandomRegular { degree: 20 }, byz.clone(), 3).unwrap();
        assert!((0..1000).all(|i| t.degree(i) == 20));
        assert!(t.regular_connected());
        for (i, list) in t.neighbors.iter().enumerate() {
            assert!(list.iter().all(|&j| j as usize != i && t.neighbors[j as usize].contains(&(i as u32))));
        }
        // Degree 20 < 2b + 1 = 401: said once, with a count rather than 800 ids.
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("800 regular nodes (first: "), "{}", warnings[0]);
        assert_eq!(build(&GraphSpec::RandomRegular { degree: 20 }, byz.clone(), 3).unwrap().0.neighbors, t.neighbors);
        assert_ne!(build(&GraphSpec::RandomRegular { degree: 20 }, byz, 4).unwrap().0.neighbors, t.neighbors);
    }

    #[test]
    fn impossible_random_regular_degrees_are_refused() {
        let e = build(&GraphSpec::RandomRegular { degree: 3 }, vec![false; 7], 0).unwrap_err().to_string();
        assert!(e.contains("random-regular:3") && e.contains("even"), "{e}");
        assert!(build(&GraphSpec::RandomRegular { degree: 7 }, vec![false; 7], 0).is_err());
        let topology: crate::settings::Topology = "random-regular:12".parse().unwrap();
        assert_eq!(topology.to_string(), "random-regular:12");
        assert!("random-regular:0".parse::<crate::settings::Topology>().is_err());
        assert!("random-regular:x".parse::<crate::settings::Topology>().is_err());
    }

    #[test]
    fn impossible_constraints_are_reported_after_bounded_tries() {
        let byz = choose_byzantine(10, 4, 1);
        let e = build(&GraphSpec::ErdosRenyi { p: 0.2 }, byz, 2).unwrap_err().to_string();
        assert!(e.contains("fewer than 2b + 1 = 9 neighbours") && e.contains("--edge-prob"), "{e}");
    }

    #[test]
    fn ring_and_complete_graphs() {
        let (ring, w) = build(&GraphSpec::Ring, vec![false; 5], 0).unwrap();
        assert_eq!(ring.neighbors[0], vec![1, 4]);
        assert!(w.is_empty());
        let (full, _) = build(&GraphSpec::Complete, vec![false; 4], 0).unwrap();
        assert!(full.neighbors.iter().all(|l| l.len() == 3));
        let (_, w) = build(&GraphSpec::Ring, vec![false, true, false, false, false, false], 0).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn edge_list_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("g.txt");
        std::fs::write(&f, "# comment\n0 1\n1 7\n").unwrap();
        let e = build(&GraphSpec::EdgeList(f.clone()), vec![false; 3], 0).unwrap_err().to_string();
        assert!(e.contains("g.txt:3: node 7 is out of range"), "{e}");
        std::fs::write(&f, "0 1\n1 2\n").unwrap();
        let (t, _) = build(&GraphSpec::EdgeList(f), vec![false; 3], 0).unwrap();
        assert_eq!(t.neighbors[1], vec![0, 2]);
    }
}
