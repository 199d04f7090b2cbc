/**
 * Jobs on Kubernetes: the jobs part of the backend over the objects of ./manifests/job.ts. The
 * CLI puts a job's files in its folder of the user files at submission (a one-shot pod); the
 * workspace agent creates the Job when it admits it (its checks are the queue: on a cluster it has
 * no signal to be woken by, so a job starts at its next check); files come back the same way.
 */
import type * as k8s from "@kubernetes/client-node";
import { BackendError } from "../backend";
import { InstanceNotRunningError } from "../errors";
import type { JobFile, JobRun, JobRuntimeView } from "../jobRunner";
import { LABEL_PREFIX } from "../layout";
import { KubeClient, ignoreNotFound, reason, statusCode } from "./client";
import { userFilesName } from "./claims";
import { agentName } from "./manifests/agent";
import {
    JOB_LABEL,
    MAX_JOB_FILES_BYTES,
    PACK_SCRIPT,
    UNPACK_SCRIPT,
    jobManifest,
    jobObjectName,
    userFilesPodManifest,
} from "./manifests/job";
import { jobDir } from "../jobRun";
import { runtimeName } from "./manifests";
import { parseCpu, parseMemoryGb } from "./quantity";
import { isReady } from "./pods";

/** A gzipped tar of the files (paths relative to the job's folder), owned by whoever unpacks it. */
export async function packFiles(files: JobFile[]): Promise<Buffer> {
    const tar = require("tar-stream") as typeof import("tar-stream");
    const zlib = require("zlib") as typeof import("zlib");
    const pack = tar.pack();
    const made = new Set<string>();
    for (const f of [{ name: ".submitted", body: "", mode: 0o644 }, ...files]) {
        const parts = f.name.split("/").slice(0, -1);
        parts.forEach((_, i) => {
            const d = parts.slice(0, i + 1).join("/");
            if (!made.has(d)) pack.entry({ name: d, type: "directory", mode: 0o755 });
            made.add(d);
        });
        pack.entry({ name: f.name, mode: f.mode }, typeof f.body === "string" ? Buffer.from(f.body) : f.body);
    }
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack.pipe(zlib.createGzip())) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
}

export async function stageJobFiles(kube: KubeClient, workspace: string, job: string, files: JobFile[]): Promise<void> {
    // Nothing to upload: the job's wrapper makes its folder, as the instance's user.
    if (!files.length) return;
    const tgz = await packFiles(files);
    if (tgz.length > MAX_JOB_FILES_BYTES)
        throw new BackendError(
            `the job's files (code and local inputs) are ${Math.ceil(tgz.length / 1024)} KiB compressed; on Kubernetes they must fit in ${MAX_JOB_FILES_BYTES / 1024} KiB: put large data in the user files and name it as userfiles:<path>`,
        );
    await oneShot(kube, workspace, job, "stage", UNPACK_SCRIPT, { DIR: jobDir(job), FILES: tgz.toString("base64") });
}

/** Runs a one-shot pod on the user files until it ends; its log. */
async function oneShot(
    kube: KubeClient,
    workspace: string,
    job: string,
    what: string,
    script: string,
    env: Record<string, string>,
): Promise<string> {
    const name = `${jobObjectName(workspace, job).slice(0, 48)}-${what}-${Math.random().toString(36).slice(2, 8)}`;
    const pod = userFilesPodManifest(
        { workspace, owner: "" },
        kube.ns,
        name,
        job,
        script,
        env,
        userFilesName(workspace),
        await toolsImage(kube, workspace),
    );
    await kube.core.createNamespacedPod({ namespace: kube.ns, body: pod as k8s.V1Pod });
    try {
        for (const deadline = Date.now() + 120_000; ;) {
            const p = await kube.core.readNamespacedPod({ name, namespace: kube.ns });
            const phase = p.status?.phase;
            if (phase === "Succeeded") break;
            if (phase === "Failed" || Date.now() > deadline) {
                const log = await kube.core
                    .readNamespacedPodLog({ name, namespace: kube.ns, container: "files", tailLines: 20 })
                    .catch(() => "");
                throw new BackendError(
                    `the job's files could not be ${what === "stage" ? "put in" : "read from"} the user files (pod ${name}: ${phase ?? "pending"}) ${String(log).trim()}`,
                );
            }
            await new Promise((r) => setTimeout(r, 300));
        }
        return String(await kube.core.readNamespacedPodLog({ name, namespace: kube.ns, container: "files" }));
    } finally {
        await ignoreNotFound(kube.core.deleteNamespacedPod({ name, namespace: kube.ns, gracePeriodSeconds: 0 }));
    }
}

