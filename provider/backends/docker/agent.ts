/**
 * The workspace agent's container (its store on a volume of its own), and what the agent asks of
 * the engine: the workspace's instances, of every stack, and what they count against quotas.
 */
import type Dockerode from "dockerode";
import { AgentSpec, AgentState, BackendError, InstanceView } from "../backend";
import type { Progress } from "../../progress";
import type { QuotaUse } from "../../model/quota";
import { PUBLISH_ADDRESS, SERVICES } from "../../model/endpoints";
import { publishedPortsOf } from "./ports";
import {
    DockerContext,
    ignoreNotFound,
    logTail,
    nameOf,
    reason,
    resourcesOf,
    statusCode,
    workspaceContainers,
} from "./engine";
import { ensureImage } from "./images";
import {
    LABEL_PREFIX,
    agentContainerName,
    agentCreateOptions,
    agentVolumeName,
    labelsFor,
    statusFromDocker,
} from "./options";
import { currentToken } from "./tokens";
import { removeVolume } from "./volumes";

export async function ensureAgent(ctx: DockerContext, spec: AgentSpec, progress: Progress): Promise<AgentState> {
    await ensureImage(ctx, spec.image, progress);
    const volume = agentVolumeName(spec.workspace);
    if (!(await ignoreNotFound(ctx.docker.getVolume(volume).inspect()))) {
        await ctx.docker.createVolume({ Name: volume, Labels: labelsFor(spec, "agent") });
    }
    const name = agentContainerName(spec.workspace);
    const have = await readAgent(ctx, spec.workspace);
    const stale =
        have !== undefined && (have.image !== spec.image || have.checkIntervalSeconds !== spec.checkIntervalSeconds);
    if (have?.running && !stale) return have;
    // The store is on the volume: a new container picks up where the old one stopped.
    if (stale) await ignoreNotFound(ctx.docker.getContainer(name).remove({ force: true }));
    if (!have || stale) await ctx.docker.createContainer(agentCreateOptions(spec));
    progress.status("starting the workspace agent");
    await ctx.docker
        .getContainer(name)
        .start()
        .catch((e) => {
            if (statusCode(e) !== 304)
                throw new BackendError(
                    `the workspace agent ${name} did not start on the ${ctx.description}: ${reason(e)}`,
                );
        });
    const after = await readAgent(ctx, spec.workspace);
    if (!after?.running)
        throw new BackendError(
            `the workspace agent ${name} exited right after it started: ${await logTail(ctx.docker.getContainer(name))}`,
        );
    return after;
}

export async function readAgent(ctx: DockerContext, workspace: string): Promise<AgentState | undefined> {
    const info = await ignoreNotFound(ctx.docker.getContainer(agentContainerName(workspace)).inspect());
    if (!info) return undefined;
    return {
        id: agentContainerName(workspace),
        image: info.Config.Image,
        checkIntervalSeconds: Number(info.Config.Labels?.[`${LABEL_PREFIX}/check-interval-seconds`] ?? 0),
        running: info.State.Running,
    };
}

export async function deleteAgent(ctx: DockerContext, workspace: string): Promise<void> {
    await ignoreNotFound(ctx.docker.getContainer(agentContainerName(workspace)).remove({ force: true }));
    await removeVolume(ctx, agentVolumeName(workspace), "workspace agent");
}

export async function workspaceUsage(ctx: DockerContext, workspace: string): Promise<QuotaUse[]> {
    return (await runtimes(ctx, workspace)).map((info) => {
        const { cpus, gpus } = resourcesOf(info.HostConfig);
        return {
            ...ownerOf(info),
            cpus,
            gpus,
            ...(info.State.Running ? {} : { stopped: true }),
        };
    });
}

/**
 * Where this process reaches an instance's Jupyter: by name on the workspace network (the agent),
 * else on its published port of a local engine (the CLI on the engine's machine); by name too
 * where neither applies (a remote engine), for a caller that is on that network.
 */
function jupyterUrlOf(ctx: DockerContext, info: Dockerode.ContainerInspectInfo): string {
    const published = publishedPortsOf(info).jupyter;
    if (ctx.options.reachInstancesBy !== "workspace-network" && ctx.local && published !== undefined)
        return `http://${PUBLISH_ADDRESS}:${published}`;
    return `http://${nameOf(info)}:${SERVICES.jupyter.containerPort}`;
}

export async function listInstances(ctx: DockerContext, workspace: string): Promise<InstanceView[]> {
    const views: InstanceView[] = [];
    for (const info of await runtimes(ctx, workspace)) {
        const name = nameOf(info);
        const c = ctx.docker.getContainer(info.Id);
        // Only a running server can be asked anything: no archive read per stopped instance at every check.
        const token = info.State.Running ? await currentToken(c, info).catch(() => undefined) : undefined;
        views.push({
            ...ownerOf(info),
            id: name,
            status: statusFromDocker(info.State),
            ...(info.State.Running ? { startedAt: info.State.StartedAt } : {}),
            jupyterUrl: jupyterUrlOf(ctx, info),
            ...(token ? { token } : {}),
        });
    }
    return views;
}

/** The workspace's runtime containers, of every stack, as inspected (those gone meanwhile left out). */
async function runtimes(ctx: DockerContext, workspace: string): Promise<Dockerode.ContainerInspectInfo[]> {
    const list = await workspaceContainers(ctx, workspace, "runtime", true);
    const infos = await Promise.all(list.map((c) => ignoreNotFound(ctx.docker.getContainer(c.Id).inspect())));
    return infos.filter((i): i is Dockerode.ContainerInspectInfo => i !== undefined);
}

/** Which instance a runtime container is, and the stack that manages it. */
function ownerOf(info: Dockerode.ContainerInspectInfo): { instance: string; owner: string } {
    return {
        instance: info.Config.Labels?.["app.kubernetes.io/instance"] ?? nameOf(info),
        owner: info.Config.Labels?.[`${LABEL_PREFIX}/owner`] ?? "",
    };
}
