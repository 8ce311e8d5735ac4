/**
 * The verdict of an A/B experiment that may be looked at as often as one likes: an anytime-valid
 * confidence sequence for the difference of two proportions (B's minus A's). Pure, with no Node
 * imports: workflow code calls it.
 *
 * A fixed-sample confidence interval (or a z-test) holds at one look chosen in advance; re-computed at
 * every look of a running experiment, some look will stray outside it far more often than 1 − level,
 * and an experiment stopped at that look declares a winner that is not one. A confidence sequence
 * holds at every look at once: P(pB − pA lies in every interval ever computed) ≥ level, so stopping
 * at whichever look first excludes 0 keeps the error rate at 1 − level.
 *
 * The method: the normal-mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
 * Pekelis and Walsh, "Always valid inference: continuous monitoring of A/B tests", Operations
 * Research 70(3), 2022 (arXiv:1512.04922, 2015/2017), the one Optimizely's Stats Engine runs. With
 * θ̂ = p̂B − p̂A, V its variance and a N(0, τ²) mixture over the difference, the mixture likelihood
 * ratio against "no difference d" is
 *
 *     Λ(d) = sqrt(V / (V + τ²)) · exp( (θ̂ − d)² / (2V) · τ² / (V + τ²) ),
 *
 * a martingale under d whose chance of ever reaching 1/α is at most α (Ville's inequality). The
 * always-valid interval is the set of d with Λ(d) < 1/α:
 *
 *     θ̂ ± sqrt( V (V + τ²) / τ² · ( ln((V + τ²) / V) + 2 ln(1/α) ) ),
 *     V = p̃A(1 − p̃A)/nA + p̃B(1 − p̃B)/nB,   α = 1 − confidenceLevel.
 *
 * The variance is estimated from the data, as Johari et al. and Optimizely do; the interval is then
 * valid asymptotically, which Waudby-Smith, Arnold, Wu and Ramdas prove in "Time-uniform central
 * limit theory and asymptotic confidence sequences", Annals of Statistics 52(6), 2024
 * (arXiv:2103.06476, 2021–2023): their Robbins normal-mixture asymptotic confidence sequence
 *
 *     μ̂t ± σ̂t · sqrt( 2 (tρ² + 1) / (t² ρ²) · ln( sqrt(tρ² + 1) / α ) )
 *
 * is the interval above with t = n (per variant, both the same), σ̂² = σ̂A² + σ̂B² and τ² = ρ²σ̂².
 * Siirto takes its mixing variance that way, τ² = ρ² (σ̂A² + σ̂B²), so that ρ alone says where the
 * sequence is tightest, whatever the proportions turn out to be.
 *
 * Choosing ρ: the width at t is proportional to sqrt((x + 1)/x · (ln(x + 1) + 2 ln(1/α))) / sqrt(t)
 * with x = tρ²; setting its derivative in x to 0, it is smallest where u = x + 1 solves
 * u − ln u = 1 + 2 ln(1/α), that is ρ² = (−W₋₁(−α²/e) − 1) / t* with W₋₁ the lower branch of Lambert's
 * W, ≈ (2 ln(1/α) + ln(2 ln(1/α) + 1)) / t*: the way Waudby-Smith et al. tune ρ for a time t*.
 * Siirto solves it for t* = `tunedForTrials` trials per variant (the experiment's minimum sample
 * size, where a decision is wanted first): the sequence is narrowest there and still valid at every
 * other size, only wider than it might have been.
 *
 * Edge cases: a variant with no trials gives (−1, 1), estimate 0 and no verdict. A proportion of 0 or 1
 * would give a variance of 0 and an interval of no width; the variance uses Agresti and Caffo's
 * adjusted proportion p̃ = (successes + 1) / (trials + 2) ("Simple and effective confidence intervals
 * for proportions and differences of proportions result from adding two successes and two
 * failures", The American Statistician 54(4), 2000), which is never 0 or 1 and differs from p̂ by less
 * than 1/(trials + 2). The interval is cut to [−1, 1], where the difference lies anyway.
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

/** Where the sequence is tightest when the caller names no size: a thousand trials per variant. */
export const DEFAULT_TUNED_FOR_TRIALS = 1000;

