/**
 * The runtime of an instance: the container (Docker) or pod (Kubernetes) that serves its
 * applications, with the disks and the user files mounted.
 */
import { z } from "zod";
import {
    CAPABILITIES,
    InstanceStatus,
    KeptForInspectionError,
    LiveChanges,
    RuntimeSpec,
    RuntimeState,
} from "../backends/backend";
import { endpointsFor, Endpoints, PublishedPorts } from "../model/endpoints";
import { Application } from "../model/applications";
import { BackendSpec } from "../model/backendSchema";
import { InstanceNetwork, instanceNetworkSchema, resolveInboundRules } from "../model/instanceNetwork";
import { instanceFields } from "../model/schema";
import { nameSchema } from "../model/fields";
import { CreatedButFailedError, uses, progressOf, wiringFields, wiringRules } from "./kind";
import { Recorded, Rules, defineKind, fields } from "./defineKind";
import { capacityOf } from "../backends/registry";
import { capacityProblems } from "../capacity";
import { containsUnknown } from "../model/validate";
import { sharingPolicySchema } from "../model/access";
import { INSTANCE_USER } from "../backends/layout";
import type { Labels } from "../model/labels";
import { setupScriptsSchema } from "../model/setup";
import { sameValue } from "../changes";

const backendOf = uses("connection", "runtimes");

const runtimeSchema = z
    .object({
        ...wiringFields,
        instance: nameSchema,
        size: instanceFields.size,
        image: z.string().min(1, { message: "must not be empty" }),
        applications: instanceFields.applications,
        customApplications: instanceFields.customApplications,
        env: instanceFields.env,
        readyTimeout: instanceFields.readyTimeout,
        ssh: instanceFields.ssh,
        assignedUser: instanceFields.assignedUser,
        networkRules: instanceFields.network,
        firewallImage: z.string().min(1).optional(),
        osDisk: z.string().min(1),
        tempDisk: z.string().min(1),
        tempDiskGb: z.number().int().min(1),
        userFiles: z.string().min(1),
        network: z.string().min(1),
        token: z.string().min(16),
        setupScripts: setupScriptsSchema.optional(),
        /** The instance's applicationSharingPolicy. */
        sharing: sharingPolicySchema.optional(),
        labels: instanceFields.labels,
        /** Docker: orders the runtime after the workspace agent, which keeps its labels. */
        agent: z.string().optional(),
    })
    .transform(({ size, readyTimeout, networkRules, ...rest }, ctx) => ({
        ...rest,
        ...(networkRules
            ? { networkRules: resolved(networkRules, rest.applications, rest.ssh !== undefined, ctx) }
            : {}),
        // The size as written (catalog name, canonical spelling) and the figures it stands for,
        // so a preview shows both "size" and the cpus/memory that change with it.
        size: size.name === "custom" ? { cpus: size.cpus, memoryGb: size.memoryGb, gpus: size.gpus } : size.name,
        cpus: size.cpus,
        memoryGb: size.memoryGb,
        gpus: size.gpus,
        readyTimeoutSeconds: readyTimeout,
    }));

type RuntimeInputs = z.output<typeof runtimeSchema>;

/** What the runtime reports of itself. The power state is kept as last set by a deployment. */
type RuntimeOutputs = {
    status: InstanceStatus;
    endpoints: Endpoints;
    ports: PublishedPorts;
    /** The engine's own id of the running unit (container id, pod uid). */
    containerId: string;
    cpus: number;
    memoryGb: number;
    gpus: number;
    readyTimeoutSeconds: number;
    image: string;
    labels: Labels;
    liveToken: boolean;
    /** Left by a create whose setup failed (kept for inspection). */
    createFailed?: true;
};

