/**
 * The backend contract: what the providers rely on of every backend, as one set of cases. The
 * end-to-end suite runs it against the real Docker engine and the local Kubernetes cluster
 * (simulated pods and the real node), and a unit test runs it against the in-memory fake
 * (./fakeBackend.ts), so the fake is held to exactly what the real backends are held to.
 */
import { randomBytes } from "crypto";
import type { Backend, RuntimeSpec } from "../../provider/backends/backend";
import { contextHash, workstationContextDir, workstationImageTag } from "../../provider/image/context";
import { silentProgress } from "../../provider/progress";
// Types only: the real backends' module loads the Docker and Kubernetes clients.
import type { BackendUnderTest } from "./backends";

/**
 * Declares the contract's cases as `the <name> backend keeps the backend contract`, against the
 * backend `under()` makes (called once, when the cases start).
 */
export function describeBackendContract(name: string, under: () => BackendUnderTest): void {
    describe(`the ${name} backend keeps the backend contract`, () => {
        const image = workstationImageTag(contextHash(workstationContextDir()));
        // As uniqueWorkspace("ct") of ./stacks, which would load Pulumi's automation API into unit tests.
        const workspace = `ct-${randomBytes(4).toString("hex")}`;
        const ref = { workspace, owner: "contract/test", instance: "alice" };
        let u: BackendUnderTest;
        let b: Backend;
        let spec: RuntimeSpec;
        let runtimeId: string;
        let uid: string;

        beforeAll(() => {
            u = under();
            b = u.make();
        });

        afterAll(async () => {
            if (!b) return;
            await b.deleteRuntime(runtimeId ?? `ci-${workspace}-alice`).catch(() => undefined);
            if (spec) {
                await b.deleteDisk(spec.osDisk).catch(() => undefined);
                await b.deleteDisk(spec.tempDisk).catch(() => undefined);
            }
            await b
                .releaseUserFiles({ workspace, owner: "contract/other" }, b.userFilesName(workspace), false)
                .catch(() => undefined);
            await b.releaseUserFiles(ref, b.userFilesName(workspace), true).catch(() => undefined);
            await b.deleteWorkspaceNetwork(b.workspaceNetworkName(workspace)).catch(() => undefined);
            await u.dispose?.();
        });

        test("answers, and says how large an instance it can run", async () => {
            await b.ping();
            const c = await b.capacity();
            expect(c.cpus).toBeGreaterThanOrEqual(1);
            expect(c.memoryGb).toBeGreaterThanOrEqual(1);
        });

        test("workspace objects: user files and network", async () => {
            const userFiles = b.userFilesName(workspace);
            expect(await b.createUserFiles(ref, userFiles, 10)).toEqual({ adopted: false, createdBy: ref.owner });
            expect(await b.userFilesExists(userFiles)).toBe(true);
            // Declared again by the same stack (after a retained delete): its own, not made twice.
            expect(await b.createUserFiles(ref, userFiles, 10)).toEqual({ adopted: false, createdBy: ref.owner });
            // By another stack: adopted, and that stack is recorded as a user.
            expect(await b.createUserFiles({ workspace, owner: "contract/other" }, userFiles, 10)).toEqual({
                adopted: true,
                createdBy: ref.owner,
            });
            // Every stack whose workspace uses the store is recorded on it: the maker and the adopter.
            expect((await b.userFilesUsers(userFiles)).sort()).toEqual(["contract/other", "contract/test"]);
            await b.createWorkspaceNetwork(ref, b.workspaceNetworkName(workspace));
            expect(await b.workspaceNetworkExists(b.workspaceNetworkName(workspace))).toBe(true);
        });

        test("disks are created and read back", async () => {
            const os = b.newDiskName(ref, "os");
            const temp = b.newDiskName(ref, "temp");
            expect(os).not.toBe(b.newDiskName(ref, "os"));
            expect(await b.createDisk(ref, "os", 20, os)).toEqual({ name: os, sizeGb: 20 });
            await b.createDisk(ref, "temp", 4, temp);
            expect(await b.readDisk(os)).toBeDefined();
            expect(await b.readDisk(temp)).toBeDefined();
            spec = {
                ...ref,
                image,
                sizeName: "custom",
                cpus: 0.25,
                memoryGb: 1,
                gpus: 0,
                applications: ["jupyterlab", "jupyter"],
                env: { CONTRACT: "yes" },
                token: "c0ffee".repeat(8),
                osDisk: os,
                tempDisk: temp,
                tempDiskGb: 4,
                userFiles: b.userFilesName(workspace),
                network: b.workspaceNetworkName(workspace),
                readyTimeoutSeconds: 180,
                ssh: null,
            };
        });

        test("a runtime is created, waits until ready, and reads back as created", async () => {
            const state = await b.createRuntime(spec, silentProgress);
            runtimeId = state.id;
            uid = state.uid;
            expect(state).toMatchObject({ status: "Running", image, cpus: 0.25, memoryGb: 1, gpus: 0 });
            expect(state.ports.jupyter).toBeGreaterThan(0);
            expect(await b.readRuntime(state.id)).toEqual(state);
        });

        test("CPU and memory change live: same running unit, new limits read back", async () => {
            const after = await b.updateRuntime(runtimeId, { cpus: 0.5, memoryGb: 1.5 });
            expect(after).toMatchObject({ cpus: 0.5, memoryGb: 1.5, uid });
            expect(await b.readRuntime(runtimeId)).toMatchObject({ cpus: 0.5, memoryGb: 1.5, uid });
        });

        test("a runtime deleted out of band reads as gone, and can be created again on the same disks", async () => {
            await u.deleteRuntimeOutOfBand(runtimeId);
            for (let i = 0; i < 60 && (await b.readRuntime(runtimeId)); i++)
                await new Promise((r) => setTimeout(r, 500));
            expect(await b.readRuntime(runtimeId)).toBeUndefined();
            const again = await b.createRuntime(spec, silentProgress);
            expect(again.id).toBe(runtimeId);
            expect(again.uid).not.toBe(uid);
            expect(again.status).toBe("Running");
        });

        test("user files a runtime mounts are not deleted, even when their maker asks", async () => {
            expect(await b.releaseUserFiles(ref, spec.userFiles, true)).toMatchObject({
                deleted: false,
                keptFor: expect.stringContaining("used by stack contract/other"),
            });
            expect(await b.userFilesExists(spec.userFiles)).toBe(true);
            await b.releaseUserFiles({ workspace, owner: "contract/other" }, spec.userFiles, false);
            expect(await b.releaseUserFiles(ref, spec.userFiles, true)).toMatchObject({
                deleted: false,
                keptFor: expect.stringMatching(/used by (container|pod) /),
            });
            expect(await b.userFilesExists(spec.userFiles)).toBe(true);
        });

        test("deleting the runtime and the disks leaves the user files", async () => {
            await b.deleteRuntime(runtimeId);
            expect(await b.readRuntime(runtimeId)).toBeUndefined();
            await b.deleteDisk(spec.osDisk);
            expect(await b.readDisk(spec.osDisk)).toBeUndefined();
            await b.deleteDisk(spec.tempDisk);
            expect(await b.userFilesExists(spec.userFiles)).toBe(true);
        });

        test("user files no stack and no runtime uses are deleted by their maker when asked", async () => {
            for (let i = 0; i < 60; i++) {
                const r = await b.releaseUserFiles(ref, spec.userFiles, true);
                if (r.deleted) break;
                // A pod on its way out still counts as a user for a moment.
                await new Promise((resolve) => setTimeout(resolve, 1000));
            }
            for (let i = 0; i < 60 && (await b.userFilesExists(spec.userFiles)); i++)
                await new Promise((r) => setTimeout(r, 500));
            expect(await b.userFilesExists(spec.userFiles)).toBe(false);
        });
    });
}
