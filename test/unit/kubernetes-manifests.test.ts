import type { RuntimeSpec } from "../../provider/backends/backend";
import {
    agentManifests,
    containerResources,
    cpuQuantity,
    egressPolicyManifest,
    instancePolicyManifest,
    memoryQuantity,
    podJupyterUrl,
    pvcManifest,
    runtimeManifests,
    serviceManifest,
    statefulSetManifest,
    workspacePolicyManifest,
} from "../../provider/backends/kubernetes/manifests";
import { parseCpu, parseMemoryGb, parseQuantity } from "../../provider/backends/kubernetes/quantity";
import { runtimeRules } from "../../provider/resources/runtime";
import { classify } from "../../provider/changes";

const spec: RuntimeSpec = {
    workspace: "ml-team",
    owner: "proj/dev",
    instance: "alice",
    image: "registry.example.com/workstation:1",
    sizeName: "Standard_DS3_v2",
    cpus: 4,
    memoryGb: 14,
    gpus: 0,
    applications: ["jupyterlab", "jupyter"],
    env: { B: "2", A: "1" },
    token: "0123456789abcdef0123456789abcdef",
    osDisk: "ci-ml-team-alice-os-aaaaaa",
    tempDisk: "ci-ml-team-alice-temp-bbbbbb",
    tempDiskGb: 28,
    userFiles: "ci-ml-team-userfiles",
    network: "ci-ml-team-default-deny",
    readyTimeoutSeconds: 300,
    ssh: null,
};
const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

test("inbound rules: each service admits its ranges, besides the workspace's pods", () => {
    const ingress = (
        instancePolicyManifest(
            {
                ...spec,
                networkRules: {
                    publicBind: false,
                    inbound: [{ service: "jupyter", from: ["10.0.0.0/8", "192.168.1.0/24"] }],
                },
            },
            "ml",
        ) as any
    ).spec.ingress;
    expect(ingress).toHaveLength(2);
    expect(ingress[1]).toEqual({
        from: [{ ipBlock: { cidr: "10.0.0.0/8" } }, { ipBlock: { cidr: "192.168.1.0/24" } }],
        ports: [{ protocol: "TCP", port: 8888 }],
    });
});

describe("create on behalf of, on Kubernetes", () => {
    const forAlice: RuntimeSpec = {
        ...spec,
        assignedUser: { name: "alice", id: "0f1e2d3c", kubernetesGroups: ["ml-leads"] },
    };

    test("a Role naming only the user's pod, bound to the user and the groups", () => {
        const [role, binding] = runtimeManifests(forAlice, "ml").filter(
            (o) => o.kind === "Role" || o.kind === "RoleBinding",
        ) as any[];
        expect(role.metadata.name).toBe("ci-ml-team-alice-user");
        for (const rule of role.rules) expect(rule.resourceNames).toEqual(["ci-ml-team-alice-0"]);
        expect(role.rules.flatMap((r: any) => r.verbs).sort()).toEqual(["create", "get", "get"]);
        expect(binding.roleRef).toEqual({
            apiGroup: "rbac.authorization.k8s.io",
            kind: "Role",
            name: "ci-ml-team-alice-user",
        });
        expect(binding.subjects).toEqual([
            { kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "alice" },
            { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "ml-leads" },
        ]);
    });

    test("the pod is labelled with the user and the user's id", () => {
        const labels = (statefulSetManifest(forAlice, "ml") as any).spec.template.metadata.labels;
        expect(labels["compute-instance.pulumi.io/assigned-user"]).toBe("alice");
        expect(labels["compute-instance.pulumi.io/assigned-user-id"]).toBe("0f1e2d3c");
    });

    test("no assigned user, no Role", () => {
        expect(runtimeManifests(spec, "ml").map((o) => o.kind)).toEqual([
            "Secret",
            "NetworkPolicy",
            "Service",
            "StatefulSet",
        ]);
    });
});

