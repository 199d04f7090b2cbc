// An instance's life on real pods: the local cluster's real node (kubelet, containerd; see
// scripts/cluster), through the real Pulumi CLI and the compute-instance CLI. Two instances of one
// workspace: alice's home survives `compute-instance stop` and `start` while /mnt starts empty,
// and files in the user files are shared with bob; the kubelet restarting the workstation runs the
// startup script again; CPU and memory change in place (same pod, new limits read from the
// container's own cgroup), and a resize the node has no room for fails and is undone; the
// creation script runs once per OS disk and per content, the startup script at every start; a
// failing script is SetupFailed with its output, the pod stays in the stack's state and
// `pulumi destroy` removes everything but the user files.
import { testKubeconfig } from "../support/backends";
import { clusterCli, kubectl, loadImages, localImages, realNode, tearDownOnCluster } from "../support/cluster";
import { TestStack, collect, customSteps, failureOf, programStack, uniqueWorkspace, waitFor } from "../support/stacks";

const ws = uniqueWorkspace("kcyc");
const namespace = `ci-${ws}`;
const pod = (instance: string) => `ci-${ws}-${instance}-0`;
let t: TestStack;
let node: string;

const creation = (marker: string) =>
    [
        "#!/bin/bash",
        "set -e",
        // Long enough for the provider's progress, which reads the phase about once a second, to show it.
        "sleep 3",
        // Before the applications: nothing answers on Jupyter's port yet. The pod's user runs it.
        `echo "${marker} uid=$(id -u) jupyter=$( (exec 3<>/dev/tcp/127.0.0.1/8888) 2>/dev/null && echo up || echo down)" >> "$HOME/creation-runs.txt"`,
    ].join("\n") + "\n";
const startup = 'echo "start $(date +%s%N)" >> "$HOME/startup-runs.txt"\n';
const small = { osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 }, readyTimeout: "4m" };
const config = (alice: { cpus?: number; memoryGb?: number; creation?: string; startup?: string } = {}) => ({
    workspaceName: ws,
    image: localImages.workstation,
    agentImage: localImages.agent,
    backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
    instances: {
        alice: {
            ...small,
            size: { cpus: alice.cpus ?? 0.25, memoryGb: alice.memoryGb ?? 1 },
            setupScripts: { creation: alice.creation ?? creation("v1"), startup: alice.startup ?? startup },
        },
        bob: { ...small, size: { cpus: 0.25, memoryGb: 1 } },
    },
});

const json = (args: string[]) => JSON.parse(kubectl([...args, "-n", namespace, "-o", "json"]));
/** A shell command in an instance's workstation container, as its user (kubectl exec on the real kubelet). */
const exec = (instance: string, cmd: string) =>
    kubectl(["exec", "-n", namespace, pod(instance), "-c", "workstation", "--", "bash", "-c", cmd]);
const lines = (instance: string, file: string) =>
    exec(instance, `cat ${file} 2>/dev/null || true`).split("\n").filter(Boolean);
const cli = clusterCli(ws, namespace);
/** The limits the kernel enforces on alice's container: its own cgroup (v1) files, read from inside. */
const cgroup = () => {
    const [quota, period, memory] = exec(
        "alice",
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/memory/memory.limit_in_bytes",
    )
        .trim()
        .split("\n")
        .map(Number);
    return { cpus: quota / period, memoryBytes: memory };
};
interface ContainerStatus {
    name: string;
    restartCount: number;
    ready: boolean;
    containerID?: string;
    resources?: { limits: Record<string, string> };
}
const workstation = (p: { status: { containerStatuses: ContainerStatus[] } }) =>
    p.status.containerStatuses.find((c) => c.name === "workstation") as ContainerStatus;
const aliceOut = async () =>
    ((await t.stack.outputs()).out.value as Record<string, { cpus: number; memoryGb: number; status: string }>).alice;
const GiB = 1024 ** 3;

beforeAll(async () => {
    node = realNode();
    // The node never pulls: this checkout's images go into its containerd (quick when there).
    loadImages(localImages.workstation, localImages.agent);
    t = await programStack("instance", config());
}, 180_000);

afterAll(async () => {
    await tearDownOnCluster(t, namespace);
});

