#!/usr/bin/env bash
# Builds every policy crate under policies/ (except the SDK) to policies/<name>.wasm, and
# every fixture crate under tests/fixtures/ to tests/fixtures/<name>.wasm, as components:
# wasm32-unknown-unknown + simd128, linked by the toolchain's wasm-component-ld
# (see .cargo/config.toml). Safe to run again: cargo rebuilds only what changed.
#
# One cargo invocation per crate: features unify across the crates of one invocation, so a
# component's bytes would otherwise depend on what was built beside it. Built this way,
# `cargo build --profile policy --target wasm32-unknown-unknown -p NAME` alone gives the
# same bytes (tests/cli/policies.rs checks it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown

crate_name() { sed -n 's/^name *= *"\(.*\)"/\1/p' "$1/Cargo.toml" | head -n1; }
# A crate may ask for another wasm target in [package.metadata.byzhost] (the WASI probe
# fixture builds for wasm32-wasip2, so that its component imports WASI 0.2).
crate_target() { sed -n 's/^target *= *"\(wasm32-[a-z0-9-]*\)"/\1/p' "$1/Cargo.toml" | head -n1; }

packages=()
outputs=()
# examples/ holds standalone crates (the template) that build on their own.
for dir in policies/*/ tests/fixtures/*/; do
  dir="${dir%/}"
  [[ -f "$dir/Cargo.toml" && "$dir" != policies/sdk ]] || continue
  grep -q '"cdylib"' "$dir/Cargo.toml" || continue
  name="$(crate_name "$dir")"
  target="$(crate_target "$dir")"
  target="${target:-wasm32-unknown-unknown}"
  packages+=("$name:$target")
  outputs+=("$(dirname "$dir")/${name//-/_}.wasm:target/$target/policy/${name//-/_}.wasm")
done

for entry in "${packages[@]}"; do
  target="${entry##*:}"
  rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target"
  cargo build --quiet --profile policy --target "$target" -p "${entry%%:*}"
done

for entry in "${outputs[@]}"; do
  dest="${entry%%:*}"
  artifact="${entry#*:}"
  cmp -s "$artifact" "$dest" 2>/dev/null || cp "$artifact" "$dest"
done
echo "built ${#outputs[@]} components: $(printf '%s ' "${outputs[@]%%:*}")"

# Python components: componentize-py, pinned, from PyPI into a venv beside libtorch's.
#   - tests/fixtures/*/app.py: byz:policy@0.1.0 fixtures on the raw bindings;
#   - examples/python/*/app.py: byz:policy@0.2.0 policies on the Python SDK
#     (policies/sdk-python, pip-installed into a folder componentize-py reads).
# Each is rebuilt only when its app.py, the SDK or the WIT changed. A folder whose app.py
# exports an attack (`export_attack`) builds the attack world, any other the defense world.
componentize_version=0.25.1
componentize_venv="${XDG_CACHE_HOME:-$HOME/.cache}/byzhost/componentize-py-$componentize_version"
python_sdk_deps="target/python-sdk"

ensure_componentize() {
  if [[ ! -x "$componentize_venv/bin/componentize-py" ]]; then
    echo "installing componentize-py $componentize_version (PyPI) into $componentize_venv"
    python3 -m venv "$componentize_venv"
    "$componentize_venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$componentize_version"
  fi
}

ensure_python_sdk() {
  local stamp="$python_sdk_deps/.installed"
  if [[ ! -f "$stamp" ]] || [[ -n "$(find policies/sdk-python/byz_policy policies/sdk-python/pyproject.toml -newer "$stamp" -type f -name '*.py' -o -newer "$stamp" -name pyproject.toml | head -n1)" ]]; then
    # setuptools builds in the source folder; a stale build/ there could be installed again.
    rm -rf "$python_sdk_deps" policies/sdk-python/build
    "$componentize_venv/bin/pip" install --quiet --disable-pip-version-check --target "$python_sdk_deps" ./policies/sdk-python
    touch "$stamp"
  fi
}

# build_python APP_DIR WIT_DIR DEST [EXTRA_PATH]
build_python() {
  local dir="$1" wit="$2" dest="$3" extra="${4:-}" world=defense-policy
  grep -q export_attack "$dir/app.py" && world=attack-policy
  local newer=0
  for input in "$dir/app.py" "$wit/policy.wit" ${extra:+"$extra/.installed"}; do
    [[ "$dest" -nt "$input" ]] || newer=1
  done
  [[ -f "$dest" && $newer == 0 ]] && return
  local paths=(-p "$root/$dir")
  [[ -n "$extra" ]] && paths+=(-p "$root/$extra")
  (cd "$dir" && "$componentize_venv/bin/componentize-py" -d "$root/$wit" -w "$world" componentize app "${paths[@]}" -o "$root/$dest.tmp" >/dev/null)
  mv "$dest.tmp" "$dest"
  echo "built $dest (Python, componentize-py $componentize_version, $world)"
}

for app in tests/fixtures/*/app.py examples/python/*/app.py; do
  [[ -f "$app" ]] || continue
  ensure_componentize
  dir="$(dirname "$app")"
  name="$(basename "$dir")"
  case "$dir" in
    tests/fixtures/*) build_python "$dir" wit/0.1.0 "tests/fixtures/${name//-/_}.wasm" ;;
    *)
      ensure_python_sdk
      build_python "$dir" wit/0.2.0 "examples/python/${name//-/_}.wasm" "$python_sdk_deps"
      ;;
  esac
done
