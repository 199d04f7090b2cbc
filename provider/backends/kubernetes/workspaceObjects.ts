/**
 * The workspace's objects besides its claims: the namespace, and the NetworkPolicies (the
 * workspace's default deny and egress, each instance's inbound rules).
 */
import { createHash } from "crypto";
import { stableJson } from "../../changes";
import type { EgressSpec, InboundSpec, Ownership } from "../backend";
import type { Progress } from "../../progress";
import { LABEL_PREFIX } from "../layout";
import { KubeClient, fromClientShape, ignoreNotFound } from "./client";
import {
    egressPolicyManifest,
    egressPolicyName,
    instancePolicyManifest,
    namespaceManifest,
    workspacePolicyManifest,
} from "./manifests";

export function workspaceNetworkName(workspace: string): string {
    return `ci-${workspace}-default-deny`;
}

function readPolicy(kube: KubeClient, name: string) {
    return ignoreNotFound(kube.networking.readNamespacedNetworkPolicy({ name, namespace: kube.ns }));
}

export async function ensureNamespace(kube: KubeClient): Promise<void> {
    if (await ignoreNotFound(kube.core.readNamespace({ name: kube.ns }))) return;
    await kube.applyAll([namespaceManifest(kube.ns)], "creating the namespace");
}

export async function createWorkspaceNetwork(kube: KubeClient, ref: Ownership, name: string): Promise<void> {
    await ensureNamespace(kube);
    await kube.applyAll([workspacePolicyManifest(name, kube.ns, ref)], "creating the workspace network policy");
}

export async function workspaceNetworkExists(kube: KubeClient, name: string): Promise<boolean> {
    return (await readPolicy(kube, name)) !== undefined;
}

export async function deleteWorkspaceNetwork(kube: KubeClient, name: string): Promise<void> {
    const policy = await readPolicy(kube, name);
    if (!policy) return;
    // Instances of other stacks of the same workspace keep it.
    const workspace = policy.metadata?.labels?.[`${LABEL_PREFIX}/workspace`];
    const others = await kube.apps.listNamespacedStatefulSet({
        namespace: kube.ns,
        labelSelector: `${LABEL_PREFIX}/workspace=${workspace}`,
    });
    if (others.items.length) return;
    await ignoreNotFound(kube.networking.deleteNamespacedNetworkPolicy({ name, namespace: kube.ns }));
}

export async function applyInboundRules(kube: KubeClient, spec: InboundSpec): Promise<void> {
    await kube.applyAll([instancePolicyManifest(spec, kube.ns)], "applying the instance's NetworkPolicy");
}

export async function inboundRulesIntact(kube: KubeClient, spec: InboundSpec): Promise<boolean> {
    const want = instancePolicyManifest(spec, kube.ns);
    const live = await readPolicy(kube, want.metadata.name);
    if (!live) return false;
    const ingress = (fromClientShape({ ...want, spec: live.spec }).spec as { ingress?: unknown }).ingress;
    return stableJson(ingress) === stableJson((want.spec as { ingress: unknown }).ingress);
}

/** Back to the runtime's own policy (the workspace's pods only), if the instance is still there. */
export async function removeInboundRules(kube: KubeClient, spec: InboundSpec): Promise<void> {
    const { networkRules: _, ...rest } = spec;
    const want = instancePolicyManifest(rest, kube.ns);
    if (await readPolicy(kube, want.metadata.name)) {
        await kube.applyAll([want], "applying the instance's NetworkPolicy");
    }
}

export async function applyEgress(kube: KubeClient, spec: EgressSpec, progress: Progress): Promise<string> {
    progress.status("applying the egress NetworkPolicy");
    const manifest = egressPolicyManifest(spec, kube.ns, spec.egress);
    await kube.applyAll([manifest], "applying the egress NetworkPolicy");
    return egressSignatureOf(manifest.spec);
}

/** The signature of the policy as the API server has it: an edit by hand shows as drift. */
export async function readEgress(kube: KubeClient, spec: EgressSpec): Promise<string> {
    const live = await readPolicy(kube, egressPolicyName(spec.workspace));
    return live ? egressSignatureOf(live.spec) : "none";
}

export async function removeEgress(kube: KubeClient, spec: EgressSpec): Promise<void> {
    await ignoreNotFound(
        kube.networking.deleteNamespacedNetworkPolicy({
            name: egressPolicyName(spec.workspace),
            namespace: kube.ns,
        }),
    );
}

/** A fingerprint of a NetworkPolicy's egress rules (what it selects and lets out). */
function egressSignatureOf(spec: unknown): string {
    const s = (spec ?? {}) as { podSelector?: unknown; egress?: unknown };
    return createHash("sha256")
        .update(stableJson({ podSelector: s.podSelector, egress: s.egress }))
        .digest("hex")
        .slice(0, 16);
}
