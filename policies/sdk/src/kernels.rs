//! Vector kernels shared by aggregation rules and attacks.
//!
//! Float addition is not associative, so compilers will not vectorize a plain running sum.
//! The reductions here keep [`LANES`] independent accumulators, which maps one-to-one onto
//! wasm `simd128` (and SSE/AVX natively), then add the lanes in a fixed order: results are
//! deterministic for a given length, on every target.
//!
//! Matrices are row-major `&[f32]` with rows of length `dim`, as they cross the WIT boundary.

/// Accumulator lanes of the reductions: two 128-bit vectors of f32.
pub const LANES: usize = 8;

/// Elements per iteration of the streaming loops (four 128-bit vectors). Cranelift, which
/// compiles the components, neither unrolls loops nor keeps vector values in registers
/// across the epoch-interruption check at each loop back-edge: every iteration reloads and
/// re-spills its loop-carried vectors. Doing 16 or more elements per iteration amortizes
/// that (measured: axpy ≈ 20 x86 instructions per 4 floats without unrolling).
pub const UNROLL: usize = 16;

mod rows;
mod trim;
pub use rows::{combine, cross_stats, cross_stats_rows, CrossStats};
pub use trim::trimmed_sum;

fn reduce<F: Fn(f32, f32) -> f32>(a: &[f32], b: &[f32], term: F) -> f32 {
    assert_eq!(a.len(), b.len(), "kernel inputs must have equal length");
    let mut acc = [0.0f32; LANES];
    // Four lane chunks per iteration (see UNROLL); each lane still sums its elements in
    // increasing order, so the result is that of the plain LANES loop.
    let (a_wide, b_wide) = (a.chunks_exact(4 * LANES), b.chunks_exact(4 * LANES));
    let (a_rest, b_rest) = (a_wide.remainder(), b_wide.remainder());
    for (x, y) in a_wide.zip(b_wide) {
        for u in 0..4 {
            for i in 0..LANES {
                acc[i] += term(x[u * LANES + i], y[u * LANES + i]);
            }
        }
    }
    let (a_chunks, b_chunks) = (a_rest.chunks_exact(LANES), b_rest.chunks_exact(LANES));
    let (a_tail, b_tail) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            acc[i] += term(x[i], y[i]);
        }
    }
    let mut total = 0.0;
    for lane in acc {
        total += lane;
    }
    for (x, y) in a_tail.iter().zip(b_tail) {
        total += term(*x, *y);
    }
    total
}

/// Inner product `a · b`.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    reduce(a, b, |x, y| x * y)
}

/// Squared Euclidean norm.
pub fn norm_sq(a: &[f32]) -> f32 {
    reduce(a, a, |x, _| x * x)
}

/// Euclidean norm.
pub fn norm(a: &[f32]) -> f32 {
    norm_sq(a).sqrt()
}

/// Squared Euclidean distance `‖a − b‖²`.
pub fn distance_sq(a: &[f32], b: &[f32]) -> f32 {
    reduce(a, b, |x, y| (x - y) * (x - y))
}

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let denom = norm(a) * norm(b);
    if denom > 0.0 {
        dot(a, b) / denom
    } else {
        0.0
    }
}

/// `out = a − b`.
pub fn sub_into(out: &mut [f32], a: &[f32], b: &[f32]) {
    assert!(out.len() == a.len() && a.len() == b.len(), "kernel inputs must have equal length");
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x - y;
    }
}

/// `out += alpha · x`.
pub fn axpy(out: &mut [f32], alpha: f32, x: &[f32]) {
    assert_eq!(out.len(), x.len(), "kernel inputs must have equal length");
    let mut o_chunks = out.chunks_exact_mut(UNROLL);
    let mut x_chunks = x.chunks_exact(UNROLL);
    for (o, v) in (&mut o_chunks).zip(&mut x_chunks) {
        for i in 0..UNROLL {
            o[i] += alpha * v[i];
        }
    }
    for (o, v) in o_chunks.into_remainder().iter_mut().zip(x_chunks.remainder()) {
        *o += alpha * v;
    }
}

/// `v *= alpha`.
pub fn scale(v: &mut [f32], alpha: f32) {
    for x in v {
        *x *= alpha;
    }
}

/// Fractions of positive, zero and negative coordinates of `v`, in that order.
/// An empty vector yields `[0, 1, 0]` (all of its no coordinates are zero, by convention).
pub fn sign_histogram(v: &[f32]) -> [f32; 3] {
    if v.is_empty() {
        return [0.0, 1.0, 0.0];
    }
    // Counting with integer lanes vectorizes and is exact.
    let mut pos = [0u32; LANES];
    let mut neg = [0u32; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            pos[i] += (c[i] > 0.0) as u32;
            neg[i] += (c[i] < 0.0) as u32;
        }
    }
    let mut p: u64 = pos.iter().map(|&x| x as u64).sum();
    let mut n: u64 = neg.iter().map(|&x| x as u64).sum();
    for &x in tail {
        p += (x > 0.0) as u64;
        n += (x < 0.0) as u64;
    }
    let len = v.len() as f64;
    let z = v.len() as u64 - p - n;
    [(p as f64 / len) as f32, (z as f64 / len) as f32, (n as f64 / len) as f32]
}

