/**
 * Prints one plain closing line, "jest: N passed, N failed[, N skipped]",
 * that CI tools read whatever the test runner.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `jest: ${results.numPassedTests} passed, ${failed} failed`;
    process.stdout.write(
      `\n${skipped > 0 ? `${line}, ${skipped} skipped` : line}\n`
    );
  }
}

module.exports = SummaryReporter;