export function resolved(
    net: z.output<typeof instanceNetworkSchema>,
    applications: Application[],
    sshOn: boolean,
    ctx: z.RefinementCtx,
): InstanceNetwork {
    const { network, problems } = resolveInboundRules(net, applications, sshOn);
    for (const p of problems) ctx.addIssue({ code: "custom", path: ["networkRules", ...p.path], message: p.message });
    return network;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** What publishing looks like: a change of it restarts the container; a change of ranges only does not. */
function publishing(v: unknown): string {
    const n = isRecord(v) ? v : {};
    return JSON.stringify({
        publicBind: n.publicBind ?? false,
        services: Array.isArray(n.inbound)
            ? n.inbound.map((r: unknown) => (isRecord(r) ? r.service : r)).sort()
            : "all",
    });
}

/** What the backend runs: the checked inputs, less what only the provider uses. */
function specOf(inputs: RuntimeInputs & Recorded): RuntimeSpec {
    const {
        backend: _backend,
        backendId: _backendId,
        progressUrn: _progressUrn,
        sharing: _sharing,
        agent: _agent,
        size,
        ssh,
        customApplications,
        ...same
    } = inputs;
    return {
        ...same,
        sizeName: typeof size === "string" ? size : "custom",
        ssh: ssh ?? null,
        ...(customApplications.length ? { customApplications } : {}),
    };
}

/** Outputs from what the backend reports. */
function observed<P extends RuntimeInputs>(props: P, state: RuntimeState, status: InstanceStatus) {
    return {
        ...props,
        image: state.image,
        cpus: state.cpus,
        memoryGb: state.memoryGb,
        gpus: state.gpus,
        containerId: state.uid,
        status,
        ports: state.ports,
        endpoints: endpointsFor(
            props.applications,
            state.host,
            state.ports,
            INSTANCE_USER,
            // States from before custom applications existed have none.
            props.customApplications ?? [],
        ),
        // Always there: an output missing from the state reads as unknown in a preview.
        labels: state.labels,
        liveToken: state.liveToken,
    };
}

/**
 * `liveToken`: the instance's image re-reads its token (image contract 3), so a new token — a
 * rotation, a change of sharing policy — applies without a restart.
 */
export function runtimeRules(
    liveResize: boolean,
    liveTempDiskResize = true,
    liveToken = false,
): Rules<RuntimeInputs, RuntimeOutputs> {
    const resize = liveResize ? "live" : "replace";
    return {
        ...wiringRules,
        instance: "replace",
        // The name is a label; what it means shows (and is classified) in cpus, memoryGb, gpus.
        size: "live",
        cpus: resize,
        memoryGb: resize,
        gpus: "replace",
        image: "replace",
        applications: "replace",
        // An empty list is no list (states from before the field existed have none).
        customApplications: (before, after) => (sameValue(before ?? [], after ?? []) ? "ignore" : "replace"),
        env: "replace",
        token: liveToken ? "live" : "replace",
        osDisk: "replace",
        tempDisk: "replace",
        tempDiskGb: liveTempDiskResize ? "live" : "replace",
        userFiles: "replace",
        network: "replace",
        readyTimeoutSeconds: "live",
        // sshd and its published port are the container's: a restart turns SSH on, off or re-keys it.
        ssh: "replace",
        // Labels of a container are fixed at creation; on Kubernetes the pod's labels and the
        // user's RoleBinding change with it.
        assignedUser: "replace",
        // Which ports are published, and where, is the container's; who may connect is the
        // instance's inbound NetworkRule's (live). The runtime applies the ranges only when it is
        // created, before its ports open.
        networkRules: (before, after) => (publishing(before) === publishing(after) ? "ignore" : "replace"),
        // Only used to apply the rules: a new agent image is no reason to touch the instance.
        firewallImage: "ignore",
        // Labels are the user's bookkeeping (Azure: tags): Kubernetes relabels the objects in
        // place; Docker keeps them with the workspace agent (a container's labels are fixed).
        labels: (before, after) => (sameValue(before ?? {}, after ?? {}) ? "ignore" : "live"),
        agent: "ignore",
        // The scripts run at start: a new script is a restart (the creation script then runs
        // once more, as its hash on the OS disk differs).
        setupScripts: "replace",
        // What a sharing change does is the token's change; this says why in the preview.
        sharing: (before, after) => ((before ?? "Personal") === (after ?? "Personal") ? "ignore" : "live"),
        // Left by a create whose setup failed (kept for inspection): the next `up` makes it anew.
        createFailed: (before) => (before === true ? "replace" : "ignore"),
    };
}

/** The backend's type, from a value that may not have been checked (a preview's unknown). */
function backendType(v: unknown): BackendSpec["kind"] | undefined {
    const type = isRecord(v) ? v.kind : undefined;
    return type === "docker" || type === "kubernetes" ? type : undefined;
}

export const runtime = defineKind({
    type: "Runtime",
    backend: backendOf,
    inputs: runtimeSchema,
    outputs: fields<RuntimeOutputs>({
        status: true,
        endpoints: true,
        ports: true,
        containerId: true,
        cpus: true,
        memoryGb: true,
        gpus: true,
        readyTimeoutSeconds: true,
        image: true,
        labels: true,
        liveToken: true,
        createFailed: true,
    }),
    userPaths: { readyTimeout: "readyTimeout", networkRules: "network" },
    // Capacity needs the backend and the size; other values may still be unknown in a preview.
    async check(inputs) {
        if (containsUnknown(inputs.backend)) return {};
        const backend = backendOf(inputs);
        const size = {
            name: typeof inputs.size === "string" ? inputs.size : "custom",
            cpus: inputs.cpus,
            memoryGb: inputs.memoryGb,
            gpus: inputs.gpus,
        };
        return { problems: capacityProblems(size, await capacityOf(inputs.backend), `the ${backend.description}`) };
    },
    rules(news, olds) {
        const type = backendType(news.backend);
        const can = type ? CAPABILITIES[type] : undefined;
        return runtimeRules(can?.liveResize ?? false, can?.liveTempDiskResize ?? false, olds.liveToken === true);
    },
    // The old container holds the name, the host ports and the OS disk the new one needs.
    deleteBeforeReplace: true,
    async create(inputs) {
        const progress = progressOf(inputs, inputs.instance);
        const backend = backendOf(inputs);
        try {
            const state = await backend.createRuntime(specOf(inputs), progress);
            return { id: state.id, outs: observed(inputs, state, state.status) };
        } catch (e) {
            if (!(e instanceof KeptForInspectionError)) throw e;
            const state = await backend.readRuntime(e.runtimeId).catch(() => undefined);
            const outs = state ? observed(inputs, state, "SetupFailed") : { ...inputs, status: "SetupFailed" };
            throw new CreatedButFailedError(e.message, e.runtimeId, { ...outs, createFailed: true });
        }
    },
    async read(id, props) {
        const state = await backendOf(props).readRuntime(id);
        return state ? observed(props, state, props.status) : undefined;
    },
    async update(id, olds, news) {
        const changes: LiveChanges = {};
        if (olds.cpus !== news.cpus) changes.cpus = news.cpus;
        if (olds.memoryGb !== news.memoryGb) changes.memoryGb = news.memoryGb;
        if (!sameValue(olds.labels ?? {}, news.labels ?? {})) changes.labels = news.labels ?? {};
        if (olds.token !== news.token) changes.token = news.token;
        const backend = backendOf(news);
        const state = Object.keys(changes).length
            ? await backend.updateRuntime(id, changes)
            : await backend.readRuntime(id);
        if (!state)
            throw new Error(
                `${id} is gone from the ${backend.description}; run \`pulumi refresh\`, then \`pulumi up\` recreates it`,
            );
        return observed({ ...olds, ...news }, state, olds.status);
    },
    async delete(id, props) {
        await backendOf(props).deleteRuntime(id);
    },
});
