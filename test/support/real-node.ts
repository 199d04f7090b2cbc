/**
 * The local cluster's real node (scripts/cluster), as tests of real pods use it: images imported
 * from Docker (the node never pulls), commands in pods, the workspace agent's log, and faults
 * (one of the node's own daemons stopped, then started again by `scripts/cluster up`).
 */
import { execFile, execFileSync } from "child_process";
import * as path from "path";
import { promisify } from "util";
import { agentContextDir, agentImageTag, contextHash, workstationContextDir, workstationImageTag } from "../../provider/image/context";
import { testKubeconfig } from "./backends";
import { kubectl, kubectlPath } from "./cluster";
import { ROOT } from "./stacks";

export const WORKSTATION_IMAGE = workstationImageTag(contextHash(workstationContextDir()));
export const AGENT_IMAGE = agentImageTag(contextHash(agentContextDir()));

/** The real node's name; fails when the cluster has none. */
export function realNode(): string {
    const node = kubectl(["get", "nodes", "-l", "type=real", "-o", "jsonpath={.items[*].metadata.name}"]).trim();
    if (!node) throw new Error("the local cluster has no real node (scripts/cluster up with REAL_NODE=1)");
    return node;
}

/** `scripts/cluster` of this checkout, on the cluster the tests use. */
export function cluster(args: string[]): string {
    const clusterDir = process.env.COMPUTE_INSTANCE_TEST_CLUSTER_DIR ?? path.dirname(testKubeconfig());
    return execFileSync(path.join(ROOT, "scripts/cluster"), args, { env: { ...process.env, CLUSTER_DIR: clusterDir }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * This checkout's workstation and agent images built on Docker when missing (another checkout's
 * `build-image --prune` or bootstrap removes them as earlier builds), then imported into the
 * node's containerd (both quick when they are there).
 */
export function loadImages(images: string[]): void {
    execFileSync("node", [path.join(ROOT, "bin/cli/index.js"), "build-image"], { stdio: ["ignore", "ignore", "pipe"] });
    cluster(["load-images", ...images]);
}

/** A command in a pod's container; its output (throws with stderr when it exits non-zero). */
export function podExec(namespace: string, pod: string, container: string, cmd: string[]): string {
    return kubectl(["exec", "-n", namespace, pod, "-c", container, "--", ...cmd]);
}

/**
 * Whether a TCP connection from inside a pod to host:port is made within 4 s: "connected",
 * "refused" (the host answered: nothing listens) or "timeout" (dropped on the way). Node.js runs
 * the probe, so the pod's image needs `node` (the agent's image has it) or `python3` (the
 * workstation's).
 */
export async function tcpProbe(namespace: string, pod: string, container: string, host: string, port: number, runtime: "node" | "python3"): Promise<string> {
    const script = runtime === "node"
        ? `const s=require("net").connect({host:${JSON.stringify(host)},port:${port}});` +
          `const t=setTimeout(()=>{console.log("timeout");process.exit(0)},4000);` +
          `s.on("connect",()=>{console.log("connected");process.exit(0)});` +
          `s.on("error",(e)=>{clearTimeout(t);console.log(e.code==="ECONNREFUSED"?"refused":"error "+e.code);process.exit(0)});`
        : [
            "import socket",
            "s = socket.socket(); s.settimeout(4)",
            "try:",
            `    s.connect((${JSON.stringify(host)}, ${port})); print('connected')`,
            "except socket.timeout: print('timeout')",
            "except ConnectionRefusedError: print('refused')",
            "except OSError as e: print('error', e.errno)",
        ].join("\n");
    // Asynchronous, so that a listener of the test's own process sees the connection meanwhile.
    const { stdout } = await promisify(execFile)(kubectlPath(), ["--kubeconfig", testKubeconfig(), "exec", "-n", namespace, pod, "-c", container, "--",
        ...(runtime === "node" ? ["node", "-e", script] : ["python3", "-I", "-c", script])], { encoding: "utf8" });
    return stdout.trim();
}

/** The workspace agent's log lines (JSON), oldest first, from its pod through the kubelet. */
export function agentLogLines(namespace: string, workspace: string): Record<string, unknown>[] {
    return kubectl(["logs", "-n", namespace, `deployment/ci-${workspace}-agent`, "--tail=-1"])
        .split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The agent's memory, as its ConfigMap holds it. */
export function agentMemory(namespace: string, workspace: string): { handledUntil?: Record<string, string>; lastOperation?: Record<string, Record<string, unknown>> } {
    const data = JSON.parse(kubectl(["get", "configmap", `ci-${workspace}-agent-memory`, "-n", namespace, "-o", "jsonpath={.data}"]) || "{}") as { memory?: string };
    return data.memory ? JSON.parse(data.memory) : {};
}

/** A cron for the UTC minute at least `leadSeconds` from now, and that minute as a Date. */
export function minuteAhead(leadSeconds: number): { cron: string; at: Date } {
    const at = new Date(Math.ceil((Date.now() + leadSeconds * 1000) / 60_000) * 60_000);
    return { cron: `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`, at };
}

/** Resolves at `at` (a wall-clock instant the test is built around, not a guess at a duration). */
export function until(at: Date): Promise<void> {
    return new Promise((r) => setTimeout(r, Math.max(0, at.getTime() - Date.now())));
}

/**
 * The node's link-local stand-in for a cloud metadata service (scripts/lib/cluster-node.sh: an
 * address on the node's bridge, the one link-local address pods have a route to, and the one port
 * there the cluster lets them reach).
 */
export const LINK_LOCAL = { ip: process.env.LINK_LOCAL_IP ?? "169.254.77.1", port: Number(process.env.LINK_LOCAL_PORT ?? 8077) };
