#!/usr/bin/env node
/**
 * `compute-instance`: commands around the Pulumi components.
 *   compute-instance build-image [--docker-host URL]   build the default workstation image
 */
import { DockerBackend } from "../provider/backends/docker";
import { contextHash, workstationContextDir, workstationImageTag } from "../provider/image/context";
import { progressTo } from "../provider/progress";
import { DEFAULT_DOCKER_HOST } from "../provider/spec/schema";

function flag(args: string[], name: string): string | undefined {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
}

async function buildImage(args: string[]): Promise<void> {
    const host = flag(args, "--docker-host") ?? process.env.DOCKER_HOST ?? DEFAULT_DOCKER_HOST;
    const backend = new DockerBackend(host);
    await backend.ping();
    const hash = contextHash(workstationContextDir());
    const tag = workstationImageTag(hash);
    const have = await backend.inspectImage(tag);
    if (have?.contextHash === hash && !args.includes("--force")) {
        console.log(`${tag} is up to date (context ${hash})`);
        return;
    }
    let last = "";
    const progress = progressTo((m) => {
        if (m !== last) console.log(m);
        last = m;
    });
    await backend.buildImage(tag, workstationContextDir(), hash, progress);
}

const USAGE = `usage: compute-instance build-image [--docker-host URL] [--force]`;

async function main(argv: string[]): Promise<number> {
    const [command, ...rest] = argv;
    switch (command) {
        case "build-image":
            await buildImage(rest);
            return 0;
        default:
            console.error(USAGE);
            return 64;
    }
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
        console.error(`compute-instance: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    },
);
