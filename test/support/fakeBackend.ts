/**
 * An in-memory {@link Backend} for unit tests: it keeps the state a real engine or cluster would
 * (volumes, networks, runtimes and their power, the agent and its store, network rules) and
 * enforces the rules the real backends enforce, so that what passes against it passes because the
 * caller did the right thing, not because the fake let it through. It passes the backend contract
 * (./backendContract.ts) as the real backends do.
 *
 * Where the two real backends disagree, the fake refuses whatever either of them refuses (a
 * runtime needs its claims, as on Kubernetes, and its network, as on Docker): a caller that
 * passes here works on both. It never refuses what both accept; rules that callers keep (only the
 * stack that made the user files deletes them) are left to the callers, as the real backends
 * leave them, and tests check them through the fake's state ({@link FakeBackend.snapshot}).
 *
 * Tests break it on purpose: {@link FakeBackend.faults} makes the next call of a method fail (or
 * a create fail its setup script, kept for inspection), and {@link FakeBackend.outOfBand} does
 * what a user with docker/kubectl, or a host reboot, does behind the backend's back.
 *
 * It stays with the tests rather than shipping as a backend: nothing runs in it, so no user has a
 * use for it, and as a backend kind it would need a place in the backend schema, the CLI and the
 * documentation of every resource.
 */
import { createHash, randomBytes } from "crypto";
import * as backends from "../../provider/backends/registry";
import {
    AgentSpec,
    AgentState,
    AgentStore,
    Backend,
    BackendError,
    CAPABILITIES,
    Capacity,
    DiskRole,
    DiskState,
    EgressSpec,
    ImageBuilder,
    InboundSpec,
    InstanceRef,
    InstanceView,
    KeptForInspectionError,
    LiveChanges,
    NoFirewallError,
    Ownership,
    RuntimeSpec,
    RuntimeState,
    SetupFailedError,
    UserFilesClaim,
    UserFilesRelease,
} from "../../provider/backends/backend";
import { stableJson } from "../../provider/changes";
import { ReadOutcome, agentRecords, parseStoredJson } from "../../provider/model/agentProtocol";
import type { Labels } from "../../provider/model/labels";
import {
    PUBLISH_ADDRESS,
    PublishedPorts,
    SERVICES,
    publishedServices,
    servicesFor,
} from "../../provider/model/endpoints";
import type { QuotaUse } from "../../provider/model/quota";
import type { BackendSpec } from "../../provider/model/backendSchema";
import type { InstanceNetwork } from "../../provider/model/instanceNetwork";
import type { Progress } from "../../provider/progress";
import type { BackendUnderTest } from "./backends";

/** The real backend a fake stands in for: its capabilities, its names and its wording. */
export type FakeFlavour = "docker" | "kubernetes";

export interface FakeBackendOptions {
    /** Default `docker`. */
    like?: FakeFlavour;
    /** Names the fake in messages and in its identity; default a random one. */
    name?: string;
    /** Default 8 CPUs, 32 GiB, no GPUs. */
    capacity?: Capacity;
    /** What identity() answers; `null`: it will not say (no right to read it). Default `fake:<like>:<name>`. */
    identity?: string | null;
    /** Whether a pull finds an image the engine does not have (Docker); default every image. */
    pullable?: (image: string) => boolean;
    /** Images that read their token only at start (image contract < 3): a new token needs a new runtime. */
    startOnlyTokenImages?: readonly string[];
}

/** The methods a fault can be injected into: every one that reaches the engine or cluster, the agent's store's too. */
export type FakeMethod =
    | {
          [K in keyof Backend]-?: NonNullable<Backend[K]> extends (...a: never[]) => Promise<unknown> ? K : never;
      }[keyof Backend]
    | keyof ImageBuilder
    | `agentStore.${keyof AgentStore}`;

/** An object of the fake, as a test reads it. */
export interface FakeVolume {
    name: string;
    kind: "user-files" | "os" | "temp";
    workspace: string;
    /** The stack that made it. */
    owner: string;
    instance?: string;
    sizeGb: number;
    /** Labels recorded when it was made (the assigned user of an OS disk). */
    labels: Record<string, string>;
    /** User files: the stacks recorded as users, in the order they were recorded. */
    users?: string[];
}

export interface FakeRuntime {
    spec: RuntimeSpec;
    /** As read back, but for the user's labels on Docker, which the agent's store keeps. */
    state: RuntimeState;
    /** The token the instance answers to now. */
    token: string;
    startedAt?: string;
    /** A setup script that failed: it fails again at every start, until the runtime is replaced. */
    setupFailed?: string;
}

export interface FakeAgent {
    spec: AgentSpec;
    running: boolean;
}

export interface FakeSnapshot {
    volumes: FakeVolume[];
    networks: { name: string; workspace: string; owner: string }[];
    runtimes: FakeRuntime[];
    agents: FakeAgent[];
    /** Per workspace: the store's records as stored text, and the agent's memory. */
    stores: Record<string, { policies: Record<string, string>; memory?: string }>;
    /** Inbound rules in force, by `<workspace>/<instance>`: what they were applied from. */
    inbound: Record<string, string>;
    /** Egress rules in force, by network: their signature ("partial" once tampered with). */
    egress: Record<string, string>;
    images: { name: string; id: string; contextHash?: string }[];
}

