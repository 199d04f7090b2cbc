/** The workspace agent: its account, its Role, its two ConfigMaps and its Deployment. */
import type { AgentSpec } from "../../backend";
import { LABEL_PREFIX, MANAGED_BY } from "../../layout";
import { KubeObject, agentPodLabels, meta } from "./metadata";

export function agentName(workspace: string): string {
    return `ci-${workspace}-agent`;
}

/** Policies written by the resources (one key each); the agent only reads them. */
export function agentPoliciesName(workspace: string): string {
    return `ci-${workspace}-agent-policies`;
}

/** The agent's memory (what it has handled, its last operations); only the agent writes it. */
export function agentMemoryName(workspace: string): string {
    return `ci-${workspace}-agent-memory`;
}

/**
 * ServiceAccount, Role, RoleBinding, the two ConfigMaps and the Deployment. The Role is what the
 * agent needs and no more: read and scale the StatefulSets, read pods (start times, readiness),
 * read Secrets (the instances' tokens, to ask Jupyter for its kernels: give each workspace its
 * own namespace), read its policies and read/write its own memory, by name.
 */
export function agentManifests(spec: AgentSpec, namespace: string): KubeObject[] {
    const name = agentName(spec.workspace);
    const m = (n: string) => meta(n, namespace, spec, "agent");
    const labels = agentPodLabels(spec.workspace);
    return [
        { apiVersion: "v1", kind: "ServiceAccount", metadata: m(name), automountServiceAccountToken: true },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "Role",
            metadata: m(name),
            rules: [
                { apiGroups: ["apps"], resources: ["statefulsets"], verbs: ["get", "list", "patch"] },
                { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
                { apiGroups: [""], resources: ["events"], verbs: ["list"] },
                { apiGroups: [""], resources: ["secrets"], verbs: ["get"] },
                // The job queue: the agent creates a job's Job when it admits it, deletes its pod to
                // stop it, and the Job once it has recorded its end. Only Jobs are created or
                // deleted; pods it could already stop by scaling their StatefulSets.
                { apiGroups: ["batch"], resources: ["jobs"], verbs: ["get", "list", "create", "delete"] },
                { apiGroups: [""], resources: ["pods"], verbs: ["deletecollection"] },
                {
                    apiGroups: [""],
                    resources: ["configmaps"],
                    resourceNames: [agentPoliciesName(spec.workspace)],
                    verbs: ["get"],
                },
                {
                    apiGroups: [""],
                    resources: ["configmaps"],
                    resourceNames: [agentMemoryName(spec.workspace)],
                    verbs: ["get", "patch"],
                },
            ],
        },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            metadata: m(name),
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
            subjects: [{ kind: "ServiceAccount", name, namespace }],
        },
        { apiVersion: "v1", kind: "ConfigMap", metadata: m(agentPoliciesName(spec.workspace)) },
        { apiVersion: "v1", kind: "ConfigMap", metadata: m(agentMemoryName(spec.workspace)) },
        {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: {
                ...m(name),
                annotations: {
                    ...m(name).annotations,
                    [`${LABEL_PREFIX}/check-interval-seconds`]: String(spec.checkIntervalSeconds),
                },
            },
            spec: {
                replicas: 1,
                // Never two agents at once: one stops before the next starts.
                strategy: { type: "Recreate" },
                selector: { matchLabels: labels },
                template: {
                    metadata: {
                        labels: {
                            ...labels,
                            "app.kubernetes.io/component": "agent",
                            "app.kubernetes.io/managed-by": MANAGED_BY,
                        },
                    },
                    spec: {
                        serviceAccountName: name,
                        securityContext: {
                            runAsNonRoot: true,
                            runAsUser: 65534,
                            runAsGroup: 65534,
                            seccompProfile: { type: "RuntimeDefault" },
                        },
                        containers: [
                            {
                                name: "agent",
                                image: spec.image,
                                env: [
                                    { name: "CI_AGENT_WORKSPACE", value: spec.workspace },
                                    {
                                        name: "CI_AGENT_BACKEND",
                                        value: JSON.stringify({ kind: "kubernetes", namespace }),
                                    },
                                    {
                                        name: "CI_AGENT_CHECK_INTERVAL_SECONDS",
                                        value: String(spec.checkIntervalSeconds),
                                    },
                                ],
                                resources: {
                                    requests: { cpu: "50m", memory: "96Mi" },
                                    limits: { cpu: "250m", memory: "256Mi" },
                                },
                                securityContext: {
                                    allowPrivilegeEscalation: false,
                                    readOnlyRootFilesystem: true,
                                    capabilities: { drop: ["ALL"] },
                                },
                            },
                        ],
                    },
                },
            },
        },
    ];
}
