// What the workspace agent reads from an instance is the instance user's to answer: the reads
// are bounded and never follow a redirect. A server on loopback in this process plays an
// instance that answers too much, or elsewhere.
import * as http from "http";
import type { AddressInfo } from "net";
import { readActivity } from "../../agent/activity";
import { MAX_JSON_BYTES, httpJson, httpStatus } from "../../provider/http";

let server: http.Server;
let base = "";
/** Requests the server saw, by path. */
const seen: string[] = [];

// A JSON list longer than the limit: valid all the way, so only the limit can refuse it.
const hugeList = (bytes: number) => `[${"0,".repeat(Math.ceil(bytes / 2))}0]`;

beforeAll(async () => {
    server = http.createServer((req, res) => {
        const path = (req.url ?? "").split("?")[0];
        seen.push(path);
        const json = (body: string, headers: Record<string, string> = {}) => {
            res.writeHead(200, { "Content-Type": "application/json", ...headers });
            res.end(body);
        };
        if (path.startsWith("/failing/")) {
            // Every read fails, the kernels' last.
            res.writeHead(500);
            return setTimeout(() => res.end(), path.endsWith("/api/kernels") ? 300 : 0);
        }
        if (path === "/api/kernels" || path === "/huge-declared") return json(hugeList(MAX_JSON_BYTES * 2));
        if (path === "/huge-streamed") {
            // No length announced: the limit must hold while reading.
            res.writeHead(200, { "Content-Type": "application/json" });
            const chunk = "0,".repeat(32 * 1024);
            res.write("[");
            for (let i = 0; i < (MAX_JSON_BYTES * 2) / chunk.length; i++) res.write(chunk);
            return res.end("0]");
        }
        if (path === "/api/terminals" || path === "/api/compute-instance/connections" || path === "/elsewhere")
            return json("[]");
        if (path === "/small") return json('{"ok":true}');
        if (path === "/redirect") {
            res.writeHead(302, { Location: `${base}/elsewhere` });
            return res.end();
        }
        res.writeHead(404);
        res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
});

describe("reads from an instance", () => {
    test("a JSON answer within the limit is read", async () => {
        expect(await httpJson(`${base}/small`)).toEqual({ ok: true });
    });

    test("an answer larger than the limit is refused, announced or not", async () => {
        await expect(httpJson(`${base}/huge-declared`)).rejects.toThrow(
            `the answer is larger than ${MAX_JSON_BYTES} bytes`,
        );
        await expect(httpJson(`${base}/huge-streamed`, {}, 10_000)).rejects.toThrow(
            `the answer is larger than ${MAX_JSON_BYTES} bytes`,
        );
    });

    test("a redirect is not followed: it is its own status, and no JSON", async () => {
        seen.length = 0;
        expect(await httpStatus(`${base}/redirect`)).toBe(302);
        expect(await httpJson(`${base}/redirect`)).toBeUndefined();
        expect(seen).toEqual(["/redirect", "/redirect"]);
    });

    test("an instance whose reads all fail is reported by the same read every time, whichever fails first", async () => {
        // The agent logs a problem again only when its message changes.
        await expect(readActivity(`${base}/failing`, "t0ken")).rejects.toThrow("/api/kernels answered HTTP 500");
    });

    test("the agent's read of an instance answering a huge list of kernels fails that check, naming why", async () => {
        await expect(readActivity(base, "t0ken")).rejects.toThrow(
            `/api/kernels: the answer is larger than ${MAX_JSON_BYTES} bytes; not read`,
        );
    });
});
