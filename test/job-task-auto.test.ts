/**
 * The auto search's settings a worker reads from a job's stored params: the budget, and the extrapolation only when
 * the job asked for it either way (otherwise the pipeline's default by the data's size applies).
 */
import { describe, expect, it } from 'vitest';
import { autoSearchOf } from '../src/worker/job-task.js';

describe('autoSearchOf', () => {
  it('passes the budget and an explicit extrapolation, and leaves an absent one to the default', () => {
    expect(autoSearchOf({ auto: true, autoBudgetSeconds: 60 })).toEqual({ budgetSeconds: 60 });
    expect(autoSearchOf({ auto: true, autoBudgetSeconds: 60, autoExtrapolate: false })).toEqual({ budgetSeconds: 60, extrapolate: false });
    expect(autoSearchOf({ auto: true, autoExtrapolate: true })).toEqual({ budgetSeconds: undefined, extrapolate: true });
    expect(autoSearchOf({ auto: true, autoExtrapolate: 'yes' })).toEqual({ budgetSeconds: undefined });
  });
});
