import { CDEVENTS_SPEC_VERSION, workflowWebUiUrl, type CDEventOrigin } from './rollout-event';

/**
 * The CDEvents (spec v0.5.1) of a fleet release. A release is a run of the app's delivery pipeline
 * across clusters, so it is a `pipelineRun` (started when the release starts, finished with its
 * outcome), and each wave is a `taskRun` of it (started, finished). Each cluster's Rollouts keep
 * announcing their own `service.*` events, as without the fleet. Pure, like rollout-event.ts: the
 * activity that sends an event builds the same one from the same input on every retry.
 */

export const RELEASE_CDEVENT_TYPES = {
  started: 'dev.cdevents.pipelinerun.started.0.2.0',
  finished: 'dev.cdevents.pipelinerun.finished.0.2.0',
  waveStarted: 'dev.cdevents.taskrun.started.0.2.0',
  waveFinished: 'dev.cdevents.taskrun.finished.0.2.0',
} as const;

export type ReleaseCDEventKind = keyof typeof RELEASE_CDEVENT_TYPES;
export type ReleaseCDEventType = (typeof RELEASE_CDEVENT_TYPES)[ReleaseCDEventKind];

/** CDEvents' outcomes of a finished run: a release that aborted or ended Degraded failed. */
export type ReleaseOutcome = 'success' | 'failure';

export interface ReleaseWaveSummary {
  name: string;
  /** The clusters of its targets, in the release file's order. */
  clusters: string[];
  /** `cluster/namespace/name` of each Rollout, once known (a selector's when the wave begins). */
  targets: string[];
}

/** What the release workflow passes to emit one event; kept in its history, so no secrets. */
export interface ReleaseCDEventInput {
  kind: ReleaseCDEventKind;
  app: string;
  release: string;
  workflowId: string;
  runId?: string;
  /** Counts the events the release emits; with the kind it makes the event's id. */
  sequence: number;
  waves: ReleaseWaveSummary[];
  /** The wave a taskRun event is about (index). */
  wave?: number;
  /** The release's phase (Running, Healthy, Aborted, Degraded) or the wave's stage. */
  phase: string;
  /** For finished events. */
  outcome?: ReleaseOutcome;
  /** Why it failed, for a finished event with outcome failure. */
  errors?: string;
  by?: string;
  /** When the workflow decided (ISO 8601), the same on every retry. */
  occurredAt: string;
}

export interface ReleaseCustomData {
  release: { app: string; name: string; phase: string; by?: string };
  waves: ReleaseWaveSummary[];
  clusters: string[];
  wave?: ReleaseWaveSummary & { index: number; stage: string };
  sequence: number;
  workflow: { id: string; namespace: string; url?: string };
}

/** A pipelineRun or taskRun CDEvent as JSON, the shape of the official schemas. */
export interface ReleaseCDEvent {
  context: {
    specversion: typeof CDEVENTS_SPEC_VERSION;
    id: string;
    source: string;
    type: ReleaseCDEventType;
    timestamp: string;
  };
  subject: {
    id: string;
    source: string;
    content: {
      pipelineName?: string;
      taskName?: string;
      url: string;
      pipelineRun?: { id: string; source: string };
      outcome?: ReleaseOutcome;
      errors?: string;
    };
  };
  customData: ReleaseCustomData;
  customDataContentType: 'application/json';
}

/** `<workflowId>[/<runId>]/<sequence>-<kind>`: the same on every retry, different for each event. */
export function releaseCDEventId(
  input: Pick<ReleaseCDEventInput, 'workflowId' | 'runId' | 'sequence' | 'kind'>,
): string {
  const run = input.runId ? `/${input.runId}` : '';
  return `${input.workflowId}${run}/${input.sequence}-${input.kind}`;
}

/** `/siirto/fleet/<app>`: a release is no cluster's, so its events name the app's fleet. */
export function releaseCDEventSource(app: string): string {
  return ['', 'siirto', 'fleet', app].map(encodeURIComponent).join('/');
}

function requireText(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(
      `release CDEvent input ${field} must be a non-empty string, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The release's workflow: its Web UI page when the worker knows the UI, else the page's path. */
function workflowUrl(origin: CDEventOrigin, workflowId: string): string {
  return origin.webUiUrl
    ? workflowWebUiUrl(origin.webUiUrl, origin.temporalNamespace, workflowId)
    : `/namespaces/${encodeURIComponent(origin.temporalNamespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/**
 * Builds one event of a release. The pipelineRun's subject is the release (`<app>/<release>`), a
 * taskRun's the wave (`<app>/<release>/<wave>`), naming its pipelineRun. Throws, naming the field,
 * when the input cannot make a valid event.
 */
export function buildReleaseCDEvent(input: ReleaseCDEventInput, origin: CDEventOrigin): ReleaseCDEvent {
  const type = RELEASE_CDEVENT_TYPES[input.kind];
  if (!type) {
    throw new Error(
      `release CDEvent input kind must be one of ${Object.keys(RELEASE_CDEVENT_TYPES).join(', ')}, got ${JSON.stringify(input.kind)}`,
    );
  }
  const app = requireText('app', input.app);
  const release = requireText('release', input.release);
  const workflowId = requireText('workflowId', input.workflowId);
  const time = new Date(requireText('occurredAt', input.occurredAt));
  if (Number.isNaN(time.getTime())) {
    throw new Error(
      `release CDEvent input occurredAt must be an ISO 8601 time, got ${JSON.stringify(input.occurredAt)}`,
    );
  }
  const source = releaseCDEventSource(app);
  const url = workflowUrl(origin, workflowId);
  const releaseId = `${app}/${release}`;
  const waves = input.waves.map((wave) => ({
    ...wave,
    clusters: [...wave.clusters],
    targets: [...wave.targets],
  }));
  const finished = input.kind === 'finished' || input.kind === 'waveFinished';
  const ending = finished
    ? {
        outcome: input.outcome ?? 'failure',
        ...(input.errors === undefined || input.errors === '' ? {} : { errors: input.errors }),
      }
    : {};

  let subject: ReleaseCDEvent['subject'];
  let wave: ReleaseCustomData['wave'];
  if (input.kind === 'waveStarted' || input.kind === 'waveFinished') {
    const index = input.wave ?? -1;
    const summary = waves[index];
    if (!summary) {
      throw new Error(
        `release CDEvent input wave must be the index of one of the release's ${waves.length} waves, got ${JSON.stringify(input.wave)}`,
      );
    }
    wave = { index, stage: input.phase, ...summary };
    subject = {
      id: `${releaseId}/${summary.name}`,
      source,
      content: { taskName: summary.name, url, pipelineRun: { id: releaseId, source }, ...ending },
    };
  } else {
    subject = { id: releaseId, source, content: { pipelineName: app, url, ...ending } };
  }
  return {
    context: {
      specversion: CDEVENTS_SPEC_VERSION,
      id: releaseCDEventId({ ...input, workflowId }),
      source,
      type,
      timestamp: time.toISOString(),
    },
    subject,
    customData: {
      release: { app, name: release, phase: input.phase, ...(input.by ? { by: input.by } : {}) },
      waves,
      clusters: [...new Set(waves.flatMap((summary) => summary.clusters))],
      ...(wave ? { wave } : {}),
      sequence: input.sequence,
      workflow: {
        id: workflowId,
        namespace: origin.temporalNamespace,
        ...(origin.webUiUrl ? { url } : {}),
      },
    },
    customDataContentType: 'application/json',
  };
}
