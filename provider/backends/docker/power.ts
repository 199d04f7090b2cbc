/**
 * Power: a stopped instance keeps its container (and so its OS disk); a start waits until it
 * answers again, its applications restarted into its new network namespace.
 */
import type Dockerode from "dockerode";
import { BackendError, RuntimeState } from "../backend";
import * as lifecycle from "../lifecycle";
import type { Progress } from "../../progress";
import type { PublishedPorts } from "../../model/endpoints";
import { readRuntime } from "./containers";
import { DockerContext, ignoreNotFound } from "./engine";
import { publishedPortsOf } from "./ports";
import { probeJupyter, probeSsh } from "./probes";
import { setupTimeoutOf, waitUntilSetUp } from "./setup";
import { stopInstanceJobs } from "./jobs";
import { restartApplications, stopApplications } from "./sidecars";
import { currentToken } from "./tokens";

export async function stopRuntime(ctx: DockerContext, id: string): Promise<RuntimeState> {
    const { c, info } = await instance(ctx, id);
    return lifecycle.stopRuntime(id, {
        async stop() {
            await stopApplications(ctx, id);
            if (info.State.Running || info.State.Restarting) await c.stop({ t: 10 });
            // Its jobs after it: the agent that sees a job ended then sees its instance stopped
            // too, and records the job as canceled by the stop, not as killed.
            await stopInstanceJobs(ctx, info);
        },
        read: () => readRuntime(ctx, id),
    });
}

export async function startRuntime(
    ctx: DockerContext,
    id: string,
    progress: Progress,
    timeoutSeconds: number,
): Promise<RuntimeState> {
    const { c, info } = await instance(ctx, id);
    let ports: PublishedPorts = {};
    return lifecycle.startRuntime(
        id,
        {
            async start() {
                if (!info.State.Running) await c.start();
                const now = await c.inspect();
                // Beside it, in its (new) network namespace; an instance already running keeps them as they are.
                await restartApplications(ctx, id, now.State.StartedAt);
                ports = publishedPortsOf(now);
            },
            async waitReady() {
                const target = { container: c, ports, token: (await currentToken(c, info)) ?? "" };
                return waitUntilSetUp(c, {
                    what: "Jupyter",
                    probe: async () =>
                        (await probeJupyter(ctx, target)) && (ports.ssh === undefined || (await probeSsh(ctx, target))),
                    exited: (now) => (now.State.Running ? undefined : "the container exited"),
                    // The startup script runs at every start (and the creation script after a reimage).
                    timeoutSeconds: timeoutSeconds + 2 * setupTimeoutOf(info),
                    progress,
                });
            },
            // It answers: Running, whatever the tail of its log said a moment before.
            read: async () => {
                const state = await readRuntime(ctx, id);
                return state && { ...state, status: "Running" };
            },
        },
        progress,
    );
}

async function instance(
    ctx: DockerContext,
    id: string,
): Promise<{ c: Dockerode.Container; info: Dockerode.ContainerInspectInfo }> {
    const c = ctx.docker.getContainer(id);
    const info = await ignoreNotFound(c.inspect());
    if (!info) throw new BackendError(`no instance ${id} on the ${ctx.description}`);
    return { c, info };
}
