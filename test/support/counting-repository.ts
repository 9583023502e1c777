/**
 * A real repository (PrismaRepository on a real database) behind a wrapper that counts the calls
 * of each method: every call is a database query, so the counts show how often the service reads.
 */
import type { Repository } from '../../src/infra/records.js';

export interface CountingRepository {
  repo: Repository;
  /** Calls per method name since the last reset. */
  calls(method: keyof Repository): number;
  reset(): void;
}

export function countingRepository(inner: Repository): CountingRepository {
  const counts = new Map<string, number>();
  const repo = new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        counts.set(prop, (counts.get(prop) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { repo, calls: (m) => counts.get(m) ?? 0, reset: () => counts.clear() };
}
