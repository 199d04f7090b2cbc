#!/usr/bin/env node
// Runs the end-to-end suites in two lanes at once, then the exclusive ones alone, and prints a
// timing table (slowest first). The machines have 2 cores, and an end-to-end suite spends most
// of its time waiting (containers starting, the agent's checks, a cron minute): two lanes cut the
// wall time without more CPU than the machine has.
//
//   - Suites that use the local cluster share one lane (its real node's 2 CPUs fit one suite's
//     pods at a time): every `kubernetes-*` file, any file marked `// @lane kubernetes`, and any
//     that imports the cluster's test helpers (test/support/cluster or backends). That lane starts
//     the cluster itself (scripts/cluster up) while the other lane already runs, so on a machine
//     where its binaries are still to be built, the Docker suites do not wait for the Go build.
//   - Suites marked `// @lane exclusive` run alone, after both lanes (engine-restart restarts
//     dockerd under everything else).
//   - The rest fill the lanes, longest first, by the durations of the last run on this machine
//     (kept under ~/.cache), 60 s each when unknown.
//
//   node scripts/lib/test-lanes.js          exit status: 0 when every suite passed
//   node scripts/lib/test-lanes.js --plan   only say which suite runs where
const { execFileSync, spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const ROOT = path.resolve(__dirname, "..", "..");
const E2E = path.join(ROOT, "test", "e2e");
const CACHE = path.join(
    process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"),
    "pulumi-compute-instance",
    "test-timings.json",
);
const ARTIFACTS = path.join(ROOT, "test", ".artifacts");
const UNKNOWN_SECONDS = 60;

function laneMark(file) {
    const text = fs.readFileSync(file, "utf8");
    const mark = /^\/\/ @lane (\w+)/m.exec(text.slice(0, 4000))?.[1];
    if (mark) return mark;
    if (path.basename(file).startsWith("kubernetes-") || /support\/(cluster|backends)"/.test(text)) return "kubernetes";
    return undefined;
}

/** Seconds a cluster start adds to its lane: a first build of its binaries takes many minutes. */
function clusterStartSeconds() {
    if (process.env.COMPUTE_INSTANCE_TEST_KUBECONFIG) return 0;
    try {
        const dir = execFileSync(path.join(ROOT, "scripts/lib/k8s-binaries.sh"), ["--dir"], {
            encoding: "utf8",
        }).trim();
        return fs.existsSync(path.join(dir, "stages-revision")) ? 15 : 1200;
    } catch {
        return 1200;
    }
}

function plan() {
    const files = fs
        .readdirSync(E2E)
        .filter((f) => f.endsWith(".test.ts"))
        .sort()
        .map((f) => path.join(E2E, f));
    let known = {};
    try {
        for (const r of JSON.parse(fs.readFileSync(CACHE, "utf8"))) known[r.file] = r.seconds;
    } catch {
        known = {};
    }
    const seconds = (f) => known[path.relative(ROOT, f)] ?? UNKNOWN_SECONDS;
    const lanes = { docker: { files: [], seconds: 0 }, kubernetes: { files: [], seconds: clusterStartSeconds() } };
    const exclusive = [];
    const free = [];
    for (const f of files) {
        const mark = laneMark(f);
        if (mark === "exclusive") exclusive.push(f);
        else if (mark === "kubernetes") {
            lanes.kubernetes.files.push(f);
            lanes.kubernetes.seconds += seconds(f);
        } else free.push(f);
    }
    for (const f of free.sort((a, b) => seconds(b) - seconds(a))) {
        const lane = lanes.docker.seconds <= lanes.kubernetes.seconds ? lanes.docker : lanes.kubernetes;
        lane.files.push(f);
        lane.seconds += seconds(f);
    }
    return { lanes, exclusive };
}

/**
 * Starts the local cluster (scripts/cluster up: quick when it runs; builds its binaries on a
 * machine that has none), its output shown with a `[cluster]` prefix, and resolves the
 * environment its suites read. A cluster given by the caller is used as it is.
 */
function startCluster() {
    if (process.env.COMPUTE_INSTANCE_TEST_KUBECONFIG) return Promise.resolve({});
    return new Promise((resolve, reject) => {
        const child = spawn(path.join(ROOT, "scripts", "cluster"), ["up"], {
            cwd: ROOT,
            stdio: ["ignore", "pipe", "pipe"],
        });
        let last = "";
        const show = (stream, keep) => {
            let rest = "";
            stream.on("data", (chunk) => {
                const lines = (rest + chunk.toString()).split("\n");
                rest = lines.pop();
                for (const line of lines) {
                    if (keep && line.trim()) last = line.trim();
                    process.stdout.write(line.startsWith("[cluster]") ? `${line}\n` : `[cluster] ${line}\n`);
                }
            });
            stream.on("end", () => {
                if (keep && rest.trim()) last = rest.trim();
                if (rest) process.stdout.write(`[cluster] ${rest}\n`);
            });
        };
        show(child.stdout, true);
        show(child.stderr, false);
        child.on("close", (code) => {
            if (code !== 0) return reject(new Error(`scripts/cluster up exited with ${code}`));
            const kubectlDir = execFileSync(path.join(ROOT, "scripts/lib/k8s-binaries.sh"), ["--dir"], {
                encoding: "utf8",
            }).trim();
            resolve({
                COMPUTE_INSTANCE_TEST_KUBECONFIG: last,
                COMPUTE_INSTANCE_TEST_KUBECTL: path.join(kubectlDir, "kubectl"),
                COMPUTE_INSTANCE_TEST_CLUSTER_DIR: path.dirname(last),
            });
        });
    });
}

/** One Jest run of some files in band, its lines prefixed with the lane's name. */
function run(name, files, env = {}) {
    return new Promise((resolve) => {
        if (!files.length) return resolve({ name, code: 0, results: [] });
        const timings = path.join(ARTIFACTS, `timings-${name}.json`);
        fs.rmSync(timings, { force: true });
        const child = spawn(
            path.join(ROOT, "node_modules", ".bin", "jest"),
            ["--selectProjects", "e2e", "--runInBand", ...files],
            {
                cwd: ROOT,
                env: { ...process.env, ...env, COMPUTE_INSTANCE_TIMINGS_FILE: timings },
                stdio: ["ignore", "pipe", "pipe"],
            },
        );
        for (const stream of [child.stdout, child.stderr]) {
            let rest = "";
            stream.on("data", (d) => {
                const lines = (rest + d.toString()).split("\n");
                rest = lines.pop();
                for (const l of lines) process.stdout.write(`[${name}] ${l}\n`);
            });
            stream.on("end", () => rest && process.stdout.write(`[${name}] ${rest}\n`));
        }
        child.on("close", (code) => {
            let results;
            try {
                results = JSON.parse(fs.readFileSync(timings, "utf8"));
            } catch {
                results = [];
            }
            resolve({ name, code: code ?? 1, results: results.map((r) => ({ ...r, lane: name })) });
        });
    });
}

function table(runs, wallSeconds) {
    const rows = runs.flatMap((r) => r.results).sort((a, b) => b.seconds - a.seconds);
    const lines = ["", "end-to-end suites, slowest first:", "  seconds  lane        tests  suite"];
    for (const r of rows)
        lines.push(
            `  ${r.seconds.toFixed(0).padStart(7)}  ${r.lane.padEnd(10)}  ${String(r.tests).padStart(5)}  ${r.file}${r.failed ? "  FAILED" : ""}`,
        );
    const total = rows.reduce((s, r) => s + r.seconds, 0);
    lines.push(
        `  ${total.toFixed(0).padStart(7)}  in all; the end-to-end lanes took ${wallSeconds.toFixed(0)} s of wall time (${runs
            .filter((r) => r.name !== "unit")
            .map((r) => `${r.name}: exit ${r.code}`)
            .join(", ")})`,
    );
    return lines.join("\n");
}

async function main() {
    const started = Date.now();
    const { lanes, exclusive } = plan();
    for (const [name, lane] of Object.entries(lanes)) {
        console.log(
            `[lanes] ${name}: ${lane.files.length} suites, about ${Math.round(lane.seconds)} s: ${lane.files.map((f) => path.basename(f, ".test.ts")).join(", ")}`,
        );
    }
    console.log(
        `[lanes] exclusive, after both: ${exclusive.map((f) => path.basename(f, ".test.ts")).join(", ") || "(none)"}`,
    );
    if (process.argv.includes("--plan")) return;
    const cluster = lanes.kubernetes.files.length ? startCluster() : Promise.resolve({});
    const parallel = await Promise.all([
        run("docker", lanes.docker.files),
        cluster.then(
            (env) => run("kubernetes", lanes.kubernetes.files, env),
            (e) => ({ name: "kubernetes", code: 1, results: [], error: e }),
        ),
    ]);
    for (const r of parallel)
        if (r.error) console.error(`[kubernetes] the local cluster did not start: ${r.error.message}`);
    // engine-restart restarts dockerd; the cluster's node has a containerd of its own.
    const alone = await run("exclusive", exclusive, await cluster.catch(() => ({})));
    const runs = [...parallel, alone];
    // The unit tests ran before (scripts/test): their durations belong in the same table.
    let unit;
    try {
        unit = JSON.parse(fs.readFileSync(path.join(ARTIFACTS, "timings-unit.json"), "utf8")).map((r) => ({
            ...r,
            lane: "unit",
        }));
    } catch {
        unit = [];
    }
    console.log(table([...runs, { name: "unit", code: 0, results: unit }], (Date.now() - started) / 1000));
    const all = runs.flatMap((r) => r.results);
    if (all.length) {
        fs.mkdirSync(path.dirname(CACHE), { recursive: true });
        fs.writeFileSync(CACHE, JSON.stringify(all.map(({ file, seconds }) => ({ file, seconds }))));
    }
    process.exit(runs.some((r) => r.code !== 0) ? 1 : 0);
}

main();
