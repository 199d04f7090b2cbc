// The life of one instance on the real Docker engine, through the real Pulumi CLI:
// up → the UIs answer with the token only → live memory change → refresh is quiet →
// container deleted out of band → refresh + up recreate it (home kept, /mnt wiped) → destroy
// leaves only the user files.
import * as fs from "fs";
import { launchBrowser } from "../support/browser";
import {
    TestStack,
    collect,
    customSteps,
    docker,
    execIn,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    workspaceObjects,
} from "../support/stacks";

const GiB = 1024 ** 3;
const ws = uniqueWorkspace();
const container = `ci-${ws}-alice`;
let t: TestStack;

interface InstanceOut {
    instanceId: string;
    status: string;
    endpoints: { jupyterLab: string; jupyter: string };
    token: string;
    cpus: number;
    memoryGb: number;
    osDiskVolume: string;
    tempDiskVolume: string;
}

async function instanceOut(): Promise<InstanceOut> {
    const outs = await t.stack.outputs();
    return (outs.out.value as Record<string, InstanceOut>).alice;
}

const config = (memoryGb: number, tempDiskGb = 8) => ({
    workspaceName: ws,
    instances: { alice: { size: { cpus: 1, memoryGb }, tempDisk: { sizeGb: tempDiskGb }, readyTimeout: "3m" } },
});

beforeAll(async () => {
    t = await programStack("instance", config(2));
});

