/**
 * Spec → Kubernetes objects. Pure: every manifest is unit-tested (and snapshot-tested) without a
 * cluster; the adapter in ./index.ts only applies them.
 */
import type { AgentSpec, InstanceRef, Ownership, RuntimeSpec } from "../backend";
import { type EgressPolicy, LINK_LOCAL, spansLinkLocal } from "../../model/access";
import { SCRIPT_KINDS, SETUP_DIR } from "../../model/setup";
import { customApplicationsEnv } from "../../model/schema";
import { SERVICES, ServiceName, servicesFor } from "../../model/endpoints";
import {
    Component,
    HOME_DIR,
    INSTANCE_UID,
    assignedUserLabels,
    LABEL_PREFIX,
    MANAGED_BY,
    TEMP_DISK_DIR,
    TOKEN_DIR,
    TOKEN_FILE,
    USER_FILES_DIR,
} from "../layout";

export const FIELD_MANAGER = MANAGED_BY;
/** The instance's own container in its pod (applications with an image run beside it). */
export const WORKSTATION_CONTAINER = "workstation";

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

/** `app.kubernetes.io/*` labels; the owner (`project/stack`) is not a valid label value, so it is an annotation. */
export function k8sLabels(ref: Ownership & { instance?: string }, component: Component): Record<string, string> {
    return {
        "app.kubernetes.io/name": "compute-instance",
        ...(ref.instance ? { "app.kubernetes.io/instance": ref.instance } : {}),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": ref.workspace,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        [`${LABEL_PREFIX}/workspace`]: ref.workspace,
    };
}

function meta(
    name: string,
    namespace: string,
    ref: Ownership & { instance?: string },
    component: Component,
    annotations: Record<string, string> = {},
) {
    return {
        name,
        namespace,
        labels: k8sLabels(ref, component),
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

export function runtimeName(ref: InstanceRef): string {
    return `ci-${ref.workspace}-${ref.instance}`;
}

export function tokenSecretName(ref: InstanceRef): string {
    return `${runtimeName(ref)}-token`;
}

/** CPU as a quantity: whole cores as "4", fractions in millicores. */
export function cpuQuantity(cpus: number): string {
    return Number.isInteger(cpus) ? String(cpus) : `${Math.round(cpus * 1000)}m`;
}

/** Memory in the API server's canonical form (whole GiB as "Gi"), so what is read back compares equal. */
export function memoryQuantity(memoryGb: number): string {
    const mi = Math.round(memoryGb * 1024);
    return mi % 1024 === 0 ? `${mi / 1024}Gi` : `${mi}Mi`;
}

export function namespaceManifest(namespace: string): KubeObject {
    return {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: namespace, labels: { "app.kubernetes.io/managed-by": MANAGED_BY } },
    };
}

export function pvcManifest(p: {
    name: string;
    namespace: string;
    ref: Ownership & { instance?: string };
    component: Component;
    sizeGb: number;
    accessMode: "ReadWriteOnce" | "ReadWriteMany";
    storageClass?: string;
    labels?: Record<string, string>;
}): KubeObject {
    const m = meta(p.name, p.namespace, p.ref, p.component, { [`${LABEL_PREFIX}/size-gb`]: String(p.sizeGb) });
    return {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { ...m, labels: { ...m.labels, ...p.labels } },
        spec: {
            accessModes: [p.accessMode],
            resources: { requests: { storage: `${p.sizeGb}Gi` } },
            ...(p.storageClass ? { storageClassName: p.storageClass } : {}),
        },
    };
}

/** The workspace agent's pods (and its Deployment's selector, which can never change). */
export function agentPodLabels(workspace: string): Record<string, string> {
    return { "app.kubernetes.io/name": "compute-instance-agent", "app.kubernetes.io/part-of": workspace };
}

/**
 * The workspace's network object: a default-deny policy for every pod of the workspace. Each
 * instance's own policy then admits its ports (policies add up).
 */
export function workspacePolicyManifest(name: string, namespace: string, ref: Ownership): KubeObject {
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(name, namespace, ref, "network"),
        spec: {
            podSelector: {
                matchLabels: {
                    "app.kubernetes.io/name": "compute-instance",
                    "app.kubernetes.io/part-of": ref.workspace,
                },
            },
            // No ingress rules: nothing admitted (the API server stores it without an empty list).
            policyTypes: ["Ingress"],
        },
    };
}

