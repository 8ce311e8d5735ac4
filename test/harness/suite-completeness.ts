/**
 * A suite that quietly shrinks still passes: a committed test file that no longer runs (a project's
 * roots moved, a pattern no longer matches it, a worker died before it) or a skipped test fails
 * nothing. CI compares what a run did, as test/harness/summary-reporter.js records it in
 * test-artifacts/summary.json, with the test files committed for each Jest project, matched by Jest's
 * own rules against the configuration in jest.config.js.
 *
 * Run after `npm test` (as .ci/run does): prints each shortfall on stderr and, on stdout, the number of
 * committed test files that did not run; exits 1 when anything fell short.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SearchSource } from 'jest';

/** What summary-reporter.js writes. */
export interface RunSummary {
  passed: number;
  failed: number;
  skipped: number;
  /** By project name: the test files (relative to the repository, `/`-separated) the run loaded. */
  projects?: Record<string, { files: string[] }>;
  skippedTests?: SkippedTest[];
}

export interface SkippedTest {
  project: string;
  file: string;
  name: string;
  /** Jest's status for it: `pending` (skipped), `todo`, `skipped` or `disabled`. */
  status: string;
}

/** The fields of a project's resolved configuration (`jest --showConfig`) that choose its test files. */
export interface JestProject {
  displayName?: { name: string };
  roots: string[];
  testMatch: string[];
  testRegex: string[];
  testPathIgnorePatterns: string[];
}

export interface Shortfalls {
  /** By project: committed test files of that project that the run did not load. */
  notRun: { project: string; files: string[] }[];
  skipped: SkippedTest[];
}

function projectName(project: JestProject, index: number): string {
  return project.displayName?.name ?? `project ${index + 1}`;
}

/**
 * Each project's committed test files: `committed` (paths relative to `root`, as `git ls-files` lists
 * them) that the project's roots, test patterns and ignore patterns take, as Jest decides it.
 */
export function committedTestFiles(
  root: string,
  projects: JestProject[],
  committed: string[],
): Map<string, string[]> {
  const byProject = new Map<string, string[]>();
  projects.forEach((project, index) => {
    // Jest's SearchSource decides from the configuration alone; its other inputs (the module map and
    // resolver) serve only searches by dependency, which this does not make.
    const search = new SearchSource({ config: project } as unknown as ConstructorParameters<
      typeof SearchSource
    >[0]);
    const files = committed.filter((file) => search.isTestFilePath(path.join(root, file)));
    byProject.set(projectName(project, index), files.sort());
  });
  return byProject;
}

/** What a run left out: committed test files it did not load, and tests it did not run. */
export function suiteShortfalls(expected: Map<string, string[]>, summary: RunSummary): Shortfalls {
  const notRun = [...expected].flatMap(([project, files]) => {
    const ran = new Set(summary.projects?.[project]?.files ?? []);
    const missing = files.filter((file) => !ran.has(file));
    return missing.length > 0 ? [{ project, files: missing }] : [];
  });
  return { notRun, skipped: summary.skippedTests ?? [] };
}

/** One line per shortfall, naming the file or test and what to do about it. */
export function describeShortfalls(shortfalls: Shortfalls): string[] {
  const lines: string[] = [];
  for (const { project, files } of shortfalls.notRun) {
    lines.push(
      `the ${project} project ran ${files.length} fewer test file${files.length === 1 ? '' : 's'} than are committed for it; not run:`,
      ...files.map((file) => `  ${file}`),
    );
  }
  if (shortfalls.skipped.length > 0) {
    lines.push(
      `${shortfalls.skipped.length} test${shortfalls.skipped.length === 1 ? ' was' : 's were'} not run; make each run, or delete it:`,
      ...shortfalls.skipped.map((test) => `  ${test.file}: ${test.name} (${test.status})`),
    );
  }
  return lines;
}

function main(): void {
  const root = path.resolve(__dirname, '..', '..');
  const read = (command: string, args: string[]) =>
    execFileSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const committed = read('git', ['ls-files', '-z']).split('\0').filter(Boolean);
  const { configs } = JSON.parse(
    read(process.execPath, [require.resolve('jest/bin/jest'), '--showConfig']),
  ) as { configs: JestProject[] };
  const summary = JSON.parse(
    readFileSync(path.join(root, 'test-artifacts', 'summary.json'), 'utf8'),
  ) as RunSummary;
  if (!summary.projects) {
    throw new Error('test-artifacts/summary.json lists no test files; is summary-reporter.js its reporter?');
  }
  const shortfalls = suiteShortfalls(committedTestFiles(root, configs, committed), summary);
  for (const line of describeShortfalls(shortfalls)) process.stderr.write(`${line}\n`);
  process.stdout.write(`${shortfalls.notRun.reduce((sum, { files }) => sum + files.length, 0)}\n`);
  if (shortfalls.notRun.length > 0 || shortfalls.skipped.length > 0) process.exitCode = 1;
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`suite completeness: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  }
}
