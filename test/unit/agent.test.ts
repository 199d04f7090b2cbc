import { extensionActivity } from "../../agent/activity";
import { checkOnce, policiesByInstance, restoreNetworkRules } from "../../agent/agent";
import { Activity, dueScheduleAction, idleVerdict } from "../../agent/decide";
import type { AgentStore, Backend, InstanceView, RuntimeState } from "../../provider/backends/backend";
import type { ScheduleSpec } from "../../provider/model/schedule";

const at = (iso: string) => new Date(iso);
const stop18: ScheduleSpec = { name: "evening", action: "stop", cron: "0 18 * * *", timeZone: "UTC", enabled: true };
const start8: ScheduleSpec = { name: "morning", action: "start", cron: "0 8 * * *", timeZone: "UTC", enabled: true };

describe("schedule decisions", () => {
    test("a schedule seen for the first time never acts on its past firings", () => {
        const r = dueScheduleAction("alice", [stop18], {}, at("2026-11-27T18:30:00Z"));
        expect(r.decision).toBeUndefined();
        expect(r.handledUntil).toEqual({ "alice/evening": "2026-11-27T18:30:00.000Z" });
    });

    test("a firing between two checks acts once; the next check does nothing", () => {
        const first = dueScheduleAction(
            "alice",
            [stop18],
            { "alice/evening": "2026-11-27T17:59:58.000Z" },
            at("2026-11-27T18:00:00.500Z"),
        );
        expect(first.decision).toEqual({ action: "stop", schedule: "evening", firedAt: at("2026-11-27T18:00:00Z") });
        const second = dueScheduleAction("alice", [stop18], first.handledUntil, at("2026-11-27T18:00:02.500Z"));
        expect(second.decision).toBeUndefined();
    });

    test("firings missed while the agent was down are caught up once, and the latest decides", () => {
        // Down from Thursday 07:00 to Friday 09:00: stops at 18:00 and starts at 08:00 were missed.
        const marks = { "alice/evening": "2026-11-26T07:00:00.000Z", "alice/morning": "2026-11-26T07:00:00.000Z" };
        const r = dueScheduleAction("alice", [stop18, start8], marks, at("2026-11-27T09:00:00Z"));
        expect(r.decision).toEqual({ action: "start", schedule: "morning", firedAt: at("2026-11-27T08:00:00Z") });
        expect(
            dueScheduleAction("alice", [stop18, start8], r.handledUntil, at("2026-11-27T09:00:30Z")).decision,
        ).toBeUndefined();
        // Down over 18:00 only: the stop.
        const r2 = dueScheduleAction(
            "alice",
            [stop18, start8],
            { "alice/evening": "2026-11-27T17:00:00.000Z", "alice/morning": "2026-11-27T17:00:00.000Z" },
            at("2026-11-27T19:00:00Z"),
        );
        expect(r2.decision?.action).toBe("stop");
    });

    test("disabled schedules never fire and lose their marks", () => {
        const r = dueScheduleAction(
            "alice",
            [{ ...stop18, enabled: false }],
            { "alice/evening": "2026-11-27T17:00:00.000Z" },
            at("2026-11-27T19:00:00Z"),
        );
        expect(r).toEqual({ decision: undefined, handledUntil: {} });
    });

    test("time zones: 18:00 in Madrid is 17:00 UTC in winter", () => {
        const madrid = { ...stop18, timeZone: "Europe/Madrid" };
        expect(
            dueScheduleAction(
                "alice",
                [madrid],
                { "alice/evening": "2026-11-27T16:59:00.000Z" },
                at("2026-11-27T17:00:01Z"),
            ).decision?.firedAt,
        ).toEqual(at("2026-11-27T17:00:00Z"));
    });
});

