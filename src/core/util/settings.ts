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

/**
 * One setting of a configuration: its type, range, default and description. A configuration is a
 * record of these, and everything else is derived from it: the TypeScript type (SettingsOf), the
 * defaults (defaultsOf), the validation (settingProblems), the HTTP body schema
 * (service/schemas/settings-schema.ts) and the CLI flags and their help (cli/setting-options.ts).
 */
export type SettingSpec =
  | {
      type: 'integer' | 'number';
      /** Smallest value; excluded when exclusiveMin. */
      min: number;
      max: number;
      exclusiveMin?: boolean;
      default: number;
      description: string;
      /** The value's name in the CLI flag: `--dim <d>`. */
      arg: string;
      /** The CLI flag's name when it is not the key in kebab case (`--C`). */
      flag?: string;
    }
  | {
      type: 'boolean';
      default: boolean;
      description: string;
      /** Help of the CLI's `--no-<flag>` when the default is true. */
      off?: string;
    };

/** The values a record of specs describes: numbers and booleans. */
export type SettingsOf<S extends Record<string, SettingSpec>> = { -readonly [K in keyof S]: S[K] extends { type: 'boolean' } ? boolean : number };

export function defaultsOf<S extends Record<string, SettingSpec>>(specs: S): SettingsOf<S> {
  return Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.default])) as SettingsOf<S>;
}

/**
 * Range and type checks with messages that name the setting: the numeric settings first, then the
 * booleans, each in the order of `specs`.
 */
export function settingProblems<S extends Record<string, SettingSpec>>(specs: S, values: SettingsOf<S>): string[] {
  const problems: string[] = [];
  const entries = Object.entries(specs);
  for (const [name, s] of entries) {
    if (s.type === 'boolean') continue;
    const v = values[name] as number;
    if (s.type === 'integer') {
      if (!Number.isInteger(v) || v < s.min || v > s.max) problems.push(`${name} must be an integer in [${s.min}, ${s.max}], got ${v}`);
    } else if (!Number.isFinite(v) || v > s.max || v < s.min || (s.exclusiveMin && v === s.min)) {
      problems.push(`${name} must be in ${s.exclusiveMin ? '(' : '['}${s.min}, ${s.max}], got ${v}`);
    }
  }
  for (const [name, s] of entries) {
    if (s.type === 'boolean' && typeof values[name] !== 'boolean') problems.push(`${name} must be true or false, got ${JSON.stringify(values[name])}`);
  }
  return problems;
}
