//! Kernels over many rows that share one reference, blocked by columns.
//!
//! Rules such as similarity reweighting compare k received rows with the node's own
//! vectors and then mix the rows. Done row by row, every row pass re-reads the shared
//! vectors (prev, the reference, the output) from L2 or beyond. Here the columns are cut
//! into blocks of [`BLOCK`] values: a block of the shared vectors stays in L1 while the
//! same block of every row streams past, so each row is read once per pass and the
//! shared vectors about once in total. Per-lane accumulation order is the same as an
//! unblocked loop, so results do not depend on the block size.

use super::{axpy, LANES, UNROLL};

/// Columns per block: 4 KiB per shared vector, so two shared blocks and the streaming
/// row lines fit a 32 KiB L1 with room to spare. A multiple of [`LANES`].
const BLOCK: usize = 1024;

/// What one pass over `row` tells about Δ = `row − origin` against a `reference` vector:
/// Δ·reference, ‖Δ‖² and the counts of positive and negative coordinates of Δ.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CrossStats {
    pub dot: f32,
    pub norm_sq: f32,
    pub pos: u64,
    pub neg: u64,
    /// Number of coordinates (so zeros = len − pos − neg).
    pub len: u64,
}

impl CrossStats {
    /// Fractions of positive, zero and negative coordinates of Δ, as
    /// [`super::sign_histogram`] but in f64 (callers take logarithms of them).
    pub fn sign_fractions(&self) -> [f64; 3] {
        if self.len == 0 {
            return [0.0, 1.0, 0.0];
        }
        let len = self.len as f64;
        let zero = self.len - self.pos - self.neg;
        [self.pos as f64 / len, zero as f64 / len, self.neg as f64 / len]
    }
}

/// Lanes of the sign counters: integer sums are exact in any order, so one 128-bit
/// vector each is enough and leaves registers for the float accumulators.
const COUNT_LANES: usize = 4;

/// Per-lane partial sums of one row's [`CrossStats`], carried from block to block.
#[derive(Clone, Copy, Default)]
struct Lanes {
    dot: [f32; LANES],
    nsq: [f32; LANES],
    pos: [u32; COUNT_LANES],
    neg: [u32; COUNT_LANES],
}

impl Lanes {
    /// Adds a stretch whose length is a multiple of [`LANES`]. Each lane accumulates its
    /// elements in increasing order whatever the stretch length, so blocking and the
    /// 4-chunk unrolling leave the sums unchanged.
    #[inline]
    fn add(&mut self, row: &[f32], origin: &[f32], reference: &[f32]) {
        // Work on copies so the accumulators live in registers; under Cranelift (which
        // spills loop-carried vectors around the epoch check) the unrolling by 4·LANES
        // pays that cost once per 32 elements instead of once per 8.
        let (mut dot, mut nsq, mut pos, mut neg) = (self.dot, self.nsq, self.pos, self.neg);
        const WIDE: usize = 4 * LANES;
        let (rw, ow, fw) = (row.chunks_exact(WIDE), origin.chunks_exact(WIDE), reference.chunks_exact(WIDE));
        let (rt, ot, ft) = (rw.remainder(), ow.remainder(), fw.remainder());
        for ((r, o), f) in rw.zip(ow).zip(fw) {
            for u in 0..4 {
                for i in 0..LANES {
                    let d = r[u * LANES + i] - o[u * LANES + i];
                    dot[i] += d * f[u * LANES + i];
                    nsq[i] += d * d;
                    // Comparisons become lane masks under simd128, so the counts vectorize.
                    pos[i % COUNT_LANES] += (d > 0.0) as u32;
                    neg[i % COUNT_LANES] += (d < 0.0) as u32;
                }
            }
        }
        for ((r, o), f) in rt.chunks_exact(LANES).zip(ot.chunks_exact(LANES)).zip(ft.chunks_exact(LANES)) {
            for i in 0..LANES {
                let d = r[i] - o[i];
                dot[i] += d * f[i];
                nsq[i] += d * d;
                pos[i % COUNT_LANES] += (d > 0.0) as u32;
                neg[i % COUNT_LANES] += (d < 0.0) as u32;
            }
        }
        *self = Lanes { dot, nsq, pos, neg };
    }