const DEFAULT_CAPACITY: Capacity = { cpus: 8, memoryGb: 32, gpus: 0, noGpus: "has no GPUs (a fake backend)" };

const copy = <T>(v: T): T => structuredClone(v);

/** Store keys as both real stores allow them (file names, ConfigMap keys). */
const STORE_KEY = /^[A-Za-z0-9_.-]+$/;

/**
 * Injected failures. A failure injected into a method is thrown by its next call, before it
 * changes anything (the real backends roll back what a failed call made).
 */
export class FakeFaults {
    private readonly queued = new Map<FakeMethod, Error[]>();
    private setupFailure: string | undefined;
    /** Every call fails as an engine that does not answer does. */
    unreachable = false;
    /** The engine manages no firewall (rootless Docker): network rules fail with NoFirewallError. */
    noFirewall = false;

    /** The next call of `method` fails with `error` (default: a BackendError naming the method). */
    failNext(method: FakeMethod, error?: Error): this {
        const list = this.queued.get(method) ?? [];
        list.push(error ?? new BackendError(`${method} failed (a fault injected into the fake backend)`));
        this.queued.set(method, list);
        return this;
    }

    /**
     * The next createRuntime fails: with `error`, leaving nothing behind; or, given a setup
     * script's failure, with the runtime kept for inspection in SetupFailed, as the real ones do.
     */
    failNextCreate(how: Error | { setupFailed: string }): this {
        if (how instanceof Error) return this.failNext("createRuntime", how);
        this.setupFailure = how.setupFailed;
        return this;
    }

    /** The error the next call of `method` fails with, taken from the queue. */
    take(method: FakeMethod): Error | undefined {
        const list = this.queued.get(method);
        const e = list?.shift();
        if (list && !list.length) this.queued.delete(method);
        return e;
    }

    /** The setup failure the next create ends in, taken. */
    takeSetupFailure(): string | undefined {
        const s = this.setupFailure;
        this.setupFailure = undefined;
        return s;
    }

    /** The failures still waiting for their call (a test that injected one expects it used). */
    get pending(): string[] {
        return [...this.queued.keys(), ...(this.setupFailure !== undefined ? ["createRuntime (setup)"] : [])];
    }
}

export class FakeBackend implements Backend {
    readonly like: FakeFlavour;
    readonly name: string;
    readonly description: string;
    readonly liveResize: boolean;
    readonly liveTempDiskResize: boolean;
    readonly buildsImages: boolean;
    /** Docker's only: the fake runs no custom application containers, so there is never one to repair. */
    readonly repairApplications?: (workspace: string) => Promise<string[]>;
    readonly faults = new FakeFaults();

    private readonly options: FakeBackendOptions;
    private readonly imageTable = new Map<string, { id: string; contextHash?: string }>();
    private readonly volumes = new Map<string, FakeVolume>();
    private readonly networks = new Map<string, { name: string; workspace: string; owner: string }>();
    private readonly runtimes = new Map<string, FakeRuntime>();
    private readonly agents = new Map<string, FakeAgent>();
    private readonly stores = new Map<string, { policies: Map<string, string>; memory?: string }>();
    private readonly inbound = new Map<string, string>();
    private readonly egress = new Map<string, string>();
    /** The host ports an instance had, by `<workspace>/<instance>/<service>`: a new runtime gets them again when free. */
    private readonly stablePorts = new Map<string, number>();
    private nextPort = 20000;

    constructor(options: FakeBackendOptions = {}) {
        this.options = options;
        this.like = options.like ?? "docker";
        this.name = options.name ?? randomBytes(3).toString("hex");
        const can = CAPABILITIES[this.like];
        this.liveResize = can.liveResize;
        this.liveTempDiskResize = can.liveTempDiskResize;
        this.buildsImages = can.buildsImages;
        this.description =
            this.like === "docker"
                ? `fake Docker engine "${this.name}"`
                : `fake Kubernetes cluster "${this.name}" (namespace fake)`;
        if (this.like === "docker") {
            this.repairApplications = async (_workspace) => {
                await this.reach("repairApplications");
                return [];
            };
        }
    }

    // -- what a test reads and breaks ------------------------------------------------------------

    /** Everything the fake holds, copied: tests assert on it without going through the interface. */
    snapshot(): FakeSnapshot {
        return copy({
            volumes: [...this.volumes.values()],
            networks: [...this.networks.values()],
            runtimes: [...this.runtimes.values()],
            agents: [...this.agents.values()],
            stores: Object.fromEntries(
                [...this.stores].map(([ws, s]) => [
                    ws,
                    {
                        policies: Object.fromEntries(s.policies),
                        ...(s.memory !== undefined ? { memory: s.memory } : {}),
                    },
                ]),
            ),
            inbound: Object.fromEntries(this.inbound),
            egress: Object.fromEntries(this.egress),
            images: [...this.imageTable].map(([name, i]) => ({ name, ...i })),
        });
    }

