// Ends every run with one plain line, `N passed, N failed[, N skipped]`, and keeps the same counts in
// test-artifacts/summary.json for CI, with the test files each project ran and every test that did not
// run, so CI can tell a suite that shrank from one that passed (test/harness/suite-completeness.ts).
// A file that fails before its tests run counts as one failure.
const fs = require('node:fs');
const path = require('node:path');

/** Jest's statuses for a test that was declared but not run: skipped, todo, or left out by a focus. */
const NOT_RUN = new Set(['pending', 'skipped', 'todo', 'disabled']);

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    const brokenFiles = results.testResults.filter(
      (file) => file.testExecError && file.numFailingTests === 0,
    ).length;
    const projects = {};
    const skippedTests = [];
    for (const file of results.testResults) {
      const project = file.displayName?.name ?? '';
      const relative = path.relative(this.rootDir, file.testFilePath).split(path.sep).join('/');
      (projects[project] ??= { files: [] }).files.push(relative);
      for (const test of file.testResults) {
        if (NOT_RUN.has(test.status)) {
          skippedTests.push({ project, file: relative, name: test.fullName, status: test.status });
        }
      }
    }
    for (const project of Object.values(projects)) project.files.sort();
    const counts = {
      passed: results.numPassedTests,
      failed: results.numFailedTests + brokenFiles,
      skipped: results.numPendingTests + results.numTodoTests,
    };
    const dir = path.join(__dirname, '..', '..', 'test-artifacts');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify({ ...counts, projects, skippedTests }));
    const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : '';
    process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed${skipped}\n`);
  }
}

module.exports = SummaryReporter;
