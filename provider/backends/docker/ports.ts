/** The host ports an instance's services are published on: chosen at create, read back from the container. */
import type Dockerode from "dockerode";
import * as net from "net";
import { BackendError, RuntimeSpec } from "../backend";
import { PUBLISH_ADDRESS, PublishedPorts, SERVICES, ServiceName } from "../../model/endpoints";
import { DockerContext, reason } from "./engine";
import { preferredPort } from "./options";

/**
 * A port for each service: the one the user chose (or the create fails), else, when `preferred`,
 * the one the instance had or its stable default, when free; else any free one.
 */
export async function choosePorts(
    ctx: DockerContext,
    services: ServiceName[],
    spec: RuntimeSpec,
    preferred: boolean,
): Promise<PublishedPorts> {
    const ports: PublishedPorts = {};
    for (const s of services) {
        // A port the user chose is used or the create fails: never silently another one.
        if (s === "ssh" && spec.ssh?.port) {
            if (ctx.local && !(await portIsFree(spec.ssh.port))) {
                throw new BackendError(
                    `ssh.port ${spec.ssh.port} is already in use on the engine's host; choose another port or leave it out to get a free one`,
                );
            }
            ports[s] = spec.ssh.port;
            continue;
        }
        const want = preferred ? (spec.preferredPorts?.[s] ?? preferredPort(spec, s)) : undefined;
        ports[s] = want && (!ctx.local || (await portIsFree(want))) ? want : await freePort(ctx);
    }
    return ports;
}

/** Whether a container failed to start because someone took a port between choosing and binding it. */
export function isPortClash(e: unknown): boolean {
    return /port is already allocated|address already in use/i.test(reason(e));
}

/** The host ports a container publishes, by service. */
export function publishedPortsOf(info: Dockerode.ContainerInspectInfo): PublishedPorts {
    const ports: PublishedPorts = {};
    for (const [service, def] of Object.entries(SERVICES) as [ServiceName, { containerPort: number }][]) {
        const b = info.HostConfig.PortBindings?.[`${def.containerPort}/tcp`]?.[0];
        if (b?.HostPort) ports[service] = Number(b.HostPort);
    }
    return ports;
}

async function freePort(ctx: DockerContext): Promise<number> {
    if (ctx.local) return freeLoopbackPort();
    // A remote engine's ports cannot be probed from here; pick at random in the dynamic
    // range and let a clash at start choose again.
    return 49152 + Math.floor(Math.random() * (65535 - 49152));
}

function freeLoopbackPort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on("error", reject);
        srv.listen(0, PUBLISH_ADDRESS, () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => resolve(port));
        });
    });
}

function portIsFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.unref();
        srv.once("error", () => resolve(false));
        srv.listen(port, PUBLISH_ADDRESS, () => srv.close(() => resolve(true)));
    });
}
