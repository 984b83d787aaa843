//! `byzhost sweep`: a tiny grid on the embedded data, killed mid-way and restarted, ends
//! with the same results as an uninterrupted sweep.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{component, stderr_of, Scratch};

/// A grid named `name` on the embedded data: 5 nodes, 2 epochs under the quick profile.
fn grid_with(s: &Scratch, name: &str, cells: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
name = "{name}"
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
{cells}
"#
    );
    let path = s.path(&format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

pub fn grid(s: &Scratch) -> std::path::PathBuf {
    let axes = format!(
        r#"
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
    grid_with(s, "tiny", &axes)
}

pub const CELLS: [&str; 4] = ["none__dpsgd", "none__standalone", "reverse__dpsgd", "reverse__standalone"];

/// Per cell: the reproducible metrics (timings dropped).
pub fn results(dir: &Path) -> Vec<Vec<Value>> {
    CELLS
        .iter()
        .map(|cell| {
            std::fs::read_to_string(dir.join(cell).join("metrics.jsonl"))
                .unwrap()
                .lines()
                .map(|l| {
                    let mut v: Value = serde_json::from_str(l).unwrap();
                    let o = v.as_object_mut().unwrap();
                    o.retain(|k, _| {
                        !k.starts_with("time_") && !k.starts_with("agg_ms") && k != "attack_ms_total" && k != "train_samples_per_s"
                    });
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
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("4 cells: 4 already complete, 0 reused, 0 run"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn an_unknown_profile_is_an_error_listing_the_profiles() {
    let s = Scratch::new();
    let o = s.byzhost().arg("sweep").arg(grid(&s)).args(["--profile", "huge", "--dry-run"]).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("has profiles quick"), "{}", stderr_of(&o));
}

#[test]
fn the_paper_profile_refuses_the_embedded_subset_and_names_the_flag() {
    let s = Scratch::new();
    let cell = format!(
        "[profiles.paper]\n[[axis]]\nname = \"defense\"\nvalues = [{{ label = \"s1\", defense = \"{}\" }}]\n",
        component("policies/dpsgd.wasm").display()
    );
    let grid = grid_with(&s, "tiny", &cell);
    let o = s
        .byzhost()
        .arg("sweep")
        .arg(&grid)
        .args(["--profile", "paper", "--out"])
        .arg(s.path("p"))
        .env_remove("BYZHOST_DATA")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr_of(&o));
    let err = stderr_of(&o);
    assert!(err.contains("--profile paper: cell `s1`") && err.contains("--data DIR") && err.contains("BYZHOST_DATA"), "{err}");
    assert!(!s.path("p").exists(), "nothing is written before the refusal");
    // Listing the cells needs no data.
    let dry = s
        .byzhost()
        .arg("sweep")
        .arg(&grid)
        .args(["--profile", "paper", "--dry-run", "--out"])
        .arg(s.path("p"))
        .env_remove("BYZHOST_DATA")
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", stderr_of(&dry));
}

#[test]
fn only_runs_the_named_cells_and_rejects_unknown_labels() {
    let s = Scratch::new();
    let grid = grid(&s);
    let o = s
        .byzhost()
        .arg("sweep")
        .arg(&grid)
        .args(["--only", "reverse__dpsgd"])
        .arg("--out")
        .arg(s.path("some"))
        .env_remove("BYZHOST_DATA")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1 cells: 0 already complete, 0 reused, 1 run"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    for cell in CELLS {
        assert_eq!(s.path("some").join(cell).join("summary.json").exists(), cell == "reverse__dpsgd", "{cell}");
    }
    let o = s.byzhost().arg("sweep").arg(&grid).args(["--only", "dlie__dpsgd", "--dry-run"]).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("--only: `dlie__dpsgd` is not a cell") && stderr_of(&o).contains("none__dpsgd"), "{}", stderr_of(&o));
}

/// Cells sharing the cores wait passively: `--jobs 2` hands them OMP_WAIT_POLICY=PASSIVE
/// (each summary's machine record says so), one job leaves libtorch's default, and a
/// policy the user set is kept.
#[test]
fn parallel_cells_wait_passively_unless_a_wait_policy_is_set() {
    let s = Scratch::new();
    let grid = grid(&s);
    let sweep = |out: &str, jobs: &str, only: &str, policy: Option<&str>| {
        let mut cmd = s.byzhost();
        cmd.arg("sweep").arg(&grid).args(["--jobs", jobs, "--only", only, "--out"]).arg(s.path(out)).env_remove("BYZHOST_DATA");
        match policy {
            Some(p) => cmd.env("OMP_WAIT_POLICY", p),
            None => cmd.env_remove("OMP_WAIT_POLICY"),
        };
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", stderr_of(&o));
        only.split(',')
            .map(|cell| {
                let summary: Value =
                    serde_json::from_str(&std::fs::read_to_string(s.path(out).join(cell).join("summary.json")).unwrap()).unwrap();
                summary["machine"]["omp_wait_policy"].as_str().map(str::to_string)
            })
            .collect::<Vec<_>>()
    };
    let pair = "none__dpsgd,none__standalone";
    assert_eq!(sweep("parallel", "2", pair, None), [Some("PASSIVE".to_string()), Some("PASSIVE".to_string())]);
    assert_eq!(sweep("alone", "1", "none__dpsgd", None), [None]);
    assert_eq!(sweep("chosen", "2", pair, Some("ACTIVE")), [Some("ACTIVE".to_string()), Some("ACTIVE".to_string())]);
}

/// A cell another process is running (here: this test holds its run lock) is left alone
/// — no log truncated, no config written — while the sweep runs the others, lists it as
/// running, and exits with failure until a later sweep has run it.
#[test]
fn a_cell_running_in_another_process_is_left_alone() {
    let s = Scratch::new();
    let grid = grid(&s);
    let busy = s.path("out").join("none__standalone");
    std::fs::create_dir_all(&busy).unwrap();
    let held = byzhost::record::lock::RunLock::acquire(&busy).unwrap();
    let pid = format!("pid {}", std::process::id());
    let sweep = || {
        s.byzhost()
            .arg("sweep")
            .arg(&grid)
            .args(["--only", "none__dpsgd,none__standalone", "--out"])
            .arg(s.path("out"))
            .env_remove("BYZHOST_DATA")
            .output()
            .unwrap()
    };

    let o = sweep();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!o.status.success(), "{stdout}");
    assert!(
        stdout.contains("1 run, 0 failed, 1 running in another process") && stdout.contains(&format!("none__standalone ({pid})")),
        "{stdout}"
    );
    assert!(s.path("out/none__dpsgd/summary.json").is_file());
    let left: Vec<_> = std::fs::read_dir(&busy).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(left, [".lock"], "the busy cell's directory is untouched");
    let dry = s.byzhost().arg("sweep").arg(&grid).arg("--dry-run").arg("--out").arg(s.path("out")).output().unwrap();
    let listing = String::from_utf8_lossy(&dry.stdout);
    assert!(listing.lines().any(|l| l.starts_with("none__standalone") && l.contains(&format!("running now ({pid})"))), "{listing}");

    drop(held);
    let o = sweep();
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 already complete, 0 reused, 1 run"), "{}", String::from_utf8_lossy(&o.stdout));
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
    let o = s.byzhost().current_dir(s.path("")).args(["report", "sw", "--out", "figs", "--results", "RESULTS.md"]).output().unwrap();
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

/// Runs the one-cell grid `name` (D-PSGD, no attack) into the folder `name`.
fn one_cell_sweep(s: &Scratch, name: &str) {
    let axes = format!(
        "[[axis]]\nname = \"defense\"\nvalues = [ {{ label = \"dpsgd\", attack = \"none\", defense = \"{}\" }} ]\n",
        component("policies/dpsgd.wasm").display()
    );
    let grid = grid_with(s, name, &axes);
    let o = s.byzhost().arg("sweep").arg(&grid).arg("--out").arg(s.path(name)).env_remove("BYZHOST_DATA").output().unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
}

#[test]
fn report_update_regenerates_only_the_given_sweeps_sections_and_figures() {
    let s = Scratch::new();
    one_cell_sweep(&s, "first");
    one_cell_sweep(&s, "second");
    let report = |args: &[&str]| s.byzhost().current_dir(s.path("")).arg("report").args(args).output().unwrap();
    let o = report(&["first", "--out", "figs", "--results", "RESULTS.md", "--update"]);
    assert_eq!(o.status.code(), Some(1), "--update needs a file to update");
    assert!(stderr_of(&o).contains("--update: cannot read RESULTS.md"), "{}", stderr_of(&o));

    std::fs::write(s.path("intro.md"), "# Results\n\nWritten by hand.\n\n").unwrap();
    let o = report(&["first", "--out", "figs", "--results", "RESULTS.md", "--preamble", "intro.md"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let before = std::fs::read_to_string(s.path("RESULTS.md")).unwrap();
    assert!(before.starts_with("# Results\n\nWritten by hand.\n\n## first — quick profile\n"), "{before}");

    // The first sweep's run directories are gone; re-rendering the second keeps its section.
    std::fs::remove_dir_all(s.path("first")).unwrap();
    std::fs::write(s.path("figs/second-quick-stale.png"), b"left by an older report").unwrap();
    let o = report(&["second", "--out", "figs", "--results", "RESULTS.md", "--update"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let after = std::fs::read_to_string(s.path("RESULTS.md")).unwrap();
    assert!(after.starts_with(&before), "the preamble and the first sweep's section are kept as they were:\n{after}");
    let added = &after[before.len()..];
    assert!(added.starts_with("## second — quick profile\n") && added.contains("1 of 1 cells complete"), "{added}");
    assert!(s.path("figs/first-quick.png").is_file(), "the kept section's figures stay");
    assert!(s.path("figs/second-quick.png").is_file());
    assert!(!s.path("figs/second-quick-stale.png").exists(), "a re-rendered sweep's old figures are removed");
    let report_md = std::fs::read_to_string(s.path("figs/report.md")).unwrap();
    assert!(report_md.contains("## first — quick profile") && report_md.contains("## second — quick profile"), "{report_md}");

    // Updating the second sweep again replaces its section rather than adding another.
    let o = report(&["second", "--out", "figs", "--results", "RESULTS.md", "--update"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_eq!(std::fs::read_to_string(s.path("RESULTS.md")).unwrap(), after);
}

#[test]
fn reuse_adopts_a_finished_run_only_when_configuration_and_policies_are_the_same() {
    let s = Scratch::new();
    let donor = s.byzhost().arg("sweep").arg(grid(&s)).args(["--only", "reverse__dpsgd", "--out"]).arg(s.path("donor")).output().unwrap();
    assert!(donor.status.success(), "{}", stderr_of(&donor));
    let donor_run = s.path("donor").join("reverse__dpsgd");

    // `same` spells out two defaults the donor left implicit; `other_seed` differs in one setting.
    let cells = format!(
        r#"
[[cell]]
label = "same"
attack = "{reverse}"
attack_param = ["scale=1.0"]
defense = "{dpsgd}"
defense_param = ["weights=uniform"]
[[cell]]
label = "other_seed"
attack = "{reverse}"
defense = "{dpsgd}"
seed = 2
"#,
        reverse = component("policies/reverse.wasm").display(),
        dpsgd = component("policies/dpsgd.wasm").display(),
    );
    let other = grid_with(&s, "other", &cells);
    let sweep = |out: &str, extra: &[&str]| {
        s.byzhost().arg("sweep").arg(&other).arg("--reuse").arg(s.path("donor")).arg("--out").arg(s.path(out)).args(extra).output().unwrap()
    };

    let dry = sweep("o", &["--dry-run"]);
    let listing = String::from_utf8_lossy(&dry.stdout);
    assert!(listing.lines().any(|l| l.starts_with("same") && l.contains("would reuse")), "{listing}");
    assert!(listing.lines().any(|l| l.starts_with("other_seed") && !l.contains("reuse")), "{listing}");

    let o = sweep("o", &[]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2 cells: 0 already complete, 1 reused, 1 run"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let adopted = s.path("o").join("same");
    for file in ["metrics.jsonl", "summary.json", "config.toml", "policies.json"] {
        assert_eq!(std::fs::read(adopted.join(file)).unwrap(), std::fs::read(donor_run.join(file)).unwrap(), "{file} is the donor's");
    }
    assert!(!adopted.join("checkpoint.bin").exists(), "a finished run's checkpoint is not copied");
    let note: Value = serde_json::from_str(&std::fs::read_to_string(adopted.join("reused.json")).unwrap()).unwrap();
    assert_eq!(Path::new(note["from"].as_str().unwrap()), donor_run);
    let ran = s.path("o").join("other_seed");
    assert!(!ran.join("reused.json").exists() && ran.join("summary.json").exists(), "a different seed trains");

    // The report says which results were copied.
    let r = s.byzhost().arg("report").arg(s.path("o")).arg("--out").arg(s.path("o-docs")).output().unwrap();
    assert!(r.status.success(), "{}", stderr_of(&r));
    let md = std::fs::read_to_string(s.path("o-docs/report.md")).unwrap();
    assert!(md.contains(&format!("| same | completed (reused: {}) |", donor_run.display())), "{md}");
    assert!(md.contains(&format!("--profile quick --reuse {}`", s.path("donor").display())), "the command names --reuse:\n{md}");

    // Policy bytes other than the ones the donor recorded: no reuse.
    let policies = donor_run.join("policies.json");
    let recorded = std::fs::read_to_string(&policies).unwrap();
    let mut v: Value = serde_json::from_str(&recorded).unwrap();
    v["defense"]["sha256"] = Value::from("0".repeat(64));
    std::fs::write(&policies, v.to_string()).unwrap();
    let o = sweep("changed", &["--only", "same", "--dry-run"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("would reuse"), "{}", String::from_utf8_lossy(&o.stdout));
    std::fs::write(&policies, recorded).unwrap();

    // Bad uses are errors that name the flag.
    let o = s.byzhost().arg("sweep").arg(&other).args(["--dry-run", "--reuse"]).arg(s.path("missing")).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_of(&o).contains("--reuse") && stderr_of(&o).contains("no such folder"), "{}", stderr_of(&o));
    let o = sweep("args", &["--", "--threads", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_of(&o).contains("--reuse compares") && stderr_of(&o).contains("--threads 1"), "{}", stderr_of(&o));
}
