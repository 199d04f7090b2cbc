/**
 * Loaded by name inside the dynamic-provider plugin (see ./dynamic.ts): routes each call to the
 * resource kind's implementation and shapes the answers the way the plugin host expects.
 *
 * A stable interface: `provider` (and the six functions it is made of) is what the provider text
 * stored in users' states loads (see ./dynamic.ts), and Pulumi does not rewrite that text when
 * only the package changes. Names and parameters must never change; add new ones instead.
 */
import type * as pulumi from "@pulumi/pulumi";
import { KIND_KEY, PROVIDER_KEY } from "./kindKey";
import { formatProblem } from "./model/errors";
import { CreatedButFailedError, Props, ResourceKind, diffWith, progressOf } from "./resources/kind";
import { summarize } from "./summary";
import { reconnect, withBackendIdentity } from "./backendIdentity";
import { runtime } from "./resources/runtime";
import { osDisk, tempDisk } from "./resources/disks";
import { accessToken } from "./resources/token";
import { userFiles, workspaceNetwork } from "./resources/workspace";
import { workstationImage } from "./resources/image";
import { idleShutdown, jobQueue, schedule, workspaceAgent } from "./resources/agent";
import { networkRule } from "./resources/networkRule";
import { quota } from "./resources/quota";

/** The kinds, each under its type (the `__kind` its resources carry): the type checker holds them to it. */
function byType<K extends { [Name in keyof K]: ResourceKind & { readonly type: Name } }>(kinds: K): K {
    return kinds;
}

export const KINDS = byType({
    UserFiles: userFiles,
    WorkspaceNetwork: workspaceNetwork,
    WorkstationImage: workstationImage,
    AccessToken: accessToken,
    OsDisk: osDisk,
    TempDisk: tempDisk,
    Runtime: runtime,
    WorkspaceAgent: workspaceAgent,
    Schedule: schedule,
    IdleShutdown: idleShutdown,
    JobQueue: jobQueue,
    NetworkRule: networkRule,
    Quota: quota,
});

export type KindName = keyof typeof KINDS;

const isKindName = (name: unknown): name is KindName => typeof name === "string" && Object.hasOwn(KINDS, name);

function kindOf(props: Props) {
    const name = props[KIND_KEY];
    if (!isKindName(name))
        throw new Error(
            `pulumi-compute-instance: unknown resource kind ${JSON.stringify(name)} (was this state written by a newer version?)`,
        );
    return KINDS[name];
}

/** Keeps the kind with the props a kind returns (its schemas drop keys they do not know). */
function withKind(props: Props, from: Props): Props {
    return { ...props, [KIND_KEY]: from[KIND_KEY] };
}

export async function check(olds: Props, news: Props): Promise<pulumi.dynamic.CheckResult> {
    const checked = await kindOf(news).check(news, olds);
    const { inputs, problems } = checked.problems.length ? checked : await withBackendIdentity(checked.inputs, olds);
    return {
        inputs: withKind(inputs, news),
        // No property: the engine would print the property's whole value beside the reason, and
        // that value may be a pasted private key or a secret env var. The reason names the field.
        failures: problems.map((p) => ({ property: "", reason: formatProblem(p) })),
    };
}

export async function diff(_id: string, olds: Props, news: Props): Promise<pulumi.dynamic.DiffResult> {
    const kind = kindOf(news);
    const { classification, ...result } = diffWith(kind, olds, news);
    // What the change does, in words, under the resource in the preview.
    const line = summarize(kind.type, olds, news, classification);
    if (line) progressOf(news, "").info(line);
    return result;
}

export async function create(inputs: Props): Promise<pulumi.dynamic.CreateResult> {
    try {
        const { id, outs } = await kindOf(inputs).create(inputs);
        return { id, outs: withKind(outs, inputs) };
    } catch (e) {
        // Recorded as is by the plugin host, which adds no provider to it: without one, no later
        // operation on the object could load this package.
        if (e instanceof CreatedButFailedError) {
            Object.assign(e.properties, withKind(e.properties, inputs), { [PROVIDER_KEY]: inputs[PROVIDER_KEY] });
        }
        throw e;
    }
}

export async function read(id: string, props: Props): Promise<pulumi.dynamic.ReadResult> {
    const outs = await kindOf(props).read(id, await reconnect(props));
    // No id tells the engine the object is gone: refresh drops it and the next `up` recreates it.
    return outs ? { id, props: withKind(outs, props) } : {};
}

export async function update(id: string, olds: Props, news: Props): Promise<pulumi.dynamic.UpdateResult> {
    return { outs: withKind(await kindOf(news).update(id, olds, news), news) };
}

export async function remove(id: string, props: Props): Promise<void> {
    await kindOf(props).delete(id, await reconnect(props));
}

/** The object the dynamic-provider plugin calls (see PROVIDER_SOURCE in ./dynamic.ts). */
export const provider: pulumi.dynamic.ResourceProvider = { check, diff, create, read, update, delete: remove };
