/**
 * The size catalog: Azure VM size names with the vCPU, memory and temporary-disk figures Azure
 * publishes for them, so a stack written for Azure ML reads the same here. Names are matched
 * case-insensitively (as Azure does) and reported in their canonical spelling.
 */

export interface SizeFigures {
    /** Canonical Azure name, e.g. `Standard_DS3_v2`. */
    readonly name: string;
    /** Azure VM family, the unit Azure counts quota in. */
    readonly family: string;
    readonly cpus: number;
    /** GiB of memory. */
    readonly memoryGb: number;
    /** GiB of temporary disk (mounted at /mnt). */
    readonly tempDiskGb: number;
    readonly gpus: number;
    /** GPU model, for sizes that have GPUs. */
    readonly gpuModel?: string;
}

function size(
    name: string,
    family: string,
    cpus: number,
    memoryGb: number,
    tempDiskGb: number,
    gpus = 0,
    gpuModel?: string,
): SizeFigures {
    return { name, family, cpus, memoryGb, tempDiskGb, gpus, ...(gpuModel ? { gpuModel } : {}) };
}

/** Published figures (learn.microsoft.com, "Sizes for virtual machines in Azure"). */
export const SIZE_CATALOG: readonly SizeFigures[] = [
    size("Standard_DS1_v2", "standardDSv2Family", 1, 3.5, 7),
    size("Standard_DS2_v2", "standardDSv2Family", 2, 7, 14),
    size("Standard_DS3_v2", "standardDSv2Family", 4, 14, 28),
    size("Standard_DS4_v2", "standardDSv2Family", 8, 28, 56),
    size("Standard_DS5_v2", "standardDSv2Family", 16, 56, 112),
    size("Standard_DS11_v2", "standardDSv2Family", 2, 14, 28),
    size("Standard_DS12_v2", "standardDSv2Family", 4, 28, 56),
    size("Standard_DS13_v2", "standardDSv2Family", 8, 56, 112),
    size("Standard_DS14_v2", "standardDSv2Family", 16, 112, 224),
    size("Standard_D2s_v3", "standardDSv3Family", 2, 8, 16),
    size("Standard_D4s_v3", "standardDSv3Family", 4, 16, 32),
    size("Standard_D8s_v3", "standardDSv3Family", 8, 32, 64),
    size("Standard_D16s_v3", "standardDSv3Family", 16, 64, 128),
    size("Standard_E4s_v3", "standardESv3Family", 4, 32, 64),
    size("Standard_E8s_v3", "standardESv3Family", 8, 64, 128),
    size("Standard_E16s_v3", "standardESv3Family", 16, 128, 256),
    size("Standard_F4s_v2", "standardFSv2Family", 4, 8, 32),
    size("Standard_F8s_v2", "standardFSv2Family", 8, 16, 64),
    size("Standard_F16s_v2", "standardFSv2Family", 16, 32, 128),
    size("Standard_NC6s_v3", "standardNCSv3Family", 6, 112, 736, 1, "NVIDIA V100"),
    size("Standard_NC12s_v3", "standardNCSv3Family", 12, 224, 1474, 2, "NVIDIA V100"),
    size("Standard_NC24s_v3", "standardNCSv3Family", 24, 448, 2948, 4, "NVIDIA V100"),
    size("Standard_NC4as_T4_v3", "standardNCASv3_T4Family", 4, 28, 180, 1, "NVIDIA T4"),
    size("Standard_NC8as_T4_v3", "standardNCASv3_T4Family", 8, 56, 360, 1, "NVIDIA T4"),
    size("Standard_NC16as_T4_v3", "standardNCASv3_T4Family", 16, 110, 360, 1, "NVIDIA T4"),
    size("Standard_NC64as_T4_v3", "standardNCASv3_T4Family", 64, 440, 2880, 4, "NVIDIA T4"),
    size("Standard_NC24ads_A100_v4", "standardNCADSA100v4Family", 24, 220, 64, 1, "NVIDIA A100 80GB"),
    size("Standard_ND96asr_v4", "standardNDASv4_A100Family", 96, 900, 6000, 8, "NVIDIA A100 40GB"),
];

/** The size an instance gets when none is given, as in Azure ML. */
export const DEFAULT_SIZE_NAME = "Standard_DS3_v2";

const byLowerName = new Map(SIZE_CATALOG.map((s) => [s.name.toLowerCase(), s]));

/** Looks a size up by name, ignoring case; undefined when the catalog has no such size. */
export function findSize(name: string): SizeFigures | undefined {
    return byLowerName.get(name.trim().toLowerCase());
}

export function sizeNames(): string[] {
    return SIZE_CATALOG.map((s) => s.name);
}

/** For a custom size, the temp disk defaults to twice the memory, the ratio of the general-purpose sizes. */
export function defaultTempDiskGb(memoryGb: number): number {
    return Math.max(1, Math.round(memoryGb * 2));
}
