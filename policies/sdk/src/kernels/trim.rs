//! Coordinate-wise trimmed sums (BRIDGE), with a sorting network run on all the
//! coordinates of a block at once.
//!
//! Selecting per coordinate (gather a column, `select_nth_unstable`, twice) costs ~14 ns
//! per value on random data, branch mispredictions mostly. Instead, a block of 64
//! coordinates is copied row by row into a k × 64 scratch (rows stay rows, so the copy is
//! sequential), and Batcher's odd–even merge sort network for k inputs is applied to whole
//! rows of the scratch: every comparator is a branch-free min/max over 64 lanes, which
//! vectorizes under simd128 and SSE alike. After the network each column is sorted and the
//! kept values are scratch rows `trim .. k − trim`.

/// Coordinates per block: the k × 64 scratch (7.5 KiB at k = 30) stays in L1.
const BLOCK: usize = 64;

/// Comparators (i, j), i < j, of Batcher's odd–even merge sort for `n` inputs: generated
/// for the next power of two and restricted to indices below `n`, which is valid because
/// the missing inputs can be taken as +∞ — they never move, so comparators touching them
/// do nothing.
fn sorting_network(n: usize) -> Vec<(usize, usize)> {
    let size = n.next_power_of_two();
    let mut pairs = Vec::new();
    let mut p = 1;
    while p < size {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < size {
                for i in 0..k.min(size - j - k) {
                    if (i + j) / (2 * p) == (i + j + k) / (2 * p) && i + j + k < n {
                        pairs.push((i + j, i + j + k));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    pairs
}

/// Puts the smaller of each pair of lanes in `lo`, the larger in `hi`. Inputs hold no NaN
/// (mapped to +∞ on the way in), so this keeps every value (only ±0 may trade signs,
/// which no sum can tell). Written as plain comparisons, not `f32::min`: these are exactly
/// wasm's `f32x4.pmin`/`pmax` and x86's `minps`/`maxps`, while `f32::min`'s NaN rules
/// have no single simd128 instruction (measured: 20× slower as a component).
#[inline]
fn compare_exchange(lo: &mut [f32], hi: &mut [f32]) {
    for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
        let (x, y) = (*a, *b);
        *a = if y < x { y } else { x };
        *b = if x < y { y } else { x };
    }
}

/// For every coordinate, the sum of the values of `rows` left after dropping the `trim`
/// smallest and the `trim` largest; the kept values are added in ascending order. NaN
/// counts as +∞ (so it is trimmed at the top, or makes the sum infinite if it is kept).
/// Needs more than `2·trim` rows.
pub fn trimmed_sum(rows: &[f32], dim: usize, trim: usize) -> Result<Vec<f32>, String> {
    let k = rows.len().checked_div(dim).unwrap_or(0);
    if k <= 2 * trim {
        return Err(format!("trimmed sum needs more than 2·{trim} = {} rows, got {k}", 2 * trim));
    }
    // With nothing trimmed the order does not matter: skip the network.
    let network = if trim > 0 { sorting_network(k) } else { Vec::new() };
    let mut scratch = vec![0.0f32; k * BLOCK];
    let mut out = Vec::with_capacity(dim);
    for start in (0..dim).step_by(BLOCK) {
        let width = BLOCK.min(dim - start);
        for (r, row) in rows.chunks_exact(dim).enumerate() {
            let dst = &mut scratch[r * BLOCK..r * BLOCK + width];
            for (d, &v) in dst.iter_mut().zip(&row[start..start + width]) {
                *d = if v.is_nan() { f32::INFINITY } else { v };
            }
        }
        for &(i, j) in &network {
            let (head, tail) = scratch.split_at_mut(j * BLOCK);
            compare_exchange(&mut head[i * BLOCK..i * BLOCK + width], &mut tail[..width]);
        }
        let base = out.len();
        out.extend_from_slice(&scratch[trim * BLOCK..trim * BLOCK + width]);
        for r in trim + 1..k - trim {
            for (o, v) in out[base..].iter_mut().zip(&scratch[r * BLOCK..r * BLOCK + width]) {
                *o += v;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_sorts_every_input_size_up_to_40() {
        // Exhaustive 0/1 inputs prove a network (the 0-1 principle) for n ≤ 16; beyond
        // that, many pseudo-random inputs.
        for n in 1..=40usize {
            let net = sorting_network(n);
            let mut state = n as u64;
            let trials: Vec<Vec<f32>> = if n <= 16 {
                (0..1u32 << n).map(|m| (0..n).map(|b| ((m >> b) & 1) as f32).collect()).collect()
            } else {
                (0..2000)
                    .map(|_| {
                        (0..n)
                            .map(|_| {
                                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                                (state >> 40) as f32
                            })
                            .collect()
                    })
                    .collect()
            };
            for mut v in trials {
                for &(i, j) in &net {
                    if v[j] < v[i] {
                        v.swap(i, j);
                    }
                }
                assert!(v.windows(2).all(|w| w[0] <= w[1]), "n = {n}: {v:?}");
            }
        }
    }

    #[test]
    fn equals_sorting_each_column_for_the_papers_sizes() {
        // k = 30 rows as at the paper's scale; b = 1 and b = 10; a partial last block.
        let (k, dim) = (30, 2 * BLOCK + 9);
        let mut state = 7u64;
        let rows: Vec<f32> = (0..k * dim)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 1e3
            })
            .collect();
        for trim in [1, 10, 14] {
            let got = trimmed_sum(&rows, dim, trim).unwrap();
            for (c, g) in got.iter().enumerate() {
                let mut column: Vec<f32> = rows.chunks_exact(dim).map(|r| r[c]).collect();
                column.sort_by(f32::total_cmp);
                assert_eq!(*g, column[trim..k - trim].iter().sum::<f32>(), "trim {trim}, coordinate {c}");
            }
        }
    }

    #[test]
    fn nan_is_trimmed_as_the_largest_value() {
        // Three rows, one coordinate: {NaN, 1, 2} with trim 1 keeps 2 (NaN counts as +∞).
        assert_eq!(trimmed_sum(&[f32::NAN, 1.0, 2.0], 1, 1).unwrap(), vec![2.0]);
        assert_eq!(trimmed_sum(&[-f32::NAN, 1.0, 2.0], 1, 1).unwrap(), vec![2.0]);
    }

    #[test]
    fn trimmed_sum_drops_extremes_per_coordinate_across_blocks() {
        // 5 rows; coordinate j of row r is (r·7 + j) mod 5 − 2, a permutation of −2..=2
        // per coordinate, so trimming 1 from each end leaves −1 + 0 + 1 = 0 and trimming
        // none leaves 0 as well; shift row 0 by +100 to make the trim visible.
        let dim = 130; // crosses two block boundaries
        let mut rows: Vec<f32> = (0..5).flat_map(|r| (0..dim).map(move |j| ((r * 7 + j) % 5) as f32 - 2.0)).collect();
        for v in &mut rows[..dim] {
            *v += 100.0;
        }
        let kept = trimmed_sum(&rows, dim, 1).unwrap();
        for (j, v) in kept.iter().enumerate() {
            // Per coordinate the rows hold a permutation of −2..=2 (7 is coprime to 5):
            // row 0's value v0 is shifted to the top and dropped, the other four sum to
            // −v0, and the smallest of them (−2, or −1 when v0 is −2) is dropped too.
            let v0 = (j % 5) as f32 - 2.0;
            let smallest_other = if v0 == -2.0 { -1.0 } else { -2.0 };
            assert_eq!(*v, -v0 - smallest_other, "coordinate {j}");
        }
        assert_eq!(trimmed_sum(&rows, dim, 0).unwrap()[0], 100.0);
        assert!(trimmed_sum(&rows, dim, 3).unwrap_err().contains("more than 2·3 = 6 rows, got 5"));
    }
}
