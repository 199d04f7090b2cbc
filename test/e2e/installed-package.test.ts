// The path a user has: the package packed with `npm pack`, installed into a project of its own
// (outside this repository, so nothing resolves back to the sources), and `pulumi up` from there.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    ROOT,
    TestStack,
    collect,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    workspaceObjects,
} from "../support/stacks";

const ws = uniqueWorkspace("pkg");
const project = fs.mkdtempSync(path.join(os.tmpdir(), "ci-user-project-"));
let t: TestStack | undefined;

afterAll(async () => {
    if (t) {
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    await purgeWorkspace(ws);
    fs.rmSync(project, { recursive: true, force: true });
});

test("npm pack → npm install in a user's project → pulumi up → JupyterLab answers → destroy", async () => {
    const tgz = execFileSync("npm", ["pack", "--pack-destination", project, "--loglevel=error"], {
        cwd: ROOT,
        encoding: "utf8",
    })
        .trim()
        .split("\n")
        .pop() as string;
    const sdkVersion = JSON.parse(
        fs.readFileSync(path.join(ROOT, "node_modules/@pulumi/pulumi/package.json"), "utf8"),
    ).version;
    fs.writeFileSync(
        path.join(project, "package.json"),
        JSON.stringify(
            {
                name: "my-ml-team",
                private: true,
                main: "index.ts",
                dependencies: { "@pulumi/pulumi": sdkVersion, "pulumi-compute-instance": `file:./${tgz}` },
            },
            null,
            2,
        ),
    );
    fs.writeFileSync(
        path.join(project, "Pulumi.yaml"),
        "name: my-ml-team\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n",
    );
    fs.writeFileSync(
        path.join(project, "tsconfig.json"),
        JSON.stringify({
            compilerOptions: {
                strict: true,
                target: "es2020",
                module: "commonjs",
                moduleResolution: "node",
                esModuleInterop: true,
            },
        }),
    );
    fs.writeFileSync(
        path.join(project, "index.ts"),
        `
import * as pulumi from "@pulumi/pulumi";
import { ComputeInstance, Workspace } from "pulumi-compute-instance";
const cfg = new pulumi.Config();
const workspace = new Workspace(cfg.require("workspaceName"), { backend: { docker: {} } });
const alice = new ComputeInstance("alice", { workspace, size: { cpus: 1, memoryGb: 2 } });
export const lab = alice.endpoints.jupyterLab;
export const token = alice.token;
`,
    );
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], {
        cwd: project,
        stdio: "inherit",
    });
    expect(fs.lstatSync(path.join(project, "node_modules/pulumi-compute-instance")).isSymbolicLink()).toBe(false);

    t = await programStack("user-project", { workspaceName: ws }, project);
    await t.stack.up(collect(t));
    const outs = await t.stack.outputs();
    expect(outs.token.secret).toBe(true);
    const lab = outs.lab.value as string;
    expect((await fetch(`${lab}?token=${outs.token.value}`)).status).toBe(200);

    // The provider serialised into the state names the package, not a path into this repository.
    const state = JSON.stringify(await t.stack.exportStack());
    expect(state).toContain('require(\\"pulumi-compute-instance/bin/provider/dispatch\\")');
    expect(state).not.toContain(ROOT);

    await t.stack.destroy(collect(t));
    expect((await workspaceObjects(ws)).containers).toEqual([]);
});
