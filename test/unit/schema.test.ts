import { instanceNetworkSchema, resolveInboundRules } from "../../provider/model/instanceNetwork";
import { ValidationError } from "../../provider/model/errors";
import { parseDurationSeconds } from "../../provider/model/duration";
import { DEFAULT_DOCKER_HOST } from "../../provider/model/defaults";
import { backendSchema } from "../../provider/model/backendSchema";
import { instanceSchema, workspaceSchema } from "../../provider/model/schema";
import { UNKNOWN, knownProblems, parseOrThrow } from "../../provider/model/validate";

const parse = (v: unknown) => parseOrThrow(instanceSchema, v, 'ComputeInstance "alice"');
const messageOf = (v: unknown) => {
    try {
        parse(v);
    } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as Error).message;
    }
    throw new Error("expected a validation error");
};

describe("instance schema", () => {
    test("defaults: Standard_DS3_v2, JupyterLab and Jupyter, 128 GiB OS disk, temp disk from the size, 5 minutes to be ready", () => {
        expect(parse({ name: "alice" })).toEqual({
            name: "alice",
            size: { name: "Standard_DS3_v2", cpus: 4, memoryGb: 14, gpus: 0, tempDiskGb: 28 },
            image: undefined,
            applications: ["jupyterlab", "jupyter", "terminal"],
            customApplications: [],
            osDiskGb: 128,
            tempDiskGb: 28,
            env: {},
            readyTimeoutSeconds: 300,
            ssh: undefined,
            assignedUser: undefined,
            network: undefined,
            labels: undefined,
        });
    });

    test("a custom size and explicit disks", () => {
        const s = parse({
            name: "bob-2",
            size: { cpus: 0.5, memoryGb: 2 },
            osDisk: { sizeGb: 64 },
            tempDisk: { sizeGb: 10 },
        });
        expect(s.size).toEqual({ name: "custom", cpus: 0.5, memoryGb: 2, gpus: 0, tempDiskGb: 4 });
        expect(s.osDiskGb).toBe(64);
        expect(s.tempDiskGb).toBe(10);
    });

    test("an unknown size name lists the allowed names", () => {
        const m = messageOf({ name: "alice", size: "Standard_XL" });
        expect(m).toContain('[size] unknown size "Standard_XL"; allowed: Standard_DS1_v2,');
        expect(m).toContain("Standard_DS3_v2");
        expect(m).toContain("{ cpus, memoryGb, gpus? }");
    });

    test("memory below 1 GiB names size.memoryGb", () => {
        expect(messageOf({ name: "alice", size: { cpus: 1, memoryGb: 0.5 } })).toBe(
            'ComputeInstance "alice": [size.memoryGb] must be at least 1 GiB',
        );
    });

    test("a negative disk size names the disk", () => {
        expect(messageOf({ name: "alice", osDisk: { sizeGb: -5 } })).toContain(
            "[osDisk.sizeGb] must be at least 1 GiB",
        );
        expect(messageOf({ name: "alice", tempDisk: { sizeGb: 1.5 } })).toContain(
            "[tempDisk.sizeGb] must be a whole number of GiB",
        );
    });

    test("an unknown application names its index and the allowed values", () => {
        expect(messageOf({ name: "alice", applications: ["jupyterlab", "rstudio"] })).toBe(
            'ComputeInstance "alice": [applications[1]] unknown application (others go in customApplications); allowed: "jupyterlab", "jupyter", "terminal", "vscode"',
        );
        expect(messageOf({ name: "alice", applications: [] })).toContain(
            "[applications] must list at least one application",
        );
        expect(messageOf({ name: "alice", applications: ["jupyter", "jupyter"] })).toContain(
            "[applications] lists an application twice",
        );
    });

    test("names follow Azure's compute-name rule", () => {
        expect(messageOf({ name: "Alice" })).toContain("[name] must be 3 to 24 characters");
        expect(messageOf({ name: "ab" })).toContain("[name]");
        expect(messageOf({ name: "a".repeat(25) })).toContain("[name]");
    });

    test("env names are checked and the instance's own variables are reserved", () => {
        expect(messageOf({ name: "alice", env: { "1BAD": "x" } })).toContain(
            "[env.1BAD] must be an environment variable name",
        );
        expect(messageOf({ name: "alice", env: { JUPYTER_TOKEN: "x" } })).toContain(
            "[env.JUPYTER_TOKEN] is set by the instance itself",
        );
    });

    // The entry point starts as root in bash: each of these would run a file of the user's first.
    test.each([
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "CI_SETUP_TIMEOUT",
        "CI_TOKEN_FILE",
        "CI_ANYTHING",
    ])("env may not set %s, which the entry point's root phase would read", (name) => {
        const m = messageOf({ name: "alice", env: { [name]: "/home/azureuser/x" } });
        expect(m).toContain(`[env.${name}]`);
        expect(m).toContain("reserved:");
        expect(m).toContain("names starting with CI_, LD_, PYTHON, BASH_FUNC_");
    });

    test("env names that merely look alike stay allowed", () => {
        expect(
            parse({
                name: "alice",
                env: { MLFLOW_TRACKING_URI: "http://mlflow:5000", CIRCLE: "1", OLD_PRELOAD: "x", MY_PYTHON: "3" },
            }).env,
        ).toEqual({ MLFLOW_TRACKING_URI: "http://mlflow:5000", CIRCLE: "1", OLD_PRELOAD: "x", MY_PYTHON: "3" });
    });

    test("unknown fields are refused by name", () => {
        expect(messageOf({ name: "alice", vmSize: "Standard_DS3_v2" })).toContain('unknown field "vmSize"');
    });

    test("several problems are reported together", () => {
        const m = messageOf({ name: "alice", size: "nope", osDisk: { sizeGb: 0 } });
        expect(m).toContain("[size]");
        expect(m).toContain("[osDisk.sizeGb]");
    });

    test("readyTimeout takes durations", () => {
        expect(parse({ name: "alice", readyTimeout: "90s" }).readyTimeoutSeconds).toBe(90);
        expect(messageOf({ name: "alice", readyTimeout: "soon" })).toContain('[readyTimeout] "soon" is not a duration');
        expect(messageOf({ name: "alice", readyTimeout: "2s" })).toContain("[readyTimeout] must be at least 10s");
    });
});

