/**
 * bench/k8s-ready: on the local cluster's real node (scripts/cluster), in the same run and
 * interleaved round by round:
 *   - create → Jupyter answering: `pulumi up --skip-preview` of one instance, then its Jupyter
 *     polled at its Service's address, against a bare pod of the same image, size and security
 *     context applied with `kubectl apply` and polled at its address the same way;
 *   - stop → start: `compute-instance start` of the stopped instance until Jupyter answers,
 *     against `kubectl scale --replicas=1` of a bare StatefulSet of that pod (scaled to 0 first);
 *   - a no-op `pulumi up --skip-preview` of the created stack: Pulumi's own fixed cost, which is
 *     in every up (the create's time beyond it is what this project adds).
 * Both sides poll `/api/status` with the token every 100 ms (400 ms per probe, as the provider's
 * readiness probe), from this machine. The images are imported into the node before anything is
 * timed (warm). Medians over R rounds (default 3) and their ratios are printed.
 *   bench/run k8s-ready [R]
 * The bare pods have emptyDir volumes where the instance has its claims (the OS disk, the user
 * files): what a person would type, without the disks that outlive the pod.
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as path from "path";
import { programStack, uniqueWorkspace, ROOT } from "../test/support/stacks";
import { testKubeconfig } from "../test/support/backends";
import { applyYaml, kubectl, loadImages, localImages, realNode } from "../test/support/cluster";
import { httpStatus } from "../provider/http";

const rounds = Number(process.argv[2] ?? 3);
const SIZE = { cpus: 0.5, memoryGb: 1 };
const POLL_LIMIT_MS = 5 * 60_000;

const seconds = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e9;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function untilAnswers(url: string, token: string): Promise<void> {
    const deadline = Date.now() + POLL_LIMIT_MS;
    for (;;) {
        try {
            if ((await httpStatus(url, { Authorization: `token ${token}` }, 400)) === 200) return;
        } catch {
            /* not yet */
        }
        if (Date.now() > deadline) throw new Error(`${url} did not answer within ${POLL_LIMIT_MS / 1000}s`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** The address of the first pod matching `selector`, once it has one. */
async function podAddress(namespace: string, selector: string): Promise<string> {
    const deadline = Date.now() + POLL_LIMIT_MS;
    for (;;) {
        const ip = kubectl([
            "get",
            "pods",
            "-n",
            namespace,
            "-l",
            selector,
            "-o",
            "jsonpath={.items[0].status.podIP}",
        ]).trim();
        if (ip) return ip;
        if (Date.now() > deadline) throw new Error(`no pod of ${selector} in ${namespace} got an address`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** The instance's pod as a person would write it: same image, size, user and token, no claims. */
function barePodSpec(token: string) {
    const resources = { cpu: `${SIZE.cpus * 1000}m`, memory: `${SIZE.memoryGb}Gi` };
    return {
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: 10,
        securityContext: {
            runAsUser: 1000,
            runAsGroup: 1000,
            runAsNonRoot: true,
            fsGroup: 1000,
            seccompProfile: { type: "RuntimeDefault" },
        },
        containers: [
            {
                name: "workstation",
                image: localImages.workstation,
                imagePullPolicy: "Never",
                env: [
                    { name: "JUPYTER_TOKEN", value: token },
                    { name: "CI_APPLICATIONS", value: "jupyterlab,jupyter,terminal" },
                ],
                ports: [{ name: "jupyter", containerPort: 8888 }],
                resources: { requests: resources, limits: resources },
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                volumeMounts: [
                    { name: "home", mountPath: "/home/azureuser" },
                    { name: "temp", mountPath: "/mnt" },
                    { name: "files", mountPath: "/home/azureuser/cloudfiles/code" },
                ],
            },
        ],
        volumes: [
            { name: "home", emptyDir: {} },
            { name: "temp", emptyDir: { sizeLimit: "1Gi" } },
            { name: "files", emptyDir: {} },
        ],
    };
}

/** One round of the baselines: a bare pod created, then a bare StatefulSet scaled 0 → 1. */
async function baseline(): Promise<{ create: number; start: number }> {
    const namespace = `bench-ready-${randomBytes(4).toString("hex")}`;
    const token = randomBytes(32).toString("hex");
    try {
        applyYaml(JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }));
        const pod = {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "bare", namespace, labels: { bench: "pod" } },
            spec: barePodSpec(token),
        };
        const created = process.hrtime.bigint();
        applyYaml(JSON.stringify(pod));
        await untilAnswers(`http://${await podAddress(namespace, "bench=pod")}:8888/api/status`, token);
        const create = seconds(created);
        kubectl(["delete", "pod", "bare", "-n", namespace, "--wait=true"]);

        applyYaml(
            JSON.stringify({
                apiVersion: "apps/v1",
                kind: "StatefulSet",
                metadata: { name: "bare", namespace },
                spec: {
                    replicas: 0,
                    serviceName: "bare",
                    selector: { matchLabels: { bench: "sts" } },
                    template: { metadata: { labels: { bench: "sts" } }, spec: barePodSpec(token) },
                },
            }),
        );
        const started = process.hrtime.bigint();
        kubectl(["scale", "statefulset", "bare", "-n", namespace, "--replicas=1"]);
        await untilAnswers(`http://${await podAddress(namespace, "bench=sts")}:8888/api/status`, token);
        const start = seconds(started);
        kubectl(["scale", "statefulset", "bare", "-n", namespace, "--replicas=0"]);
        return { create, start };
    } finally {
        kubectl(["delete", "namespace", namespace, "--wait=true", "--timeout=120s"]);
    }
}

/** One round of the product: `pulumi up` of one instance, then stop and a timed start. */
async function product(): Promise<{ create: number; up: number; noop: number; start: number }> {
    const ws = uniqueWorkspace("kready");
    const namespace = `ci-${ws}`;
    const t = await programStack("instance", {
        workspaceName: ws,
        image: localImages.workstation,
        agentImage: localImages.agent,
        backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
        instances: { alice: { size: SIZE, osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 } } },
    });
    const env = { ...process.env, ...(t.stack.workspace as unknown as { envVars: Record<string, string> }).envVars };
    const cli = (args: string[]) =>
        execFileSync(
            "node",
            [
                path.join(ROOT, "bin/cli/main.js"),
                ...args,
                "alice",
                "--workspace",
                ws,
                "--namespace",
                namespace,
                "--kubeconfig",
                testKubeconfig(),
            ],
            { stdio: "ignore" },
        );
    try {
        const pulumiUp = () =>
            execFileSync("pulumi", ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", t.stack.name], {
                cwd: t.stack.workspace.workDir,
                env,
                stdio: "ignore",
            });
        const created = process.hrtime.bigint();
        pulumiUp();
        const up = seconds(created);
        // The token and address from the cluster (two quick reads), not from the stack's outputs
        // (another run of the CLI), so that little is timed beyond the up.
        const token = Buffer.from(
            kubectl(["get", "secret", `ci-${ws}-alice-token`, "-n", namespace, "-o", "jsonpath={.data.token}"]),
            "base64",
        ).toString("utf8");
        const url = `http://${kubectl(["get", "service", `ci-${ws}-alice`, "-n", namespace, "-o", "jsonpath={.spec.clusterIP}"]).trim()}:8888/api/status`;
        await untilAnswers(url, token);
        const create = seconds(created);
        // Pulumi's own fixed cost (CLI, language host, program, plugin): a no-op up of the same stack.
        const noopStarted = process.hrtime.bigint();
        pulumiUp();
        const noop = seconds(noopStarted);

        cli(["stop"]);
        const started = process.hrtime.bigint();
        cli(["start"]);
        await untilAnswers(url, token);
        const start = seconds(started);
        return { create, up, noop, start };
    } finally {
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
        kubectl(["delete", "namespace", namespace, "--wait=false"]);
    }
}

