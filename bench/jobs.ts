/**
 * bench/jobs: the job queue against its ideal and against `docker run`, in the same run.
 *   bench/run jobs [jobs=50]
 * (1) `jobs` one-second jobs on a 2-core instance (two per core: four at once): the time from the
 *     first submission to the last completion, against the ideal jobs / 4 seconds; submissions
 *     timed apart (each is a run of the CLI, as a user's script submits them).
 * (2) The latency of one job on an idle instance, submission → its command running, against
 *     `docker run` of the same image → its command running, alternating, 5 rounds, medians.
 * Target: queue ≤ 1.5× the ideal; one job's latency ≤ 2× docker run's.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DockerBackend } from "../provider/backends/docker";
import { contextHash, workstationContextDir, workstationImageTag } from "../provider/image/context";
import { jobEnded, showJob, submitJob } from "../test/support/jobs";
import { collect, docker, programStack, purgeWorkspace, uniqueWorkspace } from "../test/support/stacks";
import { median, seconds } from "./common";

const count = Number(process.argv[2] ?? 50);
const image = workstationImageTag(contextHash(workstationContextDir()));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-jobs-"));
const engine = new DockerBackend("unix:///var/run/docker.sock");

/** Until the job's command has written its marker in the user files (it runs). */
async function untilMarked(ws: string, job: string): Promise<void> {
    for (;;) {
        const files = await engine.jobs.readJobFiles(ws, job, "outputs/m/ran").catch(() => ({}));
        if (Object.keys(files).length) return;
        await new Promise((r) => setTimeout(r, 50));
    }
}

async function dockerRunSeconds(): Promise<number> {
    const marker = path.join(dir, `marker-${Date.now()}`);
    fs.mkdirSync(marker);
    fs.chmodSync(marker, 0o777);
    const started = process.hrtime.bigint();
    execFileSync("docker", ["run", "-d", "--rm", "-v", `${marker}:/m`, image, "sh", "-c", "touch /m/ran; sleep 2"], {
        stdio: "ignore",
    });
    while (!fs.existsSync(path.join(marker, "ran"))) await new Promise((r) => setTimeout(r, 50));
    return seconds(started);
}

async function main() {
    const ws = uniqueWorkspace("bjob");
    const t = await programStack("instance", {
        workspaceName: ws,
        agentCheckInterval: "2s",
        instances: { alice: { size: { cpus: 2, memoryGb: 4 } } },
    });
    try {
        await t.stack.up(collect(t));
        await docker.getImage(image).inspect();
        const yaml = (command: string) =>
            `command: ${JSON.stringify(command)}\nenvironment:\n  image: ${image}\ncompute: alice\noutputs:\n  m:\n`;

        // (2) first, on an idle instance.
        const ours: number[] = [];
        const theirs: number[] = [];
        for (let i = 0; i < 5; i++) {
            theirs.push(await dockerRunSeconds());
            const started = process.hrtime.bigint();
            const name = submitJob(ws, dir, `one-${i}.yml`, yaml("touch ${{outputs.m}}/ran; sleep 2"));
            await untilMarked(ws, name);
            ours.push(seconds(started));
            await jobEnded(ws, name, 60_000);
            console.log(`round ${i + 1}/5: job ${ours[i].toFixed(2)}s, docker run ${theirs[i].toFixed(2)}s`);
        }

        // (1) the queue.
        const started = process.hrtime.bigint();
        const names: string[] = [];
        for (let i = 0; i < count; i++) names.push(submitJob(ws, dir, `q-${i}.yml`, yaml("sleep 1")));
        const submitted = seconds(started);
        for (const n of names) await jobEnded(ws, n, 600_000);
        const total = seconds(started);
        const failed = names.filter((n) => showJob(ws, n).status !== "Completed");
        const ideal = count / 4;
        console.log("");
        console.log(
            `queue: ${count} one-second jobs on 2 cores (4 at once): ${total.toFixed(1)}s (submitting took ${submitted.toFixed(1)}s); ideal ${ideal.toFixed(1)}s; ratio ${(total / ideal).toFixed(2)}${failed.length ? `; NOT COMPLETED: ${failed.join(", ")}` : ""}`,
        );
        console.log(
            `one job, submission → running: median ${median(ours).toFixed(2)}s; docker run → running: median ${median(theirs).toFixed(2)}s; ratio ${(median(ours) / median(theirs)).toFixed(2)}`,
        );
        console.log("targets: queue ≤ 1.5× ideal; one job ≤ 2× docker run");
    } finally {
        await t.stack.destroy(collect(t)).catch(() => undefined);
        await t.dispose();
        await purgeWorkspace(ws);
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
