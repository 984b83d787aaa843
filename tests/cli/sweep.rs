//! `byzhost sweep`: a tiny grid on the embedded data, killed mid-way and restarted, ends
//! with the same results as an uninterrupted sweep.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{component, stderr_of, Scratch};

fn grid(s: &Scratch) -> std::path::PathBuf {
    let text = format!(
        r#"
name = "tiny"
[base]
nodes = 5
byzantine = 1
topology = "complete"
batch_size = 200
eval_samples = 200
device = "cpu"
epochs = 3
[profiles.quick]
epochs = 2
[[axis]]
name = "attack"
values = [ {{ label = "none", attack = "none" }}, {{ label = "reverse", attack = "{reverse}" }} ]
[[axis]]
name = "defense"
values = [ {{ label = "dpsgd", defense = "{dpsgd}" }}, {{ label = "standalone", defense = "{standalone}" }} ]
"#,
        reverse = component("policies/reverse.wasm").display(),
        dpsgd = component("policies/dpsgd.wasm").display(),
        standalone = component("policies/standalone.wasm").display(),
    );
    let path = s.path("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const CELLS: [&str; 4] = ["none__dpsgd", "none__standalone", "reverse__dpsgd", "reverse__standalone"];

/// Per cell: the reproducible metrics (timings dropped).
fn results(dir: &Path) -> Vec<Vec<Value>> {
    CELLS
        .iter()
        .map(|cell| {
            std::fs::read_to_string(dir.join(cell).join("metrics.jsonl"))
                .unwrap()
                .lines()
                .map(|l| {
                    let mut v: Value = serde_json::from_str(l).unwrap();
                    let o = v.as_object_mut().unwrap();
                    o.retain(|k, _| !k.starts_with("time_") && !k.starts_with("agg_ms") && k != "attack_ms_total" && k != "train_samples_per_s");
                    v
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_killed_sweep_restarted_equals_an_uninterrupted_one() {
    let s = Scratch::new();
    let grid = grid(&s);
    let full = s.byzhost().arg("sweep").arg(&grid).arg("--out").arg(s.path("full")).env_remove("BYZHOST_DATA").output().unwrap();
    assert!(full.status.success(), "{}", stderr_of(&full));
    let expected = results(&s.path("full"));
    assert!(expected.iter().all(|cell| cell.len() == 2), "quick profile runs 2 epochs");

    // Kill the sweep once the second cell has produced an epoch: the first cell is done,
    // the second interrupted, the others not started.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("byzhost"))
        .env("BYZHOST_CACHE_DIR", s.path("cache"))
        .env_remove("BYZHOST_DATA")
        .arg("sweep")
        .arg(&grid)
        .arg("--out")
        .arg(s.path("cut"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let second = s.path("cut").join(CELLS[1]).join("metrics.jsonl");
    while !std::fs::read_to_string(&second).is_ok_and(|t| !t.is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(300), "the sweep made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // A report of the interrupted sweep says which cells have not started.
    let o = s.byzhost().arg("report").arg(s.path("cut")).arg("--out").arg(s.path("cut-docs")).output().unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
    let md = std::fs::read_to_string(s.path("cut-docs/report.md")).unwrap();
    assert!(md.contains(&format!("| {} | completed |", CELLS[0])) && md.contains(&format!("| {} | not started | 0 |", CELLS[3])), "{md}");

    let dry = s.byzhost().arg("sweep").arg(&grid).arg("--dry-run").arg("--out").arg(s.path("cut")).output().unwrap();
    let listing = String::from_utf8_lossy(&dry.stdout);
    assert!(listing.contains("none__dpsgd") && listing.contains("Done"), "{listing}");

    let resumed = s.byzhost().arg("sweep").arg(&grid).arg("--out").arg(s.path("cut")).env_remove("BYZHOST_DATA").output().unwrap();
    assert!(resumed.status.success(), "{}", stderr_of(&resumed));
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("already complete"), "{}", String::from_utf8_lossy(&resumed.stdout));
    assert_eq!(results(&s.path("cut")), expected);

    // Everything complete now: a third start runs nothing.
    let again = s.byzhost().arg("sweep").arg(&grid).arg("--out").arg(s.path("cut")).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("4 cells: 4 already complete, 0 run"), "{}", String::from_utf8_lossy(&again.stdout));
}

#[test]
fn an_unknown_profile_is_an_error_listing_the_profiles() {
    let s = Scratch::new();
    let o = s.byzhost().arg("sweep").arg(grid(&s)).args(["--profile", "huge", "--dry-run"]).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("has profiles quick"), "{}", stderr_of(&o));
}

#[test]
fn only_runs_the_named_cells_and_rejects_unknown_labels() {
    let s = Scratch::new();
    let grid = grid(&s);
    let o = s.byzhost().arg("sweep").arg(&grid).args(["--only", "reverse__dpsgd"]).arg("--out").arg(s.path("some")).env_remove("BYZHOST_DATA").output().unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 cells: 0 already complete, 1 run"), "{}", String::from_utf8_lossy(&o.stdout));
    for cell in CELLS {
        assert_eq!(s.path("some").join(cell).join("summary.json").exists(), cell == "reverse__dpsgd", "{cell}");
    }
    let o = s.byzhost().arg("sweep").arg(&grid).args(["--only", "dlie__dpsgd", "--dry-run"]).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("--only: `dlie__dpsgd` is not a cell") && stderr_of(&o).contains("none__dpsgd"), "{}", stderr_of(&o));
}

#[test]
fn every_shipped_experiment_grid_expands_and_validates() {
    let s = Scratch::new();
    let dir = crate::support::repo_root().join("examples/experiments");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            for profile in ["quick", "paper"] {
                let o = s
                    .byzhost()
                    .current_dir(crate::support::repo_root())
                    .arg("sweep")
                    .arg(&path)
                    .args(["--profile", profile, "--dry-run", "--out"])
                    .arg(s.path("dry"))
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{} --profile {profile}: {}", path.display(), stderr_of(&o));
            }
        }
    }
}

#[test]
fn report_renders_figures_and_tables_from_a_sweep() {
    let s = Scratch::new();
    let grid = grid(&s);
    let o = s.byzhost().arg("sweep").arg(&grid).arg("--out").arg(s.path("sw")).env_remove("BYZHOST_DATA").output().unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
    let o = s.byzhost().arg("report").arg(s.path("sw")).arg("--out").arg(s.path("docs")).output().unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
    let md = std::fs::read_to_string(s.path("docs/report.md")).unwrap();
    assert!(md.contains("## tiny — quick profile") && md.contains("4 of 4 cells complete"), "{md}");
    for cell in CELLS {
        assert!(md.contains(&format!("| {cell} | completed | 2 |")), "{cell} missing in:\n{md}");
    }
    // One accuracy figure per attack, as PNG (real PNG bytes) and SVG.
    for attack in ["none", "reverse"] {
        let png = std::fs::read(s.path(&format!("docs/tiny-quick-{attack}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let svg = std::fs::read_to_string(s.path(&format!("docs/tiny-quick-{attack}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("dpsgd"), "legend names the defense");
        assert!(md.contains(&format!("(tiny-quick-{attack}.png)")));
    }

    // RESULTS.md links the figures relative to itself, so they render on a repository page.
    let o = s
        .byzhost()
        .current_dir(s.path(""))
        .args(["report", "sw", "--out", "figs", "--results", "RESULTS.md"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
    let results = std::fs::read_to_string(s.path("RESULTS.md")).unwrap();
    assert!(results.contains("](figs/tiny-quick-none.png)"), "{results}");
    assert!(!results.contains("](/"), "figure links are relative:\n{results}");

    // Two sweeps of one grid and profile would draw over each other's figures: refused.
    let o = s.byzhost().current_dir(s.path("")).args(["report", "sw", "sw", "--out", "twice"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr_of(&o);
    assert!(err.contains("sweep `tiny` (quick profile)") && err.contains("separate --out"), "{err}");
    assert!(!s.path("twice").exists(), "a refused report leaves no --out folder behind");
}
