// Resource kinds through the provider's dispatch functions (what the dynamic-provider plugin
// calls), their backend the in-memory fake: check, diff, create, read, update and delete of
// OsDisk and UserFiles, asserted on what the backend then holds.
import * as dispatch from "../../provider/dispatch";
import { KIND_KEY } from "../../provider/kindKey";
import { silentProgress } from "../../provider/progress";
import { FakeBackend, useFakeBackend } from "../support/fakeBackend";
import { runtimeSpec } from "../support/specs";

type Props = Record<string, unknown>;

const fake = new FakeBackend({ like: "docker", name: "dispatch" });
const name = "ci-ml-team-userfiles";
const backend = { docker: { host: "unix:///fake/docker.sock" } };
const stackA = { backend, workspace: "ml-team", owner: "proj/a" };
const stackB = { backend, workspace: "ml-team", owner: "proj/b" };

useFakeBackend(fake);

/** What the provider said under its resources (progress goes to stderr outside the engine). */
let said: string[];
beforeEach(() => {
    said = [];
    jest.spyOn(process.stderr, "write").mockImplementation((chunk) => {
        said.push(String(chunk).trim());
        return true;
    });
});
afterEach(() => jest.restoreAllMocks());

/** The program's inputs checked as the engine checks them (against the state's, when there is one). */
async function checked(kind: string, news: Props, olds: Props = {}): Promise<Props> {
    const r = await dispatch.check(olds, { [KIND_KEY]: kind, ...news });
    expect(r.failures).toEqual([]);
    return r.inputs as Props;
}

/** Checked and created: the id and the outputs the state records. */
async function created(kind: string, news: Props): Promise<{ id: string; outs: Props }> {
    const r = await dispatch.create(await checked(kind, news));
    return { id: r.id, outs: r.outs as Props };
}

/** An update as `pulumi up` makes one: check against the state, diff, and update when it is not a replacement. */
async function updated(id: string, olds: Props, news: Props) {
    const inputs = await checked(String(olds[KIND_KEY]), news, olds);
    const d = await dispatch.diff(id, olds, inputs);
    const outs =
        d.changes && !d.replaces?.length ? ((await dispatch.update(id, olds, inputs)).outs as Props) : undefined;
    return { inputs, diff: d, outs };
}

describe("OsDisk through dispatch, on the fake", () => {
    const disk = { ...stackA, instance: "alice", sizeGb: 20 };

    test("check names the disk and records the engine; create makes it; read finds it", async () => {
        const inputs = await checked("OsDisk", disk);
        expect(inputs).toMatchObject({
            [KIND_KEY]: "OsDisk",
            backend: { kind: "docker", host: "unix:///fake/docker.sock" },
            backendId: "fake:docker:dispatch",
            volumeName: expect.stringMatching(/^ci-ml-team-alice-os-[0-9a-f]{6}$/),
        });
        const { id, outs } = await dispatch.create(inputs);
        expect(id).toBe(inputs.volumeName);
        expect(fake.snapshot().volumes).toContainEqual(
            expect.objectContaining({ name: id, kind: "os", instance: "alice", owner: "proj/a", sizeGb: 20 }),
        );
        expect(await dispatch.read(id, outs as Props)).toEqual({ id, props: outs });
        await dispatch.remove(id, outs as Props);
    });

    test("growing is an update in place, under the same name; shrinking replaces the disk (a reimage)", async () => {
        const { id, outs } = await created("OsDisk", disk);
        const grown = await updated(id, outs, { ...disk, sizeGb: 40 });
        expect(grown.inputs.volumeName).toBe(id);
        expect(grown.diff).toMatchObject({ changes: true, replaces: [] });
        expect(said).toContain("alice: OS disk sizeGb 20 → 40, in place; kept");
        expect(await fake.readDisk(id)).toEqual({ name: id, sizeGb: 40 });

        const shrunk = await updated(id, grown.outs as Props, { ...disk, sizeGb: 10 });
        expect(shrunk.inputs.volumeName).not.toBe(id);
        expect(shrunk.diff.replaces).toEqual(expect.arrayContaining(["sizeGb", "volumeName"]));
        expect(said.some((l) => l.startsWith("alice: OS DISK REPLACED"))).toBe(true);
        // The replacement is made before the old one goes (no deleteBeforeReplace): both exist a moment.
        const next = await dispatch.create(shrunk.inputs);
        await dispatch.remove(id, grown.outs as Props);
        expect(await fake.readDisk(id)).toBeUndefined();
        expect(await fake.readDisk(next.id)).toEqual({ name: next.id, sizeGb: 10 });
        await dispatch.remove(next.id, next.outs as Props);
    });

    test("a disk deleted out of band reads as gone: refresh drops it", async () => {
        const { id, outs } = await created("OsDisk", disk);
        fake.outOfBand.deleteVolume(id);
        expect(await dispatch.read(id, outs)).toEqual({});
        // Deleting what is gone is done already.
        await dispatch.remove(id, outs);
    });

    test("input problems name the user's field; a backend that does not answer names the backend", async () => {
        const bad = await dispatch.check({}, { [KIND_KEY]: "OsDisk", ...disk, sizeGb: 0 });
        expect(bad.failures).toEqual([{ property: "", reason: expect.stringMatching(/^\[osDisk\.sizeGb\] /) }]);
        fake.faults.unreachable = true;
        try {
            const down = await dispatch.check({}, { [KIND_KEY]: "OsDisk", ...disk });
            expect(down.failures).toEqual([
                {
                    property: "",
                    reason: expect.stringMatching(/^\[backend\] fake Docker engine "dispatch" does not answer/),
                },
            ]);
        } finally {
            fake.faults.unreachable = false;
        }
    });

    test("an address that now leads to another engine is refused at check, naming both", async () => {
        const { id, outs } = await created("OsDisk", disk);
        const r = await dispatch.check(
            { ...outs, backendId: "fake:docker:elsewhere" },
            { [KIND_KEY]: "OsDisk", ...disk },
        );
        expect(r.failures).toEqual([
            {
                property: "",
                reason: expect.stringContaining(
                    "unix:///fake/docker.sock leads to another engine (fake:docker:dispatch) than the one this stack's objects are on (fake:docker:elsewhere",
                ),
            },
        ]);
        await dispatch.remove(id, outs);
    });

    test("a failed delete leaves the disk, and says why", async () => {
        const { id, outs } = await created("OsDisk", disk);
        fake.faults.failNext("deleteDisk");
        await expect(dispatch.remove(id, outs)).rejects.toThrow("deleteDisk failed");
        expect(await fake.readDisk(id)).toBeDefined();
        await dispatch.remove(id, outs);
    });
});

