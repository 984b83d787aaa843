//! `byzhost run`: flags and an optional TOML experiment file → a validated
//! [`Experiment`] → the simulation, its run directory and a results table.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use serde::Serialize;

use super::{build_sandbox, load_policy, CacheArgs, RegistryArgs, ResourceArgs};
use crate::ranks::Ranks;
use crate::record::{self, check_out_contents, check_out_dir, files, RecordedPolicies, RecordedPolicy, Role, RunDir};
use crate::registry::{OciRef, PolicyRef, Resolved, Selector, Store};
use crate::sandbox::{LoadedPolicy, Sandbox};
use crate::settings::{Attack, Device, Experiment, OnDivergence, Partition, Topology, TrainPath};
use crate::sim::engine::Simulation;
use crate::sim::progress::Progress;

/// `byzhost run`'s own flags, and every experiment flag.
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
    #[command(flatten)]
    pub experiment: ExperimentFlags,
    #[command(flatten)]
    pub resources: ResourceArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `text` followed by the default of the experiment setting `key`, so that every default
/// has one home, [`Experiment::default`].
fn with_default(text: &str, key: &str) -> String {
    match Experiment::default_text(key) {
        Some(default) => format!("{text} [default: {default}]"),
        None => text.to_string(),
    }
}

/// Every experiment setting as an optional flag: unset flags take the value of the
/// `--config` file, else the default. Field names are the setting names, so the flags given
/// serialize to exactly the TOML keys they override (an unset flag to null or, for a
/// repeatable one, an empty list).
#[derive(Args, Debug, Serialize)]
pub struct ExperimentFlags {
    #[arg(long, help = with_default("Total number of nodes, regular and Byzantine", "nodes"))]
    pub nodes: Option<usize>,
    #[arg(long, help = with_default("Number of Byzantine nodes, chosen at random", "byzantine"))]
    pub byzantine: Option<usize>,
    #[arg(long, help = with_default("Edge probability of the Erdős–Rényi graph", "edge_prob"))]
    pub edge_prob: Option<f64>,
    #[arg(long, help = with_default(
        "static | time-varying (new graph each epoch) | complete | ring | random-regular:DEGREE | edges:PATH (edge-list file, \"a b\" per line)",
        "topology"
    ))]
    pub topology: Option<Topology>,
    #[arg(long, help = with_default("Training epochs (passes of every node over its shard)", "epochs"))]
    pub epochs: Option<u32>,
    #[arg(long, help = with_default("Local SGD steps per communication round, τ", "local_steps"))]
    pub local_steps: Option<usize>,
    #[arg(long, help = with_default("Mini-batch size", "batch_size"))]
    pub batch_size: Option<usize>,
    #[arg(long, help = with_default("SGD learning rate", "lr"))]
    pub lr: Option<f64>,
    #[arg(long, help = with_default("SGD weight decay", "weight_decay"))]
    pub weight_decay: Option<f64>,
    #[arg(long, help = with_default("Seed of every random choice (graph, Byzantine set, split, init, batches)", "seed"))]
    pub seed: Option<u64>,
    #[arg(long, value_name = "REF", help = with_default(
        "Defense run by every regular node: a .wasm file, oci://HOST[:PORT]/REPO:TAG (or @sha256:…), or NS:NAME@VERSION",
        "defense"
    ))]
    pub defense: Option<PolicyRef>,
    #[arg(long, value_name = "REF|none", help = with_default(
        "Attack crafting what Byzantine nodes send (a reference as for --defense), or `none` (Byzantine nodes stay silent)",
        "attack"
    ))]
    pub attack: Option<Attack>,
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
    #[arg(long, help = with_default("iid (even random split, the paper's) | dirichlet:ALPHA (label skew)", "partition"))]
    pub partition: Option<Partition>,
    #[arg(long, help = with_default("auto (CUDA when present) | cpu | cuda", "device"))]
    pub device: Option<Device>,
    #[arg(long, help = with_default("Evaluate test accuracy every N epochs, and after the last", "eval_every"))]
    pub eval_every: Option<u32>,
    #[arg(long, help = with_default("Test images per evaluation, 0 for all (the paper's protocol)", "eval_samples"))]
    pub eval_samples: Option<usize>,
    #[arg(long, help = with_default("Mean accuracy for `rounds_to_target` in the summary", "target_accuracy"))]
    pub target_accuracy: Option<f64>,
    #[arg(long, help = with_default("When training yields non-finite weights: stop | continue", "on_divergence"))]
    pub on_divergence: Option<OnDivergence>,
    #[arg(long, help = with_default("libtorch intra-op threads, 0 for libtorch's default", "threads"))]
    pub threads: Option<usize>,
    #[arg(long, value_name = "PATH", help = with_default(
        "How nodes train: per-node | stacked (all nodes as one computation) | auto (per-node on CPU, stacked on CUDA)",
        "train_path"
    ))]
    pub train_path: Option<TrainPath>,
    #[arg(long, help = with_default(
        "Threads for the defense calls of a round, each with its own sandboxed instance; 0 for one per core. \
         Results do not depend on it",
        "agg_threads"
    ))]
    pub agg_threads: Option<usize>,
    #[arg(long, value_name = "MS", help = with_default("Deadline of one policy call in milliseconds", "policy_timeout_ms"))]
    pub policy_timeout_ms: Option<u64>,
    #[arg(long, value_name = "MIB", help = with_default("Linear-memory cap of one policy instance in MiB", "policy_memory_mb"))]
    pub policy_memory_mb: Option<usize>,
}

