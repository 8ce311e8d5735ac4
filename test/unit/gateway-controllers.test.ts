import { mirrorRefusal, type ParentGateway } from '../../activities/traffic-routers/gateway-controllers';
import type { HttpRoute } from '../../activities/traffic-routers/http-route';

const route: HttpRoute = { metadata: { name: 'checkout', namespace: 'shop' }, spec: { rules: [] } };
const step = 'spec.strategy.canary.steps[2].setMirrorRoute';
const traefik: ParentGateway = {
  gateway: 'siirto-gateway/local',
  gatewayClass: 'traefik',
  controller: 'traefik.io/gateway-controller',
};
const mirroring: ParentGateway = {
  gateway: 'shop/mesh',
  gatewayClass: 'istio',
  controller: 'istio.io/gateway-controller',
};

describe('mirror routes and the gateway controllers that serve them', () => {
  it("refuses a mirror route on a route attached to Traefik's Gateway, naming the step, the Gateway and the fix", () => {
    expect(mirrorRefusal(route, [mirroring, traefik], step)).toBe(
      'spec.strategy.canary.steps[2].setMirrorRoute: HTTPRoute shop/checkout is attached to Gateway ' +
        'siirto-gateway/local (GatewayClass traefik), whose controller traefik.io/gateway-controller has no ' +
        'RequestMirror and answers the requests a mirror rule matches with HTTP 500 instead of serving them; ' +
        'remove the setMirrorRoute step, or attach the route to a Gateway whose controller implements RequestMirror',
    );
  });

  it('lets a mirror route through where no Gateway of the route is known not to mirror', () => {
    expect(mirrorRefusal(route, [mirroring], step)).toBeUndefined();
    expect(mirrorRefusal(route, [], step)).toBeUndefined();
  });
});