/** Where the workstation's sshd reads the one key it accepts (root-owned, read-only). */
export const SSH_KEYS_DIR = "/etc/compute-instance/ssh";

export function egressPolicyName(workspace: string): string {
    return `ci-${workspace}-egress`;
}

/** An allowed range as an ipBlock: one wider than link-local leaves link-local out. */
function allowedBlock(cidr: string): { ipBlock: { cidr: string; except?: string[] } } {
    return { ipBlock: spansLinkLocal(cidr) ? { cidr, except: [LINK_LOCAL.v4] } : { cidr } };
}

/**
 * The workspace's egress: its instances may reach the workspace's own pods, DNS, and the allowed
 * ranges; with "allow", every pod and every address. Link-local addresses (cloud metadata) are
 * never reached unless a listed range lies inside them. The agent is not selected (it must reach
 * the API server).
 */
export function egressPolicyManifest(ref: Ownership, namespace: string, egress: EgressPolicy): KubeObject {
    const allowed = egress === "deny" || egress === "allow" ? [] : egress.allow;
    const rules =
        egress === "allow"
            ? [
                  // Every pod, as without a policy: CNIs differ on whether an ipBlock covers pod addresses.
                  { to: [{ namespaceSelector: {} }] },
                  {
                      to: [
                          { ipBlock: { cidr: "0.0.0.0/0", except: [LINK_LOCAL.v4] } },
                          { ipBlock: { cidr: "::/0", except: [LINK_LOCAL.v6] } },
                      ],
                  },
              ]
            : [
                  {
                      to: [
                          {
                              podSelector: {
                                  matchLabels: {
                                      "app.kubernetes.io/name": "compute-instance",
                                      "app.kubernetes.io/part-of": ref.workspace,
                                  },
                              },
                          },
                      ],
                  },
                  {
                      to: [{ namespaceSelector: {} }],
                      ports: [
                          { protocol: "UDP", port: 53 },
                          { protocol: "TCP", port: 53 },
                      ],
                  },
                  ...(allowed.length ? [{ to: allowed.map(allowedBlock) }] : []),
              ];
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(egressPolicyName(ref.workspace), namespace, ref, "network"),
        spec: {
            podSelector: {
                matchLabels: {
                    "app.kubernetes.io/name": "compute-instance",
                    "app.kubernetes.io/part-of": ref.workspace,
                    "app.kubernetes.io/component": "runtime",
                },
            },
            policyTypes: ["Egress"],
            egress: rules,
        },
    };
}

export function tokenSecretManifest(spec: RuntimeSpec, namespace: string): KubeObject {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: meta(tokenSecretName(spec), namespace, spec, "runtime"),
        type: "Opaque",
        stringData: {
            token: spec.token,
            ...(spec.ssh ? { "ssh-authorized-key": `${spec.ssh.publicKey}\n` } : {}),
            ...Object.fromEntries(
                SCRIPT_KINDS.flatMap((k) =>
                    spec.setupScripts?.[k] ? [[`setup-${k}`, spec.setupScripts[k].content]] : [],
                ),
            ),
        },
    };
}

/** The Service port SSH answers on: the user's choice, else 22 (a Service port needs no privileges). */
export function sshServicePort(spec: RuntimeSpec): number {
    return spec.ssh?.port ?? 22;
}

function servicesOf(spec: Pick<RuntimeSpec, "applications" | "ssh">) {
    return servicesFor(spec.applications, spec.ssh !== null);
}

/**
 * Who may connect to an instance's pod: the workspace's own pods (the agent reads Jupyter's
 * activity) on every port, and the inbound rules' ranges on theirs. Users otherwise come in
 * through `kubectl port-forward`, which NetworkPolicies do not govern (and RBAC does).
 */
