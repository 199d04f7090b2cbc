/**
 * The Kubernetes backend: a thin adapter from the backend interface to the Kubernetes API
 * (@kubernetes/client-node), applying the manifests of ./manifests.ts with server-side apply
 * under one field manager.
 */
import type * as k8s from "@kubernetes/client-node";
import { createHash, randomBytes } from "crypto";
import { stableJson } from "../../changes";
import {
    AgentSpec,
    AgentState,
    EgressSpec,
    InboundSpec,
    AgentStore,
    Backend,
    BackendError,
    CAPABILITIES,
    Capacity,
    KeptForInspectionError,
    DiskState,
    InstanceRef,
    InstanceStatus,
    InstanceView,
    LiveChanges,
    Ownership,
    RuntimeSpec,
    RuntimeState,
    UserFilesClaim,
    UserFilesRelease,
} from "../backend";
import { Progress } from "../../progress";
import { waitUntilReady } from "../../readiness";
import { PublishedPorts, SERVICES, ServiceName } from "../../model/endpoints";
import { LABEL_PREFIX, ownerKey, parseStoredJson } from "../layout";
import {
    FIELD_MANAGER,
    KubeObject,
    USER_LABELS_ANNOTATION,
    agentManifests,
    userLabelsOf,
    egressPolicyManifest,
    egressPolicyName,
    instancePolicyManifest,
    podJupyterUrl,
    agentMemoryName,
    agentName,
    agentPoliciesName,
    containerResources,
    namespaceManifest,
    pvcManifest,
    runtimeManifests,
    runtimeName,
    workspacePolicyManifest,
    WORKSTATION_CONTAINER,
} from "./manifests";
import { parseCpu, parseMemoryGb } from "./quantity";
import { PodLike, resizeProgress } from "./resize";
import { labelsPatch } from "../../model/labels";
import type { QuotaUse } from "../../model/quota";
import { SetupProgress, setupProgressFromLog, setupSeconds } from "../../model/setup";

export interface KubernetesTarget {
    namespace: string;
    kubeconfig?: string;
    context?: string;
    storageClass?: string;
}

const PING_TIMEOUT_MS = 5000;
/** How long a kubelet may take to apply an in-place resize it accepted (it usually takes a second). */
const RESIZE_TIMEOUT_SECONDS = 120;

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

export function statusCode(e: unknown): number | undefined {
    if (typeof e === "object" && e !== null && "code" in e && typeof (e as { code: unknown }).code === "number")
        return (e as { code: number }).code;
    return undefined;
}

/** The API server's own words for a failed call. */
export function reason(e: unknown): string {
    if (typeof e === "object" && e !== null && "body" in e) {
        const body = (e as { body: unknown }).body;
        try {
            const parsed = typeof body === "string" ? JSON.parse(body) : body;
            if (parsed && typeof parsed === "object" && "message" in parsed)
                return String((parsed as { message: unknown }).message);
        } catch {
            /* not JSON */
        }
    }
    if (e instanceof Error) {
        const cause = (e as { cause?: { code?: string } }).cause;
        return cause?.code ? `${e.message} (${cause.code})` : e.message;
    }
    return String(e);
}

async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
    try {
        return await p;
    } catch (e) {
        if (statusCode(e) === 404) return undefined;
        throw e;
    }
}

/**
 * Azure's state of an instance from its StatefulSet and pod: scaled to zero is Stopped. A pod
 * that is not ready while its setup scripts run, or after one failed, is SettingUp or SetupFailed
 * (what the entry point said, when it was read), as on Docker.
 */
export function statusOf(sts: k8s.V1StatefulSet, pod: k8s.V1Pod | undefined, setup?: SetupProgress): InstanceStatus {
    if ((sts.spec?.replicas ?? 1) === 0) return "Stopped";
    if (pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) return "Running";
    if (pod && setup && setup.phase !== "Done") return setup.phase;
    return pod ? "Starting" : "Creating";
}

/** Annotations on a user-files claim naming the stacks that adopted it, one per stack. */
const USER_FILES_REFERENCE_PREFIX = `${LABEL_PREFIX}/used-by-`;
const userFilesReference = (owner: string) => `${USER_FILES_REFERENCE_PREFIX}${ownerKey(owner)}`;

export class KubernetesBackend implements Backend {
    readonly description: string;
    /** Pods are resized in place through the pods/resize subresource (Kubernetes 1.33 and later). */
    readonly liveResize = CAPABILITIES.kubernetes.liveResize;
    readonly liveTempDiskResize = CAPABILITIES.kubernetes.liveTempDiskResize;
    readonly buildsImages = CAPABILITIES.kubernetes.buildsImages;
    private readonly kc: k8s.KubeConfig;
    private readonly lib: typeof k8s;
    private readonly ns: string;

    constructor(readonly target: KubernetesTarget) {
        this.lib = require("@kubernetes/client-node") as typeof k8s;
        this.kc = new this.lib.KubeConfig();
        try {
            if (target.kubeconfig) this.kc.loadFromFile(target.kubeconfig);
            else this.kc.loadFromDefault();
            if (target.context) this.kc.setCurrentContext(target.context);
        } catch (e) {
            throw new BackendError(
                `cannot load the kubeconfig ${target.kubeconfig ?? "(KUBECONFIG or ~/.kube/config)"}: ${reason(e)}`,
                "backend.kubernetes.kubeconfig",
            );
        }
        if (target.context && !this.kc.getContextObject(target.context)) {
            throw new BackendError(
                `no context "${target.context}" in the kubeconfig; it has: ${this.kc
                    .getContexts()
                    .map((c) => c.name)
                    .join(", ")}`,
                "backend.kubernetes.context",
            );
        }
        this.ns = target.namespace;
        const server = this.kc.getCurrentCluster()?.server ?? "(no cluster in the kubeconfig)";
        this.description = `Kubernetes API server at ${server} (namespace ${this.ns})`;
    }

    private api<T extends k8s.ApiType>(type: new (config: k8s.Configuration) => T): T {
        return this.kc.makeApiClient(type as unknown as k8s.ApiConstructor<T>);
    }

