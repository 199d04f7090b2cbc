// Schedules and idle shutdown, enforced by the real workspace agent (a container on the real
// engine, checking every 2 s): a stop schedule stops the instance at its minute and a start
// schedule starts it again (the suite's one wait for a real cron minute; the other schedule tests
// move the agent's test clock instead); an idle instance is stopped and a busy one is not; a
// firing missed while the agent was down is caught up once; power changes never show in preview
// or refresh.
import { execFileSync } from "child_process";
import * as path from "path";
import {
    ROOT,
    TestStack,
    agentHasSeen,
    agentLog,
    collect,
    customSteps,
    docker,
    execIn,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    waitFor,
} from "../support/stacks";
import { DockerBackend } from "../../provider/backends/docker";
import { distantMinute, setAgentClock } from "../support/agentClock";

const SIZE = { cpus: 0.5, memoryGb: 1 };
const engine = new DockerBackend("unix:///var/run/docker.sock");

const running = async (container: string) => (await docker.getContainer(container).inspect()).State.Running;

/** A cron for the UTC minute at least `leadSeconds` from now, and that minute as a Date. */
function minuteAhead(leadSeconds: number, plusMinutes = 0): { cron: string; at: Date } {
    const at = new Date(Math.ceil((Date.now() + leadSeconds * 1000) / 60_000) * 60_000 + plusMinutes * 60_000);
    return { cron: `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`, at };
}

async function quiet(t: TestStack): Promise<void> {
    const r = await t.stack.refresh(collect(t));
    expect(Object.keys(r.summary.resourceChanges ?? {}).filter((k) => k !== "same")).toEqual([]);
    const p = await t.stack.preview(collect(t));
    expect(Object.keys(p.changeSummary).filter((k) => k !== "same")).toEqual([]);
}

