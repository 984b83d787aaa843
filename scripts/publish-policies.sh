#!/usr/bin/env bash
# Pushes every shipped policy (policies/*.wasm, built by scripts/setup.sh) to an OCI registry
# as byz/<name>:<version>, where <name> is the file name in kebab case (sim_reweight.wasm ->
# byz/sim-reweight), so that wkg's package name byz:<name>@<version> finds it.
#
#   scripts/publish-policies.sh REGISTRY [byzhost policy push flags...]
#   scripts/publish-policies.sh 127.0.0.1:5000
#   scripts/publish-policies.sh ghcr.io/my-lab --username me --password-stdin < token.txt
#
# Each push runs the conformance suite first. Prints one line per policy: reference, manifest
# digest and seconds. Plain HTTP is used for loopback registries only (see
# docs/publishing.md for --insecure-registry).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[[ $# -ge 1 ]] || { echo "usage: $0 REGISTRY (HOST[:PORT][/PREFIX]) [byzhost policy push flags...]" >&2; exit 2; }
registry="${1%/}"
shift
source scripts/env.sh
byzhost="${BYZHOST:-target/release/byzhost}"
[[ -x "$byzhost" ]] || { echo "$byzhost is missing: run scripts/setup.sh first" >&2; exit 1; }
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
password=""
# A password given on stdin is read once and handed to every push.
for arg in "$@"; do [[ "$arg" == --password-stdin ]] && IFS= read -r password; done

for wasm in policies/*.wasm; do
  file="$(basename "$wasm" .wasm)"
  version="$("$byzhost" inspect --json "$wasm" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')"
  reference="oci://$registry/byz/${file//_/-}:$version"
  started=$(date +%s%N)
  digest="$(printf '%s\n' "$password" | "$byzhost" policy push "$wasm" "$reference" --revision "$revision" "$@")"
  elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
  printf '%-50s %s %d.%03d s\n' "$reference" "$digest" $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
done
