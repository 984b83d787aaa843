//! `byzhost call`: one invocation of a policy on vectors from `.npy` files.
//!
//! A defense gets `--prev`, `--local` (float32 `[d]`) and `--received` (float32 `[k, d]`)
//! as node 0 with neighbours 1..=k, each of degree k; the result `[d]` goes to `--out`.
//! An attack gets `--honest` (float32 `[m, d]`, regular nodes 0..m) and `--byzantine b`
//! nodes m..m+b, each adjacent to every regular node; the result goes to `--out` as
//! `[b, d]` (broadcast) or `[b·m, d]` (one row per Byzantine node and receiver).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use super::SandboxArgs;
use crate::npy_io::{read_f32, write_f32};
use crate::policy::{parse_params, AttackContext, ByzantineNode, Context, PolicyKind, SendMode};
use crate::registry::PolicyRef;
use crate::sandbox::{AttackInstance, DefenseInstance, NoLocalData};

#[derive(Args, Debug)]
pub struct CallArgs {
    /// The policy to invoke: a .wasm file, oci://HOST/REPO:TAG (or @sha256:…), or NS:NAME@VERSION.
    pub policy: PolicyRef,
    /// Defense: the node's model at the start of the round, float32 [d].
    #[arg(long, value_name = "P.npy")]
    pub prev: Option<PathBuf>,
    /// Defense: the node's model after local training, float32 [d].
    #[arg(long, value_name = "L.npy")]
    pub local: Option<PathBuf>,
    /// Defense: the models received from k neighbours, float32 [k, d].
    #[arg(long, value_name = "R.npy")]
    pub received: Option<PathBuf>,
    /// Attack: the regular nodes' transmitted models, float32 [m, d].
    #[arg(long, value_name = "H.npy")]
    pub honest: Option<PathBuf>,
    /// Attack: number of Byzantine nodes to craft messages for.
    #[arg(long, value_name = "B", default_value_t = 1)]
    pub byzantine: u32,
    /// Where to write the result, float32 .npy.
    #[arg(long, value_name = "O.npy")]
    pub out: PathBuf,
    /// A policy parameter, NAME=VALUE (repeatable); see `byzhost inspect` for the names.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Learning rate passed in the context.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f32,
    /// Seed passed in the context and behind the policy's random stream.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Round number passed in the context.
    #[arg(long, default_value_t = 0)]
    pub round: u64,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

pub fn run(args: CallArgs) -> Result<ExitCode> {
    let sandbox = args.sandbox.sandbox()?;
    let policy = args.sandbox.load(&sandbox, &args.policy)?;
    let params = parse_params(&policy.info.params, &args.params).map_err(anyhow::Error::msg).context("--param")?;
    let label = policy.label();
    match policy.kind {
        PolicyKind::Defense => {
            let need =
                |flag: &str, v: &Option<PathBuf>| v.clone().with_context(|| format!("{flag} is required to call the defense {label}"));
            let prev = read_f32(&need("--prev", &args.prev)?, "--prev", 1)?;
            let local = read_f32(&need("--local", &args.local)?, "--local", 1)?;
            let received = read_f32(&need("--received", &args.received)?, "--received", 2)?;
            let d = prev.shape[0];
            if local.shape[0] != d {
                bail!("--local has {} values but --prev has {d}; both must be [d]", local.shape[0]);
            }
            let (k, rd) = (received.shape[0], received.shape[1]);
            if rd != d && k > 0 {
                bail!("--received has rows of {rd} values but --prev has {d}; it must be [k, {d}]");
            }
            let ctx = Context {
                round: args.round,
                epoch: 0,
                node: 0,
                neighbors: (1..=k as u32).collect(),
                neighbor_degrees: vec![k as u32; k],
                lr: args.lr,
                dim: d as u32,
                seed: args.seed,
            };
            let mut inst = DefenseInstance::with_seed(&sandbox, &policy, 0, args.seed, Box::new(NoLocalData))?;
            inst.configure(&params)?;
            let out = inst.aggregate(&ctx, &prev.data, &local.data, &received.data)?;
            write_f32(&args.out, &[d], &out)?;
            eprintln!("wrote [{d}] to {}", args.out.display());
        }
        PolicyKind::Attack => {
            let honest_path = args.honest.clone().with_context(|| format!("--honest is required to call the attack {label}"))?;
            let honest = read_f32(&honest_path, "--honest", 2)?;
            let (m, d) = (honest.shape[0], honest.shape[1]);
            if m == 0 {
                bail!("--honest holds no regular models; it must be [m, d] with m >= 1");
            }
            let regular: Vec<u32> = (0..m as u32).collect();
            let ctx = AttackContext {
                round: args.round,
                epoch: 0,
                nodes: m as u32 + args.byzantine,
                byzantine: (0..args.byzantine).map(|i| ByzantineNode { id: m as u32 + i, honest_neighbors: regular.clone() }).collect(),
                regular,
                lr: args.lr,
                dim: d as u32,
                seed: args.seed,
            };
            let mut inst = AttackInstance::new(&sandbox, &policy, args.seed)?;
            inst.configure(&params)?;
            let crafted = inst.craft(&ctx, &honest.data)?;
            let rows = crafted.vectors.len() / d.max(1);
            write_f32(&args.out, &[rows, d], &crafted.vectors)?;
            let mode = match crafted.mode {
                SendMode::Broadcast => "broadcast",
                SendMode::PerReceiver => "per-receiver",
            };
            eprintln!("wrote [{rows}, {d}] ({mode}) to {}", args.out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
