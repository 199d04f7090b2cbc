/** An instance's network: who may connect to which of its services. */
import { z } from "zod";
import { cidrSchema } from "./access";
import { portNumber } from "./fields";
import { APPLICATIONS, Application } from "./applications";
import { SERVICES, ServiceName, serviceOfApplication } from "./endpoints";

/** What an inbound rule may name: an application, or SSH. */
export const INBOUND_TARGETS = [...APPLICATIONS, "ssh"] as const;

const inboundRuleSchema = z
    .strictObject({
        application: z
            .enum(INBOUND_TARGETS, {
                message: `unknown application; allowed: ${INBOUND_TARGETS.map((a) => `"${a}"`).join(", ")}`,
            })
            .optional(),
        port: portNumber(1, "must be 1 to 65535").optional(),
        from: z
            .array(cidrSchema)
            .min(1, { message: 'must list at least one CIDR range ("0.0.0.0/0" for anywhere)' })
            .max(64, { message: "must list at most 64 ranges" }),
    })
    .superRefine((r, ctx) => {
        if ((r.application === undefined) === (r.port === undefined))
            ctx.addIssue({ code: "custom", message: "must name exactly one of application or port" });
    });

/** An instance's inbound rules, as the user writes them. */
export const instanceNetworkSchema = z.strictObject({
    inbound: z.array(inboundRuleSchema).max(32, { message: "must have at most 32 rules" }).optional(),
    /** Docker: publish on every address of the engine's host instead of 127.0.0.1. */
    publicBind: z.boolean({ message: "must be true or false" }).default(false),
});
export type InstanceNetworkInput = z.input<typeof instanceNetworkSchema>;

/** Inbound rules as the providers carry them: per service, who may connect. */
export interface InstanceNetwork {
    publicBind: boolean;
    /** Absent: every service is published (on loopback unless publicBind), from anywhere that can reach it. */
    inbound?: { service: ServiceName; from: string[] }[];
}

/**
 * Checks the rules against what the instance serves and folds them per service (JupyterLab and
 * the classic notebook are one server). Problems carry paths under `network`.
 */
export function resolveInboundRules(
    net: z.output<typeof instanceNetworkSchema>,
    applications: readonly Application[],
    sshOn: boolean,
): { network: InstanceNetwork; problems: { path: (string | number)[]; message: string }[] } {
    const serviceOf = serviceOfApplication;
    const containerPorts = (s: ServiceName) => SERVICES[s].containerPort;
    const problems: { path: (string | number)[]; message: string }[] = [];
    if (!net.inbound) return { network: { publicBind: net.publicBind }, problems };
    const served = new Set<ServiceName>([...applications.map(serviceOf), ...(sshOn ? (["ssh"] as ServiceName[]) : [])]);
    const byService = new Map<ServiceName, Set<string>>();
    net.inbound.forEach((rule, i) => {
        let service: ServiceName | undefined;
        if (rule.application === "ssh") {
            if (!sshOn)
                problems.push({
                    path: ["inbound", i, "application"],
                    message: '"ssh" needs SSH enabled on this instance (ssh.enabled)',
                });
            else service = "ssh";
        } else if (rule.application !== undefined) {
            if (!applications.includes(rule.application)) {
                problems.push({
                    path: ["inbound", i, "application"],
                    message: `"${rule.application}" is not an application of this instance; it runs: ${applications.join(", ")}${sshOn ? ", ssh" : ""}`,
                });
            } else service = serviceOf(rule.application);
        } else if (rule.port !== undefined) {
            const found = [...served].find((s) => containerPorts(s) === rule.port);
            if (!found) {
                problems.push({
                    path: ["inbound", i, "port"],
                    message: `${rule.port} is not a port of this instance; its ports: ${[...served].map((s) => `${containerPorts(s)} (${s})`).join(", ")}`,
                });
            } else service = found;
        }
        if (service) {
            const set = byService.get(service) ?? new Set<string>();
            for (const cidr of rule.from) set.add(cidr.trim());
            byService.set(service, set);
        }
    });
    const inbound = [...byService]
        .map(([service, from]) => ({ service, from: [...from].sort() }))
        .sort((a, b) => (a.service < b.service ? -1 : 1));
    return { network: { publicBind: net.publicBind, inbound }, problems };
}

/** Field schemas of an instance, shared by the component's check and the providers' checks. */
