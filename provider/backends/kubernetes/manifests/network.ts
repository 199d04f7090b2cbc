/** NetworkPolicies: the workspace's default deny, its egress, and each instance's inbound rules. */
import type { Ownership, RuntimeSpec } from "../../backend";
import { type EgressPolicy, LINK_LOCAL, spansLinkLocal } from "../../../model/access";
import { SERVICES, ServiceName, servicesFor } from "../../../model/endpoints";
import { KubeObject, agentPodLabels, meta, podSelector, runtimeName, workspacePodLabels } from "./metadata";

/**
 * The workspace's network object: a default-deny policy for every pod of the workspace. Each
 * instance's own policy then admits its ports (policies add up).
 */
export function workspacePolicyManifest(name: string, namespace: string, ref: Ownership): KubeObject {
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(name, namespace, ref, "network"),
        spec: {
            podSelector: { matchLabels: workspacePodLabels(ref.workspace) },
            // No ingress rules: nothing admitted (the API server stores it without an empty list).
            policyTypes: ["Ingress"],
        },
    };
}

export function egressPolicyName(workspace: string): string {
    return `ci-${workspace}-egress`;
}

/** An allowed range as an ipBlock: one wider than link-local leaves link-local out. */
function allowedBlock(cidr: string): { ipBlock: { cidr: string; except?: string[] } } {
    return { ipBlock: spansLinkLocal(cidr) ? { cidr, except: [LINK_LOCAL.v4] } : { cidr } };
}

/**
 * The workspace's egress: its instances may reach the workspace's own pods, DNS, and the allowed
 * ranges; with "allow", every pod and every address. Link-local addresses (cloud metadata) are
 * never reached unless a listed range lies inside them. The agent is not selected (it must reach
 * the API server).
 */
export function egressPolicyManifest(ref: Ownership, namespace: string, egress: EgressPolicy): KubeObject {
    const allowed = egress === "deny" || egress === "allow" ? [] : egress.allow;
    const rules =
        egress === "allow"
            ? [
                  // Every pod, as without a policy: CNIs differ on whether an ipBlock covers pod addresses.
                  { to: [{ namespaceSelector: {} }] },
                  {
                      to: [
                          { ipBlock: { cidr: "0.0.0.0/0", except: [LINK_LOCAL.v4] } },
                          { ipBlock: { cidr: "::/0", except: [LINK_LOCAL.v6] } },
                      ],
                  },
              ]
            : [
                  {
                      to: [{ podSelector: { matchLabels: workspacePodLabels(ref.workspace) } }],
                  },
                  {
                      to: [{ namespaceSelector: {} }],
                      ports: [
                          { protocol: "UDP", port: 53 },
                          { protocol: "TCP", port: 53 },
                      ],
                  },
                  ...(allowed.length ? [{ to: allowed.map(allowedBlock) }] : []),
              ];
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(egressPolicyName(ref.workspace), namespace, ref, "network"),
        spec: {
            podSelector: {
                matchLabels: { ...workspacePodLabels(ref.workspace), "app.kubernetes.io/component": "runtime" },
            },
            policyTypes: ["Egress"],
            egress: rules,
        },
    };
}

export function servicesOf(spec: Pick<RuntimeSpec, "applications" | "ssh">) {
    return servicesFor(spec.applications, spec.ssh !== null);
}

/**
 * Who may connect to an instance's pod: the workspace's own pods (the agent reads Jupyter's
 * activity) on every port, and the inbound rules' ranges on theirs. Users otherwise come in
 * through `kubectl port-forward`, which NetworkPolicies do not govern (and RBAC does).
 */
export function instancePolicyManifest(
    spec: Pick<RuntimeSpec, "workspace" | "owner" | "instance" | "applications" | "ssh" | "networkRules">,
    namespace: string,
): KubeObject {
    const services = servicesOf(spec);
    const port = (s: ServiceName) => ({ protocol: "TCP", port: SERVICES[s].containerPort });
    const fromRules = (spec.networkRules?.inbound ?? [])
        .filter((r) => services.includes(r.service))
        .map((r) => ({
            from: r.from.map((cidr) => ({ ipBlock: { cidr } })),
            ports: [port(r.service)],
        }));
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(runtimeName(spec), namespace, spec, "network"),
        spec: {
            podSelector: { matchLabels: podSelector(spec) },
            policyTypes: ["Ingress"],
            ingress: [
                {
                    // The workspace's pods, and its agent, which reads every instance's activity
                    // for idle shutdown (its pods are named apart: compute-instance-agent).
                    from: [
                        { podSelector: { matchLabels: workspacePodLabels(spec.workspace) } },
                        { podSelector: { matchLabels: agentPodLabels(spec.workspace) } },
                    ],
                    ports: services.map(port),
                },
                ...fromRules,
            ],
        },
    };
}
