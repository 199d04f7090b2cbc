/**
 * Schedules and idle shutdown: the rules users write, checked at preview, and the firing times
 * both the preview (outputs) and the workspace agent compute. Pure: no I/O, no clock of its own.
 */
import { Cron } from "croner";
import { z } from "zod";
import { durationSeconds } from "./fields";

export const SCHEDULE_ACTIONS = ["start", "stop"] as const;
export type ScheduleAction = (typeof SCHEDULE_ACTIONS)[number];
/** Azure allows 4 schedules per compute instance; we allow twice that. */
export const MAX_SCHEDULES = 8;
/** Azure's minimum idle time before shutdown is 15 minutes; one minute here, so tests stay short. */
export const MIN_IDLE_SECONDS = 60;
export const DEFAULT_TIME_ZONE = "UTC";

const SCHEDULE_NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

export function isTimeZone(tz: string): boolean {
    try {
        new Intl.DateTimeFormat("en-US", { timeZone: tz });
        return true;
    } catch {
        return false;
    }
}

/** Why a cron expression is refused, or undefined when it is a valid five-field expression. */
export function cronProblem(cron: string): string | undefined {
    const fields = cron.trim().split(/\s+/);
    if (fields.length !== 5 || fields[0] === "") {
        return `"${cron}" is not a cron expression: write five fields "minute hour day-of-month month day-of-week", e.g. "0 18 * * 1-5" (18:00 on weekdays)`;
    }
    try {
        new Cron(cron, { paused: true });
        return undefined;
    } catch (e) {
        return `"${cron}" is not a valid cron expression: ${(e as Error).message.replace(/^CronPattern: /, "")}`;
    }
}

export const scheduleSchema = z.strictObject({
    /** Identity of the schedule among the instance's; default: its position. */
    name: z.string().regex(SCHEDULE_NAME, { message: "must be 1 to 32 lowercase letters, digits and '-'" }).optional(),
    action: z.enum(SCHEDULE_ACTIONS, { message: "unknown action" }),
    cron: z.string({ message: 'must be a cron expression such as "0 18 * * 1-5"' }).superRefine((c, ctx) => {
        const problem = cronProblem(c);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
    timeZone: z
        .string()
        .refine(isTimeZone, {
            message: 'is not an IANA time zone; write e.g. "UTC", "Europe/Madrid" or "America/New_York"',
        })
        .default(DEFAULT_TIME_ZONE),
    enabled: z.boolean({ message: "must be true or false" }).default(true),
});
export type ScheduleInput = z.input<typeof scheduleSchema>;
export type ScheduleSpec = z.output<typeof scheduleSchema> & { name: string };

export const schedulesSchema = z
    .array(scheduleSchema)
    .max(MAX_SCHEDULES, { message: `at most ${MAX_SCHEDULES} schedules per instance` })
    .transform((list) => list.map((s, i): ScheduleSpec => ({ ...s, name: s.name ?? String(i) })))
    .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((s, i) => {
            if (seen.has(s.name))
                ctx.addIssue({ code: "custom", path: [i, "name"], message: `"${s.name}" names two schedules` });
            seen.add(s.name);
        });
        for (const [a, b] of conflictingPairs(list)) {
            ctx.addIssue({
                code: "custom",
                path: [b, "cron"],
                message: `starts and stops the instance at the same minute as schedules[${a}] (${sameMinuteExample(list[a], list[b])}); move one of them`,
            });
        }
    });

export const idleShutdownSchema = z.strictObject({
    after: durationSeconds(MIN_IDLE_SECONDS),
});
export type IdleShutdownSpec = { afterSeconds: number };

function cronOf(s: Pick<ScheduleSpec, "cron" | "timeZone">): Cron {
    return new Cron(s.cron, { timezone: s.timeZone, paused: true });
}

/** The next `n` firings after `from`, as instants. */
export function nextFirings(s: Pick<ScheduleSpec, "cron" | "timeZone">, n: number, from: Date): Date[] {
    return cronOf(s).nextRuns(n, from);
}

/** The latest firing at or before `at`, if any. */
export function latestFiring(s: Pick<ScheduleSpec, "cron" | "timeZone">, at: Date): Date | undefined {
    // previousRuns is exclusive of its reference and works in whole seconds: look from one second
    // on, so that a firing exactly now counts as fired, and drop what lies after `at`.
    return cronOf(s)
        .previousRuns(2, new Date(at.getTime() + 1000))
        .find((d) => d.getTime() <= at.getTime());
}

