// Jobs on the local cluster's real node, submitted with the real CLI and run by the real workspace
// agent (a pod there, checking every 2 s): each job a Job of one pod from an image imported into
// the node; its code and inputs put in the user files by a one-shot pod, its outputs and log read
// back the same way; on a 1-vCPU instance never more than two at once; a failing command Failed
// with its code (the pod's termination message); a cancel; stopping the instance cancels its
// running job and keeps its queued one, which runs after the start.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync, spawnSync } from "child_process";
import { testKubeconfig } from "../support/backends";
import { kubectl, loadImages, localImages, realNode, tearDownOnCluster } from "../support/cluster";
import { agentLogLines } from "../support/real-node";
import { ROOT, TestStack, collect, programStack, uniqueWorkspace, waitFor } from "../support/stacks";

const ws = uniqueWorkspace("kjob");
const namespace = `ci-${ws}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-kjobs-"));
const image = localImages.workstation;
let t: TestStack;
let node: string;

function cli(args: string[]): { code: number; out: string; err: string } {
    const r = spawnSync(
        "node",
        [
            path.join(ROOT, "bin/cli/main.js"),
            ...args,
            "--workspace",
            ws,
            "--namespace",
            namespace,
            "--kubeconfig",
            testKubeconfig(),
        ],
        { encoding: "utf8" },
    );
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function submit(file: string, yaml: string): string {
    fs.writeFileSync(path.join(dir, file), yaml);
    const r = cli(["job", "create", "--file", path.join(dir, file)]);
    if (r.code !== 0) throw new Error(`job create failed: ${r.err}`);
    return r.out.trim().split("\n").pop() ?? "";
}

const show = (name: string) =>
    JSON.parse(cli(["job", "show", name, "--output", "json"]).out) as Record<string, unknown>;
const agentTail = async () =>
    `agent log:\n${agentLogLines(namespace, ws)
        .slice(-20)
        .map((l) => JSON.stringify(l))
        .join("\n")}`;
const ended = (name: string, timeoutMs = 120_000) =>
    waitFor(
        `job ${name} to end`,
        timeoutMs,
        async () => {
            const s = show(name);
            return ["Completed", "Failed", "Canceled"].includes(s.status as string) && s;
        },
        agentTail,
    );
const sleepJob = (seconds: number) => `command: sleep ${seconds}\nenvironment:\n  image: ${image}\ncompute: alice\n`;

beforeAll(async () => {
    node = realNode();
    loadImages(localImages.workstation, localImages.agent);
    t = await programStack("instance", {
        workspaceName: ws,
        image,
        agentImage: localImages.agent,
        agentCheckInterval: "2s",
        backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
        instances: {
            alice: {
                size: { cpus: 1, memoryGb: 1 },
                osDisk: { sizeGb: 1 },
                tempDisk: { sizeGb: 1 },
                readyTimeout: "5m",
            },
        },
    });
    const r = await t.stack.up(collect(t));
    expect(r.summary.result).toBe("succeeded");
}, 600_000);

afterAll(async () => {
    await tearDownOnCluster(t, namespace);
    fs.rmSync(dir, { recursive: true, force: true });
});

describe("jobs on the real node", () => {
    test("code, an input and an output: a Job's pod on the node, Completed, its outputs and log downloaded", async () => {
        fs.mkdirSync(path.join(dir, "src"), { recursive: true });
        fs.mkdirSync(path.join(dir, "data"), { recursive: true });
        fs.writeFileSync(path.join(dir, "src", "train.sh"), 'wc -l < "$1"/rows.csv > "$2"/rows; echo trained\n');
        fs.writeFileSync(path.join(dir, "data", "rows.csv"), "a\nb\nc\n");
        const name = submit(
            "train.yml",
            `code: ./src
command: sh train.sh \${{inputs.data}} \${{outputs.model}}
inputs:
  data: { type: uri_folder, path: ./data }
outputs:
  model:
environment:
  image: ${image}
compute: azureml:alice
`,
        );
        type Pod = {
            metadata: { labels: Record<string, string> };
            spec: { nodeName?: string; containers: { image: string }[] };
        };
        const pod = await waitFor("the job's pod", 60_000, async () => {
            const items = JSON.parse(
                kubectl(["get", "pods", "-n", namespace, "-l", `compute-instance.pulumi.io/job=${name}`, "-o", "json"]),
            ).items as Pod[];
            const p = items.find((i) => i.metadata.labels["job-name"]);
            return p?.spec.nodeName ? p : undefined;
        });
        expect(pod.spec.nodeName).toBe(node);
        expect(pod.spec.containers[0].image).toBe(image);
        expect(await ended(name)).toMatchObject({ status: "Completed", exitCode: 0 });
        expect(cli(["job", "download", name, "--to", path.join(dir, "dl")]).code).toBe(0);
        const got = path.join(dir, "dl", name);
        expect(fs.readFileSync(path.join(got, "outputs/model/rows"), "utf8").trim()).toBe("3");
        expect(fs.readFileSync(path.join(got, "logs/std_log.txt"), "utf8")).toBe("trained\n");
        // Its Job goes once the agent has recorded its end; its files stay.
        await waitFor(
            "its Job to go",
            30_000,
            async () => !kubectl(["get", "jobs", "-n", namespace, "-o", "name"]).includes(name),
        );
    });

    test("a 1-vCPU instance runs two at once and queues the third; a failing command is Failed with its code; a cancel cancels", async () => {
        const long = [submit("l0.yml", sleepJob(120)), submit("l1.yml", sleepJob(120))];
        await waitFor("both to run", 90_000, async () => long.every((n) => show(n).status === "Running"), agentTail);
        const failing = submit("fail.yml", `command: exit 3\nenvironment:\n  image: ${image}\ncompute: alice\n`);
        await new Promise((r) => setTimeout(r, 5000));
        expect(show(failing).status).toBe("Queued");
        expect(cli(["job", "cancel", long[0]]).code).toBe(0);
        expect(await ended(long[0], 60_000)).toMatchObject({ status: "Canceled", reason: "canceled by the user" });
        expect(await ended(failing, 90_000)).toMatchObject({
            status: "Failed",
            exitCode: 3,
            reason: "exited with code 3",
        });
        expect(cli(["job", "cancel", long[1]]).code).toBe(0);
        expect(await ended(long[1], 60_000)).toMatchObject({ status: "Canceled" });
    });

    test("stopping the instance cancels its running job and keeps its queued one, which runs after the start", async () => {
        const running = [submit("s0.yml", sleepJob(120)), submit("s1.yml", sleepJob(120))];
        await waitFor("both to run", 90_000, async () => running.every((n) => show(n).status === "Running"), agentTail);
        const waiting = submit("s2.yml", sleepJob(1));
        execFileSync("node", [
            path.join(ROOT, "bin/cli/main.js"),
            "stop",
            "alice",
            "--workspace",
            ws,
            "--namespace",
            namespace,
            "--kubeconfig",
            testKubeconfig(),
        ]);
        for (const n of running)
            expect(await ended(n, 60_000)).toMatchObject({ status: "Canceled", reason: "its instance stopped" });
        expect(show(waiting).status).toBe("Queued");
        execFileSync("node", [
            path.join(ROOT, "bin/cli/main.js"),
            "start",
            "alice",
            "--workspace",
            ws,
            "--namespace",
            namespace,
            "--kubeconfig",
            testKubeconfig(),
        ]);
        expect(await ended(waiting, 180_000)).toMatchObject({ status: "Completed" });
    });
});
