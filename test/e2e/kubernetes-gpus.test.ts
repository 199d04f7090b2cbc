// GPUs on the local Kubernetes cluster: a node that advertises nvidia.com/gpu (and is tainted, as
// GPU nodes commonly are) takes an NC-series instance; a GPU request no node can meet fails the
// preview; one that no node has room for right now fails the create with the scheduler's reason
// instead of a pod pending forever, and leaves nothing behind.
import { testKubeconfig } from "../support/backends";
import { applyYaml, kubectl, simulatedNamespace, tearDownOnCluster } from "../support/cluster";
import { TestStack, collect, failureOf, programStack, uniqueWorkspace, waitFor } from "../support/stacks";

const ws = uniqueWorkspace("k8g");
const namespace = `ci-${ws}`;
const node = `kwok-gpu-${ws}`;
let t: TestStack;

const config = (instances: Record<string, object>, quota?: object) => ({
    workspaceName: ws,
    ...(quota ? { quota } : {}),
    backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
    image: "registry.example.com/ml/workstation:1",
    instances,
});
const small = { tempDisk: { sizeGb: 1 }, osDisk: { sizeGb: 1 }, readyTimeout: "2m" };
const json = (args: string[]) => JSON.parse(kubectl([...args, "-o", "json"]));

async function previewError(instances: Record<string, object>, quota?: object): Promise<string> {
    await t.setConfig(config(instances, quota));
    return failureOf(t.stack.preview());
}

let server = "";

beforeAll(async () => {
    // The first test needs a cluster with no GPU node: remove any an aborted run left behind.
    const stale = kubectl(["get", "nodes", "-o", "name"])
        .split("\n")
        .filter((n) => n.startsWith("node/kwok-gpu-"));
    if (stale.length) kubectl(["delete", ...stale, "--wait=false"]);
    server = kubectl(["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]).trim();
    t = await programStack("instance", config({}));
});

afterAll(async () => {
    await tearDownOnCluster(t, namespace);
    try {
        kubectl(["delete", "node", node, "--wait=false"]);
    } catch {
        /* not there */
    }
});

describe("GPUs on Kubernetes", () => {
    test("a GPU size on a cluster with no GPU node fails the preview, saying what is missing", async () => {
        const m = await previewError({ alice: { ...small, size: "Standard_NC4as_T4_v3" } });
        expect(m).toContain(
            `[size] Standard_NC4as_T4_v3 needs 1 GPU(s) but the Kubernetes API server at ${server} (namespace ${namespace})`,
        );
        expect(m).toContain(
            "has no schedulable node that advertises nvidia.com/gpu (GPU nodes need the NVIDIA device plugin)",
        );
        expect(() => kubectl(["get", "namespace", namespace])).toThrow();
    });

    test("a node that advertises two GPUs takes an NC-series instance: the pod asks for one and tolerates the taint", async () => {
        // The GPU node is a kwok node: the namespace's pods are simulated (and its claims pinned
        // to no node), made only now that the first test has seen no namespace.
        simulatedNamespace(namespace);
        applyYaml(`
apiVersion: v1
kind: Node
metadata:
  name: ${node}
  annotations: { kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0" }
  labels: { type: kwok, kubernetes.io/hostname: ${node}, kubernetes.io/os: linux, kubernetes.io/arch: amd64, nvidia.com/gpu.present: "true" }
spec:
  taints: [{ key: nvidia.com/gpu, value: present, effect: NoSchedule }]
status:
  allocatable: { cpu: "8", memory: 64Gi, pods: "110", nvidia.com/gpu: "2" }
  capacity: { cpu: "8", memory: 64Gi, pods: "110", nvidia.com/gpu: "2" }
`);
        await waitFor(`kwok to make ${node} Ready`, 30_000, async () =>
            json(["get", "node", node]).status.conditions?.some(
                (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
            ),
        );
        await t.setConfig(config({ alice: { ...small, size: "Standard_NC4as_T4_v3" } }));
        await t.stack.up(collect(t));
        const pod = json(["get", "pod", `ci-${ws}-alice-0`, "-n", namespace]);
        expect(pod.spec.nodeName).toBe(node);
        expect(pod.spec.containers[0].resources.limits).toEqual({ cpu: "4", memory: "28Gi", "nvidia.com/gpu": "1" });
        expect(pod.spec.tolerations).toContainEqual({
            key: "nvidia.com/gpu",
            operator: "Exists",
            effect: "NoSchedule",
        });
        const out = ((await t.stack.outputs()).out.value as Record<string, { status: string }>).alice;
        expect(out.status).toBe("Running");
    });

    test("more GPUs than any node has fails the preview with the most a node has", async () => {
        const m = await previewError({
            alice: { ...small, size: "Standard_NC4as_T4_v3" },
            bob: { ...small, size: { cpus: 1, memoryGb: 2, gpus: 3 } },
        });
        expect(m).toContain(
            `[size] the size needs 3 GPU(s) but the most any node of the Kubernetes API server at ${server} (namespace ${namespace}) has is 2`,
        );
    });

    test("GPUs no node has room for now: the create fails with the scheduler's reason, not a pod pending forever", async () => {
        await t.setConfig(
            config({
                alice: { ...small, size: "Standard_NC4as_T4_v3" },
                carol: { ...small, size: { cpus: 1, memoryGb: 2, gpus: 2 } },
            }),
        );
        const message = await failureOf(t.stack.up(collect(t)));
        // The scheduler's verdict, not the ready timeout's "did not answer within".
        expect(message).toMatch(
            /pod ci-\S+-carol-0 did not start: it cannot be scheduled: .*Insufficient nvidia\.com\/gpu/,
        );
        expect(message).not.toContain("did not answer within");
        // Nothing half-created: carol's StatefulSet is gone; alice runs on.
        expect(() => kubectl(["get", "statefulset", `ci-${ws}-carol`, "-n", namespace])).toThrow();
        expect(json(["get", "pod", `ci-${ws}-alice-0`, "-n", namespace]).status.phase).toBe("Running");
    });

    test("a GPU quota counts GPUs across the workspace", async () => {
        const m = await previewError(
            {
                alice: { ...small, size: "Standard_NC4as_T4_v3" },
                bob: { ...small, size: { cpus: 1, memoryGb: 2, gpus: 1 } },
            },
            { gpus: 1 },
        );
        expect(m).toContain(`[quota.gpus] workspace "${ws}" would use 2 GPUs of its quota of 1: alice 1, bob 1 (new)`);
        expect(() => kubectl(["get", "statefulset", `ci-${ws}-bob`, "-n", namespace])).toThrow();
    });
});
