/**
 * The input schemas: the single source of truth for what users may write, the defaults, and the
 * normalised specs the providers work from. Pure: no I/O, so every rule is unit-tested.
 */
import { z } from "zod";
import { parseDurationSeconds } from "./duration";
import { assignedUserSchema, cidrSchema, sshSchema } from "./access";
import { labelsSchema } from "./labels";
import { SERVICES, ServiceName, serviceOfApplication } from "./endpoints";
import { DEFAULT_SIZE_NAME, defaultTempDiskGb, findSize, sizeNames } from "./sizes";

/**
 * Applications served from an instance, all through its one Jupyter server and its token:
 * JupyterLab and the classic notebook (extensions of the server), JupyterLab's terminal, and VS
 * Code in the browser (code-server behind jupyter-server-proxy, in the image's vscode variant).
 */
export const APPLICATIONS = ["jupyterlab", "jupyter", "terminal", "vscode"] as const;
export type Application = (typeof APPLICATIONS)[number];
export const DEFAULT_APPLICATIONS: readonly Application[] = ["jupyterlab", "jupyter", "terminal"];

/** Paths of the Jupyter server (and names of ours) a custom application may not take. */
export const RESERVED_APPLICATION_NAMES = [
    ...APPLICATIONS,
    "ssh",
    "lab",
    "tree",
    "notebooks",
    "edit",
    "view",
    "terminals",
    "api",
    "files",
    "static",
    "custom",
    "login",
    "logout",
    "kernelspecs",
    "nbconvert",
    "proxy",
    "server-proxy",
    "nbextensions",
    "metrics",
    "extensions",
] as const;
export const MAX_CUSTOM_APPLICATIONS = 8;

/** A custom application (Azure: customServices): served at /<name>/ through Jupyter, under its token. */
export const customApplicationSchema = z
    .strictObject({
        name: z
            .string()
            .regex(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$/, {
                message: "must be 2 to 32 lowercase letters, digits and '-', starting with a letter",
            })
            .refine((n) => !(RESERVED_APPLICATION_NAMES as readonly string[]).includes(n), {
                message: `is taken by the instance itself; reserved: ${RESERVED_APPLICATION_NAMES.join(", ")}`,
            }),
        port: z
            .number({ message: "must be a port number" })
            .int({ message: "must be a whole number" })
            .min(1024, { message: "must be 1024 to 65535 (the application runs unprivileged)" })
            .max(65535, { message: "must be 1024 to 65535" })
            .refine((p) => p !== 8888 && p !== 2222, { message: "is taken by the instance (8888 Jupyter, 2222 SSH)" }),
        /** A shell command run in the instance, as its user, on the first request (PORT is set). */
        command: z.string().min(1, { message: "must not be empty" }).optional(),
        /** An image run beside the instance, sharing its network (a sidecar). */
        image: z.string().min(1, { message: "must not be empty" }).optional(),
    })
    .superRefine((a, ctx) => {
        if (!a.command && !a.image)
            ctx.addIssue({
                code: "custom",
                message: "needs a command (run in the instance) or an image (run beside it), or both",
            });
    });
export type CustomApplication = z.output<typeof customApplicationSchema>;

/**
 * What the instance's Jupyter serves, for its proxy configuration (the image's
 * jupyter_server_config.py reads it): a command runs in the instance unless the application has
 * an image, where it runs instead.
 */
export function customApplicationsEnv(
    apps: readonly CustomApplication[],
): { name: string; port: number; command?: string }[] {
    return apps.map((a) => ({ name: a.name, port: a.port, ...(a.command && !a.image ? { command: a.command } : {}) }));
}

export const customApplicationsSchema = z
    .array(customApplicationSchema)
    .max(MAX_CUSTOM_APPLICATIONS, { message: `must have at most ${MAX_CUSTOM_APPLICATIONS} applications` })
    .superRefine((apps, ctx) => {
        const names = new Set<string>();
        const ports = new Set<number>();
        apps.forEach((a, i) => {
            if (names.has(a.name))
                ctx.addIssue({ code: "custom", path: [i, "name"], message: `"${a.name}" is listed twice` });
            if (ports.has(a.port))
                ctx.addIssue({
                    code: "custom",
                    path: [i, "port"],
                    message: `${a.port} is taken by another application`,
                });
            names.add(a.name);
            ports.add(a.port);
        });
    });

/** The OS disk Azure gives a compute instance (P10, 128 GiB). */
export const DEFAULT_OS_DISK_GB = 128;
/** Size of the workspace's user-files store when none is given. */
export const DEFAULT_USER_FILES_GB = 100;
export const MAX_DISK_GB = 65536;
export { DEFAULT_DOCKER_HOST, DEFAULT_READY_TIMEOUT_SECONDS } from "./defaults";
import { DEFAULT_READY_TIMEOUT_SECONDS } from "./defaults";

