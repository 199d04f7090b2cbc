/**
 * The wait until an instance answers, the same for every backend: its progress, and its account
 * of a failure for users ("<what> did not start: <reason>" and the last output) as typed errors,
 * so that no backend words it or matches on its text.
 */
import type { Progress } from "./progress";
import { NotReadyError, SetupFailedError } from "./backends/errors";

export { NotReadyError };

/** Why waiting is pointless: the backend's words, or a setup script that failed (what the entry point reported). */
export type Trouble = string | { setupFailed: string };

export interface ReadinessCheck {
    /** What is awaited, for messages ("JupyterLab"). */
    what: string;
    /** Resolves true once the instance answers. Errors count as "not yet". */
    probe(): Promise<boolean>;
    /** Resolves a reason when waiting is pointless (the container exited, a setup script failed); undefined while alive. */
    dead(): Promise<Trouble | undefined>;
    timeoutSeconds: number;
    progress: Progress;
    /** Extra text for a failure: the last log lines, pod events. */
    diagnostics(): Promise<string>;
    /** What the instance is doing meanwhile, when it says (e.g. "running the creation script"). */
    phase?(): Promise<string | undefined>;
    intervalMs?: number;
}

/**
 * Polls until the probe succeeds, showing the wait as progress; returns the seconds it took. A
 * death is a NotReadyError, a failed setup script a SetupFailedError (a create keeps the instance
 * for inspection), both worded alike.
 */
export async function waitUntilReady(c: ReadinessCheck): Promise<number> {
    const started = Date.now();
    const deadline = started + c.timeoutSeconds * 1000;
    const interval = c.intervalMs ?? 100;
    let lastShown = -1;
    let lastDeadCheck = 0;
    let phase: string | undefined;
    for (;;) {
        if (await c.probe().catch(() => false)) return (Date.now() - started) / 1000;
        const elapsed = Math.floor((Date.now() - started) / 1000);
        if (elapsed !== lastShown) {
            c.progress.status(phase ? `${phase} (${elapsed}s)` : `waiting for ${c.what} to answer (${elapsed}s)`);
            lastShown = elapsed;
        }
        if (Date.now() - lastDeadCheck > 1000) {
            lastDeadCheck = Date.now();
            if (c.phase) {
                const now = await c.phase().catch(() => phase);
                // Each new phase once in the output for good, then as the passing status.
                if (now && now !== phase) c.progress.info(now);
                phase = now;
            }
            const trouble = await c.dead();
            if (trouble) throw await notStarted(c, trouble);
        }
        if (Date.now() >= deadline) {
            throw new NotReadyError(
                `${c.what} did not answer within ${c.timeoutSeconds}s (raise readyTimeout if the instance is slow to start)${await section(c)}`,
            );
        }
        await new Promise((r) => setTimeout(r, interval));
    }
}

async function notStarted(c: ReadinessCheck, trouble: Trouble): Promise<Error> {
    if (typeof trouble === "string") return new NotReadyError(`${c.what} did not start: ${trouble}${await section(c)}`);
    const detail = trouble.setupFailed;
    return new SetupFailedError(detail, `${c.what} did not start: SetupFailed: ${detail}${await section(c)}`);
}

async function section(c: ReadinessCheck): Promise<string> {
    const text = (await c.diagnostics().catch(() => "")).trim();
    return text ? `\n--- last output ---\n${text}` : "";
}