impl ExperimentFlags {
    /// `base` with the flags that were given on top; `None` when none was. A value TOML
    /// cannot hold (an integer past 2⁶³ − 1) is an error naming its flag.
    fn overlay(&self, base: &Experiment) -> Result<Option<Experiment>> {
        let serde_json::Value::Object(flags) = serde_json::to_value(self).context("reading the experiment flags")? else {
            unreachable!("flags serialize to an object")
        };
        let unset = |v: &serde_json::Value| v.is_null() || v.as_array().is_some_and(Vec::is_empty);
        let given: Vec<_> = flags.into_iter().filter(|(_, v)| !unset(v)).collect();
        if given.is_empty() {
            return Ok(None);
        }
        let mut merged = toml::Table::try_from(base).context("reading the experiment")?;
        for (key, value) in given {
            let flag = format!("--{}", key.replace('_', "-"));
            let value =
                toml::Value::try_from(&value).map_err(|_| anyhow::anyhow!("{flag}: {value} is out of range (at most {})", i64::MAX))?;
            merged.insert(key, value);
        }
        Ok(Some(toml::Value::Table(merged).try_into().context("applying the experiment flags")?))
    }
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    // Under MPI every rank takes each step below and the ranks agree on its outcome, so a
    // bad input is refused on every rank with one message (rank 0's).
    let ranks = Ranks::world();
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/run-{}", unix_time(&ranks))));
    let exp = ranks.agree(check_out_dir(&out, args.resume).and_then(|_| experiment(&args, &out)).and_then(|exp| {
        exp.validate()?;
        let regular = exp.nodes - exp.byzantine;
        if ranks.size() > regular {
            bail!(
                "mpirun -np {}: more ranks than the {regular} regular nodes (--nodes {} minus --byzantine {}) to share among them; \
                 run at most {regular} ranks",
                ranks.size(),
                exp.nodes,
                exp.byzantine
            );
        }
        Ok(exp)
    }))?;
    // The thread count changes training's last bits, so a rank's default must be what one
    // process gets, whatever CPUs mpirun bound the rank to.
    match exp.threads {
        0 => crate::ranks::torch_threads().into_iter().for_each(byzhost_train::set_threads),
        threads => byzhost_train::set_threads(threads),
    }
    if args.resume && ranks.is_root() {
        warn_of_other_thread_count(&out);
    }
    let loaded = build_sandbox(exp.policy_timeout_ms, exp.policy_memory_mb, &args.resources, &args.cache).and_then(|sandbox| {
        let store = open_store();
        let (defense, attack) = load_policies(&args, &exp, &out, &sandbox, store.as_ref())?;
        Ok((sandbox, store, defense, attack))
    });
    let (sandbox, store, defense, attack) = ranks.agree(loaded)?;
    let mut sim = ranks.agree(Simulation::new(&exp, &sandbox, &defense.policy, attack.as_ref().map(|a| &*a.policy), &ranks))?;
    // Rank 0 keeps the record; the others only compute.
    let dir =
        ranks.agree(ranks.is_root().then(|| start_record(&args, &exp, &out, store.as_ref(), &defense, attack.as_ref())).transpose())?;
    if !ranks.is_root() {
        sim.run(None, &mut Progress::new(exp.epochs, 0, true))?;
        return Ok(ExitCode::SUCCESS);
    }
    for w in sim.warnings() {
        eprintln!("warning: {w}");
    }
    if !args.quiet {
        eprintln!(
            "{} vs {}: {} nodes ({} Byzantine), {} topology, {} epochs x {} rounds, data: {}, {}results in {}",
            defense.policy.info.name,
            attack.as_ref().map_or("no attack", |a| a.policy.info.name.as_str()),
            exp.nodes,
            exp.byzantine,
            exp.topology,
            exp.epochs,
            sim.rounds_per_epoch(),
            exp.data.as_ref().map_or("embedded subset".to_string(), |d| d.display().to_string()),
            if ranks.size() > 1 { format!("{} MPI ranks, ", ranks.size()) } else { String::new() },
            out.display()
        );
    }
    let mut progress = Progress::new(exp.epochs, 0, args.quiet);
    let result = sim.run(dir.as_ref(), &mut progress);
    progress.finish();
    if let Some(summary) = result? {
        print_table(&summary, &out);
    }
    Ok(ExitCode::SUCCESS)
}

