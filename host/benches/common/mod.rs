//! What the benchmarks share: timing a call.

use std::time::{Duration, Instant};

/// Median and minimum per-call time. The minimum is reported too because a shared 2-core
/// machine adds noise that only ever makes calls slower.
#[derive(Clone, Copy)]
pub struct Timing {
    pub median: Duration,
    // Each bench compiles this module; not every one reports the minimum.
    #[allow(dead_code)]
    pub min: Duration,
}

/// Times `calls` calls after `warmup` untimed ones; returns the timing and the last output.
pub fn time(warmup: usize, calls: usize, mut call: impl FnMut() -> Vec<f32>) -> (Timing, Vec<f32>) {
    let mut out = Vec::new();
    for _ in 0..warmup {
        out = call();
    }
    let mut times: Vec<Duration> = (0..calls)
        .map(|_| {
            let start = Instant::now();
            out = std::hint::black_box(call());
            start.elapsed()
        })
        .collect();
    times.sort();
    (Timing { median: times[calls / 2], min: times[0] }, out)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
