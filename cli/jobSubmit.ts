/**
 * From a job file to what is submitted: the files to put in the job's folder (its code, its local
 * inputs), the paths its command's expressions stand for, and the record the agent runs it from.
 * Pure but for reading the local folders the file names.
 */
import * as fs from "fs";
import * as path from "path";
import { randomBytes } from "crypto";
import type { JobFile } from "../provider/backends/jobRunner";
import { jobDir } from "../provider/backends/jobRun";
import { USER_FILES_DIR } from "../provider/backends/layout";
import type { JobRecord } from "../provider/model/agentProtocol";
import type { FieldProblem } from "../provider/model/errors";
import { JobSpec, substituteCommand } from "../provider/model/jobFile";

/** What is never uploaded with a code folder: version control and caches. */
const SKIPPED = new Set([".git", "__pycache__", ".ipynb_checkpoints", "node_modules", ".venv"]);

/** Every regular file under `dir`, by path relative to it (links followed as files; folders in SKIPPED left out). */
export function filesUnder(dir: string, rel = ""): { rel: string; abs: string; mode: number }[] {
    const out: { rel: string; abs: string; mode: number }[] = [];
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
        if (SKIPPED.has(e.name)) continue;
        const r = rel ? `${rel}/${e.name}` : e.name;
        const abs = path.join(dir, r);
        const st = fs.statSync(abs);
        if (st.isDirectory()) out.push(...filesUnder(dir, r));
        else if (st.isFile()) out.push({ rel: r, abs, mode: st.mode & 0o777 });
    }
    return out;
}

/** The files of the job's folder: `code/…` and `inputs/<name>/…` for local inputs. */
export function filesToStage(spec: JobSpec): JobFile[] {
    const files: JobFile[] = [];
    const add = (name: string, abs: string, mode: number) =>
        files.push({ name, body: fs.readFileSync(abs), mode: mode | 0o600 });
    if (spec.code) for (const f of filesUnder(spec.code)) add(`code/${f.rel}`, f.abs, f.mode);
    for (const [name, input] of Object.entries(spec.inputs)) {
        if (input.kind !== "path" || !("local" in input.source)) continue;
        const local = input.source.local;
        if (input.type === "uri_file")
            add(`inputs/${name}/${path.basename(local)}`, local, fs.statSync(local).mode & 0o777);
        else for (const f of filesUnder(local)) add(`inputs/${name}/${f.rel}`, f.abs, f.mode);
    }
    return files;
}

/** Where each input and output is inside the job's runtime: what `${{inputs.x}}` stands for. */
export function jobPaths(
    name: string,
    spec: JobSpec,
): { inputs: Record<string, string>; outputs: Record<string, string> } {
    const dir = jobDir(name);
    const inputs: Record<string, string> = {};
    for (const [k, input] of Object.entries(spec.inputs)) {
        if (input.kind === "literal") continue;
        if ("userFiles" in input.source) inputs[k] = `${USER_FILES_DIR}/${input.source.userFiles}`;
        else
            inputs[k] =
                input.type === "uri_file"
                    ? `${dir}/inputs/${k}/${path.basename(input.source.local)}`
                    : `${dir}/inputs/${k}`;
    }
    const outputs = Object.fromEntries(Object.keys(spec.outputs).map((k) => [k, `${dir}/outputs/${k}`]));
    return { inputs, outputs };
}

/** A new job's name, as Azure makes them when the file has none: readable, and unique enough. */
export function newJobName(spec: JobSpec): string {
    const base = (spec.experimentName ?? "job").replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40) || "job";
    return `${base}-${randomBytes(4).toString("hex")}`;
}

/** The record the agent runs the job from, or the problems with its command's expressions. */
export function jobRecord(
    name: string,
    spec: JobSpec,
    instance: string,
    now: Date,
    submittedBy?: string,
): { record?: JobRecord; problems: FieldProblem[] } {
    const { command, problems } = substituteCommand(spec, jobPaths(name, spec));
    if (!command) return { problems };
    return {
        problems,
        record: {
            instance,
            submittedAt: now.toISOString(),
            image: spec.image,
            command,
            env: spec.env,
            outputs: Object.keys(spec.outputs),
            ...(spec.timeoutSeconds !== undefined ? { timeoutSeconds: spec.timeoutSeconds } : {}),
            ...(spec.shmSizeBytes !== undefined ? { shmSizeBytes: spec.shmSizeBytes } : {}),
            processCount: spec.distribution?.processCountPerInstance ?? 1,
            ...(spec.displayName !== undefined ? { displayName: spec.displayName } : {}),
            ...(spec.experimentName !== undefined ? { experimentName: spec.experimentName } : {}),
            tags: spec.tags,
            ...(submittedBy ? { submittedBy } : {}),
        },
    };
}
