/**
 * Jobs on Docker: each in its own container named after the job, in its instance's network
 * namespace (its network rules, its localhost), as the instance's user, with the workspace's user
 * files mounted and a share of the instance's CPU and memory.
 */
import type Dockerode from "dockerode";
import { BackendError } from "../backend";
import { InstanceNotRunningError } from "../errors";
import { JobRun, JobRuntimeView } from "../jobRunner";
import { EXIT_CODE_FILE, JOB_WRAPPER, jobDir, jobEnv } from "../jobRun";
import { INSTANCE_UID, LABEL_PREFIX, USER_FILES_DIR } from "../layout";
import { FileEntry, getFileBuffers, getFiles } from "./archive";
import { DockerContext, ignoreNotFound, reason, statusCode } from "./engine";
import { agentContainerName, containerName, labelsFor, userFilesVolumeName } from "./options";
import { putUserFiles, withUserFiles } from "./userFiles";

export function jobContainerName(workspace: string, job: string): string {
    return `ci-${workspace}-job-${job}`;
}

const JOB_LABEL = `${LABEL_PREFIX}/job`;

/** Create options of a job's container, from its run and its instance's container. Pure. */
export function jobCreateOptions(
    run: JobRun,
    instance: { cpus: number; memoryBytes: number; gpus: number; container: string },
): Dockerode.ContainerCreateOptions {
    const memory = Math.max(64 * 1024 ** 2, Math.floor(instance.memoryBytes * run.share));
    const env = jobEnv(run.name, run.job, instance.gpus);
    return {
        name: jobContainerName(run.workspace, run.name),
        Image: run.job.image,
        Entrypoint: ["/bin/sh", "-c", JOB_WRAPPER],
        Cmd: [],
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        User: `${INSTANCE_UID}:${INSTANCE_UID}`,
        WorkingDir: USER_FILES_DIR,
        Labels: labelsFor({ workspace: run.workspace, instance: run.instance, owner: run.owner }, "job", {
            [JOB_LABEL]: run.name,
        }),
        HostConfig: {
            NetworkMode: `container:${instance.container}`,
            NanoCpus: Math.max(1e7, Math.round(instance.cpus * run.share * 1e9)),
            Memory: memory,
            MemorySwap: memory,
            PidsLimit: 4096,
            ...(run.job.shmSizeBytes ? { ShmSize: run.job.shmSizeBytes } : {}),
            ...(instance.gpus > 0
                ? { DeviceRequests: [{ Driver: "nvidia", Count: instance.gpus, Capabilities: [["gpu"]] }] }
                : {}),
            Mounts: [{ Type: "volume", Source: userFilesVolumeName(run.workspace), Target: USER_FILES_DIR }],
            RestartPolicy: { Name: "no" },
            CapDrop: ["ALL"],
            SecurityOpt: ["no-new-privileges:true"],
        },
    };
}

/** Starts the job's container; one that exists already (a start the agent did not record) is left as it is. */
export async function startJob(ctx: DockerContext, run: JobRun): Promise<void> {
    const name = jobContainerName(run.workspace, run.name);
    if (await ignoreNotFound(ctx.docker.getContainer(name).inspect())) return;
    const image = await ignoreNotFound(ctx.docker.getImage(run.job.image).inspect());
    if (!image)
        throw new BackendError(
            `image ${run.job.image} is not on the ${ctx.description}: pull or build it there first (jobs never pull)`,
        );
    const instanceName = containerName({ workspace: run.workspace, instance: run.instance, owner: run.owner });
    const inst = await ignoreNotFound(ctx.docker.getContainer(instanceName).inspect());
    if (!inst?.State.Running) throw new InstanceNotRunningError(run.instance);
    const gpus = inst.HostConfig.DeviceRequests?.reduce((n, d) => n + (d.Count ?? 0), 0) ?? 0;
    const options = jobCreateOptions(run, {
        cpus: (inst.HostConfig.NanoCpus ?? 1e9) / 1e9,
        memoryBytes: inst.HostConfig.Memory ?? 2 * 1024 ** 3,
        gpus,
        container: instanceName,
    });
    const container = await ctx.docker.createContainer(options).catch((e: unknown) => {
        // Another start of the same job won the race: the job runs once.
        if (statusCode(e) === 409) return undefined;
        throw new BackendError(`job ${run.name} could not be created on the ${ctx.description}: ${reason(e)}`);
    });
    await container?.start();
}

