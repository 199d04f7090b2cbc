import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runtimeSpec } from "../support/specs";
import { containerCreateOptions } from "../../provider/backends/docker/options";
import { runtimeManifests, statefulSetManifest } from "../../provider/backends/kubernetes/manifests";
import { classify } from "../../provider/changes";
import { runtimeRules } from "../../provider/resources/runtime";
import {
    MAX_SCRIPT_BYTES,
    describeScriptsChange,
    readScriptSources,
    setupProgressFromLog,
    setupScriptsSchema,
    setupSeconds,
    sha256,
} from "../../provider/model/setup";
import { summarize } from "../../provider/summary";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-setup-unit-"));
fs.writeFileSync(path.join(dir, "setup.sh"), "pip install --user torch\n");
fs.mkdirSync(path.join(dir, "a-directory"));
fs.writeFileSync(path.join(dir, "big.sh"), "x".repeat(MAX_SCRIPT_BYTES + 1));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("reading the scripts a program names", () => {
    test("text, { inline } and { file } (relative to the program's directory)", () => {
        const r = readScriptSources({ creation: { file: "setup.sh" }, startup: "echo hi", timeout: "5m" }, dir);
        expect(r.problems).toEqual([]);
        expect(r.scripts).toEqual({
            creation: { source: "file:setup.sh", content: "pip install --user torch\n" },
            startup: { source: "inline", content: "echo hi" },
            timeout: "5m",
        });
        expect(readScriptSources({ startup: { inline: "true" } }, dir).scripts).toEqual({
            startup: { source: "inline", content: "true" },
        });
    });

    test("a missing file, a directory, a file too big, a wrong shape: each names the field", () => {
        expect(readScriptSources({ creation: { file: "nope.sh" } }, dir).problems).toEqual([
            {
                field: "setupScripts.creation.file",
                message: `nope.sh does not exist (looked at ${path.join(dir, "nope.sh")})`,
            },
        ]);
        expect(readScriptSources({ creation: { file: "a-directory" } }, dir).problems[0].message).toMatch(
            /^a-directory cannot be read/,
        );
        expect(readScriptSources({ startup: { file: "big.sh" } }, dir).problems[0].message).toContain(
            `a script may have at most ${MAX_SCRIPT_BYTES}`,
        );
        expect(readScriptSources({ startup: { path: "x.sh" } }, dir).problems).toEqual([
            {
                field: "setupScripts.startup",
                message: 'must be the script\'s text, { inline: "..." } or { file: "path/to/script.sh" }',
            },
        ]);
        expect(readScriptSources(undefined, dir)).toEqual({ problems: [] });
    });
});

describe("the scripts as the runtime takes them", () => {
    test("hashed, with the timeout in seconds (15 minutes by default)", () => {
        const s = setupScriptsSchema.parse({ creation: { source: "inline", content: "echo a" } });
        expect(s).toEqual({
            creation: { source: "inline", content: "echo a", sha256: sha256("echo a") },
            timeoutSeconds: 900,
        });
        expect(
            setupScriptsSchema.parse({ startup: { source: "inline", content: "x" }, timeout: "PT30M" }).timeoutSeconds,
        ).toBe(1800);
    });

    test("an empty script and a bad timeout are refused", () => {
        const r = setupScriptsSchema.safeParse({ startup: { source: "inline", content: "  \n" }, timeout: "soon" });
        expect(r.success).toBe(false);
        const messages = r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
        expect(messages).toContain("startup: is empty");
        expect(
            setupScriptsSchema.safeParse({ startup: { source: "inline", content: "x" }, timeout: "25h" }).success,
        ).toBe(false);
    });

    test("the readiness wait grows by the scripts' limit", () => {
        const s = setupScriptsSchema.parse({
            creation: { source: "inline", content: "a" },
            startup: { source: "inline", content: "b" },
            timeout: "2m",
        });
        expect(setupSeconds(s)).toBe(240);
        expect(setupSeconds(s, false)).toBe(120);
        expect(setupSeconds(undefined)).toBe(0);
    });
});

