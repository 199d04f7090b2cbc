import type { Progress } from "./progress";

export interface ReadinessCheck {
    /** What is awaited, for messages ("JupyterLab"). */
    what: string;
    /** Resolves true once the instance answers. Errors count as "not yet". */
    probe(): Promise<boolean>;
    /** Resolves a reason when waiting is pointless (the container exited); undefined while alive. */
    dead(): Promise<string | undefined>;
    timeoutSeconds: number;
    progress: Progress;
    /** Extra text for a failure: the last log lines, pod events. */
    diagnostics(): Promise<string>;
    /** What the instance is doing meanwhile, when it says (e.g. "running the creation script"). */
    phase?(): Promise<string | undefined>;
    intervalMs?: number;
}

export class NotReadyError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "NotReadyError";
    }
}

/** Polls until the probe succeeds, showing the wait as progress; returns the seconds it took. */
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
            const reason = await c.dead();
            if (reason) throw new NotReadyError(`${c.what} did not start: ${reason}${await section(c)}`);
        }
        if (Date.now() >= deadline) {
            throw new NotReadyError(
                `${c.what} did not answer within ${c.timeoutSeconds}s (raise readyTimeout if the instance is slow to start)${await section(c)}`,
            );
        }
        await new Promise((r) => setTimeout(r, interval));
    }
}

async function section(c: ReadinessCheck): Promise<string> {
    const text = (await c.diagnostics().catch(() => "")).trim();
    return text ? `\n--- last output ---\n${text}` : "";
}
