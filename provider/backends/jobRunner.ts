/** The jobs part of a backend: what runs a workspace's jobs, whatever the backend. */
import type { JobRecord } from "../model/agentProtocol";
import type { Ownership } from "./backend";

/** A job as the agent starts it: its record, and its share of its instance (1 / the jobs it runs at once). */
export interface JobRun extends Ownership {
    instance: string;
    name: string;
    job: JobRecord;
    /** Of the instance's CPU and memory, what this job may use: running jobs together never exceed it. */
    share: number;
}

/** A job's runtime as the backend has it. */
export interface JobRuntimeView {
    instance: string;
    running: boolean;
    startedAt?: string;
    /** The command's exit code as the job's wrapper recorded it; absent when it never finished. */
    exitCode?: number;
}

/** A file for a job's folder of the user files: a path under `jobs/<name>/` and its content. */
export interface JobFile {
    name: string;
    body: Buffer | string;
    mode: number;
}

/** Jobs: each in its own runtime named after the job, its files in the workspace's user files. */
export interface JobRunner {
    /** Puts the job's files (code, inputs) in its folder of the user files, before it is queued. */
    stageJobFiles(workspace: string, job: string, files: JobFile[]): Promise<void>;
    /** Starts the job; a runtime of the job that exists already is left as it is (never a second run). */
    startJob(run: JobRun): Promise<void>;
    listJobs(workspace: string): Promise<Record<string, JobRuntimeView>>;
    stopJob(workspace: string, job: string): Promise<void>;
    /** Removes an ended job's runtime (its folder in the user files stays). */
    removeJob(workspace: string, job: string): Promise<void>;
    /** Files under a path of the job's folder (logs, outputs), by path relative to the folder. */
    readJobFiles(workspace: string, job: string, path?: string): Promise<Record<string, Buffer>>;
    /** Asks the workspace agent to check its queue now rather than at its next check. */
    wakeAgent(workspace: string): Promise<void>;
    /**
     * Calls `ended` whenever a job's runtime of the workspace ends, so the agent starts the next
     * queued job at once rather than at its next check; returns what stops watching. Best effort:
     * the agent's checks remain the authority.
     */
    watchEnded?(workspace: string, ended: () => void): () => void;
}
