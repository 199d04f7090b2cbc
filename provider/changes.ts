/**
 * Change classification: for each resource kind, which input changes apply live (an in-place
 * update, nothing restarts), which need the resource replaced, and which are bookkeeping that
 * never causes a change. Pure, so what survives which change (README.md, "What a preview shows") is
 * tested without I/O.
 */
import { HOST_KEYS } from "./kindKey";

export type FieldClass = "live" | "replace" | "ignore";
export type FieldRule = FieldClass | ((oldValue: unknown, newValue: unknown) => FieldClass);
export type FieldRules = Readonly<Record<string, FieldRule>>;

export interface Classification {
    /** Fields whose value differs (ignored fields excluded). */
    readonly changed: string[];
    /** Changed fields that force a replacement. */
    readonly replaces: string[];
}

/**
 * Compares old state with new inputs field by field. Fields without a rule are treated as
 * replace: an unclassified field must never be applied silently in place.
 */
export function classify(
    rules: FieldRules,
    olds: Record<string, unknown>,
    news: Record<string, unknown>,
): Classification {
    const changed: string[] = [];
    const replaces: string[] = [];
    const keys = new Set([...Object.keys(news), ...Object.keys(rules)]);
    for (const key of keys) {
        if (HOST_KEYS.has(key)) continue;
        if (!(key in news) && !(key in rules)) continue;
        const before = olds[key];
        const after = news[key];
        if (sameValue(before, after)) continue;
        const rule = rules[key] ?? "replace";
        const cls = typeof rule === "function" ? rule(before, after) : rule;
        if (cls === "ignore") continue;
        changed.push(key);
        if (cls === "replace") replaces.push(key);
    }
    return { changed: changed.sort(), replaces: replaces.sort() };
}

/** Structural equality that ignores key order and treats missing and undefined alike. */
export function sameValue(a: unknown, b: unknown): boolean {
    return stableJson(a) === stableJson(b);
}

export function stableJson(v: unknown): string {
    return (
        JSON.stringify(v, (_k, value) =>
            value && typeof value === "object" && !Array.isArray(value)
                ? Object.fromEntries(
                      Object.entries(value)
                          .filter(([, x]) => x !== undefined)
                          .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
                  )
                : value,
        ) ?? "undefined"
    );
}

/** A size that only grows in place: growing is live, shrinking replaces (data could not fit). */
export const growOnly = (before: unknown, after: unknown): FieldClass =>
    typeof before === "number" && typeof after === "number" && after >= before ? "live" : "replace";
