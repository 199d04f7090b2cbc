/**
 * The workspace agent and the policies it enforces: `WorkspaceAgent` (one per workspace), and per
 * instance one `Schedule` resource per schedule and an `IdleShutdown`. Policies are written to the
 * agent's store, one key per resource; changing one is an update of that resource alone and
 * never touches the instance's runtime.
 */
import { z } from "zod";
import { FieldProblem, formatPath } from "../model/errors";
import { agentContextDir } from "../image/context";
import { ReadOutcome, RecordKey, ScheduleRecord, agentRecords, decodeKeyOf, encodeKey } from "../model/agentProtocol";
import { BackendSpec } from "../model/backendSchema";
import { durationSeconds, nameSchema } from "../model/fields";
import {
    Firing,
    MIN_IDLE_SECONDS,
    ScheduleSpec,
    describeFirings,
    dstGap,
    scheduleSchema,
    schedulesSchema,
} from "../model/schedule";
import { containsUnknown } from "../model/validate";
import { jobsSchema } from "../model/jobs";
import { Props, uses, checkWith, progressOf, wiringFields, wiringRules } from "./kind";
import { NoFields, defineKind, fields } from "./defineKind";

// Deleting the agent asks whether another stack still uses the workspace (its instances, its user files).
const agentBackend = uses("agentHost", "images", "inventory", "workspaceObjects");
const policyBackend = uses("agentHost");

/** How often the agent checks when the workspace does not say. */
export const DEFAULT_CHECK_INTERVAL_SECONDS = 30;

const agentSchema = z.object({
    ...wiringFields,
    image: z.string().min(1),
    /** Hash of the build context, for backends that build the image themselves. */
    contextHash: z.string().min(1),
    network: z.string().min(1),
    checkInterval: durationSeconds(1).default(DEFAULT_CHECK_INTERVAL_SECONDS),
});

async function ensureAgent(inputs: z.output<typeof agentSchema>) {
    const backend = agentBackend(inputs);
    const image = inputs.image;
    const progress = progressOf(inputs, "workspace agent");
    const images = backend.images;
    if (images) {
        const have = await images.inspectImage(image);
        if (have?.contextHash !== inputs.contextHash)
            await images.buildImage(image, agentContextDir(), inputs.contextHash, progress);
    }
    return backend.ensureAgent(
        {
            workspace: inputs.workspace,
            owner: inputs.owner,
            image,
            network: inputs.network,
            checkIntervalSeconds: inputs.checkInterval,
        },
        progress,
    );
}

/**
 * The agent that enforces schedules and idle shutdown between `pulumi up`s. Its store (the
 * policies and what it has done) goes with it when the workspace is deleted.
 */
export const workspaceAgent = defineKind({
    type: "WorkspaceAgent",
    backend: agentBackend,
    inputs: agentSchema,
    outputs: fields<{ agentId: string; image: string; running?: boolean }>({
        agentId: true,
        image: true,
        running: true,
    }),
    userPaths: { checkInterval: "agent.checkInterval" },
    async check(inputs) {
        const { backend, image } = inputs;
        // A cluster pulls images and cannot build this one: say so before the pod waits forever.
        if (backend.kind === "kubernetes" && image.startsWith("compute-instance-agent:")) {
            progressOf(inputs, "").warn(
                `the workspace agent's image ${image} is built from this package and is in no registry: push it where the nodes ` +
                    "pull from and set the Workspace's agent.image (see images/README.md); until then schedules and idle shutdown are not enforced",
            );
        }
        return {};
    },
    // A new image or interval re-creates the agent's container; the store is kept, so nothing of
    // the instances changes.
    rules: () => ({ ...wiringRules, image: "live", contextHash: "live", network: "live", checkInterval: "live" }),
    async create(inputs) {
        const state = await ensureAgent(inputs);
        return { id: state.id, outs: { ...inputs, agentId: state.id } };
    },
    async read(id, props) {
        const state = await agentBackend(props).readAgent(props.workspace);
        if (!state) return undefined;
        return {
            ...props,
            agentId: id,
            image: state.image,
            checkInterval: state.checkIntervalSeconds,
            running: state.running,
        };
    },
    async update(_id, olds, news) {
        const state = await ensureAgent(news);
        return { ...olds, ...news, agentId: state.id };
    },
    async delete(_id, props) {
        const backend = agentBackend(props);
        const workspace = props.workspace;
        // The agent is the workspace's, not this stack's: it stays while another stack uses the
        // workspace (recorded on its user files) or has instances in it. (This stack's own
        // instances are being deleted in the same deployment.)
        const instances = (await backend.listInstances(workspace)).filter((i) => i.owner !== props.owner);
        const stacks = (await backend.userFilesUsers(backend.userFilesName(workspace))).filter(
            (o) => o !== props.owner,
        );
        if (instances.length > 0 || stacks.length > 0) return;
        await backend.deleteAgent(workspace);
    },
});

