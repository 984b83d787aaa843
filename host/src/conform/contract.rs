//! The contract properties: what `info` says about the policy, and how `configure` treats
//! defaults, unknown names and ill-typed values. Both kinds export the same two functions,
//! so these checks are written once over a [`Configurable`] instance.

use super::{find, CheckResult, Failure, Probe, Verdict};
use crate::policy::{ParamType, ParamValue, PolicyInfo};
use crate::sandbox::{AttackInstance, DefenseInstance, FaultKind, PolicyError};

/// A parameter name no policy declares.
const UNKNOWN_PARAM: &str = "conform-no-such-parameter";

/// An instance whose `configure` can be called, whatever its kind.
trait Configurable {
    fn configure(&mut self, params: &[(String, ParamValue)]) -> Result<(), PolicyError>;
}

impl Configurable for DefenseInstance {
    fn configure(&mut self, params: &[(String, ParamValue)]) -> Result<(), PolicyError> {
        DefenseInstance::configure(self, params)
    }
}

impl Configurable for AttackInstance {
    fn configure(&mut self, params: &[(String, ParamValue)]) -> Result<(), PolicyError> {
        AttackInstance::configure(self, params)
    }
}

pub fn rejects_unknown(probe: &Probe) -> CheckResult {
    let params = vec![(UNKNOWN_PARAM.to_string(), ParamValue::Integer(1))];
    rejected(probe, &params, UNKNOWN_PARAM).map(|()| Verdict::Checked(format!("`{UNKNOWN_PARAM}=1` is refused")))
}

/// A fresh, unconfigured instance: contract checks call `configure` themselves.
fn fresh(probe: &Probe) -> Result<Box<dyn Configurable>, Failure> {
    let instance: anyhow::Result<Box<dyn Configurable>> = match probe.policy.kind {
        crate::policy::PolicyKind::Defense => {
            DefenseInstance::new(probe.sandbox, probe.policy, Some(0), Box::new(crate::sandbox::NoLocalData)).map(|i| Box::new(i) as _)
        }
        crate::policy::PolicyKind::Attack => AttackInstance::new(probe.sandbox, probe.policy, 0).map(|i| Box::new(i) as _),
    };
    instance.map_err(|e| Failure::new(format!("instantiating failed: {e:#}"), None))
}

/// Every problem with what `info` says, in one list (empty when well formed).
pub fn info_problems(info: &PolicyInfo, exported: crate::policy::PolicyKind) -> Vec<String> {
    let mut problems = Vec::new();
    for (field, value) in [("name", &info.name), ("version", &info.version), ("description", &info.description)] {
        if value.trim().is_empty() {
            problems.push(format!("`{field}` is empty"));
        }
    }
    if info.kind != exported {
        problems.push(format!("`kind` is {} but the component exports the {exported} interface", info.kind));
    }
    for (i, spec) in info.params.iter().enumerate() {
        if spec.name.trim().is_empty() {
            problems.push(format!("parameter #{i} has an empty name"));
        }
        if info.params[..i].iter().any(|s| s.name == spec.name) {
            problems.push(format!("parameter `{}` is declared twice", spec.name));
        }
        if type_of(&spec.default) != spec.ty {
            problems.push(format!("parameter `{}` is declared {:?} but its default {:?} is not", spec.name, spec.ty, spec.default));
        }
        if spec.description.trim().is_empty() {
            problems.push(format!("parameter `{}` has no description", spec.name));
        }
    }
    for name in &info.opt_outs {
        match find(name) {
            None => problems.push(format!("opt-out `{name}` names no conformance property (see docs/conformance.md)")),
            Some(p) if !p.opt_outable => problems.push(format!("property `{name}` is required of every policy and cannot be opted out")),
            Some(_) => {}
        }
    }
    problems
}

fn type_of(value: &ParamValue) -> ParamType {
    match value {
        ParamValue::Boolean(_) => ParamType::Boolean,
        ParamValue::Integer(_) => ParamType::Integer,
        ParamValue::Float(_) => ParamType::Float,
        ParamValue::Text(_) => ParamType::Text,
    }
}

