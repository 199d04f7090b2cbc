import * as pulumi from "@pulumi/pulumi";

/**
 * The parts of a user's args that are plain values now (no Output or Promise inside), so they can
 * be validated in the constructor; the rest is validated by the providers once known.
 */
export function plainParts(args: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(args).filter(([, v]) => isPlain(v)));
}

export function isPlain(v: unknown): boolean {
    if (pulumi.Output.isInstance(v) || v instanceof Promise) return false;
    if (Array.isArray(v)) return v.every(isPlain);
    if (v && typeof v === "object" && !(v instanceof pulumi.Resource)) return Object.values(v).every(isPlain);
    return true;
}
