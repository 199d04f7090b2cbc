/**
 * The address of an engine or cluster is connection configuration, not identity. A CI runner
 * reaches the engine as `unix:///run/docker.sock`, a laptop as `unix:///var/run/docker.sock`;
 * a kubeconfig lives at another path on each machine. Neither may replace a disk.
 *
 * Every resource on a backend records what the backend says it is (`backendId`: the engine's
 * ID, the cluster's UID). A new address of the same one changes nothing; an address that now
 * leads to another one is refused at preview, naming both. Reads and deletes, which the engine
 * sends with the address of the last deployment, fall back to this process's own default
 * address when that one answers as the same engine or cluster.
 */
import type { FieldClass, FieldRule } from "./changes";
import { BackendError } from "./backends/backend";
import { identityOf } from "./backends/registry";
import type { BackendSpec } from "./model/backendSchema";
import { DEFAULT_DOCKER_HOST } from "./model/defaults";
import { containsUnknown } from "./model/validate";
import type { FieldProblem } from "./model/errors";

type Props = Record<string, unknown>;

function isSpec(v: unknown): v is BackendSpec {
    return typeof v === "object" && v !== null && "kind" in v && !containsUnknown(v);
}

/** The parts of a backend that say where objects are; the rest says how to reach it. */
export function placeOf(spec: BackendSpec): Record<string, unknown> {
    return spec.kind === "docker"
        ? { kind: "docker" }
        : { kind: "kubernetes", namespace: spec.namespace, storageClass: spec.storageClass };
}

/** Another address of the same place changes nothing; another place (kind, namespace) replaces. */
export const backendRule: FieldRule = (before, after): FieldClass => {
    if (!isSpec(before) || !isSpec(after)) return "replace";
    return JSON.stringify(placeOf(before)) === JSON.stringify(placeOf(after)) ? "ignore" : "replace";
};

/**
 * Absent on states written before it existed, and on inputs a kind's own check compares before
 * the identity is added: neither is a change. A real change is refused at check, never replaced.
 */
export const backendIdRule: FieldRule = (before, after) =>
    before === undefined || after === undefined ? "ignore" : "replace";

/** Where a backend is reached, in words for messages. */
export function addressOf(spec: BackendSpec): string {
    if (spec.kind === "docker") return spec.host;
    return `${spec.kubeconfig ?? "the default kubeconfig"}${spec.context ? ` (context ${spec.context})` : ""}`;
}

export function anotherPlaceProblem(
    what: "engine" | "cluster",
    before: { id: string; spec?: BackendSpec },
    after: { id: string; spec: BackendSpec },
): FieldProblem {
    const was = before.spec ? `, last reached at ${addressOf(before.spec)}` : "";
    return {
        field: "backend",
        message:
            `${addressOf(after.spec)} leads to another ${what} (${after.id}) than the one this stack's objects are on (${before.id}${was}). ` +
            `Point the backend (or ${what === "engine" ? "DOCKER_HOST" : "KUBECONFIG"}) back at that ${what}; to move the workspace, ` +
            `destroy it there first (user files are retained) or deploy it as another stack`,
    };
}

/**
 * Records `backendId` on a resource's checked inputs, and refuses an address that leads to
 * another engine or cluster than the one the resource was made on.
 */
export async function withBackendIdentity(
    inputs: Props,
    olds: Props,
): Promise<{ inputs: Props; problems: FieldProblem[] }> {
    const spec = inputs.backend;
    if (!isSpec(spec)) return { inputs, problems: [] };
    const id = await identityOf(spec).catch(() => undefined);
    if (!id) return { inputs, problems: [] };
    const before = typeof olds.backendId === "string" ? olds.backendId : undefined;
    if (before && before !== id) {
        const what = spec.kind === "docker" ? "engine" : "cluster";
        return {
            inputs,
            problems: [
                anotherPlaceProblem(
                    what,
                    { id: before, spec: isSpec(olds.backend) ? olds.backend : undefined },
                    { id, spec },
                ),
            ],
        };
    }
    return { inputs: { ...inputs, backendId: id }, problems: [] };
}

/** The address this process would use by default for the same place. */
export function defaultAddress(spec: BackendSpec, env: NodeJS.ProcessEnv = process.env): BackendSpec {
    if (spec.kind === "docker") return { kind: "docker", host: env.DOCKER_HOST || DEFAULT_DOCKER_HOST };
    const { kubeconfig: _k, context: _c, ...place } = spec;
    return place;
}

/**
 * The props of a read or delete with an address that reaches the resource's own engine or
 * cluster: the recorded one when it does, else this process's default when that one does.
 * An address that now leads elsewhere is an error (a refresh would otherwise see every object
 * as gone and drop it); one that does not answer is left to the operation to report.
 */
export async function reconnect(props: Props): Promise<Props> {
    const spec = props.backend;
    const id = props.backendId;
    if (!isSpec(spec) || typeof id !== "string") return props;
    const seen = await identityOf(spec).catch(() => undefined);
    if (seen === id) return props;
    const fallback = defaultAddress(spec);
    if (JSON.stringify(fallback) !== JSON.stringify(spec)) {
        const there = await identityOf(fallback).catch(() => undefined);
        if (there === id) return { ...props, backend: fallback };
    }
    if (seen !== undefined) {
        const what = spec.kind === "docker" ? "engine" : "cluster";
        throw new BackendError(`${anotherPlaceProblem(what, { id }, { id: seen, spec }).message}`, "backend");
    }
    return props;
}
