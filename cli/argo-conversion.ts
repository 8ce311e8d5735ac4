import { convertAnalysisTemplate, templateKey } from './argo-analysis-conversion';
import { ConversionNotes, isObject } from './argo-conversion-notes';
import { convertRollout } from './argo-rollout-conversion';

const ARGO_API_VERSION = /^argoproj\.io\//;
const TEMPLATE_KINDS = ['AnalysisTemplate', 'ClusterAnalysisTemplate'];

export interface Conversion {
  /** Siirto's manifests, in the order of the input; every object not Argo Rollouts' as it was. */
  documents: unknown[];
  /** Each field that could not be carried over, and why. */
  notes: string[];
}

/**
 * Converts Argo Rollouts manifests to Siirto's: Rollouts and (Cluster)AnalysisTemplates become
 * siirto.dev objects, other Argo objects (AnalysisRuns, Experiments) are left out, and everything else
 * (Services, Deployments, HTTPRoutes) passes through unchanged. Templates go first, so a reference to
 * one left out whole can be left out of the Rollout too, instead of making it Invalid.
 */
export function convertArgoManifests(documents: unknown[]): Conversion {
  const notes = new ConversionNotes();
  const argo = (document: unknown) =>
    isObject(document) &&
    typeof document.apiVersion === 'string' &&
    ARGO_API_VERSION.test(document.apiVersion);
  const converted = new Map<unknown, unknown>();
  const droppedTemplates = new Set<string>();
  for (const document of documents.filter(argo)) {
    if (!isObject(document) || !TEMPLATE_KINDS.includes(String(document.kind))) continue;
    const template = convertAnalysisTemplate(document, notes.about(String(document.kind), document.metadata));
    const name = isObject(document.metadata) ? document.metadata.name : undefined;
    if (template) converted.set(document, template);
    else droppedTemplates.add(templateKey(document.kind === 'ClusterAnalysisTemplate', name));
  }
  const output = documents.flatMap((document) => {
    if (document === null || document === undefined) return [];
    if (!argo(document) || !isObject(document)) return [document];
    if (document.kind === 'Rollout') {
      return [convertRollout(document, notes.about('Rollout', document.metadata), droppedTemplates)];
    }
    if (converted.has(document)) return [converted.get(document)];
    if (!TEMPLATE_KINDS.includes(String(document.kind))) {
      notes.about(String(document.kind), document.metadata)(
        'kind',
        'left out: Siirto has no such object; it keeps analyses and experiments in Temporal history',
      );
    }
    return [];
  });
  return { documents: output, notes: notes.lines };
}
