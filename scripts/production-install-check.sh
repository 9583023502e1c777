#!/usr/bin/env bash
# Replays the Dockerfile's stages in a scratch directory, for machines without Docker: a full
# install and `npm run build` (stage build), a production-only install (stage deps), then the
# final stage's files alone (package files, node_modules, dist, prisma/migrations, bin). Checks
# that tsx and typescript are absent, that the compiled CLI prints its help and applies the
# migrations to an embedded database, and prints --help start-up times (median of 5) compiled
# versus through tsx. Usage: bash scripts/production-install-check.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/distilxr-prod-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export ONNXRUNTIME_NODE_INSTALL=skip npm_config_audit=false npm_config_fund=false

copy_sources() { # the files the Dockerfile COPYs into its build stages
  mkdir -p "$1/scripts"
  cp "$ROOT"/package.json "$ROOT"/package-lock.json "$ROOT"/prisma.config.ts "$ROOT"/tsconfig.json "$ROOT"/tsconfig.build.json "$1/"
  cp "$ROOT"/scripts/prisma-generate.mjs "$ROOT"/scripts/native-hnswlib.mjs "$ROOT"/scripts/copy-dashboard.mjs "$1/scripts/"
  cp -r "$ROOT"/prisma "$ROOT"/src "$1/"
  rm -rf "$1/src/generated"
}

echo "== build stage: npm ci, npm run build"
copy_sources "$WORK/build"
(cd "$WORK/build" && npm ci --silent && npm run -s build)

echo "== deps stage: npm ci --omit=dev --omit=optional"
mkdir -p "$WORK/deps/scripts"
cp "$ROOT"/package.json "$ROOT"/package-lock.json "$WORK/deps/"
cp "$ROOT"/scripts/prisma-generate.mjs "$ROOT"/scripts/native-hnswlib.mjs "$WORK/deps/scripts/"
(cd "$WORK/deps" && npm ci --silent --omit=dev --omit=optional && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin node_modules/onnxruntime-node/bin/napi-v*/win32)

echo "== final stage"
APP="$WORK/app"
mkdir -p "$APP/prisma"
cp "$ROOT"/package.json "$ROOT"/package-lock.json "$APP/"
mv "$WORK/deps/node_modules" "$APP/node_modules"
mv "$WORK/build/dist" "$APP/dist"
cp -r "$ROOT"/prisma/migrations "$APP/prisma/migrations"
cp -r "$ROOT"/bin "$APP/bin"
for dev in tsx typescript vitest @biomejs/biome; do
  if [ -e "$APP/node_modules/$dev" ]; then echo "FAIL: $dev is installed in the production image" >&2; exit 1; fi
done
echo "node_modules: $(du -sh "$APP/node_modules" | cut -f1), $(ls "$APP/node_modules" | wc -l) top-level entries; dist: $(du -sh "$APP/dist" | cut -f1)"
cd "$APP"
node dist/cli/distilxr.js --help | head -3
# a teacher fit (solver threads, ONNX export checked through ONNX Runtime from the pruned install)
node dist/cli/distilxr.js data synth --out "$WORK/synth" --points 300 --features 60 --labels 12 >/dev/null
node dist/cli/distilxr.js teacher fit --train "$WORK/synth/train.txt" --out "$WORK/t.onnx" --folds 0 --json | head -c 200; echo
node bin/distilxr.js env | head -3
DATA_DIR="$WORK/data" node dist/cli/distilxr.js migrate

median_help() { # seconds of `$@ --help`, median of 5
  for _ in 1 2 3 4 5; do
    /usr/bin/env time -f %e "$@" --help 2>&1 >/dev/null | tail -1
  done | sort -n | sed -n 3p
}
echo "--help start-up, median of 5: compiled $(median_help node "$APP/dist/cli/distilxr.js") s; through tsx $(cd "$ROOT" && median_help node "$ROOT/bin/distilxr.js") s"
echo "OK: the production install runs the compiled CLI without tsx"
