/**
 * The Docker backend: a thin adapter from the backend interface to the Docker Engine API
 * (dockerode). What goes into each API object is decided in ./options.ts.
 */
import type Dockerode from "dockerode";
import { randomBytes } from "crypto";
import * as net from "net";
import {
    AgentSpec,
    AgentState,
    AgentStore,
    Backend,
    BackendError,
    CAPABILITIES,
    Capacity,
    KeptForInspectionError,
    NoFirewallError,
    DiskState,
    EgressSpec,
    InboundSpec,
    InstanceRef,
    InstanceView,
    LiveChanges,
    Ownership,
    RuntimeSpec,
    RuntimeState,
    UserFilesClaim,
    UserFilesRelease,
} from "../backend";
import {
    AGENT_STATE_DIR,
    IMAGE_CONTRACT_LABEL,
    LIVE_TOKEN_CONTRACT,
    TOKEN_DIR,
    TOKEN_FILE,
    ownerKey,
    parseStoredJson,
    policyKey,
} from "../layout";
import type { Labels } from "../../model/labels";
import type { QuotaUse } from "../../model/quota";
import {
    SCRIPT_KINDS,
    SETUP_DIR,
    SetupProgress,
    SetupScripts,
    setupProgressFromLog,
    setupSeconds,
} from "../../model/setup";
import { Progress, progressFor } from "../../progress";
import type { InstanceNetwork } from "../../model/schema";
import { httpJson, httpStatus } from "../../http";
import { stableJson } from "../../changes";
import { waitUntilReady } from "../../readiness";
import {
    ApplicationCheck,
    PUBLISH_ADDRESS,
    PublishedPorts,
    SERVICES,
    ServiceName,
    applicationAnswers,
    applicationChecks,
    publishedServices,
    servicesFor,
} from "../../model/endpoints";
import { CONTEXT_HASH_LABEL, contextFiles, extraCaDirs } from "../../image/context";
import { connectionOptions, isLocalEngine } from "./connection";
import { getFiles, putFiles } from "./archive";
import {
    NO_FIREWALL_EXIT,
    applyEgressScript,
    applyInboundScript,
    egressSignature,
    enginePorts,
    inboundSignature,
    readEgressScript,
    readInboundScript,
    removeEgressScript,
    removeInboundScript,
    restricts,
} from "./firewall";
import {
    LABEL_PREFIX,
    agentContainerName,
    applicationContainerName,
    applicationCreateOptions,
    bridgeName,
    firewallCreateOptions,
    inboundPortRules,
    agentCreateOptions,
    agentVolumeName,
    containerCreateOptions,
    containerName,
    diskVolumeName,
    labelsFor,
    memoryBytes,
    nanoCpus,
    networkName,
    preferredPort,
    statusFromDocker,
    userFilesVolumeName,
} from "./options";

const GiB = 1024 ** 3;
const PING_TIMEOUT_MS = 5000;
/**
 * One readiness probe. Short: while the server is not listening yet, the engine's port proxy
 * accepts the connection and then holds it, so a probe sent too early waits out its timeout
 * (with 2 s, every start took 2.1 s however fast Jupyter was: bench/power).
 */
const PROBE_TIMEOUT_MS = 400;
/** An application's first request may start it (VS Code: about a second). */
const APPLICATION_PROBE_TIMEOUT_MS = 10_000;
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

/** How a failed setup script is named in errors (Azure's state name). */
const SETUP_FAILED = "SetupFailed";

function statusCode(e: unknown): number | undefined {
    return typeof e === "object" && e !== null && "statusCode" in e
        ? Number((e as { statusCode: unknown }).statusCode)
        : undefined;
}

function reason(e: unknown): string {
    if (typeof e === "object" && e !== null) {
        const json = (e as { json?: { message?: string } }).json;
        if (json?.message) return json.message;
        if ("message" in e) return String((e as Error).message);
    }
    return String(e);
}

async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
    try {
        return await p;
    } catch (e) {
        if (statusCode(e) === 404) return undefined;
        throw e;
    }
}

export interface DockerBackendOptions {
    /**
     * How instances' Jupyter servers are reached: on their published ports (from the engine's
     * host) or by container name on the workspace network (from the agent's container).
     */
    reachInstancesBy?: "published-port" | "workspace-network";
}

export class DockerBackend implements Backend {
    readonly description: string;
    readonly liveResize = CAPABILITIES.docker.liveResize;
    readonly liveTempDiskResize = CAPABILITIES.docker.liveTempDiskResize;
    readonly buildsImages = CAPABILITIES.docker.buildsImages;
    private readonly docker: Dockerode;
    private readonly local: boolean;

    constructor(
        readonly host: string,
        private readonly options: DockerBackendOptions = {},
    ) {
        const Docker = require("dockerode") as typeof Dockerode;
        this.docker = new Docker({ ...connectionOptions(host), timeout: 0 });
        this.description = `Docker engine at ${host}`;
        this.local = isLocalEngine(host);
    }

