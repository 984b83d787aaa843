#!/usr/bin/env bash
# Benchmark of one full-size epoch at the paper's setting (n = 50, b = 10, p = 0.6,
# batch 60, full Fashion-MNIST, full per-node evaluation): D-PSGD under Reverse and the
# similarity defense under D-LIE, side by side. Prints training samples/s, seconds per
# epoch split into train / aggregate / evaluate, aggregation time per node-round and peak
# memory. Usage: scripts/bench-epoch.sh [DATA_DIR] [EPOCHS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
data="${1:-../shared/datasets/fashion-mnist}"
epochs="${2:-1}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
byzhost=target/release/byzhost
[[ -x "$byzhost" ]] || scripts/setup.sh

printf '| pair | epochs | train s/epoch | aggregate s/epoch | evaluate s/epoch | samples/s | agg ms median / p95 | peak RSS MiB |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for pair in dpsgd:reverse sim_reweight:dlie; do
  defense="${pair%%:*}"; attack="${pair#*:}"
  "$byzhost" run --data "$data" --nodes 50 --byzantine 10 --edge-prob 0.6 --epochs "$epochs" \
    --defense "policies/$defense.wasm" --attack "policies/$attack.wasm" --device cpu --quiet \
    --out "$out/$defense" > /dev/null
  python3 - "$out/$defense" "$defense vs $attack" <<'PY'
import json, sys
d, name = sys.argv[1], sys.argv[2]
ms = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
s = json.load(open(f"{d}/summary.json"))
n = len(ms)
avg = lambda k: sum(m[k] for m in ms) / n
print(f'| {name} | {n} | {avg("time_train_s"):.1f} | {avg("time_aggregate_s"):.1f} | {avg("time_eval_s"):.1f} | '
      f'{avg("train_samples_per_s"):.0f} | {avg("agg_ms_median"):.2f} / {avg("agg_ms_p95"):.2f} | {s["peak_rss_mib"]:.0f} |')
PY
done
