// An instance on the local Kubernetes cluster through the real Pulumi CLI: the same program as on
// Docker with another backend. up → kubectl shows what a Kubernetes user expects → live resize →
// refresh is quiet → StatefulSet deleted out of band → refresh + up → destroy keeps the user files.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { RuntimeSpec } from "../../provider/backends/backend";
import { KubernetesBackend } from "../../provider/backends/kubernetes";
import {
    agentManifests,
    egressPolicyManifest,
    runtimeManifests,
    pvcManifest,
    workspacePolicyManifest,
} from "../../provider/backends/kubernetes/manifests";
import { testKubeconfig } from "../support/backends";
import { kubectl, simulatedNamespace, tearDownOnCluster } from "../support/cluster";
import { TestStack, collect, customSteps, programStack, uniqueWorkspace } from "../support/stacks";

const ws = uniqueWorkspace("k8s");
const namespace = `ci-${ws}`;
const sts = `ci-${ws}-alice`;
let t: TestStack;

const config = (memoryGb: number, retainUserFiles = true) => ({
    workspaceName: ws,
    backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
    image: "registry.example.com/ml/workstation:1",
    retainUserFiles,
    instances: { alice: { size: { cpus: 1, memoryGb }, tempDisk: { sizeGb: 8 }, readyTimeout: "3m" } },
});

const json = (args: string[]) => JSON.parse(kubectl([...args, "-n", namespace, "-o", "json"]));

beforeAll(async () => {
    simulatedNamespace(namespace);
    t = await programStack("instance", config(2));
});

afterAll(async () => {
    await tearDownOnCluster(t, namespace);
});

