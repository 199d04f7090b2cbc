// Component wiring with Pulumi's mocks: which children are registered, with which parents and
// inputs. No engine, no backend: the end-to-end tests do that for real.
import * as pulumi from "@pulumi/pulumi";

const registered: pulumi.runtime.MockResourceArgs[] = [];
pulumi.runtime.setMocks(
    {
        newResource(args) {
            registered.push(args);
            const extra: Record<string, unknown> = {};
            if (args.type.endsWith(":AccessToken")) extra.token = "f".repeat(64);
            if (args.type.endsWith(":OsDisk") || args.type.endsWith(":TempDisk")) extra.volumeName = `${args.name}-vol`;
            if (args.type.endsWith(":UserFiles")) extra.volumeName = "ci-team-userfiles";
            if (args.type.endsWith(":WorkspaceNetwork")) extra.networkName = "ci-team";
            if (args.type.endsWith(":WorkspaceAgent")) extra.agentId = "ci-team-agent";
            if (args.type.endsWith(":Schedule"))
                extra.nextFirings = [{ utc: "2026-11-27T18:00:00.000Z", local: "2026-11-27 19:00 (Europe/Madrid)" }];
            if (args.type.endsWith(":Runtime"))
                Object.assign(extra, { status: "Running", endpoints: { jupyterLab: "http://127.0.0.1:1/lab" } });
            return { id: `${args.name}-id`, state: { ...args.inputs, ...extra } };
        },
        call: (args) => args.inputs,
    },
    "proj",
    "dev",
    false,
);

import { ComputeInstance, Workspace } from "../../index";

// Parents are recorded as resources register (mocks do not report them).
const parents = new Map<string, string | undefined>();
const recordParent: pulumi.ResourceTransformation = (args) => {
    parents.set(args.name, args.opts.parent ? (args.opts.parent as unknown as { __name?: string }).__name : undefined);
    return undefined;
};

const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply((v) => resolve(v)));
const isSecret = <T>(o: pulumi.Output<T>) => (o as unknown as { isSecret: Promise<boolean> }).isSecret;
const byName = (name: string) => {
    const r = registered.find((x) => x.name === name);
    if (!r) throw new Error(`${name} was not registered; have ${registered.map((x) => x.name).join(", ")}`);
    return r;
};

