/**
 * bench/peer-jupyterhub: this project against what most teams would use instead of it on one Docker
 * engine, JupyterHub with DockerSpawner, on the same workstation image, in the same run, round by
 * round, alternating which side goes first:
 *   new    a new server: the hub's REST API starts a new user's server, until its /api/status
 *          answers through the hub's proxy; against `pulumi up --skip-preview` adding an instance to
 *          an existing workspace, until its Jupyter answers (up itself waits for that)
 *   stop   the hub's REST API stops the server (DockerSpawner remove=False: the container is stopped
 *          and kept, as ours keeps its disks); against `compute-instance stop`
 *   start  the hub starts the stopped server again; against `compute-instance start`, until answering
 * The hub is warm (its process, proxy and network exist before anything is timed), and so is our
 * workspace (its agent, network and user-files volume are made by an untimed up first).
 *   bench/run peer-jupyterhub [rounds=5]
 *
 * The peer (JupyterHub, DockerSpawner, configurable-http-proxy) is installed by
 * bench/peer-jupyterhub-install into a cache of its own, never into this project's dependencies.
 * Traffic stays on this machine: the hub's proxy and its API listen on 127.0.0.1, where this
 * benchmark talks to them; the spawned containers are on a Docker network of the benchmark's own,
 * which the hub reaches by container address, and the hub's internal API (which the single-user
 * servers call back to check tokens) listens on that network's gateway address, the one address of
 * this machine the containers can reach.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { DockerBackend } from "../provider/backends/docker";
import { contextHash, workstationContextDir, workstationImageTag } from "../provider/image/context";
import { DEFAULT_DOCKER_HOST } from "../provider/model/defaults";
import { progressTo } from "../provider/progress";
import { httpStatus } from "../provider/http";
import { ROOT, TestStack, docker, programStack, purgeWorkspace, uniqueWorkspace } from "../test/support/stacks";
import { computeInstance, instanceOutputs, median, pulumiUp, seconds, untilAnswers } from "./common";

const rounds = Number(process.argv[2] ?? 5);
const VERSIONS = { jupyterhub: "6.1.1", dockerspawner: "14.0.0", chp: "5.3.0" };
const ourImage = workstationImageTag(contextHash(workstationContextDir()));
/** What every object the peer's side makes is labelled with, to find them all when cleaning up. */
const LABEL = "io.pulumi-compute-instance.bench";
const PEER_REPO = "compute-instance-peer-jupyterhub";
// The same size on both sides: our instance's cpus/memoryGb, the spawner's cpu_limit/mem_limit.
const SIZE = { cpus: 1, memoryGb: 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** bench/peer-jupyterhub-install: its progress shown as it goes, its cache directory returned. */
function installPeer(): string {
    const out = execFileSync(
        path.join(ROOT, "bench", "peer-jupyterhub-install"),
        [VERSIONS.jupyterhub, VERSIONS.dockerspawner, VERSIONS.chp],
        { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" },
    );
    return out.trim().split("\n").pop() as string;
}

/**
 * The image the hub spawns: ours when it has JupyterHub's single-user server, else ours plus
 * `pip install jupyterhub` (bench/peer-image), tagged by what it is made of and built once.
 */
async function peerImage(log: (m: string) => void): Promise<{ image: string; derived: boolean }> {
    const has = spawnSync("docker", [
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        ourImage,
        "-c",
        "command -v jupyterhub-singleuser",
    ]);
    if (has.status === 0) return { image: ourImage, derived: false };
    const dir = path.join(ROOT, "bench", "peer-image");
    const hash = createHash("sha256")
        .update(`${contextHash(dir)}\0${ourImage}\0${VERSIONS.jupyterhub}`)
        .digest("hex")
        .slice(0, 16);
    const tag = `${PEER_REPO}:${hash}`;
    const backend = new DockerBackend(process.env.DOCKER_HOST ?? DEFAULT_DOCKER_HOST);
    if ((await backend.images.inspectImage(tag))?.contextHash === hash) return { image: tag, derived: true };
    log(`building ${tag}: ${ourImage} + jupyterhub==${VERSIONS.jupyterhub} (it has no jupyterhub-singleuser)`);
    // The build's progress, each line once (it repeats the current step while a step runs).
    const shown = new Set<string>();
    const progress = progressTo((m) => void (shown.has(m) || (shown.add(m), log(`  ${m}`))));
    await backend.images.buildImage(tag, dir, hash, progress, {
        BASE_IMAGE: ourImage,
        JUPYTERHUB_VERSION: VERSIONS.jupyterhub,
    });
    // Images this benchmark built from earlier workstation images: only ours, and only unused ones.
    for (const img of await docker.listImages({ filters: { reference: [PEER_REPO] } }))
        for (const t of img.RepoTags ?? [])
            if (t !== tag)
                await docker
                    .getImage(t)
                    .remove()
                    .catch(() => undefined);
    return { image: tag, derived: true };
}

/** A port nothing listens on at `host`, for a server to bind next. */
function freePort(host: string): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, host, () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
    });
}

