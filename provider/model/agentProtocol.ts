/**
 * The workspace agent's store, as one protocol: the key of every record, the shape of every
 * record and of the agent's memory, and how each is read back. The provider writes policies
 * (schedules, idle shutdown, quota, network rules, Docker's labels), the CLI writes the power
 * operations users make, the agent reads them and keeps its memory. The store outlives upgrades
 * (a Docker volume, a Kubernetes ConfigMap) and a workspace is shared by stacks of different
 * releases, so what one release writes is read by others, older and newer.
 *
 * Versions: the records of the releases before this module carry no `version` field and are
 * version 1; a record from version 2 on carries `version: n`. Readers ignore fields they do not
 * know, so a new optional field keeps the version; a change an older reader would misread bumps
 * it, and older readers then say the record is newer than they read instead of misreading it.
 * Version 1 is still what every record is written as: the releases before this module read
 * schedules strictly, so a `version` field would make them drop every schedule.
 *
 * Pure: the bytes stay with the backends' {@link AgentStore}; {@link agentRecords} puts this
 * protocol over one.
 */
import { z } from "zod";
import type { AgentStore, EgressSpec, InboundSpec } from "../backends/backend";
import { egressSchema } from "./access";
import { formatPath } from "./errors";
import { quotaSchema } from "./quota";
import { JobQueueRecord, JobRecord, jobQueueV1, jobStateV1, jobV1 } from "./jobRecords";

export { JOB_STATUSES, type JobQueueRecord, type JobRecord, type JobState, type JobStatus } from "./jobRecords";
import { scheduleSchema } from "./schedule";
import { APPLICATIONS } from "./applications";

// -- keys ------------------------------------------------------------------------------------

/** A record's place in the store: one key per resource, so that resources writing at once never race. */
export type RecordKey =
    | { kind: "schedule"; instance: string; name: string }
    | { kind: "idle"; instance: string }
    /** The last power operation a user made with the CLI (the agent records its own in its memory). */
    | { kind: "operation"; instance: string }
    /** Docker: the workspace's egress rules, so the agent can put them back after the host lost them. */
    | { kind: "egress" }
    /** Docker: an instance's inbound rules, for the same reason. */
    | { kind: "inbound"; instance: string }
    /** The workspace's quota, as the stack that declares it last set it. */
    | { kind: "quota" }
    /** Docker: the user's labels of an instance (a container's labels cannot change). */
    | { kind: "labels"; instance: string }
    /**
     * For tests only: the agent acts as if the time were `offsetSeconds` later than its clock says,
     * so a schedule's firing is reached without waiting for its minute. No resource writes it.
     */
    | { kind: "clock" }
    /** A submitted job (the CLI writes it; the agent runs it and records its status in its memory). */
    | { kind: "job"; name: string }
    /** An instance's job queue settings. */
    | { kind: "jobQueue"; instance: string };

export type RecordKind = RecordKey["kind"];
export type KeyOf<K extends RecordKind> = Extract<RecordKey, { kind: K }>;

// Keys are file names on Docker and ConfigMap keys on Kubernetes, and "." separates their parts:
// a part is what both allow, without the dot. Instance and schedule names are narrower still.
const PART = /^[A-Za-z0-9_-]+$/;

function joined(...parts: string[]): string {
    const bad = parts.find((p) => !PART.test(p));
    if (bad !== undefined)
        throw new Error(`"${bad}" cannot be part of a key of the workspace agent's store (letters, digits, '-', '_')`);
    return parts.join(".");
}

export function encodeKey(key: RecordKey): string {
    switch (key.kind) {
        case "schedule":
            return joined("schedule", key.instance, key.name);
        case "idle":
            return joined("idle", key.instance);
        case "operation":
            return joined("operation", key.instance);
        case "egress":
            return "network.egress";
        case "inbound":
            return joined("network", "inbound", key.instance);
        case "quota":
            return "quota";
        case "labels":
            return joined("labels", key.instance);
        case "clock":
            return "test.clock";
        case "job":
            return joined("job", key.name);
        case "jobQueue":
            return joined("jobqueue", key.instance);
    }
}

/**
 * The record a key names, or undefined for a key this release does not know (a newer release's
 * kind of record, a file someone put there): such keys are not this release's to read.
 * `encodeKey(decodeKey(k)!) === k` for every key it decodes.
 */
