/**
 * The workspace agent's Deployment, and what it asks of the cluster at every check: the
 * workspace's instances (with their tokens, to read Jupyter's activity) and their usage.
 */
import { AgentSpec, AgentState, BackendError, InstanceView } from "../backend";
import { Progress } from "../../progress";
import type { QuotaUse } from "../../model/quota";
import { LABEL_PREFIX } from "../layout";
import { KubeClient, ignoreNotFound } from "./client";
import { agentManifests, agentMemoryName, agentName, agentPoliciesName, podJupyterUrl } from "./manifests";
import { parseCpu } from "./quantity";
import { statusOf } from "./pods";
import { listRuntimes } from "./runtime";
import { ensureNamespace } from "./workspaceObjects";

export async function ensureAgent(kube: KubeClient, spec: AgentSpec, progress: Progress): Promise<AgentState> {
    await ensureNamespace(kube);
    progress.status("applying the workspace agent (ServiceAccount, Role, RoleBinding, ConfigMaps, Deployment)");
    await kube.applyAll(agentManifests(spec, kube.ns), "creating the workspace agent");
    const state = await readAgent(kube, spec.workspace);
    if (!state)
        throw new BackendError(
            `the workspace agent's Deployment ${agentName(spec.workspace)} disappeared right after it was applied`,
        );
    return state;
}

export async function readAgent(kube: KubeClient, workspace: string): Promise<AgentState | undefined> {
    const name = agentName(workspace);
    const d = await ignoreNotFound(kube.apps.readNamespacedDeployment({ name, namespace: kube.ns }));
    if (!d) return undefined;
    return {
        id: name,
        image: d.spec?.template.spec?.containers?.[0]?.image ?? "",
        checkIntervalSeconds: Number(d.metadata?.annotations?.[`${LABEL_PREFIX}/check-interval-seconds`] ?? 0),
        running: (d.spec?.replicas ?? 0) > 0,
    };
}

export async function deleteAgent(kube: KubeClient, workspace: string): Promise<void> {
    const name = agentName(workspace);
    const namespace = kube.ns;
    await ignoreNotFound(kube.apps.deleteNamespacedDeployment({ name, namespace }));
    await ignoreNotFound(kube.rbac.deleteNamespacedRoleBinding({ name, namespace }));
    await ignoreNotFound(kube.rbac.deleteNamespacedRole({ name, namespace }));
    await ignoreNotFound(kube.core.deleteNamespacedServiceAccount({ name, namespace }));
    await ignoreNotFound(kube.core.deleteNamespacedConfigMap({ name: agentPoliciesName(workspace), namespace }));
    await ignoreNotFound(kube.core.deleteNamespacedConfigMap({ name: agentMemoryName(workspace), namespace }));
}

export async function workspaceUsage(kube: KubeClient, workspace: string): Promise<QuotaUse[]> {
    return (await listRuntimes(kube, workspace)).map((sts) => {
        // The template: what the pod has, or gets at its next start (resizes patch both).
        const limits = sts.spec?.template.spec?.containers?.[0]?.resources?.limits ?? {};
        return {
            instance: sts.metadata?.labels?.["app.kubernetes.io/instance"] ?? sts.metadata?.name ?? "",
            owner: sts.metadata?.annotations?.[`${LABEL_PREFIX}/owner`] ?? "",
            cpus: parseCpu(String(limits.cpu ?? "0")),
            gpus: Number(limits["nvidia.com/gpu"] ?? 0),
            ...(sts.spec?.replicas === 0 ? { stopped: true } : {}),
        };
    });
}

export async function listInstances(kube: KubeClient, workspace: string): Promise<InstanceView[]> {
    // Two lists for the whole workspace, then a token for each running instance only: the
    // agent asks at every check.
    const [runtimes, pods] = await Promise.all([
        listRuntimes(kube, workspace),
        kube.core.listNamespacedPod({
            namespace: kube.ns,
            labelSelector: `app.kubernetes.io/name=compute-instance,app.kubernetes.io/part-of=${workspace}`,
        }),
    ]);
    const podByName = new Map(pods.items.map((p) => [p.metadata?.name ?? "", p]));
    const views: InstanceView[] = [];
    for (const sts of runtimes) {
        const id = sts.metadata?.name ?? "";
        const pod = podByName.get(`${id}-0`);
        const status = statusOf(sts, pod);
        const secret =
            status === "Running"
                ? await ignoreNotFound(kube.core.readNamespacedSecret({ name: `${id}-token`, namespace: kube.ns }))
                : undefined;
        const token = secret?.data?.token ? Buffer.from(secret.data.token, "base64").toString("utf8") : undefined;
        const jupyterUrl = status === "Running" ? podJupyterUrl(pod?.status?.podIP) : undefined;
        views.push({
            instance: sts.metadata?.labels?.["app.kubernetes.io/instance"] ?? id,
            owner: sts.metadata?.annotations?.[`${LABEL_PREFIX}/owner`] ?? "",
            id,
            status,
            ...(status === "Running" && pod?.status?.startTime
                ? { startedAt: new Date(pod.status.startTime).toISOString() }
                : {}),
            ...(jupyterUrl ? { jupyterUrl } : {}),
            ...(token ? { token } : {}),
        });
    }
    return views;
}
