// The workspace agent as a real pod of the local cluster's real node (scripts/cluster): its image
// built here and imported into the node (the Workspace's agent.image names it; nothing is pulled),
// reaching the API server through the `kubernetes` Service and each instance's Jupyter at its
// pod's address through the instance's NetworkPolicy (enforced by kube-router). It stops an idle
// instance after its period and another at its scheduled minute. Two faults of the node: its
// containerd restarted under a running instance (the pod comes back, refresh is quiet) and its
// kubelet away (suspended) across a schedule's minute (the stop the agent made then is carried
// out, and logged once, when the kubelet is back).
import { testKubeconfig } from "../support/backends";
import {
    clusterCli,
    clusterScript,
    kubectl,
    loadImages,
    localImages,
    realNode,
    tearDownOnCluster,
} from "../support/cluster";
import { agentLogLines, agentMemory, until } from "../support/real-node";
import { distantMinute, setAgentClock } from "../support/agentClock";
import { KubernetesBackend } from "../../provider/backends/kubernetes";
import { TestStack, collect, programStack, uniqueWorkspace, waitFor } from "../support/stacks";
import { scheduleKey } from "../../agent/decide";

const ws = uniqueWorkspace("kagent");
const namespace = `ci-${ws}`;
const SMALL = { size: { cpus: 0.25, memoryGb: 1 }, osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 }, readyTimeout: "5m" };
const base = {
    workspaceName: ws,
    image: localImages.workstation,
    agentImage: localImages.agent,
    agentCheckInterval: "2s",
    backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
};
let t: TestStack;
let node: string;

const json = (args: string[]) => JSON.parse(kubectl([...args, "-n", namespace, "-o", "json"]));
const replicas = (i: string) =>
    kubectl(["get", "statefulset", `ci-${ws}-${i}`, "-n", namespace, "-o", "jsonpath={.spec.replicas}"]);
const podNames = () =>
    kubectl(["get", "pods", "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}"]).split(" ").filter(Boolean);
const agentPod = () => json(["get", "pods", "-l", "app.kubernetes.io/name=compute-instance-agent"]).items[0];
const cli = clusterCli(ws, namespace);
const backend = () => new KubernetesBackend({ namespace, kubeconfig: testKubeconfig() });
/** The agent acts only on firings after it first saw the schedule. */
const agentSees = (schedule: string) =>
    waitFor(
        `the agent to see schedule ${schedule}`,
        60_000,
        async () => agentMemory(namespace, ws).handledUntil?.[scheduleKey("alice", schedule)] !== undefined,
    );
const outcomes = (instance: string) => agentLogLines(namespace, ws).filter((l) => l.instance === instance && l.status);

async function quiet(): Promise<void> {
    const r = await t.stack.refresh(collect(t));
    expect(Object.keys(r.summary.resourceChanges ?? {}).filter((k) => k !== "same")).toEqual([]);
    const p = await t.stack.preview(collect(t));
    expect(Object.keys(p.changeSummary).filter((k) => k !== "same")).toEqual([]);
}

/** Jupyter of an instance through its Service's cluster IP, from the host (kube-proxy). */
async function jupyterStatus(instance: string): Promise<number> {
    const ip = json(["get", "service", `ci-${ws}-${instance}`]).spec.clusterIP;
    const token = ((await t.stack.outputs()).out.value as Record<string, { token: string }>)[instance].token;
    return (
        await fetch(`http://${ip}:8888/api/status`, {
            headers: { Authorization: `token ${token}` },
            signal: AbortSignal.timeout(5000),
        })
    ).status;
}

/** Whether the node's kubelet answers its health check (scripts/lib/cluster-node.sh's port). */
async function kubeletAnswers(): Promise<boolean> {
    try {
        return (await fetch("http://127.0.0.1:10248/healthz", { signal: AbortSignal.timeout(2000) })).ok;
    } catch {
        return false;
    }
}

/** The real node's Ready condition as its kubelet reports it. */
const nodeReady = () =>
    JSON.parse(kubectl(["get", "node", node, "-o", "json"])).status.conditions.find(
        (c: { type: string }) => c.type === "Ready",
    ) as { status: string; message: string };

