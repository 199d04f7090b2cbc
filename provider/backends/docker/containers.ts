/**
 * An instance's runtime: its container, created and started (then waited for until it answers;
 * rolled back on failure, or kept for inspection when a setup script failed), read back,
 * changed live, and deleted with what belongs to it.
 */
import type Dockerode from "dockerode";
import { BackendError, LiveChanges, RuntimeSpec, RuntimeState } from "../backend";
import * as lifecycle from "../lifecycle";
import type { Progress } from "../../progress";
import { setupSeconds } from "../../model/setup";
import {
    PUBLISH_ADDRESS,
    PublishedPorts,
    applicationAnswers,
    applicationChecks,
    publishedServices,
    servicesFor,
} from "../../model/endpoints";
import { readLabels, writeLabels } from "./agentStore";
import { stopInstanceJobs } from "./jobs";
import { DockerContext, ignoreNotFound, nameOf, reason, resourcesOf } from "./engine";
import { applyPortRules, removeInstanceRules } from "./hostFirewall";
import { ensureImage, readsTokenFile } from "./images";
import { bridgeOf } from "./networks";
import {
    LABEL_PREFIX,
    containerCreateOptions,
    containerName,
    memoryBytes,
    nanoCpus,
    statusFromDocker,
} from "./options";
import { choosePorts, isPortClash, publishedPortsOf } from "./ports";
import {
    APPLICATION_PROBE_TIMEOUT_MS,
    ProbeTarget,
    applicationsMissing,
    probeJupyter,
    probeSsh,
    probeStatus,
    proxiedServers,
} from "./probes";
import { removeApplications, startApplications } from "./sidecars";
import { setupProgress, setupTimeoutOf, waitUntilSetUp, writeSetupScripts } from "./setup";
import { rotateToken, writeToken } from "./tokens";

export async function createRuntime(ctx: DockerContext, spec: RuntimeSpec, progress: Progress): Promise<RuntimeState> {
    await ensureImage(ctx, spec.image, progress);
    const name = containerName(spec);
    const services = publishedServices(servicesFor(spec.applications, spec.ssh !== null), spec.networkRules?.inbound);
    const tokenFile = await readsTokenFile(ctx, spec.image);
    const hasLabels = Object.keys(spec.labels ?? {}).length > 0;
    let container: Dockerode.Container | undefined;
    return lifecycle.createRuntime<ProbeTarget>(
        {
            id: name,
            clearOrphan: () => clearOrphan(ctx, name, spec),
            async create() {
                if (hasLabels) await writeLabels(ctx, spec, spec.labels ?? {});
                let ports: PublishedPorts;
                for (let attempt = 0; ; attempt++) {
                    ports = await choosePorts(ctx, services, spec, attempt === 0);
                    container = await ctx.docker.createContainer(containerCreateOptions(spec, ports, tokenFile));
                    if (tokenFile) await writeToken(container, spec.token);
                    if (spec.setupScripts) await writeSetupScripts(container, spec.setupScripts);
                    // Before the ports open: no moment when they answer anyone.
                    await applyPortRules(ctx, spec, ports, progress);
                    progress.status("starting container");
                    try {
                        await container.start();
                        break;
                    } catch (e) {
                        // Someone took the port between choosing and binding it: choose again.
                        if (attempt < 5 && isPortClash(e)) {
                            await container.remove({ force: true });
                            container = undefined;
                            continue;
                        }
                        throw e;
                    }
                }
                await startApplications(ctx, spec, progress);
                return { container, ports, token: spec.token };
            },
            waitReady: (target) => waitForApplications(ctx, spec, target, progress),
            read: () => readRuntime(ctx, name),
            async rollBack() {
                // The container and its rules go.
                if (container) await container.remove({ force: true }).catch(() => undefined);
                await removeApplications(ctx, name).catch(() => undefined);
                if (hasLabels) await writeLabels(ctx, spec, undefined).catch(() => undefined);
                if (spec.firewallImage) {
                    // Looked up outside the catch: a workspace network that is gone is the error reported.
                    const bridge = await bridgeOf(ctx, spec.network);
                    await removeInstanceRules(ctx, spec, spec.instance, spec.firewallImage, bridge).catch(
                        () => undefined,
                    );
                }
            },
            words: {
                target: `${name} on the ${ctx.description}`,
                reason,
                disappeared: `container ${name} disappeared right after it started`,
                kept: { what: `container ${name}`, shell: `docker exec -it ${name} bash` },
            },
        },
        progress,
    );
}

/** Until Jupyter, SSH and every application of a new instance answer. */
async function waitForApplications(
    ctx: DockerContext,
    spec: RuntimeSpec,
    target: ProbeTarget,
    progress: Progress,
): Promise<number> {
    const checks = applicationChecks(spec.applications, spec.customApplications ?? []);
    const server = spec.applications.includes("jupyterlab") ? "JupyterLab" : "Jupyter";
    let waitingFor = server;
    return waitUntilSetUp(target.container, {
        what: server,
        probe: async () => {
            if (!(await probeJupyter(ctx, target)) || (spec.ssh && !(await probeSsh(ctx, target)))) return false;
            // A path the proxy does not serve answers Jupyter's own 404: served first, then answering.
            const served = await proxiedServers(ctx, target);
            for (const c of checks) {
                waitingFor = c.what;
                if (c.proxied && served && !served.includes(c.proxied)) return false;
                const status = await probeStatus(ctx, target, c.path, APPLICATION_PROBE_TIMEOUT_MS);
                // Not knowing what the proxy serves (from inside the container), a 404 may be Jupyter's.
                if (!applicationAnswers(status) || (c.proxied && !served && status === 404)) return false;
            }
            return true;
        },
        // The restart policy brings a crashed server back up: a restart is a death too.
        exited: (info) =>
            info.State.Running && !info.State.Restarting && info.RestartCount === 0
                ? undefined
                : `the container exited (exit code ${info.State.ExitCode}${info.RestartCount ? `, restarted ${info.RestartCount} times` : ""})`,
        stuck: () => applicationsMissing(ctx, target, checks),
        phase: async () => (waitingFor !== server ? `waiting for ${waitingFor} to answer` : undefined),
        timeoutSeconds: spec.readyTimeoutSeconds + setupSeconds(spec.setupScripts),
        progress,
    });
}

