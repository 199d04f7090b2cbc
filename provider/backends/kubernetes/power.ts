/** Power: an instance stops as its StatefulSet scales to zero, and starts as it scales back to one. */
import { BackendError, RuntimeState } from "../backend";
import * as lifecycle from "../lifecycle";
import { Progress } from "../../progress";
import { waitUntilReady } from "../../readiness";
import { KubeClient } from "./client";
import { diagnostics, isReady, podOf, podTrouble } from "./pods";
import { readRuntime, readStatefulSet } from "./runtime";
import { stopJobsOf } from "./jobs";

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

export function stopRuntime(kube: KubeClient, id: string): Promise<RuntimeState> {
    return lifecycle.stopRuntime(id, {
        async stop() {
            const sts = await readStatefulSet(kube, id);
            await scale(kube, id, 0);
            await kube.waitUntilGone(id, "pod", () => podOf(kube, id), 120);
            // Its jobs after it, as on Docker: the agent then sees them ended by the stop.
            await stopJobsOf(kube, sts);
        },
        read: () => readRuntime(kube, id),
    });
}

export function startRuntime(
    kube: KubeClient,
    id: string,
    progress: Progress,
    timeoutSeconds: number,
): Promise<RuntimeState> {
    return lifecycle.startRuntime(
        id,
        {
            start: () => scale(kube, id, 1),
            // A failed setup script is a death like any other here: only a create keeps its pod.
            waitReady: () =>
                waitUntilReady({
                    what: `pod ${id}-0`,
                    probe: async () => isReady(await podOf(kube, id)),
                    dead: () => podTrouble(kube, id),
                    diagnostics: () => diagnostics(kube, id),
                    timeoutSeconds,
                    progress,
                    intervalMs: 500,
                }),
            read: () => readRuntime(kube, id),
        },
        progress,
    );
}
