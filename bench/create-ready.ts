/**
 * bench/create-ready: time from `pulumi up` start to Jupyter answering, against a baseline
 * measured in the same run: `docker run` of the same image with the same disks, limits and
 * published port, polling the same URL. Also a no-op `pulumi up` on the created stack.
 * Warm image: the image is on the engine before anything is timed.
 *   bench/run create-ready [runs=3]
 * Target: ratio ≤ 1.5; no-op up < 5 s.
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import { collect, docker, programStack, purgeWorkspace, uniqueWorkspace } from "../test/support/stacks";
import { contextHash, workstationContextDir, workstationImageTag } from "../provider/image/context";
import { httpStatus } from "../provider/http";

const runs = Number(process.argv[2] ?? 3);
const image = workstationImageTag(contextHash(workstationContextDir()));

async function untilAnswers(url: string, token: string): Promise<void> {
    for (;;) {
        try {
            if ((await httpStatus(url, { Authorization: `token ${token}` })) === 200) return;
        } catch { /* not yet */ }
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** The baseline: what a person would type to get the same JupyterLab by hand. */
async function baselineSeconds(): Promise<number> {
    const id = randomBytes(4).toString("hex");
    const token = randomBytes(32).toString("hex");
    const port = 40000 + Math.floor(Math.random() * 9000);
    const started = process.hrtime.bigint();
    execFileSync("docker", [
        "run", "-d", "--name", `bench-${id}`, "--cpus", "1", "--memory", "2g", "--memory-swap", "2g",
        "--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "DAC_OVERRIDE", "--cap-add", "FOWNER", "--cap-add", "SETUID", "--cap-add", "SETGID",
        "--security-opt", "no-new-privileges:true",
        "-v", `bench-${id}-os:/home/azureuser`, "-v", `bench-${id}-tmp:/mnt`, "-v", `bench-${id}-files:/home/azureuser/cloudfiles/code`,
        "-e", `JUPYTER_TOKEN=${token}`, "-p", `127.0.0.1:${port}:8888`, image,
    ], { stdio: "ignore" });
    await untilAnswers(`http://127.0.0.1:${port}/api/status`, token);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    execFileSync("docker", ["rm", "-f", `bench-${id}`], { stdio: "ignore" });
    execFileSync("docker", ["volume", "rm", `bench-${id}-os`, `bench-${id}-tmp`, `bench-${id}-files`], { stdio: "ignore" });
    return seconds;
}

async function pulumiSeconds(): Promise<{ up: number; noop: number }> {
    const ws = uniqueWorkspace("bench");
    const t = await programStack("instance", { workspaceName: ws, instances: { alice: { size: { cpus: 1, memoryGb: 2 } } } });
    try {
        const started = process.hrtime.bigint();
        await t.stack.up(collect(t));
        const outs = (await t.stack.outputs()).out.value as Record<string, { endpoints: { jupyterLab: string }; token: string }>;
        await untilAnswers(new URL("/api/status", outs.alice.endpoints.jupyterLab).toString(), outs.alice.token);
        const up = Number(process.hrtime.bigint() - started) / 1e9;
        const noopStarted = process.hrtime.bigint();
        await t.stack.up(collect(t));
        const noop = Number(process.hrtime.bigint() - noopStarted) / 1e9;
        await t.stack.destroy();
        return { up, noop };
    } finally {
        await t.dispose();
        await purgeWorkspace(ws);
    }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
    console.log(`create-ready: ${runs} run(s) of docker run vs pulumi up, image ${image}`);
    await docker.getImage(image).inspect(); // warm image, or fail here
    const base: number[] = [];
    const ours: number[] = [];
    const noops: number[] = [];
    for (let i = 0; i < runs; i++) {
        // Alternate so drift of the machine's load affects both sides alike.
        base.push(await baselineSeconds());
        const p = await pulumiSeconds();
        ours.push(p.up);
        noops.push(p.noop);
        console.log(`run ${i + 1}/${runs}: docker run ${base[i].toFixed(2)}s, pulumi up ${p.up.toFixed(2)}s, no-op pulumi up ${p.noop.toFixed(2)}s`);
    }
    const ratio = median(ours) / median(base);
    const providerWork = ours.map((x, i) => x - noops[i]);
    console.log("");
    console.log(`image                         ${image}`);
    console.log(`baseline: docker run → ready  median ${median(base).toFixed(2)}s  (${base.map((x) => x.toFixed(2)).join(", ")})`);
    console.log(`pulumi up → ready             median ${median(ours).toFixed(2)}s  (${ours.map((x) => x.toFixed(2)).join(", ")})`);
    console.log(`ratio pulumi up / docker run  ${ratio.toFixed(2)}  (target ≤ 1.5)`);
    console.log(`no-op pulumi up               median ${median(noops).toFixed(2)}s  (target < 5 s)`);
    // Pulumi's own fixed cost (CLI, language host, program, plugin start) is in both up figures;
    // what this project's provider adds on top of it is the difference.
    console.log(`up − no-op up (provider work) median ${median(providerWork).toFixed(2)}s, ratio to docker run ${(median(providerWork) / median(base)).toFixed(2)}`);
}

let finished = false;
process.on("exit", () => {
    if (!finished) console.error("create-ready: exited before finishing (a promise never settled)");
});
main().then(() => (finished = true), (e) => {
    console.error(e);
    process.exit(1);
});
