/** What every object shares: its shape, names, labels and owner annotation, and the user's labels. */
import type { InstanceRef, Ownership } from "../../backend";
import { Component, LABEL_PREFIX, MANAGED_BY, objectLabels } from "../../layout";

export const FIELD_MANAGER = MANAGED_BY;

export interface KubeObject {
    apiVersion: string;
    kind: string;
    metadata: {
        name: string;
        namespace?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
    };
    [key: string]: unknown;
}

export function meta(
    name: string,
    namespace: string,
    ref: Ownership & { instance?: string },
    component: Component,
    annotations: Record<string, string> = {},
) {
    return {
        name,
        namespace,
        labels: objectLabels(ref, component),
        annotations: { [`${LABEL_PREFIX}/owner`]: ref.owner, ...annotations },
    };
}

/** The labels that pick an instance's pod. */
export function podSelector(ref: InstanceRef): Record<string, string> {
    return {
        "app.kubernetes.io/name": "compute-instance",
        "app.kubernetes.io/instance": ref.instance,
        "app.kubernetes.io/part-of": ref.workspace,
    };
}

/** The labels that pick every instance pod of a workspace (its agent's pods are named apart). */
export function workspacePodLabels(workspace: string): Record<string, string> {
    return { "app.kubernetes.io/name": "compute-instance", "app.kubernetes.io/part-of": workspace };
}

export function runtimeName(ref: InstanceRef): string {
    return `ci-${ref.workspace}-${ref.instance}`;
}

export function tokenSecretName(ref: InstanceRef): string {
    return `${runtimeName(ref)}-token`;
}

export function namespaceManifest(namespace: string): KubeObject {
    return {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: namespace, labels: { "app.kubernetes.io/managed-by": MANAGED_BY } },
    };
}

/** The workspace agent's pods (and its Deployment's selector, which can never change). */
export function agentPodLabels(workspace: string): Record<string, string> {
    return { "app.kubernetes.io/name": "compute-instance-agent", "app.kubernetes.io/part-of": workspace };
}

/** The annotation that says which labels are the user's (so labels added by others are not). */
export const USER_LABELS_ANNOTATION = `${LABEL_PREFIX}/user-labels`;

export function withUserLabels<M extends { labels: Record<string, string>; annotations: Record<string, string> }>(
    m: M,
    user: Record<string, string>,
): M {
    if (!Object.keys(user).length) return m;
    return {
        ...m,
        labels: { ...user, ...m.labels },
        annotations: { ...m.annotations, [USER_LABELS_ANNOTATION]: JSON.stringify(Object.keys(user).sort()) },
    };
}

/** The user's labels of an object made with {@link withUserLabels}. */
export function userLabelsOf(
    metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined,
): Record<string, string> {
    let keys: unknown;
    try {
        keys = JSON.parse(metadata?.annotations?.[USER_LABELS_ANNOTATION] ?? "[]");
    } catch {
        keys = [];
    }
    const out: Record<string, string> = {};
    for (const k of Array.isArray(keys) ? keys : []) {
        const v = metadata?.labels?.[String(k)];
        if (v !== undefined) out[String(k)] = v;
    }
    return out;
}
