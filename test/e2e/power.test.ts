// Start and stop by hand (`compute-instance start|stop|restart|status`), on the real engine and
// cluster: stopping keeps the OS disk and the user files, the temp disk is wiped by the next
// start, and power state is runtime state: refresh, preview and up never show or undo it.
import { execFileSync, spawnSync } from "child_process";
import * as path from "path";
import { testKubeconfig } from "../support/backends";
import { kubectl, simulatedNamespace, tearDownOnCluster } from "../support/cluster";
import {
    ROOT,
    TestStack,
    collect,
    docker,
    execIn,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
} from "../support/stacks";

const cli = (args: string[]) =>
    execFileSync("node", [path.join(ROOT, "bin/cli/main.js"), ...args], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
    });

async function quiet(t: TestStack): Promise<void> {
    const r = await t.stack.refresh(collect(t));
    expect(Object.keys(r.summary.resourceChanges ?? {}).filter((k) => k !== "same")).toEqual([]);
    const p = await t.stack.preview();
    expect(Object.keys(p.changeSummary).filter((k) => k !== "same")).toEqual([]);
}

describe("power on Docker", () => {
    const ws = uniqueWorkspace("pwr");
    const container = `ci-${ws}-alice`;
    let t: TestStack;
    let lab = "";
    let token = "";

    beforeAll(async () => {
        t = await programStack("instance", {
            workspaceName: ws,
            instances: { alice: { size: { cpus: 1, memoryGb: 2 } } },
        });
        await t.stack.up(collect(t));
        const out = (
            (await t.stack.outputs()).out.value as Record<string, { endpoints: { jupyterLab: string }; token: string }>
        ).alice;
        lab = out.endpoints.jupyterLab;
        token = out.token;
    });

    afterAll(async () => {
        if (t) {
            await t.stack.destroy().catch(() => undefined);
            await t.dispose();
        }
        await purgeWorkspace(ws);
    });

    test("stop keeps the disks; refresh, preview and up leave it stopped and show nothing", async () => {
        await execIn(container, ["sh", "-c", "echo kept > ~/home.txt && echo scratch > /mnt/scratch.txt"]);
        expect(cli(["stop", "alice", "--workspace", ws])).toMatch(/^alice\tStopped\t/);
        expect((await docker.getContainer(container).inspect()).State.Running).toBe(false);
        await quiet(t);
        await t.stack.up(collect(t));
        expect((await docker.getContainer(container).inspect()).State.Running).toBe(false);
        expect(cli(["status", "alice", "--workspace", ws])).toMatch(/^alice\tStopped\t/);
    });

    test("start brings it back at the same URL, home kept and /mnt wiped", async () => {
        expect(cli(["start", "alice", "--workspace", ws])).toMatch(/^alice\tRunning\tcpus=1 memoryGb=2\tjupyter:\d+/);
        expect((await fetch(`${lab}?token=${token}`)).status).toBe(200);
        expect((await execIn(container, ["cat", "/home/azureuser/home.txt"])).output).toBe("kept\n");
        expect((await execIn(container, ["ls", "-A", "/mnt"])).output).toBe("");
        await quiet(t);
    });

    test("restart, and clear errors for an unknown instance", async () => {
        expect(cli(["restart", "alice", "--workspace", ws])).toMatch(/^alice\tRunning/);
        expect(() => cli(["status", "bob", "--workspace", ws])).toThrow(/no instance "bob" in workspace/);
    });

    test("the CLI: JSON for scripts, help per command, and exit codes that tell a failure from a mistake", async () => {
        const status = JSON.parse(cli(["status", "alice", "--workspace", ws, "--output", "json"]));
        expect(status).toMatchObject({
            instance: "alice",
            status: "Running",
            cpus: 1,
            memoryGb: 2,
            id: `ci-${ws}-alice`,
            ports: { jupyter: expect.any(Number) },
        });
        expect(status.lastOperation).toMatchObject({ operation: "Restart", trigger: "User", status: "Succeeded" });
        expect(JSON.parse(cli(["list", "--workspace", ws, "-o", "json"]))).toEqual([
            expect.objectContaining({
                instance: "alice",
                status: "Running",
                owner: expect.stringMatching(/^e2e-instance\//),
            }),
        ]);
        expect(cli(["start", "--help"])).toContain("--timeout <duration>");
        const exit = (args: string[]) =>
            spawnSync("node", [path.join(ROOT, "bin/cli/main.js"), ...args], { encoding: "utf8" }).status;
        expect(exit(["status", "bob", "--workspace", ws])).toBe(1);
        expect(exit(["status", "alice"])).toBe(64);
        expect(exit(["status", "alice", "--workspace", ws, "--output", "yaml"])).toBe(64);
        expect(exit(["frobnicate"])).toBe(64);
        expect(exit([])).toBe(64);
    });
});

describe("power on Kubernetes", () => {
    const ws = uniqueWorkspace("kpwr");
    const namespace = `ci-${ws}`;
    let t: TestStack;
    const k = (cmd: string) =>
        cli([cmd, "alice", "--workspace", ws, "--namespace", namespace, "--kubeconfig", testKubeconfig()]);

    beforeAll(async () => {
        simulatedNamespace(namespace);
        t = await programStack("instance", {
            workspaceName: ws,
            image: "registry.example.com/ml/workstation:1",
            backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
            instances: { alice: { size: { cpus: 1, memoryGb: 2 } } },
        });
        await t.stack.up(collect(t));
    });

    afterAll(async () => {
        await tearDownOnCluster(t, namespace);
    });

    test("stop scales to zero and keeps the claims; nothing shows in refresh or preview; start brings the pod back", async () => {
        expect(k("stop")).toMatch(/^alice\tStopped\t/);
        expect(
            kubectl(["get", "statefulset", `ci-${ws}-alice`, "-n", namespace, "-o", "jsonpath={.spec.replicas}"]),
        ).toBe("0");
        expect(kubectl(["get", "pvc", "-n", namespace, "-o", "name"]).trim().split("\n")).toHaveLength(2);
        await quiet(t);
        expect(k("start")).toMatch(/^alice\tRunning\t/);
        expect(kubectl(["get", "pod", `ci-${ws}-alice-0`, "-n", namespace, "-o", "jsonpath={.status.phase}"])).toBe(
            "Running",
        );
        await quiet(t);
    });
});
