#!/usr/bin/env bash
# The README's main job: installs what is missing, builds everything, then pits the D-LIE
# attack against the similarity-reweighting defense and against plain D-PSGD on the
# embedded Fashion-MNIST subset (10 nodes, 2 Byzantine, a few epochs), and prints the
# results side by side. Runs land in runs/demo-*; rerunning replaces them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
source scripts/env.sh
byzhost=target/release/byzhost
common=(--nodes 10 --byzantine 2 --edge-prob 0.8 --epochs "${DEMO_EPOCHS:-4}" --batch-size 60 --seed 1
        --attack policies/dlie.wasm --device auto)

results=()
for defense in sim_reweight dpsgd; do
  out="runs/demo-$defense"
  rm -rf "$out"
  echo "== $defense vs D-LIE"
  "$byzhost" run "${common[@]}" --defense "policies/$defense.wasm" --out "$out"
  results+=("$defense:$out")
done

echo
echo "== summary (embedded subset: 500 training images per class; see README for the full dataset)"
printf '%-14s %-10s %-14s %-12s\n' defense status best-accuracy consensus
for r in "${results[@]}"; do
  name="${r%%:*}"; dir="${r#*:}"
  python3 - "$name" "$dir/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[2]))
acc = "-" if s["best_accuracy"] is None else f'{100 * s["best_accuracy"]:.2f}%'
ce = "-" if s["consensus_error_at_best"] is None else f'{s["consensus_error_at_best"]:.2e}'
print(f'{sys.argv[1]:<14} {s["status"]:<10} {acc:<14} {ce:<12}')
PY
done
