/**
 * Claims: the workspace's user files (shared by its stacks, each recorded on it) and the
 * instances' OS disks (the temp disk is an emptyDir of the pod).
 */
import { randomBytes } from "crypto";
import {
    BackendError,
    DiskRole,
    DiskState,
    InstanceRef,
    Ownership,
    UserFilesClaim,
    UserFilesRelease,
} from "../backend";
import { LABEL_PREFIX, ownerKey } from "../layout";
import { KubeClient, ignoreNotFound, reason } from "./client";
import { pvcManifest } from "./manifests";
import { parseMemoryGb } from "./quantity";
import { deleteRuntime, listRuntimes } from "./runtime";
import { ensureNamespace } from "./workspaceObjects";

/** Annotations on a user-files claim naming the stacks that adopted it, one per stack. */
const USER_FILES_REFERENCE_PREFIX = `${LABEL_PREFIX}/used-by-`;
const userFilesReference = (owner: string) => `${USER_FILES_REFERENCE_PREFIX}${ownerKey(owner)}`;

function readClaim(kube: KubeClient, name: string) {
    return ignoreNotFound(kube.core.readNamespacedPersistentVolumeClaim({ name, namespace: kube.ns }));
}

/** The temp disk is an emptyDir of the pod: its name stands for nothing on the cluster. */
function isTempDisk(name: string): boolean {
    return /-temp-[0-9a-f]+$/.test(name);
}

export function userFilesName(workspace: string): string {
    return `ci-${workspace}-userfiles`;
}

export function newDiskName(ref: InstanceRef, role: DiskRole): string {
    return `ci-${ref.workspace}-${ref.instance}-${role}-${randomBytes(3).toString("hex")}`;
}

export async function createUserFiles(
    kube: KubeClient,
    ref: Ownership,
    name: string,
    sizeGb: number,
): Promise<UserFilesClaim> {
    await ensureNamespace(kube);
    const existing = await readClaim(kube, name);
    if (existing) {
        if (existing.metadata?.labels?.[`${LABEL_PREFIX}/workspace`] !== ref.workspace) {
            throw new BackendError(
                `claim "${name}" exists in namespace ${kube.ns} but is not the user files of workspace "${ref.workspace}"; remove or rename it`,
            );
        }
        const createdBy = existing.metadata?.annotations?.[`${LABEL_PREFIX}/owner`];
        await referenceUserFiles(kube, ref, name);
        if (createdBy === ref.owner) return { adopted: false, createdBy };
        return { adopted: true, ...(createdBy ? { createdBy } : {}) };
    }
    await kube.applyAll(
        [
            pvcManifest({
                name,
                namespace: kube.ns,
                ref,
                component: "user-files",
                sizeGb,
                accessMode: "ReadWriteMany",
                storageClass: kube.target.storageClass,
            }),
        ],
        "creating the user files",
    );
    await referenceUserFiles(kube, ref, name);
    return { adopted: false, createdBy: ref.owner };
}

/** The stacks whose workspace uses a claim are annotations on it: each adds and removes its own. */
async function referenceUserFiles(kube: KubeClient, ref: Ownership, name: string): Promise<void> {
    await kube.patchFields({
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name, namespace: kube.ns, annotations: { [userFilesReference(ref.owner)]: ref.owner } },
    });
}

export async function userFilesUsers(kube: KubeClient, name: string): Promise<string[]> {
    const pvc = await readClaim(kube, name);
    return Object.entries(pvc?.metadata?.annotations ?? {})
        .filter(([k, v]) => k.startsWith(USER_FILES_REFERENCE_PREFIX) && v)
        .map(([, v]) => v);
}

export async function userFilesExists(kube: KubeClient, name: string): Promise<boolean> {
    return (await readClaim(kube, name)) !== undefined;
}

