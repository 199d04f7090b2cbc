// Local inference endpoints on the real engine, with the real CLI: a scikit-learn model trained
// by a job on the instance, served by Azure's own scoring server (azureml-inference-server-http,
// in the workstation's inference variant) beside it and invoked through the instance's Jupyter
// proxy under its token; it comes back after a stop and start of its instance; bad options are
// refused before anything is made; a scoring script that fails says so with its log; delete
// removes it and its files.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { currentVariantTag } from "../../provider/image/context";
import { agentLogTail, jobCli, jobEnded, submitJob } from "../support/jobs";
import {
    ROOT,
    TestStack,
    collect,
    docker,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    waitFor,
} from "../support/stacks";

const ws = uniqueWorkspace("inf");
const image = currentVariantTag("inference");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-endpoints-"));
let t: TestStack;
let model = "";

const cli = (args: string[]) => jobCli(ws, args);
const endpoints = () => JSON.parse(cli(["endpoint", "list", "--output", "json"]).out) as Record<string, unknown>[];
const write = (rel: string, body: string) => {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, body);
    return p;
};
const IRIS_REQUEST = write(
    "request.json",
    JSON.stringify({
        data: [
            [5.1, 3.5, 1.4, 0.2],
            [6.7, 3.0, 5.2, 2.3],
        ],
    }),
);

// Written for Azure: the model folder by its own name under AZUREML_MODEL_DIR.
write(
    "score/score.py",
    `import json, os
import joblib

def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "model.pkl"))
    print("model loaded", flush=True)

def run(raw_data):
    return model.predict(json.loads(raw_data)["data"]).tolist()
`,
);

beforeAll(async () => {
    // The variant is built by scripts/bootstrap --for-tests; quick when it is there.
    execFileSync("node", [path.join(ROOT, "bin/cli/main.js"), "build-image", "--inference"], { stdio: "inherit" });
    t = await programStack("instance", {
        workspaceName: ws,
        agentCheckInterval: "2s",
        instances: { alice: { size: { cpus: 1, memoryGb: 2 }, osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 } } },
    });
    await t.stack.up(collect(t));
}, 900_000);

afterAll(async () => {
    await t?.stack.destroy(collect(t)).catch(() => undefined);
    await purgeWorkspace(ws);
    fs.rmSync(dir, { recursive: true, force: true });
});