interface Hub {
    /** The proxy's public address, where the hub's API and the users' servers are reached. */
    url: string;
    /** A service's API token with the right to start, stop and use the users' servers. */
    token: string;
    process: ChildProcess;
    log: string;
    /** Where the hub writes its proxy's pid: the proxy runs in a session of its own. */
    proxyPid: string;
}

/** A Python literal of a JSON value without booleans or nulls (JSON's are Python's there). */
const py = (v: unknown) => JSON.stringify(v);

/**
 * JupyterHub as a team would configure it for DockerSpawner on one engine, on loopback. Returned as
 * soon as its process is spawned, so that a clean-up from then on stops it (see untilHubAnswers).
 */
async function launchHub(peer: string, image: string, prefix: string, gateway: string, dir: string): Promise<Hub> {
    const token = randomBytes(32).toString("hex");
    const port = await freePort("127.0.0.1");
    const apiPort = await freePort("127.0.0.1");
    const hubPort = await freePort(gateway);
    const home = "/home/azureuser";
    const config = `# Written by bench/peer-jupyterhub.
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = ${port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:${apiPort}"
c.ConfigurableHTTPProxy.command = [${py(path.join(peer, "chp/node_modules/.bin/configurable-http-proxy"))}]
c.ConfigurableHTTPProxy.pid_file = ${py(path.join(dir, "proxy.pid"))}
# The single-user servers call the hub's API back (token checks, activity): it must be reachable
# from the containers, so it listens on the benchmark network's gateway and nowhere else.
c.JupyterHub.hub_ip = ${py(gateway)}
c.JupyterHub.hub_port = ${hubPort}
c.JupyterHub.db_url = ${py(`sqlite:///${path.join(dir, "jupyterhub.sqlite")}`)}
c.JupyterHub.cookie_secret_file = ${py(path.join(dir, "cookie_secret"))}
c.JupyterHub.pid_file = ${py(path.join(dir, "jupyterhub.pid"))}
# No logins: everything goes through the REST API with a service's token.
c.JupyterHub.authenticator_class = "null"
c.Authenticator.allow_all = True
c.JupyterHub.services = [{"name": "bench", "api_token": ${py(token)}}]
c.JupyterHub.load_roles = [{"name": "bench", "scopes": ["admin:users", "admin:servers", "access:servers"], "services": ["bench"]}]
# The benchmark removes the containers itself; the hub leaves them as they are when it stops.
c.JupyterHub.cleanup_servers = False
c.JupyterHub.spawner_class = "docker"
c.DockerSpawner.image = ${py(image)}
c.DockerSpawner.pull_policy = "never"
c.DockerSpawner.prefix = ${py(prefix)}
c.DockerSpawner.network_name = ${py(prefix)}
c.DockerSpawner.use_internal_ip = True
# Stopped, not removed: the equivalent of our stop, which keeps the disks.
c.DockerSpawner.remove = False
# Our instances' disks: home (OS disk), /mnt (temp disk) per user, the notebooks shared.
c.DockerSpawner.volumes = {${py(`${prefix}-{username}-home`)}: ${py(home)}, ${py(`${prefix}-{username}-tmp`)}: "/mnt", ${py(`${prefix}-code`)}: ${py(`${home}/cloudfiles/code`)}}
c.DockerSpawner.notebook_dir = ${py(`${home}/cloudfiles/code`)}
c.DockerSpawner.cpu_limit = ${SIZE.cpus}.0
c.DockerSpawner.mem_limit = "${SIZE.memoryGb}G"
# The image's own entry point starts our Jupyter server; the hub's is jupyterhub-singleuser, run
# as the image's user under the image's init.
c.DockerSpawner.cmd = ["jupyterhub-singleuser"]
c.DockerSpawner.extra_create_kwargs = {"entrypoint": ["/usr/bin/tini", "--"], "user": "azureuser", "labels": {${py(LABEL)}: ${py(prefix)}}}
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300
`;
    const file = path.join(dir, "jupyterhub_config.py");
    fs.writeFileSync(file, config);
    const log = path.join(dir, "hub.log");
    const fd = fs.openSync(log, "a");
    // In a process group of its own (detached): the proxy it starts is stopped with it.
    const child = spawn(path.join(peer, "venv/bin/jupyterhub"), ["-f", file], {
        cwd: dir,
        detached: true,
        stdio: ["ignore", fd, fd],
        env: { ...process.env, PATH: `${path.join(peer, "venv/bin")}:${process.env.PATH}` },
    });
    fs.closeSync(fd);
    return { url: `http://127.0.0.1:${port}`, token, process: child, log, proxyPid: path.join(dir, "proxy.pid") };
}