export async function releaseUserFiles(
    kube: KubeClient,
    ref: Ownership,
    name: string,
    deleteIfUnused: boolean,
): Promise<UserFilesRelease> {
    const pvc = await readClaim(kube, name);
    if (!pvc) return { deleted: false };
    const mine = userFilesReference(ref.owner);
    if (pvc.metadata?.annotations?.[mine] !== undefined) {
        await kube.patchFields({
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: { name, namespace: kube.ns, annotations: { [mine]: null as unknown as string } },
        });
    }
    if (!deleteIfUnused) return { deleted: false };
    const stacks = Object.entries(pvc.metadata?.annotations ?? {})
        .filter(([k, v]) => k.startsWith(USER_FILES_REFERENCE_PREFIX) && k !== mine && v && v !== ref.owner)
        .map(([, v]) => `stack ${v}`);
    // A claim deleted while a pod mounts it only waits (pvc-protection), and goes when the pod does.
    const pods = (await kube.core.listNamespacedPod({ namespace: kube.ns })).items
        .filter((p) => p.spec?.volumes?.some((v) => v.persistentVolumeClaim?.claimName === name))
        .map((p) => `pod ${p.metadata?.name}`);
    const users = [...stacks, ...pods];
    if (users.length) return { deleted: false, keptFor: `used by ${users.join(", ")}` };
    await ignoreNotFound(kube.core.deleteNamespacedPersistentVolumeClaim({ name, namespace: kube.ns }));
    return { deleted: true };
}

export async function createDisk(
    kube: KubeClient,
    ref: InstanceRef,
    role: DiskRole,
    sizeGb: number,
    name: string,
    labels: Record<string, string> = {},
): Promise<DiskState> {
    // The temp disk is an emptyDir in the pod: nothing exists apart from the pod.
    if (role === "os") {
        await ensureNamespace(kube);
        await kube.applyAll(
            [
                pvcManifest({
                    name,
                    namespace: kube.ns,
                    ref,
                    component: "os-disk",
                    sizeGb,
                    accessMode: "ReadWriteOnce",
                    storageClass: kube.target.storageClass,
                    labels,
                }),
            ],
            "creating the OS disk",
        );
    }
    return { name, sizeGb };
}

export async function readDisk(kube: KubeClient, name: string): Promise<DiskState | undefined> {
    if (isTempDisk(name)) return { name, sizeGb: 0 };
    const pvc = await readClaim(kube, name);
    if (!pvc) return undefined;
    return { name, sizeGb: parseMemoryGb(pvc.spec?.resources?.requests?.storage ?? "0") };
}

export async function resizeDisk(kube: KubeClient, name: string, sizeGb: number): Promise<void> {
    if (isTempDisk(name)) return;
    const pvc = await readClaim(kube, name);
    if (!pvc) throw new BackendError(`OS disk ${name} is gone from the ${kube.description}; run \`pulumi refresh\``);
    try {
        await kube.patchFields({
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: { name, namespace: kube.ns, annotations: { [`${LABEL_PREFIX}/size-gb`]: String(sizeGb) } },
            spec: { resources: { requests: { storage: `${sizeGb}Gi` } } },
        });
    } catch (e) {
        throw new BackendError(
            `could not grow OS disk ${name} to ${sizeGb} GiB: ${reason(e)} (the storage class must allow volume expansion)`,
        );
    }
}

export async function deleteDisk(kube: KubeClient, name: string): Promise<void> {
    if (isTempDisk(name)) return;
    await removeOrphanRuntimes(kube, name);
    await ignoreNotFound(kube.core.deleteNamespacedPersistentVolumeClaim({ name, namespace: kube.ns }));
    // The claim lingers while a pod still uses it (pvc-protection): wait, as Docker's volume removal does.
    await kube.waitUntilGone(name, "claim", () => readClaim(kube, name), 60);
}

/**
 * The runtimes of the claim's own stack that still mount it: a create that died midway left
 * them out of the state. The disk's runtime in the state is deleted before the disk; these
 * never would be, and their pod would hold the claim (pvc-protection) for good.
 */
async function removeOrphanRuntimes(kube: KubeClient, claim: string): Promise<void> {
    const pvc = await readClaim(kube, claim);
    const owner = pvc?.metadata?.annotations?.[`${LABEL_PREFIX}/owner`];
    const workspace = pvc?.metadata?.labels?.[`${LABEL_PREFIX}/workspace`];
    if (!owner || !workspace) return;
    for (const s of await listRuntimes(kube, workspace)) {
        const mounts = s.spec?.template?.spec?.volumes?.some((v) => v.persistentVolumeClaim?.claimName === claim);
        if (mounts && s.metadata?.annotations?.[`${LABEL_PREFIX}/owner`] === owner && s.metadata.name)
            await deleteRuntime(kube, s.metadata.name);
    }
}
