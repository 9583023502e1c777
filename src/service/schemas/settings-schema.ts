/**
 * JSON Schema (TypeBox) properties derived from a configuration's setting specs
 * (core/util/settings.ts): the HTTP body schemas take type, range, default and description from
 * the same declaration as the validation and the CLI flags.
 */
import { Type, type TBoolean, type TNumber, type TOptional } from 'typebox';
import type { SettingSpec } from '../../core/util/settings.js';

/** One setting as a schema property. */
export function settingSchema(s: SettingSpec): TBoolean | TNumber {
  if (s.type === 'boolean') return Type.Boolean({ default: s.default, description: s.description });
  const range = s.exclusiveMin ? { exclusiveMinimum: s.min } : { minimum: s.min };
  const opts = { ...range, maximum: s.max, default: s.default, description: s.description };
  return s.type === 'integer' ? (Type.Integer(opts) as unknown as TNumber) : Type.Number(opts);
}

/** Every setting of `specs` as an optional property (a body gives only what it changes). */
export type OptionalSettingProperties<S extends Record<string, SettingSpec>> = { [K in keyof S]: TOptional<S[K] extends { type: 'boolean' } ? TBoolean : TNumber> };

export function optionalSettingProperties<S extends Record<string, SettingSpec>>(specs: S): OptionalSettingProperties<S> {
  return Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, Type.Optional(settingSchema(s))])) as OptionalSettingProperties<S>;
}
