/**
 * Input rules for secure access: SSH public keys and the SSH policy, CIDR ranges and the names of
 * the users instances are created for. Pure and checked at preview.
 */
import { isIP } from "net";
import { z } from "zod";
import { portNumber } from "./fields";

/** Key types sshd accepts by default (OpenSSH 9); DSA is gone, RSA must be at least 2048 bits. */
export const SSH_KEY_TYPES = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
] as const;
const MIN_RSA_BITS = 2048;

interface ParsedKey {
    type: string;
    isPrivateKey(): boolean;
    getPublicSSH(): Buffer;
}

/** Why a text is not an SSH public key sshd would accept, or undefined when it is one. Never echoes the text. */
export function sshPublicKeyProblem(text: string): string | undefined {
    const { utils } = require("ssh2") as { utils: { parseKey(data: string): ParsedKey | ParsedKey[] | Error } };
    const trimmed = text.trim();
    if (/PRIVATE KEY/.test(trimmed))
        return "is a private key: give the public key (the .pub file, one line starting with e.g. ssh-ed25519)";
    if (trimmed.includes("\n")) return "must be one key on one line (the contents of a .pub file)";
    const parsed = utils.parseKey(trimmed);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error)
        return 'is not an OpenSSH public key; it looks like "ssh-ed25519 AAAAC3Nza... user@host" (the contents of ~/.ssh/id_ed25519.pub)';
    if (key.isPrivateKey()) return "is a private key: give the public key (the .pub file)";
    if (!(SSH_KEY_TYPES as readonly string[]).includes(key.type))
        return `has key type ${key.type}; allowed: ${SSH_KEY_TYPES.join(", ")}`;
    if (key.type === "ssh-rsa") {
        const bits = rsaModulusBits(key.getPublicSSH());
        if (bits < MIN_RSA_BITS)
            return `is a ${bits}-bit RSA key; RSA keys must have at least ${MIN_RSA_BITS} bits (or use ssh-ed25519)`;
    }
    return undefined;
}

/** Bits of an RSA public key's modulus, from its SSH wire form (string type, mpint e, mpint n). */
function rsaModulusBits(blob: Buffer): number {
    let at = 0;
    const next = () => {
        const len = blob.readUInt32BE(at);
        const value = blob.subarray(at + 4, at + 4 + len);
        at += 4 + len;
        return value;
    };
    next(); // type
    next(); // e
    let n = next();
    while (n.length && n[0] === 0) n = n.subarray(1);
    return n.length ? (n.length - 1) * 8 + (32 - Math.clz32(n[0])) : 0;
}