describe("Workspace and ComputeInstance", () => {
    // Transformations of a component apply to its children too.
    const ws = new Workspace(
        "team",
        { backend: { docker: {} }, image: "my/image:1" },
        { transformations: [recordParent] },
    );
    const alice = new ComputeInstance(
        "alice",
        { workspace: ws, size: "standard_ds2_v2", osDisk: { sizeGb: 200 } },
        { transformations: [recordParent] },
    );

    test("the instance's parts are resources of their own, typed so a preview reads without a legend", async () => {
        await value(alice.endpoints);
        const types = registered.map((r) => `${r.type} ${r.name}`);
        expect(types).toEqual(
            expect.arrayContaining([
                "compute-instance:index:Workspace team",
                "pulumi-nodejs:dynamic/compute-instance:UserFiles team-user-files",
                "pulumi-nodejs:dynamic/compute-instance:WorkspaceNetwork team-network",
                "compute-instance:index:ComputeInstance alice",
                "pulumi-nodejs:dynamic/compute-instance:AccessToken alice-token",
                "pulumi-nodejs:dynamic/compute-instance:OsDisk alice-os-disk",
                "pulumi-nodejs:dynamic/compute-instance:TempDisk alice-temp-disk",
                "pulumi-nodejs:dynamic/compute-instance:Runtime alice-runtime",
            ]),
        );
        // An explicit image means nothing to build.
        expect(types.some((t) => /WorkstationImage team/.test(t))).toBe(false);
    });

    test("every child is parented to its component", async () => {
        await value(alice.endpoints);
        for (const name of ["alice-token", "alice-os-disk", "alice-temp-disk", "alice-runtime"])
            expect(parents.get(name)).toBe("alice");
        for (const name of ["team-user-files", "team-network"]) expect(parents.get(name)).toBe("team");
        const runtime = byName("alice-runtime");
        expect(runtime.inputs.progressUrn).toBe(
            "urn:pulumi:dev::proj::compute-instance:index:ComputeInstance$pulumi-nodejs:dynamic/compute-instance:Runtime::alice-runtime",
        );
    });

    test("the runtime is wired to the disks, the workspace and the token", async () => {
        await value(alice.endpoints);
        const i = byName("alice-runtime").inputs;
        expect(i).toMatchObject({
            workspace: "team",
            owner: "proj/dev",
            instance: "alice",
            size: "standard_ds2_v2",
            image: "my/image:1",
            osDisk: "alice-os-disk-vol",
            tempDisk: "alice-temp-disk-vol",
            userFiles: "ci-team-userfiles",
            network: "ci-team",
            token: "f".repeat(64),
            backend: { docker: {} },
        });
        expect(byName("alice-os-disk").inputs.sizeGb).toBe(200);
        // One line of provider source serves every kind; the kind travels in the inputs.
        expect(i.__provider).toBe(
            'exports.handler = () => require("pulumi-compute-instance/bin/provider/dispatch").provider;\n',
        );
        expect(byName("alice-os-disk").inputs.__provider).toBe(i.__provider);
        expect(i.__kind).toBe("Runtime");
    });

    test("outputs: instance id, endpoints, and the token as a secret", async () => {
        expect(await value(alice.instanceId)).toBe("team/alice");
        expect(await value(alice.endpoints)).toEqual({ jupyterLab: "http://127.0.0.1:1/lab" });
        expect(await isSecret(alice.token)).toBe(true);
    });

    test("plain bad input fails in the constructor, naming the field, before any child is registered", () => {
        const before = registered.length;
        // Pulumi's own error for a resource, with no stack: the CLI prints one line under the resource.
        const refusal = (() => {
            try {
                new ComputeInstance("bad", { workspace: ws, size: "Standard_Nope" });
            } catch (e) {
                return e;
            }
        })();
        expect(pulumi.ResourceError.isInstance(refusal)).toBe(true);
        expect((refusal as pulumi.ResourceError).hideStack).toBe(true);
        expect((refusal as pulumi.ResourceError).message).toMatch(/^\[size\] unknown size "Standard_Nope"; allowed: /);
        expect(() => new ComputeInstance("bad2", { workspace: ws, size: { cpus: 1, memoryGb: 0.25 } })).toThrow(
            "[size.memoryGb] must be at least 1 GiB",
        );
        expect(() => new ComputeInstance("bad3", { workspace: ws, applications: ["rstudio" as never] })).toThrow(
            "[applications[0]] unknown application",
        );
        expect(() => new Workspace("w", { backend: { podman: {} } as never })).toThrow(
            '[backend] must have exactly one of "docker" or "kubernetes"',
        );
        expect(registered.slice(before).filter((r) => /^bad|^w-/.test(r.name))).toEqual([]);
    });

    test("values known only later are left to the providers' checks", () => {
        expect(
            () => new ComputeInstance("later", { workspace: ws, size: pulumi.output("Standard_Nope") }),
        ).not.toThrow();
    });
});

describe("schedules and idle shutdown", () => {
    const ws = new Workspace("sched", {
        backend: { docker: {} },
        image: "my/image:1",
        agent: { checkInterval: "10s" },
    });
    const bob = new ComputeInstance("bob", {
        workspace: ws,
        schedules: [
            { action: "stop", cron: "0 18 * * 1-5", timeZone: "Europe/Madrid" },
            { name: "morning", action: "start", cron: pulumi.output("0 8 * * 1-5") },
        ],
        idleShutdown: { after: "45m" },
    });

    test("one Schedule resource per schedule, named by its name or position, an IdleShutdown, and the workspace's agent", async () => {
        await value(bob.schedules);
        expect(byName("sched-agent").type).toBe("pulumi-nodejs:dynamic/compute-instance:WorkspaceAgent");
        expect(byName("sched-agent").inputs).toMatchObject({
            workspace: "sched",
            checkInterval: "10s",
            network: "ci-team",
            image: expect.stringMatching(/^compute-instance-agent:/),
        });
        expect(byName("bob-schedule-0").inputs).toMatchObject({
            name: "0",
            index: 0,
            action: "stop",
            cron: "0 18 * * 1-5",
            timeZone: "Europe/Madrid",
            instance: "bob",
            agent: "ci-team-agent",
        });
        expect(byName("bob-schedule-morning").inputs).toMatchObject({
            name: "morning",
            index: 1,
            action: "start",
            cron: "0 8 * * 1-5",
        });
        expect(byName("bob-idle-shutdown").inputs).toMatchObject({
            after: "45m",
            instance: "bob",
            agent: "ci-team-agent",
        });
        // Every schedule sees the whole list, for the checks across schedules (same-minute conflicts).
        expect((byName("bob-schedule-0").inputs.all as unknown[]).length).toBe(2);
    });

    test("the schedules output lists each with its next firings", async () => {
        expect(await value(bob.schedules)).toEqual([
            {
                name: "0",
                action: "stop",
                nextFirings: [{ utc: "2026-11-27T18:00:00.000Z", local: "2026-11-27 19:00 (Europe/Madrid)" }],
            },
            {
                name: "morning",
                action: "start",
                nextFirings: [{ utc: "2026-11-27T18:00:00.000Z", local: "2026-11-27 19:00 (Europe/Madrid)" }],
            },
        ]);
    });

    test("plain bad schedules fail in the constructor, naming the field", () => {
        expect(
            () => new ComputeInstance("bad4", { workspace: ws, schedules: [{ action: "stop", cron: "every day" }] }),
        ).toThrow('[schedules[0].cron] "every day" is not a cron expression');
        expect(() => new ComputeInstance("bad5", { workspace: ws, idleShutdown: { after: "10s" } })).toThrow(
            "[idleShutdown.after] must be at least 60s, got 10s",
        );
        expect(() => new ComputeInstance("bad6", { workspace: ws, schedules: pulumi.output([]) as never })).toThrow(
            "[schedules] must be a list",
        );
    });
});

