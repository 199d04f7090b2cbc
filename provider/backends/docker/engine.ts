/**
 * The engine itself: the client every other module of the backend is handed (a {@link DockerContext}),
 * how the engine's errors read, and what it says of itself (ping, identity, capacity).
 */
import type Dockerode from "dockerode";
import { BackendError, Capacity } from "../backend";
import { notFoundAsUndefined, thrownField } from "../errors";
import { connectionOptions, isLocalEngine } from "./connection";
import { LABEL_PREFIX } from "./options";

const GiB = 1024 ** 3;
const PING_TIMEOUT_MS = 5000;

export interface DockerBackendOptions {
    /**
     * How instances' Jupyter servers are reached: on their published ports (from the engine's
     * host) or by container name on the workspace network (from the agent's container).
     */
    reachInstancesBy?: "published-port" | "workspace-network";
}

/** What every operation of the backend works with: the engine's client and how it is reached. */
export interface DockerContext {
    readonly docker: Dockerode;
    /** The engine's address, as in DOCKER_HOST. */
    readonly host: string;
    /** Human description for messages: `Docker engine at <host>`. */
    readonly description: string;
    /** Whether published ports are on this machine's loopback. */
    readonly local: boolean;
    readonly options: DockerBackendOptions;
}

/** The client for an engine address; dockerode is loaded only when a backend is made. */
export function connect(host: string, options: DockerBackendOptions): DockerContext {
    return {
        docker: client(host, 0),
        host,
        description: `Docker engine at ${host}`,
        local: isLocalEngine(host),
        options,
    };
}

function client(host: string, timeout: number): Dockerode {
    const Docker = require("dockerode") as typeof Dockerode;
    return new Docker({ ...connectionOptions(host), timeout });
}

// -- the engine's errors ---------------------------------------------------------------------

export function statusCode(e: unknown): number | undefined {
    const code = thrownField(e, "statusCode");
    return code === undefined ? undefined : Number(code);
}

/** What the engine said went wrong (its JSON message), or the error's own message. */
export function reason(e: unknown): string {
    const json = thrownField(e, "json") as { message?: string } | undefined;
    if (json?.message) return json.message;
    const message = thrownField(e, "message");
    return message !== undefined ? String(message) : String(e);
}

/** The call's result; undefined when the object is not there (404). */
export const ignoreNotFound = notFoundAsUndefined(statusCode);

// -- containers as the engine lists them ------------------------------------------------------

/** A container's name as inspect gives it, without the leading slash. */
export function nameOf(info: { Name: string }): string {
    return info.Name.replace(/^\//, "");
}

/** A listed container's name (its id when it has none). */
export function listedName(c: Dockerode.ContainerInfo): string {
    return (c.Names[0] ?? c.Id).replace(/^\//, "");
}

/** The workspace's containers of one component, of every stack (`all`: stopped ones too). */
export function workspaceContainers(
    ctx: DockerContext,
    workspace: string,
    component: "runtime" | "application",
    all: boolean,
): Promise<Dockerode.ContainerInfo[]> {
    return ctx.docker.listContainers({
        all,
        filters: { label: [`${LABEL_PREFIX}/workspace=${workspace}`, `app.kubernetes.io/component=${component}`] },
    });
}

/** A variable of the environment a container was made with. */
export function envOf(info: Dockerode.ContainerInspectInfo, name: string): string | undefined {
    return (info.Config.Env ?? []).find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
}

/** Docker's multiplexed log stream (8-byte frame headers) → text. */
export function demux(buf: Buffer): string {
    if (!Buffer.isBuffer(buf)) return String(buf);
    const out: Buffer[] = [];
    let i = 0;
    while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2) && buf[i + 1] === 0) {
        const len = buf.readUInt32BE(i + 4);
        out.push(buf.subarray(i + 8, i + 8 + len));
        i += 8 + len;
    }
    return i === 0 ? buf.toString("utf8") : Buffer.concat(out).toString("utf8");
}

/** A container's last 30 lines of output. */
export async function logTail(container: Dockerode.Container): Promise<string> {
    const buf = (await container.logs({ stdout: true, stderr: true, tail: 30 })) as unknown as Buffer;
    return demux(buf);
}

// -- what the engine says of itself -----------------------------------------------------------

export async function ping(ctx: DockerContext): Promise<void> {
    try {
        await client(ctx.host, PING_TIMEOUT_MS).ping();
    } catch (e) {
        throw new BackendError(
            `${ctx.description} does not answer (${reason(e)}). Start Docker (scripts/bootstrap does it on Debian), ` +
                `or point backend.docker.host or DOCKER_HOST at an engine that runs.`,
            "backend",
        );
    }
}

/**
 * The engine's ID and its data root: engines before Docker 23 take their ID from the host's
 * key (/etc/docker/key.json), which a second engine on the same host shares, while its
 * volumes live under another root.
 */
export async function identity(ctx: DockerContext): Promise<string | undefined> {
    const info = (await ctx.docker.info()) as { ID?: string; DockerRootDir?: string };
    return info.ID ? `docker-engine:${info.ID}${info.DockerRootDir ? `:${info.DockerRootDir}` : ""}` : undefined;
}

export async function capacity(ctx: DockerContext): Promise<Capacity> {
    const info = (await ctx.docker.info()) as {
        NCPU: number;
        MemTotal: number;
        Runtimes?: Record<string, unknown>;
    };
    return {
        cpus: info.NCPU,
        memoryGb: info.MemTotal / GiB,
        // The NVIDIA runtime does not say how many GPUs it has; without it there are none.
        gpus: info.Runtimes && "nvidia" in info.Runtimes ? Infinity : 0,
        noGpus: "has no NVIDIA runtime (install the NVIDIA Container Toolkit there)",
    };
}

/** The resources a container was made with (or last updated to). */
export function resourcesOf(host: Dockerode.HostConfig): { cpus: number; memoryGb: number; gpus: number } {
    return {
        cpus: (host.NanoCpus ?? 0) / 1e9,
        memoryGb: (host.Memory ?? 0) / GiB,
        gpus: (host.DeviceRequests ?? []).reduce((n, d) => n + (d.Count ?? 0), 0),
    };
}
