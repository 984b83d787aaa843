//! The conformance suite behind `byzhost conform`: named properties every policy component
//! should satisfy, checked through the real sandbox on seeded inputs.
//!
//! Each property has a stable name (used in reports, in tests and in a policy's
//! `info().opt_outs`), a one-line meaning, and the kinds it applies to. A check returns a
//! pass with a short detail, or a failure with the reason and the smallest input that
//! shows it (checks walk a ladder of input sizes from tiny to realistic and stop at the
//! first failing one). Every call runs on a fresh instance unless the property is about
//! history, so one property's calls cannot make another fail. See docs/conformance.md.

mod attack;
mod contract;
mod defense;
mod history;
pub mod inputs;

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::policy::PolicyKind;
use crate::sandbox::{AttackInstance, DefenseInstance, LoadedPolicy, PolicyError, Sandbox};
use inputs::QuadraticLoss;

/// Which kinds of policy a property is checked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applies {
    /// Both kinds, through the common `info`/`configure` exports ([`contract`]).
    Contract,
    /// Both kinds, through `aggregate` ([`defense`]) or `craft` ([`attack`]).
    Both,
    /// Defenses only ([`defense`]).
    DefenseOnly,
}

/// Every conformance property, in report order. Adding one means adding it to
/// [`PropertyId::ALL`] and to the exhaustive matches of [`PropertyId::spec`] and
/// [`check_property`], and a non-conforming fixture to the matrix of tests/cli/conform.rs,
/// which does not build until it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PropertyId {
    InfoWellFormed,
    DefaultsConfigure,
    RejectsUnknownParam,
    RejectsIllTypedParam,
    OutputShape,
    Deterministic,
    IdentityOnAgreement,
    OrderIndependent,
    NoNeighbors,
    RejectsMalformedInput,
    BoundedCost,
    StatelessHonest,
}

/// One conformance property.
#[derive(Clone, Copy, Debug)]
pub struct Property {
    pub id: PropertyId,
    /// Stable name, e.g. `order-independent`: used in reports, tests and a policy's
    /// `info().opt_outs`.
    pub name: &'static str,
    /// One line saying what is checked.
    pub meaning: &'static str,
    pub applies: Applies,
    /// Whether a policy may declare it in `info().opt_outs`: only properties that some
    /// legitimate rules cannot satisfy; the contract, shapes, determinism and honesty about
    /// state are required of every policy.
    pub opt_outable: bool,
}

impl PropertyId {
    pub const ALL: [PropertyId; 12] = [
        PropertyId::InfoWellFormed,
        PropertyId::DefaultsConfigure,
        PropertyId::RejectsUnknownParam,
        PropertyId::RejectsIllTypedParam,
        PropertyId::OutputShape,
        PropertyId::Deterministic,
        PropertyId::IdentityOnAgreement,
        PropertyId::OrderIndependent,
        PropertyId::NoNeighbors,
        PropertyId::RejectsMalformedInput,
        PropertyId::BoundedCost,
        PropertyId::StatelessHonest,
    ];