describe("an instance's lifecycle on real pods", () => {
    test("pulumi up: both pods run on the real node; alice's creation script ran once, before Jupyter, then her startup script", async () => {
        const r = await t.stack.up(collect(t));
        expect(r.summary.result).toBe("succeeded");
        for (const i of ["alice", "bob"]) {
            const p = json(["get", "pod", pod(i)]);
            expect(p.spec.nodeName).toBe(node);
            // Started by a container runtime (kwok reports no container IDs).
            expect(workstation(p).containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
        }
        expect(lines("alice", "~/creation-runs.txt")).toEqual(["v1 uid=1000 jupyter=down"]);
        expect(lines("alice", "~/startup-runs.txt")).toHaveLength(1);
        expect(t.log.join("")).toContain("running the creation script");
        // The scripts' output stays on the OS disk for the user to read.
        expect(exec("alice", "test -f ~/.compute-instance/setup/creation.log && echo yes").trim()).toBe("yes");
    });

    test("compute-instance stop and start: home kept, /mnt empty, the startup script again; user files shared with bob both ways", () => {
        exec(
            "alice",
            "echo home > ~/home.txt && echo scratch > /mnt/scratch.txt && echo from-alice > ~/cloudfiles/code/shared.txt",
        );
        expect(exec("alice", "ls -A /mnt")).toBe("scratch.txt\n");
        // The user files are one claim mounted by both pods: bob sees alice's file at once, and
        // his own OS disk does not have her home.
        expect(exec("bob", "cat ~/cloudfiles/code/shared.txt")).toBe("from-alice\n");
        expect(exec("bob", "test -e ~/home.txt && echo there || echo absent")).toBe("absent\n");
        const before = json(["get", "pod", pod("alice")]).metadata.uid;

        expect(cli(["stop", "alice"])).toMatch(/^alice\tStopped\t/);
        expect(kubectl(["get", "pods", "-n", namespace, "-o", "name"])).not.toContain(pod("alice"));
        // Written while alice is stopped: the user files are the workspace's, not the pod's.
        exec("bob", "echo from-bob > ~/cloudfiles/code/bob.txt");
        expect(cli(["start", "alice"])).toMatch(/^alice\tRunning\t/);

        expect(json(["get", "pod", pod("alice")]).metadata.uid).not.toBe(before);
        expect(exec("alice", "cat ~/home.txt")).toBe("home\n");
        expect(exec("alice", "ls -A /mnt")).toBe("");
        expect(exec("alice", "cat ~/cloudfiles/code/shared.txt ~/cloudfiles/code/bob.txt")).toBe(
            "from-alice\nfrom-bob\n",
        );
        expect(lines("alice", "~/startup-runs.txt")).toHaveLength(2);
        expect(lines("alice", "~/creation-runs.txt")).toEqual(["v1 uid=1000 jupyter=down"]);
    });

    test("the kubelet restarting the workstation (its main process ended) runs the startup script again and wipes /mnt; same pod, home kept", async () => {
        const before = json(["get", "pod", pod("alice")]);
        exec("alice", "echo scratch > /mnt/scratch.txt");
        // tini is the container's first process and the instance user's: a TERM ends the container.
        exec("alice", "kill -TERM 1");
        await waitFor("the kubelet to restart alice's workstation and Jupyter to be ready", 180_000, async () => {
            const w = workstation(json(["get", "pod", pod("alice")]));
            return w.restartCount === workstation(before).restartCount + 1 && w.ready;
        });
        expect(json(["get", "pod", pod("alice")]).metadata.uid).toBe(before.metadata.uid);
        // The temp disk (an emptyDir) outlives a container restart; the entry point wipes it.
        expect(exec("alice", "ls -A /mnt")).toBe("");
        expect(exec("alice", "cat ~/home.txt")).toBe("home\n");
        expect(lines("alice", "~/startup-runs.txt")).toHaveLength(3);
        expect(lines("alice", "~/creation-runs.txt")).toHaveLength(1);
    });

    test("a resize the node has no room for fails with the kubelet's reason and is undone: same limits in the cgroup and the state", async () => {
        const uid = json(["get", "pod", pod("alice")]).metadata.uid;
        expect(cgroup()).toEqual({ cpus: 0.25, memoryBytes: 1 * GiB });
        // 2 CPUs fit the node's allocatable (the API server admits it) but not beside bob and the
        // agent: the kubelet defers it. A deferred resize allocates nothing.
        await t.setConfig(config({ cpus: 2, memoryGb: 1.5 }));
        const message = await failureOf(t.stack.up(collect(t)));
        expect(message).toMatch(/the kubelet deferred the resize of pod ci-\S+-alice-0/);
        expect(message).toContain("cpu");
        const p = json(["get", "pod", pod("alice")]);
        expect(p.metadata.uid).toBe(uid);
        expect(p.spec.containers[0].resources.limits).toEqual({ cpu: "250m", memory: "1Gi" });
        expect(cgroup()).toEqual({ cpus: 0.25, memoryBytes: 1 * GiB });
        expect(await aliceOut()).toMatchObject({ cpus: 0.25, memoryGb: 1 });
        expect(
            json(["get", "statefulset", `ci-${ws}-alice`]).spec.template.spec.containers[0].resources.limits,
        ).toEqual({ cpu: "250m", memory: "1Gi" });
        // Nothing left pending that the kubelet would apply later, behind the stack's back.
        expect((p.status.conditions as { type: string }[]).map((c) => c.type)).not.toContain("PodResizePending");
    });

    test("CPU and memory change live on the real kubelet: same pod, no restart, the new limits in the container's own cgroup when up returns", async () => {
        const before = json(["get", "pod", pod("alice")]);
        exec("alice", "echo scratch > /mnt/scratch.txt");
        await t.setConfig(config({ cpus: 0.5, memoryGb: 1.5 }));
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-runtime": "update" });
        // Read at once: `up` returns after the kubelet has applied the resize, not when it was asked.
        expect(cgroup()).toEqual({ cpus: 0.5, memoryBytes: 1.5 * GiB });
        const after = json(["get", "pod", pod("alice")]);
        expect(after.metadata.uid).toBe(before.metadata.uid);
        expect(workstation(after).restartCount).toBe(workstation(before).restartCount);
        expect(workstation(after).resources?.limits).toEqual({ cpu: "500m", memory: "1536Mi" });
        expect(exec("alice", "cat /mnt/scratch.txt")).toBe("scratch\n");
        expect(await aliceOut()).toMatchObject({ cpus: 0.5, memoryGb: 1.5 });
        // The StatefulSet's template too: the next start has the new size.
        expect(
            json(["get", "statefulset", `ci-${ws}-alice`]).spec.template.spec.containers[0].resources.limits,
        ).toEqual({ cpu: "500m", memory: "1536Mi" });
    });

    test("an edited creation script is a restart that runs it once more on the same OS disk; home kept", async () => {
        await t.setConfig(config({ cpus: 0.5, memoryGb: 1.5, creation: creation("v2") }));
        await t.stack.up(collect(t));
        expect(customSteps(t)["alice-runtime"]).toMatch(/replace/);
        expect(lines("alice", "~/creation-runs.txt")).toEqual(["v1 uid=1000 jupyter=down", "v2 uid=1000 jupyter=down"]);
        expect(lines("alice", "~/startup-runs.txt")).toHaveLength(4);
        expect(exec("alice", "cat ~/home.txt")).toBe("home\n");
    });

    test("a failing startup script is SetupFailed with its output; the pod is kept for inspection and is in the stack's state", async () => {
        await t.setConfig(
            config({
                cpus: 0.5,
                memoryGb: 1.5,
                creation: creation("v2"),
                startup: "echo preparing datasets\necho 'disk quota exceeded' >&2\nexit 3\n",
            }),
        );
        const message = await failureOf(t.stack.up(collect(t)));
        expect(message).toContain(
            "SetupFailed: the startup script exited with 3; its output is in /home/azureuser/.compute-instance/setup/startup.log",
        );
        // The script's own words, not only where to find them.
        expect(message).toContain("disk quota exceeded");
        expect(message).toContain(`The pod ${pod("alice")} is left running for inspection`);

        const p = json(["get", "pod", pod("alice")]);
        expect(p.status.phase).toBe("Running");
        expect(workstation(p).ready).toBe(false);
        expect(exec("alice", "cat ~/.compute-instance/setup/startup.log")).toContain("preparing datasets");
        // The same content on the same OS disk: the creation script did not run again.
        expect(lines("alice", "~/creation-runs.txt")).toHaveLength(2);
        expect(cli(["status", "alice"])).toMatch(/^alice\tSetupFailed\t/);

        const state = (await t.stack.exportStack()).deployment.resources as {
            urn: string;
            id?: string;
            outputs?: { status?: string };
        }[];
        const runtime = state.find((r) => r.urn.endsWith("::alice-runtime"));
        expect(runtime).toMatchObject({ id: `ci-${ws}-alice`, outputs: { status: "SetupFailed" } });
    });

    test("pulumi destroy removes everything of the stack but the user files, the failed pod included", async () => {
        await t.stack.destroy(collect(t));
        const left = () =>
            kubectl([
                "get",
                "statefulsets,deployments,pods,services,secrets,configmaps,networkpolicies,roles,rolebindings,serviceaccounts,pvc",
                "-n",
                namespace,
                "-o",
                "name",
            ])
                .split("\n")
                .filter((l) => l && l !== "configmap/kube-root-ca.crt" && l !== "serviceaccount/default");
        // The agent's pod goes with its Deployment, through the garbage collector.
        await waitFor("the agent's pod to go", 60_000, async () => !left().some((l) => l.startsWith("pod/")));
        expect(left()).toEqual([`persistentvolumeclaim/ci-${ws}-userfiles`]);
    });
});