describe("a compute instance on Kubernetes", () => {
    let podUid: string;

    test("pulumi up creates the namespace, the claims, the StatefulSet and waits for the pod to be Ready", async () => {
        const r = await t.stack.up(collect(t));
        expect(r.summary.result).toBe("succeeded");
        const out = (
            (await t.stack.outputs()).out.value as Record<
                string,
                { status: string; endpoints: { jupyterLab: string }; instanceId: string }
            >
        ).alice;
        expect(out.status).toBe("Running");
        expect(out.instanceId).toBe(`${ws}/alice`);
        expect(out.endpoints.jupyterLab).toBe(`http://${sts}.${namespace}.svc.cluster.local:8888/lab`);
        expect(t.log.join("")).toMatch(/ready in \d+\.\d+s/);
        podUid = json(["get", "pod", `${sts}-0`]).metadata.uid;
    });

    test("kubectl get shows what a Kubernetes user expects", () => {
        const text = kubectl([
            "get",
            "statefulset,pod,service,pvc,networkpolicy,secret",
            "-n",
            namespace,
            "-l",
            `app.kubernetes.io/part-of=${ws}`,
        ]);
        expect(text).toMatch(new RegExp(`statefulset.apps/${sts}\\s+1/1`));
        expect(text).toMatch(new RegExp(`pod/${sts}-0\\s+1/1\\s+Running`));
        expect(text).toMatch(new RegExp(`service/${sts}\\s+ClusterIP\\s+\\S+\\s+<none>\\s+8888/TCP`));
        expect(text).toMatch(
            new RegExp(`persistentvolumeclaim/ci-${ws}-alice-os-[0-9a-f]+\\s+Bound\\s+\\S+\\s+128Gi\\s+RWO`),
        );
        expect(text).toMatch(new RegExp(`persistentvolumeclaim/ci-${ws}-userfiles\\s+Bound\\s+\\S+\\s+100Gi\\s+RWX`));
        expect(text).toContain(`networkpolicy.networking.k8s.io/ci-${ws}-default-deny`);
        expect(text).toContain(`networkpolicy.networking.k8s.io/${sts}`);
        expect(text).toContain(`secret/${sts}-token`);

        const set = json(["get", "statefulset", sts, "--show-managed-fields"]);
        expect(set.metadata.labels).toMatchObject({
            "app.kubernetes.io/name": "compute-instance",
            "app.kubernetes.io/instance": "alice",
            "app.kubernetes.io/managed-by": "pulumi-compute-instance",
        });
        // Every field of ours is owned by one field manager, through server-side apply.
        expect(
            set.metadata.managedFields
                .filter((f: { operation: string }) => f.operation === "Apply")
                .map((f: { manager: string }) => f.manager),
        ).toEqual(["pulumi-compute-instance"]);
        const pod = set.spec.template.spec;
        expect(pod.containers[0].resources.limits).toEqual({ cpu: "1", memory: "2Gi" });
        expect(pod.securityContext.runAsNonRoot).toBe(true);
    });

    test("the API server's validation accepts every manifest shape (server-side dry run)", async () => {
        const b = new KubernetesBackend({ namespace, kubeconfig: testKubeconfig() });
        const base: RuntimeSpec = {
            workspace: ws,
            owner: "dry/run",
            instance: "dryrun",
            image: "img:1",
            sizeName: "Standard_NC6s_v3",
            cpus: 6,
            memoryGb: 112,
            gpus: 1,
            applications: ["jupyter"],
            env: { A: "1" },
            token: "t".repeat(64),
            osDisk: "os",
            tempDisk: "tmp",
            tempDiskGb: 736,
            userFiles: "uf",
            network: "net",
            readyTimeoutSeconds: 60,
            ssh: null,
        };
        const shapes = [
            ...runtimeManifests(base, namespace),
            ...runtimeManifests(
                {
                    ...base,
                    instance: "dryrun2",
                    sizeName: "custom",
                    cpus: 0.25,
                    memoryGb: 1.5,
                    gpus: 0,
                    applications: ["jupyterlab", "jupyter"],
                },
                namespace,
            ),
            // SSH, an assigned user with groups, and inbound ranges.
            ...runtimeManifests(
                {
                    ...base,
                    instance: "dryrun3",
                    ssh: {
                        publicKey:
                            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b",
                        port: 2200,
                    },
                    assignedUser: {
                        name: "alice",
                        id: "0f1e2d3c",
                        kubernetesUser: "alice@example.com",
                        kubernetesGroups: ["ml-leads"],
                    },
                    networkRules: {
                        publicBind: false,
                        inbound: [
                            { service: "jupyter", from: ["10.0.0.0/8"] },
                            { service: "ssh", from: ["192.168.0.0/16"] },
                        ],
                    },
                },
                namespace,
            ),
            // Labels, a live token (the workstation image's name), setup scripts, VS Code and
            // custom applications, one of them a container of the pod.
            ...runtimeManifests(
                {
                    ...base,
                    instance: "dryrun4",
                    image: "registry.example.com/ml/compute-instance-workstation:1",
                    applications: ["jupyterlab", "terminal", "vscode"],
                    labels: { team: "vision", "example.com/cost-center": "cc-1" },
                    setupScripts: {
                        creation: { source: "inline", content: "echo c", sha256: "x" },
                        startup: { source: "inline", content: "echo s", sha256: "y" },
                        timeoutSeconds: 120,
                    },
                    customApplications: [
                        { name: "dash", port: 8050, command: "python3 app.py" },
                        { name: "rstudio", port: 8787, image: "registry.example.com/rstudio:4" },
                    ],
                },
                namespace,
            ),
            egressPolicyManifest(base, namespace, { allow: ["10.20.0.0/16"] }),
            egressPolicyManifest(base, namespace, "deny"),
            // "allow" is a policy too: ipBlocks with except (link-local), IPv6 included.
            egressPolicyManifest(base, namespace, "allow"),
            egressPolicyManifest(base, namespace, { allow: ["0.0.0.0/0", "169.254.169.254/32"] }),
            pvcManifest({
                name: "dry-pvc",
                namespace,
                ref: base,
                component: "os-disk",
                sizeGb: 128,
                accessMode: "ReadWriteOnce",
                storageClass: "standard",
            }),
            workspacePolicyManifest("dry-policy", namespace, base),
            ...agentManifests(
                {
                    workspace: ws,
                    owner: "dry/run",
                    image: "registry.example.com/agent:1",
                    network: "net",
                    checkIntervalSeconds: 30,
                },
                namespace,
            ),
        ];
        for (const o of shapes) {
            // Everything sent arrives: the client's typed serialisation drops what its models do
            // not know (a NetworkPolicy's `from` once arrived as nothing, admitting everyone).
            const applied = await b.apply(o, true);
            expect(applied.kind).toBe(o.kind);
            for (const [key, value] of Object.entries(o)) {
                if (["apiVersion", "kind", "metadata", "stringData"].includes(key)) continue;
                expect({ [`${o.kind}.${key}`]: applied[key] }).toMatchObject({ [`${o.kind}.${key}`]: value });
            }
            expect(applied.metadata.labels).toMatchObject(o.metadata.labels ?? {});
        }
        expect(() => kubectl(["get", "statefulset", "ci-" + ws + "-dryrun", "-n", namespace])).toThrow();
    });

    test("a memory change resizes the running pod in place: same pod, new limits", async () => {
        await t.setConfig(config(3));
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-runtime": "update" });
        const pod = json(["get", "pod", `${sts}-0`]);
        expect(pod.metadata.uid).toBe(podUid);
        expect(pod.spec.containers[0].resources.limits).toEqual({ cpu: "1", memory: "3Gi" });
        // The template too, for the next start.
        expect(json(["get", "statefulset", sts]).spec.template.spec.containers[0].resources.limits.memory).toBe("3Gi");
    });

    test("another kubeconfig file and context for the same cluster change nothing: no diff, same pod", async () => {
        // Another machine's copy of the kubeconfig, at another path, with the context renamed.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-kubeconfig-"));
        const copy = path.join(dir, "config");
        const original = fs.readFileSync(testKubeconfig(), "utf8");
        const context = JSON.parse(kubectl(["config", "view", "--raw", "-o", "json"])).contexts[0].name as string;
        fs.writeFileSync(copy, original.replaceAll(context, "ci-runner"));
        try {
            const moved = config(3);
            await t.setConfig({
                ...moved,
                backend: { kubernetes: { namespace, kubeconfig: copy, context: "ci-runner" } },
            });
            const preview = await t.stack.preview(collect(t));
            expect(Object.keys(preview.changeSummary).filter((k) => k !== "same")).toEqual([]);
            await t.stack.up(collect(t));
            expect(customSteps(t)).toEqual({});
            expect(json(["get", "pod", `${sts}-0`]).metadata.uid).toBe(podUid);
        } finally {
            await t.setConfig(config(3));
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("refresh finds nothing to change", async () => {
        const r = await t.stack.refresh(collect(t));
        expect(Object.keys(r.summary.resourceChanges ?? {}).filter((k) => k !== "same")).toEqual([]);
    });

    test("a StatefulSet deleted out of band: refresh drops it, up recreates it", async () => {
        kubectl(["delete", "statefulset", sts, "-n", namespace]);
        const refreshed = await t.stack.refresh(collect(t));
        expect(refreshed.summary.resourceChanges).toMatchObject({ delete: 1 });
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-runtime": "create" });
        expect(json(["get", "pod", `${sts}-0`]).metadata.uid).not.toBe(podUid);
    });

    test("destroy removes the instance and keeps the user files claim", async () => {
        await t.stack.destroy(collect(t));
        const left = json([
            "get",
            "statefulset,service,secret,networkpolicy,pvc",
            "-l",
            `app.kubernetes.io/part-of=${ws}`,
        ]).items.map((i: { kind: string; metadata: { name: string } }) => `${i.kind}/${i.metadata.name}`);
        expect(left).toEqual([`PersistentVolumeClaim/ci-${ws}-userfiles`]);
    });
});
