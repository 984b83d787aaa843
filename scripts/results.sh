#!/usr/bin/env bash
# Renders RESULTS.md and its figures under docs/ from the sweep directories under runs/
# (committed: settings, metrics and summaries, not checkpoints), with
# docs/results-preamble.md on top (its headline table filled in from the records), and the
# appendix docs/provenance.md from docs/provenance-notes.md and the records.
#   scripts/results.sh                       every runs/<grid>-<profile> present, whole file
#   scripts/results.sh runs/table2-paper …   only these sweeps' sections and figures; every
#                                            other section of RESULTS.md is kept as it is
# Run the sweeps first, e.g.
#   BYZHOST_DATA=../shared/datasets/fashion-mnist byzhost sweep examples/experiments/fig1.toml --profile paper --out runs/fig1-paper
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
cargo build --release -q -p byzhost
report=(target/release/byzhost report --out docs --results RESULTS.md --preamble docs/results-preamble.md
  --provenance docs/provenance-notes.md)
if [[ $# -gt 0 ]]; then
  exec "${report[@]}" --update "$@"
fi
sweeps=()
for grid in fig1 fig2 table1 table2 fig4 table3; do
  for profile in paper quick; do
    dir="runs/$grid-$profile"
    if [[ -f "$dir/sweep.json" ]]; then sweeps+=("$dir"); fi
  done
done
if [[ ${#sweeps[@]} -eq 0 ]]; then
  echo "scripts/results.sh: no sweep directories under runs/ (expected runs/GRID-PROFILE); run byzhost sweep first" >&2
  exit 1
fi
# The whole file is rendered afresh: figures of sweeps no longer reported must not linger.
rm -f docs/*.png docs/*.svg
exec "${report[@]}" "${sweeps[@]}"
