// Requests from other sites, and Jupyter's credentials, on the real engine with the real image
// (and headless Chromium for what only a browser does): the login cookie is SameSite=Lax; the
// terminal endpoint makes a terminal only when the user asks; a request with an unsafe method
// from another origin never reaches an application behind the proxy; an application never sees
// the token, the login cookie or the token parameter (the provider's readiness probe's included);
// and the workspace agent counts a terminal's activity, not its being open, and the use of an
// application behind the proxy.
import * as http from "http";
import type { Page } from "playwright-core";
import { launchBrowser } from "../support/browser";
import {
    TestStack,
    agentLog,
    collect,
    docker,
    execIn,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    waitFor,
} from "../support/stacks";

const ws = uniqueWorkspace("web");
const ECHO_LOG = "/tmp/echo.jsonl";
// An application that answers every request with what it received, and writes it down (a
// WebSocket handshake it cannot complete is written down too).
const ECHO_APP = [
    "import http.server, json, os",
    "class H(http.server.BaseHTTPRequestHandler):",
    "    def answer(self):",
    "        n = int(self.headers.get('Content-Length') or 0)",
    "        seen = json.dumps({'method': self.command, 'path': self.path, 'headers': self.headers.items(), 'body': self.rfile.read(n).decode()})",
    `        with open('${ECHO_LOG}', 'a') as f: f.write(seen + '\\n')`,
    "        self.send_response(200)",
    "        self.send_header('Content-Type', 'application/json')",
    "        self.send_header('Content-Length', str(len(seen)))",
    "        self.end_headers()",
    "        self.wfile.write(seen.encode())",
    "    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer",
    "http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()",
].join("\n");
const echo = { name: "echo", port: 9300, command: 'exec python3 -c "$ECHO_APP"' };
const small = {
    size: { cpus: 0.5, memoryGb: 1 },
    osDisk: { sizeGb: 1 },
    tempDisk: { sizeGb: 1 },
    env: { ECHO_APP },
    customApplications: [echo],
};
const instances = {
    alice: { ...small, applications: ["jupyter", "terminal"] },
    // Its idle period is declared by the test that needs it, once the instance has been used.
    idler: { ...small, applications: ["jupyter", "terminal"] },
};

type Seen = { method: string; path: string; headers: [string, string][]; body: string };
let t: TestStack;
let out: Record<string, { endpoints: Record<string, string>; token: string }>;
let base = "";
let token = "";

/** The login cookie (name=value) a `?token=` login sets, and the whole Set-Cookie header. */
async function login(): Promise<{ cookie: string; setCookie: string }> {
    const res = await fetch(`${base}/tree?token=${token}`, { redirect: "manual" });
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith("username-")) ?? "";
    return { cookie: setCookie.split(";")[0], setCookie };
}

const terminals = async (name = "alice") => {
    const o = out[name];
    const origin = new URL(o.endpoints.jupyter).origin;
    return (await (
        await fetch(`${origin}/api/terminals`, { headers: { Authorization: `token ${o.token}` } })
    ).json()) as { name: string; last_activity: string }[];
};

/** Closes alice's terminals: each test starts with none, whatever the one before left. */
async function closeTerminals(): Promise<void> {
    for (const term of await terminals())
        await fetch(`${base}/api/terminals/${term.name}`, {
            method: "DELETE",
            headers: { Authorization: `token ${token}` },
        });
}

/** What the echo application was sent, oldest first. */
async function echoed(container = `ci-${ws}-alice`): Promise<Seen[]> {
    const r = await execIn(container, ["cat", ECHO_LOG]);
    return r.output
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Seen);
}
const header = (s: Seen, name: string) => s.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

/** Chromium, logged in to alice with the token, going through `run`. Only loopback is reached: other sites are pages made up here. */
async function inBrowser(pages: Record<string, string>, run: (page: Page) => Promise<void>): Promise<void> {
    const browser = await launchBrowser();
    try {
        const page = await browser.newPage();
        await page.route("**/*", (r) => {
            const url = r.request().url();
            if (pages[url] !== undefined) return r.fulfill({ status: 200, contentType: "text/html", body: pages[url] });
            return new URL(url).hostname === "127.0.0.1" ? r.continue() : r.abort();
        });
        await page.goto(`${out.alice.endpoints.jupyter}?token=${token}`);
        await run(page);
    } finally {
        await browser.close();
    }
}

beforeAll(async () => {
    t = await programStack("instance", { workspaceName: ws, agentCheckInterval: "2s", instances });
    await t.stack.up(collect(t));
    out = (await t.stack.outputs()).out.value as typeof out;
    base = new URL(out.alice.endpoints.jupyter).origin;
    token = out.alice.token;
});

