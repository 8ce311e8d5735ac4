import { metadataPatch } from '../../activities/pod-metadata';
import { countEndpoints } from '../../activities/service-endpoints';

describe("a blue-green revision's pod metadata", () => {
  it("sets the new role's keys and removes the old role's, as one merge patch", () => {
    expect(
      metadataPatch(
        { labels: { role: 'active' }, annotations: { 'shop/traffic': 'live' } },
        { labels: { role: 'preview', preview: 'true' }, annotations: { 'shop/try': 'me' } },
        {},
      ),
    ).toEqual({
      labels: { preview: null, role: 'active' },
      annotations: { 'shop/try': null, 'shop/traffic': 'live' },
    });
  });

  it("never removes a key the Rollout's own pod template sets", () => {
    expect(
      metadataPatch({}, { labels: { app: 'checkout', preview: 'true' } }, { labels: { app: 'checkout' } }),
    ).toEqual({ labels: { preview: null } });
  });

  it('is empty when there is nothing to set or take off', () => {
    expect(metadataPatch({}, {}, {})).toEqual({});
  });
});

describe("a Service's endpoints, as a gateway reads them", () => {
  const endpoint = (pod: string, ready?: boolean) => ({
    conditions: ready === undefined ? {} : { ready },
    targetRef: { kind: 'Pod', name: pod },
  });

  it("counts the revision's ready pods apart from every other ready pod, across slices", () => {
    const slices = [
      { endpoints: [endpoint('checkout-abc-1', true), endpoint('checkout-abc-2')] },
      { endpoints: [endpoint('checkout-def-1', true), endpoint('checkout-abc-3', false)] },
    ];
    expect(countEndpoints(slices, 'checkout-abc-')).toEqual({ revision: 2, others: 1 });
  });

  it('counts a pod listed in two slices once', () => {
    const slices = [{ endpoints: [endpoint('checkout-abc-1')] }, { endpoints: [endpoint('checkout-abc-1')] }];
    expect(countEndpoints(slices, 'checkout-abc-')).toEqual({ revision: 1, others: 0 });
  });
});
