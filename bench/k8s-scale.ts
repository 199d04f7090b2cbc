/**
 * bench/k8s-scale: N instances in one stack on the local cluster (scripts/cluster), for N in the
 * given list (default 50, 100, 200): wall time of `pulumi up`, a no-op `pulumi preview` and
 * `pulumi destroy`, total and per instance, and how each grows with N (ratio to the smallest N,
 * against the ratio of the N themselves: linear growth keeps them equal).
 *   bench/run k8s-scale [--skip-checkpoints] [N ...]
 * --skip-checkpoints: the state is written once at the end instead of after every step
 * (PULUMI_SKIP_CHECKPOINTS), to tell the engine's checkpoint cost from ours.
 * Target: linear growth; a no-op preview of 200 instances under 30 s.
 */
import { execFileSync } from "child_process";
import { programStack, uniqueWorkspace } from "../test/support/stacks";
import { testKubeconfig } from "../test/support/backends";
import { simulatedNamespace } from "../test/support/cluster";

const skipCheckpoints = process.argv.includes("--skip-checkpoints");
const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
const ns = sizes.length ? sizes : [50, 100, 200];

interface Row {
    n: number;
    up: number;
    preview: number;
    destroy: number;
}

function timed(f: () => void): number {
    const t = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - t) / 1e9;
}

async function run(n: number): Promise<Row> {
    const ws = uniqueWorkspace("scale");
    const instances = Object.fromEntries(
        Array.from({ length: n }, (_, i) => [
            `i${String(i).padStart(3, "0")}`,
            { size: { cpus: 0.25, memoryGb: 1 }, osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 }, readyTimeout: "10m" },
        ]),
    );
    // Simulated pods (kwok): hundreds of instances, more than the real node holds.
    simulatedNamespace(`ci-${ws}`);
    const t = await programStack("instance", {
        workspaceName: ws,
        image: "registry.example.com/ml/workstation:1",
        backend: { kubernetes: { namespace: `ci-${ws}`, kubeconfig: testKubeconfig() } },
        instances,
    });
    const env = {
        ...process.env,
        ...(t.stack.workspace as unknown as { envVars: Record<string, string> }).envVars,
        ...(skipCheckpoints ? { PULUMI_SKIP_CHECKPOINTS: "true", PULUMI_EXPERIMENTAL: "true" } : {}),
    };
    const cli = (args: string[]) =>
        execFileSync("pulumi", [...args, "--stack", t.stack.name, "--non-interactive"], {
            cwd: t.stack.workspace.workDir,
            env,
            stdio: "ignore",
            maxBuffer: 1 << 28,
        });
    try {
        const up = timed(() => cli(["up", "--yes", "--skip-preview"]));
        const preview = timed(() => cli(["preview"]));
        const destroy = timed(() => cli(["destroy", "--yes", "--skip-preview"]));
        return { n, up, preview, destroy };
    } finally {
        await t.dispose();
    }
}

async function main() {
    console.log(
        `k8s-scale: N = ${ns.join(", ")} instances in one stack on the local cluster${skipCheckpoints ? ", PULUMI_SKIP_CHECKPOINTS" : ""}`,
    );
    const rows: Row[] = [];
    for (const n of ns) {
        const r = await run(n);
        rows.push(r);
        console.log(
            `N=${n}: up ${r.up.toFixed(1)}s (${(r.up / n).toFixed(2)}s/instance), no-op preview ${r.preview.toFixed(1)}s (${(r.preview / n).toFixed(3)}s/instance), destroy ${r.destroy.toFixed(1)}s (${(r.destroy / n).toFixed(2)}s/instance)`,
        );
    }
    const base = rows[0];
    console.log("");
    console.log("growth against the smallest N (linear: each ratio equals the N ratio)");
    for (const r of rows) {
        console.log(
            `N=${String(r.n).padStart(4)}  N ratio ${(r.n / base.n).toFixed(2)}  up ${(r.up / base.up).toFixed(2)}  preview ${(r.preview / base.preview).toFixed(2)}  destroy ${(r.destroy / base.destroy).toFixed(2)}`,
        );
    }
    const last = rows[rows.length - 1];
    console.log(`no-op preview of ${last.n} instances: ${last.preview.toFixed(1)}s (target < 30 s)`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
