/**
 * HTTP requests that always settle: Node's AbortSignal.timeout() timer does not keep the process
 * alive, so a request stuck on a half-open connection (a published port whose container is not
 * listening yet) could leave a script with nothing to wait on; this timer is a real one.
 *
 * What answers is an instance, and an instance is its user's: the workspace agent (256 MiB, one
 * per workspace) reads every instance with these. So a request never follows a redirect (it
 * could send the token's request anywhere) and never reads more than a bounded body (one huge
 * answer would run the agent out of memory at every check, and schedules stop for everyone).
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

/** The most a JSON answer may be: Jupyter's lists of kernels and terminals are a few KiB. */
export const MAX_JSON_BYTES = 1024 * 1024;

/** A GET's status code. A redirect is its 3xx, not where it leads. */
export function httpStatus(url: string, headers: Record<string, string> = {}, timeoutMs = 2000): Promise<number> {
    return withTimeout(timeoutMs, async (signal) => {
        const res = await fetch(url, { headers, signal, redirect: "manual" });
        await res.body?.cancel();
        return res.status;
    });
}

/** A GET's status and, for a success (2xx), its JSON body, of at most `maxBytes`. */
export function httpGetJson(
    url: string,
    headers: Record<string, string> = {},
    timeoutMs = 2000,
    maxBytes = MAX_JSON_BYTES,
): Promise<{ status: number; body?: unknown }> {
    return withTimeout(timeoutMs, async (signal) => {
        const res = await fetch(url, { headers, signal, redirect: "manual" });
        if (!res.ok) {
            await res.body?.cancel();
            return { status: res.status };
        }
        return { status: res.status, body: JSON.parse(await boundedText(res, maxBytes)) as unknown };
    });
}

/** A GET's JSON body; undefined when the answer is not a success. */
export async function httpJson(
    url: string,
    headers: Record<string, string> = {},
    timeoutMs = 2000,
    maxBytes = MAX_JSON_BYTES,
): Promise<unknown> {
    return (await httpGetJson(url, headers, timeoutMs, maxBytes)).body;
}

/**
 * The body as text, refused as soon as it is longer than `maxBytes` (counted as decoded: a
 * compressed answer cannot get round the limit). Read chunk by chunk, so what is held is never
 * much more than the limit.
 */
async function boundedText(res: Response, maxBytes: number): Promise<string> {
    const tooLarge = () => new Error(`the answer is larger than ${maxBytes} bytes; not read`);
    if (Number(res.headers.get("content-length") ?? 0) > maxBytes) {
        await res.body?.cancel();
        throw tooLarge();
    }
    const reader = res.body?.getReader();
    if (!reader) return "";
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
            await reader.cancel();
            throw tooLarge();
        }
        chunks.push(value);
    }
    return Buffer.concat(chunks).toString("utf8");
}