/** Until the hub's API answers through its proxy. */
async function untilHubAnswers(hub: Hub): Promise<void> {
    const deadline = Date.now() + 120_000;
    while ((await httpStatus(`${hub.url}/hub/api/`, {}, 1000).catch(() => 0)) !== 200) {
        if (hub.process.exitCode !== null)
            throw new Error(`the hub exited (${hub.process.exitCode}):\n${tail(hub.log)}`);
        if (Date.now() > deadline) throw new Error(`the hub did not answer in 120 s:\n${tail(hub.log)}`);
        await sleep(200);
    }
}

function tail(file: string, lines = 40): string {
    try {
        return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
        return "(no log)";
    }
}

/**
 * Stops the hub (its process group, by its id) and then its proxy, which JupyterHub starts in a
 * session of its own and stops itself only on a clean shutdown: by the pid the hub wrote, and only
 * while that pid is still our proxy.
 */
async function stopHub(hub: Hub): Promise<void> {
    const kill = (pid: number, s: NodeJS.Signals) => {
        try {
            process.kill(pid, s);
        } catch {
            /* already gone */
        }
    };
    const pid = hub.process.pid;
    if (pid !== undefined && hub.process.exitCode === null && hub.process.signalCode === null) {
        const gone = new Promise((r) => hub.process.once("exit", r));
        kill(-pid, "SIGTERM");
        if (!(await Promise.race([gone.then(() => true), sleep(20_000).then(() => false)]))) kill(-pid, "SIGKILL");
    }
    const proxy = Number(fs.existsSync(hub.proxyPid) ? fs.readFileSync(hub.proxyPid, "utf8").trim() : NaN);
    const ours = (p: number) => {
        try {
            return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes("configurable-http-proxy");
        } catch {
            return false;
        }
    };
    if (!Number.isInteger(proxy) || !ours(proxy)) return;
    kill(proxy, "SIGTERM");
    for (let i = 0; i < 100 && ours(proxy); i++) await sleep(100);
    if (ours(proxy)) kill(proxy, "SIGKILL");
}

