import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/core/util/errors.js';
import { parseFeatureString } from '../src/core/data/feature-string.js';

describe('parseFeatureString', () => {
  it('parses id:value pairs and sorts them by id', () => {
    const { indices, values } = parseFeatureString(' 17:0.5  3:1\t9:-2e-1 ');
    expect(Array.from(indices)).toEqual([3, 9, 17]);
    expect(Array.from(values)).toEqual([1, Math.fround(-0.2), 0.5]);
    expect(Array.from(parseFeatureString('2:1,0:3', 3).indices)).toEqual([0, 2]);
  });

  const bad: [string, number | undefined, string][] = [
    ['', undefined, 'empty feature string'],
    ['3:1 x:2', undefined, 'feature "x:2": id "x" is not a non-negative integer'],
    ['3:abc', undefined, 'feature "3:abc": value "abc" is not a number'],
    ['3:1.5.2', undefined, 'value "1.5.2" is not a number'],
    ['3:0x10', undefined, 'value "0x10" is not a number'],
    ['3:NaN', undefined, 'value "NaN" is not finite'],
    ['3:-Infinity', undefined, 'value "-Infinity" is not finite'],
    ['3:1e40', undefined, 'value "1e40" is not finite'],
    ['3:1 5:1', 5, 'feature "5:1": id 5 out of range [0, 5)'],
    ['-3:1', undefined, 'feature "-3:1": negative id'],
    ['3:1 3:2', undefined, 'feature "3:2": id 3 appears twice (also "3:1")'],
    ['3', undefined, 'feature "3": expected id:value'],
    ['3:', undefined, 'feature "3:": missing value'],
    [':1', undefined, 'feature ":1": missing id'],
    ['99999999999:1', undefined, 'out of range'],
  ];
  for (const [s, n, fragment] of bad) {
    it(`refuses ${JSON.stringify(s)}`, () => {
      expect(() => parseFeatureString(s, n)).toThrow(UsageError);
      expect(() => parseFeatureString(s, n)).toThrow(fragment);
    });
  }
});
