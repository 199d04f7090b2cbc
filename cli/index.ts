#!/usr/bin/env node
/**
 * `compute-instance`: commands around the Pulumi components, like `az ml compute start/stop`.
 *
 *   compute-instance status|start|stop|restart INSTANCE --workspace WS [backend flags]
 *   compute-instance list --workspace WS [--label KEY=VALUE ...] [backend flags]
 *   compute-instance build-image [--docker-host URL] [--force] [--vscode] [--prune]   (the workstation and agent images; --vscode: its VS Code variant too; --prune: remove images of earlier builds no container uses)
 *
 * Backend flags: --docker-host URL (default DOCKER_HOST or the local socket), or
 * --namespace NS [--kubeconfig PATH] [--context NAME] for Kubernetes.
 *
 * Power state is runtime state: starting or stopping never changes the stack's configuration,
 * and `pulumi up` never undoes it.
 */
import type { Backend, RuntimeState } from "../provider/backends/backend";
import { DockerBackend } from "../provider/backends/docker";
import {
    agentContextDir, agentImageTag, contextHash, vscodeContextDir, vscodeContextHash, vscodeImageTag, workstationContextDir, workstationImageTag,
} from "../provider/image/context";
import { policyKey } from "../provider/backends/layout";
import type { Operation } from "../agent/decide";
import { progressTo } from "../provider/progress";
import { DEFAULT_DOCKER_HOST, DEFAULT_READY_TIMEOUT_SECONDS } from "../provider/spec/defaults";
import { parseDurationSeconds } from "../provider/spec/duration";

const USAGE = `usage:
  compute-instance status|start|stop|restart INSTANCE --workspace WS [--docker-host URL | --namespace NS [--kubeconfig PATH] [--context NAME]] [--timeout 5m]
  compute-instance list --workspace WS [--label KEY=VALUE ...] [--docker-host URL | --namespace NS [--kubeconfig PATH] [--context NAME]]
  compute-instance build-image [--docker-host URL] [--force] [--vscode] [--prune]`;

class UsageError extends Error {}

function flag(args: string[], name: string): string | undefined {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) throw new UsageError(`${name} needs a value`);
    return v;
}

function backendFrom(args: string[]): Backend {
    const namespace = flag(args, "--namespace");
    if (namespace) {
        const { KubernetesBackend } = require("../provider/backends/kubernetes") as typeof import("../provider/backends/kubernetes");
        return new KubernetesBackend({ namespace, kubeconfig: flag(args, "--kubeconfig"), context: flag(args, "--context") });
    }
    return new DockerBackend(flag(args, "--docker-host") ?? process.env.DOCKER_HOST ?? DEFAULT_DOCKER_HOST);
}

const say = progressTo((m, ephemeral) => {
    if (!ephemeral || process.stderr.isTTY) console.error(m);
});

function showLabels(s: RuntimeState): string {
    return Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(",");
}

function show(instance: string, s: RuntimeState): string {
    const ports = Object.entries(s.ports).map(([k, v]) => `${k}:${v}`).join(" ");
    const labels = showLabels(s);
    return `${instance}\t${s.status}\tcpus=${s.cpus} memoryGb=${s.memoryGb}${s.gpus ? ` gpus=${s.gpus}` : ""}\t${ports}\t${s.id}${labels ? `\t${labels}` : ""}`;
}

/** Every `--label KEY=VALUE`: the instances listed must carry all of them. */
function labelFilters(args: string[]): [string, string][] {
    const out: [string, string][] = [];
    args.forEach((a, i) => {
        if (a !== "--label") return;
        const v = args[i + 1];
        const eq = v?.indexOf("=") ?? -1;
        if (!v || eq < 1) throw new UsageError("--label needs KEY=VALUE");
        out.push([v.slice(0, eq), v.slice(eq + 1)]);
    });
    return out;
}

/** The workspace's instances, of every stack, with their labels (Azure: tags). */
async function list(args: string[]): Promise<void> {
    const workspace = flag(args, "--workspace");
    if (!workspace) throw new UsageError("name the --workspace");
    const filters = labelFilters(args);
    const backend = backendFrom(args);
    const views = (await backend.listInstances(workspace)).sort((a, b) => (a.instance < b.instance ? -1 : 1));
    for (const v of views) {
        const state = await backend.readRuntime(v.id);
        if (!state || !filters.every(([k, want]) => state.labels[k] === want)) continue;
        console.log(`${v.instance}\t${state.status}\tcpus=${state.cpus} memoryGb=${state.memoryGb}${state.gpus ? ` gpus=${state.gpus}` : ""}\t${v.owner}\t${showLabels(state) || "-"}`);
    }
}

