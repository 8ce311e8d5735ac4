import { decideRevision } from '../../k8s-bridge/revisions';

describe('revision numbering', () => {
  it('gives a Rollout seen for the first time revision 1', () => {
    expect(decideRevision(undefined, 'aaaaaaaaaa')).toEqual({
      revision: 1,
      templateHash: 'aaaaaaaaaa',
      isNew: true,
    });
  });

  it('keeps the revision while the template hashes the same', () => {
    const status = { revision: 3, currentTemplateHash: 'bbbbbbbbbb' };
    expect(decideRevision(status, 'bbbbbbbbbb')).toEqual({
      revision: 3,
      templateHash: 'bbbbbbbbbb',
      isNew: false,
    });
  });

  it('numbers a changed template, and a return to an earlier one, as the next revision', () => {
    const status = { revision: 3, currentTemplateHash: 'bbbbbbbbbb', stableTemplateHash: 'aaaaaaaaaa' };
    expect(decideRevision(status, 'aaaaaaaaaa')).toEqual({
      revision: 4,
      templateHash: 'aaaaaaaaaa',
      isNew: true,
    });
  });

  it('starts above the revisions of a deleted namesake that Temporal still remembers', () => {
    expect(decideRevision({}, 'cccccccccc', 5)).toEqual({
      revision: 6,
      templateHash: 'cccccccccc',
      isNew: true,
    });
    // A recorded revision already accounts for the namesake.
    expect(decideRevision({ revision: 7, currentTemplateHash: 'x' }, 'cccccccccc', 5).revision).toBe(8);
  });
});
