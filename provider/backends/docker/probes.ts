/**
 * Readiness probes: whether an instance's Jupyter server, its SSH server and its applications
 * answer. Asked from here where the instance is reachable (a local engine's published ports, or
 * the workspace network from the agent), else from inside the container with `docker exec`.
 */
import type Dockerode from "dockerode";
import * as net from "net";
import { httpJson, httpStatus } from "../../http";
import { ApplicationCheck, PUBLISH_ADDRESS, PublishedPorts, SERVICES } from "../../model/endpoints";
import { DockerContext, nameOf } from "./engine";

/**
 * One readiness probe. Short: while the server is not listening yet, the engine's port proxy
 * accepts the connection and then holds it, so a probe sent too early waits out its timeout
 * (with 2 s, every start took 2.1 s however fast Jupyter was: bench/power).
 */
const PROBE_TIMEOUT_MS = 400;
/** An application's first request may start it (VS Code: about a second). */
export const APPLICATION_PROBE_TIMEOUT_MS = 10_000;
/**
 * How probes run inside an instance: as `nobody` (neither root nor the instance user), from `/`,
 * with a PATH of system directories only (root-owned in any image; conda's included), so that
 * nothing on the user's disk is run: the image's PATH starts with ~/.local/bin. Variables that
 * make a program run another file first are emptied (states made before `env` refused them);
 * Python runs isolated (`-I`) and bash reads no start-up file. The token stays in the exec's
 * environment, never on a command line `ps` shows.
 */
export const PROBE_EXEC = {
    User: "65534:65534",
    WorkingDir: "/",
    Env: [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/conda/bin",
        "HOME=/nonexistent",
        "LD_PRELOAD=",
        "LD_LIBRARY_PATH=",
        "LD_AUDIT=",
        "BASH_ENV=",
        "ENV=",
    ],
} as const;

/** An instance as the probes ask it: its container, its published ports, and the token it should take. */
export interface ProbeTarget {
    container: Dockerode.Container;
    ports: PublishedPorts;
    token: string;
}

export async function probeJupyter(ctx: DockerContext, t: ProbeTarget): Promise<boolean> {
    return (await probeStatus(ctx, t, "/api/status")) === 200;
}

/**
 * The HTTP status of a path of the instance's Jupyter server, with the token; 0 when nothing
 * answers. From inside the container, only the status class is known (200, 300, 400, 500).
 */
export async function probeStatus(
    ctx: DockerContext,
    t: ProbeTarget,
    path: string,
    timeoutMs = PROBE_TIMEOUT_MS,
): Promise<number> {
    const base = await jupyterBase(ctx, t);
    if (base) return httpStatus(`${base}${path}`, { Authorization: `token ${t.token}` }, timeoutMs).catch(() => 0);
    // A remote engine publishes on its own loopback, and an unpublished server is not
    // reachable from here at all: ask from inside the container (the token in the exec's
    // environment, not its command line).
    const code = await execExitCode(
        t.container,
        [
            "python3",
            "-I",
            "-c",
            "import os,sys,urllib.request as u,urllib.error as e\n" +
                "try:\n" +
                `    r=u.urlopen(u.Request("http://127.0.0.1:${SERVICES.jupyter.containerPort}${path}",headers={"Authorization":"token "+os.environ["PROBE_TOKEN"]}),timeout=${timeoutMs / 1000});sys.exit(r.status//100)\n` +
                "except e.HTTPError as x:\n    sys.exit(x.code//100)\n" +
                "except Exception:\n    sys.exit(9)\n",
        ],
        [`PROBE_TOKEN=${t.token}`],
    );
    return code !== undefined && code >= 1 && code <= 5 ? code * 100 : 0;
}

/** sshd answers with its banner. */
export async function probeSsh(ctx: DockerContext, t: Omit<ProbeTarget, "token">): Promise<boolean> {
    if (ctx.options.reachInstancesBy === "workspace-network") {
        const name = nameOf(await t.container.inspect());
        return sshBanner(name, SERVICES.ssh.containerPort, PROBE_TIMEOUT_MS);
    }
    if (ctx.local && t.ports.ssh !== undefined) return sshBanner(PUBLISH_ADDRESS, t.ports.ssh, PROBE_TIMEOUT_MS);
    const code = await execExitCode(t.container, [
        "bash",
        "--noprofile",
        "--norc",
        "-c",
        `exec 3<>/dev/tcp/127.0.0.1/${SERVICES.ssh.containerPort} && head -c 4 <&3 | grep -q SSH-`,
    ]);
    return code === 0;
}

