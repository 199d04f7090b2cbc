/**
 * The Kubernetes API client (@kubernetes/client-node) as this backend uses it: one kubeconfig,
 * one namespace, server-side apply under one field manager, and the API server's errors
 * translated into BackendErrors for users.
 */
import type * as k8s from "@kubernetes/client-node";
import { BackendError } from "../backend";
import { notFoundAsUndefined, thrownField } from "../errors";
import { FIELD_MANAGER, KubeObject } from "./manifests";

export interface KubernetesTarget {
    namespace: string;
    kubeconfig?: string;
    context?: string;
    storageClass?: string;
}

export function statusCode(e: unknown): number | undefined {
    const code = thrownField(e, "code");
    return typeof code === "number" ? code : undefined;
}

/** The API server's own words for a failed call. */
export function reason(e: unknown): string {
    const body = thrownField(e, "body");
    if (body !== undefined) {
        try {
            const parsed = typeof body === "string" ? JSON.parse(body) : body;
            if (parsed && typeof parsed === "object" && "message" in parsed)
                return String((parsed as { message: unknown }).message);
        } catch {
            /* not JSON */
        }
    }
    if (e instanceof Error) {
        const cause = (e as { cause?: { code?: string } }).cause;
        return cause?.code ? `${e.message} (${cause.code})` : e.message;
    }
    return String(e);
}

export const ignoreNotFound = notFoundAsUndefined(statusCode);

/** The cluster and namespace of a target, and the calls every part of the backend makes on them. */
export class KubeClient {
    readonly description: string;
    readonly kc: k8s.KubeConfig;
    readonly lib: typeof k8s;
    readonly ns: string;

    constructor(readonly target: KubernetesTarget) {
        this.lib = require("@kubernetes/client-node") as typeof k8s;
        this.kc = new this.lib.KubeConfig();
        try {
            if (target.kubeconfig) this.kc.loadFromFile(target.kubeconfig);
            else this.kc.loadFromDefault();
            if (target.context) this.kc.setCurrentContext(target.context);
        } catch (e) {
            throw new BackendError(
                `cannot load the kubeconfig ${target.kubeconfig ?? "(KUBECONFIG or ~/.kube/config)"}: ${reason(e)}`,
                "backend.kubernetes.kubeconfig",
            );
        }
        if (target.context && !this.kc.getContextObject(target.context)) {
            throw new BackendError(
                `no context "${target.context}" in the kubeconfig; it has: ${this.kc
                    .getContexts()
                    .map((c) => c.name)
                    .join(", ")}`,
                "backend.kubernetes.context",
            );
        }
        this.ns = target.namespace;
        const server = this.kc.getCurrentCluster()?.server ?? "(no cluster in the kubeconfig)";
        this.description = `Kubernetes API server at ${server} (namespace ${this.ns})`;
    }

    api<T extends k8s.ApiType>(type: new (config: k8s.Configuration) => T): T {
        return this.kc.makeApiClient(type as unknown as k8s.ApiConstructor<T>);
    }

    get core() {
        return this.api(this.lib.CoreV1Api);
    }
    get apps() {
        return this.api(this.lib.AppsV1Api);
    }
    get networking() {
        return this.api(this.lib.NetworkingV1Api);
    }
    get batch() {
        return this.api(this.lib.BatchV1Api);
    }
    get rbac() {
        return this.api(this.lib.RbacAuthorizationV1Api);
    }

    /** Server-side apply of a whole object under this project's field manager. */
    async apply(obj: KubeObject, dryRun = false): Promise<KubeObject> {
        const objects = this.lib.KubernetesObjectApi.makeApiClient(this.kc);
        const applied = await objects.patch(
            toClientShape(obj) as k8s.KubernetesObject,
            undefined,
            dryRun ? "All" : undefined,
            FIELD_MANAGER,
            true,
            this.lib.PatchStrategy.ServerSideApply,
        );
        return fromClientShape(applied as KubeObject);
    }

    /**
     * A change to some fields of an object. Not an apply: applying a partial object would take
     * away every field this manager set before and left out now.
     */
    async patchFields(obj: KubeObject): Promise<void> {
        const objects = this.lib.KubernetesObjectApi.makeApiClient(this.kc);
        await objects.patch(
            obj as k8s.KubernetesObject,
            undefined,
            undefined,
            FIELD_MANAGER,
            undefined,
            this.lib.PatchStrategy.StrategicMergePatch,
        );
    }

    async applyAll(objects: KubeObject[], what: string): Promise<void> {
        for (const o of objects) {
            try {
                await this.apply(o);
            } catch (e) {
                throw new BackendError(
                    `${what}: ${o.kind} ${o.metadata.name} was refused by the ${this.description}: ${reason(e)}`,
                );
            }
        }
    }

    async waitUntilGone(name: string, what: string, read: () => Promise<unknown>, seconds: number): Promise<void> {
        const deadline = Date.now() + seconds * 1000;
        while (await read()) {
            if (Date.now() > deadline)
                throw new BackendError(
                    `the ${what} of ${name} is still there after ${seconds}s on the ${this.description}`,
                );
            await new Promise((r) => setTimeout(r, 250));
        }
    }
}

/**
 * The client serialises objects through its typed models, which drop what they do not know and
 * name a NetworkPolicy rule's `from` field `_from` (a reserved word in its generator): a manifest
 * written with `from` would reach the API server without it, admitting everyone. These two
 * translate at the boundary, so manifests stay in the API's own shape.
 */
export function toClientShape(obj: KubeObject): KubeObject {
    return renameRuleKey(obj, "from", "_from");
}

export function fromClientShape(obj: KubeObject): KubeObject {
    return renameRuleKey(obj, "_from", "from");
}

function renameRuleKey(obj: KubeObject, from: string, to: string): KubeObject {
    if (obj.kind !== "NetworkPolicy") return obj;
    const spec = (obj.spec ?? {}) as { ingress?: Record<string, unknown>[] };
    if (!spec.ingress) return obj;
    const ingress = spec.ingress.map(({ [from]: peers, ...rule }) => ({
        ...rule,
        ...(peers !== undefined ? { [to]: peers } : {}),
    }));
    return { ...obj, spec: { ...spec, ingress } };
}
