/** The build context of the default workstation image, shipped inside this package. */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";

import { packageRoot, packageVersion } from "../packageRoot";

/** images/workstation, shipped inside the package. */
export function workstationContextDir(): string {
    return path.join(packageRoot(), "images", "workstation");
}

/** Extra CA certificates are machine-specific and never part of the hash. */
const EXCLUDED = new Set(["ca-certificates"]);

export const CONTEXT_HASH_LABEL = "compute-instance.pulumi.io/context-hash";

/** Files of a build context, relative and sorted. */
export function contextFiles(dir: string, rel = ""): string[] {
    return fs
        .readdirSync(path.join(dir, rel), { withFileTypes: true })
        .filter((e) => !EXCLUDED.has(e.name))
        .flatMap((e) => {
            const p = rel ? `${rel}/${e.name}` : e.name;
            return e.isDirectory() ? contextFiles(dir, p) : [p];
        })
        .sort();
}

/** A hash of the context's file names, modes and contents: the image is rebuilt when it changes. */
export function contextHash(dir: string): string {
    const h = createHash("sha256");
    for (const f of contextFiles(dir)) {
        const full = path.join(dir, f);
        h.update(`${f}\0${fs.statSync(full).mode & 0o111 ? "x" : "-"}\0`);
        h.update(fs.readFileSync(full));
        h.update("\0");
    }
    return h.digest("hex").slice(0, 16);
}

/**
 * The tag the default image gets: the package version and the context's hash, so an image built
 * from other files is another image, and instances on it restart onto the new one.
 */
export function workstationImageTag(hash: string): string {
    return `compute-instance-workstation:${packageVersion()}-${hash}`;
}

/**
 * Variants of the workstation image, each built FROM it: `vscode` (with code-server), `inference`
 * (with Azure's scoring server and scikit-learn, for local inference endpoints).
 */
export const VARIANTS = ["vscode", "inference"] as const;
export type Variant = (typeof VARIANTS)[number];

/** images/workstation-<variant>. */
export function variantContextDir(variant: Variant): string {
    return path.join(packageRoot(), "images", `workstation-${variant}`);
}

/** A variant's hash covers its own files and the base it is built from. */
export function variantContextHash(variant: Variant, baseHash: string): string {
    return createHash("sha256")
        .update(`${contextHash(variantContextDir(variant))}\0${baseHash}`)
        .digest("hex")
        .slice(0, 16);
}

export function variantImageTag(variant: Variant, hash: string): string {
    return `compute-instance-workstation-${variant}:${packageVersion()}-${hash}`;
}

/** This checkout's tag of a variant, built on its workstation image. */
export function currentVariantTag(variant: Variant): string {
    return variantImageTag(variant, variantContextHash(variant, contextHash(workstationContextDir())));
}

/** Directories whose *.crt files are added to the image's trust store (TLS-inspecting proxies). */
export function extraCaDirs(env: NodeJS.ProcessEnv = process.env): string[] {
    const configured = env.COMPUTE_INSTANCE_EXTRA_CA_DIR;
    return configured !== undefined
        ? configured.split(path.delimiter).filter(Boolean)
        : ["/usr/local/share/ca-certificates"];
}

/** The workspace agent's build context: its Dockerfile and bundle, made by `npm run build`. */
export function agentContextDir(): string {
    return path.join(packageRoot(), "bin", "agent-image");
}

export function agentImageTag(hash: string): string {
    return `compute-instance-agent:${packageVersion()}-${hash}`;
}
