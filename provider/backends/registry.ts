import type { Backend } from "./backend";
import type { BackendSpec } from "../model/backendSchema";
import { stableJson } from "../changes";

const cache = new Map<string, Backend>();

/** One client per backend per provider process (all dynamic resources share the process). */
export function backendFor(spec: BackendSpec): Backend {
    const key = stableJson(spec);
    let backend = cache.get(key);
    if (!backend) {
        switch (spec.kind) {
            case "docker": {
                const { DockerBackend } = require("./docker") as typeof import("./docker");
                backend = new DockerBackend(spec.host);
                break;
            }
            case "kubernetes": {
                const { KubernetesBackend } = require("./kubernetes") as typeof import("./kubernetes");
                backend = new KubernetesBackend(spec);
                break;
            }
        }
        cache.set(key, backend);
    }
    return backend;
}

/**
 * One question to a backend, asked once per process: the first answer is shared by every later
 * call with the same spec; a failure is forgotten, so the next call asks again.
 */
function oncePerProcess<T>(ask: (b: Backend) => Promise<T>): (spec: BackendSpec) => Promise<T> {
    const answers = new Map<string, Promise<T>>();
    return (spec) => {
        const key = stableJson(spec);
        let p = answers.get(key);
        if (!p) {
            // A backend that cannot even be made (a kubeconfig that is gone) is a failed answer too.
            p = Promise.resolve().then(() => ask(backendFor(spec)));
            p.catch(() => answers.delete(key));
            answers.set(key, p);
        }
        return p;
    };
}

/**
 * A backend's capacity: a preview checks every instance against it, and a cluster's nodes do not
 * change between two resources of one deployment.
 */
export const capacityOf = oncePerProcess((b) => b.capacity());

/** Pings a backend; later calls share the first answer. */
export const ensureReachable = oncePerProcess((b) => b.ping());

/** What a backend says it is (see Backend.identity). */
export const identityOf = oncePerProcess((b) => b.identity());
