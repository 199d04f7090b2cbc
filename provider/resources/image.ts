/** The default workstation image, built on the engine from the context shipped in this package. */
import { z } from "zod";
import { vscodeContextDir, workstationContextDir } from "../image/context";
import { ResourceKind, backendOf, checkWith, progressOf, wiringFields } from "./kind";
import { backendIdRule, backendRule } from "../backendIdentity";

const imageSchema = z.object({
    backend: wiringFields.backend,
    progressUrn: wiringFields.progressUrn,
    image: z.string().min(1),
    contextHash: z.string().min(1),
    /** A variant built FROM another image (`vscode`: with code-server). */
    variant: z.enum(["vscode"]).optional(),
    baseImage: z.string().min(1).optional(),
});

async function ensureBuilt(inputs: Record<string, unknown>) {
    const backend = backendOf(inputs);
    const image = inputs.image as string;
    // A cluster pulls images; it is for the user to make them pullable (see the README).
    if (!backend.buildsImages) return image;
    const hash = inputs.contextHash as string;
    const have = await backend.inspectImage(image);
    if (have?.contextHash === hash) return have.id;
    const progress = progressOf(inputs, image);
    if (inputs.variant === "vscode") {
        return (
            await backend.buildImage(image, vscodeContextDir(), hash, progress, {
                BASE_IMAGE: inputs.baseImage as string,
            })
        ).id;
    }
    return (await backend.buildImage(image, workstationContextDir(), hash, progress)).id;
}

/**
 * Builds the image when the engine lacks it or has it from another context (an edited
 * Dockerfile). Images are a cache shared by stacks, so deleting this resource leaves it.
 */
export const workstationImage: ResourceKind = {
    check: (news) => checkWith(imageSchema, news),
    rules: () => ({
        backend: backendRule,
        backendId: backendIdRule,
        image: "replace",
        contextHash: "live",
        progressUrn: "ignore",
        variant: "replace",
        baseImage: "ignore",
    }),
    async create(inputs) {
        const imageId = await ensureBuilt(inputs);
        return { id: inputs.image as string, outs: { ...inputs, imageId } };
    },
    async read(id, props) {
        if (!backendOf(props).buildsImages) return props;
        const have = await backendOf(props).inspectImage(id);
        if (!have) return undefined;
        // A different build shows as a changed hash, so the next `up` rebuilds it.
        return { ...props, imageId: have.id, contextHash: have.contextHash ?? "unknown" };
    },
    async update(_id, olds, news) {
        return { ...olds, ...news, imageId: await ensureBuilt(news) };
    },
    async delete() {
        // Shared cache: other stacks' instances may use it.
    },
};
