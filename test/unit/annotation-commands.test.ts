import {
  annotationCommands,
  annotationPointer,
  annotationSetAt,
  commandUpdateId,
} from '../../k8s-bridge/annotation-commands';

describe('command annotations', () => {
  it('reads promote=true as the end of the current pause and promote=full as skipping every step', () => {
    expect(annotationCommands({ 'siirto.dev/promote': 'true' })).toEqual([
      expect.objectContaining({ kind: 'promote', request: { full: false, by: 'kubectl annotation' } }),
    ]);
    expect(annotationCommands({ 'siirto.dev/promote': 'Full' })).toEqual([
      expect.objectContaining({ kind: 'promote', request: { full: true, by: 'kubectl annotation' } }),
    ]);
  });

  it('explains a promote value it does not understand', () => {
    const [command] = annotationCommands({ 'siirto.dev/promote': 'yes please' });
    expect(command).toMatchObject({ kind: 'unreadable', command: 'promote', value: 'yes please' });
    expect(command?.kind === 'unreadable' && command.problem).toBe(
      'annotation siirto.dev/promote="yes please" is not understood; set it to "true" to end the current pause, or "full" to skip every remaining step',
    );
  });

  it('takes the abort value as the reason, except an empty one or "true"', () => {
    expect(annotationCommands({ 'siirto.dev/abort': 'error rate above 2%' })).toEqual([
      expect.objectContaining({
        kind: 'abort',
        request: { reason: 'error rate above 2%', by: 'kubectl annotation' },
      }),
    ]);
    for (const value of ['', 'true', ' TRUE ']) {
      expect(annotationCommands({ 'siirto.dev/abort': value })).toEqual([
        expect.objectContaining({ kind: 'abort', request: { reason: undefined, by: 'kubectl annotation' } }),
      ]);
    }
  });

  it('takes a retry value as who asks, as `siirto retry` writes it, except an empty one or "true"', () => {
    expect(annotationCommands({ 'siirto.dev/retry': 'alice (siirto CLI)' })).toEqual([
      expect.objectContaining({ kind: 'retry', request: { by: 'alice (siirto CLI)' } }),
    ]);
    for (const value of ['', 'true', ' True ']) {
      expect(annotationCommands({ 'siirto.dev/retry': value })).toEqual([
        expect.objectContaining({ kind: 'retry', request: { by: 'kubectl annotation' } }),
      ]);
    }
  });

  it('reads conclude=A or B as the winner of an A/B experiment, and explains any other value', () => {
    expect(annotationCommands({ 'siirto.dev/conclude': 'b' })).toEqual([
      expect.objectContaining({ kind: 'conclude', request: { winner: 'B', by: 'kubectl annotation' } }),
    ]);
    expect(annotationCommands({ 'siirto.dev/conclude': ' A ' })).toEqual([
      expect.objectContaining({ kind: 'conclude', request: { winner: 'A', by: 'kubectl annotation' } }),
    ]);
    const [command] = annotationCommands({ 'siirto.dev/conclude': 'C' });
    expect(command?.kind === 'unreadable' && command.problem).toBe(
      'annotation siirto.dev/conclude="C" is not understood; set it to "B" to promote variant B, or "A" to keep the stable and remove B',
    );
  });

  it('orders abort before retry and promote, and ignores other annotations', () => {
    const commands = annotationCommands({
      'siirto.dev/promote': 'true',
      'siirto.dev/retry': 'true',
      'siirto.dev/abort': '',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
    });
    expect(commands.map((command) => command.kind)).toEqual(['abort', 'retry', 'promote']);
    expect(annotationCommands(undefined)).toEqual([]);
  });

  it('derives update IDs from the annotation, its value and when the apiserver recorded it set', () => {
    const managedFields = [
      {
        manager: 'kubectl-client-side-apply',
        time: '2026-11-22T03:00:00Z',
        fieldsV1: {
          'f:metadata': { 'f:annotations': { 'f:kubectl.kubernetes.io/last-applied-configuration': {} } },
        },
      },
      {
        manager: 'kubectl-annotate',
        time: '2026-11-22T04:05:06Z',
        fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:siirto.dev/promote': {} } } },
      },
      { manager: 'siirto', time: '2026-11-22T04:05:07Z', fieldsV1: { 'f:status': {} } },
    ];
    // Every bridge, and a bridge restarted after a crash, derives the same ID: Temporal runs the Update once.
    const setAt = annotationSetAt(managedFields, 'siirto.dev/promote');
    expect(setAt).toBe('2026-11-22T04:05:06Z');
    expect(commandUpdateId('siirto.dev/promote', 'true', setAt!)).toBe(
      'siirto.dev/promote=true@2026-11-22T04:05:06Z',
    );
    expect(annotationSetAt(managedFields, 'siirto.dev/abort')).toBeUndefined();
    expect(annotationSetAt(undefined, 'siirto.dev/promote')).toBeUndefined();
  });

  it('escapes the annotation name for a JSON patch path', () => {
    expect(annotationPointer('siirto.dev/promote')).toBe('/metadata/annotations/siirto.dev~1promote');
  });
});