/// `Σ_r weights[r] · rows[r]`, rows of length `dim`.
pub fn weighted_sum(rows: &[f32], weights: &[f32], dim: usize) -> Vec<f32> {
    assert_eq!(rows.len(), weights.len() * dim, "rows must hold weights.len() rows of dim values");
    let mut out = vec![0.0f32; dim];
    for (row, &w) in rows.chunks_exact(dim.max(1)).zip(weights) {
        if w != 0.0 {
            axpy(&mut out, w, row);
        }
    }
    out
}

/// Coordinate-wise mean of the rows.
pub fn mean_rows(rows: &[f32], dim: usize) -> Vec<f32> {
    let k = if dim == 0 { 0 } else { rows.len() / dim };
    if k == 0 {
        return vec![0.0; dim];
    }
    weighted_sum(rows, &vec![1.0 / k as f32; k], dim)
}

/// Coordinate-wise population standard deviation of the rows around `mean`.
pub fn std_rows(rows: &[f32], mean: &[f32]) -> Vec<f32> {
    let dim = mean.len();
    let k = if dim == 0 { 0 } else { rows.len() / dim };
    let mut var = vec![0.0f32; dim];
    for row in rows.chunks_exact(dim.max(1)) {
        for ((v, x), m) in var.iter_mut().zip(row).zip(mean) {
            *v += (x - m) * (x - m);
        }
    }
    let inv = if k == 0 { 0.0 } else { 1.0 / k as f32 };
    var.iter().map(|v| (v * inv).sqrt()).collect()
}

/// Coordinate-wise μ + z·σ of the rows (population σ): the message of the "little is
/// enough" family of attacks, which hides within z standard deviations of the honest mean.
pub fn mean_plus_z_std(rows: &[f32], dim: usize, z: f32) -> Vec<f32> {
    let mut out = mean_rows(rows, dim);
    let std = std_rows(rows, &out);
    axpy(&mut out, z, &std);
    out
}

/// For every coordinate, sorts the values of `rows` (plus `extra`, if given) and averages
/// them after dropping the `trim` smallest and `trim` largest. Needs more than `2·trim`
/// values per coordinate.
pub fn trimmed_mean(rows: &[f32], extra: Option<&[f32]>, dim: usize, trim: usize) -> Result<Vec<f32>, String> {
    let k = if dim == 0 { 0 } else { rows.len() / dim } + extra.is_some() as usize;
    if k <= 2 * trim {
        return Err(format!("trimmed mean needs more than 2·{trim} = {} values per coordinate, got {k}", 2 * trim));
    }
    let kept = (k - 2 * trim) as f32;
    let mut column = Vec::with_capacity(k);
    let mut out = vec![0.0f32; dim];
    for (j, o) in out.iter_mut().enumerate() {
        column.clear();
        column.extend(rows.chunks_exact(dim).map(|r| r[j]));
        if let Some(e) = extra {
            column.push(e[j]);
        }
        column.sort_unstable_by(f32::total_cmp);
        *o = column[trim..k - trim].iter().sum::<f32>() / kept;
    }
    Ok(out)
}

/// Coordinate-wise median of the rows (plus `extra`, if given); the mean of the two middle
/// values when their count is even.
pub fn median(rows: &[f32], extra: Option<&[f32]>, dim: usize) -> Vec<f32> {
    let k = if dim == 0 { 0 } else { rows.len() / dim } + extra.is_some() as usize;
    if k == 0 {
        return vec![0.0; dim];
    }
    let mut column = Vec::with_capacity(k);
    let mut out = vec![0.0f32; dim];
    for (j, o) in out.iter_mut().enumerate() {
        column.clear();
        column.extend(rows.chunks_exact(dim).map(|r| r[j]));
        if let Some(e) = extra {
            column.push(e[j]);
        }
        column.sort_unstable_by(f32::total_cmp);
        *o = if k % 2 == 1 { column[k / 2] } else { 0.5 * (column[k / 2 - 1] + column[k / 2]) };
    }
    out
}

/// Checks that every one of `rows` has the length of the first; `what` names the kernel
/// in the error.
pub fn same_length(what: &str, rows: &[&[f32]]) -> Result<(), String> {
    let Some(first) = rows.first() else { return Ok(()) };
    match rows.iter().position(|v| v.len() != first.len()) {
        Some(bad) => Err(format!("{what}: row {bad} has {} values, row 0 has {}", rows[bad].len(), first.len())),
        None => Ok(()),
    }
}

/// `rows` (of one length) laid end to end, as the contiguous kernels take them, and that
/// length; `what` names the kernel in the error for no rows.
pub fn end_to_end(what: &str, rows: &[&[f32]]) -> Result<(Vec<f32>, usize), String> {
    match rows.first() {
        Some(first) => Ok((rows.concat(), first.len())),
        None => Err(format!("{what}: no rows")),
    }
}

