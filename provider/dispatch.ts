/**
 * Loaded by name inside the dynamic-provider plugin (see ./dynamic.ts): routes each call to the
 * resource kind's implementation and shapes the answers the way the plugin host expects.
 */
import type * as pulumi from "@pulumi/pulumi";
import { formatProblem } from "./spec/errors";
import { Props, ResourceKind, diffWith } from "./resources/kind";
import { runtime } from "./resources/runtime";
import { osDisk, tempDisk } from "./resources/disks";
import { accessToken } from "./resources/token";
import { userFiles, workspaceNetwork } from "./resources/workspace";
import { workstationImage } from "./resources/image";

export const KINDS = {
    UserFiles: userFiles,
    WorkspaceNetwork: workspaceNetwork,
    WorkstationImage: workstationImage,
    AccessToken: accessToken,
    OsDisk: osDisk,
    TempDisk: tempDisk,
    Runtime: runtime,
} satisfies Record<string, ResourceKind>;

export type KindName = keyof typeof KINDS;

function kindOf(name: string): ResourceKind {
    const kind = (KINDS as Record<string, ResourceKind>)[name];
    if (!kind) throw new Error(`pulumi-compute-instance: unknown resource kind "${name}" (a newer version wrote this state?)`);
    return kind;
}

export async function check(name: string, olds: Props, news: Props): Promise<pulumi.dynamic.CheckResult> {
    const { inputs, problems } = await kindOf(name).check(news, olds);
    return {
        inputs,
        failures: problems.map((p) => ({ property: p.field.split(/[.[]/)[0] || "", reason: formatProblem(p) })),
    };
}

export async function diff(name: string, _id: string, olds: Props, news: Props): Promise<pulumi.dynamic.DiffResult> {
    return diffWith(kindOf(name), olds, news);
}

export async function create(name: string, inputs: Props): Promise<pulumi.dynamic.CreateResult> {
    return kindOf(name).create(inputs);
}

export async function read(name: string, id: string, props: Props): Promise<pulumi.dynamic.ReadResult> {
    const outs = await kindOf(name).read(id, props);
    // No id tells the engine the object is gone: refresh drops it and the next `up` recreates it.
    return outs ? { id, props: outs } : {};
}

export async function update(name: string, id: string, olds: Props, news: Props): Promise<pulumi.dynamic.UpdateResult> {
    return { outs: await kindOf(name).update(id, olds, news) };
}

export async function remove(name: string, id: string, props: Props): Promise<void> {
    await kindOf(name).delete(id, props);
}
