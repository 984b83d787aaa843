//! Markdown sections per sweep: every cell's outcome, the artefact's table with the
//! paper's numbers beside the measured ones, and the figures that go with it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::plots::{annotated_bar_chart, bar_chart, line_chart, Series};
use super::{paper, CellResult, SweepResult};
use crate::record::Summary;

fn pct(x: Option<f64>) -> String {
    x.map_or("–".into(), |a| format!("{:.2}", a * 100.0))
}

fn sci_pct(x: Option<f64>) -> String {
    x.map_or("–".into(), |a| format!("{:.4} %", a * 100.0))
}

fn best(c: Option<&CellResult>) -> Option<f64> {
    c.and_then(|c| c.summary.as_ref()).and_then(|s| s.best_accuracy)
}

/// Communication rounds between two accuracy measurements of a cell.
fn evaluation_interval(c: &CellResult) -> Option<u64> {
    match c.metrics.as_slice() {
        [first, second, ..] => Some(second.round - first.round),
        [only] => Some(only.round),
        [] => None,
    }
}

pub(super) fn mean_agg_ms(c: &CellResult) -> Option<f64> {
    let v: Vec<f64> = c.metrics.iter().map(|m| m.agg_ms_median).filter(|x| *x > 0.0).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Accuracy curves of `cells`, x = epoch or round. A cell without a summary (still
/// training, or interrupted) is drawn as far as it got and says so in the legend, so that a
/// report rendered mid-sweep does not pass a partial curve off as a finished one.
fn curves<'a>(cells: impl Iterator<Item = (String, &'a CellResult)>, by_round: bool) -> Vec<Series> {
    cells
        .map(|(name, c)| {
            let pts: Vec<(f64, f64)> = c
                .metrics
                .iter()
                .filter_map(|m| m.accuracy_mean.map(|a| (if by_round { m.round as f64 } else { m.epoch as f64 }, a * 100.0)))
                .collect();
            let name = match (&c.summary, c.metrics.last()) {
                (None, Some(last)) => format!("{name} (incomplete, {} epochs)", last.epoch),
                _ => name,
            };
            (name, pts)
        })
        .filter(|(_, p): &Series| !p.is_empty())
        .collect()
}

/// The Markdown section of one sweep, drawing its figures into `out`.
pub fn sweep_section(s: &SweepResult, out: &Path) -> Result<String> {
    let mut md = String::new();
    let _ = writeln!(md, "{}\n", super::sections::heading(&s.name, &s.profile));
    // Cells copied from another sweep name that sweep's folder, as `--reuse` did.
    let mut reused: Vec<String> = s
        .cells
        .iter()
        .filter_map(|c| c.reused_from.as_deref())
        .map(|from| Path::new(from).parent().map_or(from.to_string(), |p| p.display().to_string()))
        .collect();
    reused.sort();
    reused.dedup();
    let reuse: String = reused.iter().map(|d| format!(" --reuse {d}")).collect();
    let _ = writeln!(
        md,
        "Command: `byzhost sweep {} --profile {}{reuse}` then `byzhost report {}`. {} of {} cells complete.\n",
        s.source,
        s.profile,
        s.dir.display(),
        s.complete(),
        s.cells.len()
    );
    md.push_str(&machines_line(s));
    md.push_str(&builds_line(s));
    md.push_str(&artefact_table(s));
    md.push_str(&figures(s, out)?);
    let _ = writeln!(md, "\n<details><summary>Every cell</summary>\n");
    let _ =
        writeln!(md, "| cell | status | epochs | best acc % | consensus err at best | final acc % | rounds to target | agg ms (median) |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for c in &s.cells {
        let sm = c.summary.as_ref();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.label,
            match (sm, &c.reused_from) {
                (Some(x), Some(from)) => format!("{} (reused: {from})", x.status),
                (Some(x), None) => x.status.to_string(),
                (None, _) if c.metrics.is_empty() => "not started".into(),
                (None, _) => "incomplete".into(),
            },
            c.metrics.len(),
            pct(sm.and_then(|x| x.best_accuracy)),
            sci_pct(sm.and_then(|x| x.consensus_error_at_best)),
            pct(sm.and_then(|x| x.final_accuracy)),
            sm.and_then(|x| x.rounds_to_target).map_or("–".into(), |r| r.to_string()),
            mean_agg_ms(c).map_or("–".into(), |m| format!("{m:.2}")),
        );
    }
    let _ = writeln!(md, "\n</details>\n");
    Ok(md)
}