describe("idle verdicts", () => {
    const started = at("2026-11-27T10:00:00Z");
    const quietKernel = { execution_state: "idle", last_activity: "2026-11-27T10:05:00Z" };

    test("an open idle kernel does not keep the instance alive; idleness counts from its last activity", () => {
        expect(
            idleVerdict(1800, { kernels: [quietKernel], terminals: [] }, started, at("2026-11-27T10:34:59Z")),
        ).toMatchObject({ idle: false });
        expect(
            idleVerdict(1800, { kernels: [quietKernel], terminals: [] }, started, at("2026-11-27T10:35:00Z")),
        ).toMatchObject({
            idle: true,
            quietSince: "2026-11-27T10:05:00.000Z",
        });
    });

    test("a busy kernel or an SSH/editor connection keep it alive however long ago anything happened", () => {
        const late = at("2026-11-28T10:00:00Z");
        expect(
            idleVerdict(
                60,
                { kernels: [{ execution_state: "busy", last_activity: "2026-11-27T10:00:00Z" }], terminals: [] },
                started,
                late,
            ),
        ).toEqual({ idle: false, reason: "1 kernel(s) busy" });
        expect(idleVerdict(60, { kernels: [], terminals: [], connections: 2 }, started, late)).toEqual({
            idle: false,
            reason: "2 SSH/editor connection(s) open",
        });
    });

    test("a terminal left open with nothing happening does not keep the instance alive; its input and output do", () => {
        // Any web page could open one, and one left open would have kept the instance up for good.
        const leftOpen = { name: "1", last_activity: "2026-11-27T10:05:00Z" };
        expect(
            idleVerdict(1800, { kernels: [], terminals: [leftOpen] }, started, at("2026-11-28T10:00:00Z")),
        ).toMatchObject({
            idle: true,
            quietSince: "2026-11-27T10:05:00.000Z",
        });
        // Typed into (or printing) a minute ago: a quiet period of a minute, not idle.
        const typedIn = { name: "2", last_activity: "2026-11-28T09:59:00Z" };
        expect(
            idleVerdict(1800, { kernels: [], terminals: [leftOpen, typedIn] }, started, at("2026-11-28T10:00:00Z")),
        ).toEqual({
            idle: false,
            quietSince: "2026-11-28T09:59:00.000Z",
            reason: "quiet for 60s of 1800s",
        });
    });

    test("someone working only in an application behind the proxy keeps the instance alive; its last use starts the quiet period", () => {
        const activity = { kernels: [], terminals: [], applicationsLastActivity: "2026-11-27T11:00:00Z" };
        expect(idleVerdict(1800, activity, started, at("2026-11-27T11:29:59Z"))).toMatchObject({
            idle: false,
            quietSince: "2026-11-27T11:00:00.000Z",
        });
        expect(idleVerdict(1800, activity, started, at("2026-11-27T11:30:00Z"))).toMatchObject({
            idle: true,
            quietSince: "2026-11-27T11:00:00.000Z",
        });
    });

    test('a kernel no client ever connected to reports "starting" for good: it counts from its start, not as busy', () => {
        const neverConnected = { execution_state: "starting", last_activity: "2026-11-27T10:00:05Z" };
        expect(
            idleVerdict(60, { kernels: [neverConnected], terminals: [] }, started, at("2026-11-27T10:01:04Z")).idle,
        ).toBe(false);
        expect(
            idleVerdict(60, { kernels: [neverConnected], terminals: [] }, started, at("2026-11-27T10:01:05Z")).idle,
        ).toBe(true);
    });

    test("the last time the agent saw the instance in use counts as activity", () => {
        expect(
            idleVerdict(
                60,
                { kernels: [], terminals: [] },
                started,
                at("2026-11-27T12:00:59Z"),
                at("2026-11-27T12:00:00Z"),
            ).idle,
        ).toBe(false);
        expect(
            idleVerdict(
                60,
                { kernels: [], terminals: [] },
                started,
                at("2026-11-27T12:01:00Z"),
                at("2026-11-27T12:00:00Z"),
            ).idle,
        ).toBe(true);
    });

    test("a fresh start resets the clock: an instance started a minute ago is not idle for 30 minutes", () => {
        expect(
            idleVerdict(1800, { kernels: [], terminals: [] }, at("2026-11-27T12:00:00Z"), at("2026-11-27T12:01:00Z"))
                .idle,
        ).toBe(false);
    });
});

describe("what the image's extension adds", () => {
    test("SSH sessions and editors are connections; the applications' last use is a time; anything else is ignored", () => {
        expect(
            extensionActivity({ ssh: 1, editors: 1, applications_last_activity: "2026-11-27T11:00:00.000Z" }),
        ).toEqual({ connections: 2, applicationsLastActivity: "2026-11-27T11:00:00.000Z" });
        expect(extensionActivity({ ssh: 0, editors: 0, applications_last_activity: null })).toEqual({ connections: 0 });
        // An image without the extension answers 404, read as an empty list.
        expect(extensionActivity([])).toEqual({});
        expect(extensionActivity({ ssh: "many", editors: -3, applications_last_activity: "yesterday" })).toEqual({
            connections: 0,
        });
    });
});

