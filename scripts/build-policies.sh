#!/usr/bin/env bash
# Builds every policy crate under policies/ (except the SDK) to policies/<name>.wasm, and
# every fixture crate under tests/fixtures/ to tests/fixtures/<name>.wasm, as components:
# wasm32-unknown-unknown + simd128, linked by the toolchain's wasm-component-ld
# (see .cargo/config.toml). Safe to run again: cargo rebuilds only what changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown

crate_name() { sed -n 's/^name *= *"\(.*\)"/\1/p' "$1/Cargo.toml" | head -n1; }

packages=()
outputs=()
# examples/ holds standalone crates (the template) that build on their own.
for dir in policies/*/ tests/fixtures/*/; do
  dir="${dir%/}"
  [[ -f "$dir/Cargo.toml" && "$dir" != policies/sdk ]] || continue
  grep -q '"cdylib"' "$dir/Cargo.toml" || continue
  name="$(crate_name "$dir")"
  packages+=(-p "$name")
  outputs+=("$(dirname "$dir")/${name//-/_}.wasm:${name//-/_}")
done

cargo build --quiet --profile policy --target wasm32-unknown-unknown "${packages[@]}"

for entry in "${outputs[@]}"; do
  dest="${entry%%:*}"
  artifact="target/wasm32-unknown-unknown/policy/${entry##*:}.wasm"
  cmp -s "$artifact" "$dest" 2>/dev/null || cp "$artifact" "$dest"
done
echo "built ${#outputs[@]} components: $(printf '%s ' "${outputs[@]%%:*}")"
