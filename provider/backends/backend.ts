/**
 * The one interface every backend implements (Docker engine, Kubernetes), composed of small role
 * interfaces. The providers speak only this; the contract tests in
 * test/e2e/backend-contract.test.ts run the same suite against each backend. The algorithms both
 * backends follow (a runtime's create, start, stop, live changes) are written once in ./lifecycle.ts.
 */
import type { Application, CustomApplication } from "../model/applications";
import type { InstanceNetwork } from "../model/instanceNetwork";
import type { PublishedPorts } from "../model/endpoints";
import type { AssignedUser, EgressPolicy, SshSpec } from "../model/access";
import type { Progress } from "../progress";
import type { Labels } from "../model/labels";
import type { JobRunner } from "./jobRunner";
import type { InferenceRunner } from "./inference";
import type { QuotaUse } from "../model/quota";
import type { SetupScripts } from "../model/setup";

/** Azure ML's compute instance states, the ones this project reports. */
export type InstanceStatus =
    | "Creating"
    | "Starting"
    | "SettingUp"
    | "SetupFailed"
    | "Running"
    | "Restarting"
    | "Stopping"
    | "Stopped"
    | "Deleting"
    | "Failed"
    | "Unusable"
    | "Unknown";

/** Who the objects belong to; recorded on every object as labels. */
export interface Ownership {
    /** Workspace name: one workspace per name on a backend, shared by the stacks that use it. */
    workspace: string;
    /** `project/stack` of the Pulumi stack that manages the object. */
    owner: string;
}

export interface InstanceRef extends Ownership {
    instance: string;
}

export interface UserFilesClaim {
    /** The store existed, made by another stack. */
    adopted: boolean;
    /** `project/stack` that made it, when known. */
    createdBy?: string;
}

export interface UserFilesRelease {
    deleted: boolean;
    /** Why a store asked to go was kept: the stacks or containers that use it. */
    keptFor?: string;
}

export interface DiskState {
    /** Backend name of the disk (Docker volume, Kubernetes PVC); unique per backend. */
    name: string;
    sizeGb: number;
}

export interface RuntimeSpec extends InstanceRef {
    image: string;
    /** Catalog name or "custom", recorded for people reading `docker ps` / `kubectl get`. */
    sizeName: string;
    cpus: number;
    memoryGb: number;
    gpus: number;
    applications: Application[];
    env: Record<string, string>;
    token: string;
    /** Backend names of the disks and the workspace's user files. */
    osDisk: string;
    tempDisk: string;
    tempDiskGb: number;
    userFiles: string;
    network: string;
    readyTimeoutSeconds: number;
    /** The SSH policy; null when SSH is off. */
    ssh: SshSpec | null;
    /** Who the instance is for: recorded on its objects; on Kubernetes, granted their pod. */
    assignedUser?: AssignedUser;
    /** Inbound rules; absent: every service published on loopback (Docker) / open to the workspace (Kubernetes). */
    networkRules?: InstanceNetwork;
    /** Docker: an image with iptables for the inbound rules (the workspace agent's). */
    firewallImage?: string;
    /** Host ports to keep, when a replacement should answer at the same URLs. */
    preferredPorts?: PublishedPorts;
    /** The user's labels (Azure: tags); they change live. */
    labels?: Labels;
    /** Setup scripts, run by the image's entry point before the applications start. */
    setupScripts?: SetupScripts;
    /** Custom applications (Azure: customServices), served through Jupyter at /<name>/. */
    customApplications?: CustomApplication[];
}

export interface RuntimeState {
    /** Backend id of the runtime (Docker container name, Kubernetes StatefulSet name). */
    id: string;
    /** The engine's own id of the running unit (container id, pod uid), changes on re-creation. */
    uid: string;
    status: InstanceStatus;
    image: string;
    cpus: number;
    memoryGb: number;
    gpus: number;
    ports: PublishedPorts;
    /** Address the published ports answer on. */
    host: string;
    /** The user's labels as the backend has them. */
    labels: Labels;
    /** Whether the instance's image reads its token from a file, so a new token applies without a restart. */
    liveToken: boolean;
}