/// Per coordinate, Σ over rows of sign(origin − row): +1, 0 or −1, a NaN difference 0;
/// counted in integers, so exact in any order.
pub fn sign_sum(rows: &[&[f32]], origin: &[f32]) -> Vec<f32> {
    let mut net = vec![0i32; origin.len()];
    for row in rows {
        for ((n, o), x) in net.iter_mut().zip(origin).zip(*row) {
            *n += i32::from(o - x > 0.0) - i32::from(o - x < 0.0);
        }
    }
    net.into_iter().map(|n| n as f32).collect()
}

/// Per coordinate, `x + s · (x − origin)`, in that order.
pub fn extrapolate(x: &[f32], origin: &[f32], s: f32) -> Vec<f32> {
    x.iter().zip(origin).map(|(x, m)| x + s * (x - m)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_norms_match_hand_values_across_the_lane_tail() {
        let a: Vec<f32> = (1..=11).map(|x| x as f32).collect(); // 8 lanes + 3 tail
        let b = vec![2.0f32; 11];
        assert_eq!(dot(&a, &b), 132.0);
        assert_eq!(norm_sq(&a), 506.0);
        assert_eq!(distance_sq(&[1.0, 2.0], &[4.0, 6.0]), 25.0);
        // 4·LANES + LANES + 3: the unrolled chunk, one lane chunk and a tail.
        let long: Vec<f32> = (1..=43).map(|x| x as f32).collect();
        assert_eq!(dot(&long, &vec![1.0; 43]), 946.0);
        assert_eq!(norm_sq(&long), (1..=43).map(|x| (x * x) as f32).sum::<f32>());
        assert_eq!(norm(&[3.0, 4.0]), 5.0);
    }

    #[test]
    fn axpy_is_elementwise_across_unrolled_chunks_and_tail() {
        let x: Vec<f32> = (0..37).map(|i| i as f32).collect(); // 2 chunks of 16 + 5
        let mut out = vec![1.0f32; 37];
        axpy(&mut out, 0.5, &x);
        assert!(out.iter().enumerate().all(|(i, &o)| o == 1.0 + 0.5 * i as f32), "{out:?}");
    }

    #[test]
    fn cosine_of_zero_vector_is_zero() {
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    }

    #[test]
    fn sign_histogram_counts_fractions() {
        let v = [1.0, -2.0, 0.0, 3.0, 0.0, 4.0, -1.0, 5.0, 0.0, -0.5];
        assert_eq!(sign_histogram(&v), [0.4, 0.3, 0.3]);
        assert_eq!(sign_histogram(&[2.0; 9]), [1.0, 0.0, 0.0]);
    }

    #[test]
    fn weighted_sum_and_mean() {
        let rows = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(weighted_sum(&rows, &[1.0, 0.5], 3), vec![3.0, 4.5, 6.0]);
        assert_eq!(mean_rows(&rows, 3), vec![2.5, 3.5, 4.5]);
        assert_eq!(std_rows(&rows, &[2.5, 3.5, 4.5]), vec![1.5, 1.5, 1.5]);
        assert_eq!(mean_plus_z_std(&rows, 3, 2.0), vec![5.5, 6.5, 7.5]);
        assert_eq!(mean_plus_z_std(&rows, 3, -1.0), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn trimmed_mean_drops_extremes_per_coordinate() {
        // Three rows of two coordinates plus an extra row.
        let rows = [1.0, 10.0, 100.0, -5.0, 2.0, 0.0];
        let out = trimmed_mean(&rows, Some(&[3.0, 1.0]), 2, 1).unwrap();
        assert_eq!(out, vec![2.5, 0.5]);
        assert!(trimmed_mean(&rows, None, 2, 2).is_err());
    }

    #[test]
    fn sign_sums_count_exactly_and_ignore_nan() {
        let origin = [1.0, 0.0, f32::NAN, 2.0];
        let rows: [&[f32]; 3] = [&[0.0, 0.0, 1.0, 3.0], &[0.5, 1.0, 1.0, 3.0], &[2.0, f32::NAN, 1.0, 2.0]];
        assert_eq!(sign_sum(&rows, &origin), vec![1.0, -1.0, 0.0, -2.0]);
        assert!(same_length("k", &rows).is_ok());
        assert_eq!(same_length("k", &[&[1.0], &[1.0, 2.0]]).unwrap_err(), "k: row 1 has 2 values, row 0 has 1");
    }

    #[test]
    fn median_handles_odd_and_even_counts() {
        let rows = [1.0, 10.0, 100.0, -5.0, 2.0, 0.0];
        assert_eq!(median(&rows, None, 2), vec![2.0, 0.0]);
        assert_eq!(median(&rows, Some(&[3.0, 1.0]), 2), vec![2.5, 0.5]);
    }
}
