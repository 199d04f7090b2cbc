/** What an instance's assigned user is granted: their own pod, by name. */
import type { InstanceRef, RuntimeSpec } from "../../backend";
import { KubeObject, meta, runtimeName } from "./metadata";

/** The Role and RoleBinding of an instance's assigned user. */
export function assignedUserRoleName(ref: InstanceRef): string {
    return `${runtimeName(ref)}-user`;
}

/**
 * The assigned user may reach their own pod (port-forward to the UIs and SSH, exec a shell, read
 * its log) and nothing else: every rule names the one pod.
 */
export function assignedUserManifests(spec: RuntimeSpec, namespace: string): KubeObject[] {
    const u = spec.assignedUser;
    if (!u) return [];
    const name = assignedUserRoleName(spec);
    const pod = `${runtimeName(spec)}-0`;
    const subjects = [
        { kind: "User", apiGroup: "rbac.authorization.k8s.io", name: u.kubernetesUser ?? u.name },
        ...(u.kubernetesGroups ?? []).map((g) => ({ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: g })),
    ];
    return [
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "Role",
            metadata: meta(name, namespace, spec, "runtime"),
            rules: [
                { apiGroups: [""], resources: ["pods", "pods/log"], resourceNames: [pod], verbs: ["get"] },
                {
                    apiGroups: [""],
                    resources: ["pods/portforward", "pods/exec"],
                    resourceNames: [pod],
                    verbs: ["get", "create"],
                },
            ],
        },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            metadata: meta(name, namespace, spec, "runtime"),
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
            subjects,
        },
    ];
}