afterAll(async () => {
    if (t) {
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    await purgeWorkspace(ws);
});

describe("requests from other sites", () => {
    test("the login cookie is SameSite=Lax", async () => {
        const { setCookie } = await login();
        expect(setCookie).toMatch(/^username-127-0-0-1-\d+=/);
        expect(setCookie).toMatch(/; SameSite=Lax(;|$)/);
    });

    test("the terminal endpoint: the token or the user's own navigation make a terminal; another site's link gets a page that asks", async () => {
        await closeTerminals();
        const { cookie } = await login();
        const newTerminal = out.alice.endpoints.terminal;
        // A link or script on another site: the browser sends the cookie with a top-level GET.
        for (const site of ["cross-site", "same-site"]) {
            const res = await fetch(newTerminal, {
                headers: { Cookie: cookie, "Sec-Fetch-Site": site },
                redirect: "manual",
            });
            expect(res.status).toBe(200);
            expect(await res.text()).toContain('<form method="post">');
        }
        // A browser that does not say where the request comes from gets the page too.
        expect((await fetch(newTerminal, { headers: { Cookie: cookie }, redirect: "manual" })).status).toBe(200);
        expect(await terminals()).toEqual([]);
        // The URL typed, or opened from another program: a terminal, as before.
        const typed = await fetch(newTerminal, {
            headers: { Cookie: cookie, "Sec-Fetch-Site": "none" },
            redirect: "manual",
        });
        expect(typed.status).toBe(302);
        expect(typed.headers.get("location")).toMatch(/\/terminals\/\d+$/);
        const byToken = await fetch(newTerminal, { headers: { Authorization: `token ${token}` }, redirect: "manual" });
        expect(byToken.status).toBe(302);
        expect(await terminals()).toHaveLength(2);
        // A POST without Jupyter's XSRF token (another site's form) makes none.
        expect(
            (
                await fetch(newTerminal, {
                    method: "POST",
                    headers: { Cookie: cookie, Origin: base },
                    redirect: "manual",
                })
            ).status,
        ).toBe(403);
        expect(await terminals()).toHaveLength(2);
    });

    test("a request with an unsafe method from another origin never reaches an application; the same origin's and the token's do", async () => {
        const { cookie } = await login();
        const post = (marker: string, headers: Record<string, string>) =>
            fetch(`${out.alice.endpoints.echo}${marker}`, {
                method: "POST",
                headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded", ...headers },
                body: `m=${marker}`,
                redirect: "manual",
            });
        // Another instance or application on this host is another origin, though the same site.
        expect((await post("other-port", { Origin: "http://127.0.0.1:1" })).status).toBe(403);
        expect((await post("same-site", { Origin: "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site" })).status).toBe(
            403,
        );
        expect(
            (await post("cross-site", { Origin: "http://attacker.test", "Sec-Fetch-Site": "cross-site" })).status,
        ).toBe(403);
        expect((await post("null-origin", { Origin: "null" })).status).toBe(403);
        expect((await post("same-origin", { Origin: base, "Sec-Fetch-Site": "same-origin" })).status).toBe(200);
        expect(
            (await post("with-token", { Origin: "http://attacker.test", Authorization: `token ${token}` })).status,
        ).toBe(200);
        const received = (await echoed()).filter((s) => s.method === "POST").map((s) => s.body);
        expect(received).toEqual(["m=same-origin", "m=with-token"]);
    });

    test("in Chromium: another site's form cannot POST to an application, nor its link open a terminal", async () => {
        await closeTerminals();
        const before = (await echoed()).length;
        const form = (action: string) =>
            `<form id="f" method="post" action="${action}"><input name="m" value="forged"></form><script>document.getElementById("f").submit()</script>`;
        const pages = {
            // Same site (only the port differs): SameSite does not apply; the proxy's origin check does.
            "http://127.0.0.1:1/forge": form(`${out.alice.endpoints.echo}forged`),
            "http://attacker.test/forge": form(`${out.alice.endpoints.echo}forged`),
            "http://attacker.test/terminal": `<script>location = ${JSON.stringify(out.alice.endpoints.terminal)}</script>`,
        };
        await inBrowser(pages, async (page) => {
            for (const url of ["http://127.0.0.1:1/forge", "http://attacker.test/forge"]) {
                await page.goto(url);
                await page.waitForURL(/\/echo\/forged$/);
            }
            expect((await echoed()).slice(before).filter((s) => s.body.includes("forged"))).toEqual([]);
            await page.goto("http://attacker.test/terminal");
            await page.waitForURL(/\/compute-instance\/new-terminal$/);
            await page.getByRole("button", { name: "Open a new terminal" }).waitFor();
            expect(await terminals()).toEqual([]);
            // The user's own click on that page's button: a terminal.
            await page.getByRole("button", { name: "Open a new terminal" }).click();
            await page.waitForURL(/\/terminals\/\d+$/);
            expect(await terminals()).toHaveLength(1);
            // The endpoint opened by the user (typed, or from the stack's outputs): a terminal at once.
            await page.goto(out.alice.endpoints.terminal);
            await page.waitForURL(/\/terminals\/\d+$/);
            expect(await terminals()).toHaveLength(2);
        });
    });
});

describe("Jupyter's credentials and applications", () => {
    test("an application sees none of Jupyter's credentials, neither the caller's nor the readiness probe's; its own cookies pass", async () => {
        const { cookie } = await login();
        const res = await fetch(`${out.alice.endpoints.echo}page?token=${token}&keep=a%20b`, {
            headers: {
                Authorization: `token ${token}`,
                Cookie: `app=1; ${cookie}; username-127-0-0-1-1=another-instance`,
                Referer: `${out.alice.endpoints.echo}?token=${token}`,
            },
        });
        expect(res.status).toBe(200);
        const seen = (await res.json()) as Seen;
        expect(seen.path).toBe("/page?keep=a%20b");
        expect(header(seen, "Cookie")).toBe("app=1");
        expect(header(seen, "Authorization")).toBeUndefined();
        expect(header(seen, "Referer")).toBeUndefined();
        // Basic authentication is the application's own (Jupyter knows the user by the cookie).
        const basic = (await (
            await fetch(`${out.alice.endpoints.echo}basic`, {
                headers: { Cookie: cookie, Authorization: "Basic YXBwOnB3" },
            })
        ).json()) as Seen;
        expect(header(basic, "Authorization")).toBe("Basic YXBwOnB3");
        // Everything the application was ever sent: `up` probed it (with the token) before returning.
        const all = await echoed();
        expect(
            all.some((s) => s.method === "GET" && s.path === "/" && header(s, "X-Forwarded-Prefix") === "/echo"),
        ).toBe(true);
        expect(JSON.stringify(all)).not.toContain(token);
        expect(JSON.stringify(all)).not.toMatch(/username-/);
    });

    test("a WebSocket handshake through the proxy carries none of them either", async () => {
        const before = (await echoed()).length;
        const u = new URL(`${out.alice.endpoints.echo}socket?token=${token}`);
        await new Promise<void>((resolve) => {
            const req = http.request({
                host: u.hostname,
                port: u.port,
                path: `${u.pathname}${u.search}`,
                headers: {
                    Connection: "Upgrade",
                    Upgrade: "websocket",
                    "Sec-WebSocket-Version": "13",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                    Authorization: `token ${token}`,
                },
            });
            // The echo application cannot complete a handshake: whatever comes back ends it.
            req.on("upgrade", (_res, socket) => {
                socket.destroy();
                resolve();
            });
            req.on("response", (res) => {
                res.resume();
                resolve();
            });
            req.on("error", () => resolve());
            req.end();
        });
        const handshake = await waitFor("the handshake to reach the application", 30_000, async () =>
            (await echoed()).slice(before).find((s) => header(s, "Upgrade") === "websocket"),
        );
        expect(handshake.path).toBe("/socket");
        expect(JSON.stringify(handshake)).not.toContain(token);
    });
});

describe("idle shutdown", () => {
    test("a terminal left open does not keep the instance alive; the quiet period starts at the last use of an application", async () => {
        const o = out.idler;
        const origin = new URL(o.endpoints.jupyter).origin;
        const auth = { Authorization: `token ${o.token}` };
        expect((await fetch(`${origin}/api/terminals`, { method: "POST", headers: auth })).status).toBe(200);
        await waitFor("the terminal's prompt", 30_000, async () => (await terminals("idler")).length === 1);
        const used = Date.now();
        expect((await fetch(`${o.endpoints.echo}work`, { headers: auth })).status).toBe(200);
        const extension = (await (
            await fetch(`${origin}/api/compute-instance/connections`, { headers: auth })
        ).json()) as { applications_last_activity: string };
        expect(Date.parse(extension.applications_last_activity)).toBeGreaterThanOrEqual(used);
        // A request from another site's page is not use.
        await fetch(`${o.endpoints.echo}elsewhere`, { headers: { ...auth, "Sec-Fetch-Site": "cross-site" } });
        const after = (await (await fetch(`${origin}/api/compute-instance/connections`, { headers: auth })).json()) as {
            applications_last_activity: string;
        };
        expect(after.applications_last_activity).toBe(extension.applications_last_activity);
        await t.setConfig({
            workspaceName: ws,
            agentCheckInterval: "2s",
            instances: { ...instances, idler: { ...instances.idler, idleShutdown: { after: "1m" } } },
        });
        await t.stack.up(collect(t));
        // The terminal stays open: with it, the instance used to be kept up for good.
        await waitFor(
            "idler to be stopped for being idle",
            180_000,
            async () => !(await docker.getContainer(`ci-${ws}-idler`).inspect()).State.Running,
        );
        const stop = await waitFor("the agent to log the outcome of the stop", 30_000, async () =>
            (await agentLog(ws)).find((e) => e.instance === "idler" && e.operation === "Stop" && e.status),
        );
        expect(stop).toMatchObject({ trigger: "IdleShutdown", status: "Succeeded" });
        const since = /since (\S+)$/.exec(String(stop.reason))?.[1] ?? "";
        expect(Date.parse(since)).toBeGreaterThanOrEqual(used);
        expect(await docker.getContainer(`ci-${ws}-alice`).inspect()).toMatchObject({ State: { Running: true } });
    });
});
