// What a kubelet reports about an in-place resize, and an instance's state from its pod, read the
// way the Kubernetes backend reads them (pods as the API server returns them).
import type * as k8s from "@kubernetes/client-node";
import { statusOf } from "../../provider/backends/kubernetes";
import { PodLike, resizeProgress } from "../../provider/backends/kubernetes/resize";

const want = { cpus: 0.5, memoryGb: 1.5 };
/** A pod resized at generation 3, as its kubelet reports it. */
const pod = (status: PodLike["status"]): PodLike => ({
    metadata: { generation: 3 },
    spec: { containers: [{ name: "workstation" }] },
    status,
});
const running = (limits: Record<string, string>) => [
    { name: "app-x", resources: { limits: { cpu: "9", memory: "9Gi" } } },
    { name: "workstation", resources: { limits } },
];

describe("in-place resize, as the kubelet reports it", () => {
    test("applied once the kubelet has seen the generation and the container has the new limits", () => {
        expect(
            resizeProgress(
                pod({ observedGeneration: 3, containerStatuses: running({ cpu: "500m", memory: "1536Mi" }) }),
                "workstation",
                3,
                want,
            ),
        ).toEqual({ state: "applied" });
    });

    test("waiting while the kubelet has not seen the generation, is applying it, or the container still has the old limits", () => {
        expect(
            resizeProgress(
                pod({ observedGeneration: 2, containerStatuses: running({ cpu: "500m", memory: "1536Mi" }) }),
                "workstation",
                3,
                want,
            ).state,
        ).toBe("waiting");
        expect(
            resizeProgress(
                pod({
                    observedGeneration: 3,
                    containerStatuses: running({ cpu: "250m", memory: "1Gi" }),
                    conditions: [{ type: "PodResizeInProgress", status: "True", observedGeneration: 3 }],
                }),
                "workstation",
                3,
                want,
            ).state,
        ).toBe("waiting");
        // Another container's limits are not the workstation's.
        expect(
            resizeProgress(
                pod({ observedGeneration: 3, containerStatuses: running({ cpu: "250m", memory: "1536Mi" }) }),
                "workstation",
                3,
                want,
            ),
        ).toEqual({ state: "waiting", why: "container workstation has cpu 250m and memory 1536Mi" });
    });

    test("refused when the kubelet defers it, finds it infeasible, or fails applying it, in its own words", () => {
        const message = "Node didn't have enough resource: cpu, requested: 2000, used: 300, capacity: 2000";
        expect(
            resizeProgress(
                pod({
                    observedGeneration: 3,
                    containerStatuses: running({ cpu: "250m", memory: "1Gi" }),
                    conditions: [
                        {
                            type: "PodResizePending",
                            status: "True",
                            reason: "Deferred",
                            message,
                            observedGeneration: 3,
                        },
                    ],
                }),
                "workstation",
                3,
                want,
            ),
        ).toEqual({ state: "refused", reason: "Deferred", message });
        expect(
            resizeProgress(
                pod({
                    observedGeneration: 3,
                    containerStatuses: running({ cpu: "250m", memory: "1Gi" }),
                    conditions: [
                        {
                            type: "PodResizePending",
                            status: "True",
                            reason: "Infeasible",
                            message: "too big",
                            observedGeneration: 3,
                        },
                    ],
                }),
                "workstation",
                3,
                want,
            ),
        ).toMatchObject({ state: "refused", reason: "Infeasible" });
        expect(
            resizeProgress(
                pod({
                    observedGeneration: 3,
                    containerStatuses: running({ cpu: "250m", memory: "1Gi" }),
                    conditions: [
                        {
                            type: "PodResizeInProgress",
                            status: "True",
                            reason: "Error",
                            message: "runc failed",
                            observedGeneration: 3,
                        },
                    ],
                }),
                "workstation",
                3,
                want,
            ),
        ).toEqual({ state: "refused", reason: "Error", message: "runc failed" });
    });

    test("a condition about an earlier resize does not decide this one (an undone resize is then applied)", () => {
        expect(
            resizeProgress(
                pod({
                    observedGeneration: 4,
                    containerStatuses: running({ cpu: "500m", memory: "1536Mi" }),
                    conditions: [
                        {
                            type: "PodResizePending",
                            status: "True",
                            reason: "Deferred",
                            message: "no room",
                            observedGeneration: 3,
                        },
                    ],
                }),
                "workstation",
                4,
                want,
            ),
        ).toEqual({ state: "applied" });
    });

    test("untracked when the kubelet says nothing of generations (simulated nodes, kubelets before 1.34)", () => {
        expect(
            resizeProgress(pod({ containerStatuses: running({ cpu: "250m", memory: "1Gi" }) }), "workstation", 3, want),
        ).toEqual({ state: "untracked" });
    });
});

describe("an instance's state from its StatefulSet and pod", () => {
    const sts = (replicas: number) => ({ spec: { replicas } }) as k8s.V1StatefulSet;
    const notReady = {
        metadata: { name: "p" },
        status: { conditions: [{ type: "Ready", status: "False" }] },
    } as k8s.V1Pod;
    const ready = { metadata: { name: "p" }, status: { conditions: [{ type: "Ready", status: "True" }] } } as k8s.V1Pod;

    test("a pod that is not ready is SettingUp or SetupFailed when its entry point says so, as on Docker", () => {
        expect(statusOf(sts(1), notReady, { phase: "SetupFailed", message: "the startup script exited with 3" })).toBe(
            "SetupFailed",
        );
        expect(statusOf(sts(1), notReady, { phase: "SettingUp", message: "running the creation script" })).toBe(
            "SettingUp",
        );
        expect(statusOf(sts(1), notReady, { phase: "Done", message: "the startup script finished" })).toBe("Starting");
        expect(statusOf(sts(1), notReady)).toBe("Starting");
    });

    test("ready is Running, scaled to zero is Stopped, no pod yet is Creating, whatever the log said", () => {
        expect(statusOf(sts(1), ready, { phase: "SetupFailed", message: "an earlier start" })).toBe("Running");
        expect(statusOf(sts(0), notReady, { phase: "SetupFailed", message: "x" })).toBe("Stopped");
        expect(statusOf(sts(1), undefined)).toBe("Creating");
    });
});