    /** What a user with docker/kubectl, or a host that rebooted, does behind the backend's back. */
    readonly outOfBand = {
        /** `docker rm -f` / `kubectl delete statefulset`: the runtime goes; its network rules stay. */
        deleteRuntime: (id: string): void => {
            this.runtimes.delete(id);
        },
        /** The instance stopped without the backend (a crash, `docker stop`). */
        stopRuntime: (id: string): void => {
            const r = this.mustHaveRuntime(id);
            r.state.status = "Stopped";
            delete r.startedAt;
        },
        /** A volume or claim removed by hand (a disk, the user files). */
        deleteVolume: (name: string): void => {
            this.volumes.delete(name);
        },
        deleteNetwork: (name: string): void => {
            this.networks.delete(name);
        },
        /** The agent stopped (its container exited, its Deployment scaled to zero). */
        stopAgent: (workspace: string): void => {
            const a = this.agents.get(workspace);
            if (a) a.running = false;
        },
        /** The agent's container or Deployment removed by hand; its store stays, as a volume or ConfigMaps would. */
        deleteAgent: (workspace: string): void => {
            this.agents.delete(workspace);
        },
        /** A host reboot or a flushed firewall: every inbound and egress rule is gone. */
        dropNetworkRules: (): void => {
            this.inbound.clear();
            this.egress.clear();
        },
        /** One of the egress rules edited by hand: the rules in force read as "partial". */
        tamperEgress: (network: string): void => {
            if (this.egress.has(network)) this.egress.set(network, "partial");
        },
        /** A record of the agent's store written by hand (or cut short, or by a newer release): its text as is. */
        writeStoreText: (workspace: string, key: string, text: string): void => {
            this.storeOf(workspace).policies.set(key, text);
        },
        /** An image the engine has, built or pulled elsewhere. */
        addImage: (image: string, contextHash?: string): void => {
            this.imageTable.set(image, { id: this.newId(), ...(contextHash ? { contextHash } : {}) });
        },
    };

    // -- the engine itself -----------------------------------------------------------------------

    async ping(): Promise<void> {
        await this.reach("ping");
    }

    async identity(): Promise<string | undefined> {
        await this.reach("identity");
        const id = this.options.identity;
        return id === null ? undefined : (id ?? `fake:${this.like}:${this.name}`);
    }

    async capacity(): Promise<Capacity> {
        await this.reach("capacity");
        return { ...(this.options.capacity ?? DEFAULT_CAPACITY) };
    }

    // -- images ----------------------------------------------------------------------------------

    /** Like Docker, the fake holds its images itself; like Kubernetes, it has no image role. */
    get images(): ImageBuilder | undefined {
        return this.buildsImages ? this : undefined;
    }

    async removeImagesExcept(repositories: string[], keep: string[]): Promise<string[]> {
        await this.reach("removeImagesExcept");
        const inUse = new Set([...this.runtimes.values()].map((r) => r.spec.image));
        const removed = [...this.imageTable.keys()].filter(
            (tag) =>
                repositories.includes(tag.slice(0, tag.lastIndexOf(":"))) && !keep.includes(tag) && !inUse.has(tag),
        );
        for (const tag of removed) this.imageTable.delete(tag);
        return removed;
    }

    async ensureImage(image: string, progress: Progress): Promise<void> {
        await this.reach("ensureImage");
        await this.pulled(image, progress);
    }

    async inspectImage(image: string): Promise<{ id: string; contextHash?: string } | undefined> {
        await this.reach("inspectImage");
        // A cluster cannot look into its nodes' images: it says the image is what it is named.
        if (this.like === "kubernetes") return { id: image };
        const have = this.imageTable.get(image);
        return have ? { ...have } : undefined;
    }

    async buildImage(
        image: string,
        _contextDir: string,
        contextHash: string,
        progress: Progress,
    ): Promise<{ id: string }> {
        await this.reach("buildImage");
        if (!this.buildsImages)
            throw new BackendError(
                `${this.description} cannot build images: push ${image} to a registry the nodes pull from (or load it into the nodes), or set the workspace's image`,
            );
        progress.status(`building ${image}`);
        const id = this.newId();
        this.imageTable.set(image, { id, contextHash });
        return { id };
    }

    // -- names -----------------------------------------------------------------------------------

    userFilesName(workspace: string): string {
        return `ci-${workspace}-userfiles`;
    }

    workspaceNetworkName(workspace: string): string {
        return this.like === "docker" ? `ci-${workspace}` : `ci-${workspace}-default-deny`;
    }

    newDiskName(ref: InstanceRef, role: DiskRole): string {
        return `ci-${ref.workspace}-${ref.instance}-${role}-${randomBytes(3).toString("hex")}`;
    }

    runtimeIdFor(ref: { workspace: string; instance: string }): string {
        return `ci-${ref.workspace}-${ref.instance}`;
    }

    // -- user files ------------------------------------------------------------------------------

    async createUserFiles(ref: Ownership, name: string, sizeGb: number): Promise<UserFilesClaim> {
        await this.reach("createUserFiles");
        const existing = this.volumes.get(name);
        if (existing) {
            if (existing.kind !== "user-files" || existing.workspace !== ref.workspace)
                throw new BackendError(
                    `volume "${name}" exists on the ${this.description} but is not the user files of workspace "${ref.workspace}"; remove or rename it`,
                );
            this.recordUser(existing, ref.owner);
            return existing.owner === ref.owner
                ? { adopted: false, createdBy: existing.owner }
                : { adopted: true, createdBy: existing.owner };
        }
        const store: FakeVolume = { name, kind: "user-files", ...ref, sizeGb, labels: {}, users: [] };
        this.volumes.set(name, store);
        this.recordUser(store, ref.owner);
        return { adopted: false, createdBy: ref.owner };
    }

