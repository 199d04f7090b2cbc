/** Jobs as a user submits and follows them: the built CLI (`compute-instance job …`) and job files. */
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { ROOT, agentLog, waitFor } from "./stacks";

export interface JobShown {
    status: string;
    exitCode?: number;
    reason?: string;
    startedAt?: string;
    endedAt?: string;
}

/** `compute-instance <args> --workspace <ws>`: its exit status and output. */
export function jobCli(workspace: string, args: string[]): { code: number; out: string; err: string } {
    const r = spawnSync("node", [path.join(ROOT, "bin/cli/main.js"), ...args, "--workspace", workspace], {
        encoding: "utf8",
    });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** Writes a job file in `dir` and submits it; the job's name (the last line printed). */
export function submitJob(workspace: string, dir: string, file: string, yaml: string, extra: string[] = []): string {
    const p = path.join(dir, file);
    fs.writeFileSync(p, yaml);
    const r = jobCli(workspace, ["job", "create", "--file", p, ...extra]);
    if (r.code !== 0) throw new Error(`job create failed (${r.code}): ${r.err}`);
    return r.out.trim().split("\n").pop() ?? "";
}

export const showJob = (workspace: string, name: string): JobShown =>
    JSON.parse(jobCli(workspace, ["job", "show", name, "--output", "json"]).out);

/** Until the job has ended: how. */
export const jobEnded = (workspace: string, name: string, timeoutMs = 90_000) =>
    waitFor(
        `job ${name} to end`,
        timeoutMs,
        async () => {
            const s = showJob(workspace, name);
            return ["Completed", "Failed", "Canceled"].includes(s.status) && s;
        },
        () => agentLogTail(workspace),
    );

/** The last lines of the workspace agent's log, for a failure's message. */
export async function agentLogTail(workspace: string, lines = 30): Promise<string> {
    const log = await agentLog(workspace);
    return `agent log (last ${lines} lines):\n${log
        .slice(-lines)
        .map((e) => JSON.stringify(e))
        .join("\n")}`;
}
