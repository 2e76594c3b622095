#!/usr/bin/env bash
# Starts llama.cpp's llama-server (built by scripts/llama-tools.sh) on 127.0.0.1 with a model and LoRA adapters,
# with the flags Spectral Soup needs: adapters loaded at scale 0 (each request sends its own scales), the RAM
# prompt cache off (it restores KV by matching tokens only, ignoring adapter scales, so it could hand one person's
# state to another's weights), one thread. The server replaces this shell (exec), so its pid is this script's.
#   bash scripts/llama-server.sh --model tinycoder|stories|FILE [--lora FILE]... [--port 8090] [--parallel 4]
#        [--ctx 512] [--api-key KEY] [--no-lora] [-- extra llama-server flags]
# --model tinycoder / stories load the test models in ../shared/models with all their adapters.
# SOUP_LLAMA_SERVER=/path/to/llama-server uses that binary instead of scripts/llama-tools.sh's build.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SHARED_MODELS:-$here/../shared/models}"
model="" port=8090 parallel=4 ctx=512 apikey="" nolora=""
loras=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --lora) loras+=("$2"); shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    --ctx) ctx="$2"; shift 2 ;;
    --api-key) apikey="$2"; shift 2 ;;
    --no-lora) nolora=1; shift ;;
    --) shift; break ;;
    *) echo "llama-server.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

case "$model" in
  tinycoder)
    model="$shared/tinycoder/tinycoder.gguf"
    [ ${#loras[@]} -gt 0 ] || [ -n "$nolora" ] || loras=("$shared"/tinycoder/tinycoder-*.gguf) ;;
  stories)
    model="$shared/stories260K.gguf"
    [ ${#loras[@]} -gt 0 ] || [ -n "$nolora" ] || loras=("$shared/stories260K-sparky-lora.gguf") ;;
  "") echo "llama-server.sh: --model tinycoder|stories|FILE is required" >&2; exit 2 ;;
esac
[ -f "$model" ] || { echo "llama-server.sh: model $model not found" >&2; exit 1; }

# SOUP_LLAMA_SERVER names another build (a GPU one, or a team's own); otherwise the one llama-tools.sh built.
if [ -n "${SOUP_LLAMA_SERVER:-}" ]; then
  server="$SOUP_LLAMA_SERVER"
else
  bin="$(bash "$here/scripts/llama-tools.sh" --path)" || {
    echo "llama-server.sh: llama-server is not built; run: bash scripts/llama-tools.sh (or set SOUP_LLAMA_SERVER)" >&2
    exit 1
  }
  server="$bin/llama-server"
fi

args=(--host 127.0.0.1 --port "$port" -m "$model" --threads 1 --threads-batch 1 --parallel "$parallel"
  --ctx-size $((ctx * parallel)) --cache-ram 0 --lora-init-without-apply --no-webui --no-warmup)
for l in ${loras[@]+"${loras[@]}"}; do
  [ -f "$l" ] || { echo "llama-server.sh: adapter $l not found" >&2; exit 1; }
  args+=(--lora "$l")
done
# The key travels in the environment, not on the command line where other users' `ps` would show it.
[ -z "$apikey" ] || export LLAMA_API_KEY="$apikey"
exec "$server" "${args[@]}" "$@"