describe("schedules and idle shutdown on Docker", () => {
    const ws = uniqueWorkspace("sch");
    let t: TestStack;
    const instances: Record<string, unknown> = {
        alice: { size: SIZE },
        bob: { size: SIZE, idleShutdown: { after: "1m" } },
        carol: { size: SIZE, idleShutdown: { after: "PT1M" } },
    };
    const base = { workspaceName: ws, agentCheckInterval: "2s" };
    let urls: Record<string, { origin: string; token: string }> = {};

    const jupyter = async (name: string, path: string, method = "GET") => {
        const u = urls[name];
        const res = await fetch(`${u.origin}${path}`, { method, headers: { Authorization: `token ${u.token}` } });
        return res.json() as Promise<Record<string, unknown> & { id?: string }>;
    };

    beforeAll(async () => {
        t = await programStack("instance", { ...base, instances });
        await t.stack.up(collect(t));
        const out = (await t.stack.outputs()).out.value as Record<
            string,
            { endpoints: { jupyterLab: string }; token: string }
        >;
        urls = Object.fromEntries(
            Object.entries(out).map(([k, v]) => [
                k,
                { origin: new URL(v.endpoints.jupyterLab).origin, token: v.token },
            ]),
        );
        // bob: a kernel open and idle. carol: a kernel running a long cell.
        await jupyter("bob", "/api/kernels", "POST");
        const kernel = await jupyter("carol", "/api/kernels", "POST");
        const script = [
            "import sys, time",
            "from jupyter_client import BlockingKernelClient",
            `kc = BlockingKernelClient(connection_file="/home/azureuser/.local/share/jupyter/runtime/kernel-${kernel.id}.json")`,
            "kc.load_connection_file(); kc.start_channels()",
            // A kernel still starting (slow on a loaded CI machine) would drop nothing, but the
            // server reports "starting" until it has seen a status: wait for the cell to run.
            "kc.wait_for_ready(timeout=120)",
            "cell = kc.execute('import time; time.sleep(240)')",
            "while True:",
            "    m = kc.get_iopub_msg(timeout=60)",
            "    if m['msg_type'] == 'status' and m['parent_header'].get('msg_id') == cell and m['content']['execution_state'] == 'busy': break",
            "kc.stop_channels()",
        ].join("\n");
        const r = await execIn(`ci-${ws}-carol`, ["python3", "-c", script]);
        expect(r.code).toBe(0);
        await waitFor("carol's server to report the kernel busy", 30_000, async () => {
            const kernels = (await jupyter("carol", "/api/kernels")) as unknown as { execution_state: string }[];
            return kernels.length === 1 && kernels[0].execution_state === "busy";
        });
    });

    afterAll(async () => {
        if (t) {
            await t.stack.destroy().catch(() => undefined);
            await t.dispose();
        }
        await purgeWorkspace(ws);
    });

    test("the agent runs as a container of the workspace, restarted automatically, with no capabilities", async () => {
        const info = await docker.getContainer(`ci-${ws}-agent`).inspect();
        expect(info.State.Running).toBe(true);
        expect(info.HostConfig.RestartPolicy?.Name).toBe("always");
        expect(info.HostConfig.CapDrop).toEqual(["ALL"]);
        expect(info.HostConfig.ReadonlyRootfs).toBe(true);
        expect(Object.keys(info.NetworkSettings.Networks)).toEqual([`ci-${ws}`]);
    });

    test("idle shutdown stops the instance with an idle kernel and not the one with a busy kernel", async () => {
        await waitFor("bob to be stopped for being idle", 150_000, async () => !(await running(`ci-${ws}-bob`)));
        expect(await running(`ci-${ws}-carol`)).toBe(true);
        const kernels = (await jupyter("carol", "/api/kernels")) as unknown as { execution_state: string }[];
        expect(kernels.map((k) => k.execution_state)).toEqual(["busy"]);
        // The agent logs the outcome once the stop is verified, a moment after the container is down.
        const outcomes = async () => (await agentLog(ws)).filter((e) => e.operation && e.status);
        const ops = await waitFor("the agent to log the outcome of bob's stop", 30_000, async () => {
            const o = await outcomes();
            return o.length > 0 && o;
        });
        expect(ops).toEqual([
            expect.objectContaining({
                instance: "bob",
                operation: "Stop",
                trigger: "IdleShutdown",
                status: "Succeeded",
            }),
        ]);
        // Still running a while after its own idle period would have ended.
        await new Promise((r) => setTimeout(r, 10_000));
        expect(await running(`ci-${ws}-carol`)).toBe(true);
        // A stop by the agent is runtime state: nothing to show, nothing for `up` to undo.
        await quiet(t);
    });

    test("a stop schedule stops the instance at its minute, a start schedule starts it again; home kept, /mnt wiped", async () => {
        await execIn(`ci-${ws}-alice`, ["sh", "-c", "echo kept > ~/home.txt && echo scratch > /mnt/scratch.txt"]);
        const stop = minuteAhead(25);
        const start = minuteAhead(25, 1);
        await t.setConfig({
            ...base,
            instances: {
                ...instances,
                alice: {
                    size: SIZE,
                    schedules: [
                        { action: "stop", cron: stop.cron },
                        { action: "start", cron: start.cron },
                    ],
                },
            },
        });
        await t.stack.up(collect(t));
        const out = (await t.stack.outputs()).out.value as Record<
            string,
            { schedules: { name: string; action: string; nextFirings: { utc: string; local: string }[] }[] }
        >;
        expect(out.alice.schedules.map((s) => [s.name, s.action, s.nextFirings[0].utc])).toEqual([
            ["0", "stop", stop.at.toISOString()],
            ["1", "start", start.at.toISOString()],
        ]);
        expect(out.alice.schedules[0].nextFirings[0].local).toBe(
            `${stop.at.toISOString().slice(0, 16).replace("T", " ")} (UTC)`,
        );

        expect(await running(`ci-${ws}-alice`)).toBe(true);
        await waitFor(
            "the stop schedule to fire",
            stop.at.getTime() - Date.now() + 30_000,
            async () => !(await running(`ci-${ws}-alice`)),
        );
        expect(Date.now()).toBeGreaterThanOrEqual(stop.at.getTime());
        await quiet(t);

        await waitFor("the start schedule to fire", start.at.getTime() - Date.now() + 60_000, async () =>
            running(`ci-${ws}-alice`),
        );
        expect(Date.now()).toBeGreaterThanOrEqual(start.at.getTime());
        // The agent starts it, waits for Jupyter to answer, then logs the start as done.
        const ops = async () =>
            (await agentLog(ws))
                .filter((e) => e.instance === "alice" && e.status)
                .map((e) => [e.operation, e.trigger, e.status]);
        await waitFor("the start to be logged", 60_000, async () => (await ops()).length === 2);
        expect(await ops()).toEqual([
            ["Stop", "Schedule", "Succeeded"],
            ["Start", "Schedule", "Succeeded"],
        ]);
        expect(
            (
                await fetch(`${urls.alice.origin}/api/status`, {
                    headers: { Authorization: `token ${urls.alice.token}` },
                })
            ).status,
        ).toBe(200);
        expect((await execIn(`ci-${ws}-alice`, ["cat", "/home/azureuser/home.txt"])).output).toBe("kept\n");
        expect((await execIn(`ci-${ws}-alice`, ["ls", "-A", "/mnt"])).output).toBe("");
    });

    test("changing a schedule is an update of that schedule alone: no restart", async () => {
        const uid = (await docker.getContainer(`ci-${ws}-alice`).inspect()).Id;
        await t.setConfig({
            ...base,
            instances: {
                ...instances,
                alice: {
                    size: SIZE,
                    schedules: [
                        { action: "stop", cron: "0 19 * * 1-5", timeZone: "Europe/Madrid" },
                        { action: "start", cron: "0 8 * * 1-5" },
                    ],
                },
            },
        });
        await t.stack.preview(collect(t));
        expect(customSteps(t)).toEqual({ "alice-schedule-0": "update", "alice-schedule-1": "update" });
        await t.stack.up(collect(t));
        expect((await docker.getContainer(`ci-${ws}-alice`).inspect()).Id).toBe(uid);
        expect(await running(`ci-${ws}-alice`)).toBe(true);
    });

    test("a firing missed while the agent was down is caught up once when it is back", async () => {
        const agent = docker.getContainer(`ci-${ws}-agent`);
        await agent.stop({ t: 5 });
        const stop = distantMinute();
        // Written while the agent is down: the store is on its volume, not in its process.
        await t.setConfig({
            ...base,
            instances: {
                ...instances,
                alice: { size: SIZE, schedules: [{ name: "evening", action: "stop", cron: stop.cron }] },
            },
        });
        await t.stack.up(collect(t));
        await agent.start();
        await agentHasSeen(ws, "alice", "evening");
        await agent.stop({ t: 5 });
        // The schedule's minute passes while the agent is down (its test clock: see the top).
        await setAgentClock(engine, ws, new Date(stop.at.getTime() + 5000));
        expect(await running(`ci-${ws}-alice`)).toBe(true); // nobody there to stop it
        await agent.start();
        await waitFor("the missed stop to be caught up", 30_000, async () => !(await running(`ci-${ws}-alice`)));
        await new Promise((r) => setTimeout(r, 6000)); // three more checks
        await setAgentClock(engine, ws, undefined);
        const stops = (await agentLog(ws)).filter(
            (e) =>
                e.instance === "alice" &&
                e.operation === "Stop" &&
                e.status === "Succeeded" &&
                String(e.reason).includes("evening"),
        );
        expect(stops).toHaveLength(1);
        expect(String(stops[0].reason)).toContain(stop.at.toISOString());
    });

    test("a stop by hand is logged by the agent with trigger User, and status tells it", async () => {
        const cli = (args: string[]) =>
            execFileSync("node", [path.join(ROOT, "bin/cli/main.js"), ...args, "--workspace", ws], {
                encoding: "utf8",
                stdio: ["ignore", "pipe", "pipe"],
            });
        cli(["stop", "carol"]);
        await waitFor("the agent to log the stop by hand", 20_000, async () =>
            (await agentLog(ws)).some(
                (e) =>
                    e.instance === "carol" &&
                    e.trigger === "User" &&
                    e.operation === "Stop" &&
                    e.status === "Succeeded",
            ),
        );
        expect(cli(["status", "carol"])).toMatch(
            /^carol\tStopped\t.*\nlast operation: Stop by User at \S+: Succeeded \(compute-instance CLI\)\n$/,
        );
    });

    test("the agent removed out of band: refresh drops it and the policies, up makes them again", async () => {
        await docker.getContainer(`ci-${ws}-agent`).remove({ force: true });
        const r = await t.stack.refresh(collect(t));
        expect(r.summary.resourceChanges?.delete).toBe(4); // the agent, alice's schedule, bob's and carol's idle shutdowns
        await t.stack.up(collect(t));
        expect((await docker.getContainer(`ci-${ws}-agent`).inspect()).State.Running).toBe(true);
        // Removed policies stay as `null` files (an archive cannot delete): list the others.
        const live =
            'for f in /var/lib/compute-instance-agent/policies/*; do [ "$(cat "$f")" = null ] || basename "$f"; done';
        const files = (await execIn(`ci-${ws}-agent`, ["sh", "-c", live], "root")).output
            .split("\n")
            .filter(Boolean)
            .sort();
        // (and the record of the stop by hand above, which is history, not a policy; every
        // workspace's egress rule, declared or not, keeps its copy there too)
        expect(files).toEqual([
            "idle.bob.json",
            "idle.carol.json",
            "network.egress.json",
            "operation.carol.json",
            "schedule.alice.evening.json",
        ]);
        await quiet(t);
    });
});