pub fn info_well_formed(probe: &Probe) -> CheckResult {
    let info = &probe.policy.info;
    let problems = info_problems(info, probe.policy.kind);
    if problems.is_empty() {
        return Ok(Verdict::Checked(format!("{} parameter(s), {} opt-out(s)", info.params.len(), info.opt_outs.len())));
    }
    Err(Failure::new(problems.join("; "), Some("info()".into())))
}

fn describe(params: &[(String, ParamValue)]) -> String {
    let list: Vec<String> = params.iter().map(|(n, v)| format!("{n}={v}")).collect();
    format!("configure([{}])", list.join(", "))
}

pub fn defaults_configure(probe: &Probe) -> CheckResult {
    let explicit: Vec<(String, ParamValue)> = probe.policy.info.params.iter().map(|s| (s.name.clone(), s.default.clone())).collect();
    for params in [Vec::new(), explicit] {
        fresh(probe)?.configure(&params).map_err(|e| Failure::call(e, Some(describe(&params))))?;
    }
    Ok(Verdict::Checked(format!("no parameters and all {} defaults accepted", probe.policy.info.params.len())))
}

/// `configure(params)` on a fresh instance must be an `err` mentioning `name`.
fn rejected(probe: &Probe, params: &[(String, ParamValue)], name: &str) -> Result<(), Failure> {
    let input = Some(describe(params));
    match fresh(probe)?.configure(params) {
        Ok(()) => Err(Failure::new(format!("`configure` accepted `{name}`; it must return `err` naming it"), input)),
        Err(PolicyError { kind: FaultKind::Rejected(msg), .. }) if msg.contains(name) => Ok(()),
        Err(PolicyError { kind: FaultKind::Rejected(msg), .. }) => {
            Err(Failure::new(format!("`configure` returned `err` without naming `{name}`: {msg}"), input))
        }
        Err(e) => Err(Failure::call(e, input)),
    }
}

/// A value of another type than `ty` (an integer is not used for floats: SDKs may widen it).
fn ill_typed_value(ty: ParamType) -> ParamValue {
    match ty {
        ParamType::Boolean | ParamType::Integer | ParamType::Float => ParamValue::Text("conform-ill-typed".into()),
        ParamType::Text => ParamValue::Boolean(true),
    }
}

pub fn rejects_ill_typed(probe: &Probe) -> CheckResult {
    let specs = &probe.policy.info.params;
    if specs.is_empty() {
        return Ok(Verdict::NotApplicable("no parameters are declared".into()));
    }
    for spec in specs {
        rejected(probe, &[(spec.name.clone(), ill_typed_value(spec.ty))], &spec.name)?;
    }
    Ok(Verdict::Checked(format!("a wrongly typed value for each of {} parameter(s) is refused", specs.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ParamSpec, PolicyKind};

    fn info() -> PolicyInfo {
        PolicyInfo {
            name: "x".into(),
            version: "0.1.0".into(),
            kind: PolicyKind::Defense,
            description: "d".into(),
            params: vec![ParamSpec { name: "c".into(), ty: ParamType::Float, default: ParamValue::Float(1.0), description: "c".into() }],
            stateless: true,
            opt_outs: vec!["bounded-cost".into()],
        }
    }

    #[test]
    fn a_well_formed_info_has_no_problems() {
        assert_eq!(info_problems(&info(), PolicyKind::Defense), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_listed() {
        let mut i = info();
        i.description = " ".into();
        i.params.push(i.params[0].clone());
        i.params[1].default = ParamValue::Integer(1);
        i.params[1].description.clear();
        i.opt_outs = vec!["commutative".into(), "deterministic".into()];
        let p = info_problems(&i, PolicyKind::Attack).join("\n");
        for want in [
            "`description` is empty",
            "exports the attack interface",
            "`c` is declared twice",
            "declared Float but its default Integer(1)",
            "`c` has no description",
            "`commutative` names no",
            "`deterministic` is required",
        ] {
            assert!(p.contains(want), "missing {want:?} in:\n{p}");
        }
    }
}
