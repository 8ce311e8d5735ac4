/**
 * The verdict of an A/B experiment that may be looked at as often as one likes: an anytime-valid
 * confidence sequence for the difference of two proportions (B's minus A's). Pure, with no Node
 * imports: workflow code calls it.
 *
 * INTERFACE ONLY: the statistics helper replaces the bodies; the A/B strategy codes against the types.
 */

/** One variant's counts so far: `successes` of `trials` (conversions of requests, say). */
export interface ProportionSample {
  successes: number;
  trials: number;
}

/** Where the difference of B's proportion and A's lies, with the stated confidence, at any look. */
export interface DifferenceInterval {
  /** B's proportion minus A's, as measured so far. */
  estimate: number;
  lower: number;
  upper: number;
  /** The confidence level the interval holds at, over every look together (0.95, say). */
  confidenceLevel: number;
}

/** What the interval says: B better, A better, or not yet known. */
export type SequentialVerdict = 'B wins' | 'A wins' | 'undecided';

export interface SequentialTestOptions {
  /**
   * The sample size per variant around which the sequence is tightest; it stays valid at every other
   * size. Defaults to the experiment's minSampleSize.
   */
  tunedForTrials?: number;
}

/** The anytime-valid interval for pB − pA from the counts so far. */
export function differenceInterval(
  a: ProportionSample,
  b: ProportionSample,
  confidenceLevel: number,
  options?: SequentialTestOptions,
): DifferenceInterval {
  void a;
  void b;
  void confidenceLevel;
  void options;
  throw new Error('not implemented yet');
}

/** `B wins` when the whole interval is above 0, `A wins` when below, else `undecided`. */
export function verdictOf(interval: DifferenceInterval): SequentialVerdict {
  void interval;
  throw new Error('not implemented yet');
}