    async userFilesExists(name: string): Promise<boolean> {
        await this.reach("userFilesExists");
        return this.volumes.get(name)?.kind === "user-files";
    }

    async userFilesUsers(name: string): Promise<string[]> {
        await this.reach("userFilesUsers");
        return [...(this.userFiles(name)?.users ?? [])];
    }

    async releaseUserFiles(ref: Ownership, name: string, deleteIfUnused: boolean): Promise<UserFilesRelease> {
        await this.reach("releaseUserFiles");
        const store = this.userFiles(name);
        if (!store) return { deleted: false };
        store.users = (store.users ?? []).filter((u) => u !== ref.owner);
        if (!deleteIfUnused) return { deleted: false };
        const stacks = store.users.map((s) => `stack ${s}`);
        // Stopped ones too: a stopped container still holds its volumes (Docker refuses their removal).
        const mounted = this.runtimesMounting(name).map((r) => this.unitOf(r.state.id));
        const users = [...stacks, ...mounted];
        if (users.length) return { deleted: false, keptFor: `used by ${users.join(", ")}` };
        this.volumes.delete(name);
        return { deleted: true };
    }

    // -- the workspace network -------------------------------------------------------------------

    async createWorkspaceNetwork(ref: Ownership, name: string): Promise<void> {
        await this.reach("createWorkspaceNetwork");
        // Another stack of the same workspace may have made it: it is shared, not made twice.
        if (!this.networks.has(name)) this.networks.set(name, { name, ...ref });
    }

    async workspaceNetworkExists(name: string): Promise<boolean> {
        await this.reach("workspaceNetworkExists");
        return this.networks.has(name);
    }

    async deleteWorkspaceNetwork(name: string): Promise<void> {
        await this.reach("deleteWorkspaceNetwork");
        const attached =
            [...this.runtimes.values()].some((r) => r.spec.network === name) ||
            [...this.agents.values()].some((a) => a.spec.network === name);
        // Instances (and the agent) of other stacks of the workspace keep it, silently, as on both backends.
        if (!attached) this.networks.delete(name);
    }

    // -- disks -----------------------------------------------------------------------------------

    async createDisk(
        ref: InstanceRef,
        role: DiskRole,
        sizeGb: number,
        name: string,
        labels: Record<string, string> = {},
    ): Promise<DiskState> {
        await this.reach("createDisk");
        const existing = this.volumes.get(name);
        if (existing) {
            // Made again by a create that is tried again: the same disk. Anything else is a clash.
            const same =
                existing.kind === role &&
                existing.workspace === ref.workspace &&
                existing.instance === ref.instance &&
                existing.owner === ref.owner;
            if (!same)
                throw new BackendError(
                    `${name} exists on the ${this.description} and is not the ${role} disk of ${ref.workspace}/${ref.instance}`,
                );
            return { name, sizeGb: existing.sizeGb };
        }
        this.volumes.set(name, { name, kind: role, ...ref, sizeGb, labels: { ...labels } });
        return { name, sizeGb };
    }

    async readDisk(name: string): Promise<DiskState | undefined> {
        await this.reach("readDisk");
        const v = this.volumes.get(name);
        return v && (v.kind === "os" || v.kind === "temp") ? { name, sizeGb: v.sizeGb } : undefined;
    }

    async resizeDisk(name: string, sizeGb: number): Promise<void> {
        await this.reach("resizeDisk");
        const v = this.volumes.get(name);
        // Kubernetes patches the claim: a claim that is gone, or one asked to shrink, is refused.
        if (!v) throw new BackendError(`disk ${name} is gone from the ${this.description}; run \`pulumi refresh\``);
        // The temp disk is scratch, of any size at its next start.
        if (v.kind !== "temp" && sizeGb < v.sizeGb)
            throw new BackendError(
                `could not grow disk ${name} to ${sizeGb} GiB: it has ${v.sizeGb} GiB and a disk does not shrink`,
            );
        v.sizeGb = sizeGb;
    }

    async deleteDisk(name: string): Promise<void> {
        await this.reach("deleteDisk");
        const v = this.volumes.get(name);
        if (!v || (v.kind !== "os" && v.kind !== "temp")) return;
        // Runtimes of the disk's own stack that still mount it were left by a create that died
        // midway, out of the state: they go with it. Another stack's runtime keeps it.
        for (const r of this.runtimesMounting(name)) {
            if (r.spec.owner === v.owner) await this.removeRuntime(r.state.id);
        }
        const holders = this.runtimesMounting(name).map((r) => this.unitOf(r.state.id));
        if (holders.length)
            throw new BackendError(
                `disk volume "${name}" is still in use on the ${this.description}: used by ${holders.join(", ")}`,
            );
        this.volumes.delete(name);
    }

    // -- runtimes --------------------------------------------------------------------------------

