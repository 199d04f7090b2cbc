/**
 * Command-job files, the YAML `az ml job create -f job.yml` takes (Azure ML's commandJob schema),
 * so a file written for Azure runs here unchanged but for `compute`. Pure: the caller reads the
 * file and says what exists on disk; every problem is reported at once, at the key path the user
 * wrote, before anything is uploaded or started.
 *
 * What differs from Azure, because nothing here stands behind it:
 * - `environment` is `{ image: <image> }` only: there are no registered environments to name and
 *   no image builds (`conda_file`, `build`).
 * - `code` and input paths are local (relative to the job file's folder, or absolute; `file:`
 *   allowed), uploaded at submission. Azure's data assets and datastores do not exist; in their
 *   place an input may read from the workspace's user files, written `userfiles:<relative path>`
 *   (for example `userfiles:datasets/cifar`, the folder the instances show as
 *   ~/cloudfiles/code/datasets/cifar).
 * - One node per job: `resources.instance_count` may only be 1; `distribution` is PyTorch's
 *   processes on that node.
 * - Literal inputs, tags and environment variables keep the text written: `lr: 0.10` passes
 *   `0.10`, as it reads in the file, where converting the number would pass `0.1`.
 */
import * as path from "node:path";
import { type Document, LineCounter, isMap, isScalar, parseDocument } from "yaml";
import { z } from "zod";
import { FieldProblem, problemsFromZod } from "./errors";
import { durationSeconds, forward, nameSchema } from "./fields";
import { expand } from "./jobCommand";
import type { JobFileContext, JobInput, JobInputPath, JobOutput, JobSpec } from "./jobSpec";

export type * from "./jobSpec";
export { shellQuote, substituteCommand } from "./jobCommand";

export const USER_FILES_SCHEME = "userfiles:";

// ---------------------------------------------------------------------------------------------
// Field rules

// Azure's rule for job names, kept to what Docker accepts in a container name, which it becomes.
const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$/;
const jobName = (what: string) =>
    z.string({ message: "must be text" }).regex(JOB_NAME, {
        message: `${what} must be 1 to 255 characters: letters, digits, '-' and '_', starting with a letter or digit`,
    });
// Inputs and outputs are named inside `${{...}}` expressions.
const REFERENCE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// A URI scheme of two characters or more, so that a Windows drive (`C:\data`) stays a local path.
const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]+:/;

const text = z.string({ message: "must be text" });
/** Numbers and booleans reach these as the text written (see {@link keepWrittenText}). */
const textMap = (what: string) => named(z.string(), z.string({ message: `${what} must be text or a number` }));

/** A mapping of names (checked by `key`) to values. */
const named = <K extends z.core.$ZodRecordKey, V extends z.ZodType>(key: K, value: V) =>
    z.record(key, value, { message: "must be a mapping of name: value" });

/** An enum whose refusal names the value given; problemsFromZod adds the allowed ones. */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
    z.enum(values, {
        error: (iss) => (iss.input === undefined ? "required" : `${JSON.stringify(iss.input)} is not supported here`),
    });