/** The settings a backend can change without restarting the instance. */
export interface LiveChanges {
    cpus?: number;
    memoryGb?: number;
    /** The user's labels, all of them (those left out are removed). */
    labels?: Labels;
    /** A new access token (a rotation, or a change of sharing policy); the old one stops working. */
    token?: string;
}

/** What one instance can get at most on this backend. */
export interface Capacity {
    cpus: number;
    memoryGb: number;
    /** GPUs an instance can request; Infinity when the backend cannot count them. */
    gpus: number;
    /** Why there are none, and what to do about it, when `gpus` is 0. */
    noGpus?: string;
}

/** What a kind of backend can do. */
export interface Capabilities {
    /** Whether CPU and memory apply without a restart. */
    readonly liveResize: boolean;
    /** Whether the temp disk's size applies without a restart. */
    readonly liveTempDiskResize: boolean;
    /** Whether the backend can build the default image itself (a Docker engine can; a cluster cannot). */
    readonly buildsImages: boolean;
}

/**
 * Known without reaching a backend: a diff classifies changes from them, also for states whose
 * address is gone (a kubeconfig that lived on another machine).
 */
export const CAPABILITIES: Readonly<Record<"docker" | "kubernetes", Capabilities>> = {
    // Local volumes have no size to change: the temp disk's size is a label.
    docker: { liveResize: true, liveTempDiskResize: true, buildsImages: true },
    // Pods are resized in place (pods/resize, Kubernetes 1.33+); the temp disk is an emptyDir
    // whose size limit is fixed for the pod's life.
    kubernetes: { liveResize: true, liveTempDiskResize: false, buildsImages: false },
};

/** How the backend is reached, and what it says of itself. */
export interface Connection {
    /** Human description for messages, e.g. `Docker engine at unix:///var/run/docker.sock`. */
    readonly description: string;

    /** Fails with a message naming the backend and the cause when it does not answer. */
    ping(): Promise<void>;
    /**
     * What the engine or cluster says it is, whatever address it was reached at: the engine's
     * ID, the cluster's `kube-system` namespace UID. Undefined when it will not say (no right to
     * read it). Another address of the same one is connection configuration, not another place.
     */
    identity(): Promise<string | undefined>;
    /** The largest instance the backend can run, for capacity checks at preview. */
    capacity(): Promise<Capacity>;
}

/** Images held by the backend itself: a Docker engine's (a cluster's nodes pull their own). */
export interface ImageBuilder {
    /** Makes sure the image is there, pulling it if it is not. */
    ensureImage(image: string, progress: Progress): Promise<void>;
    /** The image's id and the context hash it was built from, if it is there. */
    inspectImage(image: string): Promise<{ id: string; contextHash?: string } | undefined>;
    /** Builds an image from a directory, recording the context's hash on it. */
    buildImage(
        image: string,
        contextDir: string,
        contextHash: string,
        progress: Progress,
        buildArgs?: Record<string, string>,
    ): Promise<{ id: string }>;
    /** Removes the tags of these repositories other than `keep` (images in use by a container stay); returns what went. */
    removeImagesExcept(repositories: string[], keep: string[]): Promise<string[]>;
}

/** What a workspace shares: the user-files store and the workspace network. */
export interface WorkspaceObjects {
    // Names are chosen before anything exists (in the providers' checks, at preview), so that a
    // preview shows dependents exactly what they will get.
    userFilesName(workspace: string): string;
    workspaceNetworkName(workspace: string): string;

    /**
     * Creates the workspace's shared user-files store, or adopts the one that exists. A store
     * made by another stack is adopted: this stack is recorded on it as a user, and it is never
     * this stack's to delete. One made by this same stack (retained, declared again) is its own.
     */
    createUserFiles(ref: Ownership, name: string, sizeGb: number): Promise<UserFilesClaim>;
    userFilesExists(name: string): Promise<boolean>;
    /** The stacks (`project/stack`) recorded as users of the store: every stack whose workspace uses it. */
    userFilesUsers(name: string): Promise<string[]>;
    /**
     * This stack no longer uses the store: its record as a user goes. With `deleteIfUnused`, the
     * store goes too, unless another stack is recorded as a user or a container/pod mounts it.
     */
    releaseUserFiles(ref: Ownership, name: string, deleteIfUnused: boolean): Promise<UserFilesRelease>;