async function power(command: string, args: string[]): Promise<void> {
    const instance = args.find((a, i) => !a.startsWith("--") && (i === 0 || !args[i - 1].startsWith("--")));
    const workspace = flag(args, "--workspace");
    if (!instance || !workspace) throw new UsageError("name the instance and its --workspace");
    const timeout = parseDurationSeconds(flag(args, "--timeout") ?? "") ?? DEFAULT_READY_TIMEOUT_SECONDS;
    const backend = backendFrom(args);
    const id = backend.runtimeIdFor({ workspace, instance });
    // No ping first (a round trip on every command): a backend that does not answer is
    // diagnosed when the command's own call fails.
    try {
        await backend.readRuntime(id);
    } catch {
        await backend.ping();
        throw new Error(`the ${backend.description} failed to answer for "${instance}"`);
    }
    let state: RuntimeState | undefined;
    switch (command) {
        case "status":
            state = await backend.readRuntime(id);
            if (!state) throw new Error(`no instance "${instance}" in workspace "${workspace}" on the ${backend.description}`);
            break;
        case "stop":
            state = await backend.stopRuntime(id);
            break;
        case "start":
            state = await backend.startRuntime(id, say, timeout);
            break;
        case "restart":
            await backend.stopRuntime(id);
            state = await backend.startRuntime(id, say, timeout);
            break;
    }
    if (!state) return;
    console.log(show(instance, state));
    const store = backend.agentStore(workspace);
    if (command !== "status") {
        // Recorded for `status` and for people reading the agent's store, as Azure's lastOperation.
        const op: Operation = { operation: command === "stop" ? "Stop" : command === "start" ? "Start" : "Restart", trigger: "User", at: new Date().toISOString(), reason: "compute-instance CLI", status: "Succeeded" };
        await store.writePolicy(policyKey.operation(instance), op).catch(() => undefined);
        return;
    }
    const last = await lastOperation(store, instance).catch(() => undefined);
    if (last) console.log(`last operation: ${last.operation} by ${last.trigger} at ${last.at}: ${last.status}${last.error ? ` (${last.error})` : ""} (${last.reason})`);
}

/** The newest of what the agent did and what a user did with this CLI. */
async function lastOperation(store: ReturnType<Backend["agentStore"]>, instance: string): Promise<Operation | undefined> {
    const [memory, user] = await Promise.all([store.readMemory(), store.readPolicy(policyKey.operation(instance))]);
    const byAgent = (memory as { lastOperation?: Record<string, Operation> } | undefined)?.lastOperation?.[instance];
    const byUser = user as Operation | undefined;
    if (!byAgent || !byUser) return byAgent ?? byUser;
    return byAgent.at > byUser.at ? byAgent : byUser;
}

async function buildImage(args: string[]): Promise<void> {
    const backend = new DockerBackend(flag(args, "--docker-host") ?? process.env.DOCKER_HOST ?? DEFAULT_DOCKER_HOST);
    await backend.ping();
    const force = args.includes("--force");
    const base = await buildOne(backend, workstationContextDir(), workstationImageTag, force);
    await buildOne(backend, agentContextDir(), agentImageTag, force);
    const current = [base, agentImageTag(contextHash(agentContextDir()))];
    if (args.includes("--vscode")) {
        current.push(await buildOne(backend, vscodeContextDir(), vscodeImageTag, force, vscodeContextHash(contextHash(workstationContextDir())), { BASE_IMAGE: base }));
    }
    if (args.includes("--prune")) await pruneImages(backend, current);
}

/**
 * Images of this package built from other contexts (older checkouts, earlier edits): removed, so
 * a machine that builds every commit does not fill its disk. Images containers still use stay.
 */
async function pruneImages(backend: DockerBackend, keep: string[]): Promise<void> {
    const repos = new Set(keep.map((t) => t.slice(0, t.lastIndexOf(":"))));
    const removed = await backend.removeImagesExcept([...repos], keep);
    if (removed.length) console.log(`removed ${removed.length} image(s) of earlier builds: ${removed.join(", ")}`);
}

async function buildOne(
    backend: DockerBackend, dir: string, tagOf: (hash: string) => string, force: boolean, hash = contextHash(dir), buildArgs?: Record<string, string>,
): Promise<string> {
    const tag = tagOf(hash);
    const have = await backend.inspectImage(tag);
    if (have?.contextHash === hash && !force) {
        console.log(`${tag} is up to date (context ${hash})`);
        return tag;
    }
    let last = "";
    await backend.buildImage(tag, dir, hash, progressTo((m) => {
        if (m !== last) console.log(m);
        last = m;
    }), buildArgs);
    return tag;
}

async function main(argv: string[]): Promise<number> {
    const [command, ...rest] = argv;
    switch (command) {
        case "build-image":
            await buildImage(rest);
            return 0;
        case "list":
            await list(rest);
            return 0;
        case "status":
        case "start":
        case "stop":
        case "restart":
            await power(command, rest);
            return 0;
        default:
            console.error(USAGE);
            return 64;
    }
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
        console.error(`compute-instance: ${e instanceof Error ? e.message : String(e)}`);
        if (e instanceof UsageError) console.error(USAGE);
        process.exit(e instanceof UsageError ? 64 : 1);
    },
);
