// The workflows the worker registers; Temporal bundles this module and everything it imports.
export { canaryRollout } from './strategies/canary';
export { analysisRun } from './analysis-run';
export { blueGreenRollout } from './strategies/blue-green';
export { abTestingRollout } from './strategies/ab-testing';
export { fleetRelease } from './fleet/fleet-release';