export function instancePolicyManifest(
    spec: Pick<RuntimeSpec, "workspace" | "owner" | "instance" | "applications" | "ssh" | "networkRules">,
    namespace: string,
): KubeObject {
    const services = servicesOf(spec);
    const port = (s: ServiceName) => ({ protocol: "TCP", port: SERVICES[s].containerPort });
    const fromRules = (spec.networkRules?.inbound ?? [])
        .filter((r) => services.includes(r.service))
        .map((r) => ({
            from: r.from.map((cidr) => ({ ipBlock: { cidr } })),
            ports: [port(r.service)],
        }));
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(runtimeName(spec), namespace, spec, "network"),
        spec: {
            podSelector: { matchLabels: podSelector(spec) },
            policyTypes: ["Ingress"],
            ingress: [
                {
                    // The workspace's pods, and its agent, which reads every instance's activity
                    // for idle shutdown (its pods are named apart: compute-instance-agent).
                    from: [
                        {
                            podSelector: {
                                matchLabels: {
                                    "app.kubernetes.io/name": "compute-instance",
                                    "app.kubernetes.io/part-of": spec.workspace,
                                },
                            },
                        },
                        { podSelector: { matchLabels: agentPodLabels(spec.workspace) } },
                    ],
                    ports: services.map(port),
                },
                ...fromRules,
            ],
        },
    };
}

/**
 * Where the workspace agent reads an instance's Jupyter: the pod's own address, from the pod it
 * has just listed. Not the Service's name: that needs the cluster's DNS inside the agent's pod
 * (a cluster may have none, or one that is restarting, and a pod's resolver may be the node's),
 * and the agent wants this very pod, which is what the instance's NetworkPolicy admits it to.
 * Undefined until the pod has an address.
 */
export function podJupyterUrl(podIP: string | undefined): string | undefined {
    if (!podIP) return undefined;
    return `http://${podIP.includes(":") ? `[${podIP}]` : podIP}:${SERVICES.jupyter.containerPort}`;
}

export function serviceManifest(spec: RuntimeSpec, namespace: string): KubeObject {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: meta(runtimeName(spec), namespace, spec, "runtime"),
        spec: {
            type: "ClusterIP",
            selector: podSelector(spec),
            ports: servicesOf(spec).map((s) => ({
                name: s,
                protocol: "TCP",
                port: s === "ssh" ? sshServicePort(spec) : SERVICES[s].containerPort,
                targetPort: s,
            })),
        },
    };
}

export function containerResources(cpus: number, memoryGb: number, gpus: number) {
    const r: Record<string, string> = { cpu: cpuQuantity(cpus), memory: memoryQuantity(memoryGb) };
    if (gpus > 0) r["nvidia.com/gpu"] = String(gpus);
    // Requests equal limits: an instance's size is dedicated to it, as a VM's is (Guaranteed QoS).
    return { requests: { ...r }, limits: { ...r } };
}

/**
 * One pod per instance, as a StatefulSet (replicas 0 when stopped). OnDelete updates: a changed
 * template waits for the next start, so CPU and memory are resized in the running pod instead
 * (the pods/resize subresource) without a restart.
 */