describe("policies from the store", () => {
    test("schedules and idle periods by instance; tombstones and bad entries are skipped, with a warning for the latter", () => {
        const log: Record<string, unknown>[] = [];
        const p = policiesByInstance(
            {
                "schedule.alice.0": { action: "stop", cron: "0 18 * * *", timeZone: "UTC", enabled: true },
                "schedule.alice.1": { action: "start", cron: "not a cron", timeZone: "UTC", enabled: true },
                "idle.alice": { afterSeconds: 1800 },
                "idle.bob": null,
                "operation.alice": { operation: "Stop" },
            },
            (e) => log.push(e),
        );
        expect([...p.entries()]).toEqual([
            ["alice", { schedules: [{ ...stop18, name: "0" }], idleAfterSeconds: 1800 }],
        ]);
        expect(log).toEqual([
            expect.objectContaining({
                level: "warning",
                instance: "alice",
                message: expect.stringMatching(/ignoring schedule "1"/),
            }),
        ]);
    });
});

describe("one check", () => {
    // The backend and store here are in-memory stand-ins for the logic of one check; the real
    // agent against the real engine and cluster is tested in test/e2e/schedules.test.ts.
    function world(
        views: InstanceView[],
        policies: Record<string, unknown>,
        activity: Record<string, Activity | Error>,
    ) {
        const calls: string[] = [];
        let memory: unknown;
        const store: AgentStore = {
            writePolicy: async () => undefined,
            readPolicy: async () => undefined,
            readPolicies: async () => policies,
            readMemory: async () => memory,
            writeMemory: async (m) => {
                memory = JSON.parse(JSON.stringify(m));
            },
        };
        const state = (id: string, status: RuntimeState["status"]) => ({ id, status }) as RuntimeState;
        const backend = {
            listInstances: async () => views,
            stopRuntime: async (id: string) => {
                calls.push(`stop ${id}`);
                return state(id, "Stopped");
            },
            startRuntime: async (id: string) => {
                calls.push(`start ${id}`);
                if (id === "broken") throw new Error("would not start");
                return state(id, "Running");
            },
        } as unknown as Backend;
        const log: Record<string, unknown>[] = [];
        return {
            calls,
            log,
            memory: () => memory,
            ctx: (now: string) => ({
                workspace: "ws",
                backend,
                store,
                log: (e: Record<string, unknown>) => log.push(e),
                startTimeoutSeconds: 60,
                now: () => at(now),
                activity: async (v: InstanceView) => {
                    const a = activity[v.instance];
                    if (a instanceof Error) throw a;
                    return a ?? { kernels: [], terminals: [] };
                },
            }),
        };
    }
    const view = (instance: string, status: InstanceView["status"], startedAt?: string): InstanceView => ({
        instance,
        owner: "p/s",
        id: instance,
        status,
        ...(startedAt ? { startedAt } : {}),
    });

    test("an instance whose activity cannot be read is logged and skipped; the others are still handled", async () => {
        const w = world(
            [view("unreadable", "Running", "2026-11-27T09:00:00Z"), view("idle", "Running", "2026-11-27T09:00:00Z")],
            { "idle.unreadable": { afterSeconds: 60 }, "idle.idle": { afterSeconds: 60 } },
            { unreadable: new Error("connection refused") },
        );
        await checkOnce(w.ctx("2026-11-27T10:00:00Z"));
        expect(w.calls).toEqual(["stop idle"]);
        expect(w.log).toContainEqual(
            expect.objectContaining({
                level: "error",
                instance: "unreadable",
                message: "skipped this check: connection refused",
            }),
        );
        expect(w.memory()).toMatchObject({
            lastOperation: { idle: { operation: "Stop", trigger: "IdleShutdown", status: "Succeeded" } },
        });
    });

    test("a failed start is recorded as Failed and not retried at every check", async () => {
        const policies = {
            "schedule.broken.m": { action: "start", cron: "0 8 * * *", timeZone: "UTC", enabled: true },
        };
        const w = world([view("broken", "Stopped")], policies, {});
        await checkOnce(w.ctx("2026-11-27T07:59:59Z"));
        await checkOnce(w.ctx("2026-11-27T08:00:01Z"));
        await checkOnce(w.ctx("2026-11-27T08:00:03Z"));
        expect(w.calls).toEqual(["start broken"]);
        expect(w.memory()).toMatchObject({
            lastOperation: {
                broken: { operation: "Start", trigger: "Schedule", status: "Failed", error: "would not start" },
            },
        });
    });

    test("the test clock's record moves the time the agent acts at: a schedule's minute is reached without waiting for it", async () => {
        const policies: Record<string, unknown> = {
            "schedule.alice.m": { action: "stop", cron: "0 8 * * *", timeZone: "UTC", enabled: true },
        };
        const w = world([view("alice", "Running", "2026-11-27T07:00:00Z")], policies, {});
        // The machine's clock, not the context's: the record is what moves it.
        const machine = (c: ReturnType<typeof w.ctx>) => ({
            ...c,
            now: undefined,
            problems: new Map<string, string>(),
        });
        const offsetTo = (iso: string) => (Date.parse(iso) - Date.now()) / 1000;
        const ctx = machine(w.ctx("2000-01-01T00:00:00Z"));
        policies["test.clock"] = { offsetSeconds: offsetTo("2030-06-01T07:59:00Z") };
        await checkOnce(ctx);
        expect(w.calls).toEqual([]);
        policies["test.clock"] = { offsetSeconds: offsetTo("2030-06-01T08:00:30Z") };
        await checkOnce(ctx);
        expect(w.calls).toEqual(["stop alice"]);
        expect(w.memory()).toMatchObject({
            lastOperation: { alice: { operation: "Stop", trigger: "Schedule" } },
        });
        // Said in the log once per offset.
        expect(w.log.filter((e) => String(e.message).startsWith("test clock:"))).toHaveLength(2);
    });

    test("an operation made by hand with the CLI joins the log and the last operation, once", async () => {
        const byHand = {
            operation: "Stop",
            trigger: "User",
            at: "2026-11-27T09:00:00.000Z",
            reason: "compute-instance CLI",
            status: "Succeeded",
        };
        const w = world([view("alice", "Stopped")], { "operation.alice": byHand }, {});
        await checkOnce(w.ctx("2026-11-27T09:00:02Z"));
        await checkOnce(w.ctx("2026-11-27T09:00:04Z"));
        expect(w.log.filter((e) => e.trigger === "User")).toEqual([
            expect.objectContaining({ instance: "alice", operation: "Stop", status: "Succeeded" }),
        ]);
        expect(w.memory()).toMatchObject({ lastOperation: { alice: byHand } });
        expect(w.calls).toEqual([]);
    });

    test("use that ended (an SSH session closed) starts the quiet period then, not at the last kernel activity", async () => {
        const activity: Record<string, Activity> = { alice: { kernels: [], terminals: [], connections: 1 } };
        const w = world(
            [view("alice", "Running", "2026-11-27T09:00:00Z")],
            { "idle.alice": { afterSeconds: 600 } },
            activity,
        );
        await checkOnce(w.ctx("2026-11-27T10:00:00Z"));
        activity.alice = { kernels: [], terminals: [] };
        await checkOnce(w.ctx("2026-11-27T10:09:59Z"));
        expect(w.calls).toEqual([]);
        await checkOnce(w.ctx("2026-11-27T10:10:00Z"));
        expect(w.calls).toEqual(["stop alice"]);
    });

    test("a schedule whose instance is already in the wanted state does nothing; stopped instances are not read for idleness", async () => {
        const policies = {
            "schedule.off.e": { action: "stop", cron: "0 18 * * *", timeZone: "UTC", enabled: true },
            "idle.off": { afterSeconds: 60 },
        };
        const w = world([view("off", "Stopped")], policies, { off: new Error("must not be read") });
        await checkOnce(w.ctx("2026-11-27T17:59:59Z"));
        await checkOnce(w.ctx("2026-11-27T18:00:01Z"));
        expect(w.calls).toEqual([]);
        expect(w.log.filter((e) => e.level === "error")).toEqual([]);
        expect(w.log).toContainEqual(
            expect.objectContaining({ instance: "off", message: expect.stringMatching(/^already stopped/) }),
        );
    });
});

