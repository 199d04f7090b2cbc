/**
 * The workspace agent's test clock (the `test.clock` record of its store): the agent acts as if
 * the time were later by the record's offset. One end-to-end test waits for a real cron minute
 * (test/e2e/schedules.test.ts); the others move the agent's clock to their schedule's minute.
 */
import type { Backend } from "../../provider/backends/backend";
import { agentRecords } from "../../provider/model/agentProtocol";

/** A cron for a UTC minute hours away (so it never fires by itself during a test) and that minute. */
export function distantMinute(): { cron: string; at: Date } {
    const at = new Date(Math.ceil((Date.now() + 6 * 3600_000) / 60_000) * 60_000);
    return { cron: `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`, at };
}

/** Makes the agent of `workspace` act as if it were `at` now (undefined: its own clock again). */
export async function setAgentClock(backend: Backend, workspace: string, at: Date | undefined): Promise<void> {
    const value = at === undefined ? undefined : { offsetSeconds: (at.getTime() - Date.now()) / 1000 };
    await agentRecords(backend.agentStore(workspace)).write({ kind: "clock" }, value);
}