async function main() {
    console.log(
        `k8s-ready: ${rounds} round(s) on the real node ${realNode()}; image ${localImages.workstation}, ${SIZE.cpus} CPU, ${SIZE.memoryGb} GiB`,
    );
    loadImages(localImages.workstation, localImages.agent);
    const base: { create: number; start: number }[] = [];
    const ours: { create: number; up: number; noop: number; start: number }[] = [];
    for (let i = 0; i < rounds; i++) {
        // Interleaved, one pod at a time, so the machine's drift and load weigh on both sides alike.
        base.push(await baseline());
        ours.push(await product());
        console.log(
            `round ${i + 1}/${rounds}: create: kubectl apply ${base[i].create.toFixed(2)}s, pulumi up ${ours[i].create.toFixed(2)}s (up returned at ${ours[i].up.toFixed(2)}s; no-op up ${ours[i].noop.toFixed(2)}s); ` +
                `start: kubectl scale ${base[i].start.toFixed(2)}s, compute-instance start ${ours[i].start.toFixed(2)}s`,
        );
    }
    const row = (label: string, xs: number[], baselineXs: number[]) =>
        console.log(
            `${label.padEnd(52)} median ${median(xs).toFixed(2)}s  baseline ${median(baselineXs).toFixed(2)}s  ratio ${(median(xs) / median(baselineXs)).toFixed(2)}`,
        );
    console.log("");
    row(
        "create → Jupyter answers (pulumi up --skip-preview)",
        ours.map((x) => x.create),
        base.map((x) => x.create),
    );
    row(
        "  of which beyond a no-op pulumi up",
        ours.map((x) => x.create - x.noop),
        base.map((x) => x.create),
    );
    row(
        "stop → start → Jupyter answers (compute-instance)",
        ours.map((x) => x.start),
        base.map((x) => x.start),
    );
    console.log(`${"no-op pulumi up --skip-preview".padEnd(52)} median ${median(ours.map((x) => x.noop)).toFixed(2)}s`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
