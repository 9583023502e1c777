/**
 * One autocannon run (programmatic API, in this process) against a POST route, with latencies
 * taken from every response at sub-millisecond resolution (autocannon's own histogram keeps whole
 * milliseconds, which reads 0 ms for a bare route on one connection).
 */
import autocannon from 'autocannon';

export interface CannonOptions {
  url: string;
  /** JSON bodies; each connection sends them in turn, round and round. */
  bodies: string[];
  connections: number;
  /** Seconds. */
  duration: number;
  /** Per-request timeout in seconds. @defaultValue 10 */
  timeout?: number;
}

export interface CannonResult {
  connections: number;
  seconds: number;
  requests: number;
  /** 2xx responses per second over the run. */
  rps: number;
  /** Latency of 2xx responses, milliseconds. */
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

/** The q-quantile (0..1) of an ascending array, nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export function runCannon(opts: CannonOptions): Promise<CannonResult> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    const statusCodes: Record<string, number> = {};
    const t0 = process.hrtime.bigint();
    const instance = autocannon(
      {
        url: opts.url,
        requests: opts.bodies.map((body) => ({ method: 'POST' as const, headers: { 'content-type': 'application/json' }, body })),
        connections: opts.connections,
        duration: opts.duration,
        timeout: opts.timeout ?? 10,
      },
      (err, result) => {
        if (err) return reject(err);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const sorted = Float64Array.from(latencies).sort();
        const ok = result['2xx'];
        resolve({
          connections: opts.connections,
          seconds,
          requests: ok + result.non2xx,
          rps: ok / result.duration,
          p50: quantile(sorted, 0.5),
          p99: quantile(sorted, 0.99),
          max: sorted.length ? sorted[sorted.length - 1] : NaN,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          statusCodes,
        });
      },
    );
    instance.on('response', (_client, statusCode: number, _bytes: number, responseTime: number) => {
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
}
