// The workspace's kinds and the instance's smaller ones through the provider's dispatch functions,
// on the fake: WorkspaceNetwork, WorkspaceAgent, TempDisk and AccessToken, asserted on the fake's state.
import * as dispatch from "../../provider/dispatch";
import { FakeBackend, useFakeBackend } from "../support/fakeBackend";
import { Props, WORKSPACE_NETWORK, checked, created, updated, wiring } from "../support/dispatchKinds";

const fake = new FakeBackend({ like: "docker", name: "workspace" });
useFakeBackend(fake);

beforeEach(() => jest.spyOn(process.stderr, "write").mockImplementation(() => true));
afterEach(() => jest.restoreAllMocks());

describe("WorkspaceNetwork through dispatch, on the fake", () => {
    test("create makes it; read finds it; gone by hand reads as gone; a failed delete keeps it", async () => {
        const { id, outs } = await created("WorkspaceNetwork", wiring());
        expect(id).toBe(WORKSPACE_NETWORK);
        expect(fake.snapshot().networks).toEqual([{ name: id, workspace: "ml-team", owner: "proj/a" }]);
        expect(await dispatch.read(id, outs)).toEqual({ id, props: outs });
        fake.faults.failNext("deleteWorkspaceNetwork");
        await expect(dispatch.remove(id, outs)).rejects.toThrow("deleteWorkspaceNetwork failed");
        expect(await fake.workspaceNetworkExists(id)).toBe(true);
        fake.outOfBand.deleteNetwork(id);
        expect(await dispatch.read(id, outs)).toEqual({});
        await dispatch.remove(id, outs);
        expect(fake.snapshot().networks).toEqual([]);
    });
});

describe("WorkspaceAgent through dispatch, on the fake", () => {
    /** As Workspace builds it. */
    const props = (checkInterval?: string): Props => ({
        ...wiring(),
        image: "compute-instance-agent:test",
        contextHash: "abc123",
        network: WORKSPACE_NETWORK,
        ...(checkInterval !== undefined ? { checkInterval } : {}),
    });
    const agent = () => fake.snapshot().agents.find((a) => a.spec.workspace === "ml-team");

    beforeAll(() => fake.createWorkspaceNetwork({ workspace: "ml-team", owner: "proj/a" }, WORKSPACE_NETWORK));

    test("create builds its image and runs it; read reports it; a new interval is live; delete removes it", async () => {
        const { id, outs } = await created("WorkspaceAgent", props());
        expect(outs).toMatchObject({ agentId: id, checkInterval: 30 });
        expect(agent()).toMatchObject({
            running: true,
            spec: { network: WORKSPACE_NETWORK, checkIntervalSeconds: 30 },
        });
        expect(fake.snapshot().images).toContainEqual(
            expect.objectContaining({ name: "compute-instance-agent:test", contextHash: "abc123" }),
        );
        expect((await dispatch.read(id, outs)).props).toMatchObject({ running: true, checkInterval: 30 });

        const slower = await updated(id, outs, props("2m"));
        expect(slower.diff).toMatchObject({ changes: true, replaces: [] });
        expect(agent()?.spec.checkIntervalSeconds).toBe(120);

        await dispatch.remove(id, slower.outs as Props);
        expect(agent()).toBeUndefined();
    });

    test("an agent removed by hand reads as gone; a failed create leaves none", async () => {
        const { id, outs } = await created("WorkspaceAgent", props());
        fake.outOfBand.deleteAgent("ml-team");
        expect(await dispatch.read(id, outs)).toEqual({});
        fake.faults.failNext("ensureAgent");
        await expect(created("WorkspaceAgent", props())).rejects.toThrow("ensureAgent failed");
        expect(agent()).toBeUndefined();
    });
});

describe("TempDisk through dispatch, on the fake", () => {
    /** As ComputeInstance builds it: the size gives the default. */
    const props = (sizeGb?: number): Props => ({
        ...wiring(),
        instance: "alice",
        size: "Standard_DS2_v2",
        ...(sizeGb !== undefined ? { sizeGb } : {}),
    });

    test("create makes it the size's size; read finds it; grown live; gone by hand; a failed delete keeps it", async () => {
        const { id, outs } = await created("TempDisk", props());
        expect(outs).toMatchObject({ volumeName: id, sizeGb: 14 });
        expect(fake.snapshot().volumes).toContainEqual(
            expect.objectContaining({ name: id, kind: "temp", instance: "alice", owner: "proj/a", sizeGb: 14 }),
        );
        expect(await dispatch.read(id, outs)).toEqual({ id, props: outs });

        const grown = await updated(id, outs, props(30));
        expect(grown.diff).toMatchObject({ changes: true, replaces: [] });
        expect(await fake.readDisk(id)).toEqual({ name: id, sizeGb: 30 });

        fake.faults.failNext("deleteDisk");
        await expect(dispatch.remove(id, grown.outs as Props)).rejects.toThrow("deleteDisk failed");
        expect(await fake.readDisk(id)).toBeDefined();
        fake.outOfBand.deleteVolume(id);
        expect(await dispatch.read(id, grown.outs as Props)).toEqual({});
        await dispatch.remove(id, grown.outs as Props);
    });
});

describe("AccessToken through dispatch", () => {
    test("a token is made once and kept; a new version replaces it", async () => {
        const { id, outs } = await created("AccessToken", { tokenVersion: 1 });
        expect(outs.token).toMatch(/^[0-9a-f]{64}$/);
        expect(await dispatch.read(id, outs)).toEqual({ id, props: outs });
        const same = await checked("AccessToken", { tokenVersion: 1 }, outs);
        expect((await dispatch.diff(id, outs, same)).changes).toBe(false);
        const next = await checked("AccessToken", { tokenVersion: 2 }, outs);
        expect((await dispatch.diff(id, outs, next)).replaces).toContain("tokenVersion");
        const other = await dispatch.create(next);
        expect((other.outs as Props).token).not.toBe(outs.token);
        await dispatch.remove(id, outs);
    });
});

describe("WorkstationImage through dispatch, on the fake", () => {
    const props = (contextHash: string): Props => ({
        backend: wiring().backend,
        image: "compute-instance-workstation:test",
        contextHash,
    });
    const built = () => fake.snapshot().images.find((i) => i.name === "compute-instance-workstation:test");

    test("create builds it; an edited context rebuilds it live; delete leaves the shared cache", async () => {
        const { id, outs } = await created("WorkstationImage", props("h1"));
        expect(built()).toMatchObject({ id: outs.imageId, contextHash: "h1" });
        expect(await dispatch.read(id, outs)).toEqual({ id, props: outs });
        const edited = await updated(id, outs, props("h2"));
        expect(edited.diff).toMatchObject({ changes: true, replaces: [] });
        expect(built()).toMatchObject({ id: edited.outs?.imageId, contextHash: "h2" });
        await dispatch.remove(id, edited.outs as Props);
        expect(built()).toBeDefined();
    });

    test("an image removed by hand reads as gone; a failed build fails the create", async () => {
        const { id, outs } = await created("WorkstationImage", props("h3"));
        await fake.removeImagesExcept(["compute-instance-workstation"], []);
        expect(built()).toBeUndefined();
        expect(await dispatch.read(id, outs)).toEqual({});
        fake.faults.failNext("buildImage");
        await expect(created("WorkstationImage", props("h4"))).rejects.toThrow("buildImage failed");
        expect(built()).toBeUndefined();
    });
});