    pub fn spec(self) -> Property {
        use Applies::{Both, Contract, DefenseOnly};
        let (name, meaning, applies, opt_outable) = match self {
            PropertyId::InfoWellFormed => (
                "info-well-formed",
                "`info` has a name, version and description, the exported kind, unique typed and described parameters, and known opt-outs",
                Contract,
                false,
            ),
            PropertyId::DefaultsConfigure => {
                ("defaults-configure", "`configure` accepts no parameters and every declared default given explicitly", Contract, false)
            }
            PropertyId::RejectsUnknownParam => {
                ("rejects-unknown-param", "an undeclared parameter is an `err` naming it, not a trap", Contract, false)
            }
            PropertyId::RejectsIllTypedParam => {
                ("rejects-ill-typed-param", "a value of the wrong type is an `err` naming the parameter, not a trap", Contract, false)
            }
            PropertyId::OutputShape => (
                "output-shape",
                "valid inputs give `dim` finite values (defense) or one row per Byzantine node or pair (attack)",
                Both,
                false,
            ),
            PropertyId::Deterministic => {
                ("deterministic", "the same calls with the same seeds give bit-identical outputs on fresh instances", Both, false)
            }
            PropertyId::IdentityOnAgreement => {
                ("identity-on-agreement", "when prev, local and every received model are equal, the output equals them", DefenseOnly, true)
            }
            PropertyId::OrderIndependent => (
                "order-independent",
                "permuting the received models (with their ids and degrees) does not change the output",
                DefenseOnly,
                true,
            ),
            PropertyId::NoNeighbors => {
                ("no-neighbors", "a node with no neighbours (k = 0) gets `dim` finite values, not an error", DefenseOnly, true)
            }
            PropertyId::RejectsMalformedInput => (
                "rejects-malformed-input",
                "received not a multiple of dim, or prev of the wrong length, is an `err`, not a trap",
                DefenseOnly,
                false,
            ),
            PropertyId::BoundedCost => {
                ("bounded-cost", "one call completes within the sandbox limits at k = 30 and at k = 180 with d = 80,202", Both, true)
            }
            PropertyId::StatelessHonest => {
                ("stateless-honest", "a policy declaring itself stateless answers call A the same before and after call B", Both, false)
            }
        };
        Property { id: self, name, meaning, applies, opt_outable }
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

/// Every property, in report order.
pub fn properties() -> impl Iterator<Item = Property> {
    PropertyId::ALL.into_iter().map(PropertyId::spec)
}

/// Looks a property up by name.
pub fn find(name: &str) -> Option<Property> {
    properties().find(|p| p.name == name)
}

/// Checks one property that applies to the probe's kind: the one place a property is
/// dispatched to the code that checks it.
fn check_property(probe: &Probe, id: PropertyId) -> CheckResult {
    let by_kind = |defense: fn(&Probe) -> CheckResult, attack: fn(&Probe) -> CheckResult| match probe.policy.kind {
        PolicyKind::Defense => defense(probe),
        PolicyKind::Attack => attack(probe),
    };
    match id {
        PropertyId::InfoWellFormed => contract::info_well_formed(probe),
        PropertyId::DefaultsConfigure => contract::defaults_configure(probe),
        PropertyId::RejectsUnknownParam => contract::rejects_unknown(probe),
        PropertyId::RejectsIllTypedParam => contract::rejects_ill_typed(probe),
        PropertyId::OutputShape => by_kind(defense::output_shape, attack::output_shape),
        PropertyId::Deterministic => by_kind(defense::deterministic, attack::deterministic),
        PropertyId::IdentityOnAgreement => defense::identity_on_agreement(probe),
        PropertyId::OrderIndependent => defense::order_independent(probe),
        PropertyId::NoNeighbors => defense::no_neighbors(probe),
        PropertyId::RejectsMalformedInput => defense::rejects_malformed(probe),
        PropertyId::BoundedCost => by_kind(defense::bounded_cost, attack::bounded_cost),
        PropertyId::StatelessHonest if !probe.policy.info.stateless => {
            Ok(Verdict::NotApplicable("the policy declares itself stateful (stateless = false)".into()))
        }
        PropertyId::StatelessHonest => by_kind(defense::stateless_honest, attack::stateless_honest),
    }
}

/// How a property came out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    OptOut,
    /// Nothing to check (e.g. statelessness of a stateful policy), or not checked because
    /// the component does not load.
    NotApplicable,
}

/// Why a property failed, and the smallest input showing it.
#[derive(Clone, Debug)]
pub struct Failure {
    pub reason: String,
    pub input: Option<String>,
}

impl Failure {
    pub fn new(reason: impl Into<String>, input: Option<String>) -> Self {
        Failure { reason: reason.into(), input }
    }

    /// A policy call that failed: the call and its fault class and cause.
    pub fn call(err: PolicyError, input: Option<String>) -> Self {
        Failure::new(format!("`{}` failed [{}]: {}", err.call, err.kind.class(), err.kind), input)
    }
}

/// A check that did not fail.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Checked and satisfied; the detail says what was checked.
    Checked(String),
    /// Nothing to check for this policy; the detail says why.
    NotApplicable(String),
}

/// What a check returns.
pub type CheckResult = Result<Verdict, Failure>;

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyResult {
    pub name: &'static str,
    pub meaning: &'static str,
    pub status: Status,
    /// Pass: what was checked; fail: why; not applicable: why not.
    pub detail: String,
    /// Fail: the smallest input that shows the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    pub seconds: f64,
}

/// The whole report of one component.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub file: String,
    pub name: String,
    pub version: String,
    pub kind: Option<PolicyKind>,
    pub timeout_ms: u128,
    pub memory_mb: usize,
    pub passed: bool,
    pub properties: Vec<PropertyResult>,
}

/// Fresh, default-configured instances of the component under test.
pub struct Probe<'a> {
    pub sandbox: &'a Sandbox,
    pub policy: &'a LoadedPolicy,
}

/// Seed of the conformance loss oracle's target model.
const LOSS_SEED: u64 = 0x00C0_FFEE;

