//! The settings with a fixed set of values, as types. Each is parsed once, with one
//! spelling shared by the command line (clap, through `FromStr`) and the TOML files (serde,
//! through the same `FromStr`), and written back with `Display`, so `config.toml` reads as
//! the flags were typed.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::registry::PolicyRef;

/// Implements `FromStr`, `Display` and string serde for an enum of plain keywords.
macro_rules! keyword_setting {
    ($(#[$meta:meta])* $name:ident, $flag:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every spelling, in declaration order.
            pub const SPELLINGS: &[&str] = &[$($text),+];
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("{} must be {}, got `{other}`", $flag, one_of($name::SPELLINGS))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $($name::$variant => $text),+ })
            }
        }

        string_serde!($name);
    };
}

/// Serializes a setting as its `Display` text and deserializes it through `FromStr`.
macro_rules! string_serde {
    ($name:ident) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// `a, b or c`.
fn one_of(spellings: &[&str]) -> String {
    match spellings {
        [] => String::new(),
        [only] => only.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

keyword_setting!(
    /// Where training runs.
    Device, "--device", {
        /// CUDA when present, else the CPU.
        Auto = "auto",
        Cpu = "cpu",
        Cuda = "cuda",
    }
);

impl Device {
    /// The libtorch device; `auto` is CUDA when available.
    pub fn torch(self) -> anyhow::Result<tch::Device> {
        match self {
            Device::Auto => Ok(tch::Device::cuda_if_available()),
            Device::Cpu => Ok(tch::Device::Cpu),
            Device::Cuda if tch::Cuda::is_available() => Ok(tch::Device::Cuda(0)),
            Device::Cuda => anyhow::bail!("--device cuda: no CUDA device is available here; use --device cpu or auto"),
        }
    }
}

keyword_setting!(
    /// What to do when training produces non-finite weights.
    OnDivergence, "--on-divergence", {
        Stop = "stop",
        Continue = "continue",
    }
);

keyword_setting!(
    /// How the regular nodes train.
    TrainPath, "--train-path", {
        /// Per-node on the CPU, where it was measured faster; stacked on CUDA.
        Auto = "auto",
        /// One libtorch graph per node: the reference.
        PerNode = "per-node",
        /// All nodes as one graph of grouped convolutions and batched products: the same
        /// models within float tolerance.
        Stacked = "stacked",
    }
);

/// The communication graph.
#[derive(Clone, Debug, PartialEq)]
pub enum Topology {
    /// One Erdős–Rényi graph for the whole run.
    Static,
    /// A new Erdős–Rényi graph every epoch, with the same Byzantine set.
    TimeVarying,
    Complete,
    Ring,
    /// An edge-list file, `a b` per line.
    Edges(PathBuf),
    /// A uniformly random graph in which every node has `DEGREE` neighbours.
    RandomRegular(u32),
}

impl FromStr for Topology {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "static" => Topology::Static,
            "time-varying" => Topology::TimeVarying,
            "complete" => Topology::Complete,
            "ring" => Topology::Ring,
            t if t.starts_with("edges:") && t.len() > "edges:".len() => Topology::Edges(PathBuf::from(&t["edges:".len()..])),
            t if t.starts_with("random-regular:") => match t["random-regular:".len()..].parse::<u32>() {
                Ok(degree) if degree > 0 => Topology::RandomRegular(degree),
                _ => return Err(format!("--topology random-regular:DEGREE needs a whole number of neighbours > 0, got `{t}`")),
            },
            other => {
                return Err(format!(
                    "--topology must be static, time-varying, complete, ring, random-regular:DEGREE or edges:PATH, got `{other}`"
                ))
            }
        })
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topology::Static => f.write_str("static"),
            Topology::TimeVarying => f.write_str("time-varying"),
            Topology::Complete => f.write_str("complete"),
            Topology::Ring => f.write_str("ring"),
            Topology::Edges(path) => write!(f, "edges:{}", path.display()),
            Topology::RandomRegular(degree) => write!(f, "random-regular:{degree}"),
        }
    }
}

string_serde!(Topology);

