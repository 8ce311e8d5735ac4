import type { TrafficWeights } from '../schemas/rollout';
import { packageUrlOfImage } from './package-url';

/**
 * The CDEvents (spec v0.5.1) a rollout announces to the rest of a delivery pipeline, built from what
 * the workflow knows at a decision. Pure: the workflow may build events itself, and the activity that
 * sends them builds the same event from the same input, on every retry.
 */

export const CDEVENTS_SPEC_VERSION = '0.5.1';

/** The CDEvent type of each moment of a rollout. */
export const CDEVENT_TYPES = {
  /** A revision started rolling out. */
  deployed: 'dev.cdevents.service.deployed.0.3.0',
  /** The traffic weights changed. */
  upgraded: 'dev.cdevents.service.upgraded.0.3.0',
  /** The revision serves all traffic: the rollout completed. */
  published: 'dev.cdevents.service.published.0.3.0',
  /** The rollout was aborted or failed its analysis: traffic went back to stable. */
  rolledback: 'dev.cdevents.service.rolledback.0.3.0',
} as const;

export type RolloutCDEventKind = keyof typeof CDEVENT_TYPES;
export type CDEventType = (typeof CDEVENT_TYPES)[RolloutCDEventKind];

/** What the workflow passes to emit one event. It carries no secrets: it is kept in the history. */
export interface RolloutCDEventInput {
  kind: RolloutCDEventKind;
  rollout: { namespace: string; name: string };
  revision: number;
  workflowId: string;
  /**
   * The workflow run: a Rollout deleted and created again under its name starts its revisions (and
   * workflow IDs) over, and its events must not pass for the first one's duplicates.
   */
  runId?: string;
  /** Counts the events one workflow emits; with the kind it makes the event's id. */
  sequence: number;
  /** Index of the canary step the rollout is at. */
  stepIndex: number;
  weights: TrafficWeights;
  /** The revision's container images; the first is the artifact the events are about. */
  images: string[];
  /** When the workflow decided (ISO 8601): every retry of the emission carries the same time. */
  occurredAt: string;
  /** Why, for a roll-back: the abort's reason or the failed analysis. */
  reason?: string;
}

/** Where events come from: settings of the worker, not of the rollout. */
export interface CDEventOrigin {
  /** Names the cluster in the event's source and environment, such as `prod-eu-1`. */
  clusterId: string;
  /** The Temporal namespace the workflows run in, for the link to the Web UI. */
  temporalNamespace: string;
  /** Address of the Temporal Web UI; without it the events carry no link. */
  webUiUrl?: string;
}

export interface RolloutCustomData {
  rollout: { namespace: string; name: string };
  revision: number;
  sequence: number;
  step: number;
  weights: TrafficWeights;
  images: string[];
  /** Also here because a published event's subject has no room for it. */
  artifactId?: string;
  reason?: string;
  workflow: { id: string; namespace: string; url?: string };
}

/** A service CDEvent as JSON, the shape of the official schemas. */
export interface ServiceCDEvent {
  context: {
    specversion: typeof CDEVENTS_SPEC_VERSION;
    id: string;
    source: string;
    type: CDEventType;
    timestamp: string;
  };
  subject: {
    id: string;
    content: { environment: { id: string }; artifactId?: string };
  };
  customData: RolloutCustomData;
  customDataContentType: 'application/json';
}

/**
 * The event's id: the same for every retry of one emission, so consumers drop duplicates, and
 * different for each event of a workflow. Readable, to find the workflow behind an event; unique
 * together with the source, which names the cluster, as CloudEvents asks.
 */
export function cdEventId(
  input: Pick<RolloutCDEventInput, 'workflowId' | 'runId' | 'sequence' | 'kind'>,
): string {
  const run = input.runId ? `/${input.runId}` : '';
  return `${input.workflowId}${run}/${input.sequence}-${input.kind}`;
}

/** `/siirto/<cluster>/<namespace>/<rollout>`: a URI reference, so each segment is percent-encoded. */
export function cdEventSource(clusterId: string, rollout: { namespace: string; name: string }): string {
  return ['', 'siirto', clusterId, rollout.namespace, rollout.name].map(encodeURIComponent).join('/');
}

/** The workflow's page in the Temporal Web UI. */
export function workflowWebUiUrl(webUiUrl: string, temporalNamespace: string, workflowId: string): string {
  const base = webUiUrl.replace(/\/+$/, '');
  return `${base}/namespaces/${encodeURIComponent(temporalNamespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

function requireText(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(`CDEvent input ${field} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function requireCount(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new Error(
      `CDEvent input ${field} must be a whole number of 0 or more, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The same instant in the one form both the CDEvent and its CloudEvent envelope write it. */
function normalizedTimestamp(occurredAt: string): string {
  const time = new Date(requireText('occurredAt', occurredAt));
  if (Number.isNaN(time.getTime())) {
    throw new Error(
      `CDEvent input occurredAt must be an ISO 8601 time such as 2026-01-31T12:00:00.000Z, got ${JSON.stringify(occurredAt)}`,
    );
  }
  return time.toISOString();
}

/**
 * Builds the CDEvent of one moment of a rollout. The subject is the service (the Rollout) in its
 * environment (cluster and namespace); the artifact is the revision's first image. Throws, naming the
 * field, when the input cannot make a valid event.
 */
export function buildCDEvent(input: RolloutCDEventInput, origin: CDEventOrigin): ServiceCDEvent {
  const type = CDEVENT_TYPES[input.kind];
  if (!type) {
    throw new Error(
      `CDEvent input kind must be one of ${Object.keys(CDEVENT_TYPES).join(', ')}, got ${JSON.stringify(input.kind)}`,
    );
  }
  const clusterId = requireText('clusterId (SIIRTO_CLUSTER_ID)', origin.clusterId);
  const namespace = requireText('rollout.namespace', input.rollout?.namespace);
  const name = requireText('rollout.name', input.rollout?.name);
  const workflowId = requireText('workflowId', input.workflowId);
  const sequence = requireCount('sequence', input.sequence);
  const timestamp = normalizedTimestamp(input.occurredAt);
  const [image] = input.images ?? [];
  if (image === undefined && input.kind !== 'published') {
    throw new Error(
      `CDEvent input images must name at least one image: a ${input.kind} event needs the artifact it is about`,
    );
  }
  const artifactId = image === undefined ? undefined : packageUrlOfImage(image);

  const environment = { id: `${clusterId}/${namespace}` };
  // The published schema allows no artifactId in the subject; the artifact stays in customData.
  const content =
    input.kind === 'published' || artifactId === undefined ? { environment } : { environment, artifactId };
  return {
    context: {
      specversion: CDEVENTS_SPEC_VERSION,
      id: cdEventId({ workflowId, runId: input.runId, sequence, kind: input.kind }),
      source: cdEventSource(clusterId, { namespace, name }),
      type,
      timestamp,
    },
    subject: { id: `${namespace}/${name}`, content },
    customData: {
      rollout: { namespace, name },
      revision: input.revision,
      sequence,
      step: input.stepIndex,
      weights: { stable: input.weights.stable, canary: input.weights.canary },
      images: [...input.images],
      ...(artifactId === undefined ? {} : { artifactId }),
      ...(input.reason === undefined ? {} : { reason: input.reason }),
      workflow: {
        id: workflowId,
        namespace: origin.temporalNamespace,
        ...(origin.webUiUrl
          ? { url: workflowWebUiUrl(origin.webUiUrl, origin.temporalNamespace, workflowId) }
          : {}),
      },
    },
    customDataContentType: 'application/json',
  };
}
