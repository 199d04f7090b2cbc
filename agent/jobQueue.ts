/**
 * The job queue's decisions, pure: given the jobs submitted to a workspace's instances, what the
 * agent last recorded of each, and what the backend has (each job's container or pod), what to
 * start, what to stop and how each job's status moves. The agent carries the actions out and saves
 * the states; it is the only writer of a job's status, so a status never goes back.
 *
 * Jobs run in submission order, at most `slots` at once per instance (`perCore × cores`, at least
 * one), only while their instance runs. A job's runtime is named after the job: starting it again
 * after an agent that died between starting it and saving its state is a no-op, never a second run.
 */
import type { JobState, JobStatus } from "../provider/model/agentProtocol";

export type { JobState, JobStatus };

export const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set(["Completed", "Failed", "Canceled"]);

export { DEFAULT_JOBS_PER_CORE } from "../provider/model/jobs";

/** A job as submitted (the store's record): what the queue needs of it. */
export interface QueuedJob {
    name: string;
    instance: string;
    /** ISO time of submission: the queue's order (the name breaks ties). */
    submittedAt: string;
    timeoutSeconds?: number;
    /** Set by `job cancel`. */
    cancelRequested?: boolean;
}

/** A job's runtime as the backend has it. */
export interface JobRuntime {
    running: boolean;
    /** ISO time its process started, when it did. */
    startedAt?: string;
    /** The command's exit code as the job's wrapper recorded it; absent when the command never finished. */
    exitCode?: number;
}

/** An instance as the queue sees it. */
export interface QueueInstance {
    running: boolean;
    cpus: number;
    /** Jobs at once per core; 0 turns the queue off (jobs stay queued). */
    perCore: number;
}

export type JobAction =
    | { kind: "start"; job: string }
    /** Stops the job's runtime (it keeps its logs and outputs). */
    | { kind: "stop"; job: string };

export interface QueuePlan {
    actions: JobAction[];
    /** The new state of every job whose state changed. */
    changed: Record<string, JobState>;
}

/** How many jobs an instance runs at once: `perCore × cores`, at least one while the queue is on. */
export function slotsOf(i: QueueInstance): number {
    if (i.perCore <= 0) return 0;
    return Math.max(1, Math.floor(i.perCore * i.cpus));
}

const bySubmission = (a: QueuedJob, b: QueuedJob) =>
    a.submittedAt < b.submittedAt ? -1 : a.submittedAt > b.submittedAt ? 1 : a.name < b.name ? -1 : 1;

export function planJobs(input: {
    now: Date;
    jobs: readonly QueuedJob[];
    states: Readonly<Record<string, JobState>>;
    runtimes: Readonly<Record<string, JobRuntime>>;
    instances: Readonly<Record<string, QueueInstance>>;
}): QueuePlan {
    const { now, states, runtimes, instances } = input;
    const at = now.toISOString();
    const actions: JobAction[] = [];
    const changed: Record<string, JobState> = {};
    const set = (job: string, s: JobState) => (changed[job] = s);
    const ended = (
        job: QueuedJob,
        before: JobState | undefined,
        status: JobStatus,
        reason: string,
        exitCode?: number,
    ) =>
        set(job.name, {
            ...before,
            status,
            endedAt: at,
            reason,
            ...(exitCode !== undefined ? { exitCode } : {}),
        });
    const running: Record<string, number> = {};
    const waiting: QueuedJob[] = [];

    for (const job of [...input.jobs].sort(bySubmission)) {
        const before = states[job.name];
        if (before && FINAL_STATUSES.has(before.status)) continue;
        const runtime = runtimes[job.name];
        const instance = instances[job.instance];
        if (runtime && !runtime.running) {
            // Ended: stopped by the agent, or as its wrapper recorded; with no record, it was killed.
            if (before?.status === "CancelRequested")
                ended(job, before, "Canceled", before.reason ?? "canceled", runtime.exitCode);
            else if (runtime.exitCode !== 0 && !instance?.running)
                // Stopped with its instance (the backend stops an instance's jobs with it).
                ended(
                    job,
                    before,
                    "Canceled",
                    instance ? "its instance stopped" : "its instance was deleted",
                    runtime.exitCode,
                );
            else if (runtime.exitCode === 0) ended(job, before, "Completed", "exited with code 0", 0);
            else if (runtime.exitCode !== undefined)
                ended(job, before, "Failed", `exited with code ${runtime.exitCode}`, runtime.exitCode);
            else
                ended(
                    job,
                    before,
                    "Failed",
                    "interrupted: its process was killed before it finished (an engine restart?)",
                );
            continue;
        }
        if (runtime?.running) {
            const startedAt = before?.startedAt ?? runtime.startedAt ?? at;
            const stopFor = !instance
                ? "its instance was deleted"
                : !instance.running
                  ? "its instance stopped"
                  : job.cancelRequested
                    ? "canceled by the user"
                    : job.timeoutSeconds !== undefined &&
                        now.getTime() - Date.parse(startedAt) >= job.timeoutSeconds * 1000
                      ? `timed out after ${job.timeoutSeconds}s (limits.timeout)`
                      : undefined;
            if (stopFor) {
                actions.push({ kind: "stop", job: job.name });
                set(job.name, { ...before, status: "CancelRequested", startedAt, reason: stopFor });
            } else {
                // Adopted: a runtime the agent started and died before recording.
                if (before?.status !== "Running") set(job.name, { ...before, status: "Running", startedAt });
                running[job.instance] = (running[job.instance] ?? 0) + 1;
            }
            continue;
        }
        // No runtime: queued, or its runtime went away.
        if (before?.status === "Running" || before?.status === "CancelRequested") {
            ended(
                job,
                before,
                before.status === "CancelRequested" ? "Canceled" : "Failed",
                before.status === "CancelRequested"
                    ? (before.reason ?? "canceled")
                    : "its container disappeared while it ran",
            );
            continue;
        }
        if (job.cancelRequested) ended(job, before, "Canceled", "canceled before it started");
        else if (!instance) ended(job, before, "Canceled", "its instance was deleted");
        else {
            if (!before) set(job.name, { status: "Queued" });
            waiting.push(job);
        }
    }

    for (const job of waiting) {
        const instance = instances[job.instance];
        if (!instance?.running) continue;
        if ((running[job.instance] ?? 0) >= slotsOf(instance)) continue;
        running[job.instance] = (running[job.instance] ?? 0) + 1;
        actions.push({ kind: "start", job: job.name });
        set(job.name, { status: "Running", startedAt: at });
    }
    return { actions, changed };
}