/// A resumed run whose earlier epochs trained with another libtorch thread count (a record
/// written since the count is recorded) goes on, but its next epochs can differ in their
/// last bits from an uninterrupted run's: the count splits the gradients' sums.
fn warn_of_other_thread_count(out: &Path) {
    let recorded = record::read_summary(out).ok().flatten().and_then(|s| s.machine).and_then(|m| m.torch_threads);
    let now = byzhost_train::threads();
    if let Some(before) = recorded.filter(|&before| before != now) {
        eprintln!(
            "warning: {}'s epochs so far trained with {before} libtorch threads, this process has {now} (`--threads 0` takes \
             the cores it may run on): the next epochs can differ in their last bits from an uninterrupted run's",
            out.display()
        );
    }
}

/// Seconds since the epoch, rank 0's on every rank (they name the default run directory).
fn unix_time(ranks: &Ranks) -> u64 {
    let mut secs = vec![std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())];
    ranks.broadcast(&mut secs);
    secs[0]
}

/// The run directory, locked, with the settings and policies of a new run recorded.
fn start_record(
    args: &RunArgs,
    exp: &Experiment,
    out: &Path,
    store: Option<&Store>,
    defense: &Resolved,
    attack: Option<&Resolved>,
) -> Result<RunDir> {
    let dir = RunDir::create(out)?;
    // Checked again under the lock: another run may have started or finished here while
    // this one loaded its data and policies.
    check_out_contents(out, args.resume)?;
    if !args.resume {
        let pin = |r: &Resolved| pinned(store, r);
        dir.start(exp, &RecordedPolicies { defense: pin(defense), attack: attack.map(pin) })?;
    }
    Ok(dir)
}

/// The run's settings: those recorded in `out` for `--resume`, else the `--config` file
/// and the flags on top.
fn experiment(args: &RunArgs, out: &Path) -> Result<Experiment> {
    if args.resume {
        let exp = record::read_config(out)?;
        // BYZHOST_DATA may be set in the environment; only explicit differences matter.
        let changed = args.experiment.overlay(&exp)?.is_some_and(|flagged| flagged != exp);
        if args.config.is_some() || changed {
            bail!("--resume takes every setting from {}; pass no other experiment flags", out.join(files::CONFIG).display());
        }
        return Ok(exp);
    }
    let base = match &args.config {
        Some(path) => Experiment::from_file(path)?,
        None => Experiment::default(),
    };
    Ok(args.experiment.overlay(&base)?.unwrap_or(base))
}

/// The defense and the attack, each checked against its role. A resumed run fetches a
/// registry policy by the digest it recorded (never by a tag that may have moved since),
/// and a file policy as the build it recorded.
fn load_policies(
    args: &RunArgs,
    exp: &Experiment,
    out: &Path,
    sandbox: &Sandbox,
    store: Option<&Store>,
) -> Result<(Resolved, Option<Resolved>)> {
    let recorded = if args.resume { record::read_policies(out)? } else { None };
    let load = |role: Role, reference: &PolicyRef| -> Result<Resolved> {
        let reference = recorded.as_ref().and_then(|r| r.get(role)).and_then(pinned_reference).unwrap_or_else(|| reference.clone());
        let mut resolved = load_policy(sandbox, &reference, Some(role.kind()), role.flag(), &args.registry, &args.resources)?;
        if resolved.policy.kind != role.kind() {
            bail!("{} {reference} is {}, not {}", role.flag(), resolved.policy.kind, role.kind());
        }
        if args.resume {
            resolved.policy = recorded_build(out, recorded.as_ref(), sandbox, store, role, resolved.policy)?;
        }
        Ok(resolved)
    };
    Ok((load(Role::Defense, &exp.defense)?, exp.attack_ref().map(|r| load(Role::Attack, r)).transpose()?))
}

