//! Reusing finished runs (`sweep --reuse DIR`): several paper artefacts share cells (Table 1's
//! `both` column, Table 2's τ = 1 row, Table 3's n = 50 rows and two bars of Fig. 4 are Fig. 1
//! cells), and a paper-profile cell costs half an hour of CPU. A cell not yet started takes
//! the results of a finished run only when nothing could tell the two apart: every setting
//! of the run's `config.toml` equals the cell's, the policy files the cell would load today
//! have the sha256 the run recorded in `policies.json`, and the policies' parameters are
//! equal once each side is completed with the defaults the policy declares (so `z=2.0`
//! spelled out matches it left implicit). The run directory is copied (its checkpoint
//! aside), never linked, so every sweep stays self-contained, and `reused.json` says where
//! the results came from.

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::grid::Cell;
use crate::policy::{parse_params, ParamValue};
use crate::record::{self, files, run_state, RecordedPolicies, ReuseOrigin, Role, RunState};
use crate::registry::{PolicyRef, Registry};
use crate::sandbox::{Limits, LoadedPolicy, Sandbox};
use crate::settings::Experiment;

/// Files of a run directory that are not copied: the checkpoint only serves to resume a
/// run, and a finished run is never resumed; the lock belongs to the process that ran it;
/// the origin note is written anew.
const NOT_COPIED: &[&str] = &[files::CHECKPOINT, files::LOCK, files::REUSED];

/// A finished run that cells may adopt.
pub struct Donor {
    pub dir: PathBuf,
    experiment: Experiment,
    policies: RecordedPolicies,
}

/// Finds, for a cell, a finished run it may adopt. Policies are loaded (to learn their
/// sha256 and parameter defaults) only for cells whose other settings match a run.
pub struct Matcher {
    donors: Vec<Donor>,
    sandbox: OnceCell<Sandbox>,
    loaded: RefCell<HashMap<String, Arc<LoadedPolicy>>>,
    /// Fetches registry policies by the sweep's locked digests.
    registry: Option<Registry>,
}

impl Matcher {
    /// Finished runs under each `--reuse` folder: the folder itself when it is a run
    /// directory, else each of its subfolders that is one (a sweep's output). Unfinished or
    /// unreadable runs are passed over; a folder that does not exist is an error.
    pub fn new(dirs: &[PathBuf], registry: Option<Registry>) -> Result<Matcher> {
        let mut donors = Vec::new();
        for dir in dirs {
            if !dir.is_dir() {
                anyhow::bail!(
                    "--reuse {}: no such folder; name a sweep's output folder (e.g. runs/fig1-paper) or a run directory",
                    dir.display()
                );
            }
            if dir.join(files::SUMMARY).is_file() {
                donors.extend(donor(dir));
                continue;
            }
            let entries = std::fs::read_dir(dir).with_context(|| format!("--reuse {}: cannot list it", dir.display()))?;
            let mut subdirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
            subdirs.sort();
            donors.extend(subdirs.iter().filter_map(|d| donor(d)));
        }
        Ok(Matcher { donors, sandbox: OnceCell::new(), loaded: RefCell::default(), registry })
    }

    /// The run a cell in `state` would adopt: only a cell not yet started adopts one; a cell
    /// with results of its own (even a partial or failed run) keeps them.
    pub fn donor_for(&self, cell: &Cell, state: RunState) -> Result<Option<&Donor>> {
        match state {
            RunState::New => self.find(cell),
            RunState::Interrupted | RunState::Failed | RunState::Done => Ok(None),
        }
    }

    /// The first finished run indistinguishable from `cell`, if any.
    fn find(&self, cell: &Cell) -> Result<Option<&Donor>> {
        let settings = without_params(&cell.experiment);
        let candidates: Vec<&Donor> = self.donors.iter().filter(|d| without_params(&d.experiment) == settings).collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        let defense = self.policy(&cell.experiment.defense)?;
        let attack = cell.experiment.attack_ref().map(|r| self.policy(r)).transpose()?;
        // A parameter the cell's policy would reject means the cell cannot run as written;
        // it is left to run and report that itself.
        let Some(wanted) = effective_params(&defense, attack.as_deref(), &cell.experiment) else { return Ok(None) };
        fn recorded(d: &Donor, role: Role) -> Option<&str> {
            d.policies.get(role).map(|p| p.sha256.as_str())
        }
        Ok(candidates.into_iter().find(|d| {
            recorded(d, Role::Defense) == Some(defense.sha256.as_str())
                && recorded(d, Role::Attack) == attack.as_ref().map(|a| a.sha256.as_str())
                && effective_params(&defense, attack.as_deref(), &d.experiment).as_ref() == Some(&wanted)
        }))
    }

