/**
 * One line per changed resource for reviewers, shown under the resource in `pulumi preview`:
 * whether the change is applied live, restarts the instance, or replaces a disk, and what that
 * does to each disk (the table of README.md's "What a preview shows"). Pure.
 */
import type { Classification } from "./changes";
import type { KindName } from "./dispatch";
import { SetupScripts, describeScriptsChange } from "./model/setup";

type Props = Record<string, unknown>;

const SECRET_FIELDS = new Set(["token", "env"]);
/** Names derived from others: they change with what they are derived from, which is named instead. */
const DERIVED_FIELDS = new Set(["volumeName", "networkName"]);

function show(v: unknown): string {
    if (v === undefined) return "(none)";
    if (typeof v === "string") return v;
    return JSON.stringify(v);
}

function showEgress(v: unknown): string {
    if (v === undefined || typeof v === "string") return v === undefined ? "allow" : v;
    return `allow ${((v as { allow?: string[] }).allow ?? []).join(" ")}`;
}

/** `key=value` pairs (labels, a quota). */
function showLabels(v: unknown): string {
    const entries = Object.entries((v ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : 1));
    return entries.length ? entries.map(([k, x]) => `${k}=${x}`).join(" ") : "(none)";
}

/** Fields whose values would read badly as JSON: said in words. */
function describeField(f: string, before: unknown, after: unknown): string {
    switch (f) {
        case "ssh":
            if (before === undefined) return "SSH turned on";
            if (after === undefined) return "SSH turned off";
            return "SSH key or port changed";
        case "networkRules":
            return "inbound rules changed";
        case "assignedUser":
            return `assigned user ${show((before as { name?: string } | undefined)?.name)} → ${show((after as { name?: string } | undefined)?.name)}`;
        case "egress":
            return `egress ${showEgress(before)} → ${showEgress(after)}`;
        case "setupScripts":
            return describeScriptsChange(before as SetupScripts | undefined, after as SetupScripts | undefined);
        case "labels":
            return `labels ${showLabels(before)} → ${showLabels(after)}`;
        case "quota":
            return `quota ${showLabels(before)} → ${showLabels(after)}`;
        case "createFailed":
            return "its last create failed (SetupFailed) and it was kept for inspection";
        default:
            return SECRET_FIELDS.has(f) ? `${f} changed` : `${f} ${show(before)} → ${show(after)}`;
    }
}

/** `size Standard_DS3_v2 → Standard_DS12_v2, memoryGb 14 → 28`; secrets only by name. */
export function describeFields(fields: string[], olds: Props, news: Props): string {
    return fields
        .filter((f) => !DERIVED_FIELDS.has(f))
        .map((f) => describeField(f, olds[f], news[f]))
        .join(", ");
}

export function summarize(kind: KindName, olds: Props, news: Props, c: Classification): string | undefined {
    if (!c.changed.length) return undefined;
    const who = String(news.instance ?? news.workspace ?? "");
    const what = describeFields(c.changed, olds, news);
    const replaced = c.replaces.length > 0;
    switch (kind) {
        case "Runtime": {
            if (!replaced) return `${who}: applied live, no restart (${what}); all disks kept`;
            // A restart onto another OS disk or user-files store is not a restart that keeps them.
            const osDisk = c.changed.includes("osDisk") ? "onto the new OS disk" : "OS disk kept";
            const userFiles = c.changed.includes("userFiles") ? "user files from the new store" : "user files kept";
            return `${who}: restart (${what}); ${osDisk}; /mnt wiped; ${userFiles}`;
        }
        case "OsDisk":
            return replaced
                ? `${who}: OS DISK REPLACED (${what}): the home directory and what was installed in it start over; user files are kept`
                : `${who}: OS disk ${what}, in place; kept`;
        case "TempDisk":
            return replaced
                ? `${who}: new temp disk (${what}); /mnt is scratch`
                : `${who}: temp disk ${what}, in place`;
        case "UserFiles":
            return replaced
                ? `${who}: user files MOVE to a new store (${what}); the old one is kept unless retainOnDelete is false`
                : `${who}: user files ${what}, in place`;
        case "NetworkRule":
            return `${who}: ${what}, applied live; no restart`;
        case "WorkstationImage":
            return `${String(news.image ?? "image")}: ${replaced ? "a new build" : "rebuilt"} (its files changed); instances on it restart onto it`;
        case "Quota":
            return `${who}: ${what}, applied live; no instance touched`;
        case "AccessToken":
            return `${who}: new access token; the old one stops working`;
        default:
            return `${who}: ${replaced ? "replaced" : "updated"} (${what})`;
    }
}
