/**
 * The job queue's records in the workspace agent's store: a submitted job, an instance's queue
 * settings, and what the agent records of each job in its memory. Versioned as every record of
 * the store is (./agentProtocol.ts).
 */
import { z } from "zod";

const isoTime = z.iso.datetime({ message: "must be an ISO time" });

/** Azure ML's job statuses. */
export const JOB_STATUSES = [
    "Queued",
    "Preparing",
    "Running",
    "Finalizing",
    "Completed",
    "Failed",
    "CancelRequested",
    "Canceled",
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * A job as submitted (`compute-instance job create`): what its runtime runs, ready to run (the
 * command's expressions substituted, its files already in the user files under `jobs/<name>/`).
 * Written once by the CLI; `job cancel` writes it again with `cancelRequested`.
 */
export const jobV1 = z.object({
    instance: z.string().min(1),
    submittedAt: isoTime,
    image: z.string().min(1),
    command: z.string().min(1),
    env: z.record(z.string(), z.string()).default(() => ({})),
    /** Output folders to make under `jobs/<name>/outputs/` before the command runs. */
    outputs: z.array(z.string()).default(() => []),
    timeoutSeconds: z.number().positive().optional(),
    shmSizeBytes: z.number().int().positive().optional(),
    /** Processes of a `distribution: pytorch` job (1: not distributed). */
    processCount: z.number().int().min(1).default(1),
    displayName: z.string().optional(),
    experimentName: z.string().optional(),
    tags: z.record(z.string(), z.string()).default(() => ({})),
    /** Who submitted it (`user@host`), for `job show`. */
    submittedBy: z.string().optional(),
    cancelRequested: z.boolean().optional(),
});
export type JobRecord = z.output<typeof jobV1>;

/** An instance's job queue settings (ComputeInstance `jobs`); none: enabled, two per core. */
export const jobQueueV1 = z.object({ enabled: z.boolean(), perCore: z.number().positive() });
export type JobQueueRecord = z.output<typeof jobQueueV1>;

/** What the agent records of a job. */
export const jobStateV1 = z.object({
    status: z.enum(JOB_STATUSES),
    startedAt: isoTime.optional(),
    endedAt: isoTime.optional(),
    exitCode: z.number().int().optional(),
    reason: z.string().optional(),
});
export type JobState = z.output<typeof jobStateV1>;