describe("what the entry point says", () => {
    test("the last report wins: running, failed, finished", () => {
        expect(setupProgressFromLog("booting\n")).toBeUndefined();
        expect(
            setupProgressFromLog(
                "compute-instance: SettingUp: running the creation script (at most 900s)\nCollecting torch\n",
            ),
        ).toEqual({ phase: "SettingUp", message: "running the creation script (at most 900s)" });
        expect(
            setupProgressFromLog(
                [
                    "compute-instance: SettingUp: running the creation script (at most 900s)",
                    "compute-instance: the creation script finished",
                    "compute-instance: SettingUp: running the startup script (at most 900s)",
                    "boom",
                    "compute-instance: SetupFailed: the startup script exited with 3; its output is in /home/azureuser/.compute-instance/setup/startup.log",
                ].join("\n"),
            ),
        ).toEqual({
            phase: "SetupFailed",
            message:
                "the startup script exited with 3; its output is in /home/azureuser/.compute-instance/setup/startup.log",
        });
        expect(
            setupProgressFromLog(
                "compute-instance: the creation script already ran on this OS disk (sha256 abc); skipped\n",
            )?.phase,
        ).toBe("Done");
    });
});

describe("changes and what they do", () => {
    const a = setupScriptsSchema.parse({ creation: { source: "inline", content: "echo 1" } });
    const b = setupScriptsSchema.parse({
        creation: { source: "inline", content: "echo 2" },
        startup: { source: "inline", content: "s" },
    });

    test("a changed script restarts the instance, said with the hashes", () => {
        const olds = { instance: "alice", setupScripts: a };
        const news = { instance: "alice", setupScripts: b };
        const c = classify(runtimeRules(true), olds, news);
        expect(c.replaces).toEqual(["setupScripts"]);
        expect(describeScriptsChange(a, b)).toBe(
            `creation script changed (sha256 ${a.creation!.sha256.slice(0, 12)} → ${b.creation!.sha256.slice(0, 12)}), startup script added`,
        );
        expect(summarize("Runtime", olds, news, c)).toMatch(
            /^alice: restart \(creation script changed .*startup script added\); OS disk kept; \/mnt wiped; user files kept$/,
        );
    });
});

describe("the scripts on each backend", () => {
    const spec = runtimeSpec({
        setupScripts: setupScriptsSchema.parse({
            creation: { source: "inline", content: "echo c" },
            startup: { source: "inline", content: "echo s" },
            timeout: "10m",
        }),
    });

    test("Docker: the time limit in the environment; the scripts themselves are files, not variables", () => {
        const opts = containerCreateOptions(spec, { jupyter: 20000 }, true);
        expect(opts.Env).toContain("CI_SETUP_TIMEOUT=600");
        expect(JSON.stringify(opts.Env)).not.toContain("echo c");
    });

    test("Kubernetes: in the instance's Secret, mounted whole for the pod's user", () => {
        const secret = runtimeManifests(spec, "ml").find((o) => o.kind === "Secret") as any;
        expect(secret.stringData["setup-creation"]).toBe("echo c");
        expect(secret.stringData["setup-startup"]).toBe("echo s");
        const pod = (statefulSetManifest(spec, "ml") as any).spec.template.spec;
        expect(pod.containers[0].env).toContainEqual({ name: "CI_SETUP_TIMEOUT", value: "600" });
        expect(pod.containers[0].volumeMounts).toContainEqual({
            name: "setup",
            mountPath: "/etc/compute-instance/setup",
            readOnly: true,
        });
        expect(pod.volumes).toContainEqual({
            name: "setup",
            secret: {
                secretName: "ci-ml-team-alice-token",
                items: [
                    { key: "setup-creation", path: "creation.sh" },
                    { key: "setup-startup", path: "startup.sh" },
                ],
                defaultMode: 0o444,
            },
        });
        const { setupScripts: _, ...none } = spec;
        expect(
            (statefulSetManifest(none, "ml") as any).spec.template.spec.volumes.map((v: any) => v.name),
        ).not.toContain("setup");
    });
});
