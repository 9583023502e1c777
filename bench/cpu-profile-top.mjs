// The functions with the most self time in each V8 CPU profile of a folder (node --cpu-prof
// --cpu-prof-dir DIR writes one per thread): where a thread's time went.
//   node bench/cpu-profile-top.mjs DIR [N]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, n = '12'] = process.argv.slice(2);
for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const frameOf = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const self = new Map();
  profile.samples.forEach((id, i) => {
    const f = frameOf.get(id);
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + profile.timeDeltas[i]);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(`${file}: ${(total / 1000).toFixed(0)} ms`);
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) console.log(`  ${(us / 1000).toFixed(1).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${key}`);
}
