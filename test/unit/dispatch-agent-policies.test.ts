// Schedule and IdleShutdown through the provider's dispatch functions, on the fake: each is one
// record of the workspace agent's store, asserted on what the store then holds.
import * as dispatch from "../../provider/dispatch";
import { FakeBackend, useFakeBackend } from "../support/fakeBackend";
import { Props, checked, created, storedRecords, updated, wiring, workspaceWithAgent } from "../support/dispatchKinds";

const fake = new FakeBackend({ like: "docker", name: "policies" });
useFakeBackend(fake);

let agentId: string;
beforeEach(async () => {
    jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    agentId = await workspaceWithAgent(fake);
});
afterEach(() => jest.restoreAllMocks());

const stored = () => storedRecords(fake);

describe("Schedule through dispatch, on the fake", () => {
    const schedules = [
        { name: "morning", action: "start", cron: "0 8 * * 1-5", timeZone: "Europe/Berlin" },
        { name: "evening", action: "stop", cron: "0 19 * * 1-5", timeZone: "Europe/Berlin" },
    ];
    /** As ComputeInstance builds it: the wiring, the agent, the position and the whole list. */
    const props = (index: number, own: Props = {}): Props => ({
        ...wiring(),
        instance: "alice",
        agent: agentId,
        index,
        all: schedules,
        ...schedules[index],
        ...own,
    });

    test("create writes the record and shows the next firings; read finds it", async () => {
        const { id, outs } = await created("Schedule", props(0));
        expect(id).toBe("schedule.alice.morning");
        expect(stored()[id]).toEqual({
            action: "start",
            cron: "0 8 * * 1-5",
            timeZone: "Europe/Berlin",
            enabled: true,
        });
        expect(outs.nextFirings).toHaveLength(3);
        const r = await dispatch.read(id, outs);
        expect(r.id).toBe(id);
        expect(r.props).toMatchObject({ action: "start", cron: "0 8 * * 1-5", enabled: true });
        await dispatch.remove(id, outs);
        expect(stored()[id]).toBeUndefined();
    });

    test("a record removed behind the provider's back reads as gone", async () => {
        const { id, outs } = await created("Schedule", props(1));
        await fake.agentStore("ml-team").writePolicy(id, undefined);
        expect(await dispatch.read(id, outs)).toEqual({});
        // So does every record of an agent deleted by hand (the store is reached through it).
        const again = await created("Schedule", props(1));
        fake.outOfBand.deleteAgent("ml-team");
        expect(await dispatch.read(again.id, again.outs)).toEqual({});
    });

    test("a new cron or disabling is an update of the record in place; a new name replaces it", async () => {
        const { id, outs } = await created("Schedule", props(1));
        const later = await updated(id, outs, props(1, { cron: "30 20 * * *" }));
        expect(later.diff).toMatchObject({ changes: true, replaces: [] });
        expect(stored()[id]).toMatchObject({ cron: "30 20 * * *", enabled: true });
        const off = await updated(id, later.outs as Props, props(1, { cron: "30 20 * * *", enabled: false }));
        expect(off.diff).toMatchObject({ changes: true, replaces: [] });
        expect(stored()[id]).toMatchObject({ enabled: false });
        expect(off.outs?.nextFirings).toEqual([]);

        const renamed = await updated(id, off.outs as Props, props(1, { name: "night" }));
        expect(renamed.diff.replaces).toContain("name");
        expect(stored()[id]).toMatchObject({ enabled: false });
        await dispatch.remove(id, off.outs as Props);
    });

    test("a write that fails leaves the record as it was, and says why", async () => {
        const { id, outs } = await created("Schedule", props(0));
        const inputs = await checked("Schedule", props(0, { cron: "0 9 * * 1-5" }), outs);
        fake.faults.failNext("agentStore.writePolicy");
        await expect(dispatch.update(id, outs, inputs)).rejects.toThrow("writePolicy failed");
        expect(stored()[id]).toMatchObject({ cron: "0 8 * * 1-5" });
        // With no agent, a write is refused, naming what to do.
        fake.outOfBand.deleteAgent("ml-team");
        await expect(dispatch.update(id, outs, inputs)).rejects.toThrow(/workspace agent of ml-team is missing/);
    });
});

describe("IdleShutdown through dispatch, on the fake", () => {
    const props = (after: unknown = "1h"): Props => ({ ...wiring(), instance: "bob", agent: agentId, after });

    test("create writes the record; read finds it; delete removes it", async () => {
        const { id, outs } = await created("IdleShutdown", props());
        expect(id).toBe("idle.bob");
        expect(stored()[id]).toEqual({ afterSeconds: 3600 });
        expect(await dispatch.read(id, outs)).toEqual({ id, props: outs });
        await dispatch.remove(id, outs);
        expect(stored()[id]).toBeUndefined();
        expect(await dispatch.read(id, outs)).toEqual({});
    });

    test("a new delay is an update in place; what the store holds is what read reports", async () => {
        const { id, outs } = await created("IdleShutdown", props());
        const longer = await updated(id, outs, props("2h"));
        expect(longer.diff).toMatchObject({ changes: true, replaces: [] });
        expect(stored()[id]).toEqual({ afterSeconds: 7200 });
        // Edited by hand: refresh reports the store's value, so the next up puts the program's back.
        fake.outOfBand.writeStoreText("ml-team", id, JSON.stringify({ afterSeconds: 5400 }));
        expect((await dispatch.read(id, longer.outs as Props)).props).toMatchObject({ after: 5400 });
        await dispatch.remove(id, longer.outs as Props);
    });

    test("a failed delete leaves the record; a record that cannot be read reads as gone", async () => {
        const { id, outs } = await created("IdleShutdown", props());
        fake.faults.failNext("agentStore.writePolicy");
        await expect(dispatch.remove(id, outs)).rejects.toThrow("writePolicy failed");
        expect(stored()[id]).toEqual({ afterSeconds: 3600 });
        fake.outOfBand.writeStoreText("ml-team", id, "{not json");
        expect(await dispatch.read(id, outs)).toEqual({});
        await dispatch.remove(id, outs);
        expect(stored()[id]).toBeUndefined();
    });
});

describe("JobQueue through dispatch, on the fake", () => {
    const props = (own: Props = {}): Props => ({ ...wiring(), instance: "carol", agent: agentId, ...own });

    test("defaults to on, two per core; a new figure is live; delete removes the record", async () => {
        const { id, outs } = await created("JobQueue", props());
        expect(id).toBe("jobqueue.carol");
        expect(stored()[id]).toEqual({ enabled: true, perCore: 2 });
        expect(await dispatch.read(id, outs)).toEqual({ id, props: outs });
        const one = await updated(id, outs, props({ perCore: 1 }));
        expect(one.diff).toMatchObject({ changes: true, replaces: [] });
        expect(stored()[id]).toEqual({ enabled: true, perCore: 1 });
        const off = await updated(id, one.outs as Props, props({ enabled: false, perCore: 1 }));
        expect(off.diff).toMatchObject({ changes: true, replaces: [] });
        expect(stored()[id]).toEqual({ enabled: false, perCore: 1 });
        await dispatch.remove(id, off.outs as Props);
        expect(stored()[id]).toBeUndefined();
    });

    test("a figure of jobs per core that is not more than 0 is refused, naming the field", async () => {
        const r = await dispatch.check({}, { __kind: "JobQueue", ...props({ perCore: 0 }) });
        expect(r.failures).toEqual([
            { property: "", reason: "[jobs.perCore] must be more than 0 (to take no jobs, set enabled: false)" },
        ]);
    });
});
