//! The one error type every policy failure becomes: it names the policy (name, version,
//! file), the node and round, the call, and the cause, so a user can tell at a glance which
//! component misbehaved and what to change.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Who a fault is about.
#[derive(Clone, Debug)]
pub struct PolicyLabel {
    pub name: String,
    pub version: String,
    pub file: PathBuf,
}

impl std::fmt::Display for PolicyLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "policy `{}` {} ({})", self.name, self.version, self.file.display())
    }
}

/// What went wrong inside (or at the boundary of) a policy call.
#[derive(Clone, Debug, thiserror::Error)]
pub enum FaultKind {
    #[error("trapped: {0}")]
    Trap(String),
    #[error("ran past its deadline of {deadline:?} per call, stopped after {} ms{} (raise it with --policy-timeout-ms)",
        elapsed.as_millis(), if *in_host { " inside a host call it made" } else { "" })]
    Timeout { deadline: Duration, elapsed: Duration, in_host: bool },
    #[error("tried to grow its linear memory to {desired} bytes, over the cap of {cap} bytes (raise it with --policy-memory-mb)")]
    MemoryLimit { desired: usize, cap: usize },
    #[error(
        "tried to grow its linear memory, which would bring all live policy instances to {desired_total} bytes, over their \
         total budget of {budget} bytes (raise it with --policy-memory-total-mb, or run fewer instances of a stateful policy)"
    )]
    MemoryBudget { desired_total: usize, budget: usize },
    #[error(
        "moved more than {limit} bytes from the policy to the host in one call, the most a call may move \
         (raise it with --policy-transfer-mb){}", expected.map(|e| format!("; this call's result should be {e} bytes")).unwrap_or_default()
    )]
    TransferLimit { limit: usize, expected: Option<usize> },
    #[error("returned {got} values, expected {expected}")]
    WrongLength { expected: usize, got: usize },
    #[error("returned a non-finite value {value} at index {index} from finite inputs")]
    NonFinite { index: usize, value: f32 },
    #[error("returned an error: {0}")]
    Rejected(String),
}

impl FaultKind {
    /// Short stable name of the fault class, printed as `error[CLASS]` by the CLI and
    /// matched by scripts and tests.
    pub fn class(&self) -> &'static str {
        match self {
            FaultKind::Trap(_) => "trap",
            FaultKind::Timeout { .. } => "timeout",
            FaultKind::MemoryLimit { .. } | FaultKind::MemoryBudget { .. } => "memory-limit",
            FaultKind::TransferLimit { .. } => "transfer-limit",
            FaultKind::WrongLength { .. } => "wrong-length",
            FaultKind::NonFinite { .. } => "non-finite",
            FaultKind::Rejected(_) => "policy-error",
        }
    }
}

/// A failed policy call.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{policy} failed in `{call}`{}: {kind}", where_(.node, .round))]
pub struct PolicyError {
    /// Shared with the instance that raised it: an error is built on every faulty call and
    /// travels up through `Result`s, so it stays small and cheap to clone.
    pub policy: Arc<PolicyLabel>,
    pub call: &'static str,
    pub node: Option<u32>,
    pub round: Option<u64>,
    pub kind: FaultKind,
}

fn where_(node: &Option<u32>, round: &Option<u64>) -> String {
    match (node, round) {
        (Some(n), Some(r)) => format!(" at node {n}, round {r}"),
        (Some(n), None) => format!(" at node {n}"),
        (None, Some(r)) => format!(" at round {r}"),
        (None, None) => String::new(),
    }
}

/// Returns the index and value of the first non-finite entry, if any.
pub fn first_non_finite(v: &[f32]) -> Option<(usize, f32)> {
    v.iter().position(|x| !x.is_finite()).map(|i| (i, v[i]))
}

/// The class `main` prints as `error[CLASS]` so that scripts can tell policy faults apart:
/// a policy fault's class, `incompatible-version`, or the class an error raised on another
/// MPI rank had there.
pub fn error_class(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|e| {
        if let Some(p) = e.downcast_ref::<PolicyError>() {
            Some(p.kind.class().to_string())
        } else if e.is::<super::IncompatibleVersion>() {
            Some("incompatible-version".to_string())
        } else if let Some(agreed) = e.downcast_ref::<crate::ranks::Agreed>() {
            error_class(&agreed.0)
        } else {
            e.downcast_ref::<crate::ranks::RemoteError>().and_then(|r| r.class.clone())
        }
    })
}
