// Jobs on the real engine, submitted with the real CLI from Azure ML command-job files and run by
// the real workspace agent (checking every 2 s, woken at each submission): two per core at once,
// the rest queued in order; code, inputs and outputs through the user files; cancel, timeout;
// an instance stopped cancels its running jobs and keeps its queued ones; a running job keeps
// its instance from idling; a distributed job's ranks; bad files refused at submission.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { DockerBackend } from "../../provider/backends/docker";
import { contextHash, workstationContextDir, workstationImageTag } from "../../provider/image/context";
import { setAgentClock } from "../support/agentClock";
import { agentLogTail, jobCli, jobEnded, showJob, submitJob } from "../support/jobs";
import {
    ROOT,
    TestStack,
    collect,
    docker,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    waitFor,
} from "../support/stacks";

const ws = uniqueWorkspace("job");
const image = workstationImageTag(contextHash(workstationContextDir()));
const small = { size: { cpus: 1, memoryGb: 2 }, osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 }, readyTimeout: "5m" };
const engine = new DockerBackend("unix:///var/run/docker.sock");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-jobs-"));
let t: TestStack;

const cli = (args: string[]) => jobCli(ws, args);
const submit = (file: string, yaml: string, extra: string[] = []) => submitJob(ws, dir, file, yaml, extra);
const show = (name: string) => showJob(ws, name);
const ended = (name: string, timeoutMs?: number) => jobEnded(ws, name, timeoutMs);

const sleepJob = (seconds: number, own = "", compute = "alice") =>
    `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: sleep ${seconds}
environment:
  image: ${image}
compute: azureml:${compute}
${own}`;

beforeAll(async () => {
    t = await programStack("instance", {
        workspaceName: ws,
        agentCheckInterval: "2s",
        // bob idles for good only by the agent's test clock (see its test).
        instances: { alice: small, bob: { ...small, idleShutdown: { after: "30m" } } },
    });
    await t.stack.up(collect(t));
});

afterAll(async () => {
    await t?.stack.destroy(collect(t)).catch(() => undefined);
    await purgeWorkspace(ws);
    fs.rmSync(dir, { recursive: true, force: true });
});

