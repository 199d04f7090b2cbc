/**
 * bench/jobs: the job queue against its ideal and against `docker run`, in the same run.
 *   bench/run jobs [jobs=50]
 * (1) `jobs` one-second jobs on a 2-core instance (two per core: four at once). They are submitted
 *     while the instance is stopped (queued jobs wait for its start), so what is timed is the
 *     queue, not the submissions: from `compute-instance start` returning to the last job's end as
 *     the agent recorded it, against the ideal jobs / 4 seconds. The submissions are timed apart.
 * (2) The latency of one job on an idle instance, submission → its command running (its marker
 *     file seen in the user files' volume), against `docker run` of the same image → its command
 *     running, alternating, 5 rounds, medians.
 * Target: queue ≤ 1.5× the ideal; one job's latency ≤ 2× docker run's.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { contextHash, workstationContextDir, workstationImageTag } from "../provider/image/context";
import { jobCli, jobEnded, submitJob } from "../test/support/jobs";
import { ROOT, collect, docker, programStack, purgeWorkspace, uniqueWorkspace } from "../test/support/stacks";
import { median, seconds } from "./common";

const count = Number(process.argv[2] ?? 50);
const image = workstationImageTag(contextHash(workstationContextDir()));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-jobs-"));

/** Until the job's command has written its marker in the user files (it runs), read on the volume itself. */
async function untilMarked(userFiles: string, job: string): Promise<void> {
    const marker = path.join(userFiles, "jobs", job, "outputs", "m", "ran");
    while (!fs.existsSync(marker)) await new Promise((r) => setTimeout(r, 20));
}

async function dockerRunSeconds(): Promise<number> {
    const marker = path.join(dir, `marker-${Date.now()}`);
    fs.mkdirSync(marker);
    fs.chmodSync(marker, 0o777);
    const started = process.hrtime.bigint();
    // The job's wrapper replaces the image's entry point with sh, and so does this.
    execFileSync(
        "docker",
        ["run", "-d", "--rm", "--entrypoint", "sh", "-v", `${marker}:/m`, image, "-c", "touch /m/ran; sleep 2"],
        { stdio: "ignore" },
    );
    while (!fs.existsSync(path.join(marker, "ran"))) await new Promise((r) => setTimeout(r, 20));
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
        const userFiles = (await docker.getVolume(`ci-${ws}-userfiles`).inspect()).Mountpoint;
        const cli = (...args: string[]) =>
            execFileSync("node", [path.join(ROOT, "bin/cli/main.js"), ...args, "--workspace", ws], { stdio: "ignore" });
        const yaml = (command: string) =>
            `command: ${JSON.stringify(command)}\nenvironment:\n  image: ${image}\ncompute: alice\noutputs:\n  m:\n`;

        // (2) first, on an idle instance.
        const ours: number[] = [];
        const theirs: number[] = [];
        for (let i = 0; i < 5; i++) {
            theirs.push(await dockerRunSeconds());
            const started = process.hrtime.bigint();
            const name = submitJob(ws, dir, `one-${i}.yml`, yaml("touch ${{outputs.m}}/ran; sleep 2"));
            await untilMarked(userFiles, name);
            ours.push(seconds(started));
            await jobEnded(ws, name, 60_000);
            console.log(`round ${i + 1}/5: job ${ours[i].toFixed(2)}s, docker run ${theirs[i].toFixed(2)}s`);
        }

        // (1) the queue: submitted while the instance is stopped, run from its start.
        cli("stop", "alice");
        const submitting = process.hrtime.bigint();
        const names: string[] = [];
        for (let i = 0; i < count; i++) names.push(submitJob(ws, dir, `q-${i}.yml`, yaml("sleep 1")));
        const submitted = seconds(submitting);
        cli("start", "alice");
        const started = Date.now();
        let listed: { name: string; status: string; endedAt?: string }[] = [];
        for (const deadline = Date.now() + 600_000; Date.now() < deadline;) {
            listed = JSON.parse(jobCli(ws, ["job", "list", "--output", "json"]).out);
            const mine = listed.filter((j) => names.includes(j.name));
            if (mine.length === count && mine.every((j) => j.endedAt)) break;
            await new Promise((r) => setTimeout(r, 1000));
        }
        const ends = listed.filter((j) => names.includes(j.name) && j.endedAt).map((j) => Date.parse(j.endedAt ?? ""));
        const total = (Math.max(...ends) - started) / 1000;
        const failed = names.filter((n) => listed.find((j) => j.name === n)?.status !== "Completed");
        const ideal = count / 4;
        console.log("");
        console.log(
            `queue: ${count} one-second jobs on 2 cores (4 at once), start → last end: ${total.toFixed(1)}s (submitting them took ${submitted.toFixed(1)}s before); ideal ${ideal.toFixed(1)}s; ratio ${(total / ideal).toFixed(2)}${failed.length ? `; NOT COMPLETED: ${failed.join(", ")}` : ""}`,
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
