/** The workspace's network: one bridge per workspace, shared by the stacks that use it. */
import { BackendError, Ownership } from "../backend";
import { DockerContext, ignoreNotFound, statusCode } from "./engine";
import { bridgeName, labelsFor } from "./options";

export async function createWorkspaceNetwork(ctx: DockerContext, ref: Ownership, name: string): Promise<void> {
    const existing = await ignoreNotFound(ctx.docker.getNetwork(name).inspect());
    if (!existing) {
        try {
            await ctx.docker.createNetwork({
                Name: name,
                Driver: "bridge",
                CheckDuplicate: true,
                Labels: labelsFor(ref, "network"),
            });
        } catch (e) {
            // Another stack of the same workspace may have created it a moment ago.
            if (statusCode(e) !== 409) throw e;
        }
    }
}

export async function workspaceNetworkExists(ctx: DockerContext, name: string): Promise<boolean> {
    return (await ignoreNotFound(ctx.docker.getNetwork(name).inspect())) !== undefined;
}

export async function deleteWorkspaceNetwork(ctx: DockerContext, name: string): Promise<void> {
    const info = await ignoreNotFound(ctx.docker.getNetwork(name).inspect());
    if (!info) return;
    // Instances of other stacks of the same workspace keep it alive.
    if (Object.keys(info.Containers ?? {}).length > 0) return;
    await ignoreNotFound(ctx.docker.getNetwork(name).remove());
}

/** The host's bridge interface of a network; undefined when the network is not there. */
export async function bridgeIfAny(ctx: DockerContext, network: string): Promise<string | undefined> {
    const info = await ignoreNotFound(ctx.docker.getNetwork(network).inspect());
    return info ? bridgeName(info) : undefined;
}

/** The host's bridge interface of a network that must be there. */
export async function bridgeOf(ctx: DockerContext, network: string): Promise<string> {
    const bridge = await bridgeIfAny(ctx, network);
    if (bridge === undefined)
        throw new BackendError(
            `the workspace network ${network} is not on the ${ctx.description}; run \`pulumi refresh\`, then \`pulumi up\``,
        );
    return bridge;
}