export function decodeKey(key: string): RecordKey | undefined {
    const parts = key.split(".");
    if (!parts.every((p) => PART.test(p))) return undefined;
    const [first, second, third] = parts;
    switch (`${first}/${parts.length}`) {
        case "schedule/3":
            return { kind: "schedule", instance: second, name: third };
        case "idle/2":
            return { kind: "idle", instance: second };
        case "operation/2":
            return { kind: "operation", instance: second };
        case "labels/2":
            return { kind: "labels", instance: second };
        case "quota/1":
            return { kind: "quota" };
        case "job/2":
            return { kind: "job", name: second };
        case "jobqueue/2":
            return { kind: "jobQueue", instance: second };
        case "test/2":
            return second === "clock" ? { kind: "clock" } : undefined;
        case "network/2":
            return second === "egress" ? { kind: "egress" } : undefined;
        case "network/3":
            return second === "inbound" ? { kind: "inbound", instance: third } : undefined;
        default:
            return undefined;
    }
}

/** The key when it names a record of that kind: a resource's id is its record's key. */
export function decodeKeyOf<K extends RecordKind>(kind: K, key: string): KeyOf<K> | undefined {
    const decoded = decodeKey(key);
    return decoded?.kind === kind ? (decoded as KeyOf<K>) : undefined;
}

/** A schedule's key in the agent's memory (`handledUntil`). */
export const handledUntilKey = (instance: string, schedule: string) => `${instance}/${schedule}`;

// -- records ---------------------------------------------------------------------------------

const isoTime = z.iso.datetime({ message: "must be an ISO time" });

/** A schedule as the agent acts on it; the name is its key's. */
const scheduleV1 = z.object(scheduleSchema.shape).omit({ name: true });
export type ScheduleRecord = z.output<typeof scheduleV1>;

const idleV1 = z.object({ afterSeconds: z.number().positive() });
export type IdleRecord = z.output<typeof idleV1>;

const operationV1 = z.object({
    operation: z.enum(["Start", "Stop", "Restart"]),
    /** Who asked for a power change; Azure's `lastOperation.operationTrigger`. */
    trigger: z.enum(["User", "Schedule", "IdleShutdown"]),
    /** When the operation was made. */
    at: isoTime,
    /** Why, for people reading the log: the schedule and its firing, or how long the instance was idle. */
    reason: z.string(),
    status: z.enum(["Succeeded", "Failed"]),
    error: z.string().optional(),
});
export type Operation = z.output<typeof operationV1>;
export type Trigger = Operation["trigger"];

const quotaV1 = z.object({ ...quotaSchema.shape, owner: z.string().min(1) });
/** The quota and the stack that set it. */
export type QuotaRecord = z.output<typeof quotaV1>;

const labelsV1 = z.record(z.string(), z.string());

export type LabelsRecord = z.output<typeof labelsV1>;

const clockV1 = z.object({ offsetSeconds: z.number().finite() });
export type ClockRecord = z.output<typeof clockV1>;

/** The egress spec the rules were applied from, and the signature applying gave. */
export type EgressRecord = EgressSpec & { signature?: string };

/**
 * A copy of the backend's own spec, for the backend to apply again as it was written: its
 * fields are checked for their types, so a changed shape is named, but none is required here.
 * The backend that applies the copy is the judge of what it needs, and says what is missing.
 */
function backendCopy<T>(shape: z.ZodRawShape) {
    const fields = z.looseObject(shape).partial();
    return z
        .unknown()
        .superRefine((v, ctx) => {
            const r = fields.safeParse(v);
            if (!r.success)
                for (const i of r.error.issues) ctx.addIssue({ code: "custom", path: i.path, message: i.message });
        })
        .transform((v) => v as T);
}

const egressV1 = backendCopy<EgressRecord>({
    workspace: z.string(),
    owner: z.string(),
    network: z.string(),
    egress: egressSchema,
    image: z.string(),
    enginePorts: z.array(z.number().int()),
    signature: z.string(),
});

const inboundV1 = backendCopy<InboundSpec>({
    workspace: z.string(),
    owner: z.string(),
    instance: z.string(),
    network: z.string(),
    applications: z.array(z.enum(APPLICATIONS)),
    ssh: z.object({ publicKey: z.string(), port: z.number().int().optional() }).nullable(),
    networkRules: z.object({
        publicBind: z.boolean(),
        inbound: z.array(z.object({ service: z.string(), from: z.array(z.string()) })).optional(),
    }),
    ports: z.record(z.string(), z.number()),
    firewallImage: z.string(),
});