/** The workspace's job containers, by job: running or not, and the exit code their wrapper recorded. */
export async function listJobs(ctx: DockerContext, workspace: string): Promise<Record<string, JobRuntimeView>> {
    const list = await ctx.docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_PREFIX}/workspace=${workspace}`, "app.kubernetes.io/component=job"] },
    });
    const out: Record<string, JobRuntimeView> = {};
    for (const c of list) {
        const job = c.Labels[JOB_LABEL];
        if (!job) continue;
        const info = await ignoreNotFound(ctx.docker.getContainer(c.Id).inspect());
        if (!info) continue;
        const running = info.State.Running || info.State.Restarting;
        const exitCode = running ? undefined : await recordedExitCode(ctx.docker.getContainer(c.Id), job);
        out[job] = {
            instance: c.Labels["app.kubernetes.io/instance"] ?? "",
            running,
            ...(info.State.StartedAt && !info.State.StartedAt.startsWith("0001")
                ? { startedAt: info.State.StartedAt }
                : {}),
            ...(exitCode !== undefined ? { exitCode } : {}),
        };
    }
    return out;
}

async function recordedExitCode(container: Dockerode.Container, job: string): Promise<number | undefined> {
    const files = await getFiles(container, `${jobDir(job)}/${EXIT_CODE_FILE}`).catch(() => ({}));
    const text = Object.values(files)[0];
    const code = text === undefined ? NaN : Number(text.trim());
    return Number.isInteger(code) ? code : undefined;
}

export async function stopJob(ctx: DockerContext, workspace: string, job: string): Promise<void> {
    await ignoreNotFound(ctx.docker.getContainer(jobContainerName(workspace, job)).stop({ t: 2 }).catch(notStopped));
}

export async function removeJob(ctx: DockerContext, workspace: string, job: string): Promise<void> {
    await ignoreNotFound(ctx.docker.getContainer(jobContainerName(workspace, job)).remove({ force: true }));
}

/**
 * Stops the jobs of an instance that stops or goes: they run in its network namespace and on its
 * share of the machine. The agent records them as canceled.
 */
export async function stopInstanceJobs(ctx: DockerContext, info: Dockerode.ContainerInspectInfo): Promise<void> {
    const labels = info.Config.Labels ?? {};
    const workspace = labels[`${LABEL_PREFIX}/workspace`];
    const instance = labels["app.kubernetes.io/instance"];
    if (!workspace || !instance) return;
    const list = await ctx.docker.listContainers({
        filters: {
            label: [
                `${LABEL_PREFIX}/workspace=${workspace}`,
                "app.kubernetes.io/component=job",
                `app.kubernetes.io/instance=${instance}`,
            ],
        },
    });
    await Promise.all(
        list.map((c) =>
            ignoreNotFound(ctx.docker.getContainer(c.Id).stop({ t: 2 }).catch(notStopped)).catch(() => undefined),
        ),
    );
}

/** The engine's `die` events of the workspace's job containers; watched again if the stream ends. */
export function watchEnded(ctx: DockerContext, workspace: string, ended: () => void): () => void {
    let stopped = false;
    let current: NodeJS.ReadableStream | undefined;
    const watch = () => {
        if (stopped) return;
        ctx.docker.getEvents(
            {
                filters: {
                    type: ["container"],
                    event: ["die"],
                    label: [`${LABEL_PREFIX}/workspace=${workspace}`, "app.kubernetes.io/component=job"],
                },
            },
            (err, stream) => {
                if (err || !stream) return void setTimeout(watch, 5000);
                current = stream;
                stream.on("data", () => ended());
                // The engine restarted, or the connection dropped: watch again.
                stream.on("close", () => setTimeout(watch, 1000));
                stream.on("error", () => undefined);
            },
        );
    };
    watch();
    return () => {
        stopped = true;
        (current as { destroy?: () => void } | undefined)?.destroy?.();
    };
}

/** SIGUSR1 wakes the agent (agent/main.ts); an agent that does not run checks when it starts. */
export async function wakeAgent(ctx: DockerContext, workspace: string): Promise<void> {
    await ctx.docker
        .getContainer(agentContainerName(workspace))
        .kill({ signal: "SIGUSR1" })
        .catch(() => undefined);
}

/** Stopping a container that has already stopped is no error. */
function notStopped(e: unknown): void {
    if (statusCode(e) !== 304) throw e;
}

/** Puts files under the job's folder of the user files, owned by the instance's user. */
export async function stageJobFiles(
    ctx: DockerContext,
    workspace: string,
    job: string,
    files: FileEntry[],
): Promise<void> {
    // Nothing to upload: the job's wrapper makes its folder, as the instance's user.
    if (!files.length) return;
    const owned = files.map((f) => ({ ...f, uid: INSTANCE_UID, gid: INSTANCE_UID }));
    // The folders above the job's (jobs/) are the user's too.
    await putUserFiles(ctx, workspace, [
        { name: `jobs/${job}/.submitted`, body: "", mode: 0o644, uid: INSTANCE_UID, gid: INSTANCE_UID },
        ...owned.map((f) => ({ ...f, name: `jobs/${job}/${f.name}` })),
    ]);
}

/** Files under a path of the job's folder (its logs, its outputs), by path relative to the folder. */
export async function readJobFiles(
    ctx: DockerContext,
    workspace: string,
    job: string,
    path = "",
): Promise<Record<string, Buffer>> {
    return withUserFiles(ctx, workspace, async (c) => {
        const files = await getFileBuffers(c, path ? `${jobDir(job)}/${path}` : jobDir(job)).catch((e: unknown) => {
            if (statusCode(e) === 404) return {};
            throw e;
        });
        // An archive names its entries from the last part of the path asked for.
        const parent = path ? path.split("/").slice(0, -1) : [];
        return Object.fromEntries(
            Object.entries(files).map(([k, v]) => [
                path ? [...parent, k].join("/") : k.split("/").slice(1).join("/"),
                v,
            ]),
        );
    });
}