describe("UserFiles through dispatch, on the fake", () => {
    const files = (stack: Props, retainOnDelete: boolean) => ({ ...stack, retainOnDelete, sizeGb: 10 });

    test("only the stack that made them deletes them, only when asked, and only when no one uses them", async () => {
        const a = await created("UserFiles", files(stackA, false));
        expect(a.id).toBe(name);
        expect(a.outs).toMatchObject({ adopted: false, createdBy: "proj/a", volumeName: name });

        const b = await created("UserFiles", files(stackB, false));
        expect(b.outs).toMatchObject({ adopted: true, createdBy: "proj/a" });
        expect(said).toContain(`user files ${name}: adopted from proj/a; this stack never deletes them`);
        expect(await fake.userFilesUsers(name)).toEqual(["proj/a", "proj/b"]);

        // The maker goes first, keeping them: stack B is the only user left, and asks for deletion.
        await dispatch.remove(name, { ...a.outs, retainOnDelete: true });
        await dispatch.remove(name, b.outs);
        expect(said).toContain(`user files ${name} kept: adopted from proj/a, whose to delete they are`);
        expect(await fake.userFilesExists(name)).toBe(true);
        expect(await fake.userFilesUsers(name)).toEqual([]);

        // Declared again by their maker: its own again, and deleted when it asks.
        const again = await created("UserFiles", files(stackA, false));
        expect(again.outs).toMatchObject({ adopted: false, createdBy: "proj/a" });
        await dispatch.remove(name, again.outs);
        expect(await fake.userFilesExists(name)).toBe(false);
    });

    test("user files a container mounts are kept, with a warning saying which", async () => {
        const a = await created("UserFiles", files(stackA, false));
        const ref = { workspace: "ml-team", owner: "proj/a", instance: "alice" };
        await fake.createWorkspaceNetwork(ref, "ci-ml-team");
        const osDisk = fake.newDiskName(ref, "os");
        await fake.createDisk(ref, "os", 20, osDisk);
        await fake.createRuntime(
            runtimeSpec({ ...ref, osDisk, tempDisk: fake.newDiskName(ref, "temp"), userFiles: name }),
            silentProgress,
        );
        await dispatch.remove(name, a.outs);
        expect(said).toContain(
            `warning: user files ${name} kept although retainOnDelete is false: used by container ci-ml-team-alice`,
        );
        expect(await fake.userFilesExists(name)).toBe(true);
        await fake.deleteRuntime("ci-ml-team-alice");
        await fake.deleteDisk(osDisk);
        await fake.deleteWorkspaceNetwork("ci-ml-team");
        await dispatch.remove(name, a.outs);
        expect(await fake.userFilesExists(name)).toBe(false);
    });

    test("grown in place; a stack that adopted them before adopters were recorded is recorded at read", async () => {
        const a = await created("UserFiles", files(stackA, true));
        const grown = await updated(name, a.outs, { ...files(stackA, true), sizeGb: 50 });
        expect(grown.diff).toMatchObject({ changes: true, replaces: [] });
        expect(fake.snapshot().volumes).toContainEqual(expect.objectContaining({ name, sizeGb: 50 }));

        const b = await created("UserFiles", files(stackB, true));
        // As a store adopted by an older release holds it: no record of stack B.
        await fake.releaseUserFiles({ workspace: "ml-team", owner: "proj/b" }, name, false);
        expect(await fake.userFilesUsers(name)).toEqual(["proj/a"]);
        expect(await dispatch.read(name, b.outs)).toEqual({ id: name, props: b.outs });
        expect(await fake.userFilesUsers(name)).toEqual(["proj/a", "proj/b"]);

        await dispatch.remove(name, b.outs);
        await dispatch.remove(name, { ...(grown.outs as Props), retainOnDelete: false });
        expect(await fake.userFilesExists(name)).toBe(false);
    });
});
