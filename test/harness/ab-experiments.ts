/**
 * Simulated A/B experiments looked at again and again, judged by Siirto's sequential test and by the
 * naive alternative: a two-proportion z-test re-run at every look. The unit tests assert on the
 * figures and `npm run sim:ab` prints them; both run the same seeded simulation, so they agree.
 */
import {
  differenceInterval,
  verdictOf,
  type ProportionSample,
  type SequentialVerdict,
} from '../../analysis/statistics/sequential-test';
import { mulberry32 } from './seeded-random';

export interface ExperimentSettings {
  experiments: number;
  /** Looks per experiment; the counts grow by `trialsPerLook` per variant between two looks. */
  looks: number;
  trialsPerLook: number;
  /** The true conversion rates. Equal rates make an A/A experiment. */
  rateA: number;
  rateB: number;
  confidenceLevel: number;
  tunedForTrials: number;
  seed: number;
}

/**
 * The experiments the unit tests and `npm run sim:ab` run: 2,000 A/A experiments at a conversion
 * rate of 0.10, each looked at 50 times, 200 more trials per variant before every look (10,000 per
 * variant at the last), at 95 %, the sequence tuned for 5,000 trials per variant. The power runs
 * raise one variant's rate to `EFFECT_RATE`.
 */
export const REFERENCE_SETTINGS: ExperimentSettings = {
  experiments: 2000,
  looks: 50,
  trialsPerLook: 200,
  rateA: 0.1,
  rateB: 0.1,
  confidenceLevel: 0.95,
  tunedForTrials: 5000,
  seed: 20261206,
};

/** The better variant's conversion rate in the power runs, against 0.10. */
export const EFFECT_RATE = 0.12;

/** How one way of deciding did over every experiment: each stops at its first decided look. */
export interface DecisionTally {
  bWins: number;
  aWins: number;
  undecided: number;
  /** For each decided experiment, the look (1-based) that decided it. */
  decisionLooks: number[];
}

export interface ExperimentsOutcome {
  settings: ExperimentSettings;
  sequential: DecisionTally;
  naive: DecisionTally;
}

/** The share of experiments in which a winner was declared, either way. */
export function decidedRate(tally: DecisionTally): number {
  const total = tally.aWins + tally.bWins + tally.undecided;
  return (tally.aWins + tally.bWins) / total;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9):
 * the naive test's critical value, 1.959964 for a two-sided 95 %.
 */
export function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  const tail = (q: number) =>
    (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
    ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < low) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - low) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/**
 * The textbook fixed-sample test: a pooled two-proportion z-test at `confidenceLevel`, two-sided.
 * Valid at one look fixed in advance, not when re-run at every look.
 */
export function naiveZTestVerdict(
  a: ProportionSample,
  b: ProportionSample,
  confidenceLevel: number,
): SequentialVerdict {
  if (a.trials === 0 || b.trials === 0) return 'undecided';
  const pooled = (a.successes + b.successes) / (a.trials + b.trials);
  const standardError = Math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials));
  if (standardError === 0) return 'undecided';
  const z = (b.successes / b.trials - a.successes / a.trials) / standardError;
  const critical = normalQuantile(1 - (1 - confidenceLevel) / 2);
  if (z > critical) return 'B wins';
  if (z < -critical) return 'A wins';
  return 'undecided';
}

/** Runs the experiments; each look adds `trialsPerLook` Bernoulli trials to each variant. */
export function simulateExperiments(settings: ExperimentSettings): ExperimentsOutcome {
  const random = mulberry32(settings.seed);
  const sequential = emptyTally();
  const naive = emptyTally();
  for (let experiment = 0; experiment < settings.experiments; experiment++) {
    const a = { successes: 0, trials: 0 };
    const b = { successes: 0, trials: 0 };
    let sequentialVerdict: SequentialVerdict = 'undecided';
    let naiveVerdict: SequentialVerdict = 'undecided';
    for (let look = 1; look <= settings.looks; look++) {
      for (let trial = 0; trial < settings.trialsPerLook; trial++) {
        if (random() < settings.rateA) a.successes++;
        if (random() < settings.rateB) b.successes++;
      }
      a.trials += settings.trialsPerLook;
      b.trials += settings.trialsPerLook;
      if (sequentialVerdict === 'undecided') {
        const interval = differenceInterval(a, b, settings.confidenceLevel, {
          tunedForTrials: settings.tunedForTrials,
        });
        sequentialVerdict = verdictOf(interval);
        if (sequentialVerdict !== 'undecided') sequential.decisionLooks.push(look);
      }
      if (naiveVerdict === 'undecided') {
        naiveVerdict = naiveZTestVerdict(a, b, settings.confidenceLevel);
        if (naiveVerdict !== 'undecided') naive.decisionLooks.push(look);
      }
    }
    count(sequential, sequentialVerdict);
    count(naive, naiveVerdict);
  }
  return { settings, sequential, naive };
}

function emptyTally(): DecisionTally {
  return { bWins: 0, aWins: 0, undecided: 0, decisionLooks: [] };
}

function count(tally: DecisionTally, verdict: SequentialVerdict): void {
  if (verdict === 'B wins') tally.bWins++;
  else if (verdict === 'A wins') tally.aWins++;
  else tally.undecided++;
}
