import { FailureType } from '../reasons/rollout-reasons';

/** The ApplicationFailure type of an analysis no retry can mend, only an edit of the Rollout or a template. */
export const INVALID_CONFIGURATION = FailureType.InvalidConfiguration;

/**
 * An analysis that cannot be measured as written: a missing argument, a malformed condition or
 * duration, two metrics of one name. Each problem names the field and the fix, and every problem is
 * collected before throwing, so one round of edits can mend them all.
 */
export class AnalysisConfigurationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'AnalysisConfigurationError';
  }
}
