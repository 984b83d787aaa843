#!/usr/bin/env bash
# Runs that share the cores (sweep --jobs N, or a run beside a sweep): how much each slows
# the other under libgomp's default wait policy (idle threads spin at every barrier), with
# OMP_WAIT_POLICY=PASSIVE (what `sweep --jobs N` gives its cells), and with one libtorch
# thread per run. A small real run (10 nodes, sim_reweight vs D-LIE, embedded data, 2
# epochs) alone, then two at once; then a nice'd run beside a longer one.
# Usage: scripts/bench-shared-cores.sh. Writes target/bench/shared-cores.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh >/dev/null
source scripts/env.sh
unset OMP_WAIT_POLICY BYZHOST_DATA
byzhost=target/release/byzhost
out=target/bench/shared-cores
rm -rf "$out"; mkdir -p "$out"
report=target/bench/shared-cores.md
common=(--quiet --nodes 10 --byzantine 2 --edge-prob 0.8 --batch-size 60 --seed 1 --device cpu
        --attack policies/dlie.wasm --defense policies/sim_reweight.wasm)

launcher=()
# timed NAME EPOCHS [VAR=value ...] [-- run flags]: one run, its wall seconds into $out/NAME.s.
timed() {
  local name=$1 epochs=$2; shift 2
  local env=() flags=()
  while (($#)) && [[ $1 != -- ]]; do env+=("$1"); shift; done
  (($#)) && shift && flags=("$@")
  local start=$(date +%s.%N)
  env "${env[@]}" "${launcher[@]}" "$byzhost" run "${common[@]}" --epochs "$epochs" --out "$out/$name" "${flags[@]}" >/dev/null
  python3 -c "print(round($(date +%s.%N) - $start, 2))" > "$out/$name.s"
}
pair() {  # pair NAME [VAR=value ...] [-- flags]: two identical runs at once
  local name=$1; shift
  timed "$name-1" 2 "$@" & timed "$name-2" 2 "$@" & wait
}
timed alone 2
timed alone-passive 2 OMP_WAIT_POLICY=PASSIVE
timed alone-t1 2 -- --threads 1
pair pair
pair pair-passive OMP_WAIT_POLICY=PASSIVE
pair pair-t1 -- --threads 1
# A nice'd 2-epoch run started beside an 8-epoch one (a demo beside a sweep cell).
for policy in default PASSIVE; do
  env=(); [[ $policy == PASSIVE ]] && env=(OMP_WAIT_POLICY=PASSIVE)
  timed "big-$policy" 8 "${env[@]}" &
  sleep 1
  launcher=(nice -n 10); timed "niced-$policy" 2 "${env[@]}"; launcher=()
  wait
done

python3 - "$out" "$(nproc)" > "$report" <<'PY'
import json, sys
out, cores = sys.argv[1], sys.argv[2]
def secs(name): return float(open(f"{out}/{name}.s").read())
def best(name): return json.load(open(f"{out}/{name}/summary.json"))["best_accuracy"]
alone = secs("alone")
print(f"Wall seconds per run ({cores} cores; 10 nodes, 2 epochs, embedded data); ratio to one run alone.\n")
print("| case | wait policy / threads | run 1 s | run 2 s | ÷ alone | best accuracy |")
print("|---|---|---|---|---|---|")
rows = [("alone", "default", ["alone"]), ("alone", "PASSIVE", ["alone-passive"]), ("alone", "--threads 1", ["alone-t1"]),
        ("two at once", "default", ["pair-1", "pair-2"]), ("two at once", "PASSIVE", ["pair-passive-1", "pair-passive-2"]),
        ("two at once", "--threads 1", ["pair-t1-1", "pair-t1-2"]),
        ("nice'd run beside an 8-epoch run", "default", ["niced-default", "big-default"]),
        ("nice'd run beside an 8-epoch run", "PASSIVE", ["niced-PASSIVE", "big-PASSIVE"])]
for case, policy, names in rows:
    t = [secs(n) for n in names]
    cells = [f"{x:.2f}" for x in t] + ([""] if len(t) == 1 else [])
    slowest = max(t) if case == "two at once" else t[0]
    print(f"| {case} | {policy} | {' | '.join(cells)} | {slowest / alone:.2f} | {100 * best(names[0]):.2f} % |")
PY
cat "$report"
