#!/usr/bin/env node
// Runs `prisma generate` without Prisma's native schema engine, which cannot be downloaded on
// machines without access to binaries.prisma.sh. The CLI only insists that
// PRISMA_SCHEMA_ENGINE_BINARY points at an executable; generate never runs it. We point it at a stub
// that explains itself and fails, so a command that really needs the engine (`prisma migrate dev`)
// says why instead of hanging on a download. An engine already configured is left alone.
//
// Used by `npm run generate` and by `postinstall` (so `npm ci` on a fresh clone yields
// src/generated/prisma). Extra arguments are passed to `prisma generate`.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));

let cli;
try {
  cli = require.resolve('prisma/build/index.js');
} catch {
  // `npm ci --omit=dev`: the CLI is a dev dependency; the client must have been generated at build time.
  console.warn('prisma-generate: the prisma CLI is not installed (dev dependency); skipping generate');
  process.exit(0);
}

const env = { ...process.env };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) {
  const dir = join(tmpdir(), `distilxr-prisma-stub-${process.getuid?.() ?? 'u'}`);
  const stub = join(dir, 'schema-engine');
  if (!existsSync(stub)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      stub,
      '#!/bin/sh\necho "distilxr: no native Prisma schema engine here; migrations are applied by src/infra/db/migrate.ts" >&2\nexit 1\n',
    );
  }
  chmodSync(stub, 0o755);
  env.PRISMA_SCHEMA_ENGINE_BINARY = stub;
}
env.PRISMA_HIDE_UPDATE_MESSAGE ??= '1';

const r = spawnSync(process.execPath, [cli, 'generate', ...process.argv.slice(2)], { cwd: root, env, stdio: 'inherit' });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
