/** The workspace's shared objects: the user-files store and the network its instances join. */
import { z } from "zod";
import { growOnly } from "../changes";
import { DEFAULT_USER_FILES_GB, diskSizeGb } from "../model/fields";
import { Ownership } from "../backends/backend";
import { uses, progressOf, wiringFields, wiringRules } from "./kind";
import { defineKind, fields } from "./defineKind";

// The user files are resized as a disk is.
const userFilesBackend = uses("workspaceObjects", "disks");
const networkBackend = uses("workspaceObjects");

const ownership = (p: Ownership): Ownership => ({ workspace: p.workspace, owner: p.owner });

const userFilesSchema = z.object({
    ...wiringFields,
    retainOnDelete: z.boolean().default(true),
    sizeGb: diskSizeGb.default(DEFAULT_USER_FILES_GB),
});

/** The backend's name of the store: the workspace's, known at check. */
const volumeName = fields<{ volumeName: string }>({ volumeName: true });

/**
 * The user-files store (Azure: the workspace file share), mounted into every instance as the
 * notebooks' working directory. Keyed by the workspace's name, so a workspace destroyed with
 * `retainOnDelete` and declared again gets its files back.
 */
export const userFiles = defineKind({
    type: "UserFiles",
    backend: userFilesBackend,
    inputs: userFilesSchema,
    derived: volumeName,
    outputs: fields<{ volumeName: string; adopted: boolean; createdBy?: string }>({
        volumeName: true,
        adopted: true,
        createdBy: true,
    }),
    userPaths: { retainOnDelete: "userFiles.retainOnDelete", sizeGb: "userFiles.sizeGb" },
    rules: () => ({ ...wiringRules, retainOnDelete: "live", sizeGb: growOnly, volumeName: "replace" }),
    check: async (inputs) => ({ derived: { volumeName: userFilesBackend(inputs).userFilesName(inputs.workspace) } }),
    async create(inputs) {
        const name = inputs.volumeName;
        const { adopted, createdBy } = await userFilesBackend(inputs).createUserFiles(
            ownership(inputs),
            name,
            inputs.sizeGb,
        );
        if (adopted)
            progressOf(inputs, "").info(
                `user files ${name}: adopted from ${createdBy ?? "another stack"}; this stack never deletes them`,
            );
        return { id: name, outs: { ...inputs, adopted, ...(createdBy ? { createdBy } : {}) } };
    },
    async read(id, state) {
        const backend = userFilesBackend(state);
        if (!(await backend.userFilesExists(id))) return undefined;
        // Stacks that adopted a store before adopters were recorded on it are recorded now.
        if (state.adopted === true) await backend.createUserFiles(ownership(state), id, state.sizeGb);
        return state;
    },
    async update(id, olds, news) {
        if (olds.sizeGb !== news.sizeGb) await userFilesBackend(news).resizeDisk(id, news.sizeGb);
        return { ...olds, ...news };
    },
    /**
     * Only the stack that made the store deletes it, only with `retainOnDelete: false`, and only
     * when no other stack uses it: users' files are the one thing no mistake may cost.
     */
    async delete(id, state) {
        const wanted = state.retainOnDelete === false;
        const { keptFor } = await userFilesBackend(state).releaseUserFiles(
            ownership(state),
            id,
            wanted && state.adopted !== true,
        );
        const progress = progressOf(state, "");
        if (wanted && state.adopted === true)
            progress.info(
                `user files ${id} kept: adopted from ${state.createdBy ?? "another stack"}, whose to delete they are`,
            );
        else if (keptFor) progress.warn(`user files ${id} kept although retainOnDelete is false: ${keptFor}`);
    },
});

/** The backend's name of the network: the workspace's, known at check. */
const networkName = fields<{ networkName: string }>({ networkName: true });

/** The network the workspace's instances share. */
export const workspaceNetwork = defineKind({
    type: "WorkspaceNetwork",
    backend: networkBackend,
    inputs: z.object(wiringFields),
    derived: networkName,
    outputs: networkName,
    rules: () => ({ ...wiringRules, networkName: "replace" }),
    check: async (inputs) => ({
        derived: { networkName: networkBackend(inputs).workspaceNetworkName(inputs.workspace) },
    }),
    async create(inputs) {
        const name = inputs.networkName;
        await networkBackend(inputs).createWorkspaceNetwork(ownership(inputs), name);
        return { id: name, outs: inputs };
    },
    async read(id, state) {
        return (await networkBackend(state).workspaceNetworkExists(id)) ? state : undefined;
    },
    async update(_id, olds, news) {
        return { ...olds, ...news };
    },
    async delete(id, state) {
        await networkBackend(state).deleteWorkspaceNetwork(id);
    },
});
