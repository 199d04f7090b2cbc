// NetworkPolicies of a workspace on an enforcing plugin: the local cluster's real node, whose
// kube-router firewall enforces them (scripts/cluster). Connections are really opened from inside
// the pods (kubectl exec), to listeners of the test's own: a pod in another namespace (TCP 8080,
// and TCP and UDP 53 standing in for DNS: the cluster has none) and one on the node's link-local
// stand-in for a metadata service (scripts/lib/cluster-node.sh). kube-router rejects what a
// policy refuses (ICMP port unreachable: "refused" to the client), which a listener that is not
// there would look like too; so each refusal comes with the listener seen up (another client
// connects at the same moment) and never reached by the refused client (the listeners record who
// came), and each closed path is shown open under another policy. A packet that the node's own
// guard drops (a missing route or rule of the cluster) times out instead, and fails the test.
import * as net from "net";
import { execFileSync } from "child_process";
import { testKubeconfig } from "../support/backends";
import {
    applyYaml,
    clusterScript,
    kubectl,
    loadImages,
    localImages,
    realNode,
    tearDownOnCluster,
} from "../support/cluster";
import { LINK_LOCAL, podExec, tcpProbe } from "../support/real-node";
import { TestStack, collect, customSteps, programStack, uniqueWorkspace, waitFor } from "../support/stacks";

const ws = uniqueWorkspace("knet");
const namespace = `ci-${ws}`;
const outside = `ci-${ws}-out`;
const SMALL = { size: { cpus: 0.25, memoryGb: 1 }, osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 }, readyTimeout: "5m" };
let t: TestStack;
let linkLocal: net.Server | undefined;
/** Who reached the link-local listener (their addresses). */
const linkLocalClients: string[] = [];
const ip: Record<string, string> = {};

const podIP = (ns: string, pod: string) =>
    kubectl(["get", "pod", pod, "-n", ns, "-o", "jsonpath={.status.podIP}"]).trim();
const uid = (pod: string) => kubectl(["get", "pod", pod, "-n", namespace, "-o", "jsonpath={.metadata.uid}"]);
/** Who reached the outside listener: "<port> <address>" lines. */
const outsideClients = () => kubectl(["logs", "-n", outside, "listener"]).split("\n").filter(Boolean);
const agentPod = () =>
    kubectl([
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        "app.kubernetes.io/name=compute-instance-agent",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]).trim();

const fromAlice = (host: string, port: number) =>
    tcpProbe(namespace, `ci-${ws}-alice-0`, "workstation", host, port, "python3");
const fromOutside = (host: string, port: number) => tcpProbe(outside, "listener", "listener", host, port, "node");
const fromAgent = (host: string, port: number) => tcpProbe(namespace, agentPod(), "agent", host, port, "node");
/** A UDP datagram from alice to host:port; the answer, or "timeout". */
const udpFromAlice = (host: string, port: number) =>
    podExec(namespace, `ci-${ws}-alice-0`, "workstation", [
        "python3",
        "-I",
        "-c",
        [
            "import socket",
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(4)",
            `s.sendto(b'query', (${JSON.stringify(host)}, ${port}))`,
            "try: print(s.recvfrom(100)[0].decode())",
            "except socket.timeout: print('timeout')",
        ].join("\n"),
    ]).trim();

/**
 * A probe's answer once the firewall has caught up with the last change (kube-router applies a
 * policy within seconds of the API server having it): polled until it is `want`, or the last
 * answer is the failure.
 */
async function settlesTo(what: string, probe: () => Promise<string>, want: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    let last = "";
    while (Date.now() < deadline) {
        last = await probe();
        if (last === want) return;
        await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error(`${what}: expected ${want}, still ${last} after 60s`);
}

function config(egress: unknown, aliceFrom: string[]) {
    return {
        workspaceName: ws,
        image: localImages.workstation,
        agentImage: localImages.agent,
        backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
        network: { egress },
        instances: {
            alice: { ...SMALL, network: { inbound: [{ application: "jupyterlab", from: aliceFrom }] } },
            bob: SMALL,
        },
    };
}

// The listener outside the workspace: TCP 8080 and TCP/UDP 53 (root only to bind port 53). A
// client's reset (the kubelet's TCP probe closes at once) is ignored, not a crash.
const LISTENER = [
    'const net = require("net"), dgram = require("dgram");',
    'for (const p of [53, 8080]) net.createServer((s) => { s.on("error", () => undefined); console.log(`${p} ${String(s.remoteAddress).replace(/^::ffff:/, "")}`); s.end(`hello ${p}\\n`); }).listen(p);',
    'const u = dgram.createSocket("udp4"); u.on("message", (m, r) => u.send("answer", r.port, r.address)); u.bind(53);',
].join(" ");

beforeAll(async () => {
    realNode();
    // This checkout's node configuration (the link-local stand-in among it) and its images.
    clusterScript(["up"]);
    if (!execFileSync("ip", ["-o", "-4", "addr", "show"], { encoding: "utf8" }).includes(` ${LINK_LOCAL.ip}/32 `)) {
        throw new Error(`the node has no link-local stand-in ${LINK_LOCAL.ip}: scripts/cluster up from this checkout`);
    }
    loadImages(localImages.workstation, localImages.agent);
    linkLocal = net.createServer((s) => {
        linkLocalClients.push(String(s.remoteAddress));
        s.on("error", () => undefined);
        s.end("metadata\n");
    });
    await new Promise<void>((resolve, reject) =>
        linkLocal!.once("error", reject).listen(LINK_LOCAL.port, LINK_LOCAL.ip, resolve),
    );

    applyYaml(
        JSON.stringify({
            apiVersion: "v1",
            kind: "List",
            items: [
                { apiVersion: "v1", kind: "Namespace", metadata: { name: outside } },
                {
                    apiVersion: "v1",
                    kind: "Pod",
                    metadata: { name: "listener", namespace: outside, labels: { app: "listener" } },
                    spec: {
                        automountServiceAccountToken: false,
                        terminationGracePeriodSeconds: 1,
                        enableServiceLinks: false,
                        containers: [
                            {
                                name: "listener",
                                image: localImages.agent,
                                imagePullPolicy: "Never",
                                command: ["node", "-e", LISTENER],
                                securityContext: {
                                    runAsUser: 0,
                                    allowPrivilegeEscalation: false,
                                    capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] },
                                },
                                resources: {
                                    requests: { cpu: "10m", memory: "32Mi" },
                                    limits: { cpu: "100m", memory: "64Mi" },
                                },
                                readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
                            },
                        ],
                    },
                },
            ],
        }),
    );
    kubectl(["wait", "--for=condition=Ready", "pod/listener", "-n", outside, "--timeout=120s"]);
    ip.outside = podIP(outside, "listener");

    t = await programStack("instance", config("deny", ["192.0.2.0/24"]));
    const r = await t.stack.up(collect(t));
    expect(r.summary.result).toBe("succeeded");
    ip.bob = podIP(namespace, `ci-${ws}-bob-0`);
    ip.alice = podIP(namespace, `ci-${ws}-alice-0`);
}, 600_000);

