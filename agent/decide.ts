/**
 * What the workspace agent decides at each check, from what it read: pure, so the rules that
 * users rely on (a schedule fires once, a missed firing is caught up once, a busy kernel keeps an
 * instance alive) are tested without clocks or engines.
 */
import { AgentMemory, handledUntilKey } from "../provider/model/agentProtocol";
import { ScheduleSpec, latestFiring } from "../provider/model/schedule";

export type PowerAction = "start" | "stop";

export interface ScheduleDecision {
    action: PowerAction;
    schedule: string;
    firedAt: Date;
}

/** A schedule's key in the memory's handled-until marks. */
export const scheduleKey = handledUntilKey;

/**
 * The schedule action due for one instance, and the new handled-until marks.
 *
 * Each schedule acts on its latest firing since it was last handled: a firing missed while the
 * agent was down is caught up at the next check, once, however many were missed. When several
 * schedules fired since (a start at 08:00 and a stop at 18:00, both missed), the latest decides,
 * as if the agent had been up. A schedule seen for the first time never acts on its past firings.
 */
export function dueScheduleAction(
    instance: string,
    schedules: readonly ScheduleSpec[],
    handledUntil: Readonly<AgentMemory["handledUntil"]>,
    now: Date,
): { decision?: ScheduleDecision; handledUntil: Record<string, string> } {
    const marks: Record<string, string> = {};
    let decision: ScheduleDecision | undefined;
    for (const s of schedules) {
        if (!s.enabled) continue;
        const key = scheduleKey(instance, s.name);
        marks[key] = now.toISOString();
        const since = handledUntil[key];
        if (since === undefined) continue;
        const fired = latestFiring(s, now);
        if (!fired || fired.getTime() <= Date.parse(since)) continue;
        if (!decision || fired.getTime() > decision.firedAt.getTime())
            decision = { action: s.action, schedule: s.name, firedAt: fired };
    }
    return { decision, handledUntil: marks };
}

/** What an instance's Jupyter server says of its kernels and terminals, and its other sessions. */
export interface Activity {
    kernels: { execution_state?: string; last_activity?: string }[];
    /** A terminal's last_activity moves with its input and output, not with its being open. */
    terminals: { name?: string; last_activity?: string }[];
    /** Authenticated SSH sessions and open editors (VS Code), when the image can count them. */
    connections?: number;
    /** When an application served through the proxy (VS Code, a custom application) was last used (ISO). */
    applicationsLastActivity?: string;
}

export interface IdleVerdict {
    idle: boolean;
    /** Since when nothing happened (ISO), or undefined while something is happening now. */
    quietSince?: string;
    /** What keeps the instance alive, or how long it has been idle. */
    reason: string;
}

// Only "busy" is work in progress. A kernel started through the API that no client ever
// connected to stays "starting" for good; its start counts as activity through last_activity.
const BUSY_STATES = new Set(["busy"]);

/**
 * Whether a running instance has been idle for the whole period. In use now: a busy kernel, an
 * authenticated SSH session, an open editor. Activity within the period: a kernel's, a
 * terminal's input or output, a request to an application behind the proxy. Being open is not
 * use: an idle kernel or a terminal nobody types in and nothing prints to does not keep the
 * instance alive (any web page could open one, and one left open would keep it up for good),
 * and neither do the UI's own API calls (an open browser tab polls the server all day: Jupyter's
 * `/api/status` last_activity would never go quiet).
 */
export function idleVerdict(
    afterSeconds: number,
    activity: Activity,
    startedAt: Date,
    now: Date,
    lastSeenActive?: Date,
): IdleVerdict {
    const busy = activity.kernels.filter((k) => BUSY_STATES.has(k.execution_state ?? ""));
    if (busy.length) return { idle: false, reason: `${busy.length} kernel(s) busy` };
    if (activity.connections) return { idle: false, reason: `${activity.connections} SSH/editor connection(s) open` };
    const times = [
        startedAt.getTime(),
        lastSeenActive?.getTime() ?? NaN,
        ...[...activity.kernels, ...activity.terminals].map((k) => Date.parse(k.last_activity ?? "")),
        Date.parse(activity.applicationsLastActivity ?? ""),
    ].filter(Number.isFinite);
    const quietSince = Math.max(...times);
    const quietSeconds = Math.floor((now.getTime() - quietSince) / 1000);
    const iso = new Date(quietSince).toISOString();
    return quietSeconds >= afterSeconds
        ? { idle: true, quietSince: iso, reason: `idle for ${quietSeconds}s (limit ${afterSeconds}s) since ${iso}` }
        : { idle: false, quietSince: iso, reason: `quiet for ${quietSeconds}s of ${afterSeconds}s` };
}
