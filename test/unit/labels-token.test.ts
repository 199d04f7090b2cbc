// Labels (Azure: tags) and the live token: the schema, the patches, what each backend is asked for.
import { runtimeSpec } from "../support/specs";
import { containerCreateOptions } from "../../provider/backends/docker/options";
import {
    readsTokenFile,
    runtimeManifests,
    statefulSetManifest,
    userLabelsOf,
} from "../../provider/backends/kubernetes/manifests";
import { classify } from "../../provider/changes";
import { runtimeRules } from "../../provider/resources/runtime";
import { labelsPatch, labelsSchema } from "../../provider/model/labels";
import { instanceSchema } from "../../provider/model/schema";
import { summarize } from "../../provider/summary";

const spec = runtimeSpec({ image: "registry.example.com/ml/compute-instance-workstation:0.1.0-abc" });

function problems(labels: unknown): string[] {
    const r = labelsSchema.safeParse(labels);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("labels schema", () => {
    test("Kubernetes-valid keys and values pass, prefixed or not", () => {
        expect(
            problems({ team: "vision", "cost-center": "cc-1234", "example.com/project": "x.y_z", empty: "" }),
        ).toEqual([]);
    });

    test.each([
        ["-team", "the name must be 1 to 63"],
        ["a".repeat(64), "the name must be 1 to 63"],
        ["Example.com/x", "must be a DNS subdomain"],
        ["compute-instance.pulumi.io/owner", "is reserved (it belongs to this project)"],
        ["app.kubernetes.io/name", "is reserved (it belongs to Kubernetes)"],
        ["node.k8s.io/x", "is reserved (it belongs to Kubernetes)"],
    ])("key %s is refused, naming the label", (key, message) => {
        const p = problems({ [key]: "v" });
        expect(p).toHaveLength(1);
        expect(p[0]).toContain(`label "${key}"`);
        expect(p[0]).toContain(message);
    });

    test("values: at most 63 characters, letters, digits, '-', '_', '.'", () => {
        expect(problems({ team: "has space" })[0]).toMatch(
            /^team: label "team": the value "has space" must be empty or 1 to 63/,
        );
        expect(problems({ team: "x".repeat(64) })).toHaveLength(1);
        expect(problems({ team: 3 })[0]).toMatch(/must be a string/);
    });

    test("at most 32 labels", () => {
        const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`l${i}`, "v"]));
        expect(problems(many)).toEqual([": must have at most 32 labels, got 33"]);
    });

    test("the instance schema carries them", () => {
        expect(instanceSchema.parse({ name: "alice", labels: { team: "a" } }).labels).toEqual({ team: "a" });
        expect(instanceSchema.safeParse({ name: "alice", labels: { "bad key": "a" } }).success).toBe(false);
    });

    test("a patch sets the new labels and removes those taken away", () => {
        expect(labelsPatch({ team: "a", old: "x" }, { team: "b", added: "y" })).toEqual({
            team: "b",
            added: "y",
            old: null,
        });
        expect(labelsPatch({}, {})).toEqual({});
    });
});

describe("labels on Kubernetes", () => {
    const sts = statefulSetManifest({ ...spec, labels: { team: "vision", app: "mine" } }, "ml") as any;

    test("on the StatefulSet and the pod template, ours winning, the user's keys recorded", () => {
        expect(sts.metadata.labels.team).toBe("vision");
        expect(sts.spec.template.metadata.labels.team).toBe("vision");
        expect(sts.spec.template.metadata.labels["app.kubernetes.io/name"]).toBe("compute-instance");
        expect(JSON.parse(sts.metadata.annotations["compute-instance.pulumi.io/user-labels"])).toEqual(["app", "team"]);
    });

    test("read back: only the recorded keys are the user's; one removed by hand reads as missing", () => {
        expect(userLabelsOf(sts.metadata)).toEqual({ app: "mine", team: "vision" });
        const { team: _, ...rest } = sts.metadata.labels;
        expect(userLabelsOf({ ...sts.metadata, labels: { ...rest, "added-by-hand": "x" } })).toEqual({ app: "mine" });
        expect(userLabelsOf({ labels: { team: "x" } })).toEqual({});
    });

    test("no labels: no annotation", () => {
        expect(
            (statefulSetManifest(spec, "ml") as any).metadata.annotations["compute-instance.pulumi.io/user-labels"],
        ).toBeUndefined();
    });
});

