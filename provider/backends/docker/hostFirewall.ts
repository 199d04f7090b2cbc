/**
 * The engine host's firewall: the scripts of ./firewall.ts run in a one-shot container in the
 * host's network namespace, for an instance's inbound ranges and a workspace's egress rules.
 */
import type Dockerode from "dockerode";
import { BackendError, EgressSpec, InboundSpec, InstanceRef, NoFirewallError, Ownership } from "../backend";
import type { InstanceNetwork } from "../../model/instanceNetwork";
import type { PublishedPorts } from "../../model/endpoints";
import { Progress, progressFor } from "../../progress";
import { DockerContext, demux, reason } from "./engine";
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
import { ensureImage } from "./images";
import { bridgeIfAny, bridgeOf, workspaceNetworkExists } from "./networks";
import { firewallCreateOptions, inboundPortRules } from "./options";

// -- inbound ---------------------------------------------------------------------------------

export async function applyInboundRules(ctx: DockerContext, spec: InboundSpec): Promise<void> {
    // On loopback there is nothing to enforce; a change of publicBind re-creates the container,
    // whose removal takes its rules.
    if (!spec.networkRules.publicBind) return;
    await applyPortRules(ctx, spec, spec.ports, progressFor(undefined, spec.instance));
}

export async function inboundRulesIntact(ctx: DockerContext, spec: InboundSpec): Promise<boolean> {
    if (!spec.firewallImage) return true;
    const bridge = await bridgeOf(ctx, spec.network);
    const expected = inboundSignature(bridge, inboundPortRules(spec.networkRules, spec.ports));
    // Nothing restricted: extra rules would only be stricter, and the check costs a container.
    if (expected === "none") return true;
    const out = await runOnHostNetwork(
        ctx,
        spec,
        spec.firewallImage,
        readInboundScript(spec.workspace, spec.instance, bridge),
    );
    return signatureIn(out) === expected;
}

export async function removeInboundRules(ctx: DockerContext, spec: InboundSpec): Promise<void> {
    if (!spec.firewallImage || !(await workspaceNetworkExists(ctx, spec.network))) return;
    await removeInstanceRules(ctx, spec, spec.instance, spec.firewallImage, await bridgeOf(ctx, spec.network));
}

/**
 * Takes an instance's inbound rules away (`ref` labels the container that does it). The callers
 * look up the bridge first (bridgeOf), which fails when the workspace network is gone.
 */
export async function removeInstanceRules(
    ctx: DockerContext,
    ref: Ownership,
    instance: string,
    image: string,
    bridge: string,
): Promise<void> {
    await runOnHostNetwork(ctx, ref, image, removeInboundScript(ref.workspace, instance, bridge));
}

/** The inbound ranges of the published ports, as iptables rules (removed when none restrict). */
export async function applyPortRules(
    ctx: DockerContext,
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
    await ensureImage(ctx, spec.firewallImage, progress);
    if (rules.some(restricts)) progress.status(`applying inbound rules for ${rules.map((r) => r.hostPort).join(", ")}`);
    await runOnHostNetwork(
        ctx,
        spec,
        spec.firewallImage,
        applyInboundScript(spec.workspace, spec.instance, await bridgeOf(ctx, spec.network), rules),
    );
}

// -- egress ----------------------------------------------------------------------------------

export async function applyEgress(ctx: DockerContext, spec: EgressSpec, progress: Progress): Promise<string> {
    const bridge = await bridgeOf(ctx, spec.network);
    await ensureImage(ctx, spec.image, progress);
    const ports = await closedEnginePorts(ctx, spec);
    progress.status(
        `applying egress rules (${typeof spec.egress === "string" ? spec.egress : `allow ${spec.egress.allow.length} ranges`}) on ${bridge}`,
    );
    await runOnHostNetwork(ctx, spec, spec.image, applyEgressScript(spec.workspace, bridge, spec.egress, ports));
    return egressSignature(bridge, spec.egress, ports);
}

/** The engine's API ports to close to instances: the well-known ones, and those it reports. */
async function closedEnginePorts(ctx: DockerContext, spec: EgressSpec): Promise<number[]> {
    const info = (await ctx.docker.info()) as { Warnings?: string[] | null };
    return enginePorts(info.Warnings, spec.enginePorts ?? []);
}

export async function readEgress(ctx: DockerContext, spec: EgressSpec): Promise<string> {
    const bridge = await bridgeIfAny(ctx, spec.network);
    if (bridge === undefined) return "none";
    const out = await runOnHostNetwork(ctx, spec, spec.image, readEgressScript(spec.workspace, bridge, spec.egress));
    return signatureIn(out) ?? "partial";
}

export async function removeEgress(ctx: DockerContext, spec: EgressSpec): Promise<void> {
    const bridge = await bridgeIfAny(ctx, spec.network);
    if (bridge === undefined) return;
    await runOnHostNetwork(ctx, spec, spec.image, removeEgressScript(spec.workspace, bridge));
}

// -- the runner ------------------------------------------------------------------------------

/** The signature a read script reports. */
function signatureIn(out: string): string | undefined {
    return /signature (\S+)/.exec(out)?.[1];
}

/**
 * Runs a script in the engine host's network namespace with only the capabilities iptables
 * needs, in a container removed afterwards: the rules belong to the engine's host, wherever it is.
 */
async function runOnHostNetwork(ctx: DockerContext, ref: Ownership, image: string, script: string): Promise<string> {
    const c = await createFirewallContainer(ctx, ref, image, script);
    try {
        await c.start();
        const { StatusCode } = (await c.wait()) as { StatusCode: number };
        const out = demux((await c.logs({ stdout: true, stderr: true })) as unknown as Buffer);
        if (StatusCode === NO_FIREWALL_EXIT)
            throw new NoFirewallError(`network rules on the ${ctx.description}: ${out.trim()}`);
        if (StatusCode !== 0)
            throw new BackendError(
                `network rules on the ${ctx.description} failed (exit ${StatusCode}): ${out.trim()}`,
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
async function createFirewallContainer(
    ctx: DockerContext,
    ref: Ownership,
    image: string,
    script: string,
): Promise<Dockerode.Container> {
    try {
        return await ctx.docker.createContainer(firewallCreateOptions(ref, image, script, { hostLock: true }));
    } catch (e) {
        if (!/bind source path does not exist|no such file or directory/i.test(reason(e))) throw e;
        return ctx.docker.createContainer(firewallCreateOptions(ref, image, script, { hostLock: false }));
    }
}
