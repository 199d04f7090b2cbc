// SSH with a real client (ssh2) against the real sshd of an instance on the real engine: the one
// key logs in as the instance user; another key, a password, keyboard-interactive and root are
// refused; the host key survives a restart; turning SSH off is a restart that keeps home.
import * as net from "net";
import { Client } from "ssh2";
import { generateKeyPair } from "../support/ssh-keys";
import {
    TestStack,
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

type Login = { username?: string; privateKey?: string; password?: string; tryKeyboard?: boolean };

/** Connects, runs one command, returns its output and the server's host key (SHA-256). */
function sshRun(url: string, login: Login, command: string): Promise<{ output: string; hostKey: string }> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
        const c = new Client();
        let hostKey = "";
        c.on("ready", () => {
            c.exec(command, (err, stream) => {
                if (err) return reject(err);
                let output = "";
                stream.on("data", (d: Buffer) => (output += d.toString()));
                stream.stderr.on("data", (d: Buffer) => (output += d.toString()));
                stream.on("close", () => {
                    c.end();
                    resolve({ output, hostKey });
                });
            });
        });
        c.on("keyboard-interactive", (_n, _i, _l, prompts, finish) => finish(prompts.map(() => "azureuser")));
        c.on("error", reject);
        c.connect({
            host: u.hostname,
            port: Number(u.port),
            username: login.username ?? u.username,
            privateKey: login.privateKey,
            password: login.password,
            tryKeyboard: login.tryKeyboard,
            readyTimeout: 10000,
            hostHash: "sha256",
            hostVerifier: (h: string) => {
                hostKey = h;
                return true;
            },
        } as Parameters<Client["connect"]>[0]);
    });
}

/** An open session as the instance user, for tests that hold it or tunnel through it. */
function connected(url: string, privateKey: string): Promise<Client> {
    const u = new URL(url);
    const c = new Client();
    return new Promise((resolve, reject) => {
        c.on("ready", () => resolve(c))
            .on("error", reject)
            .connect({
                host: u.hostname,
                port: Number(u.port),
                username: "azureuser",
                privateKey,
                hostVerifier: () => true,
            } as Parameters<Client["connect"]>[0]);
    });
}

const refusal = (p: Promise<unknown>) => expect(p).rejects.toThrow(/All configured authentication methods failed/);

