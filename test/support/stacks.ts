/**
 * End-to-end helpers: Pulumi stacks driven through the Automation API with the real CLI (from
 * PATH, as scripts/test sets it up), each suite with its own file:// state, and the real Docker
 * engine for inspection and clean-up.
 */
import { ConfigMap, EngineEvent, LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import Docker from "dockerode";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { scheduleKey } from "../../agent/decide";
import { AGENT_STATE_DIR } from "../../provider/backends/layout";
import { packageRoot } from "../../provider/packageRoot";

export const ROOT = packageRoot();
export const PROGRAMS = path.join(ROOT, "test", "e2e", "programs");
export const docker = new Docker({ socketPath: "/var/run/docker.sock" });

/** A workspace name no other run uses: e2e-<8 hex>. */
export function uniqueWorkspace(prefix = "e2e"): string {
    return `${prefix}-${randomBytes(4).toString("hex")}`;
}

export interface TestStack {
    stack: Stack;
    stateDir: string;
    /** Everything the CLI printed, for assertions on messages and progress. */
    log: string[];
    /** Engine events of the last operation run with {@link collect}. */
    events: EngineEvent[];
    setConfig(values: Record<string, unknown>): Promise<void>;
    dispose(): Promise<void>;
}

export async function programStack(
    program: string,
    values: Record<string, unknown>,
    workDir = path.join(PROGRAMS, program),
): Promise<TestStack> {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-e2e-state-"));
    const log: string[] = [];
    const stack = await LocalWorkspace.createOrSelectStack(
        { stackName: `t${randomBytes(3).toString("hex")}`, workDir },
        {
            envVars: {
                PULUMI_BACKEND_URL: `file://${stateDir}`,
                PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase",
                PULUMI_SKIP_UPDATE_CHECK: "true",
                PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
            },
        },
    );
    const setConfig = async (v: Record<string, unknown>) => {
        const cfg: ConfigMap = {};
        for (const [k, value] of Object.entries(v))
            cfg[k] = { value: typeof value === "string" ? value : JSON.stringify(value) };
        await stack.setAllConfig(cfg);
    };
    await setConfig(values);
    return {
        stack,
        stateDir,
        log,
        events: [],
        setConfig,
        async dispose() {
            await stack.workspace.removeStack(stack.name, { force: true }).catch(() => undefined);
            fs.rmSync(stateDir, { recursive: true, force: true });
        },
    };
}

/** Options that collect the CLI's output into the test's log and its engine events. */
export function collect(t: TestStack) {
    t.events = [];
    return {
        onOutput: (s: string) => t.log.push(s),
        onEvent: (e: EngineEvent) => t.events.push(e),
        color: "never" as const,
    };
}

/**
 * What the last operation did (or, for a preview, would do) to each custom resource, by its
 * name, leaving out "same".
 */
export function customSteps(t: TestStack): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of t.events) {
        const m = e.resOutputsEvent?.metadata ?? e.resourcePreEvent?.metadata;
        if (!m || m.op === "same" || !m.type.startsWith("pulumi-nodejs:dynamic/")) continue;
        const name = m.urn.split("::").pop() as string;
        if (out[name]?.split(",").includes(m.op)) continue;
        out[name] = out[name] ? `${out[name]},${m.op}` : m.op;
    }
    return out;
}

