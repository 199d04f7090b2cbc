/**
 * Setup scripts (Azure: `setupScripts`): a creation script that runs once per OS disk and per
 * content, and a startup script that runs at every start. Written inline or read from a file when
 * the program runs (so a preview shows an edit as a change of content). Pure, apart from
 * {@link readScriptSources}, which reads the files the program names.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import type { FieldProblem } from "./errors";
import { parseDurationSeconds } from "./duration";

export const SCRIPT_STAGES = ["creation", "startup"] as const;
export type ScriptStage = (typeof SCRIPT_STAGES)[number];
export const MAX_SCRIPT_BYTES = 64 * 1024;
export const DEFAULT_SETUP_TIMEOUT_SECONDS = 15 * 60;

/** A script as the runtime carries it: its text, where it came from, and its hash. */
export interface Script {
    /** `inline`, or `file:<path as written>`. */
    source: string;
    content: string;
    sha256: string;
}

export interface SetupScripts {
    creation?: Script;
    startup?: Script;
    timeoutSeconds: number;
}

export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * Reads the scripts a program names, relative to `dir` (the program's directory). Problems name
 * the field and, for a file, the path looked at; nothing is read twice.
 */
export function readScriptSources(
    raw: unknown,
    dir: string,
): { scripts?: Record<string, unknown>; problems: FieldProblem[] } {
    if (raw === undefined || raw === null) return { problems: [] };
    if (typeof raw !== "object" || Array.isArray(raw))
        return { problems: [{ field: "setupScripts", message: "must be { creation?, startup?, timeout? }" }] };
    const out: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
    const problems: FieldProblem[] = [];
    for (const stage of SCRIPT_STAGES) {
        const s = (raw as Record<string, unknown>)[stage];
        if (s === undefined) continue;
        if (typeof s === "string") {
            out[stage] = { source: "inline", content: s };
        } else if (
            s &&
            typeof s === "object" &&
            typeof (s as { inline?: unknown }).inline === "string" &&
            Object.keys(s).length === 1
        ) {
            out[stage] = { source: "inline", content: (s as { inline: string }).inline };
        } else if (
            s &&
            typeof s === "object" &&
            typeof (s as { file?: unknown }).file === "string" &&
            Object.keys(s).length === 1
        ) {
            const file = (s as { file: string }).file;
            const full = path.resolve(dir, file);
            try {
                const stat = fs.statSync(full);
                if (!stat.isFile()) throw Object.assign(new Error("not a file"), { code: "EISDIR" });
                if (stat.size > MAX_SCRIPT_BYTES) {
                    problems.push({
                        field: `setupScripts.${stage}.file`,
                        message: `${file} is ${stat.size} bytes; a script may have at most ${MAX_SCRIPT_BYTES} (put the rest in the image, or fetch it from the script)`,
                    });
                    continue;
                }
                out[stage] = { source: `file:${file}`, content: fs.readFileSync(full, "utf8") };
            } catch (e) {
                const code = (e as NodeJS.ErrnoException).code;
                problems.push({
                    field: `setupScripts.${stage}.file`,
                    message:
                        code === "ENOENT"
                            ? `${file} does not exist (looked at ${full})`
                            : `${file} cannot be read (${full}: ${code ?? (e as Error).message})`,
                });
            }
        } else {
            problems.push({
                field: `setupScripts.${stage}`,
                message: 'must be the script\'s text, { inline: "..." } or { file: "path/to/script.sh" }',
            });
        }
    }
    return { scripts: out, problems };
}

const scriptSchema = z
    .strictObject({ source: z.string().min(1), content: z.string(), sha256: z.string().optional() })
    .superRefine((s, ctx) => {
        if (!s.content.trim()) ctx.addIssue({ code: "custom", message: "is empty" });
        if (Buffer.byteLength(s.content) > MAX_SCRIPT_BYTES)
            ctx.addIssue({
                code: "custom",
                message: `has ${Buffer.byteLength(s.content)} bytes; a script may have at most ${MAX_SCRIPT_BYTES}`,
            });
        if (s.content.includes("\0"))
            ctx.addIssue({ code: "custom", message: "contains a NUL byte; a script is text" });
    })
    .transform((s): Script => ({ source: s.source, content: s.content, sha256: sha256(s.content) }));

/** The scripts as the runtime takes them, after {@link readScriptSources}. */
export const setupScriptsSchema = z
    .strictObject({
        creation: scriptSchema.optional(),
        startup: scriptSchema.optional(),
        timeout: z.union([z.string(), z.number()]).optional(),
        timeoutSeconds: z.number().optional(),
    })
    .transform((s, ctx): SetupScripts => {
        let timeoutSeconds = s.timeoutSeconds ?? DEFAULT_SETUP_TIMEOUT_SECONDS;
        if (s.timeout !== undefined) {
            const t = typeof s.timeout === "number" ? s.timeout : parseDurationSeconds(s.timeout);
            if (t === undefined || !Number.isFinite(t) || t < 1 || t > 24 * 3600) {
                ctx.addIssue({
                    code: "custom",
                    path: ["timeout"],
                    message: `"${s.timeout}" is not a duration from 1s to 24h; write e.g. "90s", "15m" or ISO 8601 "PT15M"`,
                });
                return z.NEVER;
            }
            timeoutSeconds = t;
        }
        return {
            ...(s.creation ? { creation: s.creation } : {}),
            ...(s.startup ? { startup: s.startup } : {}),
            timeoutSeconds,
        };
    });

/** How long the scripts may take at one start, at most: the readiness wait grows by it. */
export function setupSeconds(s: SetupScripts | undefined, creationRuns = true): number {
    if (!s) return 0;
    return (creationRuns && s.creation ? s.timeoutSeconds : 0) + (s.startup ? s.timeoutSeconds : 0);
}

/** For a preview: what changed in the scripts, in words (the text itself shows in the diff). */
export function describeScriptsChange(before: SetupScripts | undefined, after: SetupScripts | undefined): string {
    const parts: string[] = [];
    for (const stage of SCRIPT_STAGES) {
        const b = before?.[stage];
        const a = after?.[stage];
        if (!b && a) parts.push(`${stage} script added`);
        else if (b && !a) parts.push(`${stage} script removed`);
        else if (b && a && b.sha256 !== a.sha256)
            parts.push(`${stage} script changed (sha256 ${b.sha256.slice(0, 12)} → ${a.sha256.slice(0, 12)})`);
    }
    if (before && after && before.timeoutSeconds !== after.timeoutSeconds)
        parts.push(`script timeout ${before.timeoutSeconds}s → ${after.timeoutSeconds}s`);
    return parts.join(", ") || "setup scripts changed";
}

/** Where the image's entry point finds the scripts. */
export const SETUP_DIR = "/etc/compute-instance/setup";

/** Where the setup scripts are, as the image's entry point reports it on its output (this start's). */
export interface SetupProgress {
    phase: "SettingUp" | "SetupFailed" | "Done";
    /** The entry point's words, e.g. "the creation script exited with 3; its output is in …". */
    message: string;
}

/** Reads the entry point's `compute-instance:` lines; undefined when no script ran at this start. */
export function setupProgressFromLog(log: string): SetupProgress | undefined {
    let last: SetupProgress | undefined;
    for (const line of log.split(/\r?\n/)) {
        const m = /^compute-instance: (SettingUp|SetupFailed): (.*)$/.exec(line.trim());
        if (m) last = { phase: m[1] as "SettingUp" | "SetupFailed", message: m[2] };
        else if (/^compute-instance: the (creation|startup) script (finished|already ran)/.test(line.trim()))
            last = { phase: "Done", message: line.trim().slice("compute-instance: ".length) };
    }
    return last;
}