/// Which machines computed the finished cells, with how many each: runs are
/// bit-reproducible on one kind of CPU only (see `record::machine`).
fn machines_line(s: &SweepResult) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for sm in s.cells.iter().filter_map(|c| c.summary.as_ref()) {
        let name = sm.machine.as_ref().map_or("machine not recorded".to_string(), |m| m.describe());
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, k)) => *k += 1,
            None => counts.push((name, 1)),
        }
    }
    if counts.is_empty() {
        return String::new();
    }
    let list: Vec<String> = counts.iter().map(|(n, k)| format!("{n}: {k} {}", if *k == 1 { "cell" } else { "cells" })).collect();
    format!("Computed on: {}.\n\n", list.join("; "))
}

/// Names each policy whose cells ran more than one build (sha256 in each cell's
/// `policies.json`): one name and version can hide another compilation, so a reader
/// comparing cells is told which ran which. Empty when every cell ran the same builds.
fn builds_line(s: &SweepResult) -> String {
    let mut builds: BTreeMap<&str, Vec<(&str, Vec<&str>)>> = BTreeMap::new();
    for c in &s.cells {
        for (name, sha256) in &c.builds {
            let seen = builds.entry(name).or_default();
            match seen.iter_mut().find(|(h, _)| h == sha256) {
                Some((_, labels)) => labels.push(&c.label),
                None => seen.push((sha256, vec![&c.label])),
            }
        }
    }
    let differing: Vec<String> = builds
        .iter()
        .filter(|(_, seen)| seen.len() > 1)
        .map(|(name, seen)| {
            let each: Vec<String> = seen
                .iter()
                .map(|(sha256, labels)| {
                    let short = &sha256[..sha256.len().min(8)];
                    match labels.len() {
                        1..=3 => format!("`{short}` in {}", labels.join(", ")),
                        k => format!("`{short}` in {k} cells"),
                    }
                })
                .collect();
            format!("`{name}` {}", each.join(", "))
        })
        .collect();
    if differing.is_empty() {
        return String::new();
    }
    format!("Policy builds differ between cells (sha256 prefixes, from each cell's `policies.json`): {}.\n\n", differing.join("; "))
}

/// A cell whose final accuracy is this many points below its best is marked as collapsed.
const COLLAPSE_POINTS: f64 = 5.0;

/// The final accuracy of a run that ended more than [`COLLAPSE_POINTS`] below its best
/// epoch: the collapse a best-accuracy number alone hides.
fn collapsed_to(sm: &Summary) -> Option<f64> {
    match (sm.best_accuracy, sm.final_accuracy) {
        (Some(b), Some(f)) if (b - f) * 100.0 > COLLAPSE_POINTS => Some(f),
        _ => None,
    }
}

/// The artefact's own table, as the paper lays it out, with the paper's numbers beside.
fn artefact_table(s: &SweepResult) -> String {
    let mut md = String::new();
    match s.artefact.as_str() {
        "fig1" | "fig2" => accuracy_by_attack_table(s, &mut md),
        "table1" => table1(s, &mut md),
        "table2" => table2(s, &mut md),
        "table3" => table3(s, &mut md),
        "fig4" => fig4_table(s, &mut md),
        _ => {}
    }
    md.push('\n');
    md
}

