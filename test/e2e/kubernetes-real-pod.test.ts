// An instance whose pod really runs: on the local cluster's real node (kubelet, containerd,
// kube-proxy; scripts/cluster), from the workstation image built here and imported into the node.
// Through the real Pulumi CLI: the pod runs on that node, JupyterLab answers through
// `kubectl port-forward` and through the Service's address from the host (200 with the token, 403
// without), the instance user writes its home on the OS-disk claim (a real directory of the
// node), and the file is still there after `compute-instance stop` and `start`.
import * as fs from "fs";
import * as os from "os";
import { testKubeconfig } from "../support/backends";
import {
    clusterCli,
    kubectl,
    loadImages,
    localImages,
    portForward,
    realNode,
    tearDownOnCluster,
} from "../support/cluster";
import { TestStack, collect, programStack, uniqueWorkspace, waitFor } from "../support/stacks";

const ws = uniqueWorkspace("kreal");
const namespace = `ci-${ws}`;
const sts = `ci-${ws}-alice`;
const pod = `${sts}-0`;
const image = localImages.workstation;
let t: TestStack;
let token: string;
let node: string;

const json = (args: string[]) => JSON.parse(kubectl([...args, "-n", namespace, "-o", "json"]));
const exec = (cmd: string) => kubectl(["exec", "-n", namespace, pod, "-c", "workstation", "--", "bash", "-c", cmd]);
const cli = clusterCli(ws, namespace);

/** What Jupyter answers at /api/status, with the token, a wrong one and none. */
async function statuses(base: string): Promise<number[]> {
    const api = `${base}/api/status`;
    return [
        (await fetch(api, { headers: { Authorization: `token ${token}` } })).status,
        (await fetch(api, { headers: { Authorization: "token wrong" } })).status,
        (await fetch(api)).status,
    ];
}

beforeAll(async () => {
    node = realNode();
    // The node never pulls: the image built here goes into its containerd (quick when it is there).
    loadImages(image);
    t = await programStack("instance", {
        workspaceName: ws,
        image,
        backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
        instances: {
            alice: {
                size: { cpus: 1, memoryGb: 2 },
                osDisk: { sizeGb: 1 },
                tempDisk: { sizeGb: 1 },
                readyTimeout: "5m",
            },
        },
    });
}, 180_000);

afterAll(async () => {
    await tearDownOnCluster(t, namespace);
});

describe("an instance whose pod really runs on the local cluster's real node", () => {
    test("pulumi up: the pod is Running on the real node, from the local image, its claims on real directories of that node", async () => {
        const r = await t.stack.up(collect(t));
        expect(r.summary.result).toBe("succeeded");
        const out = ((await t.stack.outputs()).out.value as Record<string, { status: string; token: string }>).alice;
        expect(out.status).toBe("Running");
        token = out.token;
        const p = json(["get", "pod", pod]);
        expect(p.spec.nodeName).toBe(node);
        expect(p.status.phase).toBe("Running");
        expect(p.status.containerStatuses[0]).toMatchObject({
            name: "workstation",
            ready: true,
            started: true,
            image: expect.stringContaining(image),
        });
        // Really started by a container runtime (kwok reports no container IDs).
        expect(p.status.containerStatuses[0].containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
        const claim = p.spec.volumes.find((v: { name: string }) => v.name === "os-disk").persistentVolumeClaim
            .claimName;
        const pv = JSON.parse(kubectl(["get", "pv", json(["get", "pvc", claim]).spec.volumeName, "-o", "json"]));
        expect(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0]).toEqual({
            key: "kubernetes.io/hostname",
            operator: "In",
            values: [node],
        });
        expect(fs.statSync(pv.spec.local.path).isDirectory()).toBe(true);
    });

    test("JupyterLab answers through kubectl port-forward: 200 with the token, 403 without", async () => {
        const pf = await portForward(namespace, `pod/${pod}`, 8888);
        try {
            expect(await statuses(pf.base)).toEqual([200, 403, 403]);
            const lab = await fetch(`${pf.base}/lab?token=${token}`);
            expect(lab.status).toBe(200);
            expect(await lab.text()).toContain("JupyterLab");
        } finally {
            pf.stop();
        }
    });

    test("and through the Service's cluster IP from the host (kube-proxy)", async () => {
        const ip = json(["get", "service", sts]).spec.clusterIP;
        expect(await statuses(`http://${ip}:8888`)).toEqual([200, 403, 403]);
    });

    test("the pod reaches the API server through the kubernetes Service, and nothing outside the cluster's ranges", () => {
        const probe = (host: string, port: number) =>
            exec(`python3 -I -c "
import socket, sys
s = socket.socket(); s.settimeout(5)
try:
    s.connect(('${host}', ${port})); print('connected')
except OSError as e:
    print('refused' if isinstance(e, ConnectionRefusedError) else 'unreachable')
"`).trim();
        expect(probe(exec("echo $KUBERNETES_SERVICE_HOST").trim(), 443)).toBe("connected");
        // An address of this machine that is not the node's (never one elsewhere: this machine's
        // traffic stays on it): pods have no route there.
        const other = Object.values(os.networkInterfaces())
            .flat()
            .find(
                (a) =>
                    a &&
                    a.family === "IPv4" &&
                    !a.internal &&
                    !a.address.startsWith(json(["get", "pod", pod]).status.podIP.split(".").slice(0, 3).join(".")),
            );
        expect(other).toBeDefined();
        expect(probe(other!.address, 9)).toBe("unreachable");
    });

    test("the instance user (uid 1000) writes its home on the OS-disk claim; stop and start keep the file", async () => {
        expect(
            exec(
                "id -u; echo written-before-stop > ~/real-node-proof.txt; stat -c '%u %g' ~/real-node-proof.txt",
            ).trim(),
        ).toBe("1000\n1000 1000");
        const before = json(["get", "pod", pod]).metadata.uid;

        expect(cli(["stop", "alice"])).toMatch(/^alice\tStopped\t/);
        await waitFor(
            "the pod to be gone",
            60_000,
            async () => !kubectl(["get", "pods", "-n", namespace, "-o", "name"]).includes(pod),
        );
        expect(cli(["start", "alice"])).toMatch(/^alice\tRunning\t/);

        const after = json(["get", "pod", pod]);
        expect(after.metadata.uid).not.toBe(before);
        expect(after.spec.nodeName).toBe(node);
        expect(exec("cat ~/real-node-proof.txt").trim()).toBe("written-before-stop");
    });
});
