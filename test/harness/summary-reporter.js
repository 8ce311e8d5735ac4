// Ends every run with one plain line, `N passed, N failed[, N skipped]`, and keeps the same counts in
// test-artifacts/summary.json for CI. A file that fails before its tests run counts as one failure.
const fs = require('node:fs');
const path = require('node:path');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const brokenFiles = results.testResults.filter(
      (file) => file.testExecError && file.numFailingTests === 0,
    ).length;
    const counts = {
      passed: results.numPassedTests,
      failed: results.numFailedTests + brokenFiles,
      skipped: results.numPendingTests + results.numTodoTests,
    };
    const dir = path.join(__dirname, '..', '..', 'test-artifacts');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(counts));
    const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : '';
    process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed${skipped}\n`);
  }
}

module.exports = SummaryReporter;