    private get core() {
        return this.api(this.lib.CoreV1Api);
    }
    private get apps() {
        return this.api(this.lib.AppsV1Api);
    }
    private get networking() {
        return this.api(this.lib.NetworkingV1Api);
    }
    private get rbac() {
        return this.api(this.lib.RbacAuthorizationV1Api);
    }

    /** Server-side apply of a whole object under this project's field manager. */
    async apply(obj: KubeObject, dryRun = false): Promise<KubeObject> {
        const objects = this.lib.KubernetesObjectApi.makeApiClient(this.kc);
        const applied = await objects.patch(
            toClientShape(obj) as k8s.KubernetesObject,
            undefined,
            dryRun ? "All" : undefined,
            FIELD_MANAGER,
            true,
            this.lib.PatchStrategy.ServerSideApply,
        );
        return fromClientShape(applied as KubeObject);
    }

    /**
     * A change to some fields of an object. Not an apply: applying a partial object would take
     * away every field this manager set before and left out now.
     */
    private async patchFields(obj: KubeObject): Promise<void> {
        const objects = this.lib.KubernetesObjectApi.makeApiClient(this.kc);
        await objects.patch(
            obj as k8s.KubernetesObject,
            undefined,
            undefined,
            FIELD_MANAGER,
            undefined,
            this.lib.PatchStrategy.StrategicMergePatch,
        );
    }

    private async applyAll(objects: KubeObject[], what: string): Promise<void> {
        for (const o of objects) {
            try {
                await this.apply(o);
            } catch (e) {
                throw new BackendError(
                    `${what}: ${o.kind} ${o.metadata.name} was refused by the ${this.description}: ${reason(e)}`,
                );
            }
        }
    }

    async identity(): Promise<string | undefined> {
        try {
            const uid = (await this.core.readNamespace({ name: "kube-system" })).metadata?.uid;
            return uid ? `kubernetes-cluster:${uid}` : undefined;
        } catch (e) {
            // Deployers without the right to read namespaces: the address is all there is.
            if (statusCode(e) === 403) return undefined;
            throw e;
        }
    }

