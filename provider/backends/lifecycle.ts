/**
 * What every backend does the same way, written once over the steps each backend supplies: a
 * runtime's create (clear an orphan, create, wait until it answers; kept for inspection when a
 * setup script failed, else rolled back), its start and stop, live changes verified by reading
 * back, and a new token, live.
 */
import { stableJson } from "../changes";
import type { Progress } from "../progress";
import type { LiveChanges, RuntimeSpec, RuntimeState } from "./backend";
import { BackendError, KeptForInspectionError, NotReadyError, SetupFailedError } from "./errors";

/**
 * The steps of a runtime's create on one backend; their order and the failures are
 * {@link createRuntime}'s. `Made`: what the wait needs of what `create` made.
 */
export interface RuntimeCreation<Made> {
    /** The runtime's backend id (container name, StatefulSet name). */
    id: string;
    /**
     * Removes what a create that died midway left under the id; another stack's runtime there is
     * a name clash ({@link nameClash}).
     */
    clearOrphan(): Promise<void>;
    /** Makes the runtime and starts it. */
    create(): Promise<Made>;
    /** Until it answers (the backend's readiness wait); the seconds it took. */
    waitReady(made: Made): Promise<number>;
    read(): Promise<RuntimeState | undefined>;
    /** Removes what `create` made after a failure; an error it lets through is the one reported. */
    rollBack(): Promise<void>;
    /** The words of its messages. */
    words: {
        /** What a failed create names: `ci-ws-alice on the Docker engine at …`. */
        target: string;
        /** The backend's own words for its client's error. */
        reason(e: unknown): string;
        /** Why the read after the wait found nothing: `container ci-ws-alice disappeared right after it started`. */
        disappeared: string;
        /** What stays for inspection (`container ci-ws-alice`) and how to get a shell in it. */
        kept: { what: string; shell: string };
    };
}

export async function createRuntime<Made>(c: RuntimeCreation<Made>, progress: Progress): Promise<RuntimeState> {
    await c.clearOrphan();
    try {
        const seconds = await c.waitReady(await c.create());
        progress.info(`ready in ${seconds.toFixed(1)}s`);
        const state = await c.read();
        if (!state) throw new BackendError(c.words.disappeared);
        return state;
    } catch (e) {
        // A setup script that failed leaves the instance as it is, for inspection; the next
        // `up` replaces it. Users read the readiness wait's account of it (its last output).
        if (e instanceof SetupFailedError) {
            const { what, shell } = c.words.kept;
            throw new KeptForInspectionError(
                `${e.message}\nThe ${what} is left running for inspection (${shell}; the script's output is in ` +
                    `~/.compute-instance/setup/); it is in the stack's state: the next \`pulumi up\` replaces it and \`pulumi destroy\` removes it.`,
                c.id,
            );
        }
        // Nothing half-created: the runtime's objects go; the disks belong to their own resources.
        await c.rollBack();
        if (e instanceof BackendError || e instanceof NotReadyError) throw e;
        throw new BackendError(`could not create ${c.words.target}: ${c.words.reason(e)}`);
    }
}

/**
 * A runtime of the name exists and another stack made it: instance names are unique in a
 * workspace. `unit` names the runtime (`container ci-ws-alice`).
 */
export function nameClash(spec: RuntimeSpec, where: string, unit: string, owner: string | undefined): BackendError {
    return new BackendError(
        `instance "${spec.instance}" already exists in workspace "${spec.workspace}" on the ${where} ` +
            `(${unit}, managed by ${owner ?? "something else"}); instance names must be unique in a workspace`,
    );
}

/** The steps of a start: the runtime started, then waited for; what it is once it answers. */
export interface RuntimeStart {
    start(): Promise<void>;
    waitReady(): Promise<number>;
    read(): Promise<RuntimeState | undefined>;
}

export async function startRuntime(id: string, s: RuntimeStart, progress: Progress): Promise<RuntimeState> {
    await s.start();
    const seconds = await s.waitReady();
    progress.info(`ready in ${seconds.toFixed(1)}s`);
    const state = await s.read();
    if (!state) throw new BackendError(`${id} disappeared while starting`);
    return state;
}

export async function stopRuntime(
    id: string,
    s: { stop(): Promise<void>; read(): Promise<RuntimeState | undefined> },
): Promise<RuntimeState> {
    await s.stop();
    const after = await s.read();
    if (!after || after.status !== "Stopped")
        throw new BackendError(`${id} did not stop (it is ${after?.status ?? "gone"})`);
    return after;
}

/** Live changes on one backend: applied its way, then read back. */
export interface LiveUpdate {
    apply(): Promise<void>;
    read(): Promise<RuntimeState | undefined>;
    /** Whether a size read back is the one asked for, as exactly as the backend keeps it. */
    same: { cpus(have: number, want: number): boolean; memoryGb(have: number, want: number): boolean };
    words: {
        /** Why the read back found nothing. */
        gone: string;
        /** Who applies the changes: "engine", "cluster". */
        applier: string;
    };
}

export async function updateRuntime(id: string, changes: LiveChanges, u: LiveUpdate): Promise<RuntimeState> {
    await u.apply();
    // Verified by reading back: a setting that did not take is an error, not silence.
    const after = await u.read();
    if (!after) throw new BackendError(u.words.gone);
    const wrong: string[] = [];
    if (changes.cpus !== undefined && !u.same.cpus(after.cpus, changes.cpus))
        wrong.push(`cpus is ${after.cpus}, expected ${changes.cpus}`);
    if (changes.memoryGb !== undefined && !u.same.memoryGb(after.memoryGb, changes.memoryGb))
        wrong.push(`memoryGb is ${after.memoryGb}, expected ${changes.memoryGb}`);
    if (changes.labels !== undefined && stableJson(after.labels) !== stableJson(changes.labels))
        wrong.push(`labels are ${JSON.stringify(after.labels)}, expected ${JSON.stringify(changes.labels)}`);
    if (wrong.length)
        throw new BackendError(`the ${u.words.applier} did not apply the update to ${id}: ${wrong.join("; ")}`);
    return after;
}

/** A new token, live, on one backend. */
export interface TokenRotation {
    /** Whether the runtime's image re-reads its token (image contract 3 and later). */
    live: boolean;
    /** Why not, for users, when it does not. */
    notLive: string;
    write(): Promise<void>;
    /** Fails unless the runtime takes the new token now. */
    verify(): Promise<void>;
}

/** An image that reads its token only at start must be replaced instead; otherwise written, then verified. */
export async function rotateToken(r: TokenRotation): Promise<void> {
    if (!r.live) throw new BackendError(r.notLive);
    await r.write();
    await r.verify();
}
