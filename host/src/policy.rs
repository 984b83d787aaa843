//! Plain host-side policy types: what the simulation engine and the CLI know about a
//! policy, without any wasmtime type. The sandbox converts them to and from WIT values.

use serde::Serialize;

/// WIT package versions of `byz:policy` this host can run.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// Whether a policy is a defense or an attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    Defense,
    Attack,
}

impl std::fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PolicyKind::Defense => "defense",
            PolicyKind::Attack => "attack",
        })
    }
}

/// The type a parameter's value must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Boolean,
    Integer,
    Float,
    Text,
}

/// A parameter value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Boolean(b) => write!(f, "{b}"),
            ParamValue::Integer(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Text(t) => write!(f, "{t}"),
        }
    }
}

impl ParamValue {
    /// Reads `text` as a value of type `ty`; `None` when it does not parse as that type.
    pub fn parse_as(ty: ParamType, text: &str) -> Option<ParamValue> {
        match ty {
            ParamType::Boolean => match text {
                "true" | "on" | "yes" | "1" => Some(ParamValue::Boolean(true)),
                "false" | "off" | "no" | "0" => Some(ParamValue::Boolean(false)),
                _ => None,
            },
            ParamType::Integer => text.parse().ok().map(ParamValue::Integer),
            ParamType::Float => text.parse().ok().map(ParamValue::Float),
            ParamType::Text => Some(ParamValue::Text(text.to_string())),
        }
    }

    /// Best guess at the type of `text` when no spec declares it.
    pub fn guess(text: &str) -> ParamValue {
        [ParamType::Boolean, ParamType::Integer, ParamType::Float]
            .into_iter()
            .find_map(|ty| ParamValue::parse_as(ty, text))
            .unwrap_or_else(|| ParamValue::Text(text.to_string()))
    }
}

/// One tunable parameter a policy accepts.
#[derive(Clone, Debug, Serialize)]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    pub default: ParamValue,
    pub description: String,
}

/// What a policy says about itself through `info`.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyInfo {
    pub name: String,
    pub version: String,
    pub kind: PolicyKind,
    pub description: String,
    pub params: Vec<ParamSpec>,
    pub stateless: bool,
    pub opt_outs: Vec<String>,
}

/// Turns `name=value` strings into typed parameters, typed by the policy's own specs.
/// A name the policy does not declare is passed on as text so that the policy's
/// `configure` rejects it with its own message; a value that does not parse as the
/// declared type is an error here.
pub fn parse_params(specs: &[ParamSpec], assignments: &[String]) -> Result<Vec<(String, ParamValue)>, String> {
    assignments
        .iter()
        .map(|a| {
            let (name, text) = a.split_once('=').ok_or_else(|| format!("parameter `{a}` must be written NAME=VALUE"))?;
            let name = name.trim().to_string();
            let text = text.trim();
            let value = match specs.iter().find(|s| s.name == name) {
                Some(spec) => {
                    ParamValue::parse_as(spec.ty, text).ok_or_else(|| format!("parameter `{name}` must be {:?}, got `{text}`", spec.ty))?
                }
                None => ParamValue::guess(text),
            };
            Ok((name, value))
        })
        .collect()
}

/// What a regular node knows when it aggregates (the WIT `context`).
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub round: u64,
    pub epoch: u32,
    pub node: u32,
    pub neighbors: Vec<u32>,
    pub neighbor_degrees: Vec<u32>,
    pub lr: f32,
    pub dim: u32,
    pub seed: u64,
}

/// A Byzantine node and its regular neighbours.
#[derive(Clone, Debug, Default)]
pub struct ByzantineNode {
    pub id: u32,
    pub honest_neighbors: Vec<u32>,
}

