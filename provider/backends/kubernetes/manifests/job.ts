/**
 * Jobs on Kubernetes, as objects: each job a batch/v1 Job of one pod, created when the workspace
 * agent admits it (the agent is the queue, as on Docker), and one-shot pods that put files in the
 * user files and read them back. Pure.
 *
 * What differs from Docker: a pod cannot join another pod's network, so a job has an address of
 * its own; it carries the workspace's pod labels, so the workspace's network policies (its egress)
 * apply to it as to its instances, and not the instance's own inbound rules.
 */
import { createHash } from "crypto";
import type { JobRun } from "../../jobRunner";
import { JOB_WRAPPER, jobEnv } from "../../jobRun";
import { INSTANCE_UID, LABEL_PREFIX, USER_FILES_DIR, objectLabels } from "../../layout";
import { KubeObject, meta, workspacePodLabels } from "./metadata";
import { cpuQuantity } from "./runtime";

export const JOB_LABEL = `${LABEL_PREFIX}/job`;
/** Where the wrapper leaves the command's exit code for the pod's status (the termination message). */
export const TERMINATION_LOG = "/dev/termination-log";

/** A Job's name is also a label value on its pod: at most 63 characters, so long ones are hashed. */
export function jobObjectName(workspace: string, job: string): string {
    const name = `ci-${workspace}-job-${job}`;
    if (name.length <= 63) return name;
    const hash = createHash("sha256").update(name).digest("hex").slice(0, 10);
    return `${name.slice(0, 52).replace(/-+$/, "")}-${hash}`;
}

/** What a job's pod takes from its instance. */
export interface JobHost {
    cpus: number;
    memoryBytes: number;
    gpus: number;
    userFilesClaim: string;
}

function podSecurity() {
    return {
        runAsUser: INSTANCE_UID,
        runAsGroup: INSTANCE_UID,
        runAsNonRoot: true,
        fsGroup: INSTANCE_UID,
        fsGroupChangePolicy: "OnRootMismatch",
        seccompProfile: { type: "RuntimeDefault" },
    };
}

const containerSecurity = {
    allowPrivilegeEscalation: false,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
};

/**
 * The job's share of its instance as its limits (running jobs together never exceed the
 * instance's size). Its requests are token ones: the instance's pod holds the reservation the jobs
 * run on, and asking the scheduler for it a second time would leave the jobs pending on a node
 * the instance fills.
 */
export function jobResources(run: Pick<JobRun, "share">, host: Pick<JobHost, "cpus" | "memoryBytes" | "gpus">) {
    const cpu = cpuQuantity(Math.max(0.01, Math.round(host.cpus * run.share * 1000) / 1000));
    const memory = `${Math.max(64, Math.floor((host.memoryBytes * run.share) / 1024 ** 2))}Mi`;
    const gpus: Record<string, string> = host.gpus > 0 ? { "nvidia.com/gpu": String(host.gpus) } : {};
    return { requests: { cpu: "10m", memory: "64Mi", ...gpus }, limits: { cpu, memory, ...gpus } };
}

export function jobManifest(run: JobRun, host: JobHost, namespace: string): KubeObject {
    const name = jobObjectName(run.workspace, run.name);
    const env = { ...jobEnv(run.name, run.job, host.gpus), JOB_TERMINATION_LOG: TERMINATION_LOG };
    const userFiles = { name: "user-files", mountPath: USER_FILES_DIR };
    const podLabels = {
        ...workspacePodLabels(run.workspace),
        "app.kubernetes.io/component": "job",
        [JOB_LABEL]: run.name,
    };
    return {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: {
            ...meta(name, namespace, run, "job"),
            labels: { ...objectLabels(run, "job"), [JOB_LABEL]: run.name },
        },
        spec: {
            // The agent decides what a job's end means: never a second pod.
            backoffLimit: 0,
            template: {
                metadata: { labels: podLabels, annotations: { [`${LABEL_PREFIX}/owner`]: run.owner } },
                spec: {
                    restartPolicy: "Never",
                    automountServiceAccountToken: false,
                    enableServiceLinks: false,
                    terminationGracePeriodSeconds: 2,
                    securityContext: podSecurity(),
                    ...(host.gpus > 0
                        ? { tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }] }
                        : {}),
                    containers: [
                        {
                            name: "job",
                            image: run.job.image,
                            // The cluster's nodes hold the images: jobs never pull, as on Docker.
                            imagePullPolicy: "Never",
                            command: ["/bin/sh", "-c", JOB_WRAPPER],
                            env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
                            workingDir: USER_FILES_DIR,
                            resources: jobResources(run, host),
                            securityContext: containerSecurity,
                            terminationMessagePath: TERMINATION_LOG,
                            volumeMounts: [
                                userFiles,
                                ...(run.job.shmSizeBytes ? [{ name: "shm", mountPath: "/dev/shm" }] : []),
                            ],
                        },
                    ],
                    volumes: [
                        { name: "user-files", persistentVolumeClaim: { claimName: host.userFilesClaim } },
                        ...(run.job.shmSizeBytes
                            ? [{ name: "shm", emptyDir: { medium: "Memory", sizeLimit: `${run.job.shmSizeBytes}` } }]
                            : []),
                    ],
                },
            },
        },
    };
}

/** An object of the API holds at most about 1.5 MiB: a job's files, compressed, must fit with room to spare. */
export const MAX_JOB_FILES_BYTES = 900 * 1024;

/**
 * A one-shot pod on the user files, as the instance's user, from the agent's image (sh, tar and
 * base64; on the nodes whenever the workspace is): `script` runs with `env` and the pod ends.
 * Files go in through the environment and come out through the log, so neither needs exec and
 * its streaming protocol to the node.
 */
export function userFilesPodManifest(
    ref: { workspace: string; owner: string },
    namespace: string,
    name: string,
    job: string,
    script: string,
    env: Record<string, string>,
    userFilesClaim: string,
    toolsImage: string,
): KubeObject {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
            ...meta(name, namespace, ref, "job"),
            labels: { ...objectLabels(ref, "job"), ...workspacePodLabels(ref.workspace), [JOB_LABEL]: job },
        },
        spec: {
            restartPolicy: "Never",
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: podSecurity(),
            containers: [
                {
                    name: "files",
                    image: toolsImage,
                    imagePullPolicy: "Never",
                    command: ["sh", "-c", script],
                    env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
                    volumeMounts: [{ name: "user-files", mountPath: USER_FILES_DIR }],
                    securityContext: containerSecurity,
                },
            ],
            volumes: [{ name: "user-files", persistentVolumeClaim: { claimName: userFilesClaim } }],
        },
    };
}

/** Unpacks FILES (a base64 gzipped tar) into DIR. */
export const UNPACK_SCRIPT = 'mkdir -p "$DIR" && printf %s "$FILES" | base64 -d | tar -xzf - -C "$DIR"';
/** Prints PATH_IN (relative to DIR; all of it when empty) as a base64 gzipped tar; nothing when it is not there. */
export const PACK_SCRIPT =
    'cd "$DIR" 2>/dev/null && [ -e "${PATH_IN:-.}" ] || exit 0; tar -czf - "${PATH_IN:-.}" | base64 -w0';
