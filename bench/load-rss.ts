/**
 * Resident memory of a process, sampled from /proc/<pid>/status (VmRSS) at a fixed interval, and
 * its least-squares slope, to show whether it stays flat under load.
 */
import { readFileSync } from 'node:fs';

/** VmRSS of `pid` in MiB, or NaN when the process is gone. */
function rssMiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export interface RssSample {
  /** Seconds since sampling started. */
  t: number;
  mib: number;
}

export interface RssSummary {
  samples: number;
  firstMiB: number;
  lastMiB: number;
  minMiB: number;
  maxMiB: number;
  /** Mean of the first and of the last third of the samples: GC makes RSS a sawtooth, so drift shows here rather than in first/last. */
  firstThirdMeanMiB: number;
  lastThirdMeanMiB: number;
  /** Least-squares slope over all samples, MiB per minute. */
  slopeMiBPerMin: number;
}

/** Samples every `intervalMs` until `stop()` is called; `stop` returns the samples. */
export function sampleRss(pid: number, intervalMs = 1000): { stop(): RssSample[] } {
  const samples: RssSample[] = [];
  const t0 = Date.now();
  const take = (): void => {
    const mib = rssMiB(pid);
    if (Number.isFinite(mib)) samples.push({ t: (Date.now() - t0) / 1000, mib });
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

export function summarizeRss(samples: RssSample[]): RssSummary {
  const n = samples.length;
  const meanT = samples.reduce((s, x) => s + x.t, 0) / n;
  const meanM = samples.reduce((s, x) => s + x.mib, 0) / n;
  let cov = 0;
  let varT = 0;
  for (const { t, mib } of samples) {
    cov += (t - meanT) * (mib - meanM);
    varT += (t - meanT) ** 2;
  }
  return {
    samples: n,
    firstMiB: samples[0]?.mib ?? NaN,
    lastMiB: samples[n - 1]?.mib ?? NaN,
    minMiB: Math.min(...samples.map((s) => s.mib)),
    maxMiB: Math.max(...samples.map((s) => s.mib)),
    firstThirdMeanMiB: mean(samples.slice(0, Math.ceil(n / 3))),
    lastThirdMeanMiB: mean(samples.slice(n - Math.ceil(n / 3))),
    slopeMiBPerMin: varT > 0 ? (cov / varT) * 60 : 0,
  };
}

function mean(samples: RssSample[]): number {
  return samples.reduce((s, x) => s + x.mib, 0) / samples.length;
}
