/**
 * Spec → Docker Engine API objects. Pure: the create options a spec produces are unit-tested
 * (and snapshot-tested) without an engine.
 */
import type Dockerode from "dockerode";
import type { AgentSpec, DiskRole, InstanceRef, Ownership, RuntimeSpec } from "../backend";
import {
    PUBLIC_BIND_ADDRESS,
    PUBLISH_ADDRESS,
    PublishedPorts,
    SERVICES,
    ServiceName,
    publishedServices,
    servicesFor,
} from "../../model/endpoints";
import { PortRule, restricts } from "./firewall";
import { CustomApplication, customApplicationsEnv } from "../../model/applications";
import { InstanceNetwork } from "../../model/instanceNetwork";

import {
    AGENT_STATE_DIR,
    Component,
    assignedUserLabels,
    HOME_DIR,
    INSTANCE_UID,
    LABEL_PREFIX,
    TEMP_DISK_DIR,
    TOKEN_FILE,
    USER_FILES_DIR,
    objectLabels,
} from "../layout";

/** Capabilities of the entry point only: ownership of the mount points, then setuid to the user. */
export const STARTUP_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"] as const;

export { LABEL_PREFIX };

const GiB = 1024 ** 3;

/** Labels every object gets (see objectLabels), its owner among them, and the object's own. */
export function labelsFor(
    ref: Ownership & { instance?: string },
    component: Component,
    extra: Record<string, string> = {},
): Record<string, string> {
    return { ...objectLabels(ref, component), [`${LABEL_PREFIX}/owner`]: ref.owner, ...extra };
}

export function containerName(ref: InstanceRef): string {
    return `ci-${ref.workspace}-${ref.instance}`;
}

/** The container of a custom application run beside an instance (its image). */
export function applicationContainerName(ref: InstanceRef, app: string): string {
    return `${containerName(ref)}-app-${app}`;
}

/**
 * A custom application's own container: in the instance's network namespace (so Jupyter reaches
 * it on localhost, and nothing else does), the user files mounted, unprivileged as the instance is,
 * and no larger than the instance.
 */
export function applicationCreateOptions(spec: RuntimeSpec, app: CustomApplication): Dockerode.ContainerCreateOptions {
    const memory = memoryBytes(spec.memoryGb);
    return {
        name: applicationContainerName(spec, app.name),
        Image: app.image,
        ...(app.command ? { Entrypoint: ["bash", "-c", app.command] } : {}),
        Env: [`PORT=${app.port}`, `NOTEBOOK_DIR=${USER_FILES_DIR}`],
        User: `${INSTANCE_UID}:${INSTANCE_UID}`,
        Labels: labelsFor(spec, "application", { [`${LABEL_PREFIX}/application`]: app.name }),
        HostConfig: {
            NetworkMode: `container:${containerName(spec)}`,
            NanoCpus: nanoCpus(spec.cpus),
            Memory: memory,
            MemorySwap: memory,
            PidsLimit: 4096,
            Mounts: [{ Type: "volume", Source: spec.userFiles, Target: USER_FILES_DIR }],
            RestartPolicy: { Name: "unless-stopped" },
            // As the instance user with no capability, as on Kubernetes: what it writes to the
            // user files stays the user's, and it cannot read past their permissions.
            CapDrop: ["ALL"],
            SecurityOpt: ["no-new-privileges:true"],
        },
    };
}

/** Disks carry a random suffix: a replacement disk is created before the old one is deleted. */
export function diskVolumeName(ref: InstanceRef, role: DiskRole, suffix: string): string {
    return `ci-${ref.workspace}-${ref.instance}-${role}-${suffix}`;
}

export function userFilesVolumeName(workspace: string): string {
    return `ci-${workspace}-userfiles`;
}

export function networkName(workspace: string): string {
    return `ci-${workspace}`;
}

/**
 * The host port an instance's service asks for first: derived from its names, so a replaced or
 * re-created instance answers at the same URL. Taken ports fall back to any free one.
 */
export function preferredPort(ref: InstanceRef, service: ServiceName): number {
    let h = 2166136261;
    for (const ch of `${ref.workspace}/${ref.instance}/${service}`) {
        h ^= ch.charCodeAt(0);
        h = Math.imul(h, 16777619) >>> 0;
    }
    return 20000 + (h % 10000);
}

export function memoryBytes(memoryGb: number): number {
    return Math.round(memoryGb * GiB);
}

export function nanoCpus(cpus: number): number {
    return Math.round(cpus * 1e9);
}

/**
 * /dev/shm: Docker's 64 MiB default breaks PyTorch data loaders; a quarter of memory, at most
 * 2 GiB (shared memory counts against the memory limit).
 */
export function shmBytes(memoryGb: number): number {
    return Math.min(2 * GiB, Math.round((memoryGb * GiB) / 4));
}