/// Fig. 1 and 2: best accuracy and consensus error, one row per defense, one column per attack.
fn accuracy_by_attack_table(s: &SweepResult, md: &mut String) {
    let defenses = axis_values(s, "defense");
    let attacks: Vec<&str> = paper::ATTACKS
        .iter()
        .copied()
        .filter(|a| s.cells.iter().any(|c| c.coordinates.get("attack").map(String::as_str) == Some(*a)))
        .collect();
    let _ = writeln!(
        md,
        "Best mean accuracy % (consensus error at that epoch); paper values in brackets where the paper prints them; \
         \"→ final\" where the last evaluated epoch ends more than {COLLAPSE_POINTS} points below the best (a collapse the \
         best-accuracy panel alone hides).\n"
    );
    let _ = writeln!(md, "| defense | {} |", attacks.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(attacks.len()));
    for d in &defenses {
        let row: Vec<String> = attacks
            .iter()
            .map(|a| {
                let c = s.cell(&[("defense", d), ("attack", a)]);
                let sm = c.and_then(|c| c.summary.as_ref());
                let ce = sm.and_then(|x| x.consensus_error_at_best);
                let paper = (s.artefact == "fig1" && d == "sim_reweight")
                    .then(|| paper::FIG1_SIM_REWEIGHT.iter().find(|(k, _)| k == a).map(|(_, v)| format!(" [{v:.2}]")))
                    .flatten()
                    .unwrap_or_default();
                let collapse = sm.and_then(collapsed_to).map_or(String::new(), |f| format!(" → final {:.2}", f * 100.0));
                format!("{} ({}){paper}{collapse}", pct(best(c)), sci_pct(ce))
            })
            .collect();
        let _ = writeln!(md, "| {d} | {} |", row.join(" | "));
    }
    if let Some(c) = s.cells.iter().find(|c| c.label == "none__dpsgd") {
        let _ = writeln!(md, "\nBaseline, D-PSGD without attack: {} %.", pct(best(Some(c))));
    }
}

/// Table 1: the ablation, one row per similarity metric.
fn table1(s: &SweepResult, md: &mut String) {
    let _ = writeln!(md, "Table 1 — best mean accuracy %, measured [paper].\n");
    let _ = writeln!(md, "| metric | random | reverse | dlie |\n|---|---|---|---|");
    for (metric, paper_row) in paper::TABLE1 {
        let row: Vec<String> = paper::ATTACKS
            .iter()
            .zip(paper_row)
            .map(|(a, p)| format!("{} [{p:.2}]", pct(best(s.cell(&[("metric", metric), ("attack", a)])))))
            .collect();
        let _ = writeln!(md, "| {metric} | {} |", row.join(" | "));
    }
}

/// Table 2: rounds to the target accuracy for each τ.
fn table2(s: &SweepResult, md: &mut String) {
    let _ = writeln!(md, "Table 2 — rounds to the target accuracy and the consensus error there, measured [paper].\n");
    let _ = writeln!(md, "| τ | rounds | consensus error | measured every |\n|---|---|---|---|");
    for (tau, rounds, ce) in paper::TABLE2 {
        let c = s.cell(&[("tau", &format!("tau{tau}"))]);
        let sm = c.and_then(|c| c.summary.as_ref());
        let reached = sm.and_then(|x| x.rounds_to_target);
        let ce_there = reached.and_then(|r| c?.metrics.iter().find(|m| m.round == r)?.consensus_error);
        let _ = writeln!(
            md,
            "| {tau} | {} [{}] | {} [{}] | {} |",
            reached.map_or("not reached".into(), |r| r.to_string()),
            rounds.map_or("N/A".into(), |r| r.to_string()),
            sci_pct(ce_there),
            ce.map_or("N/A".into(), |v| format!("{v} %")),
            c.and_then(evaluation_interval).map_or("–".into(), |r| format!("{r} rounds")),
        );
    }
    let _ = writeln!(
        md,
        "\nAccuracy is measured after each evaluated epoch, not after every round, so a measured count is the \
         first evaluated round at or above the target: up to one interval (the last column) later than the round \
         the target was first crossed."
    );
}