/**
 * The mixing parameter ρ² that makes the sequence narrowest at `tunedForTrials` trials per variant
 * for `confidenceLevel` (Waudby-Smith et al.'s exact choice, solved by Newton's method).
 */
export function mixingRho2(confidenceLevel: number, tunedForTrials: number): number {
  checkConfidenceLevel(confidenceLevel);
  checkTunedForTrials(tunedForTrials);
  const c = 1 + 2 * Math.log(1 / (1 - confidenceLevel));
  // u − ln u = c has its root above 1 near c + ln c; h(u) = u − ln u − c is convex and increasing
  // there, so Newton's method from that start converges within a few steps to machine precision.
  let u = c + Math.log(c);
  for (let step = 0; step < 50; step++) {
    const next = u - (u - Math.log(u) - c) / (1 - 1 / u);
    if (Math.abs(next - u) <= 1e-15 * u) {
      u = next;
      break;
    }
    u = next;
  }
  return (u - 1) / tunedForTrials;
}

/** The anytime-valid interval for pB − pA from the counts so far. */
export function differenceInterval(
  a: ProportionSample,
  b: ProportionSample,
  confidenceLevel: number,
  options?: SequentialTestOptions,
): DifferenceInterval {
  checkSample('A', a);
  checkSample('B', b);
  const rho2 = mixingRho2(confidenceLevel, options?.tunedForTrials ?? DEFAULT_TUNED_FOR_TRIALS);
  if (a.trials === 0 || b.trials === 0) {
    return { estimate: 0, lower: -1, upper: 1, confidenceLevel };
  }

  const estimate = b.successes / b.trials - a.successes / a.trials;
  const varianceA = adjustedVariance(a);
  const varianceB = adjustedVariance(b);
  const v = varianceA / a.trials + varianceB / b.trials;
  const tau2 = rho2 * (varianceA + varianceB);
  const halfWidth = Math.sqrt(
    ((v * (v + tau2)) / tau2) * (Math.log((v + tau2) / v) + 2 * Math.log(1 / (1 - confidenceLevel))),
  );
  return {
    estimate,
    lower: Math.max(-1, estimate - halfWidth),
    upper: Math.min(1, estimate + halfWidth),
    confidenceLevel,
  };
}

/** `B wins` when the whole interval is above 0, `A wins` when below, else `undecided`. */
export function verdictOf(interval: DifferenceInterval): SequentialVerdict {
  if (interval.lower > 0) return 'B wins';
  if (interval.upper < 0) return 'A wins';
  return 'undecided';
}

/** p̃(1 − p̃) with p̃ = (s + 1)/(n + 2): never 0, so a run of all successes or none keeps a width. */
function adjustedVariance(sample: ProportionSample): number {
  const adjusted = (sample.successes + 1) / (sample.trials + 2);
  return adjusted * (1 - adjusted);
}

function checkSample(variant: 'A' | 'B', sample: ProportionSample): void {
  const { successes, trials } = sample;
  // Counts read from Prometheus' increase() are extrapolated and need not be whole: any finite
  // non-negative numbers with successes ≤ trials are counts.
  if (!Number.isFinite(trials) || trials < 0) {
    throw new RangeError(
      `variant ${variant}: trials must be a finite number ≥ 0, got ${trials}; pass the count of trials so far`,
    );
  }
  if (!Number.isFinite(successes) || successes < 0 || successes > trials) {
    throw new RangeError(
      `variant ${variant}: successes must be a finite number from 0 to trials (${trials}), got ${successes}; count successes among the same trials`,
    );
  }
}

function checkConfidenceLevel(confidenceLevel: number): void {
  if (!(confidenceLevel > 0 && confidenceLevel < 1)) {
    throw new RangeError(
      `confidenceLevel must lie strictly between 0 and 1, got ${confidenceLevel}; use 0.95 for 95 %`,
    );
  }
}

function checkTunedForTrials(tunedForTrials: number): void {
  if (!(Number.isFinite(tunedForTrials) && tunedForTrials > 0)) {
    throw new RangeError(
      `tunedForTrials must be a finite number > 0, got ${tunedForTrials}; use the experiment's minimum sample size per variant`,
    );
  }
}