export const sshPublicKeySchema = z.string({ message: "must be an SSH public key" }).superRefine((k, ctx) => {
    const problem = sshPublicKeyProblem(k);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** Why a text is not a CIDR range (`10.0.0.0/8`, `2001:db8::/32`; a bare address is one host), or undefined. */
export function cidrProblem(text: string): string | undefined {
    const [address, prefix, ...rest] = text.trim().split("/");
    const family = isIP(address ?? "");
    if (rest.length || family === 0)
        return `"${text}" is not a CIDR range; write e.g. "10.0.0.0/8", "192.168.1.7/32" or "2001:db8::/32"`;
    if (prefix === undefined) return undefined;
    const max = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max)
        return `"${text}" has prefix length /${prefix}; an IPv${family} prefix is 0 to ${max}`;
    return undefined;
}

/**
 * Why a range cannot be enforced on Docker, or undefined. The published ports are IPv4 and only
 * IPv4 rules are made (no ip6tables rules yet): an IPv6 range would admit no one, or, with
 * iptables refusing it, keep the rules from being applied at all.
 */
export function ipv4OnlyProblem(cidr: string): string | undefined {
    if (isIP(cidr.trim().split("/")[0]) !== 6) return undefined;
    return `"${cidr}" is an IPv6 range; on Docker inbound ranges are IPv4 only (the ports are published on IPv4 addresses): list IPv4 ranges, "0.0.0.0/0" for anywhere`;
}

export const cidrSchema = z.string({ message: "must be a CIDR range" }).superRefine((c, ctx) => {
    const problem = cidrProblem(c);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/**
 * The user an instance is created for: a POSIX login name (the instance's user and home) that is
 * also usable in Kubernetes object names and RBAC subjects (lowercase, no dots or underscores).
 */
export const POSIX_USER = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$/;
export const RESERVED_USERS = ["root", "daemon", "bin", "sys", "sync", "nobody", "sshd", "messagebus"];

export const userNameSchema = z
    .string({ message: "must be a user name" })
    .regex(POSIX_USER, {
        message:
            "must be 1 to 32 lowercase letters, digits and '-', starting with a letter and not ending with '-' (a POSIX login name that Kubernetes accepts too)",
    })
    .refine((u) => !RESERVED_USERS.includes(u), {
        message: `is a system account; reserved: ${RESERVED_USERS.join(", ")}`,
    });

/**
 * The SSH policy (Azure: `sshSettings`). Off by default; when on, sshd accepts only `publicKey`,
 * for the instance user, with no passwords and no root login.
 */
export const sshSchema = z
    .strictObject({
        enabled: z.boolean({ message: "must be true or false" }).default(false),
        publicKey: sshPublicKeySchema.optional(),
        port: portNumber(1024, "must be 1024 or more (ports below need privileges on the host)").optional(),
    })
    .superRefine((s, ctx) => {
        if (s.enabled && s.publicKey === undefined) {
            ctx.addIssue({
                code: "custom",
                path: ["publicKey"],
                message: "is required when ssh is enabled (the contents of e.g. ~/.ssh/id_ed25519.pub)",
            });
        }
    })
    // Off is absent, not null: stacks deployed before SSH existed see no change.
    .transform((s): SshSpec | undefined =>
        s.enabled && s.publicKey ? { publicKey: s.publicKey.trim(), ...(s.port ? { port: s.port } : {}) } : undefined,
    );

/** SSH as the providers carry it; absent when off. */
export interface SshSpec {
    publicKey: string;
    /** Host port (Docker) or Service port (Kubernetes); chosen by the backend when absent. */
    port?: number;
}

/** Who an instance is created for (Azure: `personalComputeInstanceSettings.assignedUser`). */
export const assignedUserSchema = z.strictObject({
    name: userNameSchema,
    /** The user's id in your directory (Azure: the object id), recorded on the instance. */
    id: z
        .string()
        .regex(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/, {
            message:
                "must be 1 to 63 letters, digits, '.', '_' and '-', starting and ending with a letter or digit (e.g. a directory object id)",
        })
        .optional(),
    /** Kubernetes: the RBAC user granted their pod. Default: `name`. */
    kubernetesUser: z.string().min(1, { message: "must not be empty" }).optional(),
    /** Kubernetes: RBAC groups granted the pod too. */
    kubernetesGroups: z.array(z.string().min(1, { message: "must not be empty" })).optional(),
});
export type AssignedUser = z.output<typeof assignedUserSchema>;

/** Whose token opens the instance's applications (Azure: `applicationSharingPolicy`). */
export const SHARING_POLICIES = ["Personal", "Shared"] as const;
export type SharingPolicy = (typeof SHARING_POLICIES)[number];
export const sharingPolicySchema = z.enum(SHARING_POLICIES, { message: "unknown sharing policy" });

/**
 * Where the workspace's instances may open connections (the network's egress): `"allow"`
 * (anywhere; the default), `"deny"` (only the workspace's own containers or pods) or
 * `{ allow: [CIDR, ...] }` (those ranges too). IPv4 ranges: Docker networks here are IPv4.
 */
export type EgressPolicy = "allow" | "deny" | { allow: string[] };

const ipv4Cidr = cidrSchema.refine((c) => isIP(c.split("/")[0]) === 4, {
    message: "must be an IPv4 range (workspace networks are IPv4)",
});

export const egressSchema = z.union(
    [
        z.enum(["allow", "deny"]),
        z.strictObject({
            allow: z
                .array(ipv4Cidr)
                .min(1, { message: 'must list at least one CIDR range; use "deny" for none' })
                .max(64, { message: "must list at most 64 ranges" }),
        }),
    ],
    { message: 'must be "allow", "deny" or { allow: ["10.0.0.0/8", ...] }' },
);

/** Link-local addresses: cloud metadata services (169.254.169.254) and the like. */
export const LINK_LOCAL = { v4: "169.254.0.0/16", v6: "fe80::/10" } as const;

function ipv4Bits(cidr: string): { value: number; bits: number } | undefined {
    const [address, prefix] = cidr.trim().split("/");
    if (isIP(address ?? "") !== 4) return undefined;
    const value = address.split(".").reduce((v, octet) => ((v << 8) | Number(octet)) >>> 0, 0);
    return { value, bits: prefix === undefined ? 32 : Number(prefix) };
}

const maskOf = (bits: number) => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
const LINK_LOCAL_V4 = ipv4Bits(LINK_LOCAL.v4) as { value: number; bits: number };

/**
 * Whether an IPv4 range lies inside 169.254.0.0/16. Listing one is asking for link-local on
 * purpose; a wider range that merely contains it (0.0.0.0/0) is not.
 */
export function withinLinkLocal(cidr: string): boolean {
    const r = ipv4Bits(cidr);
    return (
        r !== undefined &&
        r.bits >= LINK_LOCAL_V4.bits &&
        (r.value & maskOf(LINK_LOCAL_V4.bits)) >>> 0 === LINK_LOCAL_V4.value
    );
}

/** Whether an IPv4 range is wider than 169.254.0.0/16 and contains it. */
export function spansLinkLocal(cidr: string): boolean {
    const r = ipv4Bits(cidr);
    return (
        r !== undefined &&
        r.bits < LINK_LOCAL_V4.bits &&
        (LINK_LOCAL_V4.value & maskOf(r.bits)) >>> 0 === (r.value & maskOf(r.bits)) >>> 0
    );
}
