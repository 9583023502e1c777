#!/usr/bin/env node
// In a checkout (tsx is a dev dependency) this runs the TypeScript source through tsx's loader, so
// `npx distilxr` works right after `npm ci` and never runs a stale build. In a production install
// (`npm ci --omit=dev`: no tsx) it runs the compiled dist/ from `npm run build`.
let tsx;
try {
  tsx = await import('tsx/esm/api');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
}
if (tsx) {
  tsx.register();
  await import('../src/cli/main.ts');
} else {
  try {
    await import('../dist/cli/distilxr.js');
  } catch (e) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cli/distilxr.js')) {
      process.stderr.write('distilxr: tsx is not installed and dist/ is not built: run `npm ci` (with dev dependencies) or `npm run build`\n');
      process.exit(1);
    }
    throw e;
  }
}
