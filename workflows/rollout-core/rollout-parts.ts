import type { Strategy } from '../../schemas/rollout';
import type { Webhook } from '../../schemas/webhooks';
import { continuedRunHeading } from '../continue-as-new';
import type { RolloutInput } from '../rollout-api';
import { Analyses, type AnalysisPlan } from './analyses';
import { Gates, type WaitQuietly } from './gates';
import { answerSuccessor } from './predecessor';
import { QuietPoints, type QuietStrategy } from './quiet-points';
import { Resizes } from './resizes';
import { RolloutLog } from './rollout-log';
import type { RolloutRun } from './rollout-run';
import { ScaleDowns } from './scale-downs';
import { Webhooks } from './webhooks';

/** What every strategy's run is made of besides its own moves of pods and traffic. */
export interface RolloutParts {
  rolloutLog: RolloutLog;
  gates: Gates;
  resizes: Resizes;
  analyses: Analyses;
  scaleDowns: ScaleDowns;
  quietPoints: QuietPoints;
  webhooks: Webhooks;
  /** True once this run stands down for a newer revision, which takes over its scale-downs and resizes. */
  leftToSuccessor(): boolean;
}

/** What a strategy brings to the parts it shares. */
export interface StrategyOwn {
  /** The lines of the Temporal UI's current details after the phase: its weights, steps and such. */
  progress(): string[];
  /** What its analyses measure. */
  analyses: AnalysisPlan;
  /** What keeps it busy, and what it carries over, when the run would continue as new. */
  quiet: QuietStrategy;
  /** The strategy's webhooks (spec.strategy.<name>.webhooks), if it has any. */
  webhooks?: readonly Webhook[];
}

/**
 * Sets up the parts every strategy shares, in the order recorded histories expect: after the run
 * (rollout-run.ts) has taken up the state of the run before, and before anything else, the command
 * handlers are set. A strategy calls it first, then starts its own work.
 */
export function rolloutParts(run: RolloutRun<RolloutInput & Strategy>, own: StrategyOwn): RolloutParts {
  const rolloutLog = new RolloutLog(run, continuedRunHeading(run.input), own.progress);
  // The gates and analyses wait at quiet points, which are made of them: bound once all are there.
  const waitQuietly: WaitQuietly = (done, at, until, summary) =>
    quietPoints.waitQuietly(done, at, until, summary);
  const gates = new Gates(run, rolloutLog, waitQuietly);
  const resizes = new Resizes(run);
  gates.register((request) => resizes.ask(request));
  const analyses = new Analyses(run, gates, rolloutLog, waitQuietly, own.analyses);
  const scaleDowns = new ScaleDowns(run);
  const webhooks = new Webhooks(run, gates, rolloutLog, own.webhooks);
  const quietPoints = new QuietPoints(run, {
    gates,
    analyses,
    rolloutLog,
    scaleDowns,
    resizes,
    webhooks,
    strategy: own.quiet,
  });
  answerSuccessor(run, gates, quietPoints);
  return {
    rolloutLog,
    gates,
    resizes,
    analyses,
    scaleDowns,
    quietPoints,
    webhooks,
    leftToSuccessor: () => gates.standingDown || gates.superseded(),
  };
}
