//! The two properties about call histories, written once for both kinds: `deterministic`
//! (one call sequence on two fresh instances) and `stateless-honest` (A, B, A on one
//! instance). The kind-specific modules supply how to make an instance, make a call, and
//! compare two outputs bit for bit.

use super::Failure;

/// How one kind's calls are made and compared.
pub trait Calls {
    type Instance;
    type Case;
    type Output;
    fn fresh(&self, seed: u64) -> Result<Self::Instance, Failure>;
    fn call(&self, instance: &mut Self::Instance, case: &Self::Case) -> Result<Self::Output, Failure>;
    /// Where two outputs differ bit for bit, if they do.
    fn difference(&self, a: &Self::Output, b: &Self::Output) -> Option<String>;
    fn describe(&self, case: &Self::Case) -> String;
}

/// The same `calls`, in order, on two fresh instances seeded with `seed` must give
/// bit-identical outputs.
pub fn deterministic<K: Calls>(kind: &K, seed: u64, calls: &[K::Case]) -> Result<(), Failure> {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut instance = kind.fresh(seed)?;
        runs.push(calls.iter().map(|c| kind.call(&mut instance, c)).collect::<Result<Vec<_>, _>>()?);
    }
    for (i, case) in calls.iter().enumerate() {
        if let Some(diff) = kind.difference(&runs[0][i], &runs[1][i]) {
            let reason = format!("call {} of the same sequence on two fresh instances gave different outputs: {diff}", i + 1);
            return Err(Failure::new(reason, Some(kind.describe(case))));
        }
    }
    Ok(())
}

/// Call `a`, then `b`, then `a` again on one instance: a stateless policy must answer `a`
/// bit-identically both times.
pub fn stateless_honest<K: Calls>(kind: &K, seed: u64, a: &K::Case, b: &K::Case) -> Result<(), Failure> {
    let mut instance = kind.fresh(seed)?;
    let first = kind.call(&mut instance, a)?;
    kind.call(&mut instance, b)?;
    let again = kind.call(&mut instance, a)?;
    match kind.difference(&first, &again) {
        None => Ok(()),
        Some(diff) => {
            let reason = format!("declares stateless, but call A gave a different output after call B: {diff}");
            Err(Failure::new(reason, Some(format!("A = {}; B = {}", kind.describe(a), kind.describe(b)))))
        }
    }
}