/// Table 3: best accuracy and aggregation time for each n.
fn table3(s: &SweepResult, md: &mut String) {
    let _ = writeln!(md, "Table 3 — best mean accuracy % and aggregation time per node-round (s), measured [paper].\n");
    let _ = writeln!(md, "| n | stand-alone | random | reverse | dlie | time (s) |\n|---|---|---|---|---|---|");
    for (n, sa, r, rv, dl, t) in paper::TABLE3 {
        let size = format!("n{n}");
        let get = |run: &str| s.cell(&[("size", &size), ("run", run)]);
        let times: Vec<f64> = ["random", "reverse", "dlie"].iter().filter_map(|r| get(r).and_then(mean_agg_ms)).collect();
        let time = (!times.is_empty()).then(|| times.iter().sum::<f64>() / times.len() as f64 / 1e3);
        let _ = writeln!(
            md,
            "| {n} | {} [{sa}] | {} [{r}] | {} [{rv}] | {} [{dl}] | {} [{t}] |",
            pct(best(get("standalone"))),
            pct(best(get("random"))),
            pct(best(get("reverse"))),
            pct(best(get("dlie"))),
            time.map_or("–".into(), |t| format!("{t:.5}")),
        );
    }
}

/// Fig. 4: aggregation time and best accuracy per defense.
fn fig4_table(s: &SweepResult, md: &mut String) {
    let _ = writeln!(md, "Fig. 4 — aggregation time per node-round and best accuracy under D-LIE.\n");
    let _ = writeln!(md, "| defense | agg ms (median) | best acc % |\n|---|---|---|");
    for c in &s.cells {
        let _ = writeln!(md, "| {} | {} | {} |", c.label, mean_agg_ms(c).map_or("–".into(), |m| format!("{m:.2}")), pct(best(Some(c))));
    }
}

fn axis_values(s: &SweepResult, axis: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for c in &s.cells {
        if let Some(x) = c.coordinates.get(axis) {
            if !v.contains(x) {
                v.push(x.clone());
            }
        }
    }
    v
}

/// A cell named by its values on every axis but the first, which the figure it is drawn in
/// already fixes (Fig. 1: the attack is the panel, the defense names the curve or bar).
fn other_axes_label(s: &SweepResult, c: &CellResult) -> String {
    s.axes[1..].iter().filter_map(|a| c.coordinates.get(a).map(String::as_str)).collect::<Vec<_>>().join(" / ")
}

