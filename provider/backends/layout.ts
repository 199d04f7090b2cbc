/** What every backend lays out the same way: paths inside an instance, label names. */
import { createHash } from "crypto";
import { parseStoredJson } from "../model/agentProtocol";

/** The instance user of the default image (Azure's compute instances use `azureuser` too). */
export const INSTANCE_USER = "azureuser";
/** Its uid and gid: what the instance user's files are owned by, whatever the image. */
export const INSTANCE_UID = 1000;
export const HOME_DIR = `/home/${INSTANCE_USER}`;
/** Where Azure mounts the workspace file share; Jupyter's working directory. */
export const USER_FILES_DIR = `${HOME_DIR}/cloudfiles/code`;
export const TEMP_DISK_DIR = "/mnt";

export const LABEL_PREFIX = "compute-instance.pulumi.io";
export const MANAGED_BY = "pulumi-compute-instance";

export type Component =
    | "runtime"
    | "os-disk"
    | "temp-disk"
    | "user-files"
    | "user-files-reference"
    | "network"
    | "agent"
    | "application"
    | "job";

/**
 * The labels every object of every backend gets: the `app.kubernetes.io/*` set plus the workspace,
 * for lookups. The owner (`project/stack`) is a label on Docker and an annotation on Kubernetes,
 * where it is not a valid label value.
 */
export function objectLabels(
    ref: { workspace: string; instance?: string },
    component: Component,
): Record<string, string> {
    return {
        "app.kubernetes.io/name": "compute-instance",
        ...(ref.instance ? { "app.kubernetes.io/instance": ref.instance } : {}),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": ref.workspace,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        [`${LABEL_PREFIX}/workspace`]: ref.workspace,
    };
}

/** A short, stable key for a stack's `project/stack` name, for object names and annotation keys. */
export function ownerKey(owner: string): string {
    return createHash("sha256").update(owner).digest("hex").slice(0, 10);
}

/** Where the workspace agent keeps its policies and memory (a volume on Docker). */
export const AGENT_STATE_DIR = "/var/lib/compute-instance-agent";
/** What the backends read back from the store's text; see ../model/agentProtocol.ts. */
export { parseStoredJson };

/** Who an instance is for, as labels (the creator is the owner label: the stack that made it). */
export function assignedUserLabels(spec: { assignedUser?: { name: string; id?: string } }): Record<string, string> {
    const u = spec.assignedUser;
    if (!u) return {};
    return {
        [`${LABEL_PREFIX}/assigned-user`]: u.name,
        ...(u.id ? { [`${LABEL_PREFIX}/assigned-user-id`]: u.id } : {}),
    };
}

/** Where an instance finds its access token (image contract 3); rewritten in place when it changes. */
export const TOKEN_DIR = "/etc/compute-instance/auth";
export const TOKEN_FILE = `${TOKEN_DIR}/token`;
/** The label an image declares the contract it keeps with (images/README.md) in. */
export const IMAGE_CONTRACT_LABEL = "io.pulumi-compute-instance.image-contract";
/** The first contract whose images read the token from {@link TOKEN_FILE} and take a new one live. */
export const LIVE_TOKEN_CONTRACT = 3;