beforeAll(async () => {
    node = realNode();
    loadImages(localImages.workstation, localImages.agent);
    t = await programStack("instance", {
        ...base,
        instances: { alice: SMALL, bob: { ...SMALL, idleShutdown: { after: "1m" } } },
    });
    const r = await t.stack.up(collect(t));
    expect(r.summary.result).toBe("succeeded");
}, 600_000);

afterAll(async () => {
    // A fault test that failed midway must not leave the node without its daemons.
    try {
        clusterScript(["thaw", "kubelet"]);
    } catch {
        /* not running: up starts it */
    }
    try {
        clusterScript(["up"]);
    } finally {
        await tearDownOnCluster(t, namespace);
    }
});

describe("the workspace agent as a pod of the real node", () => {
    test("its Deployment's pod runs on the real node from the image imported here (not pulled) and reaches the API server through the kubernetes Service", async () => {
        const p = await waitFor("the agent's pod to be ready", 120_000, async () => {
            const pod = agentPod();
            return pod?.status?.containerStatuses?.[0]?.ready === true && pod;
        });
        expect(p.spec.nodeName).toBe(node);
        expect(p.spec.containers[0].image).toBe(localImages.agent);
        expect(p.status.containerStatuses[0].containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
        const events = json(["get", "events", "--field-selector", `involvedObject.name=${p.metadata.name}`]).items.map(
            (e: { reason: string; message: string }) => `${e.reason}: ${e.message}`,
        );
        expect(events).toContainEqual(
            expect.stringMatching(/^Pulled: Container image ".*compute-instance-agent:.*" already present on machine/),
        );
        expect(events.filter((e: string) => /^Pulling/.test(e))).toEqual([]);
        // The in-cluster configuration: the `kubernetes` Service's address, no kubeconfig.
        const service = JSON.parse(kubectl(["get", "service", "kubernetes", "-n", "default", "-o", "json"])).spec
            .clusterIP;
        const first = await waitFor("the agent's first log line", 30_000, async () => agentLogLines(namespace, ws)[0]);
        expect(first.message).toContain(
            `on the Kubernetes API server at https://${service}:443 (namespace ${namespace})`,
        );
    });

    test("idle shutdown: bob, idle, is stopped after its minute (the agent read his Jupyter at his pod's address, through his NetworkPolicy); alice is not", async () => {
        await waitFor("bob to be stopped for being idle", 240_000, async () => replicas("bob") === "0");
        const stops = await waitFor(
            "the agent to log bob's stop",
            60_000,
            async () => outcomes("bob").length > 0 && outcomes("bob"),
        );
        expect(stops).toEqual([
            expect.objectContaining({
                operation: "Stop",
                trigger: "IdleShutdown",
                status: "Succeeded",
                reason: expect.stringMatching(/^idle for \d+s \(limit 60s\)/),
            }),
        ]);
        expect(podNames()).not.toContain(`ci-${ws}-bob-0`);
        expect(replicas("alice")).toBe("1");
        // Every check read what it needed: an instance it could not reach would be logged as skipped.
        expect(agentLogLines(namespace, ws).filter((l) => l.level === "error")).toEqual([]);
        await quiet();
    });

    test("containerd restarted under a running instance: the pod comes back, Jupyter answers, refresh and preview are quiet", async () => {
        const before = json(["get", "pod", `ci-${ws}-alice-0`]);
        expect(await jupyterStatus("alice")).toBe(200);
        clusterScript(["stop", "containerd"]);
        try {
            // The kubelet notices (its runtime check fails), so the fault is real before it is repaired.
            await waitFor(
                "the kubelet to report its container runtime down",
                60_000,
                async () => nodeReady().status !== "True" && /container runtime/i.test(nodeReady().message),
            );
        } finally {
            clusterScript(["up"]);
        }
        await waitFor("the node to be Ready again", 120_000, async () => nodeReady().status === "True");
        await waitFor("alice's pod to be ready again", 180_000, async () => {
            const p = json(["get", "pod", `ci-${ws}-alice-0`]);
            return p.status.containerStatuses?.[0]?.ready === true;
        });
        expect(
            await waitFor(
                "alice's Jupyter to answer",
                60_000,
                async () => (await jupyterStatus("alice").catch(() => 0)) === 200,
            ),
        ).toBe(true);
        const after = json(["get", "pod", `ci-${ws}-alice-0`]);
        // The same pod (nothing recreated it); its container outlived containerd in its shim.
        expect(after.metadata.uid).toBe(before.metadata.uid);
        expect(after.status.containerStatuses[0].containerID).toBe(before.status.containerStatuses[0].containerID);
        expect(agentPod().status.containerStatuses[0].ready).toBe(true);
        await quiet();
    });

    test("a stop schedule: the agent stops alice at its minute; refresh and preview are quiet", async () => {
        const stop = distantMinute();
        await t.setConfig({
            ...base,
            instances: {
                alice: { ...SMALL, schedules: [{ name: "noon", action: "stop", cron: stop.cron }] },
                bob: { ...SMALL, idleShutdown: { after: "1m" } },
            },
        });
        await t.stack.up(collect(t));
        expect(replicas("alice")).toBe("1");
        await agentSees("noon");
        await setAgentClock(backend(), ws, new Date(stop.at.getTime() + 3000));
        await waitFor("the stop schedule to fire", 30_000, async () => replicas("alice") === "0");
        const ops = await waitFor(
            "the agent to log alice's stop",
            60_000,
            async () => outcomes("alice").length > 0 && outcomes("alice"),
        );
        expect(ops).toEqual([
            expect.objectContaining({
                operation: "Stop",
                trigger: "Schedule",
                status: "Succeeded",
                reason: `schedule "noon" fired at ${stop.at.toISOString()}`,
            }),
        ]);
        await waitFor("alice's pod to be gone", 60_000, async () => !podNames().includes(`ci-${ws}-alice-0`));
        await setAgentClock(backend(), ws, undefined);
        await quiet();
    });

    test("the kubelet away (frozen) across a schedule's minute: the agent's stop is carried out when the kubelet is back, logged once", async () => {
        expect(cli(["start", "alice"])).toMatch(/^alice\tRunning\t/);
        const stop = distantMinute();
        await t.setConfig({
            ...base,
            instances: {
                alice: { ...SMALL, schedules: [{ name: "evening", action: "stop", cron: stop.cron }] },
                bob: { ...SMALL, idleShutdown: { after: "1m" } },
            },
        });
        await t.stack.up(collect(t));
        await agentSees("evening");
        const uid = json(["get", "pod", `ci-${ws}-alice-0`]).metadata.uid;
        // Frozen rather than killed: an `up` of the shared cluster by another test meanwhile would
        // start a killed kubelet again at once.
        clusterScript(["freeze", "kubelet"]);
        try {
            expect(await kubeletAnswers()).toBe(false);
            // The schedule's minute comes while the kubelet is away.
            await setAgentClock(backend(), ws, new Date(stop.at.getTime() + 3000));
            // The agent (its container runs on without the kubelet) scales alice to zero; the
            // pod it must take away is the kubelet's to stop, so it stays.
            await waitFor("the agent to scale alice to zero", 40_000, async () => replicas("alice") === "0");
            const p = json(["get", "pod", `ci-${ws}-alice-0`]);
            expect(p.metadata.uid).toBe(uid);
            expect(p.metadata.deletionTimestamp).toBeDefined();
            await until(new Date(Date.now() + 20_000));
            expect(podNames()).toContain(`ci-${ws}-alice-0`);
            expect(await kubeletAnswers()).toBe(false);
        } finally {
            clusterScript(["thaw", "kubelet"]);
        }
        await waitFor("alice's pod to be gone", 120_000, async () => !podNames().includes(`ci-${ws}-alice-0`));
        const ofEvening = () => outcomes("alice").filter((l) => String(l.reason).includes("evening"));
        const evening = await waitFor(
            "the agent to log the stop",
            120_000,
            async () => ofEvening().length > 0 && ofEvening(),
        );
        expect(evening).toEqual([
            expect.objectContaining({
                operation: "Stop",
                trigger: "Schedule",
                status: "Succeeded",
                reason: `schedule "evening" fired at ${stop.at.toISOString()}`,
            }),
        ]);
        expect(agentMemory(namespace, ws).lastOperation?.alice).toMatchObject({
            operation: "Stop",
            trigger: "Schedule",
            status: "Succeeded",
        });
        expect(cli(["status", "alice"])).toMatch(/^alice\tStopped\t/);
        await setAgentClock(backend(), ws, undefined);
        await quiet();
    });
});