/** The agent's image: on the nodes whenever the workspace is, with sh and tar. */
async function toolsImage(kube: KubeClient, workspace: string): Promise<string> {
    const d = await ignoreNotFound(
        kube.apps.readNamespacedDeployment({ name: agentName(workspace), namespace: kube.ns }),
    );
    const image = d?.spec?.template.spec?.containers[0]?.image;
    if (!image)
        throw new BackendError(`workspace ${workspace} has no agent on the ${kube.description}: run \`pulumi up\``);
    return image;
}

export async function startJob(kube: KubeClient, run: JobRun): Promise<void> {
    const name = jobObjectName(run.workspace, run.name);
    if (await ignoreNotFound(kube.batch.readNamespacedJob({ name, namespace: kube.ns }))) return;
    const id = runtimeName({ workspace: run.workspace, instance: run.instance, owner: run.owner });
    const [sts, pod] = await Promise.all([
        ignoreNotFound(kube.apps.readNamespacedStatefulSet({ name: id, namespace: kube.ns })),
        ignoreNotFound(kube.core.readNamespacedPod({ name: `${id}-0`, namespace: kube.ns })),
    ]);
    if (!sts || !sts.spec?.replicas || !isReady(pod)) throw new InstanceNotRunningError(run.instance);
    const limits = sts.spec.template.spec?.containers[0]?.resources?.limits ?? {};
    const manifest = jobManifest(
        run,
        {
            cpus: limits.cpu ? parseCpu(limits.cpu) : 1,
            memoryBytes: (limits.memory ? parseMemoryGb(limits.memory) : 2) * 1024 ** 3,
            gpus: Number(limits["nvidia.com/gpu"] ?? 0),
            userFilesClaim: userFilesName(run.workspace),
        },
        kube.ns,
    );
    await kube.batch.createNamespacedJob({ namespace: kube.ns, body: manifest as k8s.V1Job }).catch((e: unknown) => {
        // Another start of the same job won the race: the job runs once.
        if (statusCode(e) === 409) return;
        throw new BackendError(`job ${run.name} could not be created on the ${kube.description}: ${reason(e)}`);
    });
}