describe("local inference endpoints on Docker", () => {
    test("a model trained by a job, served beside its instance, answers invoke through the proxy and only with the token", async () => {
        write(
            "train/train.py",
            `import os, sys
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=1000).fit(X, y)
joblib.dump(model, os.path.join(sys.argv[1], "model.pkl"))
print("accuracy", model.score(X, y))
`,
        );
        const job = submitJob(
            ws,
            dir,
            "train.yml",
            `code: ./train\ncommand: python3 train.py \${{outputs.model}}\nenvironment:\n  image: ${image}\noutputs:\n  model:\ncompute: alice\n`,
        );
        expect(await jobEnded(ws, job, 180_000)).toMatchObject({ status: "Completed" });
        expect(cli(["job", "download", job, "--to", path.join(dir, "dl")]).code).toBe(0);
        model = path.join(dir, "dl", job, "outputs", "model");
        expect(fs.existsSync(path.join(model, "model.pkl"))).toBe(true);

        const made = cli([
            "endpoint",
            "create",
            "--name",
            "iris",
            "--compute",
            "alice",
            "--model",
            model,
            "--code",
            path.join(dir, "score"),
            "--scoring-script",
            "score.py",
        ]);
        expect(made).toMatchObject({ code: 0, err: expect.stringContaining("iris answers") });
        const before = Date.now();
        const invoked = cli(["endpoint", "invoke", "iris", "--request-file", IRIS_REQUEST]);
        expect(invoked).toMatchObject({ code: 0 });
        expect(JSON.parse(invoked.out)).toEqual([0, 2]);
        expect(endpoints()).toEqual([
            expect.objectContaining({
                name: "iris",
                instance: "alice",
                status: "Running",
                image,
                scoringPath: "/proxy/5001/score",
            }),
        ]);
        expect(cli(["endpoint", "logs", "iris"]).out).toContain("model loaded");

        // No port of its own: in the instance's network, reached through Jupyter's proxy only.
        const c = (
            await docker.listContainers({ filters: { label: ["compute-instance.pulumi.io/endpoint=iris"] } })
        )[0];
        const info = await docker.getContainer(c.Id).inspect();
        const instanceId = (await docker.getContainer(`ci-${ws}-alice`).inspect()).Id;
        expect(info.HostConfig.NetworkMode).toBe(`container:${instanceId}`);
        expect(c.Ports).toEqual([]);
        const out = (await t.stack.outputs()).out.value as Record<string, { endpoints: { jupyterLab: string } }>;
        const base = new URL(out.alice.endpoints.jupyterLab).origin;
        const anonymous = await fetch(`${base}/proxy/5001/score`, {
            method: "POST",
            body: fs.readFileSync(IRIS_REQUEST),
            redirect: "manual",
        });
        expect(anonymous.status).not.toBe(200);
        // The invoke went through the proxy: use of the instance, as the idle rule reads it.
        const token = (await t.stack.outputs()).out.value.alice.token as string;
        const seen = (await (
            await fetch(`${base}/api/compute-instance/connections`, { headers: { Authorization: `token ${token}` } })
        ).json()) as { applications_last_activity?: string };
        expect(Date.parse(seen.applications_last_activity ?? "")).toBeGreaterThanOrEqual(before);
    });

    test("a stop and start of its instance: Stopped, then back in the instance's new network, answering", async () => {
        const run = (verb: string) =>
            execFileSync("node", [path.join(ROOT, "bin/cli/main.js"), verb, "alice", "--workspace", ws]);
        run("stop");
        expect(endpoints()).toEqual([expect.objectContaining({ name: "iris", status: "Stopped" })]);
        expect(cli(["endpoint", "invoke", "iris", "--request-file", IRIS_REQUEST])).toMatchObject({
            code: 1,
            err: expect.stringContaining('endpoint "iris" is Stopped'),
        });
        run("start");
        const answer = await waitFor(
            "iris to answer after the start",
            90_000,
            async () => {
                const r = cli(["endpoint", "invoke", "iris", "--request-file", IRIS_REQUEST]);
                return r.code === 0 && r.out;
            },
            () => agentLogTail(ws),
        );
        expect(JSON.parse(answer)).toEqual([0, 2]);
    });

    test("bad options are refused before anything is made, naming the option", () => {
        const score = path.join(dir, "score");
        const base = ["endpoint", "create", "--compute", "alice", "--model", model, "--code", score];
        expect(cli([...base, "--name", "Bad_Name", "--scoring-script", "score.py"])).toMatchObject({
            code: 64,
            err: expect.stringContaining("--name Bad_Name: must be 3 to 32 lowercase letters"),
        });
        expect(cli([...base, "--name", "other", "--scoring-script", "nope.py"])).toMatchObject({
            code: 64,
            err: expect.stringContaining("--scoring-script nope.py: no such file"),
        });
        expect(cli([...base, "--name", "iris", "--scoring-script", "score.py"])).toMatchObject({
            code: 1,
            err: expect.stringContaining('an endpoint "iris" exists'),
        });
        expect(
            cli([
                "endpoint",
                "create",
                "--compute",
                "nobody",
                "--model",
                model,
                "--code",
                score,
                "--name",
                "other",
                "--scoring-script",
                "score.py",
            ]),
        ).toMatchObject({ code: 1, err: expect.stringContaining('no instance "nobody"') });
        expect(endpoints().map((e) => e.name)).toEqual(["iris"]);
    });

    test("a scoring script whose init() fails: create fails with its log and removes it; delete removes an endpoint and its files", async () => {
        write(
            "broken/score.py",
            'def init():\n    raise RuntimeError("no model here")\n\ndef run(raw):\n    return raw\n',
        );
        const r = cli([
            "endpoint",
            "create",
            "--name",
            "broken",
            "--compute",
            "alice",
            "--model",
            model,
            "--code",
            path.join(dir, "broken"),
            "--scoring-script",
            "score.py",
            "--timeout",
            "120",
        ]);
        expect(r.code).toBe(1);
        expect(r.err).toContain("no model here");
        expect(r.err).toContain('endpoint "broken" removed');
        expect(endpoints().map((e) => e.name)).toEqual(["iris"]);
        expect(cli(["endpoint", "delete", "iris"])).toMatchObject({ code: 0 });
        expect(endpoints()).toEqual([]);
        expect(
            await docker.listContainers({
                all: true,
                filters: {
                    label: [`compute-instance.pulumi.io/workspace=${ws}`, "compute-instance.pulumi.io/endpoint"],
                },
            }),
        ).toEqual([]);
        // Its folder in the user files went with it.
        const ls = execFileSync(
            "docker",
            ["exec", `ci-${ws}-alice`, "ls", "/home/azureuser/cloudfiles/code/endpoints"],
            {
                encoding: "utf8",
            },
        );
        expect(ls.trim()).toBe("");
        expect(cli(["endpoint", "invoke", "iris", "--request-file", IRIS_REQUEST])).toMatchObject({
            code: 1,
            err: expect.stringContaining('no endpoint "iris"'),
        });
    });
});
