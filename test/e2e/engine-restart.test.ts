// The workspace agent survives an engine restart and catches up, once, on the firing it missed
// while the engine was down; the job queue loses no job and runs none twice (the job running when
// the engine stopped is Failed as interrupted, the queued ones run once each). The engine is really stopped and started again, so this runs only
// where scripts/lib/docker-engine.sh started dockerd itself (as on CI and on these machines);
// elsewhere (Docker Desktop, a systemd engine) it says so and does nothing.
// @lane exclusive: it restarts dockerd under every other suite (scripts/lib/test-lanes.js runs it alone).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    ROOT,
    TestStack,
    agentHasSeen,
    agentLog,
    collect,
    docker,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    waitFor,
} from "../support/stacks";
import { jobCli, jobEnded, showJob, submitJob } from "../support/jobs";
import { contextHash, workstationContextDir, workstationImageTag } from "../../provider/image/context";

function ownDockerd(): number | undefined {
    if (process.getuid?.() !== 0 || !fs.existsSync("/var/log/dockerd.log")) return undefined;
    try {
        return (
            Number(execFileSync("pgrep", ["-x", "dockerd"], { encoding: "utf8" }).trim().split("\n")[0]) || undefined
        );
    } catch {
        return undefined;
    }
}

const pid = ownDockerd();
const maybe = pid ? test : test.skip;
if (!pid) console.log("engine-restart: skipped, the Docker engine was not started by scripts/lib/docker-engine.sh");

async function engineAnswers(): Promise<boolean> {
    return docker.ping().then(
        () => true,
        () => false,
    );
}

describe("an engine restart", () => {
    const ws = uniqueWorkspace("rst");
    let t: TestStack | undefined;

    afterAll(async () => {
        if (!(await engineAnswers()))
            execFileSync(path.join(ROOT, "scripts/lib/docker-engine.sh"), { stdio: "ignore" });
        if (t) {
            await t.stack.destroy().catch(() => undefined);
            await t.dispose();
        }
        await purgeWorkspace(ws);
    });

    maybe(
        "brings the agent back, and it stops the instance whose stop firing passed while the engine was down, once",
        async () => {
            const at = new Date(Math.ceil((Date.now() + 50_000) / 60_000) * 60_000);
            t = await programStack("instance", {
                workspaceName: ws,
                agentCheckInterval: "2s",
                instances: {
                    alice: {
                        size: { cpus: 0.5, memoryGb: 1 },
                        schedules: [
                            {
                                name: "evening",
                                action: "stop",
                                cron: `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`,
                            },
                        ],
                    },
                    // A custom application in its own container, in bob's network namespace.
                    bob: {
                        size: { cpus: 0.5, memoryGb: 1 },
                        customApplications: [
                            {
                                name: "beside",
                                port: 9200,
                                image: workstationImageTag(contextHash(workstationContextDir())),
                                command:
                                    'mkdir -p /tmp/s && echo served-beside > /tmp/s/index.html && exec python3 -m http.server "$PORT" --directory /tmp/s',
                            },
                        ],
                    },
                },
            });
            await t.stack.up(collect(t));
            await agentHasSeen(ws, "alice", "evening");
            // bob (half a core: one job at a time) runs one job and queues two.
            const jobDir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-rst-jobs-"));
            const job = (file: string, command: string) =>
                submitJob(
                    ws,
                    jobDir,
                    file,
                    `command: ${JSON.stringify(command)}\nenvironment:\n  image: ${workstationImageTag(contextHash(workstationContextDir()))}\ncompute: bob\noutputs:\n  runs:\n`,
                );
            const runs = (o: string) => `echo run >> \${{outputs.runs}}/count; ${o}`;
            const jobs = [job("a.yml", runs("sleep 600")), job("b.yml", runs("true")), job("c.yml", runs("true"))];
            await waitFor("the first job to run", 30_000, async () => showJob(ws, jobs[0]).status === "Running");
            expect(jobs.slice(1).map((n) => showJob(ws, n).status)).toEqual(["Queued", "Queued"]);

            process.kill(pid as number, "SIGTERM");
            for (let i = 0; i < 60 && (await engineAnswers()); i++) await new Promise((r) => setTimeout(r, 500));
            expect(await engineAnswers()).toBe(false);
            await new Promise((r) => setTimeout(r, Math.max(0, at.getTime() - Date.now()) + 5000));
            execFileSync(path.join(ROOT, "scripts/lib/docker-engine.sh"), { stdio: "ignore" });

            // The instance (running when the engine stopped) and the agent both come back; the agent stops it.
            const deadline = Date.now() + 60_000;
            let log: Record<string, unknown>[];
            for (;;) {
                log = await agentLog(ws);
                if (log.some((e) => e.status)) break;
                if (Date.now() > deadline)
                    throw new Error(
                        `no operation 60s after the engine came back; agent log:\n${JSON.stringify(log, null, 1)}`,
                    );
                await new Promise((r) => setTimeout(r, 1000));
            }
            await new Promise((r) => setTimeout(r, 6000));
            expect((await docker.getContainer(`ci-${ws}-alice`).inspect()).State.Running).toBe(false);
            expect((await docker.getContainer(`ci-${ws}-agent`).inspect()).State.Running).toBe(true);
            const stops = log.filter((e) => e.operation === "Stop" && e.status === "Succeeded");
            expect(stops).toEqual([
                expect.objectContaining({
                    instance: "alice",
                    trigger: "Schedule",
                    reason: `schedule "evening" fired at ${at.toISOString()}`,
                }),
            ]);

            // bob's application, whose container the engine may have started before bob's: in bob's
            // network again (the agent restarts it into it), answering through bob's Jupyter.
            const bob = (
                (await t.stack.outputs()).out.value as Record<
                    string,
                    { endpoints: Record<string, string>; token: string }
                >
            ).bob;
            let body = "";
            for (let i = 0; i < 60 && body !== "served-beside\n"; i++) {
                body = await fetch(bob.endpoints.beside, { headers: { Authorization: `token ${bob.token}` } })
                    .then((r) => r.text())
                    .catch(() => "");
                if (body !== "served-beside\n") await new Promise((r) => setTimeout(r, 1000));
            }
            expect(body).toBe("served-beside\n");

            // The queue: none lost, none run twice.
            const after = [];
            for (const n of jobs) after.push(await jobEnded(ws, n, 120_000));
            expect(after[0]).toMatchObject({ status: "Failed", reason: expect.stringMatching(/^interrupted/) });
            expect(after.slice(1).map((s) => s.status)).toEqual(["Completed", "Completed"]);
            for (const n of jobs) {
                expect(jobCli(ws, ["job", "download", n, "--to", jobDir]).code).toBe(0);
                expect(fs.readFileSync(path.join(jobDir, n, "outputs/runs/count"), "utf8")).toBe("run\n");
            }
            fs.rmSync(jobDir, { recursive: true, force: true });
        },
    );
});