/// How the training set is split over the nodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Partition {
    /// An even random split, the paper's.
    Iid,
    /// Label skew: each class spread over the nodes by a Dirichlet(α) draw.
    Dirichlet(f64),
}

impl FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "iid" => Ok(Partition::Iid),
            p if p.starts_with("dirichlet:") => p["dirichlet:".len()..]
                .parse()
                .ok()
                .filter(|a: &f64| a.is_finite() && *a > 0.0)
                .map(Partition::Dirichlet)
                .ok_or_else(|| format!("--partition: `{p}` needs a positive alpha, e.g. dirichlet:0.5")),
            other => Err(format!("--partition must be iid or dirichlet:ALPHA, got `{other}`")),
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partition::Iid => f.write_str("iid"),
            Partition::Dirichlet(alpha) => write!(f, "dirichlet:{alpha}"),
        }
    }
}

string_serde!(Partition);

impl From<Partition> for byzhost_train::partition::Partition {
    fn from(p: Partition) -> Self {
        match p {
            Partition::Iid => byzhost_train::partition::Partition::Iid,
            Partition::Dirichlet(alpha) => byzhost_train::partition::Partition::Dirichlet(alpha),
        }
    }
}

/// The attack component, or none (Byzantine nodes stay silent).
#[derive(Clone, Debug, PartialEq)]
pub enum Attack {
    None,
    Component(PolicyRef),
}

impl Attack {
    pub fn reference(&self) -> Option<&PolicyRef> {
        match self {
            Attack::None => None,
            Attack::Component(reference) => Some(reference),
        }
    }
}

impl FromStr for Attack {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // Records written before this type spelled "no attack" as an empty string too.
        Ok(match s {
            "none" | "" => Attack::None,
            reference => Attack::Component(reference.parse()?),
        })
    }
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attack::None => f.write_str("none"),
            Attack::Component(reference) => write!(f, "{reference}"),
        }
    }
}

string_serde!(Attack);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spelling parses to a value that prints as the same spelling.
    fn round_trips<T: FromStr<Err = String> + fmt::Display>(spellings: &[&str]) {
        for s in spellings {
            assert_eq!(s.parse::<T>().unwrap().to_string(), *s);
        }
    }

    #[test]
    fn settings_print_as_they_are_spelled() {
        round_trips::<Device>(Device::SPELLINGS);
        round_trips::<TrainPath>(TrainPath::SPELLINGS);
        round_trips::<OnDivergence>(OnDivergence::SPELLINGS);
        round_trips::<Topology>(&["static", "time-varying", "complete", "ring", "edges:g.txt"]);
        round_trips::<Partition>(&["iid", "dirichlet:0.5"]);
        round_trips::<Attack>(&["none", "policies/dlie.wasm", "oci://127.0.0.1:5000/byz/dlie:0.1.0", "byz:dlie@0.1.0"]);
    }

    #[test]
    fn a_wrong_spelling_names_the_flag_and_the_choices() {
        assert_eq!("tpu".parse::<Device>().unwrap_err(), "--device must be auto, cpu or cuda, got `tpu`");
        assert!("star".parse::<Topology>().unwrap_err().starts_with("--topology must be"));
        assert!("edges:".parse::<Topology>().is_err(), "an edge list needs a path");
        assert!("dirichlet:-1".parse::<Partition>().unwrap_err().contains("positive alpha"));
        assert!("vmap".parse::<TrainPath>().unwrap_err().contains("auto, per-node or stacked"));
    }

    #[test]
    fn toml_reads_the_same_spellings() {
        #[derive(serde::Deserialize)]
        struct T {
            topology: Topology,
            partition: Partition,
        }
        let t: T = toml::from_str("topology = \"time-varying\"\npartition = \"dirichlet:0.1\"").unwrap();
        assert_eq!((t.topology, t.partition), (Topology::TimeVarying, Partition::Dirichlet(0.1)));
        let err = toml::from_str::<T>("topology = \"star\"\npartition = \"iid\"").err().unwrap().to_string();
        assert!(err.contains("--topology must be"), "{err}");
    }
}