/** Environment variable names the instance sets itself. */
export const RESERVED_ENV = [
    "JUPYTER_TOKEN",
    "JUPYTER_TOKEN_FILE",
    "NOTEBOOK_DIR",
    "INSTANCE_USER",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PATH",
    "ENV",
    "BASH_ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "IFS",
    "CDPATH",
    "GLOBIGNORE",
    "PS4",
];
/**
 * Prefixes of names the instance's entry point owns (`CI_*`), or that change what a program does
 * before it reads a line of its own: the dynamic loader (`LD_*`), Python (`PYTHON*`) and bash's
 * exported functions. The entry point starts as root: a variable of these would run the user's
 * files with its privileges.
 */
export const RESERVED_ENV_PREFIXES = ["CI_", "LD_", "PYTHON", "BASH_FUNC_"];

/** Why a variable name cannot be set through `env`, or undefined when it can. */
export function reservedEnvProblem(name: string): string | undefined {
    const prefix = RESERVED_ENV_PREFIXES.find((p) => name.startsWith(p));
    if (!RESERVED_ENV.includes(name) && !prefix) return undefined;
    const why =
        prefix === "CI_"
            ? "is the instance's own"
            : prefix
              ? "changes how programs start (the entry point runs as root)"
              : "is set by the instance itself";
    return (
        `${why}; reserved: ${RESERVED_ENV.join(", ")} and names starting with ${RESERVED_ENV_PREFIXES.join(", ")}` +
        (prefix === "PYTHON"
            ? " (set Python's variables in a kernel's kernel.json, or in ~/.bashrc from a startup script)"
            : "")
    );
}

// Azure's rule for compute names (3 to 24 characters, starting with a letter), lower-cased so the
// same name is valid for Docker containers and Kubernetes objects.
const NAME_RULE = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/;
export const nameSchema = z.string().regex(NAME_RULE, {
    message:
        "must be 3 to 24 characters: lowercase letters, digits and '-', starting with a letter and not ending with '-'",
});

export const diskSizeGb = z
    .number({ message: "must be a number of GiB" })
    .int({ message: "must be a whole number of GiB" })
    .min(1, { message: "must be at least 1 GiB" })
    .max(MAX_DISK_GB, { message: `must be at most ${MAX_DISK_GB} GiB` });

/** A duration field: text (`"30m"`, `"PT30M"`) or seconds, at least `minSeconds`. */
export const durationSeconds = (minSeconds: number) =>
    z.union([z.string(), z.number()]).transform((v, ctx) => {
        const seconds = typeof v === "number" ? v : parseDurationSeconds(v);
        if (seconds === undefined || !Number.isFinite(seconds)) {
            ctx.addIssue({
                code: "custom",
                message: `"${v}" is not a duration; write e.g. "90s", "5m", "1h30m" or ISO 8601 "PT5M"`,
            });
            return z.NEVER;
        }
        if (seconds < minSeconds) {
            ctx.addIssue({ code: "custom", message: `must be at least ${minSeconds}s, got ${seconds}s` });
            return z.NEVER;
        }
        return seconds;
    });

// ---------------------------------------------------------------------------------------------
// Backends

const dockerBackend = z.strictObject({
    host: z
        .string()
        .regex(/^(unix|tcp|ssh|npipe):\/\/.+/, {
            message:
                'must be a Docker host URL such as "unix:///var/run/docker.sock", "tcp://host:2376" or "ssh://user@host"',
        })
        .optional(),
    /** Accept a `tcp://` engine without TLS (whoever reaches its port is root on its host). */
    allowPlaintextTcp: z.boolean().optional(),
});

const kubernetesBackend = z.strictObject({
    namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
        message: "must be a Kubernetes namespace name (RFC 1123 label)",
    }),
    kubeconfig: z.string().min(1).optional(),
    context: z.string().min(1).optional(),
    storageClass: z.string().min(1).optional(),
});

export type BackendSpec =
    | { kind: "docker"; host: string; allowPlaintextTcp?: boolean }
    | { kind: "kubernetes"; namespace: string; kubeconfig?: string; context?: string; storageClass?: string };

/** `{ docker: {...} }` or `{ kubernetes: {...} }`, exactly one. */
export function backendSchema(defaults: { dockerHost: string }) {
    return z
        .record(z.string(), z.unknown(), { message: "must be { docker: {...} } or { kubernetes: {...} }" })
        .transform((raw, ctx): BackendSpec => {
            const keys = Object.keys(raw);
            if (keys.length !== 1 || (keys[0] !== "docker" && keys[0] !== "kubernetes")) {
                ctx.addIssue({
                    code: "custom",
                    message: `must have exactly one of "docker" or "kubernetes", got ${keys.length ? keys.map((k) => `"${k}"`).join(", ") : "none"}`,
                });
                return z.NEVER;
            }
            if (keys[0] === "docker") {
                const r = dockerBackend.safeParse(raw.docker ?? {});
                if (!r.success) return forward(ctx, r.error, ["docker"]);
                return {
                    kind: "docker",
                    host: r.data.host ?? defaults.dockerHost,
                    ...(r.data.allowPlaintextTcp ? { allowPlaintextTcp: true } : {}),
                };
            }
            const r = kubernetesBackend.safeParse(raw.kubernetes);
            if (!r.success) return forward(ctx, r.error, ["kubernetes"]);
            return { kind: "kubernetes", ...r.data };
        });
}

