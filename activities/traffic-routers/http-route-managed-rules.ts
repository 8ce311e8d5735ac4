import { ApplicationFailure } from '@temporalio/common';
import type { SetMirrorRoute, StringMatch } from '../../schemas/rollout';
import {
  describeRoute,
  isManagedRule,
  MANAGED_RULE_PREFIX,
  refersToService,
  splitsBetween,
  type HttpHeaderMatch,
  type HttpRoute,
  type HttpRouteMatch,
  type HttpRouteRule,
  type SplitServices,
} from './http-route';
import { routeSplitProblem } from './http-route-validation';
import type { ManagedRoute } from './traffic-router';

/** Gateway API allows an HTTPRoute this many rules. */
const MAX_RULES = 16;

/**
 * The rules of a managed route: one beside each rule of the user's that splits traffic between the
 * two Services, named `siirto.<name>` for the first and `siirto.<name>.2`, `.3`… for the others.
 */
function managedRuleName(name: string, index: number): string {
  return index === 0 ? `${MANAGED_RULE_PREFIX}${name}` : `${MANAGED_RULE_PREFIX}${name}.${index + 1}`;
}

function belongsTo(rule: HttpRouteRule, name: string): boolean {
  const own = `${MANAGED_RULE_PREFIX}${name}`;
  return rule.name === own || (rule.name?.startsWith(`${own}.`) ?? false);
}

/**
 * A copy of the route without the rules of these managed routes, or without every rule Siirto manages
 * when `names` is left out. Every other rule stays as it is, in its place.
 */
export function withoutManagedRoutes(route: HttpRoute, names?: readonly string[]): HttpRoute {
  const updated = structuredClone(route);
  const rules = updated.spec?.rules;
  if (updated.spec && rules) {
    updated.spec.rules = rules.filter((rule) =>
      names ? !names.some((name) => belongsTo(rule, name)) : !isManagedRule(rule),
    );
  }
  return updated;
}

/**
 * A copy of the route with the managed route's rules in place of any it had: for each rule of the
 * user's that splits traffic between the two Services, a rule just before it (so it wins a tie with
 * it, as Gateway API gives ties to the first rule) that
 * - for a header route, matches what that rule matches and the headers too, keeps its filters, and
 *   sends to the canary Service alone, whatever the weights;
 * - for a mirror route, is that rule narrowed to the requests of `match`, with a `RequestMirror`
 *   filter copying them to the canary Service, and the same backends at the same weights.
 * Fails non-retryably with type `ManagedRouteInvalid` when the route has no rule to add them beside,
 * or would hold more rules than Gateway API allows, or the headers clash with the rule's own.
 */
export function withManagedRoute(
  route: HttpRoute,
  services: SplitServices,
  managed: ManagedRoute,
): HttpRoute {
  const updated = withoutManagedRoutes(route, [managed.route.name]);
  const namespace = route.metadata.namespace;
  const described = `${managed.kind === 'header' ? 'setHeaderRoute' : 'setMirrorRoute'} "${managed.route.name}"`;
  const rules: HttpRouteRule[] = [];
  let added = 0;
  for (const [index, rule] of (updated.spec?.rules ?? []).entries()) {
    if (!isManagedRule(rule) && splitsBetween(rule, services, namespace)) {
      const name = managedRuleName(managed.route.name, added++);
      const at = { described: `${described}: spec.rules[${index}] of ${describeRoute(route)}` };
      rules.push(
        managed.kind === 'header'
          ? headerRule(rule, name, canaryRef(rule, services, namespace), managed.route.match, at)
          : mirrorRule(rule, name, canaryRef(rule, services, namespace), managed.route, at),
      );
    }
    rules.push(rule);
  }
  if (added === 0) {
    throw ApplicationFailure.nonRetryable(
      `${described} needs a rule to add its own beside: ${routeSplitProblem(route, services)}`,
      'ManagedRouteInvalid',
    );
  }
  if (rules.length > MAX_RULES) {
    throw ApplicationFailure.nonRetryable(
      `${described} would give ${describeRoute(route)} ${rules.length} rules, and Gateway API allows ` +
        `${MAX_RULES}: merge some of the route's rules, or route these requests with fewer steps`,
      'ManagedRouteInvalid',
    );
  }
  return { ...updated, spec: { ...updated.spec, rules } };
}

function canaryRef(rule: HttpRouteRule, services: SplitServices, namespace: string) {
  const ref = (rule.backendRefs ?? []).find((candidate) =>
    refersToService(candidate, services.canaryService, namespace),
  );
  // splitsBetween found it before this is asked.
  if (!ref) throw new Error(`no backendRef to ${services.canaryService}`);
  return ref;
}

