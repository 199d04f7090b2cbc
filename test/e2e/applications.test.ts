// Applications on the real engine, loaded for real (HTTP and headless Chromium): JupyterLab, the
// classic notebook, JupyterLab's terminal, VS Code in the browser (the default image's vscode
// variant), and custom applications — one run by a command in the instance, one from an image
// beside it. Each has an endpoint under the instance's token and is ready when `up` returns.
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import type { Page } from "playwright-core";
import { launchBrowser } from "../support/browser";
import {
    TestStack,
    collect,
    docker,
    execIn,
    failureOf,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
} from "../support/stacks";
import { contextHash, workstationContextDir, workstationImageTag } from "../../provider/image/context";

const ws = uniqueWorkspace("app");
const baseImage = workstationImageTag(contextHash(workstationContextDir()));
const small = { size: { cpus: 1, memoryGb: 2 }, osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 }, readyTimeout: "5m" };
const alice = {
    ...small,
    applications: ["jupyterlab", "jupyter", "terminal", "vscode"],
    customApplications: [
        {
            name: "served",
            port: 9100,
            command:
                'mkdir -p /tmp/served && echo served-by-command > /tmp/served/index.html && exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory /tmp/served',
        },
        {
            name: "beside",
            port: 9200,
            image: baseImage,
            command:
                'mkdir -p /tmp/s && echo served-beside > /tmp/s/index.html && exec python3 -m http.server "$PORT" --directory /tmp/s',
        },
    ],
};
const plain = { ...small, applications: ["jupyter"] };
let t: TestStack;
let out: Record<string, { endpoints: Record<string, string>; token: string }>;
const cli = (args: string[]) =>
    execFileSync("node", [path.join(__dirname, "../../bin/cli/main.js"), ...args], { encoding: "utf8" });
const get = (url: string, token?: string) =>
    fetch(url, { headers: token ? { Authorization: `token ${token}` } : {}, redirect: "manual" });
const text = async (url: string, token: string) =>
    (await fetch(url, { headers: { Authorization: `token ${token}` } })).text();

async function openPage(url: string, run: (page: Page) => Promise<void>): Promise<void> {
    const browser = await launchBrowser();
    try {
        const page = await browser.newPage();
        // Only the instance, on loopback.
        await page.route("**/*", (r) =>
            new URL(r.request().url()).hostname === "127.0.0.1" ? r.continue() : r.abort(),
        );
        await page.goto(url);
        await run(page);
    } finally {
        await browser.close();
    }
}

beforeAll(async () => {
    t = await programStack("instance", { workspaceName: ws, agentCheckInterval: "2s", instances: { alice, plain } });
    await t.stack.up(collect(t));
    out = (await t.stack.outputs()).out.value as typeof out;
});

