/** What the CLI's commands share: backend options, output, and the kinds of failure. */
import { Command, Option } from "commander";
import type { Backend } from "../provider/backends/backend";
import { DockerBackend } from "../provider/backends/docker";
import { DEFAULT_DOCKER_HOST } from "../provider/model/defaults";
import { progressTo } from "../provider/progress";
import type { OutputFormat } from "./format";

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 64;

/** A mistake in the command line (exit 64), as opposed to a command that failed (exit 1). */
export class UsageError extends Error {}

export interface BackendOptions {
    dockerHost?: string;
    namespace?: string;
    kubeconfig?: string;
    context?: string;
}

export function backendFrom(o: BackendOptions): Backend {
    if (o.namespace) {
        const { KubernetesBackend } =
            require("../provider/backends/kubernetes") as typeof import("../provider/backends/kubernetes");
        return new KubernetesBackend({ namespace: o.namespace, kubeconfig: o.kubeconfig, context: o.context });
    }
    return new DockerBackend(o.dockerHost ?? process.env.DOCKER_HOST ?? DEFAULT_DOCKER_HOST);
}

export const say = progressTo((m, ephemeral) => {
    if (!ephemeral || process.stderr.isTTY) console.error(m);
});

export function print<T>(format: OutputFormat, items: T | T[], text: (t: T) => string, json: (t: T) => unknown): void {
    if (format === "json") console.log(JSON.stringify(Array.isArray(items) ? items.map(json) : json(items), null, 2));
    else for (const i of Array.isArray(items) ? items : [items]) console.log(text(i));
}

export const outputOption = () =>
    new Option("-o, --output <format>", "text: a tab-separated line per instance; json: for scripts")
        .choices(["text", "json"])
        .default("text");

export function backendOptions(c: Command): Command {
    return c
        .option("--docker-host <url>", "the Docker engine (default: DOCKER_HOST, else unix:///var/run/docker.sock)")
        .option("--namespace <ns>", "a Kubernetes namespace: use the cluster instead of Docker")
        .option("--kubeconfig <path>", "with --namespace: the kubeconfig (default: KUBECONFIG or ~/.kube/config)")
        .option("--context <name>", "with --namespace: the kubeconfig's context (default: its current one)");
}
