#!/usr/bin/env bash
# Builds llama.cpp's own tools (llama-server, llama-quantize, llama-bench) from the source that node-llama-cpp
# bundles (node_modules/node-llama-cpp/llama/gitRelease.bundle), for this CPU, into a cache OUTSIDE the repository,
# keyed by the bundle's content. The peer comparisons, the k-quant checks and the server tests use them; tests skip
# with a message when they are absent. About 8 minutes on an idle 2-core machine the first time, instant afterwards.
#   bash scripts/llama-tools.sh          build (or reuse) and print the bin folder on the last line
#   bash scripts/llama-tools.sh --path   print the bin folder if it is built, exit 1 otherwise (no build)
# Offline by construction: no UI download (the server's web page is not needed), no curl, no OpenSSL.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
bundle="$here/node_modules/node-llama-cpp/llama/gitRelease.bundle"
[ -f "$bundle" ] || { echo "llama-tools: $bundle not found (run npm ci first)" >&2; exit 1; }
tag="$(node -p "require('$here/node_modules/node-llama-cpp/llama/llama.cpp.info.json').tag")"
key="$(sha256sum "$bundle" | cut -c1-12)"
cache="${SOUP_LLAMA_CACHE:-$HOME/.cache/spectral-soup-llama}"
target="$cache/llama.cpp-$tag-$key"
tools=(llama-server llama-quantize llama-bench)

if [ -f "$target/.complete" ]; then
  echo "$target/bin"
  exit 0
fi
if [ "${1:-}" = "--path" ]; then
  echo "llama-tools: not built (bash scripts/llama-tools.sh builds them into $target)" >&2
  exit 1
fi

mkdir -p "$cache"
build="$(mktemp -d "$cache/.build-XXXXXX")"
# A failed or interrupted build leaves no folder that looks finished.
trap 'rm -rf "$build"' EXIT
echo "llama-tools: building ${tools[*]} from llama.cpp $tag ($key) in $build (about 8 minutes on an idle 2-core machine)" >&2
git clone -q "$bundle" "$build/src" 2>/dev/null
jobs="${SOUP_LLAMA_JOBS:-$(nproc)}"
cmake -S "$build/src" -B "$build/out" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >"$build/configure.log" 2>&1 ||
  { tail -30 "$build/configure.log" >&2; exit 1; }
cmake --build "$build/out" --config Release -j "$jobs" --target "${tools[@]}" >"$build/build.log" 2>&1 ||
  { tail -40 "$build/build.log" >&2; exit 1; }
mkdir -p "$build/bin"
for t in "${tools[@]}"; do cp "$build/out/bin/$t" "$build/bin/"; done
"$build/bin/llama-server" --version >&2 2>&1 || true
rm -rf "$build/src" "$build/out"
touch "$build/.complete"
rm -rf "$target"
mv "$build" "$target"
trap - EXIT
echo "$target/bin"
