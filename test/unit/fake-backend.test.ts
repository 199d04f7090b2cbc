// The in-memory fake beyond the backend contract: the rules of the real backends it keeps (each
// named after the backend that enforces it), and the faults tests inject into it.
import {
    BackendError,
    KeptForInspectionError,
    NoFirewallError,
    RuntimeSpec,
    type InboundSpec,
} from "../../provider/backends/backend";
import { agentRecords } from "../../provider/model/agentProtocol";
import { silentProgress } from "../../provider/progress";
import { FakeBackend, FakeFlavour } from "../support/fakeBackend";
import { runtimeSpec } from "../support/specs";

const owner = "proj/dev";
const ref = { workspace: "ml", owner, instance: "alice" };

/** A fake with the workspace's objects and one instance's disks, and the spec of its runtime. */
async function workspaceOn(like: FakeFlavour = "docker", options: ConstructorParameters<typeof FakeBackend>[0] = {}) {
    const b = new FakeBackend({ like, ...options });
    await b.createUserFiles(ref, b.userFilesName("ml"), 10);
    await b.createWorkspaceNetwork(ref, b.workspaceNetworkName("ml"));
    const osDisk = b.newDiskName(ref, "os");
    const tempDisk = b.newDiskName(ref, "temp");
    await b.createDisk(ref, "os", 20, osDisk);
    await b.createDisk(ref, "temp", 4, tempDisk);
    const spec = runtimeSpec({
        ...ref,
        cpus: 1,
        memoryGb: 2,
        osDisk,
        tempDisk,
        userFiles: b.userFilesName("ml"),
        network: b.workspaceNetworkName("ml"),
    });
    return { b, spec };
}

const agentOf = (spec: RuntimeSpec) => ({
    workspace: "ml",
    owner,
    image: "agent:1",
    checkIntervalSeconds: 30,
    network: spec.network,
});

const inboundOf = (spec: RuntimeSpec, ports: Record<string, number>, from: string[]): InboundSpec => ({
    ...ref,
    network: spec.network,
    applications: spec.applications,
    ssh: null,
    networkRules: { publicBind: true, inbound: [{ service: "jupyter", from }] },
    ports,
    firewallImage: "agent:1",
});

