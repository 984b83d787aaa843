//! `byzhost run`: flags and an optional TOML experiment file → a validated
//! [`Experiment`] → the simulation, its run directory and a results table.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use super::{build_sandbox, CacheArgs, ResourceArgs};
use crate::sandbox::LoadedPolicy;
use crate::sim::engine::{check_out_contents, check_out_dir, Simulation};
use crate::sim::output::{read_policies, recorded_sha256, RunDir};
use crate::sim::progress::Progress;
use crate::sim::Experiment;

/// Every experiment flag is optional: unset flags take the value of the `--config` file,
/// else the paper's default.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// TOML experiment file; flags given on the command line override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run directory for config.toml, metrics.jsonl, summary.json and checkpoints
    /// [default: runs/<unix time>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the interrupted run in --out from its last checkpoint, with the settings
    /// recorded in its config.toml.
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// No progress output; the results table is still printed.
    #[arg(long)]
    pub quiet: bool,

    /// Total number of nodes, regular and Byzantine [default: 50].
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Number of Byzantine nodes, chosen at random [default: 10].
    #[arg(long)]
    pub byzantine: Option<usize>,
    /// Edge probability of the Erdős–Rényi graph [default: 0.6].
    #[arg(long)]
    pub edge_prob: Option<f64>,
    /// static | time-varying (new graph each epoch) | complete | ring | edges:PATH
    /// (edge-list file, "a b" per line) [default: static].
    #[arg(long)]
    pub topology: Option<String>,
    /// Training epochs (passes of every node over its shard) [default: 80].
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Local SGD steps per communication round, τ [default: 1].
    #[arg(long)]
    pub local_steps: Option<usize>,
    /// Mini-batch size [default: 60].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// SGD learning rate [default: 0.1].
    #[arg(long)]
    pub lr: Option<f64>,
    /// SGD weight decay [default: 5e-4].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Seed of every random choice (graph, Byzantine set, split, init, batches) [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Defense component run by every regular node [default: policies/dpsgd.wasm].
    #[arg(long, value_name = "WASM")]
    pub defense: Option<PathBuf>,
    /// Attack component crafting what Byzantine nodes send, or `none` (Byzantine nodes
    /// stay silent) [default: none].
    #[arg(long, value_name = "WASM|none")]
    pub attack: Option<String>,
    /// Defense parameter NAME=VALUE (repeatable); see `byzhost inspect`.
    #[arg(long, value_name = "NAME=VALUE")]
    pub defense_param: Vec<String>,
    /// Attack parameter NAME=VALUE (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub attack_param: Vec<String>,
    /// Directory of the four IDX files (plain or .gz) [default: $BYZHOST_DATA, else the
    /// embedded Fashion-MNIST subset].
    #[arg(long, value_name = "DIR", env = "BYZHOST_DATA")]
    pub data: Option<PathBuf>,
    /// iid (even random split, the paper's) | dirichlet:ALPHA (label skew) [default: iid].
    #[arg(long)]
    pub partition: Option<String>,
    /// auto (CUDA when present) | cpu | cuda [default: auto].
    #[arg(long)]
    pub device: Option<String>,
    /// Evaluate test accuracy every N epochs, and after the last [default: 1].
    #[arg(long)]
    pub eval_every: Option<u32>,
    /// Test images per evaluation, 0 for all (the paper's protocol) [default: 0].
    #[arg(long)]
    pub eval_samples: Option<usize>,
    /// Mean accuracy for `rounds_to_target` in the summary [default: 0.85].
    #[arg(long)]
    pub target_accuracy: Option<f64>,
    /// When training yields non-finite weights: stop | continue [default: stop].
    #[arg(long)]
    pub on_divergence: Option<String>,
    /// libtorch intra-op threads, 0 for libtorch's default [default: 0].
    #[arg(long)]
    pub threads: Option<usize>,
    /// How nodes train: per-node | stacked | auto (per-node on CPU, stacked on CUDA)
    /// [default: auto]. Stacked runs all nodes as one computation.
    #[arg(long, value_name = "PATH")]
    pub train_path: Option<String>,
    /// Threads for the defense calls of a round, each with its own sandboxed instance;
    /// 0 for one per core [default: 0]. Results do not depend on it.
    #[arg(long)]
    pub agg_threads: Option<usize>,
    /// Deadline of one policy call in milliseconds [default: 10000].
    #[arg(long, value_name = "MS")]
    pub policy_timeout_ms: Option<u64>,
    /// Linear-memory cap of one policy instance in MiB [default: 2048].
    #[arg(long, value_name = "MIB")]
    pub policy_memory_mb: Option<usize>,
    #[command(flatten)]
    pub resources: ResourceArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
}

