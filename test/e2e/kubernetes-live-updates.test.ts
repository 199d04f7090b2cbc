// Live updates on the local Kubernetes cluster: labels (Azure: tags) on the StatefulSet, its
// template and the running pod; a rotated token or a change of sharing policy through the
// instance's Secret, mounted as a file the image re-reads. Same pod throughout; an image that
// reads its token only at start restarts instead.
import { testKubeconfig } from "../support/backends";
import { kubectl, simulatedNamespace, tearDownOnCluster } from "../support/cluster";
import { TestStack, collect, customSteps, programStack, uniqueWorkspace } from "../support/stacks";

const ws = uniqueWorkspace("k8l");
const namespace = `ci-${ws}`;
const alice = `ci-${ws}-alice`;
const bob = `ci-${ws}-bob`;
let t: TestStack;

interface Options {
    labels?: Record<string, string>;
    tokenVersion?: number;
    shared?: boolean;
}
const small = { size: { cpus: 0.5, memoryGb: 1 }, tempDisk: { sizeGb: 1 }, osDisk: { sizeGb: 1 }, readyTimeout: "3m" };
const config = (a: Options = {}, bobVersion = 1) => ({
    workspaceName: ws,
    backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
    // Named like the default image: it keeps contract 3 and re-reads its token.
    image: "registry.example.com/ml/compute-instance-workstation:1",
    instances: {
        alice: {
            ...small,
            ...(a.labels ? { labels: a.labels } : {}),
            ...(a.tokenVersion ? { tokenVersion: a.tokenVersion } : {}),
            ...(a.shared ? { applicationSharingPolicy: "Shared" } : {}),
        },
        // A bring-your-own image that reads JUPYTER_TOKEN at start only.
        bob: {
            ...small,
            image: "registry.example.com/ml/workstation:1",
            tokenVersion: bobVersion,
            applicationSharingPolicy: "Personal",
        },
    },
});

const json = (args: string[]) => JSON.parse(kubectl([...args, "-n", namespace, "-o", "json"]));
const podUid = (sts: string) => json(["get", "pod", `${sts}-0`]).metadata.uid as string;
const secretToken = (sts: string) =>
    Buffer.from(json(["get", "secret", `${sts}-token`]).data.token, "base64").toString("utf8");
const userLabels = (o: { metadata: { labels: Record<string, string> } }) =>
    Object.fromEntries(
        Object.entries(o.metadata.labels).filter(
            ([k]) => !k.includes("/") && !["controller-revision-hash"].includes(k),
        ),
    );

beforeAll(async () => {
    simulatedNamespace(namespace);
    t = await programStack("instance", config({ labels: { team: "vision", "cost-center": "cc-1234" } }));
    await t.stack.up(collect(t));
});

afterAll(async () => {
    await tearDownOnCluster(t, namespace);
});

describe("live updates on Kubernetes", () => {
    test("labels are on the StatefulSet, its template and the pod: kubectl finds the instance by them", () => {
        const set = json(["get", "statefulset", alice]);
        expect(userLabels(set)).toEqual({ team: "vision", "cost-center": "cc-1234" });
        expect(userLabels(set.spec.template)).toEqual({ team: "vision", "cost-center": "cc-1234" });
        expect(kubectl(["get", "pods", "-n", namespace, "-l", "team=vision", "-o", "name"]).trim()).toBe(
            `pod/${alice}-0`,
        );
    });

    test("the token is a file mounted from the Secret (no subPath), not an environment variable", () => {
        const c = json(["get", "pod", `${alice}-0`]).spec.containers[0];
        expect(c.env).toContainEqual({ name: "CI_TOKEN_FILE", value: "/etc/compute-instance/auth/token" });
        expect(c.env.map((e: { name: string }) => e.name)).not.toContain("JUPYTER_TOKEN");
        expect(c.volumeMounts).toContainEqual({
            name: "token",
            mountPath: "/etc/compute-instance/auth",
            readOnly: true,
        });
        const b = json(["get", "pod", `${bob}-0`]).spec.containers[0];
        expect(b.env.map((e: { name: string }) => e.name)).toContain("JUPYTER_TOKEN");
    });

    test("changing labels relabels in place: same pod, the label taken away is gone", async () => {
        const before = podUid(alice);
        await t.setConfig(config({ labels: { team: "nlp", project: "ocr" } }));
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-runtime": "update" });
        expect(podUid(alice)).toBe(before);
        for (const o of [
            json(["get", "pod", `${alice}-0`]),
            json(["get", "statefulset", alice]),
            json(["get", "statefulset", alice]).spec.template,
        ]) {
            expect(userLabels(o)).toEqual({ team: "nlp", project: "ocr" });
        }
        const out = (await t.stack.outputs()).out.value as Record<string, { labels: Record<string, string> }>;
        expect(out.alice.labels).toEqual({ team: "nlp", project: "ocr" });
        expect(out.bob.labels).toEqual({});
    });

    test("a label removed by hand shows in refresh and up puts it back; labels others add are left alone", async () => {
        kubectl(["label", "statefulset", alice, "-n", namespace, "team-", "added-by-hand=yes"]);
        const refreshed = await t.stack.refresh(collect(t));
        expect(refreshed.summary.resourceChanges?.update).toBe(1);
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-runtime": "update" });
        const set = json(["get", "statefulset", alice]);
        expect(set.metadata.labels.team).toBe("nlp");
        expect(set.metadata.labels["added-by-hand"]).toBe("yes");
        const quiet = await t.stack.refresh(collect(t));
        expect(Object.keys(quiet.summary.resourceChanges ?? {}).filter((k) => k !== "same")).toEqual([]);
    });

    test("raising tokenVersion rewrites the Secret with no restart; an image that reads its token at start restarts", async () => {
        const [aliceBefore, bobBefore] = [podUid(alice), podUid(bob)];
        const [aliceToken, bobToken] = [secretToken(alice), secretToken(bob)];
        await t.setConfig(config({ labels: { team: "nlp", project: "ocr" }, tokenVersion: 2 }, 2));
        await t.stack.up(collect(t));
        const steps = customSteps(t);
        expect(steps["alice-runtime"]).toBe("update");
        expect(steps["bob-runtime"]).toMatch(/replace/);
        expect(t.log.join("")).toContain("alice: applied live, no restart (token changed); all disks kept");
        expect(t.log.join("")).toMatch(/bob: restart \(token changed\); OS disk kept/);
        expect(podUid(alice)).toBe(aliceBefore);
        expect(podUid(bob)).not.toBe(bobBefore);
        expect(secretToken(alice)).not.toBe(aliceToken);
        expect(secretToken(bob)).not.toBe(bobToken);
        const out = (await t.stack.outputs()).out.value as Record<string, { token: string }>;
        expect(secretToken(alice)).toBe(out.alice.token);
    });

    test("Personal → Shared: the Secret holds the workspace's token, same pod", async () => {
        const before = podUid(alice);
        await t.setConfig(config({ labels: { team: "nlp", project: "ocr" }, shared: true }, 2));
        await t.stack.up(collect(t));
        // The workspace's token is made the first time an instance shares it.
        expect(customSteps(t)).toEqual({
            "alice-runtime": "update",
            "alice-token": "delete",
            [`${ws}-shared-token`]: "create",
        });
        expect(podUid(alice)).toBe(before);
        const out = (await t.stack.outputs()).out.value as Record<string, { token: string }>;
        expect(secretToken(alice)).toBe(out.alice.token);
        expect(out.alice.token).not.toBe(out.bob.token);
    });
});