function portKey(service: ServiceName): string {
    return `${SERVICES[service].containerPort}/tcp`;
}

/**
 * `tokenFile`: the image reads its token from a file (contract 3), which the backend writes before
 * the container starts; the environment then holds no token (a rotation would leave it stale).
 */
export function containerCreateOptions(
    spec: RuntimeSpec,
    ports: PublishedPorts,
    tokenFile = false,
): Dockerode.ContainerCreateOptions {
    const services = servicesFor(spec.applications, spec.ssh !== null);
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    const address = spec.networkRules?.publicBind ? PUBLIC_BIND_ADDRESS : PUBLISH_ADDRESS;
    for (const s of services) exposed[portKey(s)] = {};
    // A service the inbound rules leave out is not published at all: nothing outside reaches it.
    for (const s of publishedServices(services, spec.networkRules?.inbound)) {
        const port = ports[s];
        if (port === undefined) throw new Error(`no host port chosen for ${s}`);
        bindings[portKey(s)] = [{ HostIp: address, HostPort: String(port) }];
    }
    const memory = memoryBytes(spec.memoryGb);
    return {
        name: containerName(spec),
        Image: spec.image,
        Hostname: spec.instance,
        Env: [
            ...Object.entries(spec.env)
                .sort(([a], [b]) => (a < b ? -1 : 1))
                .map(([k, v]) => `${k}=${v}`),
            `CI_APPLICATIONS=${spec.applications.join(",")}`,
            tokenFile ? `CI_TOKEN_FILE=${TOKEN_FILE}` : `JUPYTER_TOKEN=${spec.token}`,
            // A public key: the entry point writes it, root-owned, where sshd looks for keys.
            ...(spec.ssh ? [`CI_SSH_AUTHORIZED_KEY=${spec.ssh.publicKey}`] : []),
            ...(spec.customApplications?.length
                ? [`CI_CUSTOM_APPLICATIONS=${JSON.stringify(customApplicationsEnv(spec.customApplications))}`]
                : []),
            // The scripts themselves are files the backend writes before the container starts.
            ...(spec.setupScripts ? [`CI_SETUP_TIMEOUT=${spec.setupScripts.timeoutSeconds}`] : []),
        ],
        ExposedPorts: exposed,
        Labels: labelsFor(spec, "runtime", {
            [`${LABEL_PREFIX}/size`]: spec.sizeName,
            [`${LABEL_PREFIX}/applications`]: spec.applications.join(","),
            [`${LABEL_PREFIX}/os-disk`]: spec.osDisk,
            [`${LABEL_PREFIX}/temp-disk`]: spec.tempDisk,
            [`${LABEL_PREFIX}/temp-disk-gb`]: String(spec.tempDiskGb),
            ...assignedUserLabels(spec),
            ...(tokenFile ? { [`${LABEL_PREFIX}/token-file`]: TOKEN_FILE } : {}),
            ...(spec.firewallImage && inboundPortRules(spec.networkRules, ports).some(restricts)
                ? { [`${LABEL_PREFIX}/firewall-image`]: spec.firewallImage }
                : {}),
        }),
        HostConfig: {
            NanoCpus: nanoCpus(spec.cpus),
            Memory: memory,
            // No swap: the size's memory is the instance's memory, as on a VM without a swap file.
            MemorySwap: memory,
            ShmSize: shmBytes(spec.memoryGb),
            PidsLimit: 8192,
            Mounts: [
                { Type: "volume", Source: spec.osDisk, Target: HOME_DIR },
                { Type: "volume", Source: spec.tempDisk, Target: TEMP_DISK_DIR },
                { Type: "volume", Source: spec.userFiles, Target: USER_FILES_DIR },
            ],
            PortBindings: bindings,
            NetworkMode: spec.network,
            // Back after an engine restart or a crash; stays down when stopped on purpose.
            RestartPolicy: { Name: "unless-stopped" },
            // The entry point needs these to put the disks in order before it drops to the
            // instance user; the applications then run with none (see images/workstation).
            CapDrop: ["ALL"],
            CapAdd: [...STARTUP_CAPABILITIES],
            SecurityOpt: ["no-new-privileges:true"],
            ...(spec.gpus > 0
                ? { DeviceRequests: [{ Driver: "nvidia", Count: spec.gpus, Capabilities: [["gpu"]] }] }
                : {}),
        },
    };
}

/**
 * The host ports whose sources the inbound rules restrict. Only with `publicBind`: on loopback
 * every client is this machine, and iptables cannot tell them apart.
 */
export function inboundPortRules(rules: InstanceNetwork | undefined, ports: PublishedPorts): PortRule[] {
    if (!rules?.publicBind || !rules.inbound) return [];
    return rules.inbound.flatMap((r) =>
        ports[r.service] !== undefined ? [{ hostPort: ports[r.service] as number, from: r.from }] : [],
    );
}

