/**
 * Reference values: R 4.2.2 (Debian's r-base-core), computed independently of this code with
 *   wilcox.test(x, y, conf.int = TRUE, conf.level = LEVEL)
 * each call written next to the values it printed. x and y are the two-sample example of R's help page
 * for wilcox.test (Hollander & Wolfe 1973, p. 69). Where R takes the normal approximation it finds the
 * bounds with uniroot(tol = 1e-4), so those bounds are compared to 4 decimals; this code locates the
 * same crossings exactly, at pairwise differences.
 */
import {
  hodgesLehmannInterval,
  medianOfSorted,
  pairwiseDifferences,
} from '../../analysis/statistics/hodges-lehmann';

/** R's uniroot stops within 1e-4 of the crossing: its bounds are that close to the exact ones. */
function expectWithinRootTolerance(received: number, printedByR: number): void {
  expect(Math.abs(received - printedByR)).toBeLessThanOrEqual(1e-4);
}

const atTerm = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
const earlier = [1.15, 0.88, 0.9, 0.74, 1.21];
const large = Array.from({ length: 60 }, (_, i) => (((i + 1) * 37) % 101) / 10);
const largeOther = Array.from({ length: 55 }, (_, i) => (((i + 1) * 53) % 103) / 10 + 0.05);

describe('the Hodges-Lehmann estimate', () => {
  it('is the median of every pairwise difference canary − baseline', () => {
    expect(pairwiseDifferences([10, 20], [1, 2, 3])).toEqual([7, 8, 9, 17, 18, 19]);
    expect(medianOfSorted([7, 8, 9, 17, 18, 19])).toBe(13);
    expect(hodgesLehmannInterval([10, 20], [1, 2, 3], 0.9).estimate).toBe(13);
  });

  it("is R's difference in location for the help page's example", () => {
    // R: wilcox.test(x, y, conf.int = TRUE) -> difference in location 0.305
    expect(hodgesLehmannInterval(atTerm, earlier, 0.95).estimate).toBeCloseTo(0.305, 12);
    expect(hodgesLehmannInterval(earlier, atTerm, 0.95).estimate).toBeCloseTo(-0.305, 12);
  });
});

describe('the Hodges-Lehmann confidence interval', () => {
  it("is R's exact interval for small samples without ties", () => {
    // R: conf.level = 0.90 -> -0.08 0.72; 0.98 -> -0.17 0.90 (Wilcoxon rank sum exact test)
    expect(hodgesLehmannInterval(atTerm, earlier, 0.9)).toMatchObject({ method: 'exact' });
    const ninety = hodgesLehmannInterval(atTerm, earlier, 0.9);
    expect(ninety.lower).toBeCloseTo(-0.08, 12);
    expect(ninety.upper).toBeCloseTo(0.72, 12);
    const ninetyEight = hodgesLehmannInterval(atTerm, earlier, 0.98);
    expect(ninetyEight.lower).toBeCloseTo(-0.17, 12);
    expect(ninetyEight.upper).toBeCloseTo(0.9, 12);
    // R: wilcox.test(y, x, conf.int = TRUE, conf.level = 0.98) -> -0.90 0.17
    const swapped = hodgesLehmannInterval(earlier, atTerm, 0.98);
    expect(swapped.lower).toBeCloseTo(-0.9, 12);
    expect(swapped.upper).toBeCloseTo(0.17, 12);
  });

  it('widens as the confidence level rises', () => {
    const levels = [0.8, 0.9, 0.95, 0.98, 0.99].map((level) => hodgesLehmannInterval(atTerm, earlier, level));
    for (let i = 1; i < levels.length; i += 1) {
      expect(levels[i]!.lower).toBeLessThanOrEqual(levels[i - 1]!.lower);
      expect(levels[i]!.upper).toBeGreaterThanOrEqual(levels[i - 1]!.upper);
    }
  });

  it("is R's normal-approximation interval when values are tied", () => {
    // R: wilcox.test(c(1,2,2,3,4,5,5,6), c(3,3,4,5,6,6,7,8,9), conf.int = TRUE, conf.level = 0.98)
    //    -> -4.99994808748913 0.999977344173916 (with continuity correction)
    const result = hodgesLehmannInterval([1, 2, 2, 3, 4, 5, 5, 6], [3, 3, 4, 5, 6, 6, 7, 8, 9], 0.98);
    expect(result.method).toBe('normal approximation');
    expectWithinRootTolerance(result.lower, -4.99994808748913);
    expectWithinRootTolerance(result.upper, 0.999977344173916);
    expect(result.estimate).toBe(-2); // R's root of the standardized statistic: -2.00007584758061
  });

  it("is R's normal-approximation interval from 50 values on", () => {
    // R: wilcox.test(a, b, conf.int = TRUE, conf.level = 0.98) -> -1.04995889681224 1.6500582141698,
    //    difference in location 0.349950808062091
    const result = hodgesLehmannInterval(large, largeOther, 0.98);
    expect(result.method).toBe('normal approximation');
    expectWithinRootTolerance(result.lower, -1.04995889681224);
    expectWithinRootTolerance(result.upper, 1.6500582141698);
    expectWithinRootTolerance(result.estimate, 0.349950808062091);
    // R: wilcox.test(b, a, conf.int = TRUE, conf.level = 0.95) -> -1.45003724849297 0.849965040181818
    const swapped = hodgesLehmannInterval(largeOther, large, 0.95);
    expectWithinRootTolerance(swapped.lower, -1.45003724849297);
    expectWithinRootTolerance(swapped.upper, 0.849965040181818);
    // R: wilcox.test(a + 2, b, conf.int = TRUE, conf.level = 0.98) -> 0.950041103187765 3.6500582141698
    const shifted = hodgesLehmannInterval(
      large.map((value) => value + 2),
      largeOther,
      0.98,
    );
    expectWithinRootTolerance(shifted.lower, 0.950041103187765);
    expectWithinRootTolerance(shifted.upper, 3.6500582141698);
  });

  it('is the one difference itself when each side repeats a single value', () => {
    // R refuses these ("all observations are tied" at the shift); Kayenta adds a little noise instead.
    expect(hodgesLehmannInterval([0.13, 0.13, 0.13], [0.1, 0.1], 0.98)).toEqual({
      estimate: 0.13 - 0.1,
      lower: 0.13 - 0.1,
      upper: 0.13 - 0.1,
      confidenceLevel: 0.98,
      method: 'constant samples',
    });
  });

  it('refuses a confidence level outside (0, 1), naming the field', () => {
    expect(() => hodgesLehmannInterval([1], [2], 98)).toThrow(/confidenceLevel/);
  });
});
