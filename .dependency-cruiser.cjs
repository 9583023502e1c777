/**
 * The layering of src/, checked by `npm run lint:deps` (part of `npm test`). Lowest first; a layer
 * may import the layers below it and never one above:
 *
 *   core/util  ←  core/data  ←  core/model  ←  ann, teacher  ←  pipeline  ←  infra  ←  worker, service, cli
 *
 * - core/util: leaf helpers (errors, hashing, RNG, atomic writes, line reader, worker spawn)
 * - core/data: data formats and datasets (CSR, XC/JSONL, featurizer, binary cache)
 * - core/model: the student and its training (objective, optimizer, trainer, metrics)
 * - ann (HNSW) and teacher (ONNX, baseline teacher): side by side, neither imports the other
 * - pipeline: the job stages, shared by the CLI and the worker
 * - infra: what the worker, the API and the CLI share (records, database, queue, artifact store,
 *   configuration, signals)
 * - worker, service (HTTP only), cli: the entry points; only the CLI composes the other two
 *
 * TypeScript is parsed with swc (TypeScript 7 has no compiler API for dependency-cruiser), and
 * type-only imports count (tsPreCompilationDeps): a type is a dependency too.
 */

/** Paths of each layer, lowest first. */
const LAYERS = [
  { name: 'core/util', path: '^src/core/util/' },
  { name: 'core/data', path: '^src/core/data/' },
  { name: 'core/model', path: '^src/core/model/' },
  { name: 'ann, teacher', path: '^src/(ann|teacher)/' },
  { name: 'pipeline', path: '^src/pipeline/' },
  { name: 'infra', path: '^src/infra/' },
  { name: 'worker, service, cli', path: '^src/(worker|service|cli)/' },
];

/** One rule per layer: nothing in it imports a layer above it. */
const noUpwardImports = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `no-upward-from-${layer.name.replace(/[^a-z]+/g, '-')}`,
  comment: `${layer.name} may import only ${i === 0 ? 'itself' : LAYERS.slice(0, i).map((l) => l.name).join(', ')} (and node/npm modules), never ${LAYERS.slice(i + 1).map((l) => l.name).join(', ')}`,
  severity: 'error',
  from: { path: layer.path },
  to: { path: LAYERS.slice(i + 1).map((l) => l.path) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...noUpwardImports,
    {
      name: 'ann-and-teacher-apart',
      comment: 'The HNSW index and the teachers sit side by side on one layer: the pipeline combines them, neither imports the other',
      severity: 'error',
      from: { path: '^src/(ann|teacher)/' },
      to: { path: '^src/(ann|teacher)/', pathNot: '^src/$1/' },
    },
    {
      name: 'worker-not-http',
      comment: 'The worker runs jobs; it shares infra with the API but never imports the HTTP service (or the CLI)',
      severity: 'error',
      from: { path: '^src/worker/' },
      to: { path: '^src/(service|cli)/' },
    },
    {
      name: 'service-only-http',
      comment: 'The HTTP service imports neither the worker nor the CLI: running both in one process is the CLI\'s job (cli/standalone.ts)',
      severity: 'error',
      from: { path: '^src/service/' },
      to: { path: '^src/(worker|cli)/' },
    },
    {
      name: 'prisma-client-only-in-infra',
      comment: 'The generated Prisma client is infra\'s business (repository, migrations, retries): everything else goes through the Repository interface',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/infra/', '^src/generated/'] },
      to: { path: '^src/generated/' },
    },
    {
      name: 'core-pure',
      comment: 'core is numerics and data: no web framework, queue, database or Redis client',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'], path: '(^|/)node_modules/(fastify|@fastify|bullmq|ioredis|@prisma|prisma|pg|@electric-sql|pglite-prisma-adapter)(/|$)' },
    },
    {
      name: 'no-dev-dependencies-in-production',
      comment: 'src/ ships in the image, which has production dependencies only (the Prisma client generated under src/generated is exempt: it imports its own runtime)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/generated/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'production-not-tests',
      comment: 'Production code never imports tests, benches or scripts (test hooks are injected, not imported)',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles inside src/ (type-only imports included)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves to a file or an installed package (the dashboard\'s browser modules import URLs the server maps, /vendor/...)',
      severity: 'error',
      from: { pathNot: '^src/service/dashboard/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // the generated Prisma client is seen as a dependency but not cruised
    doNotFollow: { path: ['node_modules', '^src/generated/'] },
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
};
