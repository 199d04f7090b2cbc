/**
 * Power: a stopped instance keeps its container (and so its OS disk); a start waits until it
 * answers again, its applications restarted into its new network namespace.
 */
import type Dockerode from "dockerode";
import { BackendError, RuntimeState } from "../backend";
import type { Progress } from "../../progress";
import { readRuntime } from "./containers";
import { DockerContext, ignoreNotFound } from "./engine";
import { probeJupyter, probeSsh } from "./probes";
import { setupTimeoutOf, waitUntilSetUp } from "./setup";
import { restartApplications, stopApplications } from "./sidecars";
import { currentToken } from "./tokens";

export async function stopRuntime(ctx: DockerContext, id: string): Promise<RuntimeState> {
    const { c, info } = await instance(ctx, id);
    await stopApplications(ctx, id);
    if (info.State.Running || info.State.Restarting) await c.stop({ t: 10 });
    const after = await readRuntime(ctx, id);
    if (!after || after.status !== "Stopped")
        throw new BackendError(`${id} did not stop (it is ${after?.status ?? "gone"})`);
    return after;
}

export async function startRuntime(
    ctx: DockerContext,
    id: string,
    progress: Progress,
    timeoutSeconds: number,
): Promise<RuntimeState> {
    const { c, info } = await instance(ctx, id);
    if (!info.State.Running) await c.start();
    // Beside it, in its (new) network namespace; an instance already running keeps them as they are.
    await restartApplications(ctx, id, (await c.inspect()).State.StartedAt);
    const state = await readRuntime(ctx, id);
    if (!state) throw new BackendError(`${id} disappeared while starting`);
    const target = { container: c, ports: state.ports, token: (await currentToken(c, info)) ?? "" };
    const seconds = await waitUntilSetUp(c, {
        what: "Jupyter",
        probe: async () =>
            (await probeJupyter(ctx, target)) && (state.ports.ssh === undefined || (await probeSsh(ctx, target))),
        exited: (now) => (now.State.Running ? undefined : "the container exited"),
        // The startup script runs at every start (and the creation script after a reimage).
        timeoutSeconds: timeoutSeconds + 2 * setupTimeoutOf(info),
        progress,
    });
    progress.info(`ready in ${seconds.toFixed(1)}s`);
    return { ...state, status: "Running" };
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
