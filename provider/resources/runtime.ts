/**
 * The runtime of an instance: the container (Docker) or pod (Kubernetes) that serves its
 * applications, with the disks and the user files mounted.
 */
import { z } from "zod";
import { CAPABILITIES, KeptForInspectionError, LiveChanges, RuntimeSpec, RuntimeState } from "../backends/backend";
import { FieldRules } from "../changes";
import { endpointsFor } from "../model/endpoints";
import {
    Application,
    BackendSpec,
    CustomApplication,
    InstanceNetwork,
    instanceFields,
    instanceNetworkSchema,
    nameSchema,
    resolveInboundRules,
} from "../model/schema";
import {
    CreatedButFailedError,
    Props,
    ResourceKind,
    backendOf,
    checkWith,
    progressOf,
    wiringFields,
    wiringRules,
} from "./kind";
import { capacityOf } from "../backends";
import { capacityProblems } from "../capacity";
import { containsUnknown } from "../model/validate";
import { AssignedUser, SshSpec, sharingPolicySchema } from "../model/access";
import { INSTANCE_USER } from "../backends/layout";
import type { Labels } from "../model/labels";
import { SetupScripts, setupScriptsSchema } from "../model/setup";
import { sameValue } from "../changes";

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

/** What publishing looks like: a change of it restarts the container; a change of ranges only does not. */
function publishing(v: unknown): string {
    const n = v as InstanceNetwork | undefined;
    return JSON.stringify({
        publicBind: n?.publicBind ?? false,
        services: n?.inbound ? n.inbound.map((r) => r.service).sort() : "all",
    });
}

function specOf(p: Props): RuntimeSpec {
    const size = p.size;
    return {
        workspace: p.workspace as string,
        owner: p.owner as string,
        instance: p.instance as string,
        image: p.image as string,
        sizeName: typeof size === "string" ? size : "custom",
        cpus: p.cpus as number,
        memoryGb: p.memoryGb as number,
        gpus: p.gpus as number,
        applications: p.applications as Application[],
        env: p.env as Record<string, string>,
        token: p.token as string,
        osDisk: p.osDisk as string,
        tempDisk: p.tempDisk as string,
        tempDiskGb: p.tempDiskGb as number,
        userFiles: p.userFiles as string,
        network: p.network as string,
        readyTimeoutSeconds: p.readyTimeoutSeconds as number,
        ssh: (p.ssh as SshSpec | null | undefined) ?? null,
        ...(p.assignedUser ? { assignedUser: p.assignedUser as AssignedUser } : {}),
        ...(p.networkRules ? { networkRules: p.networkRules as InstanceNetwork } : {}),
        ...(p.firewallImage ? { firewallImage: p.firewallImage as string } : {}),
        ...(p.labels ? { labels: p.labels as Labels } : {}),
        ...(p.setupScripts ? { setupScripts: p.setupScripts as SetupScripts } : {}),
        ...((p.customApplications as CustomApplication[] | undefined)?.length
            ? { customApplications: p.customApplications as CustomApplication[] }
            : {}),
    };
}

/** Outputs from what the backend reports. The power state is runtime state and is kept as last set by a deployment. */
function observed(props: Props, state: RuntimeState, status = props.status): Props {
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
            props.applications as Application[],
            state.host,
            state.ports,
            INSTANCE_USER,
            (props.customApplications ?? []) as CustomApplication[],
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
export function runtimeRules(liveResize: boolean, liveTempDiskResize = true, liveToken = false): FieldRules {
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

async function checkRuntime(news: Props) {
    const outcome = await checkWith(runtimeSchema, news, { readyTimeout: "readyTimeout", networkRules: "network" });
    const i = outcome.inputs;
    // Capacity needs the backend and the size; other values may still be unknown in a preview.
    if (outcome.problems.length || typeof i.cpus !== "number" || containsUnknown(news.backend)) return outcome;
    const backend = backendOf(i);
    const size = {
        name: typeof i.size === "string" ? i.size : "custom",
        cpus: i.cpus as number,
        memoryGb: i.memoryGb as number,
        gpus: i.gpus as number,
    };
    return {
        inputs: i,
        problems: capacityProblems(size, await capacityOf(i.backend as BackendSpec), `the ${backend.description}`),
    };
}

export const runtime: ResourceKind = {
    check: (news) => checkRuntime(news),
    rules(news, olds) {
        const kind = (news.backend as BackendSpec | undefined)?.kind;
        const can = kind === "docker" || kind === "kubernetes" ? CAPABILITIES[kind] : undefined;
        return runtimeRules(can?.liveResize ?? false, can?.liveTempDiskResize ?? false, olds.liveToken === true);
    },
    // The old container holds the name, the host ports and the OS disk the new one needs.
    deleteBeforeReplace: true,
    async create(inputs) {
        const progress = progressOf(inputs, inputs.instance as string);
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
        return state ? observed(props, state) : undefined;
    },
    async update(id, olds, news) {
        const changes: LiveChanges = {};
        if (olds.cpus !== news.cpus) changes.cpus = news.cpus as number;
        if (olds.memoryGb !== news.memoryGb) changes.memoryGb = news.memoryGb as number;
        if (!sameValue(olds.labels ?? {}, news.labels ?? {})) changes.labels = (news.labels ?? {}) as Labels;
        if (olds.token !== news.token) changes.token = news.token as string;
        const backend = backendOf(news);
        const state = Object.keys(changes).length
            ? await backend.updateRuntime(id, changes)
            : await backend.readRuntime(id);
        if (!state)
            throw new Error(
                `${id} is gone from the ${backend.description}; run \`pulumi refresh\`, then \`pulumi up\` recreates it`,
            );
        return observed({ ...olds, ...news }, state);
    },
    async delete(id, props) {
        await backendOf(props).deleteRuntime(id);
    },
};