describe("the fake backend keeps the real backends' rules", () => {
    test("what is not there reads as gone, and changing it is refused naming it", async () => {
        const b = new FakeBackend();
        expect(await b.readRuntime("ci-ml-nobody")).toBeUndefined();
        expect(await b.readDisk("ci-ml-nobody-os-000000")).toBeUndefined();
        expect(await b.userFilesExists("ci-ml-userfiles")).toBe(false);
        await expect(b.updateRuntime("ci-ml-nobody", { cpus: 1 })).rejects.toThrow(
            /ci-ml-nobody is gone from the fake/,
        );
        await expect(b.stopRuntime("ci-ml-nobody")).rejects.toThrow("no instance ci-ml-nobody on the fake");
        await expect(b.startRuntime("ci-ml-nobody", silentProgress, 1)).rejects.toThrow(BackendError);
        await expect(b.resizeDisk("ci-ml-nobody-os-000000", 30)).rejects.toThrow(/is gone/);
        // Deleting what is gone is done already.
        await b.deleteRuntime("ci-ml-nobody");
        await b.deleteDisk("ci-ml-nobody-os-000000");
        await b.deleteWorkspaceNetwork("ci-ml");
        expect(await b.releaseUserFiles(ref, "ci-ml-userfiles", true)).toEqual({ deleted: false });
    });

    test("a name taken by something else is a conflict", async () => {
        const { b, spec } = await workspaceOn();
        await expect(b.createUserFiles({ workspace: "ml", owner }, spec.osDisk, 10)).rejects.toThrow(
            /is not the user files of workspace "ml"/,
        );
        await expect(b.createUserFiles({ workspace: "other", owner }, spec.userFiles, 10)).rejects.toThrow(
            /is not the user files of workspace "other"/,
        );
        await expect(b.createDisk({ ...ref, instance: "bob" }, "os", 20, spec.osDisk)).rejects.toThrow(
            /is not the os disk of ml\/bob/,
        );
        // The same disk asked for again (a create tried again) is the same disk.
        expect(await b.createDisk(ref, "os", 20, spec.osDisk)).toEqual({ name: spec.osDisk, sizeGb: 20 });
    });

    test("an instance name is one runtime per workspace: another stack's is a clash, this stack's an orphan replaced", async () => {
        const { b, spec } = await workspaceOn();
        const first = await b.createRuntime(spec, silentProgress);
        await expect(b.createRuntime({ ...spec, owner: "proj/prod" }, silentProgress)).rejects.toThrow(
            /instance "alice" already exists in workspace "ml" .*container ci-ml-alice, managed by proj\/dev/,
        );
        const again = await b.createRuntime(spec, silentProgress);
        expect(again.id).toBe(first.id);
        expect(again.uid).not.toBe(first.uid);
    });

    test("a runtime needs its OS disk, its user files, its network, its image and room", async () => {
        const { b, spec } = await workspaceOn("docker", { pullable: (i) => i !== "private:1" });
        await expect(b.createRuntime({ ...spec, osDisk: "ci-ml-alice-os-gone00" }, silentProgress)).rejects.toThrow(
            "its OS disk ci-ml-alice-os-gone00 is not on the",
        );
        await expect(b.createRuntime({ ...spec, userFiles: "ci-other-userfiles" }, silentProgress)).rejects.toThrow(
            "its user files ci-other-userfiles is not on the",
        );
        await expect(b.createRuntime({ ...spec, network: "ci-gone" }, silentProgress)).rejects.toThrow(
            "the workspace network ci-gone is not on the",
        );
        await expect(b.createRuntime({ ...spec, image: "private:1" }, silentProgress)).rejects.toThrow(
            /image "private:1" is not on the fake Docker engine .* and could not be pulled/,
        );
        await expect(b.createRuntime({ ...spec, cpus: 64, gpus: 1 }, silentProgress)).rejects.toThrow(
            /cannot give 64 CPUs \(it has 8\), 1 GPUs \(has no GPUs/,
        );
        // Nothing of the refused creates is left.
        expect(b.snapshot().runtimes).toEqual([]);
    });

    test("a disk a runtime of another stack mounts is not deleted; a runtime its own stack left behind goes with it", async () => {
        const { b, spec } = await workspaceOn();
        await b.createRuntime({ ...spec, owner: "proj/prod" }, silentProgress);
        await expect(b.deleteDisk(spec.osDisk)).rejects.toThrow(
            /disk volume "ci-ml-alice-os-\w+" is still in use .*: used by container ci-ml-alice/,
        );
        expect(await b.readDisk(spec.osDisk)).toBeDefined();
        await b.deleteRuntime("ci-ml-alice");
        await b.createRuntime(spec, silentProgress);
        await b.deleteDisk(spec.osDisk);
        expect(await b.readRuntime("ci-ml-alice")).toBeUndefined();
        expect(await b.readDisk(spec.osDisk)).toBeUndefined();
    });

    test("a network an instance or the agent is on stays, silently", async () => {
        const { b, spec } = await workspaceOn();
        await b.createRuntime(spec, silentProgress);
        await b.deleteWorkspaceNetwork(spec.network);
        expect(await b.workspaceNetworkExists(spec.network)).toBe(true);
        await b.deleteRuntime("ci-ml-alice");
        await b.ensureAgent(
            { ...ref, image: "agent:1", checkIntervalSeconds: 30, network: spec.network },
            silentProgress,
        );
        await b.deleteWorkspaceNetwork(spec.network);
        expect(await b.workspaceNetworkExists(spec.network)).toBe(true);
        await b.deleteAgent("ml");
        await b.deleteWorkspaceNetwork(spec.network);
        expect(await b.workspaceNetworkExists(spec.network)).toBe(false);
    });

    test("disks grow; an OS disk or user files never shrink, a temp disk takes any size", async () => {
        const { b, spec } = await workspaceOn();
        await b.resizeDisk(spec.osDisk, 40);
        expect(await b.readDisk(spec.osDisk)).toEqual({ name: spec.osDisk, sizeGb: 40 });
        await expect(b.resizeDisk(spec.osDisk, 30)).rejects.toThrow("it has 40 GiB and a disk does not shrink");
        await expect(b.resizeDisk(spec.userFiles, 5)).rejects.toThrow("does not shrink");
        await b.resizeDisk(spec.tempDisk, 2);
        expect(await b.readDisk(spec.tempDisk)).toEqual({ name: spec.tempDisk, sizeGb: 2 });
    });

    test("a failed setup script keeps the runtime for inspection, in SetupFailed; the next create replaces it", async () => {
        const { b, spec } = await workspaceOn();
        b.faults.failNextCreate({ setupFailed: "creation.sh exited with status 3" });
        const e = await b.createRuntime(spec, silentProgress).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(KeptForInspectionError);
        expect((e as KeptForInspectionError).runtimeId).toBe("ci-ml-alice");
        expect((e as Error).message).toMatch(
            /^JupyterLab did not start: SetupFailed: creation.sh exited with status 3\n/,
        );
        expect(await b.readRuntime("ci-ml-alice")).toMatchObject({ status: "SetupFailed" });
        // Started again, the script fails again: only a new runtime (a fixed script) gets past it.
        await b.stopRuntime("ci-ml-alice");
        await expect(b.startRuntime("ci-ml-alice", silentProgress, 60)).rejects.toThrow(
            "Jupyter did not start: SetupFailed: creation.sh exited with status 3",
        );
        expect(await b.readRuntime("ci-ml-alice")).toMatchObject({ status: "SetupFailed" });
        expect(await b.createRuntime(spec, silentProgress)).toMatchObject({ status: "Running" });
    });

    test("an injected failure fails the next call alone, and changes nothing", async () => {
        const { b, spec } = await workspaceOn();
        b.faults.failNext("createRuntime").failNext("deleteDisk", new Error("EIO"));
        expect(b.faults.pending).toEqual(["createRuntime", "deleteDisk"]);
        await expect(b.createRuntime(spec, silentProgress)).rejects.toThrow(
            "createRuntime failed (a fault injected into the fake backend)",
        );
        expect(b.snapshot().runtimes).toEqual([]);
        await expect(b.deleteDisk(spec.tempDisk)).rejects.toThrow("EIO");
        expect(await b.readDisk(spec.tempDisk)).toBeDefined();
        expect(b.faults.pending).toEqual([]);
        await b.createRuntime(spec, silentProgress);
    });

    test("an engine that does not answer fails every call, on the backend field", async () => {
        const b = new FakeBackend({ name: "gone" });
        b.faults.unreachable = true;
        await expect(b.ping()).rejects.toMatchObject({
            message: 'fake Docker engine "gone" does not answer (connection refused)',
            field: "backend",
        });
        await expect(b.readRuntime("x")).rejects.toThrow("does not answer");
        await expect(b.agentStore("ml").readPolicies()).rejects.toThrow("does not answer");
    });
});

describe("runtimes of the fake", () => {
    test("Docker: host ports on loopback, the same again when re-created, the user's SSH port or a refusal", async () => {
        const { b, spec } = await workspaceOn("docker");
        const first = await b.createRuntime(spec, silentProgress);
        expect(first.host).toBe("127.0.0.1");
        expect(first.ports).toEqual({ jupyter: expect.any(Number) });
        await b.deleteRuntime(first.id);
        expect((await b.createRuntime(spec, silentProgress)).ports).toEqual(first.ports);
        const bob = { ...spec, instance: "bob", ssh: { publicKey: "ssh-ed25519 AAAA", port: 2222 } };
        expect((await b.createRuntime(bob, silentProgress)).ports).toEqual({
            jupyter: expect.any(Number),
            ssh: 2222,
        });
        await expect(b.createRuntime({ ...bob, instance: "carol" }, silentProgress)).rejects.toThrow(
            "ssh.port 2222 is already in use on the engine's host",
        );
        // Only the services inbound rules name are published.
        const dave = {
            ...bob,
            instance: "dave",
            ssh: { publicKey: "ssh-ed25519 AAAA" },
            firewallImage: "agent:1",
            networkRules: { publicBind: true, inbound: [{ service: "ssh" as const, from: ["10.0.0.0/8"] }] },
        };
        expect(Object.keys((await b.createRuntime(dave, silentProgress)).ports)).toEqual(["ssh"]);
        await expect(
            b.createRuntime({ ...dave, instance: "erin", firewallImage: undefined }, silentProgress),
        ).rejects.toThrow("inbound ranges on Docker need the workspace agent's image");
    });

    test("Kubernetes: the pod's ports at the Service's name", async () => {
        const { b, spec } = await workspaceOn("kubernetes");
        const state = await b.createRuntime({ ...spec, ssh: { publicKey: "ssh-ed25519 AAAA" } }, silentProgress);
        expect(state).toMatchObject({ host: "ci-ml-alice.fake.svc.cluster.local", ports: { jupyter: 8888, ssh: 22 } });
    });

    test.each([
        ["docker", "the same container"],
        ["kubernetes", "a new pod"],
    ] as const)("power on %s: stop keeps the configuration, start answers again (%s)", async (like, _unit) => {
        const { b, spec } = await workspaceOn(like);
        const created = await b.createRuntime(spec, silentProgress);
        const stopped = await b.stopRuntime(created.id);
        expect(stopped).toEqual({ ...created, status: "Stopped" });
        // The agent asks nothing of a stopped instance.
        const [view] = await b.listInstances("ml");
        expect(view).toMatchObject({ status: "Stopped" });
        expect(view.token).toBeUndefined();
        expect(view.startedAt).toBeUndefined();
        expect(await b.workspaceUsage("ml")).toEqual([{ instance: "alice", owner, cpus: 1, gpus: 0, stopped: true }]);
        const started = await b.startRuntime(created.id, silentProgress, 60);
        expect(started.status).toBe("Running");
        expect(started.uid === created.uid).toBe(like === "docker");
        expect(await b.listInstances("ml")).toEqual([
            {
                instance: "alice",
                owner,
                id: "ci-ml-alice",
                status: "Running",
                startedAt: expect.any(String),
                jupyterUrl: "http://ci-ml-alice:8888",
                token: spec.token,
            },
        ]);
        // Out of band: an instance that stopped by itself reads as stopped.
        b.outOfBand.stopRuntime(created.id);
        expect((await b.readRuntime(created.id))?.status).toBe("Stopped");
    });

    test("live changes: labels, a new token, a size that fits; an image that reads its token only at start refuses a new one", async () => {
        const { b, spec } = await workspaceOn("docker", { startOnlyTokenImages: ["old:1"] });
        await b.ensureAgent(agentOf(spec), silentProgress);
        const created = await b.createRuntime({ ...spec, labels: { team: "vision" } }, silentProgress);
        expect(created).toMatchObject({ labels: { team: "vision" }, liveToken: true });
        const after = await b.updateRuntime(created.id, { labels: { cost: "cc-1" }, token: "n".repeat(32), cpus: 2 });
        expect(after).toEqual({ ...created, labels: { cost: "cc-1" }, cpus: 2 });
        expect((await b.listInstances("ml"))[0].token).toBe("n".repeat(32));
        await expect(b.updateRuntime(created.id, { memoryGb: 64 })).rejects.toThrow(
            /could not resize ci-ml-alice: .* cannot give 64 GiB of memory/,
        );
        const old = await b.createRuntime({ ...spec, instance: "bob", image: "old:1" }, silentProgress);
        expect(old.liveToken).toBe(false);
        await expect(b.updateRuntime(old.id, { token: "n".repeat(32) })).rejects.toThrow(
            "ci-ml-bob's image reads its token only at start",
        );
    });

    test("Docker keeps the user's labels with the agent: none without it, as none once it is gone", async () => {
        const { b, spec } = await workspaceOn("docker");
        const labelled = { ...spec, labels: { team: "vision" } };
        await expect(b.createRuntime(labelled, silentProgress)).rejects.toThrow(/the workspace agent of ml is missing/);
        expect(b.snapshot().runtimes).toEqual([]);
        await b.ensureAgent(agentOf(spec), silentProgress);
        await b.createRuntime(labelled, silentProgress);
        expect(b.snapshot().stores.ml.policies).toEqual({ "labels.alice": '{"team":"vision"}' });
        b.outOfBand.deleteAgent("ml");
        expect((await b.readRuntime("ci-ml-alice"))?.labels).toEqual({});
        await expect(b.updateRuntime("ci-ml-alice", { labels: { team: "nlp" } })).rejects.toThrow(
            /agent .* is missing/,
        );
        await b.ensureAgent(agentOf(spec), silentProgress);
        expect((await b.readRuntime("ci-ml-alice"))?.labels).toEqual({ team: "vision" });
        await b.deleteRuntime("ci-ml-alice");
        expect(b.snapshot().stores.ml.policies).toEqual({});
    });

    test("Kubernetes keeps the user's labels on the runtime's objects, agent or not", async () => {
        const { b, spec } = await workspaceOn("kubernetes");
        const created = await b.createRuntime({ ...spec, labels: { team: "vision" } }, silentProgress);
        expect(created.labels).toEqual({ team: "vision" });
        expect((await b.updateRuntime(created.id, { labels: {} })).labels).toEqual({});
    });

    test("every stack's instances of a workspace, and theirs only", async () => {
        const { b, spec } = await workspaceOn();
        await b.createRuntime(spec, silentProgress);
        await b.createRuntime({ ...spec, instance: "bob", owner: "proj/prod", cpus: 2, gpus: 0 }, silentProgress);
        expect((await b.workspaceUsage("ml")).map((u) => [u.instance, u.owner, u.cpus])).toEqual([
            ["alice", owner, 1],
            ["bob", "proj/prod", 2],
        ]);
        expect(await b.listInstances("other")).toEqual([]);
    });
});

describe("images of the fake", () => {
    test("Docker builds and records the context hash; a cluster cannot build, and takes any image as named", async () => {
        const docker = new FakeBackend({ like: "docker" });
        expect(await docker.inspectImage("ws:1")).toBeUndefined();
        const { id } = await docker.buildImage("ws:1", "/ctx", "abc", silentProgress);
        expect(await docker.inspectImage("ws:1")).toEqual({ id, contextHash: "abc" });
        const cluster = new FakeBackend({ like: "kubernetes", name: "k" });
        await expect(cluster.buildImage("ws:1", "/ctx", "abc", silentProgress)).rejects.toThrow(
            'fake Kubernetes cluster "k" (namespace fake) cannot build images',
        );
        expect(await cluster.inspectImage("ws:1")).toEqual({ id: "ws:1" });
        expect(cluster.buildsImages).toBe(false);
        expect(cluster.liveTempDiskResize).toBe(false);
    });

    test("the image role is there like Docker only; pruning keeps the tags asked for and those of other repositories", async () => {
        const docker = new FakeBackend({ like: "docker" });
        expect(docker.images).toBe(docker);
        expect(new FakeBackend({ like: "kubernetes", name: "k" }).images).toBeUndefined();
        for (const tag of ["ws:1", "ws:2", "other:1"]) await docker.buildImage(tag, "/ctx", tag, silentProgress);
        expect(await docker.removeImagesExcept(["ws"], ["ws:2"])).toEqual(["ws:1"]);
        expect(await docker.inspectImage("ws:1")).toBeUndefined();
        expect(await docker.inspectImage("other:1")).toBeDefined();
    });
});

describe("the agent and its store on the fake", () => {
    const agent = { workspace: "ml", owner, image: "agent:1", checkIntervalSeconds: 30, network: "ci-ml" };

    test("with no agent nothing reads and a write is refused; the store outlives the agent until the agent is deleted", async () => {
        const { b } = await workspaceOn();
        const store = b.agentStore("ml");
        expect(await store.readPolicies()).toEqual({});
        await expect(store.writePolicy("idle.alice", { seconds: 60 })).rejects.toThrow(
            /the workspace agent of ml is missing .*pulumi refresh/,
        );
        expect(await b.ensureAgent(agent, silentProgress)).toEqual({
            id: "ci-ml-agent",
            image: "agent:1",
            checkIntervalSeconds: 30,
            running: true,
        });
        await store.writePolicy("idle.alice", { seconds: 60 });
        await store.writeMemory({ handledUntil: {}, lastOperation: {} });
        expect(await store.readPolicy("idle.alice")).toEqual({ seconds: 60 });
        // Gone out of band: nothing reads until the agent is back, with what it had.
        b.outOfBand.deleteAgent("ml");
        expect(await b.readAgent("ml")).toBeUndefined();
        expect(await store.readPolicies()).toEqual({});
        await b.ensureAgent({ ...agent, image: "agent:2" }, silentProgress);
        expect(await store.readPolicies()).toEqual({ "idle.alice": { seconds: 60 } });
        await store.writePolicy("idle.alice", undefined);
        expect(await store.readPolicy("idle.alice")).toBeUndefined();
        await b.deleteAgent("ml");
        await b.ensureAgent(agent, silentProgress);
        expect(await store.readMemory()).toBeUndefined();
    });

    test("a stopped agent is started again", async () => {
        const { b } = await workspaceOn();
        await b.ensureAgent(agent, silentProgress);
        b.outOfBand.stopAgent("ml");
        expect((await b.readAgent("ml"))?.running).toBe(false);
        expect((await b.ensureAgent(agent, silentProgress)).running).toBe(true);
    });

    test("a record written by hand is read as the protocol reads it: a problem, not nothing", async () => {
        const { b } = await workspaceOn();
        await b.ensureAgent(agent, silentProgress);
        b.outOfBand.writeStoreText("ml", "idle.alice", "{not json");
        const r = await agentRecords(b.agentStore("ml")).read({ kind: "idle", instance: "alice" });
        expect(r.value).toBeUndefined();
        expect(r.problem?.reason).toMatch(/^it is not JSON/);
        await expect(b.agentStore("ml").writePolicy("a/b", 1)).rejects.toThrow('"a/b" cannot be a key');
    });

    test("the agent needs the workspace network", async () => {
        const b = new FakeBackend();
        await expect(b.ensureAgent(agent, silentProgress)).rejects.toThrow(/cannot join the workspace network ci-ml/);
    });
});

describe("network rules on the fake", () => {
    test("egress: applied, read back by its signature, lost or tampered with out of band, removed", async () => {
        const { b, spec } = await workspaceOn();
        const egress = { workspace: "ml", owner, network: spec.network, egress: "deny" as const, image: "agent:1" };
        expect(await b.readEgress(egress)).toBe("none");
        const signature = await b.applyEgress(egress, silentProgress);
        expect(signature).toMatch(/^[0-9a-f]{16}$/);
        expect(await b.readEgress(egress)).toBe(signature);
        expect(await b.applyEgress({ ...egress, egress: "allow" }, silentProgress)).not.toBe(signature);
        b.outOfBand.tamperEgress(spec.network);
        expect(await b.readEgress(egress)).toBe("partial");
        b.outOfBand.dropNetworkRules();
        expect(await b.readEgress(egress)).toBe("none");
        await b.applyEgress(egress, silentProgress);
        await b.removeEgress(egress);
        expect(await b.readEgress(egress)).toBe("none");
        await expect(b.applyEgress({ ...egress, network: "ci-gone" }, silentProgress)).rejects.toThrow(
            "the workspace network ci-gone is not on the",
        );
        b.faults.noFirewall = true;
        await expect(b.applyEgress(egress, silentProgress)).rejects.toThrow(NoFirewallError);
    });

    test("inbound: the runtime applies its ranges before it answers; intact until they change or are lost", async () => {
        const { b, spec } = await workspaceOn();
        const networkRules = { publicBind: true, inbound: [{ service: "jupyter" as const, from: ["10.0.0.0/8"] }] };
        const state = await b.createRuntime({ ...spec, networkRules, firewallImage: "agent:1" }, silentProgress);
        const rules = inboundOf(spec, state.ports, ["10.0.0.0/8"]);
        expect(await b.inboundRulesIntact(rules)).toBe(true);
        expect(await b.inboundRulesIntact(inboundOf(spec, state.ports, ["192.168.0.0/16"]))).toBe(false);
        b.outOfBand.dropNetworkRules();
        expect(await b.inboundRulesIntact(rules)).toBe(false);
        await b.applyInboundRules(rules);
        expect(await b.inboundRulesIntact(rules)).toBe(true);
        await b.removeInboundRules(rules);
        expect(await b.inboundRulesIntact(rules)).toBe(false);
        await b.applyInboundRules(rules);
        await b.deleteRuntime(state.id);
        expect(await b.inboundRulesIntact(rules)).toBe(false);
    });
});

describe("the fake's state", () => {
    test("a workspace taken down in order leaves nothing behind", async () => {
        const { b, spec } = await workspaceOn();
        await b.ensureAgent(
            { workspace: "ml", owner, image: "agent:1", checkIntervalSeconds: 30, network: spec.network },
            silentProgress,
        );
        const state = await b.createRuntime(spec, silentProgress);
        await b.deleteRuntime(state.id);
        await b.deleteDisk(spec.osDisk);
        await b.deleteDisk(spec.tempDisk);
        await b.deleteAgent("ml");
        expect(await b.releaseUserFiles(ref, spec.userFiles, true)).toEqual({ deleted: true });
        await b.deleteWorkspaceNetwork(spec.network);
        expect(b.snapshot()).toMatchObject({
            volumes: [],
            networks: [],
            runtimes: [],
            agents: [],
            stores: {},
            inbound: {},
            egress: {},
        });
    });
});