describe("the token as a file", () => {
    test("Kubernetes: an image named like the workstation image reads the mounted Secret", () => {
        expect(readsTokenFile("compute-instance-workstation:0.1.0-abc")).toBe(true);
        expect(readsTokenFile("registry.example.com/ml/compute-instance-workstation@sha256:00")).toBe(true);
        expect(readsTokenFile("registry.example.com/ml/workstation:1")).toBe(false);
        expect(readsTokenFile("registry.example.com/ml/my-compute-instance-workstation:1")).toBe(false);
        expect(readsTokenFile("registry.example.com/ml/compute-instance-workstation-vscode:0.1.0-abc")).toBe(true);
        expect(readsTokenFile("registry.example.com/ml/compute-instance-workstation-other:1")).toBe(false);

        const sts = statefulSetManifest(spec, "ml") as any;
        const c = sts.spec.template.spec.containers[0];
        expect(c.env).toContainEqual({ name: "CI_TOKEN_FILE", value: "/etc/compute-instance/auth/token" });
        expect(c.env.find((e: any) => e.name === "JUPYTER_TOKEN")).toBeUndefined();
        // A directory mount, never subPath: a subPath mount is not refreshed when the Secret changes.
        expect(c.volumeMounts).toContainEqual({
            name: "token",
            mountPath: "/etc/compute-instance/auth",
            readOnly: true,
        });
        expect(sts.spec.template.spec.volumes).toContainEqual({
            name: "token",
            secret: {
                secretName: "ci-ml-team-alice-token",
                items: [{ key: "token", path: "token" }],
                defaultMode: 0o444,
            },
        });
        expect(sts.metadata.annotations["compute-instance.pulumi.io/token-file"]).toBe(
            "/etc/compute-instance/auth/token",
        );
    });

    test("Kubernetes: another image gets JUPYTER_TOKEN from the Secret, and no mount", () => {
        const sts = statefulSetManifest({ ...spec, image: "registry.example.com/ml/workstation:1" }, "ml") as any;
        const c = sts.spec.template.spec.containers[0];
        expect(c.env).toContainEqual({
            name: "JUPYTER_TOKEN",
            valueFrom: { secretKeyRef: { name: "ci-ml-team-alice-token", key: "token" } },
        });
        expect(c.volumeMounts.map((m: any) => m.name)).not.toContain("token");
        expect(runtimeManifests(spec, "ml").find((o) => o.kind === "Secret")).toBeDefined();
    });

    test("Docker: with a token file the environment holds no token", () => {
        const opts = containerCreateOptions(spec, { jupyter: 23456 }, true);
        expect(opts.Env).toContain("CI_TOKEN_FILE=/etc/compute-instance/auth/token");
        expect(opts.Env?.some((e) => e.startsWith("JUPYTER_TOKEN="))).toBe(false);
        expect(JSON.stringify(opts)).not.toContain(spec.token);
        expect(opts.Labels?.["compute-instance.pulumi.io/token-file"]).toBe("/etc/compute-instance/auth/token");
        expect(containerCreateOptions(spec, { jupyter: 23456 }, false).Env).toContain(`JUPYTER_TOKEN=${spec.token}`);
    });
});

describe("change classification", () => {
    const base = { workspace: "team", instance: "alice", token: "t".repeat(64), cpus: 2, memoryGb: 7 };

    test("labels apply live, on both backends", () => {
        for (const live of [true, false]) {
            expect(
                classify(runtimeRules(live), { ...base, labels: { team: "a" } }, { ...base, labels: { team: "b" } }),
            ).toEqual({ changed: ["labels"], replaces: [] });
        }
        expect(classify(runtimeRules(true), base, { ...base, labels: { team: "a" } })).toEqual({
            changed: ["labels"],
            replaces: [],
        });
    });

    test("a new token applies live when the image re-reads it, else restarts", () => {
        expect(classify(runtimeRules(true, true, true), base, { ...base, token: "u".repeat(64) })).toEqual({
            changed: ["token"],
            replaces: [],
        });
        expect(classify(runtimeRules(true, true, false), base, { ...base, token: "u".repeat(64) }).replaces).toEqual([
            "token",
        ]);
    });

    test("a change of sharing policy is said, and is as live as the token it brings", () => {
        const olds = { ...base, liveToken: true, sharing: "Personal" };
        const news = { ...base, sharing: "Shared", token: "u".repeat(64) };
        const c = classify(runtimeRules(true, true, true), olds, news);
        expect(c).toEqual({ changed: ["sharing", "token"], replaces: [] });
        expect(summarize("Runtime", olds, news, c)).toBe(
            "alice: applied live, no restart (sharing Personal → Shared, token changed); all disks kept",
        );
        // A state from before the field existed reads as Personal: no change.
        expect(classify(runtimeRules(true), base, { ...base, sharing: "Personal" }).changed).toEqual([]);
    });

    test("the summary says so, without the token", () => {
        const olds = { ...base, labels: { team: "a", old: "x" } };
        const news = { ...base, labels: { team: "b" }, token: "u".repeat(64) };
        const line = summarize("Runtime", olds, news, { changed: ["labels", "token"], replaces: [] });
        expect(line).toBe(
            "alice: applied live, no restart (labels old=x team=a → team=b, token changed); all disks kept",
        );
        expect(line).not.toContain("u".repeat(16));
    });
});

describe("GPUs on Kubernetes", () => {
    test("a GPU size asks for nvidia.com/gpu and tolerates the GPU nodes' taint", () => {
        const sts = statefulSetManifest(
            { ...spec, sizeName: "Standard_NC6s_v3", cpus: 6, memoryGb: 112, gpus: 1 },
            "ml",
        ) as any;
        const pod = sts.spec.template.spec;
        expect(pod.containers[0].resources.limits["nvidia.com/gpu"]).toBe("1");
        expect(pod.containers[0].resources.requests["nvidia.com/gpu"]).toBe("1");
        expect(pod.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
        expect((statefulSetManifest(spec, "ml") as any).spec.template.spec.tolerations).toBeUndefined();
    });
});
