// Setup scripts on the real engine: the creation script runs once per OS disk and per content, as
// root, before the applications; the startup script at every start (by hand, and when the engine
// restarts the container); an edited script is a restart that runs it once more; a failing or
// overlong script is SetupFailed with its last output, the instance left running for inspection;
// the next `up` with a good script replaces it.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { generateKeyPair } from "../support/ssh-keys";
import {
    TestStack,
    collect,
    customSteps,
    docker,
    execIn,
    failureOf,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    workspaceObjects,
} from "../support/stacks";

const ws = uniqueWorkspace("set");
const container = `ci-${ws}-alice`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-setup-"));
const creationFile = path.join(dir, "creation.sh");
let t: TestStack;
const cli = (args: string[]) =>
    execFileSync("node", [path.join(__dirname, "../../bin/cli/main.js"), ...args], { encoding: "utf8" });

const creation = (marker: string) =>
    [
        "#!/bin/bash",
        "set -e",
        // Long enough for the progress display to show it.
        "sleep 2",
        // Runs as root, before Jupyter: nothing answers on 8888 yet.
        `echo "${marker} uid=$(id -u) jupyter=$( (exec 3<>/dev/tcp/127.0.0.1/8888) 2>/dev/null && echo up || echo down)" >> /home/azureuser/creation-runs.txt`,
        // As the instance user, into the home directory (the OS disk).
        "runuser -u azureuser -- bash -c 'mkdir -p ~/.config && echo made-by-creation > ~/.config/setup-marker'",
    ].join("\n") + "\n";
const startup = 'echo "start $(date +%s%N)" >> /home/azureuser/startup-runs.txt\n';
const base = { size: { cpus: 1, memoryGb: 1 }, osDisk: { sizeGb: 1 }, tempDisk: { sizeGb: 1 }, readyTimeout: "3m" };
const config = (setupScripts: object) => ({ workspaceName: ws, instances: { alice: { ...base, setupScripts } } });
const lines = async (file: string) =>
    (await execIn(container, ["bash", "-c", `cat ${file} 2>/dev/null || true`])).output.split("\n").filter(Boolean);

beforeAll(async () => {
    fs.writeFileSync(creationFile, creation("v1"));
    t = await programStack("instance", config({ creation: { file: creationFile }, startup }));
});