interface Where {
  /** `setHeaderRoute "beta": spec.rules[0] of HTTPRoute shop/web` */
  described: string;
}

function headerRule(
  base: HttpRouteRule,
  name: string,
  canary: NonNullable<HttpRouteRule['backendRefs']>[number],
  match: { headerName: string; headerValue: StringMatch }[],
  where: Where,
): HttpRouteRule {
  const { name: _baseName, matches, backendRefs: _backendRefs, ...rest } = structuredClone(base);
  const headers = match.map(({ headerName, headerValue }) => headerMatch(headerName, headerValue));
  return {
    ...rest,
    name,
    matches: baseMatches(matches).map((baseMatch) => withHeaders(baseMatch, headers, where)),
    // The one backend of the rule: any weight sends it every request.
    backendRefs: [{ ...structuredClone(canary), weight: 1 }],
  };
}

function mirrorRule(
  base: HttpRouteRule,
  name: string,
  canary: NonNullable<HttpRouteRule['backendRefs']>[number],
  mirror: Extract<ManagedRoute, { kind: 'mirror' }>['route'],
  where: Where,
): HttpRouteRule {
  const copy = structuredClone(base);
  const matches = baseMatches(copy.matches).flatMap((baseMatch) =>
    mirror.match.map((wanted) => narrowed(baseMatch, wanted, where)),
  );
  const backendRef = {
    group: '',
    kind: 'Service',
    name: canary.name,
    ...(canary.namespace === undefined ? {} : { namespace: canary.namespace }),
    ...(canary.port === undefined ? {} : { port: canary.port }),
  };
  const requestMirror = {
    backendRef,
    ...(mirror.percentage === undefined ? {} : { percent: mirror.percentage }),
  };
  return {
    ...copy,
    name,
    matches,
    filters: [...(copy.filters ?? []), { type: 'RequestMirror', requestMirror }],
  };
}

/** A rule without matches matches every request, as one match of path prefix `/` does. */
function baseMatches(matches: HttpRouteMatch[] | undefined): HttpRouteMatch[] {
  return matches?.length ? matches : [{ path: { type: 'PathPrefix', value: '/' } }];
}

/** Argo Rollouts' prefix match, as Gateway API (which has no header prefix) can say it. */
function headerMatch(name: string, value: StringMatch): HttpHeaderMatch {
  if (value.exact !== undefined) return { type: 'Exact', name, value: value.exact };
  if (value.regex !== undefined) return { type: 'RegularExpression', name, value: value.regex };
  return { type: 'RegularExpression', name, value: `^${escapeRegularExpression(value.prefix ?? '')}` };
}

function escapeRegularExpression(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

function withHeaders(match: HttpRouteMatch, headers: HttpHeaderMatch[], where: Where): HttpRouteMatch {
  const own = match.headers ?? [];
  const clash = headers.find((header) =>
    own.some((existing) => existing.name.toLowerCase() === header.name.toLowerCase()),
  );
  if (clash) {
    throw ApplicationFailure.nonRetryable(
      `${where.described} already matches header ${clash.name}: match another header, or take that match ` +
        "out of the route's rule",
      'ManagedRouteInvalid',
    );
  }
  return { ...match, headers: [...own, ...headers] };
}

const PATH_MATCH_TYPES = { exact: 'Exact', prefix: 'PathPrefix', regex: 'RegularExpression' } as const;

/** The requests of `match` that `wanted` picks out: its path and method where it gives them. */
function narrowed(
  match: HttpRouteMatch,
  wanted: NonNullable<SetMirrorRoute['match']>[number],
  where: Where,
): HttpRouteMatch {
  const result: HttpRouteMatch = { ...match };
  if (wanted.path) {
    const [kind, value] = Object.entries(wanted.path).find(([, text]) => text !== undefined) ?? [];
    result.path = { type: PATH_MATCH_TYPES[kind as keyof StringMatch], value };
  }
  if (wanted.method) {
    if (wanted.method.exact === undefined) {
      throw ApplicationFailure.nonRetryable(
        `${where.described}: match.method can only be matched exactly in Gateway API; write it as ` +
          '{exact: GET}',
        'ManagedRouteInvalid',
      );
    }
    result.method = wanted.method.exact.toUpperCase();
  }
  const headers = Object.entries(wanted.headers ?? {}).map(([name, value]) => headerMatch(name, value));
  return headers.length ? withHeaders(result, headers, where) : result;
}
