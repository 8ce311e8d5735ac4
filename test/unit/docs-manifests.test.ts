import { AnalysisTemplateSchema } from '../../schemas/analysis';
import { RolloutSpecSchema } from '../../schemas/rollout';
import { FleetReleaseSchema } from '../../schemas/fleet-release';
import { docFleetReleases, docSiirtoObjects } from '../docs/doc-blocks';

/**
 * The Siirto objects the docs show, against Siirto's own schemas. The stack test
 * test/docs/doc-commands.test.ts has the apiserver take them too (a dry run, strict about fields).
 */
describe('the Siirto objects the docs show', () => {
  const shown = docSiirtoObjects();

  it('include the README’s Rollout, an analysis template and the strategies', () => {
    expect(shown.map(({ where, what }) => `${where.split(':')[0]} ${what}`)).toEqual(
      expect.arrayContaining([
        'README.md Rollout',
        'docs/analysis.md AnalysisTemplate',
        'docs/analysis.md Rollout strategy',
        'docs/rollouts.md Rollout strategy',
      ]),
    );
  });

  it('read as Siirto reads them', () => {
    const invalid = shown.flatMap(({ where, what, object }) => {
      const result = what.startsWith('Rollout')
        ? RolloutSpecSchema.safeParse(object.spec)
        : AnalysisTemplateSchema.safeParse(object);
      return result.success
        ? []
        : result.error.issues.map((issue) => `${where} ${what}: ${issue.path.join('.')}: ${issue.message}`);
    });
    expect(invalid).toEqual([]);
  });

  it('include fleet release files Siirto reads as they are written', () => {
    const releases = docFleetReleases();
    expect(releases.map(({ where }) => where.split(':')[0])).toContain('docs/fleet.md');
    const invalid = releases.flatMap(({ where, object }) => {
      const result = FleetReleaseSchema.safeParse(object);
      return result.success
        ? []
        : result.error.issues.map((issue) => `${where}: ${issue.path.join('.')}: ${issue.message}`);
    });
    expect(invalid).toEqual([]);
  });
});