/** Docker's container state → Azure's instance state. */
export function statusFromDocker(state: {
    Status?: string;
    Running?: boolean;
    Restarting?: boolean;
}): import("../backend").InstanceStatus {
    switch (state.Status) {
        case "created":
            return "Creating";
        case "running":
            return "Running";
        case "restarting":
            return "Restarting";
        case "paused":
            return "Stopped";
        case "exited":
            return "Stopped";
        case "removing":
            return "Deleting";
        case "dead":
            return "Unusable";
        default:
            return "Unknown";
    }
}

// ---------------------------------------------------------------------------------------------
// The workspace agent

export function agentContainerName(workspace: string): string {
    return `ci-${workspace}-agent`;
}

/** Its store: policies and memory survive a re-created agent container. */
export function agentVolumeName(workspace: string): string {
    return `ci-${workspace}-agent`;
}

/** The engine's own socket, as a bind mount sees it: the path on the engine's host. */
export const ENGINE_SOCKET = "/var/run/docker.sock";

export function agentCreateOptions(spec: AgentSpec): Dockerode.ContainerCreateOptions {
    return {
        name: agentContainerName(spec.workspace),
        Image: spec.image,
        Env: [
            `CI_AGENT_WORKSPACE=${spec.workspace}`,
            `CI_AGENT_BACKEND=${JSON.stringify({ kind: "docker", host: `unix://${ENGINE_SOCKET}` })}`,
            `CI_AGENT_CHECK_INTERVAL_SECONDS=${spec.checkIntervalSeconds}`,
        ],
        Labels: labelsFor(spec, "agent", {
            [`${LABEL_PREFIX}/check-interval-seconds`]: String(spec.checkIntervalSeconds),
        }),
        HostConfig: {
            Mounts: [
                // Stopping and starting containers is what the agent is for: it needs the engine.
                { Type: "bind", Source: ENGINE_SOCKET, Target: ENGINE_SOCKET },
                { Type: "volume", Source: agentVolumeName(spec.workspace), Target: AGENT_STATE_DIR },
            ],
            // On the workspace network it reaches each instance's Jupyter server by name.
            NetworkMode: spec.network,
            // Back after a crash and after every engine restart. Not unless-stopped: Docker 20.10
            // took an agent that exited at once on the engine's own SIGTERM, while a job container
            // held the shutdown for its 10 s, as stopped on purpose and left it down (measured;
            // instances keep unless-stopped, where a stop by the user must hold).
            RestartPolicy: { Name: "always" },
            Memory: 256 * 1024 ** 2,
            NanoCpus: nanoCpus(0.25),
            PidsLimit: 64,
            // Root only to open the engine's socket (owned by root); no capabilities at all.
            CapDrop: ["ALL"],
            SecurityOpt: ["no-new-privileges:true"],
            ReadonlyRootfs: true,
            LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } },
        },
    };
}

// ---------------------------------------------------------------------------------------------
// Egress rules

/** The Linux bridge of a Docker network: the name it was given, else `br-` and 12 hex of its id. */
export function bridgeName(info: { Id: string; Options?: Record<string, string> }): string {
    return info.Options?.["com.docker.network.bridge.name"] ?? `br-${info.Id.slice(0, 12)}`;
}

/**
 * A one-shot container in the host's network namespace that may change its firewall, and nothing
 * else. Legacy iptables takes a lock file under /run: a tmpfs there lets it run on the read-only
 * root; `hostLock` puts the host's own lock file there, so the engine's changes and ours take turns.
 */
export function firewallCreateOptions(
    ref: Ownership,
    image: string,
    script: string,
    opts: { hostLock: boolean } = { hostLock: true },
): Dockerode.ContainerCreateOptions {
    return {
        Image: image,
        Entrypoint: ["sh", "-c"],
        Cmd: [script],
        Labels: labelsFor(ref, "network", { [`${LABEL_PREFIX}/role`]: "firewall" }),
        HostConfig: {
            NetworkMode: "host",
            CapDrop: ["ALL"],
            CapAdd: ["NET_ADMIN", "NET_RAW"],
            SecurityOpt: ["no-new-privileges:true"],
            ReadonlyRootfs: true,
            Memory: 64 * 1024 ** 2,
            Tmpfs: { "/run": "rw,nosuid,nodev,noexec,size=1m" },
            // A bind mount of a path that does not exist fails the create (never makes a directory there).
            ...(opts.hostLock
                ? { Mounts: [{ Type: "bind" as const, Source: XTABLES_LOCK, Target: XTABLES_LOCK }] }
                : {}),
        },
    };
}

/** Where iptables serialises its users (the engine's own calls included). */
const XTABLES_LOCK = "/run/xtables.lock";
