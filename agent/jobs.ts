/**
 * One check of the workspace's job queue: the pure plan (./jobQueue.ts) carried out on the
 * backend, the new statuses recorded in the agent's memory and logged.
 */
import type { Backend, InstanceView } from "../provider/backends/backend";
import type { AgentMemory, JobRecord, StoredRecord } from "../provider/model/agentProtocol";
import { InstanceNotRunningError } from "../provider/backends/errors";
import { DEFAULT_JOBS_PER_CORE, FINAL_STATUSES, JobState, QueueInstance, planJobs, slotsOf } from "./jobQueue";

type Logger = (entry: Record<string, unknown>) => void;

/** The jobs submitted to the workspace, by name, from the store's records. */
export function submittedJobs(records: readonly StoredRecord[]): Map<string, JobRecord> {
    const jobs = new Map<string, JobRecord>();
    for (const r of records) if (r.kind === "job") jobs.set(r.key.name, r.value);
    return jobs;
}

/** Instances with a job queued or running: such an instance is in use, never idle. */
export function instancesWithJobs(jobs: Map<string, JobRecord>, memory: AgentMemory): Set<string> {
    const busy = new Set<string>();
    for (const [name, job] of jobs) {
        const status = memory.jobs?.[name]?.status;
        if (!status || !FINAL_STATUSES.has(status)) busy.add(job.instance);
    }
    return busy;
}

export async function checkJobs(ctx: {
    workspace: string;
    backend: Backend;
    log: Logger;
    memory: AgentMemory;
    records: readonly StoredRecord[];
    views: readonly InstanceView[];
    now: Date;
}): Promise<void> {
    const runner = ctx.backend.jobs;
    const jobs = submittedJobs(ctx.records);
    if (!runner || jobs.size === 0) return;
    const settings = new Map<string, { enabled: boolean; perCore: number }>();
    for (const r of ctx.records) if (r.kind === "jobQueue") settings.set(r.key.instance, r.value);
    // The jobs' runtimes first, the instances' power after: a job found ended by its instance's
    // stop (which stops the instance, then its jobs) then finds its instance stopped too.
    const runtimes = await runner.listJobs(ctx.workspace);
    const usage = new Map((await ctx.backend.workspaceUsage(ctx.workspace)).map((u) => [u.instance, u]));
    const instances: Record<string, QueueInstance> = {};
    for (const v of ctx.views) {
        const s = settings.get(v.instance);
        const now = usage.get(v.instance);
        instances[v.instance] = {
            running: v.status === "Running" && now !== undefined && !now.stopped,
            cpus: now?.cpus ?? 1,
            perCore: s?.enabled === false ? 0 : (s?.perCore ?? DEFAULT_JOBS_PER_CORE),
        };
    }
    const states: Record<string, JobState> = { ...ctx.memory.jobs };
    const plan = planJobs({
        now: ctx.now,
        jobs: [...jobs].map(([name, j]) => ({ name, ...j })),
        states,
        runtimes,
        instances,
    });
    for (const a of plan.actions) {
        const job = jobs.get(a.job);
        if (!job) continue;
        try {
            if (a.kind === "stop") await runner.stopJob(ctx.workspace, a.job);
            else {
                const view = ctx.views.find((v) => v.instance === job.instance);
                await runner.startJob({
                    workspace: ctx.workspace,
                    owner: view?.owner ?? "",
                    instance: job.instance,
                    name: a.job,
                    job,
                    share: 1 / Math.max(1, slotsOf(instances[job.instance])),
                });
            }
        } catch (e) {
            // Its instance stopped since it was listed: the job waits for the next start.
            if (e instanceof InstanceNotRunningError) {
                delete plan.changed[a.job];
                continue;
            }
            // A job that cannot start (its image is not there) fails with the reason, not hangs.
            plan.changed[a.job] = {
                ...plan.changed[a.job],
                status: "Failed",
                endedAt: ctx.now.toISOString(),
                reason: (e as Error).message,
            };
            await runner.removeJob(ctx.workspace, a.job).catch(() => undefined);
        }
    }
    for (const [name, state] of Object.entries(plan.changed)) {
        // `jobStatus`, not `status`: readers of the log take `status` for a power operation's outcome.
        ctx.log({
            level: "info",
            job: name,
            instance: jobs.get(name)?.instance,
            jobStatus: state.status,
            ...(state.reason ? { reason: state.reason } : {}),
        });
        // An ended job's container goes; its logs and outputs stay in the user files.
        if (FINAL_STATUSES.has(state.status) && runtimes[name])
            await runner.removeJob(ctx.workspace, name).catch(() => undefined);
    }
    // Jobs whose record is gone (deleted with the workspace's store) are forgotten.
    const kept = Object.fromEntries(Object.entries({ ...states, ...plan.changed }).filter(([name]) => jobs.has(name)));
    ctx.memory.jobs = kept;
}