    async ping(): Promise<void> {
        const version = this.api(this.lib.VersionApi);
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
            throw new BackendError(
                `${this.description} does not answer (${reason(e)}); check the kubeconfig`,
                "backend",
            );
        }
        await this.checkAccess();
        await this.checkStorageClass();
    }

    /** At preview: the namespace exists or can be made, and every verb the provider uses is allowed. */
    private async checkAccess(): Promise<void> {
        const authz = this.api(this.lib.AuthorizationV1Api);
        const can = async (
            a: { group: string; resource: string; verb: string; subresource?: string },
            namespace?: string,
        ) =>
            (await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { ...a, namespace } } } }))
                .status?.allowed === true;
        const exists = await ignoreNotFound(this.core.readNamespace({ name: this.ns })).catch((e) => {
            if (statusCode(e) === 403) return "forbidden" as const;
            throw e;
        });
        if (!exists || exists === "forbidden") {
            if (!exists && !(await can({ group: "", resource: "namespaces", verb: "create" }))) {
                throw new BackendError(
                    `namespace "${this.ns}" does not exist and ${this.whoAmI()} may not create it; create it or pick an existing one`,
                    "backend.kubernetes.namespace",
                );
            }
        }
        const allowed = await Promise.all(REQUIRED_ACCESS.map((a) => can(a, this.ns)));
        const denied = REQUIRED_ACCESS.filter((_, i) => !allowed[i]).map(
            (a) =>
                `${a.verb} ${a.group ? `${a.resource}.${a.group}` : a.resource}${a.subresource ? `/${a.subresource}` : ""}`,
        );
        if (denied.length) {
            throw new BackendError(
                `forbidden by RBAC for ${this.whoAmI()} in namespace "${this.ns}": ${denied.join(", ")}`,
                "backend.kubernetes",
            );
        }
    }

    private whoAmI(): string {
        return `user "${this.kc.getCurrentUser()?.name ?? "unknown"}"`;
    }

    private async checkStorageClass(): Promise<void> {
        const storage = this.api(this.lib.StorageV1Api);
        if (this.target.storageClass) {
            const sc = await ignoreNotFound(storage.readStorageClass({ name: this.target.storageClass })).catch(
                () => "unreadable",
            );
            if (!sc) {
                const names = (
                    await storage.listStorageClass().catch(() => ({ items: [] as k8s.V1StorageClass[] }))
                ).items
                    .map((s) => s.metadata?.name)
                    .join(", ");
                throw new BackendError(
                    `storage class "${this.target.storageClass}" does not exist; the cluster has: ${names || "none"}`,
                    "backend.kubernetes.storageClass",
                );
            }
        }
    }

    async capacity(): Promise<Capacity> {
        let list: k8s.V1NodeList;
        try {
            list = await this.core.listNode();
        } catch (e) {
            // Users confined to a namespace may not list nodes: then the scheduler is the judge.
            if (statusCode(e) === 403) return { cpus: Infinity, memoryGb: Infinity, gpus: Infinity };
            throw e;
        }
        const nodes = list.items.filter(
            (n) =>
                !n.spec?.unschedulable && n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
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

    // -- images --------------------------------------------------------------------------------

    async ensureImage(): Promise<void> {
        // The nodes pull images themselves; a missing one shows as the pod's events.
    }

    async inspectImage(image: string): Promise<{ id: string; contextHash?: string } | undefined> {
        return { id: image };
    }

    async buildImage(image: string): Promise<{ id: string }> {
        throw new BackendError(
            `${this.description} cannot build images: push ${image} to a registry the nodes pull from (or load it into the nodes), or set the workspace's image`,
        );
    }

    // -- workspace -----------------------------------------------------------------------------

    userFilesName(workspace: string): string {
        return `ci-${workspace}-userfiles`;
    }

    workspaceNetworkName(workspace: string): string {
        return `ci-${workspace}-default-deny`;
    }

    newDiskName(ref: InstanceRef, kind: "os" | "temp"): string {
        return `ci-${ref.workspace}-${ref.instance}-${kind}-${randomBytes(3).toString("hex")}`;
    }

    private async ensureNamespace(): Promise<void> {
        if (await ignoreNotFound(this.core.readNamespace({ name: this.ns }))) return;
        await this.applyAll([namespaceManifest(this.ns)], "creating the namespace");
    }

    async createUserFiles(ref: Ownership, name: string, sizeGb: number): Promise<UserFilesClaim> {
        await this.ensureNamespace();
        const existing = await ignoreNotFound(
            this.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.ns }),
        );
        if (existing) {
            if (existing.metadata?.labels?.[`${LABEL_PREFIX}/workspace`] !== ref.workspace) {
                throw new BackendError(
                    `claim "${name}" exists in namespace ${this.ns} but is not the user files of workspace "${ref.workspace}"; remove or rename it`,
                );
            }
            const createdBy = existing.metadata?.annotations?.[`${LABEL_PREFIX}/owner`];
            await this.referenceUserFiles(ref, name);
            if (createdBy === ref.owner) return { adopted: false, createdBy };
            return { adopted: true, ...(createdBy ? { createdBy } : {}) };
        }
        await this.applyAll(
            [
                pvcManifest({
                    name,
                    namespace: this.ns,
                    ref,
                    component: "user-files",
                    sizeGb,
                    accessMode: "ReadWriteMany",
                    storageClass: this.target.storageClass,
                }),
            ],
            "creating the user files",
        );
        await this.referenceUserFiles(ref, name);
        return { adopted: false, createdBy: ref.owner };
    }

    /** The stacks whose workspace uses a claim are annotations on it: each adds and removes its own. */
    private async referenceUserFiles(ref: Ownership, name: string): Promise<void> {
        await this.patchFields({
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: { name, namespace: this.ns, annotations: { [userFilesReference(ref.owner)]: ref.owner } },
        });
    }

    async userFilesUsers(name: string): Promise<string[]> {
        const pvc = await ignoreNotFound(this.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.ns }));
        return Object.entries(pvc?.metadata?.annotations ?? {})
            .filter(([k, v]) => k.startsWith(USER_FILES_REFERENCE_PREFIX) && v)
            .map(([, v]) => v);
    }

    async userFilesExists(name: string): Promise<boolean> {
        return (
            (await ignoreNotFound(this.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.ns }))) !==
            undefined
        );
    }

    async releaseUserFiles(ref: Ownership, name: string, deleteIfUnused: boolean): Promise<UserFilesRelease> {
        const pvc = await ignoreNotFound(this.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.ns }));
        if (!pvc) return { deleted: false };
        const mine = userFilesReference(ref.owner);
        if (pvc.metadata?.annotations?.[mine] !== undefined) {
            await this.patchFields({
                apiVersion: "v1",
                kind: "PersistentVolumeClaim",
                metadata: { name, namespace: this.ns, annotations: { [mine]: null as unknown as string } },
            });
        }
        if (!deleteIfUnused) return { deleted: false };
        const stacks = Object.entries(pvc.metadata?.annotations ?? {})
            .filter(([k, v]) => k.startsWith(USER_FILES_REFERENCE_PREFIX) && k !== mine && v && v !== ref.owner)
            .map(([, v]) => `stack ${v}`);
        // A claim deleted while a pod mounts it only waits (pvc-protection), and goes when the pod does.
        const pods = (await this.core.listNamespacedPod({ namespace: this.ns })).items
            .filter((p) => p.spec?.volumes?.some((v) => v.persistentVolumeClaim?.claimName === name))
            .map((p) => `pod ${p.metadata?.name}`);
        const users = [...stacks, ...pods];
        if (users.length) return { deleted: false, keptFor: `used by ${users.join(", ")}` };
        await ignoreNotFound(this.core.deleteNamespacedPersistentVolumeClaim({ name, namespace: this.ns }));
        return { deleted: true };
    }

    async createWorkspaceNetwork(ref: Ownership, name: string): Promise<void> {
        await this.ensureNamespace();
        await this.applyAll([workspacePolicyManifest(name, this.ns, ref)], "creating the workspace network policy");
    }

    async workspaceNetworkExists(name: string): Promise<boolean> {
        return (
            (await ignoreNotFound(this.networking.readNamespacedNetworkPolicy({ name, namespace: this.ns }))) !==
            undefined
        );
    }

    async deleteWorkspaceNetwork(name: string): Promise<void> {
        const policy = await ignoreNotFound(this.networking.readNamespacedNetworkPolicy({ name, namespace: this.ns }));
        if (!policy) return;
        // Instances of other stacks of the same workspace keep it.
        const workspace = policy.metadata?.labels?.[`${LABEL_PREFIX}/workspace`];
        const others = await this.apps.listNamespacedStatefulSet({
            namespace: this.ns,
            labelSelector: `${LABEL_PREFIX}/workspace=${workspace}`,
        });
        if (others.items.length) return;
        await ignoreNotFound(this.networking.deleteNamespacedNetworkPolicy({ name, namespace: this.ns }));
    }

    // -- disks ---------------------------------------------------------------------------------

    async createDisk(
        ref: InstanceRef,
        kind: "os" | "temp",
        sizeGb: number,
        name: string,
        labels: Record<string, string> = {},
    ): Promise<DiskState> {
        // The temp disk is an emptyDir in the pod: nothing exists apart from the pod.
        if (kind === "os") {
            await this.ensureNamespace();
            await this.applyAll(
                [
                    pvcManifest({
                        name,
                        namespace: this.ns,
                        ref,
                        component: "os-disk",
                        sizeGb,
                        accessMode: "ReadWriteOnce",
                        storageClass: this.target.storageClass,
                        labels,
                    }),
                ],
                "creating the OS disk",
            );
        }
        return { name, sizeGb };
    }

    async readDisk(name: string): Promise<DiskState | undefined> {
        if (/-temp-[0-9a-f]+$/.test(name)) return { name, sizeGb: 0 };
        const pvc = await ignoreNotFound(this.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.ns }));
        if (!pvc) return undefined;
        return { name, sizeGb: parseMemoryGb(pvc.spec?.resources?.requests?.storage ?? "0") };
    }

    async resizeDisk(name: string, sizeGb: number): Promise<void> {
        if (/-temp-[0-9a-f]+$/.test(name)) return;
        const pvc = await ignoreNotFound(this.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.ns }));
        if (!pvc)
            throw new BackendError(`OS disk ${name} is gone from the ${this.description}; run \`pulumi refresh\``);
        try {
            await this.patchFields({
                apiVersion: "v1",
                kind: "PersistentVolumeClaim",
                metadata: { name, namespace: this.ns, annotations: { [`${LABEL_PREFIX}/size-gb`]: String(sizeGb) } },
                spec: { resources: { requests: { storage: `${sizeGb}Gi` } } },
            });
        } catch (e) {
            throw new BackendError(
                `could not grow OS disk ${name} to ${sizeGb} GiB: ${reason(e)} (the storage class must allow volume expansion)`,
            );
        }
    }

    async deleteDisk(name: string): Promise<void> {
        if (/-temp-[0-9a-f]+$/.test(name)) return;
        await this.removeOrphanRuntimes(name);
        await ignoreNotFound(this.core.deleteNamespacedPersistentVolumeClaim({ name, namespace: this.ns }));
        // The claim lingers while a pod still uses it (pvc-protection): wait, as Docker's volume removal does.
        await this.waitUntilGone(
            name,
            "claim",
            () => ignoreNotFound(this.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.ns })),
            60,
        );
    }

    /**
     * The runtimes of the claim's own stack that still mount it: a create that died midway left
     * them out of the state. The disk's runtime in the state is deleted before the disk; these
     * never would be, and their pod would hold the claim (pvc-protection) for good.
     */
    private async removeOrphanRuntimes(claim: string): Promise<void> {
        const pvc = await ignoreNotFound(
            this.core.readNamespacedPersistentVolumeClaim({ name: claim, namespace: this.ns }),
        );
        const owner = pvc?.metadata?.annotations?.[`${LABEL_PREFIX}/owner`];
        const workspace = pvc?.metadata?.labels?.[`${LABEL_PREFIX}/workspace`];
        if (!owner || !workspace) return;
        const list = await this.apps.listNamespacedStatefulSet({
            namespace: this.ns,
            labelSelector: `${LABEL_PREFIX}/workspace=${workspace},app.kubernetes.io/component=runtime`,
        });
        for (const s of list.items) {
            const mounts = s.spec?.template?.spec?.volumes?.some((v) => v.persistentVolumeClaim?.claimName === claim);
            if (mounts && s.metadata?.annotations?.[`${LABEL_PREFIX}/owner`] === owner && s.metadata.name)
                await this.deleteRuntime(s.metadata.name);
        }
    }

    // -- runtime -------------------------------------------------------------------------------

    async createRuntime(spec: RuntimeSpec, progress: Progress): Promise<RuntimeState> {
        const name = runtimeName(spec);
        await this.clearOrphan(name, spec);
        // A pod left by a StatefulSet deleted out of band is waiting for the garbage collector: a
        // new StatefulSet would adopt it, and the collector then take it away. It goes now.
        if (await this.podOf(name)) {
            await ignoreNotFound(this.core.deleteNamespacedPod({ name: `${name}-0`, namespace: this.ns }));
            await this.waitUntilGone(name, "pod", () => this.podOf(name), 120);
        }
        try {
            await this.waitForClaims([spec.osDisk, spec.userFiles], progress, spec.readyTimeoutSeconds);
            progress.status("applying StatefulSet, Service, Secret and NetworkPolicy");
            const setupWait = setupSeconds(spec.setupScripts);
            await this.applyAll(runtimeManifests(spec, this.ns), `creating ${name}`);
            const seconds = await waitUntilReady({
                what: `pod ${name}-0`,
                // The pod Ready, and the StatefulSet saying so (what `kubectl get` shows).
                probe: async () =>
                    (await this.podOf(name))?.status?.conditions?.some(
                        (c) => c.type === "Ready" && c.status === "True",
                    ) === true &&
                    ((await this.apps.readNamespacedStatefulSet({ name, namespace: this.ns })).status?.readyReplicas ??
                        0) >= 1,
                dead: async () => this.podTrouble(name),
                phase: async () => {
                    const pod = await this.podOf(name);
                    const p = pod ? await this.setupProgress(pod) : undefined;
                    return p?.phase === "SettingUp" ? p.message : undefined;
                },
                diagnostics: () => this.diagnostics(name),
                timeoutSeconds: spec.readyTimeoutSeconds + setupWait,
                progress,
                intervalMs: 500,
            });
            progress.info(`ready in ${seconds.toFixed(1)}s`);
            const state = await this.readRuntime(name);
            if (!state) throw new BackendError(`StatefulSet ${name} disappeared right after it was created`);
            return state;
        } catch (e) {
            if (e instanceof Error && e.message.includes("SetupFailed: ")) {
                throw new KeptForInspectionError(
                    `${e.message}\nThe pod ${name}-0 is left running for inspection (kubectl exec -it -n ${this.ns} ${name}-0 -- bash; the script's output is in ` +
                        `~/.compute-instance/setup/); it is in the stack's state: the next \`pulumi up\` replaces it and \`pulumi destroy\` removes it.`,
                    name,
                );
            }
            // Nothing half-created: the runtime's objects go; the disks belong to their own resources.
            await this.deleteRuntime(name).catch(() => undefined);
            throw e instanceof BackendError || (e instanceof Error && e.name === "NotReadyError")
                ? e
                : new BackendError(`could not create ${name}: ${reason(e)}`);
        }
    }

    /**
     * Claims of storage classes that bind at once are waited for before the pod exists: a pod
     * scheduled against a claim still pending waits out the scheduler's back-off after it binds.
     * Claims bound when a pod asks (WaitForFirstConsumer) are not waited for.
     */
    private async waitForClaims(names: string[], progress: Progress, timeoutSeconds: number): Promise<void> {
        const storage = this.api(this.lib.StorageV1Api);
        const deadline = Date.now() + timeoutSeconds * 1000;
        for (const name of names) {
            for (;;) {
                const pvc = await this.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.ns });
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

    private async clearOrphan(name: string, spec: RuntimeSpec): Promise<void> {
        const existing = await ignoreNotFound(this.apps.readNamespacedStatefulSet({ name, namespace: this.ns }));
        if (!existing) return;
        const owner = existing.metadata?.annotations?.[`${LABEL_PREFIX}/owner`];
        if (owner !== spec.owner) {
            throw new BackendError(
                `instance "${spec.instance}" already exists in workspace "${spec.workspace}" on the ${this.description} (StatefulSet ${name}, managed by ${owner ?? "something else"}); instance names must be unique in a workspace`,
            );
        }
        await this.deleteRuntime(name);
    }

    private async podOf(name: string): Promise<k8s.V1Pod | undefined> {
        return ignoreNotFound(this.core.readNamespacedPod({ name: `${name}-0`, namespace: this.ns }));
    }

    /** Reasons a pod will not get ready by waiting: unschedulable, image pull failures, crash loops. */
    private async podTrouble(name: string): Promise<string | undefined> {
        const pod = await this.podOf(name);
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
                /ErrImagePull|ImagePullBackOff|InvalidImageName|CrashLoopBackOff|CreateContainerConfigError/.test(
                    waiting,
                )
            ) {
                return `${waiting}: ${cs.state?.waiting?.message ?? ""}`.trim();
            }
        }
        const setup = await this.setupProgress(pod);
        return setup?.phase === "SetupFailed" ? `SetupFailed: ${setup.message}` : undefined;
    }

    /** The entry point's report on the setup scripts, from the running container's log. */
    private async setupProgress(pod: k8s.V1Pod): Promise<SetupProgress | undefined> {
        // By name: the kubelet lists statuses sorted by name, so "app-…" sidecars come first.
        const hasScripts = pod.spec?.containers
            ?.find((c) => c.name === WORKSTATION_CONTAINER)
            ?.env?.some((e) => e.name === "CI_SETUP_TIMEOUT");
        if (
            !hasScripts ||
            !pod.status?.containerStatuses?.find((c) => c.name === WORKSTATION_CONTAINER)?.state?.running
        )
            return undefined;
        try {
            const log = await this.core.readNamespacedPodLog({
                name: pod.metadata?.name ?? "",
                namespace: this.ns,
                container: WORKSTATION_CONTAINER,
                tailLines: 2000,
            });
            return setupProgressFromLog(String(log));
        } catch {
            // No log to read (a node that does not serve logs): the readiness wait decides.
            return undefined;
        }
    }

    /**
     * Why a pod did not get ready: the workstation's last output (a failed setup script's own
     * words are there, as on Docker), then the pod's events.
     */
    private async diagnostics(name: string): Promise<string> {
        const pod = await this.podOf(name).catch(() => undefined);
        return [await this.logTail(pod), await this.events(name, pod)].filter(Boolean).join("\n");
    }

    private async logTail(pod: k8s.V1Pod | undefined): Promise<string> {
        // Only a container that a runtime started has output (simulated pods have no container ID).
        if (!pod?.status?.containerStatuses?.find((c) => c.name === WORKSTATION_CONTAINER)?.containerID) return "";
        try {
            return String(
                await this.core.readNamespacedPodLog({
                    name: pod.metadata?.name ?? "",
                    namespace: this.ns,
                    container: WORKSTATION_CONTAINER,
                    tailLines: 30,
                }),
            ).trim();
        } catch {
            return "";
        }
    }

    private async events(name: string, pod?: k8s.V1Pod): Promise<string> {
        // This pod's only: an earlier pod of the same name (before a stop or a replacement) had its own.
        const uid = pod?.metadata?.uid ? `,involvedObject.uid=${pod.metadata.uid}` : "";
        const list = await this.core.listNamespacedEvent({
            namespace: this.ns,
            fieldSelector: `involvedObject.name=${name}-0${uid}`,
        });
        return list.items
            .slice(-10)
            .map((e) => `${e.type} ${e.reason}: ${e.message}`)
            .join("\n");
    }

    async readRuntime(id: string): Promise<RuntimeState | undefined> {
        const sts = await ignoreNotFound(this.apps.readNamespacedStatefulSet({ name: id, namespace: this.ns }));
        if (!sts) return undefined;
        const pod = await this.podOf(id);
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
        const setup = pod && statusOf(sts, pod) === "Starting" ? await this.setupProgress(pod) : undefined;
        return {
            id,
            uid: pod?.metadata?.uid ?? sts.metadata?.uid ?? "",
            status: statusOf(sts, pod, setup),
            image: container?.image ?? "",
            cpus: parseCpu(String(limits.cpu ?? "0")),
            memoryGb: parseMemoryGb(String(limits.memory ?? "0")),
            gpus: Number(limits["nvidia.com/gpu"] ?? 0),
            ports,
            host: `${id}.${this.ns}.svc.cluster.local`,
            labels: userLabelsOf(sts.metadata),
            liveToken: sts.metadata?.annotations?.[`${LABEL_PREFIX}/token-file`] !== undefined,
        };
    }

    async applyInboundRules(spec: InboundSpec): Promise<void> {
        await this.applyAll([instancePolicyManifest(spec, this.ns)], "applying the instance's NetworkPolicy");
    }

    async inboundRulesIntact(spec: InboundSpec): Promise<boolean> {
        const want = instancePolicyManifest(spec, this.ns);
        const live = await ignoreNotFound(
            this.networking.readNamespacedNetworkPolicy({ name: want.metadata.name, namespace: this.ns }),
        );
        if (!live) return false;
        const ingress = (fromClientShape({ ...want, spec: live.spec }).spec as { ingress?: unknown }).ingress;
        return stableJson(ingress) === stableJson((want.spec as { ingress: unknown }).ingress);
    }

    /** Back to the runtime's own policy (the workspace's pods only), if the instance is still there. */
    async removeInboundRules(spec: InboundSpec): Promise<void> {
        const { networkRules: _, ...rest } = spec;
        const want = instancePolicyManifest(rest, this.ns);
        if (
            await ignoreNotFound(
                this.networking.readNamespacedNetworkPolicy({ name: want.metadata.name, namespace: this.ns }),
            )
        ) {
            await this.applyAll([want], "applying the instance's NetworkPolicy");
        }
    }

    async updateRuntime(id: string, changes: LiveChanges): Promise<RuntimeState> {
        const before = await this.readRuntime(id);
        if (!before)
            throw new BackendError(
                `${id} is gone from the ${this.description}; run \`pulumi refresh\`, then \`pulumi up\` recreates it`,
            );
        if (changes.labels !== undefined) await this.relabel(id, before.labels, changes.labels);
        if (changes.token !== undefined) await this.rotateToken(id, before, changes.token);
        // Nothing to resize: the resize below would patch the pod for nothing.
        if (changes.cpus === undefined && changes.memoryGb === undefined) return this.verified(id, changes);
        const cpus = changes.cpus ?? before.cpus;
        const memoryGb = changes.memoryGb ?? before.memoryGb;
        const resources = containerResources(cpus, memoryGb, before.gpus);
        // The running pod first (in place, no restart), then the template, for the next start.
        if (await this.podOf(id)) await this.resizePod(id, before, { cpus, memoryGb });
        const sts = await this.apps.readNamespacedStatefulSet({ name: id, namespace: this.ns });
        const template = sts.spec?.template.spec?.containers?.[0];
        if (template) {
            await this.patchFields({
                apiVersion: "apps/v1",
                kind: "StatefulSet",
                metadata: { name: id, namespace: this.ns },
                spec: { template: { spec: { containers: [{ name: WORKSTATION_CONTAINER, resources }] } } },
            } as KubeObject).catch((e) => {
                throw new BackendError(`could not update ${id}'s template: ${reason(e)}`);
            });
        }
        return this.verified(id, changes);
    }

    /**
     * Resizes the running pod in place and waits until its kubelet has applied the new size: the
     * API server takes any resize that fits the node's allocatable, and only the kubelet knows
     * whether the node has room beside its other pods. A resize it defers or refuses is undone
     * (a deferred one would otherwise be applied later, behind the stack's back) and fails the
     * update with the kubelet's reason.
     */
    private async resizePod(id: string, before: RuntimeState, want: { cpus: number; memoryGb: number }): Promise<void> {
        const failure = await this.resizeApplied(id, await this.patchResize(id, want, before.gpus), want);
        if (!failure) return;
        let undone = "it was undone";
        try {
            const back = await this.resizeApplied(id, await this.patchResize(id, before, before.gpus), before);
            if (back) undone = `undoing it failed too: ${back}`;
        } catch (e) {
            undone = `undoing it failed too: ${e instanceof Error ? e.message : String(e)}`;
        }
        throw new BackendError(
            `${failure}; ${undone}: the pod keeps ${before.cpus} CPUs and ${before.memoryGb} GiB. A node with room takes it: ` +
                `free room on ${await this.nodeOf(id)}, or stop the instance (compute-instance stop), run \`pulumi up\` and start it again, for the scheduler to place it`,
        );
    }

    /** Asks for a new size through the pods/resize subresource: the pod's generation that asks. */
    private async patchResize(id: string, size: { cpus: number; memoryGb: number }, gpus: number): Promise<number> {
        try {
            const pod = await this.core.patchNamespacedPodResize(
                {
                    name: `${id}-0`,
                    namespace: this.ns,
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
                this.lib.setHeaderOptions("Content-Type", this.lib.PatchStrategy.StrategicMergePatch),
            );
            return pod.metadata?.generation ?? 0;
        } catch (e) {
            throw new BackendError(
                `could not resize pod ${id}-0 in place on the ${this.description}: ${reason(e)} (in-place resize needs Kubernetes 1.33 or later)`,
            );
        }
    }

    /** Waits until the kubelet has applied the resize asked at `generation`: undefined then, or why it did not. */
    private async resizeApplied(
        id: string,
        generation: number,
        want: { cpus: number; memoryGb: number },
    ): Promise<string | undefined> {
        const deadline = Date.now() + RESIZE_TIMEOUT_SECONDS * 1000;
        for (;;) {
            const pod = await this.podOf(id);
            if (!pod) return `pod ${id}-0 went away while it was resized`;
            const p = resizeProgress(pod as PodLike, WORKSTATION_CONTAINER, generation, want);
            if (p.state === "applied" || p.state === "untracked") return undefined;
            if (p.state === "refused") {
                const did =
                    p.reason === "Deferred"
                        ? "deferred"
                        : p.reason === "Infeasible"
                          ? "refused as infeasible"
                          : "failed";
                return `the kubelet ${did} the resize of pod ${id}-0 to ${want.cpus} CPUs and ${want.memoryGb} GiB (${p.reason}: ${p.message})`;
            }
            if (Date.now() > deadline)
                return `the kubelet did not apply the resize of pod ${id}-0 within ${RESIZE_TIMEOUT_SECONDS}s (${p.why})`;
            await new Promise((r) => setTimeout(r, 250));
        }
    }

    private async nodeOf(id: string): Promise<string> {
        const node = (await this.podOf(id).catch(() => undefined))?.spec?.nodeName;
        return node ? `node ${node}` : "its node";
    }

    /** The runtime read back after live changes: a change that did not take is an error. */
    private async verified(id: string, changes: LiveChanges): Promise<RuntimeState> {
        const after = await this.readRuntime(id);
        if (!after) throw new BackendError(`${id} is gone from the ${this.description}`);
        const wrong: string[] = [];
        if (changes.cpus !== undefined && Math.abs(after.cpus - changes.cpus) > 1e-9)
            wrong.push(`cpus is ${after.cpus}, expected ${changes.cpus}`);
        if (changes.memoryGb !== undefined && Math.abs(after.memoryGb - changes.memoryGb) > 1 / 1024)
            wrong.push(`memoryGb is ${after.memoryGb}, expected ${changes.memoryGb}`);
        if (changes.labels !== undefined && stableJson(after.labels) !== stableJson(changes.labels))
            wrong.push(`labels are ${JSON.stringify(after.labels)}, expected ${JSON.stringify(changes.labels)}`);
        if (wrong.length) throw new BackendError(`the cluster did not apply the update to ${id}: ${wrong.join("; ")}`);
        return after;
    }

    /**
     * The user's labels, live: on the StatefulSet, its template (OnDelete: no restart; the next pod
     * has them) and the running pod. A patch sets the new ones and removes those taken away.
     */
    private async relabel(id: string, before: Record<string, string>, after: Record<string, string>): Promise<void> {
        const labels = labelsPatch(before, after);
        const keys = Object.keys(after).length ? JSON.stringify(Object.keys(after).sort()) : null;
        try {
            await this.patchFields({
                apiVersion: "apps/v1",
                kind: "StatefulSet",
                metadata: { name: id, namespace: this.ns, labels, annotations: { [USER_LABELS_ANNOTATION]: keys } },
                spec: { template: { metadata: { labels } } },
            } as unknown as KubeObject);
            if (await this.podOf(id)) {
                await this.patchFields({
                    apiVersion: "v1",
                    kind: "Pod",
                    metadata: { name: `${id}-0`, namespace: this.ns, labels },
                } as unknown as KubeObject);
            }
        } catch (e) {
            throw new BackendError(`could not label ${id} on the ${this.description}: ${reason(e)}`);
        }
    }

    /**
     * A new token, live: the Secret changes, the kubelet refreshes the mounted file (within about a
     * minute) and the image re-reads it. Verified by reading the Secret back.
     */
    private async rotateToken(id: string, before: RuntimeState, token: string): Promise<void> {
        if (!before.liveToken) {
            throw new BackendError(
                `${id}'s image reads its token only at start (see images/README.md); it must be replaced to change its token`,
            );
        }
        const name = `${id}-token`;
        try {
            await this.core.patchNamespacedSecret(
                { name, namespace: this.ns, body: { data: { token: Buffer.from(token).toString("base64") } } },
                this.lib.setHeaderOptions("Content-Type", this.lib.PatchStrategy.MergePatch),
            );
        } catch (e) {
            throw new BackendError(`could not update ${name} on the ${this.description}: ${reason(e)}`);
        }
        const secret = await this.core.readNamespacedSecret({ name, namespace: this.ns });
        if (Buffer.from(secret.data?.token ?? "", "base64").toString("utf8") !== token)
            throw new BackendError(`${name} did not take the new token`);
    }

    runtimeIdFor(ref: { workspace: string; instance: string }): string {
        return runtimeName({ ...ref, owner: "" });
    }

    private async scale(id: string, replicas: number): Promise<void> {
        if (!(await ignoreNotFound(this.apps.readNamespacedStatefulSet({ name: id, namespace: this.ns })))) {
            throw new BackendError(`no instance ${id} on the ${this.description}`);
        }
        await this.patchFields({
            apiVersion: "apps/v1",
            kind: "StatefulSet",
            metadata: { name: id, namespace: this.ns },
            spec: { replicas },
        });
    }

    async stopRuntime(id: string): Promise<RuntimeState> {
        await this.scale(id, 0);
        await this.waitUntilGone(id, "pod", () => this.podOf(id), 120);
        const after = await this.readRuntime(id);
        if (!after || after.status !== "Stopped")
            throw new BackendError(`${id} did not stop (it is ${after?.status ?? "gone"})`);
        return after;
    }

    async startRuntime(id: string, progress: Progress, timeoutSeconds: number): Promise<RuntimeState> {
        await this.scale(id, 1);
        const seconds = await waitUntilReady({
            what: `pod ${id}-0`,
            probe: async () =>
                (await this.podOf(id))?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ===
                true,
            dead: () => this.podTrouble(id),
            diagnostics: () => this.diagnostics(id),
            timeoutSeconds,
            progress,
            intervalMs: 500,
        });
        progress.info(`ready in ${seconds.toFixed(1)}s`);
        const state = await this.readRuntime(id);
        if (!state) throw new BackendError(`${id} disappeared while starting`);
        return state;
    }

    async deleteRuntime(id: string): Promise<void> {
        const ns = this.ns;
        await ignoreNotFound(this.apps.deleteNamespacedStatefulSet({ name: id, namespace: ns }));
        // The pod directly too, rather than waiting for the garbage collector to get to it.
        await ignoreNotFound(this.core.deleteNamespacedPod({ name: `${id}-0`, namespace: ns }));
        await ignoreNotFound(this.core.deleteNamespacedService({ name: id, namespace: ns }));
        await ignoreNotFound(this.networking.deleteNamespacedNetworkPolicy({ name: id, namespace: ns }));
        await ignoreNotFound(this.core.deleteNamespacedSecret({ name: `${id}-token`, namespace: ns }));
        await ignoreNotFound(this.rbac.deleteNamespacedRoleBinding({ name: `${id}-user`, namespace: ns }));
        await ignoreNotFound(this.rbac.deleteNamespacedRole({ name: `${id}-user`, namespace: ns }));
        // The pod holds the OS disk: wait until it is gone, so the disk can be deleted or reused.
        await this.waitUntilGone(id, "pod", () => this.podOf(id), 120);
    }

    // -- workspace agent -------------------------------------------------------------------------

    async ensureAgent(spec: AgentSpec, progress: Progress): Promise<AgentState> {
        await this.ensureNamespace();
        progress.status("applying the workspace agent (ServiceAccount, Role, RoleBinding, ConfigMaps, Deployment)");
        await this.applyAll(agentManifests(spec, this.ns), "creating the workspace agent");
        const state = await this.readAgent(spec.workspace);
        if (!state)
            throw new BackendError(
                `the workspace agent's Deployment ${agentName(spec.workspace)} disappeared right after it was applied`,
            );
        return state;
    }

    async readAgent(workspace: string): Promise<AgentState | undefined> {
        const name = agentName(workspace);
        const d = await ignoreNotFound(this.apps.readNamespacedDeployment({ name, namespace: this.ns }));
        if (!d) return undefined;
        return {
            id: name,
            image: d.spec?.template.spec?.containers?.[0]?.image ?? "",
            checkIntervalSeconds: Number(d.metadata?.annotations?.[`${LABEL_PREFIX}/check-interval-seconds`] ?? 0),
            running: (d.spec?.replicas ?? 0) > 0,
        };
    }

    async deleteAgent(workspace: string): Promise<void> {
        const name = agentName(workspace);
        const namespace = this.ns;
        const rbac = this.api(this.lib.RbacAuthorizationV1Api);
        await ignoreNotFound(this.apps.deleteNamespacedDeployment({ name, namespace }));
        await ignoreNotFound(rbac.deleteNamespacedRoleBinding({ name, namespace }));
        await ignoreNotFound(rbac.deleteNamespacedRole({ name, namespace }));
        await ignoreNotFound(this.core.deleteNamespacedServiceAccount({ name, namespace }));
        await ignoreNotFound(this.core.deleteNamespacedConfigMap({ name: agentPoliciesName(workspace), namespace }));
        await ignoreNotFound(this.core.deleteNamespacedConfigMap({ name: agentMemoryName(workspace), namespace }));
    }

    agentStore(workspace: string): AgentStore {
        const core = () => this.core;
        const namespace = this.ns;
        const where = this.description;
        const lib = this.lib;
        const read = async (name: string): Promise<Record<string, string>> => {
            try {
                return (await core().readNamespacedConfigMap({ name, namespace })).data ?? {};
            } catch (e) {
                // Deleted out of band: nothing to read; refresh drops the policies, `up` writes them again.
                if (statusCode(e) === 404) return {};
                throw new BackendError(`could not read ConfigMap ${name} on the ${where}: ${reason(e)}`);
            }
        };
        // A JSON merge patch of one key: resources writing their own keys at once never race,
        // and, unlike an apply, it leaves the keys of every other resource alone.
        const patch = async (name: string, data: Record<string, string | null>) => {
            try {
                await core().patchNamespacedConfigMap(
                    { name, namespace, body: { data }, fieldManager: FIELD_MANAGER },
                    lib.setHeaderOptions("Content-Type", lib.PatchStrategy.MergePatch),
                );
            } catch (e) {
                throw new BackendError(`could not write ConfigMap ${name} on the ${where}: ${reason(e)}`);
            }
        };
        const policies = agentPoliciesName(workspace);
        const memory = agentMemoryName(workspace);
        return {
            writePolicy: (key, value) => patch(policies, { [key]: value === undefined ? null : JSON.stringify(value) }),
            readPolicy: async (key) => parseStoredJson((await read(policies))[key]),
            readPolicies: async () =>
                Object.fromEntries(Object.entries(await read(policies)).map(([k, v]) => [k, parseStoredJson(v)])),
            readMemory: async () => parseStoredJson((await read(memory)).memory),
            writeMemory: (m) => patch(memory, { memory: JSON.stringify(m) }),
        };
    }

    // -- egress --------------------------------------------------------------------------------

    async applyEgress(spec: EgressSpec, progress: Progress): Promise<string> {
        progress.status("applying the egress NetworkPolicy");
        const manifest = egressPolicyManifest(spec, this.ns, spec.egress);
        await this.applyAll([manifest], "applying the egress NetworkPolicy");
        return egressSignatureOf(manifest.spec);
    }

    /** The signature of the policy as the API server has it: an edit by hand shows as drift. */
    async readEgress(spec: EgressSpec): Promise<string> {
        const live = await ignoreNotFound(
            this.networking.readNamespacedNetworkPolicy({ name: egressPolicyName(spec.workspace), namespace: this.ns }),
        );
        return live ? egressSignatureOf(live.spec) : "none";
    }

    async removeEgress(spec: EgressSpec): Promise<void> {
        await ignoreNotFound(
            this.networking.deleteNamespacedNetworkPolicy({
                name: egressPolicyName(spec.workspace),
                namespace: this.ns,
            }),
        );
    }

    async workspaceUsage(workspace: string): Promise<QuotaUse[]> {
        const list = await this.apps.listNamespacedStatefulSet({
            namespace: this.ns,
            labelSelector: `${LABEL_PREFIX}/workspace=${workspace},app.kubernetes.io/component=runtime`,
        });
        return list.items.map((sts) => {
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

    async listInstances(workspace: string): Promise<InstanceView[]> {
        const selector = `${LABEL_PREFIX}/workspace=${workspace},app.kubernetes.io/component=runtime`;
        // Two lists for the whole workspace, then a token for each running instance only: the
        // agent asks at every check.
        const [list, pods] = await Promise.all([
            this.apps.listNamespacedStatefulSet({ namespace: this.ns, labelSelector: selector }),
            this.core.listNamespacedPod({
                namespace: this.ns,
                labelSelector: `app.kubernetes.io/name=compute-instance,app.kubernetes.io/part-of=${workspace}`,
            }),
        ]);
        const podByName = new Map(pods.items.map((p) => [p.metadata?.name ?? "", p]));
        const views: InstanceView[] = [];
        for (const sts of list.items) {
            const id = sts.metadata?.name ?? "";
            const pod = podByName.get(`${id}-0`);
            const status = statusOf(sts, pod);
            const secret =
                status === "Running"
                    ? await ignoreNotFound(this.core.readNamespacedSecret({ name: `${id}-token`, namespace: this.ns }))
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

    private async waitUntilGone(
        name: string,
        what: string,
        read: () => Promise<unknown>,
        seconds: number,
    ): Promise<void> {
        const deadline = Date.now() + seconds * 1000;
        while (await read()) {
            if (Date.now() > deadline)
                throw new BackendError(
                    `the ${what} of ${name} is still there after ${seconds}s on the ${this.description}`,
                );
            await new Promise((r) => setTimeout(r, 250));
        }
    }
}

/** A fingerprint of a NetworkPolicy's egress rules (what it selects and lets out). */
function egressSignatureOf(spec: unknown): string {
    const s = (spec ?? {}) as { podSelector?: unknown; egress?: unknown };
    return createHash("sha256")
        .update(stableJson({ podSelector: s.podSelector, egress: s.egress }))
        .digest("hex")
        .slice(0, 16);
}

/**
 * The client serialises objects through its typed models, which drop what they do not know and
 * name a NetworkPolicy rule's `from` field `_from` (a reserved word in its generator): a manifest
 * written with `from` would reach the API server without it, admitting everyone. These two
 * translate at the boundary, so manifests stay in the API's own shape.
 */
export function toClientShape(obj: KubeObject): KubeObject {
    return renameRuleKey(obj, "from", "_from");
}

export function fromClientShape(obj: KubeObject): KubeObject {
    return renameRuleKey(obj, "_from", "from");
}

function renameRuleKey(obj: KubeObject, from: string, to: string): KubeObject {
    if (obj.kind !== "NetworkPolicy") return obj;
    const spec = (obj.spec ?? {}) as { ingress?: Record<string, unknown>[] };
    if (!spec.ingress) return obj;
    const ingress = spec.ingress.map(({ [from]: peers, ...rule }) => ({
        ...rule,
        ...(peers !== undefined ? { [to]: peers } : {}),
    }));
    return { ...obj, spec: { ...spec, ingress } };
}