/**
 * Why applications served through the proxy can never answer: the image has no proxy, or its
 * proxy does not serve one (VS Code in an image without code-server). Undefined while Jupyter
 * itself is not up yet, or when all are there.
 */
export async function applicationsMissing(
    ctx: DockerContext,
    t: ProbeTarget,
    checks: ApplicationCheck[],
): Promise<string | undefined> {
    const proxied = checks.filter((c) => c.proxied).map((c) => c.proxied as string);
    if (!proxied.length || !(await probeJupyter(ctx, t))) return undefined;
    const status = await probeStatus(ctx, t, "/server-proxy/servers-info", APPLICATION_PROBE_TIMEOUT_MS);
    if (status >= 400 && status < 500) {
        return `the image serves no applications through Jupyter (no jupyter-server-proxy): ${proxied.join(", ")} need the default image, or one built FROM it (images/README.md)`;
    }
    const served = await proxiedServers(ctx, t);
    if (served && proxied.includes("vscode") && !served.includes("vscode")) {
        return 'the image has no VS Code (code-server): use the workspace\'s default image (its vscode variant is built for instances that list "vscode"), or build yours FROM compute-instance-workstation-vscode';
    }
    const missing = served ? proxied.filter((p) => p !== "vscode" && !served.includes(p)) : [];
    if (missing.length)
        return `the image's Jupyter does not serve ${missing.join(", ")} (its jupyter_server_config.py must read CI_CUSTOM_APPLICATIONS, as the default image's does)`;
    return undefined;
}

/** The names jupyter-server-proxy serves; undefined when that cannot be asked from here (or yet). */
export async function proxiedServers(ctx: DockerContext, t: ProbeTarget): Promise<string[] | undefined> {
    const base = await jupyterBase(ctx, t);
    if (!base) return undefined;
    const info = (await httpJson(
        `${base}/server-proxy/servers-info`,
        { Authorization: `token ${t.token}` },
        APPLICATION_PROBE_TIMEOUT_MS,
    ).catch(() => undefined)) as { server_processes?: { name: string }[] } | undefined;
    return info?.server_processes?.map((p) => p.name);
}

/**
 * Where this process reaches the instance's Jupyter server: by name on the workspace network
 * (the agent), or on the published port of a local engine; undefined otherwise (a remote
 * engine, an unpublished server), where only a command inside the container can ask.
 */
async function jupyterBase(ctx: DockerContext, t: Omit<ProbeTarget, "token">): Promise<string | undefined> {
    if (ctx.options.reachInstancesBy === "workspace-network")
        return `http://${nameOf(await t.container.inspect())}:${SERVICES.jupyter.containerPort}`;
    if (ctx.local && t.ports.jupyter !== undefined) return `http://${PUBLISH_ADDRESS}:${t.ports.jupyter}`;
    return undefined;
}

/**
 * The exit code of a probe run in the container; undefined when it did not finish within 5 s.
 * Never as root, and never with anything of the user's: the home is on the user's disk and
 * the image's PATH starts with ~/.local/bin, so a probe run as root from there would run a
 * `python3` the user planted with root's privileges. See {@link PROBE_EXEC}.
 */
async function execExitCode(
    container: Dockerode.Container,
    cmd: string[],
    env: string[] = [],
): Promise<number | undefined> {
    const exec = await container.exec({ ...PROBE_EXEC, Env: [...PROBE_EXEC.Env, ...env], Cmd: cmd });
    await (await exec.start({ hijack: true, stdin: false })).resume();
    for (let i = 0; i < 50; i++) {
        const info = await exec.inspect();
        if (!info.Running) return info.ExitCode ?? undefined;
        await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
}

/** Whether an SSH server answers at host:port with its identification line, within the timeout. */
function sshBanner(host: string, port: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect({ host, port });
        const done = (ok: boolean) => {
            socket.destroy();
            resolve(ok);
        };
        socket.setTimeout(timeoutMs, () => done(false));
        socket.once("data", (d) => done(d.toString("latin1").startsWith("SSH-")));
        socket.once("error", () => done(false));
        socket.once("end", () => done(false));
    });
}