const policyWiring = {
    ...wiringFields,
    instance: nameSchema,
    /** The agent's id: only here so that policies are written after the agent exists. */
    agent: z.string().min(1),
};

const policyRules = { ...wiringRules, instance: "replace", agent: "ignore" } as const;

const NEXT_FIRINGS = 3;

/** Where the schedule is among the instance's, and the whole list, for the checks across schedules. */
const scheduleWiringSchema = z.object({
    ...policyWiring,
    /** Position among the instance's schedules and the whole list, for the checks across schedules. */
    index: z.number().int().min(0),
    all: z.array(z.unknown()),
});
/** The schedule's own fields; its name is checked with the whole list (a default name is a position). */
const scheduleOwnSchema = scheduleSchema.extend({ name: z.string().min(1) });
const SCHEDULE_FIELDS = ["name", "action", "cron", "timeZone", "enabled"] as const;

const scheduleResourceSchema = z.object({ ...scheduleWiringSchema.shape, ...scheduleOwnSchema.shape });

/** Problems of the whole list that concern this schedule, with their paths as the user wrote them. */
function listProblems(all: unknown[], index: number): FieldProblem[] {
    if (containsUnknown(all)) return [];
    const r = schedulesSchema.safeParse(all);
    if (r.success) return [];
    return r.error.issues
        .filter((i) => i.path.length === 0 || i.path[0] === index)
        .map((i) => ({ field: formatPath(["schedules", ...i.path]), message: i.message }));
}

function firings(p: ScheduleSpec): { nextFirings: Firing[] } {
    return { nextFirings: p.enabled ? describeFirings(p, NEXT_FIRINGS, new Date()) : [] };
}

/** The workspace agent's records, on the workspace's backend. */
const recordsOf = (p: { backend: BackendSpec; workspace: string }) =>
    agentRecords(policyBackend(p).agentStore(p.workspace));
const policyValue = (p: ScheduleSpec): ScheduleRecord => ({
    action: p.action,
    cron: p.cron,
    timeZone: p.timeZone,
    enabled: p.enabled,
});

/** A record that cannot be read reads as gone, so the next `up` writes it again: said, not silent. */
function readable<T>(p: Parameters<typeof progressOf>[0], r: ReadOutcome<T>): T | undefined {
    if (r.problem)
        progressOf(p, "").warn(`${r.problem.message}; it reads as gone, and the next \`pulumi up\` writes it again`);
    return r.value;
}

/** A Schedule's or an IdleShutdown's id is the key of its record. */
function keyOf<K extends "schedule" | "idle" | "jobQueue">(kind: K, id: string) {
    const key = decodeKeyOf(kind, id);
    if (!key) throw new Error(`"${id}" is not the key of a ${kind} record of the workspace agent's store`);
    return key;
}

/**
 * One start or stop schedule of an instance. Its outputs show the next firings in UTC and in the
 * schedule's time zone (as of the last deployment or refresh).
 */
