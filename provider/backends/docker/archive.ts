/**
 * Files in and out of a container through the Docker API's archive endpoints: works against
 * remote engines, on running and stopped containers, and needs nothing in the image.
 */
import type Dockerode from "dockerode";

export interface FileEntry {
    /** Path relative to the directory the archive is put in. */
    name: string;
    body: Buffer | string;
    mode: number;
    /** Owner of the file and of the directories made for it; default root. */
    uid?: number;
    gid?: number;
}

/** Writes the files under `dir`, making the directories on their paths first. */
export async function putFiles(container: Dockerode.Container, dir: string, files: FileEntry[]): Promise<void> {
    const tar = require("tar-stream") as typeof import("tar-stream");
    const pack = tar.pack();
    const made = new Set<string>();
    for (const f of files) {
        const owner = { uid: f.uid ?? 0, gid: f.gid ?? 0 };
        const parts = f.name.split("/").slice(0, -1);
        parts.forEach((_, i) => {
            const d = parts.slice(0, i + 1).join("/");
            if (!made.has(d)) pack.entry({ name: d, type: "directory", mode: 0o755, ...owner });
            made.add(d);
        });
        pack.entry(
            { name: f.name, mode: f.mode, mtime: new Date(), ...owner },
            typeof f.body === "string" ? Buffer.from(f.body) : f.body,
        );
    }
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    await container.putArchive(Buffer.concat(chunks), { path: dir });
}

/** Regular files under `path` (a file or a directory), by archive name, as text. Throws as the API does (404 when missing). */
export async function getFiles(container: Dockerode.Container, path: string): Promise<Record<string, string>> {
    const files = await getFileBuffers(container, path);
    return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.toString("utf8")]));
}

/** Regular files under `path`, by archive name, as they are (outputs may be binary). */
export async function getFileBuffers(container: Dockerode.Container, path: string): Promise<Record<string, Buffer>> {
    const stream = await container.getArchive({ path });
    const tar = require("tar-stream") as typeof import("tar-stream");
    const extract = tar.extract();
    const files: Record<string, Buffer> = {};
    const done = (async () => {
        for await (const entry of extract) {
            const chunks: Buffer[] = [];
            for await (const chunk of entry) chunks.push(chunk as Buffer);
            if (entry.header.type === "file") files[entry.header.name] = Buffer.concat(chunks);
        }
    })();
    stream.pipe(extract);
    await done;
    return files;
}
