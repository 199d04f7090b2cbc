/** An instance's runtime: its StatefulSet of one pod, the Secret, the Service, in the order they are applied. */
import type { RuntimeSpec } from "../../backend";
import { SCRIPT_STAGES, SETUP_DIR } from "../../../model/setup";
import { customApplicationsEnv } from "../../../model/applications";
import { SERVICES } from "../../../model/endpoints";
import {
    HOME_DIR,
    INSTANCE_UID,
    assignedUserLabels,
    LABEL_PREFIX,
    TEMP_DISK_DIR,
    TOKEN_DIR,
    TOKEN_FILE,
    USER_FILES_DIR,
    objectLabels,
} from "../../layout";
import { KubeObject, meta, podSelector, runtimeName, tokenSecretName, withUserLabels } from "./metadata";
import { instancePolicyManifest, servicesOf } from "./network";
import { assignedUserManifests } from "./assignedUser";

/** The instance's own container in its pod (applications with an image run beside it). */
export const WORKSTATION_CONTAINER = "workstation";

/** Where the workstation's sshd reads the one key it accepts (root-owned, read-only). */
export const SSH_KEYS_DIR = "/etc/compute-instance/ssh";

/** CPU as a quantity: whole cores as "4", fractions in millicores. */
export function cpuQuantity(cpus: number): string {
    return Number.isInteger(cpus) ? String(cpus) : `${Math.round(cpus * 1000)}m`;
}

/** Memory in the API server's canonical form (whole GiB as "Gi"), so what is read back compares equal. */
export function memoryQuantity(memoryGb: number): string {
    const mi = Math.round(memoryGb * 1024);
    return mi % 1024 === 0 ? `${mi / 1024}Gi` : `${mi}Mi`;
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
                SCRIPT_STAGES.flatMap((k) =>
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
        ...objectLabels(spec, "runtime"),
        [`${LABEL_PREFIX}/size`]: spec.sizeName,
        ...assignedUserLabels(spec),
    };
    const services = servicesOf(spec);
    const tokenFile = readsTokenFile(spec.image);
    // The pod runs as the instance user: the scripts are the user's to read and run.
    const setupItems = SCRIPT_STAGES.flatMap((k) =>
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