/** The workspace's Jobs, by job: running or not, and the exit code its wrapper left in the pod's status. */
export async function listJobs(kube: KubeClient, workspace: string): Promise<Record<string, JobRuntimeView>> {
    const selector = `${LABEL_PREFIX}/workspace=${workspace},app.kubernetes.io/component=job`;
    const [jobs, pods] = await Promise.all([
        kube.batch.listNamespacedJob({ namespace: kube.ns, labelSelector: selector }),
        kube.core.listNamespacedPod({
            namespace: kube.ns,
            labelSelector: `app.kubernetes.io/part-of=${workspace},app.kubernetes.io/component=job`,
        }),
    ]);
    const out: Record<string, JobRuntimeView> = {};
    for (const j of jobs.items) {
        const job = j.metadata?.labels?.[JOB_LABEL];
        if (!job) continue;
        const ended = (j.status?.conditions ?? []).some(
            (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
        );
        const pod = pods.items.find((p) => p.metadata?.labels?.["job-name"] === j.metadata?.name);
        const terminated = pod?.status?.containerStatuses?.find((c) => c.name === "job")?.state?.terminated;
        const code = terminated?.message !== undefined ? Number(terminated.message.trim()) : NaN;
        const startedAt = j.status?.startTime ? new Date(j.status.startTime).toISOString() : undefined;
        out[job] = {
            instance: j.metadata?.labels?.["app.kubernetes.io/instance"] ?? "",
            running: !ended && !terminated,
            ...(startedAt ? { startedAt } : {}),
            ...(Number.isInteger(code) ? { exitCode: code } : {}),
        };
    }
    return out;
}

/** Its pod goes at once; the Job, failed, stays until the agent has recorded how it ended. */
export async function stopJob(kube: KubeClient, workspace: string, job: string): Promise<void> {
    const name = jobObjectName(workspace, job);
    await ignoreNotFound(
        kube.core.deleteCollectionNamespacedPod({
            namespace: kube.ns,
            labelSelector: `job-name=${name}`,
            gracePeriodSeconds: 2,
        }),
    );
}

export async function removeJob(kube: KubeClient, workspace: string, job: string): Promise<void> {
    await ignoreNotFound(
        kube.batch.deleteNamespacedJob({
            name: jobObjectName(workspace, job),
            namespace: kube.ns,
            propagationPolicy: "Background",
        }),
    );
}

/**
 * The jobs of the instance whose StatefulSet is `sts`, once it has stopped or gone (the agent then
 * records them as canceled by the stop, as on Docker).
 */
export async function stopJobsOf(kube: KubeClient, sts: k8s.V1StatefulSet | undefined): Promise<void> {
    const workspace = sts?.metadata?.labels?.[`${LABEL_PREFIX}/workspace`];
    const instance = sts?.metadata?.labels?.["app.kubernetes.io/instance"];
    if (workspace && instance) await stopInstanceJobs(kube, workspace, instance).catch(() => undefined);
}

async function stopInstanceJobs(kube: KubeClient, workspace: string, instance: string): Promise<void> {
    const jobs = await kube.batch.listNamespacedJob({
        namespace: kube.ns,
        labelSelector: `${LABEL_PREFIX}/workspace=${workspace},app.kubernetes.io/component=job,app.kubernetes.io/instance=${instance}`,
    });
    for (const j of jobs.items) {
        const job = j.metadata?.labels?.[JOB_LABEL];
        if (job) await stopJob(kube, workspace, job).catch(() => undefined);
    }
}

/** Files under a path of the job's folder, read by a one-shot pod whose log is their archive. */
export async function readJobFiles(
    kube: KubeClient,
    workspace: string,
    job: string,
    path = "",
): Promise<Record<string, Buffer>> {
    const log = await oneShot(kube, workspace, job, "read", PACK_SCRIPT, { DIR: jobDir(job), PATH_IN: path });
    return unpackFiles(Buffer.from(log.trim(), "base64"));
}

/** A gzipped tar made in the job's folder → its regular files, by path relative to the folder. */
export async function unpackFiles(tgz: Buffer): Promise<Record<string, Buffer>> {
    if (!tgz.length) return {};
    const tar = require("tar-stream") as typeof import("tar-stream");
    const zlib = require("zlib") as typeof import("zlib");
    const extract = tar.extract();
    const files: Record<string, Buffer> = {};
    const done = (async () => {
        for await (const entry of extract) {
            const chunks: Buffer[] = [];
            for await (const c of entry) chunks.push(c as Buffer);
            if (entry.header.type === "file") files[entry.header.name.replace(/^\.\//, "")] = Buffer.concat(chunks);
        }
    })();
    zlib.gunzip(tgz, (err, raw) => {
        if (err) extract.destroy(err);
        else extract.end(raw);
    });
    await done;
    return files;
}

/** The agent checks at its interval on a cluster: nothing to wake. */
export function wakeAgent(): Promise<void> {
    return Promise.resolve();
}