/**
 * How a kind of record is stored: `readers[i]` reads version i + 1 and gives the current shape
 * (an older version's reader upgrades with a transform); the last is the version written.
 */
export interface RecordFormat<T> {
    readonly readers: readonly [z.ZodType<T>, ...z.ZodType<T>[]];
}

export const formatVersion = (f: RecordFormat<unknown>) => f.readers.length;

export interface RecordValues {
    schedule: ScheduleRecord;
    idle: IdleRecord;
    operation: Operation;
    egress: EgressRecord;
    inbound: InboundSpec;
    quota: QuotaRecord;
    labels: LabelsRecord;
    clock: ClockRecord;
    job: JobRecord;
    jobQueue: JobQueueRecord;
}

export const RECORD_FORMATS: { readonly [K in RecordKind]: RecordFormat<RecordValues[K]> } = {
    schedule: { readers: [scheduleV1] },
    idle: { readers: [idleV1] },
    operation: { readers: [operationV1] },
    egress: { readers: [egressV1] },
    inbound: { readers: [inboundV1] },
    quota: { readers: [quotaV1] },
    labels: { readers: [labelsV1] },
    clock: { readers: [clockV1] },
    job: { readers: [jobV1] },
    jobQueue: { readers: [jobQueueV1] },
};

/** The agent's memory, persisted between checks and across restarts of the agent or the engine. */
const memoryV1 = z.object({
    /** Per schedule ({@link handledUntilKey}): the instant up to which its firings have been handled. */
    handledUntil: z.record(z.string(), isoTime).default(() => ({})),
    /** Per instance: the last power operation the agent (or the CLI) made. */
    lastOperation: z.record(z.string(), operationV1).default(() => ({})),
    /**
     * Per instance: when the agent last saw it in use (a busy kernel, an SSH session, an open
     * editor). What ended leaves no trace in Jupyter's lists, so the quiet period starts here.
     */
    activeAt: z.record(z.string(), isoTime).optional(),
    /** Per job: its status as the agent last recorded it (an older memory has none: no job ran). */
    jobs: z.record(z.string(), jobStateV1).optional(),
});
export type AgentMemory = z.output<typeof memoryV1>;

export const MEMORY_FORMAT: RecordFormat<AgentMemory> = { readers: [memoryV1] };
/** Where the memory is named in problems: it has no policy key. */
export const MEMORY_KEY = "memory";

export const emptyMemory = (): AgentMemory => ({ handledUntil: {}, lastOperation: {} });

// -- reading ---------------------------------------------------------------------------------

const NOT_JSON = Symbol("not JSON");

/**
 * A value read back from the store's text. Text that is not JSON (a hand edit, a write cut
 * short) is not read as nothing: it comes back as an object with no fields of its own for
 * JSON or listing, marked so that {@link readRecord} says what it is.
 */
export function parseStoredJson(text: string | undefined): unknown {
    if (text === undefined) return undefined;
    try {
        return JSON.parse(text);
    } catch (e) {
        return Object.freeze({ [NOT_JSON]: (e as Error).message });
    }
}

/** A record that is there but cannot be read: logged by the agent, shown by the CLI and the provider. */
export interface RecordProblem {
    /** The store key, or {@link MEMORY_KEY}. */
    key: string;
    /** What is wrong, in a few words. */
    reason: string;
    /** A sentence for a log line or an error. */
    message: string;
}

export interface ReadOutcome<T> {
    /** Undefined when there is no record, or when it cannot be read (then `problem` says why). */
    value?: T;
    problem?: RecordProblem;
}

const MAX_ISSUES = 3;

/**
 * Reads one stored value with its kind's format. Nothing there (and `null`, what Docker's store
 * writes for a removed record) is no record; anything else either reads or is a problem.
 */