export const schedule = defineKind({
    type: "Schedule",
    backend: policyBackend,
    inputs: scheduleResourceSchema,
    outputs: fields<{ nextFirings: Firing[] }>({ nextFirings: true }),
    // The wiring and the schedule's own fields are parsed apart: a preview's unknown in one (an
    // agent not made yet) leaves the other checked, and the whole list checked against it.
    async parse(news) {
        const index = typeof news.index === "number" ? news.index : 0;
        const userPaths = Object.fromEntries(SCHEDULE_FIELDS.map((k) => [k, `schedules[${index}].${k}`]));
        const base = await checkWith(scheduleWiringSchema, news, userPaths);
        const own = await checkWith(scheduleOwnSchema, pick(news, SCHEDULE_FIELDS), userPaths);
        const problems = [
            ...base.problems,
            ...own.problems,
            ...(own.problems.length ? [] : listProblems(Array.isArray(news.all) ? news.all : [], index)),
        ];
        if (problems.length) return { inputs: news, problems };
        const inputs: Props = { ...base.inputs, ...own.inputs };
        const when = own.parsed;
        const gap = when && !containsUnknown([when.cron, when.timeZone]) ? dstGap(when) : undefined;
        if (when && gap) {
            progressOf(inputs, "").warn(
                `schedules[${index}] (${when.action} "${when.cron}" in ${when.timeZone}): ${gap.skipped} does not exist ` +
                    `(clocks go forward); it fires at ${gap.firesAt.local} instead`,
            );
        }
        if (!base.parsed || !own.parsed) return { inputs, problems: [] };
        const parsed = { ...base.parsed, ...own.parsed };
        return { inputs: parsed, problems: [], parsed };
    },
    rules: () => ({
        ...policyRules,
        name: "replace",
        index: "ignore",
        all: "ignore",
        action: "live",
        cron: "live",
        timeZone: "live",
        enabled: "live",
    }),
    async create(inputs) {
        const key = { kind: "schedule", instance: inputs.instance, name: inputs.name } satisfies RecordKey;
        await recordsOf(inputs).write(key, policyValue(inputs));
        return { id: encodeKey(key), outs: { ...inputs, ...firings(inputs) } };
    },
    async read(id, props) {
        const key = decodeKeyOf("schedule", id);
        const have = key && readable(props, await recordsOf(props).read(key));
        if (!have) return undefined;
        const now = { ...props, ...have };
        return { ...now, ...firings(now) };
    },
    async update(id, olds, news) {
        await recordsOf(news).write(keyOf("schedule", id), policyValue(news));
        return { ...olds, ...news, ...firings(news) };
    },
    async delete(id, props) {
        await recordsOf(props).write(keyOf("schedule", id), undefined);
    },
});

/** Idle shutdown of an instance: stopped by the agent after this long with nothing going on. */
export const idleShutdown = defineKind({
    type: "IdleShutdown",
    backend: policyBackend,
    inputs: z.object({ ...policyWiring, after: durationSeconds(MIN_IDLE_SECONDS) }),
    outputs: fields<NoFields>({}),
    userPaths: { after: "idleShutdown.after" },
    rules: () => ({ ...policyRules, after: "live" }),
    async create(inputs) {
        const key = { kind: "idle", instance: inputs.instance } satisfies RecordKey;
        await recordsOf(inputs).write(key, { afterSeconds: inputs.after });
        return { id: encodeKey(key), outs: inputs };
    },
    async read(id, props) {
        const key = decodeKeyOf("idle", id);
        const have = key && readable(props, await recordsOf(props).read(key));
        if (!have) return undefined;
        return { ...props, after: have.afterSeconds };
    },
    async update(id, olds, news) {
        await recordsOf(news).write(keyOf("idle", id), { afterSeconds: news.after as number });
        return { ...olds, ...news };
    },
    async delete(id, props) {
        await recordsOf(props).write(keyOf("idle", id), undefined);
    },
});

function pick(p: Props, keys: readonly string[]): Props {
    return Object.fromEntries(keys.filter((k) => k in p).map((k) => [k, p[k]]));
}

/**
 * An instance's job queue settings: how many jobs it runs at once per core, or none. Without the
 * resource the agent runs two per core. Changes apply at the agent's next check.
 */
export const jobQueue = defineKind({
    type: "JobQueue",
    backend: policyBackend,
    inputs: z.object({ ...policyWiring, ...jobsSchema.shape }),
    outputs: fields<NoFields>({}),
    userPaths: { enabled: "jobs.enabled", perCore: "jobs.perCore" },
    rules: () => ({ ...policyRules, enabled: "live", perCore: "live" }),
    async create(inputs) {
        const key = { kind: "jobQueue", instance: inputs.instance } satisfies RecordKey;
        await recordsOf(inputs).write(key, { enabled: inputs.enabled, perCore: inputs.perCore });
        return { id: encodeKey(key), outs: inputs };
    },
    async read(id, props) {
        const key = decodeKeyOf("jobQueue", id);
        const have = key && readable(props, await recordsOf(props).read(key));
        if (!have) return undefined;
        return { ...props, enabled: have.enabled, perCore: have.perCore };
    },
    async update(id, olds, news) {
        await recordsOf(news).write(keyOf("jobQueue", id), { enabled: news.enabled, perCore: news.perCore });
        return { ...olds, ...news };
    },
    async delete(id, props) {
        await recordsOf(props).write(keyOf("jobQueue", id), undefined);
    },
});