/**
 * The hub's REST API, through its proxy on loopback, with the service's token. A connection per
 * request, as a CLI makes: a kept-alive one can be closed by the proxy while idle between two
 * calls (the next request then fails with "other side closed").
 */
function hubApi(hub: Hub, method: string, p: string, expect: number[]): Promise<{ status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
        const req = http.request(
            `${hub.url}/hub/api${p}`,
            { method, agent: false, headers: { Authorization: `token ${hub.token}` }, timeout: 60_000 },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("error", reject);
                res.on("end", () => {
                    const text = Buffer.concat(chunks).toString("utf8");
                    const status = res.statusCode ?? 0;
                    if (!expect.includes(status))
                        reject(new Error(`${method} /hub/api${p}: ${status} ${text.slice(0, 300)}\n${tail(hub.log)}`));
                    else resolve({ status, body: text ? (JSON.parse(text) as unknown) : undefined });
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error(`${method} /hub/api${p}: no answer in 60 s`)));
        req.on("error", reject);
        req.end();
    });
}

/** The user's default server as the hub sees it; undefined when it is not running or starting. */
async function hubServer(hub: Hub, user: string): Promise<{ ready: boolean; pending: string | null } | undefined> {
    const { body } = await hubApi(hub, "GET", `/users/${user}`, [200]);
    return (body as { servers?: Record<string, { ready: boolean; pending: string | null }> }).servers?.[""];
}

/** The hub starts the user's server: REST start, the hub says ready, /api/status answers through the proxy. */
async function hubStart(hub: Hub, user: string): Promise<number> {
    const started = process.hrtime.bigint();
    await hubApi(hub, "POST", `/users/${user}/server`, [201, 202]);
    for (;;) {
        const s = await hubServer(hub, user);
        if (s?.ready) break;
        if (!s?.pending) throw new Error(`the hub did not start ${user}'s server:\n${tail(hub.log)}`);
        await sleep(100);
    }
    await untilAnswers(`${hub.url}/user/${user}/api/status`, hub.token);
    return seconds(started);
}

/** The hub stops the user's server, until it says it is stopped. */
async function hubStop(hub: Hub, user: string): Promise<number> {
    const started = process.hrtime.bigint();
    const { status } = await hubApi(hub, "DELETE", `/users/${user}/server`, [202, 204]);
    if (status === 202) while (await hubServer(hub, user)) await sleep(100);
    return seconds(started);
}

/** A container exists and is stopped: a stop kept it (both sides keep the disks). */
async function assertStoppedAndKept(container: string): Promise<void> {
    const info = await docker.getContainer(container).inspect();
    if (info.State.Running) throw new Error(`${container} is still running after its stop`);
}

interface Side {
    create: number[];
    stop: number[];
    start: number[];
}