    createWorkspaceNetwork(ref: Ownership, name: string): Promise<void>;
    workspaceNetworkExists(name: string): Promise<boolean>;
    /** Removes the network unless instances of other stacks still use it. */
    deleteWorkspaceNetwork(name: string): Promise<void>;
}

/** Which of an instance's disks: its OS disk (home) or its temp disk (/mnt). */
export type DiskRole = "os" | "temp";

/** An instance's disks. */
export interface Disks {
    /** A new, unique name for a disk of the instance (chosen before it exists, as the workspace's names are). */
    newDiskName(ref: InstanceRef, role: DiskRole): string;
    /** `labels`: extra labels recorded on the disk when it is made (the assigned user of an OS disk). */
    createDisk(
        ref: InstanceRef,
        role: DiskRole,
        sizeGb: number,
        name: string,
        labels?: Record<string, string>,
    ): Promise<DiskState>;
    readDisk(name: string): Promise<DiskState | undefined>;
    /** Grows a disk in place (or records the size, where the backend does not enforce it). */
    resizeDisk(name: string, sizeGb: number): Promise<void>;
    deleteDisk(name: string): Promise<void>;
}

/** An instance's runtime (container, StatefulSet) and its power. */
export interface Runtimes {
    /** Creates and starts the runtime and waits until its applications answer. On failure, removes what it made. */
    createRuntime(spec: RuntimeSpec, progress: Progress): Promise<RuntimeState>;
    /** What the backend really has; undefined when the runtime is gone. */
    readRuntime(id: string): Promise<RuntimeState | undefined>;
    /** Applies live changes and verifies them by reading back. */
    updateRuntime(id: string, changes: LiveChanges): Promise<RuntimeState>;
    deleteRuntime(id: string): Promise<void>;
    /**
     * Power: stop keeps the OS disk and the user files (and, like a VM's deallocation, loses the
     * temp disk at the next start); start waits until the applications answer again. Neither
     * changes configuration, so neither ever shows as a diff.
     */
    stopRuntime(id: string): Promise<RuntimeState>;
    startRuntime(id: string, progress: Progress, timeoutSeconds: number): Promise<RuntimeState>;
}

/** An instance's inbound rules and the workspace's egress rules. */
export interface NetworkRules {
    /** Makes an instance's inbound ranges so, live (the published ports stay as they are). */
    applyInboundRules(spec: InboundSpec): Promise<void>;
    /** Whether the inbound rules in force are the spec's (false after a host reboot or an edit by hand). */
    inboundRulesIntact(spec: InboundSpec): Promise<boolean>;
    /** Takes the ranges away (the runtime's own defaults remain). */
    removeInboundRules(spec: InboundSpec): Promise<void>;

    /**
     * Makes the workspace's egress rules exactly so ("allow": none). Returns a signature of what
     * is enforced, which {@link readEgress} gives back while the rules are intact.
     */
    applyEgress(spec: EgressSpec, progress: Progress): Promise<string>;
    /** The signature of the rules in force; "none" when there are none, "partial" when tampered with. */
    readEgress(spec: EgressSpec): Promise<string>;
    removeEgress(spec: EgressSpec): Promise<void>;
}

/** The workspace agent and its store. */
export interface AgentHost {
    /** Creates or updates the workspace agent (and, on Docker, builds its image when missing). */
    ensureAgent(spec: AgentSpec, progress: Progress): Promise<AgentState>;
    readAgent(workspace: string): Promise<AgentState | undefined>;
    /** Removes the agent and its store. */
    deleteAgent(workspace: string): Promise<void>;
    agentStore(workspace: string): AgentStore;
    /**
     * Docker: custom applications run in their instance's network namespace, which an instance
     * restarted by the engine gets anew; those started before their instance are restarted into
     * it. Returns the containers restarted.
     */
    repairApplications?(workspace: string): Promise<string[]>;
}

