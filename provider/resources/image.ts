/** The default workstation image, built on the engine from the context shipped in this package. */
import { z } from "zod";
import { VARIANTS, variantContextDir, workstationContextDir } from "../image/context";
import { uses, progressOf, wiringFields } from "./kind";
import { defineKind, fields } from "./defineKind";
import { backendIdRule, backendRule } from "../backendIdentity";

const backendOf = uses("images");

const imageSchema = z.object({
    backend: wiringFields.backend,
    progressUrn: wiringFields.progressUrn,
    image: z.string().min(1),
    contextHash: z.string().min(1),
    /** A variant built FROM another image (`vscode`: with code-server). */
    variant: z.enum(VARIANTS).optional(),
    baseImage: z.string().min(1).optional(),
});

async function ensureBuilt(inputs: z.output<typeof imageSchema>) {
    const image = inputs.image;
    // A cluster pulls images; it is for the user to make them pullable (see the README).
    const images = backendOf(inputs).images;
    if (!images) return image;
    const hash = inputs.contextHash;
    const have = await images.inspectImage(image);
    if (have?.contextHash === hash) return have.id;
    const progress = progressOf(inputs, image);
    if (inputs.variant) {
        // Without a base, the Dockerfile's default.
        const args: Record<string, string> = inputs.baseImage !== undefined ? { BASE_IMAGE: inputs.baseImage } : {};
        return (await images.buildImage(image, variantContextDir(inputs.variant), hash, progress, args)).id;
    }
    return (await images.buildImage(image, workstationContextDir(), hash, progress)).id;
}

/**
 * Builds the image when the engine lacks it or has it from another context (an edited
 * Dockerfile). Images are a cache shared by stacks, so deleting this resource leaves it.
 */
export const workstationImage = defineKind({
    type: "WorkstationImage",
    inputs: imageSchema,
    backend: backendOf,
    outputs: fields<{ image: string; imageId: string }>({ image: true, imageId: true }),
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
        return { id: inputs.image, outs: { ...inputs, imageId } };
    },
    async read(id, state) {
        const images = backendOf(state).images;
        if (!images) return state;
        const have = await images.inspectImage(id);
        if (!have) return undefined;
        // A different build shows as a changed hash, so the next `up` rebuilds it.
        return { ...state, imageId: have.id, contextHash: have.contextHash ?? "unknown" };
    },
    async update(_id, olds, news) {
        return { ...olds, ...news, imageId: await ensureBuilt(news) };
    },
    async delete() {
        // Shared cache: other stacks' instances may use it.
    },
});
