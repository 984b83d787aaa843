//! Experiment grids: a TOML file with a `[base]` experiment, named `[profiles.*]` that
//! override it (`quick`, `paper`), axes whose values each override a few settings, and
//! extra single cells. Expanding a grid gives one labelled [`Experiment`] per cell.
//!
//! ```toml
//! name = "fig1"
//! description = "Fig. 1: static network"
//! [base]
//! epochs = 80
//! [profiles.quick]
//! epochs = 2
//! [[axis]]
//! name = "attack"
//! values = [ { label = "reverse", attack = "policies/reverse.wasm" } ]
//! [[axis]]
//! name = "defense"
//! values = [ { label = "dpsgd", defense = "policies/dpsgd.wasm" } ]
//! [[cell]]
//! label = "dpsgd-no-attack"
//! defense = "policies/dpsgd.wasm"
//! attack = "none"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;
use toml::Table;

use crate::settings::Experiment;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The paper artefact this grid reproduces, e.g. `fig1`, `table2`.
    #[serde(default)]
    pub artefact: String,
    #[serde(default)]
    pub base: Table,
    #[serde(default)]
    pub profiles: BTreeMap<String, Table>,
    #[serde(default)]
    pub axis: Vec<Axis>,
    #[serde(default)]
    pub cell: Vec<Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    pub name: String,
    /// Each value: a `label` plus the settings it overrides.
    pub values: Vec<Table>,
}

/// One run of a sweep.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Unique label, also the name of the cell's run directory.
    pub label: String,
    /// Axis name → value label (empty for extra cells).
    pub coordinates: BTreeMap<String, String>,
    pub experiment: Experiment,
}

impl Grid {
    pub fn from_file(path: &Path) -> Result<Grid> {
        let bytes = byzhost_train::files::read_regular(path, 1 << 20, "experiment grid", "")?;
        let text = String::from_utf8(bytes).with_context(|| format!("experiment grid {} is not UTF-8 text", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not a valid experiment grid", path.display()))
    }

    /// Every cell of the grid under `profile`, in a stable order.
    pub fn expand(&self, profile: &str) -> Result<Vec<Cell>> {
        let overrides = self.profiles.get(profile).with_context(|| {
            format!(
                "--profile {profile}: grid `{}` has profiles {}",
                self.name,
                self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let mut base = self.base.clone();
        merge(&mut base, overrides);

        let mut combos: Vec<(Vec<String>, BTreeMap<String, String>, Table)> = vec![(Vec::new(), BTreeMap::new(), base.clone())];
        for axis in &self.axis {
            let mut next = Vec::new();
            for (labels, coords, table) in &combos {
                for value in &axis.values {
                    let (label, settings) = split_label(value).with_context(|| format!("axis `{}`", axis.name))?;
                    let mut t = table.clone();
                    merge(&mut t, &settings);
                    let mut l = labels.clone();
                    l.push(label.clone());
                    let mut c = coords.clone();
                    c.insert(axis.name.clone(), label);
                    next.push((l, c, t));
                }
            }
            combos = next;
        }
        let mut cells = Vec::new();
        if !self.axis.is_empty() {
            for (labels, coordinates, table) in combos {
                cells.push(to_cell(labels.join("__"), coordinates, table)?);
            }
        }
        for extra in &self.cell {
            let (label, settings) = split_label(extra).context("[[cell]]")?;
            let mut t = base.clone();
            merge(&mut t, &settings);
            cells.push(to_cell(label, BTreeMap::new(), t)?);
        }
        let mut seen = std::collections::HashSet::new();
        for c in &cells {
            if !seen.insert(c.label.clone()) {
                bail!("grid `{}` has two cells labelled `{}`", self.name, c.label);
            }
        }
        Ok(cells)
    }
}

fn split_label(value: &Table) -> Result<(String, Table)> {
    let mut settings = value.clone();
    let label = match settings.remove("label") {
        Some(toml::Value::String(s)) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) => s,
        Some(other) => bail!("label `{other}` must be a non-empty string of letters, digits, `-`, `_` or `.`"),
        None => bail!("every value needs a `label`"),
    };
    Ok((label, settings))
}

fn merge(into: &mut Table, from: &Table) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}

fn to_cell(label: String, coordinates: BTreeMap<String, String>, table: Table) -> Result<Cell> {
    let experiment: Experiment =
        toml::Value::Table(table).try_into().with_context(|| format!("cell `{label}` is not a valid experiment"))?;
    Ok(Cell { label, coordinates, experiment })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRID: &str = r#"
        name = "t"
        [base]
        epochs = 80
        nodes = 50
        [profiles.quick]
        epochs = 2
        [profiles.paper]
        [[axis]]
        name = "attack"
        values = [ { label = "reverse", attack = "r.wasm" }, { label = "dlie", attack = "d.wasm" } ]
        [[axis]]
        name = "defense"
        values = [ { label = "a", defense = "a.wasm", defense_param = ["c=1"] }, { label = "b", defense = "b.wasm" } ]
        [[cell]]
        label = "baseline"
        attack = "none"
    "#;

    #[test]
    fn expands_the_product_of_axes_plus_extra_cells_under_a_profile() {
        let g: Grid = toml::from_str(GRID).unwrap();
        let cells = g.expand("quick").unwrap();
        let labels: Vec<&str> = cells.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["reverse__a", "reverse__b", "dlie__a", "dlie__b", "baseline"]);
        assert!(cells.iter().all(|c| c.experiment.epochs == 2 && c.experiment.nodes == 50));
        assert_eq!(cells[0].experiment.defense_param, vec!["c=1".to_string()]);
        assert_eq!(cells[3].experiment.attack.to_string(), "d.wasm");
        assert_eq!(cells[3].coordinates["defense"], "b");
        assert_eq!(g.expand("paper").unwrap()[0].experiment.epochs, 80);
    }

    #[test]
    fn unknown_profile_and_bad_settings_are_errors() {
        let g: Grid = toml::from_str(GRID).unwrap();
        assert!(g.expand("huge").unwrap_err().to_string().contains("has profiles paper, quick"));
        let bad: Grid = toml::from_str("name = \"x\"\n[profiles.quick]\n[[cell]]\nlabel = \"c\"\nnodez = 3\n").unwrap();
        let e = format!("{:#}", bad.expand("quick").unwrap_err());
        assert!(e.contains("cell `c`") && e.contains("nodez"), "{e}");
    }
}