/// What the adversary knows (the WIT `attack-context`).
#[derive(Clone, Debug, Default)]
pub struct AttackContext {
    pub round: u64,
    pub epoch: u32,
    pub nodes: u32,
    pub regular: Vec<u32>,
    pub byzantine: Vec<ByzantineNode>,
    pub lr: f32,
    pub dim: u32,
    pub seed: u64,
}

impl AttackContext {
    /// Number of (Byzantine node, receiver) pairs.
    pub fn pair_count(&self) -> usize {
        self.byzantine.iter().map(|b| b.honest_neighbors.len()).sum()
    }
}

/// How crafted vectors are addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SendMode {
    Broadcast,
    PerReceiver,
}

/// Messages crafted by an attack.
#[derive(Clone, Debug)]
pub struct Crafted {
    pub mode: SendMode,
    pub vectors: Vec<f32>,
}

impl Crafted {
    /// What the Byzantine node `sender` sends to `receiver`, as the attack laid its messages
    /// out for `ctx`: one row per Byzantine node (broadcast), or one per (Byzantine node,
    /// honest neighbour) pair in the order of the context. `None` when `sender` is not a
    /// Byzantine node of `ctx`, or `receiver` not one of its honest neighbours.
    pub fn message(&self, ctx: &AttackContext, sender: u32, receiver: u32) -> Option<&[f32]> {
        let (row, dim) = (self.row(ctx, sender, receiver)?, ctx.dim as usize);
        self.vectors.get(row * dim..(row + 1) * dim)
    }

    /// Which row of `vectors` holds [`Crafted::message`]'s message (several pairs share a
    /// row when messages are broadcast).
    pub fn row(&self, ctx: &AttackContext, sender: u32, receiver: u32) -> Option<usize> {
        let b = ctx.byzantine.iter().position(|b| b.id == sender)?;
        match self.mode {
            SendMode::Broadcast => Some(b),
            SendMode::PerReceiver => {
                let before: usize = ctx.byzantine[..b].iter().map(|x| x.honest_neighbors.len()).sum();
                Some(before + ctx.byzantine[b].honest_neighbors.iter().position(|&r| r == receiver)?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_found_by_sender_and_receiver() {
        let ctx = AttackContext {
            round: 0,
            epoch: 0,
            nodes: 5,
            regular: vec![0, 1, 2],
            byzantine: vec![ByzantineNode { id: 3, honest_neighbors: vec![0, 2] }, ByzantineNode { id: 4, honest_neighbors: vec![1, 2] }],
            lr: 0.1,
            dim: 1,
            seed: 0,
        };
        let per_receiver = Crafted { mode: SendMode::PerReceiver, vectors: vec![30.0, 32.0, 41.0, 42.0] };
        assert_eq!(per_receiver.message(&ctx, 3, 2), Some(&[32.0][..]));
        assert_eq!(per_receiver.message(&ctx, 4, 1), Some(&[41.0][..]));
        assert_eq!(per_receiver.message(&ctx, 4, 0), None, "0 is not a neighbour of 4");
        let broadcast = Crafted { mode: SendMode::Broadcast, vectors: vec![3.0, 4.0] };
        assert_eq!(broadcast.message(&ctx, 4, 2), Some(&[4.0][..]));
        assert_eq!(broadcast.message(&ctx, 2, 0), None, "2 is regular");
    }

    #[test]
    fn params_are_typed_by_the_spec() {
        let specs = vec![ParamSpec { name: "c".into(), ty: ParamType::Float, default: ParamValue::Float(5.0), description: String::new() }];
        let p = parse_params(&specs, &["c=3".into(), "other=on".into()]).unwrap();
        assert_eq!(p[0], ("c".into(), ParamValue::Float(3.0)));
        assert_eq!(p[1], ("other".into(), ParamValue::Boolean(true)));
        assert!(parse_params(&specs, &["c=abc".into()]).unwrap_err().contains("`c` must be Float"));
        assert!(parse_params(&specs, &["c".into()]).unwrap_err().contains("NAME=VALUE"));
    }
}
