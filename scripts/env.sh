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