    async createRuntime(spec: RuntimeSpec, progress: Progress): Promise<RuntimeState> {
        await this.reach("createRuntime");
        const id = this.runtimeIdFor(spec);
        const existing = this.runtimes.get(id);
        if (existing && existing.spec.owner !== spec.owner)
            throw new BackendError(
                `instance "${spec.instance}" already exists in workspace "${spec.workspace}" on the ${this.description} ` +
                    `(${this.unitOf(id)}, managed by ${existing.spec.owner}); instance names must be unique in a workspace`,
            );
        // Left by a create of this stack that died midway: it is not in the state, so it goes.
        if (existing) await this.removeRuntime(id);
        await this.pulled(spec.image, progress);
        this.mustFit(spec);
        for (const [what, name, kind] of [
            ["OS disk", spec.osDisk, "os"],
            ["user files", spec.userFiles, "user-files"],
        ] as const) {
            if (this.volumes.get(name)?.kind !== kind)
                throw new BackendError(`could not create ${id}: its ${what} ${name} is not on the ${this.description}`);
        }
        if (spec.networkRules?.publicBind) this.mustHaveFirewall(spec);
        else if (!this.networks.has(spec.network))
            throw new BackendError(
                `the workspace network ${spec.network} is not on the ${this.description}; run \`pulumi refresh\`, then \`pulumi up\``,
            );
        const ports = this.choosePorts(spec);
        // On Docker the user's labels go to the agent's store first: with no agent, the create fails.
        if (this.like === "docker" && Object.keys(spec.labels ?? {}).length) await this.writeLabels(spec, spec.labels);
        const runtime: FakeRuntime = {
            spec: copy(spec),
            token: spec.token,
            startedAt: new Date().toISOString(),
            state: {
                id,
                uid: this.newId(),
                status: "Running",
                image: spec.image,
                cpus: spec.cpus,
                memoryGb: spec.memoryGb,
                gpus: spec.gpus,
                ports,
                host: this.like === "docker" ? PUBLISH_ADDRESS : `${id}.fake.svc.cluster.local`,
                labels: this.like === "docker" ? {} : { ...(spec.labels ?? {}) },
                liveToken: !(this.options.startOnlyTokenImages ?? []).includes(spec.image),
            },
        };
        this.runtimes.set(id, runtime);
        // Before its ports open: the ranges apply from the first moment it answers.
        if (spec.networkRules) this.inbound.set(`${spec.workspace}/${spec.instance}`, inboundKey(spec, ports));
        const setupFailed = this.faults.takeSetupFailure();
        if (setupFailed !== undefined) {
            runtime.state.status = "SetupFailed";
            runtime.setupFailed = setupFailed;
            const e = new SetupFailedError(setupFailed);
            throw new KeptForInspectionError(
                `JupyterLab did not start: ${e.message}\nThe ${this.unitOf(id)} is left running for inspection; it is in the stack's state: ` +
                    "the next `pulumi up` replaces it and `pulumi destroy` removes it.",
                id,
            );
        }
        progress.info("ready in 0.0s");
        return this.stateOf(runtime);
    }

    async readRuntime(id: string): Promise<RuntimeState | undefined> {
        await this.reach("readRuntime");
        const r = this.runtimes.get(id);
        return r ? this.stateOf(r) : undefined;
    }

    async updateRuntime(id: string, changes: LiveChanges): Promise<RuntimeState> {
        await this.reach("updateRuntime");
        const r = this.runtimes.get(id);
        if (!r)
            throw new BackendError(
                `${id} is gone from the ${this.description}; run \`pulumi refresh\`, then \`pulumi up\` recreates it`,
            );
        if (changes.token !== undefined && !r.state.liveToken)
            throw new BackendError(
                `${id}'s image reads its token only at start (see images/README.md); it must be replaced to change its token`,
            );
        const cpus = changes.cpus ?? r.state.cpus;
        const memoryGb = changes.memoryGb ?? r.state.memoryGb;
        if (changes.cpus !== undefined || changes.memoryGb !== undefined)
            this.mustFit({ cpus, memoryGb, gpus: r.state.gpus }, `could not resize ${id}`);
        r.state.cpus = cpus;
        r.state.memoryGb = memoryGb;
        if (changes.labels !== undefined) {
            if (this.like === "docker") await this.writeLabels(r.spec, changes.labels);
            else r.state.labels = { ...changes.labels };
        }
        if (changes.token !== undefined) r.token = changes.token;
        return this.stateOf(r);
    }

    async deleteRuntime(id: string): Promise<void> {
        await this.reach("deleteRuntime");
        await this.removeRuntime(id);
    }

    // -- power -----------------------------------------------------------------------------------

    async stopRuntime(id: string): Promise<RuntimeState> {
        await this.reach("stopRuntime");
        const r = this.mustHaveRuntime(id);
        r.state.status = "Stopped";
        delete r.startedAt;
        return this.stateOf(r);
    }

    async startRuntime(id: string, progress: Progress, _timeoutSeconds: number): Promise<RuntimeState> {
        await this.reach("startRuntime");
        const r = this.mustHaveRuntime(id);
        if (r.state.status !== "Running") {
            // A pod is made anew at every start; a container keeps its id.
            if (this.like === "kubernetes") r.state.uid = this.newId();
            r.startedAt = new Date().toISOString();
            r.state.status = "Running";
        }
        if (r.setupFailed !== undefined) {
            // The script that failed runs again at the start, and fails again.
            r.state.status = "SetupFailed";
            const e = new SetupFailedError(r.setupFailed);
            e.message = `Jupyter did not start: ${e.message}`;
            throw e;
        }
        progress.info("ready in 0.0s");
        return this.stateOf(r);
    }

