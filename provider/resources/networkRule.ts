/**
 * Network rules as resources of their own, so a preview shows a change of who may connect as an
 * update of a NetworkRule, applied live: the workspace's egress (`<workspace>-egress`) and an
 * instance's inbound ranges (`<instance>-inbound`).
 */
import { z } from "zod";
import { EgressSpec, InboundSpec, NoFirewallError } from "../backends/backend";
import { egressSchema, EgressPolicy, SshSpec, ipv4OnlyProblem } from "../model/access";
import type { PublishedPorts } from "../model/endpoints";
import {
    Application,
    BackendSpec,
    InstanceNetwork,
    instanceFields,
    instanceNetworkSchema,
    nameSchema,
} from "../model/schema";
import { Props, ResourceKind, backendOf, checkWith, progressOf, wiringFields, wiringRules } from "./kind";
import { resolved } from "./runtime";
import { RecordKey, RecordValues, agentRecords } from "../model/agentProtocol";
import { tcpEnginePort } from "../backends/docker/firewall";

const egressRuleSchema = z
    .object({
        ...wiringFields,
        direction: z.literal("egress").default("egress"),
        network: z.string().min(1),
        /** Absent when the workspace does not say: "allow", with the guards where the backend can keep them. */
        egress: egressSchema.optional(),
        /** Docker: the image the rules are applied from (the agent's). */
        image: z.string().min(1),
        /** Orders the rule after the agent, whose image it uses. */
        agent: z.string().optional(),
        guards: z.unknown().optional(),
    })
    // What every policy keeps closed, set by this version: a state without it (rules applied
    // before the guards existed) shows as a live update, so the next `up` applies them.
    .transform((r) => ({ ...r, guards: egressGuards(r.backend) }));

function egressGuards(backend: BackendSpec): string {
    return backend.kind === "docker" ? "link-local, engine API" : "link-local";
}

const inboundRuleSchema = z
    .object({
        ...wiringFields,
        direction: z.literal("inbound"),
        instance: nameSchema,
        network: z.string().min(1),
        networkRules: instanceNetworkSchema,
        applications: instanceFields.applications,
        ssh: instanceFields.ssh,
        ports: z.record(z.string(), z.number()).default({}),
        firewallImage: z.string().min(1).optional(),
        /** The runtime's id: the rule follows the container it guards. */
        runtime: z.string().optional(),
        /** Orders the rule after the agent, which keeps a copy of it. */
        agent: z.string().optional(),
    })
    .superRefine((r, ctx) => {
        if (r.backend.kind !== "docker") return;
        r.networkRules.inbound?.forEach((rule, i) =>
            rule.from.forEach((cidr, j) => {
                const problem = ipv4OnlyProblem(cidr);
                if (problem)
                    ctx.addIssue({ code: "custom", path: ["networkRules", "inbound", i, "from", j], message: problem });
            }),
        );
    })
    .transform(({ networkRules, ...rest }, ctx) => ({
        ...rest,
        networkRules: resolved(networkRules, rest.applications, rest.ssh !== undefined, ctx),
    }));

function egressSpec(p: Props): EgressSpec {
    const port = tcpEnginePort((p.backend as { host?: string }).host ?? "");
    return {
        workspace: p.workspace as string,
        owner: p.owner as string,
        network: p.network as string,
        egress: (p.egress ?? "allow") as EgressPolicy,
        image: p.image as string,
        ...(port !== undefined ? { enginePorts: [port] } : {}),
    };
}

function inboundSpec(p: Props): InboundSpec {
    return {
        workspace: p.workspace as string,
        owner: p.owner as string,
        instance: p.instance as string,
        network: p.network as string,
        applications: p.applications as Application[],
        ssh: (p.ssh as SshSpec | undefined) ?? null,
        networkRules: p.networkRules as InstanceNetwork,
        ports: (p.ports ?? {}) as PublishedPorts,
        ...(p.firewallImage ? { firewallImage: p.firewallImage as string } : {}),
    };
}

