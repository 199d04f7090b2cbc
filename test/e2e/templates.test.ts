// `pulumi new` from each template into a temp dir (offline; the package linked from `npm pack`),
// the prompts answered with the templates' defaults as `--yes` does, then `pulumi preview`.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { testKubeconfig } from "../support/backends";
import { ROOT, errorText, programStack, purgeWorkspace } from "../support/stacks";

const packDir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-templates-"));
let tgz: string;

beforeAll(() => {
    tgz = path.join(
        packDir,
        execFileSync("npm", ["pack", "--pack-destination", packDir, "--loglevel=error"], {
            cwd: ROOT,
            encoding: "utf8",
        })
            .trim()
            .split("\n")
            .pop() as string,
    );
});

afterAll(() => fs.rmSync(packDir, { recursive: true, force: true }));

/** `pulumi new` offline, then the dependency on this package pointed at the packed tarball. */
function fromTemplate(template: string, project: string): string {
    const dir = path.join(packDir, project);
    execFileSync(
        "pulumi",
        [
            "new",
            path.join(ROOT, "templates", template),
            "--generate-only",
            "--yes",
            "--force",
            "--dir",
            dir,
            "--name",
            project,
            "--description",
            "test",
        ],
        {
            env: { ...process.env, PULUMI_BACKEND_URL: `file://${packDir}` },
            stdio: "ignore",
        },
    );
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    expect(pkg.name).toBe(project);
    pkg.dependencies["pulumi-compute-instance"] = `file:${tgz}`;
    pkg.dependencies["@pulumi/pulumi"] = JSON.parse(
        fs.readFileSync(path.join(ROOT, "node_modules/@pulumi/pulumi/package.json"), "utf8"),
    ).version;
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(pkg, null, 2));
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], {
        cwd: dir,
        stdio: "ignore",
    });
    return dir;
}

/** The prompts' defaults, as `pulumi new --yes` sets them (the generated Pulumi.yaml drops the template section). */
function templateDefaults(template: string): Record<string, string> {
    const yaml = fs.readFileSync(path.join(ROOT, "templates", template, "Pulumi.yaml"), "utf8");
    const out: Record<string, string> = {};
    for (const m of yaml.matchAll(/^ {4}(\w+):\n(?: {6}\w+: .*\n)*? {6}default: (.*)$/gm)) out[m[1]] = m[2].trim();
    return out;
}

test("compute-instance-docker: pulumi new, then a preview that would create the workspace and the instance", async () => {
    const dir = fromTemplate("compute-instance-docker", "tpl-docker");
    expect(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")).toContain("name: tpl-docker");
    const defaults = templateDefaults("compute-instance-docker");
    expect(defaults).toEqual({ workspaceName: "ml-team", instanceName: "alice", size: "Standard_DS2_v2" });
    const t = await programStack("tpl-docker", { ...defaults, workspaceName: "tpl-docker-ws" }, dir);
    try {
        const r = await t.stack.preview();
        expect(r.changeSummary).toMatchObject({ create: expect.any(Number) });
        expect(r.changeSummary.create).toBeGreaterThanOrEqual(8);
    } finally {
        await t.dispose();
        await purgeWorkspace("tpl-docker-ws");
    }
});

test("compute-instance-kubernetes: a missing required prompt stops the preview with its name; answered, the preview succeeds", async () => {
    const dir = fromTemplate("compute-instance-kubernetes", "tpl-k8s");
    const defaults = templateDefaults("compute-instance-kubernetes");
    expect(defaults).toEqual({ namespace: "ml-team", instanceName: "alice", size: "Standard_DS2_v2" });
    const t = await programStack(
        "tpl-k8s",
        { ...defaults, namespace: "tpl-k8s-ns", kubeconfig: testKubeconfig() },
        dir,
    );
    try {
        let message = "";
        await t.stack.preview().catch((e) => (message = errorText(e)));
        expect(message).toContain("Missing required configuration variable 'tpl-k8s:image'");
        await t.setConfig({
            ...defaults,
            namespace: "tpl-k8s-ns",
            kubeconfig: testKubeconfig(),
            image: "registry.example.com/ml/workstation:1",
        });
        const r = await t.stack.preview();
        expect(r.changeSummary.create).toBeGreaterThanOrEqual(7);
    } finally {
        await t.dispose();
    }
});

test("team: an instance per user listed in config, each with the weekday stop schedule, in one workspace", async () => {
    const dir = fromTemplate("team", "tpl-team");
    const defaults = templateDefaults("team");
    expect(defaults).toEqual({
        workspaceName: "ml-team",
        users: "alice,bob",
        size: "Standard_DS2_v2",
        stopCron: "0 19 * * 1-5",
        timeZone: "UTC",
        idleShutdown: "60m",
    });
    const t = await programStack(
        "tpl-team",
        {
            ...defaults,
            workspaceName: "tpl-team-ws",
            users: "alice, bob,carol",
            size: "Standard_DS1_v2",
            timeZone: "Europe/Madrid",
        },
        dir,
    );
    try {
        const types: string[] = [];
        const r = await t.stack.preview({
            onEvent: (e) => {
                if (e.resourcePreEvent)
                    types.push(
                        `${e.resourcePreEvent.metadata.type.split(":").pop()} ${e.resourcePreEvent.metadata.urn.split("::").pop()}`,
                    );
            },
        });
        expect(r.changeSummary.create).toBeGreaterThanOrEqual(3 * 7);
        expect(types.filter((x) => x.startsWith("Schedule ")).sort()).toEqual([
            "Schedule alice-schedule-weekday-stop",
            "Schedule bob-schedule-weekday-stop",
            "Schedule carol-schedule-weekday-stop",
        ]);
        expect(types.filter((x) => x.startsWith("IdleShutdown ")).length).toBe(3);
        expect(types.filter((x) => x.startsWith("WorkspaceAgent ")).length).toBe(1);
        // A bad cron in the prompt answers fails the preview naming the field.
        await t.setConfig({ ...defaults, workspaceName: "tpl-team-ws", stopCron: "19:00 weekdays" });
        let message = "";
        await t.stack.preview().catch((e) => (message = errorText(e)));
        expect(message).toContain('[schedules[0].cron] "19:00 weekdays" is not a cron expression');
        // Each instance is created on behalf of its user: a user name that is no login name is refused.
        await t.setConfig({ ...defaults, workspaceName: "tpl-team-ws", users: "alice,Bob.Smith" });
        message = "";
        await t.stack.preview().catch((e) => (message = errorText(e)));
        expect(message).toContain("[assignedUser.name] must be 1 to 32 lowercase letters, digits and '-'");
    } finally {
        await t.dispose();
        await purgeWorkspace("tpl-team-ws");
    }
});
