/**
 * The parts of a pod its readiness depends on, as the typed client (dates as Date) and raw watch
 * events (dates as strings) both give them.
 */
export interface PodState {
  metadata?: { name?: string; deletionTimestamp?: Date | string };
  status?: {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: {
      name: string;
      state?: {
        waiting?: { reason?: string; message?: string };
        terminated?: { reason?: string; message?: string; exitCode: number };
      };
    }[];
  };
}

/** Ready to serve: the Ready condition is True and the pod is not being deleted. */
export function isPodReady(pod: PodState): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  return (
    pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ??
    false
  );
}

/** Why a pod is not running: unschedulable, or a container waiting (image pull, crash loop). */
export function whyPodIsNotRunning(pod: PodState): string | undefined {
  const podName = pod.metadata?.name;
  const unscheduled = pod.status?.conditions?.find(
    (condition) => condition.type === 'PodScheduled' && condition.status === 'False',
  );
  if (unscheduled) return `pod ${podName}: ${unscheduled.message ?? unscheduled.reason}`;
  const waiting = pod.status?.containerStatuses?.find((container) => container.state?.waiting)?.state
    ?.waiting;
  if (waiting) return `pod ${podName}: ${[waiting.reason, waiting.message].filter(Boolean).join(': ')}`;
  return undefined;
}

/**
 * Why a pod is not Ready, where it says: not running, being deleted, a container that ended, or
 * what its Ready condition gives (a readiness probe failing shows as containers with unready status).
 */
export function whyPodIsNotReady(pod: PodState): string | undefined {
  if (isPodReady(pod)) return undefined;
  const podName = pod.metadata?.name;
  if (pod.metadata?.deletionTimestamp) return `pod ${podName}: being deleted`;
  const notRunning = whyPodIsNotRunning(pod);
  if (notRunning) return notRunning;
  const ended = pod.status?.containerStatuses?.find((container) => container.state?.terminated);
  const terminated = ended?.state?.terminated;
  if (ended && terminated) {
    const why = [terminated.reason, terminated.message].filter(Boolean).join(': ');
    return `pod ${podName}: container ${ended.name} exited with code ${terminated.exitCode}${why ? ` (${why})` : ''}`;
  }
  const ready = pod.status?.conditions?.find((condition) => condition.type === 'Ready');
  const said = ready?.message ?? ready?.reason;
  return said ? `pod ${podName}: ${said}` : undefined;
}
