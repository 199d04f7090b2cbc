/** The workspace's shared objects: the user-files store and the network its instances join. */
import { z } from "zod";
import { growOnly } from "../changes";
import { DEFAULT_USER_FILES_GB, diskSizeGb } from "../model/schema";
import { Ownership } from "../backends/backend";
import { Backend } from "../backends/backend";
import { CheckOutcome, Props, ResourceKind, backendOf, checkWith, progressOf, wiringFields, wiringRules } from "./kind";

/** Adds the backend's name for the object to the inputs, once they are known and valid. */
function named(outcome: CheckOutcome, key: string, name: (b: Backend, workspace: string) => string): CheckOutcome {
    const i = outcome.inputs;
    if (
        outcome.problems.length ||
        typeof i.workspace !== "string" ||
        !i.backend ||
        typeof i.backend !== "object" ||
        !("kind" in i.backend)
    )
        return outcome;
    return { ...outcome, inputs: { ...i, [key]: name(backendOf(i), i.workspace) } };
}

const ownership = (p: Props): Ownership => ({ workspace: p.workspace as string, owner: p.owner as string });

const userFilesSchema = z.object({
    ...wiringFields,
    retainOnDelete: z.boolean().default(true),
    sizeGb: diskSizeGb.default(DEFAULT_USER_FILES_GB),
});

/**
 * The user-files store (Azure: the workspace file share), mounted into every instance as the
 * notebooks' working directory. Keyed by the workspace's name, so a workspace destroyed with
 * `retainOnDelete` and declared again gets its files back.
 */
export const userFiles: ResourceKind = {
    check: async (news) =>
        named(
            await checkWith(userFilesSchema, news, {
                retainOnDelete: "userFiles.retainOnDelete",
                sizeGb: "userFiles.sizeGb",
            }),
            "volumeName",
            (b, ws) => b.userFilesName(ws),
        ),
    rules: () => ({ ...wiringRules, retainOnDelete: "live", sizeGb: growOnly, volumeName: "replace" }),
    async create(inputs) {
        const name = inputs.volumeName as string;
        const { adopted, createdBy } = await backendOf(inputs).createUserFiles(
            ownership(inputs),
            name,
            inputs.sizeGb as number,
        );
        if (adopted)
            progressOf(inputs, "").info(
                `user files ${name}: adopted from ${createdBy ?? "another stack"}; this stack never deletes them`,
            );
        return { id: name, outs: { ...inputs, adopted, ...(createdBy ? { createdBy } : {}) } };
    },
    async read(id, props) {
        const backend = backendOf(props);
        if (!(await backend.userFilesExists(id))) return undefined;
        // Stacks that adopted a store before adopters were recorded on it are recorded now.
        if (props.adopted === true) await backend.createUserFiles(ownership(props), id, props.sizeGb as number);
        return props;
    },
    async update(id, olds, news) {
        if (olds.sizeGb !== news.sizeGb) await backendOf(news).resizeDisk(id, news.sizeGb as number);
        return { ...olds, ...news };
    },
    /**
     * Only the stack that made the store deletes it, only with `retainOnDelete: false`, and only
     * when no other stack uses it: users' files are the one thing no mistake may cost.
     */
    async delete(id, props) {
        const wanted = props.retainOnDelete === false;
        const { keptFor } = await backendOf(props).releaseUserFiles(
            ownership(props),
            id,
            wanted && props.adopted !== true,
        );
        const progress = progressOf(props, "");
        if (wanted && props.adopted === true)
            progress.info(
                `user files ${id} kept: adopted from ${props.createdBy ?? "another stack"}, whose to delete they are`,
            );
        else if (keptFor) progress.warn(`user files ${id} kept although retainOnDelete is false: ${keptFor}`);
    },
};

const networkSchema = z.object(wiringFields);

/** The network the workspace's instances share. */
export const workspaceNetwork: ResourceKind = {
    check: async (news) =>
        named(await checkWith(networkSchema, news), "networkName", (b, ws) => b.workspaceNetworkName(ws)),
    rules: () => ({ ...wiringRules, networkName: "replace" }),
    async create(inputs) {
        const name = inputs.networkName as string;
        await backendOf(inputs).createWorkspaceNetwork(ownership(inputs), name);
        return { id: name, outs: inputs };
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