/** The wall-clock fields of `at` in `timeZone`. */
function wallClock(
    at: Date,
    timeZone: string,
): Record<"year" | "month" | "day" | "hour" | "minute" | "second", number> {
    const parts = new Intl.DateTimeFormat("en-US", {
        timeZone,
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
        hourCycle: "h23",
    }).formatToParts(at);
    const n = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
    return {
        year: n("year"),
        month: n("month"),
        day: n("day"),
        hour: n("hour"),
        minute: n("minute"),
        second: n("second"),
    };
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** `2026-11-27 18:00 (Europe/Madrid)`: how a firing reads to the user who wrote the schedule. */
export function localTime(at: Date, timeZone: string): string {
    const w = wallClock(at, timeZone);
    return `${w.year}-${pad2(w.month)}-${pad2(w.day)} ${pad2(w.hour)}:${pad2(w.minute)} (${timeZone})`;
}

export interface Firing {
    utc: string;
    local: string;
}

export function describeFirings(s: Pick<ScheduleSpec, "cron" | "timeZone">, n: number, from: Date): Firing[] {
    return nextFirings(s, n, from).map((d) => ({ utc: d.toISOString(), local: localTime(d, s.timeZone) }));
}

// How far ahead conflicts are looked for (four years and a day covers 29 February) and DST gaps
// (one year covers every transition); the scan cap bounds the work for every-minute schedules.
const CONFLICT_HORIZON_MS = (4 * 365 + 2) * 86400_000;
const DST_HORIZON_MS = 366 * 86400_000;
const MAX_SCAN = 20_000;

/** Pairs (i, j), i < j, of an enabled start and an enabled stop that fire at the same minute. */
export function conflictingPairs(list: readonly ScheduleSpec[], from = new Date()): [number, number][] {
    const pairs: [number, number][] = [];
    for (let i = 0; i < list.length; i++) {
        for (let j = i + 1; j < list.length; j++) {
            const a = list[i];
            const b = list[j];
            if (a.action === b.action || !a.enabled || !b.enabled) continue;
            if (firstCommonMinute(a, b, from)) pairs.push([i, j]);
        }
    }
    return pairs;
}

function firstCommonMinute(a: ScheduleSpec, b: ScheduleSpec, from: Date): Date | undefined {
    // Walk the sparser schedule and ask the other whether it fires at the same instant.
    const span = (s: ScheduleSpec) => nextFirings(s, 50, from).at(-1)?.getTime() ?? Infinity;
    const [walk, other] = span(a) >= span(b) ? [a, b] : [b, a];
    const otherCron = cronOf(other);
    const end = from.getTime() + CONFLICT_HORIZON_MS;
    const it = cronOf(walk).enumerate(from);
    for (let n = 0; n < MAX_SCAN; n++) {
        const next = it.next();
        if (next.done || next.value.getTime() > end) return undefined;
        const t = next.value;
        if (otherCron.match(t)) return t;
    }
    return undefined;
}

function sameMinuteExample(a: ScheduleSpec, b: ScheduleSpec): string {
    const t = firstCommonMinute(a, b, new Date());
    return t ? `both fire at ${t.toISOString().slice(0, 16)}Z` : "both fire at once";
}

/** Offset of `timeZone` from UTC at `at`, in minutes. */
export function utcOffsetMinutes(at: Date, timeZone: string): number {
    const w = wallClock(at, timeZone);
    const wall = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
    return Math.round((wall - Math.floor(at.getTime() / 1000) * 1000) / 60_000);
}

export interface DstGap {
    /** The local wall time that does not exist, `YYYY-MM-DD HH:MM`. */
    skipped: string;
    /** When the schedule fires instead. */
    firesAt: Firing;
}

/**
 * The first local time in the coming year at which the schedule would fire but that does not
 * exist (clocks jump forward), e.g. 02:30 on the last Sunday of March in Europe/Madrid.
 */
export function dstGap(s: Pick<ScheduleSpec, "cron" | "timeZone">, from = new Date()): DstGap | undefined {
    const wallClock = new Cron(s.cron, { timezone: "UTC", paused: true });
    const end = from.getTime() + DST_HORIZON_MS;
    const DAY = 86400_000;
    // Whole minutes throughout: the skipped wall times are tested minute by minute.
    const start = Math.floor(from.getTime() / 60_000) * 60_000;
    let before = utcOffsetMinutes(new Date(start), s.timeZone);
    for (let t = start + DAY; t <= end + DAY; t += DAY) {
        const after = utcOffsetMinutes(new Date(t), s.timeZone);
        if (after > before) {
            // Clocks jumped forward within the last day: find the minute, then test each skipped one.
            let lo = t - DAY;
            let hi = t;
            while (hi - lo > 60_000) {
                const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
                if (utcOffsetMinutes(new Date(mid), s.timeZone) > before) hi = mid;
                else lo = mid;
            }
            const gapStartWall = hi + before * 60_000; // the first skipped wall time, read as if it were UTC
            for (let m = 0; m < after - before; m++) {
                const wall = new Date(gapStartWall + m * 60_000);
                if (wallClock.match(wall)) {
                    const firesAt = nextFirings(s, 1, new Date(hi - 1000))[0];
                    return {
                        skipped: wall.toISOString().slice(0, 16).replace("T", " "),
                        firesAt: { utc: firesAt.toISOString(), local: localTime(firesAt, s.timeZone) },
                    };
                }
            }
        }
        before = after;
    }
    return undefined;
}