describe("SSH on Docker", () => {
    const ws = uniqueWorkspace("ssh");
    const container = `ci-${ws}-alice`;
    const key = generateKeyPair("ed25519", { comment: "alice@laptop" });
    const other = generateKeyPair("ed25519", { comment: "mallory@elsewhere" });
    const base = { size: { cpus: 1, memoryGb: 2 } };
    let t: TestStack;
    let url = "";
    let hostKey = "";

    const sshUrl = async () =>
        ((await t.stack.outputs()).out.value as Record<string, { endpoints: { ssh?: string } }>).alice.endpoints.ssh;

    beforeAll(async () => {
        t = await programStack("instance", {
            workspaceName: ws,
            instances: { alice: { ...base, ssh: { enabled: true, publicKey: key.public } } },
        });
        await t.stack.up(collect(t));
        url = (await sshUrl()) ?? "";
    });

    afterAll(async () => {
        if (t) {
            await t.stack.destroy().catch(() => undefined);
            await t.dispose();
        }
        await purgeWorkspace(ws);
    });

    test("the endpoint is an ssh:// URL on loopback for the instance user", () => {
        expect(url).toMatch(/^ssh:\/\/azureuser@127\.0\.0\.1:\d+$/);
    });

    test("the key logs in as the instance user, with no capabilities, home on the OS disk", async () => {
        const r = await sshRun(
            url,
            { privateKey: key.private },
            "id -un; grep CapEff /proc/self/status; echo from-ssh > ~/ssh.txt; pwd",
        );
        expect(r.output).toBe("azureuser\nCapEff:\t0000000000000000\n/home/azureuser\n");
        hostKey = r.hostKey;
        expect(hostKey).not.toBe("");
        expect((await execIn(container, ["cat", "/home/azureuser/ssh.txt"])).output).toBe("from-ssh\n");
    });

    test("local port forwarding works (VS Code Remote-SSH talks to its server through it)", async () => {
        // The tunnel is the test's; a hang is a failure, not a wait for the suite's timeout.
        const c = await connected(url, key.private);
        try {
            const answer = await new Promise<string>((resolve, reject) => {
                c.forwardOut("127.0.0.1", 0, "127.0.0.1", 8888, (err, stream) => {
                    if (err) return reject(err);
                    let text = "";
                    // The status line is enough; the channel stays open until both sides close it.
                    stream.on("data", (d: Buffer) => {
                        text += d.toString();
                        if (text.includes("\r\n")) resolve(text);
                    });
                    stream.on("close", () => resolve(text));
                    // Not end(): a half-closed request makes the server hang up before it answers.
                    stream.write("GET /api/status HTTP/1.0\r\nHost: localhost\r\n\r\n");
                });
            });
            // Through the tunnel to Jupyter inside the instance, which still wants its token.
            expect(answer).toMatch(/^HTTP\/1\.[01] 403/);
        } finally {
            c.end();
        }
    }, 30_000);

    test("another key, a password, keyboard-interactive and root are refused", async () => {
        await refusal(sshRun(url, { privateKey: other.private }, "true"));
        await refusal(sshRun(url, { password: "azureuser" }, "true"));
        await refusal(sshRun(url, { tryKeyboard: true, password: "azureuser" }, "true"));
        await refusal(sshRun(url, { username: "root", privateKey: key.private }, "true"));
    });

    test("sshd's effective settings: key only, no root, no agent or X11 forwarding, local forwarding only", async () => {
        const r = await execIn(container, ["/usr/sbin/sshd", "-T", "-f", "/etc/compute-instance/sshd_config"]);
        const settings = new Map(r.output.split("\n").map((l) => [l.split(" ")[0], l.slice(l.indexOf(" ") + 1)]));
        expect(
            Object.fromEntries(
                [
                    "passwordauthentication",
                    "kbdinteractiveauthentication",
                    "permitrootlogin",
                    "allowagentforwarding",
                    "x11forwarding",
                    "allowtcpforwarding",
                    "pubkeyauthentication",
                    "allowusers",
                    "port",
                ].map((k) => [k, settings.get(k)]),
            ),
        ).toEqual({
            passwordauthentication: "no",
            kbdinteractiveauthentication: "no",
            permitrootlogin: "no",
            allowagentforwarding: "no",
            x11forwarding: "no",
            allowtcpforwarding: "local",
            pubkeyauthentication: "yes",
            allowusers: "azureuser",
            port: "2222",
        });
    });

    test("the user cannot add keys: the key file is root's", async () => {
        expect((await execIn(container, ["ls", "-ln", "/etc/compute-instance/ssh/authorized_keys"])).output).toMatch(
            /^-rw-r--r-- 1 0 0 /,
        );
        const r = await execIn(container, ["sh", "-c", "echo x >> /etc/compute-instance/ssh/authorized_keys"]);
        expect(r.output).toMatch(/Permission denied/);
        expect(r.code).not.toBe(0);
    });

    test("a restart-class change keeps the URL and the host key; only the runtime is replaced", async () => {
        await t.setConfig({
            workspaceName: ws,
            instances: { alice: { ...base, env: { X: "1" }, ssh: { enabled: true, publicKey: key.public } } },
        });
        await t.stack.up(collect(t));
        expect(Object.keys(customSteps(t))).toEqual(["alice-runtime"]);
        expect(await sshUrl()).toBe(url);
        const r = await sshRun(url, { privateKey: key.private }, "cat ~/ssh.txt");
        expect(r).toEqual({ output: "from-ssh\n", hostKey });
    });

    test("turning SSH off restarts the instance without sshd; home is kept", async () => {
        await t.setConfig({ workspaceName: ws, instances: { alice: { ...base, env: { X: "1" } } } });
        const p = await t.stack.preview({ ...collect(t), diff: true });
        expect(Object.keys(customSteps(t))).toEqual(["alice-runtime"]);
        expect(p.stdout).toMatch(/- ssh\s*:/);
        await t.stack.up(collect(t));
        expect(await sshUrl()).toBeUndefined();
        await expect(sshRun(url, { privateKey: key.private }, "true")).rejects.toThrow();
        expect(
            (
                await execIn(container, [
                    "sh",
                    "-c",
                    "cat ~/ssh.txt; pgrep -c sshd || true; ls /etc/compute-instance/ssh/",
                ])
            ).output,
        ).toBe("from-ssh\n0\n");
        const info = await docker.getContainer(container).inspect();
        expect(Object.keys(info.HostConfig.PortBindings ?? {})).toEqual(["8888/tcp"]);
    });
});

