// Part of `npm run build`: the dashboard's static files sit next to the compiled plugin that serves
// them (OUT_DIR/service/dashboard, read from dist/service/plugins/dashboard.js as ../dashboard/).
//   node scripts/copy-dashboard.mjs [OUT_DIR=dist]
import { cpSync } from 'node:fs';
import { join } from 'node:path';

cpSync(new URL('../src/service/dashboard', import.meta.url), join(process.argv[2] ?? 'dist', 'service', 'dashboard'), { recursive: true });
