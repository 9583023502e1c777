/**
 * An async function whose calls run one after another, each starting once the one before has settled (resolved or
 * rejected): for work that reuses state which only one call may hold at a time (an auto trial's memo in the job's
 * thread: its kernel memory is reset and handed to each trial).
 */
export function oneAtATime<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  let last: Promise<unknown> = Promise.resolve();
  return (...args: A): Promise<R> => {
    const run = last.then(() => fn(...args));
    last = run.catch(() => undefined);
    return run;
  };
}
