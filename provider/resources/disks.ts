/** The disks of an instance: the OS disk (home, installed packages) and the temp disk (/mnt). */
import { z } from "zod";
import type { InstanceRef } from "../backends/backend";
import { FieldRules, classify, growOnly } from "../changes";
import { containsUnknown } from "../model/validate";
import { BackendSpec } from "../model/backendSchema";
import { DEFAULT_OS_DISK_GB, diskSizeGb, nameSchema } from "../model/fields";
import { sizeSchema } from "../model/schema";
import { DEFAULT_SIZE_NAME } from "../model/sizes";
import { AssignedUser, assignedUserSchema } from "../model/access";
import { assignedUserLabels } from "../backends/layout";
import { Props, uses, wiringFields, wiringRules } from "./kind";
import { CheckAdds, defineKind, fields } from "./defineKind";

const backendOf = uses("disks");

/** Which of the instance's disks: the backends name and label them by it. */
type DiskRole = "os" | "temp";

/** What both disks' inputs have. */
type Disk = InstanceRef & {
    backend: BackendSpec;
    sizeGb: number;
    assignedUser?: AssignedUser;
};
type NamedDisk = Disk & { volumeName: string };

const diskWiring = { ...wiringFields, instance: nameSchema };

/** An explicit reimage: any new value replaces the OS disk with a fresh one. */
const reimageField = z.union([z.string(), z.number()]).optional();

/** The backend's name of the disk: chosen by the check. */
const volumeName = fields<{ volumeName: string }>({ volumeName: true });

const sharedRules = {
    ...wiringRules,
    // The disk outlives a rename: the new name only relabels it in the state.
    instance: "live",
    volumeName: "replace",
} as const;

/**
 * The volume's name is chosen here, at preview, so dependents see it before the disk exists, and
 * a live change of the disk never shows as a change of its name: the old name is kept unless the
 * change replaces the disk.
 */
async function nameVolume(
    role: DiskRole,
    rules: FieldRules,
    inputs: Disk,
    olds: Props,
): Promise<CheckAdds<{ volumeName: string }>> {
    if (containsUnknown(inputs)) return {};
    const previous = typeof olds.volumeName === "string" ? olds.volumeName : undefined;
    const replaced = !previous || classify(rules, olds, { ...inputs, volumeName: previous }).replaces.length > 0;
    const ref: InstanceRef = { workspace: inputs.workspace, owner: inputs.owner, instance: inputs.instance };
    return { derived: { volumeName: replaced ? backendOf(inputs).newDiskName(ref, role) : previous } };
}

/** Create, read, update and delete, alike for both disks. */
function diskLifecycle(role: DiskRole) {
    return {
        async create<I extends NamedDisk>(inputs: I) {
            const labels = assignedUserLabels({ assignedUser: inputs.assignedUser });
            const ref: InstanceRef = { workspace: inputs.workspace, owner: inputs.owner, instance: inputs.instance };
            const disk = await backendOf(inputs).createDisk(ref, role, inputs.sizeGb, inputs.volumeName, labels);
            return { id: disk.name, outs: inputs };
        },
        async read<I extends Disk>(id: string, state: I) {
            return (await backendOf(state).readDisk(id)) ? state : undefined;
        },
        async update<I extends Disk, N extends Disk>(id: string, olds: I, news: N) {
            if (olds.sizeGb !== news.sizeGb) await backendOf(news).resizeDisk(id, news.sizeGb);
            return { ...olds, ...news };
        },
        async delete(id: string, state: Disk) {
            await backendOf(state).deleteDisk(id);
        },
    };
}

const osDiskRules = {
    ...sharedRules,
    // Growing is recorded in place, shrinking is a reimage (the data might not fit).
    sizeGb: growOnly,
    reimage: "replace",
    // Recorded on the disk when it is made: whose home it is. A new assignee does not move
    // anyone's files (and disk labels cannot change on Docker).
    assignedUser: "ignore",
} as const;

export const osDisk = defineKind({
    type: "OsDisk",
    backend: backendOf,
    inputs: z.object({
        ...diskWiring,
        sizeGb: diskSizeGb.default(DEFAULT_OS_DISK_GB),
        reimage: reimageField,
        assignedUser: assignedUserSchema.optional(),
    }),
    derived: volumeName,
    outputs: volumeName,
    userPaths: { sizeGb: "osDisk.sizeGb" },
    rules: () => osDiskRules,
    check: (inputs, olds) => nameVolume("os", osDiskRules, inputs, olds),
    ...diskLifecycle("os"),
});

// Scratch: any size applies at the next start.
const tempDiskRules = { ...sharedRules, sizeGb: "live" } as const;

export const tempDisk = defineKind({
    type: "TempDisk",
    // The size defaults from the instance size, so the program passes the size along.
    backend: backendOf,
    inputs: z
        .object({ ...diskWiring, size: sizeSchema.prefault(DEFAULT_SIZE_NAME), sizeGb: diskSizeGb.optional() })
        .transform(({ size, sizeGb, ...rest }) => ({ ...rest, sizeGb: sizeGb ?? size.tempDiskGb })),
    derived: volumeName,
    outputs: fields<{ volumeName: string; sizeGb: number }>({ volumeName: true, sizeGb: true }),
    userPaths: { sizeGb: "tempDisk.sizeGb" },
    rules: () => tempDiskRules,
    check: (inputs, olds) => nameVolume("temp", tempDiskRules, inputs, olds),
    ...diskLifecycle("temp"),
});
