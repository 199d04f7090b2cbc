import { checkOnce } from "../../agent/agent";
import type { AgentStore, Backend } from "../../provider/backends/backend";
import {
    RECORD_FORMATS,
    RecordFormat,
    RecordKey,
    agentRecords,
    decodeKey,
    decodeKeyOf,
    encodeKey,
    formatVersion,
    parseStoredJson,
    readMemory,
    readRecord,
    readRecords,
    storedValue,
} from "../../provider/model/agentProtocol";
import { z } from "zod";

/**
 * A store that keeps text, as the backends do: JSON on the way in, parseStoredJson on the way
 * out. `tombstones` removes as Docker's does (it writes `null`, the listing leaves it out);
 * otherwise the key goes, as on Kubernetes.
 */
function textStore(initial: Record<string, string> = {}, tombstones = false) {
    const policies = new Map(Object.entries(initial));
    let memory: string | undefined;
    const store: AgentStore = {
        writePolicy: async (key, value) => {
            if (value === undefined && !tombstones) policies.delete(key);
            else policies.set(key, JSON.stringify(value === undefined ? null : value));
        },
        readPolicy: async (key) => parseStoredJson(policies.get(key)) ?? undefined,
        readPolicies: async () => {
            const out: Record<string, unknown> = {};
            for (const [k, text] of policies) {
                const v = parseStoredJson(text);
                if (v !== null && v !== undefined) out[k] = v;
            }
            return out;
        },
        readMemory: async () => parseStoredJson(memory),
        writeMemory: async (m) => {
            memory = JSON.stringify(m);
        },
    };
    return {
        store,
        policies,
        setMemory: (text: string) => (memory = text),
        memory: () => memory,
    };
}

// Records exactly as the release before this protocol writes them (its code paths at commit
// f12b605: the Schedule and IdleShutdown resources' values, the CLI's operation, the NetworkRule
// resource's copies, the Quota resource's record, the Docker backend's labels, the agent's
// memory), as the store holds them: the text of a file on Docker, of a ConfigMap key on Kubernetes.
const TODAY = {
    "schedule.alice.evening": '{"action":"stop","cron":"0 18 * * 1-5","timeZone":"Europe/Madrid","enabled":true}',
    "schedule.alice.0": '{"action":"start","cron":"0 8 * * *","timeZone":"UTC","enabled":false}',
    "idle.bob": '{"afterSeconds":1800}',
    "operation.carol":
        '{"operation":"Restart","trigger":"User","at":"2026-11-27T09:00:00.000Z","reason":"compute-instance CLI","status":"Succeeded"}',
    "network.egress":
        '{"workspace":"team","owner":"proj/dev","network":"ci-team","egress":{"allow":["10.0.0.0/8"]},"image":"compute-instance-agent:0123456789ab","enginePorts":[2376],"signature":"9f2c1e"}',
    "network.inbound.alice":
        '{"workspace":"team","owner":"proj/dev","instance":"alice","network":"ci-team","applications":["jupyterlab","jupyter","terminal"],"ssh":{"publicKey":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB alice@laptop","port":2222},"networkRules":{"publicBind":false,"inbound":[{"service":"jupyter","from":["10.0.0.0/8"]},{"service":"ssh","from":["192.168.1.0/24"]}]},"ports":{"jupyter":49153,"ssh":2222},"firewallImage":"compute-instance-agent:0123456789ab"}',
    quota: '{"cores":8,"gpus":1,"owner":"proj/dev"}',
    "labels.alice": '{"team":"vision","cost-center":"cc-1234"}',
};
const TODAY_MEMORY =
    '{"handledUntil":{"alice/evening":"2026-11-27T18:00:30.123Z","alice/0":"2026-11-27T18:00:30.123Z"},"lastOperation":{"alice":{"operation":"Stop","trigger":"Schedule","at":"2026-11-27T18:00:01.456Z","reason":"schedule \\"evening\\" fired at 2026-11-27T18:00:00.000Z","status":"Succeeded"},"bob":{"operation":"Start","trigger":"Schedule","at":"2026-11-27T08:00:01.000Z","reason":"schedule \\"0\\" fired at 2026-11-27T08:00:00.000Z","status":"Failed","error":"timed out waiting for JupyterLab"}},"activeAt":{"bob":"2026-11-27T17:59:30.000Z"}}';

const EVERY_KEY: RecordKey[] = [
    { kind: "schedule", instance: "alice", name: "evening" },
    { kind: "schedule", instance: "alice", name: "0" },
    { kind: "idle", instance: "bob" },
    { kind: "operation", instance: "carol" },
    { kind: "egress" },
    { kind: "inbound", instance: "alice" },
    { kind: "quota" },
    { kind: "labels", instance: "alice" },
];