function isMapping(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A YAML mapping with the keys of `shape` only: any other key is a problem at its own path that
 * lists the allowed keys (or says why `refuse` turns it down), reported alongside the problems of
 * the known keys.
 */
function mapping<S extends z.ZodRawShape>(
    shape: S,
    what: string,
    refuse: (key: string) => string | undefined = () => undefined,
) {
    const inner = z.object(shape);
    const allowed = Object.keys(shape);
    return z.unknown().transform((v, ctx): z.output<typeof inner> => {
        if (!isMapping(v)) {
            ctx.addIssue({ code: "custom", message: `must be a mapping of ${what}` });
            return z.NEVER;
        }
        for (const key of Object.keys(v).filter((k) => !allowed.includes(k))) {
            const message = refuse(key) ?? `unknown key; allowed: ${allowed.join(", ")}`;
            ctx.addIssue({ code: "custom", path: [key], message });
        }
        const r = inner.safeParse(v);
        return r.success ? r.data : forward(ctx, r.error, []);
    });
}

/** An optional section: an empty one (`inputs:` with nothing under it) is as good as none. */
const section = <T extends z.ZodType>(schema: T) =>
    z.preprocess((v) => (v === null ? undefined : v), schema.optional());

/** A message when `absPath` is not a `want` on disk. */
function localProblem(ctx: JobFileContext, absPath: string, want: "file" | "folder", hint = ""): string | undefined {
    const found = ctx.exists(absPath);
    if (found === want) return undefined;
    return found ? `${absPath} is a ${found}, not a ${want}${hint}` : `${absPath} does not exist`;
}

function resolveLocal(ctx: JobFileContext, written: string): string {
    return path.resolve(ctx.baseDir, written.replace(/^file:(\/\/(?=\/))?/, ""));
}

const LOCAL_FOLDER = "only local folders are supported here (relative to the job file's folder, or absolute)";

const codeSchema = (ctx: JobFileContext) =>
    text.transform((v, zctx) => {
        const written = v.replace(/^file:/, "");
        if (URI_SCHEME.test(written)) {
            zctx.addIssue({ code: "custom", message: `"${v}" is not a local folder: ${LOCAL_FOLDER}` });
            return z.NEVER;
        }
        const abs = resolveLocal(ctx, v);
        const problem = localProblem(ctx, abs, "folder");
        if (problem) zctx.addIssue({ code: "custom", message: problem });
        return abs;
    });

const environmentSchema = z.unknown().transform((v, ctx) => {
    if (typeof v === "string") {
        ctx.addIssue({
            code: "custom",
            message: `"${v}" names a registered Azure ML environment; those do not exist here: write environment: { image: <image> } with the Docker image the command runs in`,
        });
        return z.NEVER;
    }
    if (v === undefined) {
        ctx.addIssue({ code: "custom", message: "required: { image: <image> }, the Docker image the command runs in" });
        return z.NEVER;
    }
    const r = mapping(
        { image: text.regex(/^\S+$/, { message: "must be a Docker image reference such as python:3.12-slim" }) },
        "{ image: <image> }",
        (key) => `"${key}" is not supported here: only "image" is (build the image elsewhere and name it)`,
    ).safeParse(v);
    return r.success ? r.data.image : forward(ctx, r.error, []);
});

const DATA_PLACES = `a local path (relative to the job file's folder, or absolute) or ${USER_FILES_SCHEME}<path> for a path in the workspace's user files`;

function inputSource(
    ctx: JobFileContext,
    written: string,
    type: JobInputPath["type"],
): JobInputPath["source"] | string {
    if (written.startsWith(USER_FILES_SCHEME)) {
        const rel = written.slice(USER_FILES_SCHEME.length);
        const segments = rel.split("/").filter((s) => s !== "" && s !== ".");
        if (rel.startsWith("/") || segments.includes("..") || segments.length === 0) {
            return `must be ${USER_FILES_SCHEME}<path> with a path relative to the user files' root and without "..", e.g. ${USER_FILES_SCHEME}datasets/cifar`;
        }
        return { userFiles: segments.join("/") };
    }
    if (written.startsWith("azureml:")) {
        return `"${written}": Azure ML data assets and datastores do not exist here; use ${DATA_PLACES}`;
    }
    if (URI_SCHEME.test(written) && !written.startsWith("file:")) {
        return `"${written}" is not supported here; use ${DATA_PLACES}`;
    }
    const abs = resolveLocal(ctx, written);
    const want = type === "uri_file" ? "file" : "folder";
    const other = type === "uri_file" ? "uri_folder" : "uri_file";
    return (
        localProblem(
            ctx,
            abs,
            want,
            ` (a ${type} input reads a ${want}; write type: ${other} for a ${other.slice(4)})`,
        ) ?? { local: abs }
    );
}

const inputSchema = (ctx: JobFileContext) =>
    z.unknown().transform((v, zctx): JobInput => {
        if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
            return { kind: "literal", value: String(v) };
        }
        if (!isMapping(v)) {
            zctx.addIssue({
                code: "custom",
                message: "must be a value (text, number, true/false) or { type, path, mode }",
            });
            return z.NEVER;
        }
        const r = mapping(
            {
                type: oneOf(["uri_folder", "uri_file"]).default("uri_folder"),
                path: z.string({ message: `required: ${DATA_PLACES}` }),
                mode: oneOf(["ro_mount", "download"]).default("ro_mount"),
            },
            "{ type, path, mode }",
        ).safeParse(v);
        if (!r.success) return forward(zctx, r.error, []);
        const source = inputSource(ctx, r.data.path, r.data.type);
        if (typeof source === "string") {
            zctx.addIssue({ code: "custom", path: ["path"], message: source });
            return z.NEVER;
        }
        return { kind: "path", type: r.data.type, source, mode: r.data.mode };
    });