function forward(ctx: z.RefinementCtx, error: z.ZodError, prefix: PropertyKey[]): never {
    for (const issue of error.issues) {
        ctx.addIssue({ ...issue, path: [...prefix, ...issue.path] } as z.core.$ZodRawIssue);
    }
    return z.NEVER;
}

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

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What an inbound rule may name: an application, or SSH. */
export const INBOUND_TARGETS = [...APPLICATIONS, "ssh"] as const;

const inboundRuleSchema = z
    .strictObject({
        application: z
            .enum(INBOUND_TARGETS, {
                message: `unknown application; allowed: ${INBOUND_TARGETS.map((a) => `"${a}"`).join(", ")}`,
            })
            .optional(),
        port: z
            .number({ message: "must be a port number" })
            .int({ message: "must be a whole number" })
            .min(1, { message: "must be 1 to 65535" })
            .max(65535, { message: "must be 1 to 65535" })
            .optional(),
        from: z
            .array(cidrSchema)
            .min(1, { message: 'must list at least one CIDR range ("0.0.0.0/0" for anywhere)' })
            .max(64, { message: "must list at most 64 ranges" }),
    })
    .superRefine((r, ctx) => {
        if ((r.application === undefined) === (r.port === undefined))
            ctx.addIssue({ code: "custom", message: "must name exactly one of application or port" });
    });

/** An instance's inbound rules, as the user writes them. */
export const instanceNetworkSchema = z.strictObject({
    inbound: z.array(inboundRuleSchema).max(32, { message: "must have at most 32 rules" }).optional(),
    /** Docker: publish on every address of the engine's host instead of 127.0.0.1. */
    publicBind: z.boolean({ message: "must be true or false" }).default(false),
});
export type InstanceNetworkInput = z.input<typeof instanceNetworkSchema>;

/** Inbound rules as the providers carry them: per service, who may connect. */
export interface InstanceNetwork {
    publicBind: boolean;
    /** Absent: every service is published (on loopback unless publicBind), from anywhere that can reach it. */
    inbound?: { service: ServiceName; from: string[] }[];
}

/**
 * Checks the rules against what the instance serves and folds them per service (JupyterLab and
 * the classic notebook are one server). Problems carry paths under `network`.
 */
export function resolveInboundRules(
    net: z.output<typeof instanceNetworkSchema>,
    applications: readonly Application[],
    sshOn: boolean,
): { network: InstanceNetwork; problems: { path: (string | number)[]; message: string }[] } {
    const serviceOf = serviceOfApplication;
    const containerPorts = (s: ServiceName) => SERVICES[s].containerPort;
    const problems: { path: (string | number)[]; message: string }[] = [];
    if (!net.inbound) return { network: { publicBind: net.publicBind }, problems };
    const served = new Set<ServiceName>([...applications.map(serviceOf), ...(sshOn ? (["ssh"] as ServiceName[]) : [])]);
    const byService = new Map<ServiceName, Set<string>>();
    net.inbound.forEach((rule, i) => {
        let service: ServiceName | undefined;
        if (rule.application === "ssh") {
            if (!sshOn)
                problems.push({
                    path: ["inbound", i, "application"],
                    message: '"ssh" needs SSH enabled on this instance (ssh.enabled)',
                });
            else service = "ssh";
        } else if (rule.application !== undefined) {
            if (!applications.includes(rule.application)) {
                problems.push({
                    path: ["inbound", i, "application"],
                    message: `"${rule.application}" is not an application of this instance; it runs: ${applications.join(", ")}${sshOn ? ", ssh" : ""}`,
                });
            } else service = serviceOf(rule.application);
        } else if (rule.port !== undefined) {
            const found = [...served].find((s) => containerPorts(s) === rule.port);
            if (!found) {
                problems.push({
                    path: ["inbound", i, "port"],
                    message: `${rule.port} is not a port of this instance; its ports: ${[...served].map((s) => `${containerPorts(s)} (${s})`).join(", ")}`,
                });
            } else service = found;
        }
        if (service) {
            const set = byService.get(service) ?? new Set<string>();
            for (const cidr of rule.from) set.add(cidr.trim());
            byService.set(service, set);
        }
    });
    const inbound = [...byService]
        .map(([service, from]) => ({ service, from: [...from].sort() }))
        .sort((a, b) => (a.service < b.service ? -1 : 1));
    return { network: { publicBind: net.publicBind, inbound }, problems };
}

/** Field schemas of an instance, shared by the component's check and the providers' checks. */
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
