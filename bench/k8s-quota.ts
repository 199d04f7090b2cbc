/**
 * bench/quota: how much the workspace quota check adds to a no-op `pulumi preview` of a stack
 * with N instances (default 50) on the local cluster (scripts/cluster). The check lists every
 * instance of the workspace on the backend once per preview. Previews alternate between the quota
 * off (none declared or stored) and on (declared, and larger than the use), R rounds each
 * (default 3); medians and their ratio are printed.
 *   bench/run k8s-quota [N] [R]
 * Target: on / off ≤ 1.2.
 */
import { execFileSync } from "child_process";
import { programStack, uniqueWorkspace } from "../test/support/stacks";
import { testKubeconfig } from "../test/support/backends";
import { simulatedNamespace } from "../test/support/cluster";

const n = Number(process.argv[2] ?? 50);
const rounds = Number(process.argv[3] ?? 3);

function timed(f: () => void): number {
    const t = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - t) / 1e9;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
    const ws = uniqueWorkspace("quota");
    const instances = Object.fromEntries(
        Array.from({ length: n }, (_, i) => [
            `i${String(i).padStart(3, "0")}`,
            { size: { cpus: 0.25, memoryGb: 1 }, osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 }, readyTimeout: "10m" },
        ]),
    );
    const base = {
        workspaceName: ws,
        image: "registry.example.com/ml/workstation:1",
        backend: { kubernetes: { namespace: `ci-${ws}`, kubeconfig: testKubeconfig() } },
        instances,
    };
    // Simulated pods (kwok): more instances than the real node holds.
    simulatedNamespace(`ci-${ws}`);
    const t = await programStack("instance", base);
    const env = { ...process.env, ...(t.stack.workspace as unknown as { envVars: Record<string, string> }).envVars };
    const cli = (args: string[]) =>
        execFileSync("pulumi", [...args, "--stack", t.stack.name, "--non-interactive"], {
            cwd: t.stack.workspace.workDir,
            env,
            stdio: "ignore",
            maxBuffer: 1 << 28,
        });
    const off: number[] = [];
    const on: number[] = [];
    try {
        console.log(`k8s-quota: no-op preview of ${n} instances, quota check off vs on, ${rounds} rounds`);
        cli(["up", "--yes", "--skip-preview"]);
        for (let r = 0; r < rounds; r++) {
            await t.setConfig(base);
            await t.stack.removeConfig("quota").catch(() => undefined);
            cli(["up", "--yes", "--skip-preview"]);
            off.push(timed(() => cli(["preview"])));
            await t.setConfig({ ...base, quota: { cores: n } });
            cli(["up", "--yes", "--skip-preview"]);
            on.push(timed(() => cli(["preview"])));
            console.log(`round ${r + 1}: off ${off[r].toFixed(2)}s, on ${on[r].toFixed(2)}s`);
        }
        const ratio = median(on) / median(off);
        console.log(
            `median no-op preview: off ${median(off).toFixed(2)}s, on ${median(on).toFixed(2)}s; on/off ${ratio.toFixed(3)} (target ≤ 1.2)`,
        );
    } finally {
        try {
            cli(["destroy", "--yes", "--skip-preview"]);
        } catch {
            /* reported by the next run's leftovers */
        }
        await t.dispose();
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