    // -- inbound and egress rules ----------------------------------------------------------------

    async applyInboundRules(spec: InboundSpec): Promise<void> {
        await this.reach("applyInboundRules");
        // On loopback Docker has nothing to enforce (every client is the engine's own machine).
        if (spec.networkRules.publicBind) this.mustHaveFirewall(spec);
        this.inbound.set(`${spec.workspace}/${spec.instance}`, inboundKey(spec, spec.ports));
    }

    async inboundRulesIntact(spec: InboundSpec): Promise<boolean> {
        await this.reach("inboundRulesIntact");
        return this.inbound.get(`${spec.workspace}/${spec.instance}`) === inboundKey(spec, spec.ports);
    }

    async removeInboundRules(spec: InboundSpec): Promise<void> {
        await this.reach("removeInboundRules");
        this.inbound.delete(`${spec.workspace}/${spec.instance}`);
    }

    async applyEgress(spec: EgressSpec, progress: Progress): Promise<string> {
        await this.reach("applyEgress");
        this.mustHaveFirewall(spec);
        if (this.like === "docker") await this.pulled(spec.image, progress);
        const signature = createHash("sha256")
            .update(stableJson({ network: spec.network, egress: spec.egress, enginePorts: spec.enginePorts ?? [] }))
            .digest("hex")
            .slice(0, 16);
        this.egress.set(spec.network, signature);
        return signature;
    }

    async readEgress(spec: EgressSpec): Promise<string> {
        await this.reach("readEgress");
        if (!this.networks.has(spec.network)) return "none";
        return this.egress.get(spec.network) ?? "none";
    }

    async removeEgress(spec: EgressSpec): Promise<void> {
        await this.reach("removeEgress");
        this.egress.delete(spec.network);
    }

    // -- the workspace agent ---------------------------------------------------------------------

    async ensureAgent(spec: AgentSpec, progress: Progress): Promise<AgentState> {
        await this.reach("ensureAgent");
        await this.pulled(spec.image, progress);
        if (!this.networks.has(spec.network))
            throw new BackendError(
                `the workspace agent of ${spec.workspace} cannot join the workspace network ${spec.network}: it is not on the ${this.description}`,
            );
        // The store outlives the agent: a new agent picks up where the old one stopped.
        this.storeOf(spec.workspace);
        this.agents.set(spec.workspace, { spec: copy(spec), running: true });
        return this.agentState(spec.workspace) as AgentState;
    }

    async readAgent(workspace: string): Promise<AgentState | undefined> {
        await this.reach("readAgent");
        return this.agentState(workspace);
    }

    async deleteAgent(workspace: string): Promise<void> {
        await this.reach("deleteAgent");
        this.agents.delete(workspace);
        this.stores.delete(workspace);
    }

    agentStore(workspace: string): AgentStore {
        // Reached through the agent (its container, its ConfigMaps): with no agent nothing reads,
        // and a write is refused, so a refresh drops the policies and `up` writes them again.
        const readable = async (method: keyof AgentStore) => {
            await this.reach(`agentStore.${method}`);
            return this.agents.has(workspace) ? this.storeOf(workspace) : undefined;
        };
        const writable = async (method: keyof AgentStore) => {
            const store = await readable(method);
            if (!store)
                throw new BackendError(
                    `the workspace agent of ${workspace} is missing on the ${this.description}; run \`pulumi refresh\` and \`pulumi up\` to re-create it`,
                );
            return store;
        };
        const keyed = (key: string) => {
            if (!STORE_KEY.test(key))
                throw new BackendError(
                    `"${key}" cannot be a key of the workspace agent's store on the ${this.description}`,
                );
            return key;
        };
        return {
            writePolicy: async (key, value) => {
                const { policies } = await writable("writePolicy");
                if (value === undefined) policies.delete(keyed(key));
                else policies.set(keyed(key), JSON.stringify(value));
            },
            readPolicy: async (key) => parseStoredJson((await readable("readPolicy"))?.policies.get(keyed(key))),
            readPolicies: async () => {
                const store = await readable("readPolicies");
                return Object.fromEntries([...(store?.policies ?? [])].map(([k, v]) => [k, parseStoredJson(v)]));
            },
            readMemory: async () => parseStoredJson((await readable("readMemory"))?.memory),
            writeMemory: async (memory) => {
                (await writable("writeMemory")).memory = JSON.stringify(memory);
            },
        };
    }

    async listInstances(workspace: string): Promise<InstanceView[]> {
        await this.reach("listInstances");
        return this.runtimesOf(workspace).map((r) => {
            const running = r.state.status === "Running";
            return {
                instance: r.spec.instance,
                owner: r.spec.owner,
                id: r.state.id,
                status: r.state.status,
                ...(running && r.startedAt ? { startedAt: r.startedAt } : {}),
                // Docker names the container on the workspace network; a pod has an address only while it runs.
                ...(running || this.like === "docker"
                    ? { jupyterUrl: `http://${r.state.id}:${SERVICES.jupyter.containerPort}` }
                    : {}),
                ...(running ? { token: r.token } : {}),
            };
        });
    }

