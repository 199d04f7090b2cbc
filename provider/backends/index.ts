import type { Backend } from "./backend";
import type { BackendSpec } from "../spec/schema";
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

const reachable = new Map<string, Promise<void>>();
const capacities = new Map<string, Promise<import("./backend").Capacity>>();

/**
 * A backend's capacity, asked once per process: a preview checks every instance against it, and
 * a cluster's nodes do not change between two resources of one deployment.
 */
export function capacityOf(spec: BackendSpec): Promise<import("./backend").Capacity> {
    const key = stableJson(spec);
    let p = capacities.get(key);
    if (!p) {
        p = backendFor(spec).capacity();
        p.catch(() => capacities.delete(key));
        capacities.set(key, p);
    }
    return p;
}

/** Pings a backend once per process; later calls share the first answer. */
export function ensureReachable(spec: BackendSpec): Promise<void> {
    const key = stableJson(spec);
    let p = reachable.get(key);
    if (!p) {
        p = backendFor(spec).ping();
        p.catch(() => reachable.delete(key));
        reachable.set(key, p);
    }
    return p;
}
