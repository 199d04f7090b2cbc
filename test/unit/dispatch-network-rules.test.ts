// NetworkRule through the provider's dispatch functions, on the fake: the workspace's egress and
// an instance's inbound ranges, asserted on the rules the fake holds in force and on the copy the
// workspace agent keeps (Docker).
import * as dispatch from "../../provider/dispatch";
import { FakeBackend, useFakeBackend } from "../support/fakeBackend";
import {
    Props,
    WORKSPACE_NETWORK,
    created,
    storedRecords,
    updated,
    wiring,
    workspaceWithAgent,
} from "../support/dispatchKinds";

const fake = new FakeBackend({ like: "docker", name: "rules" });
useFakeBackend(fake);

let agentId: string;
beforeEach(async () => {
    jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    agentId = await workspaceWithAgent(fake);
});
afterEach(() => jest.restoreAllMocks());

describe("egress NetworkRule through dispatch, on the fake", () => {
    /** As Workspace builds it: no direction, the agent's image. */
    const props = (egress?: unknown): Props => ({
        ...wiring(),
        network: WORKSPACE_NETWORK,
        ...(egress !== undefined ? { egress } : {}),
        image: "compute-instance-agent:test",
        agent: agentId,
    });
    const inForce = () => fake.snapshot().egress[WORKSPACE_NETWORK];

    test("create applies the rules and the agent keeps a copy; read finds them; delete removes both", async () => {
        const { id, outs } = await created("NetworkRule", props());
        expect(id).toBe("ml-team-egress");
        expect(outs).toMatchObject({ direction: "egress", guards: "link-local, engine API" });
        expect(inForce()).toBe(outs.signature);
        expect(storedRecords(fake)["network.egress"]).toMatchObject({ egress: "allow", signature: outs.signature });
        expect(await dispatch.read(id, outs)).toEqual({ id, props: outs });
        await dispatch.remove(id, outs);
        expect(inForce()).toBeUndefined();
        expect(storedRecords(fake)["network.egress"]).toBeUndefined();
    });

    test("rules flushed (a reboot) or edited by hand read as gone", async () => {
        const { id, outs } = await created("NetworkRule", props("deny"));
        fake.outOfBand.tamperEgress(WORKSPACE_NETWORK);
        expect(await dispatch.read(id, outs)).toEqual({});
        const again = await created("NetworkRule", props("deny"));
        fake.outOfBand.dropNetworkRules();
        expect(await dispatch.read(id, again.outs)).toEqual({});
        await dispatch.remove(id, again.outs);
    });

    test("a new policy is applied live, under the same id", async () => {
        const { id, outs } = await created("NetworkRule", props());
        const denied = await updated(id, outs, props({ allow: ["10.0.0.0/8"] }));
        expect(denied.diff).toMatchObject({ changes: true, replaces: [] });
        expect(denied.outs?.signature).not.toBe(outs.signature);
        expect(inForce()).toBe(denied.outs?.signature);
        expect(storedRecords(fake)["network.egress"]).toMatchObject({ egress: { allow: ["10.0.0.0/8"] } });
        await dispatch.remove(id, denied.outs as Props);
    });

    test("an engine that manages no firewall: a policy asked for fails; none asked for is said, not failed", async () => {
        fake.faults.noFirewall = true;
        try {
            const { id, outs } = await created("NetworkRule", props());
            expect(outs.signature).toBe("unguarded");
            expect(inForce()).toBeUndefined();
            expect(await dispatch.read(id, outs)).toEqual({ id, props: outs });
            await expect(updated(id, outs, props("deny"))).rejects.toThrow();
            await dispatch.remove(id, outs);
        } finally {
            fake.faults.noFirewall = false;
        }
    });
});

describe("inbound NetworkRule through dispatch, on the fake", () => {
    /** As ComputeInstance builds it, from the instance's network and the runtime's ports. */
    const props = (from: string[]): Props => ({
        ...wiring(),
        instance: "alice",
        direction: "inbound",
        network: WORKSPACE_NETWORK,
        networkRules: { inbound: [{ application: "jupyterlab", from }] },
        applications: ["jupyterlab"],
        ports: { jupyter: 40001 },
        firewallImage: "compute-instance-agent:test",
        runtime: "c0ffee",
        agent: agentId,
    });
    const inForce = () => fake.snapshot().inbound["ml-team/alice"];
    const copy = () => storedRecords(fake)["network.inbound.alice"];

    test("create applies the ranges and the agent keeps a copy; read finds them; delete removes both", async () => {
        const { id, outs } = await created("NetworkRule", props(["10.0.0.0/8"]));
        expect(id).toBe("ml-team-alice-inbound");
        expect(inForce()).toContain("10.0.0.0/8");
        expect(copy()).toMatchObject({ instance: "alice", networkRules: { inbound: [{ from: ["10.0.0.0/8"] }] } });
        expect(await dispatch.read(id, outs)).toEqual({ id, props: outs });
        await dispatch.remove(id, outs);
        expect(inForce()).toBeUndefined();
        expect(copy()).toBeUndefined();
    });

    test("ranges flushed by a reboot read as gone", async () => {
        const { id, outs } = await created("NetworkRule", props(["10.0.0.0/8"]));
        fake.outOfBand.dropNetworkRules();
        expect(await dispatch.read(id, outs)).toEqual({});
        await dispatch.remove(id, outs);
    });

    test("new ranges are applied live", async () => {
        const { id, outs } = await created("NetworkRule", props(["10.0.0.0/8"]));
        const wider = await updated(id, outs, props(["10.0.0.0/8", "192.168.0.0/16"]));
        expect(wider.diff).toMatchObject({ changes: true, replaces: [] });
        expect(inForce()).toContain("192.168.0.0/16");
        expect(copy()).toMatchObject({ networkRules: { inbound: [{ from: ["10.0.0.0/8", "192.168.0.0/16"] }] } });
        await dispatch.remove(id, wider.outs as Props);
    });

    test("a failed apply leaves the ranges in force as they were", async () => {
        const { id, outs } = await created("NetworkRule", props(["10.0.0.0/8"]));
        const before = inForce();
        fake.faults.failNext("applyInboundRules");
        await expect(updated(id, outs, props(["0.0.0.0/0"]))).rejects.toThrow("applyInboundRules failed");
        expect(inForce()).toBe(before);
        expect(copy()).toMatchObject({ networkRules: { inbound: [{ from: ["10.0.0.0/8"] }] } });
        await dispatch.remove(id, outs);
    });
});