impl RunArgs {
    /// Applies the flags that were given on top of `base`. Returns whether any was given.
    fn overlay(&self, base: &mut Experiment) -> bool {
        let mut any = false;
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field {
                    base.$field = v.clone();
                    any = true;
                }
            )*};
        }
        set!(
            nodes,
            byzantine,
            edge_prob,
            topology,
            epochs,
            local_steps,
            batch_size,
            lr,
            weight_decay,
            seed,
            defense,
            attack,
            partition,
            device,
            eval_every,
            eval_samples,
            target_accuracy,
            on_divergence,
            threads,
            agg_threads,
            train_path,
            policy_timeout_ms,
            policy_memory_mb
        );
        if let Some(d) = &self.data {
            base.data = Some(d.clone());
            any = true;
        }
        if !self.defense_param.is_empty() {
            base.defense_param = self.defense_param.clone();
            any = true;
        }
        if !self.attack_param.is_empty() {
            base.attack_param = self.attack_param.clone();
            any = true;
        }
        any
    }
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let out = args.out.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/run-{secs}"))
    });
    check_out_dir(&out, args.resume)?;
    let exp = if args.resume {
        let exp = Experiment::from_file(&out.join("config.toml"))?;
        // BYZHOST_DATA may be set in the environment; only explicit differences matter.
        let mut probe = exp.clone();
        if args.config.is_some() || (args.overlay(&mut probe) && probe != exp) {
            bail!("--resume takes every setting from {}; pass no other experiment flags", out.join("config.toml").display());
        }
        exp
    } else {
        let mut exp = match &args.config {
            Some(path) => Experiment::from_file(path)?,
            None => Experiment::default(),
        };
        args.overlay(&mut exp);
        exp
    };
    exp.validate()?;
    if exp.threads > 0 {
        byzhost_train::set_threads(exp.threads);
    }

    let sandbox = build_sandbox(exp.policy_timeout_ms, exp.policy_memory_mb, &args.resources, &args.cache)?;
    let defense = sandbox.load(&exp.defense).context("--defense")?;
    let attack = exp.attack_path().map(|p| sandbox.load(&p).context("--attack")).transpose()?;
    if defense.kind != crate::policy::PolicyKind::Defense {
        bail!("--defense {} is an attack, not a defense", exp.defense.display());
    }
    if let Some(a) = &attack {
        if a.kind != crate::policy::PolicyKind::Attack {
            bail!("--attack {} is a defense, not an attack", a.path.display());
        }
    }
    if args.resume {
        let mut loaded: Vec<(&str, &LoadedPolicy)> = vec![("defense", &defense)];
        loaded.extend(attack.as_deref().map(|a| ("attack", a)));
        check_recorded_builds(&out, &loaded)?;
    }

    let mut sim = Simulation::new(&exp, &sandbox, &defense, attack.as_deref())?;
    for w in sim.warnings() {
        eprintln!("warning: {w}");
    }
    let dir = RunDir::create(&out)?;
    // Checked again under the lock: another run may have started or finished here while
    // this one loaded its data and policies.
    check_out_contents(&out, args.resume)?;
    if !args.resume {
        dir.write("config.toml", &exp.to_toml())?;
        let mut policies = serde_json::json!({
            "defense": { "file": defense.path, "name": defense.info.name, "version": defense.info.version, "sha256": defense.sha256 },
        });
        if let Some(a) = &attack {
            policies["attack"] = serde_json::json!({ "file": a.path, "name": a.info.name, "version": a.info.version, "sha256": a.sha256 });
        }
        dir.write("policies.json", &serde_json::to_string_pretty(&policies)?)?;
    }
    if !args.quiet {
        eprintln!(
            "{} vs {}: {} nodes ({} Byzantine), {} topology, {} epochs x {} rounds, data: {}, results in {}",
            defense.info.name,
            attack.as_ref().map_or("no attack", |a| a.info.name.as_str()),
            exp.nodes,
            exp.byzantine,
            exp.topology,
            exp.epochs,
            sim.rounds_per_epoch(),
            exp.data.as_ref().map_or("embedded subset".to_string(), |d| d.display().to_string()),
            out.display()
        );
    }
    let mut progress = Progress::new(exp.epochs, 0, args.quiet);
    let result = sim.run(&dir, &mut progress);
    progress.finish();
    let summary = result?;
    print_table(&summary, &out);
    Ok(ExitCode::SUCCESS)
}

