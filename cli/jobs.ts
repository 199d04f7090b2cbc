/**
 * `compute-instance job …`: submit training jobs to an instance and follow them, modelled on
 * `az ml job` (create, list, show, stream, cancel, download). Jobs are runtime state, like power:
 * no Pulumi resource, never a diff. The workspace agent runs them; these commands write the
 * submission (and a cancel) to its store and read what it recorded.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import type { Backend } from "../provider/backends/backend";
import type { JobRunner } from "../provider/backends/jobRunner";
import { logFile } from "../provider/backends/jobRun";
import { JobRecord, JobState, agentRecords } from "../provider/model/agentProtocol";
import { formatProblem } from "../provider/model/errors";
import { parseJobFile } from "../provider/model/jobFile";
import { FINAL_STATUSES } from "../agent/jobQueue";
import { BackendOptions, UsageError, backendFrom, backendOptions, outputOption, print } from "./common";
import type { OutputFormat } from "./format";
import { filesToStage, jobRecord, newJobName } from "./jobSubmit";

type JobOptions = BackendOptions & { workspace: string; output: OutputFormat };

function runnerOf(backend: Backend): JobRunner {
    if (!backend.jobs) throw new Error(`jobs do not run on the ${backend.description} yet: use a Docker engine`);
    return backend.jobs;
}

/** Each job of the workspace with the status the agent recorded (none yet: Queued). */
async function jobsOf(
    backend: Backend,
    workspace: string,
): Promise<{ name: string; job: JobRecord; state: JobState }[]> {
    const records = agentRecords(backend.agentStore(workspace));
    const [all, { memory }] = await Promise.all([records.readAll(), records.readMemory()]);
    const out: { name: string; job: JobRecord; state: JobState }[] = [];
    for (const r of all.records)
        if (r.kind === "job")
            out.push({ name: r.key.name, job: r.value, state: memory.jobs?.[r.key.name] ?? { status: "Queued" } });
    return out.sort((a, b) => (a.job.submittedAt < b.job.submittedAt ? -1 : 1));
}

async function oneJob(backend: Backend, workspace: string, name: string) {
    const found = (await jobsOf(backend, workspace)).find((j) => j.name === name);
    if (!found) throw new Error(`no job "${name}" in workspace "${workspace}" on the ${backend.description}`);
    return found;
}

async function create(o: JobOptions & { file: string; compute?: string; name?: string; stream?: boolean }) {
    const file = path.resolve(o.file);
    if (!fs.existsSync(file)) throw new UsageError(`--file ${o.file}: no such file`);
    const parsed = parseJobFile(fs.readFileSync(file, "utf8"), {
        baseDir: path.dirname(file),
        exists: (p) => {
            const st = fs.statSync(p, { throwIfNoEntry: false });
            return st?.isDirectory() ? "folder" : st?.isFile() ? "file" : undefined;
        },
    });
    const bad = (problems: { field: string; message: string }[]) =>
        new Error(`${o.file} cannot run:\n${problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`);
    if (!parsed.spec || parsed.problems.length) throw bad(parsed.problems);
    const spec = parsed.spec;
    const instance = o.compute ?? spec.compute;
    if (!instance) throw new UsageError("which instance runs it? give --compute INSTANCE or `compute:` in the file");
    const backend = backendFrom(o);
    const runner = runnerOf(backend);
    const view = (await backend.listInstances(o.workspace)).find((v) => v.instance === instance);
    if (!view) throw new Error(`no instance "${instance}" in workspace "${o.workspace}" on the ${backend.description}`);
    const records = agentRecords(backend.agentStore(o.workspace));
    const queue = await records.read({ kind: "jobQueue", instance });
    if (queue.value?.enabled === false)
        throw new Error(`instance "${instance}" does not take jobs (its jobs.enabled is false)`);
    const name = o.name ?? spec.name ?? newJobName(spec);
    if ((await records.read({ kind: "job", name })).value)
        throw new Error(`a job "${name}" exists in workspace "${o.workspace}": give another --name`);
    const made = jobRecord(name, spec, instance, new Date(), `${os.userInfo().username}@${os.hostname()}`);
    if (!made.record || made.problems.length) throw bad(made.problems);
    const files = filesToStage(spec);
    if (files.length) console.error(`uploading ${files.length} file(s) to the user files' jobs/${name}/`);
    await runner.stageJobFiles(o.workspace, name, files);
    await records.write({ kind: "job", name }, made.record);
    await runner.wakeAgent(o.workspace);
    if (o.output === "json") console.log(JSON.stringify({ name, instance, status: "Queued" }, null, 2));
    else console.log(name);
    if (o.stream) return stream(name, o);
}

function jobJson(j: { name: string; job: JobRecord; state: JobState }) {
    return {
        name: j.name,
        instance: j.job.instance,
        status: j.state.status,
        ...(j.job.displayName ? { displayName: j.job.displayName } : {}),
        ...(j.job.experimentName ? { experimentName: j.job.experimentName } : {}),
        submittedAt: j.job.submittedAt,
        ...(j.state.startedAt ? { startedAt: j.state.startedAt } : {}),
        ...(j.state.endedAt ? { endedAt: j.state.endedAt } : {}),
        ...(j.state.exitCode !== undefined ? { exitCode: j.state.exitCode } : {}),
        ...(j.state.reason ? { reason: j.state.reason } : {}),
        image: j.job.image,
        tags: j.job.tags,
        ...(j.job.cancelRequested ? { cancelRequested: true } : {}),
    };
}

