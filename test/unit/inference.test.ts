// Local inference endpoints without an engine: names, ports, the server's environment and command
// (run by this machine's sh with a stand-in azmlinfsrv), the container's options and the files
// uploaded, laid out as on Azure.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import {
    ENDPOINT_COMMAND,
    ENDPOINT_NAME,
    ENDPOINT_PORTS,
    endpointEnv,
    endpointPaths,
    endpointPort,
} from "../../provider/backends/inference";
import { endpointContainerName, endpointCreateOptions } from "../../provider/backends/docker/inference";
import { endpointFiles } from "../../cli/endpoints";

const run = {
    workspace: "ml",
    owner: "p/s",
    instance: "alice",
    name: "iris",
    image: "img:1",
    scoringScript: "src/score.py",
    port: 5002,
};

describe("local inference endpoints", () => {
    test("names follow Azure's rule and never look like an application's container", () => {
        expect(["iris", "my-model-2", "abc"].filter((n) => ENDPOINT_NAME.test(n))).toHaveLength(3);
        expect(["ab", "Iris", "2fast", "end-", "a_b", "x".repeat(33)].filter((n) => ENDPOINT_NAME.test(n))).toEqual([]);
        expect(endpointContainerName(run, "iris")).toBe("ci-ml-alice-app-endpoint.iris");
    });

    test("the first free port of the range; none when all are taken", () => {
        expect(endpointPort([])).toBe(5001);
        expect(endpointPort([5001, 5003])).toBe(5002);
        const all = Array.from(
            { length: ENDPOINT_PORTS.last - ENDPOINT_PORTS.first + 1 },
            (_, i) => ENDPOINT_PORTS.first + i,
        );
        expect(endpointPort(all)).toBeUndefined();
        expect(endpointPaths(5002)).toEqual({ liveness: "/proxy/5002/", score: "/proxy/5002/score" });
    });

    test("the command runs azmlinfsrv from the code folder with the entry script and port", () => {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "ci-inference-"));
        const code = path.join(bin, "code");
        fs.mkdirSync(code);
        fs.writeFileSync(path.join(bin, "azmlinfsrv"), '#!/bin/sh\necho "$(pwd) $* $AZUREML_MODEL_DIR"\n', {
            mode: 0o755,
        });
        const env = {
            ...endpointEnv(run),
            ENDPOINT_CODE_DIR: code,
            PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        };
        const r = spawnSync("/bin/sh", ["-c", ENDPOINT_COMMAND], { env, encoding: "utf8" });
        expect(r.stdout.trim()).toBe(
            `${code} --entry_script /home/azureuser/cloudfiles/code/endpoints/iris/code/src/score.py --port 5002 --health_port 6002 /home/azureuser/cloudfiles/code/endpoints/iris/model`,
        );
    });

    test("its container: in the instance's network, its size, unprivileged, no port of its own, labelled as its application", () => {
        const o = endpointCreateOptions(run, { nanoCpus: 2e9, memoryBytes: 4 * 1024 ** 3, container: "ci-ml-alice" });
        expect(o.HostConfig).toMatchObject({
            NetworkMode: "container:ci-ml-alice",
            NanoCpus: 2e9,
            Memory: 4 * 1024 ** 3,
            CapDrop: ["ALL"],
            RestartPolicy: { Name: "unless-stopped" },
        });
        expect(o.HostConfig?.PortBindings).toBeUndefined();
        expect(o.ExposedPorts).toBeUndefined();
        expect(o.User).toBe("1000:1000");
        expect(o.Labels).toMatchObject({
            "app.kubernetes.io/component": "application",
            "app.kubernetes.io/instance": "alice",
            "compute-instance.pulumi.io/endpoint": "iris",
            "compute-instance.pulumi.io/endpoint-port": "5002",
        });
    });

    test("the files: the code folder, and the model folder under its own name", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "ci-inference-files-"));
        fs.mkdirSync(path.join(root, "score"));
        fs.mkdirSync(path.join(root, "model-1", "model"), { recursive: true });
        fs.writeFileSync(path.join(root, "score", "score.py"), "def init(): pass\n");
        fs.writeFileSync(path.join(root, "model-1", "model", "m.pkl"), "x");
        const files = endpointFiles(path.join(root, "score"), path.join(root, "model-1"));
        expect(files.map((f) => f.name).sort()).toEqual(["code/score.py", "model/model-1/model/m.pkl"]);
    });
});
