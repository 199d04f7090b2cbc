/**
 * The input schemas: the single source of truth for what users may write, the defaults, and the
 * normalised specs the providers work from. Pure: no I/O, so every rule is unit-tested.
 */
import { z } from "zod";
import { assignedUserSchema, sshSchema } from "./access";
import { labelsSchema } from "./labels";
import { DEFAULT_SIZE_NAME, defaultTempDiskGb, findSize, sizeNames } from "./sizes";
import { APPLICATIONS, DEFAULT_APPLICATIONS, customApplicationsSchema } from "./applications";
import { backendSchema } from "./backendSchema";
import { DEFAULT_READY_TIMEOUT_SECONDS } from "./defaults";
import {
    DEFAULT_OS_DISK_GB,
    DEFAULT_USER_FILES_GB,
    diskSizeGb,
    durationSeconds,
    forward,
    nameSchema,
    reservedEnvProblem,
} from "./fields";
import { instanceNetworkSchema } from "./instanceNetwork";

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

// ---------------------------------------------------------------------------------------------
// Workspace

export function workspaceSchema(defaults: { dockerHost: string }) {
    return z.strictObject({
        name: nameSchema,
        backend: backendSchema(defaults),
        userFiles: z
            .strictObject({
                retainOnDelete: z.boolean().default(true),
                sizeGb: diskSizeGb.default(DEFAULT_USER_FILES_GB),
            })
            .default({ retainOnDelete: true, sizeGb: DEFAULT_USER_FILES_GB }),
        image: z.string().min(1).optional(),
    });
}
export type WorkspaceInput = z.input<ReturnType<typeof workspaceSchema>>;
export type WorkspaceSpec = z.output<ReturnType<typeof workspaceSchema>>;

// ---------------------------------------------------------------------------------------------
// Instance

export interface ResolvedSize {
    /** Canonical catalog name, or "custom" for `{ cpus, memoryGb }`. */
    name: string;
    cpus: number;
    memoryGb: number;
    gpus: number;
    /** Temp disk the size comes with, GiB. */
    tempDiskGb: number;
}

const customSize = z.strictObject({
    cpus: z
        .number({ message: "must be a number of vCPUs" })
        .gt(0, { message: "must be more than 0" })
        .max(512, { message: "must be at most 512" }),
    memoryGb: z
        .number({ message: "must be a number of GiB" })
        .min(1, { message: "must be at least 1 GiB" })
        .max(12288, { message: "must be at most 12288 GiB" }),
    gpus: z
        .number()
        .int({ message: "must be a whole number" })
        .min(0, { message: "must be 0 or more" })
        .max(16, { message: "must be at most 16" })
        .default(0),
});

export const sizeSchema = z.unknown().transform((v, ctx): ResolvedSize => {
    if (typeof v === "string") {
        const found = findSize(v);
        if (!found) {
            ctx.addIssue({
                code: "custom",
                message: `unknown size "${v}"; allowed: ${sizeNames().join(", ")}, or { cpus, memoryGb, gpus? }`,
            });
            return z.NEVER;
        }
        return {
            name: found.name,
            cpus: found.cpus,
            memoryGb: found.memoryGb,
            gpus: found.gpus,
            tempDiskGb: found.tempDiskGb,
        };
    }
    const r = customSize.safeParse(v);
    if (!r.success) {
        if (typeof v !== "object" || v === null) {
            ctx.addIssue({
                code: "custom",
                message: `must be a size name (e.g. "${DEFAULT_SIZE_NAME}") or { cpus, memoryGb, gpus? }`,
            });
            return z.NEVER;
        }
        return forward(ctx, r.error, []);
    }
    return { name: "custom", ...r.data, tempDiskGb: defaultTempDiskGb(r.data.memoryGb) };
});

export const instanceFields = {
    name: nameSchema,
    size: sizeSchema.prefault(DEFAULT_SIZE_NAME),
    image: z.string().min(1, { message: "must not be empty" }).optional(),
    applications: z
        .array(z.enum(APPLICATIONS, { message: "unknown application (others go in customApplications)" }))
        .min(1, { message: `must list at least one application; allowed: ${APPLICATIONS.join(", ")}` })
        .refine((a) => new Set(a).size === a.length, { message: "lists an application twice" })
        .refine((a) => !a.includes("terminal") || a.includes("jupyterlab") || a.includes("jupyter"), {
            message: '"terminal" is JupyterLab\'s or the notebook\'s terminal: list "jupyterlab" or "jupyter" too',
        })
        .default([...DEFAULT_APPLICATIONS]),
    customApplications: customApplicationsSchema.default([]),
    env: z
        .record(
            z
                .string()
                .regex(envName, { message: "must be an environment variable name (letters, digits, '_')" })
                .superRefine((k, ctx) => {
                    const problem = reservedEnvProblem(k);
                    if (problem) ctx.addIssue({ code: "custom", message: problem });
                }),
            z.string({ message: "must be a string" }),
        )
        .default({}),
    readyTimeout: durationSeconds(10).default(DEFAULT_READY_TIMEOUT_SECONDS),
    ssh: sshSchema.prefault({ enabled: false }),
    assignedUser: assignedUserSchema.optional(),
    network: instanceNetworkSchema.optional(),
    labels: labelsSchema.optional(),
};

export const instanceSchema = z
    .strictObject({
        ...instanceFields,
        osDisk: z
            .strictObject({ sizeGb: diskSizeGb.default(DEFAULT_OS_DISK_GB) })
            .default({ sizeGb: DEFAULT_OS_DISK_GB }),
        tempDisk: z.strictObject({ sizeGb: diskSizeGb.optional() }).default({}),
    })
    .transform((i) => ({
        name: i.name,
        size: i.size,
        image: i.image,
        applications: i.applications,
        osDiskGb: i.osDisk.sizeGb,
        tempDiskGb: i.tempDisk.sizeGb ?? i.size.tempDiskGb,
        env: i.env,
        readyTimeoutSeconds: i.readyTimeout,
        ssh: i.ssh,
        assignedUser: i.assignedUser,
        network: i.network,
        labels: i.labels,
        customApplications: i.customApplications,
    }));

export type InstanceInput = z.input<typeof instanceSchema>;
export type InstanceSpec = z.output<typeof instanceSchema>;
