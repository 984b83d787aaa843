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

/// A call under test, returning its output.
pub type Call<'a> = Box<dyn FnMut() -> Vec<f32> + 'a>;

/// Times `calls` rounds of every one of `subjects`, one call of each per round, in turn,
/// after `warmup` untimed rounds: what slows the machine down for a while slows them all,
/// so their ratios hold up better than those of back-to-back series. Returns each subject's
/// timing and last output.
pub fn time_interleaved(warmup: usize, calls: usize, subjects: &mut [Call<'_>]) -> Vec<(Timing, Vec<f32>)> {
    let mut outs: Vec<Vec<f32>> = subjects.iter_mut().map(|_| Vec::new()).collect();
    for _ in 0..warmup {
        for (call, out) in subjects.iter_mut().zip(&mut outs) {
            *out = call();
        }
    }
    let mut times: Vec<Vec<Duration>> = subjects.iter().map(|_| Vec::with_capacity(calls)).collect();
    for _ in 0..calls {
        for ((call, out), t) in subjects.iter_mut().zip(&mut outs).zip(&mut times) {
            let start = Instant::now();
            *out = std::hint::black_box(call());
            t.push(start.elapsed());
        }
    }
    times
        .into_iter()
        .zip(outs)
        .map(|(mut t, out)| {
            t.sort();
            (Timing { median: t[calls / 2], min: t[0] }, out)
        })
        .collect()
}

/// Times `calls` calls after `warmup` untimed ones; returns the timing and the last output.
#[allow(dead_code)] // Each bench compiles this module; not every one times a lone call.
pub fn time<'a>(warmup: usize, calls: usize, call: impl FnMut() -> Vec<f32> + 'a) -> (Timing, Vec<f32>) {
    let timed = time_interleaved(warmup, calls, &mut [Box::new(call)]);
    timed.into_iter().next().expect("one subject, one timing")
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