describe("durations", () => {
    test.each([
        ["90s", 90],
        ["5m", 300],
        ["1h30m", 5400],
        ["2h", 7200],
        ["PT30M", 1800],
        ["PT1H", 3600],
        ["P1D", 86400],
        ["pt90s", 90],
    ])("%s is %d seconds", (text, seconds) => expect(parseDurationSeconds(text)).toBe(seconds));

    test.each(["", "m", "5 minutes", "PT", "P", "-5m", "5x"])("%j is not a duration", (text) =>
        expect(parseDurationSeconds(text)).toBeUndefined(),
    );
});

describe("backend schema", () => {
    const schema = backendSchema({ dockerHost: DEFAULT_DOCKER_HOST });

    test("docker with the default host", () => {
        expect(schema.parse({ docker: {} })).toEqual({ kind: "docker", host: DEFAULT_DOCKER_HOST });
        expect(schema.parse({ docker: { host: "tcp://10.0.0.5:2376" } })).toEqual({
            kind: "docker",
            host: "tcp://10.0.0.5:2376",
        });
    });

    test("exactly one backend", () => {
        const r = schema.safeParse({ docker: {}, kubernetes: { namespace: "ml" } });
        expect(r.success).toBe(false);
        expect(r.error?.issues[0].message).toContain('must have exactly one of "docker" or "kubernetes"');
    });

    test("a host that is not a URL names backend.docker.host", () => {
        const r = knownProblems(workspaceSchema({ dockerHost: DEFAULT_DOCKER_HOST }), {
            name: "team",
            backend: { docker: { host: "localhost:2375" } },
        });
        expect(r.problems).toEqual([
            { field: "backend.docker.host", message: expect.stringContaining("must be a Docker host URL") },
        ]);
    });
});

describe("validation of values still unknown in a preview", () => {
    test("problems at unknown values are left for later, the others are reported", () => {
        const r = knownProblems(instanceSchema, { name: "alice", size: UNKNOWN, osDisk: { sizeGb: -1 } });
        expect(r.problems.map((p) => p.field)).toEqual(["osDisk.sizeGb"]);
    });

    test("a value containing an unknown is not judged", () => {
        const r = knownProblems(instanceSchema, { name: "alice", size: { cpus: UNKNOWN, memoryGb: 4 } });
        expect(r.problems).toEqual([]);
    });
});

describe("inbound rules", () => {
    const resolve = (inbound: unknown[], apps: ("jupyterlab" | "jupyter")[] = ["jupyterlab", "jupyter"], ssh = false) =>
        resolveInboundRules(instanceNetworkSchema.parse({ inbound }), apps, ssh);

    test("rules fold per service: JupyterLab and the notebook are one server", () => {
        expect(
            resolve([
                { application: "jupyterlab", from: ["10.0.0.0/8"] },
                { port: 8888, from: ["192.168.0.0/16", "10.0.0.0/8"] },
            ]).network,
        ).toEqual({ publicBind: false, inbound: [{ service: "jupyter", from: ["10.0.0.0/8", "192.168.0.0/16"] }] });
    });

    test("an application the instance does not run, SSH that is off, a port it does not serve", () => {
        expect(resolve([{ application: "jupyter", from: ["10.0.0.0/8"] }], ["jupyterlab"]).problems).toEqual([
            {
                path: ["inbound", 0, "application"],
                message: '"jupyter" is not an application of this instance; it runs: jupyterlab',
            },
        ]);
        expect(resolve([{ application: "ssh", from: ["10.0.0.0/8"] }]).problems[0].message).toBe(
            '"ssh" needs SSH enabled on this instance (ssh.enabled)',
        );
        expect(resolve([{ port: 8080, from: ["10.0.0.0/8"] }], ["jupyterlab"], true).problems[0].message).toBe(
            "8080 is not a port of this instance; its ports: 8888 (jupyter), 2222 (ssh)",
        );
    });

    test("exactly one of application or port, and at least one range", () => {
        const r = instanceNetworkSchema.safeParse({ inbound: [{ application: "jupyter", port: 8888, from: [] }] });
        expect(r.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`).sort()).toEqual([
            'inbound.0.from: must list at least one CIDR range ("0.0.0.0/0" for anywhere)',
            "inbound.0: must name exactly one of application or port",
        ]);
    });
});
