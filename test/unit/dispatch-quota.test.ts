// Quota through the provider's dispatch functions, on the fake: the quota a stack declares is kept
// in the workspace agent's store (so other stacks are held to it), and its check counts the
// instances the program declares.
import * as dispatch from "../../provider/dispatch";
import { KIND_KEY } from "../../provider/kindKey";
import { FakeBackend, useFakeBackend } from "../support/fakeBackend";
import { Props, created, storedRecords, updated, wiring, workspaceWithAgent } from "../support/dispatchKinds";

const fake = new FakeBackend({ like: "docker", name: "quota" });
useFakeBackend(fake);

beforeEach(async () => {
    jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    await workspaceWithAgent(fake);
});
afterEach(() => jest.restoreAllMocks());

/** As Workspace builds it: the quota, and this stack's instances as the program declares them. */
const props = (quota: unknown, instances: string[] = [], owner = "proj/a"): Props => ({
    ...wiring(owner),
    ...(quota !== undefined ? { quota } : {}),
    instances: instances.map((instance) => ({ instance, size: "Standard_DS2_v2" })),
});
const stored = () => storedRecords(fake).quota;

describe("Quota through dispatch, on the fake", () => {
    test("create keeps the declared quota in the agent's store; read reports it; delete forgets it", async () => {
        const { id, outs } = await created("Quota", props({ cores: 8 }, ["alice"]));
        expect(id).toBe("ml-team-quota");
        expect(stored()).toEqual({ cores: 8, owner: "proj/a" });
        expect(await dispatch.read(id, outs)).toEqual({ id, props: outs });
        await dispatch.remove(id, outs);
        expect(stored()).toBeUndefined();
    });

    test("a quota removed behind the stack's back reads as no quota (the resource stays)", async () => {
        const { id, outs } = await created("Quota", props({ cores: 8 }));
        await fake.agentStore("ml-team").writePolicy("quota", undefined);
        const r = await dispatch.read(id, outs);
        expect(r.id).toBe(id);
        expect(r.props).not.toHaveProperty("quota");
        expect(r.props).toMatchObject({ [KIND_KEY]: "Quota", workspace: "ml-team" });
    });

    test("a new quota is written live; dropping it forgets only the stack's own", async () => {
        const { id, outs } = await created("Quota", props({ cores: 8 }));
        const more = await updated(id, outs, props({ cores: 16, gpus: 1 }));
        expect(more.diff).toMatchObject({ changes: true, replaces: [] });
        expect(stored()).toEqual({ cores: 16, gpus: 1, owner: "proj/a" });

        // Another stack sets its own since: dropping this stack's quota leaves the other's.
        const b = await created("Quota", props({ cores: 4 }, [], "proj/b"));
        expect(stored()).toEqual({ cores: 4, owner: "proj/b" });
        const dropped = await updated(id, more.outs as Props, props(undefined));
        expect(dropped.diff).toMatchObject({ changes: true, replaces: [] });
        expect(stored()).toEqual({ cores: 4, owner: "proj/b" });
        await dispatch.remove(b.id, b.outs);
        expect(stored()).toBeUndefined();
    });

    test("check fails a program that declares more than the quota, naming the stack that set it", async () => {
        const b = await created("Quota", props({ cores: 4 }, [], "proj/b"));
        const fits = await dispatch.check({}, { [KIND_KEY]: "Quota", ...props(undefined, ["alice", "bob"]) });
        expect(fits.failures).toEqual([]);
        const over = await dispatch.check({}, { [KIND_KEY]: "Quota", ...props(undefined, ["alice", "bob", "carol"]) });
        expect(over.failures).toEqual([
            { property: "", reason: expect.stringContaining("(the quota is set by stack proj/b)") },
        ]);
        await dispatch.remove(b.id, b.outs);
    });

    test("a failed write fails the create and leaves no quota", async () => {
        fake.faults.failNext("agentStore.writePolicy");
        await expect(created("Quota", props({ cores: 8 }))).rejects.toThrow("writePolicy failed");
        expect(stored()).toBeUndefined();
    });
});
