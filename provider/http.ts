/**
 * An HTTP GET that always settles: Node's AbortSignal.timeout() timer does not keep the process
 * alive, so a request stuck on a half-open connection (a published port whose container is not
 * listening yet) could leave a script with nothing to wait on; this timer is a real one.
 */
export async function httpStatus(url: string, headers: Record<string, string> = {}, timeoutMs = 2000): Promise<number> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
        const res = await fetch(url, { headers, signal: abort.signal });
        await res.body?.cancel();
        return res.status;
    } finally {
        clearTimeout(timer);
    }
}
