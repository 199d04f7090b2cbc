// The address of an engine is connection configuration, not identity, on the real engine: a
// stack deployed through one socket path and previewed through another (a CI runner's
// environment against a laptop's) changes nothing; when the recorded address is gone, refresh
// and destroy reach the engine by this machine's default address; an address that leads to
// another engine (a second real dockerd, with its own data root) is refused at preview, naming
// both, and nothing is made there.
import { ChildProcess, execFileSync, spawn } from "child_process";
import Docker from "dockerode";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    TestStack,
    collect,
    docker,
    failureOf,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    waitFor,
} from "../support/stacks";

const ws = uniqueWorkspace("adr");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-addr-"));
/** Another path to the same engine: a link to its socket, as another machine's environment would name it. */
const linked = path.join(dir, "docker.sock");
const alice = { size: { cpus: 0.5, memoryGb: 1 }, osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 } };
const config = (dockerHost: string) => ({ workspaceName: ws, dockerHost, instances: { alice } });
let t: TestStack;
let second: ChildProcess | undefined;
const secondRoot = path.join(dir, "d2");
const secondSocket = path.join(dir, "d2.sock");
const secondBridge = `ci${ws.slice(-8)}d2`;

async function objects() {
    const c = await docker.getContainer(`ci-${ws}-alice`).inspect();
    return {
        container: c.Id,
        volumes: (c.Mounts ?? [])
            .map((m) => m.Name)
            .filter(Boolean)
            .sort(),
    };
}

beforeAll(async () => {
    fs.symlinkSync("/var/run/docker.sock", linked);
    t = await programStack("instance", config(`unix://${linked}`));
    await t.stack.up(collect(t));
});

afterAll(async () => {
    if (t) {
        await t.setConfig(config("unix:///var/run/docker.sock"));
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    await purgeWorkspace(ws);
    if (second?.pid) {
        second.kill("SIGTERM");
        await waitFor(
            "the second engine to stop",
            30_000,
            async () => second?.exitCode !== null || second?.signalCode !== null,
        );
    }
    try {
        execFileSync("ip", ["link", "del", secondBridge]);
    } catch {
        /* never made */
    }
    fs.rmSync(dir, { recursive: true, force: true });
});

describe("the address of the Docker engine", () => {
    test("another path to the same engine is no change: the preview is empty and up keeps the disks and the container", async () => {
        const before = await objects();
        await t.setConfig(config("unix:///run/docker.sock"));
        const preview = await t.stack.preview(collect(t));
        expect(Object.keys(preview.changeSummary).filter((k) => k !== "same")).toEqual([]);
        await t.stack.up(collect(t));
        expect(await objects()).toEqual(before);
    });

    test("when the address of the last deployment is gone, refresh and destroy reach the engine at this machine's default", async () => {
        // Deployed through the link (its outputs record it), then the link goes, as another machine would not have it.
        await t.setConfig(config(`unix://${linked}`));
        await t.stack.up(collect(t));
        const before = await objects();
        fs.unlinkSync(linked);
        const refreshed = await t.stack.refresh(collect(t));
        // Nothing was taken for gone: every resource read back where it is.
        expect(refreshed.summary.resourceChanges?.delete ?? 0).toBe(0);
        expect(await objects()).toEqual(before);
        fs.symlinkSync("/var/run/docker.sock", linked);
    });

    test("an address that leads to another engine is refused at preview, naming both, and nothing is made there", async () => {
        fs.mkdirSync(secondRoot, { recursive: true });
        // A bridge of its own, and no hand on the host's firewall or sysctls: `--bridge none` would
        // delete the first engine's docker0 (dockerd removes the default bridge when told to use none).
        execFileSync("ip", ["link", "add", secondBridge, "type", "bridge"]);
        execFileSync("ip", ["addr", "add", "198.19.250.1/24", "dev", secondBridge]);
        second = spawn(
            "dockerd",
            [
                "--data-root",
                path.join(secondRoot, "root"),
                "--exec-root",
                path.join(secondRoot, "exec"),
                "--pidfile",
                path.join(secondRoot, "pid"),
                "-H",
                `unix://${secondSocket}`,
                "--bridge",
                secondBridge,
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--containerd-namespace",
                `${ws}-d2`,
                "--containerd-plugins-namespace",
                `${ws}-d2p`,
            ],
            { stdio: "ignore" },
        );
        const other = new Docker({ socketPath: secondSocket });
        await waitFor(
            "the second engine to answer",
            60_000,
            async () =>
                fs.existsSync(secondSocket) &&
                (await other.ping().then(
                    () => true,
                    () => false,
                )),
        );

        await t.setConfig(config(`unix://${secondSocket}`));
        const message = await failureOf(t.stack.preview(collect(t)));
        expect(message).toMatch(
            new RegExp(
                `\\[backend\\] unix://${secondSocket} leads to another engine \\(docker-engine:[^)]*${secondRoot}/root\\) than the one this stack's objects are on \\(docker-engine:[^)]*/var/lib/docker`,
            ),
        );
        expect(message).not.toMatch(/unhandled exception|UNAVAILABLE/);
        // `up` checks again before it does anything.
        expect(await failureOf(t.stack.up(collect(t)))).toContain("leads to another engine");
        expect(await other.listContainers({ all: true })).toEqual([]);
        expect((await other.listVolumes()).Volumes ?? []).toEqual([]);
        expect(await objects()).toBeDefined();
    });
});