/// Accuracy curves grouped by the first axis (one figure per value), and the
/// aggregation-time bars where the artefact is about cost.
fn figures(s: &SweepResult, out: &Path) -> Result<String> {
    let mut md = String::new();
    let by_round = s.artefact == "table2";
    let x_label = if by_round { "communication round" } else { "epoch" };
    let mut figs = Vec::new();
    if s.axes.len() >= 2 {
        let first = &s.axes[0];
        for value in axis_values(s, first) {
            let members = s.cells.iter().filter(|c| c.coordinates.get(first) == Some(&value)).map(|c| (other_axes_label(s, c), c));
            let mut series = curves(members, by_round);
            if first == "attack" {
                if let Some(base) = s.cells.iter().find(|c| c.coordinates.is_empty()) {
                    series.extend(curves(std::iter::once((format!("{} (no attack)", base.label), base)), by_round));
                }
            }
            figs.push((format!("{}-{value}", s.stem()), format!("{}: {first} = {value}", s.caption()), series));
        }
    } else {
        let series = curves(s.cells.iter().map(|c| (c.label.clone(), c)), by_round);
        figs.push((s.stem(), s.caption(), series));
    }
    for (stem, title, series) in figs {
        if series.is_empty() {
            continue;
        }
        line_chart(&out.join(&stem), &title, x_label, "mean test accuracy (%)", &series)?;
        let _ = writeln!(md, "![{title}]({stem}.png)\n");
    }
    // The paper's best-accuracy panels, with the consensus error at the best epoch written
    // above each bar: one panel per first-axis value (Fig. 1, 2: one per attack), or a
    // single panel of every cell when the grid has one axis (Fig. 4: one bar per defense).
    if matches!(s.artefact.as_str(), "fig1" | "fig2" | "fig4") && !s.axes.is_empty() {
        let first = &s.axes[0];
        let groups: Vec<Option<String>> =
            if s.axes.len() == 1 { vec![None] } else { axis_values(s, first).into_iter().map(Some).collect() };
        for group in groups {
            let bars = best_accuracy_bars(s, first, group.as_deref());
            if !bars.is_empty() {
                let (stem, title) = match &group {
                    Some(value) => (format!("{}-{value}-best", s.stem()), format!("{}: best accuracy, {first} = {value}", s.caption())),
                    None => (format!("{}-best", s.stem()), format!("{}: best accuracy", s.caption())),
                };
                annotated_bar_chart(&out.join(&stem), &title, "best mean test accuracy (%)", &bars)?;
                let _ = writeln!(md, "![{title}]({stem}.png)\n");
            }
        }
    }
    if matches!(s.artefact.as_str(), "fig4" | "table3") {
        let bars: Vec<(String, f64)> = s.cells.iter().filter_map(|c| mean_agg_ms(c).map(|m| (c.label.clone(), m))).collect();
        if !bars.is_empty() {
            let stem = format!("{}-aggregation-time", s.stem());
            bar_chart(&out.join(&stem), &format!("{}: aggregation time per node-round", s.caption()), "ms (median)", &bars)?;
            let _ = writeln!(md, "![aggregation time]({stem}.png)\n");
        }
    }
    Ok(md)
}