describe("SSH on Kubernetes", () => {
    const withSsh: RuntimeSpec = { ...spec, ssh: { publicKey: PUBLIC_KEY } };
    const pod = (statefulSetManifest(withSsh, "ml") as any).spec.template.spec;

    test("the key is mounted read-only from the instance's Secret where sshd reads it", () => {
        const secret = runtimeManifests(withSsh, "ml")[0] as any;
        expect(secret.stringData["ssh-authorized-key"]).toBe(`${PUBLIC_KEY}\n`);
        // The file alone, into the image's root-owned 0755 directory: sshd's StrictModes refuses a
        // key under a Secret volume's own directory, which the kubelet makes world-writable.
        expect(pod.containers[0].volumeMounts).toContainEqual({
            name: "ssh-keys",
            mountPath: "/etc/compute-instance/ssh/authorized_keys",
            subPath: "authorized_keys",
            readOnly: true,
        });
        expect(pod.volumes).toContainEqual({
            name: "ssh-keys",
            secret: {
                secretName: "ci-ml-team-alice-token",
                items: [{ key: "ssh-authorized-key", path: "authorized_keys" }],
                defaultMode: 0o444,
            },
        });
    });

    test("sshd runs unprivileged on 2222; the Service answers on 22 or the chosen port", () => {
        expect(pod.containers[0].ports).toContainEqual({ name: "ssh", containerPort: 2222, protocol: "TCP" });
        expect(pod.containers[0].securityContext.capabilities).toEqual({ drop: ["ALL"] });
        expect((serviceManifest(withSsh, "ml") as any).spec.ports).toContainEqual({
            name: "ssh",
            protocol: "TCP",
            port: 22,
            targetPort: "ssh",
        });
        expect(
            (serviceManifest({ ...spec, ssh: { publicKey: PUBLIC_KEY, port: 2200 } }, "ml") as any).spec.ports,
        ).toContainEqual({ name: "ssh", protocol: "TCP", port: 2200, targetPort: "ssh" });
        expect((instancePolicyManifest(withSsh, "ml") as any).spec.ingress[0].ports).toContainEqual({
            protocol: "TCP",
            port: 2222,
        });
    });

    test("off: no key, no port, no volume", () => {
        const json = JSON.stringify(runtimeManifests(spec, "ml"));
        expect(json).not.toContain("ssh");
    });
});