fn print_table(s: &crate::sim::metrics::Summary, out: &std::path::Path) {
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |a| format!("{:.2}%", a * 100.0));
    let sci = |x: Option<f64>| x.map_or("-".to_string(), |a| format!("{a:.3e}"));
    println!("status                   {}", s.status);
    if let Some(d) = &s.diverged_at {
        println!("diverged at              epoch {}, round {}, node {}", d.epoch, d.round, d.node);
    }
    println!("epochs / rounds          {} / {}", s.epochs_completed, s.rounds_completed);
    println!("best mean accuracy       {} (epoch {})", pct(s.best_accuracy), s.best_epoch.map_or("-".into(), |e| e.to_string()));
    println!("consensus error at best  {}", sci(s.consensus_error_at_best));
    println!("final mean accuracy      {}", pct(s.final_accuracy));
    println!(
        "rounds to {:.0}%           {}",
        s.target_accuracy * 100.0,
        s.rounds_to_target.map_or("not reached".into(), |r| r.to_string())
    );
    println!("wall time                {:.1} s", s.wall_time_s);
    if let Some(mib) = s.peak_rss_mib {
        println!("peak memory              {mib:.0} MiB");
    }
    if let Some(m) = &s.machine {
        println!("computed on              {}", m.describe());
    }
    println!("results                  {}", out.display());
}

/// A resumed run must load the very component builds its earlier epochs ran: a rebuild with
/// other bits (another compiler, another set of crates built beside it, an edited SDK) may
/// compute other numbers, and the record would mix two builds under one sha256 without
/// saying so. `policies.json` is written once, when the run starts, so it names those builds.
fn check_recorded_builds(out: &Path, loaded: &[(&str, &LoadedPolicy)]) -> Result<()> {
    let path = out.join("policies.json");
    let Some(recorded) = read_policies(out)? else {
        eprintln!("warning: {} is missing, so --resume cannot check that it loads the policy builds the run started with", path.display());
        return Ok(());
    };
    for (role, policy) in loaded {
        let Some(sha256) = recorded_sha256(&recorded, role) else {
            bail!("--resume: {} records no {role}, but the run's config.toml names {}", path.display(), policy.path.display());
        };
        if sha256 != policy.sha256 {
            bail!(
                "--resume: the {role} {} has sha256 {}, but the run in {} started with sha256 {sha256} ({}); \
                 its epochs so far were computed by that build, and continuing with another would mix two builds in one record. \
                 Put back the component with the recorded sha256 (scripts/build-policies.sh rebuilds every policy from the \
                 commit that started the run), or start the run over in a new --out",
                policy.path.display(),
                policy.sha256,
                out.display(),
                path.display()
            );
        }
    }
    Ok(())
}
