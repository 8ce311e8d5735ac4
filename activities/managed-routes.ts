import type { SetHeaderRoute, SetMirrorRoute } from '../schemas/rollout';
import { servingRouters, type ManagedRoute, type RoutingTarget, type TrafficRouter } from './traffic-routers';

/** A canary step that adds, changes or removes a managed route: as the Rollout writes it. */
export type ManagedRouteStep = { setHeaderRoute: SetHeaderRoute } | { setMirrorRoute: SetMirrorRoute };

/** What the step asks of the routers: a route to set, or, without `match`, the name of one to remove. */
export function managedRouteOfStep(step: ManagedRouteStep): { set: ManagedRoute } | { remove: string } {
  if ('setHeaderRoute' in step) {
    const { match, name } = step.setHeaderRoute;
    return match ? { set: { kind: 'header', route: { ...step.setHeaderRoute, match } } } : { remove: name };
  }
  const { match, name } = step.setMirrorRoute;
  return match ? { set: { kind: 'mirror', route: { ...step.setMirrorRoute, match } } } : { remove: name };
}

/**
 * Carries out a `setHeaderRoute` or `setMirrorRoute` step on every router serving the Rollout: adds
 * the managed route, changes it to what the step says, or, for a step without `match` (as Argo
 * Rollouts has it), removes it. Idempotent. Fails non-retryably with type `ManagedRouteInvalid` when
 * the routing objects cannot take the route, naming the step and the fix.
 */
export async function applyManagedRouteStep(
  routers: TrafficRouter[],
  { step, ...target }: RoutingTarget & { step: ManagedRouteStep },
): Promise<void> {
  const change = managedRouteOfStep(step);
  for (const router of servingRouters(routers, target)) {
    if ('set' in change) await router.setManagedRoute(target, change.set);
    else await router.removeManagedRoutes(target, [change.remove]);
  }
}

/**
 * Takes every managed route off the routing objects, leaving the user's routes as written: for the
 * end of a rollout, an abort, or a newer revision taking over. Idempotent; a routing object that is
 * gone has nothing to take away.
 */
export async function removeManagedRoutes(routers: TrafficRouter[], target: RoutingTarget): Promise<void> {
  for (const router of servingRouters(routers, target)) await router.cleanUp(target);
}