describe("spec → Kubernetes manifests", () => {
    test("snapshot of every object of a runtime", () => {
        expect(runtimeManifests(spec, "ml")).toMatchSnapshot();
    });

    test("a StatefulSet of one pod, updated on delete so resizes happen in place", () => {
        const sts = statefulSetManifest(spec, "ml") as any;
        expect(sts.spec.replicas).toBe(1);
        expect(sts.spec.updateStrategy).toEqual({ type: "OnDelete" });
        const c = sts.spec.template.spec.containers[0];
        expect(c.resources).toEqual({ requests: { cpu: "4", memory: "14Gi" }, limits: { cpu: "4", memory: "14Gi" } });
        expect(c.resizePolicy).toEqual([
            { resourceName: "cpu", restartPolicy: "NotRequired" },
            { resourceName: "memory", restartPolicy: "NotRequired" },
        ]);
    });

    test("non-root, no privilege escalation, all capabilities dropped, no service-account token", () => {
        const pod = (statefulSetManifest(spec, "ml") as any).spec.template.spec;
        expect(pod.securityContext).toMatchObject({ runAsUser: 1000, runAsNonRoot: true, fsGroup: 1000 });
        expect(pod.containers[0].securityContext).toEqual({
            allowPrivilegeEscalation: false,
            runAsNonRoot: true,
            capabilities: { drop: ["ALL"] },
        });
        expect(pod.automountServiceAccountToken).toBe(false);
    });

    test("disks: OS disk claim at home, temp disk an emptyDir with its size at /mnt, the user files claim as the notebooks' directory", () => {
        const pod = (statefulSetManifest(spec, "ml") as any).spec.template.spec;
        expect(pod.volumes.slice(0, 3)).toEqual([
            { name: "os-disk", persistentVolumeClaim: { claimName: spec.osDisk } },
            { name: "temp-disk", emptyDir: { sizeLimit: "28Gi" } },
            { name: "user-files", persistentVolumeClaim: { claimName: spec.userFiles } },
        ]);
        expect(pod.containers[0].volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toEqual([
            "/home/azureuser",
            "/mnt",
            "/home/azureuser/cloudfiles/code",
            "/dev/shm",
        ]);
    });

    test("the token comes from the instance's Secret, never inline", () => {
        const env = (statefulSetManifest(spec, "ml") as any).spec.template.spec.containers[0].env;
        expect(env).toContainEqual({
            name: "JUPYTER_TOKEN",
            valueFrom: { secretKeyRef: { name: "ci-ml-team-alice-token", key: "token" } },
        });
        expect(JSON.stringify(statefulSetManifest(spec, "ml"))).not.toContain(spec.token);
    });

    test("GPUs are nvidia.com/gpu limits", () => {
        expect(containerResources(6, 112, 1).limits).toEqual({ cpu: "6", memory: "112Gi", "nvidia.com/gpu": "1" });
    });

    test("app.kubernetes.io labels; the owner, not a valid label value, is an annotation", () => {
        const svc = serviceManifest(spec, "ml");
        expect(svc.metadata.labels).toMatchObject({
            "app.kubernetes.io/name": "compute-instance",
            "app.kubernetes.io/instance": "alice",
            "app.kubernetes.io/managed-by": "pulumi-compute-instance",
            "app.kubernetes.io/part-of": "ml-team",
        });
        expect(svc.metadata.annotations).toMatchObject({ "compute-instance.pulumi.io/owner": "proj/dev" });
    });

    test("network: the workspace denies all ingress; each instance admits its own ports to the workspace's pods and its agent", () => {
        expect((workspacePolicyManifest("ci-ml-team-default-deny", "ml", spec) as any).spec).toEqual({
            podSelector: {
                matchLabels: { "app.kubernetes.io/name": "compute-instance", "app.kubernetes.io/part-of": "ml-team" },
            },
            policyTypes: ["Ingress"],
        });
        const ingress = (instancePolicyManifest(spec, "ml") as any).spec.ingress;
        expect(ingress).toEqual([
            {
                from: [
                    {
                        podSelector: {
                            matchLabels: {
                                "app.kubernetes.io/name": "compute-instance",
                                "app.kubernetes.io/part-of": "ml-team",
                            },
                        },
                    },
                    {
                        podSelector: {
                            matchLabels: {
                                "app.kubernetes.io/name": "compute-instance-agent",
                                "app.kubernetes.io/part-of": "ml-team",
                            },
                        },
                    },
                ],
                ports: [{ protocol: "TCP", port: 8888 }],
            },
        ]);
        // The agent reads the instance's activity: its pods must be admitted, or with an enforcing
        // plugin idle shutdown never fires.
        const agentPod = (
            agentManifests(
                { workspace: "ml-team", owner: "p/s", image: "a", checkIntervalSeconds: 30, network: "n" },
                "ml",
            ).find((m) => m.kind === "Deployment") as any
        ).spec.template.metadata.labels;
        expect(
            ingress[0].from.some((peer: any) =>
                Object.entries(peer.podSelector.matchLabels).every(([k, v]) => agentPod[k] === v),
            ),
        ).toBe(true);
    });

    test("claims: RWO for the OS disk, RWX for user files, with the storage class when given", () => {
        const pvc = pvcManifest({
            name: "x",
            namespace: "ml",
            ref: spec,
            component: "user-files",
            sizeGb: 100,
            accessMode: "ReadWriteMany",
            storageClass: "nfs",
        }) as any;
        expect(pvc.spec).toEqual({
            accessModes: ["ReadWriteMany"],
            resources: { requests: { storage: "100Gi" } },
            storageClassName: "nfs",
        });
    });
});

test("quantities", () => {
    expect(cpuQuantity(0.5)).toBe("500m");
    expect(cpuQuantity(2)).toBe("2");
    expect(memoryQuantity(3.5)).toBe("3584Mi");
    expect(memoryQuantity(2)).toBe("2Gi");
    expect(parseCpu("500m")).toBe(0.5);
    expect(parseCpu("4")).toBe(4);
    expect(parseMemoryGb("14336Mi")).toBe(14);
    expect(parseMemoryGb("128Gi")).toBe(128);
    expect(parseQuantity("1k")).toBe(1000);
    expect(() => parseQuantity("lots")).toThrow("not a quantity");
});

test("on Kubernetes a temp disk resize restarts the runtime (emptyDir limits are fixed per pod)", () => {
    const base = { cpus: 1, memoryGb: 2, tempDiskGb: 28 };
    expect(classify(runtimeRules(true, false), base, { ...base, tempDiskGb: 30 }).replaces).toEqual(["tempDiskGb"]);
    expect(classify(runtimeRules(true, true), base, { ...base, tempDiskGb: 30 }).replaces).toEqual([]);
    expect(classify(runtimeRules(true, false), base, { ...base, memoryGb: 4 }).replaces).toEqual([]);
});

describe("where the agent reads an instance's Jupyter", () => {
    test("the pod's own address (no cluster DNS needed), IPv6 in brackets; none before the pod has one", () => {
        expect(podJupyterUrl("10.88.0.7")).toBe("http://10.88.0.7:8888");
        expect(podJupyterUrl("fd00:10:244::7")).toBe("http://[fd00:10:244::7]:8888");
        expect(podJupyterUrl(undefined)).toBeUndefined();
        expect(podJupyterUrl("")).toBeUndefined();
    });
});

describe("workspace agent manifests", () => {
    const { agentManifests } =
        require("../../provider/backends/kubernetes/manifests") as typeof import("../../provider/backends/kubernetes/manifests");
    const objects = agentManifests(
        {
            workspace: "team",
            owner: "p/s",
            image: "registry.example.com/agent:1",
            network: "team",
            checkIntervalSeconds: 30,
        },
        "ml",
    );
    const byKind = (kind: string) => objects.filter((o) => o.kind === kind);

    test("snapshot", () => {
        expect(objects).toMatchSnapshot();
    });

    test("least privilege: scale StatefulSets, read pods and tokens, read its policies, write only its own memory, run the job queue's Jobs; nothing cluster-wide", () => {
        expect(objects.map((o) => o.kind)).toEqual([
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "ConfigMap",
            "Deployment",
        ]);
        const rules = byKind("Role")[0].rules as { resources: string[]; verbs: string[]; resourceNames?: string[] }[];
        const verbs = rules.flatMap((r) =>
            r.resources.flatMap((res) =>
                r.verbs.map((v) => `${v} ${res}${r.resourceNames ? `/${r.resourceNames.join(",")}` : ""}`),
            ),
        );
        expect(verbs.sort()).toEqual([
            "create jobs",
            "delete jobs",
            "deletecollection pods",
            "get configmaps/ci-team-agent-memory",
            "get configmaps/ci-team-agent-policies",
            "get jobs",
            "get pods",
            "get secrets",
            "get statefulsets",
            "list events",
            "list jobs",
            "list pods",
            "list statefulsets",
            "patch configmaps/ci-team-agent-memory",
            "patch statefulsets",
        ]);
        // Jobs are the only objects it makes or removes (a job's pod it stops, as it could stop an instance's).
        expect(verbs.filter((v) => /delete|create|\*/.test(v))).toEqual([
            "create jobs",
            "delete jobs",
            "deletecollection pods",
        ]);
    });

    test("one agent at a time, non-root, read-only, no capabilities", () => {
        const d = byKind("Deployment")[0] as unknown as {
            spec: {
                replicas: number;
                strategy: { type: string };
                template: {
                    spec: {
                        serviceAccountName: string;
                        securityContext: Record<string, unknown>;
                        containers: { securityContext: Record<string, unknown> }[];
                    };
                };
            };
        };
        expect(d.spec.replicas).toBe(1);
        expect(d.spec.strategy.type).toBe("Recreate");
        expect(d.spec.template.spec.serviceAccountName).toBe("ci-team-agent");
        expect(d.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true });
        expect(d.spec.template.spec.containers[0].securityContext).toEqual({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
        });
    });
});

test("the egress NetworkPolicy of each policy: link-local is left out unless a range inside it is listed", () => {
    const ref = { workspace: "ml-team", owner: "proj/dev" };
    expect(egressPolicyManifest(ref, "ml", "allow")).toMatchSnapshot("allow");
    expect(egressPolicyManifest(ref, "ml", "deny")).toMatchSnapshot("deny");
    expect(
        egressPolicyManifest(ref, "ml", { allow: ["10.0.0.0/8", "0.0.0.0/0", "169.254.169.254/32"] }),
    ).toMatchSnapshot("allow list");
});