afterAll(async () => {
    if (t) {
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    await purgeWorkspace(ws);
});

describe("applications", () => {
    test("every application has an endpoint, answers with the token once up returns, and refuses without it", async () => {
        const e = out.alice.endpoints;
        expect(Object.keys(e).sort()).toEqual(["beside", "jupyter", "jupyterLab", "served", "terminal", "vscode"]);
        expect(e.terminal).toMatch(/\/compute-instance\/new-terminal$/);
        expect(e.vscode).toMatch(/\/vscode\/$/);
        for (const url of Object.values(e)) {
            expect((await get(url, out.alice.token)).status).toBeLessThan(400);
            expect([302, 403]).toContain((await get(url)).status);
        }
        expect(await text(e.served, out.alice.token)).toBe("served-by-command\n");
        expect(await text(e.beside, out.alice.token)).toBe("served-beside\n");
        expect(out.plain.endpoints).toEqual({ jupyter: expect.stringMatching(/\/tree$/) });
        // No terminal listed, no terminals.
        expect(
            (await get(out.plain.endpoints.jupyter.replace(/\/tree$/, "/api/terminals"), out.plain.token)).status,
        ).toBe(404);
        expect((await docker.getContainer(`ci-${ws}-alice`).inspect()).Config.Image).toMatch(
            /^compute-instance-workstation-vscode:/,
        );
        expect((await docker.getContainer(`ci-${ws}-plain`).inspect()).Config.Image).toBe(baseImage);
    });

    test("the custom application with an image runs beside the instance, in its network only", async () => {
        const side = await docker.getContainer(`ci-${ws}-alice-app-beside`).inspect();
        expect(side.HostConfig.NetworkMode).toBe(
            `container:${(await docker.getContainer(`ci-${ws}-alice`).inspect()).Id}`,
        );
        expect(side.HostConfig.PortBindings ?? {}).toEqual({});
        expect(side.Config.Labels["app.kubernetes.io/component"]).toBe("application");
        // As the instance user with no capability, whatever the image's own user.
        expect(side.HostConfig.CapAdd ?? []).toEqual([]);
        const top = await docker.getContainer(`ci-${ws}-alice-app-beside`).top({ ps_args: "-o pid,uid,args" });
        const uid = top.Titles.indexOf("UID");
        expect(top.Processes.map((p: string[]) => p[uid])).toEqual(top.Processes.map(() => "1000"));
        expect(top.Processes.length).toBeGreaterThan(0);
        // From the instance, on localhost.
        expect(
            (
                await execIn(`ci-${ws}-alice`, [
                    "python3",
                    "-c",
                    "import urllib.request as u;print(u.urlopen('http://127.0.0.1:9200/').read().decode())",
                ])
            ).output,
        ).toContain("served-beside");
    });

    test("JupyterLab renders its launcher with VS Code and a terminal; a terminal typed into writes to the home directory", async () => {
        await openPage(`${out.alice.endpoints.jupyterLab}?token=${out.alice.token}`, async (page) => {
            await page.locator(".jp-Launcher").waitFor({ timeout: 60_000 });
            await page
                .locator('.jp-LauncherCard[title*="VS Code"], .jp-LauncherCard:has-text("VS Code")')
                .first()
                .waitFor({ timeout: 30_000 });
            await page.goto(out.alice.endpoints.terminal);
            const term = page.locator(".xterm-helper-textarea");
            await term.waitFor({ state: "attached", timeout: 60_000 });
            await page.locator(".xterm-screen").click();
            await page.keyboard.type("echo typed-in-the-terminal > ~/from-terminal.txt\n", { delay: 10 });
            for (
                let i = 0;
                i < 40 && (await execIn(`ci-${ws}-alice`, ["cat", "/home/azureuser/from-terminal.txt"])).code !== 0;
                i++
            )
                await page.waitForTimeout(250);
        });
        expect((await execIn(`ci-${ws}-alice`, ["cat", "/home/azureuser/from-terminal.txt"])).output).toBe(
            "typed-in-the-terminal\n",
        );
    });

    test("the classic notebook renders its file tree", async () => {
        await openPage(`${out.alice.endpoints.jupyter}?token=${out.alice.token}`, async (page) => {
            await page.locator(".jp-DirListing").first().waitFor({ timeout: 60_000 });
        });
    });

    test("VS Code renders its workbench, opened on the user files; while it is open the instance counts as in use", async () => {
        await execIn(`ci-${ws}-alice`, ["bash", "-c", "echo 'print(1)' > ~/cloudfiles/code/seen-in-vscode.py"]);
        const api = out.alice.endpoints.jupyterLab.replace(/\/lab$/, "/api/compute-instance/connections");
        await openPage(`${out.alice.endpoints.vscode}?token=${out.alice.token}`, async (page) => {
            await page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
            await page
                .locator(
                    '.explorer-folders-view .monaco-list-row[aria-label*="seen-in-vscode.py"], .explorer-folders-view :text("seen-in-vscode.py")',
                )
                .first()
                .waitFor({ timeout: 60_000 });
            fs.mkdirSync("test/.artifacts", { recursive: true });
            await page.screenshot({ path: "test/.artifacts/vscode-workbench.png" });
            let editors = 0;
            for (let i = 0; i < 30 && editors === 0; i++) {
                editors =
                    (
                        (await (
                            await fetch(api, { headers: { Authorization: `token ${out.alice.token}` } })
                        ).json()) as { editors?: number }
                    ).editors ?? 0;
                if (!editors) await page.waitForTimeout(1000);
            }
            expect(editors).toBe(1);
        });
    });

    test("stop and start take the application beside the instance along; it answers again", async () => {
        cli(["stop", "alice", "--workspace", ws]);
        expect((await docker.getContainer(`ci-${ws}-alice-app-beside`).inspect()).State.Running).toBe(false);
        cli(["start", "alice", "--workspace", ws]);
        let body = "";
        for (let i = 0; i < 60 && body !== "served-beside\n"; i++) {
            body = await text(out.alice.endpoints.beside, out.alice.token).catch(() => "");
            if (body !== "served-beside\n") await new Promise((r) => setTimeout(r, 500));
        }
        expect(body).toBe("served-beside\n");
    });

    test("the engine restarting the instance leaves its application outside; the workspace agent puts it back", async () => {
        await docker.getContainer(`ci-${ws}-alice`).restart({ t: 5 });
        let body = "";
        for (let i = 0; i < 60 && body !== "served-beside\n"; i++) {
            body = await text(out.alice.endpoints.beside, out.alice.token).catch(() => "");
            if (body !== "served-beside\n") await new Promise((r) => setTimeout(r, 1000));
        }
        expect(body).toBe("served-beside\n");
        const side = await docker.getContainer(`ci-${ws}-alice-app-beside`).inspect();
        const instance = await docker.getContainer(`ci-${ws}-alice`).inspect();
        expect(Date.parse(side.State.StartedAt)).toBeGreaterThanOrEqual(Date.parse(instance.State.StartedAt));
    });

    test("VS Code asked of an image without it fails up saying so, not after the ready timeout", async () => {
        await t.setConfig({
            workspaceName: ws,
            agentCheckInterval: "2s",
            instances: { alice, plain, bob: { ...small, image: baseImage, applications: ["jupyterlab", "vscode"] } },
        });
        const message = await failureOf(t.stack.up(collect(t)));
        expect(message).toContain("the image has no VS Code (code-server)");
        expect(message).not.toContain("did not answer within");
        expect((await docker.listContainers({ all: true, filters: { name: [`ci-${ws}-bob`] } })).length).toBe(0);
    });
});
