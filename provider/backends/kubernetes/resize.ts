/**
 * Where a kubelet is with an in-place resize (the pods/resize subresource). The API server takes a
 * resize as soon as it fits the node's allocatable; the kubelet then applies it, or defers it
 * (not enough room beside the node's other pods: it applies it later, whenever room frees up) or
 * finds it infeasible. Until the kubelet has applied it the pod's spec says the new size while its
 * containers still have the old one. Pure: read from the pod as the API server returns it.
 */
import { parseCpu, parseMemoryGb } from "./quantity";

export interface PodLike {
    metadata?: { generation?: number };
    spec?: { containers?: { name: string }[] };
    status?: {
        observedGeneration?: number;
        conditions?: { type: string; status: string; reason?: string; message?: string; observedGeneration?: number }[];
        containerStatuses?: { name: string; resources?: { limits?: Record<string, unknown> } }[];
    };
}

export type ResizeProgress =
    /** Applied: the container has the size asked for. */
    | { state: "applied" }
    /**
     * The kubelet does not say what it did with a pod's generations (kubelets before 1.34,
     * simulated nodes): nothing to wait for; the spec is all there is.
     */
    | { state: "untracked" }
    | { state: "waiting"; why: string }
    /** The kubelet will not apply it now: "Deferred", "Infeasible" or "Error", in its own words. */
    | { state: "refused"; reason: string; message: string };

/** The resize asked for at `generation` (the pod's generation the resize patch returned). */
export function resizeProgress(
    pod: PodLike,
    container: string,
    generation: number,
    want: { cpus: number; memoryGb: number },
): ResizeProgress {
    const observed = pod.status?.observedGeneration;
    if (observed === undefined) return { state: "untracked" };
    if (observed < generation)
        return { state: "waiting", why: `the kubelet has not seen generation ${generation} yet (it has ${observed})` };
    const current = (c: { observedGeneration?: number }) =>
        c.observedGeneration === undefined || c.observedGeneration >= generation;
    const conditions = (pod.status?.conditions ?? []).filter((c) => c.status === "True" && current(c));
    const pending = conditions.find((c) => c.type === "PodResizePending");
    if (pending) return { state: "refused", reason: pending.reason ?? "Pending", message: pending.message ?? "" };
    const inProgress = conditions.find((c) => c.type === "PodResizeInProgress");
    if (inProgress?.reason === "Error") return { state: "refused", reason: "Error", message: inProgress.message ?? "" };
    if (inProgress) return { state: "waiting", why: "the kubelet is applying it" };
    const limits = pod.status?.containerStatuses?.find((c) => c.name === container)?.resources?.limits;
    if (!limits) return { state: "waiting", why: `the kubelet reports no resources for container ${container}` };
    const cpus = parseCpu(String(limits.cpu ?? "0"));
    const memoryGb = parseMemoryGb(String(limits.memory ?? "0"));
    if (Math.abs(cpus - want.cpus) > 1e-9 || Math.abs(memoryGb - want.memoryGb) > 1 / 1024) {
        return { state: "waiting", why: `container ${container} has cpu ${limits.cpu} and memory ${limits.memory}` };
    }
    return { state: "applied" };
}
