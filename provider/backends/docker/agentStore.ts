/**
 * The agent's store on Docker, and the user's labels of instances, which live in it: a
 * container's labels are fixed when it is made, while the user's labels change live.
 */
import type Dockerode from "dockerode";
import { AgentStore, BackendError, InstanceRef } from "../backend";
import { AGENT_STATE_DIR, parseStoredJson } from "../layout";
import { ReadOutcome, agentRecords } from "../../model/agentProtocol";
import { progressFor } from "../../progress";
import type { Labels } from "../../model/labels";
import { getFiles, putFiles } from "./archive";
import { DockerContext, reason, statusCode } from "./engine";
import { agentContainerName } from "./options";

export function agentStore(ctx: DockerContext, workspace: string): AgentStore {
    return new DockerAgentStore(ctx.docker.getContainer(agentContainerName(workspace)), ctx.description);
}

/** Records the user's labels of an instance (none: removes the record). */
export async function writeLabels(ctx: DockerContext, ref: InstanceRef, labels: Labels | undefined): Promise<void> {
    await agentRecords(agentStore(ctx, ref.workspace)).write(
        { kind: "labels", instance: ref.instance },
        labels && Object.keys(labels).length ? labels : undefined,
    );
}

export async function readLabels(
    ctx: DockerContext,
    workspace: string | undefined,
    instance: string | undefined,
): Promise<Labels> {
    if (!workspace || !instance) return {};
    const r = await agentRecords(agentStore(ctx, workspace))
        .read({ kind: "labels", instance })
        .catch((): ReadOutcome<Labels> => ({}));
    // Read as none, said: a refresh then shows the labels changed, and the next `up` writes them again.
    if (r.problem) progressFor(undefined, instance).warn(`${r.problem.message}; its labels read as none`);
    return r.value ?? {};
}

/**
 * The agent's store on Docker: files on the agent's volume, read and written through the Docker
 * API's archive endpoints on the agent container, so it works against remote engines too and
 * whether the agent runs or not. Removing a policy writes `null` (an archive cannot delete).
 */
class DockerAgentStore implements AgentStore {
    constructor(
        private readonly container: Dockerode.Container,
        private readonly where: string,
    ) {}

    async writePolicy(key: string, value: unknown): Promise<void> {
        await this.put(`policies/${key}.json`, value === undefined ? null : value);
    }

    async readPolicy(key: string): Promise<unknown> {
        const files = await this.get(`${AGENT_STATE_DIR}/policies/${key}.json`);
        return parseStoredJson(Object.values(files)[0]) ?? undefined;
    }

    async readPolicies(): Promise<Record<string, unknown>> {
        const files = await this.get(`${AGENT_STATE_DIR}/policies`);
        const out: Record<string, unknown> = {};
        for (const [file, text] of Object.entries(files)) {
            const m = /(?:^|\/)([^/]+)\.json$/.exec(file);
            const value = parseStoredJson(text);
            if (m && value !== null && value !== undefined) out[m[1]] = value;
        }
        return out;
    }

    async readMemory(): Promise<unknown> {
        return parseStoredJson(Object.values(await this.get(`${AGENT_STATE_DIR}/memory.json`))[0]);
    }

    async writeMemory(memory: unknown): Promise<void> {
        await this.put("memory.json", memory);
    }

    private async put(file: string, value: unknown): Promise<void> {
        try {
            await putFiles(this.container, AGENT_STATE_DIR, [{ name: file, body: JSON.stringify(value), mode: 0o644 }]);
        } catch (e) {
            throw this.failure(e);
        }
    }

    /** Files under `path` (a file or a directory), by name, as text; none when it is missing. */
    private async get(path: string): Promise<Record<string, string>> {
        try {
            return await getFiles(this.container, path);
        } catch (e) {
            // dockerode words every 404 of this endpoint "no such container". A missing file and
            // a missing agent both read as nothing: refresh then drops the policies with the
            // agent, and `up` makes all of them again (the volume keeps what they were).
            if (statusCode(e) === 404) return {};
            throw this.failure(e);
        }
    }

    private failure(e: unknown): Error {
        if (statusCode(e) === 404) {
            return new BackendError(
                `the workspace agent's container is missing on the ${this.where}; run \`pulumi refresh\` and \`pulumi up\` to re-create it`,
            );
        }
        return new BackendError(`could not reach the workspace agent's store on the ${this.where}: ${reason(e)}`);
    }
}
