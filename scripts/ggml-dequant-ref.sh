#!/usr/bin/env bash
# Builds scripts/ggml-dequant-ref.c against ggml-quants.c from the llama.cpp source node-llama-cpp bundles, into
# the same cache as scripts/llama-tools.sh, keyed by the bundle and the filter's source; prints the binary's path.
# Needs only git and a C compiler (about 10 seconds). Built without -march so that no fused multiply-add changes
# the float results: they are ggml's reference dequantization.
#   bash scripts/ggml-dequant-ref.sh          build (or reuse) and print the path
#   bash scripts/ggml-dequant-ref.sh --path   print the path if built, exit 1 otherwise
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
bundle="$here/node_modules/node-llama-cpp/llama/gitRelease.bundle"
[ -f "$bundle" ] || { echo "ggml-dequant-ref: $bundle not found (run npm ci first)" >&2; exit 1; }
key="$(cat "$bundle" "$here/scripts/ggml-dequant-ref.c" | sha256sum | cut -c1-12)"
cache="${SOUP_LLAMA_CACHE:-$HOME/.cache/spectral-soup-llama}"
target="$cache/ggml-dequant-ref-$key"

if [ -x "$target" ]; then
  echo "$target"
  exit 0
fi
if [ "${1:-}" = "--path" ]; then
  echo "ggml-dequant-ref: not built (bash scripts/ggml-dequant-ref.sh builds it into $target)" >&2
  exit 1
fi
command -v cc >/dev/null || { echo "ggml-dequant-ref: no C compiler (cc)" >&2; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d "$cache/.dequant-XXXXXX")"
trap 'rm -rf "$work"' EXIT
git clone -q --no-checkout "$bundle" "$work/src" 2>/dev/null
git -C "$work/src" checkout -q HEAD -- ggml/include ggml/src/ggml-quants.c ggml/src/ggml-quants.h ggml/src/ggml-common.h \
  ggml/src/ggml-impl.h ggml/src/ggml-cpu/ggml-cpu-impl.h
cc -O2 -std=c11 -D_GNU_SOURCE -I"$work/src/ggml/include" -I"$work/src/ggml/src" \
  "$here/scripts/ggml-dequant-ref.c" "$work/src/ggml/src/ggml-quants.c" -lm -o "$work/ggml-dequant-ref"
mv "$work/ggml-dequant-ref" "$target"
echo "$target"