fn print_table(s: &record::Summary, out: &std::path::Path) {
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

/// The policy store, or `None` (with a warning) when it cannot be opened: a run then
/// records no manifest digest, and nothing else changes.
fn open_store() -> Option<Store> {
    let dir = Store::default_dir()?;
    Store::open(&dir)
        .map_err(|e| eprintln!("warning: the policy store cannot be opened ({e:#}); this run's builds are recorded but not stored"))
        .ok()
}

/// What `policies.json` records of a policy: for a file, after storing its bytes in the
/// policy store; for a registry policy, where it came from and the digests it was verified by.
fn pinned(store: Option<&Store>, resolved: &Resolved) -> RecordedPolicy {
    let p = &resolved.policy;
    let pin = resolved.pin.clone().or_else(|| {
        store.and_then(|s| {
            s.put_component(p, &p.bytes)
                .map_err(|e| eprintln!("warning: {} was not stored in the policy store: {e:#}", p.path.display()))
                .ok()
        })
    });
    RecordedPolicy {
        file: p.path.clone(),
        manifest_digest: pin.as_ref().map(|p| p.manifest_digest.clone()),
        name: p.info.name.clone(),
        registry: resolved.origin.as_ref().map(|o| o.registry.clone()),
        repository: resolved.origin.as_ref().map(|o| o.repository.clone()),
        sha256: p.sha256.clone(),
        size_bytes: pin.as_ref().map(|p| p.size),
        version: p.info.version.clone(),
        world: pin.map(|p| p.world),
    }
}

/// The digest reference of a policy the record says came from a registry.
fn pinned_reference(build: &RecordedPolicy) -> Option<PolicyRef> {
    let (registry, repository, digest) = (build.registry.as_ref()?, build.repository.as_ref()?, build.manifest_digest.as_ref()?);
    let selector = Selector::Digest(digest.clone());
    Some(PolicyRef::Oci(OciRef { registry: registry.clone(), repository: repository.clone(), selector }))
}

/// The build a resumed run continues with: the one its earlier epochs ran, whose sha256
/// `policies.json` recorded when the run started. When the file at the recorded path has
/// been rebuilt since (another compiler, an edited SDK), the recorded bytes come from the
/// policy store; without them the run is refused, so a record never mixes two builds.
fn recorded_build(
    out: &Path,
    recorded: Option<&RecordedPolicies>,
    sandbox: &Sandbox,
    store: Option<&Store>,
    role: Role,
    policy: Arc<LoadedPolicy>,
) -> Result<Arc<LoadedPolicy>> {
    let path = out.join(files::POLICIES);
    let Some(recorded) = recorded else {
        eprintln!("warning: {} is missing, so --resume cannot check that it loads the policy builds the run started with", path.display());
        return Ok(policy);
    };
    let Some(build) = recorded.get(role) else {
        bail!("--resume: {} records no {role}, but the run's config.toml names {}", path.display(), policy.path.display());
    };
    if build.sha256 == policy.sha256 {
        return Ok(policy);
    }
    if let Some(bytes) = store.map(|s| s.get_blob(&build.sha256)).transpose()?.flatten() {
        eprintln!(
            "{role} {} has changed since the run started (sha256 {}); continuing with the recorded build {} from the policy store",
            policy.path.display(),
            policy.sha256,
            build.sha256
        );
        return sandbox.load_bytes(&policy.path, bytes).with_context(|| format!("--resume: loading the recorded {role} build"));
    }
    bail!(
        "--resume: the {role} {} has sha256 {}, but the run in {} started with sha256 {} ({}), and the policy store has no \
         copy of that build; its epochs so far were computed by it, and continuing with another would mix two builds in one \
         record. Put back the component with the recorded sha256: scripts/build-policies.sh at the commit that started the \
         run rebuilds it (records made before the policies were built one crate at a time, as every committed paper record \
         was, name builds of that older script), or start the run over in a new --out",
        policy.path.display(),
        policy.sha256,
        out.display(),
        build.sha256,
        path.display()
    )
}
