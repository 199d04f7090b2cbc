/**
 * The workspace quota as a resource of the Workspace: `<workspace>-quota`. Its check is where a
 * preview that would exceed the quota fails, counting every stack's instances of the workspace
 * (read from the backend) and this stack's as the program now declares them. The stack that
 * declares a quota keeps it in the workspace agent's store, so stacks that do not declare one are
 * held to it too; a change of quota is this resource's update, live.
 */
import { z } from "zod";
import { QuotaUse, quotaProblems, quotaSchema } from "../model/quota";
import { BackendSpec } from "../model/backendSchema";
import { instanceFields } from "../model/schema";
import { containsUnknown } from "../model/validate";
import { QuotaRecord, ReadOutcome, agentRecords } from "../model/agentProtocol";
import { uses, progressOf, wiringFields, wiringRules } from "./kind";
import { NoFields, defineKind, fields } from "./defineKind";

const backendOf = uses("agentHost", "inventory");

const quotaResourceSchema = z.object({
    ...wiringFields,
    quota: quotaSchema.optional(),
    /** This stack's instances of the workspace, as the program declares them now. */
    instances: z.array(z.object({ instance: z.string(), size: z.unknown() })).default([]),
    /** States written before the Workspace ordered the quota with dependsOn had the agent's id here. */
    agent: z.string().optional(),
});

type QuotaInputs = z.output<typeof quotaResourceSchema>;

/** The workspace agent's records, on the workspace's backend. */
const recordsOf = (p: { backend: BackendSpec; workspace: string }) =>
    agentRecords(backendOf(p).agentStore(p.workspace));

/** What the workspace's agent store holds: the quota and the stack that set it. */
async function storedQuota(p: QuotaInputs): Promise<QuotaRecord | undefined> {
    const r = await recordsOf(p)
        .read({ kind: "quota" })
        .catch((): ReadOutcome<QuotaRecord> => ({}));
    if (r.problem)
        progressOf(p, "").warn(`${r.problem.message}; no quota is read from there until a stack sets it again`);
    return r.value;
}

function declaredUse(p: QuotaInputs): QuotaUse[] | undefined {
    const out: QuotaUse[] = [];
    // States from before the quota counted instances have none.
    for (const i of p.instances ?? []) {
        const size = instanceFields.size.safeParse(i.size ?? undefined);
        // An invalid size is the runtime's to report; a default size is the default's figures.
        if (!size.success) return undefined;
        out.push({ instance: i.instance, owner: p.owner, cpus: size.data.cpus, gpus: size.data.gpus });
    }
    return out;
}

async function remember(p: QuotaInputs): Promise<void> {
    const quota = p.quota;
    if (quota) await recordsOf(p).write({ kind: "quota" }, { ...quota, owner: p.owner });
}

async function forget(p: QuotaInputs): Promise<void> {
    if (!p.quota) return;
    // Only the quota this stack set: another stack may have set its own since.
    const stored = await storedQuota(p);
    if (stored?.owner === p.owner) await recordsOf(p).write({ kind: "quota" }, undefined);
}

export const quota = defineKind({
    type: "Quota",
    backend: backendOf,
    inputs: quotaResourceSchema,
    outputs: fields<NoFields>({}),
    async check(i) {
        if (containsUnknown(i.instances) || containsUnknown(i.quota) || containsUnknown(i.backend)) return {};
        const declared = i.quota;
        const stored = declared ? undefined : await storedQuota(i);
        const quota = declared ?? stored;
        if (!quota || (quota.cores === undefined && quota.gpus === undefined)) return {};
        const use = declaredUse(i);
        if (!use) return {};
        const existing = await backendOf(i).workspaceUsage(i.workspace);
        const problems = quotaProblems(i.workspace, quota, i.owner, existing, use).map((p) => ({
            ...p,
            message:
                stored && stored.owner !== i.owner
                    ? `${p.message} (the quota is set by stack ${stored.owner})`
                    : p.message,
        }));
        return { problems };
    },
    rules: () => ({ ...wiringRules, quota: "live", instances: "ignore", agent: "ignore" }),
    async create(inputs) {
        await remember(inputs);
        return { id: `${inputs.workspace}-quota`, outs: inputs };
    },
    async read(_id, props) {
        if (!props.quota) return props;
        // Set since by another stack, or removed: what the store holds is the quota now.
        const stored = await storedQuota(props);
        if (!stored) {
            const { quota: _gone, ...rest } = props;
            return rest;
        }
        const { owner: _, ...value } = stored;
        return { ...props, quota: value };
    },
    async update(_id, olds, news) {
        if (news.quota) await remember(news);
        else await forget(olds);
        return news;
    },
    async delete(_id, props) {
        await forget(props);
    },
});
