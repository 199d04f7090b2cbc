// The lifecycle both backends share, over fake steps: what a create keeps, rolls back and
// reports, how a live update is verified, and the readiness wait's account of a failure.
import { BackendError, KeptForInspectionError, NotReadyError, SetupFailedError } from "../../provider/backends/backend";
import * as lifecycle from "../../provider/backends/lifecycle";
import { ReadinessCheck, waitUntilReady } from "../../provider/readiness";
import type { RuntimeState } from "../../provider/backends/backend";
import type { Progress } from "../../provider/progress";

const quiet: Progress = { status: () => undefined, info: () => undefined, warn: () => undefined };

const state: RuntimeState = {
    id: "ci-ws-alice",
    uid: "u1",
    status: "Running",
    image: "img",
    cpus: 2,
    memoryGb: 4,
    gpus: 0,
    ports: {},
    host: "127.0.0.1",
    labels: {},
    liveToken: true,
};

function check(dead: ReadinessCheck["dead"]): ReadinessCheck {
    return {
        what: "JupyterLab",
        probe: async () => false,
        dead,
        timeoutSeconds: 60,
        progress: quiet,
        diagnostics: async () => "line 1\nline 2\n",
        intervalMs: 1,
    };
}

describe("the readiness wait", () => {
    test("a death is a NotReadyError worded with the last output", async () => {
        const e = await waitUntilReady(check(async () => "the container exited")).catch((x) => x);
        expect(e).toBeInstanceOf(NotReadyError);
        expect(e.message).toBe("JupyterLab did not start: the container exited\n--- last output ---\nline 1\nline 2");
    });

    test("a failed setup script is a SetupFailedError worded the same way, with its detail", async () => {
        const e = await waitUntilReady(check(async () => ({ setupFailed: "the startup script exited with 3" }))).catch(
            (x) => x,
        );
        expect(e).toBeInstanceOf(SetupFailedError);
        expect(e.detail).toBe("the startup script exited with 3");
        expect(e.message).toBe(
            "JupyterLab did not start: SetupFailed: the startup script exited with 3\n--- last output ---\nline 1\nline 2",
        );
    });

    test("no output, no section", async () => {
        const e = await waitUntilReady({ ...check(async () => "gone"), diagnostics: async () => " " }).catch((x) => x);
        expect(e.message).toBe("JupyterLab did not start: gone");
    });
});

function creation(overrides: Partial<lifecycle.RuntimeCreation<void>> = {}) {
    const calls: string[] = [];
    const c: lifecycle.RuntimeCreation<void> = {
        id: "ci-ws-alice",
        clearOrphan: async () => void calls.push("clearOrphan"),
        create: async () => void calls.push("create"),
        waitReady: async () => (calls.push("waitReady"), 1.25),
        read: async () => (calls.push("read"), state),
        rollBack: async () => void calls.push("rollBack"),
        words: {
            target: "ci-ws-alice on the engine",
            reason: (e) => `said ${(e as Error).message}`,
            disappeared: "container ci-ws-alice disappeared right after it started",
            kept: { what: "container ci-ws-alice", shell: "docker exec -it ci-ws-alice bash" },
        },
        ...overrides,
    };
    return { c, calls };
}