const jobLine = (j: { name: string; job: JobRecord; state: JobState }) =>
    [j.name, j.job.instance, j.state.status, j.job.submittedAt, j.job.displayName ?? ""].join("\t");

function jobText(j: { name: string; job: JobRecord; state: JobState }): string {
    const lines = [jobLine(j)];
    if (j.state.startedAt) lines.push(`started: ${j.state.startedAt}`);
    if (j.state.endedAt) lines.push(`ended: ${j.state.endedAt}`);
    if (j.state.exitCode !== undefined) lines.push(`exit code: ${j.state.exitCode}`);
    if (j.state.reason) lines.push(`reason: ${j.state.reason}`);
    return lines.join("\n");
}

async function list(o: JobOptions & { compute?: string }) {
    const jobs = (await jobsOf(backendFrom(o), o.workspace)).filter((j) => !o.compute || j.job.instance === o.compute);
    print(o.output, jobs, jobLine, jobJson);
}

async function show(name: string, o: JobOptions) {
    print(o.output, await oneJob(backendFrom(o), o.workspace, name), jobText, jobJson);
}

/** Follows the job's log (process 0's, for a distributed job) until it ends; true when it Completed. */
async function stream(name: string, o: JobOptions): Promise<void> {
    const backend = backendFrom(o);
    const runner = runnerOf(backend);
    let shown = 0;
    for (;;) {
        const { job, state } = await oneJob(backend, o.workspace, name);
        const log = logFile(0, job.processCount);
        const text = (await runner.readJobFiles(o.workspace, name, log))[log]?.toString("utf8") ?? "";
        if (text.length > shown) process.stdout.write(text.slice(shown));
        shown = Math.max(shown, text.length);
        if (FINAL_STATUSES.has(state.status)) {
            const said = `${name}: ${state.status}${state.reason ? ` (${state.reason})` : ""}`;
            // Exit status 0 only for a job that Completed, as `az ml job stream` scripts expect.
            if (state.status !== "Completed") throw new Error(said);
            console.error(said);
            return;
        }
        await new Promise((r) => setTimeout(r, 1000));
    }
}

async function cancel(name: string, o: JobOptions) {
    const backend = backendFrom(o);
    const { job, state } = await oneJob(backend, o.workspace, name);
    if (FINAL_STATUSES.has(state.status)) throw new Error(`job "${name}" has ended (${state.status})`);
    await agentRecords(backend.agentStore(o.workspace)).write({ kind: "job", name }, { ...job, cancelRequested: true });
    await runnerOf(backend).wakeAgent(o.workspace);
    console.log(`${name}\tCancelRequested`);
}

/** The job's logs and outputs (its folder but the uploaded code, whose `outputs/` it keeps). */
async function download(name: string, o: JobOptions & { to: string }) {
    const backend = backendFrom(o);
    await oneJob(backend, o.workspace, name);
    const files = await runnerOf(backend).readJobFiles(o.workspace, name);
    const dest = path.resolve(o.to, name);
    let n = 0;
    for (const [rel, body] of Object.entries(files)) {
        if (rel.startsWith("code/") && !rel.startsWith("code/outputs/")) continue;
        const target = path.join(dest, rel);
        if (!target.startsWith(dest + path.sep)) continue;
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, body);
        n++;
    }
    console.log(`${n} file(s) in ${dest}`);
}

export function registerJobCommands(p: Command): void {
    const job = p.command("job").description("submit training jobs to an instance and follow them (like `az ml job`)");
    const withWorkspace = (c: Command) =>
        backendOptions(c.requiredOption("--workspace <name>", "the workspace's name on the backend")).addOption(
            outputOption(),
        );
    withWorkspace(
        job
            .command("create")
            .description("submit an Azure ML command-job file; prints the job's name as its last line")
            .requiredOption("-f, --file <path>", "the job file (Azure ML commandJob YAML)")
            .option("--compute <instance>", "the instance that runs it (default: the file's `compute`)")
            .option("--name <name>", "the job's name (default: the file's `name`, else a new one)")
            .option("--stream", "then follow its log until it ends"),
    ).action((o) => create(o));
    withWorkspace(
        job
            .command("list")
            .description("the workspace's jobs, oldest first")
            .option("--compute <instance>", "only this instance's"),
    ).action((o) => list(o));
    withWorkspace(
        job.command("show").description("a job's status, times, exit code and reason").argument("<name>"),
    ).action((name: string, o) => show(name, o));
    withWorkspace(
        job
            .command("stream")
            .description("follow a job's log until it ends (exit status 0 only if it Completed)")
            .argument("<name>"),
    ).action((name: string, o) => stream(name, o));
    withWorkspace(job.command("cancel").description("cancel a queued or running job").argument("<name>")).action(
        (name: string, o) => cancel(name, o),
    );
    withWorkspace(
        job
            .command("download")
            .description("copy a job's logs and outputs to DIR/<name>/")
            .argument("<name>")
            .requiredOption("--to <dir>", "where to put them"),
    ).action((name: string, o) => download(name, o));
}