    fn policy(&self, reference: &PolicyRef) -> Result<Arc<LoadedPolicy>> {
        let key = reference.to_string();
        if let Some(p) = self.loaded.borrow().get(&key) {
            return Ok(p.clone());
        }
        if self.sandbox.get().is_none() {
            // Only `info` is called: the limits of a run are not needed here.
            let limits = Limits { timeout: Duration::from_secs(10), memory_bytes: 256 << 20, ..Limits::default() };
            let _ = self.sandbox.set(Sandbox::new(limits, Sandbox::default_cache_dir())?);
        }
        let sandbox = self.sandbox.get().expect("set above");
        let context = || format!("--reuse: loading {reference} to compare parameters");
        let loaded = match (reference, &self.registry) {
            (PolicyRef::File(path), _) => sandbox.load(path).with_context(context)?,
            (_, Some(registry)) => registry.load(sandbox, reference, None, "--reuse").with_context(context)?.policy,
            (_, None) => anyhow::bail!("--reuse: {reference} names a registry policy, but the sweep resolved none"),
        };
        self.loaded.borrow_mut().insert(key, loaded.clone());
        Ok(loaded)
    }
}

fn donor(dir: &Path) -> Option<Donor> {
    if run_state(dir) != RunState::Done {
        return None;
    }
    let experiment = record::read_config(dir).ok()?;
    let policies = record::read_policies(dir).ok().flatten()?;
    Some(Donor { dir: dir.to_path_buf(), experiment, policies })
}

fn without_params(e: &Experiment) -> Experiment {
    Experiment { defense_param: Vec::new(), attack_param: Vec::new(), ..e.clone() }
}

type Params = BTreeMap<String, ParamValue>;

/// Every declared parameter of both policies with the value `e` gives it, or its default;
/// `None` when a value does not parse as its declared type.
fn effective_params(defense: &LoadedPolicy, attack: Option<&LoadedPolicy>, e: &Experiment) -> Option<(Params, Params)> {
    let complete = |p: &LoadedPolicy, given: &[String]| -> Option<Params> {
        let mut values: Params = p.info.params.iter().map(|s| (s.name.clone(), s.default.clone())).collect();
        values.extend(parse_params(&p.info.params, given).ok()?);
        Some(values)
    };
    let attack = match attack {
        Some(a) => complete(a, &e.attack_param)?,
        None => Params::new(),
    };
    Some((complete(defense, &e.defense_param)?, attack))
}

/// Copies the donor's run into `dest` (which holds no run yet). The copy is assembled
/// beside `dest` and renamed into place, so an interrupted copy never looks like a run.
pub fn adopt(donor: &Donor, dest: &Path) -> Result<()> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = parent.join(".cells").join(format!("{name}.reusing"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let entries = std::fs::read_dir(&donor.dir).with_context(|| format!("--reuse: cannot list {}", donor.dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.is_file() && !NOT_COPIED.contains(&file.as_str()) {
            std::fs::copy(&path, staging.join(&file)).with_context(|| format!("--reuse: copying {}", path.display()))?;
        }
    }
    // A chain of reuses names the run that actually trained.
    let from = record::read_reuse_origin(&donor.dir).map_or_else(|| donor.dir.clone(), |o| o.from);
    let why = "identical config.toml and identical policy sha256; the results were copied, not recomputed".to_string();
    record::write_reuse_origin(&staging, &ReuseOrigin { from, why })?;
    if dest.exists() {
        // A cell that has not started holds at most an empty log from an earlier attempt.
        std::fs::remove_dir_all(dest).with_context(|| format!("clearing {}", dest.display()))?;
    }
    std::fs::rename(&staging, dest).with_context(|| format!("moving {} to {}", staging.display(), dest.display()))
}
