/** A job as its file describes it, once read: what jobFile.ts makes and the CLI submits. */

export interface JobInputLiteral {
    kind: "literal";
    /** The value as written in the file (numbers and booleans too). */
    value: string;
}
export interface JobInputPath {
    kind: "path";
    type: "uri_folder" | "uri_file";
    /**
     * Where it comes from: a local path (absolute, resolved against the job file's folder, uploaded
     * at submission) or a path relative to the root of the workspace's user files.
     */
    source: { local: string } | { userFiles: string };
    mode: "ro_mount" | "download";
}
export type JobInput = JobInputLiteral | JobInputPath;
export interface JobOutput {
    mode: "rw_mount" | "upload";
}
export interface JobDistribution {
    type: "pytorch";
    processCountPerInstance: number;
}
export interface JobSpec {
    name?: string;
    displayName?: string;
    experimentName?: string;
    description?: string;
    tags: Record<string, string>;
    /** Instance name, `azureml:` prefix removed. */
    compute?: string;
    /** As written: `${{inputs.NAME}}` expressions are substituted once paths in the container are known. */
    command: string;
    /** Absolute local folder. */
    code?: string;
    image: string;
    env: Record<string, string>;
    inputs: Record<string, JobInput>;
    outputs: Record<string, JobOutput>;
    timeoutSeconds?: number;
    shmSizeBytes?: number;
    distribution?: JobDistribution;
}

export interface JobFileContext {
    /** The job file's folder: relative local paths start there. */
    baseDir: string;
    exists(absPath: string): "file" | "folder" | undefined;
}
