// Two projects: `unit` (pure logic and component wiring, no I/O) and `e2e` (the real Pulumi CLI
// through the Automation API, the real Docker engine). scripts/test runs both, e2e in band.
const transform = {
    "^.+\\.[tj]s$": [
        "ts-jest",
        { tsconfig: { allowJs: true, module: "commonjs", esModuleInterop: true, strict: true, target: "es2022" } },
    ],
};

// @kubernetes/client-node 1.x is ESM that Jest's CommonJS runtime refuses: transform it too.
const transformIgnorePatterns = ["/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose)/)"];

module.exports = {
    // Per-file durations, for scripts/test's timing table and its lanes (see the reporter).
    reporters: ["default", "<rootDir>/test/support/timing-reporter.js"],
    projects: [
        {
            displayName: "unit",
            modulePathIgnorePatterns: ["<rootDir>/templates/"],
            testMatch: ["<rootDir>/test/unit/**/*.test.ts"],
            transform,
            transformIgnorePatterns,
            // @pulumi/pulumi keeps process-wide state on purpose; Jest's cleanup of globals only warns about it.
            testEnvironmentOptions: { globalsCleanup: "off" },
        },
        {
            displayName: "e2e",
            modulePathIgnorePatterns: ["<rootDir>/templates/"],
            testMatch: ["<rootDir>/test/e2e/**/*.test.ts"],
            transform,
            transformIgnorePatterns,
            setupFilesAfterEnv: ["<rootDir>/test/support/e2e-setup.ts"],
            testEnvironmentOptions: { globalsCleanup: "off" },
        },
    ],
};
