//! Parameter specs and values, and the checking every policy's `configure` gets for free:
//! unknown names and ill-typed values are rejected with an error naming the parameter,
//! and missing ones take their declared defaults.

use std::collections::BTreeMap;

/// The type a parameter's value must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    Boolean,
    Integer,
    Float,
    Text,
}

/// A parameter value.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Text(String),
}

impl ParamValue {
    pub fn ty(&self) -> ParamType {
        match self {
            ParamValue::Boolean(_) => ParamType::Boolean,
            ParamValue::Integer(_) => ParamType::Integer,
            ParamValue::Float(_) => ParamType::Float,
            ParamValue::Text(_) => ParamType::Text,
        }
    }
}

/// One parameter a policy accepts.
#[derive(Clone, Debug)]
pub struct ParamSpec {
    pub name: String,
    pub ty: ParamType,
    pub default: ParamValue,
    pub description: String,
}

impl ParamSpec {
    pub fn float(name: &str, default: f64, description: &str) -> Self {
        Self::new(name, ParamValue::Float(default), description)
    }
    pub fn integer(name: &str, default: i64, description: &str) -> Self {
        Self::new(name, ParamValue::Integer(default), description)
    }
    pub fn boolean(name: &str, default: bool, description: &str) -> Self {
        Self::new(name, ParamValue::Boolean(default), description)
    }
    pub fn text(name: &str, default: &str, description: &str) -> Self {
        Self::new(name, ParamValue::Text(default.to_string()), description)
    }
    fn new(name: &str, default: ParamValue, description: &str) -> Self {
        ParamSpec { name: name.to_string(), ty: default.ty(), default, description: description.to_string() }
    }
}

/// Checked parameter values, every declared parameter present.
#[derive(Clone, Debug, Default)]
pub struct Params {
    values: BTreeMap<String, ParamValue>,
}

impl Params {
    /// Checks `given` against `specs`: every name must be declared and every value of the
    /// declared type (an integer is accepted where a float is declared). Missing
    /// parameters take their defaults.
    pub fn resolve(specs: &[ParamSpec], given: Vec<(String, ParamValue)>) -> Result<Params, String> {
        let mut values: BTreeMap<String, ParamValue> = specs.iter().map(|s| (s.name.clone(), s.default.clone())).collect();
        for (name, value) in given {
            let Some(spec) = specs.iter().find(|s| s.name == name) else {
                let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                return Err(format!(
                    "unknown parameter `{name}`; this policy accepts: {}",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ));
            };
            let value = match (spec.ty, value) {
                (ParamType::Float, ParamValue::Integer(i)) => ParamValue::Float(i as f64),
                (ty, v) if v.ty() == ty => v,
                (ty, v) => {
                    return Err(format!("parameter `{name}` must be {ty:?}, got {v:?}"));
                }
            };
            if let ParamValue::Float(f) = value {
                if !f.is_finite() {
                    return Err(format!("parameter `{name}` must be finite, got {f}"));
                }
            }
            values.insert(name, value);
        }
        Ok(Params { values })
    }

    fn get(&self, name: &str) -> &ParamValue {
        self.values.get(name).unwrap_or_else(|| panic!("parameter `{name}` is not declared in info()"))
    }

    /// Value of a declared float parameter. Panics if `name` is not declared as a float:
    /// that is a bug in the policy, caught by its own unit tests.
    pub fn float(&self, name: &str) -> f64 {
        match self.get(name) {
            ParamValue::Float(f) => *f,
            other => panic!("parameter `{name}` is {other:?}, not a float"),
        }
    }
    /// Value of a declared float parameter that must be ≥ 0 (a weight, scale or
    /// temperature); `Err` naming the parameter otherwise.
    pub fn non_negative_float(&self, name: &str) -> Result<f64, String> {
        match self.float(name) {
            v if v >= 0.0 => Ok(v),
            v => Err(format!("parameter `{name}` must be >= 0, got {v}")),
        }
    }
    /// Value of a declared integer parameter.
    pub fn integer(&self, name: &str) -> i64 {
        match self.get(name) {
            ParamValue::Integer(i) => *i,
            other => panic!("parameter `{name}` is {other:?}, not an integer"),
        }
    }
    /// Value of a declared boolean parameter.
    pub fn boolean(&self, name: &str) -> bool {
        match self.get(name) {
            ParamValue::Boolean(b) => *b,
            other => panic!("parameter `{name}` is {other:?}, not a boolean"),
        }
    }
    /// Value of a declared text parameter.
    pub fn text(&self, name: &str) -> &str {
        match self.get(name) {
            ParamValue::Text(t) => t,
            other => panic!("parameter `{name}` is {other:?}, not text"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![ParamSpec::float("c", 5.0, "temperature"), ParamSpec::boolean("clip", true, "clip")]
    }

    #[test]
    fn defaults_fill_missing_parameters() {
        let p = Params::resolve(&specs(), vec![]).unwrap();
        assert_eq!(p.float("c"), 5.0);
        assert!(p.boolean("clip"));
    }

    #[test]
    fn integer_is_accepted_for_float() {
        let p = Params::resolve(&specs(), vec![("c".into(), ParamValue::Integer(3))]).unwrap();
        assert_eq!(p.float("c"), 3.0);
    }

    #[test]
    fn unknown_name_is_an_error_listing_known_names() {
        let e = Params::resolve(&specs(), vec![("k".into(), ParamValue::Integer(3))]).unwrap_err();
        assert!(e.contains("unknown parameter `k`") && e.contains("c, clip"), "{e}");
    }

    #[test]
    fn ill_typed_value_is_an_error_naming_the_parameter() {
        let e = Params::resolve(&specs(), vec![("clip".into(), ParamValue::Float(1.0))]).unwrap_err();
        assert!(e.contains("`clip` must be Boolean"), "{e}");
    }

    #[test]
    fn non_negative_float_names_the_parameter() {
        let p = Params::resolve(&specs(), vec![("c".into(), ParamValue::Float(-0.5))]).unwrap();
        assert_eq!(p.non_negative_float("c").unwrap_err(), "parameter `c` must be >= 0, got -0.5");
        let p = Params::resolve(&specs(), vec![("c".into(), ParamValue::Float(0.0))]).unwrap();
        assert_eq!(p.non_negative_float("c"), Ok(0.0));
    }

    #[test]
    fn non_finite_float_is_rejected() {
        let e = Params::resolve(&specs(), vec![("c".into(), ParamValue::Float(f64::NAN))]).unwrap_err();
        assert!(e.contains("must be finite"), "{e}");
    }
}