async function main() {
    const log = (m: string) => console.log(m);
    const load = () =>
        os
            .loadavg()
            .map((l) => l.toFixed(2))
            .join(", ");
    log(`peer-jupyterhub: ${rounds} round(s) of new server, stop and start, compute-instance against JupyterHub`);
    await docker.getImage(ourImage).inspect(); // warm image, or fail here
    const peer = installPeer();
    const { image, derived } = await peerImage(log);
    log(
        `ours: ${ourImage}, pulumi up --skip-preview (file:// state) and the compute-instance CLI\n` +
            `theirs: JupyterHub ${VERSIONS.jupyterhub}, DockerSpawner ${VERSIONS.dockerspawner}, configurable-http-proxy ${VERSIONS.chp}, ` +
            (derived
                ? `image ${image}: ours + jupyterhub==${VERSIONS.jupyterhub} (bench/peer-image: ours has no jupyterhub-singleuser)`
                : `image ${image} (ours)`),
    );

    const id = randomBytes(4).toString("hex");
    const prefix = `bench-peer-${id}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-peer-hub-"));
    const ws = uniqueWorkspace("bpeer");
    let hub: Hub | undefined;
    let t: TestStack | undefined;
    // The stack as soon as it is asked for: a clean-up while it is being made still disposes of it.
    let stackMade: Promise<TestStack> | undefined;
    // One clean-up, however many ask for it (the run's end, a failure, a signal), and each caller
    // waits for it: a failure that follows a signal must not exit while the signal's clean-up runs.
    let cleaning: Promise<void> | undefined;
    const cleanUp = () => (cleaning ??= removeAll());
    const removeAll = async () => {
        console.error(`peer-jupyterhub: removing the hub, ${prefix}-* and workspace ${ws}`);
        // Each part on its own: one that fails must not leave the others behind.
        const part = async (what: string, f: () => Promise<unknown>) =>
            f().catch((e) => {
                // Gone already (or never made) is fine.
                if ((e as { statusCode?: number }).statusCode !== 404)
                    console.error(`peer-jupyterhub: removing ${what} failed: ${e}`);
            });
        await part("the hub", async () => hub && (await stopHub(hub)));
        await part("the hub's containers", async () => {
            const filters = { label: [`${LABEL}=${prefix}`] };
            for (const c of await docker.listContainers({ all: true, filters }))
                await docker.getContainer(c.Id).remove({ force: true });
        });
        // DockerSpawner's volumes are made by the engine when a container names them: by name.
        await part("the hub's volumes", async () => {
            for (const v of (await docker.listVolumes({ filters: { name: [prefix] } })).Volumes ?? [])
                if (v.Name.startsWith(`${prefix}-`)) await docker.getVolume(v.Name).remove({ force: true });
        });
        await part("the hub's network", () => docker.getNetwork(prefix).remove());
        await part("the stack", async () => {
            const made = await stackMade;
            if (!made) return;
            await made.stack.destroy().catch(() => undefined); // what it leaves, purgeWorkspace removes
            await made.dispose();
        });
        await part("the workspace", () => purgeWorkspace(ws));
        fs.rmSync(dir, { recursive: true, force: true });
        console.error("peer-jupyterhub: removed");
    };
    // Ctrl-C or a kill: what was made goes all the same; a second signal while it goes is ignored.
    let signalled = false;
    for (const s of ["SIGINT", "SIGTERM"] as const)
        process.on(s, () => {
            if (signalled) return;
            signalled = true;
            console.error(`peer-jupyterhub: ${s}, cleaning up`);
            void cleanUp().finally(() => process.exit(130));
        });

    try {
        await docker.createNetwork({
            Name: prefix,
            Driver: "bridge",
            CheckDuplicate: true,
            Labels: { [LABEL]: prefix },
        });
        const gateway = ((await docker.getNetwork(prefix).inspect()) as { IPAM: { Config: { Gateway?: string }[] } })
            .IPAM.Config[0]?.Gateway;
        if (!gateway) throw new Error(`network ${prefix} has no gateway address`);
        hub = await launchHub(peer, image, prefix, gateway, dir);
        await untilHubAnswers(hub);
        stackMade = programStack("instance", { workspaceName: ws, instances: {} });
        t = await stackMade;
        pulumiUp(t, ["--skip-preview"]); // the workspace alone: agent, network, user files
        log(`hub at ${hub.url} (log ${hub.log}); workspace ${ws}; load average ${load()}`);

        const ours: Side & { noop: number[] } = { create: [], stop: [], start: [], noop: [] };
        const theirs: Side = { create: [], stop: [], start: [] };
        for (let i = 0; i < rounds; i++) {
            // Who goes first alternates, so drift in the machine's load falls on both sides alike.
            const oursFirst = i % 2 === 0;
            const pair = async (a: () => Promise<void>, b: () => Promise<void>) =>
                oursFirst ? (await a(), await b()) : (await b(), await a());
            const user = `user${i + 1}`; // an instance name: 3 to 24 characters
            const stack = t;
            let status = { status: "", token: "" };
            await pair(
                async () => {
                    await stack.setConfig({ workspaceName: ws, instances: { [user]: { size: SIZE } } });
                    const started = process.hrtime.bigint();
                    pulumiUp(stack, ["--skip-preview"]);
                    // up returns once the instance's Jupyter answers /api/status with its token
                    // (the provider's readiness probe); checked here, untimed.
                    ours.create.push(seconds(started));
                    status = (await instanceOutputs(stack))[user];
                    await untilAnswers(status.status, status.token);
                    const noop = process.hrtime.bigint();
                    pulumiUp(stack, ["--skip-preview"]);
                    ours.noop.push(seconds(noop));
                },
                async () => {
                    await hubApi(hub as Hub, "POST", `/users/${user}`, [201]);
                    theirs.create.push(await hubStart(hub as Hub, user));
                },
            );
            await pair(
                async () => {
                    const started = process.hrtime.bigint();
                    computeInstance("stop", user, ws);
                    ours.stop.push(seconds(started));
                    await assertStoppedAndKept(`ci-${ws}-${user}`);
                },
                async () => {
                    theirs.stop.push(await hubStop(hub as Hub, user));
                    await assertStoppedAndKept(`${prefix}-${user}`);
                },
            );
            await pair(
                async () => {
                    const started = process.hrtime.bigint();
                    computeInstance("start", user, ws);
                    await untilAnswers(status.status, status.token);
                    ours.start.push(seconds(started));
                },
                async () => {
                    theirs.start.push(await hubStart(hub as Hub, user));
                },
            );
            log(
                `round ${i + 1}/${rounds} (${oursFirst ? "ours" : "theirs"} first): ` +
                    `new: pulumi up ${ours.create[i].toFixed(2)}s (no-op ${ours.noop[i].toFixed(2)}s), hub ${theirs.create[i].toFixed(2)}s; ` +
                    `stop: compute-instance ${ours.stop[i].toFixed(2)}s, hub ${theirs.stop[i].toFixed(2)}s; ` +
                    `start: compute-instance ${ours.start[i].toFixed(2)}s, hub ${theirs.start[i].toFixed(2)}s`,
            );
            // Untimed: both sides back to an empty workspace / hub, so every round starts alike.
            await stack.setConfig({ workspaceName: ws, instances: {} });
            pulumiUp(stack, ["--skip-preview"]);
            await hubStop(hub, user);
            await docker
                .getContainer(`${prefix}-${user}`)
                .remove({ force: true })
                .catch(() => undefined);
            await hubApi(hub, "DELETE", `/users/${user}`, [204]);
        }

        const row = (what: string, o: number[], h: number[]) =>
            log(
                `${what.padEnd(40)} compute-instance median ${median(o).toFixed(2)}s, JupyterHub median ${median(h).toFixed(2)}s, ratio ${(median(o) / median(h)).toFixed(2)}`,
            );
        log("");
        row("new server → Jupyter answers", ours.create, theirs.create);
        row(
            "  of which beyond a no-op pulumi up",
            ours.create.map((x, i) => x - ours.noop[i]),
            theirs.create,
        );
        row("stop (container kept)", ours.stop, theirs.stop);
        row("start a stopped server → answers", ours.start, theirs.start);
        log(`${"no-op pulumi up --skip-preview".padEnd(40)} median ${median(ours.noop).toFixed(2)}s`);
        log(`load average at the end: ${load()} (${os.cpus().length} cores)`);
    } catch (e) {
        // After a signal, what fails is what the clean-up took away: nothing to show.
        if (hub && !signalled) console.error(`hub log (${hub.log}), last lines:\n${tail(hub.log)}`);
        throw e;
    } finally {
        await cleanUp();
    }
}

main().then(
    () => process.exit(0),
    (e) => {
        console.error(e);
        process.exit(1);
    },
);
