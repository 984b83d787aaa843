#!/usr/bin/env bash
# The README's test command: installs what is missing (OpenMPI included), builds everything, checks the
# formatting of the host and runs every test (unit tests of host and policies, and the
# integration tests that drive the real binary on real components). Extra arguments go to
# `cargo test`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# The tests cover runs and sweeps over MPI ranks too (tests/cli/mpi.rs, real `mpirun`):
# setup installs OpenMPI and builds the host with the `mpi` feature.
BYZHOST_MPI=1 scripts/setup.sh
source scripts/env.sh
# Formatting before the tests: it takes a second and names the file and line to fix.
cargo fmt --all --check || { echo "formatting differs from rustfmt.toml: run \`cargo fmt --all\`" >&2; exit 1; }
cargo test --release --workspace --features byzhost/mpi "$@"
