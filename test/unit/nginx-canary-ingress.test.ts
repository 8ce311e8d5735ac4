import type * as k8s from '@kubernetes/client-node';
import {
  additionalAnnotationProblems,
  canaryIngressFor,
  canaryIngressName,
  canaryStateOf,
  headerStepProblems,
  ingressHeaderRoute,
  nginxSettings,
  stableIngressProblem,
} from '../../activities/traffic-routers/nginx-ingress/canary-ingress';
import { TrafficRoutingSchema } from '../../schemas/rollout';

const rollout = { namespace: 'shop', name: 'checkout', uid: 'uid-1' };
const services = { stableService: 'checkout-stable', canaryService: 'checkout-canary' };
const settings = { prefix: 'nginx.ingress.kubernetes.io', additional: {} };

const backend = (name: string, port = 80) => ({ service: { name, port: { number: port } } });

const stable: k8s.V1Ingress = {
  metadata: {
    name: 'web',
    namespace: 'shop',
    annotations: {
      'nginx.ingress.kubernetes.io/rewrite-target': '/',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
    },
  },
  spec: {
    ingressClassName: 'nginx',
    tls: [{ hosts: ['shop.example'], secretName: 'shop-tls' }],
    rules: [
      {
        host: 'shop.example',
        http: {
          paths: [
            { path: '/checkout', pathType: 'Prefix', backend: backend('checkout-stable') },
            { path: '/cart', pathType: 'Prefix', backend: backend('cart') },
          ],
        },
      },
      {
        host: 'admin.example',
        http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('admin') }] },
      },
      { http: { paths: [{ path: '/pay', pathType: 'Exact', backend: backend('checkout-stable', 8080) }] } },
    ],
  },
};

