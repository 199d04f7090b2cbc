// A Jest reporter that records how long each test file took, for scripts/test's timing table
// and for balancing its lanes on the next run. Writes JSON to COMPUTE_INSTANCE_TIMINGS_FILE when
// set (one file per Jest run), else does nothing.
const fs = require("fs");
const path = require("path");

class TimingReporter {
    constructor(globalConfig) {
        this.rootDir = globalConfig.rootDir;
        this.results = [];
    }

    onTestResult(test, result) {
        const seconds = (result.perfStats.end - result.perfStats.start) / 1000;
        const failed = result.numFailingTests > 0 || result.testExecError !== undefined;
        this.results.push({
            file: path.relative(this.rootDir, test.path),
            seconds,
            failed,
            tests: result.numPassingTests + result.numFailingTests,
        });
    }

    onRunComplete() {
        const out = process.env.COMPUTE_INSTANCE_TIMINGS_FILE;
        if (!out) return;
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.writeFileSync(out, JSON.stringify(this.results, null, 1));
    }
}

module.exports = TimingReporter;