afterAll(async () => {
    if (t) {
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    await purgeWorkspace(ws);
});

describe("a compute instance on the local Docker engine", () => {
    let first: InstanceOut;
    let firstContainerId: string;

    test("pulumi up creates it and waits until JupyterLab answers, showing progress", async () => {
        const r = await t.stack.up(collect(t));
        expect(r.summary.result).toBe("succeeded");
        first = await instanceOut();
        expect(first.instanceId).toBe(`${ws}/alice`);
        expect(first.status).toBe("Running");
        expect(first.endpoints.jupyterLab).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/lab$/);
        expect(first.endpoints.jupyter).toBe(first.endpoints.jupyterLab.replace("/lab", "/tree"));
        expect(first.token).toMatch(/^[0-9a-f]{64}$/);
        expect(t.log.join("")).toMatch(/ready in \d+\.\d+s/);
        const info = await docker.getContainer(container).inspect();
        firstContainerId = info.Id;
        expect(info.HostConfig.NanoCpus).toBe(1e9);
        expect(info.HostConfig.Memory).toBe(2 * GiB);
        expect(info.HostConfig.PortBindings?.["8888/tcp"]?.[0]?.HostIp).toBe("127.0.0.1");
        // The applications run as the instance user with no capabilities at all.
        const ps = await execIn(container, [
            "sh",
            "-c",
            "for p in $(pgrep -x jupyter-server); do echo $(stat -c %U /proc/$p) $(grep CapEff /proc/$p/status | cut -f2); done",
        ]);
        expect(ps.output).toBe("azureuser 0000000000000000\n");
    });

    test("JupyterLab answers 200 with the token; without it pages go to the login form and the API says 403", async () => {
        const lab = await fetch(`${first.endpoints.jupyterLab}?token=${first.token}`);
        expect(lab.status).toBe(200);
        expect(await lab.text()).toContain("JupyterLab");
        const tree = await fetch(`${first.endpoints.jupyter}?token=${first.token}`);
        expect(tree.status).toBe(200);

        const noToken = await fetch(first.endpoints.jupyterLab, { redirect: "manual" });
        expect(noToken.status).toBe(302);
        expect(noToken.headers.get("location")).toContain("/login");
        const api = new URL("/api/status", first.endpoints.jupyterLab).toString();
        expect((await fetch(api)).status).toBe(403);
        expect((await fetch(api, { headers: { Authorization: "token wrong" } })).status).toBe(403);
        expect((await fetch(api, { headers: { Authorization: `token ${first.token}` } })).status).toBe(200);
    });

    test("JupyterLab loads in a browser through endpoints.jupyterLab and shows the launcher", async () => {
        const browser = await launchBrowser();
        try {
            const page = await browser.newPage();
            await page.goto(`${first.endpoints.jupyterLab}?token=${first.token}`);
            // The launcher offers a Python 3 notebook and a terminal: the frontend and its WebSocket-backed services are up.
            const launcher = page.locator(".jp-Launcher");
            await launcher.waitFor({ state: "visible", timeout: 60_000 });
            await page.locator('.jp-LauncherCard[data-category="Notebook"]').first().waitFor({ timeout: 30_000 });
            await page
                .locator(
                    '.jp-LauncherCard[data-category="Other"][title*="erminal"], .jp-LauncherCard[title*="erminal"]',
                )
                .first()
                .waitFor({ timeout: 30_000 });
            fs.mkdirSync("test/.artifacts", { recursive: true });
            await page.screenshot({ path: "test/.artifacts/jupyterlab-launcher.png" });
        } finally {
            await browser.close();
        }
    });

    test("the token is a secret: nowhere in plaintext in the state", async () => {
        const files = fs.readdirSync(t.stateDir, { recursive: true }) as string[];
        const text = files
            .map((f) => `${t.stateDir}/${f}`)
            .filter((f) => fs.statSync(f).isFile())
            .map((f) => fs.readFileSync(f, "utf8"))
            .join("\n");
        expect(text).toContain("ciphertext");
        expect(text).not.toContain(first.token);
    });

    test("files land on the right disks", async () => {
        const w = await execIn(container, [
            "sh",
            "-c",
            "echo home > ~/home.txt && echo scratch > /mnt/scratch.txt && echo shared > ~/cloudfiles/code/shared.txt && pwd",
        ]);
        expect(w).toEqual({ code: 0, output: "/home/azureuser\n" });
    });

    test("a memory change is applied live: same container, new limit, nothing else touched", async () => {
        await t.setConfig(config(3));
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-runtime": "update" });
        const info = await docker.getContainer(container).inspect();
        expect(info.Id).toBe(firstContainerId);
        expect(info.HostConfig.Memory).toBe(3 * GiB);
        expect(info.HostConfig.MemorySwap).toBe(3 * GiB);
        expect((await instanceOut()).memoryGb).toBe(3);
        // Live means live: even the scratch disk keeps its files.
        expect((await execIn(container, ["cat", "/mnt/scratch.txt"])).output).toBe("scratch\n");
    });

    test("a preview of a temp disk resize shows updates in place, no replacement, and says so", async () => {
        await t.setConfig(config(3, 12));
        try {
            await t.stack.preview(collect(t));
            // The runtime records the new size (on Docker a volume has no size to change).
            expect(customSteps(t)).toEqual({ "alice-temp-disk": "update", "alice-runtime": "update" });
            const said = t.log.join("");
            expect(said).toContain("alice: temp disk sizeGb 8 → 12, in place");
            expect(said).toContain("alice: applied live, no restart (tempDiskGb 8 → 12); all disks kept");
        } finally {
            await t.setConfig(config(3));
        }
    });

    test("refresh finds nothing to change", async () => {
        const r = await t.stack.refresh(collect(t));
        const changes = r.summary.resourceChanges ?? {};
        expect(Object.keys(changes).filter((k) => k !== "same")).toEqual([]);
        const preview = await t.stack.preview();
        expect(Object.keys(preview.changeSummary).filter((k) => k !== "same")).toEqual([]);
    });

    test("a container deleted out of band: refresh drops it, up recreates it with the same disks", async () => {
        await docker.getContainer(container).remove({ force: true });
        const refreshed = await t.stack.refresh(collect(t));
        expect(refreshed.summary.resourceChanges).toMatchObject({ delete: 1 });

        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-runtime": "create" });
        const again = await instanceOut();
        const info = await docker.getContainer(container).inspect();
        expect(info.Id).not.toBe(firstContainerId);
        expect(info.HostConfig.Memory).toBe(3 * GiB);
        expect(again.osDiskVolume).toBe(first.osDiskVolume);
        // The same URL answers again: the port is kept across re-creation.
        expect(again.endpoints.jupyterLab).toBe(first.endpoints.jupyterLab);
        expect((await fetch(`${again.endpoints.jupyterLab}?token=${again.token}`)).status).toBe(200);
        // OS disk and user files kept; the temp disk is scratch, wiped at every start.
        expect((await execIn(container, ["cat", "/home/azureuser/home.txt"])).output).toBe("home\n");
        expect((await execIn(container, ["cat", "/home/azureuser/cloudfiles/code/shared.txt"])).output).toBe(
            "shared\n",
        );
        expect((await execIn(container, ["ls", "-A", "/mnt"])).output).toBe("");
    });

    test("destroy removes the instance and its disks and keeps the user files", async () => {
        const before = await workspaceObjects(ws);
        // OS disk, temp disk, user files, this stack's record as their user, and the workspace agent's store.
        expect(before.volumes).toHaveLength(5);
        expect(before.volumes).toContain(`ci-${ws}-agent`);
        expect(before.volumes.filter((v) => v.startsWith(`ci-${ws}-userfiles-ref-`))).toHaveLength(1);
        await t.stack.destroy(collect(t));
        const after = await workspaceObjects(ws);
        expect(after).toEqual({ containers: [], volumes: [`ci-${ws}-userfiles`], networks: [] });
    });

    test("the workspace declared again gets its user files back; with retainOnDelete false, destroy removes them", async () => {
        await t.setConfig({ ...config(2), retainUserFiles: false });
        await t.stack.up(collect(t));
        expect((await execIn(container, ["cat", "/home/azureuser/cloudfiles/code/shared.txt"])).output).toBe(
            "shared\n",
        );
        // A new OS disk: home starts over.
        expect((await execIn(container, ["ls", "/home/azureuser/home.txt"])).code).not.toBe(0);
        await t.stack.destroy(collect(t));
        expect(await workspaceObjects(ws)).toEqual({ containers: [], volumes: [], networks: [] });
    });
});