export function readRecord<T>(format: RecordFormat<T>, key: string, raw: unknown): ReadOutcome<T> {
    if (raw === undefined || raw === null) return {};
    const problem = (reason: string): ReadOutcome<T> => ({
        problem: { key, reason, message: `cannot read "${key}" in the workspace agent's store: ${reason}` },
    });
    const object = typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<PropertyKey, unknown>) : undefined;
    if (object && NOT_JSON in object) return problem(`it is not JSON (${String(object[NOT_JSON])})`);
    const newest = formatVersion(format);
    // A number: a labels record may have a label named "version", whose value is text.
    const version = typeof object?.version === "number" ? object.version : 1;
    if (!Number.isInteger(version) || version < 1)
        return problem(`its version ${version} is not one any release writes`);
    if (version > newest)
        return problem(
            `it was written by a newer release (version ${version}; this release reads ${newest === 1 ? "version 1" : `versions 1 to ${newest}`})`,
        );
    const r = format.readers[version - 1].safeParse(raw);
    if (r.success) return { value: r.data };
    const issues = r.error.issues.slice(0, MAX_ISSUES).map((i) => {
        const at = formatPath(i.path);
        return at ? `${at}: ${i.message}` : i.message;
    });
    const more = r.error.issues.length - issues.length;
    return problem(`${issues.join("; ")}${more > 0 ? ` (and ${more} more)` : ""}`);
}

/** What a value is stored as: version 1 as it is, later versions with their number. */
export function storedValue<T>(format: RecordFormat<T>, key: string, value: T): unknown {
    const version = formatVersion(format);
    const stored = version === 1 ? value : { ...value, version };
    // Checked as it will be read, so a wrong shape fails where it is written, not in the agent.
    const check = readRecord(format, key, stored);
    if (check.problem)
        throw new Error(`refusing to write "${key}" to the workspace agent's store: ${check.problem.reason}`);
    return stored;
}

/** One readable record, its key and value typed by its kind. */
export type StoredRecord = { [K in RecordKind]: { kind: K; key: KeyOf<K>; value: RecordValues[K] } }[RecordKind];

/** A record this release knows the key of but cannot read. */
export type KeyedProblem = RecordProblem & { record: RecordKey };

export interface StoredRecords {
    records: StoredRecord[];
    problems: KeyedProblem[];
}

/** Every record of a store's policies; keys this release does not know are left out. */
export function readRecords(raw: Readonly<Record<string, unknown>>): StoredRecords {
    const out: StoredRecords = { records: [], problems: [] };
    for (const [text, value] of Object.entries(raw)) {
        const key = decodeKey(text);
        if (!key) continue;
        const r = readRecord<RecordValues[typeof key.kind]>(RECORD_FORMATS[key.kind], text, value);
        if (r.problem) out.problems.push({ ...r.problem, record: key });
        else if (r.value !== undefined) out.records.push({ kind: key.kind, key, value: r.value } as StoredRecord);
    }
    return out;
}

/** The memory, or an empty one (with the problem) when what is stored cannot be read. */
export function readMemory(raw: unknown): { memory: AgentMemory; problem?: RecordProblem } {
    const r = readRecord(MEMORY_FORMAT, MEMORY_KEY, raw);
    return { memory: r.value ?? emptyMemory(), ...(r.problem ? { problem: r.problem } : {}) };
}

// -- the store, typed ------------------------------------------------------------------------

export interface AgentRecords {
    /** Writes one record; `undefined` removes it. */
    write<K extends RecordKey>(key: K, value: RecordValues[K["kind"]] | undefined): Promise<void>;
    read<K extends RecordKey>(key: K): Promise<ReadOutcome<RecordValues[K["kind"]]>>;
    readAll(): Promise<StoredRecords>;
    readMemory(): Promise<{ memory: AgentMemory; problem?: RecordProblem }>;
    writeMemory(memory: AgentMemory): Promise<void>;
}

/** The protocol over a backend's store: the only way this package reads or writes it. */
export function agentRecords(store: AgentStore): AgentRecords {
    return {
        async write(key, value) {
            const text = encodeKey(key);
            const format = RECORD_FORMATS[key.kind] as RecordFormat<typeof value>;
            await store.writePolicy(text, value === undefined ? undefined : storedValue(format, text, value));
        },
        async read<K extends RecordKey>(key: K) {
            const text = encodeKey(key);
            const format = RECORD_FORMATS[key.kind] as RecordFormat<RecordValues[K["kind"]]>;
            return readRecord(format, text, await store.readPolicy(text));
        },
        readAll: async () => readRecords(await store.readPolicies()),
        readMemory: async () => readMemory(await store.readMemory()),
        writeMemory: (memory) => store.writeMemory(storedValue(MEMORY_FORMAT, MEMORY_KEY, memory)),
    };
}