const outputSchema = z.preprocess(
    (v) => v ?? {},
    mapping(
        { type: oneOf(["uri_folder"]).default("uri_folder"), mode: oneOf(["rw_mount", "upload"]).default("rw_mount") },
        "{ type, mode }",
    ).transform((o): JobOutput => ({ mode: o.mode })),
);

const referenceName = (what: string) =>
    z.string().regex(REFERENCE_NAME, {
        message: `${what} names must be letters, digits and '_', not starting with a digit (the command names them in \${{${what}s.NAME}})`,
    });

const SHM_SIZE = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i;
const SHM_UNITS = { k: 1, m: 2, g: 3, t: 4, p: 5 } as const;
/** Docker's `--shm-size`: bytes, or a size with a binary unit (`512m`, `2g`). */
export function parseSizeBytes(v: string | number): number | undefined {
    if (typeof v === "number") return Number.isInteger(v) && v > 0 ? v : undefined;
    const m = SHM_SIZE.exec(v.trim());
    if (!m) return undefined;
    const unit = m[2]?.toLowerCase() as keyof typeof SHM_UNITS | undefined;
    const bytes = Math.floor(Number(m[1]) * 1024 ** (unit ? SHM_UNITS[unit] : 0));
    return bytes > 0 ? bytes : undefined;
}
const shmSize = z.union([z.string(), z.number()]).transform((v, ctx) => {
    const bytes = parseSizeBytes(v);
    if (bytes === undefined) {
        ctx.addIssue({
            code: "custom",
            message: `${JSON.stringify(v)} is not a size; write e.g. "2g", "512m", "1024k" or a number of bytes`,
        });
        return z.NEVER;
    }
    return bytes;
});

const TOP_LEVEL_REFUSED: Record<string, string> = {
    services:
        "interactive job services (Jupyter, SSH, TensorBoard on a job) are not supported here: use the compute instance's own applications",
    identity:
        "job identities are not supported here: a job reads local files and the workspace's user files, with no Azure credentials",
    queue_settings: "job tiers and queues are not supported here: a job starts on its compute instance at once",
};

