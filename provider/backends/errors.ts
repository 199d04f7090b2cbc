/**
 * The errors every backend throws, typed so that nothing matches on text, and what both clients'
 * errors have in common: a status code on the thrown object, 404 for "not there".
 */

/** A backend operation refused because of user input or the backend's state; the message is for users. */
export class BackendError extends Error {
    /** @param field the user's field at fault, when there is one (e.g. `backend.kubernetes.namespace`). */
    constructor(
        message: string,
        readonly field?: string,
    ) {
        super(message);
        this.name = "BackendError";
    }
}

/** What needs a running instance found it stopped (a job's start racing the instance's stop). */
export class InstanceNotRunningError extends BackendError {
    constructor(instance: string) {
        super(`instance ${instance} is not running`);
        this.name = "InstanceNotRunningError";
    }
}

/** The backend cannot enforce network rules at all (a Docker engine that manages no iptables). */
export class NoFirewallError extends BackendError {
    constructor(message: string) {
        super(message);
        this.name = "NoFirewallError";
    }
}

/**
 * A create that failed but left its runtime in place on purpose, for inspection (a setup script
 * failed: SetupFailed). The runtime exists, so it must reach the stack's state: `destroy` then
 * removes it before the disks it holds, and the next `up` replaces it.
 */
export class KeptForInspectionError extends BackendError {
    /** @param runtimeId the backend id of the runtime left in place (container, StatefulSet). */
    constructor(
        message: string,
        readonly runtimeId: string,
    ) {
        super(message);
        this.name = "KeptForInspectionError";
    }
}

/**
 * A setup script failed: the instance reports SetupFailed and will not become ready until the
 * script is fixed. Thrown by the readiness wait of every backend, so nothing matches on text.
 */
export class SetupFailedError extends BackendError {
    /**
     * @param detail what the entry point reported (the script and its exit status).
     * @param message the account for users, when there is more to say than `SetupFailed: <detail>`
     *   (the readiness wait's: what did not start, and its last output).
     */
    constructor(
        readonly detail: string,
        message?: string,
    ) {
        super(message ?? `SetupFailed: ${detail}`);
        this.name = "SetupFailedError";
    }
}

/** An instance that did not get ready: it died, or it did not answer in time. The message is for users. */
export class NotReadyError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "NotReadyError";
    }
}

/** A property of what a client threw, when it threw an object that has it. */
export function thrownField(e: unknown, key: string): unknown {
    return typeof e === "object" && e !== null && key in e ? (e as Record<string, unknown>)[key] : undefined;
}

/** For a client whose failed calls carry a status code: the call's result, undefined when the object is not there (404). */
export function notFoundAsUndefined(statusCode: (e: unknown) => number | undefined) {
    return async <T>(p: Promise<T>): Promise<T | undefined> => {
        try {
            return await p;
        } catch (e) {
            if (statusCode(e) === 404) return undefined;
            throw e;
        }
    };
}
