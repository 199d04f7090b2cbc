/**
 * bench/create-ready: time from `pulumi up` start to Jupyter answering, against a baseline
 * measured in the same run: `docker run` of the same image with the same disks, limits and
 * published port, polling the same URL. Also a no-op `pulumi up` on the created stack.
 * Warm image: the image is on the engine before anything is timed.
 *   bench/run create-ready [runs=3]
 * Target: ratio ≤ 1.5 (≤ 2.0 for a whole up --skip-preview); no-op up < 5 s.
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import { docker, programStack, purgeWorkspace, uniqueWorkspace } from "../test/support/stacks";
import { contextHash, workstationContextDir, workstationImageTag } from "../provider/image/context";
import { instanceOutputs, median, pulumiUp, untilAnswers } from "./common";

const runs = Number(process.argv[2] ?? 3);
const image = workstationImageTag(contextHash(workstationContextDir()));

/** The baseline: what a person would type to get the same JupyterLab by hand. */
async function baselineSeconds(): Promise<number> {
    const id = randomBytes(4).toString("hex");
    const token = randomBytes(32).toString("hex");
    const port = 40000 + Math.floor(Math.random() * 9000);
    const started = process.hrtime.bigint();
    execFileSync(
        "docker",
        [
            "run",
            "-d",
            "--name",
            `bench-${id}`,
            "--cpus",
            "1",
            "--memory",
            "2g",
            "--memory-swap",
            "2g",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CHOWN",
            "--cap-add",
            "DAC_OVERRIDE",
            "--cap-add",
            "FOWNER",
            "--cap-add",
            "SETUID",
            "--cap-add",
            "SETGID",
            "--security-opt",
            "no-new-privileges:true",
            "-v",
            `bench-${id}-os:/home/azureuser`,
            "-v",
            `bench-${id}-tmp:/mnt`,
            "-v",
            `bench-${id}-files:/home/azureuser/cloudfiles/code`,
            "-e",
            `JUPYTER_TOKEN=${token}`,
            "-p",
            `127.0.0.1:${port}:8888`,
            image,
        ],
        { stdio: "ignore" },
    );
    await untilAnswers(`http://127.0.0.1:${port}/api/status`, token);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    execFileSync("docker", ["rm", "-f", `bench-${id}`], { stdio: "ignore" });
    execFileSync("docker", ["volume", "rm", `bench-${id}-os`, `bench-${id}-tmp`, `bench-${id}-files`], {
        stdio: "ignore",
    });
    return seconds;
}

async function pulumiSeconds(extra: string[]): Promise<{ up: number; noop: number }> {
    const ws = uniqueWorkspace("bench");
    const t = await programStack("instance", {
        workspaceName: ws,
        instances: { alice: { size: { cpus: 1, memoryGb: 2 } } },
    });
    try {
        const started = process.hrtime.bigint();
        pulumiUp(t, extra);
        const alice = (await instanceOutputs(t)).alice;
        const answered = await untilAnswersSince(alice.status, alice.token, started);
        const noopStarted = process.hrtime.bigint();
        pulumiUp(t, extra);
        const noop = Number(process.hrtime.bigint() - noopStarted) / 1e9;
        await t.stack.destroy();
        return { up: answered, noop };
    } finally {
        await t.dispose();
        await purgeWorkspace(ws);
    }
}

/** Seconds from `since` until the URL answers (it already does when `up` returns: up waits for it). */
async function untilAnswersSince(url: string, token: string, since: bigint): Promise<number> {
    await untilAnswers(url, token);
    return Number(process.hrtime.bigint() - since) / 1e9;
}

async function main() {
    console.log(
        `create-ready: ${runs} run(s) each of docker run, pulumi up --skip-preview and pulumi up; image ${image}`,
    );
    await docker.getImage(image).inspect(); // warm image, or fail here
    const base: number[] = [];
    const skip: { up: number; noop: number }[] = [];
    const full: { up: number; noop: number }[] = [];
    for (let i = 0; i < runs; i++) {
        // Interleaved so drift of the machine's load affects every side alike.
        base.push(await baselineSeconds());
        skip.push(await pulumiSeconds(["--skip-preview"]));
        full.push(await pulumiSeconds([]));
        console.log(
            `run ${i + 1}/${runs}: docker run ${base[i].toFixed(2)}s; pulumi up --skip-preview ${skip[i].up.toFixed(2)}s (no-op ${skip[i].noop.toFixed(2)}s); pulumi up ${full[i].up.toFixed(2)}s (no-op ${full[i].noop.toFixed(2)}s)`,
        );
    }
    const b = median(base);
    const row = (label: string, xs: number[]) =>
        console.log(`${label.padEnd(44)} median ${median(xs).toFixed(2)}s  ratio ${(median(xs) / b).toFixed(2)}`);
    console.log("");
    console.log(`${"baseline: docker run → Jupyter answers".padEnd(44)} median ${b.toFixed(2)}s`);
    row(
        "pulumi up --skip-preview → Jupyter answers",
        skip.map((x) => x.up),
    );
    row(
        "pulumi up (preview, then update) → answers",
        full.map((x) => x.up),
    );
    // Pulumi's own fixed cost (CLI, language host, program, plugin start) is in every up; what
    // this project adds on top of it is the difference from a no-op up.
    row(
        "  of which beyond a no-op up --skip-preview",
        skip.map((x) => x.up - x.noop),
    );
    console.log(`${"no-op pulumi up --skip-preview".padEnd(44)} median ${median(skip.map((x) => x.noop)).toFixed(2)}s`);
    console.log(`${"no-op pulumi up".padEnd(44)} median ${median(full.map((x) => x.noop)).toFixed(2)}s`);
    console.log("targets: ratio ≤ 1.5 with a warm image; no-op pulumi up < 5 s");
}

let finished = false;
process.on("exit", () => {
    if (!finished) console.error("create-ready: exited before finishing (a promise never settled)");
});
main().then(
    () => (finished = true),
    (e) => {
        console.error(e);
        process.exit(1);
    },
);
