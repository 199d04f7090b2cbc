/**
 * Live changes to a running instance, each verified by reading it back: CPU and memory resized in
 * the pod (pods/resize) and its template, the user's labels, a new token.
 */
import { BackendError, LiveChanges, RuntimeState } from "../backend";
import * as lifecycle from "../lifecycle";
import { labelsPatch } from "../../model/labels";
import { KubeClient, reason } from "./client";
import { KubeObject, USER_LABELS_ANNOTATION, WORKSTATION_CONTAINER, containerResources } from "./manifests";
import { PodLike, resizeProgress } from "./resize";
import { nodeOf, podOf } from "./pods";
import { readRuntime } from "./runtime";

/** How long a kubelet may take to apply an in-place resize it accepted (it usually takes a second). */
const RESIZE_TIMEOUT_SECONDS = 120;

export function updateRuntime(kube: KubeClient, id: string, changes: LiveChanges): Promise<RuntimeState> {
    return lifecycle.updateRuntime(id, changes, {
        apply: () => apply(kube, id, changes),
        read: () => readRuntime(kube, id),
        // Sizes come back parsed from quantities: CPUs as floats, memory written in whole MiB.
        same: {
            cpus: (have, want) => !(Math.abs(have - want) > 1e-9),
            memoryGb: (have, want) => !(Math.abs(have - want) > 1 / 1024),
        },
        words: { gone: `${id} is gone from the ${kube.description}`, applier: "cluster" },
    });
}

async function apply(kube: KubeClient, id: string, changes: LiveChanges): Promise<void> {
    const before = await readRuntime(kube, id);
    if (!before)
        throw new BackendError(
            `${id} is gone from the ${kube.description}; run \`pulumi refresh\`, then \`pulumi up\` recreates it`,
        );
    if (changes.labels !== undefined) await relabel(kube, id, before.labels, changes.labels);
    if (changes.token !== undefined) await rotateToken(kube, id, before, changes.token);
    // Nothing to resize: the resize below would patch the pod for nothing.
    if (changes.cpus === undefined && changes.memoryGb === undefined) return;
    const cpus = changes.cpus ?? before.cpus;
    const memoryGb = changes.memoryGb ?? before.memoryGb;
    const resources = containerResources(cpus, memoryGb, before.gpus);
    // The running pod first (in place, no restart), then the template, for the next start.
    if (await podOf(kube, id)) await resizePod(kube, id, before, { cpus, memoryGb });
    const sts = await kube.apps.readNamespacedStatefulSet({ name: id, namespace: kube.ns });
    const template = sts.spec?.template.spec?.containers?.[0];
    if (template) {
        await kube
            .patchFields({
                apiVersion: "apps/v1",
                kind: "StatefulSet",
                metadata: { name: id, namespace: kube.ns },
                spec: { template: { spec: { containers: [{ name: WORKSTATION_CONTAINER, resources }] } } },
            } as KubeObject)
            .catch((e) => {
                throw new BackendError(`could not update ${id}'s template: ${reason(e)}`);
            });
    }
}

/**
 * Resizes the running pod in place and waits until its kubelet has applied the new size: the
 * API server takes any resize that fits the node's allocatable, and only the kubelet knows
 * whether the node has room beside its other pods. A resize it defers or refuses is undone
 * (a deferred one would otherwise be applied later, behind the stack's back) and fails the
 * update with the kubelet's reason.
 */
async function resizePod(
    kube: KubeClient,
    id: string,
    before: RuntimeState,
    want: { cpus: number; memoryGb: number },
): Promise<void> {
    const failure = await resizeApplied(kube, id, await patchResize(kube, id, want, before.gpus), want);
    if (!failure) return;
    let undone = "it was undone";
    try {
        const back = await resizeApplied(kube, id, await patchResize(kube, id, before, before.gpus), before);
        if (back) undone = `undoing it failed too: ${back}`;
    } catch (e) {
        undone = `undoing it failed too: ${e instanceof Error ? e.message : String(e)}`;
    }
    throw new BackendError(
        `${failure}; ${undone}: the pod keeps ${before.cpus} CPUs and ${before.memoryGb} GiB. A node with room takes it: ` +
            `free room on ${await nodeOf(kube, id)}, or stop the instance (compute-instance stop), run \`pulumi up\` and start it again, for the scheduler to place it`,
    );
}