afterAll(async () => {
    if (t) {
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    await purgeWorkspace(ws);
    fs.rmSync(dir, { recursive: true, force: true });
});

describe("setup scripts", () => {
    test("up runs the creation script as root before the applications, then the startup script; progress shows it", async () => {
        await t.stack.up(collect(t));
        expect(await lines("creation-runs.txt")).toEqual(["v1 uid=0 jupyter=down"]);
        expect(await lines(".config/setup-marker")).toEqual(["made-by-creation"]);
        const owner = await execIn(container, ["stat", "-c", "%U", "/home/azureuser/.config/setup-marker"]);
        expect(owner.output.trim()).toBe("azureuser");
        expect(await lines("startup-runs.txt")).toHaveLength(1);
        expect(t.log.join("")).toContain("running the creation script (at most 900s)");
        // The scripts are root's: the user can neither read nor change them.
        expect((await execIn(container, ["test", "-s", "/etc/compute-instance/setup/creation.sh"], "root")).code).toBe(
            0,
        );
        expect((await execIn(container, ["cat", "/etc/compute-instance/setup/creation.sh"])).code).not.toBe(0);
        // Their output stays on the OS disk for the user to read (the startup script prints nothing).
        expect(
            (await execIn(container, ["test", "-f", "/home/azureuser/.compute-instance/setup/startup.log"])).code,
        ).toBe(0);
        expect(await lines(".compute-instance/setup/startup.log")).toEqual([]);
        expect(
            (await execIn(container, ["test", "-r", "/home/azureuser/.compute-instance/setup/creation.log"])).code,
        ).toBe(0);
    });

    test("a stop and start, and a restart by the engine, run the startup script again, not the creation script", async () => {
        cli(["stop", "alice", "--workspace", ws]);
        cli(["start", "alice", "--workspace", ws]);
        await docker.getContainer(container).restart({ t: 5 });
        // Back when Jupyter answers again, which is after the startup script.
        for (let i = 0; i < 120 && !/Running/.test(cli(["status", "alice", "--workspace", ws])); i++)
            await new Promise((r) => setTimeout(r, 500));
        for (let i = 0; i < 120 && (await lines("startup-runs.txt")).length < 3; i++)
            await new Promise((r) => setTimeout(r, 500));
        expect(await lines("startup-runs.txt")).toHaveLength(3);
        expect(await lines("creation-runs.txt")).toEqual(["v1 uid=0 jupyter=down"]);
    });

    test("an edited creation script is a restart that runs it once more; the home directory is kept", async () => {
        fs.writeFileSync(creationFile, creation("v2"));
        const preview = await t.stack.preview({ diff: true });
        expect(preview.stdout).toContain("v2 uid");
        await t.stack.up(collect(t));
        const steps = customSteps(t);
        expect(Object.keys(steps)).toEqual(["alice-runtime"]);
        expect(steps["alice-runtime"]).toMatch(/replace/);
        expect(t.log.join("")).toMatch(
            /alice: restart \(creation script changed \(sha256 [0-9a-f]{12} → [0-9a-f]{12}\)\); OS disk kept/,
        );
        expect(await lines("creation-runs.txt")).toEqual(["v1 uid=0 jupyter=down", "v2 uid=0 jupyter=down"]);
        expect(await lines("startup-runs.txt")).toHaveLength(4);
    });

    test("a script that exits non-zero is SetupFailed with its output; the instance is left for inspection; a good script repairs", async () => {
        await t.setConfig(
            config({
                creation: { file: creationFile },
                startup: "echo preparing datasets\necho 'disk quota exceeded' >&2\nexit 3\n",
            }),
        );
        const message = await failureOf(t.stack.up(collect(t)));
        expect(message).toContain(
            "SetupFailed: the startup script exited with 3; its output is in /home/azureuser/.compute-instance/setup/startup.log",
        );
        expect(message).toContain("disk quota exceeded");
        expect(message).toContain(
            `The container ${container} is left running for inspection (docker exec -it ${container} bash;`,
        );
        expect((await docker.getContainer(container).inspect()).State.Running).toBe(true);
        expect(cli(["status", "alice", "--workspace", ws])).toMatch(/^alice\tSetupFailed\t/);
        expect(
            (await execIn(container, ["cat", "/home/azureuser/.compute-instance/setup/startup.log"])).output,
        ).toContain("preparing datasets");

        await t.setConfig(config({ creation: { file: creationFile }, startup }));
        await t.stack.up(collect(t));
        expect(cli(["status", "alice", "--workspace", ws])).toMatch(/^alice\tRunning\t/);
        // The same OS disk: the creation script is not run again.
        expect(await lines("creation-runs.txt")).toHaveLength(2);
    });

    test("a script that runs past its timeout is SetupFailed, not a hang", async () => {
        await t.setConfig(config({ startup: "echo waiting forever\nsleep 600\n", timeout: "3s" }));
        const message = await failureOf(t.stack.up(collect(t)));
        expect(message).toContain("SetupFailed: the startup script timed out after 3s");
        expect(message).toContain("waiting forever");
    });

    test("a service a script leaves in the background does not hold the start; root never runs what the user put on their PATH", async () => {
        // The user's ~/.local/bin comes first on their PATH: plant a command the entry point uses.
        const plant =
            "mkdir -p ~/.local/bin && printf '#!/bin/sh\\nid -u >> $HOME/planted-ran.txt\\nexec /usr/bin/mktemp \"$@\"\\n' > ~/.local/bin/mktemp && chmod +x ~/.local/bin/mktemp";
        expect((await execIn(container, ["bash", "-c", plant])).code).toBe(0);
        // The service keeps the script's output open; the instance must start anyway, well before it ends.
        await t.setConfig(
            config({ startup: "(sleep 600; echo service ended) &\necho service started\n", timeout: "2m" }),
        );
        await t.stack.up(collect(t));
        expect(cli(["status", "alice", "--workspace", ws])).toMatch(/^alice\tRunning\t/);
        expect(await lines(".compute-instance/setup/startup.log")).toEqual(["service started"]);
        expect((await execIn(container, ["pgrep", "-f", "sleep 600"])).code).toBe(0);
        expect(await lines("planted-ran.txt")).not.toContain("0");
    });

    test("SSH and a setup script on a fresh OS disk: the user keeps ~/.compute-instance and sshd starts", async () => {
        const key = generateKeyPair("ed25519");
        await t.setConfig({
            workspaceName: ws,
            instances: {
                bob: {
                    ...base,
                    setupScripts: { creation: "echo created\n" },
                    ssh: { enabled: true, publicKey: key.public },
                },
            },
        });
        await t.stack.up(collect(t));
        const bob = `ci-${ws}-bob`;
        expect(
            (
                await execIn(bob, [
                    "stat",
                    "-c",
                    "%U",
                    "/home/azureuser/.compute-instance",
                    "/home/azureuser/.compute-instance/setup",
                    "/home/azureuser/.compute-instance/ssh",
                ])
            ).output
                .split("\n")
                .filter(Boolean),
        ).toEqual(["azureuser", "azureuser", "azureuser"]);
        expect((await execIn(bob, ["pgrep", "-u", "azureuser", "sshd"])).code).toBe(0);
    });

    test("probes from inside an instance and setup scripts never run the user's files; scripts start from / with a clean environment", async () => {
        const bob = `ci-${ws}-bob`;
        // Commands a probe or a script might look up, planted first on the user's PATH (the home is
        // the OS disk, kept when the container is re-created): each notes who ran it.
        const planted = ["python3", "bash", "sh", "env", "head", "grep", "timeout"];
        const plant =
            "mkdir -p ~/.local/bin && for c in " +
            planted.join(" ") +
            "; do " +
            'printf \'#!/bin/sh\\necho "$(id -u) %s" >> /tmp/planted-ran.txt\\nexec /usr/bin/%s "$@"\\n\' $c $c > ~/.local/bin/$c; chmod +x ~/.local/bin/$c; done';
        expect((await execIn(bob, ["bash", "-c", plant])).code).toBe(0);
        const key = generateKeyPair("ed25519");
        // Only SSH is published: Jupyter's readiness can only be asked from inside the container.
        await t.setConfig({
            workspaceName: ws,
            instances: {
                bob: {
                    ...base,
                    ssh: { enabled: true, publicKey: key.public },
                    network: { inbound: [{ application: "ssh", from: ["127.0.0.1/32"] }] },
                    setupScripts: {
                        startup:
                            "pwd > /tmp/setup-pwd\nenv | sort > /tmp/setup-env\npython3 -c 'print(1)' > /dev/null\n",
                    },
                },
            },
        });
        await t.stack.up(collect(t));
        expect(Object.keys((await docker.getContainer(bob).inspect()).HostConfig.PortBindings ?? {})).toEqual([
            "2222/tcp",
        ]);
        // A stop and a start: the start's probes too.
        cli(["stop", "bob", "--workspace", ws]);
        cli(["start", "bob", "--workspace", ws, "--timeout", "3m"]);
        const ran = (await execIn(bob, ["bash", "-c", "cat /tmp/planted-ran.txt 2>/dev/null || true"], "root")).output
            .split("\n")
            .filter(Boolean);
        expect(ran.filter((l) => !l.startsWith("1000 "))).toEqual([]);
        expect((await execIn(bob, ["cat", "/tmp/setup-pwd"], "root")).output).toBe("/\n");
        const env = (await execIn(bob, ["cat", "/tmp/setup-env"], "root")).output
            .split("\n")
            .filter(Boolean)
            .map((l) => l.split("=")[0]);
        expect(env.filter((k) => !["PATH", "HOME", "LANG", "INSTANCE_USER", "PWD", "SHLVL", "_"].includes(k))).toEqual(
            [],
        );
        expect((await execIn(bob, ["bash", "-c", "grep '^PATH=' /tmp/setup-env"], "root")).output).not.toContain(
            ".local",
        );
    });

    test("a create whose setup failed is in the state: a preview replaces it, and destroy removes it and everything else", async () => {
        await t.setConfig(config({ creation: "echo failing on purpose\nexit 3\n" }));
        const message = await failureOf(t.stack.up(collect(t)));
        expect(message).toContain("SetupFailed: the creation script exited with 3");
        expect(message).toContain("`pulumi destroy` removes it");
        const runtime = (await t.stack.exportStack()).deployment.resources.find((r: { urn: string }) =>
            r.urn.endsWith("::alice-runtime"),
        );
        expect(runtime?.id).toBe(container);
        expect(runtime?.outputs?.createFailed).toBe(true);
        const said: string[] = [];
        const preview = await t.stack.preview({
            onEvent: (e) => {
                if (e.diagnosticEvent?.urn?.endsWith("::alice-runtime")) said.push(e.diagnosticEvent.message);
            },
        });
        expect(preview.changeSummary.replace).toBe(1);
        expect(said.join("\n")).toContain("its last create failed (SetupFailed)");
        // Before the failed runtime was in the state, destroy failed on the disks it holds ("volume is in use").
        await t.stack.destroy();
        expect(await workspaceObjects(ws)).toEqual({ containers: [], volumes: [`ci-${ws}-userfiles`], networks: [] });
    });
});
