/** Claims: the workspace's user files and the instances' OS disks. */
import type { Ownership } from "../../backend";
import { Component, LABEL_PREFIX } from "../../layout";
import { KubeObject, meta } from "./metadata";

export function pvcManifest(p: {
    name: string;
    namespace: string;
    ref: Ownership & { instance?: string };
    component: Component;
    sizeGb: number;
    accessMode: "ReadWriteOnce" | "ReadWriteMany";
    storageClass?: string;
    labels?: Record<string, string>;
}): KubeObject {
    const m = meta(p.name, p.namespace, p.ref, p.component, { [`${LABEL_PREFIX}/size-gb`]: String(p.sizeGb) });
    return {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { ...m, labels: { ...m.labels, ...p.labels } },
        spec: {
            accessModes: [p.accessMode],
            resources: { requests: { storage: `${p.sizeGb}Gi` } },
            ...(p.storageClass ? { storageClassName: p.storageClass } : {}),
        },
    };
}
