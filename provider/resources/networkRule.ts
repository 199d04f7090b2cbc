/**
 * Network rules as resources of their own, so a preview shows a change of who may connect as an
 * update of a NetworkRule, applied live: the workspace's egress (`<workspace>-egress`) and an
 * instance's inbound ranges (`<instance>-inbound`). One kind, two definitions: which one a
 * resource is, its `direction` says.
 */
import { z } from "zod";
import { EgressSpec, InboundSpec, NoFirewallError } from "../backends/backend";
import { egressSchema, ipv4OnlyProblem } from "../model/access";
import { BackendSpec } from "../model/backendSchema";
import { instanceFields } from "../model/schema";
import { instanceNetworkSchema } from "../model/instanceNetwork";
import { nameSchema } from "../model/fields";
import { Props, uses, progressOf, wiringFields, wiringRules } from "./kind";
import { NoFields, defineKind, eitherKind, fields } from "./defineKind";
import { resolved } from "./runtime";
import { RecordKey, RecordValues, agentRecords } from "../model/agentProtocol";
import { tcpEnginePort } from "../backends/docker/firewall";

/** Both directions write their record to the agent's store. */
const backendOf = uses("networkRules", "agentHost");

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

type EgressRule = z.output<typeof egressRuleSchema>;
type InboundRule = z.output<typeof inboundRuleSchema>;

function egressSpec(p: EgressRule): EgressSpec {
    const port = p.backend.kind === "docker" ? tcpEnginePort(p.backend.host) : undefined;
    return {
        workspace: p.workspace,
        owner: p.owner,
        network: p.network,
        egress: p.egress ?? "allow",
        image: p.image,
        ...(port !== undefined ? { enginePorts: [port] } : {}),
    };
}

function inboundSpec(p: InboundRule): InboundSpec {
    return {
        workspace: p.workspace,
        owner: p.owner,
        instance: p.instance,
        network: p.network,
        applications: p.applications,
        ssh: p.ssh ?? null,
        networkRules: p.networkRules,
        ports: p.ports ?? {},
        ...(p.firewallImage ? { firewallImage: p.firewallImage } : {}),
    };
}

const isInbound = (p: Props) => p.direction === "inbound";

/**
 * On Docker the rules live in the host's iptables, which a reboot empties before anyone runs
 * `pulumi up`: the workspace agent keeps a copy and puts them back when it starts.
 */
async function remember<K extends RecordKey>(
    p: EgressRule | InboundRule,
    key: K,
    value: RecordValues[K["kind"]] | undefined,
): Promise<void> {
    if (p.backend.kind !== "docker") return;
    await agentRecords(backendOf(p).agentStore(p.workspace)).write(key, value);
}

const recordKey = (p: EgressRule | InboundRule): RecordKey =>
    p.direction === "inbound" ? { kind: "inbound", instance: p.instance } : { kind: "egress" };

/** The signature of a workspace whose engine cannot keep any rule. */
const UNGUARDED = "unguarded";

async function applyEgress<P extends EgressRule>(p: P): Promise<P & { signature: string }> {
    const spec = egressSpec(p);
    const progress = progressOf(p, `${p.workspace} egress`);
    let signature: string;
    try {
        signature = await backendOf(p).applyEgress(spec, progress);
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

async function applyInbound<P extends InboundRule>(p: P): Promise<P> {
    const spec = inboundSpec(p);
    await backendOf(p).applyInboundRules(spec);
    await remember(p, { kind: "inbound", instance: spec.instance }, spec);
    return p;
}

/** Removes the rules, and the agent's copy of them. */
async function forget(p: EgressRule | InboundRule): Promise<void> {
    // With the agent gone (the workspace's last other stack took it), there is nothing to forget.
    await remember(p, recordKey(p), undefined).catch(() => undefined);
}

const egressRule = defineKind({
    type: "NetworkRule",
    backend: backendOf,
    inputs: egressRuleSchema,
    outputs: fields<{ signature: string }>({ signature: true }),
    userPaths: { egress: "network.egress" },
    rules: () => ({
        ...wiringRules,
        // States from before inbound rules existed have no direction: egress.
        direction: (b, a) => ((b ?? "egress") === (a ?? "egress") ? "ignore" : "replace"),
        network: "replace",
        egress: "live",
        image: "live",
        agent: "ignore",
        signature: "ignore",
        guards: "live",
    }),
    async create(inputs) {
        return { id: `${inputs.workspace}-egress`, outs: await applyEgress(inputs) };
    },
    async read(_id, props) {
        // Rules gone or changed by hand (a host reboot flushes iptables, a policy edited): the
        // resource reads as gone, so refresh drops it and the next `up` applies the rules again.
        if (props.signature === UNGUARDED) return props;
        return (await backendOf(props).readEgress(egressSpec(props))) === props.signature ? props : undefined;
    },
    async update(_id, olds, news) {
        return applyEgress({ ...olds, ...news });
    },
    async delete(_id, props) {
        await backendOf(props).removeEgress(egressSpec(props));
        await forget(props);
    },
});

const inboundRule = defineKind({
    type: "NetworkRule",
    backend: backendOf,
    inputs: inboundRuleSchema,
    outputs: fields<NoFields>({}),
    userPaths: { networkRules: "network" },
    rules: () => ({
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
    }),
    async create(inputs) {
        return { id: `${inputs.workspace}-${inputs.instance}-inbound`, outs: await applyInbound(inputs) };
    },
    async read(_id, props) {
        return (await backendOf(props).inboundRulesIntact(inboundSpec(props))) ? props : undefined;
    },
    async update(_id, olds, news) {
        return applyInbound({ ...olds, ...news });
    },
    async delete(_id, props) {
        await backendOf(props).removeInboundRules(inboundSpec(props));
        await forget(props);
    },
});

export const networkRule = eitherKind(isInbound, inboundRule, egressRule);
