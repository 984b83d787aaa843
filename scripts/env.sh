# Sourced by the other scripts: where libtorch lives and how tch finds it.
#
# libtorch is PyTorch 2.13.0 from PyPI (tch 0.26 expects exactly that version), installed
# once into a virtual environment under the user's cache directory so that every clone on
# this machine shares its 4.7 GB. Override the location with BYZHOST_TORCH_VENV.
BYZHOST_TORCH_VERSION=2.13.0
BYZHOST_TORCH_VENV="${BYZHOST_TORCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/byzhost/torch-$BYZHOST_TORCH_VERSION}"
export BYZHOST_TORCH_VENV
# tch's build script asks this python for torch's location.
export LIBTORCH_USE_PYTORCH=1
export PYTHON_SYS_EXECUTABLE="$BYZHOST_TORCH_VENV/bin/python"
export PATH="$BYZHOST_TORCH_VENV/bin:$PATH"
torch_lib="$(ls -d "$BYZHOST_TORCH_VENV"/lib/python3*/site-packages/torch/lib 2>/dev/null | head -n1 || true)"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# require_fashion_mnist DIR: the benchmarks' data check; exits naming what to do.
require_fashion_mnist() {
  [[ -f "$1/train-images-idx3-ubyte" || -f "$1/train-images-idx3-ubyte.gz" ]] \
    || { echo "bench: no Fashion-MNIST in $1 (pass DATA_DIR, or fetch it with: byzhost data fetch --dir $1)" >&2; exit 2; }
}

# mpirun as these scripts call it: allowed as root, and OpenMPI's shared-memory transport
# copying through a buffer instead of reading the peer's memory, which containers forbid.
export_mpirun_settings() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
}