/** Docker objects labelled with a workspace: what exists on the engine, whatever the state says. */
export async function workspaceObjects(workspace: string) {
    const filters = { label: [`compute-instance.pulumi.io/workspace=${workspace}`] };
    const containers = await docker.listContainers({ all: true, filters });
    const volumes = (await docker.listVolumes({ filters })).Volumes ?? [];
    const networks = await docker.listNetworks({ filters });
    return {
        containers: containers.map((c) => c.Names[0].replace(/^\//, "")).sort(),
        volumes: volumes.map((v) => v.Name).sort(),
        networks: networks.map((n) => n.Name).sort(),
    };
}

/** Removes whatever a test left of a workspace on the engine. */
export async function purgeWorkspace(workspace: string): Promise<void> {
    const o = await workspaceObjects(workspace);
    for (const c of o.containers)
        await docker
            .getContainer(c)
            .remove({ force: true })
            .catch(() => undefined);
    for (const v of o.volumes)
        await docker
            .getVolume(v)
            .remove({ force: true })
            .catch(() => undefined);
    for (const n of o.networks)
        await docker
            .getNetwork(n)
            .remove()
            .catch(() => undefined);
}

/** Runs a command in a container, as the instance user unless told otherwise; returns its output and exit code. */
export async function execIn(
    container: string,
    cmd: string[],
    user = "azureuser",
): Promise<{ code: number; output: string }> {
    const exec = await docker.getContainer(container).exec({
        Cmd: cmd,
        AttachStdout: true,
        AttachStderr: true,
        User: user,
        WorkingDir: user === "azureuser" ? "/home/azureuser" : "/",
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", resolve);
        stream.on("error", reject);
    });
    const info = await exec.inspect();
    const raw = Buffer.concat(chunks);
    // Demultiplex Docker's 8-byte frame headers.
    const out: Buffer[] = [];
    for (let i = 0; i + 8 <= raw.length;) {
        const len = raw.readUInt32BE(i + 4);
        out.push(raw.subarray(i + 8, i + 8 + len));
        i += 8 + len;
    }
    return { code: info.ExitCode ?? -1, output: Buffer.concat(out).toString("utf8") };
}

/** The error text of an operation that must fail (an operation that succeeds fails the test). */
export async function failureOf(operation: Promise<unknown>): Promise<string> {
    try {
        await operation;
    } catch (e) {
        return errorText(e);
    }
    throw new Error("the operation succeeded");
}

/** Text of an error from the Automation API (the CLI's stderr and stdout). */
export function errorText(e: unknown): string {
    return e instanceof Error
        ? `${e.message}\n${(e as { commandResult?: { stderr?: string; stdout?: string } }).commandResult?.stdout ?? ""}`
        : String(e);
}

/**
 * Polls `probe` every second until it gives a value, or fails naming `what` after `timeoutMs`,
 * with what `explain` then says (an agent's log, say: a failure on CI is read, not rerun).
 */
export async function waitFor<T>(
    what: string,
    timeoutMs: number,
    probe: () => Promise<T | undefined | false>,
    explain?: () => Promise<string>,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await probe();
        if (v) return v;
        if (Date.now() > deadline) {
            const more = explain ? `\n${await explain().catch((e: Error) => `(${e.message})`)}` : "";
            throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${more}`);
        }
        await new Promise((r) => setTimeout(r, 1000));
    }
}

/**
 * Waits until the workspace agent has checked a schedule at least once (its memory marks it
 * handled). A schedule the agent has never seen does not act on its past firings, so a test of a
 * missed firing must know the agent saw it, not guess with a sleep.
 */
export async function agentHasSeen(workspace: string, instance: string, schedule: string): Promise<void> {
    await waitFor(`the agent of ${workspace} to see schedule ${instance}/${schedule}`, 60_000, async () => {
        const r = await execIn(`ci-${workspace}-agent`, ["cat", `${AGENT_STATE_DIR}/memory.json`], "root").catch(
            () => undefined,
        );
        return (
            r?.code === 0 &&
            (JSON.parse(r.output) as { handledUntil?: Record<string, string> }).handledUntil?.[
                scheduleKey(instance, schedule)
            ] !== undefined
        );
    });
}

/** The workspace agent's log lines (JSON), oldest first. */
export async function agentLog(workspace: string): Promise<Record<string, unknown>[]> {
    const raw = (await docker
        .getContainer(`ci-${workspace}-agent`)
        .logs({ stdout: true, stderr: true })) as unknown as Buffer;
    const text: string[] = [];
    for (let i = 0; i + 8 <= raw.length;) {
        const len = raw.readUInt32BE(i + 4);
        text.push(raw.subarray(i + 8, i + 8 + len).toString("utf8"));
        i += 8 + len;
    }
    return text
        .join("")
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l));
}