    /// Sums the lanes in a fixed order, then the scalar tail.
    fn finish(&self, row: &[f32], origin: &[f32], reference: &[f32], tail_from: usize) -> CrossStats {
        let mut out = CrossStats { len: row.len() as u64, ..Default::default() };
        for i in 0..LANES {
            out.dot += self.dot[i];
            out.norm_sq += self.nsq[i];
        }
        out.pos = self.pos.iter().map(|&c| c as u64).sum();
        out.neg = self.neg.iter().map(|&c| c as u64).sum();
        for c in tail_from..row.len() {
            let d = row[c] - origin[c];
            out.dot += d * reference[c];
            out.norm_sq += d * d;
            out.pos += (d > 0.0) as u64;
            out.neg += (d < 0.0) as u64;
        }
        out
    }
}

/// [`CrossStats`] of `row − origin` against `reference` for every row, without
/// materializing any difference, blocked by columns (see the module header).
pub fn cross_stats_rows(rows: &[&[f32]], origin: &[f32], reference: &[f32]) -> Vec<CrossStats> {
    let dim = origin.len();
    assert!(reference.len() == dim && rows.iter().all(|r| r.len() == dim), "kernel inputs must have equal length");
    let body = dim - dim % LANES;
    let mut lanes = vec![Lanes::default(); rows.len()];
    for start in (0..body).step_by(BLOCK) {
        let end = (start + BLOCK).min(body);
        let (o, f) = (&origin[start..end], &reference[start..end]);
        for (row, acc) in rows.iter().zip(&mut lanes) {
            acc.add(&row[start..end], o, f);
        }
    }
    rows.iter().zip(&lanes).map(|(row, acc)| acc.finish(row, origin, reference, body)).collect()
}

/// [`CrossStats`] of a single row.
pub fn cross_stats(row: &[f32], origin: &[f32], reference: &[f32]) -> CrossStats {
    cross_stats_rows(&[row], origin, reference)[0]
}

/// `base_coef · base + Σ coef · row` over `terms`, blocked by columns so the output block
/// stays in L1 while the rows' blocks are added, four rows per sweep so the block is loaded
/// and stored once per four rows. Each coordinate sees the same operations in the same
/// order as a scale followed by one [`axpy`] per term. Terms with coefficient 0 are
/// skipped — their rows are never read, so non-finite values in a rejected row cannot
/// leak in through 0·∞.
pub fn combine(base: &[f32], base_coef: f32, terms: &[(&[f32], f32)]) -> Vec<f32> {
    let dim = base.len();
    assert!(terms.iter().all(|(r, _)| r.len() == dim), "kernel inputs must have equal length");
    let active: Vec<(&[f32], f32)> = terms.iter().copied().filter(|&(_, a)| a != 0.0).collect();
    let mut out = Vec::with_capacity(dim);
    for start in (0..dim).step_by(BLOCK) {
        let end = (start + BLOCK).min(dim);
        out.extend(base[start..end].iter().map(|b| base_coef * b));
        let block = &mut out[start..end];
        let mut groups = active.chunks_exact(4);
        for g in &mut groups {
            let rows = [&g[0].0[start..end], &g[1].0[start..end], &g[2].0[start..end], &g[3].0[start..end]];
            add4(block, rows, [g[0].1, g[1].1, g[2].1, g[3].1]);
        }
        for &(row, a) in groups.remainder() {
            axpy(block, a, &row[start..end]);
        }
    }
    out
}

/// `out += a0·r0; out += a1·r1; out += a2·r2; out += a3·r3`, in that order per element,
/// with `out` held in registers across the four rows.
fn add4(out: &mut [f32], r: [&[f32]; 4], a: [f32; 4]) {
    let mut o_chunks = out.chunks_exact_mut(UNROLL);
    let mut chunks = r.map(|row| row.chunks_exact(UNROLL));
    for o in &mut o_chunks {
        let x = [chunks[0].next(), chunks[1].next(), chunks[2].next(), chunks[3].next()];
        let [Some(x0), Some(x1), Some(x2), Some(x3)] = x else { unreachable!("rows are as long as out") };
        for i in 0..UNROLL {
            let mut v = o[i];
            v += a[0] * x0[i];
            v += a[1] * x1[i];
            v += a[2] * x2[i];
            v += a[3] * x3[i];
            o[i] = v;
        }
    }
    let tail = o_chunks.into_remainder();
    let n = tail.len();
    for (i, o) in tail.iter_mut().enumerate() {
        for (row, ai) in chunks.iter().zip(a) {
            *o += ai * row.remainder()[i];
        }
    }
    debug_assert!(chunks.iter().all(|c| c.remainder().len() == n));
}