impl Probe<'_> {
    /// A fresh defense instance for node 0, seeded with `seed`, behind the conformance
    /// loss oracle, configured with its defaults.
    pub fn defense(&self, seed: u64) -> Result<DefenseInstance, Failure> {
        let mut inst = DefenseInstance::with_seed(self.sandbox, self.policy, 0, seed, Box::new(QuadraticLoss::new(LOSS_SEED)))
            .map_err(|e| Failure::new(format!("instantiating failed: {e:#}"), None))?;
        inst.configure(&[]).map_err(|e| Failure::call(e, Some("configure with no parameters".into())))?;
        Ok(inst)
    }

    /// A fresh attack instance seeded with `seed`, configured with its defaults.
    pub fn attack(&self, seed: u64) -> Result<AttackInstance, Failure> {
        let mut inst =
            AttackInstance::new(self.sandbox, self.policy, seed).map_err(|e| Failure::new(format!("instantiating failed: {e:#}"), None))?;
        inst.configure(&[]).map_err(|e| Failure::call(e, Some("configure with no parameters".into())))?;
        Ok(inst)
    }
}

/// Loads the component at `path` and checks every property that applies to its kind.
/// A component that does not load fails `info-well-formed` with the loader's reason.
pub fn check(sandbox: &Sandbox, path: &Path) -> Report {
    check_loaded(sandbox, &path.display().to_string(), || sandbox.load(path))
}

/// [`check`] of the policy `load` gives, named `name` (a file or a reference) in the report.
pub fn check_loaded(
    sandbox: &Sandbox,
    name: &str,
    load: impl FnOnce() -> anyhow::Result<std::sync::Arc<crate::sandbox::LoadedPolicy>>,
) -> Report {
    let limits = sandbox.limits();
    let mut report = Report {
        file: name.to_string(),
        name: String::new(),
        version: String::new(),
        kind: None,
        timeout_ms: limits.timeout.as_millis(),
        memory_mb: limits.memory_bytes >> 20,
        passed: false,
        properties: Vec::new(),
    };
    let started = Instant::now();
    let policy = match load() {
        Ok(policy) => policy,
        Err(e) => {
            let reason = format!("the component does not load: {e:#}");
            report.properties = properties()
                .map(|p| {
                    let (status, detail) = if p.id == PropertyId::InfoWellFormed {
                        (Status::Fail, reason.clone())
                    } else {
                        (Status::NotApplicable, "not checked: the component does not load".to_string())
                    };
                    PropertyResult { name: p.name, meaning: p.meaning, status, detail, input: None, seconds: 0.0 }
                })
                .collect();
            report.properties[0].seconds = started.elapsed().as_secs_f64();
            return report;
        }
    };
    report.name = policy.info.name.clone();
    report.version = policy.info.version.clone();
    report.kind = Some(policy.kind);
    let probe = Probe { sandbox, policy: &policy };
    for property in properties() {
        if property.applies == Applies::DefenseOnly && policy.kind != PolicyKind::Defense {
            continue;
        }
        report.properties.push(check_one(&probe, property));
    }
    report.passed = report.properties.iter().all(|p| p.status != Status::Fail);
    report
}

fn check_one(probe: &Probe, property: Property) -> PropertyResult {
    let declared = probe.policy.info.opt_outs.iter().any(|o| o == property.name);
    let started = Instant::now();
    let (status, detail, input) = if declared && property.opt_outable {
        (Status::OptOut, "declared in info().opt_outs".to_string(), None)
    } else {
        match check_property(probe, property.id) {
            Ok(Verdict::Checked(detail)) => (Status::Pass, detail, None),
            Ok(Verdict::NotApplicable(detail)) => (Status::NotApplicable, detail, None),
            Err(f) => (Status::Fail, f.reason, f.input),
        }
    };
    PropertyResult { name: property.name, meaning: property.meaning, status, detail, input, seconds: started.elapsed().as_secs_f64() }
}

/// Bit-level equality of two outputs; on a difference, the first differing index.
pub fn first_bit_difference(a: &[f32], b: &[f32]) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("lengths differ: {} vs {}", a.len(), b.len()));
    }
    a.iter().zip(b).position(|(x, y)| x.to_bits() != y.to_bits()).map(|i| format!("index {i}: {:e} vs {:e}", a[i], b[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_names_are_unique_and_kebab_case() {
        let all: Vec<Property> = properties().collect();
        for (i, p) in all.iter().enumerate() {
            assert!(p.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{}", p.name);
            assert!(all[..i].iter().all(|q| q.name != p.name && q.id != p.id), "{} twice", p.name);
            assert_eq!(find(p.name).map(|q| q.id), Some(p.id));
        }
        assert!(find("commutative").is_none());
    }

    #[test]
    fn bit_differences_name_the_index() {
        assert_eq!(first_bit_difference(&[1.0, 2.0], &[1.0, 2.0]), None);
        assert_eq!(first_bit_difference(&[0.0], &[-0.0]).unwrap(), "index 0: 0e0 vs -0e0");
        assert!(first_bit_difference(&[1.0], &[]).unwrap().contains("lengths differ"));
    }
}
