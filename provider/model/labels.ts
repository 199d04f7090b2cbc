/**
 * The user's labels on an instance (Azure: tags), for cost allocation and for finding instances
 * by team or project. Kubernetes' label rules hold on every backend, so a stack moves between
 * backends without a label becoming invalid. Pure.
 */
import { z } from "zod";

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Prefixes that belong to this project or to Kubernetes itself. */
const RESERVED = /(^|\.)(kubernetes\.io|k8s\.io)$|^compute-instance\.pulumi\.io$/;
export const MAX_LABELS = 32;

function keyProblem(key: string): string | undefined {
    const slash = key.lastIndexOf("/");
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if (prefix !== undefined) {
        if (prefix.length > 253 || !PREFIX.test(prefix))
            return `label "${key}": the prefix before "/" must be a DNS subdomain (lowercase letters, digits, '-' and '.')`;
        if (RESERVED.test(prefix))
            return `label "${key}": the prefix "${prefix}/" is reserved (it belongs to ${prefix.startsWith("compute-instance") ? "this project" : "Kubernetes"})`;
    }
    if (!NAME.test(name))
        return `label "${key}": the name must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
    return undefined;
}

function valueProblem(key: string, value: string): string | undefined {
    if (value === "" || NAME.test(value)) return undefined;
    return `label "${key}": the value "${value}" must be empty or 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
}

export const labelsSchema = z
    .record(z.string(), z.string({ message: "must be a string" }))
    .superRefine((labels, ctx) => {
        const keys = Object.keys(labels);
        if (keys.length > MAX_LABELS)
            ctx.addIssue({ code: "custom", message: `must have at most ${MAX_LABELS} labels, got ${keys.length}` });
        for (const k of keys) {
            const problem = keyProblem(k) ?? valueProblem(k, labels[k]);
            if (problem) ctx.addIssue({ code: "custom", path: [k], message: problem });
        }
    });

export type Labels = Record<string, string>;

/**
 * A strategic-merge / JSON-merge patch that turns `before` into `after`: removed keys are null.
 */
export function labelsPatch(before: Labels, after: Labels): Record<string, string | null> {
    const patch: Record<string, string | null> = { ...after };
    for (const k of Object.keys(before)) if (!(k in after)) patch[k] = null;
    return patch;
}
