import { availableParallelism } from 'node:os';

/** A `threads` setting as a count: the setting itself, or one per core (at most `max`) when 0. */
export function threadCount(setting: number, max = Number.POSITIVE_INFINITY): number {
  return setting > 0 ? setting : Math.min(max, availableParallelism());
}
