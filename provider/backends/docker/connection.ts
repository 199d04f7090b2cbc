import type Dockerode from "dockerode";

/**
 * A Docker host URL (as in DOCKER_HOST) → dockerode connection options. TLS for tcp:// follows
 * the Docker CLI's environment (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH).
 */
export function connectionOptions(host: string, env: NodeJS.ProcessEnv = process.env): Dockerode.DockerOptions {
    const url = new URL(host);
    switch (url.protocol) {
        case "unix:":
            return { socketPath: decodeURIComponent(url.pathname) };
        case "npipe:":
            return { socketPath: host.slice("npipe://".length) };
        case "tcp:": {
            const tls = env.DOCKER_TLS_VERIFY === "1" || url.port === "2376";
            const port = Number(url.port || (tls ? 2376 : 2375));
            if (!tls) return { host: url.hostname, port, protocol: "http" };
            const certDir = env.DOCKER_CERT_PATH ?? `${env.HOME ?? ""}/.docker`;
            const fs = require("fs") as typeof import("fs");
            const read = (f: string) => (fs.existsSync(`${certDir}/${f}`) ? fs.readFileSync(`${certDir}/${f}`) : undefined);
            return { host: url.hostname, port, protocol: "https", ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem") };
        }
        case "ssh:":
            return {
                protocol: "ssh",
                host: url.hostname,
                port: url.port ? Number(url.port) : 22,
                ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
                ...(env.SSH_AUTH_SOCK ? { sshOptions: { agent: env.SSH_AUTH_SOCK } } : {}),
            } as Dockerode.DockerOptions;
        default:
            throw new Error(`unsupported Docker host "${host}"`);
    }
}

/** Whether published ports of this engine are on this machine's loopback. */
export function isLocalEngine(host: string): boolean {
    return host.startsWith("unix://") || host.startsWith("npipe://") || /^tcp:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:|$)/.test(host);
}
