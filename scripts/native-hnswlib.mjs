#!/usr/bin/env node
// Rebuilds hnswlib-node's addon for this machine's vector instructions (postinstall).
//
// hnswlib picks its distance kernels when it is compiled: with node-gyp's default flags it gets
// SSE only, while upstream hnswlib's own Python build passes -march=native and so gets AVX or
// AVX-512. On this project's machines that made index builds and searches 1.07–1.40× faster
// (npm run bench:hnsw-simd, two runs). The addon is compiled on the machine that runs it, so native is the
// default; an image built on one machine for others sets DISTILXR_HNSW_MARCH to a baseline
// (the Dockerfile uses x86-64-v3), and DISTILXR_HNSW_MARCH=none keeps hnswlib-node's own build.
//
// Never leaves the install worse than it found it: the portable addon is kept aside, and put back
// when the compile fails or the new addon cannot build and search an index in a child process
// (an instruction this CPU lacks ends that child with SIGILL, not the install).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const march = process.env.DISTILXR_HNSW_MARCH ?? 'native';
const say = (msg) => console.warn(`native-hnswlib: ${msg}`);

if (march === 'none') process.exit(0);
if (!/^[\w.-]+$/.test(march)) {
  say(`DISTILXR_HNSW_MARCH=${march} is not a -march value; keeping hnswlib-node's own build`);
  process.exit(0);
}
let pkgDir;
try {
  pkgDir = dirname(require.resolve('hnswlib-node/package.json'));
} catch {
  process.exit(0); // not installed (nothing to rebuild)
}
// npm names its bundled node-gyp for every install script it runs.
const nodeGyp = process.env.npm_config_node_gyp;
if (!nodeGyp || !existsSync(nodeGyp)) {
  say('node-gyp not found (run through npm: npm run postinstall); keeping the portable build');
  process.exit(0);
}
const addon = join(pkgDir, 'build', 'Release', 'addon.node');
const marker = join(pkgDir, 'build', 'Release', 'distilxr-march.txt');
// hnswlib-node's own build, kept for the fallback and for bench/hnsw-simd.ts's side-by-side runs
// (not overwritten by a second run of this script, which finds its own build in place).
const kept = join(pkgDir, 'addon.portable.node');
if (existsSync(addon) && !existsSync(marker)) copyFileSync(addon, kept);

const env = { ...process.env, CXXFLAGS: `${process.env.CXXFLAGS ?? ''} -march=${march}`.trim() };
const built = spawnSync(process.execPath, [nodeGyp, 'rebuild'], { cwd: pkgDir, env, encoding: 'utf8' });
if (built.status === 0 && works()) {
  writeFileSync(marker, `${march}\n`);
  say(`hnswlib-node rebuilt with -march=${march}`);
} else {
  say(`the -march=${march} build ${built.status === 0 ? 'does not run here' : 'failed'}; keeping the portable build`);
  if (built.status !== 0) console.warn(built.stderr.split('\n').slice(-15).join('\n'));
  restore();
}

/** Builds and searches a small inner-product index with the new addon, in a child process. */
function works() {
  const probe = `const { HierarchicalNSW } = require(${JSON.stringify(pkgDir)});
const d = 32, n = 200, index = new HierarchicalNSW('ip', d);
index.initIndex(n, 16, 100, 1);
for (let i = 0; i < n; i++) index.addPoint(Array.from({ length: d }, (_, j) => Math.sin(i * 7 + j)), i);
const { neighbors } = index.searchKnn(Array.from({ length: d }, (_, j) => Math.sin(42 * 7 + j)), 1);
if (neighbors[0] !== 42) process.exit(2);`;
  return spawnSync(process.execPath, ['-e', probe], { stdio: 'ignore' }).status === 0;
}

function restore() {
  if (!existsSync(kept)) return;
  mkdirSync(dirname(addon), { recursive: true });
  copyFileSync(kept, addon);
}