/// The bars of one best-accuracy panel: the cells whose `first` axis is `group` (every cell
/// when `None`), each annotated with the consensus error at its best epoch and, when the run
/// collapsed afterwards, its final accuracy, so that the panel does not show a failed
/// defense as a 75 % one. Each part of the note is a line of its own, so that notes fit
/// their bars' slots.
fn best_accuracy_bars(s: &SweepResult, first: &str, group: Option<&str>) -> Vec<(String, f64, Vec<String>)> {
    s.cells
        .iter()
        .filter(|c| group.is_none() || c.coordinates.get(first).map(String::as_str) == group)
        .filter_map(|c| {
            let summary = c.summary.as_ref()?;
            let label = match group {
                None => c.coordinates.get(first).cloned().unwrap_or_else(|| c.label.clone()),
                Some(_) => other_axes_label(s, c),
            };
            let acc = summary.best_accuracy? * 100.0;
            let mut note = vec![format!("{acc:.1} %"), format!("CE {}", sci_pct(summary.consensus_error_at_best))];
            note.extend(collapsed_to(summary).map(|f| format!("→ final {:.1} %", f * 100.0)));
            Some((label, acc, note))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cell(attack: &str, defense: &str, best: f64, last: f64) -> CellResult {
        let summary = serde_json::json!({
            "status": "completed", "error": null, "epochs_completed": 80, "rounds_completed": 1600,
            "best_accuracy": best, "best_epoch": 7, "consensus_error_at_best": 1e-5,
            "final_accuracy": last, "final_consensus_error": 1e-6, "target_accuracy": 0.85,
            "rounds_to_target": null, "diverged_at": null, "wall_time_s": 1.0, "peak_rss_mib": null,
        });
        CellResult {
            label: format!("{attack}__{defense}"),
            coordinates: BTreeMap::from([("attack".to_string(), attack.to_string()), ("defense".to_string(), defense.to_string())]),
            metrics: Vec::new(),
            summary: Some(serde_json::from_value(summary).unwrap()),
            reused_from: None,
            builds: vec![(defense.to_string(), "c00e30b6".repeat(8))],
        }
    }

    /// The metrics of an epoch that ends at `round` with mean accuracy `acc`.
    fn epoch_metrics(e: u32, round: u32, acc: f64) -> crate::record::EpochMetrics {
        serde_json::from_value(serde_json::json!({
            "epoch": e, "round": round, "accuracy_mean": acc, "accuracy_min": acc, "accuracy_max": acc,
            "consensus_error": 1e-5 * e as f64, "train_loss": 0.5, "agg_ms_median": 1.0, "agg_ms_p95": 1.0,
            "attack_ms_total": 0.0, "time_train_s": 1.0, "time_aggregate_s": 1.0, "time_eval_s": 1.0,
            "train_samples_per_s": 1.0, "diverged": false,
        }))
        .unwrap()
    }

    /// A paper-profile sweep of the attack × defense grid `artefact` (fig1 or fig2).
    fn sweep(artefact: &str, cells: Vec<CellResult>) -> SweepResult {
        SweepResult {
            dir: format!("runs/{artefact}-paper").into(),
            name: artefact.into(),
            artefact: artefact.into(),
            profile: "paper".into(),
            source: format!("{artefact}.toml"),
            axes: vec!["attack".into(), "defense".into()],
            cells,
        }
    }

    #[test]
    fn the_fig1_table_marks_a_collapse_after_the_best_epoch() {
        let s = sweep("fig1", vec![cell("dlie", "dpsgd", 0.7511, 0.1000), cell("dlie", "sim_reweight", 0.8892, 0.8890)]);
        let md = artefact_table(&s);
        let row = |d: &str| md.lines().find(|l| l.starts_with(&format!("| {d} |"))).unwrap().to_string();
        assert!(row("dpsgd").contains("75.11 (0.0010 %) → final 10.00"), "{md}");
        assert!(!row("sim_reweight").contains("final"), "a run ending near its best is not marked:\n{md}");
    }

    #[test]
    fn a_best_accuracy_bar_of_a_collapsed_run_gives_its_final_accuracy() {
        let s = sweep(
            "fig2",
            vec![cell("dlie", "bridge", 0.7681, 0.1000), cell("dlie", "sim_reweight", 0.8894, 0.8894), cell("reverse", "bridge", 0.8, 0.8)],
        );
        let bars = best_accuracy_bars(&s, "attack", Some("dlie"));
        let notes: Vec<(&str, Vec<&str>)> = bars.iter().map(|(l, _, n)| (l.as_str(), n.iter().map(String::as_str).collect())).collect();
        assert_eq!(notes, [("bridge", vec!["76.8 %", "CE 0.0010 %", "→ final 10.0 %"]), ("sim_reweight", vec!["88.9 %", "CE 0.0010 %"])]);
        assert!((bars[0].1 - 76.81).abs() < 1e-9, "the bar's height is still the best epoch's accuracy");
    }

    #[test]
    fn a_curve_of_an_unfinished_cell_says_how_far_it_got() {
        let epoch = |e: u32, acc: f64| epoch_metrics(e, e * 20, acc);
        let mut running = cell("random", "bridge", 0.0, 0.0);
        running.summary = None;
        running.metrics = vec![epoch(1, 0.5), epoch(2, 0.6)];
        let mut finished = cell("random", "sim_reweight", 0.6, 0.6);
        finished.metrics = vec![epoch(1, 0.5), epoch(2, 0.6)];
        let series = curves([("bridge".to_string(), &running), ("sim_reweight".to_string(), &finished)].into_iter(), false);
        assert_eq!(series[0].0, "bridge (incomplete, 2 epochs)");
        assert_eq!(series[0].1, vec![(1.0, 50.0), (2.0, 60.0)]);
        assert_eq!(series[1].0, "sim_reweight", "a finished cell keeps its plain name");
    }

    #[test]
    fn the_table2_rows_give_the_round_and_consensus_error_at_the_target_and_how_often_accuracy_was_measured() {
        // τ = 2 at n = 50: 10 rounds per epoch; the target is first met at the third epoch.
        let mut tau2 = cell("reverse", "sim_reweight", 0.86, 0.86);
        tau2.label = "tau2".into();
        tau2.coordinates = BTreeMap::from([("tau".to_string(), "tau2".to_string())]);
        tau2.metrics = vec![epoch_metrics(1, 10, 0.70), epoch_metrics(2, 20, 0.84), epoch_metrics(3, 30, 0.86)];
        tau2.summary.as_mut().unwrap().rounds_to_target = Some(30);
        let mut s = sweep("table2", vec![tau2]);
        s.axes = vec!["tau".into()];
        let md = artefact_table(&s);
        let row = |t: &str| md.lines().find(|l| l.starts_with(&format!("| {t} |"))).unwrap().to_string();
        assert_eq!(row("2"), "| 2 | 30 [273] | 0.0030 % [0.00936 %] | 10 rounds |", "{md}");
        assert_eq!(row("5"), "| 5 | not reached [142] | – [0.0689 %] | – |", "a cell not run has no interval:\n{md}");
        assert!(md.contains("up to one interval"), "{md}");
    }

    #[test]
    fn a_section_says_which_machines_computed_its_cells() {
        let machine = crate::record::machine::Machine {
            cpu: "Intel(R) Xeon(R) Processor".into(),
            vector_isa: "avx512".into(),
            logical_cores: 2,
            kernel_pins: Vec::new(),
            omp_wait_policy: None,
            torch_threads: None,
            mpi_ranks: None,
        };
        let mut cells = vec![cell("dlie", "dpsgd", 0.7, 0.7), cell("dlie", "bridge", 0.7, 0.7), cell("dlie", "tvnorm", 0.7, 0.7)];
        for c in &mut cells[..2] {
            c.summary.as_mut().unwrap().machine = Some(machine.clone());
        }
        let mut unfinished = cell("dlie", "mozi", 0.0, 0.0);
        unfinished.summary = None;
        cells.push(unfinished);
        assert_eq!(
            machines_line(&sweep("fig1", cells)),
            "Computed on: Intel(R) Xeon(R) Processor (avx512, 2 logical cores): 2 cells; machine not recorded: 1 cell.\n\n"
        );
    }

    #[test]
    fn a_section_names_the_cells_that_ran_another_build_of_a_policy() {
        let with = |mut c: CellResult, builds: &[(&str, &str)]| {
            c.builds = builds.iter().map(|(n, h)| (n.to_string(), h.repeat(8))).collect();
            c
        };
        let same = vec![
            with(cell("random", "sim", 0.8, 0.8), &[("sim", "0c858570"), ("random", "3e168a42")]),
            with(cell("reverse", "sim", 0.8, 0.8), &[("sim", "0c858570"), ("reverse", "295a482f")]),
        ];
        assert_eq!(builds_line(&sweep("table3", same)), "", "one build per policy: nothing to say");

        let mut mixed: Vec<CellResult> = (0..4)
            .map(|i| {
                let mut c = with(cell("dlie", "sim", 0.8, 0.8), &[("sim", "0c858570"), ("dlie", "7d4e49e1")]);
                c.label = format!("n{i}__dlie");
                c
            })
            .collect();
        mixed.push(with(cell("random", "sim", 0.8, 0.8), &[("sim", "f4bd75fa"), ("random", "b1da3f0e")]));
        assert_eq!(
            builds_line(&sweep("table3", mixed)),
            "Policy builds differ between cells (sha256 prefixes, from each cell's `policies.json`): \
             `sim` `0c858570` in 4 cells, `f4bd75fa` in random__sim.\n\n"
        );
    }
}