    async workspaceUsage(workspace: string): Promise<QuotaUse[]> {
        await this.reach("workspaceUsage");
        return this.runtimesOf(workspace).map((r) => ({
            instance: r.spec.instance,
            owner: r.spec.owner,
            cpus: r.state.cpus,
            gpus: r.state.gpus,
            ...(r.state.status === "Stopped" ? { stopped: true } : {}),
        }));
    }

    // -- inside ----------------------------------------------------------------------------------

    /** What every call does first: an engine that does not answer, or a failure injected for it. */
    private async reach(method: FakeMethod): Promise<void> {
        // Answers come later than calls, as from a real engine: callers that forget an await show.
        await Promise.resolve();
        if (this.faults.unreachable)
            throw new BackendError(`${this.description} does not answer (connection refused)`, "backend");
        const injected = this.faults.take(method);
        if (injected) throw injected;
    }

    private newId(): string {
        return randomBytes(16).toString("hex");
    }

    /** The image is there, or pulled now (Docker); a cluster's nodes pull when a pod needs it. */
    private async pulled(image: string, progress: Progress): Promise<void> {
        if (this.imageTable.has(image)) return;
        const pullable = this.options.pullable ?? (() => true);
        if (!pullable(image))
            throw new BackendError(
                `image "${image}" is not on the ${this.description} and could not be pulled (not found in any registry). ` +
                    `Build it there or push it to a registry the engine can reach.`,
            );
        progress.status(`pulling ${image}`);
        this.imageTable.set(image, { id: this.newId() });
    }

    private mustFit(size: { cpus: number; memoryGb: number; gpus: number }, what = "it cannot be scheduled"): void {
        const c = this.options.capacity ?? DEFAULT_CAPACITY;
        const over = [
            size.cpus > c.cpus ? `${size.cpus} CPUs (it has ${c.cpus})` : "",
            size.memoryGb > c.memoryGb ? `${size.memoryGb} GiB of memory (it has ${c.memoryGb})` : "",
            size.gpus > c.gpus ? `${size.gpus} GPUs (${c.gpus ? `it has ${c.gpus}` : c.noGpus})` : "",
        ].filter(Boolean);
        if (over.length) throw new BackendError(`${what}: the ${this.description} cannot give ${over.join(", ")}`);
    }

    /** Rules on Docker take the workspace's bridge and iptables (and, for ranges, an image that has it). */
    private mustHaveFirewall(spec: { network: string; networkRules?: InstanceNetwork; firewallImage?: string }): void {
        if (this.faults.noFirewall)
            throw new NoFirewallError(`network rules on the ${this.description}: the engine manages no firewall`);
        if (!this.networks.has(spec.network))
            throw new BackendError(
                `the workspace network ${spec.network} is not on the ${this.description}; run \`pulumi refresh\`, then \`pulumi up\``,
            );
        if (this.like === "docker" && spec.networkRules?.inbound && !spec.firewallImage)
            throw new BackendError(
                "inbound ranges on Docker need the workspace agent's image (iptables); pass the instance a Workspace",
            );
    }

    private mustHaveRuntime(id: string): FakeRuntime {
        const r = this.runtimes.get(id);
        if (!r) throw new BackendError(`no instance ${id} on the ${this.description}`);
        return r;
    }

    /** Host ports (Docker: the user's SSH port, else the instance's earlier ones when free, else new ones); a pod's own ports on Kubernetes. */
    private choosePorts(spec: RuntimeSpec): PublishedPorts {
        const ports: PublishedPorts = {};
        if (this.like === "kubernetes") {
            for (const s of servicesFor(spec.applications, spec.ssh !== null))
                ports[s] = s === "ssh" ? (spec.ssh?.port ?? 22) : SERVICES[s].containerPort;
            return ports;
        }
        const taken = new Set([...this.runtimes.values()].flatMap((r) => Object.values(r.state.ports)));
        const services = publishedServices(
            servicesFor(spec.applications, spec.ssh !== null),
            spec.networkRules?.inbound,
        );
        for (const s of services) {
            const stable = `${spec.workspace}/${spec.instance}/${s}`;
            if (s === "ssh" && spec.ssh?.port) {
                if (taken.has(spec.ssh.port))
                    throw new BackendError(
                        `ssh.port ${spec.ssh.port} is already in use on the engine's host; choose another port or leave it out to get a free one`,
                    );
                ports[s] = spec.ssh.port;
            } else {
                const want = spec.preferredPorts?.[s] ?? this.stablePorts.get(stable);
                ports[s] = want !== undefined && !taken.has(want) ? want : this.freePort(taken);
            }
            taken.add(ports[s] as number);
            this.stablePorts.set(stable, ports[s] as number);
        }
        return ports;
    }

    private freePort(taken: Set<number>): number {
        while (taken.has(this.nextPort) || [...this.stablePorts.values()].includes(this.nextPort)) this.nextPort++;
        return this.nextPort++;
    }