describe("keys", () => {
    test("every kind of key round-trips, and is the key the release before this protocol wrote", () => {
        const texts = EVERY_KEY.map(encodeKey);
        expect(texts).toEqual(Object.keys(TODAY));
        for (const [i, text] of texts.entries()) {
            expect(decodeKey(text)).toEqual(EVERY_KEY[i]);
            expect(encodeKey(decodeKey(text)!)).toBe(text);
        }
    });

    test("keys this release does not know decode to nothing", () => {
        for (const foreign of [
            "",
            "memory",
            "quota.team",
            "schedule.alice",
            "schedule.alice.evening.extra",
            "idle",
            "idle..bob",
            "idle.bob.",
            "idle.b b",
            "labels",
            "network",
            "network.inbound",
            "network.egress.team",
            "network.ingress.alice",
            "snapshot.alice",
            "Schedule.alice.evening",
        ])
            expect(decodeKey(foreign)).toBeUndefined();
    });

    test("a part that would not decode back is refused, not written", () => {
        expect(() => encodeKey({ kind: "idle", instance: "al.ice" })).toThrow(/"al.ice" cannot be part of a key/);
        expect(() => encodeKey({ kind: "schedule", instance: "alice", name: "" })).toThrow(/cannot be part/);
    });

    test("a resource's id decodes only as the kind it is", () => {
        expect(decodeKeyOf("idle", "idle.bob")).toEqual({ kind: "idle", instance: "bob" });
        expect(decodeKeyOf("schedule", "idle.bob")).toBeUndefined();
    });
});

describe("records as the release before this protocol wrote them", () => {
    test("every record reads, typed, with the kind of its key", async () => {
        const { store } = textStore(TODAY);
        const all = await agentRecords(store).readAll();
        expect(all.problems).toEqual([]);
        expect(all.records).toEqual([
            {
                kind: "schedule",
                key: EVERY_KEY[0],
                value: { action: "stop", cron: "0 18 * * 1-5", timeZone: "Europe/Madrid", enabled: true },
            },
            {
                kind: "schedule",
                key: EVERY_KEY[1],
                value: { action: "start", cron: "0 8 * * *", timeZone: "UTC", enabled: false },
            },
            { kind: "idle", key: EVERY_KEY[2], value: { afterSeconds: 1800 } },
            ...Object.entries(TODAY)
                .slice(3)
                .map(([, json], i) => ({
                    kind: EVERY_KEY[i + 3].kind,
                    key: EVERY_KEY[i + 3],
                    value: JSON.parse(json),
                })),
        ]);
    });

    test("what is read is what was written, to the order of the fields: the network copies go back to the backend as they were", () => {
        for (const [i, key] of EVERY_KEY.entries()) {
            const text = Object.values(TODAY)[i];
            const r = readRecord(
                RECORD_FORMATS[key.kind] as RecordFormat<unknown>,
                encodeKey(key),
                parseStoredJson(text),
            );
            expect(JSON.stringify(r.value)).toBe(text);
        }
    });

    test("what this release writes is byte for byte what the release before wrote", async () => {
        const { store, policies } = textStore();
        const records = agentRecords(store);
        for (const [i, key] of EVERY_KEY.entries()) {
            await records.write(key, JSON.parse(Object.values(TODAY)[i]));
        }
        expect(Object.fromEntries(policies)).toEqual(TODAY);
    });

    test("the agent's memory reads as it was written, and is written back the same", async () => {
        const { store, setMemory, memory } = textStore();
        setMemory(TODAY_MEMORY);
        const records = agentRecords(store);
        const read = await records.readMemory();
        expect(read.problem).toBeUndefined();
        expect(read.memory).toEqual(JSON.parse(TODAY_MEMORY));
        await records.writeMemory(read.memory);
        expect(memory()).toBe(TODAY_MEMORY);
    });

    test("records of older releases read too: a memory before activeAt, an egress copy before enginePorts", () => {
        // The agent's memory up to the release that added activeAt; an empty one as the first check sees it.
        expect(readMemory({ handledUntil: {}, lastOperation: {} })).toEqual({
            memory: { handledUntil: {}, lastOperation: {} },
        });
        expect(readMemory(undefined)).toEqual({ memory: { handledUntil: {}, lastOperation: {} } });
        const egress = {
            workspace: "team",
            owner: "p/s",
            network: "ci-team",
            egress: "deny",
            image: "img",
            signature: "x",
        };
        expect(readRecord(RECORD_FORMATS.egress, "network.egress", egress)).toEqual({ value: egress });
    });

    test("a removed record (Docker's `null`, a key gone on Kubernetes) is no record, not a problem", async () => {
        for (const tombstones of [true, false]) {
            const { store } = textStore(TODAY, tombstones);
            const records = agentRecords(store);
            await records.write({ kind: "idle", instance: "bob" }, undefined);
            expect(await records.read({ kind: "idle", instance: "bob" })).toEqual({});
            expect((await records.readAll()).records.map((r) => encodeKey(r.key))).not.toContain("idle.bob");
        }
        expect(readRecords({ "idle.bob": null })).toEqual({ records: [], problems: [] });
    });

    test("fields a newer release added without a new version are ignored, not refused", () => {
        expect(readRecord(RECORD_FORMATS.idle, "idle.bob", { afterSeconds: 60, graceSeconds: 30 }).value).toEqual({
            afterSeconds: 60,
        });
    });
});

