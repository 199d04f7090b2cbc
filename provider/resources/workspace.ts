/** The workspace's shared objects: the user-files store and the network its instances join. */
import { z } from "zod";
import { Ownership } from "../backends/backend";
import { Props, ResourceKind, backendOf, checkWith, wiringFields, wiringRules } from "./kind";

const ownership = (p: Props): Ownership => ({ workspace: p.workspace as string, owner: p.owner as string });

const userFilesSchema = z.object({
    ...wiringFields,
    retainOnDelete: z.boolean().default(true),
});

/**
 * The user-files store (Azure: the workspace file share), mounted into every instance as the
 * notebooks' working directory. Keyed by the workspace's name, so a workspace destroyed with
 * `retainOnDelete` and declared again gets its files back.
 */
export const userFiles: ResourceKind = {
    check: (news) => checkWith(userFilesSchema, news, { retainOnDelete: "userFiles.retainOnDelete" }),
    rules: () => ({ ...wiringRules, retainOnDelete: "live" }),
    async create(inputs) {
        const { name, adopted } = await backendOf(inputs).createUserFiles(ownership(inputs));
        return { id: name, outs: { ...inputs, volumeName: name, adopted } };
    },
    async read(id, props) {
        return (await backendOf(props).userFilesExists(id)) ? props : undefined;
    },
    async update(_id, olds, news) {
        return { ...olds, ...news };
    },
    async delete(id, props) {
        if (props.retainOnDelete !== false) return;
        await backendOf(props).deleteUserFiles(id);
    },
};

const networkSchema = z.object(wiringFields);

/** The network the workspace's instances share. */
export const workspaceNetwork: ResourceKind = {
    check: (news) => checkWith(networkSchema, news),
    rules: () => wiringRules,
    async create(inputs) {
        const { name } = await backendOf(inputs).createWorkspaceNetwork(ownership(inputs));
        return { id: name, outs: { ...inputs, networkName: name } };
    },
    async read(id, props) {
        return (await backendOf(props).workspaceNetworkExists(id)) ? props : undefined;
    },
    async update(_id, olds, news) {
        return { ...olds, ...news };
    },
    async delete(id, props) {
        await backendOf(props).deleteWorkspaceNetwork(id);
    },
};
