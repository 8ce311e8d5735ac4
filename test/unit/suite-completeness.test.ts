import {
  committedTestFiles,
  describeShortfalls,
  suiteShortfalls,
  type JestProject,
  type RunSummary,
} from '../harness/suite-completeness';

const root = '/src/siirto';
// Jest's own defaults, as `jest --showConfig` resolves them for a project that sets none.
const testMatch = ['**/__tests__/**/*.?([mc])[jt]s?(x)', '**/?(*.)+(spec|test).?([mc])[jt]s?(x)'];
// As jest.config.js configures them.
const projects: JestProject[] = [
  {
    displayName: { name: 'unit' },
    roots: [`${root}/test/unit`],
    testMatch,
    testRegex: [],
    testPathIgnorePatterns: ['/node_modules/'],
  },
  {
    displayName: { name: 'stack' },
    roots: [`${root}/test`],
    testMatch,
    testRegex: [],
    testPathIgnorePatterns: ['/test/unit/'],
  },
];

const committed = [
  'README.md',
  'jest.config.js',
  'test/unit/duration.test.ts',
  'test/unit/replay.test.ts',
  'test/harness/scenario.ts',
  'test/fixtures/histories/canary.json',
  'test/stack/workflows/greetings.ts',
  'test/rollouts/canary.test.ts',
  'test/traffic/traffic.test.ts',
  'workflows/strategies/canary.ts',
];

function ranAll(): RunSummary {
  return {
    passed: 12,
    failed: 0,
    skipped: 0,
    projects: {
      unit: { files: ['test/unit/duration.test.ts', 'test/unit/replay.test.ts'] },
      stack: { files: ['test/rollouts/canary.test.ts', 'test/traffic/traffic.test.ts'] },
    },
    skippedTests: [],
  };
}

describe('a test suite that cannot quietly shrink', () => {
  it('counts as each project’s test files the committed files its roots and patterns take, and no helper or fixture', () => {
    expect(Object.fromEntries(committedTestFiles(root, projects, committed))).toEqual({
      unit: ['test/unit/duration.test.ts', 'test/unit/replay.test.ts'],
      stack: ['test/rollouts/canary.test.ts', 'test/traffic/traffic.test.ts'],
    });
  });

  it('finds nothing short when every committed test file ran and nothing was skipped', () => {
    const shortfalls = suiteShortfalls(committedTestFiles(root, projects, committed), ranAll());
    expect(shortfalls).toEqual({ notRun: [], skipped: [] });
    expect(describeShortfalls(shortfalls)).toEqual([]);
  });

  it('names a committed test file its project did not run, even when another project ran it', () => {
    const summary = ranAll();
    summary.projects!.unit!.files = ['test/unit/duration.test.ts'];
    summary.projects!.stack!.files.push('test/unit/replay.test.ts');

    const shortfalls = suiteShortfalls(committedTestFiles(root, projects, committed), summary);

    expect(shortfalls.notRun).toEqual([{ project: 'unit', files: ['test/unit/replay.test.ts'] }]);
    expect(describeShortfalls(shortfalls)).toEqual([
      'the unit project ran 1 fewer test file than are committed for it; not run:',
      '  test/unit/replay.test.ts',
    ]);
  });

  it('counts a test file as soon as it is committed, and a project that ran nothing as missing all of its files', () => {
    const summary = ranAll();
    delete summary.projects!.stack;

    const shortfalls = suiteShortfalls(
      committedTestFiles(root, projects, [...committed, 'test/unit/new-rule.test.ts']),
      summary,
    );

    expect(shortfalls.notRun).toEqual([
      { project: 'unit', files: ['test/unit/new-rule.test.ts'] },
      { project: 'stack', files: ['test/rollouts/canary.test.ts', 'test/traffic/traffic.test.ts'] },
    ]);
  });

  it('names every skipped or todo test with its file', () => {
    const summary = ranAll();
    summary.skipped = 2;
    summary.skippedTests = [
      { project: 'stack', file: 'test/rollouts/canary.test.ts', name: 'canary aborts', status: 'pending' },
      { project: 'unit', file: 'test/unit/duration.test.ts', name: 'parses weeks', status: 'todo' },
    ];

    const shortfalls = suiteShortfalls(committedTestFiles(root, projects, committed), summary);

    expect(shortfalls.notRun).toEqual([]);
    expect(describeShortfalls(shortfalls)).toEqual([
      '2 tests were not run; make each run, or delete it:',
      '  test/rollouts/canary.test.ts: canary aborts (pending)',
      '  test/unit/duration.test.ts: parses weeks (todo)',
    ]);
  });
});
