/**
 * A backend's parts by name, and the view of a backend that has only some of them: what a
 * resource kind declares it uses (../resources/kind.ts `uses`) is all it can reach, to the type
 * checker and at run time alike, so a kind that starts to use another part must say so.
 */
import type {
    AgentHost,
    Backend,
    Capabilities,
    Connection,
    Disks,
    ImageBuilder,
    Inventory,
    NetworkRules,
    Runtimes,
    WorkspaceObjects,
} from "./backend";
import type { JobRunner } from "./jobRunner";
import type { InferenceRunner } from "./inference";

export interface Parts {
    connection: Connection;
    /** The engine's own images; absent where the nodes pull them (a cluster). */
    images: { readonly images?: ImageBuilder };
    workspaceObjects: WorkspaceObjects;
    disks: Disks;
    runtimes: Runtimes;
    networkRules: NetworkRules;
    agentHost: AgentHost;
    inventory: Inventory;
    /** Jobs; absent where the backend does not run them yet. */
    jobs: { readonly jobs?: JobRunner };
    /** Local inference endpoints; absent where the backend does not run them yet. */
    inference: { readonly inference?: InferenceRunner };
}

export type PartName = keyof Parts;

type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** A backend as a user of parts P sees it: those parts and the capabilities, nothing else. */
export type BackendWith<P extends PartName> = Capabilities & Intersection<Parts[P]>;

/** Every member of T, as the type checker holds the list to T's keys (an added method must be listed). */
type Members<T> = { readonly [K in keyof T]-?: true };

const MEMBERS: { readonly [P in PartName]: Members<Parts[P]> } = {
    connection: { description: true, ping: true, identity: true, capacity: true },
    images: { images: true },
    workspaceObjects: {
        userFilesName: true,
        workspaceNetworkName: true,
        createUserFiles: true,
        userFilesExists: true,
        userFilesUsers: true,
        releaseUserFiles: true,
        createWorkspaceNetwork: true,
        workspaceNetworkExists: true,
        deleteWorkspaceNetwork: true,
    },
    disks: { newDiskName: true, createDisk: true, readDisk: true, resizeDisk: true, deleteDisk: true },
    runtimes: {
        createRuntime: true,
        readRuntime: true,
        updateRuntime: true,
        deleteRuntime: true,
        stopRuntime: true,
        startRuntime: true,
    },
    networkRules: {
        applyInboundRules: true,
        inboundRulesIntact: true,
        removeInboundRules: true,
        applyEgress: true,
        readEgress: true,
        removeEgress: true,
    },
    agentHost: { ensureAgent: true, readAgent: true, deleteAgent: true, agentStore: true, repairApplications: true },
    inventory: { listInstances: true, workspaceUsage: true, runtimeIdFor: true },
    jobs: { jobs: true },
    inference: { inference: true },
};

const CAPABILITIES: Members<Capabilities> = { liveResize: true, liveTempDiskResize: true, buildsImages: true };

/** The members of each part, for tests that hold a backend to the parts it has. */
export function membersOf(part: PartName): string[] {
    return Object.keys(MEMBERS[part]);
}

const views = new WeakMap<Backend, Map<string, unknown>>();

/**
 * The backend with only `parts` (and its capabilities): methods bound to it, properties read
 * through to it (a backend's image role is a getter). One view per backend and set of parts.
 */
export function partsOf<P extends PartName>(backend: Backend, parts: readonly P[]): BackendWith<P> {
    const key = [...parts].sort().join(",");
    let byParts = views.get(backend);
    if (!byParts) views.set(backend, (byParts = new Map()));
    let view = byParts.get(key);
    if (!view) {
        const names = [...Object.keys(CAPABILITIES), ...parts.flatMap(membersOf)];
        const source = backend as unknown as Record<string, unknown>;
        const made: Record<string, unknown> = {};
        for (const name of names) {
            const value = source[name];
            if (typeof value === "function") made[name] = (value as (...a: unknown[]) => unknown).bind(backend);
            else Object.defineProperty(made, name, { enumerable: true, get: () => source[name] });
        }
        byParts.set(key, (view = Object.freeze(made)));
    }
    return view as BackendWith<P>;
}
