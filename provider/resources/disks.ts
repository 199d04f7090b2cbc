/** The disks of an instance: the OS disk (home, installed packages) and the temp disk (/mnt). */
import { z } from "zod";
import { InstanceRef } from "../backends/backend";
import { growOnly } from "../changes";
import { DEFAULT_OS_DISK_GB, diskSizeGb, nameSchema, sizeSchema } from "../spec/schema";
import { DEFAULT_SIZE_NAME } from "../spec/sizes";
import { Props, ResourceKind, backendOf, checkWith, wiringFields, wiringRules } from "./kind";

const instanceRef = (p: Props): InstanceRef => ({ workspace: p.workspace as string, owner: p.owner as string, instance: p.instance as string });

function diskKind(kind: "os" | "temp", schema: z.ZodType, userPrefix: string): ResourceKind {
    return {
        check: (news) => checkWith(schema, news, { sizeGb: `${userPrefix}.sizeGb`, size: "size" }),
        rules: () => ({
            ...wiringRules,
            // The disk outlives a rename: the new name only relabels it in the state.
            instance: "live",
            // OS disk: growing is recorded in place, shrinking is a reimage (the data might not fit).
            // Temp disk: scratch, so any size applies at the next start.
            sizeGb: kind === "os" ? growOnly : "live",
            reimage: "replace",
        }),
        async create(inputs) {
            const disk = await backendOf(inputs).createDisk(instanceRef(inputs), kind, inputs.sizeGb as number);
            return { id: disk.name, outs: { ...inputs, volumeName: disk.name } };
        },
        async read(id, props) {
            return (await backendOf(props).readDisk(id)) ? props : undefined;
        },
        async update(_id, olds, news) {
            return { ...olds, ...news };
        },
        async delete(id, props) {
            await backendOf(props).deleteDisk(id);
        },
    };
}

const diskWiring = { ...wiringFields, instance: nameSchema };

/** An explicit reimage: any new value replaces the OS disk with a fresh one. */
const reimageField = z.union([z.string(), z.number()]).optional();

export const osDisk = diskKind(
    "os",
    z.object({ ...diskWiring, sizeGb: diskSizeGb.default(DEFAULT_OS_DISK_GB), reimage: reimageField }),
    "osDisk",
);

/** The temp disk's size defaults from the instance size, so the program passes the size along. */
export const tempDisk = diskKind(
    "temp",
    z
        .object({ ...diskWiring, size: sizeSchema.prefault(DEFAULT_SIZE_NAME), sizeGb: diskSizeGb.optional() })
        .transform(({ size, sizeGb, ...rest }) => ({ ...rest, sizeGb: sizeGb ?? size.tempDiskGb })),
    "tempDisk",
);
