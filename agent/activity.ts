/**
 * Reading an instance's activity from its Jupyter server: kernels (with their execution state
 * and last activity), terminals (with theirs), and what the image's server extension adds (open
 * SSH sessions, VS Code, the last use of the applications served through the proxy).
 * `no_track_activity` keeps the agent's own requests from counting as activity, as JupyterHub's
 * culler does. The instance is its user's: what it answers is read bounded and never followed
 * elsewhere (provider/http.ts).
 */
import { httpGetJson } from "../provider/http";
import type { Activity } from "./decide";

export async function readActivity(jupyterUrl: string, token: string, timeoutMs = 5000): Promise<Activity> {
    const get = async (path: string): Promise<unknown> => {
        const { status, body } = await httpGetJson(
            `${jupyterUrl}${path}?no_track_activity=1`,
            { Authorization: `token ${token}` },
            timeoutMs,
        ).catch((e: Error) => {
            throw new Error(`${path}: ${e.message}`);
        });
        if (status === 404) return [];
        if (status < 200 || status >= 300) throw new Error(`${path} answered HTTP ${status}`);
        return body;
    };
    // The first failure in this order, not the first to happen: the agent logs a problem again
    // only when its message changes, and one unreachable server fails all three at once.
    const settled = await Promise.allSettled([
        get("/api/kernels"),
        get("/api/terminals"),
        get("/api/compute-instance/connections"),
    ]);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    const [kernels, terminals, extension] = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value);
    if (!Array.isArray(kernels) || !Array.isArray(terminals))
        throw new Error("the Jupyter server answered something that is not a list of kernels and terminals");
    return { kernels, terminals, ...extensionActivity(extension) } as Activity;
}

/**
 * What the image's extension adds: SSH sessions and open VS Code as connections, and when an
 * application behind the proxy was last used. An image without it answers 404 (nothing added).
 */
export function extensionActivity(raw: unknown): Pick<Activity, "connections" | "applicationsLastActivity"> {
    const {
        ssh,
        editors,
        applications_last_activity: apps,
    } = (raw ?? {}) as { ssh?: unknown; editors?: unknown; applications_last_activity?: unknown };
    const count = (n: unknown) => (typeof n === "number" && Number.isFinite(n) && n > 0 ? n : 0);
    return {
        ...(typeof ssh === "number" || typeof editors === "number" ? { connections: count(ssh) + count(editors) } : {}),
        ...(typeof apps === "string" && Number.isFinite(Date.parse(apps)) ? { applicationsLastActivity: apps } : {}),
    };
}
