// Every kind through the provider object the plugin loads (../../provider/dispatch): its check
// (validation, defaults, what it derives, problems with the user's field paths) and its diff
// (what changes, what replaces, the line a preview shows). No backend is reached: a check asks
// one only for names, its capacity and what a quota counts, answered here.
jest.mock("../../provider/backends/registry", () => ({
    ...jest.requireActual("../../provider/backends/registry"),
    ensureReachable: async () => undefined,
    identityOf: async () => "docker-engine:test",
    capacityOf: async () => ({ cpus: 8, memoryGb: 32, gpus: 0, noGpus: "has no NVIDIA runtime" }),
    backendFor: () => ({
        description: "Docker engine at unix:///var/run/docker.sock",
        newDiskName: (ref: { workspace: string; instance: string }, role: string) =>
            `ci-${ref.workspace}-${ref.instance}-${role}-${(mockDiskNames.count += 1)}`,
        userFilesName: (workspace: string) => `ci-${workspace}-userfiles`,
        workspaceNetworkName: (workspace: string) => `ci-${workspace}`,
        workspaceUsage: async () => [{ instance: "bob", owner: "other/stack", cpus: 4, gpus: 0 }],
        agentStore: () => ({ readPolicy: async () => undefined }),
    }),
}));
const mockDiskNames = { count: 0 };

import { check, diff, provider } from "../../provider/dispatch";
import { UNKNOWN } from "../../provider/model/validate";

type Props = Record<string, unknown>;

const PROVIDER = "exports.handler = () => ...";
const wiring = { backend: { docker: {} }, workspace: "team", owner: "proj/dev", __provider: PROVIDER };
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

/** The program's inputs of one kind. */
const of = (kind: string, props: Props): Props => ({ ...wiring, ...props, __kind: kind });

/** Checks inputs that must pass, returning what the engine would record. */
async function checked(news: Props, olds: Props = {}): Promise<Props> {
    const r = await check(olds, news);
    expect(r.failures).toEqual([]);
    return r.inputs;
}

/** The failures of a check, as the engine prints them. */
async function failures(news: Props): Promise<string[]> {
    const r = await check({}, news);
    expect(r.failures?.every((f) => f.property === "")).toBe(true);
    return (r.failures ?? []).map((f) => f.reason);
}

/** A diff and the line the preview shows under the resource. */
async function diffed(olds: Props, news: Props) {
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, "write").mockImplementation((text) => {
        written.push(String(text).trim());
        return true;
    });
    try {
        const r = await diff("id", olds, news);
        return { ...r, line: written.join("\n") };
    } finally {
        spy.mockRestore();
    }
}

const DOCKER = { kind: "docker", host: "unix:///var/run/docker.sock" };

describe("the provider the plugin loads", () => {
    test("is the six functions, routed by the kind each resource carries", async () => {
        expect(Object.keys(provider).sort()).toEqual(["check", "create", "delete", "diff", "read", "update"]);
        await expect(check({}, { __kind: "Mainframe" })).rejects.toThrow(
            'unknown resource kind "Mainframe" (was this state written by a newer version?)',
        );
        await expect(check({}, { __kind: "toString" })).rejects.toThrow('unknown resource kind "toString"');
    });

    test("checked inputs keep the kind and record the backend's identity; the provider text is the plugin's", async () => {
        const inputs = await checked(of("WorkspaceNetwork", {}));
        expect(inputs).toEqual({
            backend: DOCKER,
            workspace: "team",
            owner: "proj/dev",
            networkName: "ci-team",
            backendId: "docker-engine:test",
            __kind: "WorkspaceNetwork",
        });
    });
});

describe("AccessToken", () => {
    test("a version defaults to 1 and must be a whole number", async () => {
        expect(await checked({ __kind: "AccessToken", __provider: PROVIDER })).toEqual({
            tokenVersion: 1,
            __kind: "AccessToken",
        });
        expect(await failures({ __kind: "AccessToken", tokenVersion: 1.5 })).toEqual([
            "[tokenVersion] must be a whole number",
        ]);
    });

    test("a new version is a new token", async () => {
        const before = { __kind: "AccessToken", tokenVersion: 1, token: "f".repeat(64) };
        const d = await diffed(before, { __kind: "AccessToken", tokenVersion: 2 });
        expect(d).toMatchObject({ changes: true, replaces: ["tokenVersion"], deleteBeforeReplace: false });
        expect(d.line).toBe(": new access token; the old one stops working");
    });
});

