//! WASI 0.2 for components from other toolchains (componentize-py, Rust on wasm32-wasip2),
//! with nothing granted: no preopened directories, no environment, no arguments, stdin
//! closed, no sockets or name lookup. The wall clock shows one fixed instant and the
//! monotonic clock never advances; random bytes come from a generator seeded by the
//! instance's seed, the node and the round, as the `random-u64` import's are. So a policy
//! written against WASI observes nothing of the machine, and its results stay deterministic.
//! What it prints to stdout or stderr goes to the policy log under the usual flood limits.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rand10::SeedableRng as _;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

/// The instant the wall clock always shows: 2000-01-01T00:00:00Z.
pub const FIXED_WALL_CLOCK_SECS: u64 = 946_684_800;
/// Bytes a call may print to stdout and stderr together; the rest is counted and dropped.
const OUTPUT_BYTES_PER_CALL: usize = 16 << 10;
/// Largest `get-random-bytes` request; a larger one traps.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

struct FixedWallClock;

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(FIXED_WALL_CLOCK_SECS)
    }
}

struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        0
    }
}

/// What a component printed during the current call, stdout and stderr together.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<Printed>>);

#[derive(Default)]
struct Printed {
    bytes: Vec<u8>,
    dropped: usize,
}

impl Output {
    /// The call's output so far and how many bytes were dropped past the cap; empties it.
    pub fn take(&self) -> (Vec<u8>, usize) {
        let mut printed = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut printed.bytes), std::mem::take(&mut printed.dropped))
    }

    fn append(&self, bytes: &[u8]) {
        let mut printed = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = OUTPUT_BYTES_PER_CALL.saturating_sub(printed.bytes.len());
        let kept = bytes.len().min(room);
        printed.bytes.extend_from_slice(&bytes[..kept]);
        printed.dropped += bytes.len() - kept;
    }
}

impl IsTerminal for Output {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Output {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(OutputWriter(self.clone()))
    }
}

/// Accepts every write (a policy never blocks or fails on printing) and keeps what fits.
struct OutputWriter(Output);

impl tokio::io::AsyncWrite for OutputWriter {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.0.append(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A WASI context granting nothing, its randomness seeded by `seed`, printing to `output`.
/// Every knob is set explicitly rather than trusting the builder's defaults.
pub fn context(seed: u64, output: &Output) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdin(tokio::io::empty())
        .stdout(output.clone())
        .stderr(output.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .wall_clock(FixedWallClock)
        .monotonic_clock(FrozenMonotonicClock)
        .secure_random(rand10::rngs::StdRng::seed_from_u64(seed))
        .insecure_random(rand10::rngs::StdRng::seed_from_u64(seed.rotate_left(32) ^ 0x5EED))
        .insecure_random_seed(u128::from(seed))
        .max_random_size(MAX_RANDOM_BYTES);
    builder.build()
}

/// The WASI interfaces among a component's imports (`wasi:filesystem/types@0.2.9`, …).
pub fn wasi_imports(imports: &[String]) -> Vec<&str> {
    imports.iter().map(String::as_str).filter(|i| i.starts_with("wasi:")).collect()
}
