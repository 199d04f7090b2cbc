/** An instance's pod: its state, why it does not get ready, and what it said. */
import type * as k8s from "@kubernetes/client-node";
import type { InstanceStatus } from "../backend";
import { SetupProgress, setupProgressFromLog } from "../../model/setup";
import type { Trouble } from "../../readiness";
import { KubeClient, ignoreNotFound } from "./client";
import { WORKSTATION_CONTAINER } from "./manifests";

/**
 * Azure's state of an instance from its StatefulSet and pod: scaled to zero is Stopped. A pod
 * that is not ready while its setup scripts run, or after one failed, is SettingUp or SetupFailed
 * (what the entry point said, when it was read), as on Docker.
 */
export function statusOf(sts: k8s.V1StatefulSet, pod: k8s.V1Pod | undefined, setup?: SetupProgress): InstanceStatus {
    if ((sts.spec?.replicas ?? 1) === 0) return "Stopped";
    if (isReady(pod)) return "Running";
    if (pod && setup && setup.phase !== "Done") return setup.phase;
    return pod ? "Starting" : "Creating";
}

/** Whether the pod reports itself Ready. */
export function isReady(pod: k8s.V1Pod | undefined): boolean {
    return pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
}

export async function podOf(kube: KubeClient, name: string): Promise<k8s.V1Pod | undefined> {
    return ignoreNotFound(kube.core.readNamespacedPod({ name: `${name}-0`, namespace: kube.ns }));
}

/**
 * Reasons a pod will not get ready by waiting: unschedulable, image pull failures, crash loops; a
 * failed setup script as such, for the readiness wait to tell (a create keeps the pod).
 */
export async function podTrouble(kube: KubeClient, name: string): Promise<Trouble | undefined> {
    const pod = await podOf(kube, name);
    if (!pod) return undefined;
    const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
    if (
        scheduled?.status === "False" &&
        scheduled.reason === "Unschedulable" &&
        /Insufficient|didn't match|untolerated|unbound/.test(scheduled.message ?? "")
    ) {
        // "Insufficient nvidia.com/gpu", "Insufficient cpu": no node will ever fit this pod as the cluster is.
        if (/Insufficient/.test(scheduled.message ?? "")) return `it cannot be scheduled: ${scheduled.message}`;
    }
    for (const cs of pod.status?.containerStatuses ?? []) {
        const waiting = cs.state?.waiting?.reason;
        if (
            waiting &&
            /ErrImagePull|ImagePullBackOff|InvalidImageName|CrashLoopBackOff|CreateContainerConfigError/.test(waiting)
        ) {
            return `${waiting}: ${cs.state?.waiting?.message ?? ""}`.trim();
        }
    }
    const setup = await setupProgress(kube, pod);
    return setup?.phase === "SetupFailed" ? { setupFailed: setup.message } : undefined;
}

/** The entry point's report on the setup scripts, from the running container's log. */
export async function setupProgress(kube: KubeClient, pod: k8s.V1Pod): Promise<SetupProgress | undefined> {
    const hasScripts = pod.spec?.containers
        ?.find((c) => c.name === WORKSTATION_CONTAINER)
        ?.env?.some((e) => e.name === "CI_SETUP_TIMEOUT");
    if (!hasScripts || !workstationStatus(pod)?.state?.running) return undefined;
    try {
        const log = await workstationLog(kube, pod, 2000);
        return setupProgressFromLog(String(log));
    } catch {
        // No log to read (a node that does not serve logs): the readiness wait decides.
        return undefined;
    }
}

// By name: the kubelet lists statuses sorted by name, so "app-…" sidecars come first.
function workstationStatus(pod: k8s.V1Pod): k8s.V1ContainerStatus | undefined {
    return pod.status?.containerStatuses?.find((c) => c.name === WORKSTATION_CONTAINER);
}

function workstationLog(kube: KubeClient, pod: k8s.V1Pod, tailLines: number): Promise<string> {
    return kube.core.readNamespacedPodLog({
        name: pod.metadata?.name ?? "",
        namespace: kube.ns,
        container: WORKSTATION_CONTAINER,
        tailLines,
    });
}

/**
 * Why a pod did not get ready: the workstation's last output (a failed setup script's own
 * words are there, as on Docker), then the pod's events.
 */
export async function diagnostics(kube: KubeClient, name: string): Promise<string> {
    const pod = await podOf(kube, name).catch(() => undefined);
    return [await logTail(kube, pod), await events(kube, name, pod)].filter(Boolean).join("\n");
}

async function logTail(kube: KubeClient, pod: k8s.V1Pod | undefined): Promise<string> {
    // Only a container that a runtime started has output (simulated pods have no container ID).
    if (!pod || !workstationStatus(pod)?.containerID) return "";
    try {
        return String(await workstationLog(kube, pod, 30)).trim();
    } catch {
        return "";
    }
}

async function events(kube: KubeClient, name: string, pod?: k8s.V1Pod): Promise<string> {
    // This pod's only: an earlier pod of the same name (before a stop or a replacement) had its own.
    const uid = pod?.metadata?.uid ? `,involvedObject.uid=${pod.metadata.uid}` : "";
    const list = await kube.core.listNamespacedEvent({
        namespace: kube.ns,
        fieldSelector: `involvedObject.name=${name}-0${uid}`,
    });
    return list.items
        .slice(-10)
        .map((e) => `${e.type} ${e.reason}: ${e.message}`)
        .join("\n");
}

export async function nodeOf(kube: KubeClient, id: string): Promise<string> {
    const node = (await podOf(kube, id).catch(() => undefined))?.spec?.nodeName;
    return node ? `node ${node}` : "its node";
}
