/**
 * A workspace's egress rules as a resource of its own, so a preview shows a change of who the
 * instances may reach as an update of a NetworkRule (applied live: no instance restarts).
 */
import { z } from "zod";
import type { EgressSpec } from "../backends/backend";
import { egressSchema, EgressPolicy } from "../spec/access";
import { Props, ResourceKind, backendOf, checkWith, progressOf, wiringFields, wiringRules } from "./kind";

const networkRuleSchema = z.object({
    ...wiringFields,
    network: z.string().min(1),
    egress: egressSchema.default("allow"),
    /** Docker: the image the rules are applied from (the agent's). */
    image: z.string().min(1),
    /** Orders the rule after the agent, whose image it uses. */
    agent: z.string().optional(),
});

function specOf(p: Props): EgressSpec {
    return { workspace: p.workspace as string, owner: p.owner as string, network: p.network as string, egress: p.egress as EgressPolicy, image: p.image as string };
}

export const networkRule: ResourceKind = {
    check: (news) => checkWith(networkRuleSchema, news, { egress: "network.egress" }),
    rules: () => ({ ...wiringRules, network: "replace", egress: "live", image: "live", agent: "ignore", signature: "ignore" }),
    async create(inputs) {
        const signature = await backendOf(inputs).applyEgress(specOf(inputs), progressOf(inputs, `${inputs.workspace as string} egress`));
        return { id: `${inputs.workspace as string}-egress`, outs: { ...inputs, signature } };
    },
    async read(_id, props) {
        // Rules gone or changed by hand (a host reboot, a flushed chain, an edited policy): the
        // resource reads as gone, so refresh drops it and the next `up` applies the rules again.
        const signature = await backendOf(props).readEgress(specOf(props));
        return signature === props.signature ? props : undefined;
    },
    async update(_id, olds, news) {
        const signature = await backendOf(news).applyEgress(specOf(news), progressOf(news, `${news.workspace as string} egress`));
        return { ...olds, ...news, signature };
    },
    async delete(_id, props) {
        await backendOf(props).removeEgress(specOf(props));
    },
};
