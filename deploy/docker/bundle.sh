#!/bin/sh
# Builds the production bundle of sipfront into OUT: dist/ and production node_modules only
# (`pnpm deploy --prod`), the embedded config in OUT/config/, and OUT/bin/sipfront. The container
# image runs exactly this (deploy/docker/Dockerfile), and so does a plain install:
#   deploy/docker/bundle.sh /opt/sipfront && ln -s /opt/sipfront/bin/sipfront /usr/local/bin/sipfront
# Run from anywhere inside the workspace after `pnpm install` (which builds everything).
set -eu

if [ "$#" -ne 1 ]; then
  echo "usage: $0 OUT" >&2
  exit 2
fi
out="$1"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"

if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  echo "$0: $out exists and is not empty" >&2
  exit 1
fi
if [ ! -f packages/server/dist/cli.js ]; then
  echo "$0: packages/server/dist/cli.js is missing: run pnpm install (or pnpm build) first" >&2
  exit 1
fi

# pnpm 10 deploys only from a workspace whose packages are injected; the flag sets it for this
# command alone, so the workspace's own node_modules keep their symlinks.
pnpm --filter @sipfront/server deploy --prod --config.inject-workspace-packages=true "$out"

# What only the build needed.
find "$out/dist" -name '*.tsbuildinfo' -delete

# The web console's built files, where @sipfront/api serves them from: packages/console/dist beside
# the api package (build it first: pnpm --filter @sipfront/console build).
if [ -f packages/console/dist/index.html ]; then
  console_dir="$(cd "$out" && node --input-type=module -e "import { fileURLToPath } from 'node:url'; console.log(fileURLToPath(new URL('../../console/dist/', import.meta.resolve('@sipfront/api'))))")"
  mkdir -p "$console_dir"
  cp -R packages/console/dist/. "$console_dir"
else
  echo "$0: packages/console/dist is not built: the bundle's /console/ will say so" >&2
fi

mkdir -p "$out/config" "$out/bin"
cp config/sipfront.yaml "$out/config/sipfront.yaml"
# the launcher, with node's options for the server (packages/server/package.json
# "sipfront.nodeOptions": V8 takes the young generation's size only when node starts)
node_options="$(node -p "require('./packages/server/package.json').sipfront.nodeOptions.join(' ')")"
sed "s|@NODE_OPTIONS@|$node_options|" deploy/docker/launcher.sh >"$out/bin/sipfront"
chmod 755 "$out/bin/sipfront"
echo "bundle: $out ($(node "$out/dist/cli.js" --version))"
