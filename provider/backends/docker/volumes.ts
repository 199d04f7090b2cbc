/**
 * Volumes: the workspace's user files (shared by the stacks that use it, each recorded beside it
 * by a volume of its own) and an instance's disks.
 */
import { BackendError, DiskState, Disks, Ownership, UserFilesClaim, UserFilesRelease } from "../backend";
import { ownerKey } from "../layout";
import { deleteRuntime } from "./containers";
import { DockerContext, ignoreNotFound, listedName, reason, statusCode } from "./engine";
import { LABEL_PREFIX, labelsFor } from "./options";

// -- user files ------------------------------------------------------------------------------

export async function createUserFiles(
    ctx: DockerContext,
    ref: Ownership,
    name: string,
    sizeGb: number,
): Promise<UserFilesClaim> {
    const existing = await ignoreNotFound(ctx.docker.getVolume(name).inspect());
    if (existing) {
        if (existing.Labels?.[`${LABEL_PREFIX}/workspace`] !== ref.workspace) {
            throw new BackendError(
                `volume "${name}" exists on the ${ctx.description} but is not the user files of workspace "${ref.workspace}"; remove or rename it`,
            );
        }
        const createdBy = existing.Labels?.[`${LABEL_PREFIX}/owner`];
        await referenceUserFiles(ctx, ref, name);
        if (createdBy === ref.owner) return { adopted: false, createdBy };
        return { adopted: true, ...(createdBy ? { createdBy } : {}) };
    }
    await ctx.docker.createVolume({
        Name: name,
        Labels: labelsFor(ref, "user-files", { [`${LABEL_PREFIX}/size-gb`]: String(sizeGb) }),
    });
    await referenceUserFiles(ctx, ref, name);
    return { adopted: false, createdBy: ref.owner };
}

export async function userFilesUsers(ctx: DockerContext, name: string): Promise<string[]> {
    const references =
        (await ctx.docker.listVolumes({ filters: { label: [`${LABEL_PREFIX}/user-files=${name}`] } })).Volumes ?? [];
    return references.map((v) => v.Labels?.[`${LABEL_PREFIX}/owner`]).filter((o): o is string => !!o);
}

export async function userFilesExists(ctx: DockerContext, name: string): Promise<boolean> {
    return (await ignoreNotFound(ctx.docker.getVolume(name).inspect())) !== undefined;
}

/** The volume that records a stack as a user of a store. */
function referenceName(name: string, ref: Ownership): string {
    return `${name}-ref-${ownerKey(ref.owner)}`;
}

/**
 * A volume's labels cannot change, so each stack whose workspace uses a store says so with a
 * volume of its own beside it: empty, labelled with the store and the stack.
 */
async function referenceUserFiles(ctx: DockerContext, ref: Ownership, name: string): Promise<void> {
    const marker = referenceName(name, ref);
    if (await ignoreNotFound(ctx.docker.getVolume(marker).inspect())) return;
    await ctx.docker.createVolume({
        Name: marker,
        Labels: labelsFor(ref, "user-files-reference", { [`${LABEL_PREFIX}/user-files`]: name }),
    });
}

export async function releaseUserFiles(
    ctx: DockerContext,
    ref: Ownership,
    name: string,
    deleteIfUnused: boolean,
): Promise<UserFilesRelease> {
    await ignoreNotFound(ctx.docker.getVolume(referenceName(name, ref)).remove());
    if (!deleteIfUnused) return { deleted: false };
    const stacks = (await userFilesUsers(ctx, name)).filter((o) => o !== ref.owner);
    const mounted = (await ctx.docker.listContainers({ all: true, filters: { volume: [name] } })).map(listedName);
    const users = [...stacks.map((s) => `stack ${s}`), ...mounted.map((c) => `container ${c}`)];
    if (users.length) return { deleted: false, keptFor: `used by ${users.join(", ")}` };
    await removeVolume(ctx, name, "user files");
    return { deleted: true };
}

// -- disks -----------------------------------------------------------------------------------

/** See Disks.createDisk, whose parameters these are. */
export async function createDisk(
    ctx: DockerContext,
    ...[ref, role, sizeGb, name, labels = {}]: Parameters<Disks["createDisk"]>
): Promise<DiskState> {
    await ctx.docker.createVolume({
        Name: name,
        Labels: labelsFor(ref, role === "os" ? "os-disk" : "temp-disk", {
            [`${LABEL_PREFIX}/size-gb`]: String(sizeGb),
            ...labels,
        }),
    });
    return { name, sizeGb };
}

export async function readDisk(ctx: DockerContext, name: string): Promise<DiskState | undefined> {
    const info = await ignoreNotFound(ctx.docker.getVolume(name).inspect());
    if (!info) return undefined;
    return { name, sizeGb: Number(info.Labels?.[`${LABEL_PREFIX}/size-gb`] ?? 0) };
}

export async function deleteDisk(ctx: DockerContext, name: string): Promise<void> {
    await removeOrphanRuntimes(ctx, name);
    await removeVolume(ctx, name, "disk");
}

/**
 * The runtime containers of the disk's own stack that still use it: a create that died midway
 * (the provider killed, the machine rebooted) left them out of the state. The disk's runtime
 * in the state is deleted before the disk; these never would be, and would hold the disk.
 */
async function removeOrphanRuntimes(ctx: DockerContext, volume: string): Promise<void> {
    const info = await ignoreNotFound(ctx.docker.getVolume(volume).inspect());
    const owner = info?.Labels?.[`${LABEL_PREFIX}/owner`];
    if (!owner) return;
    const users = await ctx.docker.listContainers({
        all: true,
        filters: {
            volume: [volume],
            label: [`${LABEL_PREFIX}/owner=${owner}`, "app.kubernetes.io/component=runtime"],
        },
    });
    for (const c of users) await deleteRuntime(ctx, listedName(c));
}

/** Removes a volume (`what` it is, for messages), waiting a moment for containers just removed to let go of it. */
export async function removeVolume(ctx: DockerContext, name: string, what: string): Promise<void> {
    // A container removed a moment ago can hold its volumes for a short while.
    for (let attempt = 0; ; attempt++) {
        try {
            await ignoreNotFound(ctx.docker.getVolume(name).remove());
            return;
        } catch (e) {
            if (statusCode(e) === 409 && attempt < 10) {
                await new Promise((r) => setTimeout(r, 300));
                continue;
            }
            if (statusCode(e) === 409) {
                throw new BackendError(
                    `${what} volume "${name}" is still in use on the ${ctx.description}: ${reason(e)}`,
                );
            }
            throw e;
        }
    }
}
