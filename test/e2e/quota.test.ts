// The workspace quota on the real engine, with two stacks sharing one workspace: every instance
// counts (stopped ones too, other stacks' too); a preview that would exceed the quota fails naming
// it, the total and the instances, and creates nothing; a change of quota applies live; a quota
// already exceeded blocks only changes that add to it.
import * as path from "path";
import { execFileSync } from "child_process";
import {
    TestStack,
    collect,
    customSteps,
    docker,
    failureOf,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
} from "../support/stacks";

const ws = uniqueWorkspace("quo");
const one = { size: { cpus: 1, memoryGb: 1 }, osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 } };
let a: TestStack;
let b: TestStack;
const cli = (args: string[]) =>
    execFileSync("node", [path.join(__dirname, "../../bin/cli/main.js"), ...args], { encoding: "utf8" });

async function previewError(t: TestStack, config: Record<string, unknown>): Promise<string> {
    await t.setConfig(config);
    return failureOf(t.stack.preview());
}

const containers = async () =>
    (
        await docker.listContainers({
            all: true,
            filters: { label: [`compute-instance.pulumi.io/workspace=${ws}`, "app.kubernetes.io/component=runtime"] },
        })
    )
        .map((c) => c.Labels["app.kubernetes.io/instance"])
        .sort();

beforeAll(async () => {
    a = await programStack("instance", { workspaceName: ws, quota: { cores: 3 }, instances: { alice: one } });
    await a.stack.up(collect(a));
    b = await programStack("instance", { workspaceName: ws, instances: { bob: one } });
    await b.stack.up(collect(b));
});

afterAll(async () => {
    for (const t of [b, a]) {
        if (!t) continue;
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    await purgeWorkspace(ws);
});

describe("workspace quota", () => {
    test("another stack's new instance that would exceed it fails the preview: the quota, the total, every instance", async () => {
        // alice is stopped: she still counts, as in Azure.
        cli(["stop", "alice", "--workspace", ws]);
        const m = await previewError(b, {
            workspaceName: ws,
            instances: { bob: one, carol: { ...one, size: { cpus: 1.5, memoryGb: 1 } } },
        });
        expect(m).toContain(
            `[quota.cores] workspace "${ws}" would use 3.5 cores of its quota of 3: alice 1 (stack e2e-instance/${a.stack.name}, stopped), bob 1, carol 1.5 (new)`,
        );
        expect(m).toContain(`(the quota is set by stack e2e-instance/${a.stack.name})`);
        expect(await containers()).toEqual(["alice", "bob"]);
        // An `up` without a preview (the Automation API's) checks as it goes: nothing of carol is made.
        const up = await failureOf(b.stack.up());
        expect(up).toContain("[quota.cores]");
        expect(await containers()).toEqual(["alice", "bob"]);
        const volumes = await docker.listVolumes({
            filters: { label: [`compute-instance.pulumi.io/workspace=${ws}`, "app.kubernetes.io/instance=carol"] },
        });
        expect(volumes.Volumes ?? []).toEqual([]);
        // Nothing already running was touched by the refused change.
        expect((await docker.getContainer(`ci-${ws}-bob`).inspect()).State.Running).toBe(true);
    });

    test("raising the quota is the quota's update, live; the instance then fits", async () => {
        await a.setConfig({ workspaceName: ws, quota: { cores: 4 }, instances: { alice: one } });
        await a.stack.up(collect(a));
        expect(customSteps(a)).toEqual({ [`${ws}-quota`]: "update" });
        await b.setConfig({
            workspaceName: ws,
            instances: { bob: one, carol: { ...one, size: { cpus: 1.5, memoryGb: 1 } } },
        });
        await b.stack.up(collect(b));
        expect(await containers()).toEqual(["alice", "bob", "carol"]);
    });

    test("a quota lowered below what is used applies; then only changes that add to it are refused", async () => {
        await a.setConfig({ workspaceName: ws, quota: { cores: 2 }, instances: { alice: one } });
        await a.stack.up(collect(a));
        const m = await previewError(b, {
            workspaceName: ws,
            instances: {
                bob: { ...one, size: { cpus: 1.5, memoryGb: 1 } },
                carol: { ...one, size: { cpus: 1.5, memoryGb: 1 } },
            },
        });
        expect(m).toContain("would use 4 cores of its quota of 2; already 3.5 before this change");
        // Shrinking carol adds nothing: it passes, though the workspace is still over.
        await b.setConfig({
            workspaceName: ws,
            instances: { bob: one, carol: { ...one, size: { cpus: 0.5, memoryGb: 1 } } },
        });
        await b.stack.up(collect(b));
        expect(customSteps(b)).toEqual({ "carol-runtime": "update" });
    });

    test("deleting instances in the same change frees their cores for the new ones", async () => {
        await b.setConfig({ workspaceName: ws, instances: { dave: { ...one, size: { cpus: 1, memoryGb: 1 } } } });
        // After: alice 1 + dave 1 = 2, within the quota of 2.
        await b.stack.preview();
    });
});