/** A workspace's instances, of every stack, as commands and the agent see them. */
export interface Inventory {
    /** The workspace's instances, of every stack, with what the agent needs to read their activity. */
    listInstances(workspace: string): Promise<InstanceView[]>;
    /** What each of the workspace's instances, of every stack, counts against its quota (stopped ones too). */
    workspaceUsage(workspace: string): Promise<QuotaUse[]>;
    /** The runtime id of an instance of a workspace (for commands that name instances). */
    runtimeIdFor(ref: { workspace: string; instance: string }): string;
}

/**
 * The one interface the providers, the agent and the CLI speak: the roles together. The image role
 * is there only where the backend holds images itself (a Docker engine); a cluster pulls them.
 */
export interface Backend
    extends Capabilities, Connection, WorkspaceObjects, Disks, Runtimes, NetworkRules, AgentHost, Inventory {
    /** The backend's images, when it holds them itself (a Docker engine). */
    readonly images?: ImageBuilder;
    /** Jobs, where the backend runs them. */
    readonly jobs?: JobRunner;
    /** Local inference endpoints, where the backend runs them. */
    readonly inference?: InferenceRunner;
}

/** An instance's inbound rules, as their own resource applies them. */
export interface InboundSpec extends InstanceRef {
    /** Backend name of the workspace network. */
    network: string;
    applications: Application[];
    ssh: SshSpec | null;
    networkRules: InstanceNetwork;
    /** The runtime's host ports (Docker). */
    ports: PublishedPorts;
    /** Docker: an image with iptables (the workspace agent's). */
    firewallImage?: string;
}

/** The egress rules of a workspace's network. */
export interface EgressSpec extends Ownership {
    /** Backend name of the workspace network. */
    network: string;
    egress: EgressPolicy;
    /** Docker: the image the rules are applied from (the agent's, which has iptables). */
    image: string;
    /**
     * Docker: API ports of the engine to close to instances besides those it reports itself (the
     * port of a `tcp://` address). Kept with the policy, so whoever applies it again closes them too.
     */
    enginePorts?: number[];
}

/** The workspace agent: one per workspace, enforcing schedules and idle shutdown. */
export interface AgentSpec extends Ownership {
    image: string;
    checkIntervalSeconds: number;
    /** Backend name of the workspace network (Docker: the agent joins it to reach the instances). */
    network: string;
}

export interface AgentState {
    /** Backend id (Docker container name, Kubernetes Deployment name). */
    id: string;
    image: string;
    checkIntervalSeconds: number;
    running: boolean;
}

/** An instance as the agent sees it. */
export interface InstanceView {
    instance: string;
    /** `project/stack` that manages it. */
    owner: string;
    /** Runtime id, as runtimeIdFor gives it. */
    id: string;
    status: InstanceStatus;
    /** When the running unit last started (ISO), when it runs. */
    startedAt?: string;
    /** Base URL of the instance's Jupyter server as this process reaches it (the agent: inside the workspace). */
    jupyterUrl?: string;
    token?: string;
}

/**
 * What the agent keeps per workspace: the policies (schedules, idle shutdown) that resources
 * write, one key each so that resources never race, and the agent's own memory. Lives apart
 * from every instance's runtime, so replacing a runtime loses nothing.
 */
export interface AgentStore {
    /** Writes one policy; `undefined` removes it. */
    writePolicy(key: string, value: unknown): Promise<void>;
    readPolicy(key: string): Promise<unknown>;
    readPolicies(): Promise<Record<string, unknown>>;
    readMemory(): Promise<unknown>;
    writeMemory(memory: unknown): Promise<void>;
}

export { BackendError, KeptForInspectionError, NoFirewallError, NotReadyError, SetupFailedError } from "./errors";
