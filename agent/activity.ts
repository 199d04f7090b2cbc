/**
 * Reading an instance's activity from its Jupyter server: kernels (with their execution state
 * and last activity), terminals, and open SSH connections (the image's server extension). `no_track_activity` keeps the agent's own requests from
 * counting as activity, as JupyterHub's culler does.
 */
import type { Activity } from "./decide";

export async function readActivity(jupyterUrl: string, token: string, timeoutMs = 5000): Promise<Activity> {
    const get = async (path: string): Promise<unknown> => {
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), timeoutMs);
        try {
            const res = await fetch(`${jupyterUrl}${path}?no_track_activity=1`, { headers: { Authorization: `token ${token}` }, signal: abort.signal });
            if (res.status === 404) return [];
            if (!res.ok) throw new Error(`${path} answered HTTP ${res.status}`);
            return await res.json();
        } finally {
            clearTimeout(timer);
        }
    };
    const [kernels, terminals, connections] = await Promise.all([get("/api/kernels"), get("/api/terminals"), get("/api/compute-instance/connections")]);
    if (!Array.isArray(kernels) || !Array.isArray(terminals)) throw new Error("the Jupyter server answered something that is not a list of kernels and terminals");
    // The image's extension counts SSH connections and open VS Code sessions; an image without it
    // answers 404 (none counted).
    const { ssh, editors } = connections as { ssh?: unknown; editors?: unknown };
    const open = (typeof ssh === "number" ? ssh : 0) + (typeof editors === "number" ? editors : 0);
    return { kernels, terminals, ...(typeof ssh === "number" || typeof editors === "number" ? { connections: open } : {}) } as Activity;
}
