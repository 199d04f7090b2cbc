import {
    MAX_SCHEDULES,
    conflictingPairs,
    cronProblem,
    describeFirings,
    dstGap,
    idleShutdownSchema,
    latestFiring,
    localTime,
    schedulesSchema,
    utcOffsetMinutes,
} from "../../provider/model/schedule";

const NOW = new Date("2026-11-27T10:00:00Z"); // a Friday
const issues = (v: unknown) => {
    const r = schedulesSchema.safeParse(v);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("schedule validation", () => {
    test("defaults: time zone UTC, enabled, named by position", () => {
        expect(
            schedulesSchema.parse([
                { action: "stop", cron: "0 18 * * 1-5" },
                { name: "morning", action: "start", cron: "0 8 * * 1-5" },
            ]),
        ).toEqual([
            { name: "0", action: "stop", cron: "0 18 * * 1-5", timeZone: "UTC", enabled: true },
            { name: "morning", action: "start", cron: "0 8 * * 1-5", timeZone: "UTC", enabled: true },
        ]);
    });

    test("an invalid cron names the field and says what a cron looks like", () => {
        expect(issues([{ action: "stop", cron: "0 18 * *" }])).toEqual([
            expect.stringMatching(
                /^0\.cron: "0 18 \* \*" is not a cron expression: write five fields "minute hour day-of-month month day-of-week"/,
            ),
        ]);
        expect(issues([{ action: "stop", cron: "61 18 * * *" }])).toEqual([
            expect.stringMatching(/^0\.cron: .*Invalid value for minute: 61/),
        ]);
        // Seconds and years are croner extensions Azure does not have; minutes are the unit here.
        expect(cronProblem("0 0 18 * * *")).toMatch(/five fields/);
        expect(cronProblem("*/15 9-17 * * MON-FRI")).toBeUndefined();
    });

    test("an unknown time zone, an unknown action and a fifth field of nonsense are refused by name", () => {
        expect(issues([{ action: "stop", cron: "0 18 * * *", timeZone: "Mars/Olympus" }])).toEqual([
            '0.timeZone: is not an IANA time zone; write e.g. "UTC", "Europe/Madrid" or "America/New_York"',
        ]);
        expect(issues([{ action: "pause", cron: "0 18 * * *" }])).toEqual(["0.action: unknown action"]);
        expect(issues([{ action: "stop", cron: "0 18 * * *", when: "now" }])).toEqual([expect.stringMatching(/when/)]);
    });

    test(`more than ${MAX_SCHEDULES} schedules are refused`, () => {
        const many = Array.from({ length: MAX_SCHEDULES + 1 }, (_, i) => ({ action: "stop", cron: `${i} 18 * * *` }));
        expect(issues(many)).toEqual([`: at most ${MAX_SCHEDULES} schedules per instance`]);
        expect(issues(many.slice(0, MAX_SCHEDULES))).toEqual([]);
    });

    test("a start and a stop at the same minute are refused, naming both and the minute", () => {
        const found = issues([
            { action: "start", cron: "0 8 * * 1-5" },
            { action: "stop", cron: "0 18 * * *" },
            { action: "stop", cron: "0 8 * * 1" },
        ]);
        expect(found).toEqual([
            expect.stringMatching(
                /^2\.cron: starts and stops the instance at the same minute as schedules\[0\] \(both fire at \d{4}-\d\d-\d\dT08:00Z\)/,
            ),
        ]);
        // Same minute in different zones is the same instant only when the offsets agree.
        expect(
            issues([
                { action: "start", cron: "0 9 * * *", timeZone: "Europe/Madrid" },
                { action: "stop", cron: "0 8 * * *" },
            ]),
        ).toHaveLength(1);
        expect(
            issues([
                { action: "start", cron: "0 9 * * *", timeZone: "Asia/Tokyo" },
                { action: "stop", cron: "0 8 * * *" },
            ]),
        ).toEqual([]);
        // Disabled schedules never fire, and two stops never conflict.
        expect(
            issues([
                { action: "start", cron: "0 8 * * *", enabled: false },
                { action: "stop", cron: "0 8 * * *" },
            ]),
        ).toEqual([]);
        expect(
            issues([
                { action: "stop", cron: "0 8 * * *" },
                { action: "stop", cron: "0 8 * * *" },
            ]),
        ).toEqual([]);
    });

    test("conflicts that happen once in four years (29 February) are found, fast even against every-minute schedules", () => {
        const t0 = Date.now();
        expect(
            conflictingPairs(
                [
                    { name: "a", action: "start", cron: "* * * * *", timeZone: "UTC", enabled: true },
                    { name: "b", action: "stop", cron: "0 0 29 2 *", timeZone: "UTC", enabled: true },
                ],
                NOW,
            ),
        ).toEqual([[0, 1]]);
        expect(Date.now() - t0).toBeLessThan(5000);
    });

    test("two schedules with one name are refused", () => {
        expect(
            issues([
                { name: "x", action: "stop", cron: "0 18 * * *" },
                { name: "x", action: "start", cron: "0 8 * * *" },
            ]),
        ).toEqual(['1.name: "x" names two schedules']);
    });

    test("idle shutdown: durations as text or ISO 8601, at least one minute", () => {
        expect(idleShutdownSchema.parse({ after: "30m" })).toEqual({ after: 1800 });
        expect(idleShutdownSchema.parse({ after: "PT1H" })).toEqual({ after: 3600 });
        const r = idleShutdownSchema.safeParse({ after: "30s" });
        expect(r.success ? "" : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([
            "after: must be at least 60s, got 30s",
        ]);
        expect(idleShutdownSchema.safeParse({ after: "soon" }).success).toBe(false);
    });
});

describe("firings", () => {
    test("next firings in UTC and in the schedule's own time", () => {
        expect(describeFirings({ cron: "0 18 * * 1-5", timeZone: "Europe/Madrid" }, 2, NOW)).toEqual([
            { utc: "2026-11-27T17:00:00.000Z", local: "2026-11-27 18:00 (Europe/Madrid)" },
            { utc: "2026-11-30T17:00:00.000Z", local: "2026-11-30 18:00 (Europe/Madrid)" },
        ]);
    });

    test("the latest firing counts a firing exactly now as fired", () => {
        const s = { cron: "0 10 * * *", timeZone: "UTC" };
        expect(latestFiring(s, NOW)?.toISOString()).toBe("2026-11-27T10:00:00.000Z");
        expect(latestFiring(s, new Date(NOW.getTime() - 1))?.toISOString()).toBe("2026-11-26T10:00:00.000Z");
    });

    test("a time in a DST gap is found, with when it fires instead; times outside gaps and zones without DST are not", () => {
        expect(dstGap({ cron: "30 2 * * *", timeZone: "Europe/Madrid" }, NOW)).toEqual({
            skipped: "2027-03-28 02:30",
            firesAt: { utc: "2027-03-28T01:00:00.000Z", local: "2027-03-28 03:00 (Europe/Madrid)" },
        });
        expect(dstGap({ cron: "30 2 * * 0", timeZone: "America/New_York" }, NOW)?.skipped).toBe("2027-03-14 02:30");
        // From any instant, not only whole minutes (found by the e2e preview: "now" has seconds).
        expect(
            dstGap({ cron: "30 2 * * *", timeZone: "Europe/Madrid" }, new Date("2026-11-27T10:00:17.345Z"))?.skipped,
        ).toBe("2027-03-28 02:30");
        expect(dstGap({ cron: "0 18 * * *", timeZone: "Europe/Madrid" }, NOW)).toBeUndefined();
        expect(dstGap({ cron: "30 2 * * *", timeZone: "UTC" }, NOW)).toBeUndefined();
        expect(dstGap({ cron: "30 2 * * *", timeZone: "Asia/Kolkata" }, NOW)).toBeUndefined();
    });

    test("offsets and local times", () => {
        expect(utcOffsetMinutes(NOW, "Europe/Madrid")).toBe(60);
        expect(utcOffsetMinutes(new Date("2026-07-01T00:00:00Z"), "Europe/Madrid")).toBe(120);
        expect(utcOffsetMinutes(NOW, "Asia/Kolkata")).toBe(330);
        expect(localTime(NOW, "America/New_York")).toBe("2026-11-27 05:00 (America/New_York)");
    });
});
