import cliProgress from 'cli-progress';
import type { EpochStats } from '../core/model/trainer.js';
import type { JobStage, ProgressSink } from '../pipeline/progress.js';

/**
 * Progress on stderr (stdout stays clean for --json): a live bar on a terminal, one line per
 * stage and epoch otherwise (logs, CI).
 */
export function stderrProgress(opts: { quiet?: boolean } = {}): ProgressSink & { done(): void } {
  const tty = process.stderr.isTTY === true && !opts.quiet;
  let bar: cliProgress.SingleBar | null = null;
  let stage: JobStage | null = null;
  let stageStarted = 0;
  const write = (line: string): void => {
    if (opts.quiet) return;
    if (bar) bar.stop();
    bar = null;
    process.stderr.write(line + '\n');
  };
  return {
    stage(s, detail) {
      if (s !== stage || detail) write(`[${s}]${detail ? ' ' + detail : ''}`);
      if (s !== stage) stageStarted = performance.now();
      stage = s;
    },
    progress(done, total, info) {
      if (!tty) return;
      const elapsed = (performance.now() - stageStarted) / 1000;
      const payload = {
        epochLabel: info?.epoch ? `epoch ${info.epoch}/${info.epochs}` : (stage ?? ''),
        loss: info?.loss !== undefined ? info.loss.toFixed(4) : '-',
        rate: elapsed > 0 ? Math.round(done / elapsed) : 0,
      };
      if (!bar) {
        bar = new cliProgress.SingleBar(
          { format: '{epochLabel} [{bar}] {percentage}% | loss {loss} | {rate} ex/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, done, payload);
      } else {
        bar.setTotal(total);
        bar.update(done, payload);
      }
    },
    epoch(s: EpochStats) {
      stageStarted = performance.now();
      write(`epoch ${s.epoch}: loss ${s.loss.toFixed(4)} (ce ${s.ce.toFixed(4)}, kl ${s.kl.toFixed(4)}), ${Math.round(s.examplesPerSecond)} ex/s, ${s.seconds.toFixed(2)} s`);
    },
    log(message) {
      write(message);
    },
    done() {
      if (bar) bar.stop();
      bar = null;
    },
  };
}
