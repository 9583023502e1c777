// Runs a command and prints each line it writes (stdout and stderr) after the seconds since it
// started: where a job's stages and trials fall in time (its log lines carry no clock).
//   node bench/log-timestamps.mjs node dist/cli/distilxr.js train ... --json
import { spawn } from 'node:child_process';

const t0 = performance.now();
const stamp = () => ((performance.now() - t0) / 1000).toFixed(2);
const child = spawn(process.argv[2], process.argv.slice(3), { stdio: ['ignore', 'pipe', 'pipe'] });
for (const stream of [child.stdout, child.stderr]) {
  let buffered = '';
  stream.on('data', (chunk) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      console.log(stamp(), buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
  });
}
child.on('exit', (code) => console.log(stamp(), 'exit', code));
