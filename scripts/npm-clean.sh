#!/usr/bin/env bash
# Runs a command without the environment an outer npm leaves behind. `npm run`, `npm start` and `npm exec` export
# npm_config_* (user agent, nodedir, cache...), npm_package_*, npm_lifecycle_*, NODE and INIT_CWD, and put their own
# bin folders first on PATH; a nested `npm i` then reads them as its own. code-server's postinstall, for one, takes
# the Node version from $npm_config_user_agent and refuses to install under Node 24 when an outer npm ran on Node 20.
#   bash scripts/npm-clean.sh CMD [ARGS...]
set -euo pipefail
while IFS= read -r name; do
  unset "$name"
done < <(env | sed -n 's/^\([Nn][Pp][Mm]_[A-Za-z0-9_]*\)=.*/\1/p')
unset NODE INIT_CWD
clean_path=""
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  case "$d" in */node_modules/.bin | */node-gyp-bin | "") continue ;; esac
  clean_path="${clean_path:+$clean_path:}$d"
done
export PATH="$clean_path"
exec "$@"
