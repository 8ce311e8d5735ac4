import type { Pod } from '../../stack/pod-server/pod-watch';
import { imageTag, SamplePod, servedPorts } from '../../stack/pod-server/sample-pod';

function pod(container: Partial<Pod['spec']['containers'][number]>): Pod {
  return {
    metadata: { namespace: 'shop', name: 'checkout-1', uid: 'u1', resourceVersion: '1' },
    spec: { containers: [{ name: 'app', image: 'registry.example/checkout:2', ...container }] },
    status: { phase: 'Running', podIP: '198.18.0.7' },
  };
}

describe("the local stack's sample pods", () => {
  it.each([
    ['registry.example/checkout:2', '2'],
    ['registry.example:5000/team/checkout:1.0.0', '1.0.0'],
    ['registry.example:5000/checkout', 'latest'],
    ['checkout@sha256:abc', 'latest'],
  ])('take their version from the image tag: %s is %s', (image, version) => {
    expect(imageTag(image)).toBe(version);
  });

  it('serve the TCP ports their containers declare, or 8080 when they declare none', () => {
    expect(
      servedPorts(pod({ ports: [{ containerPort: 9000 }, { containerPort: 53, protocol: 'UDP' }] })),
    ).toEqual([9000]);
    expect(servedPorts(pod({}))).toEqual([8080]);
  });

  it('behave as their environment says from the start', () => {
    const sample: SamplePod = new SamplePod(
      pod({
        env: [
          { name: 'SAMPLE_APP_ERROR_RATE', value: '0.3' },
          { name: 'SAMPLE_APP_LATENCY_MILLISECONDS', value: '50' },
        ],
      }),
      () => sample.initialBehaviour,
    );
    expect(sample.version).toBe('2');
    expect(sample.initialBehaviour).toEqual({ errorRate: 0.3, latencyMilliseconds: 50 });
  });

  it('refuse an environment that sets an impossible behaviour, naming the variable', () => {
    expect(
      () =>
        new SamplePod(pod({ env: [{ name: 'SAMPLE_APP_ERROR_RATE', value: '3' }] }), () => ({
          errorRate: 0,
          latencyMilliseconds: 0,
        })),
    ).toThrow(/errorRate must be a number from 0 to 1 .*SAMPLE_APP_ERROR_RATE/);
  });
});