describe('NGINX Ingress router: the canary Ingress built from a stable one', () => {
  it('copies the hosts and paths that send to the stable Service, sending them to the canary Service', () => {
    const canary = canaryIngressFor(stable, { rollout, ...services, settings, state: { weight: 20 } });
    expect(canary.spec).toEqual({
      ingressClassName: 'nginx',
      tls: [{ hosts: ['shop.example'], secretName: 'shop-tls' }],
      rules: [
        {
          host: 'shop.example',
          http: { paths: [{ path: '/checkout', pathType: 'Prefix', backend: backend('checkout-canary') }] },
        },
        { http: { paths: [{ path: '/pay', pathType: 'Exact', backend: backend('checkout-canary', 8080) }] } },
      ],
    });
  });

  it('is named as Argo Rollouts names it, owned by the Rollout, labelled as Siirto’s, with the canary annotations alone', () => {
    const canary = canaryIngressFor(stable, { rollout, ...services, settings, state: { weight: 20 } });
    expect(canary.metadata).toEqual({
      name: 'checkout-web-canary',
      namespace: 'shop',
      labels: {
        'app.kubernetes.io/managed-by': 'siirto',
        'siirto.dev/role': 'canary-ingress',
        'siirto.dev/rollout': 'checkout',
        'siirto.dev/stable-ingress': 'web',
      },
      annotations: {
        'nginx.ingress.kubernetes.io/canary': 'true',
        'nginx.ingress.kubernetes.io/canary-weight': '20',
      },
      ownerReferences: [
        {
          apiVersion: 'siirto.dev/v1alpha1',
          kind: 'Rollout',
          name: 'checkout',
          uid: 'uid-1',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    });
  });

  it('carries a header route as canary-by-header with its value, or a pattern for a prefix or regex, and keeps it through a weight change', () => {
    const header = (headerValue: { exact?: string; prefix?: string; regex?: string }) =>
      ingressHeaderRoute(
        { kind: 'header', route: { name: 'beta', match: [{ headerName: 'X-Beta', headerValue }] } },
        'steps[1].setHeaderRoute',
      );
    expect(header({ exact: '1' })).toEqual({ route: { name: 'beta', header: 'X-Beta', value: '1' } });
    expect(header({ prefix: 'a.b' })).toEqual({
      route: { name: 'beta', header: 'X-Beta', pattern: '^a\\.b' },
    });
    expect(header({ regex: '^(1|yes)$' })).toEqual({
      route: { name: 'beta', header: 'X-Beta', pattern: '^(1|yes)$' },
    });

    const headerRoute = { name: 'beta', header: 'X-Beta', value: '1' };
    const canary = canaryIngressFor(stable, {
      rollout,
      ...services,
      settings,
      state: { weight: 0, headerRoute },
    });
    expect(canary.metadata?.annotations).toEqual({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '0',
      'nginx.ingress.kubernetes.io/canary-by-header': 'X-Beta',
      'nginx.ingress.kubernetes.io/canary-by-header-value': '1',
      'siirto.dev/header-route': JSON.stringify(headerRoute),
    });
    expect(canaryStateOf(canary, settings.prefix)).toEqual({ weight: 0, headerRoute });
  });

  it('writes additionalIngressAnnotations under the prefix, and a header step’s match over theirs', () => {
    const custom = {
      prefix: 'custom.nginx.org',
      additional: { 'canary-by-cookie': 'beta', 'canary-by-header-value': 'x' },
    };
    const plain = canaryIngressFor(stable, { rollout, ...services, settings: custom, state: { weight: 5 } });
    expect(plain.metadata?.annotations).toEqual({
      'custom.nginx.org/canary-by-cookie': 'beta',
      'custom.nginx.org/canary-by-header-value': 'x',
      'custom.nginx.org/canary': 'true',
      'custom.nginx.org/canary-weight': '5',
    });
    const headerRoute = { name: 'beta', header: 'X-Beta', pattern: '^1' };
    const withHeader = canaryIngressFor(stable, {
      rollout,
      ...services,
      settings: custom,
      state: { weight: 5, headerRoute },
    });
    expect(withHeader.metadata?.annotations).toMatchObject({
      'custom.nginx.org/canary-by-cookie': 'beta',
      'custom.nginx.org/canary-by-header': 'X-Beta',
      'custom.nginx.org/canary-by-header-pattern': '^1',
    });
    expect(withHeader.metadata?.annotations).not.toHaveProperty(['custom.nginx.org/canary-by-header-value']);
  });

  it('keeps the legacy ingress.class annotation and a defaultBackend on the stable Service', () => {
    const legacy: k8s.V1Ingress = {
      metadata: { name: 'web', namespace: 'shop', annotations: { 'kubernetes.io/ingress.class': 'nginx' } },
      spec: { defaultBackend: backend('checkout-stable') },
    };
    const canary = canaryIngressFor(legacy, { rollout, ...services, settings, state: { weight: 50 } });
    expect(canary.metadata?.annotations?.['kubernetes.io/ingress.class']).toBe('nginx');
    expect(canary.spec).toEqual({ defaultBackend: backend('checkout-canary') });
  });

  it('shortens a name that would pass 253 characters, keeping it apart with a hash', () => {
    const name = canaryIngressName('r'.repeat(200), 's'.repeat(100));
    expect(name.length).toBeLessThanOrEqual(253);
    expect(name).toMatch(/^r+-s+-[0-9a-f]{10}-canary$/);
    expect(canaryIngressName('r'.repeat(200), 't'.repeat(100))).not.toBe(name);
  });
});

describe('NGINX Ingress router: what it refuses, naming the field and the fix', () => {
  it('refuses a stable Ingress with no path to the stable Service', () => {
    const elsewhere: k8s.V1Ingress = {
      metadata: { name: 'web', namespace: 'shop' },
      spec: { rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('other') }] } }] },
    };
    expect(stableIngressProblem(elsewhere, services)).toBe(
      'Ingress shop/web has no path (and no defaultBackend) sending to the stable Service "checkout-stable", so a ' +
        'canary copy of it would carry nothing; point the path serving this app at Service checkout-stable, or ' +
        'name the Ingress that does',
    );
    expect(stableIngressProblem(stable, services)).toBeUndefined();
  });

  it('refuses a mirror step, a header step matching two headers, and a second header route name', () => {
    expect(
      ingressHeaderRoute(
        { kind: 'mirror', route: { name: 'shadow', match: [{ path: { prefix: '/' } }] } },
        'spec.strategy.canary.steps[2].setMirrorRoute',
      ),
    ).toEqual({
      problem:
        "spec.strategy.canary.steps[2].setMirrorRoute: ingress-nginx's canary annotations cannot copy requests to " +
        'the canary (a canary Ingress has no mirror annotation), and trafficRouting.nginx routes this Rollout; ' +
        'remove the step, or route the Rollout with trafficRouting.gatewayAPI alone',
    });
    const match = (headers: string[]) =>
      headers.map((headerName) => ({ headerName, headerValue: { exact: '1' } }));
    expect(
      headerStepProblems([
        {
          field: 'spec.strategy.canary.steps[1].setHeaderRoute',
          route: { name: 'beta', match: match(['a', 'b']) },
        },
        {
          field: 'spec.strategy.canary.steps[3].setHeaderRoute',
          route: { name: 'beta', match: match(['a']) },
        },
        {
          field: 'spec.strategy.canary.steps[4].setHeaderRoute',
          route: { name: 'gamma', match: match(['a']) },
        },
      ]),
    ).toEqual([
      'spec.strategy.canary.steps[1].setHeaderRoute.match: a canary Ingress matches one header (canary-by-header), ' +
        'not 2; keep one entry in match',
      'spec.strategy.canary.steps[4].setHeaderRoute.name: a canary Ingress holds one header route at a time, and ' +
        'spec.strategy.canary.steps[1].setHeaderRoute already names "beta"; give this step the name "beta" to ' +
        'change that route',
    ]);
  });

  it('refuses additional annotations Siirto sets itself, and keys written with the prefix', () => {
    const routing = TrafficRoutingSchema.parse({
      nginx: {
        stableIngress: 'web',
        additionalIngressAnnotations: {
          'canary-weight': '10',
          'nginx.ingress.kubernetes.io/canary-by-cookie': 'a',
          'canary-by-cookie': 'b',
        },
      },
    });
    expect(additionalAnnotationProblems(nginxSettings(routing))).toEqual([
      'spec.strategy.canary.trafficRouting.nginx.additionalIngressAnnotations["canary-weight"]: Siirto sets ' +
        "nginx.ingress.kubernetes.io/canary-weight itself from the steps' weights; remove it",
      'spec.strategy.canary.trafficRouting.nginx.additionalIngressAnnotations["nginx.ingress.kubernetes.io/canary-by-cookie"]: ' +
        "write the annotation's name without the prefix, such as canary-by-cookie",
    ]);
  });

  it('takes gatewayAPI, nginx or both as trafficRouting, and neither is refused', () => {
    expect(TrafficRoutingSchema.safeParse({ nginx: { stableIngresses: ['a', 'b'] } }).success).toBe(true);
    expect(
      TrafficRoutingSchema.safeParse({ gatewayAPI: { httpRoute: 'r' }, nginx: { stableIngress: 'a' } })
        .success,
    ).toBe(true);
    const neither = TrafficRoutingSchema.safeParse({});
    expect(neither.error?.issues.map((issue) => issue.message)).toEqual([
      'set at least one of gatewayAPI, nginx',
    ]);
    const both = TrafficRoutingSchema.safeParse({ nginx: { stableIngress: 'a', stableIngresses: ['b'] } });
    expect(both.error?.issues.map((issue) => issue.message)).toEqual([
      'set exactly one of stableIngress, stableIngresses',
    ]);
  });
});