describe("a runtime's create", () => {
    test("clears an orphan, creates, waits, says how long, reads", async () => {
        const { c, calls } = creation();
        const said: string[] = [];
        const got = await lifecycle.createRuntime(c, { ...quiet, info: (m) => said.push(m) });
        expect(got).toBe(state);
        expect(calls).toEqual(["clearOrphan", "create", "waitReady", "read"]);
        expect(said).toEqual(["ready in 1.3s"]);
    });

    test("a failed setup script keeps the runtime for inspection, with the wait's account", async () => {
        const { c, calls } = creation({
            waitReady: async () => {
                throw new SetupFailedError("the creation script exited with 3", "JupyterLab did not start: …");
            },
        });
        const e = await lifecycle.createRuntime(c, quiet).catch((x) => x);
        expect(e).toBeInstanceOf(KeptForInspectionError);
        expect(e.runtimeId).toBe("ci-ws-alice");
        expect(e.message).toBe(
            "JupyterLab did not start: …\nThe container ci-ws-alice is left running for inspection (docker exec -it ci-ws-alice bash; " +
                "the script's output is in ~/.compute-instance/setup/); it is in the stack's state: the next `pulumi up` replaces it and `pulumi destroy` removes it.",
        );
        expect(calls).not.toContain("rollBack");
    });

    test("any other failure rolls back; errors for users pass as they are, others are worded", async () => {
        for (const [thrown, message] of [
            [new NotReadyError("JupyterLab did not answer"), "JupyterLab did not answer"],
            [new BackendError("refused"), "refused"],
            [new Error("socket hang up"), "could not create ci-ws-alice on the engine: said socket hang up"],
        ] as const) {
            const { c, calls } = creation({
                create: async () => {
                    throw thrown;
                },
            });
            const e = await lifecycle.createRuntime(c, quiet).catch((x) => x);
            expect(e.message).toBe(message);
            expect(calls).toEqual(["clearOrphan", "rollBack"]);
        }
    });

    test("a runtime gone right after the wait is an error, rolled back", async () => {
        const { c, calls } = creation({ read: async () => undefined });
        await expect(lifecycle.createRuntime(c, quiet)).rejects.toThrow(
            "container ci-ws-alice disappeared right after it started",
        );
        expect(calls).toContain("rollBack");
    });

    test("a name clash names the other stack", () => {
        const spec = { workspace: "ws", instance: "alice", owner: "p/dev" } as Parameters<
            typeof lifecycle.nameClash
        >[0];
        expect(lifecycle.nameClash(spec, "Docker engine at x", "container ci-ws-alice", undefined).message).toBe(
            'instance "alice" already exists in workspace "ws" on the Docker engine at x (container ci-ws-alice, managed by something else); instance names must be unique in a workspace',
        );
    });
});

describe("power and live changes", () => {
    test("a stop that does not stop is an error", async () => {
        await expect(
            lifecycle.stopRuntime("x", { stop: async () => undefined, read: async () => state }),
        ).rejects.toThrow("x did not stop (it is Running)");
    });

    test("a start waits, then reads", async () => {
        const order: string[] = [];
        const got = await lifecycle.startRuntime(
            "x",
            {
                start: async () => void order.push("start"),
                waitReady: async () => (order.push("wait"), 1),
                read: async () => (order.push("read"), state),
            },
            quiet,
        );
        expect(got).toBe(state);
        expect(order).toEqual(["start", "wait", "read"]);
    });

    test("a live change read back otherwise is an error naming each difference", async () => {
        const update: lifecycle.LiveUpdate = {
            apply: async () => undefined,
            read: async () => ({ ...state, labels: { a: "1" } }),
            same: { cpus: (a, b) => a === b, memoryGb: (a, b) => a === b },
            words: { gone: "gone", applier: "engine" },
        };
        await expect(lifecycle.updateRuntime("x", { cpus: 3, labels: { a: "2" } }, update)).rejects.toThrow(
            'the engine did not apply the update to x: cpus is 2, expected 3; labels are {"a":"1"}, expected {"a":"2"}',
        );
        await expect(lifecycle.updateRuntime("x", { cpus: 2 }, update)).resolves.toMatchObject({ cpus: 2 });
        await expect(lifecycle.updateRuntime("x", {}, { ...update, read: async () => undefined })).rejects.toThrow(
            "gone",
        );
    });

    test("a token is refused live by an image that reads it only at start", async () => {
        const write = jest.fn(async () => undefined);
        await expect(
            lifecycle.rotateToken({ live: false, notLive: "replace it", write, verify: async () => undefined }),
        ).rejects.toThrow("replace it");
        expect(write).not.toHaveBeenCalled();
    });
});
