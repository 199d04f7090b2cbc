/**
 * An instance's access token: in a root-owned file the image re-reads (image contract 3 and
 * later), so it changes live; older images have it only in their environment.
 */
import type Dockerode from "dockerode";
import { BackendError } from "../backend";
import { LIVE_TOKEN_CONTRACT, TOKEN_DIR, TOKEN_FILE } from "../layout";
import * as lifecycle from "../lifecycle";
import { getFiles, putFiles } from "./archive";
import { DockerContext, envOf, ignoreNotFound, nameOf } from "./engine";
import { LABEL_PREFIX } from "./options";
import { publishedPortsOf } from "./ports";
import { probeJupyter } from "./probes";

/** The token file, root-owned and readable by the instance user, rewritten whole. */
export async function writeToken(container: Dockerode.Container, token: string): Promise<void> {
    const name = TOKEN_FILE.slice(TOKEN_DIR.lastIndexOf("/") + 1);
    await putFiles(container, TOKEN_DIR.slice(0, TOKEN_DIR.lastIndexOf("/")), [{ name, body: token, mode: 0o444 }]);
}

/** The token the instance answers to now: its token file, or the environment it was made with. */
export async function currentToken(
    container: Dockerode.Container,
    info: Dockerode.ContainerInspectInfo,
): Promise<string | undefined> {
    if (info.Config.Labels?.[`${LABEL_PREFIX}/token-file`]) {
        const files = await ignoreNotFound(getFiles(container, TOKEN_FILE));
        const text = files ? Object.values(files)[0] : undefined;
        if (text) return text.trim();
    }
    return envOf(info, "JUPYTER_TOKEN");
}

/**
 * A new token, live: the image re-reads its token file. Verified on a running instance by
 * asking Jupyter with the new token (and, that it no longer takes the old one).
 */
export async function rotateToken(
    ctx: DockerContext,
    container: Dockerode.Container,
    info: Dockerode.ContainerInspectInfo,
    token: string,
): Promise<void> {
    const id = nameOf(info);
    let old: string | undefined;
    await lifecycle.rotateToken({
        live: Boolean(info.Config.Labels?.[`${LABEL_PREFIX}/token-file`]),
        notLive: `${id} was made from an image that reads its token only at start (image contract < ${LIVE_TOKEN_CONTRACT}); it must be replaced to change its token`,
        async write() {
            old = await currentToken(container, info);
            await writeToken(container, token);
        },
        verify: async () => {
            if (!info.State.Running) return;
            const now = await ignoreNotFound(container.inspect());
            if (!now) return;
            const ports = publishedPortsOf(now);
            const deadline = Date.now() + 15_000;
            for (;;) {
                const takesNew = await probeJupyter(ctx, { container, ports, token }).catch(() => false);
                const refusesOld =
                    old === undefined ||
                    old === token ||
                    !(await probeJupyter(ctx, { container, ports, token: old }).catch(() => false));
                if (takesNew && refusesOld) return;
                if (Date.now() > deadline) {
                    throw new BackendError(
                        `${id} did not take its new token within 15s (${takesNew ? "the old one still works" : "the new one is refused"}); check the image's token handling (images/README.md)`,
                    );
                }
                await new Promise((r) => setTimeout(r, 250));
            }
        },
    });
}
