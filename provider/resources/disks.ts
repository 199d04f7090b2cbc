/** The disks of an instance: the OS disk (home, installed packages) and the temp disk (/mnt). */
import { z } from "zod";
import { InstanceRef } from "../backends/backend";
import { classify, growOnly } from "../changes";
import { containsUnknown } from "../model/validate";
import { DEFAULT_OS_DISK_GB, diskSizeGb, nameSchema, sizeSchema } from "../model/schema";
import { DEFAULT_SIZE_NAME } from "../model/sizes";
import { AssignedUser, assignedUserSchema } from "../model/access";
import { assignedUserLabels } from "../backends/layout";
import { Props, ResourceKind, backendOf, checkWith, wiringFields, wiringRules } from "./kind";

const instanceRef = (p: Props): InstanceRef => ({
    workspace: p.workspace as string,
    owner: p.owner as string,
    instance: p.instance as string,
});

function diskKind(kind: "os" | "temp", schema: z.ZodType, userPrefix: string): ResourceKind {
    const self: ResourceKind = {
        /**
         * The volume's name is chosen here, at preview, so dependents see it before the disk
         * exists, and a live change of the disk never shows as a change of its name: the old
         * name is kept unless the change replaces the disk.
         */
        async check(news, olds) {
            const outcome = await checkWith(schema, news, { sizeGb: `${userPrefix}.sizeGb`, size: "size" });
            const i = outcome.inputs;
            if (
                outcome.problems.length ||
                containsUnknown(i) ||
                !(i.backend && typeof i.backend === "object" && "kind" in i.backend)
            )
                return outcome;
            const previous = typeof olds.volumeName === "string" ? olds.volumeName : undefined;
            const replaced =
                !previous || classify(self.rules(i, olds), olds, { ...i, volumeName: previous }).replaces.length > 0;
            return {
                ...outcome,
                inputs: { ...i, volumeName: replaced ? backendOf(i).newDiskName(instanceRef(i), kind) : previous },
            };
        },
        rules: () => ({
            ...wiringRules,
            // The disk outlives a rename: the new name only relabels it in the state.
            instance: "live",
            // OS disk: growing is recorded in place, shrinking is a reimage (the data might not fit).
            // Temp disk: scratch, so any size applies at the next start.
            sizeGb: kind === "os" ? growOnly : "live",
            reimage: "replace",
            volumeName: "replace",
            // Recorded on the disk when it is made: whose home it is. A new assignee does not
            // move anyone's files (and disk labels cannot change on Docker).
            assignedUser: "ignore",
        }),
        async create(inputs) {
            const labels = assignedUserLabels({ assignedUser: inputs.assignedUser as AssignedUser | undefined });
            const disk = await backendOf(inputs).createDisk(
                instanceRef(inputs),
                kind,
                inputs.sizeGb as number,
                inputs.volumeName as string,
                labels,
            );
            return { id: disk.name, outs: inputs };
        },
        async read(id, props) {
            return (await backendOf(props).readDisk(id)) ? props : undefined;
        },
        async update(id, olds, news) {
            if (olds.sizeGb !== news.sizeGb) await backendOf(news).resizeDisk(id, news.sizeGb as number);
            return { ...olds, ...news };
        },
        async delete(id, props) {
            await backendOf(props).deleteDisk(id);
        },
    };
    return self;
}

const diskWiring = { ...wiringFields, instance: nameSchema };

/** An explicit reimage: any new value replaces the OS disk with a fresh one. */
const reimageField = z.union([z.string(), z.number()]).optional();

export const osDisk = diskKind(
    "os",
    z.object({
        ...diskWiring,
        sizeGb: diskSizeGb.default(DEFAULT_OS_DISK_GB),
        reimage: reimageField,
        assignedUser: assignedUserSchema.optional(),
    }),
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