    private async removeRuntime(id: string): Promise<void> {
        const r = this.runtimes.get(id);
        if (!r) return;
        this.runtimes.delete(id);
        // Its rules go with it: Docker's chain of the instance, Kubernetes' NetworkPolicy of the runtime.
        this.inbound.delete(`${r.spec.workspace}/${r.spec.instance}`);
        // The agent (and its store) may be gone already, with the workspace.
        if (this.like === "docker") await this.writeLabels(r.spec, undefined).catch(() => undefined);
    }

    /** A runtime as read back: on Docker its labels are the agent's record of them (none when it cannot be read). */
    private async stateOf(r: FakeRuntime): Promise<RuntimeState> {
        const state = copy(r.state);
        if (this.like === "docker") {
            const read = await agentRecords(this.agentStore(r.spec.workspace))
                .read({ kind: "labels", instance: r.spec.instance })
                .catch((): ReadOutcome<Labels> => ({}));
            state.labels = read.value ?? {};
        }
        return state;
    }

    /** Docker: a container's labels are fixed when it is made, so the agent's store keeps the user's (none: no record). */
    private async writeLabels(ref: InstanceRef, labels: Labels | undefined): Promise<void> {
        await agentRecords(this.agentStore(ref.workspace)).write(
            { kind: "labels", instance: ref.instance },
            labels && Object.keys(labels).length ? labels : undefined,
        );
    }

    private runtimesOf(workspace: string): FakeRuntime[] {
        return [...this.runtimes.values()].filter((r) => r.spec.workspace === workspace);
    }

    private runtimesMounting(volume: string): FakeRuntime[] {
        return [...this.runtimes.values()].filter((r) =>
            [r.spec.osDisk, r.spec.tempDisk, r.spec.userFiles].includes(volume),
        );
    }

    /** What holds a runtime's mounts, as the backend it stands in for names it. */
    private unitOf(id: string): string {
        return this.like === "docker" ? `container ${id}` : `pod ${id}-0`;
    }

    private userFiles(name: string): FakeVolume | undefined {
        const v = this.volumes.get(name);
        return v?.kind === "user-files" ? v : undefined;
    }

    private recordUser(store: FakeVolume, owner: string): void {
        if (!store.users?.includes(owner)) store.users = [...(store.users ?? []), owner];
    }

    private storeOf(workspace: string): { policies: Map<string, string>; memory?: string } {
        let store = this.stores.get(workspace);
        if (!store) {
            store = { policies: new Map() };
            this.stores.set(workspace, store);
        }
        return store;
    }

    private agentState(workspace: string): AgentState | undefined {
        const a = this.agents.get(workspace);
        if (!a) return undefined;
        return {
            id: `ci-${workspace}-agent`,
            image: a.spec.image,
            checkIntervalSeconds: a.spec.checkIntervalSeconds,
            running: a.running,
        };
    }
}

/** What inbound rules in force were applied from: the ranges, where they are published, on which ports. */
function inboundKey(
    spec: { network: string; networkRules?: InstanceNetwork; applications: readonly string[]; ssh: unknown },
    ports: PublishedPorts,
): string {
    return stableJson({
        network: spec.network,
        publicBind: spec.networkRules?.publicBind ?? false,
        inbound: spec.networkRules?.inbound ?? null,
        ports,
    });
}

/** The fake as the backend contract takes a backend (./backendContract.ts). */
export function fakeUnderTest(options: FakeBackendOptions = {}): BackendUnderTest & { fake: FakeBackend } {
    const fake = new FakeBackend(options);
    return {
        name: `fake ${fake.like}`,
        fake,
        make: () => fake,
        deleteRuntimeOutOfBand: async (id) => fake.outOfBand.deleteRuntime(id),
    };
}

/**
 * Makes the providers' backends fakes until the returned function is called: `backendFor` and
 * the per-process questions built on it (`ensureReachable`, `capacityOf`, `identityOf`) answer
 * from `fakes`, one fake for every spec or one per spec.
 *
 * The exports of provider/backends/registry.ts are replaced with Jest spies; its own functions call
 * `backendFor` directly, so each of them is replaced, not only `backendFor`. `jest.restoreAllMocks()`
 * undoes it too: {@link useFakeBackend} routes them again before every test.
 */
export function routeBackendsTo(fakes: FakeBackend | ((spec: BackendSpec) => FakeBackend)): () => void {
    const fakeFor = typeof fakes === "function" ? fakes : () => fakes;
    const spies = [
        jest.spyOn(backends, "backendFor").mockImplementation((spec) => fakeFor(spec)),
        jest.spyOn(backends, "ensureReachable").mockImplementation(async (spec) => fakeFor(spec).ping()),
        jest.spyOn(backends, "capacityOf").mockImplementation(async (spec) => fakeFor(spec).capacity()),
        jest.spyOn(backends, "identityOf").mockImplementation(async (spec) => fakeFor(spec).identity()),
    ];
    return () => spies.forEach((s) => s.mockRestore());
}

/** {@link routeBackendsTo} for every test of the file (or of the `describe` it is called in). */
export function useFakeBackend(fakes: FakeBackend | ((spec: BackendSpec) => FakeBackend)): void {
    let restore: (() => void) | undefined;
    beforeEach(() => {
        restore = routeBackendsTo(fakes);
    });
    afterEach(() => restore?.());
}
