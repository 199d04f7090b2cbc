/** The cluster as a whole: whether it answers and lets us in, what it is, and how large an instance fits. */
import type * as k8s from "@kubernetes/client-node";
import { BackendError, Capacity } from "../backend";
import { KubeClient, ignoreNotFound, reason, statusCode } from "./client";
import { parseCpu, parseMemoryGb } from "./quantity";

const PING_TIMEOUT_MS = 5000;

/** The verbs and resources the provider needs in the workspace's namespace. */
const REQUIRED_ACCESS: { group: string; resource: string; verb: string; subresource?: string }[] = [
    ...["create", "patch", "get", "delete"].flatMap((verb) => [
        { group: "apps", resource: "statefulsets", verb },
        { group: "", resource: "persistentvolumeclaims", verb },
        { group: "", resource: "services", verb },
        { group: "", resource: "secrets", verb },
        { group: "networking.k8s.io", resource: "networkpolicies", verb },
        // The workspace agent.
        { group: "apps", resource: "deployments", verb },
        { group: "", resource: "serviceaccounts", verb },
        { group: "", resource: "configmaps", verb },
        { group: "rbac.authorization.k8s.io", resource: "roles", verb },
        { group: "rbac.authorization.k8s.io", resource: "rolebindings", verb },
    ]),
    { group: "", resource: "pods", verb: "list" },
    { group: "", resource: "pods", verb: "patch" },
    { group: "", resource: "events", verb: "list" },
    // What an assigned user's Role grants: RBAC lets no one grant what they do not hold.
    { group: "", resource: "pods", verb: "get" },
    { group: "", resource: "pods", subresource: "log", verb: "get" },
    ...["get", "create"].flatMap((verb) =>
        ["portforward", "exec"].map((subresource) => ({ group: "", resource: "pods", subresource, verb })),
    ),
];

export async function identity(kube: KubeClient): Promise<string | undefined> {
    try {
        const uid = (await kube.core.readNamespace({ name: "kube-system" })).metadata?.uid;
        return uid ? `kubernetes-cluster:${uid}` : undefined;
    } catch (e) {
        // Deployers without the right to read namespaces: the address is all there is.
        if (statusCode(e) === 403) return undefined;
        throw e;
    }
}

export async function ping(kube: KubeClient): Promise<void> {
    const version = kube.api(kube.lib.VersionApi);
    try {
        await Promise.race([
            version.getCode(),
            new Promise((_, reject) =>
                setTimeout(
                    () => reject(new Error(`no answer within ${PING_TIMEOUT_MS / 1000}s`)),
                    PING_TIMEOUT_MS,
                ).unref(),
            ),
        ]);
    } catch (e) {
        throw new BackendError(`${kube.description} does not answer (${reason(e)}); check the kubeconfig`, "backend");
    }
    await checkAccess(kube);
    await checkStorageClass(kube);
}

/** At preview: the namespace exists or can be made, and every verb the provider uses is allowed. */
async function checkAccess(kube: KubeClient): Promise<void> {
    const authz = kube.api(kube.lib.AuthorizationV1Api);
    const can = async (
        a: { group: string; resource: string; verb: string; subresource?: string },
        namespace?: string,
    ) =>
        (await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { ...a, namespace } } } }))
            .status?.allowed === true;
    const exists = await ignoreNotFound(kube.core.readNamespace({ name: kube.ns })).catch((e) => {
        if (statusCode(e) === 403) return "forbidden" as const;
        throw e;
    });
    if (!exists || exists === "forbidden") {
        if (!exists && !(await can({ group: "", resource: "namespaces", verb: "create" }))) {
            throw new BackendError(
                `namespace "${kube.ns}" does not exist and ${whoAmI(kube)} may not create it; create it or pick an existing one`,
                "backend.kubernetes.namespace",
            );
        }
    }
    const allowed = await Promise.all(REQUIRED_ACCESS.map((a) => can(a, kube.ns)));
    const denied = REQUIRED_ACCESS.filter((_, i) => !allowed[i]).map(
        (a) =>
            `${a.verb} ${a.group ? `${a.resource}.${a.group}` : a.resource}${a.subresource ? `/${a.subresource}` : ""}`,
    );
    if (denied.length) {
        throw new BackendError(
            `forbidden by RBAC for ${whoAmI(kube)} in namespace "${kube.ns}": ${denied.join(", ")}`,
            "backend.kubernetes",
        );
    }
}

function whoAmI(kube: KubeClient): string {
    return `user "${kube.kc.getCurrentUser()?.name ?? "unknown"}"`;
}

async function checkStorageClass(kube: KubeClient): Promise<void> {
    const storage = kube.api(kube.lib.StorageV1Api);
    if (kube.target.storageClass) {
        const sc = await ignoreNotFound(storage.readStorageClass({ name: kube.target.storageClass })).catch(
            () => "unreadable",
        );
        if (!sc) {
            const names = (await storage.listStorageClass().catch(() => ({ items: [] as k8s.V1StorageClass[] }))).items
                .map((s) => s.metadata?.name)
                .join(", ");
            throw new BackendError(
                `storage class "${kube.target.storageClass}" does not exist; the cluster has: ${names || "none"}`,
                "backend.kubernetes.storageClass",
            );
        }
    }
}

export async function capacity(kube: KubeClient): Promise<Capacity> {
    let list: k8s.V1NodeList;
    try {
        list = await kube.core.listNode();
    } catch (e) {
        // Users confined to a namespace may not list nodes: then the scheduler is the judge.
        if (statusCode(e) === 403) return { cpus: Infinity, memoryGb: Infinity, gpus: Infinity };
        throw e;
    }
    const nodes = list.items.filter(
        (n) => !n.spec?.unschedulable && n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    );
    const best: Capacity = {
        cpus: 0,
        memoryGb: 0,
        gpus: 0,
        noGpus: "has no schedulable node that advertises nvidia.com/gpu (GPU nodes need the NVIDIA device plugin)",
    };
    for (const n of nodes) {
        const a = n.status?.allocatable ?? {};
        best.cpus = Math.max(best.cpus, parseCpu(a.cpu ?? "0"));
        best.memoryGb = Math.max(best.memoryGb, parseMemoryGb(a.memory ?? "0"));
        best.gpus = Math.max(best.gpus, Number(a["nvidia.com/gpu"] ?? 0));
    }
    return best;
}
