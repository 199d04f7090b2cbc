#!/usr/bin/env node
// The local test cluster's storage (scripts/cluster): provisions a PersistentVolume for every
// pending claim of the "standard" class, grows volumes when claims grow, and deletes released
// volumes (and their directories).
//   fake-provisioner.js KUBECONFIG [NODE VOLUMES_DIR]
// With a real node: a directory under VOLUMES_DIR as a `local` volume pinned to NODE (the kubelet
// gives `local` volumes to the pod's fsGroup; hostPath volumes stay root's, 0755). Claims in
// namespaces whose pods are simulated (node-selector annotation type=kwok), or with no real node:
// a volume that is never mounted and pinned nowhere, so claims bind as on a real cluster.
const fs = require("fs");
const path = require("path");
const k8s = require("@kubernetes/client-node");

const PROVISIONER = "compute-instance.pulumi.io/fake";
const [, , kubeconfig, node, volumesDir] = process.argv;
const NODE_SELECTOR = "scheduler.alpha.kubernetes.io/node-selector";
const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);
const mergePatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

function simulated(namespace) {
    return !node || /(^|,)\s*type\s*=\s*kwok\s*(,|$)/.test(namespace?.metadata?.annotations?.[NODE_SELECTOR] ?? "");
}

/** Where a volume lives: a real directory for the real node, or a path never mounted. */
function volumeSource(claim, namespace) {
    const name = `pv-${claim.metadata.uid}`;
    if (simulated(namespace)) return { hostPath: { path: `/var/tmp/ci-fake-pv/${claim.metadata.uid}` } };
    const dir = path.join(volumesDir, name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    return {
        local: { path: dir },
        nodeAffinity: {
            required: {
                nodeSelectorTerms: [
                    { matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [node] }] },
                ],
            },
        },
    };
}

async function tick() {
    const [claims, volumes, namespaces] = await Promise.all([
        core.listPersistentVolumeClaimForAllNamespaces(),
        core.listPersistentVolume(),
        core.listNamespace(),
    ]);
    const byClaim = new Map(volumes.items.map((v) => [v.spec?.claimRef?.uid, v]));
    const namespaceOf = new Map(namespaces.items.map((n) => [n.metadata.name, n]));
    for (const c of claims.items) {
        const cls = c.spec?.storageClassName ?? "standard";
        if (cls !== "standard") continue;
        const want = c.spec?.resources?.requests?.storage;
        const pv = byClaim.get(c.metadata.uid);
        if (!pv && c.status?.phase === "Pending") {
            await core
                .createPersistentVolume({
                    body: {
                        metadata: {
                            name: `pv-${c.metadata.uid}`,
                            annotations: { "pv.kubernetes.io/provisioned-by": PROVISIONER },
                        },
                        spec: {
                            capacity: { storage: want },
                            accessModes: c.spec.accessModes,
                            persistentVolumeReclaimPolicy: "Delete",
                            storageClassName: "standard",
                            claimRef: { namespace: c.metadata.namespace, name: c.metadata.name, uid: c.metadata.uid },
                            volumeMode: "Filesystem",
                            ...volumeSource(c, namespaceOf.get(c.metadata.namespace)),
                        },
                    },
                })
                .catch((e) => {
                    if (e.code !== 409) throw e;
                });
        } else if (pv && c.status?.phase === "Bound" && want && c.status?.capacity?.storage !== want) {
            // Resize, as an external resizer does: the volume, then the claim's status.
            await core.patchPersistentVolume(
                { name: pv.metadata.name, body: { spec: { capacity: { storage: want } } } },
                mergePatch,
            );
            await core.patchNamespacedPersistentVolumeClaimStatus(
                {
                    name: c.metadata.name,
                    namespace: c.metadata.namespace,
                    body: { status: { capacity: { storage: want } } },
                },
                mergePatch,
            );
        }
    }
    for (const v of volumes.items) {
        if (
            v.status?.phase === "Released" &&
            v.metadata.annotations?.["pv.kubernetes.io/provisioned-by"] === PROVISIONER
        ) {
            await core.deletePersistentVolume({ name: v.metadata.name }).catch(() => undefined);
            // The directory goes once the volume is gone (the kubelet has unmounted it by then).
            const dir = v.spec?.local?.path;
            if (dir && volumesDir && path.dirname(dir) === path.resolve(volumesDir))
                fs.rmSync(dir, { recursive: true, force: true });
        }
    }
}

(async function loop() {
    for (;;) {
        try {
            await tick();
        } catch (e) {
            console.error(new Date().toISOString(), e.message ?? e);
        }
        await new Promise((r) => setTimeout(r, 500));
    }
})();
