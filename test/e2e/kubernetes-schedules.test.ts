// The workspace agent on Kubernetes. The local cluster's pods are simulated (kwok), so the agent's
// Deployment does not run a process here; the test runs the same agent program beside the cluster
// with the token of the agent's own ServiceAccount: what it can do is exactly what its Role allows.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { testKubeconfig } from "../support/backends";
import { kubectl, simulatedNamespace, tearDownOnCluster } from "../support/cluster";
import { ROOT, TestStack, collect, programStack, uniqueWorkspace, waitFor } from "../support/stacks";
import { KubernetesBackend } from "../../provider/backends/kubernetes";
import { scheduleKey } from "../../agent/decide";
import { distantMinute, setAgentClock } from "../support/agentClock";

describe("the workspace agent on Kubernetes", () => {
    const ws = uniqueWorkspace("ksch");
    const namespace = `ci-${ws}`;
    const sa = `system:serviceaccount:${namespace}:ci-${ws}-agent`;
    // Hours away: the agent is told the time (its test clock) once it has seen the schedule.
    const stop = distantMinute();
    let t: TestStack;
    let agent: ChildProcess | undefined;
    const agentOutput: string[] = [];

    beforeAll(async () => {
        simulatedNamespace(namespace);
        t = await programStack("instance", {
            workspaceName: ws,
            image: "registry.example.com/ml/workstation:1",
            agentCheckInterval: "2s",
            backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
            instances: {
                alice: {
                    size: { cpus: 1, memoryGb: 2 },
                    schedules: [{ action: "stop", cron: stop.cron }],
                    idleShutdown: { after: "30m" },
                },
            },
        });
        await t.stack.up(collect(t));
    });

    afterAll(async () => {
        agent?.kill("SIGTERM");
        await tearDownOnCluster(t, namespace);
    });

    test("the agent is a Deployment with its own ServiceAccount; kubectl shows it", () => {
        // The default agent image is in no registry: the preview and up say so.
        expect(t.log.join("")).toMatch(
            /warning: the workspace agent's image compute-instance-agent:\S+ is built from this package and is in no registry/,
        );
        expect(
            kubectl([
                "get",
                "deployment",
                `ci-${ws}-agent`,
                "-n",
                namespace,
                "-o",
                "jsonpath={.spec.template.spec.serviceAccountName} {.spec.replicas}",
            ]),
        ).toBe(`ci-${ws}-agent 1`);
        const policies = JSON.parse(
            kubectl(["get", "configmap", `ci-${ws}-agent-policies`, "-n", namespace, "-o", "jsonpath={.data}"]),
        );
        expect(Object.keys(policies).sort()).toEqual(["idle.alice", "schedule.alice.0"]);
        expect(JSON.parse(policies["schedule.alice.0"])).toEqual({
            action: "stop",
            cron: stop.cron,
            timeZone: "UTC",
            enabled: true,
        });
    });

    test("its Role lets it scale instances and read what it needs, and nothing else", () => {
        const can = (args: string[]) => {
            try {
                return kubectl(["auth", "can-i", "--as", sa, ...args]).trim();
            } catch (e) {
                return String((e as { stdout?: string }).stdout ?? "").trim();
            }
        };
        expect(can(["patch", "statefulsets", "-n", namespace])).toBe("yes");
        expect(can(["get", "secrets", "-n", namespace])).toBe("yes");
        expect(can(["patch", `configmap/ci-${ws}-agent-memory`, "-n", namespace])).toBe("yes");
        expect(can(["patch", `configmap/ci-${ws}-agent-policies`, "-n", namespace])).toBe("no");
        expect(can(["delete", "statefulsets", "-n", namespace])).toBe("no");
        expect(can(["create", "pods", "-n", namespace])).toBe("no");
        expect(can(["list", "secrets", "-n", namespace])).toBe("no");
        expect(can(["get", "secrets", "-n", "default"])).toBe("no");
        expect(can(["patch", "statefulsets", "-n", "default"])).toBe("no");
    });

    test("with only its ServiceAccount's rights, the agent stops the instance at its scheduled minute; refresh and preview stay quiet", async () => {
        const token = kubectl(["create", "token", `ci-${ws}-agent`, "-n", namespace, "--duration", "1h"]).trim();
        const admin = fs.readFileSync(testKubeconfig(), "utf8");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-agent-"));
        const kubeconfig = path.join(dir, "kubeconfig");
        fs.writeFileSync(
            kubeconfig,
            [
                "apiVersion: v1",
                "kind: Config",
                "current-context: agent",
                "clusters:",
                "- name: local",
                "  cluster:",
                `    server: ${/server: (\S+)/.exec(admin)?.[1]}`,
                `    certificate-authority-data: ${/certificate-authority-data: (\S+)/.exec(admin)?.[1]}`,
                "users:",
                "- name: agent",
                "  user:",
                `    token: ${token}`,
                "contexts:",
                "- name: agent",
                "  context:",
                "    cluster: local",
                "    user: agent",
                `    namespace: ${namespace}`,
                "",
            ].join("\n"),
        );
        agent = spawn("node", [path.join(ROOT, "bin/agent-image/agent.js")], {
            env: {
                ...process.env,
                CI_AGENT_WORKSPACE: ws,
                CI_AGENT_BACKEND: JSON.stringify({ kind: "kubernetes", namespace, kubeconfig }),
                CI_AGENT_CHECK_INTERVAL_SECONDS: "2",
            },
            stdio: ["ignore", "pipe", "pipe"],
        });
        agent.stdout?.on("data", (d: Buffer) => agentOutput.push(d.toString()));
        agent.stderr?.on("data", (d: Buffer) => agentOutput.push(d.toString()));

        const replicas = () =>
            kubectl(["get", "statefulset", `ci-${ws}-alice`, "-n", namespace, "-o", "jsonpath={.spec.replicas}"]);
        expect(replicas()).toBe("1");
        const memory = () =>
            JSON.parse(
                JSON.parse(
                    kubectl(["get", "configmap", `ci-${ws}-agent-memory`, "-n", namespace, "-o", "jsonpath={.data}"]) ||
                        "{}",
                ).memory ?? "{}",
            );
        // The agent acts only on firings after it first saw the schedule.
        await waitFor("the agent to see the schedule", 60_000, async () =>
            Boolean(memory().handledUntil?.[scheduleKey("alice", "0")]),
        );
        await new Promise((r) => setTimeout(r, 4000)); // two more checks before its minute: none acts
        expect(replicas()).toBe("1");
        const backend = new KubernetesBackend({ namespace, kubeconfig: testKubeconfig() });
        await setAgentClock(backend, ws, new Date(stop.at.getTime() + 3000));
        const deadline = Date.now() + 30_000;
        while (replicas() !== "0") {
            if (Date.now() > deadline)
                throw new Error(`not stopped 30s after its minute; agent said:\n${agentOutput.join("")}`);
            await new Promise((r) => setTimeout(r, 1000));
        }
        // Scaled to zero at once; the agent logs the stop when the pod is gone, a few seconds on.
        const logged = () =>
            agentOutput
                .join("")
                .split("\n")
                .filter((l) => l.startsWith("{"))
                .map((l) => JSON.parse(l));
        while (!logged().some((l) => l.status)) {
            if (Date.now() > deadline + 60_000)
                throw new Error(`the stop was never logged; agent said:\n${agentOutput.join("")}`);
            await new Promise((r) => setTimeout(r, 500));
        }
        const lines = logged();
        // Outside the cluster the instance's Jupyter cannot be reached for its idleness: the agent
        // says so once, goes on, and the schedule still acts.
        expect(lines.filter((l) => l.level === "error")).toEqual([
            expect.objectContaining({ instance: "alice", message: expect.stringMatching(/^skipped this check: /) }),
        ]);
        expect(lines.filter((l) => l.status)).toEqual([
            expect.objectContaining({
                instance: "alice",
                operation: "Stop",
                trigger: "Schedule",
                status: "Succeeded",
                reason: `schedule "0" fired at ${stop.at.toISOString()}`,
            }),
        ]);
        // What it did, it remembered, in the only ConfigMap it may write.
        expect(memory().lastOperation.alice).toMatchObject({
            operation: "Stop",
            trigger: "Schedule",
            status: "Succeeded",
        });

        const r = await t.stack.refresh(collect(t));
        expect(Object.keys(r.summary.resourceChanges ?? {}).filter((k) => k !== "same")).toEqual([]);
        const p = await t.stack.preview();
        expect(Object.keys(p.changeSummary).filter((k) => k !== "same")).toEqual([]);
        expect(replicas()).toBe("0");
    });
});
