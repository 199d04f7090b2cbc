/** What every backend lays out the same way: paths inside an instance, label names. */

/** The instance user of the default image (Azure's compute instances use `azureuser` too). */
export const INSTANCE_USER = "azureuser";
export const HOME_DIR = `/home/${INSTANCE_USER}`;
/** Where Azure mounts the workspace file share; Jupyter's working directory. */
export const USER_FILES_DIR = `${HOME_DIR}/cloudfiles/code`;
export const TEMP_DISK_DIR = "/mnt";

export const LABEL_PREFIX = "compute-instance.pulumi.io";
export const MANAGED_BY = "pulumi-compute-instance";

export type Component = "runtime" | "os-disk" | "temp-disk" | "user-files" | "network";
