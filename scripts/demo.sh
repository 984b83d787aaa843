#!/usr/bin/env bash
# The README's main job: installs what is missing, builds everything, and runs a small
# experiment end to end.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
source scripts/env.sh
byzhost=target/release/byzhost

echo "== the shipped policies"
for p in policies/*.wasm; do "$byzhost" inspect "$p" | head -n1; done
