import { revisionWorkflowId } from '../../k8s-bridge/revisions';
import { clusterRunsCondition, isClusterRun } from '../../temporal/cluster-identity';
import { temporalSettingsFromEnv, TemporalSettingsError } from '../../temporal/connection';
import { rolloutWorkflowId } from '../../workflows/rollout-api';

describe('SIIRTO_CLUSTER_ID, for clusters sharing one Temporal namespace', () => {
  it('is unset by default, and then workflow IDs are what they were before cluster IDs', () => {
    expect(temporalSettingsFromEnv({}).clusterId).toBeUndefined();
    expect(temporalSettingsFromEnv({ SIIRTO_CLUSTER_ID: '' }).clusterId).toBeUndefined();
    expect(rolloutWorkflowId('shop', 'checkout', 3)).toBe('shop/checkout/r3');
  });

  it('comes first in the workflow IDs of a cluster that has one', () => {
    const { clusterId } = temporalSettingsFromEnv({ SIIRTO_CLUSTER_ID: 'prod-eu-1' });
    expect(clusterId).toBe('prod-eu-1');
    expect(rolloutWorkflowId('shop', 'checkout', 3, clusterId)).toBe('prod-eu-1/shop/checkout/r3');
  });

  it.each(['prod/eu', 'eu west', "o'brien", '-eu'])(
    'refuses %j, naming the setting and the form it takes',
    (id) => {
      const attempt = () => temporalSettingsFromEnv({ SIIRTO_CLUSTER_ID: id });
      expect(attempt).toThrow(TemporalSettingsError);
      expect(attempt).toThrow(
        'SIIRTO_CLUSTER_ID must be a name of letters, digits, ".", "_" and "-", such as prod-eu-1',
      );
    },
  );

  it('is named by its flag when the CLI gave it', () => {
    expect(() =>
      temporalSettingsFromEnv({ SIIRTO_CLUSTER_ID: 'a/b' }, { SIIRTO_CLUSTER_ID: '--cluster' }),
    ).toThrow('--cluster must be a name of letters');
  });
});

describe('which runs are a cluster’s own', () => {
  const uid = 'uid-of-this-clusters-rollout';

  it('without a cluster ID: every run without one, and never a run of a cluster that has one', () => {
    expect(isClusterRun({ rolloutUid: 'any' }, undefined)).toBe(true);
    expect(isClusterRun({ cluster: 'b', rolloutUid: uid }, undefined, uid)).toBe(false);
  });

  it('with a cluster ID: its own runs, whatever Rollout object (uid) they were for', () => {
    expect(isClusterRun({ cluster: 'a', rolloutUid: 'a-deleted-namesake' }, 'a', uid)).toBe(true);
    expect(isClusterRun({ cluster: 'b', rolloutUid: uid }, 'a', uid)).toBe(false);
  });

  it('with a cluster ID: a run from before it had one only when it was for this cluster’s Rollout', () => {
    expect(isClusterRun({ rolloutUid: uid }, 'a', uid)).toBe(true);
    expect(isClusterRun({ rolloutUid: 'another-clusters-rollout' }, 'a', uid)).toBe(false);
    expect(isClusterRun({ rolloutUid: uid }, 'a')).toBe(false);
    expect(isClusterRun({}, 'a', uid)).toBe(false);
  });

  it('narrows visibility queries only for a cluster that has an ID, which needs SiirtoCluster registered', () => {
    expect(clusterRunsCondition(undefined, { withoutCluster: true })).toBe('');
    expect(clusterRunsCondition('a', { withoutCluster: false })).toBe(" AND SiirtoCluster = 'a'");
    expect(clusterRunsCondition('a', { withoutCluster: true })).toBe(
      " AND (SiirtoCluster = 'a' OR SiirtoCluster IS NULL)",
    );
  });
});

describe('the workflow ID of a revision', () => {
  const newId = (revision: number) => rolloutWorkflowId('shop', 'checkout', revision, 'a');

  it('is the one its status recorded, also from before the cluster had an ID', () => {
    const status = { revision: 2, workflowId: 'shop/checkout/r2' };
    expect(revisionWorkflowId(status, { revision: 2, templateHash: 'x', isNew: false }, newId)).toBe(
      'shop/checkout/r2',
    );
  });

  it('is of the cluster’s scheme for a revision still to be recorded', () => {
    const status = { revision: 2, workflowId: 'shop/checkout/r2' };
    expect(revisionWorkflowId(status, { revision: 3, templateHash: 'y', isNew: true }, newId)).toBe(
      'a/shop/checkout/r3',
    );
    expect(revisionWorkflowId({ revision: 2 }, { revision: 2, templateHash: 'x', isNew: false }, newId)).toBe(
      'a/shop/checkout/r2',
    );
  });
});