export function statefulSetManifest(spec: RuntimeSpec, namespace: string, replicas = 1): KubeObject {
    const name = runtimeName(spec);
    const user = spec.labels ?? {};
    // The user's labels first: ours win (the schema refuses our prefixes anyway).
    const labels = {
        ...user,
        ...k8sLabels(spec, "runtime"),
        [`${LABEL_PREFIX}/size`]: spec.sizeName,
        ...assignedUserLabels(spec),
    };
    const services = servicesOf(spec);
    const tokenFile = readsTokenFile(spec.image);
    // The pod runs as the instance user: the scripts are the user's to read and run.
    const setupItems = SCRIPT_KINDS.flatMap((k) =>
        spec.setupScripts?.[k] ? [{ key: `setup-${k}`, path: `${k}.sh` }] : [],
    );
    return {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: withUserLabels(
            meta(name, namespace, spec, "runtime", {
                [`${LABEL_PREFIX}/os-disk`]: spec.osDisk,
                [`${LABEL_PREFIX}/size`]: spec.sizeName,
                ...(spec.ssh ? { [`${LABEL_PREFIX}/ssh-port`]: String(sshServicePort(spec)) } : {}),
                ...(tokenFile ? { [`${LABEL_PREFIX}/token-file`]: TOKEN_FILE } : {}),
            }),
            user,
        ),
        spec: {
            replicas,
            serviceName: name,
            selector: { matchLabels: podSelector(spec) },
            updateStrategy: { type: "OnDelete" },
            template: {
                metadata: { labels, annotations: { [`${LABEL_PREFIX}/owner`]: spec.owner } },
                spec: {
                    hostname: spec.instance,
                    // GPU nodes are commonly tainted so that only pods asking for GPUs land there.
                    ...(spec.gpus > 0
                        ? { tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }] }
                        : {}),
                    automountServiceAccountToken: false,
                    enableServiceLinks: false,
                    terminationGracePeriodSeconds: 10,
                    securityContext: {
                        runAsUser: INSTANCE_UID,
                        runAsGroup: INSTANCE_UID,
                        runAsNonRoot: true,
                        // The kubelet gives the volumes to the instance user's group.
                        fsGroup: INSTANCE_UID,
                        fsGroupChangePolicy: "OnRootMismatch",
                        seccompProfile: { type: "RuntimeDefault" },
                    },
                    containers: [
                        {
                            name: WORKSTATION_CONTAINER,
                            image: spec.image,
                            env: [
                                ...Object.entries(spec.env)
                                    .sort(([a], [b]) => (a < b ? -1 : 1))
                                    .map(([k, v]) => ({ name: k, value: v })),
                                { name: "CI_APPLICATIONS", value: spec.applications.join(",") },
                                ...(spec.setupScripts
                                    ? [{ name: "CI_SETUP_TIMEOUT", value: String(spec.setupScripts.timeoutSeconds) }]
                                    : []),
                                ...(spec.customApplications?.length
                                    ? [
                                          {
                                              name: "CI_CUSTOM_APPLICATIONS",
                                              value: JSON.stringify(customApplicationsEnv(spec.customApplications)),
                                          },
                                      ]
                                    : []),
                                tokenFile
                                    ? { name: "CI_TOKEN_FILE", value: TOKEN_FILE }
                                    : {
                                          name: "JUPYTER_TOKEN",
                                          valueFrom: { secretKeyRef: { name: tokenSecretName(spec), key: "token" } },
                                      },
                            ],
                            ports: services.map((s) => ({
                                name: s,
                                containerPort: SERVICES[s].containerPort,
                                protocol: "TCP",
                            })),
                            resources: containerResources(spec.cpus, spec.memoryGb, spec.gpus),
                            resizePolicy: [
                                { resourceName: "cpu", restartPolicy: "NotRequired" },
                                { resourceName: "memory", restartPolicy: "NotRequired" },
                            ],
                            securityContext: {
                                allowPrivilegeEscalation: false,
                                runAsNonRoot: true,
                                capabilities: { drop: ["ALL"] },
                            },
                            // /login answers without the token: the server is up and serving.
                            readinessProbe: {
                                httpGet: { path: "/login", port: "jupyter" },
                                periodSeconds: 2,
                                failureThreshold: 3,
                            },
                            volumeMounts: [
                                { name: "os-disk", mountPath: HOME_DIR },
                                { name: "temp-disk", mountPath: TEMP_DISK_DIR },
                                { name: "user-files", mountPath: USER_FILES_DIR },
                                { name: "shm", mountPath: "/dev/shm" },
                                // The one file, into the image's root-owned directory: a Secret volume's own
                                // directory is world-writable (drwxrwxrwt), and sshd (StrictModes) refuses a
                                // key file under it. A new key restarts the pod, so no live update is missed.
                                ...(spec.ssh
                                    ? [
                                          {
                                              name: "ssh-keys",
                                              mountPath: `${SSH_KEYS_DIR}/authorized_keys`,
                                              subPath: "authorized_keys",
                                              readOnly: true,
                                          },
                                      ]
                                    : []),
                                // A whole-directory mount (no subPath): the kubelet swaps in a new token when the Secret changes.
                                ...(tokenFile ? [{ name: "token", mountPath: TOKEN_DIR, readOnly: true }] : []),
                                ...(setupItems.length ? [{ name: "setup", mountPath: SETUP_DIR, readOnly: true }] : []),
                            ],
                        },
                        ...applicationContainers(spec),
                    ],
                    volumes: [
                        { name: "os-disk", persistentVolumeClaim: { claimName: spec.osDisk } },
                        { name: "temp-disk", emptyDir: { sizeLimit: `${spec.tempDiskGb}Gi` } },
                        { name: "user-files", persistentVolumeClaim: { claimName: spec.userFiles } },
                        {
                            name: "shm",
                            emptyDir: { medium: "Memory", sizeLimit: memoryQuantity(Math.min(2, spec.memoryGb / 4)) },
                        },
                        ...(spec.ssh
                            ? [
                                  {
                                      name: "ssh-keys",
                                      secret: {
                                          secretName: tokenSecretName(spec),
                                          items: [{ key: "ssh-authorized-key", path: "authorized_keys" }],
                                          defaultMode: 0o444,
                                      },
                                  },
                              ]
                            : []),
                        ...(tokenFile
                            ? [
                                  {
                                      name: "token",
                                      secret: {
                                          secretName: tokenSecretName(spec),
                                          items: [{ key: "token", path: "token" }],
                                          defaultMode: 0o444,
                                      },
                                  },
                              ]
                            : []),
                        ...(setupItems.length
                            ? [
                                  {
                                      name: "setup",
                                      secret: {
                                          secretName: tokenSecretName(spec),
                                          items: setupItems,
                                          defaultMode: 0o444,
                                      },
                                  },
                              ]
                            : []),
                    ],
                },
            },
        },
    };
}

