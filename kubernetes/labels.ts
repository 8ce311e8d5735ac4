/** Label on a revision's ReplicaSet and pods, and in the Services' selectors, naming its pod template. */
export const POD_TEMPLATE_HASH_LABEL = 'siirto.dev/pod-template-hash';
/** Annotation on a revision's ReplicaSet with the Rollout revision number it belongs to. */
export const REVISION_ANNOTATION = 'siirto.dev/revision';
/**
 * Annotation on a revision's ReplicaSet with the Rollout's pod template exactly as written, so
 * `siirto undo` restores it byte for byte (the apiserver fills defaults into the ReplicaSet's own
 * copy, which would hash differently and make a needless new ReplicaSet).
 */
export const POD_TEMPLATE_ANNOTATION = 'siirto.dev/pod-template';
/** Annotations kubectl-only users set on a Rollout to drive it; the bridge removes them once delivered. */
export const PROMOTE_ANNOTATION = 'siirto.dev/promote';
export const ABORT_ANNOTATION = 'siirto.dev/abort';
export const RETRY_ANNOTATION = 'siirto.dev/retry';
/** `A` or `B`: ends an A/B experiment with that winner. */
export const CONCLUDE_ANNOTATION = 'siirto.dev/conclude';
/** Who applied the change, so events and history say who promoted or aborted. */
export const FIELD_MANAGER = 'siirto';