afterAll(async () => {
    linkLocal?.close();
    await tearDownOnCluster(t, namespace);
    try {
        kubectl(["delete", "namespace", outside, "--wait=false"]);
    } catch {
        /* never made */
    }
});

describe("egress NetworkPolicies on the real node", () => {
    test('"deny": a pod of another namespace is closed; the workspace\'s own pods and DNS (port 53, TCP and UDP) are open; link-local is closed', async () => {
        await settlesTo("alice → the outside pod's 8080", () => fromAlice(ip.outside, 8080), "refused");
        // The listener is there (the agent, whose egress no policy limits, gets in) and never saw alice.
        expect(await fromAgent(ip.outside, 8080)).toBe("connected");
        expect(outsideClients()).not.toContain(`8080 ${ip.alice}`);
        expect(await fromAlice(ip.outside, 53)).toBe("connected");
        await waitFor("the outside listener to log alice on 53", 10_000, async () =>
            outsideClients().includes(`53 ${ip.alice}`),
        );
        expect(udpFromAlice(ip.outside, 53)).toBe("answer");
        expect(await fromAlice(ip.bob, 8888)).toBe("connected");
        clusterScript(["up"]); // this checkout's node guard, should an older checkout's `up` have rewritten it
        expect(await fromAlice(LINK_LOCAL.ip, LINK_LOCAL.port)).toBe("refused");
        expect(linkLocalClients).toEqual([]);
    });

    test('"allow", applied live: the other namespace opens; link-local stays closed', async () => {
        const before = uid(`ci-${ws}-alice-0`);
        await t.setConfig(config("allow", ["192.0.2.0/24"]));
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ [`${ws}-egress`]: "update" });
        await settlesTo("alice → the outside pod's 8080", () => fromAlice(ip.outside, 8080), "connected");
        await waitFor("the outside listener to log alice on 8080", 10_000, async () =>
            outsideClients().includes(`8080 ${ip.alice}`),
        );
        clusterScript(["up"]);
        expect(await fromAlice(LINK_LOCAL.ip, LINK_LOCAL.port)).toBe("refused");
        expect(linkLocalClients).toEqual([]);
        expect(uid(`ci-${ws}-alice-0`)).toBe(before);
    });

    test("a link-local range listed on purpose opens it: the listener was reachable from the pod network all along, only the policy closed it", async () => {
        await t.setConfig(config({ allow: ["0.0.0.0/0", `${LINK_LOCAL.ip}/32`] }, ["192.0.2.0/24"]));
        await t.stack.up(collect(t));
        clusterScript(["up"]);
        await settlesTo(
            "alice → the link-local listener",
            () => fromAlice(LINK_LOCAL.ip, LINK_LOCAL.port),
            "connected",
        );
        await waitFor("the link-local listener to record alice", 10_000, async () =>
            linkLocalClients.includes(ip.alice),
        );
    });
});

describe("inbound NetworkPolicies on the real node", () => {
    test("a pod outside the workspace cannot reach alice's Jupyter; the workspace agent and bob can", async () => {
        await settlesTo("the outside pod → alice's Jupyter", () => fromOutside(ip.alice, 8888), "refused");
        expect(await fromAgent(ip.alice, 8888)).toBe("connected");
        expect(await fromAgent(ip.bob, 8888)).toBe("connected");
        // bob's egress (the workspace's, from above) and alice's ingress (the workspace's pods).
        expect(await tcpProbe(namespace, `ci-${ws}-bob-0`, "workstation", ip.alice, 8888, "python3")).toBe("connected");
    });

    test("network.inbound admits the ranges it lists, live: the outside pod's address opens alice's Jupyter to it", async () => {
        const before = uid(`ci-${ws}-alice-0`);
        await t.setConfig(config({ allow: ["0.0.0.0/0", `${LINK_LOCAL.ip}/32`] }, [`${ip.outside}/32`]));
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-inbound": "update" });
        await settlesTo("the outside pod → alice's Jupyter", () => fromOutside(ip.alice, 8888), "connected");
        // Only alice's policy lists it: bob stays closed to it.
        expect(await fromOutside(ip.bob, 8888)).toBe("refused");
        expect(uid(`ci-${ws}-alice-0`)).toBe(before);
    });
});
