#!/usr/bin/env bash
# Installs what is missing and builds everything; safe to run any number of times.
#   1. the wasm32-unknown-unknown Rust target (policy components) and rustfmt,
#   2. libtorch (PyTorch 2.13.0 from PyPI) into a shared cache venv (see scripts/env.sh),
#   3. a real OCI registry and skopeo for the registry tests (Debian's docker-registry and
#      skopeo packages, when missing),
#   4. with BYZHOST_MPI=1 (scripts/test.sh sets it): OpenMPI and libclang (Debian's
#      openmpi-bin, libopenmpi-dev, libclang-dev), and the host built with `--features mpi`,
#   5. the host (release) and every policy and fixture component.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh

rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown
# rustfmt: scripts/test.sh checks the formatting of the host, its tests and fixtures.
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' \
  || rustup component add rustfmt

# The marker is written only after a complete install, so an interrupted download is
# redone rather than mistaken for a working libtorch.
marker="$BYZHOST_TORCH_VENV/.byzhost-complete"
if [[ ! -f "$marker" ]] || ! "$BYZHOST_TORCH_VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "installing libtorch (PyTorch $BYZHOST_TORCH_VERSION from PyPI, ~4.7 GB) into $BYZHOST_TORCH_VENV"
  rm -rf "$BYZHOST_TORCH_VENV"
  mkdir -p "$(dirname "$BYZHOST_TORCH_VENV")"
  python3 -m venv "$BYZHOST_TORCH_VENV"
  "$BYZHOST_TORCH_VENV/bin/pip" install --quiet --disable-pip-version-check "torch==$BYZHOST_TORCH_VERSION"
  touch "$marker"
  source scripts/env.sh
fi

# The registry tests start Debian's docker-registry (the CNCF distribution server) on
# loopback and check interoperability with skopeo.
if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null; then
  echo "installing docker-registry and skopeo (Debian packages) for the registry tests"
  sudo_cmd=""
  [[ "$(id -u)" == 0 ]] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends docker-registry skopeo >/dev/null
fi

features=()
if [[ "${BYZHOST_MPI:-0}" == 1 ]]; then
  # rsmpi finds OpenMPI through mpicc and generates its bindings with libclang.
  if ! command -v mpirun >/dev/null || ! command -v mpicc >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/libclang.so" >/dev/null; then
    echo "installing OpenMPI and libclang (Debian packages) for the mpi feature"
    sudo_cmd=""
    [[ "$(id -u)" == 0 ]] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
      openmpi-bin libopenmpi-dev libclang-dev >/dev/null
  fi
  features=(--features mpi)
fi

cargo build --release --quiet -p byzhost "${features[@]}"
scripts/build-policies.sh