/** Asks for a new size through the pods/resize subresource: the pod's generation that asks. */
async function patchResize(
    kube: KubeClient,
    id: string,
    size: { cpus: number; memoryGb: number },
    gpus: number,
): Promise<number> {
    try {
        const pod = await kube.core.patchNamespacedPodResize(
            {
                name: `${id}-0`,
                namespace: kube.ns,
                body: {
                    spec: {
                        containers: [
                            {
                                name: WORKSTATION_CONTAINER,
                                resources: containerResources(size.cpus, size.memoryGb, gpus),
                            },
                        ],
                    },
                },
            },
            kube.lib.setHeaderOptions("Content-Type", kube.lib.PatchStrategy.StrategicMergePatch),
        );
        return pod.metadata?.generation ?? 0;
    } catch (e) {
        throw new BackendError(
            `could not resize pod ${id}-0 in place on the ${kube.description}: ${reason(e)} (in-place resize needs Kubernetes 1.33 or later)`,
        );
    }
}

/** Waits until the kubelet has applied the resize asked at `generation`: undefined then, or why it did not. */
async function resizeApplied(
    kube: KubeClient,
    id: string,
    generation: number,
    want: { cpus: number; memoryGb: number },
): Promise<string | undefined> {
    const deadline = Date.now() + RESIZE_TIMEOUT_SECONDS * 1000;
    for (;;) {
        const pod = await podOf(kube, id);
        if (!pod) return `pod ${id}-0 went away while it was resized`;
        const p = resizeProgress(pod as PodLike, WORKSTATION_CONTAINER, generation, want);
        if (p.state === "applied" || p.state === "untracked") return undefined;
        if (p.state === "refused") {
            const did =
                p.reason === "Deferred" ? "deferred" : p.reason === "Infeasible" ? "refused as infeasible" : "failed";
            return `the kubelet ${did} the resize of pod ${id}-0 to ${want.cpus} CPUs and ${want.memoryGb} GiB (${p.reason}: ${p.message})`;
        }
        if (Date.now() > deadline)
            return `the kubelet did not apply the resize of pod ${id}-0 within ${RESIZE_TIMEOUT_SECONDS}s (${p.why})`;
        await new Promise((r) => setTimeout(r, 250));
    }
}

/**
 * The user's labels, live: on the StatefulSet, its template (OnDelete: no restart; the next pod
 * has them) and the running pod. A patch sets the new ones and removes those taken away.
 */
async function relabel(
    kube: KubeClient,
    id: string,
    before: Record<string, string>,
    after: Record<string, string>,
): Promise<void> {
    const labels = labelsPatch(before, after);
    const keys = Object.keys(after).length ? JSON.stringify(Object.keys(after).sort()) : null;
    try {
        await kube.patchFields({
            apiVersion: "apps/v1",
            kind: "StatefulSet",
            metadata: { name: id, namespace: kube.ns, labels, annotations: { [USER_LABELS_ANNOTATION]: keys } },
            spec: { template: { metadata: { labels } } },
        } as unknown as KubeObject);
        if (await podOf(kube, id)) {
            await kube.patchFields({
                apiVersion: "v1",
                kind: "Pod",
                metadata: { name: `${id}-0`, namespace: kube.ns, labels },
            } as unknown as KubeObject);
        }
    } catch (e) {
        throw new BackendError(`could not label ${id} on the ${kube.description}: ${reason(e)}`);
    }
}

/**
 * A new token, live: the Secret changes, the kubelet refreshes the mounted file (within about a
 * minute) and the image re-reads it. Verified by reading the Secret back.
 */
function rotateToken(kube: KubeClient, id: string, before: RuntimeState, token: string): Promise<void> {
    const name = `${id}-token`;
    return lifecycle.rotateToken({
        live: before.liveToken,
        notLive: `${id}'s image reads its token only at start (see images/README.md); it must be replaced to change its token`,
        async write() {
            try {
                await kube.core.patchNamespacedSecret(
                    { name, namespace: kube.ns, body: { data: { token: Buffer.from(token).toString("base64") } } },
                    kube.lib.setHeaderOptions("Content-Type", kube.lib.PatchStrategy.MergePatch),
                );
            } catch (e) {
                throw new BackendError(`could not update ${name} on the ${kube.description}: ${reason(e)}`);
            }
        },
        async verify() {
            const secret = await kube.core.readNamespacedSecret({ name, namespace: kube.ns });
            if (Buffer.from(secret.data?.token ?? "", "base64").toString("utf8") !== token)
                throw new BackendError(`${name} did not take the new token`);
        },
    });
}
