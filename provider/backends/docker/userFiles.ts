/**
 * The workspace's user files from outside any instance: files go in and out through a container
 * that mounts them and is never started (the archive API works on it), of the agent's image,
 * which is on the engine whenever the workspace is.
 */
import type Dockerode from "dockerode";
import { BackendError } from "../backend";
import { INSTANCE_UID, USER_FILES_DIR } from "../layout";
import { FileEntry, putFiles } from "./archive";
import { DockerContext, ignoreNotFound, logTail, reason } from "./engine";
import { agentContainerName, labelsFor, userFilesVolumeName } from "./options";

/** Runs `use` with a container that mounts the user files at `USER_FILES_DIR`, running `command` if given. */
export async function withUserFiles<T>(
    ctx: DockerContext,
    workspace: string,
    use: (c: Dockerode.Container) => Promise<T>,
    command: string[] = ["/bin/true"],
): Promise<T> {
    const agent = await ignoreNotFound(ctx.docker.getContainer(agentContainerName(workspace)).inspect());
    if (!agent)
        throw new BackendError(`workspace ${workspace} has no agent on the ${ctx.description}: run \`pulumi up\``);
    const c = await ctx.docker.createContainer({
        Image: agent.Image,
        Entrypoint: [command[0]],
        Cmd: command.slice(1),
        User: `${INSTANCE_UID}:${INSTANCE_UID}`,
        Labels: labelsFor({ workspace, owner: "" }, "job"),
        HostConfig: {
            Mounts: [{ Type: "volume", Source: userFilesVolumeName(workspace), Target: USER_FILES_DIR }],
            NetworkMode: "none",
        },
    });
    try {
        return await use(c);
    } finally {
        await c.remove({ force: true }).catch(() => undefined);
    }
}

/** Writes files under the user files (paths relative to them). */
export async function putUserFiles(ctx: DockerContext, workspace: string, files: FileEntry[]): Promise<void> {
    await withUserFiles(ctx, workspace, (c) => putFiles(c, USER_FILES_DIR, files));
}

/** Removes a folder of the user files (a path relative to them), as the instance's user. */
export async function removeUserFilesFolder(ctx: DockerContext, workspace: string, folder: string): Promise<void> {
    if (!folder || folder.split("/").some((p) => p === ".." || p === "" || p === "."))
        throw new BackendError(`refusing to remove "${folder}" from the user files`);
    await withUserFiles(
        ctx,
        workspace,
        async (c) => {
            await c.start();
            const { StatusCode } = (await c.wait()) as { StatusCode: number };
            if (StatusCode !== 0) {
                const out = await logTail(c).catch((e: unknown) => reason(e));
                throw new BackendError(`could not remove ${folder} from the user files: ${out.trim()}`);
            }
        },
        ["rm", "-rf", `${USER_FILES_DIR}/${folder}`],
    );
}
