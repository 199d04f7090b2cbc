/**
 * The workspace quota (Azure: the cores quota a workspace's computes share): every instance's
 * cores and GPUs count, running or stopped (stopping does not release quota, as in Azure),
 * whichever stack made it. Pure: the check is tested without a backend.
 */
import { z } from "zod";
import type { FieldProblem } from "./errors";

export const quotaSchema = z.strictObject({
    cores: z.number({ message: "must be a number of vCPUs" }).positive({ message: "must be more than 0" }).optional(),
    gpus: z
        .number({ message: "must be a number of GPUs" })
        .int({ message: "must be a whole number" })
        .min(0, { message: "must be 0 or more" })
        .optional(),
});
export type Quota = z.output<typeof quotaSchema>;

/** One instance as the quota counts it. */
export interface QuotaUse {
    instance: string;
    /** `project/stack` that manages it. */
    owner: string;
    cpus: number;
    gpus: number;
    /** Whether it is stopped (it still counts). */
    stopped?: boolean;
}

const RESOURCES = [
    { key: "cores", of: (u: QuotaUse) => u.cpus, unit: "cores" },
    { key: "gpus", of: (u: QuotaUse) => u.gpus, unit: "GPUs" },
] as const;

const round = (n: number) => Math.round(n * 1000) / 1000;

/**
 * Problems with a deployment of `declared` (this stack's instances, as the program has them now)
 * given what the backend has (`existing`, every stack's). This stack's instances count as
 * declared: those it no longer declares are deleted by the same deployment. A change that does not
 * add to a quota already exceeded passes, so an unrelated change is never blocked by it.
 */
export function quotaProblems(
    workspace: string,
    quota: Quota,
    owner: string,
    existing: readonly QuotaUse[],
    declared: readonly QuotaUse[],
): FieldProblem[] {
    const others = existing.filter((u) => u.owner !== owner);
    const after = [...others, ...declared].sort((a, b) =>
        a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0,
    );
    const problems: FieldProblem[] = [];
    for (const r of RESOURCES) {
        const limit = quota[r.key];
        if (limit === undefined) continue;
        const total = round(after.reduce((n, u) => n + r.of(u), 0));
        const before = round(existing.reduce((n, u) => n + r.of(u), 0));
        if (total <= limit || total <= before) continue;
        const known = new Set(existing.map((u) => u.instance));
        const users = after
            .filter((u) => r.of(u) > 0)
            .map((u) => {
                const notes = [
                    u.owner === owner ? (known.has(u.instance) ? "" : "new") : `stack ${u.owner}`,
                    u.stopped ? "stopped" : "",
                ].filter(Boolean);
                return `${u.instance} ${round(r.of(u))}${notes.length ? ` (${notes.join(", ")})` : ""}`;
            });
        const already = before > limit ? `; already ${before} before this change` : "";
        problems.push({
            field: `quota.${r.key}`,
            message:
                `workspace "${workspace}" would use ${total} ${r.unit} of its quota of ${limit}${already}: ${users.join(", ")}. ` +
                `Stopped instances count too; raise quota.${r.key}, or make or delete instances`,
        });
    }
    return problems;
}
