/**
 * The local cluster's real node (scripts/cluster), as tests of real pods use it beside
 * ./cluster.ts (the node, images, port-forwards): commands and connections from inside pods, the
 * workspace agent's log and memory, schedule minutes, and the node's link-local stand-in.
 */
import { execFile } from "child_process";
import { promisify } from "util";
import { testKubeconfig } from "./backends";
import { kubectl, kubectlPath } from "./cluster";

/** A command in a pod's container; its output (throws with stderr when it exits non-zero). */
export function podExec(namespace: string, pod: string, container: string, cmd: string[]): string {
    return kubectl(["exec", "-n", namespace, pod, "-c", container, "--", ...cmd]);
}

/**
 * Whether a TCP connection from inside a pod to host:port is made within 4 s: "connected",
 * "refused" (nothing listens there, or a NetworkPolicy refused it: kube-router rejects with ICMP
 * port unreachable) or "timeout" (dropped on the way). The pod's image needs `node` (the agent's
 * has it) or `python3` (the workstation's) to run the probe.
 */
export async function tcpProbe(
    namespace: string,
    pod: string,
    container: string,
    host: string,
    port: number,
    runtime: "node" | "python3",
): Promise<string> {
    const script =
        runtime === "node"
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
    const { stdout } = await promisify(execFile)(
        kubectlPath(),
        [
            "--kubeconfig",
            testKubeconfig(),
            "exec",
            "-n",
            namespace,
            pod,
            "-c",
            container,
            "--",
            ...(runtime === "node" ? ["node", "-e", script] : ["python3", "-I", "-c", script]),
        ],
        { encoding: "utf8" },
    );
    return stdout.trim();
}

/** The workspace agent's log lines (JSON), oldest first, from its pod through the kubelet. */
export function agentLogLines(namespace: string, workspace: string): Record<string, unknown>[] {
    return kubectl(["logs", "-n", namespace, `deployment/ci-${workspace}-agent`, "--tail=-1"])
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The agent's memory, as its ConfigMap holds it. */
export function agentMemory(
    namespace: string,
    workspace: string,
): { handledUntil?: Record<string, string>; lastOperation?: Record<string, Record<string, unknown>> } {
    const data = JSON.parse(
        kubectl(["get", "configmap", `ci-${workspace}-agent-memory`, "-n", namespace, "-o", "jsonpath={.data}"]) ||
            "{}",
    ) as { memory?: string };
    return data.memory ? JSON.parse(data.memory) : {};
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
export const LINK_LOCAL = {
    ip: process.env.LINK_LOCAL_IP ?? "169.254.77.1",
    port: Number(process.env.LINK_LOCAL_PORT ?? 8077),
};
