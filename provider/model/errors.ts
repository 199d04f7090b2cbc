import type { z } from "zod";

/** One problem with user input: the field path, as the user wrote it, and what is wrong. */
export interface FieldProblem {
    /** Dotted path with indexes, e.g. `size.memoryGb` or `applications[1]`. */
    readonly field: string;
    readonly message: string;
}

/** Thrown for invalid input; the message names every field at fault, one per line. */
export class ValidationError extends Error {
    constructor(
        readonly subject: string,
        readonly problems: readonly FieldProblem[],
    ) {
        super(`${subject}: ${problems.map(formatProblem).join("; ")}`);
        this.name = "ValidationError";
    }
}

export function formatProblem(p: FieldProblem): string {
    return p.field ? `[${p.field}] ${p.message}` : p.message;
}

export function formatPath(path: readonly PropertyKey[]): string {
    let out = "";
    for (const seg of path) {
        if (typeof seg === "number") out += `[${seg}]`;
        else out += out ? `.${String(seg)}` : String(seg);
    }
    return out;
}

/** Turns zod issues into problems whose messages say what is allowed. */
export function problemsFromZod(
    error: { issues: readonly z.core.$ZodIssue[] },
    prefix: readonly PropertyKey[] = [],
): FieldProblem[] {
    return error.issues.map((issue) => ({
        field: formatPath([...prefix, ...issue.path]),
        message: describeIssue(issue),
    }));
}

function describeIssue(issue: z.core.$ZodIssue): string {
    switch (issue.code) {
        case "invalid_value":
            return `${issue.message}; allowed: ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
        case "invalid_key":
            // A record key that failed its own schema: its message says what is wrong.
            return issue.issues.map((i) => i.message).join("; ");
        case "unrecognized_keys":
            return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
        default:
            return issue.message;
    }
}