describe("OsDisk and TempDisk", () => {
    const disk = (props: Props = {}) => of("OsDisk", { instance: "alice", ...props });

    test("the check names the volume; a live change keeps the name, a replacement takes a new one", async () => {
        const first = await checked(disk({ sizeGb: 128 }));
        expect(first).toMatchObject({ sizeGb: 128, volumeName: expect.stringMatching(/^ci-team-alice-os-\d+$/) });
        const grown = await checked(disk({ sizeGb: 256 }), first);
        expect(grown.volumeName).toBe(first.volumeName);
        const shrunk = await checked(disk({ sizeGb: 64 }), first);
        expect(shrunk.volumeName).not.toBe(first.volumeName);

        const live = await diffed(first, grown);
        expect(live).toMatchObject({ changes: true, replaces: [] });
        expect(live.line).toBe("alice: OS disk sizeGb 128 → 256, in place; kept");
        const reimaged = await diffed(first, shrunk);
        expect(reimaged.replaces).toEqual(["sizeGb", "volumeName"]);
        expect(reimaged.line).toMatch(/^alice: OS DISK REPLACED \(sizeGb 128 → 64\)/);
    });

    test("a size defaults; problems name the instance's field", async () => {
        expect((await checked(disk())).sizeGb).toBe(128);
        expect(await failures(disk({ sizeGb: -1 }))).toEqual(["[osDisk.sizeGb] must be at least 1 GiB"]);
        expect(await failures(of("TempDisk", { instance: "alice", sizeGb: 0 }))).toEqual([
            "[tempDisk.sizeGb] must be at least 1 GiB",
        ]);
    });

    test("the temp disk's size comes with the instance's size unless given", async () => {
        expect(await checked(of("TempDisk", { instance: "alice", size: "Standard_DS3_v2" }))).toMatchObject({
            sizeGb: 28,
            volumeName: expect.stringMatching(/^ci-team-alice-temp-\d+$/),
        });
        expect((await checked(of("TempDisk", { instance: "alice", sizeGb: 10 }))).sizeGb).toBe(10);
    });

    test("a preview's unknown passes, and names nothing yet", async () => {
        const inputs = await checked(disk({ sizeGb: UNKNOWN }));
        expect(inputs.volumeName).toBeUndefined();
    });
});

describe("UserFiles and WorkspaceNetwork", () => {
    test("the store is named by the workspace; its fields are the Workspace's", async () => {
        expect(await checked(of("UserFiles", { retainOnDelete: false }))).toMatchObject({
            retainOnDelete: false,
            sizeGb: 100,
            volumeName: "ci-team-userfiles",
        });
        expect(await failures(of("UserFiles", { sizeGb: 0 }))).toEqual(["[userFiles.sizeGb] must be at least 1 GiB"]);
    });

    test("growing the store applies in place; another workspace is another store", async () => {
        const before = await checked(of("UserFiles", { sizeGb: 100 }));
        const grown = await diffed(before, await checked(of("UserFiles", { sizeGb: 200 })));
        expect(grown).toMatchObject({ changes: true, replaces: [] });
        expect(grown.line).toBe("team: user files sizeGb 100 → 200, in place");
        const moved = await diffed(before, await checked(of("UserFiles", { workspace: "other" })));
        expect(moved.replaces).toEqual(["volumeName", "workspace"]);
    });
});

describe("WorkstationImage", () => {
    const image = (props: Props) => ({ backend: { docker: {} }, __kind: "WorkstationImage", ...props });

    test("an edited build context rebuilds in place; a variant is another image", async () => {
        const before = await checked(image({ image: "ws:1", contextHash: "a" }));
        const rebuilt = await diffed(before, await checked(image({ image: "ws:1", contextHash: "b" })));
        expect(rebuilt).toMatchObject({ changes: true, replaces: [] });
        expect(rebuilt.line).toBe("ws:1: rebuilt (its files changed); instances on it restart onto it");
        expect(await failures(image({ image: "ws:1", contextHash: "a", variant: "emacs" }))).toEqual([
            '[variant] Invalid option: expected one of "vscode"|"inference"; allowed: "vscode", "inference"',
        ]);
    });
});

