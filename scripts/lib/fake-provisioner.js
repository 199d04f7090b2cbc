#!/usr/bin/env node
// The local test cluster's storage (scripts/cluster): provisions a PersistentVolume for every
// pending claim of the "standard" class, grows volumes when claims grow, and deletes released
// volumes. The volumes are never mounted (kwok's pods do not run); claims bind as on a real cluster.
const k8s = require("@kubernetes/client-node");

const PROVISIONER = "compute-instance.pulumi.io/fake";
const kc = new k8s.KubeConfig();
kc.loadFromFile(process.argv[2]);
const core = kc.makeApiClient(k8s.CoreV1Api);
const mergePatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

async function tick() {
    const [claims, volumes] = await Promise.all([core.listPersistentVolumeClaimForAllNamespaces(), core.listPersistentVolume()]);
    const byClaim = new Map(volumes.items.map((v) => [v.spec?.claimRef?.uid, v]));
    for (const c of claims.items) {
        const cls = c.spec?.storageClassName ?? "standard";
        if (cls !== "standard") continue;
        const want = c.spec?.resources?.requests?.storage;
        const pv = byClaim.get(c.metadata.uid);
        if (!pv && c.status?.phase === "Pending") {
            await core.createPersistentVolume({
                body: {
                    metadata: { name: `pv-${c.metadata.uid}`, annotations: { "pv.kubernetes.io/provisioned-by": PROVISIONER } },
                    spec: {
                        capacity: { storage: want },
                        accessModes: c.spec.accessModes,
                        persistentVolumeReclaimPolicy: "Delete",
                        storageClassName: "standard",
                        claimRef: { namespace: c.metadata.namespace, name: c.metadata.name, uid: c.metadata.uid },
                        hostPath: { path: `/var/tmp/ci-fake-pv/${c.metadata.uid}` },
                    },
                },
            }).catch((e) => { if (e.code !== 409) throw e; });
        } else if (pv && c.status?.phase === "Bound" && want && c.status?.capacity?.storage !== want) {
            // Resize, as an external resizer does: the volume, then the claim's status.
            await core.patchPersistentVolume({ name: pv.metadata.name, body: { spec: { capacity: { storage: want } } } }, mergePatch);
            await core.patchNamespacedPersistentVolumeClaimStatus({ name: c.metadata.name, namespace: c.metadata.namespace, body: { status: { capacity: { storage: want } } } }, mergePatch);
        }
    }
    for (const v of volumes.items) {
        if (v.status?.phase === "Released" && v.metadata.annotations?.["pv.kubernetes.io/provisioned-by"] === PROVISIONER) {
            await core.deletePersistentVolume({ name: v.metadata.name }).catch(() => undefined);
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
