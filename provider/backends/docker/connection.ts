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
            const tls = usesTls(host, env);
            const port = Number(url.port || (tls ? 2376 : 2375));
            if (!tls) return { host: url.hostname, port, protocol: "http" };
            const certDir = env.DOCKER_CERT_PATH ?? `${env.HOME ?? ""}/.docker`;
            const fs = require("fs") as typeof import("fs");
            const read = (f: string) =>
                fs.existsSync(`${certDir}/${f}`) ? fs.readFileSync(`${certDir}/${f}`) : undefined;
            return {
                host: url.hostname,
                port,
                protocol: "https",
                ca: read("ca.pem"),
                cert: read("cert.pem"),
                key: read("key.pem"),
            };
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

/** Whether a `tcp://` engine is reached over TLS, as the Docker CLI decides it. */
export function usesTls(host: string, env: NodeJS.ProcessEnv = process.env): boolean {
    return env.DOCKER_TLS_VERIFY === "1" || new URL(host).port === "2376";
}

/**
 * Why an engine address may not be used as it is: plain `tcp://` without TLS lets whoever
 * reaches the port be root on the engine's host, so it takes an explicit opt-in.
 */
export function plaintextTcpProblem(
    host: string,
    allowPlaintextTcp: boolean | undefined,
    env: NodeJS.ProcessEnv = process.env,
): string | undefined {
    if (!host.startsWith("tcp://") || allowPlaintextTcp === true || usesTls(host, env)) return undefined;
    return (
        `${host} is a Docker engine without TLS: whoever can reach that port is root on its host. Use TLS (port 2376, or DOCKER_TLS_VERIFY=1 with DOCKER_CERT_PATH), ` +
        "ssh://, or a unix socket; or, on a network only you reach, set backend.docker.allowPlaintextTcp: true"
    );
}

/** Whether published ports of this engine are on this machine's loopback. */
export function isLocalEngine(host: string): boolean {
    return (
        host.startsWith("unix://") ||
        host.startsWith("npipe://") ||
        /^tcp:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:|$)/.test(host)
    );
}
