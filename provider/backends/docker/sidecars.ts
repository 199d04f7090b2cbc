/**
 * Custom applications with an image of their own: containers beside their instance, in its
 * network namespace. An instance that starts anew (a restart by the engine, a power cycle) gets a
 * new namespace, so those started before it are restarted into it.
 */
import type Dockerode from "dockerode";
import { BackendError, RuntimeSpec } from "../backend";
import type { Progress } from "../../progress";
import { DockerContext, ignoreNotFound, nameOf, reason, workspaceContainers } from "./engine";
import { ensureImage } from "./images";
import { LABEL_PREFIX, applicationContainerName, applicationCreateOptions, containerName } from "./options";

/** Made and started in the instance's network (its container runs already). */
export async function startApplications(ctx: DockerContext, spec: RuntimeSpec, progress: Progress): Promise<void> {
    for (const app of (spec.customApplications ?? []).filter((a) => a.image)) {
        const image = app.image as string;
        await ensureImage(ctx, image, progress);
        progress.status(`starting ${app.name} (${image})`);
        const name = applicationContainerName(spec, app.name);
        await ignoreNotFound(ctx.docker.getContainer(name).remove({ force: true }));
        const c = await ctx.docker.createContainer(applicationCreateOptions(spec, app));
        await c.start();
    }
}

export async function stopApplications(ctx: DockerContext, id: string): Promise<void> {
    for (const app of await applicationContainers(ctx, id))
        await ignoreNotFound(app.stop({ t: 10 })).catch(() => undefined);
}

/** After the instance `id` started at `startedAt`: its applications, into its (new) network namespace. */
export async function restartApplications(ctx: DockerContext, id: string, startedAt: string): Promise<void> {
    for (const app of await applicationContainers(ctx, id)) {
        await restartIfStale(app, startedAt).catch((e) => {
            throw new BackendError(
                `${id}: its application container ${app.id.slice(0, 12)} did not start: ${reason(e)}`,
            );
        });
    }
}

export async function removeApplications(ctx: DockerContext, id: string): Promise<void> {
    for (const c of await applicationContainers(ctx, id)) await ignoreNotFound(c.remove({ force: true }));
}

/** The workspace's application containers left outside their running instance's namespace, restarted. */
export async function repairApplications(ctx: DockerContext, workspace: string): Promise<string[]> {
    // Two lists for the whole workspace (the agent asks at every check); inspections only
    // for the instances that have applications.
    const [running, apps] = await Promise.all([
        workspaceContainers(ctx, workspace, "runtime", false),
        workspaceContainers(ctx, workspace, "application", true),
    ]);
    const restarted: string[] = [];
    for (const c of running) {
        const mine = apps.filter(
            (a) => a.Labels["app.kubernetes.io/instance"] === c.Labels["app.kubernetes.io/instance"],
        );
        if (!mine.length) continue;
        const instance = await ignoreNotFound(ctx.docker.getContainer(c.Id).inspect());
        if (!instance?.State.Running) continue;
        for (const a of mine) {
            const name = await restartIfStale(ctx.docker.getContainer(a.Id), instance.State.StartedAt);
            if (name) restarted.push(name);
        }
    }
    return restarted;
}

/**
 * The application containers of an instance (by its container's name). Told apart by their
 * labels, not their names: instance "a"'s prefix also matches instance "a-app-x"'s applications.
 */
async function applicationContainers(ctx: DockerContext, id: string): Promise<Dockerode.Container[]> {
    const list = await ctx.docker.listContainers({
        all: true,
        filters: { name: [`${id}-app-`], label: ["app.kubernetes.io/component=application"] },
    });
    return list
        .filter(
            (c) =>
                containerName({
                    workspace: c.Labels[`${LABEL_PREFIX}/workspace`],
                    instance: c.Labels["app.kubernetes.io/instance"],
                    owner: "",
                }) === id,
        )
        .map((c) => ctx.docker.getContainer(c.Id));
}

/**
 * Restarts an application container that is not running or started before its instance (so it
 * holds the instance's old network namespace); one started since is left alone, with its
 * sessions. Returns the container's name when it restarted it.
 */
async function restartIfStale(app: Dockerode.Container, instanceStartedAt: string): Promise<string | undefined> {
    const info = await ignoreNotFound(app.inspect());
    if (!info || (info.State.Running && Date.parse(info.State.StartedAt) >= Date.parse(instanceStartedAt)))
        return undefined;
    await app.restart({ t: 5 });
    return nameOf(info);
}