describe("Runtime", () => {
    const runtime = (props: Props = {}) =>
        of("Runtime", {
            instance: "alice",
            size: "Standard_DS2_v2",
            image: "img:1",
            osDisk: "os-1",
            tempDisk: "tmp-1",
            tempDiskGb: 28,
            userFiles: "uf",
            network: "net",
            token: "t".repeat(64),
            ...props,
        });

    test("the size is kept as written and as the figures it stands for; defaults fill the rest", async () => {
        expect(await checked(runtime({ size: "standard_ds3_v2" }))).toMatchObject({
            size: "Standard_DS3_v2",
            cpus: 4,
            memoryGb: 14,
            gpus: 0,
            readyTimeoutSeconds: 300,
            applications: ["jupyterlab", "jupyter", "terminal"],
            customApplications: [],
            env: {},
        });
        expect(await checked(runtime({ size: { cpus: 2, memoryGb: 4 } }))).toMatchObject({
            size: { cpus: 2, memoryGb: 4, gpus: 0 },
            cpus: 2,
        });
    });

    test("problems name the instance's fields; a size larger than the backend names the sizes that fit", async () => {
        expect(await failures(runtime({ readyTimeout: "soon", ssh: { enabled: true, publicKey: "nope" } }))).toEqual([
            '[readyTimeout] "soon" is not a duration; write e.g. "90s", "5m", "1h30m" or ISO 8601 "PT5M"',
            expect.stringMatching(/^\[ssh\.publicKey\] is not an OpenSSH public key/),
        ]);
        expect(
            await failures(
                runtime({
                    networkRules: { inbound: [{ application: "jupyter", from: ["10.0.0.0/8"] }] },
                    applications: ["jupyterlab"],
                }),
            ),
        ).toEqual([
            '[network.inbound[0].application] "jupyter" is not an application of this instance; it runs: jupyterlab',
        ]);
        const [tooBig] = await failures(runtime({ size: "Standard_ND96asr_v4" }));
        expect(tooBig).toMatch(
            /^\[size\] Standard_ND96asr_v4 needs 96 vCPUs but the Docker engine at unix:\/\/\/var\/run\/docker.sock has 8; .*; sizes that fit: Standard_DS1_v2, /,
        );
    });

    test("a preview's unknown backend leaves the capacity unchecked", async () => {
        const news = runtime({ backend: UNKNOWN, size: "Standard_ND96asr_v4" });
        expect((await check({}, news)).failures).toEqual([]);
    });

    test("memory applies live; another image restarts, deleting the old container first", async () => {
        const before = { ...(await checked(runtime())), status: "Running", containerId: "c1" };
        const live = await diffed(before, await checked(runtime({ size: "Standard_DS3_v2" })));
        expect(live).toMatchObject({ changes: true, replaces: [], deleteBeforeReplace: false });
        expect(live.line).toBe(
            "alice: applied live, no restart (cpus 2 → 4, memoryGb 7 → 14, size Standard_DS2_v2 → Standard_DS3_v2); all disks kept",
        );
        const restart = await diffed(
            before,
            await checked(runtime({ image: "img:2", ssh: { enabled: true, publicKey: KEY } })),
        );
        expect(restart).toMatchObject({ replaces: ["image", "ssh"], deleteBeforeReplace: true });
        expect(restart.line).toBe(
            "alice: restart (image img:1 → img:2, SSH turned on); OS disk kept; /mnt wiped; user files kept",
        );
        expect(await diffed(before, await checked(runtime()))).toMatchObject({ changes: false, line: "" });
    });
});

describe("WorkspaceAgent, Schedule and IdleShutdown", () => {
    const schedules = [
        { action: "stop", cron: "0 18 * * 1-5" },
        { name: "morning", action: "start", cron: "0 8 * * 1-5", timeZone: "Europe/Madrid" },
    ];
    const schedule = (index: number, props: Props = {}) =>
        of("Schedule", {
            instance: "bob",
            agent: "agent-1",
            index,
            all: schedules,
            name: index === 0 ? "0" : "morning",
            ...schedules[index],
            ...props,
        });

    test("the agent's interval is a duration, named as the Workspace's field", async () => {
        const agent = of("WorkspaceAgent", { image: "my/agent:1", contextHash: "c", network: "net" });
        expect((await checked(agent)).checkInterval).toBe(30);
        expect((await checked({ ...agent, checkInterval: "1m" })).checkInterval).toBe(60);
        expect(await failures({ ...agent, checkInterval: "0s" })).toEqual([
            "[agent.checkInterval] must be at least 1s, got 0s",
        ]);
    });

    test("a schedule's fields default, and its problems are named at its place in the list", async () => {
        expect(await checked(schedule(0))).toMatchObject({ timeZone: "UTC", enabled: true, name: "0" });
        expect(await failures(schedule(1, { cron: "0 8 * *", timeZone: "Mars/Base" }))).toEqual([
            expect.stringMatching(/^\[schedules\[1\]\.cron\] "0 8 \* \*" is not a cron expression/),
            expect.stringMatching(/^\[schedules\[1\]\.timeZone\] is not an IANA time zone/),
        ]);
        const conflicting = [
            { action: "start", cron: "0 8 * * 1-5" },
            { action: "stop", cron: "0 8 * * 1" },
        ];
        expect(await failures(schedule(1, { all: conflicting, name: "1", ...conflicting[1] }))).toEqual([
            expect.stringMatching(
                /^\[schedules\[1\]\.cron\] starts and stops the instance at the same minute as schedules\[0\]/,
            ),
        ]);
    });

    test("a preview's unknown agent leaves the schedule checked", async () => {
        expect(await failures(schedule(0, { agent: UNKNOWN, cron: "0 18 * *" }))).toEqual([
            expect.stringMatching(/^\[schedules\[0\]\.cron\]/),
        ]);
    });

    test("a new time or idle period is an update of that resource alone", async () => {
        const before = await checked(schedule(0));
        const moved = await diffed(before, await checked(schedule(0, { cron: "0 19 * * 1-5" })));
        expect(moved).toMatchObject({ changes: true, replaces: [] });
        expect(moved.line).toBe("bob: updated (cron 0 18 * * 1-5 → 0 19 * * 1-5)");
        const idle = of("IdleShutdown", { instance: "bob", agent: "agent-1", after: "30m" });
        expect(await failures({ ...idle, after: "10s" })).toEqual([
            "[idleShutdown.after] must be at least 60s, got 10s",
        ]);
        const longer = await diffed(await checked(idle), await checked({ ...idle, after: "1h" }));
        expect(longer).toMatchObject({ changes: true, replaces: [] });
        expect(longer.line).toBe("bob: updated (after 1800 → 3600)");
    });
});

