/** Where resources run: a Docker engine or a Kubernetes cluster, as users write it. */
import { z } from "zod";
import { forward } from "./fields";

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
