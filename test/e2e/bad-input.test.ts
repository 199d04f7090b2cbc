// Bad input fails `pulumi preview` with one clear message naming the field (or the host), and
// nothing is created; a create that fails midway removes what it made.
import {
    TestStack,
    collect,
    docker,
    errorText,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    workspaceObjects,
} from "../support/stacks";
import { expectGolden } from "../support/golden";

const ws = uniqueWorkspace("bad");
let t: TestStack;

beforeAll(async () => {
    t = await programStack("instance", { workspaceName: ws, instances: {} });
});

afterAll(async () => {
    if (t) {
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    await purgeWorkspace(ws);
});

/**
 * What `pulumi preview` prints under "Diagnostics:", with what differs per run made constant:
 * the text a user reads about their mistake, compared whole against a golden file.
 */
function diagnostics(stdout: string): string {
    const start = stdout.indexOf("Diagnostics:");
    const end = stdout.indexOf("\nResources:", start);
    return (start < 0 ? "(no diagnostics)\n" : stdout.slice(start, end < 0 ? undefined : end).trimEnd() + "\n")
        .replaceAll(t.stack.name, "<stack>")
        .replaceAll(ws, "<ws>")
        .replace(/has \d+(\.\d+)? GiB/g, "has <n> GiB")
        .replace(/has \d+;/g, "has <n>;")
        .replace(/\(looked at \/\S+\)/g, "(looked at <path>)")
        .replace(/\d{4}-\d\d-\d\dT\d\d:\d\dZ/g, "<time>");
}

/** A golden file's name from the running test's name. */
function goldenName(): string {
    const name = (expect.getState().currentTestName ?? "unnamed")
        .replace(/^.*(in the component, for plain values)/, "component")
        .replace(
            /^.*(in the provider's check, for values known only later|once known, for values that come from other resources)/,
            "provider",
        );
    const slug = name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/^-|-$/g, "");
    return `bad-input/${slug}`;
}

/**
 * Previews a bad configuration: the preview must fail with one `error:` line under the resource
 * at fault and nothing else (no stack trace, no "unhandled exception", no gRPC noise from the
 * engine shutting down, no colour codes), and that text is golden.
 */
async function previewError(
    config: Record<string, unknown>,
    golden = goldenName(),
    opts: { anyResource?: boolean } = {},
): Promise<string> {
    await t.setConfig({ workspaceName: ws, viaOutputs: false, dockerHost: "", ...config });
    let stdout: string;
    let text: string;
    try {
        await t.stack.preview({ color: "never" });
        throw new Error("the preview succeeded");
    } catch (e) {
        if (e instanceof Error && e.message === "the preview succeeded") throw e;
        // A failed command's output is in stderr (the Automation API puts it there whole).
        const result = (e as { commandResult?: { stdout?: string; stderr?: string } }).commandResult;
        stdout = `${result?.stdout ?? ""}\n${result?.stderr ?? ""}`;
        text = errorText(e);
    }
    let said = diagnostics(stdout);
    expect(stdout).not.toMatch(
        // eslint-disable-next-line no-control-regex -- an ANSI colour escape in the output is the failure looked for
        /unhandled exception|Channel has been shut down|resource monitor|UNAVAILABLE|\n\s+at \S+ \(|\x1b\[/,
    );
    // Every line under one resource, each a problem of its own; none under the stack.
    expect(said.match(/^ {2}\S.*:$/gm)).toHaveLength(1);
    expect(said).not.toMatch(/pulumi:pulumi:Stack/);
    expect(
        said
            .split("\n")
            .filter((l) => /^ {4}/.test(l))
            .every((l) => l.startsWith("    error: ")),
    ).toBe(true);
    // A backend that does not answer fails every resource on it; whichever the engine checked first says so.
    if (opts.anyResource)
        said = said
            .replace(/compute-instance:\w+ \(([^)]+)\)/g, "compute-instance:<kind> (<name>)")
            .replace(/compute-instance:\w+ resource '[^']+'/g, "compute-instance:<kind> resource '<name>'");
    expectGolden(golden, said);
    return text;
}

const nothingCreated = async () =>
    expect(await workspaceObjects(ws)).toEqual({ containers: [], volumes: [], networks: [] });

describe.each([
    ["in the component, for plain values", false],
    ["in the provider's check, for values known only later", true],
])("bad input is refused at preview %s", (_how, viaOutputs) => {
    test("an invalid size name lists the sizes", async () => {
        const m = await previewError({ viaOutputs, instances: { alice: { size: "Standard_DS3_v9" } } });
        expect(m).toContain('[size] unknown size "Standard_DS3_v9"; allowed: Standard_DS1_v2');
        await nothingCreated();
    });

    test("memory below 1 GiB", async () => {
        const m = await previewError({ viaOutputs, instances: { alice: { size: { cpus: 1, memoryGb: 0.5 } } } });
        expect(m).toContain("[size.memoryGb] must be at least 1 GiB");
        await nothingCreated();
    });

    test("a negative disk size", async () => {
        const m = await previewError({ viaOutputs, instances: { alice: { osDisk: { sizeGb: -10 } } } });
        expect(m).toContain("[osDisk.sizeGb] must be at least 1 GiB");
        await nothingCreated();
    });

    test("an unknown application", async () => {
        const m = await previewError({ viaOutputs, instances: { alice: { applications: ["jupyterlab", "rstudio"] } } });
        expect(m).toMatch(
            /\[applications\[1\]\] unknown application \(others go in customApplications\); allowed: "jupyterlab", "jupyter", "terminal", "vscode"/,
        );
        await nothingCreated();
    });

    test("an SSH key that is not a public key, without echoing it", async () => {
        const m = await previewError({
            viaOutputs,
            instances: { alice: { ssh: { enabled: true, publicKey: "hunter2-not-a-key" } } },
        });
        expect(m).toContain("[ssh.publicKey] is not an OpenSSH public key");
        expect(m).not.toContain("hunter2");
        await nothingCreated();
    });

    test("SSH enabled without a key, and a privileged port", async () => {
        const m = await previewError({ viaOutputs, instances: { alice: { ssh: { enabled: true, port: 22 } } } });
        expect(m).toContain("[ssh.port] must be 1024 or more");
        expect(m).toContain("[ssh.publicKey] is required when ssh is enabled");
        await nothingCreated();
    });

    test("an assigned user name that is not a POSIX/Kubernetes name", async () => {
        const m = await previewError({ viaOutputs, instances: { alice: { assignedUser: { name: "Alice.Smith" } } } });
        expect(m).toContain("[assignedUser.name] must be 1 to 32 lowercase letters, digits and '-'");
        await nothingCreated();
    });
});

test("an inbound rule for an application the instance does not run, and a CIDR that does not parse", async () => {
    for (const viaOutputs of [false, true]) {
        const how = viaOutputs ? "provider" : "component";
        const m = await previewError(
            {
                viaOutputs,
                instances: {
                    alice: {
                        applications: ["jupyterlab"],
                        network: {
                            inbound: [
                                { application: "jupyter", from: ["10.0.0.0/8"] },
                                { port: 2222, from: ["10.0.0.0/8"] },
                            ],
                        },
                    },
                },
            },
            `${goldenName()}-${how}-services`,
        );
        expect(m).toContain(
            '[network.inbound[0].application] "jupyter" is not an application of this instance; it runs: jupyterlab',
        );
        expect(m).toContain("[network.inbound[1].port] 2222 is not a port of this instance; its ports: 8888 (jupyter)");
        const cidr = await previewError(
            {
                viaOutputs,
                instances: { alice: { network: { inbound: [{ application: "jupyterlab", from: ["10.0.0.300/8"] }] } } },
            },
            `${goldenName()}-${how}-cidr`,
        );
        expect(cidr).toContain('[network.inbound[0].from[0]] "10.0.0.300/8" is not a CIDR range');
    }
    await nothingCreated();
});

test("an egress range that does not parse names the workspace's field", async () => {
    const m = await previewError({ instances: {}, network: { egress: { allow: ["10.0.0.0/33"] } } }).finally(() =>
        t.stack.removeConfig("network"),
    );
    expect(m).toContain('[network.egress.allow[0]] "10.0.0.0/33" has prefix length /33; an IPv4 prefix is 0 to 32');
    await nothingCreated();
});

test("an unknown sharing policy lists the policies", async () => {
    const m = await previewError({ instances: { alice: { applicationSharingPolicy: "Team" } } });
    expect(m).toContain(`[applicationSharingPolicy] unknown sharing policy; allowed: "Personal", "Shared"`);
    await nothingCreated();
});

describe.each([
    ["in the component, for plain values", false],
    ["in the provider's check, for values known only later", true],
])("bad schedules and idle periods are refused at preview %s", (_how, viaOutputs) => {
    const stop = (cron: string, extra: Record<string, unknown> = {}) => ({ action: "stop", cron, ...extra });
    const size = { cpus: 1, memoryGb: 1 };

    test("an invalid cron says what a cron looks like", async () => {
        const m = await previewError({ viaOutputs, instances: { alice: { size, schedules: [stop("0 18 * *")] } } });
        expect(m).toContain(
            '[schedules[0].cron] "0 18 * *" is not a cron expression: write five fields "minute hour day-of-month month day-of-week"',
        );
        await nothingCreated();
    });

    test("an unknown time zone", async () => {
        const m = await previewError({
            viaOutputs,
            instances: { alice: { size, schedules: [stop("0 18 * * *", { timeZone: "Europe/Atlantis" })] } },
        });
        expect(m).toContain("[schedules[0].timeZone] is not an IANA time zone");
        await nothingCreated();
    });

    test("an unknown action lists the actions", async () => {
        const m = await previewError({
            viaOutputs,
            instances: { alice: { size, schedules: [{ action: "pause", cron: "0 18 * * *" }] } },
        });
        expect(m).toContain('[schedules[0].action] unknown action; allowed: "start", "stop"');
        await nothingCreated();
    });

    test("more schedules than allowed", async () => {
        // Every schedule carries the whole list, so each refuses it (nothing is made); which the engine checks first varies.
        const m = await previewError(
            {
                viaOutputs,
                instances: { alice: { size, schedules: Array.from({ length: 9 }, (_, i) => stop(`${i} 18 * * *`)) } },
            },
            goldenName(),
            { anyResource: viaOutputs },
        );
        expect(m).toContain("[schedules] at most 8 schedules per instance");
        await nothingCreated();
    });

    test("a start and a stop at the same minute", async () => {
        const m = await previewError({
            viaOutputs,
            instances: { alice: { size, schedules: [{ action: "start", cron: "0 8 * * 1-5" }, stop("0 8 * * 1")] } },
        });
        expect(m).toMatch(
            /\[schedules\[1\]\.cron\] starts and stops the instance at the same minute as schedules\[0\] \(both fire at \d{4}-\d\d-\d\dT08:00Z\)/,
        );
        await nothingCreated();
    });

    test("an idle period under one minute", async () => {
        const m = await previewError({ viaOutputs, instances: { alice: { size, idleShutdown: { after: "30s" } } } });
        expect(m).toContain("[idleShutdown.after] must be at least 60s, got 30s");
        await nothingCreated();
    });
});

test("a schedule whose time falls in a DST gap previews with a warning saying when it fires instead", async () => {
    await t.setConfig({
        workspaceName: ws,
        viaOutputs: false,
        dockerHost: "",
        instances: {
            alice: {
                size: { cpus: 1, memoryGb: 1 },
                schedules: [{ action: "start", cron: "30 2 * * *", timeZone: "Europe/Madrid" }],
            },
        },
    });
    const r = await t.stack.preview(collect(t));
    expect(r.stdout).toMatch(
        /warning: .*schedules\[0\] \(start "30 2 \* \* \*" in Europe\/Madrid\): \d{4}-03-\d\d 02:30 does not exist \(clocks go forward\); it fires at \d{4}-03-\d\d 03:00 \(Europe\/Madrid\) instead/,
    );
    await nothingCreated();
});

test("a Docker host that does not answer is named", async () => {
    const m = await previewError(
        { dockerHost: "unix:///nonexistent/docker.sock", instances: { alice: { size: { cpus: 1, memoryGb: 1 } } } },
        goldenName(),
        { anyResource: true },
    );
    expect(m).toContain("[backend] Docker engine at unix:///nonexistent/docker.sock does not answer");
    await nothingCreated();
});

test("a Docker engine without TLS is refused unless the program says it may be used", async () => {
    const m = await previewError(
        { dockerHost: "tcp://127.0.0.1:2375", instances: { alice: { size: { cpus: 1, memoryGb: 1 } } } },
        goldenName(),
        { anyResource: true },
    );
    expect(m).toContain(
        "[backend.docker.host] tcp://127.0.0.1:2375 is a Docker engine without TLS: whoever can reach that port is root on its host",
    );
    await nothingCreated();
});

test("a size larger than the engine fails at preview with the sizes that fit", async () => {
    const m = await previewError({ instances: { alice: { size: "Standard_ND96asr_v4" } } });
    expect(m).toContain(
        "[size] Standard_ND96asr_v4 needs 96 vCPUs but the Docker engine at unix:///var/run/docker.sock has",
    );
    expect(m).toContain("sizes that fit: Standard_DS1_v2");
    await nothingCreated();
});

test("an instance that would exceed the workspace's quota names the quota, the total and the instances", async () => {
    const m = await previewError({ quota: { cores: 3 }, instances: { alice: { size: "Standard_DS3_v2" } } }).finally(
        () => t.stack.removeConfig("quota"),
    );
    expect(m).toContain(`[quota.cores] workspace "${ws}" would use 4 cores of its quota of 3: alice 4 (new)`);
    await nothingCreated();
});

test("a GPU request on an engine without the NVIDIA runtime says what to install", async () => {
    const m = await previewError({ instances: { alice: { size: { cpus: 1, memoryGb: 1, gpus: 1 } } } });
    expect(m).toContain(
        "[size] the size needs 1 GPU(s) but the Docker engine at unix:///var/run/docker.sock has no NVIDIA runtime (install the NVIDIA Container Toolkit there)",
    );
    await nothingCreated();
});

describe.each([
    ["in the component, for plain values", false],
    ["once known, for values that come from other resources", true],
])("setup scripts are refused at preview %s", (_how, viaOutputs) => {
    test("a script file that does not exist names the field and the path looked at", async () => {
        const m = await previewError({
            viaOutputs,
            instances: {
                alice: { size: { cpus: 1, memoryGb: 1 }, setupScripts: { creation: { file: "scripts/missing.sh" } } },
            },
        });
        expect(m).toMatch(
            /\[setupScripts\.creation\.file\] scripts\/missing\.sh does not exist \(looked at \/\S+\/scripts\/missing\.sh\)/,
        );
        await nothingCreated();
    });

    test("a timeout that is not a duration", async () => {
        const m = await previewError({
            viaOutputs,
            instances: {
                alice: { size: { cpus: 1, memoryGb: 1 }, setupScripts: { startup: "true", timeout: "soon" } },
            },
        });
        expect(m).toContain('[setupScripts.timeout] "soon" is not a duration from 1s to 24h');
        await nothingCreated();
    });
});

test("a create that fails midway removes its container and leaves a state that up and destroy repair", async () => {
    // An image whose command exits at once: the instance never answers.
    await t.setConfig({
        workspaceName: ws,
        dockerHost: "",
        viaOutputs: false,
        instances: { alice: { size: { cpus: 1, memoryGb: 1 }, image: "debian:bookworm-slim" } },
    });
    let message = "";
    try {
        await t.stack.up(collect(t));
    } catch (e) {
        message = errorText(e);
    }
    expect(message).toContain("JupyterLab did not start: the container exited");
    const left = await workspaceObjects(ws);
    // Only the workspace's agent, made by the same `up`, and nothing of the instance.
    expect(left.containers).toEqual([`ci-${ws}-agent`]);
    const state = JSON.stringify(await t.stack.exportStack());
    expect(state).not.toContain("compute-instance:Runtime::alice-runtime");
    expect(await docker.listContainers({ all: true, filters: { name: [`ci-${ws}-alice`] } })).toEqual([]);

    // The fix is an ordinary `up`; the disks made before the failure are reused.
    await t.setConfig({
        workspaceName: ws,
        dockerHost: "",
        viaOutputs: false,
        instances: { alice: { size: { cpus: 1, memoryGb: 1 } } },
    });
    await t.stack.up(collect(t));
    expect((await workspaceObjects(ws)).containers).toEqual([`ci-${ws}-agent`, `ci-${ws}-alice`]);
    expect((await workspaceObjects(ws)).volumes).toEqual(left.volumes);
});
