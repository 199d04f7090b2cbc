// Reaching instances whose pods really run (the local cluster's real node; scripts/cluster), in a
// namespace that enforces the "restricted" Pod Security Standard: every pod the product makes is
// admitted and runs (a workstation with SSH, one without but with an application's image beside
// it, the workspace agent). The assigned user's own certificate may port-forward and exec to
// their pod and not to another instance's; through that port-forward OpenSSH logs in with the
// instance's key as azureuser, and another key, a password and root are refused; headless
// Chromium renders JupyterLab's launcher.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { launchBrowser } from "../support/browser";
import { testKubeconfig } from "../support/backends";
import {
    applyYaml,
    kubectl,
    loadImages,
    localImages,
    portForward,
    realNode,
    tearDownOnCluster,
    userKubeconfig,
} from "../support/cluster";
import { TestStack, collect, programStack, uniqueWorkspace, waitFor } from "../support/stacks";

const ws = uniqueWorkspace("kacr");
const namespace = `ci-${ws}`;
const pod = (instance: string) => `ci-${ws}-${instance}-0`;
const keys = fs.mkdtempSync(path.join(os.tmpdir(), "ci-ssh-keys-"));
let t: TestStack;
let node: string;
let alice: string;
let token: string;

/** An OpenSSH key pair made by ssh-keygen, as a user would make it. */
function keyPair(name: string): { file: string; public: string } {
    const file = path.join(keys, name);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@laptop`, "-f", file]);
    return { file, public: fs.readFileSync(`${file}.pub`, "utf8").trim() };
}

/**
 * OpenSSH's client against 127.0.0.1:port, nothing from the machine's own SSH configuration or
 * agent, never waiting on a terminal: its exit code and what it printed.
 */
function ssh(
    port: number,
    user: string,
    options: string[],
    command = "true",
    env: NodeJS.ProcessEnv = {},
): { code: number | null; out: string } {
    const r = spawnSync(
        "ssh",
        [
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentityAgent=none",
            "-o",
            "ConnectTimeout=20",
            ...(options.includes("-v") ? [] : ["-o", "LogLevel=ERROR"]),
            "-p",
            String(port),
            ...options,
            `${user}@127.0.0.1`,
            command,
        ],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000, env: { ...process.env, ...env } },
    );
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const key = fs.existsSync("/usr/bin/ssh-keygen") ? keyPair("alice") : { file: "", public: "" };

beforeAll(async () => {
    if (!key.file)
        throw new Error("OpenSSH's client is missing: scripts/bootstrap --for-tests installs Debian's openssh-client");
    node = realNode();
    loadImages(localImages.workstation, localImages.agent);
    // The namespace exists first, enforcing the restricted profile; the product adopts it as it is.
    applyYaml(
        [
            "apiVersion: v1",
            "kind: Namespace",
            "metadata:",
            `  name: ${namespace}`,
            "  labels:",
            "    pod-security.kubernetes.io/enforce: restricted",
            "    pod-security.kubernetes.io/enforce-version: latest",
            "",
        ].join("\n"),
    );
    t = await programStack("instance", {
        workspaceName: ws,
        image: localImages.workstation,
        agentImage: localImages.agent,
        backend: { kubernetes: { namespace, kubeconfig: testKubeconfig() } },
        instances: {
            alice: {
                size: { cpus: 0.5, memoryGb: 1 },
                osDisk: { sizeGb: 1 },
                tempDisk: { sizeGb: 1 },
                readyTimeout: "4m",
                assignedUser: { name: "alice" },
                ssh: { enabled: true, publicKey: key.public },
            },
            bob: {
                size: { cpus: 0.25, memoryGb: 1 },
                osDisk: { sizeGb: 1 },
                tempDisk: { sizeGb: 1 },
                readyTimeout: "4m",
                assignedUser: { name: "bob" },
                customApplications: [
                    {
                        name: "beside",
                        port: 9200,
                        image: localImages.workstation,
                        command:
                            'mkdir -p /tmp/s && echo served-beside > /tmp/s/index.html && exec python3 -m http.server "$PORT" --directory /tmp/s',
                    },
                ],
            },
        },
    });
    await t.stack.up(collect(t));
    token = ((await t.stack.outputs()).out.value as Record<string, { token: string }>).alice.token;
    alice = userKubeconfig("alice");
}, 600_000);

afterAll(async () => {
    await tearDownOnCluster(t, namespace);
    fs.rmSync(keys, { recursive: true, force: true });
});

describe("reaching instances on real pods, in a restricted namespace", () => {
    test("the namespace enforces the restricted profile, and admits every pod the product makes: they run on the real node", async () => {
        // The profile is really enforced here: a pod that asks for nothing is refused.
        const plain = [
            "apiVersion: v1",
            "kind: Pod",
            "metadata:",
            "  name: plain",
            `  namespace: ${namespace}`,
            "spec:",
            "  containers:",
            "  - name: c",
            `    image: ${localImages.workstation}`,
            "",
        ].join("\n");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-plain-"));
        fs.writeFileSync(path.join(dir, "pod.yaml"), plain);
        expect(() => kubectl(["create", "--dry-run=server", "-f", path.join(dir, "pod.yaml")])).toThrow(
            /violates PodSecurity "restricted:latest"/,
        );
        fs.rmSync(dir, { recursive: true, force: true });

        for (const i of ["alice", "bob"]) {
            const p = JSON.parse(kubectl(["get", "pod", pod(i), "-n", namespace, "-o", "json"]));
            expect(p.spec.nodeName).toBe(node);
            expect(p.status.conditions).toContainEqual(expect.objectContaining({ type: "Ready", status: "True" }));
        }
        // bob's application runs from its image beside the workstation, in the pod's network.
        const bob = JSON.parse(kubectl(["get", "pod", pod("bob"), "-n", namespace, "-o", "json"]));
        expect(
            bob.status.containerStatuses.map((c: { name: string; ready: boolean }) => [c.name, c.ready]).sort(),
        ).toEqual([
            ["app-beside", true],
            ["workstation", true],
        ]);
        expect(
            kubectl([
                "exec",
                "-n",
                namespace,
                pod("bob"),
                "-c",
                "workstation",
                "--",
                "curl",
                "-s",
                "http://127.0.0.1:9200/",
            ]),
        ).toBe("served-beside\n");
        // The workspace agent's Deployment gets its pod, and it runs.
        await waitFor(
            "the workspace agent's pod to be available",
            120_000,
            async () =>
                JSON.parse(kubectl(["get", "deployment", `ci-${ws}-agent`, "-n", namespace, "-o", "json"])).status
                    .availableReplicas === 1,
        );
        const agentPod = JSON.parse(
            kubectl([
                "get",
                "pods",
                "-n",
                namespace,
                "-l",
                `app.kubernetes.io/name=compute-instance-agent,app.kubernetes.io/part-of=${ws}`,
                "-o",
                "json",
            ]),
        ).items[0];
        expect(agentPod.spec.nodeName).toBe(node);
        // Nothing was refused on the way (a refused pod shows as its controller's FailedCreate).
        expect(
            kubectl(["get", "events", "-n", namespace, "--field-selector", "reason=FailedCreate", "-o", "name"]).trim(),
        ).toBe("");
    });

    test("alice's own certificate may exec into her pod and port-forward to it, not to bob's", async () => {
        expect(kubectl(["exec", "-n", namespace, pod("alice"), "-c", "workstation", "--", "id", "-un"], alice)).toBe(
            "azureuser\n",
        );
        expect(() =>
            kubectl(["exec", "-n", namespace, pod("bob"), "-c", "workstation", "--", "id", "-un"], alice),
        ).toThrow(/forbidden/i);
        const pf = await portForward(namespace, `pod/${pod("alice")}`, 8888, alice);
        try {
            expect(
                (await fetch(`${pf.base}/api/status`, { headers: { Authorization: `token ${token}` } })).status,
            ).toBe(200);
        } finally {
            pf.stop();
        }
        await expect(portForward(namespace, `pod/${pod("bob")}`, 8888, alice)).rejects.toThrow(/forbidden/i);
    });

    test("OpenSSH through alice's port-forward: her key gets a shell as azureuser; another key, a password and root are refused", async () => {
        const other = keyPair("mallory");
        const pf = await portForward(namespace, `pod/${pod("alice")}`, 2222, alice);
        try {
            const ok = ssh(
                pf.port,
                "azureuser",
                ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key.file],
                "id -un; pwd; grep CapEff /proc/self/status",
            );
            expect(ok).toEqual({ code: 0, out: "azureuser\n/home/azureuser\nCapEff:\t0000000000000000\n" });

            const wrongKey = ssh(pf.port, "azureuser", [
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-i",
                other.file,
            ]);
            expect(wrongKey.code).toBe(255);
            expect(wrongKey.out).toContain("Permission denied (publickey)");

            const asRoot = ssh(pf.port, "root", ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key.file]);
            expect(asRoot.code).toBe(255);
            expect(asRoot.out).toContain("Permission denied (publickey)");

            // A password, given by an askpass program that notes it was asked: the server offers
            // public keys only, so the client never asks for one.
            const askpass = path.join(keys, "askpass");
            fs.writeFileSync(askpass, `#!/bin/sh\ntouch ${keys}/asked\necho azureuser\n`, { mode: 0o755 });
            const password = ssh(
                pf.port,
                "azureuser",
                [
                    "-v",
                    "-o",
                    "BatchMode=no",
                    "-o",
                    "PubkeyAuthentication=no",
                    "-o",
                    "PreferredAuthentications=password,keyboard-interactive",
                    "-o",
                    "NumberOfPasswordPrompts=1",
                ],
                "true",
                { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0" },
            );
            expect(password.code).toBe(255);
            expect(password.out).toMatch(/Authentications that can continue: publickey\r?\n/);
            expect(password.out).toContain("Permission denied (publickey)");
            expect(fs.existsSync(path.join(keys, "asked"))).toBe(false);
        } finally {
            pf.stop();
        }
    });

    test("headless Chromium renders JupyterLab's launcher through alice's port-forward", async () => {
        const pf = await portForward(namespace, `pod/${pod("alice")}`, 8888, alice);
        const browser = await launchBrowser();
        try {
            const page = await browser.newPage();
            // Only the instance, through the forwarded port on loopback.
            await page.route("**/*", (r) =>
                new URL(r.request().url()).host === `127.0.0.1:${pf.port}` ? r.continue() : r.abort(),
            );
            await page.goto(`${pf.base}/lab?token=${token}`);
            // The launcher offers a notebook and a terminal: the frontend and its WebSocket-backed services work through the forward.
            await page.locator(".jp-Launcher").waitFor({ state: "visible", timeout: 120_000 });
            await page.locator('.jp-LauncherCard[data-category="Notebook"]').first().waitFor({ timeout: 60_000 });
            await page.locator('.jp-LauncherCard[title*="erminal"]').first().waitFor({ timeout: 60_000 });
            fs.mkdirSync("test/.artifacts", { recursive: true });
            await page.screenshot({ path: "test/.artifacts/kubernetes-jupyterlab-launcher.png" });
        } finally {
            await browser.close();
            pf.stop();
        }
    });
});
