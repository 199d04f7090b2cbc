/** The applications an instance serves, and the custom applications a user adds. */
import { z } from "zod";

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
