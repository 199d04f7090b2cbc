/**
 * Images: pulled when missing, built from a context (with this machine's CA certificates), and
 * pruned by repository.
 */
import { BackendError } from "../backend";
import { IMAGE_CONTRACT_LABEL, LIVE_TOKEN_CONTRACT } from "../layout";
import type { Progress } from "../../progress";
import { CONTEXT_HASH_LABEL, contextFiles, extraCaDirs } from "../../image/context";
import { DockerContext, ignoreNotFound, reason } from "./engine";

export async function ensureImage(ctx: DockerContext, image: string, progress: Progress): Promise<void> {
    if (await ignoreNotFound(ctx.docker.getImage(image).inspect())) return;
    progress.status(`pulling ${image}`);
    try {
        const stream = await ctx.docker.pull(image);
        await followProgress(ctx, stream, (ev: { status?: string; progress?: string }) => {
            if (ev.status) progress.status(`pulling ${image}: ${ev.status} ${ev.progress ?? ""}`.trim());
        });
    } catch (e) {
        throw new BackendError(
            `image "${image}" is not on the ${ctx.description} and could not be pulled (${reason(e)}). ` +
                `Build it there (docker build -t ${image} ...) or push it to a registry the engine can reach.`,
        );
    }
}

export async function inspectImage(
    ctx: DockerContext,
    image: string,
): Promise<{ id: string; contextHash?: string } | undefined> {
    const info = await ignoreNotFound(ctx.docker.getImage(image).inspect());
    if (!info) return undefined;
    const hash = info.Config?.Labels?.[CONTEXT_HASH_LABEL];
    return { id: info.Id, ...(hash ? { contextHash: hash } : {}) };
}

/** Whether an image reads its token from the token file (contract 3 or later). */
export async function readsTokenFile(ctx: DockerContext, image: string): Promise<boolean> {
    const info = await ignoreNotFound(ctx.docker.getImage(image).inspect());
    return Number(info?.Config?.Labels?.[IMAGE_CONTRACT_LABEL] ?? 0) >= LIVE_TOKEN_CONTRACT;
}

type BuildEvent = { error?: string; errorDetail?: { message?: string } };

export async function buildImage(
    ctx: DockerContext,
    image: string,
    contextDir: string,
    contextHash: string,
    progress: Progress,
    buildArgs?: Record<string, string>,
): Promise<{ id: string }> {
    const fs = require("fs") as typeof import("fs");
    const context = buildContext(contextDir, ctx.local);
    try {
        const stream = await ctx.docker.buildImage(context, {
            t: image,
            labels: { [CONTEXT_HASH_LABEL]: contextHash },
            rm: true,
            forcerm: true,
            ...(buildArgs ? { buildargs: buildArgs } : {}),
        });
        const started = Date.now();
        let step = "";
        let shown = 0;
        const failure = (failed: Error | BuildEvent) =>
            new BackendError(
                `building ${image} failed: ${reason(failed instanceof Error ? failed : (failed.errorDetail?.message ?? failed.error))}`,
            );
        const events = await followProgress<BuildEvent & { stream?: string; status?: string }>(ctx, stream, (ev) => {
            // eslint-disable-next-line no-control-regex
            const line = (ev.stream ?? ev.status ?? "").replace(/\x1b\[[0-9;]*m/g, "").trim();
            if (!line) return;
            const seconds = Math.round((Date.now() - started) / 1000);
            // A long step (npm, pip) keeps showing what it is doing, at most once a second.
            if (line.startsWith("Step ")) step = line.slice(0, 60);
            else if (Date.now() - shown < 1000) return;
            shown = Date.now();
            progress.status(
                `building ${image} (${seconds}s): ${step}${line.startsWith("Step ") ? "" : ` — ${line.slice(0, 80)}`}`,
            );
        }).catch((err: Error) => {
            throw failure(err);
        });
        const failed = events.find((e) => e.error);
        if (failed) throw failure(failed);
        const built = await inspectImage(ctx, image);
        if (!built || built.contextHash !== contextHash)
            throw new BackendError(`building ${image} finished but the engine does not have it`);
        progress.info(`built ${image} in ${Math.round((Date.now() - started) / 1000)}s`);
        return { id: built.id };
    } finally {
        fs.rmSync(context.context, { recursive: true, force: true });
    }
}

/**
 * A copy of the context with this machine's CA certificates (a local engine's: they are the
 * certificates of the network it builds on) in its `ca-certificates/` folder (see the Dockerfile).
 * The caller removes the copy (`context`).
 */
function buildContext(contextDir: string, local: boolean): { context: string; src: string[] } {
    const fs = require("fs") as typeof import("fs");
    const os = require("os") as typeof import("os");
    const path = require("path") as typeof import("path");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-image-"));
    try {
        fs.cpSync(contextDir, dir, { recursive: true });
        const caDir = path.join(dir, "ca-certificates");
        fs.mkdirSync(caDir, { recursive: true });
        // The Dockerfiles COPY this folder: it must be in the context even with no certificate
        // to add (a machine with none, a remote engine), or the build fails.
        fs.writeFileSync(path.join(caDir, ".keep"), "");
        if (local) {
            for (const src of extraCaDirs()) {
                if (!fs.existsSync(src)) continue;
                for (const f of fs.readdirSync(src).filter((n) => n.endsWith(".crt")))
                    fs.copyFileSync(path.join(src, f), path.join(caDir, f));
            }
        }
        const src = contextFiles(dir).concat(fs.readdirSync(caDir).map((f) => `ca-certificates/${f}`));
        return { context: dir, src };
    } catch (e) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw e;
    }
}

/** Follows a pull's or a build's progress to its end: its events, or the stream's error. */
function followProgress<E>(ctx: DockerContext, stream: NodeJS.ReadableStream, onEvent: (ev: E) => void): Promise<E[]> {
    return new Promise<E[]>((resolve, reject) =>
        ctx.docker.modem.followProgress(stream, (err, events: E[]) => (err ? reject(err) : resolve(events)), onEvent),
    );
}

/** Removes the tags of these repositories other than `keep` (images in use by a container stay); returns what went. */
export async function removeImagesExcept(
    ctx: DockerContext,
    repositories: string[],
    keep: string[],
): Promise<string[]> {
    const removed: string[] = [];
    for (const image of await ctx.docker.listImages()) {
        for (const tag of image.RepoTags ?? []) {
            if (!repositories.includes(tag.slice(0, tag.lastIndexOf(":"))) || keep.includes(tag)) continue;
            // Refused (409) while a container uses it: kept.
            if (
                await ctx.docker
                    .getImage(tag)
                    .remove()
                    .then(
                        () => true,
                        () => false,
                    )
            )
                removed.push(tag);
        }
    }
    return removed;
}
