// Create on behalf of, on a real API server: each assigned user may port-forward to, exec into
// and read the log of their own pod and nothing else, asked both as that user with their own
// client certificate and by impersonation; SSH is served on the Service's port 22.
import { testKubeconfig } from "../support/backends";
import { kubectl, simulatedNamespace, tearDownOnCluster, userKubeconfig } from "../support/cluster";
import { TestStack, collect, customSteps, programStack, uniqueWorkspace } from "../support/stacks";

const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

describe("assigned users on Kubernetes", () => {
    const ws = uniqueWorkspace("kacc");
    const namespace = `ci-${ws}`;
    const pod = (i: string) => `ci-${ws}-${i}-0`;
    let t: TestStack;

    beforeAll(async () => {
        simulatedNamespace(namespace);
        t = await programStack("instance", {
            workspaceName: ws,
            image: "registry.example.com/ml/workstation:1",
            backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
            network: { egress: { allow: ["10.20.0.0/16"] } },
            instances: {
                alice: {
                    size: { cpus: 1, memoryGb: 2 },
                    assignedUser: { name: "alice" },
                    ssh: { enabled: true, publicKey: PUBLIC_KEY },
                    network: { inbound: [{ application: "ssh", from: ["10.30.0.0/16"] }] },
                },
                bob: {
                    size: { cpus: 1, memoryGb: 2 },
                    assignedUser: { name: "bob", kubernetesUser: "bob@example.com", kubernetesGroups: ["ml-leads"] },
                },
            },
        });
        await t.stack.up(collect(t));
    });

    afterAll(async () => {
        await tearDownOnCluster(t, namespace);
    });

    const answer = (args: string[], kubeconfig?: string) => {
        try {
            return kubectl(["auth", "can-i", "-n", namespace, ...args], kubeconfig).trim();
        } catch (e) {
            return String((e as { stdout?: string }).stdout ?? "").trim();
        }
    };

    test("alice, with her own certificate: her pod yes, bob's pod and anything else no", () => {
        const alice = userKubeconfig("alice");
        expect(answer(["create", `pods/${pod("alice")}`, "--subresource=portforward"], alice)).toBe("yes");
        expect(answer(["create", `pods/${pod("alice")}`, "--subresource=exec"], alice)).toBe("yes");
        expect(answer(["get", `pods/${pod("alice")}`, "--subresource=log"], alice)).toBe("yes");
        expect(answer(["get", `pods/${pod("alice")}`], alice)).toBe("yes");
        expect(answer(["create", `pods/${pod("bob")}`, "--subresource=portforward"], alice)).toBe("no");
        expect(answer(["create", `pods/${pod("bob")}`, "--subresource=exec"], alice)).toBe("no");
        expect(answer(["delete", `pods/${pod("alice")}`], alice)).toBe("no");
        expect(answer(["list", "pods"], alice)).toBe("no");
        expect(answer(["get", "secrets"], alice)).toBe("no");
        expect(answer(["patch", `statefulsets/ci-${ws}-alice`], alice)).toBe("no");
    });

    test("bob by his Kubernetes user name and by group", () => {
        expect(answer(["create", `pods/${pod("bob")}`, "--subresource=portforward", "--as", "bob@example.com"])).toBe(
            "yes",
        );
        expect(
            answer([
                "create",
                `pods/${pod("bob")}`,
                "--subresource=portforward",
                "--as",
                "someone",
                "--as-group",
                "ml-leads",
            ]),
        ).toBe("yes");
        expect(answer(["create", `pods/${pod("alice")}`, "--subresource=portforward", "--as", "bob@example.com"])).toBe(
            "no",
        );
        // The POSIX name is not his Kubernetes identity here.
        expect(answer(["create", `pods/${pod("bob")}`, "--subresource=portforward", "--as", "bob"])).toBe("no");
    });

    test("the pods carry the assigned user; SSH answers on the Service's port 22", async () => {
        expect(
            kubectl([
                "get",
                "pod",
                pod("alice"),
                "-n",
                namespace,
                "-o",
                "jsonpath={.metadata.labels.compute-instance\\.pulumi\\.io/assigned-user}",
            ]),
        ).toBe("alice");
        expect(
            kubectl([
                "get",
                "pvc",
                "-n",
                namespace,
                "-l",
                "compute-instance.pulumi.io/assigned-user=alice",
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ]),
        ).toMatch(new RegExp(`^ci-${ws}-alice-os-[0-9a-f]+$`));
        expect(
            kubectl([
                "get",
                "service",
                `ci-${ws}-alice`,
                "-n",
                namespace,
                "-o",
                "jsonpath={.spec.ports[?(@.name=='ssh')].port}",
            ]),
        ).toBe("22");
        const out = (await t.stack.outputs()).out.value as Record<string, { endpoints: { ssh?: string } }>;
        expect(out.alice.endpoints.ssh).toBe(`ssh://azureuser@ci-${ws}-alice.${namespace}.svc.cluster.local:22`);
        expect(out.bob.endpoints.ssh).toBeUndefined();
    });

    test("egress is a NetworkPolicy of the instances' pods; an edit by hand shows in refresh and up restores it", async () => {
        const get = () =>
            JSON.parse(kubectl(["get", "networkpolicy", `ci-${ws}-egress`, "-n", namespace, "-o", "jsonpath={.spec}"]));
        const spec = get();
        expect(spec.policyTypes).toEqual(["Egress"]);
        expect(spec.podSelector.matchLabels["app.kubernetes.io/component"]).toBe("runtime");
        expect(spec.egress[2]).toEqual({ to: [{ ipBlock: { cidr: "10.20.0.0/16" } }] });
        kubectl([
            "patch",
            "networkpolicy",
            `ci-${ws}-egress`,
            "-n",
            namespace,
            "--type=json",
            "-p",
            '[{"op":"replace","path":"/spec/egress/2/to/0/ipBlock/cidr","value":"0.0.0.0/0"}]',
        ]);
        const r = await t.stack.refresh(collect(t));
        expect(r.summary.resourceChanges?.delete).toBe(1);
        await t.stack.up(collect(t));
        expect(get().egress[2]).toEqual({ to: [{ ipBlock: { cidr: "10.20.0.0/16" } }] });
    });

    test("an instance's NetworkPolicy deleted out of band: refresh notices, up restores it without a restart", async () => {
        const uid = kubectl(["get", "pod", pod("alice"), "-n", namespace, "-o", "jsonpath={.metadata.uid}"]);
        kubectl(["delete", "networkpolicy", `ci-${ws}-alice`, "-n", namespace]);
        await t.stack.refresh(collect(t));
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-inbound": "create" });
        expect(
            JSON.parse(
                kubectl(["get", "networkpolicy", `ci-${ws}-alice`, "-n", namespace, "-o", "jsonpath={.spec.ingress}"]),
            ),
        ).toEqual([
            {
                from: [
                    {
                        podSelector: {
                            matchLabels: {
                                "app.kubernetes.io/name": "compute-instance",
                                "app.kubernetes.io/part-of": ws,
                            },
                        },
                    },
                    {
                        podSelector: {
                            matchLabels: {
                                "app.kubernetes.io/name": "compute-instance-agent",
                                "app.kubernetes.io/part-of": ws,
                            },
                        },
                    },
                ],
                ports: [
                    { port: 8888, protocol: "TCP" },
                    { port: 2222, protocol: "TCP" },
                ],
            },
            { from: [{ ipBlock: { cidr: "10.30.0.0/16" } }], ports: [{ port: 2222, protocol: "TCP" }] },
        ]);
        expect(kubectl(["get", "pod", pod("alice"), "-n", namespace, "-o", "jsonpath={.metadata.uid}"])).toBe(uid);
    });

    test("removing the assigned user removes the grant", async () => {
        await t.setConfig({
            workspaceName: ws,
            image: "registry.example.com/ml/workstation:1",
            backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
            network: { egress: { allow: ["10.20.0.0/16"] } },
            instances: {
                alice: {
                    size: { cpus: 1, memoryGb: 2 },
                    ssh: { enabled: true, publicKey: PUBLIC_KEY },
                    network: { inbound: [{ application: "ssh", from: ["10.30.0.0/16"] }] },
                },
                bob: {
                    size: { cpus: 1, memoryGb: 2 },
                    assignedUser: { name: "bob", kubernetesUser: "bob@example.com", kubernetesGroups: ["ml-leads"] },
                },
            },
        });
        await t.stack.up(collect(t));
        expect(answer(["create", `pods/${pod("alice")}`, "--subresource=portforward", "--as", "alice"])).toBe("no");
        expect(
            kubectl(["get", "roles,rolebindings", "-n", namespace, "-o", "name"])
                .split("\n")
                .filter((l) => l.includes("-user"))
                .sort(),
        ).toEqual([
            `role.rbac.authorization.k8s.io/ci-${ws}-bob-user`,
            `rolebinding.rbac.authorization.k8s.io/ci-${ws}-bob-user`,
        ]);
    });
});
