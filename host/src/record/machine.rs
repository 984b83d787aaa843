//! Where a run was computed. Same config and seed give identical metrics on one kind of
//! CPU, not across kinds: libtorch's CPU kernels (ATen's vectorized loops, oneDNN's
//! convolutions) pick their code path by instruction set, and AVX-512 and AVX2 paths round
//! differently, so trajectories drift apart over a long run. The summary records the CPU
//! and any pin of those code paths, so a reader knows which runs are bit-comparable.

use serde::{Deserialize, Serialize};

/// Environment variables that pin libtorch's CPU code paths; recorded when set.
const KERNEL_PINS: &[&str] = &["ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_CBWR"];

/// OpenMP's wait policy, read by libgomp when libtorch loads (so it must be set before the
/// process starts); `sweep --jobs N` sets it to `PASSIVE` for its cells.
pub const OMP_WAIT_POLICY: &str = "OMP_WAIT_POLICY";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo (or "unknown").
    pub cpu: String,
    /// The widest vector instruction set the CPU reports: `avx512`, `avx2`, `neon`, … .
    pub vector_isa: String,
    pub logical_cores: usize,
    /// `NAME=value` for each variable of [`KERNEL_PINS`] that is set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kernel_pins: Vec<String>,
    /// `OMP_WAIT_POLICY` when set: how idle libtorch threads wait at a barrier. It changes
    /// no result, only the timings of runs that share cores (see `sweep --jobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omp_wait_policy: Option<String>,
    /// libtorch's intra-op threads (the count changes training's last bits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_threads: Option<usize>,
    /// MPI ranks that computed the run together (absent for one process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpi_ranks: Option<usize>,
}

impl Machine {
    pub fn this() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Machine {
            cpu: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
            vector_isa: vector_isa(&cpuinfo),
            logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel_pins: KERNEL_PINS.iter().filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}"))).collect(),
            omp_wait_policy: std::env::var(OMP_WAIT_POLICY).ok(),
            torch_threads: Some(byzhost_train::threads()),
            mpi_ranks: Some(crate::ranks::Ranks::world().size()).filter(|&k| k > 1),
        }
    }

    /// One line for a report: CPU, instruction set, pins and wait policy.
    pub fn describe(&self) -> String {
        let mut s = format!("{} ({}, {} logical cores", self.cpu, self.vector_isa, self.logical_cores);
        if let Some(threads) = self.torch_threads {
            s.push_str(&format!(", {threads} libtorch threads"));
        }
        for pin in &self.kernel_pins {
            s.push_str(", ");
            s.push_str(pin);
        }
        if let Some(policy) = &self.omp_wait_policy {
            s.push_str(&format!(", {OMP_WAIT_POLICY}={policy}"));
        }
        if let Some(k) = self.mpi_ranks {
            s.push_str(&format!(", {k} MPI ranks"));
        }
        s.push(')');
        s
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    let line = cpuinfo.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

fn vector_isa(cpuinfo: &str) -> String {
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags") || l.starts_with("Features"))
        .and_then(|l| l.split_once(':'))
        .map_or(Vec::new(), |(_, f)| f.split_whitespace().collect());
    let has = |f: &str| flags.contains(&f);
    if has("avx512f") {
        "avx512"
    } else if has("avx2") {
        "avx2"
    } else if has("avx") {
        "avx"
    } else if has("asimd") {
        "neon"
    } else if flags.is_empty() {
        "unknown"
    } else {
        "sse"
    }
    .into()
}

/// Peak resident set size of this process in MiB, from `/proc/self/status` (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_model_and_the_widest_vector_set_from_cpuinfo() {
        let amd = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma\n";
        assert_eq!(cpu_model(amd).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(vector_isa(amd), "avx2");
        assert_eq!(vector_isa("flags\t: sse2 avx2 avx512f avx512bw\n"), "avx512");
        assert_eq!(vector_isa("Features\t: fp asimd evtstrm\n"), "neon");
        assert_eq!(vector_isa(""), "unknown");
        assert_eq!(cpu_model(""), None);
    }

    #[test]
    fn this_machine_is_described_in_one_line() {
        let m = Machine::this();
        assert!(m.logical_cores >= 1);
        let line = m.describe();
        assert!(line.starts_with(&m.cpu) && line.contains("logical cores"), "{line}");
    }
}
