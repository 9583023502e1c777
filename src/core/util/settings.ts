import { UsageError } from './errors.js';

/** Known keys of `defaults` taken from `params`; anything else is ignored. */
export function pickSettings<T extends object>(defaults: T, params: Record<string, unknown>): T {
  const out = { ...defaults };
  for (const k of Object.keys(defaults) as (keyof T)[]) {
    const v = params[k as string];
    if (v === undefined || v === null) continue;
    if (typeof v !== typeof defaults[k]) throw new UsageError(`setting ${String(k)} must be a ${typeof defaults[k]}, got ${JSON.stringify(v)}`);
    out[k] = v as T[keyof T];
  }
  return out;
}