describe("an open SSH connection keeps an instance from idling", () => {
    const ws = uniqueWorkspace("sshi");
    const container = `ci-${ws}-alice`;
    const key = generateKeyPair("ed25519");
    const stranger = generateKeyPair("ed25519");
    let t: TestStack;
    let url = "";
    let out: { endpoints: { jupyterLab: string; ssh: string }; token: string };

    beforeAll(async () => {
        t = await programStack("instance", {
            workspaceName: ws,
            agentCheckInterval: "2s",
            instances: {
                alice: {
                    size: { cpus: 1, memoryGb: 2 },
                    ssh: { enabled: true, publicKey: key.public },
                    idleShutdown: { after: "1m" },
                },
            },
        });
        await t.stack.up(collect(t));
        out = ((await t.stack.outputs()).out.value as Record<string, typeof out>).alice;
        url = out.endpoints.ssh;
    });

    afterAll(async () => {
        if (t) {
            await t.stack.destroy().catch(() => undefined);
            await t.dispose();
        }
        await purgeWorkspace(ws);
    });

    const running = async () => (await docker.getContainer(container).inspect()).State.Running;
    const connections = async () => {
        const base = out.endpoints.jupyterLab.replace(/\/lab$/, "");
        return (await (
            await fetch(`${base}/api/compute-instance/connections`, {
                headers: { Authorization: `token ${out.token}` },
            })
        ).json()) as { ssh: number };
    };

    test("only authenticated connections are sessions: not one that never logs in, nor one whose key was refused", async () => {
        const u = new URL(url);
        // Anyone who can reach the port can hold such connections open.
        const raw = net.connect(Number(u.port), u.hostname);
        const stalled = new Client();
        try {
            await new Promise<void>((resolve, reject) => raw.once("data", () => resolve()).once("error", reject));
            // Named the user and offered a key sshd refuses, then never goes on.
            await new Promise<void>((resolve, reject) => {
                let offers = 0;
                stalled.on("error", reject).connect({
                    host: u.hostname,
                    port: Number(u.port),
                    username: "azureuser",
                    hostVerifier: () => true,
                    authHandler: (_methods: unknown, _partial: unknown, next: (auth: unknown) => void) => {
                        if (offers++ === 0)
                            return next({ type: "publickey", username: "azureuser", key: stranger.private });
                        resolve();
                    },
                } as unknown as Parameters<Client["connect"]>[0]);
            });
            expect((await connections()).ssh).toBe(0);
            const c = await connected(url, key.private);
            try {
                await waitFor("the session to count", 15_000, async () => (await connections()).ssh === 1);
            } finally {
                c.end();
            }
        } finally {
            raw.destroy();
            stalled.end();
        }
        await waitFor("the session to end", 15_000, async () => (await connections()).ssh === 0);
    });

    test("connected past the idle period: still running; disconnected: stopped by IdleShutdown", async () => {
        const c = await connected(url, key.private);
        // sshd names the session's process a moment after the client is told it is in.
        await waitFor("the session to count", 15_000, async () => (await connections()).ssh === 1);
        expect(await connections()).toMatchObject({ ssh: 1, editors: 0 });
        await new Promise((r) => setTimeout(r, 80_000));
        expect(await running()).toBe(true);
        c.end();
        // sshd's session process takes a moment to go on a loaded machine.
        await waitFor("the SSH session to end", 15_000, async () => (await connections()).ssh === 0);
        expect(await connections()).toMatchObject({ ssh: 0, editors: 0 });
        // The quiet period starts at the disconnect, not at the last kernel activity long before.
        const closedAt = Date.now();
        await new Promise((r) => setTimeout(r, 40_000));
        expect(await running()).toBe(true);
        const deadline = Date.now() + 100_000;
        while ((await running()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2000));
        expect(await running()).toBe(false);
        // From the last check that saw the session (every 2 s here), which is before the disconnect.
        expect(Date.now() - closedAt).toBeGreaterThanOrEqual(55_000);
        // The agent logs the outcome once the stop is verified, a moment after the container is down.
        const outcomes = async () =>
            (await agentLog(ws)).filter((l) => l.operation === "Stop" && l.instance === "alice" && l.status);
        await waitFor("the agent to log the outcome of its stop", 30_000, async () => (await outcomes()).length > 0);
        const stops = (await outcomes()).filter((l) => l.status === "Succeeded");
        expect(stops).toHaveLength(1);
        expect(stops[0].trigger).toBe("IdleShutdown");
    }, 360_000);
});
