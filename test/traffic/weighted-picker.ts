/**
 * Smooth weighted round-robin, as nginx balances upstreams: each pick raises every backend's score by
 * its weight and takes the highest, which then drops by the total. Weights 80/20 give exactly 4 of every
 * 5 picks to the first backend, interleaved (A A B A A, not A A A A B), so a test sees the split in a
 * few dozen requests with no allowance for chance.
 */
export class WeightedPicker {
  private readonly backends: { name: string; weight: number; score: number }[];
  private readonly total: number;

  constructor(weights: ReadonlyMap<string, number>) {
    this.backends = [...weights]
      .filter(([, weight]) => weight > 0)
      .map(([name, weight]) => ({ name, weight, score: 0 }));
    this.total = this.backends.reduce((sum, backend) => sum + backend.weight, 0);
  }

  /** The next backend's name, or undefined when every weight is 0 (nothing may receive traffic). */
  pick(): string | undefined {
    let best: (typeof this.backends)[number] | undefined;
    for (const backend of this.backends) {
      backend.score += backend.weight;
      if (!best || backend.score > best.score) best = backend;
    }
    if (best) best.score -= this.total;
    return best?.name;
  }
}
