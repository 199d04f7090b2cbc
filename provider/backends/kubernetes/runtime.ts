/**
 * An instance's runtime, a StatefulSet of one pod: its create (and the wait until it is ready, or
 * until its setup scripts fail), its read and its delete.
 */
import type * as k8s from "@kubernetes/client-node";
import { BackendError, RuntimeSpec, RuntimeState } from "../backend";
import * as lifecycle from "../lifecycle";
import { Progress } from "../../progress";
import { waitUntilReady } from "../../readiness";
import { PublishedPorts, SERVICES, ServiceName } from "../../model/endpoints";
import { setupSeconds } from "../../model/setup";
import { LABEL_PREFIX } from "../layout";
import { KubeClient, ignoreNotFound, reason } from "./client";
import { runtimeManifests, runtimeName, userLabelsOf } from "./manifests";
import { parseCpu, parseMemoryGb } from "./quantity";
import { stopJobsOf } from "./jobs";
import { diagnostics, isReady, podOf, podTrouble, setupProgress, statusOf } from "./pods";

export async function createRuntime(kube: KubeClient, spec: RuntimeSpec, progress: Progress): Promise<RuntimeState> {
    const name = runtimeName(spec);
    return lifecycle.createRuntime(
        {
            id: name,
            clearOrphan: () => clearOrphan(kube, name, spec),
            async create() {
                await waitForClaims(kube, [spec.osDisk, spec.userFiles], progress, spec.readyTimeoutSeconds);
                progress.status("applying StatefulSet, Service, Secret and NetworkPolicy");
                await kube.applyAll(runtimeManifests(spec, kube.ns), `creating ${name}`);
            },
            waitReady: () => waitUntilCreated(kube, spec, name, progress),
            read: () => readRuntime(kube, name),
            rollBack: () => deleteRuntime(kube, name).catch(() => undefined),
            words: {
                target: name,
                reason,
                disappeared: `StatefulSet ${name} disappeared right after it was created`,
                kept: { what: `pod ${name}-0`, shell: `kubectl exec -it -n ${kube.ns} ${name}-0 -- bash` },
            },
        },
        progress,
    );
}

/**
 * Waits until the new pod is ready, showing what its setup scripts are doing. A setup script that
 * failed fails the wait with a SetupFailedError.
 */
function waitUntilCreated(kube: KubeClient, spec: RuntimeSpec, name: string, progress: Progress): Promise<number> {
    return waitUntilReady({
        what: `pod ${name}-0`,
        // The pod Ready, and the StatefulSet saying so (what `kubectl get` shows).
        probe: async () =>
            isReady(await podOf(kube, name)) &&
            ((await kube.apps.readNamespacedStatefulSet({ name, namespace: kube.ns })).status?.readyReplicas ?? 0) >= 1,
        dead: () => podTrouble(kube, name),
        phase: async () => {
            const pod = await podOf(kube, name);
            const p = pod ? await setupProgress(kube, pod) : undefined;
            return p?.phase === "SettingUp" ? p.message : undefined;
        },
        diagnostics: () => diagnostics(kube, name),
        timeoutSeconds: spec.readyTimeoutSeconds + setupSeconds(spec.setupScripts),
        progress,
        intervalMs: 500,
    });
}

/**
 * Claims of storage classes that bind at once are waited for before the pod exists: a pod
 * scheduled against a claim still pending waits out the scheduler's back-off after it binds.
 * Claims bound when a pod asks (WaitForFirstConsumer) are not waited for.
 */
async function waitForClaims(
    kube: KubeClient,
    names: string[],
    progress: Progress,
    timeoutSeconds: number,
): Promise<void> {
    const storage = kube.api(kube.lib.StorageV1Api);
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (const name of names) {
        for (;;) {
            const pvc = await kube.core.readNamespacedPersistentVolumeClaim({ name, namespace: kube.ns });
            if (pvc.status?.phase === "Bound") break;
            const className = pvc.spec?.storageClassName;
            const cls = className
                ? await ignoreNotFound(storage.readStorageClass({ name: className })).catch(() => undefined)
                : undefined;
            if (!cls || cls.volumeBindingMode === "WaitForFirstConsumer") break;
            if (Date.now() > deadline) {
                throw new BackendError(
                    `claim ${name} is not bound after ${timeoutSeconds}s: is the provisioner of storage class "${className}" running?`,
                );
            }
            progress.status(`waiting for claim ${name} to be bound`);
            await new Promise((r) => setTimeout(r, 250));
        }
    }
}

