import type { z } from "zod";
import { FieldProblem, ValidationError, problemsFromZod } from "./errors";

/**
 * The value Pulumi puts in a property whose value is not known yet (during a preview, before the
 * resource it comes from exists). The dynamic provider host passes it through as this string.
 */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export function containsUnknown(value: unknown): boolean {
    return unknownPaths(value).length > 0;
}

export function unknownPaths(value: unknown, path: PropertyKey[] = []): PropertyKey[][] {
    if (value === UNKNOWN) return [path];
    if (Array.isArray(value)) return value.flatMap((v, i) => unknownPaths(v, [...path, i]));
    if (value && typeof value === "object") {
        return Object.entries(value).flatMap(([k, v]) => unknownPaths(v, [...path, k]));
    }
    return [];
}

function isPrefix(a: readonly PropertyKey[], b: readonly PropertyKey[]): boolean {
    return a.length <= b.length && a.every((seg, i) => seg === b[i]);
}

/** Parses `value`, throwing a {@link ValidationError} that names every field at fault. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, subject: string): z.output<S> {
    const r = schema.safeParse(value);
    if (!r.success) throw new ValidationError(subject, problemsFromZod(r.error));
    return r.data;
}

/**
 * Validates what is known of `value`: problems at or under a value that is still unknown (or
 * that contain one) are dropped, since a preview cannot judge them yet; they are checked again
 * once the value is known, before anything is created.
 */
export function knownProblems<S extends z.ZodType>(
    schema: S,
    value: unknown,
): { problems: FieldProblem[]; data?: z.output<S> } {
    const r = schema.safeParse(value);
    if (r.success) return { problems: [], data: r.data };
    const unknown = unknownPaths(value);
    const issues = r.error.issues.filter(
        (issue) => !unknown.some((u) => isPrefix(u, issue.path) || isPrefix(issue.path, u)),
    );
    return { problems: problemsFromZod({ issues }) };
}
