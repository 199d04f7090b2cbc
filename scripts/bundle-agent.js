#!/usr/bin/env node
// Bundles the workspace agent (agent/main.ts and what it uses) into one file next to its
// Dockerfile, in bin/agent-image: the build context of the agent's image, shipped in the package.
const esbuild = require("esbuild");
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const out = path.join(root, "bin", "agent-image");
fs.mkdirSync(out, { recursive: true });
fs.copyFileSync(path.join(root, "images", "agent", "Dockerfile"), path.join(out, "Dockerfile"));
esbuild.buildSync({
    entryPoints: [path.join(root, "agent", "main.ts")],
    outfile: path.join(out, "agent.js"),
    bundle: true,
    platform: "node",
    // Debian bookworm's nodejs.
    target: "node18",
    // The engine-log path of provider/progress.ts (@pulumi/pulumi) is never taken in the agent; ssh2's native
    // helpers are optional (it falls back to pure JS).
    external: ["@pulumi/pulumi", "@pulumi/pulumi/*", "cpu-features", "*.node"],
    legalComments: "none",
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: "warning",
});
