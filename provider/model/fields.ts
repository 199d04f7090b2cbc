/**
 * Field schemas and limits shared by the input schemas: names, disk sizes, durations, the
 * environment the instance keeps for itself.
 */
import { z } from "zod";
import { parseDurationSeconds } from "./duration";

/** The OS disk Azure gives a compute instance (P10, 128 GiB). */
export const DEFAULT_OS_DISK_GB = 128;
/** Size of the workspace's user-files store when none is given. */
export const DEFAULT_USER_FILES_GB = 100;
export const MAX_DISK_GB = 65536;

/** Environment variable names the instance sets itself. */
export const RESERVED_ENV = [
    "JUPYTER_TOKEN",
    "JUPYTER_TOKEN_FILE",
    "NOTEBOOK_DIR",
    "INSTANCE_USER",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PATH",
    "ENV",
    "BASH_ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "IFS",
    "CDPATH",
    "GLOBIGNORE",
    "PS4",
];
/**
 * Prefixes of names the instance's entry point owns (`CI_*`), or that change what a program does
 * before it reads a line of its own: the dynamic loader (`LD_*`), Python (`PYTHON*`) and bash's
 * exported functions. The entry point starts as root: a variable of these would run the user's
 * files with its privileges.
 */
export const RESERVED_ENV_PREFIXES = ["CI_", "LD_", "PYTHON", "BASH_FUNC_"];

/** Why a variable name cannot be set through `env`, or undefined when it can. */
export function reservedEnvProblem(name: string): string | undefined {
    const prefix = RESERVED_ENV_PREFIXES.find((p) => name.startsWith(p));
    if (!RESERVED_ENV.includes(name) && !prefix) return undefined;
    const why =
        prefix === "CI_"
            ? "is the instance's own"
            : prefix
              ? "changes how programs start (the entry point runs as root)"
              : "is set by the instance itself";
    return (
        `${why}; reserved: ${RESERVED_ENV.join(", ")} and names starting with ${RESERVED_ENV_PREFIXES.join(", ")}` +
        (prefix === "PYTHON"
            ? " (set Python's variables in a kernel's kernel.json, or in ~/.bashrc from a startup script)"
            : "")
    );
}

// Azure's rule for compute names (3 to 24 characters, starting with a letter), lower-cased so the
// same name is valid for Docker containers and Kubernetes objects.
const NAME_RULE = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/;
export const nameSchema = z.string().regex(NAME_RULE, {
    message:
        "must be 3 to 24 characters: lowercase letters, digits and '-', starting with a letter and not ending with '-'",
});

export const diskSizeGb = z
    .number({ message: "must be a number of GiB" })
    .int({ message: "must be a whole number of GiB" })
    .min(1, { message: "must be at least 1 GiB" })
    .max(MAX_DISK_GB, { message: `must be at most ${MAX_DISK_GB} GiB` });

/** A duration field: text (`"30m"`, `"PT30M"`) or seconds, at least `minSeconds`. */
export const durationSeconds = (minSeconds: number) =>
    z.union([z.string(), z.number()]).transform((v, ctx) => {
        const seconds = typeof v === "number" ? v : parseDurationSeconds(v);
        if (seconds === undefined || !Number.isFinite(seconds)) {
            ctx.addIssue({
                code: "custom",
                message: `"${v}" is not a duration; write e.g. "90s", "5m", "1h30m" or ISO 8601 "PT5M"`,
            });
            return z.NEVER;
        }
        if (seconds < minSeconds) {
            ctx.addIssue({ code: "custom", message: `must be at least ${minSeconds}s, got ${seconds}s` });
            return z.NEVER;
        }
        return seconds;
    });

/** Reports a nested schema's issues under `prefix`, where the user wrote them. */
export function forward(ctx: z.RefinementCtx, error: z.ZodError, prefix: PropertyKey[]): never {
    for (const issue of error.issues) {
        ctx.addIssue({ ...issue, path: [...prefix, ...issue.path] } as z.core.$ZodRawIssue);
    }
    return z.NEVER;
}

/** A TCP port number, at least `min` (`tooLow` says why a smaller one is refused). */
export const portNumber = (min: number, tooLow: string) =>
    z
        .number({ message: "must be a port number" })
        .int({ message: "must be a whole number" })
        .min(min, { message: tooLow })
        .max(65535, { message: min === 1 ? tooLow : "must be at most 65535" });
