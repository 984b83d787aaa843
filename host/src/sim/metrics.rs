//! The statistics behind the per-epoch metrics: Eq. (3)'s consensus error and quantiles.

/// `Some(x)` when finite.
pub fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Eq. (3) of the paper over `m` models of length `dim` stored row after row.
pub fn consensus_error(models: &[f32], dim: usize) -> Option<f64> {
    let m = models.len() / dim;
    if m == 0 {
        return None;
    }
    let mut mean = vec![0.0f64; dim];
    for row in models.chunks_exact(dim) {
        for (s, &x) in mean.iter_mut().zip(row) {
            *s += x as f64;
        }
    }
    mean.iter_mut().for_each(|s| *s /= m as f64);
    let mean_sq: f64 = mean.iter().map(|x| x * x).sum();
    if mean_sq == 0.0 {
        return None;
    }
    let spread: f64 =
        models.chunks_exact(dim).map(|row| row.iter().zip(&mean).map(|(&x, &c)| (x as f64 - c).powi(2)).sum::<f64>() / mean_sq).sum();
    finite(spread / m as f64)
}

/// The `q`-quantile (nearest rank) of `values`, in the same unit; 0 when empty.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consensus_error_follows_eq_3() {
        // Models (1, 0) and (3, 0): mean (2, 0), ‖x̄‖² = 4, deviations 1 each → err = 1/4.
        assert_eq!(consensus_error(&[1.0, 0.0, 3.0, 0.0], 2), Some(0.25));
        assert_eq!(consensus_error(&[1.0, 2.0, 1.0, 2.0], 2), Some(0.0));
        assert_eq!(consensus_error(&[f32::NAN, 2.0], 2), None);
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), 10.0);
        assert_eq!(quantile(&mut v, 0.95), 19.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }
}