#[cfg(test)]
mod tests {
    use super::super::{dot, norm_sq, scale, sign_histogram, sub_into};
    use super::*;

    #[test]
    fn cross_stats_match_the_materialized_difference() {
        // 11 coordinates: 8 lanes + 3 tail, with zeros, positives and negatives in both.
        let row: Vec<f32> = (0..11).map(|i| (i % 4) as f32 - 1.0).collect();
        let origin = vec![0.5f32; 11];
        let reference: Vec<f32> = (0..11).map(|i| i as f32).collect();
        let mut delta = vec![0.0; 11];
        sub_into(&mut delta, &row, &origin);
        let s = cross_stats(&row, &origin, &reference);
        assert_eq!(s.dot, dot(&delta, &reference));
        assert_eq!(s.norm_sq, norm_sq(&delta));
        assert_eq!(s.sign_fractions().map(|f| f as f32), sign_histogram(&delta));
        // row − 0.5 is −1.5, −0.5, 0.5, 1.5 repeating: 5 positive, 6 negative, no zero.
        assert_eq!((s.pos, s.neg, s.len), (5, 6, 11));
        let z = cross_stats(&[1.0, 2.0, 3.0], &[1.0, 0.0, 3.0], &[1.0, 1.0, 1.0]);
        assert_eq!(z, CrossStats { dot: 2.0, norm_sq: 4.0, pos: 1, neg: 0, len: 3 });
        assert_eq!(z.sign_fractions(), [1.0 / 3.0, 2.0 / 3.0, 0.0]);
    }

    /// Rows of `dim` values with a mix of signs, deterministic.
    fn rows(k: usize, dim: usize) -> Vec<Vec<f32>> {
        (0..k).map(|r| (0..dim).map(|c| ((r * 31 + c * 17) % 23) as f32 * 0.25 - 2.5).collect()).collect()
    }

    #[test]
    fn blocked_stats_equal_the_row_by_row_loop_across_block_boundaries() {
        let dim = 2 * BLOCK + 29; // two full blocks, a partial one of 3 lane chunks, a scalar tail
        let data = rows(4, dim);
        let origin = &rows(5, dim)[4];
        let reference: Vec<f32> = (0..dim).map(|c| (c % 7) as f32 - 3.0).collect();
        let refs: Vec<&[f32]> = data.iter().map(|r| r.as_slice()).collect();
        let stats = cross_stats_rows(&refs, origin, &reference);
        for (row, s) in data.iter().zip(&stats) {
            // The plain unblocked lane loop, as in `dot`/`norm_sq`.
            let mut delta = vec![0.0; dim];
            sub_into(&mut delta, row, origin);
            assert_eq!(s.dot, dot(&delta, &reference));
            assert_eq!(s.norm_sq, norm_sq(&delta));
            assert_eq!(s.sign_fractions().map(|f| f as f32), sign_histogram(&delta));
        }
    }

    #[test]
    fn combine_equals_scale_then_axpy_and_skips_zero_terms() {
        let dim = BLOCK + 21; // a partial block with an unrolled chunk and a scalar tail
        let data = rows(3, dim);
        let base = &rows(4, dim)[3];
        let mut poisoned = data[2].clone();
        poisoned[7] = f32::NAN;
        let out = combine(base, 0.25, &[(&data[0], 0.5), (&data[1], -1.5), (&poisoned, 0.0)]);
        let mut want = base.clone();
        scale(&mut want, 0.25);
        axpy(&mut want, 0.5, &data[0]);
        axpy(&mut want, -1.5, &data[1]);
        assert_eq!(out, want);
        // Six active terms: one fused group of four, then two single rows; same order.
        let many = rows(6, dim);
        let coefs = [0.5, -0.25, 2.0, 0.125, -1.0, 0.75];
        let terms: Vec<(&[f32], f32)> = many.iter().map(|r| r.as_slice()).zip(coefs).collect();
        let mut want = base.clone();
        scale(&mut want, -0.5);
        for (row, a) in &terms {
            axpy(&mut want, *a, row);
        }
        assert_eq!(combine(base, -0.5, &terms), want);
        assert_eq!(combine(&[2.0, 4.0], 0.5, &[]), vec![1.0, 2.0]);
    }
}
