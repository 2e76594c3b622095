#!/usr/bin/env bash
# GPU offload check for a CUDA machine WITHOUT registry access (run it from the repository root with the
# node_modules this machine built carried over). It locates node-llama-cpp's prebuilt CUDA binary, or builds
# llama.cpp's CUDA backend from the source bundled in the package (llama/gitRelease.bundle), then runs the
# engine benchmark with --gpu cuda and --gpu off in one run and prints the backend, layers offloaded and
# the tokens/s ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-$(mktemp -d)}"
echo "== machine"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi not found"
node --version
[ -f dist/cli.js ] || node esbuild.mjs
nlc=node_modules/node-llama-cpp
if ! node -e 'import("node-llama-cpp").then(async m => { const l = await m.getLlama({gpu: "cuda", build: "never"}); console.log("prebuilt backend:", l.gpu); })' 2>"$out/prebuilt.err"; then
  echo "== no usable prebuilt CUDA binary ($(tail -1 "$out/prebuilt.err")); building from $nlc/llama/gitRelease.bundle"
  command -v nvcc >/dev/null || { echo "nvcc not found: cannot build the CUDA backend"; exit 1; }
  # node-llama-cpp's own source build, offline: `source download` clones the release bundled in the package
  # (llama/gitRelease.bundle, the default release) instead of GitHub, then builds it with CUDA.
  npx --no-install node-llama-cpp source download --gpu cuda 2>&1 | tail -20
fi
echo "== benchmark, cuda then cpu, same run"
node bin/soup.js bench engine --gpu cuda --json > "$out/cuda.json"
node bin/soup.js bench engine --gpu off --json > "$out/cpu.json"
node -e '
const cuda = require(process.argv[1]), cpu = require(process.argv[2]);
console.log(`cuda: backend ${cuda.backend}, layers ${cuda.gpuLayers}, plain ${cuda.plainTokPerSec.toFixed(1)} tok/s, explicit K=4 ${cuda.explicitK4TokPerSec.toFixed(1)} tok/s`);
console.log(`cpu : backend ${cpu.backend}, threads ${cpu.threads}, plain ${cpu.plainTokPerSec.toFixed(1)} tok/s, explicit K=4 ${cpu.explicitK4TokPerSec.toFixed(1)} tok/s`);
console.log(`plain tokens/s ratio cuda/cpu: ${(cuda.plainTokPerSec / cpu.plainTokPerSec).toFixed(2)}x; explicit: ${(cuda.explicitK4TokPerSec / cpu.explicitK4TokPerSec).toFixed(2)}x`);
if (cuda.backend !== "cuda") { console.log("FAIL: the CUDA run did not use the CUDA backend"); process.exit(1); }
' "$out/cuda.json" "$out/cpu.json"
