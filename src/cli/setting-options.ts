/**
 * CLI flags derived from a configuration's setting specs (core/util/settings.ts): flag name, value
 * parser, default and help come from the same declaration as the validation and the HTTP schema.
 */
import { type Command, Option } from 'commander';
import type { SettingSpec, SettingsOf } from '../core/util/settings.js';
import { intArg, realArg } from './args.js';

/** hardNegatives → hard-negatives */
const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * One setting's flag: `--dim <d>` with its parser and default; a boolean off by default is
 * `--teacher-weighted-negatives`, one on by default `--no-label-bias`. Commander camel-cases the
 * flag back to the setting's key.
 */
export function settingOption(key: string, s: SettingSpec): Option {
  const flag = (s.type !== 'boolean' && s.flag) || kebab(key);
  if (s.type === 'boolean') return s.default ? new Option(`--no-${flag}`, s.off ?? `turn off: ${s.description}`) : new Option(`--${flag}`, s.description).default(false);
  return new Option(`--${flag} <${s.arg}>`, s.description).argParser(s.type === 'integer' ? intArg : realArg).default(s.default);
}

/** A flag for every setting of `specs`, in their order. */
export function addSettingOptions(cmd: Command, specs: Record<string, SettingSpec>): Command {
  for (const [key, s] of Object.entries(specs)) cmd.addOption(settingOption(key, s));
  return cmd;
}

/** The settings out of commander's parsed options. */
export function settingsFrom<S extends Record<string, SettingSpec>>(specs: S, opts: Record<string, unknown>): SettingsOf<S> {
  return Object.fromEntries(Object.keys(specs).map((k) => [k, opts[k]])) as SettingsOf<S>;
}

/** The settings given on the command line (not defaulted), for the checks that apply to explicit settings only. */
export function givenSettings<T extends object>(cmd: Command, settings: T): Partial<T> {
  return Object.fromEntries(Object.entries(settings).filter(([k]) => cmd.getOptionValueSource(k) === 'cli')) as Partial<T>;
}