/**
 * A cluster's images cannot be inspected before a pod runs: an image named like the default
 * workstation image or its VS Code variant (in any registry) is taken to keep contract 3 and read
 * its token from a file.
 */
export function readsTokenFile(image: string): boolean {
    return /(^|\/)compute-instance-workstation(-vscode)?(:|@|$)/.test(image);
}

/** The annotation that says which labels are the user's (so labels added by others are not). */
export const USER_LABELS_ANNOTATION = `${LABEL_PREFIX}/user-labels`;

function withUserLabels<M extends { labels: Record<string, string>; annotations: Record<string, string> }>(
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

/**
 * Custom applications with an image run as containers of the pod (they share its network: Jupyter
 * reaches them on localhost), unprivileged like the instance, with the user files. Their requests
 * are small and their limits the instance's: the size is the instance's, the applications share it.
 */
function applicationContainers(spec: RuntimeSpec): object[] {
    return (spec.customApplications ?? [])
        .filter((a) => a.image)
        .map((a) => ({
            name: `app-${a.name}`,
            image: a.image,
            ...(a.command ? { command: ["bash", "-c", a.command] } : {}),
            env: [
                { name: "PORT", value: String(a.port) },
                { name: "NOTEBOOK_DIR", value: USER_FILES_DIR },
            ],
            resources: {
                requests: { cpu: cpuQuantity(Math.min(0.1, spec.cpus)), memory: "128Mi" },
                limits: { cpu: cpuQuantity(spec.cpus), memory: memoryQuantity(spec.memoryGb) },
            },
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
            volumeMounts: [{ name: "user-files", mountPath: USER_FILES_DIR }],
        }));
}

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

/** Every object of an instance's runtime, in the order they are applied. */
export function runtimeManifests(spec: RuntimeSpec, namespace: string): KubeObject[] {
    return [
        tokenSecretManifest(spec, namespace),
        instancePolicyManifest(spec, namespace),
        serviceManifest(spec, namespace),
        ...assignedUserManifests(spec, namespace),
        statefulSetManifest(spec, namespace),
    ];
}

// ---------------------------------------------------------------------------------------------
// The workspace agent

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
