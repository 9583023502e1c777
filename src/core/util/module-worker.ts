/**
 * Starting a worker thread on a module of this project, whether it runs compiled (.js) or from
 * source under tsx/vitest (.ts): one place for the trick, used by every module that spawns threads.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';

/**
 * Under tsx a worker cannot load a .ts module by itself, and `execArgv: ['--import', 'tsx']` fails
 * with ERR_UNKNOWN_FILE_EXTENSION: the thread is an eval script that loads tsx's ESM API and
 * imports the module through it. Compiled JS loads directly.
 */
const EVAL_VIA_TSX = `
const { workerData } = require('node:worker_threads');
import(workerData.tsxApi)
  .then((api) => api.tsImport(workerData.moduleUrl, workerData.parentUrl))
  .catch((e) => process.nextTick(() => { throw e; }));
`;

/**
 * A worker running the module `name` (no extension) that sits next to `callerUrl` (the caller's
 * import.meta.url), with `workerData`. The extension follows the caller's own: .ts from source,
 * .js compiled. The URL's pathname is tested, since a module loaded through tsImport (e.g. inside
 * the pipeline thread) has a query string after its .ts.
 */
export function spawnModuleWorker(callerUrl: string, name: string, workerData: object, resourceLimits?: ResourceLimits): Worker {
  const limits = resourceLimits ? { resourceLimits } : {};
  if (new URL(callerUrl).pathname.endsWith('.ts')) {
    const moduleUrl = new URL(`./${name}.ts`, callerUrl).href;
    return new Worker(EVAL_VIA_TSX, {
      eval: true,
      workerData: { ...workerData, tsxApi: import.meta.resolve('tsx/esm/api'), moduleUrl, parentUrl: callerUrl },
      ...limits,
    });
  }
  return new Worker(new URL(`./${name}.js`, callerUrl), { workerData, ...limits });
}

/**
 * Runs a one-shot worker (`name` next to `callerUrl`, as spawnModuleWorker) and resolves to its
 * first message `isAnswer` accepts (default: the first); rejects if it fails or exits first. The
 * worker is terminated either way.
 */
export async function runModuleWorker<T>(callerUrl: string, name: string, workerData: object, isAnswer: (message: T) => boolean = () => true): Promise<T> {
  const worker = spawnModuleWorker(callerUrl, name, workerData);
  try {
    return await new Promise<T>((resolve, reject) => {
      worker.on('message', (m: T) => {
        if (isAnswer(m)) resolve(m);
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`${name} worker exited with code ${code} before it answered`)));
    });
  } finally {
    await worker.terminate();
  }
}

/** A one-shot worker that says when its modules are loaded, then answers. */
export interface StartedWorker<T> {
  /**
   * Resolves true at the worker's `{ type: 'started' }`, false when it ends without one. Await it
   * before blocking this thread in a long synchronous call: under tsx a worker loads its modules
   * through this thread's event loop, so one started just before such a call only begins when it returns.
   */
  started: Promise<boolean>;
  /** Its next message, as runModuleWorker. */
  answer: Promise<T>;
}

/** runModuleWorker for a worker whose first message is `{ type: 'started' }`. */
export function runStartedModuleWorker<T extends { type: string }>(callerUrl: string, name: string, workerData: object): StartedWorker<T> {
  let started!: (said: boolean) => void;
  const onStart = new Promise<boolean>((resolve) => {
    started = resolve;
  });
  const isAnswer = (m: T | { type: 'started' }): boolean => {
    if (m.type !== 'started') return true;
    started(true);
    return false;
  };
  const answer = runModuleWorker<T>(callerUrl, name, workerData, isAnswer).finally(() => started(false)); // a no-op after true
  answer.catch(() => {}); // the caller awaits it later; handled here in case it fails while the caller is busy
  return { started: onStart, answer };
}