describe("NetworkRule", () => {
    const egress = (props: Props = {}) => of("NetworkRule", { network: "net", image: "agent:1", ...props });
    const inbound = (props: Props = {}) =>
        of("NetworkRule", {
            direction: "inbound",
            instance: "alice",
            network: "net",
            applications: ["jupyterlab"],
            networkRules: { inbound: [{ application: "jupyterlab", from: ["10.0.0.0/8"] }] },
            ...props,
        });

    test("egress is the default direction and carries the guards; its problems are the Workspace's", async () => {
        expect(await checked(egress())).toMatchObject({ direction: "egress", guards: "link-local, engine API" });
        expect(await failures(egress({ egress: { allow: ["10.0.0.0/33"] } }))).toEqual([
            '[network.egress.allow[0]] "10.0.0.0/33" has prefix length /33; an IPv4 prefix is 0 to 32',
        ]);
    });

    test("inbound rules are folded per service; their problems are the instance's", async () => {
        expect((await checked(inbound())).networkRules).toEqual({
            publicBind: false,
            inbound: [{ service: "jupyter", from: ["10.0.0.0/8"] }],
        });
        expect(await failures(inbound({ networkRules: { inbound: [{ port: 2222, from: ["10.0.0.0/8"] }] } }))).toEqual([
            "[network.inbound[0].port] 2222 is not a port of this instance; its ports: 8888 (jupyter)",
        ]);
    });

    test("who may connect changes live", async () => {
        const before = { ...(await checked(egress())), signature: "s" };
        const denied = await diffed(before, await checked(egress({ egress: "deny" })));
        expect(denied).toMatchObject({ changes: true, replaces: [] });
        expect(denied.line).toBe("team: egress allow → deny, applied live; no restart");
        const narrowed = await diffed(
            await checked(inbound()),
            await checked(
                inbound({ networkRules: { inbound: [{ application: "jupyterlab", from: ["10.1.0.0/16"] }] } }),
            ),
        );
        expect(narrowed).toMatchObject({ changes: true, replaces: [] });
        expect(narrowed.line).toBe("alice: inbound rules changed, applied live; no restart");
    });
});

describe("Quota", () => {
    const quota = (props: Props) =>
        of("Quota", { instances: [{ instance: "alice", size: "Standard_DS3_v2" }], ...props });

    test("a preview that would exceed the quota names it, the total and the instances", async () => {
        expect(await failures(quota({ quota: { cores: 6 } }))).toEqual([
            '[quota.cores] workspace "team" would use 8 cores of its quota of 6: alice 4 (new), bob 4 (stack other/stack). ' +
                "Stopped instances count too; raise quota.cores, or make or delete instances",
        ]);
        expect(await failures(quota({ quota: { cores: -1 } }))).toEqual(["[quota.cores] must be more than 0"]);
        expect((await check({}, quota({ quota: { cores: 8 } }))).failures).toEqual([]);
    });

    test("a new quota applies live", async () => {
        const d = await diffed(
            await checked(quota({ quota: { cores: 8 } })),
            await checked(quota({ quota: { cores: 16 } })),
        );
        expect(d).toMatchObject({ changes: true, replaces: [] });
        expect(d.line).toBe("team: quota cores=8 → cores=16, applied live; no instance touched");
    });
});
