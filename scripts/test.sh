#!/usr/bin/env bash
# The README's test command: installs what is missing, builds everything, runs every test
# (unit tests of host and policies, and the integration tests that drive the real binary
# on real components). Extra arguments go to `cargo test`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
source scripts/env.sh
cargo test --release --workspace "$@"
