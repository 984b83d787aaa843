#!/usr/bin/env bash
# The performance benchmarks, side by side in one run, on the full Fashion-MNIST:
#   1. one epoch of the paper setting (n = 50, b = 10, p = 0.6, batch 60, D-LIE against
#      the similarity defense, every regular model evaluated on all 10,000 test images),
#      split into train / aggregate / evaluate: per-node training with sequential and
#      parallel aggregation, and the stacked (all nodes as one computation) training path;
#   2. the floor: the same training steps and evaluation passes in plain libtorch;
#   3. a full paper run (80 epochs) extrapolated from the measured epochs;
#   4. peak memory at n = 300 (b = 60, batch 10, one epoch, 1,000 test images);
#   5. aggregation time per node-round for n = 50 … 300 beside the bandwidth bound
#      (cargo bench --bench scaling) and every defense as component vs native
#      (cargo bench --bench policies).
# Usage: scripts/bench.sh [DATA_DIR] [EPOCHS]. Writes target/bench/report.md.
# BENCH_DEVICE=cuda runs the epoch rows on a GPU (the floor and the rest stay on the CPU).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
data="${1:-../shared/datasets/fashion-mnist}"
epochs="${2:-1}"
require_fashion_mnist "$data"
scripts/setup.sh
# Everything is compiled before the first measurement, so no build competes with one.
cargo build --release --quiet -p byzhost-train --example floor
cargo bench --quiet -p byzhost --bench scaling --bench policies --no-run 2>/dev/null
out=target/bench
rm -rf "$out/runs"; mkdir -p "$out/runs"
report="$out/report.md"
byzhost=target/release/byzhost

{
  echo "# byzhost benchmarks — $(date -u +%Y-%m-%d), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), libtorch $BYZHOST_TORCH_VERSION CPU"
  echo
} > "$report"

echo "floor: plain libtorch, 40 nodes × 20 steps + 40 evaluations" >&2
target/release/examples/floor "$data" 40 60 20 > "$out/floor.json"

# name, then the flags that differ: per-node training with sequential then parallel
# aggregation, and the stacked training path.
for variant in "agg1 --agg-threads 1 --train-path per-node" "agg0 --agg-threads 0 --train-path per-node" \
               "stacked --agg-threads 0 --train-path stacked"; do
  read -r name flags <<< "$variant"
  echo "epoch: sim_reweight vs dlie, $flags" >&2
  # shellcheck disable=SC2086
  "$byzhost" run --data "$data" --nodes 50 --byzantine 10 --edge-prob 0.6 --batch-size 60 --epochs "$epochs" \
    --defense policies/sim_reweight.wasm --attack policies/dlie.wasm --device "${BENCH_DEVICE:-cpu}" --quiet $flags \
    --out "$out/runs/epoch-$name" > /dev/null
done

echo "memory: n = 300, one epoch" >&2
"$byzhost" run --data "$data" --nodes 300 --byzantine 60 --edge-prob 0.6 --batch-size 10 --epochs 1 --eval-samples 1000 \
  --defense policies/sim_reweight.wasm --attack policies/dlie.wasm --device cpu --quiet --out "$out/runs/n300" > /dev/null

python3 - "$out" >> "$report" <<'PY'
import json, sys
out = sys.argv[1]
def run(name):
    d = f"{out}/runs/{name}"
    ms = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
    return ms, json.load(open(f"{d}/summary.json"))
floor = json.load(open(f"{out}/floor.json"))
floor_total = floor["train_s"] + floor["eval_s"]
print("## Epoch at the paper setting (n = 50, b = 10, sim_reweight vs D-LIE), seconds per epoch\n")
print("| path | train | aggregate | evaluate | epoch | ÷ floor | agg ms per node-round, median / p95 | 80 epochs, extrapolated (min) |")
print("|---|---|---|---|---|---|---|---|")
print(f"| floor: plain libtorch, same steps and evaluations | {floor['train_s']:.2f} | – | {floor['eval_s']:.2f} | {floor_total:.2f} | 1.00 | – | {80 * floor_total / 60:.1f} |")
for name, label in [("epoch-agg1", "per-node training, sequential aggregation (`--agg-threads 1`)"),
                    ("epoch-agg0", "per-node training, parallel aggregation (default on CPU)"),
                    ("epoch-stacked", "stacked training (`--train-path stacked`), parallel aggregation")]:
    ms, s = run(name)
    n = len(ms)
    avg = lambda k: sum(m[k] for m in ms) / n
    epoch = avg("time_train_s") + avg("time_aggregate_s") + avg("time_eval_s")
    setup = s["wall_time_s"] - sum(m["time_train_s"] + m["time_aggregate_s"] + m["time_eval_s"] for m in ms)
    print(f"| {label} | {avg('time_train_s'):.2f} | {avg('time_aggregate_s'):.2f} | {avg('time_eval_s'):.2f} | {epoch:.2f} | "
          f"{epoch / floor_total:.2f} | {avg('agg_ms_median'):.2f} / {avg('agg_ms_p95'):.2f} | {(80 * epoch + setup) / 60:.1f} |")
ms, s = run("n300")
print(f"\n## Memory at n = 300\n\nb = 60, p = 0.6, batch 10, sim_reweight vs D-LIE, one epoch: peak RSS **{s['peak_rss_mib']:.0f} MiB**; "
      f"train {ms[0]['time_train_s']:.1f} s, aggregate {ms[0]['time_aggregate_s']:.1f} s "
      f"(median {ms[0]['agg_ms_median']:.1f} ms per node-round), evaluate {ms[0]['time_eval_s']:.1f} s on 1,000 test images.\n")
PY

echo "aggregation scaling and policies (cargo bench)" >&2
cargo bench --quiet -p byzhost --bench scaling > /dev/null
cargo bench --quiet -p byzhost --bench policies > /dev/null
{
  echo "## Aggregation per node-round (sim_reweight), n = 50 … 300"
  echo
  cat target/bench-scaling.md
  echo
  echo "## Every defense, component vs native (k = 30, d = 80,202)"
  echo
  cat target/bench-policies.md
} >> "$report"
cat "$report"
