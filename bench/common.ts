/** What the benchmarks share: the readiness poll, timing, and driving the CLIs as a user types them. */
import { execFileSync } from "child_process";
import * as path from "path";
import { httpStatus } from "../provider/http";
import { ROOT, TestStack } from "../test/support/stacks";

/** Polls a Jupyter URL with the token until it answers 200, every 100 ms. */
export async function untilAnswers(url: string, token: string): Promise<void> {
    for (;;) {
        try {
            // The same probe timeout as the provider's, so every side polls alike.
            if ((await httpStatus(url, { Authorization: `token ${token}` }, 400)) === 200) return;
        } catch {
            /* not yet */
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** Seconds since `t`, a process.hrtime.bigint(). */
export const seconds = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e9;

/** The median (the upper one of an even count). */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `pulumi up` as a user types it, in the stack's directory and environment; its output when it fails. */
export function pulumiUp(t: TestStack, extra: string[], env: Record<string, string> = {}): void {
    try {
        execFileSync("pulumi", ["up", "--yes", "--non-interactive", "--stack", t.stack.name, ...extra], {
            cwd: t.stack.workspace.workDir,
            env: {
                ...process.env,
                ...(t.stack.workspace as unknown as { envVars: Record<string, string> }).envVars,
                ...env,
            },
            stdio: ["ignore", "pipe", "pipe"],
            maxBuffer: 64 * 1024 * 1024,
        });
    } catch (e) {
        const { stdout, stderr } = e as { stdout?: Buffer; stderr?: Buffer };
        const said = `${stdout?.toString() ?? ""}${stderr?.toString() ?? ""}`
            .trimEnd()
            .split("\n")
            .slice(-40)
            .join("\n");
        throw new Error(`pulumi up ${extra.join(" ")} failed:\n${said}`, { cause: e });
    }
}

/** `compute-instance <command> <instance> --workspace <ws>`, the built CLI as a user runs it. */
export function computeInstance(command: string, instance: string, workspace: string): void {
    execFileSync("node", [path.join(ROOT, "bin/cli/main.js"), command, instance, "--workspace", workspace], {
        stdio: "ignore",
    });
}

/** The Jupyter URL and token of each instance of the e2e `instance` program's stack. */
export async function instanceOutputs(t: TestStack): Promise<Record<string, { status: string; token: string }>> {
    const outs = (await t.stack.outputs()).out.value as Record<
        string,
        { endpoints: { jupyterLab: string }; token: string }
    >;
    return Object.fromEntries(
        Object.entries(outs).map(([k, v]) => [
            k,
            { status: new URL("/api/status", v.endpoints.jupyterLab).toString(), token: v.token },
        ]),
    );
}
