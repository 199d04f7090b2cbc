/**
 * The workspace quota as a resource of the Workspace: `<workspace>-quota`. Its check is where a
 * preview that would exceed the quota fails, counting every stack's instances of the workspace
 * (read from the backend) and this stack's as the program now declares them. The stack that
 * declares a quota keeps it in the workspace agent's store, so stacks that do not declare one are
 * held to it too; a change of quota is this resource's update, live.
 */
import { z } from "zod";
import type { FieldProblem } from "../model/errors";
import { Quota, QuotaUse, quotaProblems, quotaSchema } from "../model/quota";
import { instanceFields } from "../model/schema";
import { containsUnknown } from "../model/validate";
import { QuotaRecord, ReadOutcome, agentRecords } from "../model/agentProtocol";
import { Props, ResourceKind, backendOf, checkWith, progressOf, wiringFields, wiringRules } from "./kind";

const quotaResourceSchema = z.object({
    ...wiringFields,
    quota: quotaSchema.optional(),
    /** This stack's instances of the workspace, as the program declares them now. */
    instances: z.array(z.object({ instance: z.string(), size: z.unknown() })).default([]),
    /** States written before the Workspace ordered the quota with dependsOn had the agent's id here. */
    agent: z.string().optional(),
});

const recordsOf = (p: Props) => agentRecords(backendOf(p).agentStore(p.workspace as string));

/** What the workspace's agent store holds: the quota and the stack that set it. */
async function storedQuota(p: Props): Promise<QuotaRecord | undefined> {
    const r = await recordsOf(p)
        .read({ kind: "quota" })
        .catch((): ReadOutcome<QuotaRecord> => ({}));
    if (r.problem)
        progressOf(p, "").warn(`${r.problem.message}; no quota is read from there until a stack sets it again`);
    return r.value;
}

function declaredUse(p: Props): QuotaUse[] | undefined {
    const out: QuotaUse[] = [];
    for (const i of (p.instances ?? []) as { instance: string; size: unknown }[]) {
        const size = instanceFields.size.safeParse(i.size ?? undefined);
        // An invalid size is the runtime's to report; a default size is the default's figures.
        if (!size.success) return undefined;
        out.push({ instance: i.instance, owner: p.owner as string, cpus: size.data.cpus, gpus: size.data.gpus });
    }
    return out;
}

async function checkQuota(news: Props): Promise<{ inputs: Props; problems: FieldProblem[] }> {
    const outcome = await checkWith(quotaResourceSchema, news);
    const i = outcome.inputs;
    if (
        outcome.problems.length ||
        containsUnknown(i.instances) ||
        containsUnknown(i.quota) ||
        containsUnknown(i.backend)
    )
        return outcome;
    const declared = i.quota as Quota | undefined;
    const stored = declared ? undefined : await storedQuota(i);
    const quota = declared ?? stored;
    if (!quota || (quota.cores === undefined && quota.gpus === undefined)) return outcome;
    const use = declaredUse(i);
    if (!use) return outcome;
    const existing = await backendOf(i).workspaceUsage(i.workspace as string);
    const problems = quotaProblems(i.workspace as string, quota, i.owner as string, existing, use).map((p) => ({
        ...p,
        message:
            stored && stored.owner !== i.owner ? `${p.message} (the quota is set by stack ${stored.owner})` : p.message,
    }));
    return { inputs: i, problems };
}

async function remember(p: Props): Promise<void> {
    const quota = p.quota as Quota | undefined;
    if (quota) await recordsOf(p).write({ kind: "quota" }, { ...quota, owner: p.owner as string });
}

async function forget(p: Props): Promise<void> {
    if (!p.quota) return;
    // Only the quota this stack set: another stack may have set its own since.
    const stored = await storedQuota(p);
    if (stored?.owner === p.owner) await recordsOf(p).write({ kind: "quota" }, undefined);
}

export const quota: ResourceKind = {
    check: (news) => checkQuota(news),
    rules: () => ({ ...wiringRules, quota: "live", instances: "ignore", agent: "ignore" }),
    async create(inputs) {
        await remember(inputs);
        return { id: `${inputs.workspace as string}-quota`, outs: inputs };
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
};
