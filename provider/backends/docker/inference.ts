/**
 * Local inference endpoints on Docker: each an application container of its instance (in its
 * network namespace, so Jupyter's proxy reaches it on localhost and nothing else does). As one of
 * the instance's applications it stops with the instance, is restarted into its new namespace
 * when it starts again (by the power operations and the agent's repair), and goes with it.
 */
import type Dockerode from "dockerode";
import { BackendError, InstanceRef } from "../backend";
import { ENDPOINT_COMMAND, EndpointRun, EndpointView, endpointEnv, endpointFolder } from "../inference";
import type { JobFile } from "../jobRunner";
import { INSTANCE_UID, LABEL_PREFIX, USER_FILES_DIR } from "../layout";
import { DockerContext, demux, ignoreNotFound, reason, statusCode } from "./engine";
import { containerName, labelsFor, userFilesVolumeName } from "./options";
import { putUserFiles, removeUserFilesFolder } from "./userFiles";

const ENDPOINT_LABEL = `${LABEL_PREFIX}/endpoint`;
const PORT_LABEL = `${LABEL_PREFIX}/endpoint-port`;
const SCRIPT_LABEL = `${LABEL_PREFIX}/endpoint-script`;

/** "." cannot be in an application's name: no endpoint's container is named like an application's. */
export function endpointContainerName(ref: InstanceRef, name: string): string {
    return `${containerName(ref)}-app-endpoint.${name}`;
}

/** Create options of an endpoint's container, from its run and its instance's container. Pure. */
export function endpointCreateOptions(
    run: EndpointRun,
    instance: { nanoCpus: number; memoryBytes: number; container: string },
): Dockerode.ContainerCreateOptions {
    return {
        name: endpointContainerName(run, run.name),
        Image: run.image,
        Entrypoint: ["/bin/sh", "-c", ENDPOINT_COMMAND],
        Cmd: [],
        Env: Object.entries(endpointEnv(run)).map(([k, v]) => `${k}=${v}`),
        User: `${INSTANCE_UID}:${INSTANCE_UID}`,
        WorkingDir: USER_FILES_DIR,
        Labels: labelsFor(run, "application", {
            [`${LABEL_PREFIX}/application`]: `endpoint.${run.name}`,
            [ENDPOINT_LABEL]: run.name,
            [PORT_LABEL]: String(run.port),
            [SCRIPT_LABEL]: run.scoringScript,
        }),
        HostConfig: {
            NetworkMode: `container:${instance.container}`,
            NanoCpus: instance.nanoCpus,
            Memory: instance.memoryBytes,
            MemorySwap: instance.memoryBytes,
            PidsLimit: 4096,
            // An init as PID 1 passes the stop signal on, whatever the image: the instance's stop
            // (which stops its applications) does not wait out the grace period.
            Init: true,
            Mounts: [{ Type: "volume", Source: userFilesVolumeName(run.workspace), Target: USER_FILES_DIR }],
            // A server that crashes is restarted, as Azure's local endpoints are.
            RestartPolicy: { Name: "unless-stopped" },
            CapDrop: ["ALL"],
            SecurityOpt: ["no-new-privileges:true"],
        },
    };
}

export async function stageEndpointFiles(
    ctx: DockerContext,
    workspace: string,
    name: string,
    files: JobFile[],
): Promise<void> {
    await removeUserFilesFolder(ctx, workspace, endpointFolder(name));
    await putUserFiles(
        ctx,
        workspace,
        files.map((f) => ({ ...f, name: `${endpointFolder(name)}/${f.name}`, uid: INSTANCE_UID, gid: INSTANCE_UID })),
    );
}

export async function startEndpoint(ctx: DockerContext, run: EndpointRun): Promise<EndpointView> {
    const instanceName = containerName(run);
    const inst = await ignoreNotFound(ctx.docker.getContainer(instanceName).inspect());
    if (!inst)
        throw new BackendError(`no instance ${run.instance} in workspace ${run.workspace} on the ${ctx.description}`);
    if (!inst.State.Running) throw new BackendError(`instance ${run.instance} is not running: start it first`);
    if (!(await ignoreNotFound(ctx.docker.getImage(run.image).inspect())))
        throw new BackendError(`image ${run.image} is not on the ${ctx.description}: pull or build it there first`);
    const options = endpointCreateOptions(run, {
        nanoCpus: inst.HostConfig.NanoCpus ?? 1e9,
        memoryBytes: inst.HostConfig.Memory ?? 2 * 1024 ** 3,
        container: instanceName,
    });
    const c = await ctx.docker.createContainer(options).catch((e: unknown) => {
        if (statusCode(e) === 409)
            throw new BackendError(`an endpoint "${run.name}" exists in workspace ${run.workspace}`);
        throw new BackendError(`endpoint ${run.name} could not be created on the ${ctx.description}: ${reason(e)}`);
    });
    await c.start();
    const view = viewOf(await c.inspect());
    if (!view) throw new BackendError(`endpoint ${run.name} disappeared right after it started`);
    return view;
}

export async function listEndpoints(ctx: DockerContext, workspace: string): Promise<EndpointView[]> {
    const list = await ctx.docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_PREFIX}/workspace=${workspace}`, ENDPOINT_LABEL] },
    });
    const views: EndpointView[] = [];
    for (const c of list) {
        const info = await ignoreNotFound(ctx.docker.getContainer(c.Id).inspect());
        const view = info && viewOf(info);
        if (view) views.push(view);
    }
    return views.sort((a, b) => a.name.localeCompare(b.name));
}

function viewOf(info: Dockerode.ContainerInspectInfo): EndpointView | undefined {
    const labels = info.Config.Labels ?? {};
    const name = labels[ENDPOINT_LABEL];
    if (!name) return undefined;
    const s = info.State;
    // Stopped with its instance (a stop, by hand or schedule) or stopped by the engine: Stopped;
    // exited on its own and not restarting: Failed.
    const status = s.Running
        ? "Running"
        : s.ExitCode === 0 || s.ExitCode === 143 || s.ExitCode === 137
          ? "Stopped"
          : "Failed";
    return {
        name,
        instance: labels["app.kubernetes.io/instance"] ?? "",
        image: info.Config.Image,
        port: Number(labels[PORT_LABEL]),
        scoringScript: labels[SCRIPT_LABEL] ?? "",
        status,
        ...(s.StartedAt && !s.StartedAt.startsWith("0001") ? { startedAt: s.StartedAt } : {}),
        ...(!s.Running ? { exitCode: s.ExitCode } : {}),
        restarts: info.RestartCount ?? 0,
    };
}

async function endpointContainer(ctx: DockerContext, workspace: string, name: string) {
    const list = await ctx.docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_PREFIX}/workspace=${workspace}`, `${ENDPOINT_LABEL}=${name}`] },
    });
    return list[0] ? ctx.docker.getContainer(list[0].Id) : undefined;
}

export async function endpointLogs(ctx: DockerContext, workspace: string, name: string, tail = 200): Promise<string> {
    const c = await endpointContainer(ctx, workspace, name);
    if (!c) throw new BackendError(`no endpoint "${name}" in workspace ${workspace} on the ${ctx.description}`);
    const raw = (await c.logs({ stdout: true, stderr: true, tail })) as unknown as Buffer;
    return demux(raw);
}

export async function deleteEndpoint(ctx: DockerContext, workspace: string, name: string): Promise<boolean> {
    const c = await endpointContainer(ctx, workspace, name);
    if (c) await ignoreNotFound(c.remove({ force: true }));
    await removeUserFilesFolder(ctx, workspace, endpointFolder(name));
    return c !== undefined;
}
