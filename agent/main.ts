/**
 * Entry point of the workspace agent (bundled into bin/agent-image/agent.js, run by the agent's
 * container or pod). Configured by environment:
 *   CI_AGENT_WORKSPACE               the workspace it looks after
 *   CI_AGENT_BACKEND                 JSON backend spec ({"kind":"docker","host":...} or {"kind":"kubernetes","namespace":...})
 *   CI_AGENT_CHECK_INTERVAL_SECONDS  how often it checks (default 30)
 */
import type { BackendSpec } from "../provider/model/backendSchema";
import type { Backend } from "../provider/backends/backend";
import { DockerBackend } from "../provider/backends/docker";
import { KubernetesBackend } from "../provider/backends/kubernetes";
import { AgentContext, checkOnce, jsonLogger, restoreNetworkRules } from "./agent";

const RULES_CHECK_MS = 10 * 60 * 1000;

function backendOf(spec: BackendSpec): Backend {
    // Inside the workspace the agent reaches instances by name, not on the host's published ports.
    return spec.kind === "docker"
        ? new DockerBackend(spec.host, { reachInstancesBy: "workspace-network" })
        : new KubernetesBackend(spec);
}

async function main(): Promise<void> {
    const workspace = process.env.CI_AGENT_WORKSPACE ?? "";
    const spec = JSON.parse(process.env.CI_AGENT_BACKEND ?? "null") as BackendSpec | null;
    const interval = Number(process.env.CI_AGENT_CHECK_INTERVAL_SECONDS ?? 30);
    if (!workspace || !spec || !(interval > 0)) {
        jsonLogger({
            level: "error",
            message: "CI_AGENT_WORKSPACE, CI_AGENT_BACKEND and CI_AGENT_CHECK_INTERVAL_SECONDS must be set",
        });
        process.exit(2);
    }
    const backend = backendOf(spec);
    const ctx: AgentContext = {
        workspace,
        backend,
        store: backend.agentStore(workspace),
        log: jsonLogger,
        startTimeoutSeconds: 600,
        problems: new Map(),
    };
    let stopping = false;
    let wake: (() => void) | undefined;
    const stop = () => {
        stopping = true;
        wake?.();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    // A job submitted: check now rather than at the end of the interval.
    let again = false;
    const checkNow = () => {
        again = true;
        wake?.();
    };
    process.on("SIGUSR1", checkNow);
    // A job that ended frees its place in the queue: the next one starts at once.
    const unwatch = backend.jobs?.watchEnded?.(workspace, checkNow);
    jsonLogger({
        level: "info",
        message: `workspace agent of "${workspace}" on the ${backend.description}, checking every ${interval}s`,
    });
    let lastRulesCheck = 0;
    while (!stopping) {
        const started = Date.now();
        try {
            // At start (after a reboot the host's firewall is empty) and every 10 minutes.
            if (spec.kind === "docker" && started - lastRulesCheck >= RULES_CHECK_MS) {
                lastRulesCheck = started;
                await restoreNetworkRules(ctx);
            }
            await checkOnce(ctx);
        } catch (e) {
            // The engine restarting, the API server away: try again at the next check.
            jsonLogger({ level: "error", message: `check failed: ${(e as Error).message}` });
        }
        // Asked during this check: check again at once.
        const wait = again ? 0 : Math.max(0, interval * 1000 - (Date.now() - started));
        again = false;
        await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, wait);
        });
    }
    unwatch?.();
    jsonLogger({ level: "info", message: "stopped" });
    // Now, not when the last socket closes: an engine that stops waits 10 s for a process that
    // lingers, then kills it, and a killed agent is not restarted when the engine comes back.
    process.exit(0);
}

void main();
