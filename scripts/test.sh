#!/usr/bin/env bash
# The README's test command: installs what is missing, builds everything, checks the
# formatting of the host and runs every test (unit tests of host and policies, and the
# integration tests that drive the real binary on real components). Extra arguments go to
# `cargo test`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
source scripts/env.sh
# Formatting before the tests: it takes a second and names the file and line to fix. The policy
# crates are left out on purpose (see rustfmt.toml).
fmt_packages=(-p byzhost -p byzhost-train)
for fixture in tests/fixtures/*/; do fmt_packages+=(-p "$(basename "$fixture")"); done
cargo fmt --check "${fmt_packages[@]}" \
  || { echo "formatting differs from rustfmt.toml: run \`cargo fmt ${fmt_packages[*]}\`" >&2; exit 1; }
cargo test --release --workspace "$@"
