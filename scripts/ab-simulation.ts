// `npm run sim:ab`: how often simulated A/B experiments, looked at after every batch of trials, declare
// a winner with Siirto's sequential test and with a z-test re-run at every look. The same seeded
// experiments as test/unit/sequential-test.test.ts, so the figures are the ones the tests assert on.
// SIM_AB_EXPERIMENTS and SIM_AB_SEED run others. Prints figures; it asserts nothing.
import {
  decidedRate,
  EFFECT_RATE,
  median,
  REFERENCE_SETTINGS,
  simulateExperiments,
  type DecisionTally,
} from '../test/harness/ab-experiments';

const settings = {
  ...REFERENCE_SETTINGS,
  experiments: Number(process.env.SIM_AB_EXPERIMENTS ?? REFERENCE_SETTINGS.experiments),
  seed: Number(process.env.SIM_AB_SEED ?? REFERENCE_SETTINGS.seed),
};
if (
  !(Number.isInteger(settings.experiments) && settings.experiments > 0) ||
  !Number.isInteger(settings.seed)
) {
  console.error('SIM_AB_EXPERIMENTS must be a whole number > 0 and SIM_AB_SEED a whole number');
  process.exit(2);
}

const started = performance.now();
// The unit tests' seeds: the A/A runs on the seed, B better on seed + 1, A better on seed + 2.
const aa = simulateExperiments(settings);
const bBetter = simulateExperiments({ ...settings, rateB: EFFECT_RATE, seed: settings.seed + 1 });
const aBetter = simulateExperiments({ ...settings, rateA: EFFECT_RATE, seed: settings.seed + 2 });
const seconds = (performance.now() - started) / 1000;

const share = (count: number) => (count / settings.experiments).toFixed(4);
const looks = (tally: DecisionTally) => {
  const middle = median(tally.decisionLooks);
  return Number.isNaN(middle) ? '-' : String(middle);
};
const row = (experimentsLabel: string, decidedBy: string, tally: DecisionTally) => [
  experimentsLabel,
  decidedBy,
  share(tally.bWins),
  share(tally.aWins),
  share(tally.undecided),
  looks(tally),
];

/** A plain table: the first two columns left-aligned, the figures right-aligned. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((cells) => (cells[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    widths
      .map((width, column) => {
        const cell = cells[column] ?? '';
        return column < 2 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

const { experiments, looks: lookCount, trialsPerLook, rateA, confidenceLevel, tunedForTrials } = settings;
const same = `A/A, both ${rateA}`;
const bLabel = `A ${rateA}, B ${EFFECT_RATE}`;
const aLabel = `A ${EFFECT_RATE}, B ${rateA}`;
console.log(
  `${experiments} experiments per row, ${lookCount} looks each, ${trialsPerLook} more trials per variant ` +
    `before every look (${lookCount * trialsPerLook} per variant at the last), nominal level ` +
    `${confidenceLevel}, sequence tuned for ${tunedForTrials} trials per variant, seed ${settings.seed}\n`,
);
console.log(
  table(
    ['experiments', 'decided by', 'B wins', 'A wins', 'undecided', 'median looks to a decision'],
    [
      row(same, 'sequential test', aa.sequential),
      row(same, 'z-test at every look', aa.naive),
      row(bLabel, 'sequential test', bBetter.sequential),
      row(bLabel, 'z-test at every look', bBetter.naive),
      row(aLabel, 'sequential test', aBetter.sequential),
      row(aLabel, 'z-test at every look', aBetter.naive),
    ],
  ),
);
console.log(
  `\nfalse-positive rate (nominal ${(1 - confidenceLevel).toFixed(2)}): sequential test ` +
    `${decidedRate(aa.sequential).toFixed(4)}, z-test at every look ${decidedRate(aa.naive).toFixed(4)}\n` +
    `power at ${rateA} against ${EFFECT_RATE}: ${share(bBetter.sequential.bWins)} (B better), ` +
    `${share(aBetter.sequential.aWins)} (A better), median ${looks(bBetter.sequential)} and ` +
    `${looks(aBetter.sequential)} looks to the verdict\n` +
    `(${seconds.toFixed(1)} s)`,
);