function jobSchema(ctx: JobFileContext) {
    return mapping(
        {
            // Only editors read it; any schema URL is accepted, so files from Azure need no change.
            $schema: text.optional(),
            type: oneOf(["command"]).default("command"),
            name: jobName("job names").optional(),
            display_name: text.optional(),
            experiment_name: jobName("experiment names").optional(),
            description: text.optional(),
            tags: section(textMap("tag values")),
            compute: text
                .transform((v) => v.replace(/^azureml:/, ""))
                .pipe(nameSchema)
                .optional(),
            command: z
                .string({
                    error: (iss) => (iss.input === undefined ? "required: the command to run" : "must be text"),
                })
                .refine((c) => c.trim() !== "", { message: "must not be empty" }),
            code: codeSchema(ctx).optional(),
            environment: environmentSchema,
            environment_variables: section(
                named(
                    z.string().regex(ENV_NAME, {
                        message:
                            "environment variable names must be letters, digits and '_', not starting with a digit",
                    }),
                    z.string({ message: "must be text or a number" }),
                ),
            ),
            inputs: section(named(referenceName("input"), inputSchema(ctx))),
            outputs: section(named(referenceName("output"), outputSchema)),
            limits: section(mapping({ timeout: durationSeconds(1).optional() }, "limits")),
            resources: section(
                mapping(
                    {
                        shm_size: shmSize.optional(),
                        instance_count: z
                            .literal(1, {
                                message: "multi-node jobs are not supported: a job runs on its one compute instance",
                            })
                            .optional(),
                    },
                    "resources",
                ),
            ),
            distribution: section(
                mapping(
                    {
                        type: oneOf(["pytorch"]),
                        process_count_per_instance: z
                            .number({ message: "must be a number of processes" })
                            .int({ message: "must be a whole number" })
                            .min(1, { message: "must be at least 1" })
                            .default(1),
                    },
                    "{ type, process_count_per_instance }",
                ),
            ),
        },
        "job fields",
        // Own keys only: a key such as `constructor` is merely unknown.
        (key) => (Object.hasOwn(TOP_LEVEL_REFUSED, key) ? TOP_LEVEL_REFUSED[key] : undefined),
    ).transform((j): JobSpec => ({
        name: j.name,
        displayName: j.display_name,
        experimentName: j.experiment_name,
        description: j.description,
        tags: j.tags ?? {},
        compute: j.compute,
        command: j.command,
        code: j.code,
        image: j.environment,
        env: j.environment_variables ?? {},
        inputs: j.inputs ?? {},
        outputs: j.outputs ?? {},
        timeoutSeconds: j.limits?.timeout,
        shmSizeBytes: j.resources?.shm_size,
        distribution: j.distribution && {
            type: j.distribution.type,
            processCountPerInstance: j.distribution.process_count_per_instance,
        },
    }));
}

// ---------------------------------------------------------------------------------------------
// Reading the file

/** Turns the numbers and booleans of a mapping's values back into the text the user wrote. */
function keepWrittenText(doc: Document, key: string): void {
    const node = doc.get(key, true);
    if (!isMap(node)) return;
    for (const pair of node.items) {
        const v = pair.value;
        if (isScalar(v) && (typeof v.value === "number" || typeof v.value === "boolean") && v.source !== undefined) {
            v.value = v.source;
        }
    }
}

export function parseJobFile(text: string, ctx: JobFileContext): { spec?: JobSpec; problems: FieldProblem[] } {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: false });
    const [error] = doc.errors;
    if (error) {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        return {
            problems: [{ field: "", message: `YAML syntax error at line ${line}, column ${col}: ${error.message}` }],
        };
    }
    for (const key of ["tags", "environment_variables", "inputs"]) keepWrittenText(doc, key);
    let raw: unknown;
    try {
        raw = doc.toJS();
    } catch (e) {
        // Aliases that expand past the library's limit: a file no one means to write.
        return { problems: [{ field: "", message: `YAML could not be read: ${(e as Error).message}` }] };
    }
    const r = jobSchema(ctx).safeParse(raw);
    const problems = [...(r.success ? [] : problemsFromZod(r.error)), ...referenceProblems(raw)];
    return problems.length || !r.success ? { problems } : { spec: r.data, problems };
}

/** The command's references checked against the names the file defines, whatever else is wrong. */
function referenceProblems(raw: unknown): FieldProblem[] {
    if (!isMapping(raw) || typeof raw.command !== "string") return [];
    const names = (v: unknown) => (v === undefined || v === null ? [] : isMapping(v) ? Object.keys(v) : undefined);
    const inputs = names(raw.inputs);
    const outputs = names(raw.outputs);
    // A section that is not a mapping has its own problem; its references would only add noise.
    if (!inputs || !outputs) return [];
    return expand(raw.command, { inputs, outputs }, () => "").problems;
}
