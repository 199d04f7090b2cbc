// Runtime through the provider's dispatch functions, on the fake: the container an instance runs
// in, made on the disks, user files and network the other kinds made, asserted on the fake's
// runtimes.
import * as dispatch from "../../provider/dispatch";
import { KIND_KEY } from "../../provider/kindKey";
import { CreatedButFailedError } from "../../provider/resources/kind";
import { FakeBackend, useFakeBackend } from "../support/fakeBackend";
import { Props, checked, created, runtimeProps, updated, wiring } from "../support/dispatchKinds";

const fake = new FakeBackend({ like: "docker", name: "runtime" });
useFakeBackend(fake);

const ref = { workspace: "ml-team", owner: "proj/a", instance: "alice" };
const network = "ci-ml-team";
const userFiles = "ci-ml-team-userfiles";
let osDisk: string;
let tempDisk: string;

beforeAll(async () => {
    await fake.createWorkspaceNetwork(ref, network);
    await fake.createUserFiles(ref, userFiles, 10);
    osDisk = fake.newDiskName(ref, "os");
    await fake.createDisk(ref, "os", 20, osDisk);
    tempDisk = fake.newDiskName(ref, "temp");
    await fake.createDisk(ref, "temp", 28, tempDisk);
});
beforeEach(() => jest.spyOn(process.stderr, "write").mockImplementation(() => true));
afterEach(() => jest.restoreAllMocks());

/** As ComputeInstance builds it. */
const props = (own: Props = {}): Props => runtimeProps(wiring(), { osDisk, tempDisk, userFiles, network }, own);

const inFake = (id: string) => fake.snapshot().runtimes.find((r) => r.state.id === id);

describe("Runtime through dispatch, on the fake", () => {
    test("check resolves the size; create runs it on the disks and network; read finds it", async () => {
        const inputs = await checked("Runtime", props());
        expect(inputs).toMatchObject({ size: "Standard_DS2_v2", cpus: 2, memoryGb: 7, gpus: 0 });
        const r = await dispatch.create(inputs);
        const outs = r.outs as Props;
        expect(r.id).toBe("ci-ml-team-alice");
        expect(outs).toMatchObject({ [KIND_KEY]: "Runtime", status: "Running", cpus: 2, memoryGb: 7 });
        expect(inFake(r.id)).toMatchObject({
            spec: { owner: "proj/a", osDisk, tempDisk, userFiles, network, cpus: 2, sizeName: "Standard_DS2_v2" },
            state: { status: "Running", uid: outs.containerId },
        });
        expect(outs.endpoints).toBeDefined();
        const read = await dispatch.read(r.id, outs);
        expect(read.id).toBe(r.id);
        expect(read.props).toMatchObject({ status: "Running", containerId: outs.containerId });
        await dispatch.remove(r.id, outs);
        expect(inFake(r.id)).toBeUndefined();
    });

    test("a runtime removed by hand reads as gone; deleting it is done already", async () => {
        const { id, outs } = await created("Runtime", props());
        fake.outOfBand.deleteRuntime(id);
        expect(await dispatch.read(id, outs)).toEqual({});
        await dispatch.remove(id, outs);
        expect(inFake(id)).toBeUndefined();
    });

    test("a new size is resized in place: same container, new figures; a new image replaces it", async () => {
        const { id, outs } = await created("Runtime", props());
        const uid = inFake(id)?.state.uid;
        const bigger = await updated(id, outs, props({ size: "Standard_DS3_v2" }));
        expect(bigger.diff).toMatchObject({ changes: true, replaces: [] });
        expect(bigger.outs).toMatchObject({ cpus: 4, memoryGb: 14, containerId: uid });
        expect(inFake(id)?.state).toMatchObject({ cpus: 4, memoryGb: 14, uid });

        const other = await updated(id, bigger.outs as Props, props({ image: "other:1" }));
        expect(other.diff.replaces).toContain("image");
        expect(other.diff.deleteBeforeReplace).toBe(true);
        expect(inFake(id)?.state.image).toBe("compute-instance-workstation:0.1.0");
        await dispatch.remove(id, bigger.outs as Props);
    });

    test("an update of a runtime that is gone says to refresh", async () => {
        const { id, outs } = await created("Runtime", props());
        fake.outOfBand.deleteRuntime(id);
        const inputs = await checked("Runtime", props({ readyTimeout: "20m" }), outs);
        await expect(dispatch.update(id, outs, inputs)).rejects.toThrow(/is gone from the .*run `pulumi refresh`/);
    });

    test("a failed setup is a partial create: the id and outputs are recorded, the runtime kept", async () => {
        fake.faults.failNextCreate({ setupFailed: "setup.sh exited with 1" });
        const inputs = await checked("Runtime", props());
        const e = await dispatch.create(inputs).then(
            () => undefined,
            (err: unknown) => err,
        );
        expect(e).toBeInstanceOf(CreatedButFailedError);
        const failed = e as CreatedButFailedError;
        expect(failed.id).toBe("ci-ml-team-alice");
        expect(failed.message).toContain("setup.sh exited with 1");
        expect(failed.properties).toMatchObject({
            [KIND_KEY]: "Runtime",
            status: "SetupFailed",
            createFailed: true,
            cpus: 2,
        });
        expect(inFake(failed.id)).toMatchObject({
            setupFailed: "setup.sh exited with 1",
            state: { status: "SetupFailed" },
        });
        // The next up replaces it.
        const next = await dispatch.diff(failed.id, failed.properties, inputs);
        expect(next.replaces).toContain("createFailed");
        await dispatch.remove(failed.id, failed.properties);
        expect(inFake(failed.id)).toBeUndefined();
    });

    test("a create the backend refuses leaves nothing", async () => {
        fake.faults.failNext("createRuntime");
        await expect(dispatch.create(await checked("Runtime", props()))).rejects.toThrow("createRuntime failed");
        expect(fake.snapshot().runtimes).toEqual([]);
    });
});
