/**
 * What the CLI prints: one tab-separated line per instance (for people and `cut`), or JSON
 * (`--output json`, for scripts). Pure.
 */
import type { RuntimeState } from "../provider/backends/backend";
import type { Operation } from "../provider/model/agentProtocol";

export type OutputFormat = "text" | "json";

export function labelsText(labels: Record<string, string>): string {
    return Object.entries(labels)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
}

function sizeText(s: { cpus: number; memoryGb: number; gpus: number }): string {
    return `cpus=${s.cpus} memoryGb=${s.memoryGb}${s.gpus ? ` gpus=${s.gpus}` : ""}`;
}

/** An instance after `status`, `start`, `stop` or `restart`. */
export interface InstanceReport {
    instance: string;
    state: RuntimeState;
    lastOperation?: Operation;
}

export function instanceText(r: InstanceReport): string {
    const s = r.state;
    const ports = Object.entries(s.ports)
        .map(([k, v]) => `${k}:${v}`)
        .join(" ");
    const labels = labelsText(s.labels);
    const line = `${r.instance}\t${s.status}\t${sizeText(s)}\t${ports}\t${s.id}${labels ? `\t${labels}` : ""}`;
    const op = r.lastOperation;
    return op
        ? `${line}\nlast operation: ${op.operation} by ${op.trigger} at ${op.at}: ${op.status}${op.error ? ` (${op.error})` : ""} (${op.reason})`
        : line;
}

export function instanceJson(r: InstanceReport): Record<string, unknown> {
    const s = r.state;
    return {
        instance: r.instance,
        status: s.status,
        cpus: s.cpus,
        memoryGb: s.memoryGb,
        gpus: s.gpus,
        ports: s.ports,
        host: s.host,
        id: s.id,
        labels: s.labels,
        ...(r.lastOperation ? { lastOperation: r.lastOperation } : {}),
    };
}

/** A line of `list`. */
export interface ListedInstance {
    instance: string;
    owner: string;
    state: RuntimeState;
}

export function listedText(l: ListedInstance): string {
    return `${l.instance}\t${l.state.status}\t${sizeText(l.state)}\t${l.owner}\t${labelsText(l.state.labels) || "-"}`;
}

export function listedJson(l: ListedInstance): Record<string, unknown> {
    return {
        instance: l.instance,
        status: l.state.status,
        cpus: l.state.cpus,
        memoryGb: l.state.memoryGb,
        gpus: l.state.gpus,
        owner: l.owner,
        labels: l.state.labels,
    };
}

/** `--label KEY=VALUE` → [key, value]; undefined when it is not of that shape. */
export function parseLabelFilter(v: string): [string, string] | undefined {
    const eq = v.indexOf("=");
    return eq < 1 ? undefined : [v.slice(0, eq), v.slice(eq + 1)];
}