/**
 * A container with our name that this stack does not know is left from a create that died
 * midway (it is removed); one that another stack owns is a name clash (an error).
 */
async function clearOrphan(ctx: DockerContext, name: string, spec: RuntimeSpec): Promise<void> {
    const existing = await ignoreNotFound(ctx.docker.getContainer(name).inspect());
    if (!existing) return;
    const owner = existing.Config.Labels?.[`${LABEL_PREFIX}/owner`];
    if (owner !== spec.owner) throw lifecycle.nameClash(spec, ctx.description, `container ${name}`, owner);
    await ctx.docker.getContainer(name).remove({ force: true });
    await removeApplications(ctx, name);
}

export async function readRuntime(ctx: DockerContext, id: string): Promise<RuntimeState | undefined> {
    const info = await ignoreNotFound(ctx.docker.getContainer(id).inspect());
    if (!info) return undefined;
    const labels = info.Config.Labels ?? {};
    let status = statusFromDocker(info.State);
    if (status === "Running" && setupTimeoutOf(info) > 0) {
        const setup = await setupProgress(ctx.docker.getContainer(id), info).catch(() => undefined);
        if (setup && setup.phase !== "Done") status = setup.phase;
    }
    return {
        id: nameOf(info),
        uid: info.Id,
        status,
        image: info.Config.Image,
        ...resourcesOf(info.HostConfig),
        ports: publishedPortsOf(info),
        host: PUBLISH_ADDRESS,
        labels: await readLabels(ctx, labels[`${LABEL_PREFIX}/workspace`], labels["app.kubernetes.io/instance"]),
        liveToken: labels[`${LABEL_PREFIX}/token-file`] !== undefined,
    };
}

export async function updateRuntime(ctx: DockerContext, id: string, changes: LiveChanges): Promise<RuntimeState> {
    const c = ctx.docker.getContainer(id);
    return lifecycle.updateRuntime(id, changes, {
        async apply() {
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
                    throw new BackendError(`could not resize ${id} on the ${ctx.description}: ${reason(e)}`);
                }
            }
            if (changes.labels !== undefined || changes.token !== undefined) {
                const info = await ignoreNotFound(c.inspect());
                if (!info) throw new BackendError(gone(id));
                const ref = { ...instanceOf(info), owner: "" };
                if (changes.labels !== undefined) await writeLabels(ctx, ref, changes.labels);
                if (changes.token !== undefined) await rotateToken(ctx, c, info, changes.token);
            }
        },
        read: () => readRuntime(ctx, id),
        // The engine keeps whole nanoCPUs and bytes.
        same: {
            cpus: (have, want) => nanoCpus(have) === nanoCpus(want),
            memoryGb: (have, want) => memoryBytes(have) === memoryBytes(want),
        },
        words: { gone: gone(id), applier: "engine" },
    });
}

function gone(id: string): string {
    return `container ${id} is gone; run \`pulumi refresh\` and \`pulumi up\` to recreate it`;
}

/** The workspace and instance a runtime container was made for, from its labels ("" when unlabelled). */
function instanceOf(info: Dockerode.ContainerInspectInfo): { workspace: string; instance: string } {
    return {
        workspace: info.Config.Labels?.[`${LABEL_PREFIX}/workspace`] ?? "",
        instance: info.Config.Labels?.["app.kubernetes.io/instance"] ?? "",
    };
}

export function runtimeIdFor(ref: { workspace: string; instance: string }): string {
    return containerName({ ...ref, owner: "" });
}

export async function deleteRuntime(ctx: DockerContext, id: string): Promise<void> {
    const c = ctx.docker.getContainer(id);
    const info = await ignoreNotFound(c.inspect());
    if (!info) return;
    await removeApplications(ctx, id);
    // A short grace period lets kernels and editors flush what they are writing.
    await ignoreNotFound(c.stop({ t: 10 })).catch(() => undefined);
    // Its jobs once it has stopped (see stopRuntime), before it goes.
    await stopInstanceJobs(ctx, info);
    await ignoreNotFound(c.remove({ force: true }));
    const labels = info.Config.Labels ?? {};
    const image = labels[`${LABEL_PREFIX}/firewall-image`];
    const { workspace, instance } = instanceOf(info);
    // The agent (and its store) may be gone already, with the workspace.
    if (workspace && instance)
        await writeLabels(ctx, { workspace, instance, owner: "" }, undefined).catch(() => undefined);
    if (image && workspace && instance) {
        const ref = { workspace, owner: labels[`${LABEL_PREFIX}/owner`] ?? "" };
        const bridge = await bridgeOf(ctx, info.HostConfig.NetworkMode ?? "");
        await removeInstanceRules(ctx, ref, instance, image, bridge);
    }
}