    async ping(): Promise<void> {
        const Docker = require("dockerode") as typeof Dockerode;
        const quick = new Docker({ ...connectionOptions(this.host), timeout: PING_TIMEOUT_MS });
        try {
            await quick.ping();
        } catch (e) {
            throw new BackendError(
                `${this.description} does not answer (${reason(e)}). Start Docker (scripts/bootstrap does it on Debian), ` +
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
    async identity(): Promise<string | undefined> {
        const info = (await this.docker.info()) as { ID?: string; DockerRootDir?: string };
        return info.ID ? `docker-engine:${info.ID}${info.DockerRootDir ? `:${info.DockerRootDir}` : ""}` : undefined;
    }

    async capacity(): Promise<Capacity> {
        const info = (await this.docker.info()) as {
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

    // -- images --------------------------------------------------------------------------------

    async ensureImage(image: string, progress: Progress): Promise<void> {
        if (await ignoreNotFound(this.docker.getImage(image).inspect())) return;
        progress.status(`pulling ${image}`);
        try {
            const stream = await this.docker.pull(image);
            await new Promise<void>((resolve, reject) =>
                this.docker.modem.followProgress(
                    stream,
                    (err) => (err ? reject(err) : resolve()),
                    (ev: { status?: string; progress?: string }) => {
                        if (ev.status) progress.status(`pulling ${image}: ${ev.status} ${ev.progress ?? ""}`.trim());
                    },
                ),
            );
        } catch (e) {
            throw new BackendError(
                `image "${image}" is not on the ${this.description} and could not be pulled (${reason(e)}). ` +
                    `Build it there (docker build -t ${image} ...) or push it to a registry the engine can reach.`,
            );
        }
    }

    async inspectImage(image: string): Promise<{ id: string; contextHash?: string } | undefined> {
        const info = await ignoreNotFound(this.docker.getImage(image).inspect());
        if (!info) return undefined;
        const hash = info.Config?.Labels?.[CONTEXT_HASH_LABEL];
        return { id: info.Id, ...(hash ? { contextHash: hash } : {}) };
    }

    async buildImage(
        image: string,
        contextDir: string,
        contextHash: string,
        progress: Progress,
        buildArgs?: Record<string, string>,
    ): Promise<{ id: string }> {
        const fs = require("fs") as typeof import("fs");
        const os = require("os") as typeof import("os");
        const path = require("path") as typeof import("path");
        // The context is copied so machine-specific CA certificates can join it (see the Dockerfile).
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-image-"));
        try {
            fs.cpSync(contextDir, dir, { recursive: true });
            const caDir = path.join(dir, "ca-certificates");
            fs.mkdirSync(caDir, { recursive: true });
            // The Dockerfiles COPY this folder: it must be in the context even with no certificate
            // to add (a machine with none, a remote engine), or the build fails.
            fs.writeFileSync(path.join(caDir, ".keep"), "");
            if (this.local) {
                for (const src of extraCaDirs()) {
                    if (!fs.existsSync(src)) continue;
                    for (const f of fs.readdirSync(src).filter((n) => n.endsWith(".crt")))
                        fs.copyFileSync(path.join(src, f), path.join(caDir, f));
                }
            }
            const stream = await this.docker.buildImage(
                {
                    context: dir,
                    src: contextFiles(dir).concat(fs.readdirSync(caDir).map((f) => `ca-certificates/${f}`)),
                },
                {
                    t: image,
                    labels: { [CONTEXT_HASH_LABEL]: contextHash },
                    rm: true,
                    forcerm: true,
                    ...(buildArgs ? { buildargs: buildArgs } : {}),
                },
            );
            const started = Date.now();
            let step = "";
            let shown = 0;
            await new Promise<void>((resolve, reject) =>
                this.docker.modem.followProgress(
                    stream,
                    (err, events: { error?: string; errorDetail?: { message?: string } }[]) => {
                        const failed = err ?? events.find((e) => e.error);
                        if (failed)
                            reject(
                                new BackendError(
                                    `building ${image} failed: ${reason(failed instanceof Error ? failed : (failed.errorDetail?.message ?? failed.error))}`,
                                ),
                            );
                        else resolve();
                    },
                    (ev: { stream?: string; status?: string }) => {
                        // eslint-disable-next-line no-control-regex
                        const line = (ev.stream ?? ev.status ?? "").replace(/\x1b\[[0-9;]*m/g, "").trim();
                        if (!line) return;
                        const seconds = Math.round((Date.now() - started) / 1000);
                        // A long step (npm, pip) keeps showing what it is doing, at most once a second.
                        if (line.startsWith("Step ")) step = line.slice(0, 60);
                        else if (Date.now() - shown < 1000) return;
                        shown = Date.now();
                        progress.status(
                            `building ${image} (${seconds}s): ${step}${line.startsWith("Step ") ? "" : ` — ${line.slice(0, 80)}`}`,
                        );
                    },
                ),
            );
            const built = await this.inspectImage(image);
            if (!built || built.contextHash !== contextHash)
                throw new BackendError(`building ${image} finished but the engine does not have it`);
            progress.info(`built ${image} in ${Math.round((Date.now() - started) / 1000)}s`);
            return { id: built.id };
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }

    /** Removes the tags of these repositories other than `keep` (images in use by a container stay); returns what went. */
    async removeImagesExcept(repositories: string[], keep: string[]): Promise<string[]> {
        const removed: string[] = [];
        for (const image of await this.docker.listImages()) {
            for (const tag of image.RepoTags ?? []) {
                if (!repositories.includes(tag.slice(0, tag.lastIndexOf(":"))) || keep.includes(tag)) continue;
                // Refused (409) while a container uses it: kept.
                if (
                    await this.docker
                        .getImage(tag)
                        .remove()
                        .then(
                            () => true,
                            () => false,
                        )
                )
                    removed.push(tag);
            }
        }
        return removed;
    }

    // -- workspace -----------------------------------------------------------------------------

    userFilesName(workspace: string): string {
        return userFilesVolumeName(workspace);
    }

    workspaceNetworkName(workspace: string): string {
        return networkName(workspace);
    }

    newDiskName(ref: InstanceRef, kind: "os" | "temp"): string {
        return diskVolumeName(ref, kind, randomBytes(3).toString("hex"));
    }

    async createUserFiles(ref: Ownership, name: string, sizeGb: number): Promise<UserFilesClaim> {
        const existing = await ignoreNotFound(this.docker.getVolume(name).inspect());
        if (existing) {
            if (existing.Labels?.[`${LABEL_PREFIX}/workspace`] !== ref.workspace) {
                throw new BackendError(
                    `volume "${name}" exists on the ${this.description} but is not the user files of workspace "${ref.workspace}"; remove or rename it`,
                );
            }
            const createdBy = existing.Labels?.[`${LABEL_PREFIX}/owner`];
            await this.referenceUserFiles(ref, name);
            if (createdBy === ref.owner) return { adopted: false, createdBy };
            return { adopted: true, ...(createdBy ? { createdBy } : {}) };
        }
        await this.docker.createVolume({
            Name: name,
            Labels: labelsFor(ref, "user-files", { [`${LABEL_PREFIX}/size-gb`]: String(sizeGb) }),
        });
        await this.referenceUserFiles(ref, name);
        return { adopted: false, createdBy: ref.owner };
    }

    async userFilesUsers(name: string): Promise<string[]> {
        const references =
            (await this.docker.listVolumes({ filters: { label: [`${LABEL_PREFIX}/user-files=${name}`] } })).Volumes ??
            [];
        return references.map((v) => v.Labels?.[`${LABEL_PREFIX}/owner`]).filter((o): o is string => !!o);
    }

    async userFilesExists(name: string): Promise<boolean> {
        return (await ignoreNotFound(this.docker.getVolume(name).inspect())) !== undefined;
    }

    /**
     * A volume's labels cannot change, so each stack whose workspace uses a store says so with a
     * volume of its own beside it: empty, labelled with the store and the stack.
     */
    private async referenceUserFiles(ref: Ownership, name: string): Promise<void> {
        const marker = `${name}-ref-${ownerKey(ref.owner)}`;
        if (await ignoreNotFound(this.docker.getVolume(marker).inspect())) return;
        await this.docker.createVolume({
            Name: marker,
            Labels: labelsFor(ref, "user-files-reference", { [`${LABEL_PREFIX}/user-files`]: name }),
        });
    }

    async releaseUserFiles(ref: Ownership, name: string, deleteIfUnused: boolean): Promise<UserFilesRelease> {
        await ignoreNotFound(this.docker.getVolume(`${name}-ref-${ownerKey(ref.owner)}`).remove());
        if (!deleteIfUnused) return { deleted: false };
        const stacks = (await this.userFilesUsers(name)).filter((o) => o !== ref.owner);
        const mounted = (await this.docker.listContainers({ all: true, filters: { volume: [name] } })).map((c) =>
            (c.Names[0] ?? c.Id).replace(/^\//, ""),
        );
        const users = [...stacks.map((s) => `stack ${s}`), ...mounted.map((c) => `container ${c}`)];
        if (users.length) return { deleted: false, keptFor: `used by ${users.join(", ")}` };
        await this.removeVolume(name, "user files");
        return { deleted: true };
    }

    async createWorkspaceNetwork(ref: Ownership, name: string): Promise<void> {
        const existing = await ignoreNotFound(this.docker.getNetwork(name).inspect());
        if (!existing) {
            try {
                await this.docker.createNetwork({
                    Name: name,
                    Driver: "bridge",
                    CheckDuplicate: true,
                    Labels: labelsFor(ref, "network"),
                });
            } catch (e) {
                // Another stack of the same workspace may have created it a moment ago.
                if (statusCode(e) !== 409) throw e;
            }
        }
    }

    async workspaceNetworkExists(name: string): Promise<boolean> {
        return (await ignoreNotFound(this.docker.getNetwork(name).inspect())) !== undefined;
    }

    async deleteWorkspaceNetwork(name: string): Promise<void> {
        const info = await ignoreNotFound(this.docker.getNetwork(name).inspect());
        if (!info) return;
        // Instances of other stacks of the same workspace keep it alive.
        if (Object.keys(info.Containers ?? {}).length > 0) return;
        await ignoreNotFound(this.docker.getNetwork(name).remove());
    }

    // -- disks ---------------------------------------------------------------------------------

    async createDisk(
        ref: InstanceRef,
        kind: "os" | "temp",
        sizeGb: number,
        name: string,
        labels: Record<string, string> = {},
    ): Promise<DiskState> {
        await this.docker.createVolume({
            Name: name,
            Labels: labelsFor(ref, kind === "os" ? "os-disk" : "temp-disk", {
                [`${LABEL_PREFIX}/size-gb`]: String(sizeGb),
                ...labels,
            }),
        });
        return { name, sizeGb };
    }

    async readDisk(name: string): Promise<DiskState | undefined> {
        const info = await ignoreNotFound(this.docker.getVolume(name).inspect());
        if (!info) return undefined;
        return { name, sizeGb: Number(info.Labels?.[`${LABEL_PREFIX}/size-gb`] ?? 0) };
    }

    async resizeDisk(): Promise<void> {
        // Volume labels are fixed at creation and local volumes have no quota: the size lives in the state.
    }

    async deleteDisk(name: string): Promise<void> {
        await this.removeOrphanRuntimes(name);
        await this.removeVolume(name, "disk");
    }

    /**
     * The runtime containers of the disk's own stack that still use it: a create that died midway
     * (the provider killed, the machine rebooted) left them out of the state. The disk's runtime
     * in the state is deleted before the disk; these never would be, and would hold the disk.
     */
    private async removeOrphanRuntimes(volume: string): Promise<void> {
        const info = await ignoreNotFound(this.docker.getVolume(volume).inspect());
        const owner = info?.Labels?.[`${LABEL_PREFIX}/owner`];
        if (!owner) return;
        const users = await this.docker.listContainers({
            all: true,
            filters: {
                volume: [volume],
                label: [`${LABEL_PREFIX}/owner=${owner}`, "app.kubernetes.io/component=runtime"],
            },
        });
        for (const c of users) await this.deleteRuntime((c.Names[0] ?? c.Id).replace(/^\//, ""));
    }

    private async removeVolume(name: string, what: string): Promise<void> {
        // A container removed a moment ago can hold its volumes for a short while.
        for (let attempt = 0; ; attempt++) {
            try {
                await ignoreNotFound(this.docker.getVolume(name).remove());
                return;
            } catch (e) {
                if (statusCode(e) === 409 && attempt < 10) {
                    await new Promise((r) => setTimeout(r, 300));
                    continue;
                }
                if (statusCode(e) === 409) {
                    throw new BackendError(
                        `${what} volume "${name}" is still in use on the ${this.description}: ${reason(e)}`,
                    );
                }
                throw e;
            }
        }
    }

    // -- runtime -------------------------------------------------------------------------------

    async createRuntime(spec: RuntimeSpec, progress: Progress): Promise<RuntimeState> {
        await this.ensureImage(spec.image, progress);
        const name = containerName(spec);
        await this.clearOrphan(name, spec);

        const services = publishedServices(
            servicesFor(spec.applications, spec.ssh !== null),
            spec.networkRules?.inbound,
        );
        const tokenFile = await this.readsTokenFile(spec.image);
        const hasLabels = Object.keys(spec.labels ?? {}).length > 0;
        let container: Dockerode.Container | undefined;
        try {
            if (hasLabels) await this.writeLabels(spec, spec.labels ?? {});
            let ports: PublishedPorts = {};
            for (let attempt = 0; ; attempt++) {
                ports = await this.choosePorts(services, spec, attempt === 0);
                container = await this.docker.createContainer(containerCreateOptions(spec, ports, tokenFile));
                if (tokenFile) await writeToken(container, spec.token);
                if (spec.setupScripts) await writeSetupScripts(container, spec.setupScripts);
                // Before the ports open: no moment when they answer anyone.
                await this.applyPortRules(spec, ports, progress);
                progress.status("starting container");
                try {
                    await container.start();
                    break;
                } catch (e) {
                    // Someone took the port between choosing and binding it: choose again.
                    if (attempt < 5 && /port is already allocated|address already in use/i.test(reason(e))) {
                        await container.remove({ force: true });
                        container = undefined;
                        continue;
                    }
                    throw e;
                }
            }
            const started = container;
            await this.startApplications(spec, progress);
            const checks = applicationChecks(spec.applications, spec.customApplications ?? []);
            const server = spec.applications.includes("jupyterlab") ? "JupyterLab" : "Jupyter";
            let waitingFor = server;
            const seconds = await waitUntilReady({
                what: server,
                probe: async () => {
                    if (
                        !(await this.probeJupyter(started, ports, spec.token)) ||
                        (spec.ssh && !(await this.probeSsh(started, ports)))
                    )
                        return false;
                    // A path the proxy does not serve answers Jupyter's own 404: served first, then answering.
                    const served = await this.proxiedServers(started, ports, spec.token);
                    for (const c of checks) {
                        waitingFor = c.what;
                        if (c.proxied && served && !served.includes(c.proxied)) return false;
                        const status = await this.probeStatus(
                            started,
                            ports,
                            spec.token,
                            c.path,
                            APPLICATION_PROBE_TIMEOUT_MS,
                        );
                        // Not knowing what the proxy serves (from inside the container), a 404 may be Jupyter's.
                        if (!applicationAnswers(status) || (c.proxied && !served && status === 404)) return false;
                    }
                    return true;
                },
                dead: async () => {
                    // The restart policy brings a crashed server back up: a restart is a death too.
                    const info = await started.inspect();
                    const s = info.State;
                    if (s.Running && !s.Restarting && info.RestartCount === 0) {
                        return (
                            (await this.setupFailure(started, info)) ??
                            (await this.applicationsMissing(started, ports, spec.token, checks))
                        );
                    }
                    return `the container exited (exit code ${s.ExitCode}${info.RestartCount ? `, restarted ${info.RestartCount} times` : ""})`;
                },
                phase: async () =>
                    (await this.setupPhase(started)) ??
                    (waitingFor !== server ? `waiting for ${waitingFor} to answer` : undefined),
                diagnostics: () => this.logTail(started),
                timeoutSeconds: spec.readyTimeoutSeconds + setupSeconds(spec.setupScripts),
                progress,
            });
            progress.info(`ready in ${seconds.toFixed(1)}s`);
            const state = await this.readRuntime(name);
            if (!state) throw new BackendError(`container ${name} disappeared right after it started`);
            return state;
        } catch (e) {
            // A setup script that failed leaves the instance as it is, for inspection; the next
            // `up` replaces it (it is not in the state).
            if (container && e instanceof Error && e.message.includes(SETUP_FAILED)) {
                throw new KeptForInspectionError(
                    `${e.message}\nThe container ${name} is left running for inspection (docker exec -it ${name} bash; the script's output is in ` +
                        `~/.compute-instance/setup/); it is in the stack's state: the next \`pulumi up\` replaces it and \`pulumi destroy\` removes it.`,
                    name,
                );
            }
            // Nothing half-created: the container and its rules go; the disks belong to their own resources.
            if (container) await container.remove({ force: true }).catch(() => undefined);
            await this.removeApplications(name).catch(() => undefined);
            if (hasLabels) await this.writeLabels(spec, undefined).catch(() => undefined);
            if (spec.firewallImage)
                await this.runOnHostNetwork(
                    spec,
                    spec.firewallImage,
                    removeInboundScript(spec.workspace, spec.instance, await this.bridgeOf(spec.network)),
                ).catch(() => undefined);
            if (e instanceof BackendError || (e instanceof Error && e.name === "NotReadyError")) throw e;
            throw new BackendError(`could not create ${name} on the ${this.description}: ${reason(e)}`);
        }
    }

    /**
     * A container with our name that this stack does not know is left from a create that died
     * midway (it is removed); one that another stack owns is a name clash (an error).
     */
    private async clearOrphan(name: string, spec: RuntimeSpec): Promise<void> {
        const existing = await ignoreNotFound(this.docker.getContainer(name).inspect());
        if (!existing) return;
        const owner = existing.Config.Labels?.[`${LABEL_PREFIX}/owner`];
        if (owner !== spec.owner) {
            throw new BackendError(
                `instance "${spec.instance}" already exists in workspace "${spec.workspace}" on the ${this.description} ` +
                    `(container ${name}, managed by ${owner ?? "something else"}); instance names must be unique in a workspace`,
            );
        }
        await this.docker.getContainer(name).remove({ force: true });
        await this.removeApplications(name);
    }

    private async choosePorts(services: ServiceName[], spec: RuntimeSpec, preferred: boolean): Promise<PublishedPorts> {
        const ports: PublishedPorts = {};
        for (const s of services) {
            // A port the user chose is used or the create fails: never silently another one.
            if (s === "ssh" && spec.ssh?.port) {
                if (this.local && !(await portIsFree(spec.ssh.port))) {
                    throw new BackendError(
                        `ssh.port ${spec.ssh.port} is already in use on the engine's host; choose another port or leave it out to get a free one`,
                    );
                }
                ports[s] = spec.ssh.port;
                continue;
            }
            const want = preferred ? (spec.preferredPorts?.[s] ?? preferredPort(spec, s)) : undefined;
            ports[s] = want && (!this.local || (await portIsFree(want))) ? want : await this.freePort();
        }
        return ports;
    }

    private async freePort(): Promise<number> {
        if (this.local) return freeLoopbackPort();
        // A remote engine's ports cannot be probed from here; pick at random in the dynamic
        // range and let a clash at start choose again.
        return 49152 + Math.floor(Math.random() * (65535 - 49152));
    }

    private async probeJupyter(container: Dockerode.Container, ports: PublishedPorts, token: string): Promise<boolean> {
        return (await this.probeStatus(container, ports, token, "/api/status")) === 200;
    }

    /**
     * The HTTP status of a path of the instance's Jupyter server, with the token; 0 when nothing
     * answers. From inside the container, only the status class is known (200, 300, 400, 500).
     */
    private async probeStatus(
        container: Dockerode.Container,
        ports: PublishedPorts,
        token: string,
        path: string,
        timeoutMs = PROBE_TIMEOUT_MS,
    ): Promise<number> {
        const base = await this.jupyterBase(container, ports);
        if (base) return httpStatus(`${base}${path}`, { Authorization: `token ${token}` }, timeoutMs).catch(() => 0);
        // A remote engine publishes on its own loopback, and an unpublished server is not
        // reachable from here at all: ask from inside the container (the token in the exec's
        // environment, not its command line).
        const code = await this.execExitCode(
            container,
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
            [`PROBE_TOKEN=${token}`],
        );
        return code !== undefined && code >= 1 && code <= 5 ? code * 100 : 0;
    }

    /** sshd answers with its banner. */
    private async probeSsh(container: Dockerode.Container, ports: PublishedPorts): Promise<boolean> {
        if (this.options.reachInstancesBy === "workspace-network") {
            const name = (await container.inspect()).Name.replace(/^\//, "");
            return sshBanner(name, SERVICES.ssh.containerPort, PROBE_TIMEOUT_MS);
        }
        if (this.local && ports.ssh !== undefined) return sshBanner(PUBLISH_ADDRESS, ports.ssh, PROBE_TIMEOUT_MS);
        return this.execSucceeds(container, [
            "bash",
            "--noprofile",
            "--norc",
            "-c",
            `exec 3<>/dev/tcp/127.0.0.1/${SERVICES.ssh.containerPort} && head -c 4 <&3 | grep -q SSH-`,
        ]);
    }

    private async execSucceeds(container: Dockerode.Container, cmd: string[]): Promise<boolean> {
        return (await this.execExitCode(container, cmd)) === 0;
    }

    /**
     * The exit code of a probe run in the container; undefined when it did not finish within 5 s.
     * Never as root, and never with anything of the user's: the home is on the user's disk and
     * the image's PATH starts with ~/.local/bin, so a probe run as root from there would run a
     * `python3` the user planted with root's privileges. See {@link PROBE_EXEC}.
     */
    private async execExitCode(
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

    /** Custom applications with an image of their own: made and started in the instance's network. */
    private async startApplications(spec: RuntimeSpec, progress: Progress): Promise<void> {
        for (const app of (spec.customApplications ?? []).filter((a) => a.image)) {
            const image = app.image as string;
            await this.ensureImage(image, progress);
            progress.status(`starting ${app.name} (${image})`);
            const name = applicationContainerName(spec, app.name);
            await ignoreNotFound(this.docker.getContainer(name).remove({ force: true }));
            const c = await this.docker.createContainer(applicationCreateOptions(spec, app));
            await c.start();
        }
    }

    /**
     * The application containers of an instance (by its container's name). Told apart by their
     * labels, not their names: instance "a"'s prefix also matches instance "a-app-x"'s applications.
     */
    private async applicationContainers(id: string): Promise<Dockerode.Container[]> {
        const list = await this.docker.listContainers({
            all: true,
            filters: { name: [`${id}-app-`], label: ["app.kubernetes.io/component=application"] },
        });
        return list
            .filter(
                (c) =>
                    containerName({
                        workspace: c.Labels[`${LABEL_PREFIX}/workspace`],
                        instance: c.Labels["app.kubernetes.io/instance"],
                        owner: "",
                    }) === id,
            )
            .map((c) => this.docker.getContainer(c.Id));
    }

    /**
     * Restarts an application container that is not running or started before its instance (so it
     * holds the instance's old network namespace); one started since is left alone, with its
     * sessions. Returns the container's name when it restarted it.
     */
    private async restartIfStale(app: Dockerode.Container, instanceStartedAt: string): Promise<string | undefined> {
        const info = await ignoreNotFound(app.inspect());
        if (!info || (info.State.Running && Date.parse(info.State.StartedAt) >= Date.parse(instanceStartedAt)))
            return undefined;
        await app.restart({ t: 5 });
        return info.Name.replace(/^\//, "");
    }

    private async removeApplications(id: string): Promise<void> {
        for (const c of await this.applicationContainers(id)) await ignoreNotFound(c.remove({ force: true }));
    }

    /**
     * Why applications served through the proxy can never answer: the image has no proxy, or its
     * proxy does not serve one (VS Code in an image without code-server). Undefined while Jupyter
     * itself is not up yet, or when all are there.
     */
    private async applicationsMissing(
        container: Dockerode.Container,
        ports: PublishedPorts,
        token: string,
        checks: ApplicationCheck[],
    ): Promise<string | undefined> {
        const proxied = checks.filter((c) => c.proxied).map((c) => c.proxied as string);
        if (!proxied.length || !(await this.probeJupyter(container, ports, token))) return undefined;
        const status = await this.probeStatus(
            container,
            ports,
            token,
            "/server-proxy/servers-info",
            APPLICATION_PROBE_TIMEOUT_MS,
        );
        if (status >= 400 && status < 500) {
            return `the image serves no applications through Jupyter (no jupyter-server-proxy): ${proxied.join(", ")} need the default image, or one built FROM it (images/README.md)`;
        }
        const served = await this.proxiedServers(container, ports, token);
        if (served && proxied.includes("vscode") && !served.includes("vscode")) {
            return 'the image has no VS Code (code-server): use the workspace\'s default image (its vscode variant is built for instances that list "vscode"), or build yours FROM compute-instance-workstation-vscode';
        }
        const missing = served ? proxied.filter((p) => p !== "vscode" && !served.includes(p)) : [];
        if (missing.length)
            return `the image's Jupyter does not serve ${missing.join(", ")} (its jupyter_server_config.py must read CI_CUSTOM_APPLICATIONS, as the default image's does)`;
        return undefined;
    }

    /**
     * Where this process reaches the instance's Jupyter server: by name on the workspace network
     * (the agent), or on the published port of a local engine; undefined otherwise (a remote
     * engine, an unpublished server), where only a command inside the container can ask.
     */
    private async jupyterBase(container: Dockerode.Container, ports: PublishedPorts): Promise<string | undefined> {
        if (this.options.reachInstancesBy === "workspace-network")
            return `http://${(await container.inspect()).Name.replace(/^\//, "")}:${SERVICES.jupyter.containerPort}`;
        if (this.local && ports.jupyter !== undefined) return `http://${PUBLISH_ADDRESS}:${ports.jupyter}`;
        return undefined;
    }

    /** The names jupyter-server-proxy serves; undefined when that cannot be asked from here (or yet). */
    private async proxiedServers(
        container: Dockerode.Container,
        ports: PublishedPorts,
        token: string,
    ): Promise<string[] | undefined> {
        const base = await this.jupyterBase(container, ports);
        if (!base) return undefined;
        const info = (await httpJson(
            `${base}/server-proxy/servers-info`,
            { Authorization: `token ${token}` },
            APPLICATION_PROBE_TIMEOUT_MS,
        ).catch(() => undefined)) as { server_processes?: { name: string }[] } | undefined;
        return info?.server_processes?.map((p) => p.name);
    }

    /** The entry point's report on the setup scripts at this start, from its output since it started. */
    private async setupProgress(
        container: Dockerode.Container,
        info?: Dockerode.ContainerInspectInfo,
    ): Promise<SetupProgress | undefined> {
        const i = info ?? (await container.inspect());
        if (!i.State.Running) return undefined;
        const since = Math.floor(Date.parse(i.State.StartedAt) / 1000);
        const buf = (await container.logs({ stdout: true, stderr: true, since, tail: 2000 })) as unknown as Buffer;
        return setupProgressFromLog(demux(buf));
    }

    private async setupPhase(container: Dockerode.Container): Promise<string | undefined> {
        const p = await this.setupProgress(container);
        return p?.phase === "SettingUp" ? p.message : undefined;
    }

    private async setupFailure(
        container: Dockerode.Container,
        info: Dockerode.ContainerInspectInfo,
    ): Promise<string | undefined> {
        const p = await this.setupProgress(container, info);
        return p?.phase === "SetupFailed" ? `${SETUP_FAILED}: ${p.message}` : undefined;
    }

    private async logTail(container: Dockerode.Container): Promise<string> {
        const buf = (await container.logs({ stdout: true, stderr: true, tail: 30 })) as unknown as Buffer;
        return demux(buf);
    }

    async readRuntime(id: string): Promise<RuntimeState | undefined> {
        const info = await ignoreNotFound(this.docker.getContainer(id).inspect());
        if (!info) return undefined;
        const ports: PublishedPorts = {};
        for (const [service, def] of Object.entries(SERVICES) as [ServiceName, { containerPort: number }][]) {
            const b = info.HostConfig.PortBindings?.[`${def.containerPort}/tcp`]?.[0];
            if (b?.HostPort) ports[service] = Number(b.HostPort);
        }
        const gpus = (info.HostConfig.DeviceRequests ?? []).reduce((n, d) => n + (d.Count ?? 0), 0);
        const labels = info.Config.Labels ?? {};
        let status = statusFromDocker(info.State);
        if (status === "Running" && setupTimeoutOf(info) > 0) {
            const setup = await this.setupProgress(this.docker.getContainer(id), info).catch(() => undefined);
            if (setup && setup.phase !== "Done") status = setup.phase;
        }
        return {
            id: info.Name.replace(/^\//, ""),
            uid: info.Id,
            status,
            image: info.Config.Image,
            cpus: (info.HostConfig.NanoCpus ?? 0) / 1e9,
            memoryGb: (info.HostConfig.Memory ?? 0) / GiB,
            gpus,
            ports,
            host: PUBLISH_ADDRESS,
            labels: await this.readLabels(labels[`${LABEL_PREFIX}/workspace`], labels["app.kubernetes.io/instance"]),
            liveToken: labels[`${LABEL_PREFIX}/token-file`] !== undefined,
        };
    }

    /** Whether an image reads its token from the token file (contract 3 or later). */
    private async readsTokenFile(image: string): Promise<boolean> {
        const info = await ignoreNotFound(this.docker.getImage(image).inspect());
        return Number(info?.Config?.Labels?.[IMAGE_CONTRACT_LABEL] ?? 0) >= LIVE_TOKEN_CONTRACT;
    }

    /**
     * A container's labels are fixed when it is made; the user's labels change live, so they are
     * kept by the workspace agent (its store), and read from there.
     */
    private async writeLabels(ref: InstanceRef, labels: Labels | undefined): Promise<void> {
        await this.agentStore(ref.workspace).writePolicy(
            policyKey.labels(ref.instance),
            labels && Object.keys(labels).length ? labels : undefined,
        );
    }

    private async readLabels(workspace: string | undefined, instance: string | undefined): Promise<Labels> {
        if (!workspace || !instance) return {};
        const stored = await this.agentStore(workspace)
            .readPolicy(policyKey.labels(instance))
            .catch(() => undefined);
        return stored && typeof stored === "object" ? (stored as Labels) : {};
    }

    /** The token the instance answers to now: its token file, or the environment it was made with. */
    private async currentToken(
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

    async updateRuntime(id: string, changes: LiveChanges): Promise<RuntimeState> {
        const c = this.docker.getContainer(id);
        const update: Record<string, number> = {};
        if (changes.cpus !== undefined) update.NanoCpus = nanoCpus(changes.cpus);
        if (changes.memoryGb !== undefined) {
            update.Memory = memoryBytes(changes.memoryGb);
            update.MemorySwap = update.Memory;
        }
        if (Object.keys(update).length) {
            try {
                await c.update(update);
            } catch (e) {
                throw new BackendError(`could not resize ${id} on the ${this.description}: ${reason(e)}`);
            }
        }
        if (changes.labels !== undefined || changes.token !== undefined) {
            const info = await ignoreNotFound(c.inspect());
            if (!info)
                throw new BackendError(
                    `container ${id} is gone; run \`pulumi refresh\` and \`pulumi up\` to recreate it`,
                );
            const ref = {
                workspace: info.Config.Labels?.[`${LABEL_PREFIX}/workspace`] ?? "",
                instance: info.Config.Labels?.["app.kubernetes.io/instance"] ?? "",
                owner: "",
            };
            if (changes.labels !== undefined) await this.writeLabels(ref, changes.labels);
            if (changes.token !== undefined) await this.rotateToken(c, info, changes.token);
        }
        // Verified by reading back: a setting that did not take is an error, not silence.
        const after = await this.readRuntime(id);
        if (!after)
            throw new BackendError(`container ${id} is gone; run \`pulumi refresh\` and \`pulumi up\` to recreate it`);
        const wrong: string[] = [];
        if (changes.cpus !== undefined && nanoCpus(after.cpus) !== nanoCpus(changes.cpus))
            wrong.push(`cpus is ${after.cpus}, expected ${changes.cpus}`);
        if (changes.memoryGb !== undefined && memoryBytes(after.memoryGb) !== memoryBytes(changes.memoryGb))
            wrong.push(`memoryGb is ${after.memoryGb}, expected ${changes.memoryGb}`);
        if (changes.labels !== undefined && stableJson(after.labels) !== stableJson(changes.labels))
            wrong.push(`labels are ${JSON.stringify(after.labels)}, expected ${JSON.stringify(changes.labels)}`);
        if (wrong.length) throw new BackendError(`the engine did not apply the update to ${id}: ${wrong.join("; ")}`);
        return after;
    }

    /**
     * A new token, live: the image re-reads its token file. Verified on a running instance by
     * asking Jupyter with the new token (and, that it no longer takes the old one).
     */
    private async rotateToken(
        c: Dockerode.Container,
        info: Dockerode.ContainerInspectInfo,
        token: string,
    ): Promise<void> {
        const id = info.Name.replace(/^\//, "");
        if (!info.Config.Labels?.[`${LABEL_PREFIX}/token-file`]) {
            throw new BackendError(
                `${id} was made from an image that reads its token only at start (image contract < ${LIVE_TOKEN_CONTRACT}); it must be replaced to change its token`,
            );
        }
        const old = await this.currentToken(c, info);
        await writeToken(c, token);
        if (!info.State.Running) return;
        const state = await this.readRuntime(id);
        if (!state) return;
        const deadline = Date.now() + 15_000;
        for (;;) {
            const takesNew = await this.probeJupyter(c, state.ports, token).catch(() => false);
            const refusesOld =
                old === undefined ||
                old === token ||
                !(await this.probeJupyter(c, state.ports, old).catch(() => false));
            if (takesNew && refusesOld) return;
            if (Date.now() > deadline) {
                throw new BackendError(
                    `${id} did not take its new token within 15s (${takesNew ? "the old one still works" : "the new one is refused"}); check the image's token handling (images/README.md)`,
                );
            }
            await new Promise((r) => setTimeout(r, 250));
        }
    }

    runtimeIdFor(ref: { workspace: string; instance: string }): string {
        return containerName({ ...ref, owner: "" });
    }

    async stopRuntime(id: string): Promise<RuntimeState> {
        const c = this.docker.getContainer(id);
        const info = await ignoreNotFound(c.inspect());
        if (!info) throw new BackendError(`no instance ${id} on the ${this.description}`);
        for (const app of await this.applicationContainers(id))
            await ignoreNotFound(app.stop({ t: 10 })).catch(() => undefined);
        if (info.State.Running || info.State.Restarting) await c.stop({ t: 10 });
        const after = await this.readRuntime(id);
        if (!after || after.status !== "Stopped")
            throw new BackendError(`${id} did not stop (it is ${after?.status ?? "gone"})`);
        return after;
    }

    async startRuntime(id: string, progress: Progress, timeoutSeconds: number): Promise<RuntimeState> {
        const c = this.docker.getContainer(id);
        const info = await ignoreNotFound(c.inspect());
        if (!info) throw new BackendError(`no instance ${id} on the ${this.description}`);
        if (!info.State.Running) await c.start();
        // Beside it, in its (new) network namespace; an instance already running keeps them as they are.
        const startedAt = (await c.inspect()).State.StartedAt;
        for (const app of await this.applicationContainers(id)) {
            await this.restartIfStale(app, startedAt).catch((e) => {
                throw new BackendError(
                    `${id}: its application container ${app.id.slice(0, 12)} did not start: ${reason(e)}`,
                );
            });
        }
        const state = await this.readRuntime(id);
        if (!state) throw new BackendError(`${id} disappeared while starting`);
        const token = (await this.currentToken(c, info)) ?? "";
        const seconds = await waitUntilReady({
            what: "Jupyter",
            probe: async () =>
                (await this.probeJupyter(c, state.ports, token)) &&
                (state.ports.ssh === undefined || (await this.probeSsh(c, state.ports))),
            dead: async () => {
                const now = await c.inspect();
                return now.State.Running ? this.setupFailure(c, now) : "the container exited";
            },
            phase: async () => this.setupPhase(c),
            diagnostics: () => this.logTail(c),
            // The startup script runs at every start (and the creation script after a reimage).
            timeoutSeconds: timeoutSeconds + 2 * setupTimeoutOf(info),
            progress,
        });
        progress.info(`ready in ${seconds.toFixed(1)}s`);
        return { ...state, status: "Running" };
    }

    async deleteRuntime(id: string): Promise<void> {
        const c = this.docker.getContainer(id);
        const info = await ignoreNotFound(c.inspect());
        if (!info) return;
        await this.removeApplications(id);
        // A short grace period lets kernels and editors flush what they are writing.
        await ignoreNotFound(c.stop({ t: 10 })).catch(() => undefined);
        await ignoreNotFound(c.remove({ force: true }));
        const labels = info.Config.Labels ?? {};
        const image = labels[`${LABEL_PREFIX}/firewall-image`];
        const workspace = labels[`${LABEL_PREFIX}/workspace`];
        const instance = labels["app.kubernetes.io/instance"];
        // The agent (and its store) may be gone already, with the workspace.
        if (workspace && instance)
            await this.writeLabels({ workspace, instance, owner: "" }, undefined).catch(() => undefined);
        if (image && workspace && instance) {
            const ref = { workspace, owner: labels[`${LABEL_PREFIX}/owner`] ?? "" };
            await this.runOnHostNetwork(
                ref,
                image,
                removeInboundScript(workspace, instance, await this.bridgeOf(info.HostConfig.NetworkMode ?? "")),
            );
        }
    }

    async applyInboundRules(spec: InboundSpec): Promise<void> {
        // On loopback there is nothing to enforce; a change of publicBind re-creates the container,
        // whose removal takes its rules.
        if (!spec.networkRules.publicBind) return;
        await this.applyPortRules(spec, spec.ports, progressFor(undefined, spec.instance));
    }

    async inboundRulesIntact(spec: InboundSpec): Promise<boolean> {
        if (!spec.firewallImage) return true;
        const bridge = await this.bridgeOf(spec.network);
        const expected = inboundSignature(bridge, inboundPortRules(spec.networkRules, spec.ports));
        // Nothing restricted: extra rules would only be stricter, and the check costs a container.
        if (expected === "none") return true;
        const out = await this.runOnHostNetwork(
            spec,
            spec.firewallImage,
            readInboundScript(spec.workspace, spec.instance, bridge),
        );
        return /signature (\S+)/.exec(out)?.[1] === expected;
    }

    async removeInboundRules(spec: InboundSpec): Promise<void> {
        if (!spec.firewallImage || !(await this.workspaceNetworkExists(spec.network))) return;
        await this.runOnHostNetwork(
            spec,
            spec.firewallImage,
            removeInboundScript(spec.workspace, spec.instance, await this.bridgeOf(spec.network)),
        );
    }

    /** The inbound ranges of the published ports, as iptables rules (removed when none restrict). */
    private async applyPortRules(
        spec: InstanceRef & { network: string; networkRules?: InstanceNetwork; firewallImage?: string },
        ports: PublishedPorts,
        progress: Progress,
    ): Promise<void> {
        const rules = inboundPortRules(spec.networkRules, ports);
        if (!spec.firewallImage) {
            if (rules.some(restricts))
                throw new BackendError(
                    "inbound ranges on Docker need the workspace agent's image (iptables); pass the instance a Workspace",
                );
            return;
        }
        await this.ensureImage(spec.firewallImage, progress);
        if (rules.some(restricts))
            progress.status(`applying inbound rules for ${rules.map((r) => r.hostPort).join(", ")}`);
        await this.runOnHostNetwork(
            spec,
            spec.firewallImage,
            applyInboundScript(spec.workspace, spec.instance, await this.bridgeOf(spec.network), rules),
        );
    }

    // -- egress --------------------------------------------------------------------------------

    async applyEgress(spec: EgressSpec, progress: Progress): Promise<string> {
        const bridge = await this.bridgeOf(spec.network);
        await this.ensureImage(spec.image, progress);
        const ports = await this.enginePorts(spec);
        progress.status(
            `applying egress rules (${typeof spec.egress === "string" ? spec.egress : `allow ${spec.egress.allow.length} ranges`}) on ${bridge}`,
        );
        await this.runOnHostNetwork(spec, spec.image, applyEgressScript(spec.workspace, bridge, spec.egress, ports));
        return egressSignature(bridge, spec.egress, ports);
    }

    /** The engine's API ports to close to instances: the well-known ones, and those it reports. */
    private async enginePorts(spec: EgressSpec): Promise<number[]> {
        const info = (await this.docker.info()) as { Warnings?: string[] | null };
        return enginePorts(info.Warnings, spec.enginePorts ?? []);
    }

    async readEgress(spec: EgressSpec): Promise<string> {
        const info = await ignoreNotFound(this.docker.getNetwork(spec.network).inspect());
        if (!info) return "none";
        const out = await this.runOnHostNetwork(
            spec,
            spec.image,
            readEgressScript(spec.workspace, bridgeName(info), spec.egress),
        );
        return /signature (\S+)/.exec(out)?.[1] ?? "partial";
    }

    async removeEgress(spec: EgressSpec): Promise<void> {
        const info = await ignoreNotFound(this.docker.getNetwork(spec.network).inspect());
        if (!info) return;
        await this.runOnHostNetwork(spec, spec.image, removeEgressScript(spec.workspace, bridgeName(info)));
    }

    private async bridgeOf(network: string): Promise<string> {
        const info = await ignoreNotFound(this.docker.getNetwork(network).inspect());
        if (!info)
            throw new BackendError(
                `the workspace network ${network} is not on the ${this.description}; run \`pulumi refresh\`, then \`pulumi up\``,
            );
        return bridgeName(info);
    }

    /**
     * Runs a script in the engine host's network namespace with only the capabilities iptables
     * needs, in a container removed afterwards: the rules belong to the engine's host, wherever it is.
     */
    private async runOnHostNetwork(ref: Ownership, image: string, script: string): Promise<string> {
        const c = await this.createFirewallContainer(ref, image, script);
        try {
            await c.start();
            const { StatusCode } = (await c.wait()) as { StatusCode: number };
            const out = demux((await c.logs({ stdout: true, stderr: true })) as unknown as Buffer);
            if (StatusCode === NO_FIREWALL_EXIT)
                throw new NoFirewallError(`network rules on the ${this.description}: ${out.trim()}`);
            if (StatusCode !== 0)
                throw new BackendError(
                    `network rules on the ${this.description} failed (exit ${StatusCode}): ${out.trim()}`,
                );
            return out;
        } finally {
            await c.remove({ force: true }).catch(() => undefined);
        }
    }

    /**
     * With the host's xtables lock, so that our changes and the engine's own never interleave
     * (legacy iptables rewrites whole tables); an engine host that has none (iptables never ran
     * there) gets one of the container's own, which still lets legacy iptables run at all.
     */
    private async createFirewallContainer(ref: Ownership, image: string, script: string): Promise<Dockerode.Container> {
        try {
            return await this.docker.createContainer(firewallCreateOptions(ref, image, script, { hostLock: true }));
        } catch (e) {
            if (!/bind source path does not exist|no such file or directory/i.test(reason(e))) throw e;
            return this.docker.createContainer(firewallCreateOptions(ref, image, script, { hostLock: false }));
        }
    }

    // -- workspace agent -------------------------------------------------------------------------

    async ensureAgent(spec: AgentSpec, progress: Progress): Promise<AgentState> {
        await this.ensureImage(spec.image, progress);
        const volume = agentVolumeName(spec.workspace);
        if (!(await ignoreNotFound(this.docker.getVolume(volume).inspect()))) {
            await this.docker.createVolume({ Name: volume, Labels: labelsFor(spec, "agent") });
        }
        const name = agentContainerName(spec.workspace);
        const have = await this.readAgent(spec.workspace);
        const stale =
            have !== undefined &&
            (have.image !== spec.image || have.checkIntervalSeconds !== spec.checkIntervalSeconds);
        if (have?.running && !stale) return have;
        // The store is on the volume: a new container picks up where the old one stopped.
        if (stale) await ignoreNotFound(this.docker.getContainer(name).remove({ force: true }));
        if (!have || stale) await this.docker.createContainer(agentCreateOptions(spec));
        progress.status("starting the workspace agent");
        await this.docker
            .getContainer(name)
            .start()
            .catch((e) => {
                if (statusCode(e) !== 304)
                    throw new BackendError(
                        `the workspace agent ${name} did not start on the ${this.description}: ${reason(e)}`,
                    );
            });
        const after = await this.readAgent(spec.workspace);
        if (!after?.running)
            throw new BackendError(
                `the workspace agent ${name} exited right after it started: ${await this.logTail(this.docker.getContainer(name))}`,
            );
        return after;
    }

    async readAgent(workspace: string): Promise<AgentState | undefined> {
        const info = await ignoreNotFound(this.docker.getContainer(agentContainerName(workspace)).inspect());
        if (!info) return undefined;
        return {
            id: agentContainerName(workspace),
            image: info.Config.Image,
            checkIntervalSeconds: Number(info.Config.Labels?.[`${LABEL_PREFIX}/check-interval-seconds`] ?? 0),
            running: info.State.Running,
        };
    }

    async deleteAgent(workspace: string): Promise<void> {
        await ignoreNotFound(this.docker.getContainer(agentContainerName(workspace)).remove({ force: true }));
        await this.removeVolume(agentVolumeName(workspace), "workspace agent");
    }

    agentStore(workspace: string): AgentStore {
        return new DockerAgentStore(this.docker.getContainer(agentContainerName(workspace)), this.description);
    }

    async repairApplications(workspace: string): Promise<string[]> {
        // Two lists for the whole workspace (the agent asks at every check); inspections only
        // for the instances that have applications.
        const of = (component: string, all: boolean) =>
            this.docker.listContainers({
                all,
                filters: {
                    label: [`${LABEL_PREFIX}/workspace=${workspace}`, `app.kubernetes.io/component=${component}`],
                },
            });
        const [running, apps] = await Promise.all([of("runtime", false), of("application", true)]);
        const restarted: string[] = [];
        for (const c of running) {
            const mine = apps.filter(
                (a) => a.Labels["app.kubernetes.io/instance"] === c.Labels["app.kubernetes.io/instance"],
            );
            if (!mine.length) continue;
            const instance = await ignoreNotFound(this.docker.getContainer(c.Id).inspect());
            if (!instance?.State.Running) continue;
            for (const a of mine) {
                const name = await this.restartIfStale(this.docker.getContainer(a.Id), instance.State.StartedAt);
                if (name) restarted.push(name);
            }
        }
        return restarted;
    }

    async workspaceUsage(workspace: string): Promise<QuotaUse[]> {
        const list = await this.docker.listContainers({
            all: true,
            filters: { label: [`${LABEL_PREFIX}/workspace=${workspace}`, "app.kubernetes.io/component=runtime"] },
        });
        const infos = await Promise.all(list.map((c) => ignoreNotFound(this.docker.getContainer(c.Id).inspect())));
        return infos
            .filter((i): i is Dockerode.ContainerInspectInfo => i !== undefined)
            .map((info) => ({
                instance: info.Config.Labels?.["app.kubernetes.io/instance"] ?? info.Name.replace(/^\//, ""),
                owner: info.Config.Labels?.[`${LABEL_PREFIX}/owner`] ?? "",
                cpus: (info.HostConfig.NanoCpus ?? 0) / 1e9,
                gpus: (info.HostConfig.DeviceRequests ?? []).reduce((n, d) => n + (d.Count ?? 0), 0),
                ...(info.State.Running ? {} : { stopped: true }),
            }));
    }

    async listInstances(workspace: string): Promise<InstanceView[]> {
        const list = await this.docker.listContainers({
            all: true,
            filters: { label: [`${LABEL_PREFIX}/workspace=${workspace}`, "app.kubernetes.io/component=runtime"] },
        });
        const views: InstanceView[] = [];
        for (const c of list) {
            const info = await ignoreNotFound(this.docker.getContainer(c.Id).inspect());
            if (!info) continue;
            const name = info.Name.replace(/^\//, "");
            // Only a running server can be asked anything: no archive read per stopped instance at every check.
            const token = info.State.Running
                ? await this.currentToken(this.docker.getContainer(c.Id), info).catch(() => undefined)
                : undefined;
            views.push({
                instance: info.Config.Labels?.["app.kubernetes.io/instance"] ?? name,
                owner: info.Config.Labels?.[`${LABEL_PREFIX}/owner`] ?? "",
                id: name,
                status: statusFromDocker(info.State),
                ...(info.State.Running ? { startedAt: info.State.StartedAt } : {}),
                jupyterUrl: `http://${name}:${SERVICES.jupyter.containerPort}`,
                ...(token ? { token } : {}),
            });
        }
        return views;
    }
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

/** Docker's multiplexed log stream (8-byte frame headers) → text. */
function demux(buf: Buffer): string {
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

/** The scripts' time limit a container was made with; 0 without scripts. */
function setupTimeoutOf(info: Dockerode.ContainerInspectInfo): number {
    return Number(envOf(info, "CI_SETUP_TIMEOUT") ?? 0) || 0;
}

/** A variable of the environment a container was made with. */
function envOf(info: Dockerode.ContainerInspectInfo, name: string): string | undefined {
    return (info.Config.Env ?? []).find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
}

/** The setup scripts, root's alone: the entry point runs them as root before anything starts. */
async function writeSetupScripts(container: Dockerode.Container, scripts: SetupScripts): Promise<void> {
    const dir = SETUP_DIR.slice(0, SETUP_DIR.lastIndexOf("/"));
    const sub = SETUP_DIR.slice(dir.length + 1);
    const files = SCRIPT_KINDS.flatMap((k) =>
        scripts[k] ? [{ name: `${sub}/${k}.sh`, body: scripts[k].content, mode: 0o500 }] : [],
    );
    await putFiles(container, dir, files);
}

/** The token file, root-owned and readable by the instance user, rewritten whole. */
async function writeToken(container: Dockerode.Container, token: string): Promise<void> {
    const name = TOKEN_FILE.slice(TOKEN_DIR.lastIndexOf("/") + 1);
    await putFiles(container, TOKEN_DIR.slice(0, TOKEN_DIR.lastIndexOf("/")), [{ name, body: token, mode: 0o444 }]);
}
