// The kinds whose behaviour differs on a cluster, through the provider's dispatch functions on a
// Kubernetes-like fake: no image role (the nodes pull), a temp disk fixed for the pod's life,
// labels applied in place, no copy of the network rules in the agent's store (the cluster keeps
// its NetworkPolicies itself), and the agent kept while another stack uses the workspace.
import * as dispatch from "../../provider/dispatch";
import { silentProgress } from "../../provider/progress";
import { FakeBackend, useFakeBackend } from "../support/fakeBackend";
import { Props, checked, created, runtimeProps, storedRecords, updated } from "../support/dispatchKinds";

const fake = new FakeBackend({ like: "kubernetes", name: "cluster" });
useFakeBackend(fake);

const clusterBackend = { kubernetes: { namespace: "ml" } };
const wiring = (owner = "proj/a") => ({ backend: clusterBackend, workspace: "ml-team", owner });
const ref = { workspace: "ml-team", owner: "proj/a", instance: "alice" };
let network: string;
let stderr: string[];

beforeAll(async () => {
    network = fake.workspaceNetworkName("ml-team");
    await fake.createWorkspaceNetwork(ref, network);
});
beforeEach(() => {
    stderr = [];
    jest.spyOn(process.stderr, "write").mockImplementation((m) => (stderr.push(String(m)), true));
});
afterEach(() => jest.restoreAllMocks());

describe("on a Kubernetes-like fake", () => {
    test("WorkstationImage: nothing is built (the nodes pull); the image is recorded as named and read back", async () => {
        const props = { ...wiring(), image: "registry.example/ws:1", contextHash: "h1" };
        const { id, outs } = await created("WorkstationImage", props);
        expect(outs).toMatchObject({ image: "registry.example/ws:1", imageId: "registry.example/ws:1" });
        expect(fake.images).toBeUndefined();
        expect(await dispatch.read(id, outs)).toEqual({ id, props: outs });
    });

    test("Runtime: the temp disk's size replaces the pod (Docker: live), labels change in place", async () => {
        const userFiles = fake.userFilesName("ml-team");
        await fake.createUserFiles(ref, userFiles, 10);
        const osDisk = fake.newDiskName(ref, "os");
        await fake.createDisk(ref, "os", 20, osDisk);
        const tempDisk = fake.newDiskName(ref, "temp");
        await fake.createDisk(ref, "temp", 28, tempDisk);
        const props = (own: Props = {}): Props =>
            runtimeProps(
                wiring(),
                { osDisk, tempDisk, userFiles, network },
                { image: "registry.example/ws:1", ...own },
            );
        const { id, outs } = await created("Runtime", props({ labels: { team: "a" } }));
        const pod = () => fake.snapshot().runtimes.find((r) => r.state.id === id);
        expect(pod()?.state.labels).toEqual({ team: "a" });

        const relabelled = await updated(id, outs, props({ labels: { team: "b" } }));
        expect(relabelled.diff).toMatchObject({ changes: true, replaces: [] });
        expect(pod()?.state.labels).toEqual({ team: "b" });

        const inputs = await checked("Runtime", props({ labels: { team: "b" }, tempDiskGb: 40 }), relabelled.outs);
        expect((await dispatch.diff(id, relabelled.outs as Props, inputs)).replaces).toEqual(["tempDiskGb"]);
        await dispatch.remove(id, relabelled.outs as Props);
    });

    test("egress NetworkRule: only link-local is guarded, and the agent's store keeps no copy", async () => {
        const { id, outs } = await created("NetworkRule", { ...wiring(), network, egress: "deny", image: "agent:1" });
        expect(outs).toMatchObject({ direction: "egress", guards: "link-local" });
        expect(fake.snapshot().egress[network]).toBe(outs.signature);
        expect(storedRecords(fake)["network.egress"]).toBeUndefined();
        await dispatch.remove(id, outs);
        expect(fake.snapshot().egress[network]).toBeUndefined();
    });

    test("WorkspaceAgent: this package's image warns that no registry has it; the agent stays while another stack has an instance", async () => {
        const props = { ...wiring(), image: "compute-instance-agent:abc", contextHash: "abc", network };
        const inputs = await checked("WorkspaceAgent", props);
        expect(stderr.join("")).toContain("is built from this package and is in no registry");
        const r = await dispatch.create(inputs);
        const outs = r.outs as Props;
        expect(fake.images).toBeUndefined();

        const theirs = { ...ref, owner: "proj/b", instance: "bob" };
        const disk = fake.newDiskName(theirs, "os");
        await fake.createDisk(theirs, "os", 10, disk);
        await fake.createRuntime(
            {
                ...theirs,
                image: "registry.example/ws:1",
                sizeName: "custom",
                cpus: 1,
                memoryGb: 1,
                gpus: 0,
                applications: ["jupyterlab"],
                osDisk: disk,
                tempDisk: disk,
                tempDiskGb: 1,
                userFiles: fake.userFilesName("ml-team"),
                network,
                token: "t".repeat(32),
                env: {},
                readyTimeoutSeconds: 30,
                ssh: null,
            },
            silentProgress,
        );
        await dispatch.remove(r.id, outs);
        expect(await fake.readAgent("ml-team")).toBeDefined();
    });
});