describe("every record's schema", () => {
    const cases: [RecordKey, unknown, RegExp][] = [
        [EVERY_KEY[0], { action: "sleep", cron: "0 18 * * *", timeZone: "UTC", enabled: true }, /^action: /],
        [EVERY_KEY[0], { action: "stop", cron: "not a cron", timeZone: "UTC", enabled: true }, /cron: .*not a cron/],
        [EVERY_KEY[0], { action: "stop", cron: "0 18 * * *", timeZone: "Mars/Olympus", enabled: true }, /timeZone/],
        [EVERY_KEY[2], { afterSeconds: "30m" }, /^afterSeconds: /],
        [EVERY_KEY[2], { afterSeconds: 0 }, /^afterSeconds: /],
        [EVERY_KEY[3], { operation: "Stop" }, /trigger: .*at: .*reason: .*\(and 1 more\)/],
        [EVERY_KEY[3], { ...JSON.parse(TODAY["operation.carol"]), at: "yesterday" }, /^at: must be an ISO time/],
        [EVERY_KEY[4], { egress: "block" }, /^egress: /],
        [EVERY_KEY[5], { networkRules: "open" }, /^networkRules: /],
        [EVERY_KEY[5], [], /expected object/],
        [EVERY_KEY[6], { cores: -1, owner: "p/s" }, /^cores: must be more than 0/],
        [EVERY_KEY[6], { cores: 8 }, /^owner: /],
        [EVERY_KEY[7], { team: 7 }, /^team: /],
        [EVERY_KEY[7], "vision", /expected record/],
    ];
    test.each(cases)("%j: %j is refused, saying what is wrong", (key, value, reason) => {
        const r = readRecord(RECORD_FORMATS[key.kind] as RecordFormat<unknown>, encodeKey(key), value);
        expect(r.value).toBeUndefined();
        expect(r.problem?.reason).toMatch(reason);
        expect(r.problem?.message).toBe(
            `cannot read "${encodeKey(key)}" in the workspace agent's store: ${r.problem?.reason}`,
        );
    });

    test("the memory's schema refuses a mark that is not a time, and an operation of another shape", () => {
        expect(readMemory({ handledUntil: { "alice/evening": "soon" } }).problem?.reason).toMatch(
            /^handledUntil\.alice\/evening: must be an ISO time/,
        );
        expect(readMemory({ lastOperation: { alice: { operation: "Stop" } } }).problem?.reason).toMatch(
            /^lastOperation\.alice\.trigger: /,
        );
        expect(readMemory([]).memory).toEqual({ handledUntil: {}, lastOperation: {} });
    });

    test("every kind is at version 1: the format before versions, written without a version field", () => {
        for (const format of Object.values(RECORD_FORMATS)) expect(formatVersion(format)).toBe(1);
        expect(storedValue(RECORD_FORMATS.idle, "idle.bob", { afterSeconds: 60 })).toEqual({ afterSeconds: 60 });
    });

    test("a value of the wrong shape is refused where it is written", async () => {
        const { store, policies } = textStore();
        await expect(
            agentRecords(store).write({ kind: "idle", instance: "bob" }, { afterSeconds: -1 }),
        ).rejects.toThrow(/^refusing to write "idle.bob" to the workspace agent's store: afterSeconds: /);
        expect(policies.size).toBe(0);
    });
});

describe("versions", () => {
    test("a record of a newer version is said to be newer, not misread", () => {
        const r = readRecord(RECORD_FORMATS.schedule, "schedule.alice.evening", {
            version: 2,
            action: "stop",
            cron: "0 18 * * *",
            timeZone: "UTC",
            enabled: true,
        });
        expect(r).toEqual({
            problem: {
                key: "schedule.alice.evening",
                reason: "it was written by a newer release (version 2; this release reads version 1)",
                message:
                    'cannot read "schedule.alice.evening" in the workspace agent\'s store: it was written by a newer release (version 2; this release reads version 1)',
            },
        });
        expect(readMemory({ version: 4, handledUntil: {} }).problem?.reason).toMatch(/newer release \(version 4;/);
    });

    test("a version no release writes is refused; a label named version is a label", () => {
        expect(readRecord(RECORD_FORMATS.idle, "idle.bob", { version: 0, afterSeconds: 60 }).problem?.reason).toBe(
            "its version 0 is not one any release writes",
        );
        expect(readRecord(RECORD_FORMATS.idle, "idle.bob", { version: 1.5, afterSeconds: 60 }).problem?.reason).toBe(
            "its version 1.5 is not one any release writes",
        );
        expect(readRecord(RECORD_FORMATS.labels, "labels.alice", { version: "2", team: "nlp" }).value).toEqual({
            version: "2",
            team: "nlp",
        });
    });

    test("an older version is upgraded as it is read; the current one is written with its number", () => {
        // How a kind moves on: version 1 kept minutes, version 2 keeps seconds.
        const v2 = z.object({ seconds: z.number() });
        const format: RecordFormat<z.output<typeof v2>> = {
            readers: [z.object({ minutes: z.number() }).transform((v) => ({ seconds: v.minutes * 60 })), v2],
        };
        expect(formatVersion(format)).toBe(2);
        expect(readRecord(format, "k", { minutes: 30 })).toEqual({ value: { seconds: 1800 } });
        expect(readRecord(format, "k", { version: 2, seconds: 90 })).toEqual({ value: { seconds: 90 } });
        expect(storedValue(format, "k", { seconds: 90 })).toEqual({ seconds: 90, version: 2 });
        expect(readRecord(format, "k", { version: 3, seconds: 90 }).problem?.reason).toBe(
            "it was written by a newer release (version 3; this release reads versions 1 to 2)",
        );
    });
});

describe("what cannot be read is said, not taken for nothing", () => {
    test("text that is not JSON reads as a problem, and shows as an empty object to whoever lists it", async () => {
        const { store } = textStore({ "idle.bob": '{"afterSeconds": 18', "labels.alice": "team=vision" });
        const records = agentRecords(store);
        expect((await records.read({ kind: "idle", instance: "bob" })).problem?.reason).toMatch(/^it is not JSON \(/);
        expect((await records.readAll()).problems.map((p) => [p.key, p.record.kind])).toEqual([
            ["idle.bob", "idle"],
            ["labels.alice", "labels"],
        ]);
        const raw = parseStoredJson("{");
        expect(JSON.stringify(raw)).toBe("{}");
        expect(Object.entries(raw as object)).toEqual([]);
    });

    test("the agent logs an unreadable record and memory once, goes on with the rest, and logs again when it changes", async () => {
        const { store, setMemory, memory } = textStore({
            "schedule.alice.evening": '{"action":"stop","cron":"0 18 * * 1-7","timeZone":"UTC","enabled":true}',
            "idle.bob": '{"afterSeconds":"soon"}',
            "operation.alice": '{"operation":"Stop","trigger":"User"',
            quota: '{"cores":"many"}',
        });
        setMemory('{"handledUntil":{"alice/evening":"2026-11-27T17:00:00.000Z"},"lastOperation":[]}');
        const log: Record<string, unknown>[] = [];
        const calls: string[] = [];
        const backend = {
            listInstances: async () => [
                { instance: "alice", owner: "p/s", id: "alice", status: "Running" },
                { instance: "bob", owner: "p/s", id: "bob", status: "Running", startedAt: "2026-11-27T09:00:00Z" },
            ],
            stopRuntime: async (id: string) => calls.push(`stop ${id}`),
        } as unknown as Backend;
        const ctx = (now: string) => ({
            workspace: "ws",
            backend,
            store,
            log: (e: Record<string, unknown>) => log.push(e),
            startTimeoutSeconds: 60,
            now: () => new Date(now),
            problems,
        });
        const problems = new Map<string, string>();
        await checkOnce(ctx("2026-11-27T17:59:00Z"));
        await checkOnce(ctx("2026-11-27T17:59:30Z"));
        expect(log).toEqual([
            {
                level: "warning",
                instance: "bob",
                message: expect.stringMatching(/^ignoring idle shutdown: afterSeconds: /),
            },
            {
                level: "warning",
                instance: "alice",
                message: expect.stringMatching(/^ignoring the operation recorded by the CLI: it is not JSON/),
            },
            {
                level: "warning",
                message: expect.stringMatching(
                    /^cannot read "memory" in the workspace agent's store: lastOperation: .*; starting from an empty memory/,
                ),
            },
        ]);
        // The readable schedule still acts: seen anew (the memory was lost), then at its firing.
        await checkOnce(ctx("2026-11-27T18:00:01Z"));
        expect(calls).toEqual(["stop alice"]);
        expect(JSON.parse(memory()!).lastOperation.alice).toMatchObject({ operation: "Stop", trigger: "Schedule" });
    });
});
