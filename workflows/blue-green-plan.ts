/**
 * Pods of a blue-green revision while it is preview: `previewReplicaCount`, at most spec.replicas (an
 * autoscaler may have sized the Rollout below it), or full size when it is not set.
 */
export function previewReplicasFor(previewReplicaCount: number | undefined, replicas: number): number {
  return Math.min(previewReplicaCount ?? replicas, replicas);
}