describe("inbound rules are checked against the instance in the constructor", () => {
    test("an application it does not run", () => {
        expect(
            () =>
                new ComputeInstance("eager-inbound", {
                    workspace: new Workspace("ws-inbound", { backend: { docker: {} } }),
                    network: { inbound: [{ application: "ssh", from: ["10.0.0.0/8"] }] },
                }),
        ).toThrow('[network.inbound[0].application] "ssh" needs SSH enabled on this instance (ssh.enabled)');
    });
});

describe("applications, setup scripts and the quota in the components", () => {
    const ws = new Workspace("apps", { backend: { docker: {} }, quota: { cores: 8 } });
    const coder = new ComputeInstance("coder", {
        workspace: ws,
        size: { cpus: 2, memoryGb: 4 },
        applications: ["jupyterlab", "vscode"],
        customApplications: [{ name: "dash", port: 8050, command: "python3 -m http.server $PORT" }],
        setupScripts: { startup: "echo hi", timeout: "2m" },
    });
    const plain = new ComputeInstance("plain", { workspace: ws });

    test("an instance listing vscode gets the workspace's VS Code variant, built FROM its image; others the image", async () => {
        await value(coder.endpoints);
        await value(plain.endpoints);
        const variant = byName("apps-image-vscode").inputs;
        expect(variant).toMatchObject({
            variant: "vscode",
            image: expect.stringMatching(/^compute-instance-workstation-vscode:/),
            baseImage: expect.stringMatching(/^compute-instance-workstation:/),
        });
        expect(byName("coder-runtime").inputs.image).toBe(variant.image);
        expect(byName("plain-runtime").inputs.image).toBe(variant.baseImage);
        expect(byName("coder-runtime").inputs).toMatchObject({
            customApplications: [{ name: "dash", port: 8050, command: "python3 -m http.server $PORT" }],
            setupScripts: { startup: { source: "inline", content: "echo hi" }, timeout: "2m" },
        });
    });

    test("the quota sees every instance of this stack in the workspace, as declared", async () => {
        await value(plain.endpoints);
        await new Promise((r) => setImmediate(r));
        const quota = byName("apps-quota").inputs;
        expect(quota.quota).toEqual({ cores: 8 });
        expect(quota.instances).toEqual([
            { instance: "coder", size: { cpus: 2, memoryGb: 4 } },
            { instance: "plain", size: null },
        ]);
    });

    test("plain bad applications fail in the constructor", () => {
        expect(() => new ComputeInstance("badapp", { workspace: ws, applications: ["terminal"] })).toThrow(
            '"terminal" is JupyterLab\'s or the notebook\'s terminal: list "jupyterlab" or "jupyter" too',
        );
        expect(
            () =>
                new ComputeInstance("badapp2", {
                    workspace: ws,
                    customApplications: [{ name: "lab", port: 9000, command: "x" }],
                }),
        ).toThrow("[customApplications[0].name] is taken by the instance itself");
        expect(
            () =>
                new ComputeInstance("badapp3", {
                    workspace: ws,
                    setupScripts: { creation: { file: "no/such/file.sh" } },
                }),
        ).toThrow("[setupScripts.creation.file] no/such/file.sh does not exist");
    });
});