const isInbound = (p: Props) => p.direction === "inbound";

/**
 * On Docker the rules live in the host's iptables, which a reboot empties before anyone runs
 * `pulumi up`: the workspace agent keeps a copy and puts them back when it starts.
 */
async function remember<K extends RecordKey>(p: Props, key: K, value: RecordValues[K["kind"]] | undefined) {
    if ((p.backend as { kind?: string }).kind !== "docker") return;
    await agentRecords(backendOf(p).agentStore(p.workspace as string)).write(key, value);
}

const recordKey = (p: Props): RecordKey =>
    isInbound(p) ? { kind: "inbound", instance: p.instance as string } : { kind: "egress" };

async function apply(p: Props): Promise<Props> {
    const backend = backendOf(p);
    if (isInbound(p)) {
        const spec = inboundSpec(p);
        await backend.applyInboundRules(spec);
        await remember(p, { kind: "inbound", instance: spec.instance }, spec);
        return p;
    }
    const spec = egressSpec(p);
    const progress = progressOf(p, `${p.workspace as string} egress`);
    let signature: string;
    try {
        signature = await backend.applyEgress(spec, progress);
    } catch (e) {
        // Every workspace gets the guards (no link-local, no engine API), but one that asked for
        // nothing must still work on an engine that manages no iptables (rootless Docker): said,
        // not failed. A policy the workspace asked for is never dropped silently.
        if (!(e instanceof NoFirewallError) || p.egress !== undefined) throw e;
        progress.warn(
            `${e.message}; instances of this workspace can reach link-local addresses (cloud metadata) and the engine's host`,
        );
        signature = UNGUARDED;
    }
    await remember(p, { kind: "egress" }, { ...spec, signature });
    return { ...p, signature };
}

/** The signature of a workspace whose engine cannot keep any rule. */
const UNGUARDED = "unguarded";

export const networkRule: ResourceKind = {
    check: (news) =>
        isInbound(news)
            ? checkWith(inboundRuleSchema, news, { networkRules: "network" })
            : checkWith(egressRuleSchema, news, { egress: "network.egress" }),
    rules: (news) =>
        isInbound(news)
            ? {
                  ...wiringRules,
                  direction: "replace",
                  instance: "replace",
                  network: "replace",
                  networkRules: "live",
                  applications: "live",
                  ssh: "live",
                  ports: "live",
                  firewallImage: "live",
                  runtime: "live",
                  agent: "ignore",
              }
            : {
                  ...wiringRules,
                  direction: (b, a) => ((b ?? "egress") === (a ?? "egress") ? "ignore" : "replace"),
                  network: "replace",
                  egress: "live",
                  image: "live",
                  agent: "ignore",
                  signature: "ignore",
                  guards: "live",
              },
    async create(inputs) {
        const outs = await apply(inputs);
        const id = isInbound(inputs)
            ? `${inputs.workspace as string}-${inputs.instance as string}-inbound`
            : `${inputs.workspace as string}-egress`;
        return { id, outs };
    },
    async read(_id, props) {
        // Rules gone or changed by hand (a host reboot flushes iptables, a policy edited): the
        // resource reads as gone, so refresh drops it and the next `up` applies the rules again.
        const backend = backendOf(props);
        if (isInbound(props)) return (await backend.inboundRulesIntact(inboundSpec(props))) ? props : undefined;
        if (props.signature === UNGUARDED) return props;
        return (await backend.readEgress(egressSpec(props))) === props.signature ? props : undefined;
    },
    async update(_id, olds, news) {
        return apply({ ...olds, ...news });
    },
    async delete(_id, props) {
        if (isInbound(props)) await backendOf(props).removeInboundRules(inboundSpec(props));
        else await backendOf(props).removeEgress(egressSpec(props));
        // With the agent gone (the workspace's last other stack took it), there is nothing to forget.
        await remember(props, recordKey(props), undefined).catch(() => undefined);
    },
};
