#!/usr/bin/env bash
# byz:policy@0.1.0 against 0.2.0, side by side in one run, on the full Fashion-MNIST:
#   1. per call, every shipped defense's 0.1.0 build (policies/v0.1.0), its 0.2.0 build
#      (policies/) and native Rust, at n = 50 (k = 29) and n = 300 (k = 179), and the Python
#      policies (examples/python) beside the Rust 0.2.0 ones (cargo bench --bench policies);
#   2. the aggregate phase of one Table 3 n = 300 epoch (b = 60, p = 0.6, batch 10, D-LIE
#      with z = 2), with the similarity defense and with Stand-alone, each policy as its
#      0.1.0 and its 0.2.0 build (1,000 test images per evaluation: the aggregate phase does
#      not depend on it).
# Usage: scripts/bench-policy-versions.sh [DATA_DIR]. Writes target/bench/policy-versions.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
data="${1:-../shared/datasets/fashion-mnist}"
require_fashion_mnist "$data"
scripts/setup.sh
cargo bench --quiet -p byzhost --bench policies --no-run 2>/dev/null
out=target/bench
mkdir -p "$out"
rm -rf "$out/versions"
report="$out/policy-versions.md"
{
  echo "# byz:policy 0.1.0 vs 0.2.0 — $(date -u +%Y-%m-%d), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1))"
  echo
  echo "## Per call"
  echo
} > "$report"
cargo bench --quiet -p byzhost --bench policies > /dev/null
cat target/bench-policies.md >> "$report"

for defense in sim_reweight standalone; do
  params=()
  [[ $defense == sim_reweight ]] && params=(--defense-param c=5)
  for version in v0.1.0 v0.2.0; do
    dir="policies"
    [[ $version == v0.1.0 ]] && dir="policies/v0.1.0"
    echo "epoch: n = 300, $defense vs dlie, $version builds" >&2
    target/release/byzhost run --data "$data" --nodes 300 --byzantine 60 --edge-prob 0.6 --topology static \
      --batch-size 10 --epochs 1 --eval-samples 1000 --seed 1 --device cpu --quiet \
      --defense "$dir/$defense.wasm" "${params[@]}" --attack "$dir/dlie.wasm" --attack-param z=2.0 \
      --out "$out/versions/$defense-$version" > /dev/null
  done
done

python3 - "$out/versions" >> "$report" <<'PY'
import json, sys
d = sys.argv[1]
def epoch(name):
    return json.loads(open(f"{d}/{name}/metrics.jsonl").readline())
print("\n## One Table 3 epoch, n = 300 (b = 60, p = 0.6, batch 10, D-LIE z = 2), seconds\n")
print("| defense | builds | train | aggregate | agg ms per node-round, median | evaluate (1,000 images) | epoch | accuracy |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for defense in ("sim_reweight", "standalone"):
    for version in ("v0.1.0", "v0.2.0"):
        m = epoch(f"{defense}-{version}")
        print(f"| {defense} | {version} | {m['time_train_s']:.1f} | {m['time_aggregate_s']:.1f} | {m['agg_ms_median']:.2f} | "
              f"{m['time_eval_s']:.1f} | {m['time_epoch_s']:.1f} | {100 * m['accuracy_mean']:.2f} % |")
PY
cat "$report"
