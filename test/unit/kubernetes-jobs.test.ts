// Jobs on Kubernetes without a cluster: the Job a job becomes, and the round trip of its files
// through the one-shot pods' scripts (run by this machine's sh, tar and base64, as the agent's
// image runs them).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import {
    PACK_SCRIPT,
    UNPACK_SCRIPT,
    jobManifest,
    jobObjectName,
} from "../../provider/backends/kubernetes/manifests/job";
import { packFiles, unpackFiles } from "../../provider/backends/kubernetes/jobs";
import type { JobRun } from "../../provider/backends/jobRunner";

const run: JobRun = {
    workspace: "ml",
    owner: "p/s",
    instance: "alice",
    name: "job-1",
    share: 0.25,
    job: {
        instance: "alice",
        submittedAt: "2026-12-01T12:00:00.000Z",
        image: "img:1",
        command: "python train.py",
        env: { A: "1" },
        outputs: ["model"],
        processCount: 1,
        tags: {},
        shmSizeBytes: 1024 ** 3,
    },
};

describe("a job on Kubernetes", () => {
    const job = jobManifest(
        run,
        { cpus: 2, memoryBytes: 8 * 1024 ** 3, gpus: 0, userFilesClaim: "ci-ml-userfiles" },
        "ns",
    ) as unknown as {
        metadata: { name: string; labels: Record<string, string> };
        spec: {
            backoffLimit: number;
            template: {
                metadata: { labels: Record<string, string> };
                spec: {
                    restartPolicy: string;
                    securityContext: Record<string, unknown>;
                    containers: {
                        image: string;
                        imagePullPolicy: string;
                        resources: { limits: Record<string, string>; requests: Record<string, string> };
                        env: { name: string; value: string }[];
                        terminationMessagePath: string;
                        volumeMounts: { name: string; mountPath: string }[];
                    }[];
                    volumes: Record<string, unknown>[];
                };
            };
        };
    };

    test("one pod, never retried, its share of the instance as its limits (the instance holds the reservation), its image as it is on the nodes", () => {
        expect(job.metadata.name).toBe("ci-ml-job-job-1");
        expect(job.spec.backoffLimit).toBe(0);
        expect(job.spec.template.spec.restartPolicy).toBe("Never");
        const c = job.spec.template.spec.containers[0];
        expect(c).toMatchObject({
            image: "img:1",
            imagePullPolicy: "Never",
            terminationMessagePath: "/dev/termination-log",
        });
        expect(c.resources).toEqual({
            requests: { cpu: "10m", memory: "64Mi" },
            limits: { cpu: "500m", memory: "2048Mi" },
        });
        expect(job.spec.template.spec.securityContext).toMatchObject({ runAsUser: 1000, runAsNonRoot: true });
        const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
        expect(env).toMatchObject({
            A: "1",
            JOB_COMMAND: "python train.py",
            JOB_TERMINATION_LOG: "/dev/termination-log",
        });
        expect(c.volumeMounts.map((m) => m.mountPath)).toEqual(["/home/azureuser/cloudfiles/code", "/dev/shm"]);
        expect(job.spec.template.spec.volumes).toContainEqual({
            name: "shm",
            emptyDir: { medium: "Memory", sizeLimit: `${1024 ** 3}` },
        });
    });

    test("its pod carries the workspace's pod labels (its egress applies), not the instance's (its inbound rules do not)", () => {
        expect(job.spec.template.metadata.labels).toEqual({
            "app.kubernetes.io/name": "compute-instance",
            "app.kubernetes.io/part-of": "ml",
            "app.kubernetes.io/component": "job",
            "compute-instance.pulumi.io/job": "job-1",
        });
        expect(job.metadata.labels).toMatchObject({
            "app.kubernetes.io/instance": "alice",
            "app.kubernetes.io/component": "job",
        });
    });

    test("a long name stays a valid label value", () => {
        const name = jobObjectName("a-workspace-with-a-long-name", "job-with-an-even-longer-name-of-its-own");
        expect(name.length).toBeLessThanOrEqual(63);
        expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    });

    test("files go in and come back out through the one-shot pods' scripts", async () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "ci-k8s-job-files-"));
        const dir = path.join(root, "jobs", "job-1");
        const sh = (script: string, env: Record<string, string>) =>
            spawnSync("sh", ["-c", script], {
                env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
                encoding: "utf8",
                maxBuffer: 64 * 1024 ** 2,
            });
        const tgz = await packFiles([
            { name: "code/train.py", body: "print(1)\n", mode: 0o644 },
            { name: "inputs/data/rows.csv", body: Buffer.from([0, 1, 2, 255]), mode: 0o600 },
        ]);
        expect(sh(UNPACK_SCRIPT, { DIR: dir, FILES: tgz.toString("base64") }).status).toBe(0);
        expect(fs.readFileSync(path.join(dir, "code/train.py"), "utf8")).toBe("print(1)\n");
        expect(fs.existsSync(path.join(dir, ".submitted"))).toBe(true);
        fs.mkdirSync(path.join(dir, "outputs/model"), { recursive: true });
        fs.writeFileSync(path.join(dir, "outputs/model/w.bin"), Buffer.from([9, 8, 7]));
        const all = await unpackFiles(Buffer.from(sh(PACK_SCRIPT, { DIR: dir, PATH_IN: "" }).stdout, "base64"));
        expect(Object.keys(all).sort()).toEqual([
            ".submitted",
            "code/train.py",
            "inputs/data/rows.csv",
            "outputs/model/w.bin",
        ]);
        expect([...all["inputs/data/rows.csv"]]).toEqual([0, 1, 2, 255]);
        const some = await unpackFiles(
            Buffer.from(sh(PACK_SCRIPT, { DIR: dir, PATH_IN: "outputs/model" }).stdout, "base64"),
        );
        expect(Object.keys(some)).toEqual(["outputs/model/w.bin"]);
        expect(
            await unpackFiles(Buffer.from(sh(PACK_SCRIPT, { DIR: dir, PATH_IN: "nothing/here" }).stdout, "base64")),
        ).toEqual({});
    });
});