async function clearOrphan(kube: KubeClient, name: string, spec: RuntimeSpec): Promise<void> {
    const existing = await readStatefulSet(kube, name);
    if (existing) {
        const owner = existing.metadata?.annotations?.[`${LABEL_PREFIX}/owner`];
        if (owner !== spec.owner) throw lifecycle.nameClash(spec, kube.description, `StatefulSet ${name}`, owner);
        await deleteRuntime(kube, name);
    }
    // A pod left by a StatefulSet deleted out of band is waiting for the garbage collector: a
    // new StatefulSet would adopt it, and the collector then take it away. It goes now.
    if (await podOf(kube, name)) {
        await ignoreNotFound(kube.core.deleteNamespacedPod({ name: `${name}-0`, namespace: kube.ns }));
        await kube.waitUntilGone(name, "pod", () => podOf(kube, name), 120);
    }
}

export async function readRuntime(kube: KubeClient, id: string): Promise<RuntimeState | undefined> {
    const sts = await readStatefulSet(kube, id);
    if (!sts) return undefined;
    const pod = await podOf(kube, id);
    // The running pod's resources are the truth (they change in place); the template's otherwise.
    const container = pod?.spec?.containers?.[0] ?? sts.spec?.template.spec?.containers?.[0];
    const limits = container?.resources?.limits ?? {};
    const ports: PublishedPorts = {};
    for (const p of container?.ports ?? []) {
        if (p.name && p.name in SERVICES) ports[p.name as ServiceName] = p.containerPort;
    }
    // SSH is reached on its Service port, not on sshd's unprivileged port in the pod.
    const sshPort = sts.metadata?.annotations?.[`${LABEL_PREFIX}/ssh-port`];
    if (ports.ssh !== undefined && sshPort) ports.ssh = Number(sshPort);
    // Not ready: the entry point's log says whether a setup script is running or failed.
    const setup = pod && statusOf(sts, pod) === "Starting" ? await setupProgress(kube, pod) : undefined;
    return {
        id,
        uid: pod?.metadata?.uid ?? sts.metadata?.uid ?? "",
        status: statusOf(sts, pod, setup),
        image: container?.image ?? "",
        cpus: parseCpu(String(limits.cpu ?? "0")),
        memoryGb: parseMemoryGb(String(limits.memory ?? "0")),
        gpus: Number(limits["nvidia.com/gpu"] ?? 0),
        ports,
        host: `${id}.${kube.ns}.svc.cluster.local`,
        labels: userLabelsOf(sts.metadata),
        liveToken: sts.metadata?.annotations?.[`${LABEL_PREFIX}/token-file`] !== undefined,
    };
}

export function runtimeIdFor(ref: { workspace: string; instance: string }): string {
    return runtimeName({ ...ref, owner: "" });
}

export async function deleteRuntime(kube: KubeClient, id: string): Promise<void> {
    const ns = kube.ns;
    const sts = await readStatefulSet(kube, id);
    await ignoreNotFound(kube.apps.deleteNamespacedStatefulSet({ name: id, namespace: ns }));
    // The pod directly too, rather than waiting for the garbage collector to get to it.
    await ignoreNotFound(kube.core.deleteNamespacedPod({ name: `${id}-0`, namespace: ns }));
    await ignoreNotFound(kube.core.deleteNamespacedService({ name: id, namespace: ns }));
    await ignoreNotFound(kube.networking.deleteNamespacedNetworkPolicy({ name: id, namespace: ns }));
    await ignoreNotFound(kube.core.deleteNamespacedSecret({ name: `${id}-token`, namespace: ns }));
    await ignoreNotFound(kube.rbac.deleteNamespacedRoleBinding({ name: `${id}-user`, namespace: ns }));
    await ignoreNotFound(kube.rbac.deleteNamespacedRole({ name: `${id}-user`, namespace: ns }));
    // The pod holds the OS disk: wait until it is gone, so the disk can be deleted or reused.
    await kube.waitUntilGone(id, "pod", () => podOf(kube, id), 120);
    await stopJobsOf(kube, sts);
}

export function readStatefulSet(kube: KubeClient, name: string): Promise<k8s.V1StatefulSet | undefined> {
    return ignoreNotFound(kube.apps.readNamespacedStatefulSet({ name, namespace: kube.ns }));
}

/** The runtimes of a workspace, of every stack. */
export async function listRuntimes(kube: KubeClient, workspace: string): Promise<k8s.V1StatefulSet[]> {
    const list = await kube.apps.listNamespacedStatefulSet({
        namespace: kube.ns,
        labelSelector: `${LABEL_PREFIX}/workspace=${workspace},app.kubernetes.io/component=runtime`,
    });
    return list.items;
}