describe("jobs on Docker", () => {
    test("six jobs on a 1-vCPU instance: never more than two at once, all Completed, started in submission order", async () => {
        const yaml = `command: |
  date +%s%N > \${{outputs.times}}/start
  sleep 3
  date +%s%N > \${{outputs.times}}/end
environment:
  image: ${image}
outputs:
  times:
`;
        const names = Array.from({ length: 6 }, (_, i) => submit(`six-${i}.yml`, yaml, ["--compute", "alice"]));
        const shown = [];
        for (const n of names) shown.push(await ended(n, 120_000));
        expect(shown.map((s) => s.status)).toEqual(Array(6).fill("Completed"));
        // The jobs' own clocks, from their outputs: at most two ran at any instant.
        const spans = names.map((n) => {
            const d = path.join(dir, "six", n);
            expect(cli(["job", "download", n, "--to", path.join(dir, "six")]).code).toBe(0);
            const read = (f: string) =>
                Number(BigInt(fs.readFileSync(path.join(d, "outputs/times", f), "utf8").trim()) / 1_000_000n);
            return { start: read("start"), end: read("end") };
        });
        const atOnce = Math.max(...spans.map((s) => spans.filter((o) => o.start <= s.start && s.start < o.end).length));
        expect(atOnce).toBe(2);
        const starts = spans.map((s) => s.start);
        expect([...starts].sort((a, b) => a - b)).toEqual(starts);
        // Each ran in its own container, gone once it ended; its log stays in the user files.
        const left = await docker.listContainers({
            all: true,
            filters: { label: ["app.kubernetes.io/component=job"] },
        });
        expect(left.filter((c) => c.Names.some((n) => n.includes(`ci-${ws}-job-`)))).toEqual([]);
    });

    test("code uploaded, inputs (a literal, a local folder, a file in the user files) and outputs through the command's expressions", async () => {
        const code = path.join(dir, "src");
        const data = path.join(dir, "data");
        fs.mkdirSync(code, { recursive: true });
        fs.mkdirSync(data, { recursive: true });
        fs.writeFileSync(
            path.join(code, "train.sh"),
            'cat "$2"/rows.csv | wc -l > "$3"/rows; echo "lr=$1" > "$3"/params; pwd > "$3"/cwd; echo done training\n',
        );
        fs.writeFileSync(path.join(data, "rows.csv"), "a\nb\nc\n");
        const name = submit(
            "train.yml",
            `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
display_name: train
experiment_name: jobs-e2e
code: ./src
command: >-
  sh train.sh \${{inputs.learning_rate}} \${{inputs.training_data}} \${{outputs.model}}
inputs:
  learning_rate: 0.01
  training_data:
    type: uri_folder
    path: ./data
outputs:
  model:
    type: uri_folder
environment:
  image: ${image}
environment_variables:
  PYTHONUNBUFFERED: "1"
tags:
  team: vision
compute: azureml:alice
`,
        );
        const s = await ended(name);
        expect(s).toMatchObject({ status: "Completed", exitCode: 0 });
        expect(cli(["job", "download", name, "--to", path.join(dir, "dl")]).code).toBe(0);
        const got = path.join(dir, "dl", name);
        expect(fs.readFileSync(path.join(got, "outputs/model/rows"), "utf8").trim()).toBe("3");
        expect(fs.readFileSync(path.join(got, "outputs/model/params"), "utf8").trim()).toBe("lr=0.01");
        expect(fs.readFileSync(path.join(got, "outputs/model/cwd"), "utf8").trim()).toBe(
            `/home/azureuser/cloudfiles/code/jobs/${name}/code`,
        );
        expect(fs.readFileSync(path.join(got, "logs/std_log.txt"), "utf8")).toBe("done training\n");
        // `job stream` of an ended job prints its log and exits 0 for Completed.
        const streamed = cli(["job", "stream", name]);
        expect(streamed).toMatchObject({ code: 0, out: "done training\n" });
        const listed = JSON.parse(cli(["job", "list", "--output", "json"]).out) as {
            name: string;
            displayName?: string;
        }[];
        expect(listed.find((j) => j.name === name)).toMatchObject({ displayName: "train", status: "Completed" });
    });

    test("a canceled queued job never starts; canceled running jobs are Canceled; a failing command is Failed with its code", async () => {
        const long = [submit("long-0.yml", sleepJob(120)), submit("long-1.yml", sleepJob(120))];
        await waitFor("both to run", 30_000, async () => long.every((n) => show(n).status === "Running"));
        const queued = submit("queued.yml", sleepJob(1));
        expect(show(queued).status).toBe("Queued");
        expect(cli(["job", "cancel", queued]).code).toBe(0);
        expect(await ended(queued, 30_000)).toMatchObject({ status: "Canceled", reason: "canceled before it started" });
        expect(show(queued).startedAt).toBeUndefined();
        for (const n of long) expect(cli(["job", "cancel", n]).code).toBe(0);
        for (const n of long)
            expect(await ended(n, 30_000)).toMatchObject({ status: "Canceled", reason: "canceled by the user" });
        const failing = submit("fail.yml", `command: exit 3\nenvironment:\n  image: ${image}\ncompute: alice\n`);
        expect(await ended(failing, 30_000)).toMatchObject({
            status: "Failed",
            exitCode: 3,
            reason: "exited with code 3",
        });
        expect(cli(["job", "stream", failing])).toMatchObject({
            code: 1,
            err: expect.stringContaining("Failed (exited with code 3)"),
        });
    });

    test("a job's timeout cancels it; an image not on the engine fails it with the reason", async () => {
        const slow = submit("timeout.yml", sleepJob(120, "limits:\n  timeout: 3\n"));
        expect(await ended(slow, 30_000)).toMatchObject({
            status: "Canceled",
            reason: "timed out after 3s (limits.timeout)",
        });
        const missing = submit(
            "missing.yml",
            `command: "true"\nenvironment:\n  image: ci-no-such-image:1\ncompute: alice\n`,
        );
        expect(await ended(missing, 30_000)).toMatchObject({
            status: "Failed",
            reason: expect.stringContaining("image ci-no-such-image:1 is not on the Docker engine"),
        });
    });

    test("stopping the instance cancels its running jobs and keeps its queued ones, which run after the next start", async () => {
        const running = [submit("stop-0.yml", sleepJob(120)), submit("stop-1.yml", sleepJob(120))];
        await waitFor("both to run", 30_000, async () => running.every((n) => show(n).status === "Running"));
        const waiting = submit("stop-2.yml", sleepJob(1));
        execFileSync("node", [path.join(ROOT, "bin/cli/main.js"), "stop", "alice", "--workspace", ws]);
        for (const n of running)
            expect(await ended(n, 30_000)).toMatchObject({ status: "Canceled", reason: "its instance stopped" });
        expect(show(waiting).status).toBe("Queued");
        execFileSync("node", [path.join(ROOT, "bin/cli/main.js"), "start", "alice", "--workspace", ws]);
        expect(await ended(waiting, 60_000)).toMatchObject({ status: "Completed" });
    });

    test("a running job keeps its instance from idling; once it ends, idle shutdown stops it", async () => {
        const job = submit("busy.yml", sleepJob(15, "", "bob"));
        await waitFor("the job to run", 30_000, async () => show(job).status === "Running");
        // Two hours later by the agent's clock: bob would be long idle but for its job.
        await setAgentClock(engine, ws, new Date(Date.now() + 2 * 3600_000));
        try {
            await new Promise((r) => setTimeout(r, 6000));
            expect((await docker.getContainer(`ci-${ws}-bob`).inspect()).State.Running).toBe(true);
            expect(await ended(job, 60_000)).toMatchObject({ status: "Completed" });
            // An hour on from the job's last check: past the 30 minutes of quiet.
            await setAgentClock(engine, ws, new Date(Date.now() + 3 * 3600_000));
            await waitFor(
                "bob to be stopped for being idle",
                60_000,
                async () => !(await docker.getContainer(`ci-${ws}-bob`).inspect()).State.Running,
                () => agentLogTail(ws),
            );
        } finally {
            await setAgentClock(engine, ws, undefined);
        }
    });

    test("a distributed job runs its ranks with torchrun's environment, each with its own log", async () => {
        const name = submit(
            "dist.yml",
            `command: echo "$RANK $LOCAL_RANK $WORLD_SIZE $MASTER_ADDR $MASTER_PORT" > \${{outputs.ranks}}/rank_$RANK
environment:
  image: ${image}
outputs:
  ranks:
distribution:
  type: pytorch
  process_count_per_instance: 2
compute: alice
`,
        );
        expect(await ended(name)).toMatchObject({ status: "Completed" });
        expect(cli(["job", "download", name, "--to", path.join(dir, "dist")]).code).toBe(0);
        const got = path.join(dir, "dist", name);
        expect(fs.readFileSync(path.join(got, "outputs/ranks/rank_0"), "utf8").trim()).toBe("0 0 2 127.0.0.1 29500");
        expect(fs.readFileSync(path.join(got, "outputs/ranks/rank_1"), "utf8").trim()).toBe("1 1 2 127.0.0.1 29500");
        expect(fs.readdirSync(path.join(got, "logs")).sort()).toEqual([
            "std_log_process_0.txt",
            "std_log_process_1.txt",
        ]);
    });

    test("a bad key, a missing code folder and a registered environment are refused at submission, naming the field", () => {
        const p = path.join(dir, "bad.yml");
        fs.writeFileSync(
            p,
            `command: "true"\ncode: ./nowhere\nenvironment: azureml:AzureML-sklearn-1.5:1\nresources:\n  gpu_count: 1\ncompute: alice\n`,
        );
        const r = cli(["job", "create", "--file", p]);
        expect(r.code).toBe(1);
        expect(r.err).toMatch(/\[code\] .*nowhere/);
        expect(r.err).toMatch(/\[environment\] .*image/);
        expect(r.err).toMatch(/\[resources\.gpu_count\]/);
        const listed = JSON.parse(cli(["job", "list", "--output", "json"]).out) as { name: string }[];
        expect(listed.some((j) => j.name.startsWith("bad"))).toBe(false);
    });
});
