/** Power: an instance stops as its StatefulSet scales to zero, and starts as it scales back to one. */
import { BackendError, RuntimeState, SetupFailedError } from "../backend";
import { Progress } from "../../progress";
import { waitUntilReady } from "../../readiness";
import { KubeClient } from "./client";
import { diagnostics, isReady, podOf, podTrouble } from "./pods";
import { readRuntime, readStatefulSet } from "./runtime";

async function scale(kube: KubeClient, id: string, replicas: number): Promise<void> {
    if (!(await readStatefulSet(kube, id))) {
        throw new BackendError(`no instance ${id} on the ${kube.description}`);
    }
    await kube.patchFields({
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: id, namespace: kube.ns },
        spec: { replicas },
    });
}

export async function stopRuntime(kube: KubeClient, id: string): Promise<RuntimeState> {
    await scale(kube, id, 0);
    await kube.waitUntilGone(id, "pod", () => podOf(kube, id), 120);
    const after = await readRuntime(kube, id);
    if (!after || after.status !== "Stopped")
        throw new BackendError(`${id} did not stop (it is ${after?.status ?? "gone"})`);
    return after;
}

export async function startRuntime(
    kube: KubeClient,
    id: string,
    progress: Progress,
    timeoutSeconds: number,
): Promise<RuntimeState> {
    await scale(kube, id, 1);
    const seconds = await waitUntilReady({
        what: `pod ${id}-0`,
        probe: async () => isReady(await podOf(kube, id)),
        // A failed setup script is a reason like any other here: only a create keeps its pod.
        dead: async () => {
            const trouble = await podTrouble(kube, id);
            return trouble instanceof SetupFailedError ? trouble.message : trouble;
        },
        diagnostics: () => diagnostics(kube, id),
        timeoutSeconds,
        progress,
        intervalMs: 500,
    });
    progress.info(`ready in ${seconds.toFixed(1)}s`);
    const state = await readRuntime(kube, id);
    if (!state) throw new BackendError(`${id} disappeared while starting`);
    return state;
}
