/** The local Kubernetes cluster of scripts/cluster, as the tests see it. */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    agentContextDir,
    agentImageTag,
    contextHash,
    workstationContextDir,
    workstationImageTag,
} from "../../provider/image/context";
import { testKubeconfig } from "./backends";
import { ROOT, TestStack, waitFor } from "./stacks";

export function kubectlPath(): string {
    const p = process.env.COMPUTE_INSTANCE_TEST_KUBECTL;
    if (!p || !fs.existsSync(p))
        throw new Error("COMPUTE_INSTANCE_TEST_KUBECTL is not set: run the tests with scripts/test (npm test)");
    return p;
}

export function kubectl(args: string[], kubeconfig = testKubeconfig()): string {
    // stderr is kept with the error (tests expect some commands to fail), not printed.
    return execFileSync(kubectlPath(), ["--kubeconfig", kubeconfig, ...args], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
    });
}

/**
 * A kubeconfig for a user of the cluster, with a client certificate signed by the cluster's CA
 * (user = the certificate's CN, groups = its O), for RBAC tests.
 */
export function userKubeconfig(user: string, groups: string[] = []): string {
    const clusterDir = path.dirname(testKubeconfig());
    const pki = path.join(clusterDir, "pki");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ci-user-${user}-`));
    const subject = `${groups.map((g) => `/O=${g}`).join("")}/CN=${user}`;
    execFileSync(
        "openssl",
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            `${dir}/key.pem`,
            "-out",
            `${dir}/csr.pem`,
            "-subj",
            subject,
        ],
        { stdio: "ignore" },
    );
    fs.writeFileSync(`${dir}/ext`, "extendedKeyUsage=clientAuth\n");
    execFileSync(
        "openssl",
        [
            "x509",
            "-req",
            "-in",
            `${dir}/csr.pem`,
            "-CA",
            `${pki}/ca.crt`,
            "-CAkey",
            `${pki}/ca.key`,
            "-CAcreateserial",
            "-out",
            `${dir}/cert.pem`,
            "-days",
            "2",
            "-extfile",
            `${dir}/ext`,
        ],
        { stdio: "ignore" },
    );
    const admin = fs.readFileSync(testKubeconfig(), "utf8");
    const server = /server: (\S+)/.exec(admin)?.[1];
    const ca = /certificate-authority-data: (\S+)/.exec(admin)?.[1];
    const b64 = (f: string) => fs.readFileSync(`${dir}/${f}`).toString("base64");
    const file = `${dir}/kubeconfig`;
    fs.writeFileSync(
        file,
        [
            "apiVersion: v1",
            "kind: Config",
            "current-context: local",
            "clusters:",
            "- name: local",
            "  cluster:",
            `    server: ${server}`,
            `    certificate-authority-data: ${ca}`,
            "users:",
            `- name: ${user}`,
            "  user:",
            `    client-certificate-data: ${b64("cert.pem")}`,
            `    client-key-data: ${b64("key.pem")}`,
            "contexts:",
            "- name: local",
            "  context:",
            "    cluster: local",
            `    user: ${user}`,
            "",
        ].join("\n"),
    );
    return file;
}

/** A kubeconfig whose API server does not answer (a closed port on loopback). */
export function unreachableKubeconfig(): string {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ci-unreachable-")), "kubeconfig");
    fs.writeFileSync(
        file,
        fs.readFileSync(testKubeconfig(), "utf8").replace(/server: \S+/, "server: https://127.0.0.1:1"),
    );
    return file;
}

/** After a suite on the cluster: destroy the stack, drop its state, and delete its namespace. */
export async function tearDownOnCluster(t: TestStack | undefined, namespace: string): Promise<void> {
    if (t) {
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    try {
        kubectl(["delete", "namespace", namespace, "--wait=false"]);
    } catch {
        /* already gone */
    }
}

/**
 * Makes `namespace` (created if missing) one whose pods are simulated: the local cluster's API
 * server gives its pods a node selector and a toleration that put them on the kwok nodes (tainted
 * against every other pod), and the cluster's provisioner gives its claims volumes that are never
 * mounted (see scripts/cluster). For tests of what a kubelet reports, with images no node has
 * (registry.example.com/...); pods of other namespaces run on the real node.
 */
export function simulatedNamespace(namespace: string): void {
    applyYaml(
        [
            "apiVersion: v1",
            "kind: Namespace",
            "metadata:",
            `  name: ${namespace}`,
            "  annotations:",
            "    scheduler.alpha.kubernetes.io/node-selector: type=kwok",
            `    scheduler.alpha.kubernetes.io/defaultTolerations: '[{"key":"kwok.x-k8s.io/node","operator":"Exists","effect":"NoSchedule"}]'`,
            "",
        ].join("\n"),
    );
}

/** Applies objects written as YAML, with the test cluster's admin credentials. */
export function applyYaml(yaml: string): void {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-objects-"));
    try {
        fs.writeFileSync(path.join(dir, "objects.yaml"), yaml);
        kubectl(["apply", "-f", path.join(dir, "objects.yaml")]);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** The real node's name (type=real); a test of real pods fails at once on a cluster without one. */
export function realNode(): string {
    const node = kubectl(["get", "nodes", "-l", "type=real", "-o", "jsonpath={.items[*].metadata.name}"]).trim();
    if (!node) throw new Error("the local cluster has no real node (scripts/cluster up with REAL_NODE=1)");
    return node;
}

/** This checkout's workstation and agent images (as `node bin/cli/main.js build-image` tags them). */
export const localImages = {
    workstation: workstationImageTag(contextHash(workstationContextDir())),
    agent: agentImageTag(contextHash(agentContextDir())),
};

/**
 * Imports images from Docker into the real node's containerd (`scripts/cluster load-images`;
 * quick when the node has them). Named explicitly: with no names the script also removes other
 * builds' images from the node, which other checkouts sharing the cluster may be using. This
 * checkout's own images are built first when Docker lacks them (another checkout's bootstrap or
 * `build-image --prune` removes them as earlier builds; quick when they are there).
 */
export function loadImages(...images: string[]): void {
    if (images.some((i) => i === localImages.workstation || i === localImages.agent)) {
        execFileSync("node", [path.join(ROOT, "bin/cli/main.js"), "build-image"], {
            stdio: ["ignore", "ignore", "pipe"],
        });
    }
    clusterScript(["load-images", ...images]);
}

/** This checkout's `compute-instance` CLI, aimed at a workspace's instances in a namespace of the test cluster: its stdout. */
export function clusterCli(ws: string, namespace: string): (args: string[]) => string {
    return (args) =>
        execFileSync(
            "node",
            [
                path.join(ROOT, "bin/cli/main.js"),
                ...args,
                "--workspace",
                ws,
                "--namespace",
                namespace,
                "--kubeconfig",
                testKubeconfig(),
            ],
            { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
        );
}

/** `scripts/cluster` of this checkout, on the cluster the tests use; what it printed on stdout. */
export function clusterScript(args: string[]): string {
    const clusterDir = process.env.COMPUTE_INSTANCE_TEST_CLUSTER_DIR ?? path.dirname(testKubeconfig());
    return execFileSync(path.join(ROOT, "scripts/cluster"), args, {
        env: { ...process.env, CLUSTER_DIR: clusterDir },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
    });
}

export interface PortForward {
    /** The local port on 127.0.0.1. */
    port: number;
    base: string;
    stop(): void;
}

/** `kubectl port-forward` to a pod's (or Service's) port on a free local port, as `kubeconfig`'s user, until stopped. */
export async function portForward(
    namespace: string,
    target: string,
    remotePort: number,
    kubeconfig = testKubeconfig(),
): Promise<PortForward> {
    const child: ChildProcess = spawn(
        kubectlPath(),
        ["--kubeconfig", kubeconfig, "port-forward", "-n", namespace, target, `:${remotePort}`],
        { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    try {
        const port = Number(
            await waitFor("kubectl port-forward to say its port", 30_000, async () => {
                if (child.exitCode !== null) throw new Error(`kubectl port-forward exited: ${out}`);
                return /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)?.[1];
            }),
        );
        return { port, base: `http://127.0.0.1:${port}`, stop: () => child.kill() };
    } catch (e) {
        child.kill();
        throw e;
    }
}
