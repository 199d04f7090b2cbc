/** The local Kubernetes cluster of scripts/cluster, as the tests see it. */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { testKubeconfig } from "./backends";
import type { TestStack } from "./stacks";

export function kubectlPath(): string {
    const p = process.env.COMPUTE_INSTANCE_TEST_KUBECTL;
    if (!p || !fs.existsSync(p)) throw new Error("COMPUTE_INSTANCE_TEST_KUBECTL is not set: run the tests with scripts/test (npm test)");
    return p;
}

export function kubectl(args: string[], kubeconfig = testKubeconfig()): string {
    // stderr is kept with the error (tests expect some commands to fail), not printed.
    return execFileSync(kubectlPath(), ["--kubeconfig", kubeconfig, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
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
    execFileSync("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${dir}/key.pem`, "-out", `${dir}/csr.pem`, "-subj", subject], { stdio: "ignore" });
    fs.writeFileSync(`${dir}/ext`, "extendedKeyUsage=clientAuth\n");
    execFileSync("openssl", ["x509", "-req", "-in", `${dir}/csr.pem`, "-CA", `${pki}/ca.crt`, "-CAkey", `${pki}/ca.key`, "-CAcreateserial", "-out", `${dir}/cert.pem`, "-days", "2", "-extfile", `${dir}/ext`], { stdio: "ignore" });
    const admin = fs.readFileSync(testKubeconfig(), "utf8");
    const server = /server: (\S+)/.exec(admin)?.[1];
    const ca = /certificate-authority-data: (\S+)/.exec(admin)?.[1];
    const b64 = (f: string) => fs.readFileSync(`${dir}/${f}`).toString("base64");
    const file = `${dir}/kubeconfig`;
    fs.writeFileSync(file, [
        "apiVersion: v1", "kind: Config", "current-context: local",
        "clusters:", "- name: local", "  cluster:", `    server: ${server}`, `    certificate-authority-data: ${ca}`,
        "users:", `- name: ${user}`, "  user:", `    client-certificate-data: ${b64("cert.pem")}`, `    client-key-data: ${b64("key.pem")}`,
        "contexts:", "- name: local", "  context:", "    cluster: local", `    user: ${user}`, "",
    ].join("\n"));
    return file;
}

/** A kubeconfig whose API server does not answer (a closed port on loopback). */
export function unreachableKubeconfig(): string {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ci-unreachable-")), "kubeconfig");
    fs.writeFileSync(file, fs.readFileSync(testKubeconfig(), "utf8").replace(/server: \S+/, "server: https://127.0.0.1:1"));
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
    } catch { /* already gone */ }
}

/**
 * Makes `namespace` (created if missing) one whose pods are simulated: the local cluster's API
 * server gives its pods a node selector and a toleration that put them on the kwok nodes (tainted
 * against every other pod), and the cluster's provisioner gives its claims volumes that are never
 * mounted (see scripts/cluster). For tests of what a kubelet reports, with images no node has
 * (registry.example.com/...); pods of other namespaces run on the real node.
 */
export function simulatedNamespace(namespace: string): void {
    applyYaml([
        "apiVersion: v1", "kind: Namespace", "metadata:", `  name: ${namespace}`, "  annotations:",
        "    scheduler.alpha.kubernetes.io/node-selector: type=kwok",
        `    scheduler.alpha.kubernetes.io/defaultTolerations: '[{"key":"kwok.x-k8s.io/node","operator":"Exists","effect":"NoSchedule"}]'`, "",
    ].join("\n"));
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
