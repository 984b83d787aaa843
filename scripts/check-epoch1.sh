#!/usr/bin/env bash
# Recomputes epoch 1 of committed paper cells and compares it with the record, field by
# field (accuracy mean, min and max, consensus error, train loss, rounds): the check that a
# change to the host or the policies changed no result. Results are identical only on the
# kind of CPU that computed the record, so by default it takes the cells whose summary names
# this machine's CPU and vector instruction set.
#   scripts/check-epoch1.sh                       every matching paper cell
#   scripts/check-epoch1.sh fig1-paper/dlie__sim_reweight …   these cells
#   RANKS=2 scripts/check-epoch1.sh …             each cell over 2 MPI ranks (the mpi feature)
# Needs the full dataset at ../shared/datasets/fashion-mnist (the records' data path).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
launcher=()
if [[ "${RANKS:-1}" -gt 1 ]]; then
  BYZHOST_MPI=1 scripts/setup.sh >/dev/null
  launcher=(mpirun --oversubscribe -np "$RANKS")
  export_mpirun_settings
else
  cargo build --release -q -p byzhost
fi
cells=("$@")
if [[ ${#cells[@]} -eq 0 ]]; then
  mapfile -t cells < <(python3 - <<'PY'
import glob, json, os, subprocess
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
flags = open("/proc/cpuinfo").read()
isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
for path in sorted(glob.glob("runs/*-paper/*/summary.json")):
    machine = json.load(open(path)).get("machine") or {}
    if machine.get("cpu") == cpu and machine.get("vector_isa") == isa and not os.path.exists(os.path.join(os.path.dirname(path), "reused.json")):
        print(os.path.relpath(os.path.dirname(path), "runs"))
PY
  )
fi
[[ ${#cells[@]} -gt 0 ]] || { echo "no committed paper cell was computed on this kind of CPU; name cells to check" >&2; exit 1; }
status=0
for cell in "${cells[@]}"; do
  out="$(mktemp -d)/run"
  "${launcher[@]}" target/release/byzhost run --config "runs/$cell/config.toml" --epochs 1 --out "$out" --quiet >/dev/null 2>"$out.log" \
    || { echo "$cell: the run failed:"; cat "$out.log"; status=1; continue; }
  python3 - "$cell" "$out/metrics.jsonl" "runs/$cell/metrics.jsonl" <<'PY' || status=1
import json, sys
keys = ["epoch", "round", "accuracy_mean", "accuracy_min", "accuracy_max", "consensus_error", "train_loss", "diverged"]
new, old = (json.loads(open(p).readline()) for p in sys.argv[2:])
differ = [k for k in keys if new[k] != old[k]]
print(f"{sys.argv[1]}: " + ("epoch 1 identical to the record" if not differ else "DIFFERS in " + ", ".join(f"{k} ({new[k]} vs {old[k]})" for k in differ)))
sys.exit(1 if differ else 0)
PY
  rm -rf "$(dirname "$out")"
done
exit $status
