/**
 * HTTP requests that always settle: Node's AbortSignal.timeout() timer does not keep the process
 * alive, so a request stuck on a half-open connection (a published port whose container is not
 * listening yet) could leave a script with nothing to wait on; this timer is a real one.
 */
async function withTimeout<T>(timeoutMs: number, request: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
        return await request(abort.signal);
    } finally {
        clearTimeout(timer);
    }
}

/** A GET's status code. */
export function httpStatus(url: string, headers: Record<string, string> = {}, timeoutMs = 2000): Promise<number> {
    return withTimeout(timeoutMs, async (signal) => {
        const res = await fetch(url, { headers, signal });
        await res.body?.cancel();
        return res.status;
    });
}

/** A GET's JSON body; undefined when the answer is not a success. */
export function httpJson(url: string, headers: Record<string, string> = {}, timeoutMs = 2000): Promise<unknown> {
    return withTimeout(timeoutMs, async (signal) => {
        const res = await fetch(url, { headers, signal });
        if (!res.ok) {
            await res.body?.cancel();
            return undefined;
        }
        return (await res.json()) as unknown;
    });
}
