// Hardening, tokens and create-on-behalf-of on the real engine: the instance runs unprivileged,
// Jupyter refuses requests and WebSocket upgrades without the token, the token is never in the
// state file or the CLI's output, tokenVersion rotates it live, Shared instances use the
// workspace's token (a change of policy is live too), the assigned user is recorded on the
// instance, and labels change live.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import {
    TestStack,
    collect,
    customSteps,
    docker,
    execIn,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
} from "../support/stacks";
import { DockerBackend } from "../../provider/backends/docker";

interface Out {
    endpoints: { jupyterLab: string };
    token: string;
    labels: Record<string, string>;
}

/** A browser's session: the login cookie Jupyter sets for a token given in the URL. */
async function loginCookie(base: string, token: string): Promise<string> {
    const res = await fetch(`${base}/lab?token=${token}`, { redirect: "manual" });
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith("username-"));
    if (!cookie) throw new Error(`no login cookie from ${base} (status ${res.status})`);
    return cookie.split(";")[0];
}

/** Status of a WebSocket upgrade to a kernel's channels: 101 when Jupyter accepts it. */
function upgradeStatus(base: string, kernelId: string, token?: string): Promise<number> {
    const u = new URL(`${base}/api/kernels/${kernelId}/channels`);
    return new Promise((resolve, reject) => {
        const req = http.request({
            host: u.hostname,
            port: u.port,
            path: u.pathname,
            headers: {
                Connection: "Upgrade",
                Upgrade: "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": Buffer.from("0123456789abcdef").toString("base64"),
                ...(token ? { Authorization: `token ${token}` } : {}),
            },
        });
        req.on("upgrade", (res, socket) => {
            socket.destroy();
            resolve(res.statusCode ?? 0);
        });
        req.on("response", (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
    });
}

function filesUnder(dir: string): string[] {
    return fs
        .readdirSync(dir, { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile())
        .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

describe("secure access on Docker", () => {
    const ws = uniqueWorkspace("sec");
    const small = { size: { cpus: 1, memoryGb: 2 } };
    interface AliceOptions {
        tokenVersion?: number;
        shared?: boolean;
        labels?: Record<string, string>;
    }
    const instances = (alice: AliceOptions = {}) => ({
        alice: {
            ...small,
            assignedUser: { name: "alice", id: "0f1e2d3c-aaaa-bbbb-cccc-123456789abc" },
            ...(alice.tokenVersion ? { tokenVersion: alice.tokenVersion } : {}),
            ...(alice.shared ? { applicationSharingPolicy: "Shared" } : {}),
            ...(alice.labels ? { labels: alice.labels } : {}),
        },
        bob: { ...small, applicationSharingPolicy: "Shared" },
        carol: { ...small, applicationSharingPolicy: "Shared" },
    });
    let t: TestStack;
    let out: Record<string, Out> = {};
    const refresh = async () => (out = (await t.stack.outputs()).out.value as Record<string, Out>);
    const base = (name: string) => out[name].endpoints.jupyterLab.replace(/\/lab$/, "");

    beforeAll(async () => {
        t = await programStack("instance", { workspaceName: ws, instances: instances() });
        await t.stack.up(collect(t));
        await refresh();
    });

    afterAll(async () => {
        if (t) {
            await t.stack.destroy().catch(() => undefined);
            await t.dispose();
        }
        await purgeWorkspace(ws);
    });

    test("the container is unprivileged and the applications run as the instance user with no capabilities", async () => {
        const info = await docker.getContainer(`ci-${ws}-alice`).inspect();
        expect(info.HostConfig.Privileged).toBe(false);
        expect(info.HostConfig.CapDrop).toEqual(["ALL"]);
        expect(info.HostConfig.CapAdd?.sort()).toEqual(["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]);
        expect(info.HostConfig.SecurityOpt).toContain("no-new-privileges:true");
        const jupyter = await execIn(`ci-${ws}-alice`, [
            "sh",
            "-c",
            "p=$(pgrep -f jupyter-server | head -1); stat -c %u /proc/$p; grep -E 'CapEff|NoNewPrivs' /proc/$p/status",
        ]);
        expect(jupyter.output).toBe("1000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\n");
    });

    test("tokens are 256 random bits; Jupyter refuses requests and WebSocket upgrades without the right one", async () => {
        const token = out.alice.token;
        expect(token).toMatch(/^[0-9a-f]{64}$/);
        expect((await fetch(`${base("alice")}/api/status`)).status).toBe(403);
        expect(
            (await fetch(`${base("alice")}/api/status`, { headers: { Authorization: `token ${"0".repeat(64)}` } }))
                .status,
        ).toBe(403);
        const kernel = await fetch(`${base("alice")}/api/kernels`, {
            method: "POST",
            headers: { Authorization: `token ${token}` },
            body: "{}",
        });
        expect(kernel.status).toBe(201);
        const { id } = (await kernel.json()) as { id: string };
        expect(await upgradeStatus(base("alice"), id)).toBe(403);
        expect(await upgradeStatus(base("alice"), id, "f".repeat(64))).toBe(403);
        expect(await upgradeStatus(base("alice"), id, token)).toBe(101);
    });

    test("the state file, encrypted or not, and the CLI's output hold no token", async () => {
        const tokens = Object.values(out).map((o) => o.token);
        for (const file of filesUnder(t.stateDir)) {
            const text = fs.readFileSync(file, "utf8");
            for (const token of tokens) expect(text.includes(token)).toBe(false);
        }
        // `pulumi stack export` as a user runs it (the Automation API's exportStack shows secrets).
        const exported = execFileSync("pulumi", ["stack", "export", "--stack", t.stack.name], {
            cwd: t.stack.workspace.workDir,
            encoding: "utf8",
            env: { ...process.env, ...t.stack.workspace.envVars },
        });
        expect(exported).toContain('"ciphertext"');
        for (const token of tokens) expect(exported.includes(token)).toBe(false);
        const log = t.log.join("");
        for (const token of tokens) expect(log.includes(token)).toBe(false);
    });

    test("Shared instances use the workspace's token; a Personal one has its own", () => {
        expect(out.bob.token).toBe(out.carol.token);
        expect(out.alice.token).not.toBe(out.bob.token);
    });

    test("the assigned user is recorded on the instance; the creator is the stack", async () => {
        const labels = (await docker.getContainer(`ci-${ws}-alice`).inspect()).Config.Labels;
        expect(labels["compute-instance.pulumi.io/assigned-user"]).toBe("alice");
        expect(labels["compute-instance.pulumi.io/assigned-user-id"]).toBe("0f1e2d3c-aaaa-bbbb-cccc-123456789abc");
        expect(labels["compute-instance.pulumi.io/owner"]).toMatch(/^e2e-instance\/t[0-9a-f]{6}$/);
        // The OS disk (the home) is recorded as theirs too.
        const os = (await docker.getVolume(labels["compute-instance.pulumi.io/os-disk"]).inspect()).Labels;
        expect(os["compute-instance.pulumi.io/assigned-user"]).toBe("alice");
    });

    const containerId = async (name: string) => (await docker.getContainer(`ci-${ws}-${name}`).inspect()).Id;
    const statusWith = async (name: string, headers: Record<string, string>) =>
        (await fetch(`${base(name)}/api/status`, { headers })).status;

    test("the token is in a root-owned file, not in the container's environment", async () => {
        const info = await docker.getContainer(`ci-${ws}-alice`).inspect();
        expect(JSON.stringify(info.Config.Env)).not.toContain(out.alice.token);
        const file = await execIn(`ci-${ws}-alice`, ["stat", "-c", "%U %a", "/etc/compute-instance/auth/token"]);
        expect(file.output.trim()).toBe("root 444");
    });

    test("raising tokenVersion rotates the token live: the old one and its browser sessions stop working, nothing restarts", async () => {
        const old = out.alice.token;
        const before = await containerId("alice");
        const session = await loginCookie(base("alice"), old);
        expect(await statusWith("alice", { Cookie: session })).toBe(200);
        const kernel = (await (
            await fetch(`${base("alice")}/api/kernels`, { method: "POST", headers: { Authorization: `token ${old}` } })
        ).json()) as { id: string };
        await execIn(`ci-${ws}-alice`, ["sh", "-c", "echo kept > ~/kept.txt"]);
        await t.setConfig({ workspaceName: ws, instances: instances({ tokenVersion: 2 }) });
        const result = await t.stack.up(collect(t));
        const steps = customSteps(t);
        expect(Object.keys(steps).sort()).toEqual(["alice-runtime", "alice-token"]);
        expect(steps["alice-runtime"]).toBe("update");
        expect(t.log.join("")).toContain("alice: applied live, no restart (token changed); all disks kept");
        expect(result.summary.resourceChanges?.replace).toBe(1);
        await refresh();
        expect(out.alice.token).not.toBe(old);
        expect(await containerId("alice")).toBe(before);
        expect(await statusWith("alice", { Authorization: `token ${old}` })).toBe(403);
        expect(await statusWith("alice", { Cookie: session })).toBe(403);
        expect(await upgradeStatus(base("alice"), kernel.id, old)).toBe(403);
        expect(await upgradeStatus(base("alice"), kernel.id, out.alice.token)).toBe(101);
        expect(await statusWith("alice", { Authorization: `token ${out.alice.token}` })).toBe(200);
        // Live: the kernel started before the rotation is still running.
        const kernels = (await (
            await fetch(`${base("alice")}/api/kernels`, { headers: { Authorization: `token ${out.alice.token}` } })
        ).json()) as { id: string }[];
        expect(kernels.map((k) => k.id)).toContain(kernel.id);
        expect((await execIn(`ci-${ws}-alice`, ["cat", "/home/azureuser/kept.txt"])).output).toBe("kept\n");
    });

    test("Personal → Shared applies live: the workspace's token opens it, its own no longer does", async () => {
        const own = out.alice.token;
        const before = await containerId("alice");
        await t.setConfig({ workspaceName: ws, instances: instances({ shared: true }) });
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-runtime": "update", "alice-token": "delete" });
        await refresh();
        expect(out.alice.token).toBe(out.bob.token);
        expect(await containerId("alice")).toBe(before);
        expect(await statusWith("alice", { Authorization: `token ${own}` })).toBe(403);
        expect(await statusWith("alice", { Authorization: `token ${out.bob.token}` })).toBe(200);
    });

    test("labels change live: kept by the workspace agent, shown in the outputs, no drift on refresh", async () => {
        const store = new DockerBackend("unix:///var/run/docker.sock").agentStore(ws);
        const before = await containerId("alice");
        await t.setConfig({
            workspaceName: ws,
            instances: instances({ shared: true, labels: { team: "vision", "cost-center": "cc-1234" } }),
        });
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-runtime": "update" });
        expect(t.log.join("")).toContain(
            "alice: applied live, no restart (labels (none) → cost-center=cc-1234 team=vision); all disks kept",
        );
        await refresh();
        expect(out.alice.labels).toEqual({ team: "vision", "cost-center": "cc-1234" });
        expect(await store.readPolicy("labels.alice")).toEqual({ team: "vision", "cost-center": "cc-1234" });
        expect(out.bob.labels).toEqual({});

        // The CLI lists the workspace's instances, of every stack, and filters by label.
        const cli = (args: string[]) =>
            execFileSync("node", [path.join(__dirname, "../../bin/cli/main.js"), ...args], { encoding: "utf8" });
        const listed = cli(["list", "--workspace", ws, "--label", "team=vision"]);
        expect(listed.trim().split("\n")).toEqual([
            expect.stringMatching(
                /^alice\tRunning\tcpus=1 memoryGb=2\te2e-instance\/t[0-9a-f]{6}\tcost-center=cc-1234,team=vision$/,
            ),
        ]);
        expect(
            cli(["list", "--workspace", ws])
                .trim()
                .split("\n")
                .map((l) => l.split("\t")[0]),
        ).toEqual(["alice", "bob", "carol"]);
        expect(cli(["list", "--workspace", ws, "--label", "team=nlp"])).toBe("");

        const refreshed = await t.stack.refresh({ onOutput: () => undefined });
        expect(refreshed.summary.resourceChanges?.update ?? 0).toBe(0);
        const preview = await t.stack.preview();
        expect(preview.changeSummary.update ?? 0).toBe(0);

        await t.setConfig({ workspaceName: ws, instances: instances({ shared: true, labels: { team: "nlp" } }) });
        await t.stack.up(collect(t));
        expect(await store.readPolicy("labels.alice")).toEqual({ team: "nlp" });
        await t.setConfig({ workspaceName: ws, instances: instances({ shared: true }) });
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-runtime": "update" });
        expect(await store.readPolicy("labels.alice")).toBeUndefined();
        expect(await containerId("alice")).toBe(before);
    });
});
