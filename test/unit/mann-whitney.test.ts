/**
 * Reference values: R 4.2.2 (Debian's r-base-core), computed independently of this code with
 *   wilcox.test(x, y, conf.int = TRUE, conf.level = LEVEL)   and   pwilcox, qwilcox, pnorm, qnorm,
 * each call written next to the value it gave. The first data set is the two-sample example of R's own
 * help page for wilcox.test (Hollander & Wolfe 1973, p. 69: permeability constants of the human
 * chorioamnion at term, x, and at 12 to 26 weeks, y), for which the help page runs
 * wilcox.test(x, y, alternative = "g") and R prints W = 35, p-value = 0.1272.
 */
import { mannWhitneyTest, midRanks, uStatistic } from '../../analysis/statistics/mann-whitney';
import { normalCdf, normalQuantile } from '../../analysis/statistics/normal-distribution';
import {
  rankSumCdf,
  rankSumProbabilities,
  rankSumQuantile,
} from '../../analysis/statistics/rank-sum-distribution';

const atTerm = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
const earlier = [1.15, 0.88, 0.9, 0.74, 1.21];
const tiedFirst = [1, 2, 2, 3, 4, 5, 5, 6];
const tiedSecond = [3, 3, 4, 5, 6, 6, 7, 8, 9];
// 60 and 55 distinct values, none shared: above R's limit of 50 for the exact distribution.
// R: a <- (((1:60)*37) %% 101) / 10; b <- (((1:55)*53) %% 103)/10 + 0.05
const large = Array.from({ length: 60 }, (_, i) => (((i + 1) * 37) % 101) / 10);
const largeOther = Array.from({ length: 55 }, (_, i) => (((i + 1) * 53) % 103) / 10 + 0.05);

describe('the Mann-Whitney U statistic', () => {
  it('gives tied values the mean of the ranks they span', () => {
    expect(midRanks([10, 20, 20, 5, 20])).toEqual([2, 4, 4, 1, 4]);
  });

  it('counts the pairs in which the first sample is larger, a tie counting one half', () => {
    expect(uStatistic([3], [1, 2, 3, 4])).toBe(2.5);
    expect(uStatistic([5, 6], [1, 2])).toBe(4);
    expect(uStatistic([1, 2], [5, 6])).toBe(0);
  });

  it("is R's W for the help page's example, and its mirror for the samples swapped", () => {
    expect(mannWhitneyTest(atTerm, earlier).u).toBe(35); // R: W = 35
    expect(mannWhitneyTest(earlier, atTerm).u).toBe(15); // R: W = 15
    expect(mannWhitneyTest(tiedFirst, tiedSecond).u).toBe(15.5); // R: W = 15.5
    expect(mannWhitneyTest(large, largeOther).u).toBe(1751); // R: W = 1751
  });
});

describe("the Mann-Whitney test's two-sided p-value", () => {
  it('is exact for small samples without ties', () => {
    // R: wilcox.test(x, y) -> p-value = 0.254412254412254 (exact test); one-sided "g" 0.1272 on the help page
    const result = mannWhitneyTest(atTerm, earlier);
    expect(result.method).toBe('exact');
    expect(result.pValue).toBeCloseTo(0.254412254412254, 13);
    expect(mannWhitneyTest(earlier, atTerm).pValue).toBeCloseTo(0.254412254412254, 13);
  });

  it('reaches its smallest value, 2/C(10,5), when five values all lie above the other five', () => {
    const result = mannWhitneyTest([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]);
    expect(result.u).toBe(25);
    expect(result.pValue).toBeCloseTo(2 / 252, 15);
  });

  it('uses the normal approximation with tie and continuity corrections when values are tied', () => {
    // R: wilcox.test(c(1,2,2,3,4,5,5,6), c(3,3,4,5,6,6,7,8,9)) -> p-value = 0.0522309175372043
    const result = mannWhitneyTest(tiedFirst, tiedSecond);
    expect(result.method).toBe('normal approximation');
    expect(result.pValue).toBeCloseTo(0.0522309175372043, 13);
  });

  it('uses the normal approximation from 50 values on, as R does', () => {
    // R: wilcox.test(a, b) -> W = 1751, p-value = 0.573644650779961
    expect(mannWhitneyTest(large, largeOther)).toMatchObject({ method: 'normal approximation' });
    expect(mannWhitneyTest(large, largeOther).pValue).toBeCloseTo(0.573644650779961, 13);
    // R: wilcox.test(a + 2, b) -> W = 2329, p-value = 0.000145356903618173
    const shifted = mannWhitneyTest(
      large.map((value) => value + 2),
      largeOther,
    );
    expect(shifted.u).toBe(2329);
    expect(shifted.pValue).toBeCloseTo(0.000145356903618173, 15);
  });

  it('is 1 when every value is the same, where the statistic says nothing', () => {
    expect(mannWhitneyTest([2, 2, 2], [2, 2]).pValue).toBe(1);
  });

  it('refuses NaN, which must be handled before the test', () => {
    expect(() => mannWhitneyTest([1, Number.NaN], [2])).toThrow(/handle NaN/);
  });
});

describe("U's exact distribution", () => {
  it("matches R's pwilcox and qwilcox", () => {
    expect(rankSumCdf(3, 5, 5)).toBeCloseTo(0.027777777777777776, 15); // R: pwilcox(3, 5, 5)
    expect(rankSumCdf(10, 10, 5)).toBeCloseTo(0.037629037629037625, 15); // R: pwilcox(10, 10, 5)
    // R: pwilcox(300, 49, 49) = 2.6115662252321572e-12: the far tail keeps its relative precision
    expect(rankSumCdf(300, 49, 49) / 2.6115662252321572e-12).toBeCloseTo(1, 10);
    expect(rankSumQuantile(0.01, 5, 5)).toBe(2); // R: qwilcox(0.01, 5, 5)
    expect(rankSumQuantile(0.01, 10, 5)).toBe(7); // R: qwilcox(0.01, 10, 5)
    expect(rankSumQuantile(0.01, 49, 49)).toBe(874); // R: qwilcox(0.01, 49, 49)
  });

  it('sums to 1 and is symmetric about m·n/2', () => {
    const probabilities = rankSumProbabilities(4, 7);
    expect(probabilities).toHaveLength(29);
    expect(probabilities.reduce((sum, p) => sum + p, 0)).toBeCloseTo(1, 14);
    probabilities.forEach((p, u) => expect(p).toBeCloseTo(probabilities[28 - u]!, 15));
  });
});

describe('the standard normal distribution', () => {
  it("matches R's pnorm and qnorm", () => {
    // R: pnorm(c(-8, -3, -1.96, 0.3, 1, 7))
    const expected: [number, number][] = [
      [-8, 6.2209605742717849e-16],
      [-3, 1.3498980316300946e-3],
      [-1.96, 2.4997895148220428e-2],
      [0.3, 6.1791142218895267e-1],
      [1, 8.4134474606854293e-1],
      [7, 9.9999999999872013e-1],
    ];
    for (const [x, p] of expected) expect(normalCdf(x) / p).toBeCloseTo(1, 12);
    // R: qnorm(c(0.01, 0.025, 0.99))
    expect(normalQuantile(0.01)).toBeCloseTo(-2.3263478740408408, 13);
    expect(normalQuantile(0.025)).toBeCloseTo(-1.9599639845400538, 13);
    expect(normalQuantile(0.99)).toBeCloseTo(2.3263478740408408, 13);
  });
});