describe("restoring network rules after the host lost them", () => {
    test("what is missing is applied again and logged; what is intact is left alone", async () => {
        const calls: string[] = [];
        const backend = {
            readEgress: async () => "none",
            applyEgress: async () => {
                calls.push("egress");
                return "abc";
            },
            inboundRulesIntact: async (s: { instance: string }) => s.instance === "bob",
            applyInboundRules: async (s: { instance: string }) => {
                calls.push(`inbound ${s.instance}`);
            },
        } as unknown as Backend;
        const log: Record<string, unknown>[] = [];
        const policies = {
            "network.egress": { workspace: "ws", egress: "deny", signature: "abc" },
            "network.inbound.alice": { instance: "alice" },
            "network.inbound.bob": { instance: "bob" },
            "network.inbound.gone": null,
            "idle.alice": { afterSeconds: 60 },
        };
        const ctx = {
            workspace: "ws",
            backend,
            store: {} as AgentStore,
            log: (e: Record<string, unknown>) => log.push(e),
            startTimeoutSeconds: 60,
        };
        expect(await restoreNetworkRules(ctx, policies)).toBe(2);
        expect(calls).toEqual(["egress", "inbound alice"]);
        expect(log.map((l) => l.message)).toEqual([
            "network rules network.egress were missing on the host (a reboot?); applied them again",
            "network rules network.inbound.alice were missing on the host (a reboot?); applied them again",
        ]);
    });
});
